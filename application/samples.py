"""Samples and test results: record, correct, delete, judge against every standard.

Authorization: admins work in every lab; technicians read and write their own lab;
viewers read their own lab. Another lab's record does not exist for a non-admin (404);
a write by a viewer is 403. Every change is audited in the same unit of work, and a
sample's compliance status (worst of its live results, `pending` without any) is kept
right on every result change — a change of it is itself an audited sample update.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from application.auditing import Auditor
from application.context import Caller, Principal
from application.policy import can_see_lab
from application.views import PageView, RawJson, ResultView, SampleDetail, SampleView
from domain.audit import AuditEntityType
from domain.compliance import (
    DEFAULT_MARGIN,
    ComplianceStatus,
    Limit,
    ParameterKind,
    Qualifier,
    Reading,
    evaluate,
    result_status,
    sample_status,
)
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.lab_data import (
    Parameter,
    ReferenceData,
    Sample,
    SampleStatus,
    SampleType,
    Standard,
    StandardLimit,
    TestResult,
)
from domain.model import ensure_version
from domain.paging import Page
from domain.ports import Clock, IdGenerator, SampleQuery, UnitOfWork, UnitOfWorkFactory
from domain.roles import Role
from domain.sync import DELETED, Stamp
from domain.units import to_canonical

TEXT_MAX = 200
NOTES_MAX = 10_000

SAMPLE_FIELDS = (
    "type",
    "location",
    "latitude",
    "longitude",
    "collection_date",
    "collector_name",
    "status",
    "notes",
)
RESULT_FIELDS = (
    "parameter",
    "value",
    "qualifier",
    "detection_limit",
    "unit",
    "test_date",
    "technician_name",
    "test_method",
    "notes",
)


class ParameterLookup(Protocol):
    def get_by_code(self, code: str) -> Parameter | None: ...


class LimitLookup(Protocol):
    def all(self) -> list[Standard]: ...

    def limits_for_parameter(self, parameter_code: str) -> list[StandardLimit]: ...


class ReferenceSource(Protocol):
    """Where parameters and limits come from: `uow.reference()` (what writes judge with),
    or a unit of work's own repositories (what a re-evaluation after an edit reads)."""

    @property
    def parameters(self) -> ParameterLookup: ...

    @property
    def standards(self) -> LimitLookup: ...


def change_stamp(caller: Caller, now: datetime) -> Stamp:
    """The stamp of a change made through the API (not replayed from a device's queue)."""
    return Stamp(now, caller.meta.device_id or "")


@dataclass(frozen=True)
class LabDataDeps:
    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    margin: float = DEFAULT_MARGIN


# --- authorization ---------------------------------------------------------------------


def require_writer(principal: Principal) -> None:
    if principal.role is Role.VIEWER:
        raise Forbidden("Viewers have read-only access")


def visible_sample(
    uow: UnitOfWork, principal: Principal, sample_id: UUID, *, lock: bool = False
) -> Sample:
    """`lock`: for a write that checks and changes the sample (its version or status)."""
    sample = uow.samples.get(sample_id, lock=lock)
    if sample is None or not can_see_lab(principal, sample.lab_id):
        raise NotFound("Sample not found")
    return sample


def visible_result(
    uow: UnitOfWork, principal: Principal, result_id: UUID, *, lock: bool = False
) -> TestResult:
    """`lock`: the result, then its sample (whose status the write recomputes): the order
    the sync engine takes them in too, so two writes never wait on each other in a cycle."""
    result = uow.results.get(result_id, lock=lock)
    if result is not None and lock:
        uow.samples.get(result.sample_id, lock=True)
    if result is None or not can_see_lab(principal, result.lab_id):
        raise NotFound("Result not found")
    return result


# --- validation --------------------------------------------------------------------------


def _text(value: Any, *, required: bool, limit: int = TEXT_MAX) -> list[str]:
    if value is None:
        return ["This field is required"] if required else []
    if not isinstance(value, str):
        return ["Must be a string"]
    if required and not value.strip():
        return ["Must not be empty"]
    return [f"Must be at most {limit} characters"] if len(value) > limit else []


def _number(value: Any, *, low: float | None = None, high: float | None = None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return ["Must be a finite number"]
    if (low is not None and value < low) or (high is not None and value > high):
        return [f"Must be between {low} and {high}"]
    return []


def _enum(value: Any, kind: type, *, required: bool) -> list[str]:
    if value is None:
        return ["This field is required"] if required else []
    try:
        kind(value)
    except ValueError:
        return [f"Must be one of: {', '.join(m.value for m in kind)}"]  # type: ignore[attr-defined]
    return []


def _moment(value: Any, *, required: bool) -> list[str]:
    if value is None:
        return ["This field is required"] if required else []
    if not isinstance(value, datetime) or value.tzinfo is None:
        return ["Must be an RFC 3339 timestamp"]
    return []


def sample_problems(values: Mapping[str, Any], *, creating: bool) -> dict[str, list[str]]:
    """Every problem of a sample's fields at once (REST and sync use the same rules)."""

    def has(name: str) -> bool:
        return creating or name in values

    checks: dict[str, Callable[[Any], list[str]]] = {
        "type": lambda v: _enum(v, SampleType, required=True),
        "location": lambda v: _text(v, required=True),
        "collector_name": lambda v: _text(v, required=True),
        "collection_date": lambda v: _moment(v, required=True),
        "latitude": lambda v: _number(v, low=-90, high=90),
        "longitude": lambda v: _number(v, low=-180, high=180),
        # On create a missing status means the default; an update cannot set it to null.
        "status": lambda v: _enum(v, SampleStatus, required=not creating),
        "notes": lambda v: _text(v, required=False, limit=NOTES_MAX),
    }
    problems = {name: check(values.get(name)) for name, check in checks.items() if has(name)}
    return {k: v for k, v in problems.items() if v}


def raise_if_any(problems: Mapping[str, list[str]]) -> None:
    if any(problems.values()):
        raise ValidationFailed({k: v for k, v in problems.items() if v})


# --- judging ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """A result's measurement after validation and conversion to the canonical unit."""

    parameter: Parameter
    value: float
    unit: str
    qualifier: Qualifier
    detection_limit: float | None


def measure(reference: ReferenceSource, values: Mapping[str, Any]) -> Measured:
    """Validate parameter, unit, value, qualifier and detection limit together."""
    problems: dict[str, list[str]] = {
        "value": _number(values.get("value"))
        or (["This field is required"] if values.get("value") is None else []),
        "unit": _text(values.get("unit"), required=True, limit=32),
        "qualifier": _enum(values.get("qualifier", "="), Qualifier, required=False),
        "detection_limit": _number(values.get("detection_limit"), low=0),
        "test_date": _moment(values.get("test_date"), required=True),
        "technician_name": _text(values.get("technician_name"), required=False),
        "test_method": _text(values.get("test_method"), required=False),
        "notes": _text(values.get("notes"), required=False, limit=NOTES_MAX),
    }
    code = values.get("parameter")
    parameter = reference.parameters.get_by_code(code) if isinstance(code, str) else None
    if parameter is None:
        problems["parameter"] = [
            f"Unknown parameter {code!r}" if code else "This field is required"
        ]
    converted = None
    if parameter is not None and not problems["value"] and not problems["unit"]:
        # Unit and plausibility are judged with the rest, so every problem comes at once.
        converted = to_canonical(
            float(values["value"]),
            None if problems["detection_limit"] else _float(values.get("detection_limit")),
            values["unit"],
            parameter.unit,
        )
        if converted is None:
            problems["unit"] = [
                f"{parameter.code} is measured in {parameter.unit}; got {values['unit']!r}"
            ]
        else:
            problems["value"] = _reading_problems(parameter, converted.value)
    raise_if_any(problems)
    assert parameter is not None and converted is not None
    qualifier = Qualifier(values.get("qualifier") or "=")
    return Measured(
        parameter, converted.value, converted.unit, qualifier, converted.detection_limit
    )


def _reading_problems(parameter: Parameter, value: float) -> list[str]:
    if parameter.kind is ParameterKind.PRESENCE_ABSENCE and value not in (0, 1):
        return ["Presence/absence: 0 (absent) or 1 (present)"]
    if not parameter.plausible(value):
        return [
            f"Outside the plausible range {parameter.min_value} to {parameter.max_value} "
            f"{parameter.unit}"
        ]
    return []


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def applicable_limits(source: ReferenceSource, parameter_code: str) -> list[Limit]:
    """Every standard's current limit for a parameter, with the standard's kind."""
    if isinstance(source, ReferenceData):
        return source.applicable_limits(parameter_code)
    kinds = {s.code: s.kind for s in source.standards.all()}
    return [
        limit.as_limit(kinds[limit.standard_code])
        for limit in source.standards.limits_for_parameter(parameter_code)
        if limit.standard_code in kinds
    ]


def judge(
    reading: Reading, kind: ParameterKind, limits: list[Limit], margin: float
) -> tuple[list[dict[str, Any]], ComplianceStatus]:
    evaluations = evaluate(reading, limits, kind, margin=margin)
    return [e.to_dict() for e in evaluations], result_status(evaluations)


def judge_measured(
    uow: ReferenceSource, measured: Measured, margin: float
) -> tuple[list[dict[str, Any]], ComplianceStatus]:
    reading = Reading(measured.value, measured.qualifier, measured.detection_limit)
    return judge(
        reading, measured.parameter.kind, applicable_limits(uow, measured.parameter.code), margin
    )


def refresh_sample_status(uow: UnitOfWork, audit: Auditor, sample: Sample, now: datetime) -> bool:
    """Recompute the derived status; an actual change is a new version, audited."""
    return refresh_sample_statuses(uow, audit, [sample], now) == 1


def refresh_sample_statuses(
    uow: UnitOfWork,
    audit: Auditor,
    samples: Sequence[Sample],
    now: datetime,
    *,
    unsaved: Sequence[TestResult] = (),
    unstored: Collection[UUID] = (),
) -> int:
    """`refresh_sample_status` for many samples with one query; how many changed.

    `unsaved`: new results not stored yet (a sync batch writes its new records last);
    `unstored`: ids of samples not stored yet either (none of their results can be).
    """
    statuses = uow.results.statuses_for_samples([s.id for s in samples if s.id not in unstored])
    statuses |= {s.id: [] for s in samples if s.id in unstored}
    for result in unsaved:
        if not result.is_deleted and result.sample_id in statuses:
            statuses[result.sample_id].append(result.compliance_status)
    return sum(_set_status(audit, s, sample_status(statuses[s.id]), now) for s in samples)


def _set_status(audit: Auditor, sample: Sample, status: ComplianceStatus, now: datetime) -> bool:
    if status == sample.compliance_status:
        return False
    before = sample.snapshot()
    sample.compliance_status = status
    sample.touch(now, audit.actor_id)
    audit.updated(
        AuditEntityType.SAMPLE, sample.id, before, sample.snapshot(), lab_id=sample.lab_id
    )
    return True


def reevaluate_parameter(
    uow: UnitOfWork, audit: Auditor, parameter_code: str, now: datetime, margin: float
) -> dict[str, int]:
    """Judge every live result of a parameter again with the current limits (explicit, audited).

    Stored results are already validated and in the canonical unit, so only the judgement
    is redone; the limits are loaded once.
    """
    parameter = uow.parameters.get_by_code(parameter_code)
    ids = uow.results.ids_for_parameter(parameter_code)
    if parameter is None or not ids:
        return {"reevaluated": 0, "changed_results": 0, "changed_samples": 0}
    limits = applicable_limits(uow, parameter_code)
    changed_results = 0
    samples: dict[UUID, Sample] = {}
    for result_id in ids:
        result = uow.results.get(result_id)
        if result is None:
            continue
        reading = Reading(result.value, result.qualifier, result.detection_limit)
        evaluations, status = judge(reading, parameter.kind, limits, margin)
        if evaluations == result.evaluations and status == result.compliance_status:
            continue
        before = result.snapshot()
        result.evaluations, result.compliance_status = evaluations, status
        result.touch(now, audit.actor_id)
        audit.updated(
            AuditEntityType.RESULT, result.id, before, result.snapshot(), lab_id=result.lab_id
        )
        changed_results += 1
        sample = uow.samples.get(result.sample_id)
        if sample is not None:
            samples[sample.id] = sample
    changed_samples = sum(refresh_sample_status(uow, audit, s, now) for s in samples.values())
    return {
        "reevaluated": len(ids),
        "changed_results": changed_results,
        "changed_samples": changed_samples,
    }


def _result_values(result: TestResult) -> dict[str, Any]:
    return {
        "parameter": result.parameter,
        "value": result.value,
        "qualifier": result.qualifier.value,
        "detection_limit": result.detection_limit,
        "unit": result.unit,
        "test_date": result.test_date,
        "technician_name": result.technician_name,
        "test_method": result.test_method,
        "notes": result.notes,
    }


# --- samples -----------------------------------------------------------------------------


class ListSamples:
    def __init__(self, deps: LabDataDeps):
        self._deps = deps

    def __call__(self, caller: Caller, query: SampleQuery) -> PageView[SampleView]:
        principal = caller.principal
        if not principal.is_admin:
            if principal.lab_id is None:  # no lab yet: no lab data
                return PageView.of(Page(items=[], total=0, request=query.page), [])
            query = _with_lab(query, principal.lab_id)
        with self._deps.uow(read_only=True) as uow:
            page = uow.samples.list(query)
            return PageView.of(page, [SampleView.of(s) for s in page.items])


def _with_lab(query: SampleQuery, lab_id: UUID) -> SampleQuery:
    return replace(query, lab_id=lab_id)


class GetSample:
    def __init__(self, deps: LabDataDeps):
        self._deps = deps

    def __call__(self, caller: Caller, sample_id: UUID) -> SampleDetail:
        with self._deps.uow(read_only=True) as uow:
            found = uow.samples.show_with_results(sample_id)
        if found is None or not can_see_lab(caller.principal, found.lab_id):
            raise NotFound("Sample not found")
        if found.data_json is not None:
            return SampleDetail(found.version, RawJson(found.data_json))
        assert found.records is not None  # a storage sends one or the other
        sample, results = found.records
        return SampleDetail(
            found.version, SampleView.of(sample, [ResultView.of(r) for r in results])
        )


def visible_sample_with_results(
    deps: LabDataDeps, principal: Principal, sample_id: UUID
) -> tuple[Sample, list[TestResult]]:
    with deps.uow(read_only=True) as uow:
        found = uow.samples.get_with_results(sample_id)
    if found is None or not can_see_lab(principal, found[0].lab_id):
        raise NotFound("Sample not found")
    return found


def new_sample(
    values: Mapping[str, Any], sample_id: UUID, lab_id: UUID, now: datetime, by: UUID | None
) -> Sample:
    """A sample from validated values (see `sample_problems`)."""
    return Sample(
        id=sample_id,
        lab_id=lab_id,
        type=SampleType(values["type"]),
        location=values["location"].strip(),
        collection_date=values["collection_date"],
        collector_name=values["collector_name"].strip(),
        created_at=now,
        updated_at=now,
        created_by=by,
        updated_by=by,
        latitude=values.get("latitude"),
        longitude=values.get("longitude"),
        status=SampleStatus(values.get("status") or SampleStatus.COLLECTED),
        notes=values.get("notes"),
    )


def set_sample_fields(sample: Sample, changes: Mapping[str, Any]) -> list[str]:
    """Write validated changes; return the names whose value actually changed."""
    changed = []
    for name, raw in changes.items():
        value = sample_value(name, raw)
        if getattr(sample, name) != value:
            setattr(sample, name, value)
            changed.append(name)
    return changed


@dataclass(frozen=True)
class CreateSampleCommand:
    values: Mapping[str, Any]
    lab_id: UUID | None = None
    id: UUID | None = None


class CreateSample:
    def __init__(self, deps: LabDataDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: CreateSampleCommand) -> SampleView:
        principal = caller.principal
        require_writer(principal)
        problems = sample_problems(cmd.values, creating=True)
        lab_id = cmd.lab_id or principal.lab_id
        if not principal.is_admin and cmd.lab_id is not None and cmd.lab_id != principal.lab_id:
            raise Forbidden("You can only record samples of your own lab")
        deps = self._deps
        with deps.uow() as uow:
            if lab_id is None:
                problems["lab_id"] = ["Name the lab of the sample"]
            elif uow.labs.get(lab_id) is None:
                problems["lab_id"] = ["Unknown lab"]
            raise_if_any(problems)
            assert lab_id is not None
            if cmd.id is not None and uow.samples.get_including_deleted(cmd.id) is not None:
                raise Conflict("A sample with this id already exists")
            sample = new_sample(
                cmd.values, cmd.id or deps.ids.new_id(), lab_id, deps.clock.now(), principal.user_id
            )
            uow.samples.add(sample)
            Auditor.of(uow, deps.clock, caller).created(
                AuditEntityType.SAMPLE, sample.id, sample.snapshot(), lab_id=sample.lab_id
            )
            uow.commit()
            return SampleView.of(sample, [])


@dataclass(frozen=True)
class UpdateSampleCommand:
    """`changes` holds only the fields being set (PATCH); PUT sends all of them."""

    sample_id: UUID
    changes: Mapping[str, Any]
    expected_version: int | None = None
    if_match: int | None = None


class UpdateSample:
    def __init__(self, deps: LabDataDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: UpdateSampleCommand) -> SampleView:
        require_writer(caller.principal)
        changes = {k: v for k, v in cmd.changes.items() if k in SAMPLE_FIELDS}
        raise_if_any(sample_problems(changes, creating=False))
        deps = self._deps
        with deps.uow() as uow:
            sample = visible_sample(uow, caller.principal, cmd.sample_id, lock=True)
            ensure_version(sample.version, if_match=cmd.if_match, expected=cmd.expected_version)
            before = sample.snapshot()
            changed = set_sample_fields(sample, changes)
            if changed:
                now = deps.clock.now()
                sample.touch(now, caller.principal.user_id)
                sample.stamp([*changed, DELETED], change_stamp(caller, now))
                Auditor.of(uow, deps.clock, caller).updated(
                    AuditEntityType.SAMPLE,
                    sample.id,
                    before,
                    sample.snapshot(),
                    lab_id=sample.lab_id,
                )
                uow.commit()
            results = [ResultView.of(r) for r in uow.results.list_for_sample(sample.id)]
            return SampleView.of(sample, results)


def sample_value(name: str, value: Any) -> Any:
    if name == "type":
        return SampleType(value)
    if name == "status":
        return SampleStatus(value)
    if name in ("location", "collector_name"):
        return value.strip()
    return value


class DeleteSample:
    """A tombstone: hidden from the REST API, kept (with its results') for sync and audit."""

    def __init__(self, deps: LabDataDeps):
        self._deps = deps

    def __call__(self, caller: Caller, sample_id: UUID, *, if_match: int | None = None) -> None:
        require_writer(caller.principal)
        deps = self._deps
        with deps.uow() as uow:
            sample = visible_sample(uow, caller.principal, sample_id, lock=True)
            ensure_version(sample.version, if_match=if_match, expected=None)
            now = deps.clock.now()
            tombstone_sample(
                uow, Auditor.of(uow, deps.clock, caller), sample, now, change_stamp(caller, now)
            )
            uow.commit()


def tombstone_sample(
    uow: UnitOfWork, audit: Auditor, sample: Sample, now: datetime, stamp: Stamp
) -> None:
    """Delete a sample and its live results (tombstones, each audited)."""
    for result in uow.results.list_for_sample(sample.id):
        tombstone_result(audit, result, now, stamp)
    before = sample.snapshot()
    sample.deleted_at = now
    sample.touch(now, audit.actor_id)
    sample.stamp([DELETED], stamp)
    audit.deleted(AuditEntityType.SAMPLE, sample.id, before, lab_id=sample.lab_id)


def tombstone_result(audit: Auditor, result: TestResult, now: datetime, stamp: Stamp) -> None:
    before = result.snapshot()
    result.deleted_at = now
    result.touch(now, audit.actor_id)
    result.stamp([DELETED], stamp)
    audit.deleted(AuditEntityType.RESULT, result.id, before, lab_id=result.lab_id)


# --- results -----------------------------------------------------------------------------


class ListResults:
    def __init__(self, deps: LabDataDeps):
        self._deps = deps

    def __call__(self, caller: Caller, sample_id: UUID) -> list[ResultView]:
        _, results = visible_sample_with_results(self._deps, caller.principal, sample_id)
        return [ResultView.of(r) for r in results]


class GetResult:
    def __init__(self, deps: LabDataDeps):
        self._deps = deps

    def __call__(self, caller: Caller, result_id: UUID) -> ResultView:
        with self._deps.uow(read_only=True) as uow:
            return ResultView.of(visible_result(uow, caller.principal, result_id))


def new_result(
    reference: ReferenceSource,
    sample: Sample,
    measured: Measured,
    values: Mapping[str, Any],
    *,
    result_id: UUID,
    now: datetime,
    by: UUID | None,
    margin: float,
) -> TestResult:
    """A judged result of `sample` from validated values (see `measure`)."""
    evaluations, status = judge_measured(reference, measured, margin)
    return TestResult(
        id=result_id,
        sample_id=sample.id,
        lab_id=sample.lab_id,
        parameter=measured.parameter.code,
        value=measured.value,
        unit=measured.unit,
        test_date=values["test_date"],
        created_at=now,
        updated_at=now,
        created_by=by,
        updated_by=by,
        qualifier=measured.qualifier,
        detection_limit=measured.detection_limit,
        technician_name=values.get("technician_name"),
        test_method=values.get("test_method"),
        compliance_status=status,
        evaluations=evaluations,
        notes=values.get("notes"),
    )


def result_values(result: TestResult) -> dict[str, Any]:
    """The client-settable fields of a result, as a create or PUT would send them."""
    return _result_values(result)


def remeasure_result(
    reference: ReferenceSource, result: TestResult, changes: Mapping[str, Any], margin: float
) -> list[str]:
    """Validate `changes` over the result's values, write and re-judge; the changed names."""
    merged = {**_result_values(result), **{k: v for k, v in changes.items() if k in RESULT_FIELDS}}
    measured = measure(reference, merged)
    evaluations, status = judge_measured(reference, measured, margin)
    before = _result_values(result)
    result.parameter, result.value, result.unit = (
        measured.parameter.code,
        measured.value,
        measured.unit,
    )
    result.qualifier, result.detection_limit = measured.qualifier, measured.detection_limit
    result.test_date = merged["test_date"]
    result.technician_name, result.test_method = merged["technician_name"], merged["test_method"]
    result.notes = merged["notes"]
    result.evaluations, result.compliance_status = evaluations, status
    after = _result_values(result)
    return [name for name in RESULT_FIELDS if before[name] != after[name]]


@dataclass(frozen=True)
class CreateResultCommand:
    sample_id: UUID
    values: Mapping[str, Any]
    id: UUID | None = None


class CreateResult:
    def __init__(self, deps: LabDataDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: CreateResultCommand) -> ResultView:
        require_writer(caller.principal)
        deps = self._deps
        with deps.uow() as uow:
            sample = visible_sample(uow, caller.principal, cmd.sample_id, lock=True)
            reference = uow.reference()
            measured = measure(reference, cmd.values)
            if cmd.id is not None and uow.results.get_including_deleted(cmd.id) is not None:
                raise Conflict("A result with this id already exists")
            now = deps.clock.now()
            result = new_result(
                reference,
                sample,
                measured,
                cmd.values,
                result_id=cmd.id or deps.ids.new_id(),
                now=now,
                by=caller.principal.user_id,
                margin=deps.margin,
            )
            uow.results.add(result)
            audit = Auditor.of(uow, deps.clock, caller)
            audit.created(
                AuditEntityType.RESULT, result.id, result.snapshot(), lab_id=result.lab_id
            )
            # The sample is locked, and its status is the worst of its live results' (every
            # write keeps it so): a new result can only raise it to its own.
            status = sample_status([sample.compliance_status, result.compliance_status])
            _set_status(audit, sample, status, now)
            uow.commit()
            return ResultView.of(result)


@dataclass(frozen=True)
class UpdateResultCommand:
    result_id: UUID
    changes: Mapping[str, Any]
    expected_version: int | None = None
    if_match: int | None = None


class UpdateResult:
    def __init__(self, deps: LabDataDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: UpdateResultCommand) -> ResultView:
        require_writer(caller.principal)
        deps = self._deps
        with deps.uow() as uow:
            result = visible_result(uow, caller.principal, cmd.result_id, lock=True)
            ensure_version(result.version, if_match=cmd.if_match, expected=cmd.expected_version)
            before = result.snapshot()
            changed = remeasure_result(uow.reference(), result, cmd.changes, deps.margin)
            if result.snapshot() != before:
                now = deps.clock.now()
                result.touch(now, caller.principal.user_id)
                result.stamp([*changed, DELETED], change_stamp(caller, now))
                audit = Auditor.of(uow, deps.clock, caller)
                audit.updated(
                    AuditEntityType.RESULT,
                    result.id,
                    before,
                    result.snapshot(),
                    lab_id=result.lab_id,
                )
                sample = uow.samples.get(result.sample_id)
                if sample is not None:
                    refresh_sample_status(uow, audit, sample, now)
                uow.commit()
            return ResultView.of(result)


class DeleteResult:
    def __init__(self, deps: LabDataDeps):
        self._deps = deps

    def __call__(self, caller: Caller, result_id: UUID, *, if_match: int | None = None) -> None:
        require_writer(caller.principal)
        deps = self._deps
        with deps.uow() as uow:
            result = visible_result(uow, caller.principal, result_id, lock=True)
            ensure_version(result.version, if_match=if_match, expected=None)
            now = deps.clock.now()
            audit = Auditor.of(uow, deps.clock, caller)
            tombstone_result(audit, result, now, change_stamp(caller, now))
            sample = uow.samples.get(result.sample_id)
            if sample is not None:
                refresh_sample_status(uow, audit, sample, now)
            uow.commit()
