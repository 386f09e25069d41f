"""The sync engine: exactly-once push of a device's queued edits, then a page of changes.

One `POST /sync` is two units of work. The *push* locks the device's row, answers every
mutation at or below its `last_mutation_id` as `duplicate`, applies the contiguous run
after it (a gap stops the batch), and stores the new `last_mutation_id` in the same
transaction as the data. The *pull* then reads the lab's change feed after the client's
cursor (see `ChangeFeed.after` for why a late commit is never skipped).

Entities plug in through `SyncEntity` (samples and results live in
`application/sync_entities.py`); nothing here knows their fields. The conflict rules are
pure functions in `domain/sync.py`. See docs/sync.md and docs/adr/0009-sync-engine.md.
"""

from __future__ import annotations

import abc
import base64
import binascii
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from application.auditing import Auditor
from application.context import Caller, Principal
from application.policy import can_see_lab
from application.samples import require_writer
from application.views import PageView, RawJson
from domain.audit import AuditEntityType
from domain.compliance import DEFAULT_MARGIN
from domain.errors import DomainError, Forbidden, NotFound, ValidationFailed
from domain.lab_data import ReferenceData
from domain.paging import PageRequest
from domain.ports import Clock, ConflictQuery, IdGenerator, UnitOfWork, UnitOfWorkFactory
from domain.sync import (
    DEFAULT_PULL,
    DELETED,
    MAX_BATCH,
    MAX_PULL,
    ORIGIN,
    DeviceStatus,
    FeedPosition,
    FieldStamp,
    ManualResolution,
    Merge,
    MutationOp,
    Outcome,
    Stamp,
    SyncConflict,
    SyncDevice,
    effective_time,
    marked_agreed,
    merge,
    read_clock,
)

DEVICE_ID_MAX = 200
# A pull-only sync refreshes the device's `last_sync_at` at most this often.
PULL_STAMP_PRECISION = timedelta(minutes=1)
DEFAULT_TOMBSTONE_RETENTION = timedelta(days=90)


# --- what the engine needs from an entity -------------------------------------------------


class SyncEntity(abc.ABC):
    """One kind of syncable record. Register an instance in the container to sync it."""

    name: str
    audit_type: AuditEntityType
    fields: tuple[str, ...]  # what a client may set

    @abc.abstractmethod
    def load(self, uow: UnitOfWork, ids: Collection[UUID], *, lock: bool) -> dict[UUID, Any]:
        """Records by id, tombstones included."""

    def related(self, batch: Batch, mutations: Sequence[Mutation]) -> dict[str, set[UUID]]:
        """Records of entities registered *after* this one that the batch will change.

        Called once this entity's records are loaded and locked (`batch.records`); they are
        locked next, so every batch takes its locks in the same order."""
        return {}

    @abc.abstractmethod
    def decode(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Wire values to domain values (timestamps parsed); unknown fields are rejected."""

    @abc.abstractmethod
    def check(self, batch: Batch, record: Any | None, values: Mapping[str, Any]) -> None:
        """Raise `ValidationFailed`/`NotFound` for values the REST API would refuse."""

    @abc.abstractmethod
    def current(self, batch: Batch, record: Any) -> dict[str, Any]:
        """The record's client-settable values, in the form `normalize` produces."""

    @abc.abstractmethod
    def normalize(self, batch: Batch, record: Any, values: Mapping[str, Any]) -> dict[str, Any]:
        """Checked values as `write` would store them on `record` (units converted…)."""

    @abc.abstractmethod
    def create(self, batch: Batch, record_id: UUID, values: Mapping[str, Any]) -> Any:
        """Build and audit a new record from checked values; hand it to `Batch.create`."""

    @abc.abstractmethod
    def write(self, batch: Batch, record: Any, values: Mapping[str, Any]) -> list[str]:
        """Write checked values; return the names whose stored value changed (no audit)."""

    @abc.abstractmethod
    def delete(self, batch: Batch, record: Any, stamp: Stamp) -> None:
        """Tombstone the record (and what depends on it), audited."""

    @abc.abstractmethod
    def wire(self, record: Any) -> dict[str, Any]:
        """The record as clients receive it (JSON-ready)."""

    def finish(self, batch: Batch) -> None:  # noqa: B027 - optional hook
        """After every mutation of the batch (e.g. recompute derived state once)."""

    @abc.abstractmethod
    def insert(self, uow: UnitOfWork, records: Sequence[Any]) -> None:
        """Store the records the batch created (`Batch.create`), as they are at its end."""


# --- inputs and outputs ----------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """One queued edit as the client sent it; the engine validates the rest."""

    mutation_id: int
    entity: Any = None
    op: Any = None
    id: Any = None
    base_version: Any = None
    modified_at: Any = None
    data: Any = None
    changed_fields: Any = None


@dataclass(frozen=True)
class SyncCommand:
    device_id: str
    cursor: str | None = None
    pull_limit: int = DEFAULT_PULL
    mutations: Sequence[Mutation] = ()


@dataclass(frozen=True)
class MutationError:
    code: str
    message: str
    field_errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class MutationResult:
    mutation_id: int
    status: Outcome
    entity: str | None
    id: str | None
    version: int | None = None
    error: MutationError | None = None
    conflict_id: UUID | None = None


@dataclass(frozen=True)
class ConflictSummary:
    conflict_id: UUID
    entity: str
    id: UUID
    resolution: str
    version: int
    server_data: dict[str, Any] | None
    client_data: dict[str, Any]


@dataclass(frozen=True)
class ChangeView:
    """One pulled record; `data` is a dict, or JSON text when the storage built it."""

    entity: str
    op: MutationOp
    id: UUID
    version: int
    data: dict[str, Any] | RawJson | None


@dataclass(frozen=True)
class SyncResult:
    last_mutation_id: int
    results: list[MutationResult]
    conflicts: list[ConflictSummary]
    changes: list[ChangeView]
    cursor: str
    has_more: bool
    reset_required: bool = False


@dataclass(frozen=True)
class DeviceView:
    device_id: str
    user_id: UUID
    lab_id: UUID
    last_mutation_id: int
    last_sync_at: datetime | None
    status: str
    last_error: str | None
    created_at: datetime

    @classmethod
    def of(cls, d: SyncDevice) -> DeviceView:
        return cls(
            d.device_id,
            d.user_id,
            d.lab_id,
            d.last_mutation_id,
            d.last_sync_at,
            d.status.value,
            d.last_error,
            d.created_at,
        )


@dataclass(frozen=True)
class ConflictView:
    id: UUID
    entity: str
    record_id: UUID
    device_id: str
    mutation_id: int
    resolution: str
    resolved: bool
    resolved_by: UUID | None
    resolved_at: datetime | None
    manual_resolution: str | None
    server_data: dict[str, Any] | None
    client_data: dict[str, Any]
    detail: dict[str, Any]
    version: int
    created_at: datetime

    @classmethod
    def of(cls, c: SyncConflict) -> ConflictView:
        return cls(
            id=c.id,
            entity=c.entity,
            record_id=c.record_id,
            device_id=c.device_id,
            mutation_id=c.mutation_id,
            resolution=c.resolution.value,
            resolved=c.resolved,
            resolved_by=c.resolved_by,
            resolved_at=c.resolved_at,
            manual_resolution=c.manual_resolution.value if c.manual_resolution else None,
            server_data=c.server_data,
            client_data=c.client_data,
            detail=c.detail,
            version=c.version,
            created_at=c.created_at,
        )


# --- the batch: one push transaction ---------------------------------------------------


@dataclass
class Batch:
    """What one push transaction shares: the unit of work, who and when, locked records."""

    uow: UnitOfWork
    audit: Auditor
    principal: Principal
    lab_id: UUID
    device_id: str
    now: datetime
    ids: IdGenerator
    margin: float
    reference: ReferenceData
    records: dict[str, dict[UUID, Any]] = field(default_factory=dict)
    notes: dict[str, set[Any]] = field(default_factory=dict)  # per-entity scratch (finish)
    # Records the batch creates: written in bulk once every mutation and hook has run.
    created: dict[str, list[Any]] = field(default_factory=dict)

    def create(self, entity: str, record: Any) -> None:
        self.created.setdefault(entity, []).append(record)
        self.remember(entity, record)

    @classmethod
    def open(
        cls, uow: UnitOfWork, deps: SyncDeps, caller: Caller, lab_id: UUID, now: datetime
    ) -> Batch:
        return cls(
            uow=uow,
            audit=Auditor.of(uow, deps.clock, caller),
            principal=caller.principal,
            lab_id=lab_id,
            device_id=caller.meta.device_id or "",
            now=now,
            ids=deps.ids,
            margin=deps.margin,
            reference=uow.reference(),
        )

    def record(self, entity: str, record_id: UUID) -> Any | None:
        return self.records.setdefault(entity, {}).get(record_id)

    def remember(self, entity: str, record: Any) -> None:
        self.records.setdefault(entity, {})[record.id] = record

    def note(self, key: str, value: Any) -> None:
        self.notes.setdefault(key, set()).add(value)


@dataclass(frozen=True)
class SyncDeps:
    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    entities: Mapping[str, SyncEntity]
    margin: float = DEFAULT_MARGIN
    tombstone_retention: timedelta = DEFAULT_TOMBSTONE_RETENTION


# --- cursors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a device is in its lab's change feed, and when it was handed out."""

    position: FeedPosition
    lab_id: UUID
    issued_at: datetime

    def encode(self) -> str:
        raw = json.dumps(
            {
                "p": [self.position.txid, self.position.seq],
                "l": str(self.lab_id),
                "t": int(self.issued_at.timestamp()),
            },
            separators=(",", ":"),
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            txid, seq = (int(x) for x in raw["p"])
            return cls(
                FeedPosition(txid, seq),
                UUID(raw["l"]),
                datetime.fromtimestamp(int(raw["t"]), UTC),
            )
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            raise ValidationFailed({"cursor": ["Invalid cursor: start again with null"]}) from exc


# --- the use cases -----------------------------------------------------------------------


def _sync_lab(principal: Principal) -> UUID:
    if principal.lab_id is None:
        raise Forbidden("You belong to no lab yet, so there is nothing to sync")
    return principal.lab_id


def _command_problems(cmd: SyncCommand) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if not cmd.device_id or not cmd.device_id.strip() or len(cmd.device_id) > DEVICE_ID_MAX:
        problems["device_id"] = [f"A non-empty id of at most {DEVICE_ID_MAX} characters"]
    if len(cmd.mutations) > MAX_BATCH:
        problems["mutations"] = [f"At most {MAX_BATCH} mutations per request"]
    if cmd.pull_limit < 0:
        problems["pull_limit"] = ["Must be 0 or more"]
    return problems


@dataclass(frozen=True)
class _Parsed:
    """A mutation whose envelope (entity, op, id, versions, time) is valid."""

    mutation: Mutation
    entity: SyncEntity
    op: MutationOp
    id: UUID
    stamp: Stamp
    client_time: datetime | None

    def result(self, status: Outcome, record: Any) -> MutationResult:
        return MutationResult(
            self.mutation.mutation_id, status, self.entity.name, str(self.id), record.version
        )


class Sync:
    """`POST /sync`: push a batch, then pull a page."""

    def __init__(self, deps: SyncDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: SyncCommand) -> SyncResult:
        principal = caller.principal
        lab_id = _sync_lab(principal)
        problems = _command_problems(cmd)
        cursor = None
        if cmd.cursor:
            try:
                cursor = Cursor.decode(cmd.cursor)
            except ValidationFailed as exc:
                problems.update(exc.field_errors)
        if problems:
            raise ValidationFailed(problems)
        if cmd.mutations:
            require_writer(principal)
        caller = replace(caller, meta=replace(caller.meta, device_id=cmd.device_id))
        try:
            pushed = self._push(caller, lab_id, cmd)
        except DomainError:
            raise
        except Exception as exc:
            self._record_failure(cmd.device_id, principal, exc)
            raise
        last_mutation_id, results, conflicts = pushed
        changes, next_cursor, has_more, reset = self._pull(
            lab_id, cursor, min(cmd.pull_limit, MAX_PULL)
        )
        return SyncResult(
            last_mutation_id, results, conflicts, changes, next_cursor, has_more, reset
        )

    # -- push --

    def _push(
        self, caller: Caller, lab_id: UUID, cmd: SyncCommand
    ) -> tuple[int, list[MutationResult], list[ConflictSummary]]:
        deps = self._deps
        principal = caller.principal
        with deps.uow() as uow:
            now = deps.clock.now()
            device = uow.sync_devices.get(cmd.device_id, lock=bool(cmd.mutations))
            if device is None:
                device = SyncDevice(cmd.device_id, principal.user_id, lab_id, created_at=now)
                uow.sync_devices.add(device)
            elif device.user_id != principal.user_id:
                raise Forbidden("This device id belongs to another user")
            elif (
                not cmd.mutations
                and device.lab_id == lab_id
                and device.last_sync_at is not None
                and device.last_sync_at > now - PULL_STAMP_PRECISION
            ):
                # Pulling page after page: no write (and no commit to flush) per page.
                return device.last_mutation_id, [], []
            device.lab_id = lab_id
            duplicates, todo = _split(cmd.mutations, device.last_mutation_id)
            batch = Batch.open(uow, deps, caller, lab_id, now)
            self._lock(batch, todo)
            results: list[MutationResult] = []
            conflicts: list[ConflictSummary] = []
            for m in todo:
                outcome = self._apply(batch, m)
                results.append(outcome[0])
                if outcome[1] is not None:
                    conflicts.append(outcome[1])
            for entity in deps.entities.values():
                entity.finish(batch)
            for name, entity in deps.entities.items():  # in entity order: samples first
                if batch.created.get(name):
                    entity.insert(uow, batch.created[name])
            results = self._duplicates(uow, lab_id, duplicates) + results
            rejected = [r for r in results if r.status is Outcome.REJECTED]
            device.last_sync_at = now
            if todo:  # a pure re-send keeps the status of the batch it repeats
                device.last_mutation_id = todo[-1].mutation_id
                device.status = DeviceStatus.PARTIAL if rejected else DeviceStatus.OK
                device.last_error = _rejections(rejected) if rejected else None
            uow.commit()
            # Versions are final once committed: read them after the finish hooks ran.
            results = [_final_version(batch, r) for r in results]
            conflicts = [replace(c, version=_version_of(batch, c.entity, c.id)) for c in conflicts]
            return device.last_mutation_id, results, conflicts

    def _lock(self, batch: Batch, todo: Sequence[Mutation]) -> None:
        """Lock every record the batch may change, entity by entity, each in id order."""
        wanted: dict[str, set[UUID]] = {name: set() for name in self._deps.entities}
        for m in todo:
            record_id = parse_uuid(m.id)
            if m.entity in wanted and record_id is not None:
                wanted[m.entity].add(record_id)
        for name, entity in self._deps.entities.items():
            if wanted[name]:
                batch.records[name] = entity.load(batch.uow, wanted[name], lock=True)
            for other, ids in entity.related(batch, todo).items():
                wanted.setdefault(other, set()).update(ids)

    def _duplicates(
        self, uow: UnitOfWork, lab_id: UUID, duplicates: Sequence[Mutation]
    ) -> list[MutationResult]:
        versions: dict[tuple[str, UUID], int] = {}
        by_entity: dict[str, set[UUID]] = {}
        for m in duplicates:
            record_id = parse_uuid(m.id)
            if m.entity in self._deps.entities and record_id is not None:
                by_entity.setdefault(m.entity, set()).add(record_id)
        for name, ids in by_entity.items():
            for record_id, record in self._deps.entities[name].load(uow, ids, lock=False).items():
                if record.lab_id == lab_id:
                    versions[(name, record_id)] = record.version
        out = []
        for m in duplicates:
            record_id = parse_uuid(m.id)
            version = versions.get((m.entity, record_id)) if record_id else None
            out.append(
                MutationResult(
                    m.mutation_id, Outcome.DUPLICATE, _text(m.entity), _text(m.id), version
                )
            )
        return out

    def _apply(self, batch: Batch, m: Mutation) -> tuple[MutationResult, ConflictSummary | None]:
        try:
            p = self._parse(batch, m)
            record = batch.record(p.entity.name, p.id)
            if record is not None and record.lab_id != batch.lab_id:
                raise NotFound(f"No {p.entity.name} with this id in your lab")
            if p.op is MutationOp.DELETE:
                return self._delete(batch, p, record)
            values = p.entity.decode(_mapping(m.data, "data"))
            if record is None:
                p.entity.check(batch, None, values)
                record = p.entity.create(batch, p.id, values)
                return p.result(Outcome.APPLIED, record), None
            changes = _changed(values, m.changed_fields)
            p.entity.check(batch, record, changes)
            return self._update(batch, p, record, changes)
        except DomainError as exc:
            error = MutationError(
                exc.code,
                exc.message,
                exc.field_errors if isinstance(exc, ValidationFailed) else {},
            )
            return MutationResult(
                m.mutation_id, Outcome.REJECTED, _text(m.entity), _text(m.id), error=error
            ), None

    def _parse(self, batch: Batch, m: Mutation) -> _Parsed:
        problems: dict[str, list[str]] = {}
        entity = self._deps.entities.get(m.entity) if isinstance(m.entity, str) else None
        if entity is None:
            problems["entity"] = [f"One of: {', '.join(self._deps.entities)}"]
        op = MutationOp(m.op) if m.op in tuple(MutationOp) else None
        if op is None:
            problems["op"] = ["One of: upsert, delete"]
        rid = parse_uuid(m.id)
        if rid is None:
            problems["id"] = ["Must be a UUID"]
        if m.base_version is not None and (
            isinstance(m.base_version, bool)
            or not isinstance(m.base_version, int)
            or m.base_version < 1
        ):
            problems["base_version"] = ["Null for a create, else a version (1 or more)"]
        client_time = parse_timestamp(m.modified_at)
        if m.modified_at is not None and client_time is None:
            problems["modified_at"] = ["Must be an RFC 3339 timestamp"]
        # Whatever the op: a delete that carries a malformed `data` is a malformed mutation.
        if m.data is not None and not isinstance(m.data, Mapping):
            problems["data"] = ["An object with the record's fields, or null"]
        if m.changed_fields is not None and not (
            isinstance(m.changed_fields, list) and all(isinstance(f, str) for f in m.changed_fields)
        ):
            problems["changed_fields"] = ["A list of field names, or null"]
        if problems:
            raise ValidationFailed(problems)
        assert entity is not None and op is not None and rid is not None
        when = effective_time(client_time, batch.now) if client_time else batch.now
        return _Parsed(m, entity, op, rid, Stamp(when, batch.device_id), client_time)

    def _update(
        self, batch: Batch, p: _Parsed, record: Any, changes: dict[str, Any]
    ) -> tuple[MutationResult, ConflictSummary | None]:
        entity = p.entity
        normalized = {**entity.normalize(batch, record, changes), DELETED: False}
        current = {**entity.current(batch, record), DELETED: record.is_deleted}
        if p.mutation.base_version is None and all(
            current.get(k) == v for k, v in normalized.items()
        ):
            # A create replayed with the same content (e.g. by a reinstalled app): a no-op.
            return p.result(Outcome.APPLIED, record), None
        server_data = _server_data(entity, record)
        outcome = merge(
            current_version=record.version,
            current=current,
            clock=_clock(entity, record),
            base_version=p.mutation.base_version,
            changes=normalized,
            stamp=p.stamp,
        )
        fields = {k: changes[k] for k in outcome.apply if k != DELETED}
        revive = outcome.apply.get(DELETED) is False
        _write(
            batch,
            entity,
            record,
            fields,
            revive=revive,
            stamp=p.stamp,
            stamped=outcome.apply,
            agreed=outcome.agreed,
        )
        return self._outcome(batch, p, record, outcome, server_data=server_data, changes=changes)

    def _delete(
        self, batch: Batch, p: _Parsed, record: Any | None
    ) -> tuple[MutationResult, ConflictSummary | None]:
        if record is None:  # never reached the server: nothing to delete
            return MutationResult(
                p.mutation.mutation_id, Outcome.APPLIED, p.entity.name, str(p.id)
            ), None
        server_data = _server_data(p.entity, record)
        outcome = merge(
            current_version=record.version,
            current={DELETED: record.is_deleted},
            clock=_clock(p.entity, record),
            base_version=p.mutation.base_version,
            changes={DELETED: True},
            stamp=p.stamp,
        )
        if outcome.apply.get(DELETED) and record.is_deleted:
            # Deleting a tombstone again still counts: its later stamp must beat an older
            # update that syncs after it, as it would have if it had synced first.
            _write(
                batch,
                p.entity,
                record,
                {},
                revive=False,
                stamp=p.stamp,
                stamped=[DELETED],
                agreed=outcome.agreed,
            )
        elif outcome.apply.get(DELETED):
            p.entity.delete(batch, record, p.stamp)
        return self._outcome(batch, p, record, outcome, server_data=server_data, changes={})

    def _outcome(
        self,
        batch: Batch,
        p: _Parsed,
        record: Any,
        outcome: Merge,
        *,
        server_data: dict[str, Any],
        changes: Mapping[str, Any],
    ) -> tuple[MutationResult, ConflictSummary | None]:
        if not outcome.conflicted:
            return p.result(Outcome.APPLIED, record), None
        assert outcome.resolution is not None
        m = p.mutation
        client_data = {
            "op": p.op.value,
            "data": m.data if isinstance(m.data, dict) else None,
            "changed_fields": sorted(changes) if p.op is MutationOp.UPSERT else None,
            "base_version": m.base_version,
            "modified_at": p.client_time.isoformat() if p.client_time else None,
            "effective_modified_at": p.stamp.at.isoformat(),
            "received_at": batch.now.isoformat(),
        }
        detail = {
            "server_kept": sorted(outcome.server_kept),
            "client_won": sorted(outcome.client_won),
        }
        conflict = SyncConflict(
            id=batch.ids.new_id(),
            lab_id=batch.lab_id,
            entity=p.entity.name,
            record_id=record.id,
            device_id=batch.device_id,
            user_id=batch.principal.user_id,
            mutation_id=m.mutation_id,
            resolution=outcome.resolution,
            server_data=server_data,
            client_data=client_data,
            version=record.version,
            created_at=batch.now,
            detail=detail,
        )
        batch.uow.sync_conflicts.add(conflict)
        batch.audit.created(
            AuditEntityType.CONFLICT,
            conflict.id,
            {
                "entity": p.entity.name,
                "record_id": str(record.id),
                "resolution": outcome.resolution.value,
                "server_version": server_data,
                "client_version": client_data,
                **detail,
            },
            lab_id=batch.lab_id,
        )
        summary = ConflictSummary(
            conflict.id,
            p.entity.name,
            record.id,
            outcome.resolution.value,
            record.version,
            server_data,
            client_data,
        )
        return replace(p.result(Outcome.CONFLICT, record), conflict_id=conflict.id), summary

    def _record_failure(self, device_id: str, principal: Principal, exc: Exception) -> None:
        """Best effort: the batch advanced nothing; say so in the device's status."""
        try:
            with self._deps.uow() as uow:
                device = uow.sync_devices.get(device_id, lock=True)
                if device is not None and device.user_id == principal.user_id:
                    device.status = DeviceStatus.ERROR
                    device.last_error = (
                        f"The last batch failed and was not applied ({type(exc).__name__})"
                    )
                    uow.commit()
        except Exception:  # noqa: S110 - the original failure is what matters
            pass

    # -- pull --

    def _pull(
        self, lab_id: UUID, cursor: Cursor | None, limit: int
    ) -> tuple[list[ChangeView], str, bool, bool]:
        deps = self._deps
        now = deps.clock.now()
        if cursor is not None and (
            cursor.lab_id != lab_id or cursor.issued_at < now - deps.tombstone_retention
        ):
            return [], Cursor(ORIGIN, lab_id, now).encode(), True, True
        position = cursor.position if cursor else ORIGIN
        changes: list[ChangeView] = []
        has_more = False
        if limit > 0:
            with deps.uow(read_only=True) as uow:
                items = uow.changes.after(lab_id, list(deps.entities), position, limit + 1)
                has_more = len(items) > limit
                for item in items[:limit]:
                    entity = deps.entities[item.entity]
                    record = item.record
                    deleted = record.deleted_at is not None
                    data: dict[str, Any] | RawJson | None = None
                    if not deleted:
                        data = (
                            entity.wire(record)
                            if item.data_json is None
                            else RawJson(item.data_json)
                        )
                    changes.append(
                        ChangeView(
                            entity.name,
                            MutationOp.DELETE if deleted else MutationOp.UPSERT,
                            record.id,
                            record.version,
                            data,
                        )
                    )
                    position = item.position
        return changes, Cursor(position, lab_id, now).encode(), has_more, False


class SyncStatus:
    """`GET /sync/status?device_id=`: the device's SyncLog (its owner, or an admin)."""

    def __init__(self, deps: SyncDeps):
        self._deps = deps

    def __call__(self, caller: Caller, device_id: str) -> DeviceView:
        with self._deps.uow(read_only=True) as uow:
            device = uow.sync_devices.get(device_id)
            if device is None or not can_see_lab(caller.principal, device.lab_id):
                raise NotFound("No device with this id has synced")
            if device.user_id != caller.principal.user_id and not caller.principal.is_admin:
                raise Forbidden("This device id belongs to another user")
            return DeviceView.of(device)


class ListConflicts:
    def __init__(self, deps: SyncDeps):
        self._deps = deps

    def __call__(
        self,
        caller: Caller,
        *,
        entity: str | None = None,
        resolved: bool | None = None,
        page: PageRequest = PageRequest(),
    ) -> PageView[ConflictView]:
        lab_id = _sync_lab(caller.principal)
        if entity is not None and entity not in self._deps.entities:
            raise ValidationFailed({"entity": [f"One of: {', '.join(self._deps.entities)}"]})
        with self._deps.uow(read_only=True) as uow:
            found = uow.sync_conflicts.list(ConflictQuery(lab_id, entity, resolved, page))
            return PageView.of(found, [ConflictView.of(c) for c in found.items])


@dataclass(frozen=True)
class ResolveConflictCommand:
    conflict_id: UUID
    resolution: ManualResolution
    data: Mapping[str, Any] | None = None


class ResolveConflict:
    """A person overrides the automatic outcome: a new version every device will pull."""

    def __init__(self, deps: SyncDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: ResolveConflictCommand) -> ConflictView:
        principal = caller.principal
        require_writer(principal)
        if cmd.resolution is ManualResolution.CUSTOM and not cmd.data:
            raise ValidationFailed({"data": ["Required for a custom resolution"]})
        deps = self._deps
        with deps.uow() as uow:
            conflict = uow.sync_conflicts.get(cmd.conflict_id, lock=True)
            if conflict is None or not can_see_lab(principal, conflict.lab_id):
                raise NotFound("Conflict not found")
            entity = deps.entities[conflict.entity]
            record = entity.load(uow, [conflict.record_id], lock=True).get(conflict.record_id)
            if record is None:
                raise NotFound("The conflicting record no longer exists")
            now = deps.clock.now()
            batch = Batch.open(uow, deps, caller, record.lab_id, now)
            batch.remember(entity.name, record)
            values, delete = _chosen(entity, conflict, cmd)
            stamp = Stamp(now, batch.device_id)
            if delete:
                if not record.is_deleted:
                    entity.delete(batch, record, stamp)
            else:
                entity.check(batch, record, values)
                _write(batch, entity, record, values, revive=True, stamp=stamp)
            entity.finish(batch)
            before_conflict = {"resolved": conflict.resolved}
            conflict.resolved, conflict.resolved_by, conflict.resolved_at = (
                True,
                principal.user_id,
                now,
            )
            conflict.manual_resolution = cmd.resolution
            conflict.version = record.version
            batch.audit.resolved(
                AuditEntityType.CONFLICT,
                conflict.id,
                before_conflict,
                {
                    "resolved": True,
                    "resolution": cmd.resolution.value,
                    "data": dict(cmd.data) if cmd.data else None,
                    "record_version": record.version,
                },
                lab_id=conflict.lab_id,
            )
            uow.commit()
            return ConflictView.of(conflict)


# --- helpers -----------------------------------------------------------------------------


def _split(mutations: Sequence[Mutation], last: int) -> tuple[list[Mutation], list[Mutation]]:
    """(duplicates, the contiguous run after `last`); processing stops at the first gap."""
    duplicates: list[Mutation] = []
    todo: list[Mutation] = []
    expected = last + 1
    for m in mutations:
        if m.mutation_id < expected:  # already applied (or repeated within this batch)
            duplicates.append(m)
            continue
        if m.mutation_id != expected:
            break
        todo.append(m)
        expected += 1
    return duplicates, todo


def _changed(values: dict[str, Any], changed_fields: Any) -> dict[str, Any]:
    if changed_fields is None:
        return values
    if not isinstance(changed_fields, list) or not all(isinstance(f, str) for f in changed_fields):
        raise ValidationFailed({"changed_fields": ["A list of field names"]})
    missing = [f for f in changed_fields if f not in values]
    if missing:
        raise ValidationFailed({"changed_fields": [f"Not in data: {', '.join(sorted(missing))}"]})
    return {k: values[k] for k in changed_fields}


def _write(
    batch: Batch,
    entity: SyncEntity,
    record: Any,
    values: Mapping[str, Any],
    *,
    revive: bool,
    stamp: Stamp,
    stamped: Collection[str] | None = None,
    agreed: Collection[str] = (),
) -> None:
    """Write checked values (and bring a tombstone back when `revive`) as a new version,
    its fields stamped and audited.

    `stamped` is what a merge applies: each of those fields is written, even one whose
    value stays (its stamp must decide against an edit that syncs afterwards just as it
    would against one that synced before), so a non-empty `stamped` is always a new
    version; the `agreed` ones among them are marked (see `domain.sync.merge`).
    Without it (a manual resolution) only a real change is one, stamping the values and
    `deleted`."""
    before = record.snapshot()
    revived = revive and record.is_deleted
    if revived:
        record.deleted_at = None
    changed = entity.write(batch, record, values) if values else []
    if changed or revived or stamped:
        record.touch(batch.now, batch.principal.user_id)
        record.stamp(list(stamped) if stamped is not None else [*values, DELETED], stamp)
        if agreed:
            record.sync_clock = marked_agreed(record.sync_clock, agreed)
        batch.audit.updated(
            entity.audit_type, record.id, before, record.snapshot(), lab_id=record.lab_id
        )


def _clock(entity: SyncEntity, record: Any) -> dict[str, FieldStamp]:
    """The record's field clock; a field never written since creation counts as version 1."""
    clock = read_clock(record.sync_clock)
    created = FieldStamp(1, Stamp(record.created_at))
    for name in (*entity.fields, DELETED):
        clock.setdefault(name, created)
    return clock


def _server_data(entity: SyncEntity, record: Any) -> dict[str, Any]:
    return {**entity.wire(record), "deleted": record.is_deleted}


def _chosen(
    entity: SyncEntity, conflict: SyncConflict, cmd: ResolveConflictCommand
) -> tuple[dict[str, Any], bool]:
    """(values to write, delete?) for a manual resolution."""
    client = conflict.client_data
    client_fields = client.get("changed_fields") or list((client.get("data") or {}).keys())
    if cmd.resolution is ManualResolution.CUSTOM:
        return entity.decode(dict(cmd.data or {})), False
    if cmd.resolution is ManualResolution.CLIENT_WON:
        if client.get("op") == MutationOp.DELETE:
            return {}, True
        data = client.get("data") or {}
        return entity.decode({k: data[k] for k in client_fields if k in data}), False
    server = conflict.server_data or {}
    if server.get("deleted"):
        return {}, True
    return entity.decode({k: server[k] for k in client_fields if k in server}), False


def _final_version(batch: Batch, result: MutationResult) -> MutationResult:
    if result.status in (Outcome.APPLIED, Outcome.CONFLICT) and result.entity and result.id:
        version = _version_of(batch, result.entity, parse_uuid(result.id))
        if version is not None:
            return replace(result, version=version)
    return result


def _version_of(batch: Batch, entity: str, record_id: UUID | None) -> Any:
    record = batch.record(entity, record_id) if record_id else None
    return record.version if record is not None else None


def _rejections(rejected: Sequence[MutationResult]) -> str:
    last = rejected[-1]
    code = last.error.code if last.error else "REJECTED"
    return f"{len(rejected)} mutation(s) rejected; last: mutation {last.mutation_id} ({code})"


def parse_uuid(value: Any) -> UUID | None:
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationFailed({name: ["An object with the record's fields"]})
    return value


def parse_timestamp(value: Any) -> datetime | None:
    """RFC 3339 (or a plain date = midnight UTC) → aware UTC datetime; None if it is not one."""
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None
