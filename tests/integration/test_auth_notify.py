"""Against a real PostgreSQL: migration 0010's triggers announce every change to a session
or a user at commit (and nothing for a rollback), a running `ListeningAuthenticationCache`
drops a session another connection revoked, and when its listener connection is killed
it stops serving, reconnects, and starts again from nothing."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from adapters.auth_cache import (
    CHANNEL,
    ListeningAuthenticationCache,
    NoAuthenticationCache,
    libpq_conninfo,
)
from application import auth
from application.context import RequestMeta
from application.views import Session
from domain.errors import Unauthenticated
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
    """The payloads heard: wait for `expect` of them, then a little longer for strays."""
    payloads = [n.payload for n in conn.notifies(timeout=GENEROUS, stop_after=expect)]
    payloads += [n.payload for n in conn.notifies(timeout=0.3)] if expect else []
    return payloads


def _quiet(conn: psycopg.Connection[Any]) -> list[str]:
    return [n.payload for n in conn.notifies(timeout=0.5)]


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

    def listening(self, listener_fd: int | None) -> None:
        super().listening(listener_fd)
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
                    "WHERE application_name = 'aqualab-auth-listener' "
                    "AND datname = current_database() AND pid <> pg_backend_pid()"
                )
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


def test_auth_cache_off_by_default_reads_the_database_every_time(
    make_settings, clean_db: str
) -> None:  # type: ignore[no-untyped-def]
    container = build_container(
        make_settings(AQUALAB_STORAGE="sql", database_url=clean_db), clean_db
    )
    try:
        assert isinstance(container.auth_cache(), NoAuthenticationCache)
        session = _register(container)
        session_id = container.authenticate()(session.tokens.access_token).principal.session_id
        assert session_id is not None and container.auth_cache().get(session_id) is None
    finally:
        container.shutdown_resources()
