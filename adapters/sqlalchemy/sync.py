"""SQL sync storage: devices, conflicts, and the change feed over the syncable tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, NamedTuple
from uuid import UUID

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.driver import DriverQuery
from adapters.sqlalchemy.records import (
    SYNC_CONFLICT,
    SYNC_DEVICE,
    RecordTracker,
    TrackedRepository,
    by_key,
)
from adapters.sqlalchemy.wire import RESULT_FIELDS, SAMPLE_FIELDS, json_object
from domain.errors import Conflict
from domain.paging import Page
from domain.ports import (
    ChangeFeed,
    ConflictQuery,
    FeedItem,
    SyncConflictRepository,
    SyncDeviceRepository,
)
from domain.sync import FeedPosition, SyncConflict, SyncDevice


def _wire(table: sa.Table, fields: Sequence[str]) -> Any:
    """The record as JSON text built by PostgreSQL, in the shape of the entity's `wire()`
    (pinned field by field by tests/integration/test_sync_feed.py)."""
    return sa.case(
        (table.c.deleted_at.is_(None), sa.cast(json_object(table, fields), sa.Text)),
        else_=None,
    ).label("data_json")


# entity name → its table and its wire JSON; a new syncable entity adds its line here.
FEED_SOURCES: dict[str, tuple[sa.Table, Any]] = {
    "sample": (tables.samples, _wire(tables.samples, SAMPLE_FIELDS)),
    "result": (tables.test_results, _wire(tables.test_results, RESULT_FIELDS)),
}

# The oldest transaction still running anywhere: changes of it, or of any younger
# transaction, are not served yet.
OLDEST_RUNNING_TXID = sa.cast(
    sa.cast(sa.func.pg_snapshot_xmin(sa.func.pg_current_snapshot()), sa.Text), sa.BigInteger
)


class SqlAlchemySyncDeviceRepository(TrackedRepository, SyncDeviceRepository):
    def __init__(self, session: Session, tracker: RecordTracker):
        super().__init__(session, tracker)
        self._records = tracker.sync_devices

    def add(self, device: SyncDevice) -> None:
        # Written at once, under a savepoint: a device another request is creating now
        # surfaces here, before a whole batch of work, as a 409 to retry.
        self._tracker.flush()
        try:
            with self._s.begin_nested():
                # The session's connection, asked for inside the block: that is what
                # makes it send the SAVEPOINT.
                SYNC_DEVICE.insert_one.execute(self._s.connection(), SYNC_DEVICE.row(device))
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict("This device is syncing in another request; retry") from exc
        self._records.remember_written([device])

    def get(self, device_id: str, *, lock: bool = False) -> SyncDevice | None:
        return by_key(self._records, self._conn, device_id, lock=lock)


class SqlAlchemySyncConflictRepository(TrackedRepository, SyncConflictRepository):
    def __init__(self, session: Session, tracker: RecordTracker):
        super().__init__(session, tracker)
        self._records = tracker.sync_conflicts

    def add(self, conflict: SyncConflict) -> None:
        self._records.add(conflict)

    def get(self, conflict_id: UUID, *, lock: bool = False) -> SyncConflict | None:
        return by_key(self._records, self._conn, conflict_id, lock=lock)

    def list(self, query: ConflictQuery) -> Page[SyncConflict]:
        c = tables.sync_conflicts.c
        where: list[Any] = [c.lab_id == query.lab_id]
        if query.entity is not None:
            where.append(c.entity == query.entity)
        if query.resolved is not None:
            where.append(c.resolved.is_(query.resolved))
        conn = self._conn()
        total = (
            conn.scalar(sa.select(sa.func.count()).select_from(tables.sync_conflicts).where(*where))
            or 0
        )
        page = query.page
        rows = conn.execute(
            SYNC_CONFLICT.select()
            .where(*where)
            .order_by(c.created_at.desc(), c.id.desc())
            .offset(page.offset)
            .limit(page.limit)
        )
        items = [self._records.adopt(row) for row in rows]
        return Page(items=items, total=total, request=page)


class FeedRecord(NamedTuple):
    """What the sync engine reads of a record in the feed (its JSON comes separately)."""

    id: UUID
    version: int
    deleted_at: datetime | None


def _feed_page(entities: tuple[str, ...]) -> DriverQuery:
    """One query: each entity's feed index read in order from the cursor, merged, cut at
    the limit. The merge pulls rows from each branch on demand, so PostgreSQL builds the
    JSON of (about) `limit` records, not of every branch's whole page. Records come as
    PostgreSQL serializes them: building each in Python cost more than everything else in
    a pull. Only changes of transactions older than the oldest one still running are
    served, read from the statement's own snapshot: every one of them has finished, so
    the snapshot sees all their changes, whatever commits meanwhile (docs/adr/0009)."""
    horizon = sa.select(OLDEST_RUNNING_TXID).scalar_subquery()
    after = sa.tuple_(sa.bindparam("txid"), sa.bindparam("seq"))
    pages = []
    for entity in entities:
        table, wire = FEED_SOURCES[entity]
        c = table.c
        pages.append(
            sa.select(
                sa.literal(entity).label("entity"),
                c.id,
                c.version,
                c.deleted_at,
                c.sync_txid,
                c.sync_seq,
                wire,
            )
            .where(
                c.lab_id == sa.bindparam("lab_id"),
                sa.tuple_(c.sync_txid, c.sync_seq) > after,
                c.sync_txid < horizon,
            )
            .order_by(c.sync_txid, c.sync_seq)
            .limit(sa.bindparam("limit"))
            .subquery()
            .select()
        )
    merged = sa.union_all(*pages).subquery()
    return DriverQuery(
        sa.select(merged)
        .order_by(merged.c.sync_txid, merged.c.sync_seq)
        .limit(sa.bindparam("limit"))
    )


class SqlAlchemyChangeFeed(ChangeFeed):
    # One compiled page query per set of entities (a handful per process).
    _pages: ClassVar[dict[tuple[str, ...], DriverQuery]] = {}

    def __init__(self, session: Session):
        self._s = session

    def after(
        self, lab_id: UUID, entities: Sequence[str], position: FeedPosition, limit: int
    ) -> list[FeedItem]:
        key = tuple(entities)
        query = self._pages.get(key) or self._pages.setdefault(key, _feed_page(key))
        rows = query.rows(
            self._s.connection(),
            {"lab_id": lab_id, "txid": position.txid, "seq": position.seq, "limit": limit},
        )
        return [
            FeedItem(entity, FeedPosition(txid, seq), FeedRecord(id_, version, deleted), data)
            for entity, id_, version, deleted, txid, seq, data in rows
        ]
