"""The in-memory twin of `SqlHousekeeping` (same rules; batches and skipping are trivial
here because the store runs one unit of work at a time)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.memory.store import InMemoryStore
from domain.housekeeping import Housekeeping


@dataclass(frozen=True)
class TombstoneTable:
    entity: str  # the sync entity name (as in sync conflicts and the change feed)
    table: str  # the store table
    # (table, attribute) pairs whose rows point at this table's records
    referenced_by: tuple[tuple[str, str], ...] = ()


# Purge order: children before parents. A new soft-deleted entity is one line here.
# A referencing table the store does not have (yet) simply references nothing.
TOMBSTONES: tuple[TombstoneTable, ...] = (
    TombstoneTable("task", "tasks"),
    TombstoneTable("result", "results"),
    TombstoneTable(
        "sample", "samples", referenced_by=(("results", "sample_id"), ("tasks", "sample_id"))
    ),
)


class InMemoryHousekeeping(Housekeeping):
    def __init__(self, store: InMemoryStore, tombstones: Sequence[TombstoneTable] = TOMBSTONES):
        self._store = store
        self._tombstones = {t.entity: t for t in tombstones}

    def _delete(self, table: str, doomed: Callable[[Any], bool], limit: int | None) -> list[Any]:
        with self._store.lock:
            rows = self._store.tables.get(table, {})
            keys = [key for key, row in rows.items() if doomed(row)][:limit]
            if keys:
                kept = dict(rows)
                for key in keys:
                    del kept[key]
                self._store.tables[table] = kept
            return keys

    def _ended(self, now: datetime) -> set[Any]:
        return {
            s.id
            for s in self._store.tables["sessions"].values()
            if s.revoked_at is not None or s.expires_at <= now
        }

    def purge_refresh_tokens(self, now: datetime, limit: int) -> int:
        with self._store.lock:
            ended = self._ended(now)
            return len(self._delete("refresh_tokens", lambda t: t.session_id in ended, limit))

    def purge_reset_tokens(self, now: datetime, limit: int) -> int:
        return len(
            self._delete(
                "reset_tokens", lambda t: t.used_at is not None or t.expires_at <= now, limit
            )
        )

    def purge_sessions(self, ended_before: datetime, limit: int) -> int:
        def doomed(s: Any) -> bool:
            revoked = s.revoked_at is not None and s.revoked_at < ended_before
            return bool(revoked or s.expires_at < ended_before)

        with self._store.lock:
            gone = set(self._delete("sessions", doomed, limit))
            self._delete("refresh_tokens", lambda t: t.session_id in gone, None)
            return len(gone)

    def purge_rate_limits(self, now: datetime, limit: int) -> int:
        return 0  # the in-process limiter keeps no rows here; it prunes closed windows itself

    def tombstone_entities(self) -> Sequence[str]:
        return [t.entity for t in self._tombstones.values() if t.table in self._store.tables]

    def purge_tombstones(self, entity: str, deleted_before: datetime, limit: int) -> int:
        spec = self._tombstones[entity]
        tables = self._store.tables
        with self._store.lock:
            referenced = {
                getattr(row, attribute)
                for table, attribute in spec.referenced_by
                for row in tables.get(table, {}).values()
            }
            open_conflicts = {
                c.record_id
                for c in tables["sync_conflicts"].values()
                if c.entity == entity and not c.resolved
            }

            def doomed(row: Any) -> bool:
                return (
                    row.deleted_at is not None
                    and row.deleted_at < deleted_before
                    and row.id not in referenced
                    and row.id not in open_conflicts
                )

            keys = self._delete(spec.table, doomed, limit)
            for key in keys:
                self._store.feed.pop((entity, key), None)
            return len(keys)
