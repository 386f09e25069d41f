"""Cross-cutting HTTP behaviour over real HTTP: envelope, headers, CORS, limits, logs, metrics."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.client import Api, error_of, secrets_in_logs, unique_email
from tests.e2e.conftest import ADMIN_EMAIL, ALLOWED_ORIGIN, MAX_BODY_BYTES
from tests.live_server import LiveServer

pytestmark = pytest.mark.e2e

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def assert_security_headers(response: requests.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.headers)


# --- request ids and headers -----------------------------------------------------------


def test_request_id_is_echoed_or_generated(api: Api) -> None:
    sent = f"client-{uuid.uuid4().hex}"
    echoed = api.get("/health/live", headers={"X-Request-ID": sent})
    assert echoed.status_code == 200
    assert echoed.headers["X-Request-ID"] == sent

    generated = [api.get("/health/live").headers["X-Request-ID"] for _ in range(2)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in generated)
    assert generated[0] != generated[1]

    # A hostile value (header injection, huge) is replaced, never reflected.
    hostile = api.get("/health/live", headers={"X-Request-ID": "a b<script>" + "x" * 300})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["X-Request-ID"])

    on_error = api.get("/no/such/route", headers={"X-Request-ID": sent})
    assert error_of(on_error, 404, "NOT_FOUND")["request_id"] == sent


def test_security_headers_everywhere(api: Api, admin_token: str) -> None:
    responses = [
        api.get("/health"),
        api.get("/auth/me", token=admin_token),
        api.get("/auth/me"),  # 401
        api.get("/nothing-here"),  # 404
        api.post("/auth/login", json={"email": ADMIN_EMAIL, "password": "wrong-Passw0rd"}),
        api.get("/docs"),
        api.get("/openapi.json"),
    ]
    for response in responses:
        assert_security_headers(response)
        assert response.headers["X-Request-ID"]
    login = api.post("/auth/login", json={"email": ADMIN_EMAIL, "password": "wrong-Passw0rd"})
    assert login.headers["Cache-Control"] == "no-store"
    assert api.get("/auth/me", token=admin_token).headers["Cache-Control"] == "no-store"


def test_cors_allows_only_configured_origins(api: Api, admin_token: str) -> None:
    allowed = api.get("/auth/me", token=admin_token, headers={"Origin": ALLOWED_ORIGIN})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "X-Request-ID" in allowed.headers["Access-Control-Expose-Headers"]

    preflight = api.request(
        "OPTIONS",
        "/users",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()

    evil = "https://evil.example"
    denied = api.get("/auth/me", token=admin_token, headers={"Origin": evil})
    assert "Access-Control-Allow-Origin" not in denied.headers
    denied_preflight = api.request(
        "OPTIONS",
        "/users",
        headers={"Origin": evil, "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in denied_preflight.headers
    assert "Access-Control-Allow-Methods" not in denied_preflight.headers


# --- the error envelope -------------------------------------------------------------------


def test_body_over_the_limit_is_413_in_the_envelope(api: Api) -> None:
    big = json.dumps({"email": "a@b.example", "password": "x" * (MAX_BODY_BYTES + 10)})
    response = api.post("/auth/login", data=big, headers={"Content-Type": "application/json"})
    error_of(response, 413, "PAYLOAD_TOO_LARGE")
    assert_security_headers(response)

    def chunks() -> Iterator[
        bytes
    ]:  # no Content-Length: the limit must hold while reading the stream
        for _ in range(4):
            yield b"x" * (MAX_BODY_BYTES // 2)

    chunked = api.post(
        "/auth/register", data=chunks(), headers={"Content-Type": "application/json"}
    )
    error_of(chunked, 413, "PAYLOAD_TOO_LARGE")

    at_limit = api.post(
        "/auth/login",
        json={"email": unique_email("limit"), "password": "p" * 900},
    )
    error_of(at_limit, 401, "INVALID_CREDENTIALS")  # a body under the limit is processed


def test_non_json_body_is_415(api: Api, admin_token: str) -> None:
    form = api.post(
        "/auth/login",
        data={"email": ADMIN_EMAIL, "password": "whatever"},  # form-encoded
    )
    error_of(form, 415, "UNSUPPORTED_MEDIA_TYPE")
    text = api.post(
        "/labs", token=admin_token, data='{"name": "x"}', headers={"Content-Type": "text/plain"}
    )
    error_of(text, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_malformed_json_is_invalid_json(api: Api, admin_token: str) -> None:
    headers = {"Content-Type": "application/json"}
    error_of(
        api.post("/auth/login", data='{"email": "a@b.example", "password": ', headers=headers),
        400,
        "INVALID_JSON",
    )
    error_of(api.post("/labs", token=admin_token, data="", headers=headers), 400, "INVALID_JSON")
    not_object = api.post("/labs", token=admin_token, data="[1, 2]", headers=headers)
    error_of(not_object, 400, "VALIDATION_ERROR")


def test_validation_reports_every_field_at_once(api: Api) -> None:
    response = api.post("/auth/register", json={"email": "not-an-email", "password": "short"})
    fields = error_of(response, 400, "VALIDATION_ERROR")["field_errors"]
    assert set(fields) == {"email", "password", "name"}
    assert all(isinstance(m, list) and m for m in fields.values())


def test_unknown_routes_and_methods(api: Api, admin_token: str) -> None:
    error_of(api.get("/api/v1/nothing/here"), 404, "NOT_FOUND")
    error_of(api.get(f"/users/{uuid.uuid4()}", token=admin_token), 404, "NOT_FOUND")
    error_of(api.get("/users/not-a-uuid", token=admin_token), 404, "NOT_FOUND")

    not_allowed = api.delete("/auth/login")
    error_of(not_allowed, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in not_allowed.headers["Allow"]
    put_labs = api.put("/labs", token=admin_token, json={})
    error_of(put_labs, 405, "METHOD_NOT_ALLOWED")
    assert {"GET", "POST"} <= {m.strip() for m in put_labs.headers["Allow"].split(",")}


def test_root_redirects_and_health(api: Api) -> None:
    for path, target in (("/docs", "/api/v1/docs"), ("/health", "/api/v1/health")):
        response = api.http.get(api.base_url + path, allow_redirects=False, timeout=10)
        assert response.status_code == 308
        assert response.headers["Location"].endswith(target)
    health = api.get("/health").json()
    assert health["status"] == "ok" and health["checks"]["database"] == "ok"
    assert api.get("/health/live").json()["status"] == "ok"
    ready = api.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


def test_openapi_and_docs_are_served_locally(api: Api) -> None:
    document = api.get("/openapi.json")
    assert document.status_code == 200
    spec = document.json()
    assert spec["openapi"].startswith("3.1")
    for path in ("/api/v1/auth/login", "/api/v1/users/{user_id}", "/api/v1/audit-logs/verify"):
        assert path in spec["paths"]
    page = api.get("/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert asset.startswith("/api/v1/docs/")
        assert api.get(asset).status_code == 200, asset


# --- metrics and logs ----------------------------------------------------------------------


def test_metrics_expose_requests_per_route_and_pool_gauges(api: Api, admin_token: str) -> None:
    api.get("/auth/me", token=admin_token)
    api.get(f"/users/{uuid.uuid4()}", token=admin_token)
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.text
    assert re.search(
        r'^aqualab_http_requests_total\{method="GET",route="/api/v1/auth/me",status="200"\} '
        r"[1-9]",
        text,
        re.MULTILINE,
    )
    # Routes are templates, not raw paths, so ids never explode the label set.
    assert 'route="/api/v1/users/{user_id:uuid}",status="404"' in text
    assert "aqualab_http_request_duration_seconds_bucket" in text
    for gauge in ("aqualab_db_pool_size", "aqualab_db_pool_checked_out"):
        assert re.search(rf"^{gauge} \d", text, re.MULTILINE), gauge
    pool_size = re.search(r"^aqualab_db_pool_size (\S+)", text, re.MULTILINE)
    assert pool_size is not None and float(pool_size.group(1)) >= 1


def test_one_json_log_line_per_request_and_no_secrets(
    api: Api, server: LiveServer, admin_token: str, log_secrets: set[str]
) -> None:
    me = api.get("/auth/me", token=admin_token).json()
    password = "Log-Secret-Passw0rd"
    user = api.create_user(admin_token, role="viewer", lab_id=me["lab_id"], password=password)
    session = api.login(user["email"], password)
    api.post("/auth/refresh", json={"refresh_token": session["tokens"]["refresh_token"]})
    # Secrets in failing requests: wrong password, malformed JSON, a bad token.
    api.post("/auth/login", json={"email": user["email"], "password": "Wr0ng-" + password})
    api.remember("Wr0ng-" + password, "bogus.jwt.token-value")
    api.post(
        "/auth/login",
        data='{"email": "x@y.example", "password": "Wr0ng-' + password + '"',
        headers={"Content-Type": "application/json"},
    )
    api.get("/auth/me", token="bogus.jwt.token-value")

    calls = [
        ("GET", "/api/v1/auth/me", admin_token, 200, me["id"]),
        ("GET", "/api/v1/no/such/thing", None, 404, None),
        ("GET", "/api/v1/users", admin_token, 200, me["id"]),
        ("POST", "/api/v1/auth/logout", session["tokens"]["access_token"], 204, user["id"]),
    ]
    sent = []
    for method, path, token, status, user_id in calls:
        rid = f"log-{uuid.uuid4().hex}"
        response = api.request(method, path, token=token, headers={"X-Request-ID": rid})
        assert response.status_code == status
        sent.append((rid, method, path, status, user_id))

    wanted = {rid for rid, *_ in sent}
    server.wait_for_log(lambda r: r.get("request_id") == sent[-1][0])
    records = [r for r in server.request_logs() if r.get("request_id") in wanted]
    assert len(records) == len(sent)  # exactly one line per request
    by_id = {r["request_id"]: r for r in records}
    for rid, method, path, status, user_id in sent:
        record = by_id[rid]
        assert record["event"] == "request"
        assert record["method"] == method and record["path"] == path
        assert record["status"] == status
        assert isinstance(record["duration_ms"], int | float) and record["duration_ms"] >= 0
        assert record["user_id"] == user_id
        assert record["timestamp"].endswith("Z")

    # Every line on stderr is one JSON object (except the start-up banner).
    for line in server.stderr().splitlines():
        if line.startswith("AquaLab serving on "):
            continue
        assert isinstance(json.loads(line), dict), line

    # No password, token or key ever reaches the logs; stdout holds only the console mails.
    leaked = secrets_in_logs(server, log_secrets | {password})
    assert not leaked, f"{len(leaked)} secret value(s) found in the server's output"
    assert len(log_secrets) >= 6  # the tests above really did use passwords and tokens
