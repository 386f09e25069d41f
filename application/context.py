"""Who is asking, and the request facts the audit trail records."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.roles import Role


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    role: Role
    lab_id: UUID | None
    token_id: str | None = None
    session_id: UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True)
class RequestMeta:
    """Facts about the request that produced a change (for the audit trail)."""

    request_id: str | None = None
    reason: str | None = None
    device_id: str | None = None
    client_ip: str | None = None


@dataclass(frozen=True)
class Caller:
    principal: Principal
    meta: RequestMeta = RequestMeta()


ANONYMOUS_META = RequestMeta()
