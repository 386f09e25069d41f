"""The device's local SQLite database: records, the outbox of unsent edits, and sync metadata.

Tables
------
records    one row per (entity, id). Two copies of the record live side by side:
           - the *local view* (`data`, `version`, `deleted`): what the user sees; local edits
             change it at once (optimistic), `version` is the server version the view is based
             on (NULL until the server has acknowledged the record);
           - the *server copy* (`server_data`, `server_version`, `server_deleted`): the newest
             state the server sent (a pulled change, or the winner of a conflict).
           When a record has no unsent edits left, the view falls back to the server copy as
           soon as that copy is at least as new, so a rejected or losing local edit is undone
           and every device converges to the server's state.
outbox     the pending mutations, numbered 1, 2, 3 ... per device when they are enqueued
           (never renumbered, never reused). A row leaves the outbox only when the server's
           `last_mutation_id` reaches it. `base_mutation_id` marks an edit made on top of an
           earlier, not yet acknowledged edit of the same record: its `base_version` is only
           known once that earlier mutation's result arrives, so the two are never sent in
           the same batch.
conflicts  every conflict the server reported (kept for display; the server keeps the truth).
rejections every mutation the server rejected, with its error (field_errors).
meta       device_id, cursor (opaque, from the last pull), last_mutation_id (acknowledged),
           next_mutation_id, last_sync_at.

All changes caused by one server response are applied in one SQLite transaction
(`apply_response`): a crash leaves the store either before or after the whole response,
and re-sending after "before" is safe (the server answers `duplicate`).

`LocalStore` is meant for one thread at a time (sqlite3's default).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ENTITIES = ("sample", "result")

# The fields a client may set (the server adds id, lab_id, compliance_status, version,
# created_at/by, updated_at/by, and `evaluations` for results).
WRITABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "sample": (
        "type",
        "location",
        "latitude",
        "longitude",
        "collection_date",
        "collector_name",
        "status",
        "notes",
    ),
    "result": (
        "sample_id",
        "parameter",
        "value",
        "qualifier",
        "detection_limit",
        "unit",
        "test_date",
        "technician_name",
        "test_method",
        "notes",
    ),
}
_DATE_FIELDS = frozenset({"collection_date", "test_date"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    server_version INTEGER,
    server_deleted INTEGER NOT NULL DEFAULT 0,
    server_data TEXT,
    PRIMARY KEY (entity, id)
);
CREATE TABLE IF NOT EXISTS outbox (
    mutation_id INTEGER PRIMARY KEY,
    entity TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    record_id TEXT NOT NULL,
    base_version INTEGER,
    base_mutation_id INTEGER,
    modified_at TEXT NOT NULL,
    data TEXT,
    changed_fields TEXT
);
CREATE INDEX IF NOT EXISTS outbox_record ON outbox (entity, record_id);
CREATE INDEX IF NOT EXISTS outbox_base ON outbox (base_mutation_id)
    WHERE base_mutation_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS conflicts (
    conflict_id TEXT PRIMARY KEY,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    resolution TEXT NOT NULL,
    version INTEGER,
    server_data TEXT,
    client_data TEXT,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejections (
    mutation_id INTEGER PRIMARY KEY,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    error TEXT,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


def utc_now() -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2025-01-18T10:30:00.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Mutation:
    """One outbox row, as it goes on the wire (`to_wire`)."""

    mutation_id: int
    entity: str
    op: str  # "upsert" | "delete"
    id: str
    base_version: int | None  # None: a create
    modified_at: str
    data: dict[str, Any] | None  # upsert only: the fields being set
    changed_fields: list[str] | None
    depends_on: int | None = None  # an earlier unacknowledged mutation of the same record

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "mutation_id": self.mutation_id,
            "entity": self.entity,
            "op": self.op,
            "id": self.id,
            "base_version": self.base_version,
            "modified_at": self.modified_at,
        }
        if self.op == "upsert":
            wire["data"] = self.data
            if self.changed_fields is not None:
                wire["changed_fields"] = self.changed_fields
        return wire


@dataclass
class ResponseOutcome:
    """What `LocalStore.apply_response` did with one sync response."""

    acknowledged: int = 0  # outbox rows removed (every status, or no result entry at all)
    statuses: dict[str, int] = field(default_factory=dict)  # applied/duplicate/conflict/rejected
    pulled: int = 0  # changes received
    reset: bool = False


class LocalStore:
    """A device's offline copy of its lab's samples and results, plus its outbox.

    >>> store = LocalStore(":memory:")
    >>> sid = store.create("sample", {"type": "drinking", "location": "Well 3", ...})
    >>> store.update("sample", sid, {"notes": "cloudy"})   # queued as mutation 2
    >>> [m.mutation_id for m in store.pending()]
    [1, 2]
    """

    def __init__(self, path: str | Path = ":memory:", device_id: str | None = None) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; `transaction()` issues BEGIN/COMMIT.
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._depth = 0
        self._db.executescript(_SCHEMA)
        with self.transaction():
            stored = self._meta("device_id")
            if stored is None:
                self._set_meta("device_id", device_id or f"device-{uuid.uuid4()}")
            elif device_id is not None and device_id != stored:
                if self._has_history():
                    raise ValueError(
                        f"this store belongs to device {stored!r}; its mutation numbering and "
                        f"cursor cannot be reused as device {device_id!r}"
                    )
                self._set_meta("device_id", device_id)

    # -- transactions and metadata ------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error); nested calls join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0

    def close(self) -> None:
        self._db.close()

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0]) if row[0] is not None else None

    def _set_meta(self, key: str, value: str | None) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _has_history(self) -> bool:
        return self.next_mutation_id > 1 or self.cursor is not None

    @property
    def device_id(self) -> str:
        return self._meta("device_id") or ""

    @property
    def cursor(self) -> str | None:
        """The opaque pull cursor of the last applied response (None: pull from the start)."""
        return self._meta("cursor")

    @property
    def last_mutation_id(self) -> int:
        """The highest mutation id the server has acknowledged for this device."""
        return int(self._meta("last_mutation_id") or 0)

    @property
    def next_mutation_id(self) -> int:
        """The id the next local edit will get (so `next_mutation_id - 1` was issued last)."""
        return int(self._meta("next_mutation_id") or 1)

    @property
    def last_sync_at(self) -> str | None:
        return self._meta("last_sync_at")

    # -- local edits (optimistic, queued in the outbox) ------------------------------------

    def create(self, entity: str, data: Mapping[str, Any], id: str | None = None) -> str:
        """Create a record locally (the client chooses its UUID) and queue its upsert."""
        _check_entity(entity)
        record_id = id or str(uuid.uuid4())
        values = _writable(entity, data)
        with self.transaction():
            if self._row(entity, record_id) is not None:
                raise ValueError(f"{entity} {record_id} already exists locally")
            self._db.execute(
                "INSERT INTO records (entity, id, version, deleted, data) "
                "VALUES (?, ?, NULL, 0, ?)",
                (entity, record_id, _dump(values)),
            )
            self._enqueue(entity, "upsert", record_id, values)
        return record_id

    def update(self, entity: str, id: str, changes: Mapping[str, Any]) -> None:
        """Change some fields locally; queue an upsert of just those fields.

        `base_version` is the local record's version (the version the user edited), and
        `changed_fields` lists the keys of `changes`, so the server can merge disjoint edits.
        """
        _check_entity(entity)
        values = _writable(entity, changes)
        if not values:
            raise ValueError("nothing to change")
        with self.transaction():
            row = self._live_row(entity, id)
            data = {**json.loads(row["data"]), **values}
            self._db.execute(
                "UPDATE records SET data = ? WHERE entity = ? AND id = ?",
                (_dump(data), entity, id),
            )
            self._enqueue(
                entity,
                "upsert",
                id,
                values,
                changed_fields=sorted(values),
                base_version=row["version"],
            )

    def delete(self, entity: str, id: str) -> None:
        """Delete locally (the record disappears from `get`/`all`) and queue the delete."""
        _check_entity(entity)
        with self.transaction():
            row = self._live_row(entity, id)
            self._db.execute(
                "UPDATE records SET deleted = 1 WHERE entity = ? AND id = ?", (entity, id)
            )
            self._enqueue(entity, "delete", id, None, base_version=row["version"])

    def _enqueue(
        self,
        entity: str,
        op: str,
        record_id: str,
        data: dict[str, Any] | None,
        *,
        changed_fields: list[str] | None = None,
        base_version: int | None = None,
    ) -> int:
        mutation_id = self.next_mutation_id
        earlier = self._db.execute(
            "SELECT max(mutation_id) FROM outbox WHERE entity = ? AND record_id = ?",
            (entity, record_id),
        ).fetchone()[0]
        if earlier is not None:
            # Edited on top of an edit the server has not acknowledged yet: the real base
            # version is that edit's outcome, filled in when its result arrives.
            base_version = None
        self._db.execute(
            "INSERT INTO outbox (mutation_id, entity, op, record_id, base_version, "
            "base_mutation_id, modified_at, data, changed_fields) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                mutation_id,
                entity,
                op,
                record_id,
                base_version,
                earlier,
                utc_now(),
                None if data is None else _dump(data),
                None if changed_fields is None else json.dumps(changed_fields),
            ),
        )
        self._set_meta("next_mutation_id", str(mutation_id + 1))
        return mutation_id

    # -- reading -----------------------------------------------------------------------

    def get(self, entity: str, id: str) -> dict[str, Any] | None:
        """The local view of a record (with `id` and `version`), None if unknown or deleted."""
        row = self._row(entity, id)
        if row is None or row["deleted"]:
            return None
        return _view(row)

    def all(self, entity: str) -> list[dict[str, Any]]:
        """Every live record of `entity`, sorted by id."""
        rows = self._db.execute(
            "SELECT * FROM records WHERE entity = ? AND deleted = 0 ORDER BY id", (entity,)
        )
        return [_view(row) for row in rows]

    def pending(self, limit: int | None = None) -> list[Mutation]:
        """The outbox, oldest first (the next mutations to send)."""
        rows = self._db.execute(
            "SELECT * FROM outbox ORDER BY mutation_id LIMIT ?", (-1 if limit is None else limit,)
        )
        return [
            Mutation(
                mutation_id=row["mutation_id"],
                entity=row["entity"],
                op=row["op"],
                id=row["record_id"],
                base_version=row["base_version"],
                modified_at=row["modified_at"],
                data=None if row["data"] is None else json.loads(row["data"]),
                changed_fields=(
                    None if row["changed_fields"] is None else json.loads(row["changed_fields"])
                ),
                depends_on=row["base_mutation_id"],
            )
            for row in rows
        ]

    def pending_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def next_batch(self, size: int) -> list[Mutation]:
        """Up to `size` pending mutations to send together.

        The batch stops before a mutation whose base version depends on another mutation in
        the same batch (an edit of a record whose previous edit is still unacknowledged).
        """
        batch: list[Mutation] = []
        for mutation in self.pending(size):
            if mutation.depends_on is not None and batch:
                break
            batch.append(mutation)
        return batch

    def conflicts(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM conflicts ORDER BY received_at, conflict_id")
        return [
            {
                "conflict_id": row["conflict_id"],
                "entity": row["entity"],
                "id": row["record_id"],
                "resolution": row["resolution"],
                "version": row["version"],
                "server_data": _load(row["server_data"]),
                "client_data": _load(row["client_data"]),
                "received_at": row["received_at"],
            }
            for row in rows
        ]

    def rejections(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM rejections ORDER BY mutation_id")
        return [
            {
                "mutation_id": row["mutation_id"],
                "entity": row["entity"],
                "id": row["record_id"],
                "error": _load(row["error"]),
                "received_at": row["received_at"],
            }
            for row in rows
        ]

    def content_hash(self, entity: str) -> str:
        """`content_hash(entity, store.all(entity))`: compare devices after a full sync."""
        return content_hash(entity, self.all(entity))

    # -- applying a server response (one transaction) -------------------------------------

    def apply_response(self, response: Mapping[str, Any]) -> ResponseOutcome:
        """Apply one `POST /sync` response atomically.

        1. acknowledge: drop outbox rows up to `last_mutation_id`; take each result's
           `version` as the record's base; fill in the base version of edits that waited
           for that result; keep rejections;
        2. store reported conflicts; a `server_won` conflict carries the server's record,
           which becomes the record's server copy;
        3. records with no unsent edits left fall back to their server copy if it is at least
           as new (this undoes rejected and losing local edits);
        4. `reset_required`: forget every record without unsent edits and the cursor;
           otherwise apply the pulled `changes` and store the new cursor.
        """
        outcome = ResponseOutcome()
        now = utc_now()
        last = int(response["last_mutation_id"])
        with self.transaction():
            results = {int(r["mutation_id"]): r for r in response.get("results") or []}
            touched = self._acknowledge(last, results, outcome, now)
            for conflict in response.get("conflicts") or []:
                self._record_conflict(conflict, now)
                touched.add((conflict["entity"], conflict["id"]))
            for entity, record_id in sorted(touched):
                self._settle(entity, record_id)
            if response.get("reset_required"):
                self._reset()
                outcome.reset = True
            else:
                for change in response.get("changes") or []:
                    self._apply_change(change)
                    outcome.pulled += 1
                self._set_meta("cursor", response.get("cursor"))
            self._set_meta("last_mutation_id", str(max(self.last_mutation_id, last)))
            self._set_meta("last_sync_at", now)
        return outcome

    def _acknowledge(
        self,
        last: int,
        results: Mapping[int, Mapping[str, Any]],
        outcome: ResponseOutcome,
        now: str,
    ) -> set[tuple[str, str]]:
        touched: set[tuple[str, str]] = set()
        rows = self._db.execute(
            "SELECT mutation_id, entity, record_id FROM outbox WHERE mutation_id <= ? "
            "ORDER BY mutation_id",
            (last,),
        ).fetchall()
        for row in rows:
            mutation_id, entity, record_id = row["mutation_id"], row["entity"], row["record_id"]
            result = results.get(mutation_id) or {}
            # No result entry: the server had already processed it (e.g. through a larger
            # batch whose response was lost); it is acknowledged like a duplicate.
            status = str(result.get("status") or "duplicate")
            outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
            outcome.acknowledged += 1
            version = result.get("version")
            if status == "rejected":
                self._db.execute(
                    "INSERT OR REPLACE INTO rejections VALUES (?, ?, ?, ?, ?)",
                    (mutation_id, entity, record_id, _dump(result.get("error")), now),
                )
            elif version is not None:
                self._db.execute(
                    "UPDATE records SET version = ? WHERE entity = ? AND id = ?",
                    (int(version), entity, record_id),
                )
            if version is None or status == "rejected":
                local = self._row(entity, record_id)
                version = None if local is None else local["version"]
            self._db.execute(
                "UPDATE outbox SET base_version = ?, base_mutation_id = NULL "
                "WHERE base_mutation_id = ?",
                (version, mutation_id),
            )
            self._db.execute("DELETE FROM outbox WHERE mutation_id = ?", (mutation_id,))
            touched.add((entity, record_id))
        return touched

    def _record_conflict(self, conflict: Mapping[str, Any], now: str) -> None:
        entity, record_id = conflict["entity"], conflict["id"]
        server_data = conflict.get("server_data")
        self._db.execute(
            "INSERT OR REPLACE INTO conflicts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(conflict["conflict_id"]),
                entity,
                record_id,
                conflict["resolution"],
                conflict.get("version"),
                _dump(server_data),
                _dump(conflict.get("client_data")),
                now,
            ),
        )
        version = conflict.get("version")
        if conflict["resolution"] == "server_won" and version is not None:
            # The record stays as the server had it: that state may be older than our cursor
            # (already pulled, then overwritten by our optimistic edit), so take it from here.
            self._store_server_copy(entity, record_id, int(version), server_data)

    def _store_server_copy(
        self, entity: str, record_id: str, version: int, data: Mapping[str, Any] | None
    ) -> None:
        row = self._row(entity, record_id)
        # A deleted record comes as null data (a tombstone) or, in a conflict's
        # `server_data`, as the last record with `"deleted": true`.
        deleted = data is None or data.get("deleted") is True
        if data is not None:
            data = {k: v for k, v in data.items() if k != "deleted"}
        if row is None:
            self._db.execute(
                "INSERT INTO records (entity, id, version, deleted, data, server_version, "
                "server_deleted, server_data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entity,
                    record_id,
                    version,
                    deleted,
                    _dump(data or {}),
                    version,
                    deleted,
                    _dump(data),
                ),
            )
        elif row["server_version"] is None or version >= row["server_version"]:
            self._db.execute(
                "UPDATE records SET server_version = ?, server_deleted = ?, server_data = ? "
                "WHERE entity = ? AND id = ?",
                (version, deleted, _dump(data), entity, record_id),
            )

    def _has_unsent(self, entity: str, record_id: str) -> bool:
        return (
            self._db.execute(
                "SELECT 1 FROM outbox WHERE entity = ? AND record_id = ? LIMIT 1",
                (entity, record_id),
            ).fetchone()
            is not None
        )

    def _settle(self, entity: str, record_id: str) -> None:
        """Let a record with no unsent edits fall back to its server copy when that is as new."""
        if self._has_unsent(entity, record_id):
            return
        row = self._row(entity, record_id)
        if row is None:
            return
        if row["server_version"] is None:
            if row["version"] is None:  # never accepted by the server (a rejected create)
                self._db.execute(
                    "DELETE FROM records WHERE entity = ? AND id = ?", (entity, record_id)
                )
            return
        if row["version"] is None or row["server_version"] >= row["version"]:
            self._db.execute(
                "UPDATE records SET version = server_version, deleted = server_deleted, "
                "data = coalesce(server_data, data) WHERE entity = ? AND id = ?",
                (entity, record_id),
            )

    def _apply_change(self, change: Mapping[str, Any]) -> None:
        entity, record_id, version = change["entity"], change["id"], int(change["version"])
        data = change.get("data") if change["op"] == "upsert" else None
        self._store_server_copy(entity, record_id, version, data)
        # Pulled changes never overwrite unsent local edits; the server resolves those when
        # they arrive, and the record settles on the server copy once they are acknowledged.
        self._settle(entity, record_id)

    def _reset(self) -> None:
        self._db.execute(
            "DELETE FROM records WHERE NOT EXISTS (SELECT 1 FROM outbox o "
            "WHERE o.entity = records.entity AND o.record_id = records.id)"
        )
        self._db.execute(
            "UPDATE records SET server_version = NULL, server_deleted = 0, server_data = NULL"
        )
        self._set_meta("cursor", None)

    # -- helpers -----------------------------------------------------------------------

    def _row(self, entity: str, record_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM records WHERE entity = ? AND id = ?", (entity, record_id)
        ).fetchone()
        return row

    def _live_row(self, entity: str, record_id: str) -> sqlite3.Row:
        row = self._row(entity, record_id)
        if row is None or row["deleted"]:
            raise KeyError(f"{entity} {record_id} does not exist locally")
        return row


# -- content hash ------------------------------------------------------------------------


def canonical_record(entity: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a record that `content_hash` covers, in a canonical form.

    Covered: `id`, `version` and the writable fields of the entity (WRITABLE_FIELDS; a
    missing field counts as null). Not covered, because they are server-derived or
    formatted differently by different endpoints: lab_id, compliance_status, evaluations,
    created_at, created_by, updated_at, updated_by. Numbers compare as floats (7 == 7.0);
    collection_date and test_date compare as instants (normalised to UTC, `Z`; a plain date
    means midnight UTC).
    """
    canonical: dict[str, Any] = {"id": str(record["id"]), "version": record.get("version")}
    for name in WRITABLE_FIELDS[entity]:
        value = record.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
        elif name in _DATE_FIELDS and isinstance(value, str):
            value = _canonical_instant(value)
        canonical[name] = value
    return canonical


def content_hash(entity: str, records: Iterable[Mapping[str, Any]]) -> str:
    """sha256 (hex) over the live records of `entity` sorted by id (see `canonical_record`).

    Works on a store's records (`store.all`) and on the server's (`GET /samples`, pulled
    data) alike; records marked `"deleted": true` are skipped. Two devices that have synced
    to the end hold the same hash as the server.
    """
    _check_entity(entity)
    rows = sorted(
        (canonical_record(entity, r) for r in records if not r.get("deleted")),
        key=lambda row: str(row["id"]),
    )
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _canonical_instant(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def _check_entity(entity: str) -> None:
    if entity not in WRITABLE_FIELDS:
        raise ValueError(f"entity must be one of {', '.join(ENTITIES)}, not {entity!r}")


def _writable(entity: str, data: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(WRITABLE_FIELDS[entity]))
    if unknown:
        raise ValueError(f"{entity} has no writable field(s) {', '.join(unknown)}")
    return dict(data)


def _view(row: sqlite3.Row) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(row["data"])
    return {**data, "id": row["id"], "version": row["version"]}


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)
