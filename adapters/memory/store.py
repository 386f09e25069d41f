"""A process-local store with transactional semantics good enough to stand in for PostgreSQL.

A unit of work works on shallow copies of the tables and deep copies of every
record it touches; commit swaps the copies in, under one lock. Everything runs
serialized, which is fine for tests and quick experiments.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from domain.audit import AuditEntry, AuditSeal
from domain.sync import FeedPosition

TABLES = (
    "users",
    "labs",
    "sessions",
    "refresh_tokens",
    "reset_tokens",
    "parameters",
    "standards",
    "limits",
    "samples",
    "results",
    "sync_devices",
    "sync_conflicts",
    "tasks",
)


@dataclass
class InMemoryStore:
    tables: dict[str, dict[Any, Any]] = field(default_factory=lambda: {t: {} for t in TABLES})
    audit: list[AuditEntry] = field(default_factory=list)
    seals: list[AuditSeal] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    # The change feed: (entity, id) → position of the record's latest change.
    feed: dict[tuple[str, Any], FeedPosition] = field(default_factory=dict)
    feed_seq: int = 0
    feed_commits: int = 0

    def register_table(self, name: str) -> None:
        """Later features add their own tables without touching this module."""
        self.tables.setdefault(name, {})
