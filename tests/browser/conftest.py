"""Browser fixtures: Debian's Chromium driven by Playwright, and a live server to point it at."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import LiveServer, live_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]

ADMIN_EMAIL = "swagger-admin@browser.example"
ADMIN_PASSWORD = "Sw4gger-Admin-Pass"


def _ensure_chromium() -> None:
    """Playwright cannot download its own browser here: use (or apt-install) Debian's."""
    if Path(CHROMIUM).exists():
        return
    script = ROOT / "scripts" / "ensure-chromium.sh"
    result = subprocess.run([str(script)], capture_output=True, text=True, check=False)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing and could not be installed: {result.stderr.strip()}")


@pytest.fixture(scope="module")
def docs_server() -> Iterator[LiveServer]:
    args = ["--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD]
    with live_server(args=args) as server:  # memory storage is enough for the docs page
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshots_dir() -> Path | None:
    """Refresh docs/images only when asked (`AQUALAB_SCREENSHOTS=1 make browser`), so a
    test run never dirties the work tree."""
    if os.environ.get("AQUALAB_SCREENSHOTS") != "1":
        return None
    path = ROOT / "docs" / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path
