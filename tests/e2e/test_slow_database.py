"""200 concurrent requests while the database stalls: every one is answered, none hangs.

The FastAPI template stops answering at 100 connections: 40 serving threads share 15
pooled connections, and a thread waits for one without a limit. AquaLab sizes each
process's pool from the threads that serve requests (THREADS + 2 under waitress, a
worker's own threads + 2 under gunicorn), with no overflow and a 5 s pool timeout, so a
request either gets a connection at once or fails fast with 503.

The database is made slow for real: another session holds an ACCESS EXCLUSIVE lock on
`samples`, so every `GET /samples` blocks inside PostgreSQL while 200 more requests
queue in front of the server. Then the lock goes away and every request must have been
answered 200, or 503 in the SPEC's error envelope — never left hanging, never a 500.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
import pytest

from tests.e2e.client import Api
from tests.live_server import HOST, LiveServer, live_server

pytestmark = pytest.mark.e2e

ADMIN = ("slow-db-admin@e2e.example", "Slow-Db-Adm1n")
CONCURRENT_REQUESTS = 200
CLIENT_TIMEOUT_SECONDS = 60  # far beyond any answer the server should give
WAITRESS_THREADS = 8  # the THREADS default
GUNICORN_WORKERS = 2  # sync workers: one request each at a time
POOL_TIMEOUT_SECONDS = 5  # adapters/sqlalchemy/engine.py


@dataclass(frozen=True)
class Case:
    args: list[str]
    env: dict[str, str]
    stuck_at_once: int  # requests PostgreSQL holds on the lock at the same time
    lock_held_seconds: float  # after every request is sent and those are stuck
    some_fail_fast: bool  # requests must meet the pool timeout: some 503s expected


CASES = {
    # The pools as derived: no request ever waits for a connection, so all end 200.
    "waitress": Case([], {}, WAITRESS_THREADS, 3, some_fail_fast=False),
    "gunicorn": Case(
        ["--workers", str(GUNICORN_WORKERS)], {}, GUNICORN_WORKERS, 3, some_fail_fast=False
    ),
    # An operator's DB_POOL_SIZE below THREADS (allowed under waitress): threads without a
    # connection give up after the pool timeout and answer 503 instead of waiting forever.
    "waitress-pool-below-threads": Case(
        [], {"DB_POOL_SIZE": "2"}, 2, POOL_TIMEOUT_SECONDS + 2, some_fail_fast=True
    ),
}


@dataclass(frozen=True)
class Outcome:
    status: int | None
    body: bytes
    error: str | None  # the client's exception: a timeout, a reset, a refused connection


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(params=list(CASES))
def slow_server(
    request: pytest.FixtureRequest, fresh_database: Callable[[], str], log_secrets: set[str]
) -> Iterator[tuple[LiveServer, Case]]:
    case = CASES[request.param]
    log_secrets.add(ADMIN[1])
    admin = ["--admin-email", ADMIN[0], "--admin-password", ADMIN[1]]
    with live_server(
        database_url=fresh_database(),
        env=case.env,
        args=[*admin, *case.args],
        threads=WAITRESS_THREADS,
    ) as server:
        yield server, case


def _get_samples(port: int, token: str, sent: list[None]) -> Outcome:
    connection = http.client.HTTPConnection(HOST, port, timeout=CLIENT_TIMEOUT_SECONDS)
    try:
        connection.request(
            "GET", "/api/v1/samples?limit=20", headers={"Authorization": f"Bearer {token}"}
        )
        sent.append(None)
        response = connection.getresponse()
        return Outcome(response.status, response.read(), None)
    except OSError as exc:  # socket timeouts and resets are OSErrors
        return Outcome(None, b"", f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def _requests_waiting_on_the_lock(monitor: psycopg.Connection[tuple[int]]) -> int:
    row = monitor.execute(
        "SELECT count(*) FROM pg_locks WHERE relation = 'samples'::regclass AND NOT granted"
    ).fetchone()
    return row[0] if row else 0


def _wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not reached within {seconds}s: {what}"
        time.sleep(0.05)


def _assert_answered_200_or_503(outcome: Outcome) -> None:
    assert outcome.error is None, f"no answer: {outcome.error}"
    assert outcome.status in (200, 503), (outcome.status, outcome.body[:500])
    body = json.loads(outcome.body)
    if outcome.status == 503:
        error = body["error"]
        assert error["code"] == "SERVICE_UNAVAILABLE", error
        assert {"message", "details", "field_errors", "request_id", "timestamp"} <= set(error)
    else:
        assert body["data"] == [] and body["meta"]["total"] == 0


def test_200_requests_on_a_stalled_database_are_all_answered(
    slow_server: tuple[LiveServer, Case], log_secrets: set[str]
) -> None:
    server, case = slow_server
    api = Api(server.base_url, log_secrets)
    token = api.token(*ADMIN)
    assert api.get("/samples", token=token).status_code == 200

    url = _libpq_url(server.database_url or "")
    with (
        psycopg.connect(url) as locker,
        psycopg.connect(url, autocommit=True) as monitor,
        ThreadPoolExecutor(max_workers=CONCURRENT_REQUESTS) as clients,
    ):
        locker.execute("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE")  # held until rollback
        sent: list[None] = []
        futures = [
            clients.submit(_get_samples, server.port, token, sent)
            for _ in range(CONCURRENT_REQUESTS)
        ]
        try:
            _wait_until(
                lambda: len(sent) == CONCURRENT_REQUESTS, 30, "every request written to the server"
            )
            # The database is slow for real: every serving thread is blocked in PostgreSQL.
            _wait_until(
                lambda: _requests_waiting_on_the_lock(monitor) >= case.stuck_at_once,
                30,
                f"{case.stuck_at_once} requests waiting on the lock",
            )
            time.sleep(case.lock_held_seconds)
        finally:
            locker.rollback()
        outcomes = [future.result() for future in futures]

    unanswered = [o.error for o in outcomes if o.error is not None]
    assert not unanswered, f"{len(unanswered)} requests got no answer, e.g. {unanswered[:3]}"
    for outcome in outcomes:
        _assert_answered_200_or_503(outcome)
    failed_fast = sum(o.status == 503 for o in outcomes)
    assert (failed_fast > 0) == case.some_fail_fast, f"{failed_fast} answers were 503"

    assert api.get("/health/ready").status_code == 200
    assert api.get("/samples", token=token).status_code == 200
    assert server.is_running()
    assert not [
        r for r in server.request_logs() if r.get("status", 0) >= 500 and r["status"] != 503
    ]
