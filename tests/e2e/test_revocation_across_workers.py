"""`aqualab serve --workers 2` with the session cache (on by default): each worker keeps the
sessions it has checked, and still a logout, a deactivation, a deletion or a role change
made through one worker holds on either worker from the change's answer on — 100
requests fired the moment it is answered, none served from a stale entry. The changing
request waits for every worker's listener to acknowledge the change (ADR 0021); with
the listener ignoring notifications all 100 are served."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests
import sqlalchemy as sa

from tests.e2e.client import Api, error_of, unique_email
from tests.e2e.test_workers import _children, _many
from tests.live_server import LiveServer, live_server

pytestmark = pytest.mark.e2e

EMAIL = "revocation-admin@e2e.example"
PASSWORD = "Adm1nistrator-Revocation"
WARM_UP = 40
AFTER_CHANGE = 100
ME = "/api/v1/auth/me"


@dataclass
class Cluster:
    server: LiveServer
    api: Api
    admin: str
    lab_id: str
    workers: set[int]


@pytest.fixture(scope="module")
def cluster(
    fresh_database: Callable[[], str], log_secrets: set[str]
) -> Iterator[Cluster]:  # fmt: skip
    url = fresh_database()
    args = ["--workers", "2", "--admin-email", EMAIL, "--admin-password", PASSWORD]
    with live_server(database_url=url, args=args) as server:
        assert server.process is not None
        workers = _children(server.process.pid)
        assert len(workers) == 2, server.stderr()[-2000:]
        api = Api(server.base_url, log_secrets | {PASSWORD})
        admin = api.token(EMAIL, PASSWORD)
        _start_listeners(server, admin, url, len(workers))
        yield Cluster(server, api, admin, api.create_lab(admin)["id"], workers)


def _start_listeners(server: LiveServer, token: str, url: str, workers: int) -> None:
    """A worker's cache starts listening on its first authenticated request; ask until
    every worker has one (and nothing else does: the audit sealer never authenticates)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    me = server.url(ME)
    listening = 0
    try:
        for _ in range(100):
            _many(lambda: requests.get(me, headers=_bearer(token), timeout=10).status_code, 8)
            time.sleep(0.1)
            with engine.connect() as conn:
                listening = conn.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE application_name LIKE 'aqualab-auth-listener %' "
                        "AND datname = current_database()"
                    )
                )
            if listening == workers:
                return
        raise AssertionError(f"{listening} listeners, expected {workers}")
    finally:
        engine.dispose()


def _signed_in_and_warm(cluster: Cluster, role: str = "technician") -> tuple[dict[str, str], str]:
    """A new user, signed in, whose session every worker has checked (and kept)."""
    user = cluster.api.create_user(
        cluster.admin, role=role, lab_id=cluster.lab_id, email=unique_email("revoked")
    )
    token = cluster.api.token(user["email"], "Techn1cianPass")
    me = cluster.server.url(ME)
    warmed: set[int] = set()
    for _ in range(10):  # gunicorn decides who takes each request; ask until both have
        responses = _many(lambda: requests.get(me, headers=_bearer(token), timeout=10), WARM_UP)
        assert [r.status_code for r in responses] == [200] * WARM_UP  # type: ignore[attr-defined]
        warmed |= _workers_that_served(cluster.server, responses)  # type: ignore[arg-type]
        if warmed == cluster.workers:
            return user, token
    raise AssertionError(f"only workers {warmed} of {cluster.workers} took the warm-up")


def _workers_that_served(server: LiveServer, responses: list[requests.Response]) -> set[int]:
    """From the request log lines, by request id (a worker logs once it has answered)."""
    ids = {r.headers["X-Request-ID"] for r in responses}
    deadline = time.monotonic() + 10
    while True:
        records = [r for r in server.request_logs() if r.get("request_id") in ids]
        if len(records) >= len(ids) or time.monotonic() > deadline:
            return {r["pid"] for r in records}
        time.sleep(0.05)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _fire(cluster: Cluster, token: str) -> list[requests.Response]:
    """Right after a change's answer: 20 back-to-back on one connection, then 80 from 8
    threads."""
    me = cluster.server.url(ME)
    with requests.Session() as one_connection:
        first = [one_connection.get(me, headers=_bearer(token), timeout=10) for _ in range(20)]
    rest = _many(lambda: requests.get(me, headers=_bearer(token), timeout=10), AFTER_CHANGE - 20)
    return first + rest  # type: ignore[operator]


def _all_refused(cluster: Cluster, responses: list[requests.Response]) -> None:
    served = [r for r in responses if r.status_code != 401]
    assert not served, (
        f"{len(served)} of {len(responses)} served, at positions "
        f"{[responses.index(r) for r in served]}, by workers "
        f"{_workers_that_served(cluster.server, served)}"
    )
    error_of(responses[0], 401, "UNAUTHORIZED")


def test_logout_holds_on_every_worker(cluster: Cluster) -> None:
    _, token = _signed_in_and_warm(cluster)
    logout = requests.post(cluster.server.api + "/auth/logout", headers=_bearer(token), timeout=10)
    assert logout.status_code == 204, logout.text
    _all_refused(cluster, _fire(cluster, token))


@pytest.mark.parametrize("change", ["deactivate", "delete"])
def test_a_deactivated_or_deleted_user_is_refused_on_every_worker(
    cluster: Cluster, change: str
) -> None:
    user, token = _signed_in_and_warm(cluster)
    if change == "deactivate":
        done = cluster.api.patch(
            f"/users/{user['id']}", token=cluster.admin, json={"is_active": False}
        )
        assert done.status_code == 200, done.text
    else:
        done = cluster.api.delete(f"/users/{user['id']}", token=cluster.admin)
        assert done.status_code == 204, done.text
    _all_refused(cluster, _fire(cluster, token))


def test_a_role_change_holds_from_the_next_request_on(cluster: Cluster) -> None:
    user, token = _signed_in_and_warm(cluster, role="technician")
    changed = cluster.api.patch(
        f"/users/{user['id']}", token=cluster.admin, json={"role": "viewer"}
    )
    assert changed.status_code == 200, changed.text

    responses = _fire(cluster, token)
    assert [r.status_code for r in responses] == [200] * AFTER_CHANGE
    roles = [r.json()["role"] for r in responses]
    assert roles == ["viewer"] * AFTER_CHANGE, f"{roles.count('technician')} stale"
