"""Plain domain records kept in step with their table without the ORM (samples, results,
sync devices and conflicts, tasks).

The ORM instruments every attribute of a mapped class: each read and write of a field
goes through a descriptor and each write records history. A sync batch creates, reads
and judges a thousand records, and that instrumentation cost more than a third of its
Python time (docs/adr/0013-plain-records-for-lab-data.md); every sync round trip also
read and wrote its device and its conflicts through the session's unit of work, a fifth
of a small round trip's Python. These records are plain
dataclasses; a `RecordTable` gives one table what the session gave them:

- an identity map: one object per id within a unit of work, so two loads of a sample
  see each other's changes;
- change tracking by comparison: each loaded or written object keeps a snapshot of its
  column values, and `flush` writes an UPDATE of the changed columns only, grouped so
  that a batch of like changes is one `executemany`;
- pending inserts, written at the next flush (or by COPY for bulk creates).

`RecordTracker.flush` runs before every query of these tables, before any other
statement the session executes (the session's autoflush, kept) and at commit.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Generic, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.driver import Decoder, DriverQuery
from domain.lab_data import Sample, TestResult
from domain.sync import SyncConflict, SyncDevice
from domain.tasks import Task

R = TypeVar("R")

# Set by the database (column defaults on insert, a trigger on update), never by the app.
DATABASE_OWNED = frozenset({"sync_txid", "sync_seq"})


class RecordShape(Generic[R]):
    """How one record class maps onto one table: column by column, same names; `key` is
    the primary key's column (and attribute)."""

    def __init__(self, cls: type[R], table: sa.Table, key: str = "id"):
        self.cls = cls
        self.table = table
        self.columns = tuple(c for c in table.c if c.key not in DATABASE_OWNED)
        self.names = tuple(c.key for c in self.columns)
        self.values: Callable[[R], tuple[Any, ...]] = operator.attrgetter(*self.names)
        self.key_of: Callable[[R], Any] = operator.attrgetter(key)
        self.key_index = self.names.index(key)
        self._key_column = key_column = table.c[key]
        self._new = object.__new__
        self.decode = Decoder(self.columns)  # rows read through psycopg (DriverQuery)
        self.by_id = DriverQuery(self.select().where(key_column == sa.bindparam("id")))
        self.by_id_locked = DriverQuery(
            self.select().where(key_column == sa.bindparam("id")).with_for_update()
        )
        # A sync batch's records: one array parameter (one statement text whatever the
        # number of ids), locked in id order so two batches never deadlock.
        any_id = key_column == sa.any_(sa.bindparam("ids"))
        self.by_ids = DriverQuery(self.select().where(any_id))
        self.by_ids_locked = DriverQuery(
            self.select().where(any_id).order_by(key_column).with_for_update()
        )
        # A REST write inserts one record and updates one or two: through psycopg, one
        # statement compiled per set of changed columns (Core's execute cost ~0.2 ms each).
        self.insert_one = DriverQuery(
            table.insert().values({n: sa.bindparam(n) for n in self.names})
        )
        self._updates: dict[tuple[int, ...], DriverQuery] = {}

    def update_one(self, changed: tuple[int, ...]) -> DriverQuery:
        """An UPDATE of the columns at `changed` for the row `k_id` (binds `v_<name>`)."""
        query = self._updates.get(changed)
        if query is None:
            query = self._updates[changed] = DriverQuery(self.update(changed))
        return query

    def update(self, changed: tuple[int, ...]) -> sa.Update:
        names = self.names
        return (
            self.table.update()
            .where(self._key_column == sa.bindparam("k_id"))
            .values({names[i]: sa.bindparam(f"v_{names[i]}") for i in changed})
        )

    def build(self, row: Iterable[Any]) -> R:
        """A record from a row of `columns` (no `__init__`: the row is already valid)."""
        record: Any = self._new(self.cls)
        record.__dict__.update(zip(self.names, row, strict=True))
        return record  # type: ignore[no-any-return]

    def select(self) -> sa.Select[Any]:
        return sa.select(*self.columns)

    def row(self, record: R) -> dict[str, Any]:
        return dict(zip(self.names, self.values(record), strict=True))


SAMPLE = RecordShape(Sample, tables.samples)
RESULT = RecordShape(TestResult, tables.test_results)
SYNC_DEVICE = RecordShape(SyncDevice, tables.sync_devices, key="device_id")
SYNC_CONFLICT = RecordShape(SyncConflict, tables.sync_conflicts)
TASK = RecordShape(Task, tables.tasks)


class RecordTable(Generic[R]):
    """One table's records within one unit of work."""

    def __init__(self, shape: RecordShape[R]):
        self.shape = shape
        self._loaded: dict[Any, R] = {}
        self._snapshots: dict[Any, tuple[Any, ...]] = {}
        self._new: dict[Any, R] = {}

    # --- what the repositories use ------------------------------------------------

    def cached(self, record_id: Any) -> R | None:
        return self._new.get(record_id) or self._loaded.get(record_id)

    def add(self, record: R) -> None:
        self._new[self.shape.key_of(record)] = record

    def adopt(self, row: Sequence[Any], *, refresh: bool = False) -> R:
        """The identity-mapped record of a fetched row. A record already here keeps its
        (possibly changed) values, unless `refresh` says the row is newer (a locking
        read after a flush), in which case the row's values replace them."""
        record_id = row[self.shape.key_index]
        record = self._loaded.get(record_id)
        if record is None:
            record = self.shape.build(row)
            self._loaded[record_id] = record
        elif refresh:
            record.__dict__.update(zip(self.shape.names, row, strict=True))
        else:
            return record
        self._snapshots[record_id] = tuple(row)
        return record

    def remember_written(self, records: Iterable[R]) -> None:
        """Records just written (by COPY, or inserted at once): tracked from now on, as
        stored."""
        key_of, values = self.shape.key_of, self.shape.values
        for record in records:
            record_id = key_of(record)
            self._loaded[record_id] = record
            self._snapshots[record_id] = values(record)

    # --- the unit of work's part --------------------------------------------------

    @property
    def has_changes(self) -> bool:
        if self._new:
            return True
        values = self.shape.values
        return any(values(r) != self._snapshots[i] for i, r in self._loaded.items())

    def flush(self, conn: sa.Connection) -> None:
        shape = self.shape
        if self._new:
            new = list(self._new.values())
            if len(new) == 1:
                shape.insert_one.execute(conn, shape.row(new[0]))
            else:
                conn.execute(shape.table.insert(), [shape.row(r) for r in new])
            self._new.clear()
            self.remember_written(new)
        groups: dict[tuple[int, ...], list[dict[str, Any]]] = {}
        names = shape.names
        for record_id, record in self._loaded.items():
            now = shape.values(record)
            before = self._snapshots[record_id]
            if now == before:
                continue
            changed = tuple(i for i, (a, b) in enumerate(zip(now, before, strict=True)) if a != b)
            if not changed:  # equal values that compare unequal by identity only
                self._snapshots[record_id] = now
                continue
            params = {f"v_{names[i]}": now[i] for i in changed}
            params["k_id"] = record_id
            groups.setdefault(changed, []).append(params)
            self._snapshots[record_id] = now
        for changed, rows in groups.items():
            if len(rows) == 1:
                shape.update_one(changed).execute(conn, rows[0])
            else:
                conn.execute(shape.update(changed), rows)

    def clear(self) -> None:
        self._loaded.clear()
        self._snapshots.clear()
        self._new.clear()


class RecordTracker:
    """Every plain-record table of one unit of work, flushed together."""

    def __init__(self, session: Session):
        self._session = session
        self.samples = RecordTable(SAMPLE)
        self.results = RecordTable(RESULT)
        self.sync_devices = RecordTable(SYNC_DEVICE)
        self.sync_conflicts = RecordTable(SYNC_CONFLICT)
        self.tasks = RecordTable(TASK)
        self._tables: tuple[RecordTable[Any], ...] = (
            self.samples,
            self.results,
            self.sync_devices,
            self.sync_conflicts,
            self.tasks,
        )
        self._flushing = False
        session.info["records"] = self

    @property
    def has_changes(self) -> bool:
        return any(t.has_changes for t in self._tables)

    def flush(self) -> None:
        if self._flushing:
            return
        self._flushing = True
        try:
            conn = self._session.connection()
            for table in self._tables:
                table.flush(conn)
        finally:
            self._flushing = False

    def clear(self) -> None:
        for table in self._tables:
            table.clear()


class TrackedRepository:
    """A repository of plain records: its reads go out after the pending changes."""

    def __init__(self, session: Session, tracker: RecordTracker):
        self._s = session
        self._tracker = tracker

    def _conn(self) -> sa.Connection:
        self._tracker.flush()
        return self._s.connection()


def flush_records_before_statements(session_factory: Any) -> None:
    """The session's autoflush, extended to the plain records: any statement the session
    runs first sees their pending changes (as it sees its own mapped objects')."""
    if not event.contains(session_factory, "do_orm_execute", _flush_first):
        event.listen(session_factory, "do_orm_execute", _flush_first)


def _flush_first(state: ORMExecuteState) -> None:
    tracker = state.session.info.get("records")
    if tracker is not None:
        tracker.flush()


def fetch_rows(
    records: RecordTable[R],
    conn: sa.Connection,
    query: DriverQuery,
    params: dict[str, Any],
    *,
    refresh: bool = False,
) -> list[R]:
    """Records from a precompiled query of the shape's columns, through psycopg,
    identity-mapped (`refresh`: the rows are newer than any copy held, as after taking a
    lock)."""
    decode = records.shape.decode
    return [records.adopt(decode(row), refresh=refresh) for row in query.rows(conn, params)]


def locked_by_id(records: RecordTable[R], conn: sa.Connection, record_id: Any) -> R | None:
    """One record, locked until the transaction ends and re-read under the lock."""
    found = fetch_rows(records, conn, records.shape.by_id_locked, {"id": record_id}, refresh=True)
    return found[0] if found else None


def by_key(
    records: RecordTable[R],
    connect: Callable[[], sa.Connection],
    record_id: Any,
    *,
    lock: bool = False,
) -> R | None:
    """One record, tombstones included: locked and re-read under the lock, or the one this
    unit of work already holds, or read (`connect` flushes pending changes first)."""
    if lock:
        return locked_by_id(records, connect(), record_id)
    cached = records.cached(record_id)
    if cached is not None:
        return cached
    found = fetch_rows(records, connect(), records.shape.by_id, {"id": record_id})
    return found[0] if found else None


def by_ids(
    records: RecordTable[R], conn: sa.Connection, ids: Collection[UUID], *, lock: bool
) -> dict[UUID, R]:
    """Records by id, tombstones included; locked in id order when asked (no deadlocks
    between batches), re-read so the lock's version is what the caller sees."""
    if not ids:
        return {}
    shape = records.shape
    if not lock:
        found = {i: r for i in ids if (r := records.cached(i)) is not None}
        missing = [i for i in ids if i not in found]
        if missing:
            for record in fetch_rows(records, conn, shape.by_ids, {"ids": missing}):
                found[record.id] = record  # type: ignore[attr-defined]
        return found
    rows = fetch_rows(records, conn, shape.by_ids_locked, {"ids": list(ids)}, refresh=True)
    return {r.id: r for r in rows}  # type: ignore[attr-defined]
