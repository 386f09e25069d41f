"""The in-memory unit of work and audit chain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Self

from adapters.memory.lab_data import (
    InMemoryParameterRepository,
    InMemoryResultRepository,
    InMemorySampleRepository,
    InMemoryStandardRepository,
)
from adapters.memory.repositories import (
    InMemoryAuditTrail,
    InMemoryLabRepository,
    InMemoryPasswordResetTokenRepository,
    InMemoryRefreshTokenRepository,
    InMemorySessionRepository,
    InMemoryUserRepository,
    Table,
)
from adapters.memory.store import InMemoryStore
from adapters.memory.sync import (
    InMemoryChangeFeed,
    InMemorySyncConflictRepository,
    InMemorySyncDeviceRepository,
    record_changes,
)
from adapters.memory.tasks import TASKS_TABLE, InMemoryTaskRepository
from domain.audit import GENESIS_HASH, AuditEntry, AuditSeal, ChainReport, seal, verify_chain
from domain.errors import Conflict
from domain.ports import AuditChain, UnitOfWork


class InMemoryUnitOfWork(UnitOfWork):
    audit: InMemoryAuditTrail

    def __init__(self, store: InMemoryStore, *, read_only: bool = False):
        self._store = store
        self._read_only = read_only
        self._tables: dict[str, Table] = {}
        self._committed = False

    def __enter__(self) -> Self:
        self._store.lock.acquire()
        self._open()
        return self

    def _open(self) -> None:
        """Fresh working copies of every table (after enter, commit and rollback)."""
        self._tables = {name: Table(rows) for name, rows in self._store.tables.items()}
        self.users = InMemoryUserRepository(self._tables["users"])
        self.labs = InMemoryLabRepository(self._tables["labs"])
        self.sessions = InMemorySessionRepository(self._tables["sessions"], self._tables["users"])
        self.refresh_tokens = InMemoryRefreshTokenRepository(self._tables["refresh_tokens"])
        self.reset_tokens = InMemoryPasswordResetTokenRepository(self._tables["reset_tokens"])
        self.audit = InMemoryAuditTrail(self._store.audit)
        t = self._tables
        self.parameters = InMemoryParameterRepository(t["parameters"])
        self.standards = InMemoryStandardRepository(t["standards"], t["limits"])
        self.samples = InMemorySampleRepository(t["samples"], t["results"])
        self.results = InMemoryResultRepository(t["results"])
        self.sync_devices = InMemorySyncDeviceRepository(t["sync_devices"])
        self.sync_conflicts = InMemorySyncConflictRepository(t["sync_conflicts"])
        self.changes = InMemoryChangeFeed(self._store, t)
        self.tasks = InMemoryTaskRepository(t[TASKS_TABLE])

    def table(self, name: str) -> Table:
        return self._tables[name]

    def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        self._check_unique()
        record_changes(self._store, self._tables)
        for name, table in self._tables.items():
            self._store.tables[name] = table.rows
        next_id = len(self._store.audit) + 1
        for offset, entry in enumerate(self.audit.pending):
            entry.id = next_id + offset
            self._store.audit.append(entry)
        self.audit.pending = []
        # One process, one lock: the chain can be sealed right away.
        InMemoryAuditChain(self._store).seal_pending()
        self._open()

    def rollback(self) -> None:
        self._open()

    def close(self) -> None:
        self._store.lock.release()

    def _check_unique(self) -> None:
        """The constraints PostgreSQL enforces with unique indexes."""
        emails = [u.email for u in self._tables["users"].rows.values() if not u.is_deleted]
        if len(emails) != len(set(emails)):
            raise Conflict("A user with this email already exists")
        names = [lab.name.lower() for lab in self._tables["labs"].rows.values()]
        if len(names) != len(set(names)):
            raise Conflict("A lab with this name already exists")
        codes = [lab.code.lower() for lab in self._tables["labs"].rows.values() if lab.code]
        if len(codes) != len(set(codes)):
            raise Conflict("A lab with this code already exists")


class InMemoryAuditChain(AuditChain):
    def __init__(self, store: InMemoryStore):
        self._store = store

    def seal_pending(self) -> int:
        with self._store.lock:
            sealed = {s.entry_id for s in self._store.seals}
            unsealed = [e for e in self._store.audit if e.id not in sealed]
            last = self._store.seals[-1] if self._store.seals else None
            new = seal(
                unsealed,
                last_seq=last.seq if last else 0,
                last_hash=last.hash if last else GENESIS_HASH,
            )
            self._store.seals.extend(new)
            return len(new)

    def verify(self) -> ChainReport:
        with self._store.lock:
            by_id = {e.id: e for e in self._store.audit}
            links: Iterator[tuple[AuditSeal, AuditEntry | None]] = (
                (s, by_id.get(s.entry_id)) for s in list(self._store.seals)
            )
            pending = len(self._store.audit) - len(self._store.seals)
            return verify_chain(links, pending=pending)

    def head_hash(self) -> str:
        with self._store.lock:
            return self._store.seals[-1].hash if self._store.seals else GENESIS_HASH
