"""Plain output data returned by use cases; transports render them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from domain.lab_data import Parameter, Sample, Standard, StandardLimit, TestResult
from domain.model import Lab, User
from domain.paging import Page

T = TypeVar("T")


@dataclass(frozen=True)
class UserView:
    id: UUID
    email: str
    name: str
    role: str
    lab_id: UUID | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    version: int

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            role=user.role.value,
            lab_id=user.lab_id,
            is_active=user.is_active,
            created_at=user.created_at,
            updated_at=user.updated_at,
            last_login_at=user.last_login_at,
            version=user.version,
        )


@dataclass(frozen=True)
class LabView:
    id: UUID
    name: str
    code: str | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, lab: Lab) -> LabView:
        return cls(
            id=lab.id,
            name=lab.name,
            code=lab.code,
            created_at=lab.created_at,
            updated_at=lab.updated_at,
            version=lab.version,
        )


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"


@dataclass(frozen=True)
class Session:
    user: UserView
    tokens: TokenPair


@dataclass(frozen=True)
class PageView(Generic[T]):
    items: list[T]
    total: int
    page: int
    limit: int
    total_pages: int
    has_more: bool
    total_exact: bool = True

    @classmethod
    def of(cls, page: Page[Any], items: list[T]) -> PageView[T]:
        return cls(
            items=items,
            total=page.total,
            page=page.request.page,
            limit=page.request.limit,
            total_pages=page.total_pages,
            has_more=page.has_more,
            total_exact=page.total_exact,
        )


@dataclass(frozen=True)
class ParameterView:
    id: UUID
    code: str
    name: str
    unit: str
    kind: str
    min_value: float | None
    max_value: float | None
    version: int

    @classmethod
    def of(cls, p: Parameter) -> ParameterView:
        return cls(p.id, p.code, p.name, p.unit, p.kind.value, p.min_value, p.max_value, p.version)


@dataclass(frozen=True)
class LimitView:
    standard: str
    parameter: str
    min: float | None
    max: float | None
    recommended_max: float | None
    basis: str
    source: str | None
    version: int
    updated_at: datetime

    @classmethod
    def of(cls, limit: StandardLimit) -> LimitView:
        return cls(
            standard=limit.standard_code,
            parameter=limit.parameter_code,
            min=limit.min,
            max=limit.max,
            recommended_max=limit.recommended_max,
            basis=limit.basis.value,
            source=limit.source,
            version=limit.version,
            updated_at=limit.updated_at,
        )


@dataclass(frozen=True)
class StandardView:
    code: str
    name: str
    kind: str
    description: str | None
    limits: list[LimitView]

    @classmethod
    def of(cls, standard: Standard, limits: list[StandardLimit]) -> StandardView:
        return cls(
            standard.code,
            standard.name,
            standard.kind.value,
            standard.description,
            [LimitView.of(limit) for limit in limits],
        )


@dataclass(frozen=True)
class ResultView:
    id: UUID
    sample_id: UUID
    parameter: str
    value: float
    qualifier: str
    detection_limit: float | None
    unit: str
    test_date: datetime
    technician_name: str | None
    test_method: str | None
    compliance_status: str
    evaluations: list[dict[str, Any]]
    notes: str | None
    version: int
    created_at: datetime
    created_by: UUID | None
    updated_at: datetime
    updated_by: UUID | None

    @classmethod
    def of(cls, r: TestResult) -> ResultView:
        return cls(
            id=r.id,
            sample_id=r.sample_id,
            parameter=r.parameter,
            value=r.value,
            qualifier=r.qualifier.value,
            detection_limit=r.detection_limit,
            unit=r.unit,
            test_date=r.test_date,
            technician_name=r.technician_name,
            test_method=r.test_method,
            compliance_status=r.compliance_status.value,
            evaluations=list(r.evaluations),
            notes=r.notes,
            version=r.version,
            created_at=r.created_at,
            created_by=r.created_by,
            updated_at=r.updated_at,
            updated_by=r.updated_by,
        )


class RawJson(str):
    """A view or record already serialized as JSON (by the storage): transports send it as
    is."""


@dataclass(frozen=True)
class SampleView:
    id: UUID
    lab_id: UUID
    type: str
    location: str
    latitude: float | None
    longitude: float | None
    collection_date: datetime
    collector_name: str
    status: str
    compliance_status: str
    notes: str | None
    version: int
    created_at: datetime
    created_by: UUID | None
    updated_at: datetime
    updated_by: UUID | None
    results: list[ResultView] | None = None

    @classmethod
    def of(cls, s: Sample, results: list[ResultView] | None = None) -> SampleView:
        return cls(
            id=s.id,
            lab_id=s.lab_id,
            type=s.type.value,
            location=s.location,
            latitude=s.latitude,
            longitude=s.longitude,
            collection_date=s.collection_date,
            collector_name=s.collector_name,
            status=s.status.value,
            compliance_status=s.compliance_status.value,
            notes=s.notes,
            version=s.version,
            created_at=s.created_at,
            created_by=s.created_by,
            updated_at=s.updated_at,
            updated_by=s.updated_by,
            results=results,
        )


@dataclass(frozen=True)
class SampleDetail:
    """A sample with its results as `GET /samples/{id}` shows it: the view, or the same
    already serialized by the storage."""

    version: int
    view: SampleView | RawJson
