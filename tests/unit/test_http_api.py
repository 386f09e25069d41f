"""The HTTP contract on the in-memory storage: envelope, codes, headers, ETags, OpenAPI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest

from entrypoints.container import Container, build_container
from entrypoints.http.app import create_app

API = "/api/v1"


class Api:
    def __init__(self, client: falcon.testing.TestClient, container: Container):
        self.client = client
        self.container = container

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> falcon.testing.Result:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.simulate_request(method, API + path, headers=headers, **kwargs)

    def admin_token(self) -> str:
        self.container.create_admin()(
            email="root@lab.ma", password="Passw0rdX", lab_name="Central", meta_reason="t"
        )
        result = self.call(
            "POST", "/auth/login", json={"email": "root@lab.ma", "password": "Passw0rdX"}
        )
        assert result.status_code == 200, result.text
        return str(result.json["tokens"]["access_token"])


@pytest.fixture
def api(make_settings) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    container = build_container(
        make_settings(
            AQUALAB_STORAGE="memory", max_body_bytes=4096, cors_origins="https://app.lab.ma"
        )
    )
    yield Api(falcon.testing.TestClient(create_app(container)), container)
    container.shutdown_resources()


def assert_error(result: falcon.testing.Result, status: int, code: str) -> dict[str, Any]:
    assert result.status_code == status, result.text
    error = result.json["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "details", "field_errors", "request_id", "timestamp"}
    assert error["request_id"] == result.headers["X-Request-ID"]
    return dict(error)


def test_validation_error_lists_every_field(api: Api) -> None:
    result = api.call("POST", "/auth/register", json={"email": "nope", "password": "abc"})
    error = assert_error(result, 400, "VALIDATION_ERROR")
    assert set(error["field_errors"]) == {"email", "password", "name"}
    assert len(error["field_errors"]["password"]) == 3
    assert error["field_errors"]["name"] == ["This field is required"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "INVALID_JSON"),
        ("", "application/json", 400, "INVALID_JSON"),
        ("[1, 2]", "application/json", 400, "VALIDATION_ERROR"),
        ('{"email": "a@b.co"}', "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ('{"email": "a@b.co"}', None, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (
            json.dumps({"email": "a@b.co", "password": "x" * 5000}),
            "application/json",
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ],
)
def test_bad_bodies(api: Api, body: str, content_type: str | None, status: int, code: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    assert_error(api.call("POST", "/auth/login", body=body, headers=headers), status, code)


def test_unknown_route_and_wrong_method(api: Api) -> None:
    assert_error(api.call("GET", "/nowhere"), 404, "NOT_FOUND")
    assert_error(api.call("GET", "/users/not-a-uuid", api.admin_token()), 404, "NOT_FOUND")
    result = api.call("DELETE", "/auth/login")
    assert_error(result, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in result.headers["Allow"]


def test_missing_bad_and_wrong_scheme_tokens_are_401(api: Api) -> None:
    assert_error(api.call("GET", "/auth/me"), 401, "UNAUTHORIZED")
    assert_error(api.call("GET", "/auth/me", "garbage"), 401, "UNAUTHORIZED")
    result = api.call("GET", "/auth/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_error(result, 401, "UNAUTHORIZED")


def test_wrong_credentials(api: Api) -> None:
    error = assert_error(
        api.call("POST", "/auth/login", json={"email": "x@lab.ma", "password": "Whatever1"}),
        401,
        "INVALID_CREDENTIALS",
    )
    assert error["message"] == "Invalid email or password"


def test_internal_errors_reveal_nothing(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM pg_shadow -- stack detail")

    token = api.admin_token()
    monkeypatch.setattr(api.container.list_labs(), "_deps", None)  # any attribute access now fails
    result = api.call("GET", "/labs", token)
    error = assert_error(result, 500, "INTERNAL_ERROR")
    assert "pg_shadow" not in result.text and "Traceback" not in result.text
    assert error["message"] == "An unexpected error occurred"
    del explode


def test_request_id_is_echoed_or_generated(api: Api) -> None:
    echoed = api.call("GET", "/health/live", headers={"X-Request-ID": "client-42"})
    assert echoed.headers["X-Request-ID"] == "client-42"
    generated = api.call("GET", "/health/live", headers={"X-Request-ID": "bad id with spaces\n"})
    assert (
        generated.headers["X-Request-ID"] != "bad id with spaces\n"
        and len(generated.headers["X-Request-ID"]) == 32
    )


def test_security_headers_on_every_response(api: Api) -> None:
    for result in (
        api.call("GET", "/health"),
        api.call("GET", "/nowhere"),
        api.call("POST", "/auth/login", json={}),
    ):
        assert result.headers["X-Content-Type-Options"] == "nosniff"
        assert result.headers["X-Frame-Options"] == "DENY"
        assert result.headers["Referrer-Policy"] == "no-referrer"
        assert result.headers["Cache-Control"] == "no-store"


def test_cors_allow_list(api: Api) -> None:
    allowed = api.call("GET", "/health/live", headers={"Origin": "https://app.lab.ma"})
    assert allowed.headers.get("Access-Control-Allow-Origin") == "https://app.lab.ma"
    denied = api.call("GET", "/health/live", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in denied.headers
    preflight = api.call(
        "OPTIONS",
        "/auth/login",
        headers={"Origin": "https://app.lab.ma", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers.get("Access-Control-Allow-Origin") == "https://app.lab.ma"


def test_cors_answers_vary_by_origin_for_shared_caches(api: Api) -> None:
    allowed = api.call("GET", "/health/live", headers={"Origin": "https://app.lab.ma"})
    denied = api.call("GET", "/health/live", headers={"Origin": "https://evil.example"})
    no_origin = api.call("GET", "/health/live")
    for result in (allowed, denied, no_origin):
        assert [v.strip() for v in result.headers["Vary"].split(",")].count("Origin") == 1


def test_users_crud_with_etags(api: Api) -> None:
    token = api.admin_token()
    lab = api.call("POST", "/labs", token, json={"name": "North", "code": "N"}).json
    created = api.call(
        "POST",
        "/users",
        token,
        json={
            "email": "t@lab.ma",
            "password": "Passw0rdX",
            "name": "Tech",
            "role": "technician",
            "lab_id": lab["id"],
        },
    )
    assert created.status_code == 201 and created.headers["ETag"] == '"1"'
    assert created.headers["Location"] == f"/api/v1/users/{created.json['id']}"
    assert "password" not in created.text.lower().replace('"password"', "")
    user_id = created.json["id"]
    stale = api.call(
        "PATCH", f"/users/{user_id}", token, json={"name": "X"}, headers={"If-Match": '"7"'}
    )
    assert_error(stale, 412, "PRECONDITION_FAILED")
    conflict = api.call("PATCH", f"/users/{user_id}", token, json={"name": "X", "version": 7})
    assert assert_error(conflict, 409, "VERSION_CONFLICT")["details"] == {"current_version": 1}
    patched = api.call(
        "PATCH", f"/users/{user_id}", token, json={"name": "Renamed"}, headers={"If-Match": '"1"'}
    )
    assert (
        patched.status_code == 200
        and patched.json["name"] == "Renamed"
        and patched.headers["ETag"] == '"2"'
    )
    put = api.call(
        "PUT",
        f"/users/{user_id}",
        token,
        json={"name": "Put", "role": "viewer", "lab_id": None, "is_active": True, "version": 2},
    )
    assert put.status_code == 200 and put.json["lab_id"] is None and put.json["role"] == "viewer"
    incomplete = api.call("PUT", f"/users/{user_id}", token, json={"name": "Put"})
    assert set(assert_error(incomplete, 400, "VALIDATION_ERROR")["field_errors"]) == {
        "role",
        "lab_id",
        "is_active",
    }
    assert api.call("DELETE", f"/users/{user_id}", token).status_code == 204
    assert_error(api.call("GET", f"/users/{user_id}", token), 404, "NOT_FOUND")


def test_user_list_meta_sort_and_bad_sort(api: Api) -> None:
    token = api.admin_token()
    for i in range(3):
        api.call(
            "POST",
            "/users",
            token,
            json={
                "email": f"v{i}@lab.ma",
                "password": "Passw0rdX",
                "name": f"V{i}",
                "role": "viewer",
            },
        )
    page = api.call(
        "GET", "/users", token, params={"role": "viewer", "sort": "email", "limit": 2, "page": 2}
    )
    assert page.status_code == 200
    assert page.json["meta"] == {
        "total": 3,
        "page": 2,
        "limit": 2,
        "total_pages": 2,
        "has_more": False,
        "total_exact": True,
    }
    assert [u["email"] for u in page.json["data"]] == ["v2@lab.ma"]
    by_offset = api.call(
        "GET", "/users", token, params={"sort": "email", "order": "desc", "offset": 1, "limit": 1}
    )
    assert [u["email"] for u in by_offset.json["data"]] == ["v1@lab.ma"]  # v2, v1, v0, root@…
    assert (
        "sort"
        in assert_error(
            api.call("GET", "/users", token, params={"sort": "password_hash"}),
            400,
            "VALIDATION_ERROR",
        )["field_errors"]
    )
    assert (
        "limit"
        in assert_error(
            api.call("GET", "/users", token, params={"limit": 101}), 400, "VALIDATION_ERROR"
        )["field_errors"]
    )


def test_mass_assignment_on_register_is_ignored(api: Api) -> None:
    result = api.call(
        "POST",
        "/auth/register",
        json={
            "email": "m@lab.ma",
            "password": "Passw0rdX",
            "name": "M",
            "role": "admin",
            "lab_id": None,
            "is_active": False,
        },
    )
    assert result.status_code == 201
    assert result.json["user"]["role"] == "viewer" and result.json["user"]["is_active"] is True


def test_viewer_is_forbidden_on_admin_endpoints(api: Api) -> None:
    token = api.call(
        "POST", "/auth/register", json={"email": "v@lab.ma", "password": "Passw0rdX", "name": "V"}
    ).json["tokens"]["access_token"]
    for method, path in (
        ("GET", "/users"),
        ("POST", "/labs"),
        ("GET", "/audit-logs"),
        ("GET", "/audit-logs/verify"),
    ):
        assert_error(api.call(method, path, token, json={"name": "x"}), 403, "FORBIDDEN")


def test_change_reason_reaches_the_audit_log(api: Api) -> None:
    token = api.admin_token()
    api.call(
        "POST",
        "/labs",
        token,
        json={"name": "West"},
        headers={"X-Change-Reason": "new site", "X-Request-ID": "r-1"},
    )
    entries = api.call(
        "GET", "/audit-logs", token, params={"entity_type": "lab", "action": "create"}
    ).json["data"]
    west = [e for e in entries if e["new_values"]["name"] == "West"]
    assert west and west[0]["reason"] == "new site" and west[0]["request_id"] == "r-1"
    assert "timestamp" in west[0]
    verify = api.call("GET", "/audit-logs/verify", token).json
    assert verify["ok"] is True and verify["checked"] >= 2 and verify["first_bad_id"] is None


def test_rate_limit_answers_429_with_retry_after(make_settings) -> None:  # type: ignore[no-untyped-def]
    container = build_container(
        make_settings(AQUALAB_STORAGE="memory", rate_limit_register="2/minute")
    )
    client = falcon.testing.TestClient(create_app(container))
    for i in range(2):
        body = {"email": f"r{i}@lab.ma", "password": "Passw0rdX", "name": "R"}
        assert client.simulate_post(f"{API}/auth/register", json=body).status_code == 201
    limited = client.simulate_post(
        f"{API}/auth/register", json={"email": "r9@lab.ma", "password": "Passw0rdX", "name": "R"}
    )
    assert_error(limited, 429, "RATE_LIMITED")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


def test_lockout_answers_423(make_settings) -> None:  # type: ignore[no-untyped-def]
    container = build_container(make_settings(AQUALAB_STORAGE="memory", lockout_attempts=2))
    client = falcon.testing.TestClient(create_app(container))
    client.simulate_post(
        f"{API}/auth/register", json={"email": "l@lab.ma", "password": "Passw0rdX", "name": "L"}
    )
    bad = {"email": "l@lab.ma", "password": "Wrong1234"}
    assert client.simulate_post(f"{API}/auth/login", json=bad).status_code == 401
    locked = client.simulate_post(f"{API}/auth/login", json=bad)
    assert_error(locked, 423, "ACCOUNT_LOCKED")
    assert int(locked.headers["Retry-After"]) == 15 * 60


def test_health_metrics_and_redirects(api: Api) -> None:
    assert api.call("GET", "/health").json["status"] == "ok"
    assert api.call("GET", "/health/ready").status_code == 200
    api.call("GET", "/health/live")
    metrics = api.call("GET", "/metrics")
    assert metrics.status_code == 200
    assert (
        'aqualab_http_requests_total{method="GET",route="/api/v1/health/live",status="200"}'
        in metrics.text
    )
    assert "aqualab_http_request_duration_seconds_bucket" in metrics.text


@pytest.mark.filterwarnings("ignore:Unknown REQUEST_METHOD")
def test_made_up_methods_are_counted_as_other(api: Api) -> None:
    for n in range(5):
        api.client.simulate_request(f"BREW{n}", f"{API}/health/live")
        api.client.simulate_request(f"BREW{n}", "/nowhere")
    metrics = api.call("GET", "/metrics").text
    assert "BREW" not in metrics
    assert 'aqualab_http_requests_total{method="OTHER",route="/api/v1/health/live"' in metrics
    assert 'aqualab_http_requests_total{method="OTHER",route="unmatched"' in metrics
    for path, target in (("/docs", "/api/v1/docs"), ("/health", "/api/v1/health")):
        redirect = api.client.simulate_get(path)
        assert redirect.status_code == 308 and redirect.headers["Location"] == target


def test_metrics_token(make_settings) -> None:  # type: ignore[no-untyped-def]
    container = build_container(make_settings(AQUALAB_STORAGE="memory", metrics_token="scrape-me"))
    client = falcon.testing.TestClient(create_app(container))
    assert client.simulate_get(f"{API}/metrics").status_code == 401
    ok = client.simulate_get(f"{API}/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert ok.status_code == 200


def test_swagger_ui_is_served_locally(api: Api) -> None:
    page = api.call("GET", "/docs")
    assert page.status_code == 200 and "/api/v1/docs/static/swagger-ui-bundle.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    init = api.call("GET", "/docs/init.js")
    assert "/api/v1/openapi.json" in init.text and "validatorUrl: null" in init.text
    asset = api.call("GET", "/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000


def test_liveness_reports_the_version_without_reading_package_metadata_each_time(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A liveness probe is the cheapest answer there is: the installed version is read
    once per process, not parsed from the package metadata on every call (~0.4 ms)."""
    from entrypoints.http.resources import ops

    expected = ops.app_version()
    reads: list[str] = []
    monkeypatch.setattr(ops, "version", lambda name: reads.append(name) or "9.9.9")
    answers = [api.call("GET", "/health/live") for _ in range(3)]
    assert [a.json["version"] for a in answers] == [expected] * 3
    assert reads == []
