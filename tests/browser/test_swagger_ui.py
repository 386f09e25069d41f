"""Swagger UI in a real browser: Authorize with a token, then "Try it out" on GET /auth/me."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.browser.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, screenshots_dir
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
TIMEOUT_MS = 15_000


def test_authorize_and_try_get_me(docs_server: LiveServer, page: Any) -> None:
    login = requests.post(
        docs_server.url("/api/v1/auth/login"),
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    token = login.json()["tokens"]["access_token"]

    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)

    page.goto(docs_server.url("/api/v1/docs"), wait_until="networkidle")
    page.wait_for_selector(".swagger-ui .information-container .title", timeout=TIMEOUT_MS)
    assert "AquaLab" in page.locator(".information-container .title").inner_text()

    # Authorize: paste the bearer token into the scheme's dialog.
    page.locator(".scheme-container button.authorize").click()
    dialog = page.locator(".dialog-ux .modal-ux")
    dialog.wait_for(timeout=TIMEOUT_MS)
    assert "bearerAuth" in dialog.inner_text()
    dialog.locator("input").first.fill(token)
    dialog.locator("button.authorize").click()
    dialog.locator("h6", has_text="Authorized").wait_for(timeout=TIMEOUT_MS)
    assert token not in dialog.inner_html()  # the page masks the stored token
    dialog.locator("button.btn-done").click()
    assert page.locator(".scheme-container button.authorize.locked").count() == 1

    # Expand GET /api/v1/auth/me, "Try it out", "Execute".
    operation = page.locator("#operations-auth-get_auth_me")
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()

    live = operation.locator(".live-responses-table")
    status = live.locator("tbody .response .response-col_status").first
    status.wait_for(timeout=TIMEOUT_MS)
    assert status.inner_text().strip() == "200"
    body = live.locator(".response-col_description pre.microlight").first
    body.wait_for(timeout=TIMEOUT_MS)
    assert f'"email": "{ADMIN_EMAIL}"' in body.inner_text()
    curl = operation.locator(".curl-command").inner_text()
    assert "Authorization: Bearer " in curl and "/api/v1/auth/me" in curl

    if (images := screenshots_dir()) is not None:
        operation.scroll_into_view_if_needed()
        page.screenshot(path=str(images / "swagger-ui.png"), full_page=False)

    # The page loaded its assets and called the API, and nothing left the machine.
    http = [url for url in requested if urlsplit(url).scheme in ("http", "https")]
    assert any(url.endswith("/api/v1/openapi.json") for url in http)
    assert any(re.search(r"/api/v1/docs/static/swagger-ui-bundle\.js$", url) for url in http)
    assert any(url.endswith("/api/v1/auth/me") for url in http)
    outside = [url for url in requested if urlsplit(url).scheme not in ("data", "blob")]
    outside = [url for url in outside if urlsplit(url).hostname not in LOCAL_HOSTS]
    assert not outside, f"requests left localhost: {outside}"
    assert not console_errors, console_errors


def test_root_docs_redirects_to_swagger_ui(docs_server: LiveServer, page: Any) -> None:
    response = page.goto(docs_server.url("/docs"), wait_until="domcontentloaded")
    assert response is not None and response.ok
    assert page.url == docs_server.url("/api/v1/docs")
    page.wait_for_selector("#operations-auth-get_auth_me", timeout=TIMEOUT_MS)
