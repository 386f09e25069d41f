"""In-memory repositories for parameters, standards, samples and results."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any
from uuid import UUID

from adapters.memory.repositories import Table
from adapters.memory.store import InMemoryStore
from adapters.reference_data import LIMITS, PARAMETERS, SEEDED_AT, STANDARDS, parameter_id
from domain.compliance import Basis, ComplianceStatus, ParameterKind, StandardKind
from domain.lab_data import Parameter, Sample, Standard, StandardLimit, TestResult
from domain.paging import EXACT_TOTAL_LIMIT, Page
from domain.ports import (
    ParameterRepository,
    ResultRepository,
    SampleQuery,
    SampleRepository,
    SampleWithResults,
    StandardRepository,
)

LAB_DATA_TABLES = ("parameters", "standards", "limits", "samples", "results")


def seed_reference_data(store: InMemoryStore) -> InMemoryStore:
    """The same parameters, standards and limits migration 0002 inserts."""
    for name in LAB_DATA_TABLES:
        store.register_table(name)
    for code, name, unit, kind, low, high in PARAMETERS:
        store.tables["parameters"][code] = Parameter(
            id=parameter_id(code),
            code=code,
            name=name,
            unit=unit,
            kind=ParameterKind(kind),
            min_value=low,
            max_value=high,
            created_at=SEEDED_AT,
            updated_at=SEEDED_AT,
        )
    for code, name, kind, description in STANDARDS:
        store.tables["standards"][code] = Standard(code, name, StandardKind(kind), description)
    for std, param, minimum, maximum, recommended, basis, source in LIMITS:
        store.tables["limits"][(std, param)] = StandardLimit(
            standard_code=std,
            parameter_code=param,
            basis=Basis(basis),
            updated_at=SEEDED_AT,
            min=minimum,
            max=maximum,
            recommended_max=recommended,
            source=source,
        )
    return store


class InMemoryParameterRepository(ParameterRepository):
    def __init__(self, table: Table):
        self._t = table

    def add(self, parameter: Parameter) -> None:
        self._t.put(parameter.code, parameter)

    def get(self, parameter_id: UUID) -> Parameter | None:
        return next((p for p in self._t.scan() if p.id == parameter_id), None)

    def get_by_code(self, code: str) -> Parameter | None:
        found: Parameter | None = self._t.get(code)
        return found

    def all(self) -> list[Parameter]:
        return sorted(self._t.scan(), key=lambda p: p.code)


class InMemoryStandardRepository(StandardRepository):
    def __init__(self, standards: Table, limits: Table):
        self._standards = standards
        self._limits = limits

    def add(self, standard: Standard) -> None:
        self._standards.put(standard.code, standard)

    def get(self, code: str) -> Standard | None:
        found: Standard | None = self._standards.get(code)
        return found

    def all(self) -> list[Standard]:
        return sorted(self._standards.scan(), key=lambda s: s.code)

    def add_limit(self, limit: StandardLimit) -> None:
        self._limits.put((limit.standard_code, limit.parameter_code), limit)

    def get_limit(self, standard_code: str, parameter_code: str) -> StandardLimit | None:
        found: StandardLimit | None = self._limits.get((standard_code, parameter_code))
        return found

    def limits_of_standard(self, standard_code: str) -> list[StandardLimit]:
        limits = [lim for lim in self._limits.scan() if lim.standard_code == standard_code]
        return sorted(limits, key=lambda lim: lim.parameter_code)

    def limits_for_parameter(self, parameter_code: str) -> list[StandardLimit]:
        limits = [lim for lim in self._limits.scan() if lim.parameter_code == parameter_code]
        return sorted(limits, key=lambda lim: lim.standard_code)


def _matches(sample: Sample, q: SampleQuery) -> bool:
    if sample.is_deleted or (q.lab_id is not None and sample.lab_id != q.lab_id):
        return False
    if q.date_from is not None and sample.collection_date < q.date_from:
        return False
    if q.date_to is not None and sample.collection_date > q.date_to:
        return False
    if q.type is not None and sample.type != q.type:
        return False
    if q.status is not None and sample.status != q.status:
        return False
    if q.compliance_status is not None and sample.compliance_status != q.compliance_status:
        return False
    if q.location and sample.location.lower() != q.location.strip().lower():
        return False
    if q.search and q.search.strip():
        needle = q.search.strip().lower()
        return (
            str(sample.id).startswith(needle)
            or needle in sample.location.lower()
            or needle in sample.collector_name.lower()
        )
    return True


class InMemorySampleRepository(SampleRepository):
    def __init__(self, table: Table, results: Table):
        self._t = table
        self._results = results

    def add(self, sample: Sample) -> None:
        self._t.put(sample.id, sample)

    def get(self, sample_id: UUID, *, lock: bool = False) -> Sample | None:
        sample: Sample | None = self._t.get(sample_id)
        return sample if sample is not None and not sample.is_deleted else None

    def get_including_deleted(self, sample_id: UUID) -> Sample | None:
        sample: Sample | None = self._t.get(sample_id)
        return sample

    def get_with_results(self, sample_id: UUID) -> tuple[Sample, list[TestResult]] | None:
        sample = self.get(sample_id)
        if sample is None:
            return None
        return sample, InMemoryResultRepository(self._results).list_for_sample(sample_id)

    def show_with_results(self, sample_id: UUID) -> SampleWithResults | None:
        found = self.get_with_results(sample_id)
        if found is None:
            return None
        return SampleWithResults(found[0].lab_id, found[0].version, records=found)

    def add_many(self, samples: Sequence[Sample]) -> None:
        for sample in samples:
            self._t.put(sample.id, sample)

    def get_many(self, ids: Collection[UUID], *, lock: bool = False) -> dict[UUID, Sample]:
        return {i: self._t.get(i) for i in sorted(ids, key=str) if i in self._t.rows}

    def list(self, query: SampleQuery) -> Page[Sample]:
        found = [s for s in self._t.rows.values() if _matches(s, query)]

        def key(sample: Sample) -> tuple[Any, str]:
            return getattr(sample, query.sort.field), str(sample.id)

        found.sort(key=key, reverse=query.sort.descending)
        page = query.page
        chosen = [self._t.get(s.id) for s in found[page.offset : page.offset + page.limit]]
        return Page(
            items=chosen,
            total=len(found),
            request=page,
            total_exact=len(found) <= EXACT_TOTAL_LIMIT,
        )


class InMemoryResultRepository(ResultRepository):
    def __init__(self, table: Table):
        self._t = table

    def add(self, result: TestResult) -> None:
        self._t.put(result.id, result)

    def get(self, result_id: UUID, *, lock: bool = False) -> TestResult | None:
        result: TestResult | None = self._t.get(result_id)
        return result if result is not None and not result.is_deleted else None

    def get_including_deleted(self, result_id: UUID) -> TestResult | None:
        result: TestResult | None = self._t.get(result_id)
        return result

    def list_for_sample(self, sample_id: UUID) -> list[TestResult]:
        ids = [r.id for r in self._t.rows.values() if r.sample_id == sample_id and not r.is_deleted]
        results = [self._t.get(i) for i in ids]
        return sorted(results, key=lambda r: (r.test_date, str(r.id)))

    def add_many(self, results: Sequence[TestResult]) -> None:
        for result in results:
            self._t.put(result.id, result)

    def get_many(self, ids: Collection[UUID], *, lock: bool = False) -> dict[UUID, TestResult]:
        return {i: self._t.get(i) for i in sorted(ids, key=str) if i in self._t.rows}

    def statuses_for_samples(
        self, sample_ids: Collection[UUID]
    ) -> dict[UUID, list[ComplianceStatus]]:
        found: dict[UUID, list[ComplianceStatus]] = {sid: [] for sid in sample_ids}
        for r in self._t.rows.values():
            if r.sample_id in found and not r.is_deleted:
                found[r.sample_id].append(r.compliance_status)
        return found

    def ids_for_parameter(self, parameter_code: str) -> list[UUID]:
        ids = [
            r.id
            for r in self._t.rows.values()
            if r.parameter == parameter_code and not r.is_deleted
        ]
        return sorted(ids, key=str)
