"""Two server processes on one database: nothing that must be correct is process-local.

Logout revocation, rate limits, account lockout and sync exactly-once are all held in
PostgreSQL, so they hold whichever process a request reaches. Both servers run on a
database of their own with low limits, so the shared e2e server's traffic never counts
against them. They trust the loopback proxy, so each test can speak from a client
address of its own (`X-Forwarded-For`) and keep its own rate-limit budget.
"""

from __future__ import annotations

import itertools
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tests.e2e.client import Api, error_of, unique_email
from tests.live_server import LiveServer, live_server

pytestmark = pytest.mark.e2e

LOGIN_LIMIT = 3
REGISTER_LIMIT = 4
LOCKOUT_ATTEMPTS = 2
ADMIN_EMAIL = "multi-admin@e2e.example"
ADMIN_PASSWORD = "Adm1nistrator-Multi"
LIMITED_ENV = {
    # Hour windows: a window boundary falling inside a burst is all but impossible.
    "RATE_LIMIT_LOGIN": f"{LOGIN_LIMIT}/hour",
    "RATE_LIMIT_REGISTER": f"{REGISTER_LIMIT}/hour",
    "LOCKOUT_ATTEMPTS": str(LOCKOUT_ATTEMPTS),
    "TRUSTED_PROXIES": "127.0.0.1/32",
}
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


def own_address() -> dict[str, str]:
    """Headers that make the next requests come from a client address nobody else uses."""
    return {"X-Forwarded-For": next(_addresses)}


@pytest.fixture(scope="module")
def limited_servers(
    fresh_database: Callable[[], str],
) -> Iterator[tuple[LiveServer, LiveServer]]:
    url = fresh_database()
    env = {**LIMITED_ENV, "JWT_SECRET": secrets.token_urlsafe(48)}  # one deployment, one key
    admin = ["--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD]
    with (
        live_server(database_url=url, env=env, args=admin) as first,
        live_server(database_url=url, env=env) as second,
    ):
        yield first, second


def _until_limited(attempt: Callable[[int], requests.Response], limit: int) -> list[int]:
    """Statuses of attempts until the first 429; the window is fixed, so at most one
    window boundary can fall inside the burst and 2 * limit + 1 attempts must hit it."""
    statuses: list[int] = []
    for index in range(2 * limit + 1):
        response = attempt(index)
        statuses.append(response.status_code)
        if response.status_code == 429:
            return statuses
    return statuses


def test_login_limit_holds_across_processes(
    limited_servers: tuple[LiveServer, LiveServer], log_secrets: set[str]
) -> None:
    clients = [Api(server.base_url, log_secrets) for server in limited_servers]
    body = {"email": unique_email("limited"), "password": "Wrong-Passw0rd"}
    last: dict[str, requests.Response] = {}

    def attempt(index: int) -> requests.Response:  # alternate between the two processes
        last["response"] = clients[index % 2].post("/auth/login", json=body)
        return last["response"]

    statuses = _until_limited(attempt, LOGIN_LIMIT)
    assert statuses[-1] == 429, statuses
    assert statuses[:LOGIN_LIMIT] == [401] * LOGIN_LIMIT
    assert set(statuses[:-1]) == {401}
    limited = last["response"]
    error = error_of(limited, 429, "RATE_LIMITED")
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert error["details"]["retry_after"] == retry_after
    # Limited on both processes (per client address), whatever the account.
    for client in clients:
        error_of(
            client.post("/auth/login", json={"email": unique_email(), "password": "x"}),
            429,
            "RATE_LIMITED",
        )


def test_register_limit_and_cross_process_logout(
    limited_servers: tuple[LiveServer, LiveServer], log_secrets: set[str]
) -> None:
    first, second = (Api(server.base_url, log_secrets) for server in limited_servers)
    password = "Cross-Proc3ss"
    registered = first.post(
        "/auth/register", json={"email": unique_email("x"), "password": password, "name": "X"}
    )
    assert registered.status_code == 201, registered.text
    tokens = registered.json()["tokens"]
    # A token issued by one process works on the other, and logout on one holds on both.
    assert second.get("/auth/me", token=tokens["access_token"]).status_code == 200
    assert first.post("/auth/logout", token=tokens["access_token"]).status_code == 204
    error_of(second.get("/auth/me", token=tokens["access_token"]), 401, "UNAUTHORIZED")
    error_of(
        second.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
        401,
        "UNAUTHORIZED",
    )

    def attempt(index: int) -> requests.Response:
        client = (first, second)[index % 2]
        return client.post(
            "/auth/register",
            json={"email": unique_email("burst"), "password": password, "name": "Burst"},
        )

    statuses = _until_limited(attempt, REGISTER_LIMIT)
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {201}
    assert len(statuses) - 1 >= REGISTER_LIMIT - 1  # one register happened above


def test_lockout_holds_across_processes(
    limited_servers: tuple[LiveServer, LiveServer], log_secrets: set[str]
) -> None:
    first, second = (Api(server.base_url, log_secrets) for server in limited_servers)
    email, password = unique_email("locked"), "Lock0ut-Victim"
    registered = first.post(
        "/auth/register",
        headers=own_address(),
        json={"email": email, "password": password, "name": "Victim"},
    )
    assert registered.status_code == 201, registered.text
    wrong = {"email": email, "password": "Wrong-Passw0rd"}
    # One failure on each process: together they reach the threshold, so the second,
    # on the other process, is the one that locks the account.
    first_try = first.post("/auth/login", headers=own_address(), json=wrong)
    error_of(first_try, 401, "INVALID_CREDENTIALS")
    error_of(second.post("/auth/login", headers=own_address(), json=wrong), 423, "ACCOUNT_LOCKED")
    right = {"email": email, "password": password}
    for client in (first, second):
        answer = client.post("/auth/login", headers=own_address(), json=right)
        locked = error_of(answer, 423, "ACCOUNT_LOCKED")
        assert locked["details"]["retry_after"] > 0


def _mutation(mutation_id: int, record_id: str) -> dict[str, Any]:
    return {
        "mutation_id": mutation_id,
        "entity": "sample",
        "op": "upsert",
        "id": record_id,
        "base_version": None,
        "modified_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "type": "drinking",
            "location": f"Multi-process well {mutation_id}",
            "collection_date": "2025-03-01T08:00:00Z",
            "collector_name": "Salma Idrissi",
        },
    }


def test_sync_is_exactly_once_across_processes(
    limited_servers: tuple[LiveServer, LiveServer], log_secrets: set[str]
) -> None:
    first, second = (Api(server.base_url, log_secrets) for server in limited_servers)
    admin = first.post(
        "/auth/login",
        headers=own_address(),
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
    )
    assert admin.status_code == 200, admin.text
    admin_token = admin.json()["tokens"]["access_token"]
    lab = first.create_lab(admin_token)
    tech = first.create_user(
        admin_token, role="technician", lab_id=lab["id"], password="Techn1cian-Multi"
    )
    login = second.post(
        "/auth/login",
        headers=own_address(),
        json={"email": tech["email"], "password": "Techn1cian-Multi"},
    )
    assert login.status_code == 200, login.text
    token = login.json()["tokens"]["access_token"]
    device = f"tablet-{uuid.uuid4().hex[:8]}"
    ids = [str(uuid.uuid4()) for _ in range(60)]

    def push(client: Api, first_id: int, last_id: int) -> dict[str, Any]:
        """One batch, retried like the reference client on the retryable 409 that a
        request meets while the same device is syncing in another request."""
        mutations = [_mutation(n, ids[n - 1]) for n in range(first_id, last_id + 1)]
        body = {"device_id": device, "pull_limit": 0, "mutations": mutations}
        for attempt in range(20):
            response = client.post("/sync", token=token, json=body)
            if response.status_code != 409:
                break
            error_of(response, 409, "CONFLICT")
            time.sleep(0.05 * (attempt + 1))
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    # The same batch reaches both processes at once (a client retrying on another
    # instance behind a load balancer): it applies once, the other copy is a duplicate.
    with ThreadPoolExecutor(max_workers=2) as pool:
        bodies = list(pool.map(lambda c: push(c, 1, 40), (first, second)))
    outcomes = sorted(tuple(sorted({r["status"] for r in body["results"]})) for body in bodies)
    assert outcomes == [("applied",), ("duplicate",)], outcomes
    # A batch overlapping the committed one, on the other process: only the new part applies.
    overlap = push(second, 21, 60)
    statuses = [r["status"] for r in overlap["results"]]
    assert statuses == ["duplicate"] * 20 + ["applied"] * 20, statuses
    assert overlap["last_mutation_id"] == 60

    for client in (first, second):
        status = client.get("/sync/status", token=token, params={"device_id": device})
        assert status.status_code == 200, status.text
        assert status.json()["last_mutation_id"] == 60
        listed = client.get(
            "/samples", token=token, params={"search": "Multi-process well", "limit": 100}
        )
        assert listed.status_code == 200, listed.text
        assert sorted(s["id"] for s in listed.json()["data"]) == sorted(ids)
        assert listed.json()["meta"]["total"] == 60
