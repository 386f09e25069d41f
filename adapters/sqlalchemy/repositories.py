"""SQLAlchemy repositories over the imperatively mapped domain classes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.instrumentation import manager_of_class

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.driver import Decoder, DriverQuery
from adapters.sqlalchemy.jsonb import jsonb_text
from domain.audit import AuditEntry
from domain.model import AuthSession, Lab, PasswordResetToken, RefreshToken, User
from domain.paging import Page, PageRequest, Sort
from domain.ports import (
    AuditQuery,
    AuditTrail,
    LabQuery,
    LabRepository,
    PasswordResetTokenRepository,
    RefreshTokenRepository,
    SessionRepository,
    UserQuery,
    UserRepository,
)

T = TypeVar("T")


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains(column: Any, needle: str) -> Any:
    return column.ilike(f"%{escape_like(needle)}%", escape="\\")


def paged(
    session: Session, stmt: sa.Select[Any], table: sa.Table, sort: Sort, page: PageRequest
) -> Page[Any]:
    """Count, then fetch one page: nulls last in both directions, ties broken by id."""
    total = (
        session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    )
    column = table.c[sort.field]
    order = column.desc() if sort.descending else column.asc()
    rows = session.scalars(
        stmt.order_by(order.nulls_last(), sa.cast(table.c.id, sa.Text))
        .limit(page.limit)
        .offset(page.offset)
    ).all()
    return Page(items=list(rows), total=total, request=page)


class SqlAlchemyUserRepository(UserRepository):
    def __init__(self, session: Session):
        self._s = session

    def add(self, user: User) -> None:
        self._s.add(user)

    def get(self, user_id: UUID) -> User | None:
        user = self._s.get(User, user_id)
        return user if user is not None and not user.is_deleted else None

    def get_by_email(self, email: str) -> User | None:
        return self._s.scalars(
            sa.select(User).where(
                tables.users.c.email == email, tables.users.c.deleted_at.is_(None)
            )
        ).first()

    def list(self, query: UserQuery) -> Page[User]:
        u = tables.users.c
        stmt = sa.select(User).where(u.deleted_at.is_(None))
        if query.role is not None:
            stmt = stmt.where(u.role == query.role)
        if query.lab_id is not None:
            stmt = stmt.where(u.lab_id == query.lab_id)
        if query.is_active is not None:
            stmt = stmt.where(u.is_active == query.is_active)
        if query.search:
            stmt = stmt.where(
                sa.or_(contains(u.email, query.search), contains(u.name, query.search))
            )
        return paged(self._s, stmt, tables.users, query.sort, query.page)

    def count_active_admins(self) -> int:
        u = tables.users.c
        return (
            self._s.scalar(
                sa.select(sa.func.count()).where(
                    u.role == "admin", u.is_active.is_(True), u.deleted_at.is_(None)
                )
            )
            or 0
        )


class SqlAlchemyLabRepository(LabRepository):
    def __init__(self, session: Session):
        self._s = session

    def add(self, lab: Lab) -> None:
        self._s.add(lab)

    def get(self, lab_id: UUID) -> Lab | None:
        return self._s.get(Lab, lab_id)

    def get_by_name(self, name: str) -> Lab | None:
        return self._s.scalars(
            sa.select(Lab).where(sa.func.lower(tables.labs.c.name) == name.lower())
        ).first()

    def get_by_code(self, code: str) -> Lab | None:
        return self._s.scalars(
            sa.select(Lab).where(sa.func.lower(tables.labs.c.code) == code.lower())
        ).first()

    def list(self, query: LabQuery) -> Page[Lab]:
        c = tables.labs.c
        stmt = sa.select(Lab)
        if query.search:
            stmt = stmt.where(
                sa.or_(contains(c.name, query.search), contains(c.code, query.search))
            )
        return paged(self._s, stmt, tables.labs, query.sort, query.page)


class RowMapper:
    """Plain domain objects straight from Core rows of a mapped table, for read-only paths.

    Builds each object as the ORM loader does (no `__init__`, no attribute events: the
    column values go straight into its `__dict__`) but without a session, an identity map
    or ORM statement compilation. The objects are snapshots: nothing tracks changes to
    them, so a path that changes what it read must load it through the session instead.
    """

    def __init__(self, cls: type[Any], table: sa.Table):
        self.cls = cls
        self.columns = tuple(table.c)  # imperative mapping: every column, same name
        self.names = tuple(c.key for c in self.columns)
        self._manager: Any = None

    def one(self, values: Sequence[Any]) -> Any:
        manager = self._manager
        if manager is None:  # mappers are started by then (the unit of work needs them)
            manager = self._manager = manager_of_class(self.cls)
        obj = manager.new_instance()
        obj.__dict__.update(zip(self.names, values, strict=True))
        return obj


_SESSIONS = RowMapper(AuthSession, tables.auth_sessions)
_USERS = RowMapper(User, tables.users)
# Every authenticated request runs this: one Core statement compiled once and run through
# psycopg on the unit of work's connection (adapters/sqlalchemy/driver.py), mapped to
# plain domain objects. The ORM version cost ~0.4 ms of Python per request.
_SESSION_WITH_USER_SELECT = (
    sa.select(*_SESSIONS.columns, *_USERS.columns)
    .join(tables.users, tables.users.c.id == tables.auth_sessions.c.user_id)
    .where(
        tables.auth_sessions.c.id == sa.bindparam("session_id"),
        tables.users.c.deleted_at.is_(None),
    )
)
_SESSION_WITH_USER = DriverQuery(_SESSION_WITH_USER_SELECT)
_SESSION_WITH_USER_DECODE = Decoder(list(_SESSION_WITH_USER_SELECT.selected_columns))


# Set in `Session.info` when the transaction updates or deletes a session or a user: the
# commit then waits for every process's session cache to apply it (ADR 0021).
AUTH_CHANGED = "aqualab_auth_changed"


class SqlAlchemySessionRepository(SessionRepository):
    def __init__(self, session: Session):
        self._s = session

    def add(self, session: AuthSession) -> None:
        self._s.add(session)

    def get(self, session_id: UUID) -> AuthSession | None:
        return self._s.get(AuthSession, session_id)

    def get_with_user(self, session_id: UUID) -> tuple[AuthSession, User] | None:
        """Read-only snapshots (not attached to the unit of work): load with `get` to change."""
        rows = _SESSION_WITH_USER.rows(self._s.connection(), {"session_id": session_id})
        if not rows:
            return None
        row = _SESSION_WITH_USER_DECODE(rows[0])
        split = len(_SESSIONS.columns)
        return _SESSIONS.one(row[:split]), _USERS.one(row[split:])

    def revoke_all_for_user(self, user_id: UUID, now: datetime) -> int:
        c = tables.auth_sessions.c
        result = self._s.execute(
            sa.update(AuthSession)  # ORM-enabled, so sessions already loaded see the change
            .where(c.user_id == user_id, c.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session="fetch")
        )
        self._s.info[AUTH_CHANGED] = True
        return int(getattr(result, "rowcount", 0) or 0)


class SqlAlchemyRefreshTokenRepository(RefreshTokenRepository):
    def __init__(self, session: Session):
        self._s = session

    def add(self, token: RefreshToken) -> None:
        self._s.add(token)

    def get_by_hash_for_update(self, token_hash: str) -> RefreshToken | None:
        return self._s.scalars(
            sa.select(RefreshToken)
            .where(tables.refresh_tokens.c.token_hash == token_hash)
            .with_for_update()
        ).first()


class SqlAlchemyPasswordResetTokenRepository(PasswordResetTokenRepository):
    def __init__(self, session: Session):
        self._s = session

    def add(self, token: PasswordResetToken) -> None:
        self._s.add(token)

    def get_by_hash_for_update(self, token_hash: str) -> PasswordResetToken | None:
        return self._s.scalars(
            sa.select(PasswordResetToken)
            .where(tables.password_reset_tokens.c.token_hash == token_hash)
            .with_for_update()
        ).first()

    def invalidate_all_for_user(self, user_id: UUID, now: datetime) -> None:
        c = tables.password_reset_tokens.c
        self._s.execute(
            sa.update(PasswordResetToken)  # ORM-enabled, so loaded tokens see the change
            .where(c.user_id == user_id, c.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session="fetch")
        )


AUDIT_COPY = (
    "COPY audit_log (occurred_at, user_id, entity_type, entity_id, action, old_values, "
    "new_values, reason, request_id, device_id, lab_id) FROM STDIN"
)
_AUDIT_FIELDS = (
    "occurred_at",
    "user_id",
    "entity_type",
    "entity_id",
    "action",
    "old_values",
    "new_values",
    "reason",
    "request_id",
    "device_id",
    "lab_id",
)
_AUDIT_TYPES = {f: tables.audit_log.c[f].type for f in _AUDIT_FIELDS}
# Up to this many entries go in one INSERT: one round trip, where COPY needs its own
# start and end exchanges (~0.2 ms for the one to three entries of a REST write).
AUDIT_INSERT_MAX = 8
_AUDIT_INSERTS = {
    n: DriverQuery(
        sa.insert(tables.audit_log).values(
            [
                {f: sa.bindparam(f"{f}_{row}", type_=_AUDIT_TYPES[f]) for f in _AUDIT_FIELDS}
                for row in range(n)
            ]
        )
    )
    for n in range(1, AUDIT_INSERT_MAX + 1)
}


class SqlAlchemyAuditTrail(AuditTrail):
    """Entries are plain rows, not ORM objects: buffered, then inserted in one statement
    when the unit of work commits (or before a read of the trail in the same one).

    A sync batch writes an entry per mutation; tracking each as an ORM object cost more
    than the change it describes.
    """

    def __init__(self, session: Session):
        self._s = session
        self._pending: list[AuditEntry] = []

    def append(self, entry: AuditEntry) -> None:
        self._pending.append(entry)

    def write_pending(self) -> None:
        """Write the buffered entries into audit_log, inside the session's transaction."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        conn = self._s.connection()
        if len(pending) <= AUDIT_INSERT_MAX:
            params = {
                f"{field}_{row}": value
                for row, entry in enumerate(pending)
                for field, value in zip(_AUDIT_FIELDS, _audit_values(entry), strict=True)
            }
            _AUDIT_INSERTS[len(pending)].execute(conn, params)
            return
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(AUDIT_COPY) as copy:
            for entry in pending:
                copy.write_row(_audit_row(entry))

    def discard_pending(self) -> None:
        self._pending = []

    def list(self, query: AuditQuery) -> Page[AuditEntry]:
        c = tables.audit_log.c
        conditions = []
        if query.date_from is not None:
            conditions.append(c.occurred_at >= query.date_from)
        if query.date_to is not None:
            conditions.append(c.occurred_at <= query.date_to)
        if query.user_id is not None:
            conditions.append(c.user_id == query.user_id)
        if query.entity_type is not None:
            conditions.append(c.entity_type == query.entity_type)
        if query.entity_id is not None:
            conditions.append(c.entity_id == query.entity_id)
        if query.action is not None:
            conditions.append(c.action == query.action)
        self.write_pending()
        total = self._s.scalar(
            sa.select(sa.func.count()).select_from(tables.audit_log).where(*conditions)
        )
        rows = self._s.execute(
            sa.select(tables.audit_log)
            .where(*conditions)
            .order_by(c.id.desc())
            .limit(query.page.limit)
            .offset(query.page.offset)
        ).all()
        return Page(items=[audit_entry(r) for r in rows], total=total or 0, request=query.page)


def _audit_values(e: AuditEntry) -> tuple[Any, ...]:
    """The columns of `_AUDIT_FIELDS`, as the Core INSERT binds them (JSONB as objects)."""
    return (
        e.occurred_at,
        e.user_id,
        e.entity_type,
        e.entity_id,
        e.action,
        e.old_values,
        e.new_values,
        e.reason,
        e.request_id,
        e.device_id,
        e.lab_id,
    )


def _audit_row(e: AuditEntry) -> tuple[Any, ...]:
    """The same for COPY: plain text for enums and JSONB."""
    return (
        e.occurred_at,
        e.user_id,
        e.entity_type.value,
        e.entity_id,
        e.action.value,
        None if e.old_values is None else jsonb_text(e.old_values),
        None if e.new_values is None else jsonb_text(e.new_values),
        e.reason,
        e.request_id,
        e.device_id,
        e.lab_id,
    )


def audit_entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        occurred_at=row.occurred_at,
        user_id=row.user_id,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        action=row.action,
        old_values=row.old_values,
        new_values=row.new_values,
        reason=row.reason,
        request_id=row.request_id,
        device_id=row.device_id,
        lab_id=row.lab_id,
    )
