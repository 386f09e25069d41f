"""Authorization rules: role and lab scope, decided in the application layer."""

from __future__ import annotations

from uuid import UUID

from application.context import Principal
from domain.errors import Forbidden, NotFound


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("Administrator role required")


def can_see_lab(principal: Principal, lab_id: UUID | None) -> bool:
    """Admins see every lab; others only their own (another lab does not exist for them)."""
    return principal.is_admin or (lab_id is not None and lab_id == principal.lab_id)


def ensure_lab_visible(principal: Principal, lab_id: UUID | None, *, what: str) -> None:
    if not can_see_lab(principal, lab_id):
        raise NotFound(f"{what} not found")
