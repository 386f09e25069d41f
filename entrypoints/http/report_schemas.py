"""The wire shapes of `POST /reports/compliance` (SPEC section 8), for validation and OpenAPI.

`pass`, `warning`, `fail` and `pending` are the JSON names; the Python attributes are
`passed`/`failed` because `pass` is a keyword.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field

from domain.compliance import ComplianceStatus
from domain.lab_data import SampleType
from entrypoints.http.schemas import Input, Output, Timestamp


class ComplianceReportIn(Input):
    date_from: Timestamp | None = Field(
        None, description="Collection date from (inclusive); RFC 3339 or YYYY-MM-DD (midnight UTC)"
    )
    date_to: Timestamp | None = Field(
        None, description="Collection date to (inclusive); RFC 3339 or YYYY-MM-DD (midnight UTC)"
    )
    sample_type: SampleType | None = None
    location: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="Exact site name (any case)"
    )
    compliance_status: ComplianceStatus | None = Field(
        None, description="The samples' own compliance status"
    )
    lab_id: UUID | None = Field(
        None,
        description="Admins: the lab to report on (default: every lab). Others may only name "
        "their own lab (another lab is 403).",
    )


class ReportFiltersOut(Output):
    date_from: datetime | None
    date_to: datetime | None
    sample_type: SampleType | None
    location: str | None
    compliance_status: ComplianceStatus | None
    lab_id: UUID | None = Field(
        description="The lab reported on; null: every lab (admin) or none (a user without a lab)"
    )


class _Counts(Output):
    samples: int
    passed: int = Field(serialization_alias="pass")
    warning: int
    failed: int = Field(serialization_alias="fail")
    pending: int


class ReportTotalsOut(_Counts):
    """Covered samples by their compliance status."""


class ReportLocationOut(Output):
    location: str
    samples: int
    passed: int = Field(serialization_alias="pass")
    warning: int
    failed: int = Field(serialization_alias="fail")
    pending: int


class ReportParameterOut(Output):
    parameter: str
    name: str | None
    unit: str | None = Field(
        description="The parameter's canonical unit (results are stored in it)"
    )
    tests: int = Field(description="Live results of the covered samples")
    exceedances: int = Field(description="Of them, results whose status is fail")
    max_value: float | None
    who_limit: float | None = Field(
        description="The current WHO-GDWQ-2022 max for the parameter (pH: the range's top)"
    )
    moroccan_limit: float | None = Field(
        description="The current NM-03.7.001-2006 max (VMA) for the parameter (pH: the top)"
    )
    who_min: float | None = Field(description="The WHO range's lower bound (pH only)")
    moroccan_min: float | None = Field(description="The NM range's lower bound (pH only)")
    passed: int = Field(serialization_alias="pass")
    warning: int
    failed: int = Field(serialization_alias="fail")


class ExceedanceOut(Output):
    sample_id: UUID
    result_id: UUID
    parameter: str
    value: float
    unit: str
    location: str
    collection_date: datetime


class ReportLabOut(Output):
    id: UUID
    name: str


class ComplianceReportOut(Output):
    filters: ReportFiltersOut
    lab: ReportLabOut | None = Field(description="null for an every-lab report")
    generated_at: datetime
    audit_head_hash: str = Field(
        description="Hash of the last sealed audit-chain entry when the report was made"
    )
    totals: ReportTotalsOut
    by_parameter: list[ReportParameterOut]
    by_location: list[ReportLocationOut]
    exceedances: list[ExceedanceOut] = Field(
        description="Every live fail result, by collection date, sample id, parameter, result id"
    )
