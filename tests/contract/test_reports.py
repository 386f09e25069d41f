"""Compliance-report figures: the same data gives the same report on both storages.

Every test builds its data through the repositories and asserts exact `ReportFigures`,
so the SQL aggregates and the in-memory twin cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import pytest

from domain.compliance import ComplianceStatus
from domain.lab_data import Sample, SampleType, TestResult
from domain.reports import (
    Exceedance,
    LocationFigures,
    ParameterFigures,
    ReportFigures,
    ReportFilters,
    StatusCounts,
)
from entrypoints.container import Container
from tests.factories import T0, LabFactory, ResultFactory, SampleFactory

DAY = timedelta(days=1)
PASS, WARNING, FAIL, PENDING = (
    ComplianceStatus.PASS,
    ComplianceStatus.WARNING,
    ComplianceStatus.FAIL,
    ComplianceStatus.PENDING,
)


def uid(n: int) -> UUID:
    return UUID(f"00000000-0000-4000-8000-{n:012d}")


@dataclass
class World:
    lab_a: UUID
    lab_b: UUID
    samples: dict[str, Sample]
    results: dict[str, TestResult]


@pytest.fixture
def world(save: Callable[..., None]) -> World:
    lab_a, lab_b = LabFactory(), LabFactory()
    samples: dict[str, Sample] = {}
    results: dict[str, TestResult] = {}

    def sample(key: str, n: int, lab: UUID, **values: object) -> Sample:
        samples[key] = SampleFactory(id=uid(n), lab_id=lab, **values)
        return samples[key]

    def result(key: str, n: int, of: str, parameter: str, value: float, **values: object) -> None:
        unit = {"nitrate": "mg/L", "ph": "pH", "e_coli": "CFU/100mL"}[parameter]
        s = samples[of]
        results[key] = ResultFactory(
            id=uid(n),
            sample_id=s.id,
            lab_id=s.lab_id,
            parameter=parameter,
            value=value,
            unit=unit,
            **values,
        )

    a, b = lab_a.id, lab_b.id
    # Two samples collected at the same instant: their exceedances order by sample id.
    sample("s1", 12, a, location="Bouskoura well", collection_date=T0, compliance_status=FAIL)
    sample("s2", 11, a, location="Ain Harrouda", collection_date=T0, compliance_status=FAIL)
    sample(
        "s3",
        13,
        a,
        location="Bouskoura well",
        collection_date=T0 + 10 * DAY,
        compliance_status=WARNING,
        type=SampleType.GROUND,
    )
    sample("s4", 14, a, location="Zagora", collection_date=T0 + 20 * DAY)  # pending
    sample("s5", 15, a, location="azemmour", collection_date=T0 + 30 * DAY, compliance_status=PASS)
    sample("s6", 16, a, location="Éco-site", collection_date=T0 + 40 * DAY, compliance_status=PASS)
    sample("gone", 17, a, location="Zagora", collection_date=T0, compliance_status=FAIL)
    sample("b1", 18, b, location="Rabat", collection_date=T0, compliance_status=FAIL)
    samples["gone"].deleted_at = T0 + DAY

    result("r1", 101, "s1", "nitrate", 60.0, compliance_status=FAIL)
    result("r2", 102, "s1", "ph", 7.2, compliance_status=PASS)
    result("r3", 103, "s1", "e_coli", 1.0, compliance_status=FAIL)
    result("r4", 104, "s2", "ph", 9.2, compliance_status=FAIL)
    result("r5", 105, "s2", "nitrate", 80.0, compliance_status=FAIL, deleted_at=T0 + DAY)
    result("r6", 106, "s3", "nitrate", 45.0, compliance_status=WARNING)
    result("r7", 107, "s5", "nitrate", 12.0, compliance_status=PASS)
    result("r8", 108, "s6", "ph", 7.0, compliance_status=PASS)
    result("r9", 109, "gone", "nitrate", 99.0, compliance_status=FAIL, deleted_at=T0 + DAY)
    result("r10", 110, "b1", "nitrate", 75.0, compliance_status=FAIL)
    save(lab_a, lab_b, *samples.values(), *results.values())
    return World(a, b, samples, results)


def figures(container: Container, **filters: object) -> ReportFigures:
    return container.report_figures().figures(ReportFilters(**filters))  # type: ignore[no-any-return]


def exceedance(w: World, result_key: str) -> Exceedance:
    r = w.results[result_key]
    s = next(s for s in w.samples.values() if s.id == r.sample_id)
    return Exceedance(s.id, r.id, r.parameter, r.value, r.unit, s.location, s.collection_date)


def counts(samples: int, p: int = 0, w: int = 0, f: int = 0, pending: int = 0) -> StatusCounts:
    return StatusCounts(samples=samples, passed=p, warning=w, failed=f, pending=pending)


def test_a_labs_report_counts_live_records_only(container: Container, world: World) -> None:
    got = figures(container, lab_id=world.lab_a)
    assert got == ReportFigures(
        totals=counts(6, p=2, w=1, f=2, pending=1),
        # by code point: upper case before lower case, accented letters last
        by_location=[
            LocationFigures("Ain Harrouda", counts(1, f=1)),
            LocationFigures("Bouskoura well", counts(2, w=1, f=1)),
            LocationFigures("Zagora", counts(1, pending=1)),
            LocationFigures("azemmour", counts(1, p=1)),
            LocationFigures("Éco-site", counts(1, p=1)),
        ],
        by_parameter=[
            ParameterFigures("e_coli", tests=1, passed=0, warning=0, failed=1, max_value=1.0),
            ParameterFigures("nitrate", tests=3, passed=1, warning=1, failed=1, max_value=60.0),
            ParameterFigures("ph", tests=3, passed=2, warning=0, failed=1, max_value=9.2),
        ],
        # by collection date, then sample id (s2 < s1), then parameter code
        exceedances=[exceedance(world, "r4"), exceedance(world, "r3"), exceedance(world, "r1")],
    )


def test_without_a_lab_the_report_spans_every_lab(container: Container, world: World) -> None:
    got = figures(container)
    assert got.totals == counts(7, p=2, w=1, f=3, pending=1)
    assert [loc.location for loc in got.by_location][:3] == [
        "Ain Harrouda",
        "Bouskoura well",
        "Rabat",
    ]
    nitrate = next(p for p in got.by_parameter if p.parameter == "nitrate")
    assert (nitrate.tests, nitrate.failed, nitrate.max_value) == (4, 2, 75.0)
    assert exceedance(world, "r10") in got.exceedances and len(got.exceedances) == 4


def test_filters_select_samples_as_the_sample_list_does(container: Container, world: World) -> None:
    a = world.lab_a
    # Dates are inclusive at both ends.
    window = figures(container, lab_id=a, date_from=T0 + 10 * DAY, date_to=T0 + 20 * DAY)
    assert window.totals == counts(2, w=1, pending=1)
    assert window.exceedances == []
    assert [p.parameter for p in window.by_parameter] == ["nitrate"]

    by_type = figures(container, lab_id=a, sample_type=SampleType.GROUND)
    assert by_type.totals == counts(1, w=1)

    # Location: the exact site name in any case.
    site = figures(container, lab_id=a, location="  BOUSKOURA WELL ")
    assert site.totals == counts(2, w=1, f=1)
    assert site.by_location == [LocationFigures("Bouskoura well", counts(2, w=1, f=1))]
    assert figures(container, lab_id=a, location="Bouskoura").totals == counts(0)

    failing = figures(container, lab_id=a, compliance_status=FAIL)
    assert failing.totals == counts(2, f=2)
    assert [e.result_id for e in failing.exceedances] == [uid(104), uid(103), uid(101)]
    passing = figures(container, lab_id=a, compliance_status=PASS)
    assert passing.exceedances == [] and passing.totals == counts(2, p=2)


def test_an_empty_selection_has_zero_totals_and_no_rows(container: Container, world: World) -> None:
    got = figures(container, lab_id=world.lab_a, date_from=T0 + 365 * DAY)
    assert got == ReportFigures(totals=counts(0))
    assert figures(container, lab_id=uid(999)) == ReportFigures(totals=counts(0))


def test_edits_and_deletes_change_the_next_report(container: Container, world: World) -> None:
    with container.uow() as uow:
        r1 = uow.results.get(uid(101))
        assert r1 is not None
        r1.deleted_at = T0 + 2 * DAY
        s4 = uow.samples.get(uid(14))
        assert s4 is not None
        s4.deleted_at = T0 + 2 * DAY
        uow.commit()
    got = figures(container, lab_id=world.lab_a)
    assert got.totals == counts(5, p=2, w=1, f=2)
    assert [e.result_id for e in got.exceedances] == [uid(104), uid(103)]
    nitrate = next(p for p in got.by_parameter if p.parameter == "nitrate")
    assert (nitrate.tests, nitrate.failed, nitrate.max_value) == (2, 0, 45.0)
