"""The audit trail: one entry per change, chained by hashes so tampering shows.

Entries are written in the same transaction as the change they describe. The
chain itself is computed by a *sealer* that links committed entries in order
(see docs/adr/0003-audit-chain-sealer.md), so writers never queue behind a
single global "last hash" row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

GENESIS_HASH = "0" * 64


class AuditAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RESOLVE = "resolve"


class AuditEntityType(StrEnum):
    SAMPLE = "sample"
    RESULT = "result"
    PARAMETER = "parameter"
    STANDARD_LIMIT = "standard_limit"
    USER = "user"
    LAB = "lab"
    TASK = "task"
    CONFLICT = "conflict"


@dataclass(eq=False)
class AuditEntry:
    occurred_at: datetime
    user_id: UUID | None
    entity_type: AuditEntityType
    entity_id: str
    action: AuditAction
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    reason: str | None = None
    request_id: str | None = None
    device_id: str | None = None
    lab_id: UUID | None = None
    id: int | None = None  # assigned by the storage, in insertion order


@dataclass(frozen=True)
class AuditSeal:
    """The link of one entry into the chain."""

    seq: int
    entry_id: int
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_id: int | None
    pending: int = 0


def canonical_entry(entry: AuditEntry) -> bytes:
    """The exact bytes that are hashed: stable key order, UTC ISO timestamps."""
    body = {
        "id": entry.id,
        "occurred_at": entry.occurred_at.astimezone(UTC).isoformat(),
        "user_id": str(entry.user_id) if entry.user_id else None,
        "entity_type": str(entry.entity_type),
        "entity_id": entry.entity_id,
        "action": str(entry.action),
        "old_values": entry.old_values,
        "new_values": entry.new_values,
        "reason": entry.reason,
        "request_id": entry.request_id,
        "device_id": entry.device_id,
        "lab_id": str(entry.lab_id) if entry.lab_id else None,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, entry: AuditEntry) -> str:
    digest = hashlib.sha256()
    digest.update(prev_hash.encode())
    digest.update(canonical_entry(entry))
    return digest.hexdigest()


def seal(entries: list[AuditEntry], *, last_seq: int, last_hash: str) -> list[AuditSeal]:
    """Link `entries` (already in chain order) after the seal (last_seq, last_hash)."""
    seals = []
    prev = last_hash
    for offset, entry in enumerate(entries, start=1):
        assert entry.id is not None, "only stored entries can be sealed"
        digest = chain_hash(prev, entry)
        seals.append(
            AuditSeal(seq=last_seq + offset, entry_id=entry.id, prev_hash=prev, hash=digest)
        )
        prev = digest
    return seals


def verify_chain(
    links: Iterable[tuple[AuditSeal, AuditEntry | None]], *, pending: int = 0
) -> ChainReport:
    """Check every link in seq order: contiguous, chained, and matching its entry's content.

    `links` may be a lazy stream, so a long trail is verified in constant memory.
    """
    prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for link, entry in links:
        broken = (
            entry is None
            or link.seq != expected_seq
            or link.prev_hash != prev
            or chain_hash(prev, entry) != link.hash
        )
        if broken:
            return ChainReport(
                ok=False, checked=checked, first_bad_id=link.entry_id, pending=pending
            )
        prev = link.hash
        expected_seq += 1
        checked += 1
    return ChainReport(ok=True, checked=checked, first_bad_id=None, pending=pending)
