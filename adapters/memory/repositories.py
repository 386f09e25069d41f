"""In-memory repositories; their behaviour is pinned to the SQL ones by tests/contract."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

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


class Table:
    """A working copy of one table inside a unit of work."""

    def __init__(self, rows: dict[Any, Any]):
        self.rows = dict(rows)
        self._taken: dict[Any, None] = {}  # an ordered set: the order records were touched

    def get(self, key: Any) -> Any:
        row = self.rows.get(key)
        if row is None:
            return None
        if key not in self._taken:  # copy on first touch, so rollback leaves the store intact
            row = copy.deepcopy(row)
            self.rows[key] = row
            self._taken[key] = None
        return row

    def put(self, key: Any, row: Any) -> None:
        self.rows[key] = row
        self._taken[key] = None

    def scan(self) -> Iterable[Any]:
        return [self.get(key) for key in list(self.rows)]

    def touched(self) -> list[Any]:
        """Keys handed out for writing (or put) in this unit of work, in that order."""
        return list(self._taken)


def sort_and_page(
    items: list[T], sort: Sort, page: PageRequest, key: Callable[[T], Any]
) -> Page[T]:
    """Nulls last in both directions and ties broken by id, exactly like the SQL adapter."""

    def value(item: T) -> Any:
        return getattr(item, sort.field)

    present = [i for i in items if value(i) is not None]
    missing = [i for i in items if value(i) is None]
    present.sort(key=key)
    present.sort(key=value, reverse=sort.descending)
    missing.sort(key=key)
    ordered = present + missing
    return Page(
        items=ordered[page.offset : page.offset + page.limit], total=len(ordered), request=page
    )


def _by_id(item: Any) -> str:
    return str(item.id)


class InMemoryUserRepository(UserRepository):
    def __init__(self, table: Table):
        self._t = table

    def add(self, user: User) -> None:
        self._t.put(user.id, user)

    def get(self, user_id: UUID) -> User | None:
        user: User | None = self._t.get(user_id)
        return user if user is not None and not user.is_deleted else None

    def get_by_email(self, email: str) -> User | None:
        return next((u for u in self._t.scan() if u.email == email and not u.is_deleted), None)

    def list(self, query: UserQuery) -> Page[User]:
        users = [u for u in self._t.scan() if not u.is_deleted]
        if query.role is not None:
            users = [u for u in users if u.role is query.role]
        if query.lab_id is not None:
            users = [u for u in users if u.lab_id == query.lab_id]
        if query.is_active is not None:
            users = [u for u in users if u.is_active == query.is_active]
        if query.search:
            needle = query.search.lower()
            users = [u for u in users if needle in u.email.lower() or needle in u.name.lower()]
        return sort_and_page(users, query.sort, query.page, _by_id)

    def count_active_admins(self) -> int:
        return sum(1 for u in self._t.scan() if u.role.value == "admin" and u.can_sign_in())


class InMemoryLabRepository(LabRepository):
    def __init__(self, table: Table):
        self._t = table

    def add(self, lab: Lab) -> None:
        self._t.put(lab.id, lab)

    def get(self, lab_id: UUID) -> Lab | None:
        lab: Lab | None = self._t.get(lab_id)
        return lab

    def get_by_name(self, name: str) -> Lab | None:
        return next((lab for lab in self._t.scan() if lab.name.lower() == name.lower()), None)

    def get_by_code(self, code: str) -> Lab | None:
        return next(
            (lab for lab in self._t.scan() if lab.code and lab.code.lower() == code.lower()), None
        )

    def list(self, query: LabQuery) -> Page[Lab]:
        labs = list(self._t.scan())
        if query.search:
            needle = query.search.lower()
            labs = [
                lab
                for lab in labs
                if needle in lab.name.lower() or needle in (lab.code or "").lower()
            ]
        return sort_and_page(labs, query.sort, query.page, _by_id)


class InMemorySessionRepository(SessionRepository):
    def __init__(self, table: Table, users: Table):
        self._t = table
        self._users = users

    def add(self, session: AuthSession) -> None:
        self._t.put(session.id, session)

    def get(self, session_id: UUID) -> AuthSession | None:
        session: AuthSession | None = self._t.get(session_id)
        return session

    def get_with_user(self, session_id: UUID) -> tuple[AuthSession, User] | None:
        session = self.get(session_id)
        user: User | None = self._users.get(session.user_id) if session else None
        if session is None or user is None or user.is_deleted:
            return None
        return session, user

    def revoke_all_for_user(self, user_id: UUID, now: datetime) -> int:
        count = 0
        for session in self._t.scan():
            if session.user_id == user_id and session.revoked_at is None:
                session.revoke(now)
                count += 1
        return count


class InMemoryRefreshTokenRepository(RefreshTokenRepository):
    def __init__(self, table: Table):
        self._t = table

    def add(self, token: RefreshToken) -> None:
        self._t.put(token.token_hash, token)

    def get_by_hash_for_update(self, token_hash: str) -> RefreshToken | None:
        token: RefreshToken | None = self._t.get(token_hash)
        return token


class InMemoryPasswordResetTokenRepository(PasswordResetTokenRepository):
    def __init__(self, table: Table):
        self._t = table

    def add(self, token: PasswordResetToken) -> None:
        self._t.put(token.token_hash, token)

    def get_by_hash_for_update(self, token_hash: str) -> PasswordResetToken | None:
        token: PasswordResetToken | None = self._t.get(token_hash)
        return token

    def invalidate_all_for_user(self, user_id: UUID, now: datetime) -> None:
        for token in self._t.scan():
            if token.user_id == user_id and token.used_at is None:
                token.used_at = now


class InMemoryAuditTrail(AuditTrail):
    def __init__(self, committed: list[AuditEntry]):
        self._committed = committed
        self.pending: list[AuditEntry] = []

    def append(self, entry: AuditEntry) -> None:
        self.pending.append(entry)

    def list(self, query: AuditQuery) -> Page[AuditEntry]:
        entries = [e for e in self._committed if _audit_matches(e, query)]
        entries.sort(key=lambda e: e.id or 0, reverse=True)
        page = query.page
        return Page(
            items=entries[page.offset : page.offset + page.limit], total=len(entries), request=page
        )


def _audit_matches(entry: AuditEntry, q: AuditQuery) -> bool:
    return (
        (q.date_from is None or entry.occurred_at >= q.date_from)
        and (q.date_to is None or entry.occurred_at <= q.date_to)
        and (q.user_id is None or entry.user_id == q.user_id)
        and (q.entity_type is None or entry.entity_type == q.entity_type)
        and (q.entity_id is None or entry.entity_id == q.entity_id)
        and (q.action is None or entry.action == q.action)
    )
