"""In-memory sync storage: devices, conflicts and the change feed.

Units of work run one at a time under the store's lock, so a change's feed position is
simply the next number at commit: nothing can commit "late" here.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from adapters.memory.repositories import Table
from adapters.memory.store import InMemoryStore
from domain.paging import Page
from domain.ports import (
    ChangeFeed,
    ConflictQuery,
    FeedItem,
    SyncConflictRepository,
    SyncDeviceRepository,
)
from domain.sync import FeedPosition, SyncConflict, SyncDevice

# entity name → the table holding its records
FEED_TABLES = {"sample": "samples", "result": "results"}


class InMemorySyncDeviceRepository(SyncDeviceRepository):
    def __init__(self, table: Table):
        self._t = table

    def add(self, device: SyncDevice) -> None:
        self._t.put(device.device_id, device)

    def get(self, device_id: str, *, lock: bool = False) -> SyncDevice | None:
        device: SyncDevice | None = self._t.get(device_id)
        return device


class InMemorySyncConflictRepository(SyncConflictRepository):
    def __init__(self, table: Table):
        self._t = table

    def add(self, conflict: SyncConflict) -> None:
        self._t.put(conflict.id, conflict)

    def get(self, conflict_id: UUID, *, lock: bool = False) -> SyncConflict | None:
        conflict: SyncConflict | None = self._t.get(conflict_id)
        return conflict

    def list(self, query: ConflictQuery) -> Page[SyncConflict]:
        found = [
            c
            for c in self._t.rows.values()
            if c.lab_id == query.lab_id
            and (query.entity is None or c.entity == query.entity)
            and (query.resolved is None or c.resolved == query.resolved)
        ]
        found.sort(key=lambda c: (c.created_at, str(c.id)), reverse=True)
        page = query.page
        chosen = [self._t.get(c.id) for c in found[page.offset : page.offset + page.limit]]
        return Page(items=chosen, total=len(found), request=page)


class InMemoryChangeFeed(ChangeFeed):
    def __init__(self, store: InMemoryStore, tables: dict[str, Table]):
        self._store = store
        self._tables = tables

    def after(
        self, lab_id: UUID, entities: Sequence[str], position: FeedPosition, limit: int
    ) -> list[FeedItem]:
        found = []
        for (entity, key), at in self._store.feed.items():
            if entity not in entities or at <= position:
                continue
            record = self._tables[FEED_TABLES[entity]].rows.get(key)
            if record is not None and record.lab_id == lab_id:
                found.append((at, entity, key))
        found.sort()
        return [
            FeedItem(entity, at, self._tables[FEED_TABLES[entity]].get(key))
            for at, entity, key in found[:limit]
        ]


def record_changes(store: InMemoryStore, tables: dict[str, Table]) -> None:
    """At commit: every new or re-versioned syncable record moves to the feed's end."""
    store.feed_commits += 1
    for entity, name in FEED_TABLES.items():
        before = store.tables[name]
        for key in tables[name].touched():
            row = tables[name].rows.get(key)
            old = before.get(key)
            if row is not None and (old is None or old.version != row.version):
                store.feed_seq += 1
                store.feed[(entity, key)] = FeedPosition(store.feed_commits, store.feed_seq)
