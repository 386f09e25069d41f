"""The database goes away under a running server, then comes back.

A dedicated PostgreSQL cluster (not the session's) is stopped and started by the
test; the same server process must answer 503 fast while it is down and recover
by itself afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from adapters.postgres_server import EmbeddedPostgres
from tests.e2e.client import Api, error_of
from tests.live_server import live_server

pytestmark = pytest.mark.e2e

ADMIN = ("ops-admin@e2e.example", "Ops-Adm1n-Passw0rd")
FAST = 5.0  # seconds: "fail fast"


def _timed(call: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_database_outage_is_503_then_recovers(
    own_cluster: EmbeddedPostgres, log_secrets: set[str]
) -> None:
    args = ["--admin-email", ADMIN[0], "--admin-password", ADMIN[1]]
    log_secrets.add(ADMIN[1])
    with live_server(database_url=own_cluster.url, args=args) as server:
        api = Api(server.base_url, log_secrets)
        token = api.token(*ADMIN)
        assert api.get("/users", token=token).status_code == 200
        pid = server.process.pid if server.process else None

        own_cluster.stop()
        assert not own_cluster.is_running()

        checks = {
            "me": lambda: api.get("/auth/me", token=token),
            "users": lambda: api.get("/users", token=token),
            "login": lambda: api.post(
                "/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]}
            ),
            "create lab": lambda: api.post("/labs", token=token, json={"name": "During outage"}),
        }
        for name, call in checks.items():
            response, seconds = _timed(call)
            assert seconds < FAST, f"{name} took {seconds:.1f}s"
            error = error_of(response, 503, "SERVICE_UNAVAILABLE")
            assert "psycopg" not in str(error).lower() and "sql" not in error["message"].lower()
            assert response.headers.get("Retry-After")
        ready, seconds = _timed(lambda: api.get("/health/ready"))
        assert ready.status_code == 503 and seconds < FAST
        assert ready.json()["checks"]["database"] == "down"
        assert api.get("/health/live").status_code == 200  # the process itself is alive
        assert api.get("/health").status_code == 503

        own_cluster.start()

        deadline = time.monotonic() + 20
        while api.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.2)
        # Pooled connections from before the outage are dead; the server must discard them.
        for _ in range(3):
            assert api.get("/auth/me", token=token).status_code == 200
        fresh = api.login(*ADMIN)["tokens"]["access_token"]
        users = api.get("/users", token=fresh)
        assert users.status_code == 200 and users.json()["meta"]["total"] == 1
        created = api.post("/labs", token=fresh, json={"name": "After outage"})
        assert created.status_code == 201, created.text
        names = {lab["name"] for lab in api.get("/labs", token=fresh).json()["data"]}
        assert "After outage" in names and "During outage" not in names

        assert server.process is not None and server.process.pid == pid  # no restart
        assert server.is_running()
        outage_lines = [r for r in server.request_logs() if r["status"] == 503]
        assert len(outage_lines) >= len(checks) + 2
