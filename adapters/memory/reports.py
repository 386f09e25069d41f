"""In-memory compliance-report figures: the same answers as the SQL adapter, for tests."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from adapters.memory.store import InMemoryStore
from domain.compliance import ComplianceStatus
from domain.lab_data import Sample, TestResult
from domain.ports import ComplianceReports
from domain.reports import (
    Exceedance,
    LocationFigures,
    ParameterFigures,
    ReportFigures,
    ReportFilters,
    StatusCounts,
    exceedance_order,
)


def _covered(sample: Sample, f: ReportFilters) -> bool:
    return not (
        sample.is_deleted
        or (f.lab_id is not None and sample.lab_id != f.lab_id)
        or (f.date_from is not None and sample.collection_date < f.date_from)
        or (f.date_to is not None and sample.collection_date > f.date_to)
        or (f.sample_type is not None and sample.type != f.sample_type)
        or (f.compliance_status is not None and sample.compliance_status != f.compliance_status)
        or (f.location and sample.location.lower() != f.location.strip().lower())
    )


def _counts(statuses: Iterable[ComplianceStatus]) -> StatusCounts:
    found = list(statuses)
    return StatusCounts(
        samples=len(found),
        passed=found.count(ComplianceStatus.PASS),
        warning=found.count(ComplianceStatus.WARNING),
        failed=found.count(ComplianceStatus.FAIL),
        pending=found.count(ComplianceStatus.PENDING),
    )


class InMemoryComplianceReports(ComplianceReports):
    def __init__(self, store: InMemoryStore):
        self._store = store

    def figures(self, filters: ReportFilters) -> ReportFigures:
        with self._store.lock:
            samples: dict[object, Sample] = {
                s.id: s for s in self._store.tables["samples"].values() if _covered(s, filters)
            }
            results: list[TestResult] = [
                r
                for r in self._store.tables["results"].values()
                if not r.is_deleted and r.sample_id in samples
            ]
        by_location: dict[str, list[ComplianceStatus]] = defaultdict(list)
        for sample in samples.values():
            by_location[sample.location].append(sample.compliance_status)
        by_parameter: dict[str, list[TestResult]] = defaultdict(list)
        for result in results:
            by_parameter[result.parameter].append(result)
        exceedances = [
            Exceedance(
                sample_id=r.sample_id,
                result_id=r.id,
                parameter=r.parameter,
                value=r.value,
                unit=r.unit,
                location=samples[r.sample_id].location,
                collection_date=samples[r.sample_id].collection_date,
            )
            for r in results
            # as the SQL adapter: a fail result's sample fails too (see its note)
            if r.compliance_status is ComplianceStatus.FAIL
            and samples[r.sample_id].compliance_status is ComplianceStatus.FAIL
        ]
        return ReportFigures(
            totals=_counts(s.compliance_status for s in samples.values()),
            by_location=[
                LocationFigures(location, _counts(statuses))
                for location, statuses in sorted(by_location.items())
            ],
            by_parameter=[_parameter(code, found) for code, found in sorted(by_parameter.items())],
            exceedances=sorted(exceedances, key=exceedance_order),
        )


def _parameter(code: str, results: list[TestResult]) -> ParameterFigures:
    counts = _counts(r.compliance_status for r in results)
    return ParameterFigures(
        parameter=code,
        tests=counts.samples,
        passed=counts.passed,
        warning=counts.warning,
        failed=counts.failed,
        max_value=max(r.value for r in results),
    )
