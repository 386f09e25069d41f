"""Reference data: parameters and standards (everyone reads; admins edit, audited)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from application.auditing import Auditor
from application.context import Caller
from application.policy import require_admin
from application.samples import reevaluate_parameter
from application.views import LimitView, ParameterView, StandardView
from domain.audit import AuditEntityType
from domain.compliance import DEFAULT_MARGIN, Basis, ParameterKind
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.lab_data import Parameter, StandardLimit
from domain.model import ensure_version
from domain.ports import Clock, IdGenerator, UnitOfWorkFactory
from domain.units import canonical_spelling
from domain.validation import name_problems


@dataclass(frozen=True)
class ReferenceDeps:
    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    margin: float = DEFAULT_MARGIN


class ListParameters:
    def __init__(self, deps: ReferenceDeps):
        self._deps = deps

    def __call__(self, caller: Caller) -> list[ParameterView]:
        with self._deps.uow(read_only=True) as uow:
            return [ParameterView.of(p) for p in uow.parameters.all()]


class GetParameter:
    def __init__(self, deps: ReferenceDeps):
        self._deps = deps

    def __call__(self, caller: Caller, parameter_id: UUID) -> ParameterView:
        with self._deps.uow(read_only=True) as uow:
            parameter = uow.parameters.get(parameter_id)
            if parameter is None:
                raise NotFound("Parameter not found")
            return ParameterView.of(parameter)


def _range_problems(low: float | None, high: float | None) -> dict[str, list[str]]:
    if low is not None and high is not None and low > high:
        return {"max_value": ["Must be at least min_value"]}
    return {}


@dataclass(frozen=True)
class CreateParameterCommand:
    code: str
    name: str
    unit: str
    kind: ParameterKind = ParameterKind.NUMERIC
    min_value: float | None = None
    max_value: float | None = None
    id: UUID | None = None


class CreateParameter:
    def __init__(self, deps: ReferenceDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: CreateParameterCommand) -> ParameterView:
        require_admin(caller.principal)
        problems = {
            "name": name_problems(cmd.name),
            **_range_problems(cmd.min_value, cmd.max_value),
        }
        if not cmd.code or not cmd.code.replace("_", "").isalnum() or cmd.code != cmd.code.lower():
            problems["code"] = ["Use lower-case letters, digits and underscores"]
        if any(problems.values()):
            raise ValidationFailed({k: v for k, v in problems.items() if v})
        deps = self._deps
        with deps.uow() as uow:
            if uow.parameters.get_by_code(cmd.code) is not None:
                raise Conflict("A parameter with this code already exists")
            now = deps.clock.now()
            parameter = Parameter(
                id=cmd.id or deps.ids.new_id(),
                code=cmd.code,
                name=cmd.name.strip(),
                unit=canonical_spelling(cmd.unit),
                kind=cmd.kind,
                created_at=now,
                updated_at=now,
                min_value=cmd.min_value,
                max_value=cmd.max_value,
            )
            uow.parameters.add(parameter)
            Auditor.of(uow, deps.clock, caller).created(
                AuditEntityType.PARAMETER, parameter.code, parameter.snapshot()
            )
            uow.commit()
            return ParameterView.of(parameter)


@dataclass(frozen=True)
class UpdateParameterCommand:
    parameter_id: UUID
    name: str
    min_value: float | None
    max_value: float | None
    expected_version: int | None = None
    if_match: int | None = None


class UpdateParameter:
    """Name and plausible range only: code, unit and kind are what stored results mean."""

    def __init__(self, deps: ReferenceDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: UpdateParameterCommand) -> ParameterView:
        require_admin(caller.principal)
        problems = {
            "name": name_problems(cmd.name),
            **_range_problems(cmd.min_value, cmd.max_value),
        }
        if any(problems.values()):
            raise ValidationFailed({k: v for k, v in problems.items() if v})
        deps = self._deps
        with deps.uow() as uow:
            parameter = uow.parameters.get(cmd.parameter_id)
            if parameter is None:
                raise NotFound("Parameter not found")
            ensure_version(parameter.version, if_match=cmd.if_match, expected=cmd.expected_version)
            before = parameter.snapshot()
            parameter.name = cmd.name.strip()
            parameter.min_value, parameter.max_value = cmd.min_value, cmd.max_value
            if parameter.snapshot() != before:
                parameter.updated_at = deps.clock.now()
                parameter.version += 1
                Auditor.of(uow, deps.clock, caller).updated(
                    AuditEntityType.PARAMETER, parameter.code, before, parameter.snapshot()
                )
                uow.commit()
            return ParameterView.of(parameter)


class ListStandards:
    def __init__(self, deps: ReferenceDeps):
        self._deps = deps

    def __call__(self, caller: Caller) -> list[StandardView]:
        with self._deps.uow(read_only=True) as uow:
            return [StandardView.of(s, []) for s in uow.standards.all()]


class GetStandard:
    def __init__(self, deps: ReferenceDeps):
        self._deps = deps

    def __call__(self, caller: Caller, code: str) -> StandardView:
        with self._deps.uow(read_only=True) as uow:
            standard = uow.standards.get(code)
            if standard is None:
                raise NotFound("Standard not found")
            return StandardView.of(standard, uow.standards.limits_of_standard(code))


@dataclass(frozen=True)
class PutLimitCommand:
    standard_code: str
    parameter_code: str
    basis: Basis
    min: float | None = None
    max: float | None = None
    recommended_max: float | None = None
    source: str | None = None
    reevaluate: bool = False
    expected_version: int | None = None
    if_match: int | None = None


@dataclass(frozen=True)
class LimitChange:
    limit: LimitView
    reevaluated_results: int = 0
    changed_results: int = 0
    changed_samples: int = 0
    created: bool = False


def limit_problems(cmd: PutLimitCommand) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for name in ("min", "max", "recommended_max"):
        value = getattr(cmd, name)
        if value is not None and (not math.isfinite(value) or value < 0):
            problems[name] = ["Must be a finite number ≥ 0"]
    if cmd.min is None and cmd.max is None and cmd.recommended_max is None:
        problems["max"] = ["Give at least one of min, max, recommended_max"]
    if cmd.min is not None and cmd.max is not None and cmd.min > cmd.max:
        problems["min"] = ["Must not exceed max"]
    if cmd.recommended_max is not None and cmd.max is not None and cmd.recommended_max > cmd.max:
        problems["recommended_max"] = ["Must not exceed max"]
    return problems


class PutLimit:
    """Create or replace one standard's limit for one parameter (admin, audited).

    Stored results keep the evaluations they were judged with. With `reevaluate`, every
    live result of the parameter is judged again in the same transaction, and each
    result and sample whose status changes gets its own audit entry: never silent.
    """

    def __init__(self, deps: ReferenceDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: PutLimitCommand) -> LimitChange:
        require_admin(caller.principal)
        if problems := limit_problems(cmd):
            raise ValidationFailed(problems)
        deps = self._deps
        with deps.uow() as uow:
            if uow.standards.get(cmd.standard_code) is None:
                raise NotFound("Standard not found")
            if uow.parameters.get_by_code(cmd.parameter_code) is None:
                raise NotFound("Parameter not found")
            audit = Auditor.of(uow, deps.clock, caller)
            now = deps.clock.now()
            limit = uow.standards.get_limit(cmd.standard_code, cmd.parameter_code)
            created = limit is None
            if limit is None:
                limit = StandardLimit(
                    standard_code=cmd.standard_code,
                    parameter_code=cmd.parameter_code,
                    basis=cmd.basis,
                    updated_at=now,
                    min=cmd.min,
                    max=cmd.max,
                    recommended_max=cmd.recommended_max,
                    source=cmd.source,
                )
                uow.standards.add_limit(limit)
                audit.created(AuditEntityType.STANDARD_LIMIT, _limit_id(limit), limit.snapshot())
            else:
                ensure_version(limit.version, if_match=cmd.if_match, expected=cmd.expected_version)
                before = limit.snapshot()
                limit.min, limit.max, limit.recommended_max = cmd.min, cmd.max, cmd.recommended_max
                limit.basis, limit.source = cmd.basis, cmd.source
                if limit.snapshot() != before:
                    limit.updated_at = now
                    limit.version += 1
                    audit.updated(
                        AuditEntityType.STANDARD_LIMIT, _limit_id(limit), before, limit.snapshot()
                    )
            counts: Mapping[str, int] = {}
            if cmd.reevaluate:
                counts = reevaluate_parameter(uow, audit, cmd.parameter_code, now, deps.margin)
            uow.commit()
            return LimitChange(
                limit=LimitView.of(limit),
                reevaluated_results=counts.get("reevaluated", 0),
                changed_results=counts.get("changed_results", 0),
                changed_samples=counts.get("changed_samples", 0),
                created=created,
            )


def _limit_id(limit: StandardLimit) -> str:
    return f"{limit.standard_code}/{limit.parameter_code}"
