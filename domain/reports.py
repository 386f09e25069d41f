"""Compliance reports (SPEC §8): what a report asks for and the figures it holds.

The figures are aggregates the storage computes (`ports.ComplianceReports`); the
application adds the reference limits, the lab and the audit-chain head.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from domain.compliance import ComplianceStatus
from domain.lab_data import SampleType

WHO_STANDARD = "WHO-GDWQ-2022"
MOROCCAN_STANDARD = "NM-03.7.001-2006"


@dataclass(frozen=True)
class ReportFilters:
    """Which live samples a report covers. `lab_id` None: every lab (an admin's report)."""

    lab_id: UUID | None = None
    date_from: datetime | None = None  # collection date, inclusive
    date_to: datetime | None = None  # collection date, inclusive
    sample_type: SampleType | None = None
    location: str | None = None  # exact site name, any case (as GET /samples)
    compliance_status: ComplianceStatus | None = None  # the sample's status


@dataclass(frozen=True)
class StatusCounts:
    samples: int = 0
    passed: int = 0
    warning: int = 0
    failed: int = 0
    pending: int = 0


@dataclass(frozen=True)
class LocationFigures:
    location: str
    counts: StatusCounts


@dataclass(frozen=True)
class ParameterFigures:
    """The live results of one parameter among the covered samples."""

    parameter: str
    tests: int
    passed: int
    warning: int
    failed: int  # = exceedances
    max_value: float | None


@dataclass(frozen=True)
class Exceedance:
    """A live result whose compliance status is `fail`."""

    sample_id: UUID
    result_id: UUID
    parameter: str
    value: float
    unit: str
    location: str
    collection_date: datetime


@dataclass(frozen=True)
class ReportFigures:
    """Everything the storage computes for a report, in a stable order:

    `by_location` by location, `by_parameter` by parameter code (both by code point),
    `exceedances` by collection date, then sample id, parameter code and result id.
    """

    totals: StatusCounts
    by_location: list[LocationFigures] = field(default_factory=list)
    by_parameter: list[ParameterFigures] = field(default_factory=list)
    exceedances: list[Exceedance] = field(default_factory=list)


def exceedance_order(e: Exceedance) -> tuple[datetime, UUID, str, UUID]:
    return (e.collection_date, e.sample_id, e.parameter, e.result_id)
