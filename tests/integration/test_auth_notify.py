"""Against a real PostgreSQL: migration 0010's triggers announce every change to a session
or a user at commit (and nothing for a rollback), a running `ListeningAuthenticationCache`
drops a session another connection revoked, and when its listener connection is killed
it stops serving, reconnects, and starts again from nothing."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from adapters.auth_cache import (
    CHANNEL,
    LISTENER,
    PROBE,
    ChangeAcknowledgements,
    ListeningAuthenticationCache,
    NoAuthenticationCache,
    libpq_conninfo,
)
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from application import auth
from application.context import RequestMeta
from application.views import Session
from domain.errors import Unauthenticated
from domain.roles import Role
from entrypoints.container import Container, build_container
from tests.factories import UserFactory

pytestmark = pytest.mark.integration

GENEROUS = 15.0  # seconds: a bound for things that take milliseconds on an idle machine


def _eventually(condition: Callable[[], bool], what: str, within: float = GENEROUS) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        time.sleep(0.005)


@pytest.fixture
def listener(clean_db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(libpq_conninfo(clean_db), autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        yield conn


def _announced(conn: psycopg.Connection[Any], *, expect: int) -> list[str]:
    """The changes heard (not the probes a committing process sends after them): wait for
    `expect` of them, then a little longer for strays."""
    payloads: list[str] = []
    deadline = time.monotonic() + GENEROUS
    while len(payloads) < expect and time.monotonic() < deadline:
        payloads += _changes(conn.notifies(timeout=0.2))
    return payloads + (_changes(conn.notifies(timeout=0.3)) if expect else [])


def _changes(notifies: Iterable[psycopg.Notify]) -> list[str]:
    return [n.payload for n in notifies if not n.payload.startswith(PROBE)]


def _quiet(conn: psycopg.Connection[Any]) -> list[str]:
    return _changes(conn.notifies(timeout=0.5))


def _register(container: Container, email: str = "ana@lab.ma") -> Session:
    return container.register()(
        auth.RegisterCommand(email, "Passw0rdX", "Ana"), RequestMeta(client_ip="10.0.0.1")
    )


def test_session_and_user_changes_are_announced_at_commit_only(
    sql_container: Container,
    listener: psycopg.Connection[Any],
    admin_engine: sa.Engine,
) -> None:
    session = _register(sql_container)
    user_id = str(session.user.id)
    assert _quiet(listener) == []  # inserting a user and a session needs no announcement

    principal = sql_container.authenticate()(session.tokens.access_token).principal
    sql_container.logout()(principal)
    assert _announced(listener, expect=1) == [user_id]

    with admin_engine.connect() as conn:
        conn.execute(sa.text("UPDATE users SET role = 'admin' WHERE id = :id"), {"id": user_id})
        conn.rollback()
    assert _quiet(listener) == []

    with admin_engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET role = 'admin' WHERE id = :id"), {"id": user_id})
        conn.execute(sa.text("UPDATE users SET name = 'Ana B' WHERE id = :id"), {"id": user_id})
    assert _announced(listener, expect=1) == [user_id]  # one per user per transaction

    with admin_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM refresh_tokens WHERE user_id = :id"), {"id": user_id})
        conn.execute(sa.text("DELETE FROM auth_sessions WHERE user_id = :id"), {"id": user_id})
    assert _announced(listener, expect=1) == [user_id]

    loner = UserFactory()
    with sql_container.uow() as uow:
        uow.users.add(loner)
        uow.commit()
    with admin_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": loner.id})
    assert _announced(listener, expect=1) == [str(loner.id)]


@pytest.fixture
def cached_container(make_settings, clean_db: str) -> Iterator[Container]:  # type: ignore[no-untyped-def]
    """The SQL container with `AUTH_CACHE=on` (off by default: ADR 0020)."""
    container = build_container(
        make_settings(AQUALAB_STORAGE="sql", database_url=clean_db, auth_cache="on"), clean_db
    )
    yield container
    container.shutdown_resources()


def test_a_running_cache_drops_a_session_another_connection_revoked(
    cached_container: Container, admin_engine: sa.Engine
) -> None:
    sql_container = cached_container
    cache = sql_container.auth_cache()
    assert isinstance(cache, ListeningAuthenticationCache)
    session = _register(sql_container)
    assert not cache.is_live  # nothing has authenticated yet: no listener
    authenticate = sql_container.authenticate()
    session_id = authenticate(session.tokens.access_token).principal.session_id
    assert session_id is not None
    _eventually(lambda: cache.is_live, "the first use started the listener")
    authenticate(session.tokens.access_token)
    assert cache.get(session_id) is not None

    with admin_engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE auth_sessions SET revoked_at = now() WHERE id = :id"),
            {"id": session_id},
        )
    _eventually(lambda: cache.get(session_id) is None, "the revoked session is dropped")
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(session.tokens.access_token)


class RecordingCache(ListeningAuthenticationCache):
    def __init__(self, conninfo: str):
        super().__init__(conninfo)
        self.connections = 0
        self.was_lost = threading.Event()

    def listening(self, listener_fd: int | None, confirmed_at: float | None = None) -> None:
        super().listening(listener_fd, confirmed_at)
        self.connections += 1

    def lost(self) -> None:
        super().lost()
        self.was_lost.set()


def test_a_killed_listener_turns_the_cache_off_then_it_reconnects_empty(
    sql_container: Container, clean_db: str, admin_engine: sa.Engine
) -> None:
    cache = RecordingCache(libpq_conninfo(clean_db))
    cache.start()
    try:
        _eventually(lambda: cache.is_live, "the listener is connected")
        authenticate = auth.Authenticate(replace(sql_container.auth_deps(), auth_cache=cache))
        session = _register(sql_container)
        session_id = authenticate(session.tokens.access_token).principal.session_id
        assert session_id is not None and cache.get(session_id) is not None
        ticket_before = cache.ticket()

        with admin_engine.begin() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name LIKE :name "
                    "AND datname = current_database() AND pid <> pg_backend_pid()"
                ),
                {"name": f"{LISTENER}%"},
            ).all()
        assert len(killed) >= 1

        assert cache.was_lost.wait(GENEROUS), "the cache noticed its connection is gone"
        _eventually(lambda: cache.connections == 2 and cache.is_live, "it reconnected")
        assert cache.get(session_id) is None and len(cache) == 0
        found = authenticate(session.tokens.access_token)  # read again, kept again
        assert found.principal.session_id == session_id and cache.get(session_id) is not None
        assert ticket_before != cache.ticket()
    finally:
        cache.stop()
    assert not cache.is_live


def test_a_listener_that_cannot_connect_serves_nothing_and_logs_no_secret(
    clean_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_password = f"not-the-password-{uuid.uuid4().hex}"
    url = sa.make_url(clean_db).set(drivername="postgresql", password=wrong_password)
    cache = ListeningAuthenticationCache(
        libpq_conninfo(url.render_as_string(hide_password=False)), max_retry_seconds=0.2
    )
    with caplog.at_level(logging.WARNING, logger="aqualab.auth_cache"):
        cache.start()
        try:
            _eventually(lambda: bool(caplog.records), "the failure is logged")
            time.sleep(0.5)  # a few more attempts
            assert not cache.is_live and cache.ticket() is None
        finally:
            cache.stop()
    assert len(caplog.records) == 1  # once per outage, not once per attempt
    assert wrong_password not in caplog.text
    assert "disconnected" in caplog.records[0].getMessage()


def test_auth_cache_is_on_by_default_and_off_reads_the_database_every_time(
    make_settings, clean_db: str
) -> None:  # type: ignore[no-untyped-def]
    default = build_container(make_settings(AQUALAB_STORAGE="sql", database_url=clean_db), clean_db)
    try:
        assert isinstance(default.auth_cache(), ListeningAuthenticationCache)
    finally:
        default.shutdown_resources()
    container = build_container(
        make_settings(AQUALAB_STORAGE="sql", database_url=clean_db, auth_cache="off"), clean_db
    )
    try:
        assert isinstance(container.auth_cache(), NoAuthenticationCache)
        session = _register(container)
        session_id = container.authenticate()(session.tokens.access_token).principal.session_id
        assert session_id is not None and container.auth_cache().get(session_id) is None
    finally:
        container.shutdown_resources()


# --- acknowledgements (ADR 0021) ----------------------------------------------------------


class SlowToAcknowledge(ListeningAuthenticationCache):
    """Another process's cache whose listener takes `delay` to apply a batch with a probe
    in it (a busy process): the change must not be answered before it has."""

    def __init__(self, conninfo: str, delay: float):
        super().__init__(conninfo)
        self.delay = delay
        self.acknowledged = threading.Event()

    def notified(self, payloads: Iterable[str]) -> int | None:
        payloads = list(payloads)
        if any(p.startswith(PROBE) for p in payloads):
            time.sleep(self.delay)
            self.acknowledged.set()
        return super().notified(payloads)


def _listeners(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        names = conn.scalars(
            sa.text(
                "SELECT application_name FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name LIKE :name"
            ),
            {"name": f"{LISTENER}%"},
        )
        return sorted(names)


def test_a_change_is_answered_only_once_every_listening_process_has_applied_it(
    sql_container: Container, clean_db: str, admin_engine: sa.Engine
) -> None:
    other = SlowToAcknowledge(libpq_conninfo(clean_db), delay=0.5)
    other.start()
    try:
        _eventually(lambda: other.is_live, "the other process's listener is connected")
        assert _listeners(admin_engine)[0].startswith(f"{LISTENER} ")  # registered
        on_other = auth.Authenticate(replace(sql_container.auth_deps(), auth_cache=other))
        session = _register(sql_container)
        principal = on_other(session.tokens.access_token).principal
        assert principal.session_id is not None
        assert other.get(principal.session_id) is not None

        started = time.monotonic()
        sql_container.logout()(principal)
        took = time.monotonic() - started

        assert other.acknowledged.is_set() and took >= 0.5
        assert other.get(principal.session_id) is None  # at once: no waiting here
        with pytest.raises(Unauthenticated, match="revoked"):
            on_other(session.tokens.access_token)
    finally:
        other.stop()


def test_only_commits_that_change_a_session_or_a_user_wait(
    sql_container: Container,
) -> None:
    waits: list[int] = []

    def unit_of_work() -> SqlAlchemyUnitOfWork:
        uow = sql_container.uow()
        uow._after_auth_change = lambda: waits.append(1)
        return uow

    session = _register(sql_container)
    user_id = session.user.id
    steps: list[tuple[str, Callable[[SqlAlchemyUnitOfWork], object], int]] = [
        ("a new user", lambda uow: uow.users.add(UserFactory()), 0),
        ("nothing", lambda uow: uow.users.get(user_id), 0),
        ("a user's role", lambda uow: setattr(uow.users.get(user_id), "role", Role.VIEWER), 1),
        ("a flushed change", lambda uow: _flushed_name_change(uow, user_id), 1),
        ("every session revoked", lambda uow: uow.sessions.revoke_all_for_user(user_id, _now()), 1),
        ("a user deleted", lambda uow: setattr(uow.users.get(user_id), "deleted_at", _now()), 1),
    ]
    for what, change, expected in steps:
        waits.clear()
        with unit_of_work() as uow:
            change(uow)
            uow.commit()
        assert len(waits) == expected, what

    waits.clear()
    with unit_of_work() as uow:
        uow.sessions.revoke_all_for_user(user_id, _now())
        uow.rollback()
        uow.commit()
    assert waits == []  # a rolled-back change is not announced: nothing to wait for


def _flushed_name_change(uow: SqlAlchemyUnitOfWork, user_id: uuid.UUID) -> None:
    user = uow.users.get(user_id)
    assert user is not None
    user.name = "Flushed Early"
    uow.session.flush()  # as a query's autoflush would, long before the commit


def _now() -> datetime:
    return datetime.now(UTC)


def test_a_listener_that_never_acknowledges_is_terminated_and_its_lease_waited_out(
    clean_db: str, admin_engine: sa.Engine
) -> None:
    conninfo = libpq_conninfo(clean_db)
    with (
        psycopg.connect(conninfo, autocommit=True, application_name=f"{LISTENER} 1") as stuck,
        psycopg.connect(conninfo, autocommit=True, application_name=LISTENER) as connecting,
    ):
        stuck.execute(f"LISTEN {CHANNEL}")  # registered, and never reads again
        slept: list[float] = []
        acks = ChangeAcknowledgements(
            admin_engine, ack_timeout_seconds=0.3, lease_seconds=7.5, sleep=slept.append
        )
        acks.wait()
        assert slept[-1] == 7.5  # the stuck process's lease, waited out
        assert _listeners(admin_engine) == [LISTENER]  # the one still connecting is left be
        with pytest.raises(psycopg.OperationalError):
            stuck.execute("SELECT 1")
        connecting.execute("SELECT 1")


def test_with_no_listener_the_wait_is_one_probe_and_one_look(admin_engine: sa.Engine) -> None:
    slept: list[float] = []
    ChangeAcknowledgements(admin_engine, sleep=slept.append).wait()
    assert slept == []
