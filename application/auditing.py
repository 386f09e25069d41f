"""The generic audit mechanism: every use case that changes a record calls `record_change`.

It joins the use case's unit of work, so the entry commits or rolls back with the change.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from application.context import RequestMeta
from domain.audit import AuditAction, AuditEntityType, AuditEntry
from domain.ports import Clock, UnitOfWork


def changed_fields(
    old: dict[str, Any], new: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only what changed, so entries stay readable; `id` is kept for context."""
    keys = [k for k in new if old.get(k) != new.get(k)]
    return {k: old.get(k) for k in keys}, {k: new.get(k) for k in keys}


def record_change(
    uow: UnitOfWork,
    clock: Clock,
    *,
    actor_id: UUID | None,
    meta: RequestMeta,
    entity_type: AuditEntityType,
    entity_id: object,
    action: AuditAction,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    lab_id: UUID | None = None,
) -> AuditEntry:
    if action is AuditAction.UPDATE and old is not None and new is not None:
        old, new = changed_fields(old, new)
    entry = AuditEntry(
        occurred_at=clock.now(),
        user_id=actor_id,
        entity_type=entity_type,
        entity_id=str(entity_id),
        action=action,
        old_values=old,
        new_values=new,
        reason=meta.reason,
        request_id=meta.request_id,
        device_id=meta.device_id,
        lab_id=lab_id,
    )
    uow.audit.append(entry)
    return entry
