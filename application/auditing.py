"""The generic audit mechanism: every use case that changes a record writes through an Auditor.

It joins the use case's unit of work, so the entry commits or rolls back with the change
("no change without its entry; no entry without its change").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from application.context import Caller, RequestMeta
from domain.audit import AuditAction, AuditEntityType, AuditEntry
from domain.ports import Clock, UnitOfWork

Snapshot = dict[str, Any]


def changed_fields(old: Snapshot, new: Snapshot) -> tuple[Snapshot, Snapshot]:
    """Only what changed, so entries stay readable."""
    keys = [k for k in new if old.get(k) != new.get(k)]
    return {k: old.get(k) for k in keys}, {k: new.get(k) for k in keys}


@dataclass(frozen=True)
class Auditor:
    """Who changes what, from which request — bound once per unit of work."""

    uow: UnitOfWork
    clock: Clock
    actor_id: UUID | None
    meta: RequestMeta

    @classmethod
    def of(cls, uow: UnitOfWork, clock: Clock, caller: Caller) -> Auditor:
        return cls(uow, clock, caller.principal.user_id, caller.meta)

    def created(
        self,
        entity_type: AuditEntityType,
        entity_id: object,
        new: Snapshot,
        *,
        lab_id: UUID | None = None,
    ) -> AuditEntry:
        return self._append(entity_type, entity_id, AuditAction.CREATE, None, new, lab_id=lab_id)

    def updated(
        self,
        entity_type: AuditEntityType,
        entity_id: object,
        old: Snapshot,
        new: Snapshot,
        *,
        lab_id: UUID | None = None,
    ) -> AuditEntry:
        old, new = changed_fields(old, new)
        return self._append(entity_type, entity_id, AuditAction.UPDATE, old, new, lab_id=lab_id)

    def deleted(
        self,
        entity_type: AuditEntityType,
        entity_id: object,
        old: Snapshot,
        *,
        lab_id: UUID | None = None,
    ) -> AuditEntry:
        return self._append(entity_type, entity_id, AuditAction.DELETE, old, None, lab_id=lab_id)

    def resolved(
        self,
        entity_type: AuditEntityType,
        entity_id: object,
        old: Snapshot,
        new: Snapshot,
        *,
        lab_id: UUID | None = None,
    ) -> AuditEntry:
        """A person settled something the system decided (a sync conflict)."""
        return self._append(entity_type, entity_id, AuditAction.RESOLVE, old, new, lab_id=lab_id)

    def _append(
        self,
        entity_type: AuditEntityType,
        entity_id: object,
        action: AuditAction,
        old: Snapshot | None,
        new: Snapshot | None,
        *,
        lab_id: UUID | None,
    ) -> AuditEntry:
        entry = AuditEntry(
            occurred_at=self.clock.now(),
            user_id=self.actor_id,
            entity_type=entity_type,
            entity_id=str(entity_id),
            action=action,
            old_values=old,
            new_values=new,
            reason=self.meta.reason,
            request_id=self.meta.request_id,
            device_id=self.meta.device_id,
            lab_id=lab_id,
        )
        self.uow.audit.append(entry)
        return entry
