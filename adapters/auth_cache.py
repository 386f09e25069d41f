"""Sessions with their users kept in memory, dropped when PostgreSQL announces a change.

Migration 0010's triggers `pg_notify('aqualab_auth', <user id>)` on every update or
delete of a session or a user, delivered when the changing transaction commits. Each
process keeps one connection that LISTENs on that channel (a daemon thread) and, on
each notification, drops every kept session of that user. The rules (ADR 0020):

- Caching is live only while the listener is connected: before the first connection,
  and from the moment it is lost until it is back, `get` misses, `put` keeps nothing and
  the cache is empty. On (re)connect: LISTEN first, then empty the cache, then go live,
  so no change can fall between what was kept and what will be heard.
- A generation number, bumped by every notification and every (re)connect, is the
  `ticket` a reader takes before it reads the database: `put` keeps the rows only if the
  generation has not moved, so a read that raced a change is never kept.
- `get` misses while the listener is reading notifications not yet applied, and while
  the listener's socket has unread bytes: the remaining window is the time a commit's
  notification takes to reach this process's socket.
- Bounded (emptied when full) and entries older than `max_age_seconds` miss: a belt for
  the braces above, not the invalidation rule.

What makes it exact (ADR 0021): the listener *acknowledges*. A process that commits a
change to a session or a user then calls `ChangeAcknowledgements.wait()` before it
answers: it announces a probe numbered by a fresh transaction id (`pg_current_xact_id()`,
taken after its commit, so every listener hears the change before the probe) and waits
until every registered listener shows a number at least that high in its
`application_name`, which a listener sets only after applying everything it read up to
that probe. A listener that does not answer in time is terminated, and the wait goes on
for one `lease_seconds`: a process serves from its cache only while its listener has
completed a round trip to PostgreSQL within the lease.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from domain.model import AuthSession, User

log = logging.getLogger("aqualab.auth_cache")

CHANNEL = "aqualab_auth"
# The listener's connection name; `<LISTENER> <n>` once registered, n the highest probe
# acknowledged (or the transaction id taken when it registered).
LISTENER = "aqualab-auth-listener"
PROBE = "probe:"
# A process serves from its cache only while its listener has completed a round trip
# within the lease; the listener makes one every heartbeat.
LEASE_SECONDS = 3.0
HEARTBEAT_SECONDS = 1.0

Found = tuple[AuthSession, User]


class NoAuthenticationCache:
    """Keeps nothing: memory storage, and `AUTH_CACHE=off`."""

    def ticket(self) -> object | None:
        return None

    def get(self, session_id: UUID) -> Found | None:
        return None

    def put(self, session_id: UUID, found: Found, ticket: object | None) -> None:
        return None


def libpq_conninfo(database_url: str) -> str:
    """The engine's URL (`postgresql+psycopg://…` or `postgresql://…`) as libpq takes it."""
    return "postgresql://" + database_url.split("://", 1)[1]


class ListeningAuthenticationCache:
    """One per process, shared by its serving threads; `start()` runs the listener."""

    def __init__(
        self,
        conninfo: str = "",
        *,
        max_entries: int = 10_000,
        max_age_seconds: float = 60.0,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        max_retry_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._conninfo = conninfo
        self._max_entries = max_entries
        self._max_age = max_age_seconds
        self._heartbeat = heartbeat_seconds
        self._lease = lease_seconds
        self._confirmed_at = float("-inf")
        self._max_retry = max_retry_seconds
        self._now = monotonic
        self._lock = threading.Lock()
        self._entries: dict[UUID, tuple[Found, float]] = {}
        self._sessions_of: dict[UUID, set[UUID]] = {}
        self._generation = 0
        self._live = False
        self._draining = False
        self._listener_fd: int | None = None
        self._stopping = threading.Event()
        self._starting = threading.Lock()
        self._started = False
        self._thread: threading.Thread | None = None
        self._wake_read, self._wake_write = -1, -1

    # --- the port -------------------------------------------------------------------

    def ticket(self) -> object | None:
        with self._lock:
            return self._generation if self._live else None

    def get(self, session_id: UUID) -> Found | None:
        if not self._started:
            self.start()  # on first use: processes that never authenticate never listen
        with self._lock:
            if (
                not self._live
                or self._draining
                or self._now() - self._confirmed_at > self._lease
                or self._listener_has_unread_bytes()
            ):
                return None
            entry = self._entries.get(session_id)
            if entry is None:
                return None
            found, stored_at = entry
            if self._now() - stored_at > self._max_age:
                self._forget(session_id, found[1].id)
                return None
            return found

    def put(self, session_id: UUID, found: Found, ticket: object | None) -> None:
        with self._lock:
            if not self._live or ticket is None or ticket != self._generation:
                return
            if len(self._entries) >= self._max_entries:
                self._empty()
            user_id = found[1].id
            self._entries[session_id] = (found, self._now())
            self._sessions_of.setdefault(user_id, set()).add(session_id)

    # --- what the listener reports (tests call these directly) -------------------------

    def listening(self, listener_fd: int | None, confirmed_at: float | None = None) -> None:
        """LISTEN has succeeded (and the listener registered, its round trip sent at
        `confirmed_at`): start from nothing, then go live."""
        with self._lock:
            self._empty()
            self._generation += 1
            self._listener_fd = listener_fd
            self._confirmed_at = self._now() if confirmed_at is None else confirmed_at
            self._live = True

    def confirmed(self, sent_at: float) -> None:
        """A round trip sent at `sent_at` came back: the connection was alive then."""
        with self._lock:
            self._confirmed_at = max(self._confirmed_at, sent_at)

    def reading(self) -> None:
        """The listener is about to read notifications: miss until they are applied."""
        with self._lock:
            self._draining = True

    def notified(self, payloads: Iterable[str]) -> int | None:
        """Apply what was read: each payload names a user whose sessions are dropped, or
        is a probe to acknowledge. Returns the highest probe read, if any."""
        probe: int | None = None
        with self._lock:
            for payload in payloads:
                if payload.startswith(PROBE):
                    number = _probe_number(payload)
                    if number is not None:
                        probe = number if probe is None else max(probe, number)
                    continue
                try:
                    user_id = UUID(payload)
                except ValueError:
                    self._empty()
                    continue
                for session_id in self._sessions_of.pop(user_id, ()):
                    self._entries.pop(session_id, None)
            self._generation += 1
            self._draining = False
        return probe

    def lost(self) -> None:
        """The listener is not connected: nothing kept, nothing served."""
        with self._lock:
            self._live = False
            self._draining = False
            self._listener_fd = None
            self._empty()
            self._generation += 1

    @property
    def is_live(self) -> bool:
        return self._live

    def __len__(self) -> int:
        return len(self._entries)

    # --- the listener thread ----------------------------------------------------------

    def start(self) -> None:
        """Start listening (once; `get` calls it). Caching goes live when LISTEN succeeds."""
        with self._starting:
            if self._started or self._stopping.is_set() or not self._conninfo:
                self._started = True
                return
            self._started = True
            self._wake_read, self._wake_write = os.pipe()
            self._thread = threading.Thread(
                target=self._listen_until_stopped, name="aqualab-auth-listener", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._starting:
            self._stopping.set()
            thread, self._thread = self._thread, None
        if thread is None:
            return
        os.write(self._wake_write, b"x")
        thread.join(timeout)
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _listen_until_stopped(self) -> None:
        retry = 0.05
        failing = False
        while not self._stopping.is_set():
            try:
                with self._connect() as conn:
                    try:
                        conn.execute(f"LISTEN {CHANNEL}")
                        sent = self._now()
                        # Registered under a number taken after LISTEN: a change
                        # committed before it is already visible to every read made
                        # once live, one committed after it will be heard.
                        conn.execute(_REGISTER, [f"{LISTENER} "])
                        self.listening(conn.fileno(), sent)
                        if failing:
                            log.warning("auth cache listener connected again; caching on")
                        failing, retry = False, 0.05
                        self._follow(conn)
                    finally:
                        self.lost()  # before the connection closes: its fd may be reused
            except (psycopg.Error, OSError) as exc:
                if not failing and not self._stopping.is_set():
                    # The error's type only: its text may name hosts and users.
                    log.warning(
                        "auth cache listener disconnected; caching off until it reconnects",
                        extra={"error": type(exc).__name__},
                    )
                failing = True
            self._stopping.wait(retry)
            retry = min(retry * 2, self._max_retry)

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=3,
            application_name=LISTENER,
            # A silent network loss must end the connection, not hang the heartbeat.
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
            tcp_user_timeout=10_000,
            options="-c statement_timeout=5000",
        )

    def _follow(self, conn: psycopg.Connection[Any]) -> None:
        listener_fd = conn.fileno()
        next_heartbeat = self._now() + self._heartbeat
        while not self._stopping.is_set():
            wait = max(0.0, next_heartbeat - self._now())
            ready, _, _ = select.select([listener_fd, self._wake_read], [], [], wait)
            if self._wake_read in ready:
                return
            self.reading()  # a failure below leaves it set until `lost()`
            if self._now() >= next_heartbeat:
                # Prove the connection still works, and renew the lease. Notifications
                # arriving meanwhile wait in psycopg's backlog, drained just below.
                sent = self._now()
                conn.execute("SELECT 1")
                self.confirmed(sent)
                next_heartbeat = sent + self._heartbeat
            probe = self.notified(_drain(conn))
            while probe is not None:
                # Everything read up to the probe is applied: say so, then apply what
                # arrived during the round trip (perhaps another probe).
                self.reading()
                sent = self._now()
                conn.execute(_ACKNOWLEDGE, [f"{LISTENER} {probe}"])
                self.confirmed(sent)
                probe = self.notified(_drain(conn))

    # --- under the lock -------------------------------------------------------------------

    def _listener_has_unread_bytes(self) -> bool:
        if self._listener_fd is None:
            return False
        try:
            readable, _, _ = select.select([self._listener_fd], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _forget(self, session_id: UUID, user_id: UUID) -> None:
        self._entries.pop(session_id, None)
        sessions = self._sessions_of.get(user_id)
        if sessions is not None:
            sessions.discard(session_id)
            if not sessions:
                del self._sessions_of[user_id]

    def _empty(self) -> None:
        self._entries.clear()
        self._sessions_of.clear()


_REGISTER = "SELECT set_config('application_name', %s || pg_current_xact_id()::text, false)"
_ACKNOWLEDGE = "SELECT set_config('application_name', %s, false)"


def _drain(conn: psycopg.Connection[Any]) -> list[str]:
    return [notify.payload for notify in conn.notifies(timeout=0)]


def _probe_number(text: str) -> int | None:
    digits = text.rsplit(" ", 1)[-1].removeprefix(PROBE)
    return int(digits) if digits.isdigit() else None


# --- the changing side --------------------------------------------------------------

# One autocommit transaction: its id is taken after the caller's commit, and the probe
# is delivered after the change's own notification to every listener.
_SEND_PROBE = sa.text(
    "SELECT pg_current_xact_id()::text, "
    f"pg_notify('{CHANNEL}', '{PROBE}' || pg_current_xact_id()::text)"
)
_LISTENERS = sa.text(
    "SELECT pid, application_name FROM pg_stat_activity "
    "WHERE datname = current_database() AND application_name LIKE :registered"
).bindparams(registered=f"{LISTENER} %")
_TERMINATE = sa.text(
    "SELECT pg_terminate_backend(pid, 1000) FROM unnest(CAST(:pids AS int[])) AS pid"
)


class ChangeAcknowledgements:
    """Called after a commit that changed a session or a user, before the change is
    answered: returns once every process's session cache has applied it (ADR 0021)."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        ack_timeout_seconds: float = 2.0,
        lease_seconds: float = LEASE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._engine = engine
        self._ack_timeout = ack_timeout_seconds
        self._lease = lease_seconds
        self._sleep = sleep
        self._now = monotonic

    def wait(self) -> None:
        try:
            with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                behind = self._wait_for_listeners(conn)
                if not behind:
                    return
                conn.execute(_TERMINATE, {"pids": behind})
            log.warning(
                "auth cache listener did not acknowledge a change in time; terminated",
                extra={"listeners": len(behind)},
            )
        except (sa_exc.SQLAlchemyError, psycopg.Error, OSError) as exc:
            # Committed, but not confirmed: a listener that cannot reach PostgreSQL either
            # stops serving from its cache once its lease runs out, so wait that long.
            log.warning(
                "could not confirm that session caches applied a change; waiting out the lease",
                extra={"error": type(exc).__name__},
            )
        self._sleep(self._lease)

    def _wait_for_listeners(self, conn: sa.Connection) -> list[int]:
        probe = int(conn.execute(_SEND_PROBE).scalar_one())
        deadline = self._now() + self._ack_timeout
        pause = 0.0005
        while True:
            behind = [
                int(pid)
                for pid, name in conn.execute(_LISTENERS).all()
                if (acked := _probe_number(name)) is not None and acked < probe
            ]
            if not behind or self._now() >= deadline:
                return behind
            self._sleep(pause)
            pause = min(pause * 2, 0.02)
