"""Rate limits and revocation across two server processes sharing one database.

Both servers run on a database of their own with a low login limit, so the shared
e2e server's traffic never counts against it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.e2e.client import Api, error_of, unique_email
from tests.live_server import LiveServer, live_server

pytestmark = pytest.mark.e2e

LOGIN_LIMIT = 3
REGISTER_LIMIT = 4
LIMITED_ENV = {
    # Hour windows: a window boundary falling inside a burst is all but impossible.
    "RATE_LIMIT_LOGIN": f"{LOGIN_LIMIT}/hour",
    "RATE_LIMIT_REGISTER": f"{REGISTER_LIMIT}/hour",
}


@pytest.fixture(scope="module")
def limited_servers(
    fresh_database: Callable[[], str],
) -> Iterator[tuple[LiveServer, LiveServer]]:
    url = fresh_database()
    env = {**LIMITED_ENV, "JWT_SECRET": secrets.token_urlsafe(48)}  # one deployment, one key
    with (
        live_server(database_url=url, env=env) as first,
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
