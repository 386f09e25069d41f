"""OWASP API8 security misconfiguration, on live servers.

- Security headers (SPEC 9) on every kind of response: each status the API produces
  (200, 201, 204, 308, 400, 401, 403, 404, 405, 409, 412, 413, 415, 429, 503), CORS
  preflights, CSV/PDF exports, metrics, static Swagger assets, and every documented
  operation called without a token. test_http.py checks a first handful; this extends it.
- CORS: only the configured origin is ever reflected — near-miss origins (suffix, prefix,
  scheme, port, `null`) get nothing, on success and on error responses — and a server
  without `CORS_ORIGINS` reflects no origin at all.
- Error bodies never reveal internals (traces, SQL, driver or framework names, paths)
  whatever malformed body every documented body operation receives.
- Production mode: the server refuses to start with a missing or weak `JWT_SECRET` (and
  does not echo it), has no debug endpoints, never prints a reset mail to its output, and
  answers a lost database with 503 in the error shape with nothing internal in it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from adapters.postgres_server import EmbeddedPostgres
from tests.e2e.client import Api, error_of, unique_email
from tests.e2e.conftest import ALLOWED_ORIGIN, MAX_BODY_BYTES
from tests.e2e.owasp_support import assert_reveals_nothing, operations
from tests.e2e.test_http import assert_security_headers
from tests.live_server import LiveServer, live_server, run_cli, server_env

pytestmark = pytest.mark.e2e

PRODUCTION_ADMIN = ("prod-admin@e2e.example", "Adm1nistrator-Prod")
PRODUCTION_ENV = {"AQUALAB_ENV": "production", "RATE_LIMIT_API": "5/hour"}


def _with_headers(response: requests.Response) -> requests.Response:
    assert_security_headers(response)
    assert response.headers.get("X-Request-ID"), response.headers
    return response


def test_security_headers_on_every_kind_of_response(
    api: Api, admin_token: str, lab: dict[str, Any]
) -> None:
    password = "Head3rs-Pass"
    viewer = api.create_user(admin_token, role="viewer", lab_id=lab["id"], password=password)
    viewer_session = api.login(viewer["email"], password)["tokens"]
    viewer_token = viewer_session["access_token"]
    sample = api.create_sample(admin_token, lab["id"], "Header well", "2025-07-01")
    json_type = {"Content-Type": "application/json"}
    by_status: dict[int, requests.Response] = {
        200: api.get(f"/samples/{sample['id']}", token=admin_token),
        201: api.post("/tasks", token=viewer_token, json={"title": "Headers"}),
        204: api.post(
            "/auth/logout", token=api.login(viewer["email"], password)["tokens"]["access_token"]
        ),
        308: api.http.get(api.base_url + "/docs", allow_redirects=False, timeout=10),
        400: api.post("/labs", token=admin_token, json={"name": ""}),
        401: api.get("/samples", token="not-a-token"),
        403: api.get("/users", token=viewer_token),
        404: api.get("/no/such/thing"),
        405: api.delete("/labs", token=admin_token),
        409: api.post(
            "/auth/register",
            json={"email": viewer["email"], "password": "Dupl1cate-Pass", "name": "Dup"},
        ),
        412: api.patch(
            f"/samples/{sample['id']}",
            token=admin_token,
            headers={"If-Match": '"99"'},
            json={"notes": "never"},
        ),
        413: api.post(
            "/samples", token=admin_token, data="x" * (MAX_BODY_BYTES + 1), headers=json_type
        ),
        415: api.post(
            "/labs", token=admin_token, data="name=x", headers={"Content-Type": "text/plain"}
        ),
    }
    for status, response in by_status.items():
        assert response.status_code == status, (status, response.status_code, response.text[:200])
        _with_headers(response)
        if status >= 400:
            assert_reveals_nothing(response)

    others = [
        api.get("/metrics"),
        api.get("/docs/static/index.css"),
        api.post("/reports/compliance", token=admin_token, json={}, headers={"Accept": "text/csv"}),
        api.post(
            "/reports/compliance", token=admin_token, json={}, headers={"Accept": "application/pdf"}
        ),
        api.request(
            "OPTIONS",
            "/samples",
            headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"},
        ),
        api.request("OPTIONS", "/samples", headers={"Origin": "https://evil.example"}),
    ]
    for response in others:
        assert response.status_code < 400, (response.url, response.status_code)
        _with_headers(response)
    # Token-bearing responses are never cached.
    for response in (by_status[200], by_status[201]):
        assert response.headers["Cache-Control"] == "no-store"

    # Every documented operation, called without a token.
    unauthenticated = 0
    for op in operations(api):
        url = op.url({name: "00000000-0000-4000-8000-000000000000" for name in op.path_parameters})
        response = _with_headers(
            api.request(op.method.upper(), url, json={} if op.has_body else None)
        )
        if op.needs_token:
            error_of(response, 401, "UNAUTHORIZED")
            unauthenticated += 1
    assert unauthenticated >= 50
    print(f"security headers: {len(by_status) + len(others)} kinds, {unauthenticated} operations")


def test_cors_reflects_only_the_exact_allowed_origin(api: Api, admin_token: str) -> None:
    near_misses = [
        ALLOWED_ORIGIN + ".evil.example",
        "https://evil.example/" + ALLOWED_ORIGIN,
        "https://evil-" + ALLOWED_ORIGIN.removeprefix("https://"),
        ALLOWED_ORIGIN.replace("https://", "http://"),
        ALLOWED_ORIGIN + ":8443",
        ALLOWED_ORIGIN + "/",
        "null",
        "*",
    ]
    for origin in near_misses:
        for response in (
            api.get("/auth/me", token=admin_token, headers={"Origin": origin}),
            api.get("/auth/me", headers={"Origin": origin}),  # an error response too
            api.request(
                "OPTIONS",
                "/samples",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "DELETE",
                    "Access-Control-Request-Headers": "authorization",
                },
            ),
        ):
            cors = {
                k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")
            }
            assert cors == {}, (origin, response.status_code, cors)

    allowed = api.get("/auth/me", headers={"Origin": ALLOWED_ORIGIN})  # 401, still readable
    error_of(allowed, 401, "UNAUTHORIZED")
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    # Bearer tokens, not cookies: credentials mode is never switched on.
    assert "Access-Control-Allow-Credentials" not in allowed.headers


MALFORMED_BODIES: dict[str, str | bytes] = {
    "truncated": '{"name": "x", ',
    "not utf-8": b'{"name": "\xc3\x28"}',
    "deep nesting": "[" * 2_000 + "]" * 2_000,
    "huge numbers": '{"name": 1e999999, "value": 1e999999, "version": 1e999999}',
    "operator objects": '{"name": {"$gt": ""}, "email": {"$ne": null}, "id": {"$ne": 1}}',
    "array": "[1, 2, 3]",
    "string": '"just a string"',
    "duplicate keys": '{"name": "a", "name": {"x": 1}}',
    "NaN and Infinity": '{"value": NaN, "latitude": Infinity, "name": -Infinity}',
}


def test_error_bodies_never_reveal_internals(api: Api, admin_token: str) -> None:
    """Whatever arrives, the answer is below 500, and an error reveals nothing. (Bodies
    whose only oddities are unknown fields, e.g. for the all-optional report filters,
    may succeed: unknown fields are ignored.)"""
    body_operations = [op for op in operations(api) if op.has_body]
    problems = []
    errors = 0
    for op in body_operations:
        url = op.url({name: "00000000-0000-4000-8000-000000000000" for name in op.path_parameters})
        token = None if op.path.startswith("/api/v1/auth/") else admin_token
        for name, body in MALFORMED_BODIES.items():
            response = api.request(
                op.method.upper(),
                url,
                token=token,
                data=body,
                headers={"Content-Type": "application/json"},
            )
            if response.status_code >= 500:
                problems.append(f"{op} [{name}] -> {response.status_code} {response.text[:150]}")
            elif response.status_code >= 400:
                errors += 1
                try:
                    assert set(response.json()) == {"error"}
                    assert_reveals_nothing(response)
                except (AssertionError, ValueError) as exc:
                    problems.append(f"{op} [{name}] -> {exc}")
    assert not problems, "\n".join(problems[:30])
    sent = len(body_operations) * len(MALFORMED_BODIES)
    assert errors >= sent - 2 * len(MALFORMED_BODIES)
    print(f"malformed bodies: {sent} requests, {errors} errors, none revealing internals")


# --- production mode ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def production(fresh_database: Callable[[], str]) -> Iterator[LiveServer]:
    email, password = PRODUCTION_ADMIN
    args = ["--admin-email", email, "--admin-password", password]
    with live_server(database_url=fresh_database(), env=PRODUCTION_ENV, args=args) as server:
        yield server


def test_production_refuses_to_start_with_a_weak_or_missing_jwt_secret(
    fresh_database: Callable[[], str], tmp_path: Path
) -> None:
    url = fresh_database()
    weak = "changeme-" + secrets.token_hex(4)  # 17 characters
    for secret in (weak, ""):
        env = server_env(
            database_url=url,
            var_dir=tmp_path / "var",
            overrides={**PRODUCTION_ENV, "JWT_SECRET": secret},
        )
        result = run_cli("serve", "--port", "1", env=env, timeout=60)
        assert result.returncode == 2, (result.returncode, result.stderr[-500:])
        message = result.stderr.strip()
        assert message.startswith("aqualab: invalid setting JWT_SECRET:"), message
        assert "\n" not in message and (not secret or secret not in message + result.stdout)
    missing_database = server_env(
        database_url=None,
        var_dir=tmp_path / "var",
        overrides={**PRODUCTION_ENV, "AQUALAB_STORAGE": "sql"},
    )
    result = run_cli("serve", "--port", "1", env=missing_database, timeout=60)
    assert result.returncode == 2 and "DATABASE_URL" in result.stderr, result.stderr[-500:]


DEBUG_PATHS = [
    "/debug",
    "/api/v1/debug",
    "/__debug__/",
    "/console",
    "/admin",
    "/api/v1/admin",
    "/api/v1/config",
    "/api/v1/env",
    "/api/v1/settings",
    "/.env",
    "/.git/config",
    "/server-status",
    "/actuator/env",
    "/phpinfo.php",
    "/api/v1/routes",
    "/api/v1/_debug/vars",
    "/api/v1/docs/static/../../../../etc/passwd",
    "/api/v1/docs/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/api/v1/docs/static/..%2f..%2fentrypoints/config.py",
]


def test_production_has_no_debug_endpoints_and_mails_nothing_out(
    production: LiveServer, log_secrets: set[str]
) -> None:
    api = Api(production.base_url, log_secrets)
    for path in DEBUG_PATHS:
        response = api.http.get(production.base_url + path, allow_redirects=False, timeout=10)
        error_of(response, 404, "NOT_FOUND")
        _with_headers(response)
        assert "root:" not in response.text and "JWT_SECRET" not in response.text
    trace = api.request("TRACE", "/health")
    assert trace.status_code == 405 and "TRACE" not in trace.text

    # No CORS_ORIGINS: no origin is ever reflected.
    for origin in (ALLOWED_ORIGIN, "https://evil.example"):
        answer = api.request(
            "OPTIONS",
            "/samples",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
        )
        assert "Access-Control-Allow-Origin" not in answer.headers

    # Without SMTP the reset mail is not sent, and its link is never printed anywhere.
    password = "Product1on-Pass"
    email = unique_email("prod")
    registered = api.post(
        "/auth/register", json={"email": email, "password": password, "name": "P"}
    )
    assert registered.status_code == 201, registered.text
    assert api.post("/auth/forgot-password", json={"email": email}).status_code == 202
    warned = production.wait_for_log(lambda r: r.get("event", "").startswith("mail not sent"))
    assert warned, production.stderr()[-2000:]
    output = production.stdout() + production.stderr()
    assert "reset-password?token=" not in output and "----- mail to" not in output


def test_a_lost_database_is_a_503_that_reveals_nothing(
    fresh_database: Callable[[], str], pg_server: EmbeddedPostgres, log_secrets: set[str]
) -> None:
    url = fresh_database()
    email, password = PRODUCTION_ADMIN
    args = ["--admin-email", email, "--admin-password", password]
    with live_server(database_url=url, env=PRODUCTION_ENV, args=args) as server:
        api = Api(server.base_url, log_secrets)
        token = api.token(email, password)
        assert api.get("/samples", token=token).status_code == 200
        name = str(sa.make_url(url).database)
        engine = sa.create_engine(
            sa.make_url(pg_server.url).set(database="postgres"),
            isolation_level="AUTOCOMMIT",
            poolclass=sa.NullPool,
        )
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        engine.dispose()

        for response in (
            api.get("/samples", token=token),
            api.post("/auth/login", json={"email": email, "password": password}),
            api.post("/labs", token=token, json={"name": "Lost"}),
        ):
            error_of(response, 503, "SERVICE_UNAVAILABLE")
            _with_headers(response)
            assert_reveals_nothing(response)
            assert name not in response.text
        ready = _with_headers(api.get("/health/ready"))
        assert ready.status_code == 503
        assert_reveals_nothing(ready)
        assert name not in ready.text and "postgres" not in json.dumps(ready.json()).lower()
