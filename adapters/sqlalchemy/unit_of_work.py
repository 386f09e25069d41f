"""The SQL unit of work: one session per business transaction, explicit commit."""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from types import TracebackType
from typing import Any, Self, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from adapters.sqlalchemy.lab_data import (
    SqlAlchemyParameterRepository,
    SqlAlchemyResultRepository,
    SqlAlchemySampleRepository,
    SqlAlchemyStandardRepository,
)
from adapters.sqlalchemy.records import RecordTracker, flush_records_before_statements
from adapters.sqlalchemy.reference_cache import ReferenceDataCache
from adapters.sqlalchemy.repositories import (
    AUTH_CHANGED,
    SqlAlchemyAuditTrail,
    SqlAlchemyLabRepository,
    SqlAlchemyPasswordResetTokenRepository,
    SqlAlchemyRefreshTokenRepository,
    SqlAlchemySessionRepository,
    SqlAlchemyUserRepository,
)
from adapters.sqlalchemy.sync import (
    SqlAlchemyChangeFeed,
    SqlAlchemySyncConflictRepository,
    SqlAlchemySyncDeviceRepository,
)
from adapters.sqlalchemy.tasks import SqlAlchemyTaskRepository
from domain.errors import Conflict
from domain.lab_data import ReferenceData
from domain.model import AuthSession, User
from domain.ports import UnitOfWork

# Errors that mean "the database could not be reached or dropped us": the HTTP layer
# answers them with 503 and nothing was committed.
STORAGE_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


UNIQUE_VIOLATION = "23505"


READ_ONLY = "aqualab_read_only"


def make_session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    factory = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
    flush_records_before_statements(factory)
    if not sa.event.contains(factory, "before_flush", _note_auth_changes):
        sa.event.listen(factory, "before_flush", _note_auth_changes)
    return factory


def _note_auth_changes(session: Session, _context: Any, _instances: Any) -> None:
    if any(isinstance(o, AuthSession | User) for o in chain(session.dirty, session.deleted)):
        session.info[AUTH_CHANGED] = True


def make_read_only_session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    """Sessions whose connections run in autocommit: a read-only unit of work sends its
    SELECTs alone, without the BEGIN and ROLLBACK round trips around them (two of the
    three round trips of an authenticated request's token check). Each SELECT sees the
    data committed when it starts, as inside a READ COMMITTED transaction. Anything but
    a read on such a connection is refused before it reaches the database."""
    guard_read_only(engine)
    read_only = engine.execution_options(isolation_level="AUTOCOMMIT", **{READ_ONLY: True})
    return sessionmaker(bind=read_only, expire_on_commit=False, autoflush=False)


_READS = ("SELECT", "WITH", "EXPLAIN", "SHOW")


def guard_read_only(engine: sa.Engine) -> None:
    if sa.event.contains(engine, "before_cursor_execute", _refuse_writes):
        return
    sa.event.listen(engine, "before_cursor_execute", _refuse_writes)


def _refuse_writes(conn: sa.Connection, cursor: object, statement: str, *args: object) -> None:
    if not conn.get_execution_options().get(READ_ONLY):
        return
    verb = statement.lstrip()[:7].upper()
    if not verb.startswith(_READS):
        raise ReadOnlyViolation(verb.split(None, 1)[0] if verb else "an empty statement")


class ReadOnlyViolation(RuntimeError):
    """A read-only unit of work tried to write: a programming error, never committed."""


class _ConnectionFirstSession:
    """A read-only unit of work's session, made only if something asks for the ORM.

    The reads every request makes (the token check, a sample, its results, a list) only
    need a connection (ADR 0017); an ORM session's begin and close cost ~0.1 ms of
    Python per unit of work on top of it. `connection()` hands out one autocommit
    connection of the read-only engine; any other session method first makes a real
    session bound to that same connection and forwards to it.
    """

    def __init__(self, factory: sessionmaker[Session]):
        self._factory = factory
        self._conn: sa.Connection | None = None
        self._orm: Session | None = None
        self.info: dict[str, Any] = {}

    def connection(self, *_: Any, **__: Any) -> sa.Connection:
        if self._conn is None:
            engine = self._factory.kw["bind"]
            self._conn = engine.connect()
        return self._conn

    def _session(self) -> Session:
        if self._orm is None:
            self._orm = self._factory(bind=self.connection())
        return self._orm

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session(), name)

    def close(self) -> None:
        try:
            if self._orm is not None:
                self._orm.close()
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class SqlAlchemyUnitOfWork(UnitOfWork):
    audit: SqlAlchemyAuditTrail

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        read_only_session_factory: sessionmaker[Session] | None = None,
        *,
        read_only: bool = False,
        reference_cache: ReferenceDataCache | None = None,
        after_auth_change: Callable[[], None] | None = None,
    ):
        self._read_only = read_only
        self._after_auth_change = after_auth_change
        # The process's shared cache (the container's); alone, this unit of work's own.
        self._reference_cache = reference_cache or ReferenceDataCache()
        self._session_factory = session_factory
        if read_only and read_only_session_factory is not None:
            self._session_factory = read_only_session_factory

    def __enter__(self) -> Self:
        if self._read_only:
            self.session = cast(Session, _ConnectionFirstSession(self._session_factory))
        else:
            self.session = self._session_factory()
        self.users = SqlAlchemyUserRepository(self.session)
        self.labs = SqlAlchemyLabRepository(self.session)
        self.sessions = SqlAlchemySessionRepository(self.session)
        self.refresh_tokens = SqlAlchemyRefreshTokenRepository(self.session)
        self.reset_tokens = SqlAlchemyPasswordResetTokenRepository(self.session)
        self.audit = SqlAlchemyAuditTrail(self.session)
        self.parameters = SqlAlchemyParameterRepository(self.session)
        self.standards = SqlAlchemyStandardRepository(self.session)
        self.records = RecordTracker(self.session)
        self.samples = SqlAlchemySampleRepository(self.session, self.records)
        self.results = SqlAlchemyResultRepository(self.session, self.records)
        self.sync_devices = SqlAlchemySyncDeviceRepository(self.session, self.records)
        self.sync_conflicts = SqlAlchemySyncConflictRepository(self.session, self.records)
        self.changes = SqlAlchemyChangeFeed(self.session)
        self.tasks = SqlAlchemyTaskRepository(self.session, self.records)
        return self

    def reference(self) -> ReferenceData:
        if not self._read_only:
            # An edit still pending in the session must reach the database (and its
            # trigger) before the version is read: this unit of work sees its own changes.
            session = self.session
            if session.new or session.dirty or session.deleted:
                session.flush()
        return self._reference_cache.current(self.session.connection())

    def commit(self) -> None:
        if self._read_only:
            raise ReadOnlyViolation("commit")
        try:
            self.records.flush()
            self.audit.write_pending()
            self.session.commit()
        except sa_exc.IntegrityError as exc:
            self.session.rollback()
            if getattr(exc.orig, "sqlstate", None) == UNIQUE_VIOLATION:
                raise Conflict() from exc
            raise
        finally:
            auth_changed = self.session.info.pop(AUTH_CHANGED, False)
        if auth_changed and self._after_auth_change is not None:
            # Before the change is answered: no process may serve the old rows after.
            self._after_auth_change()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Closing the session rolls back its open transaction (one ROLLBACK round trip) and
        # detaches what it loaded. An explicit `Session.rollback()` first would also expire
        # every loaded object, ~0.1-0.3 ms of Python per unit of work for nothing: the
        # objects are detached right after, and most units of work (every read) wrote
        # nothing. So roll back explicitly only when something is pending in the session.
        session = self.session
        if not self._read_only and (session.new or session.dirty or session.deleted):
            session.rollback()
        self.records.clear()
        session.close()

    def rollback(self) -> None:
        self.session.info.pop(AUTH_CHANGED, None)
        self.audit.discard_pending()
        self.records.clear()
        self.session.rollback()

    def close(self) -> None:
        self.session.close()
