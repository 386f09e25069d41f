"""Samples and test results as sync entities: the same rules as their REST endpoints.

Each class adapts the lab-data functions of `application/samples.py` (validation,
judging, tombstones) to the engine's `SyncEntity` interface, so a synced edit is checked,
judged and audited exactly like the same edit made through the API.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from application.samples import (
    RESULT_FIELDS,
    SAMPLE_FIELDS,
    measure,
    new_result,
    new_sample,
    raise_if_any,
    refresh_sample_statuses,
    remeasure_result,
    result_values,
    sample_problems,
    sample_value,
    set_sample_fields,
    tombstone_result,
    tombstone_sample,
)
from application.sync import Batch, Mutation, SyncEntity, parse_timestamp, parse_uuid
from domain.audit import AuditEntityType
from domain.errors import ValidationFailed
from domain.lab_data import Sample, TestResult
from domain.ports import UnitOfWork
from domain.sync import Stamp

# Fields a client may echo back from a pulled record; they are the server's to set.
SERVER_FIELDS = frozenset(
    {
        "id",
        "lab_id",
        "compliance_status",
        "evaluations",
        "version",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
        "results",
        "deleted",
    }
)
REFRESH_SAMPLES = "result:samples-to-refresh"


def _ts(moment: datetime) -> str:
    text = moment.isoformat()
    if text.endswith("+00:00"):  # what the database hands back (its sessions run in UTC)
        return text[:-6] + "Z"
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _id(value: UUID | None) -> str | None:
    return str(value) if value is not None else None


def _decode(
    data: Mapping[str, Any], fields: Collection[str], timestamps: Collection[str]
) -> dict[str, Any]:
    unknown = [k for k in data if k not in fields and k not in SERVER_FIELDS]
    if unknown:
        raise ValidationFailed({k: ["Unknown field"] for k in unknown})
    values = {k: v for k, v in data.items() if k in fields}
    # The database cannot store U+0000; refusing it here rejects this mutation, not the batch.
    if holding_nul := [k for k, v in values.items() if isinstance(v, str) and "\x00" in v]:
        raise ValidationFailed({k: ["Text may not contain NUL characters"] for k in holding_nul})
    for name in timestamps:
        if name in values:
            parsed = parse_timestamp(values[name])
            values[name] = parsed if parsed is not None else values[name]
    return values


class SampleSync(SyncEntity):
    name = "sample"
    audit_type = AuditEntityType.SAMPLE
    fields = SAMPLE_FIELDS

    def load(self, uow: UnitOfWork, ids: Collection[UUID], *, lock: bool) -> dict[UUID, Any]:
        return dict(uow.samples.get_many(ids, lock=lock))

    def decode(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return _decode(data, SAMPLE_FIELDS, ("collection_date",))

    def check(self, batch: Batch, record: Any | None, values: Mapping[str, Any]) -> None:
        raise_if_any(sample_problems(values, creating=record is None))

    def current(self, batch: Batch, record: Sample) -> dict[str, Any]:
        return {name: getattr(record, name) for name in SAMPLE_FIELDS}

    def normalize(self, batch: Batch, record: Sample, values: Mapping[str, Any]) -> dict[str, Any]:
        return {name: sample_value(name, value) for name, value in values.items()}

    def create(self, batch: Batch, record_id: UUID, values: Mapping[str, Any]) -> Sample:
        sample = new_sample(values, record_id, batch.lab_id, batch.now, batch.principal.user_id)
        batch.create(self.name, sample)
        batch.audit.created(self.audit_type, sample.id, sample.snapshot(), lab_id=sample.lab_id)
        return sample

    def write(self, batch: Batch, record: Sample, values: Mapping[str, Any]) -> list[str]:
        return set_sample_fields(record, values)

    def delete(self, batch: Batch, record: Sample, stamp: Stamp) -> None:
        for result in batch.created.get("result", []):  # its results new in this batch
            if result.sample_id == record.id and not result.is_deleted:
                tombstone_result(batch.audit, result, batch.now, stamp)
        tombstone_sample(batch.uow, batch.audit, record, batch.now, stamp)

    def insert(self, uow: UnitOfWork, records: Sequence[Any]) -> None:
        uow.samples.add_many(records)

    def wire(self, record: Sample) -> dict[str, Any]:
        """`SampleView` without results, JSON-ready (built by hand: pulls send thousands).

        Enum members go as they are: they are `str`s, serialized as their value, and
        `Enum.value` is a slow property.
        """
        return {
            "id": str(record.id),
            "lab_id": str(record.lab_id),
            "type": record.type,
            "location": record.location,
            "latitude": record.latitude,
            "longitude": record.longitude,
            "collection_date": _ts(record.collection_date),
            "collector_name": record.collector_name,
            "status": record.status,
            "compliance_status": record.compliance_status,
            "notes": record.notes,
            "version": record.version,
            "created_at": _ts(record.created_at),
            "created_by": _id(record.created_by),
            "updated_at": _ts(record.updated_at),
            "updated_by": _id(record.updated_by),
        }


class ResultSync(SyncEntity):
    name = "result"
    audit_type = AuditEntityType.RESULT
    fields = RESULT_FIELDS

    def load(self, uow: UnitOfWork, ids: Collection[UUID], *, lock: bool) -> dict[UUID, Any]:
        return dict(uow.results.get_many(ids, lock=lock))

    def related(self, batch: Batch, mutations: Sequence[Mutation]) -> dict[str, set[UUID]]:
        """The samples whose status the batch's results will change: locked after the
        results, the order in which the REST API's own writes take them too."""
        sample_ids = {r.sample_id for r in batch.records.get(self.name, {}).values()}
        for m in mutations:
            named = m.data.get("sample_id") if isinstance(m.data, Mapping) else None
            if m.entity == self.name and (sid := parse_uuid(named)) is not None:
                sample_ids.add(sid)
        return {"sample": sample_ids}

    def decode(self, data: Mapping[str, Any]) -> dict[str, Any]:
        values = _decode(data, {*RESULT_FIELDS, "sample_id"}, ("test_date",))
        if "sample_id" in values:
            values["sample_id"] = parse_uuid(values["sample_id"]) or values["sample_id"]
        return values

    def _sample(self, batch: Batch, sample_id: Any) -> Sample | None:
        if not isinstance(sample_id, UUID):
            return None
        sample = batch.record("sample", sample_id)
        if sample is None:
            sample = batch.uow.samples.get_including_deleted(sample_id)
        if sample is None or sample.is_deleted or sample.lab_id != batch.lab_id:
            return None
        return sample

    def check(self, batch: Batch, record: TestResult | None, values: Mapping[str, Any]) -> None:
        problems: dict[str, list[str]] = {}
        if record is None:
            if self._sample(batch, values.get("sample_id")) is None:
                problems["sample_id"] = ["Name a live sample of your lab"]
            merged = dict(values)
        else:
            if "sample_id" in values and values["sample_id"] != record.sample_id:
                problems["sample_id"] = ["A result cannot move to another sample"]
            merged = {**result_values(record), **values}
        try:
            measure(batch.reference, merged)
        except ValidationFailed as exc:
            problems.update(exc.field_errors)
        raise_if_any(problems)

    def current(self, batch: Batch, record: TestResult) -> dict[str, Any]:
        return result_values(record)

    def normalize(
        self, batch: Batch, record: TestResult, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        merged = {**result_values(record), **values}
        measured = measure(batch.reference, merged)
        stored = {
            **merged,
            "parameter": measured.parameter.code,
            "value": measured.value,
            "unit": measured.unit,
            "qualifier": measured.qualifier.value,
            "detection_limit": measured.detection_limit,
        }
        return {name: stored[name] for name in values if name in stored}

    def create(self, batch: Batch, record_id: UUID, values: Mapping[str, Any]) -> TestResult:
        sample = self._sample(batch, values.get("sample_id"))
        assert sample is not None  # checked
        result = new_result(
            batch.reference,
            sample,
            measure(batch.reference, values),
            values,
            result_id=record_id,
            now=batch.now,
            by=batch.principal.user_id,
            margin=batch.margin,
        )
        batch.create(self.name, result)
        batch.audit.created(self.audit_type, result.id, result.snapshot(), lab_id=result.lab_id)
        batch.note(REFRESH_SAMPLES, sample.id)
        return result

    def write(self, batch: Batch, record: TestResult, values: Mapping[str, Any]) -> list[str]:
        changes = {k: v for k, v in values.items() if k != "sample_id"}
        changed = remeasure_result(batch.reference, record, changes, batch.margin)
        if changed:
            batch.note(REFRESH_SAMPLES, record.sample_id)
        return changed

    def delete(self, batch: Batch, record: TestResult, stamp: Stamp) -> None:
        tombstone_result(batch.audit, record, batch.now, stamp)
        batch.note(REFRESH_SAMPLES, record.sample_id)

    def finish(self, batch: Batch) -> None:
        ids = sorted(batch.notes.pop(REFRESH_SAMPLES, set()))
        samples = [s for s in (self._sample(batch, i) for i in ids) if s is not None]
        unsaved = batch.created.get(self.name, [])
        unstored = {s.id for s in batch.created.get("sample", [])}
        refresh_sample_statuses(
            batch.uow, batch.audit, samples, batch.now, unsaved=unsaved, unstored=unstored
        )

    def insert(self, uow: UnitOfWork, records: Sequence[Any]) -> None:
        uow.results.add_many(records)

    def wire(self, record: TestResult) -> dict[str, Any]:
        """`ResultView`, JSON-ready."""
        return {
            "id": str(record.id),
            "sample_id": str(record.sample_id),
            "parameter": record.parameter,
            "value": record.value,
            "qualifier": record.qualifier,
            "detection_limit": record.detection_limit,
            "unit": record.unit,
            "test_date": _ts(record.test_date),
            "technician_name": record.technician_name,
            "test_method": record.test_method,
            "compliance_status": record.compliance_status,
            "evaluations": record.evaluations,
            "notes": record.notes,
            "version": record.version,
            "created_at": _ts(record.created_at),
            "created_by": _id(record.created_by),
            "updated_at": _ts(record.updated_at),
            "updated_by": _id(record.updated_by),
        }


def lab_data_entities() -> dict[str, SyncEntity]:
    """The entities synced today, in lock order: results, then the samples they touch."""
    return {"result": ResultSync(), "sample": SampleSync()}
