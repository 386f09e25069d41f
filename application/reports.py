"""Compliance reports (SPEC §8, FR-050..053): figures of a lab's samples over a period.

Scope follows `GET /samples`: a non-admin reports on their own lab (a user without a lab
gets an empty report); an admin names any lab with `lab_id`, or reports on every lab
without it. A non-admin naming another lab is refused (403) rather than silently given
their own lab's figures under another lab's id. Reading a report changes nothing, so it
is not audited. The figures come from the `ComplianceReports` port (aggregated by the
storage); this use case adds the reference limits, the lab, the generation time and the
audit chain's head hash, which ties the printed report to the state of the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from application.context import Caller
from domain.compliance import ComplianceStatus
from domain.errors import Forbidden, ValidationFailed
from domain.lab_data import SampleType, StandardLimit
from domain.ports import AuditChain, Clock, ComplianceReports, UnitOfWorkFactory
from domain.reports import (
    MOROCCAN_STANDARD,
    WHO_STANDARD,
    Exceedance,
    LocationFigures,
    ReportFigures,
    ReportFilters,
    StatusCounts,
)


@dataclass(frozen=True)
class ReportDeps:
    uow: UnitOfWorkFactory
    reports: ComplianceReports
    chain: AuditChain
    clock: Clock


@dataclass(frozen=True)
class ComplianceReportCommand:
    date_from: datetime | None = None
    date_to: datetime | None = None
    sample_type: SampleType | None = None
    location: str | None = None
    compliance_status: ComplianceStatus | None = None
    lab_id: UUID | None = None


@dataclass(frozen=True)
class FiltersView:
    date_from: datetime | None
    date_to: datetime | None
    sample_type: str | None
    location: str | None
    compliance_status: str | None
    lab_id: UUID | None  # the lab reported on; None: every lab (admin) or no lab (caller)


@dataclass(frozen=True)
class TotalsView:
    samples: int
    passed: int
    warning: int
    failed: int
    pending: int

    @classmethod
    def of(cls, counts: StatusCounts) -> TotalsView:
        return cls(counts.samples, counts.passed, counts.warning, counts.failed, counts.pending)


@dataclass(frozen=True)
class LocationView:
    location: str
    samples: int
    passed: int
    warning: int
    failed: int
    pending: int

    @classmethod
    def of(cls, figures: LocationFigures) -> LocationView:
        c = figures.counts
        return cls(figures.location, c.samples, c.passed, c.warning, c.failed, c.pending)


@dataclass(frozen=True)
class ParameterView:
    parameter: str
    name: str | None
    unit: str | None
    tests: int
    exceedances: int
    max_value: float | None
    who_limit: float | None  # the standard's max (pH: the top of its range)
    moroccan_limit: float | None
    who_min: float | None  # only ranges (pH) have one
    moroccan_min: float | None
    passed: int
    warning: int
    failed: int


@dataclass(frozen=True)
class LabRef:
    id: UUID
    name: str


@dataclass(frozen=True)
class ComplianceReportView:
    filters: FiltersView
    lab: LabRef | None
    generated_at: datetime
    audit_head_hash: str
    totals: TotalsView
    by_parameter: list[ParameterView] = field(default_factory=list)
    by_location: list[LocationView] = field(default_factory=list)
    exceedances: list[Exceedance] = field(default_factory=list)


class GenerateComplianceReport:
    def __init__(self, deps: ReportDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: ComplianceReportCommand) -> ComplianceReportView:
        principal = caller.principal
        problems: dict[str, list[str]] = {}
        if cmd.date_from and cmd.date_to and cmd.date_from > cmd.date_to:
            problems["date_to"] = ["Must not be before date_from"]
        if not principal.is_admin and cmd.lab_id not in (None, principal.lab_id):
            raise Forbidden("You can only report on your own lab")
        lab_id = cmd.lab_id if principal.is_admin else principal.lab_id
        deps = self._deps
        with deps.uow(read_only=True) as uow:
            lab = uow.labs.get(lab_id) if lab_id is not None else None
            if lab_id is not None and lab is None:
                problems["lab_id"] = ["Unknown lab"]
            if problems:
                raise ValidationFailed(problems)
            limits = {
                code: {
                    limit.parameter_code: limit for limit in uow.standards.limits_of_standard(code)
                }
                for code in (WHO_STANDARD, MOROCCAN_STANDARD)
            }
            parameters = {p.code: p for p in uow.parameters.all()}
        filters = ReportFilters(
            lab_id=lab_id,
            date_from=cmd.date_from,
            date_to=cmd.date_to,
            sample_type=cmd.sample_type,
            location=cmd.location.strip() if cmd.location and cmd.location.strip() else None,
            compliance_status=cmd.compliance_status,
        )
        if principal.is_admin or lab_id is not None:
            figures = deps.reports.figures(filters)
        else:  # a user without a lab sees no lab data (as GET /samples)
            figures = ReportFigures(totals=StatusCounts())
        who, nm = limits[WHO_STANDARD], limits[MOROCCAN_STANDARD]
        return ComplianceReportView(
            filters=FiltersView(
                date_from=filters.date_from,
                date_to=filters.date_to,
                sample_type=filters.sample_type.value if filters.sample_type else None,
                location=filters.location,
                compliance_status=(
                    filters.compliance_status.value if filters.compliance_status else None
                ),
                lab_id=lab_id,
            ),
            lab=LabRef(lab.id, lab.name) if lab is not None else None,
            generated_at=deps.clock.now(),
            audit_head_hash=deps.chain.head_hash(),
            totals=TotalsView.of(figures.totals),
            by_parameter=[
                ParameterView(
                    parameter=p.parameter,
                    name=parameters[p.parameter].name if p.parameter in parameters else None,
                    unit=parameters[p.parameter].unit if p.parameter in parameters else None,
                    tests=p.tests,
                    exceedances=p.failed,
                    max_value=p.max_value,
                    who_limit=_max(who.get(p.parameter)),
                    moroccan_limit=_max(nm.get(p.parameter)),
                    who_min=_min(who.get(p.parameter)),
                    moroccan_min=_min(nm.get(p.parameter)),
                    passed=p.passed,
                    warning=p.warning,
                    failed=p.failed,
                )
                for p in figures.by_parameter
            ],
            by_location=[LocationView.of(loc) for loc in figures.by_location],
            exceedances=figures.exceedances,
        )


def _max(limit: StandardLimit | None) -> float | None:
    return float(limit.max) if limit is not None and limit.max is not None else None


def _min(limit: StandardLimit | None) -> float | None:
    return float(limit.min) if limit is not None and limit.min is not None else None
