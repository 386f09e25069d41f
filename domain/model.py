"""Entities of identity and access: labs, users and their credentials.

Plain classes: the SQL adapter maps them imperatively, so nothing here knows
about a database. Every mutable record carries an integer `version` used for
optimistic concurrency (ETag / If-Match / body `version`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain.errors import PreconditionFailed, VersionConflict
from domain.roles import Role


def ensure_version(current: int, *, if_match: int | None, expected: int | None) -> None:
    """Optimistic concurrency: both checks are optional; without them the write applies."""
    if if_match is not None and if_match != current:
        raise PreconditionFailed(current)
    if expected is not None and expected != current:
        raise VersionConflict(current)


@dataclass(eq=False)
class Lab:
    id: UUID
    name: str
    code: str | None
    created_at: datetime
    updated_at: datetime
    version: int = 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "code": self.code,
            "version": self.version,
        }


@dataclass(eq=False)
class User:
    id: UUID
    email: str
    name: str
    role: Role
    lab_id: UUID | None
    password_hash: str
    created_at: datetime
    updated_at: datetime
    is_active: bool = True
    last_login_at: datetime | None = None
    failed_login_count: int = 0
    locked_until: datetime | None = None
    deleted_at: datetime | None = None
    version: int = 1

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def can_sign_in(self) -> bool:
        return self.is_active and not self.is_deleted

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def record_failed_login(self, now: datetime, *, max_attempts: int, lock_for: timedelta) -> None:
        self.failed_login_count += 1
        if self.failed_login_count >= max_attempts:
            self.locked_until = now + lock_for
            self.failed_login_count = 0

    def record_successful_login(self, now: datetime) -> None:
        self.failed_login_count = 0
        self.locked_until = None
        self.last_login_at = now

    def touch(self, now: datetime) -> None:
        self.updated_at = now
        self.version += 1

    def snapshot(self) -> dict[str, Any]:
        """What the audit trail records: never the password hash."""
        return {
            "id": str(self.id),
            "email": self.email,
            "name": self.name,
            "role": self.role.value,
            "lab_id": str(self.lab_id) if self.lab_id else None,
            "is_active": self.is_active,
            "deleted": self.is_deleted,
            "version": self.version,
        }


@dataclass(eq=False)
class AuthSession:
    """A signed-in session: its access tokens carry its id, its refresh tokens rotate in it.

    Revoking the session (logout, refresh-token reuse, password reset) rejects every
    token of it at once, in every server process, because each request checks it.
    """

    id: UUID
    user_id: UUID
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now


@dataclass(eq=False)
class RefreshToken:
    """An opaque refresh token, stored only as a hash; a used one must never work again."""

    id: UUID
    session_id: UUID
    user_id: UUID
    token_hash: str
    created_at: datetime
    expires_at: datetime
    rotated_at: datetime | None = None

    def was_used(self) -> bool:
        return self.rotated_at is not None


@dataclass(eq=False)
class PasswordResetToken:
    id: UUID
    user_id: UUID
    token_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def is_usable(self, now: datetime) -> bool:
        return self.used_at is None and self.expires_at > now
