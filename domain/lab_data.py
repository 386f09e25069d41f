"""Lab data: reference parameters and standards, samples and their test results."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.compliance import (
    Basis,
    ComplianceStatus,
    Evaluation,
    Limit,
    ParameterKind,
    Qualifier,
    StandardKind,
)
from domain.sync import Stamp, stamped


class SampleType(StrEnum):
    DRINKING = "drinking"
    SURFACE = "surface"
    GROUND = "ground"
    WASTE = "waste"
    BOTTLED = "bottled"
    OTHER = "other"


class SampleStatus(StrEnum):
    COLLECTED = "collected"
    RECEIVED = "received"
    IN_ANALYSIS = "in_analysis"
    COMPLETED = "completed"
    REJECTED = "rejected"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass(eq=False)
class Parameter:
    id: UUID
    code: str
    name: str
    unit: str
    kind: ParameterKind
    created_at: datetime
    updated_at: datetime
    min_value: float | None = None  # plausible range: outside it is a data-entry error
    max_value: float | None = None
    version: int = 1

    def plausible(self, value: float) -> bool:
        return (self.min_value is None or value >= self.min_value) and (
            self.max_value is None or value <= self.max_value
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "code": self.code,
            "name": self.name,
            "unit": self.unit,
            "kind": self.kind.value,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "version": self.version,
        }


@dataclass(eq=False)
class Standard:
    code: str
    name: str
    kind: StandardKind
    description: str | None = None


@dataclass(eq=False)
class StandardLimit:
    standard_code: str
    parameter_code: str
    basis: Basis
    updated_at: datetime
    min: float | None = None
    max: float | None = None
    recommended_max: float | None = None
    source: str | None = None
    version: int = 1

    def as_limit(self, kind: StandardKind) -> Limit:
        return Limit(
            standard=self.standard_code,
            standard_kind=kind,
            parameter=self.parameter_code,
            min=self.min,
            max=self.max,
            recommended_max=self.recommended_max,
            basis=self.basis,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "standard": self.standard_code,
            "parameter": self.parameter_code,
            "min": self.min,
            "max": self.max,
            "recommended_max": self.recommended_max,
            "basis": self.basis.value,
            "source": self.source,
            "version": self.version,
        }


class ReferenceData:
    """Parameters, standards and their limits as one read-only view: what judging a
    result needs. Shaped like the repositories it stands in for (`parameters.get_by_code`,
    `standards.all`, `standards.limits_for_parameter`), plus the judged form of a
    parameter's limits, built once. A storage may share one between requests while the
    reference data stays unchanged (adapters/sqlalchemy/reference_cache.py); nothing may
    change the objects it hands out."""

    def __init__(
        self,
        parameters: Iterable[Parameter],
        standards: Iterable[Standard],
        limits: Iterable[StandardLimit],
    ):
        self._parameters = {p.code: p for p in parameters}
        self._standards = sorted(standards, key=lambda s: s.code)
        kinds = {s.code: s.kind for s in self._standards}
        self._limits: dict[str, list[StandardLimit]] = {}
        for limit in sorted(limits, key=lambda lim: lim.standard_code):
            self._limits.setdefault(limit.parameter_code, []).append(limit)
        self._applicable = {
            code: [
                lim.as_limit(kinds[lim.standard_code])
                for lim in found
                if lim.standard_code in kinds
            ]
            for code, found in self._limits.items()
        }

    @property
    def parameters(self) -> ReferenceData:
        return self

    @property
    def standards(self) -> ReferenceData:
        return self

    def get_by_code(self, code: str) -> Parameter | None:
        return self._parameters.get(code)

    def all(self) -> list[Standard]:
        return list(self._standards)

    def limits_for_parameter(self, parameter_code: str) -> list[StandardLimit]:
        return list(self._limits.get(parameter_code, ()))

    def applicable_limits(self, parameter_code: str) -> list[Limit]:
        """Every standard's current limit for a parameter, with the standard's kind."""
        return list(self._applicable.get(parameter_code, ()))


@dataclass(eq=False)
class Sample:
    id: UUID
    lab_id: UUID
    type: SampleType
    location: str
    collection_date: datetime
    collector_name: str
    created_at: datetime
    updated_at: datetime
    created_by: UUID | None = None
    updated_by: UUID | None = None
    latitude: float | None = None
    longitude: float | None = None
    status: SampleStatus = SampleStatus.COLLECTED
    compliance_status: ComplianceStatus = ComplianceStatus.PENDING
    notes: str | None = None
    version: int = 1
    deleted_at: datetime | None = None  # a tombstone: hidden from REST, kept for sync
    # Which version and stamp last wrote each client-settable field (domain/sync.py).
    sync_clock: dict[str, Any] = field(default_factory=dict)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def touch(self, now: datetime, by: UUID | None) -> None:
        self.updated_at = now
        self.updated_by = by
        self.version += 1

    def stamp(self, fields: Iterable[str], stamp: Stamp) -> None:
        """Record that the current version wrote `fields` (call after `touch`)."""
        self.sync_clock = stamped(self.sync_clock, fields, self.version, stamp)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "lab_id": str(self.lab_id),
            "type": self.type.value,
            "location": self.location,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "collection_date": _iso(self.collection_date),
            "collector_name": self.collector_name,
            "status": self.status.value,
            "compliance_status": self.compliance_status.value,
            "notes": self.notes,
            "version": self.version,
            "deleted": self.is_deleted,
        }


@dataclass(eq=False)
class TestResult:
    __test__ = False  # not a pytest test class

    id: UUID
    sample_id: UUID
    lab_id: UUID
    parameter: str
    value: float
    unit: str
    test_date: datetime
    created_at: datetime
    updated_at: datetime
    created_by: UUID | None = None
    updated_by: UUID | None = None
    qualifier: Qualifier = Qualifier.EQUAL
    detection_limit: float | None = None
    technician_name: str | None = None
    test_method: str | None = None
    compliance_status: ComplianceStatus = ComplianceStatus.PASS
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    notes: str | None = None
    version: int = 1
    deleted_at: datetime | None = None
    sync_clock: dict[str, Any] = field(default_factory=dict)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def judged(self) -> list[Evaluation]:
        return [Evaluation.from_dict(e) for e in self.evaluations]

    def touch(self, now: datetime, by: UUID | None) -> None:
        self.updated_at = now
        self.updated_by = by
        self.version += 1

    def stamp(self, fields: Iterable[str], stamp: Stamp) -> None:
        self.sync_clock = stamped(self.sync_clock, fields, self.version, stamp)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "sample_id": str(self.sample_id),
            "parameter": self.parameter,
            "value": self.value,
            "qualifier": self.qualifier.value,
            "detection_limit": self.detection_limit,
            "unit": self.unit,
            "test_date": _iso(self.test_date),
            "technician_name": self.technician_name,
            "test_method": self.test_method,
            "compliance_status": self.compliance_status.value,
            "evaluations": self.evaluations,
            "notes": self.notes,
            "version": self.version,
            "deleted": self.is_deleted,
        }
