"""Storage-specific helpers for the contract suite.

The only code that knows which adapter is under test lives here: how a test reaches
*under* the port to tamper with the audit trail, which is exactly what the ports forbid.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from domain.audit import AuditAction, AuditEntityType, AuditEntry
from entrypoints.container import Container
from tests.factories import T0


def storage(container: Container) -> str:
    return str(container.settings().storage)


def tamper_entry(container: Container, entry_id: int, reason: str = "rewritten") -> None:
    """Change one stored audit entry behind the trail's back."""
    if storage(container) == "memory":
        entry = next(e for e in container.memory_store().audit if e.id == entry_id)
        entry.reason = reason
        return
    with container.engine().begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        changed = conn.execute(
            sa.text("UPDATE audit_log SET reason = :reason WHERE id = :id"),
            {"reason": reason, "id": entry_id},
        ).rowcount
        assert changed == 1


def remove_entry(container: Container, entry_id: int) -> None:
    """Delete one stored audit entry behind the trail's back."""
    if storage(container) == "memory":
        store = container.memory_store()
        store.audit[:] = [e for e in store.audit if e.id != entry_id]
        return
    with container.engine().begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        changed = conn.execute(
            sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": entry_id}
        ).rowcount
        assert changed == 1


def make_entry(**overrides: Any) -> AuditEntry:
    values: dict[str, Any] = {
        "occurred_at": T0,
        "user_id": None,
        "entity_type": AuditEntityType.USER,
        "entity_id": "entity-1",
        "action": AuditAction.CREATE,
        "old_values": None,
        "new_values": {"name": "Zoë", "n": 1},
        "reason": None,
        "request_id": "req-1",
    }
    values.update(overrides)
    return AuditEntry(**values)
