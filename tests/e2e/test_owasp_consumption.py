"""OWASP API4 unrestricted resource consumption: every way to ask for "more" is capped.

- `limit`: every list operation in the live OpenAPI document takes `limit` (default 20,
  at most 100; above is a 400 `VALIDATION_ERROR`, SPEC 3), and pages or offsets too far
  for the database are a 400, never a 500.
- Body size: every operation that takes a body answers 413 `PAYLOAD_TOO_LARGE` to a body
  over `MAX_BODY_BYTES`, with or without a Content-Length (test_http.py covers the login
  and register bodies; here every documented body operation is tried).
- Sync: a batch of more than 1,000 mutations is refused whole (nothing applied); exactly
  1,000 apply; `pull_limit` above 1,000 is clamped (SPEC 6).
- Rate limits: the authenticated API is limited per user (429 with `Retry-After`, other
  users unaffected), and so is forgot-password per client address. The login and register
  limits, across processes, are in test_multi_process.py.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.client import Api, error_of, unique_email
from tests.e2e.conftest import MAX_BODY_BYTES
from tests.e2e.owasp_support import list_operations, operations
from tests.live_server import LiveServer, live_server

pytestmark = pytest.mark.e2e

MAX_LIMIT = 100
MAX_BATCH = 1_000
API_LIMIT = 30
FORGOT_LIMIT = 3
ADMIN_EMAIL = "consumption-admin@e2e.example"
ADMIN_PASSWORD = "Adm1nistrator-Consume"
_addresses = (f"203.0.113.{n}" for n in itertools.count(1))


def _list_path_values(api: Api, admin_token: str, lab: dict[str, Any]) -> dict[str, str]:
    me = api.get("/auth/me", token=admin_token).json()
    sample = api.create_sample(admin_token, lab["id"], "Limit well")
    return {"user_id": me["id"], "sample_id": sample["id"]}


def test_every_list_operation_caps_limit(api: Api, admin_token: str, lab: dict[str, Any]) -> None:
    values = _list_path_values(api, admin_token, lab)
    lists = list_operations(api)
    # Reference data comes whole: two short lists that only admins can grow.
    whole = {"/api/v1/parameters", "/api/v1/standards"}
    assert whole <= {op.path for op in lists}
    paged = [op for op in lists if op.path not in whole]
    assert len(paged) >= 8, [str(op) for op in paged]

    problems: list[str] = []
    for op in paged:
        limit = next((p for p in op.query_parameters if p["name"] == "limit"), None)
        if limit is None or limit["schema"].get("maximum") != MAX_LIMIT:
            problems.append(f"{op}: `limit` is not documented with maximum {MAX_LIMIT}")
            continue
        url = op.url(values)

        def get(params: dict[str, Any], url: str = url) -> Any:
            return api.get(url, token=admin_token, params=params)

        default = get({})
        at_max = get({"limit": MAX_LIMIT})
        if default.status_code != 200 or default.json()["meta"]["limit"] != 20:
            problems.append(f"{op}: default page is not 20: {default.text[:200]}")
        if at_max.status_code != 200 or at_max.json()["meta"]["limit"] != MAX_LIMIT:
            problems.append(f"{op}: limit={MAX_LIMIT} refused: {at_max.text[:200]}")
        for bad in (MAX_LIMIT + 1, 10_000, 10**30, 0, -1, "all"):
            response = get({"limit": bad})
            try:
                fields = error_of(response, 400, "VALIDATION_ERROR")["field_errors"]
                assert "limit" in fields, fields
            except AssertionError:
                problems.append(
                    f"{op}: limit={bad} -> {response.status_code} {response.text[:150]}"
                )
        # Past any data: an empty page; past what PostgreSQL can count: a 400, never a 500.
        far = get({"offset": 2**63 - 1})
        if far.status_code != 200 or far.json()["data"] != []:
            problems.append(f"{op}: offset=2**63-1 -> {far.status_code} {far.text[:150]}")
        for params in ({"offset": 2**63}, {"page": 2**62, "limit": MAX_LIMIT}):
            response = get(params)
            if response.status_code != 400:
                problems.append(f"{op}: {params} -> {response.status_code} {response.text[:150]}")
    assert not problems, "\n".join(problems)
    print(f"limit caps: {len(paged)} paged list operations, each tried with 11 limits/offsets")

    for path in whole:
        listed = api.get(path, token=admin_token).json()
        assert listed["meta"]["total"] == len(listed["data"]) <= 100, path


def test_a_sample_s_results_list_honours_limit(
    api: Api, admin_token: str, lab: dict[str, Any]
) -> None:
    """Regression: the list ignored `page`/`limit` and returned every result at once."""
    sample_id = _list_path_values(api, admin_token, lab)["sample_id"]
    created = [
        api.post(
            f"/samples/{sample_id}/results",
            token=admin_token,
            json={"parameter": "nitrate", "value": n, "unit": "mg/L", "test_date": "2025-05-02"},
        )
        for n in range(5)
    ]
    assert all(r.status_code == 201 for r in created)
    path = f"/samples/{sample_id}/results"
    first = api.get(path, token=admin_token, params={"limit": 2}).json()
    assert len(first["data"]) == 2
    assert first["meta"] == {
        "total": 5,
        "page": 1,
        "limit": 2,
        "total_pages": 3,
        "has_more": True,
        "total_exact": True,
    }
    rest = api.get(path, token=admin_token, params={"offset": 2, "limit": 100}).json()
    ids = {r["id"] for r in first["data"]} | {r["id"] for r in rest["data"]}
    assert ids == {r.json()["id"] for r in created} and rest["meta"]["has_more"] is False
    error_of(api.get(path, token=admin_token, params={"limit": 101}), 400, "VALIDATION_ERROR")


def test_every_body_operation_refuses_an_oversized_body(api: Api, admin_token: str) -> None:
    oversized = json.dumps({"padding": "x" * (MAX_BODY_BYTES + 1)})
    values = {"user_id": str(uuid.uuid4())}
    body_operations = [op for op in operations(api) if op.has_body]
    assert len(body_operations) >= 25
    problems = []
    for op in body_operations:
        url = op.url({name: values.get(name, str(uuid.uuid4())) for name in op.path_parameters})
        for token in (admin_token, None):  # refused before any authentication work
            response = api.request(
                op.method.upper(),
                url,
                token=token,
                data=oversized,
                headers={"Content-Type": "application/json"},
            )
            try:
                error_of(response, 413, "PAYLOAD_TOO_LARGE")
            except AssertionError:
                problems.append(f"{op} token={bool(token)}: {response.status_code}")

    def stream() -> Iterator[bytes]:  # no Content-Length: the cap holds while reading
        yield b'{"device_id": "stream", "mutations": ['
        for _ in range(MAX_BODY_BYTES // 50):  # ~70 bytes each: 1.4 x the limit
            yield b'{"mutation_id": 1, "entity": "sample", "op": "upsert", "data": {}},'
        yield b"]}"

    streamed = api.post(
        "/sync", token=admin_token, data=stream(), headers={"Content-Type": "application/json"}
    )
    error_of(streamed, 413, "PAYLOAD_TOO_LARGE")
    assert not problems, problems
    print(f"body caps: {len(body_operations)} operations x 2 refused with 413")


# --- a server of our own: default body limit, low API and forgot-password limits -----------


@pytest.fixture(scope="module")
def limited(fresh_database: Callable[[], str]) -> Iterator[LiveServer]:
    env = {
        "RATE_LIMIT_API": f"{API_LIMIT}/hour",
        "RATE_LIMIT_FORGOT": f"{FORGOT_LIMIT}/hour",
        "TRUSTED_PROXIES": "127.0.0.1/32",
    }
    admin = ["--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD]
    with live_server(database_url=fresh_database(), env=env, args=admin) as server:
        yield server


def _mutation(number: int) -> dict[str, Any]:
    return {
        "mutation_id": number,
        "entity": "sample",
        "op": "upsert",
        "id": str(uuid.uuid4()),
        "modified_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "type": "ground",
            "location": f"Batch well {number}",
            "collection_date": "2025-06-01",
            "collector_name": "Batch Collector",
        },
    }


def test_sync_batch_and_pull_are_capped(limited: LiveServer, log_secrets: set[str]) -> None:
    api = Api(limited.base_url, log_secrets)
    admin = api.token(ADMIN_EMAIL, ADMIN_PASSWORD)
    lab = api.create_lab(admin)
    password = "Batch-Sync-Pass1"
    tech = api.create_user(admin, role="technician", lab_id=lab["id"], password=password)
    token = api.token(tech["email"], password)
    device = "tablet-batch"

    too_many = [_mutation(n) for n in range(1, MAX_BATCH + 2)]
    refused = api.post("/sync", token=token, json={"device_id": device, "mutations": too_many})
    assert "mutations" in error_of(refused, 400, "VALIDATION_ERROR")["field_errors"]
    error_of(api.get("/sync/status", token=token, params={"device_id": device}), 404, "NOT_FOUND")
    assert api.get("/samples", token=token).json()["meta"]["total"] == 0  # nothing applied

    accepted = api.post(
        "/sync",
        token=token,
        json={"device_id": device, "mutations": too_many[:MAX_BATCH], "pull_limit": 0},
        timeout=120,
    )
    assert accepted.status_code == 200, accepted.text[:500]
    assert accepted.json()["last_mutation_id"] == MAX_BATCH
    assert {r["status"] for r in accepted.json()["results"]} == {"applied"}
    one_more = api.post(
        "/sync",
        token=token,
        json={"device_id": device, "mutations": too_many[MAX_BATCH:], "pull_limit": 0},
    )
    assert one_more.status_code == 200 and one_more.json()["last_mutation_id"] == MAX_BATCH + 1

    # A pull asking for 5,000 changes gets at most 1,000 and is told there are more.
    pulled = api.post(
        "/sync",
        token=token,
        json={"device_id": "tablet-reader", "cursor": None, "pull_limit": 5 * MAX_BATCH},
        timeout=120,
    )
    assert pulled.status_code == 200, pulled.text[:500]
    first = pulled.json()
    assert len(first["changes"]) == MAX_BATCH and first["has_more"] is True
    rest = api.post(
        "/sync",
        token=token,
        json={"device_id": "tablet-reader", "cursor": first["cursor"], "pull_limit": 5000},
    ).json()
    assert len(rest["changes"]) == 1 and rest["has_more"] is False

    long_device = api.post("/sync", token=token, json={"device_id": "d" * 201, "mutations": []})
    assert "device_id" in error_of(long_device, 400, "VALIDATION_ERROR")["field_errors"]


def test_the_api_is_rate_limited_per_user(limited: LiveServer, log_secrets: set[str]) -> None:
    api = Api(limited.base_url, log_secrets)
    password = "Rate-Limited-1"

    def register() -> str:
        response = api.post(
            "/auth/register",
            json={"email": unique_email("rate"), "password": password, "name": "Rate"},
        )
        assert response.status_code == 201, response.text
        return response.json()["tokens"]["access_token"]  # type: ignore[no-any-return]

    busy, bystander = register(), register()
    statuses = [api.get("/tasks", token=busy).status_code for _ in range(API_LIMIT)]
    assert statuses == [200] * API_LIMIT
    limited_response = api.get("/auth/me", token=busy)  # any endpoint counts
    error = error_of(limited_response, 429, "RATE_LIMITED")
    retry_after = int(limited_response.headers["Retry-After"])
    assert 1 <= retry_after <= 3600 and error["details"]["retry_after"] == retry_after
    error_of(api.post("/tasks", token=busy, json={"title": "Over the limit"}), 429, "RATE_LIMITED")
    # Per user, not per address: the other user on the same address is served.
    assert api.get("/tasks", token=bystander).status_code == 200


def test_forgot_password_is_rate_limited_per_address(
    limited: LiveServer, log_secrets: set[str]
) -> None:
    api = Api(limited.base_url, log_secrets)
    address = {"X-Forwarded-For": next(_addresses)}
    registered = api.post(
        "/auth/register",
        json={"email": unique_email("forgot"), "password": "Forgot-Limit-1", "name": "F"},
        headers=address,
    )
    assert registered.status_code == 201, registered.text
    emails = [registered.json()["user"]["email"], unique_email("nobody")]
    # Known and unknown emails spend the same budget (no enumeration through the limit).
    answers = [
        api.post("/auth/forgot-password", json={"email": emails[n % 2]}, headers=address)
        for n in range(FORGOT_LIMIT)
    ]
    assert [a.status_code for a in answers] == [202] * FORGOT_LIMIT
    for email in emails:
        over = api.post("/auth/forgot-password", json={"email": email}, headers=address)
        error_of(over, 429, "RATE_LIMITED")
        assert int(over.headers["Retry-After"]) >= 1
    elsewhere = {"X-Forwarded-For": next(_addresses)}
    assert (
        api.post("/auth/forgot-password", json={"email": emails[0]}, headers=elsewhere).status_code
        == 202
    )


def test_a_report_over_the_widest_range_answers(api: Api, admin_token: str) -> None:
    """Report ranges are not capped (SPEC 8 sets no limit): the widest one still answers."""
    report = api.post(
        "/reports/compliance",
        token=admin_token,
        json={"date_from": "0001-01-01", "date_to": "9999-12-31T23:59:59Z"},
        timeout=60,
    )
    assert report.status_code == 200, report.text[:300]
    assert report.json()["totals"]["samples"] >= 0
