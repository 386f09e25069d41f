"""Lab data repositories: reference data, samples (filters, search, sort, paging), results.

Every test runs against both storages with identical assertions.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.reference_data import LIMITS, NM, PARAMETERS, STANDARDS, WHO, parameter_id
from application.views import ResultView, SampleView
from domain.compliance import Basis, ComplianceStatus, ParameterKind, Qualifier, StandardKind
from domain.lab_data import (
    Parameter,
    Sample,
    SampleStatus,
    SampleType,
    Standard,
    StandardLimit,
    TestResult,
)
from domain.model import Lab
from domain.paging import PageRequest, Sort
from domain.ports import SAMPLE_SORT_FIELDS, SampleQuery, SampleWithResults, UnitOfWork
from entrypoints.container import Container
from entrypoints.http import fast_json
from entrypoints.http.schemas import SampleDetailOut
from tests.factories import T0, LabFactory, ResultFactory, SampleFactory

DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def sid(prefix: str, n: int = 0) -> UUID:
    """A readable id with a chosen 8-hex-digit prefix (for prefix search and tie order)."""
    return UUID(f"{prefix}-0000-4000-8000-{n:012d}")


# --- reference data ------------------------------------------------------------------


def test_parameters_are_seeded_from_the_reference_lists(container: Container) -> None:
    with container.uow() as uow:  # (SQL objects expire when the unit of work ends)
        stored = uow.parameters.all()
        check_parameters(stored)


def check_parameters(stored: list[Parameter]) -> None:
    assert len(stored) == len(PARAMETERS) == 21
    assert [p.code for p in stored] == sorted(code for code, *_ in PARAMETERS)
    by_code = {p.code: p for p in stored}
    for code, name, unit, kind, low, high in PARAMETERS:
        p = by_code[code]
        assert (p.id, p.name, p.unit, p.kind, p.min_value, p.max_value, p.version) == (
            parameter_id(code),
            name,
            unit,
            ParameterKind(kind),
            low,
            high,
            1,
        )
        assert isinstance(p.kind, ParameterKind)
    presence = sorted(p.code for p in stored if p.kind is ParameterKind.PRESENCE_ABSENCE)
    assert presence == ["e_coli", "enterococci", "total_coliforms"]


def test_standards_and_limits_are_seeded_from_the_reference_lists(container: Container) -> None:
    with container.uow() as uow:
        standards = [(s.code, s.name, s.kind, s.description) for s in uow.standards.all()]
        limits = {
            code: [
                (limit.snapshot(), limit.basis) for limit in uow.standards.limits_of_standard(code)
            ]
            for code in (WHO, NM)
        }
        nitrate = [
            (limit.standard_code, limit.max)
            for limit in uow.standards.limits_for_parameter("nitrate")
        ]
        missing = uow.standards.limits_of_standard("NO-SUCH-STANDARD")
    assert standards == sorted(
        (code, name, StandardKind(kind), description) for code, name, kind, description in STANDARDS
    )
    assert {code: kind for code, _, kind, _ in standards} == {
        WHO: StandardKind.GUIDELINE,
        NM: StandardKind.REGULATION,
    }
    for code in (WHO, NM):
        expected = sorted(
            (
                {
                    "standard": std,
                    "parameter": param,
                    "min": low,
                    "max": high,
                    "recommended_max": rec,
                    "basis": basis,
                    "source": source,
                    "version": 1,
                }
                for std, param, low, high, rec, basis, source in LIMITS
                if std == code
            ),
            key=lambda limit: str(limit["parameter"]),
        )
        assert expected, code
        assert [snapshot for snapshot, _ in limits[code]] == expected
        assert all(isinstance(basis, Basis) for _, basis in limits[code])
    assert sum(len(v) for v in limits.values()) == len(LIMITS)
    assert nitrate == [(NM, 50), (WHO, 50)]
    assert missing == []


def test_parameter_get_and_add(container: Container) -> None:
    boron = Parameter(
        id=uuid4(),
        code="boron",
        name="Boron",
        unit="mg/L",
        kind=ParameterKind.NUMERIC,
        created_at=T0,
        updated_at=T0,
        min_value=0,
        max_value=1000,
    )
    with container.uow() as uow:
        nitrate = uow.parameters.get(parameter_id("nitrate"))
        assert nitrate is not None
        assert nitrate.code == "nitrate"
        found = uow.parameters.get_by_code("e_coli")
        assert found is not None
        assert (found.id, found.kind) == (parameter_id("e_coli"), ParameterKind.PRESENCE_ABSENCE)
        assert uow.parameters.get(uuid4()) is None
        assert uow.parameters.get_by_code("boron") is None
        uow.parameters.add(boron)
        uow.commit()
    with container.uow() as uow:
        stored = uow.parameters.get(boron.id)
        assert stored is not None
        assert stored.snapshot() == boron.snapshot()
        by_code = uow.parameters.get_by_code("boron")
        assert by_code is not None
        assert by_code.id == boron.id
        codes = [p.code for p in uow.parameters.all()]
    assert len(codes) == 22
    assert codes == sorted(codes)
    assert "boron" in codes


def test_standard_and_limit_get_add_and_edit(container: Container) -> None:
    eu = Standard("EU-DWD-2020", "EU Drinking Water Directive", StandardKind.REGULATION, "test")
    with container.uow() as uow:
        assert uow.standards.get("EU-DWD-2020") is None
        assert uow.standards.get_limit("EU-DWD-2020", "nitrate") is None
        uow.standards.add(eu)
        for param, maximum in (("nitrate", 50.0), ("lead", 5.0)):
            uow.standards.add_limit(
                StandardLimit(
                    standard_code=eu.code,
                    parameter_code=param,
                    basis=Basis.HEALTH,
                    updated_at=T0,
                    max=maximum,
                    source="Directive (EU) 2020/2184, Annex I",
                )
            )
        uow.commit()
    with container.uow() as uow:
        stored = uow.standards.get("EU-DWD-2020")
        assert stored is not None
        assert (stored.name, stored.kind, stored.description) == (
            eu.name,
            StandardKind.REGULATION,
            "test",
        )
        assert [s.code for s in uow.standards.all()] == ["EU-DWD-2020", NM, WHO]
        lead = uow.standards.get_limit("EU-DWD-2020", "lead")
        assert lead is not None
        assert (lead.max, lead.min, lead.basis, lead.version) == (5.0, None, Basis.HEALTH, 1)
        assert uow.standards.get_limit("EU-DWD-2020", "arsenic") is None
        assert uow.standards.get_limit("NO-SUCH", "lead") is None
        assert [x.parameter_code for x in uow.standards.limits_of_standard(eu.code)] == [
            "lead",
            "nitrate",
        ]
        assert [x.standard_code for x in uow.standards.limits_for_parameter("nitrate")] == [
            "EU-DWD-2020",
            NM,
            WHO,
        ]
        # an admin's edit: load, change, commit
        who = uow.standards.get_limit(WHO, "nitrate")
        assert who is not None
        who.max, who.source, who.version, who.updated_at = 45.0, "corrected", 2, T0 + DAY
        uow.commit()
    with container.uow() as uow:
        edited = uow.standards.get_limit(WHO, "nitrate")
        assert edited is not None
        assert (edited.max, edited.source, edited.version, edited.updated_at) == (
            45.0,
            "corrected",
            2,
            T0 + DAY,
        )
        nm = uow.standards.get_limit(NM, "nitrate")
        assert nm is not None
        assert nm.max == 50


def test_reference_is_what_judging_reads_and_follows_every_change(container: Container) -> None:
    def who_nitrate(reference: Any) -> float | None:
        (limit,) = [x for x in reference.applicable_limits("nitrate") if x.standard == WHO]
        return limit.max

    with container.uow() as uow:
        reference = uow.reference()
        nitrate = reference.parameters.get_by_code("nitrate")
        assert nitrate is not None and nitrate.unit == "mg/L"
        assert reference.parameters.get_by_code("unobtainium") is None
        assert [s.code for s in reference.standards.all()] == [NM, WHO]
        assert [x.standard_code for x in reference.standards.limits_for_parameter("nitrate")] == [
            NM,
            WHO,
        ]
        assert [(x.standard, x.max) for x in reference.applicable_limits("nitrate")] == [
            (NM, 50.0),
            (WHO, 50.0),
        ]
    with container.uow() as uow:
        limit = uow.standards.get_limit(WHO, "nitrate")
        assert limit is not None
        limit.max = 45.0
        assert who_nitrate(uow.reference()) == 45.0  # its own change, not committed yet
        uow.rollback()
    with container.uow() as uow:
        assert who_nitrate(uow.reference()) == 50.0
        limit = uow.standards.get_limit(WHO, "nitrate")
        assert limit is not None
        limit.max = 40.0
        uow.commit()
    with container.uow(read_only=True) as uow:
        assert who_nitrate(uow.reference()) == 40.0


# --- samples: storage ----------------------------------------------------------------


@pytest.fixture
def lab(save: Callable[..., None]) -> Lab:
    stored = LabFactory()
    save(stored)
    return stored


def test_sample_and_result_round_trip_every_field(
    container: Container, save: Callable[..., None], lab: Lab
) -> None:
    author = uuid4()
    sample = SampleFactory(
        lab_id=lab.id,
        type=SampleType.GROUND,
        location="Aïn Sebaâ well",
        latitude=33.6,
        longitude=-7.52,
        collection_date=T0 + timedelta(minutes=7, microseconds=123456),
        collector_name="Zoë N'Diaye",
        created_at=T0 + HOUR,
        updated_at=T0 + 2 * HOUR,
        created_by=author,
        updated_by=author,
        status=SampleStatus.IN_ANALYSIS,
        compliance_status=ComplianceStatus.WARNING,
        notes="cloudy\nsecond line",
        version=3,
    )
    evaluations: list[dict[str, Any]] = [
        {"standard": WHO, "min": None, "max": 10.0, "basis": "health", "outcome": "warning"},
        {"standard": NM, "min": None, "max": 10, "recommended_max": None, "outcome": "pass"},
    ]
    result = ResultFactory(
        sample_id=sample.id,
        lab_id=lab.id,
        parameter="arsenic",
        value=8.25,
        unit="µg/L",
        qualifier=Qualifier.BELOW_DETECTION,
        detection_limit=0.5,
        test_date=T0 + DAY,
        technician_name="Technician",
        test_method="ICP-MS",
        compliance_status=ComplianceStatus.WARNING,
        evaluations=evaluations,
        notes="n",
        created_by=author,
        updated_by=author,
        version=2,
    )
    expected_sample, expected_result = dataclasses.asdict(sample), dataclasses.asdict(result)
    save(sample, result)
    with container.uow() as uow:
        loaded = uow.samples.get(sample.id)
        loaded_result = uow.results.get(result.id)
        assert loaded is not None
        assert loaded_result is not None
        assert dataclasses.asdict(loaded) == expected_sample
        assert dataclasses.asdict(loaded_result) == expected_result
        assert isinstance(loaded.type, SampleType)
        assert isinstance(loaded.status, SampleStatus)
        assert isinstance(loaded.compliance_status, ComplianceStatus)
        assert isinstance(loaded_result.qualifier, Qualifier)
        assert loaded.collection_date.utcoffset() == timedelta(0)
        assert loaded.snapshot() == sample.snapshot()
        assert loaded_result.snapshot() == result.snapshot()


def test_get_hides_tombstones_that_get_including_deleted_shows(
    container: Container, save: Callable[..., None], lab: Lab
) -> None:
    live, doomed = SampleFactory(lab_id=lab.id), SampleFactory(lab_id=lab.id)
    save(live, doomed)
    with container.uow() as uow:
        sample = uow.samples.get(doomed.id)
        assert sample is not None
        sample.deleted_at = T0 + DAY
        sample.touch(T0 + DAY, None)
        uow.commit()
    with container.uow() as uow:
        assert uow.samples.get(doomed.id) is None
        tombstone = uow.samples.get_including_deleted(doomed.id)
        assert tombstone is not None
        assert (tombstone.is_deleted, tombstone.deleted_at, tombstone.version) == (
            True,
            T0 + DAY,
            2,
        )
        assert uow.samples.get(live.id) is not None
        assert uow.samples.get_including_deleted(live.id) is not None
        assert uow.samples.get(uuid4()) is None
        assert uow.samples.get_including_deleted(uuid4()) is None
        page = uow.samples.list(SampleQuery())
        assert [s.id for s in page.items] == [live.id]
        assert page.total == 1


def test_uncommitted_samples_are_invisible_to_a_new_unit_of_work(
    container: Container, lab: Lab
) -> None:
    sample = SampleFactory(lab_id=lab.id)
    result = ResultFactory(sample_id=sample.id, lab_id=lab.id)
    with container.uow() as uow:
        uow.samples.add(sample)
        uow.results.add(result)
        # visible inside its own transaction
        assert uow.samples.get(sample.id) is not None
        assert uow.samples.list(SampleQuery(lab_id=lab.id)).total == 1
        assert [r.id for r in uow.results.list_for_sample(sample.id)] == [result.id]
    with container.uow() as uow:
        assert uow.samples.get(sample.id) is None
        assert uow.samples.get_including_deleted(sample.id) is None
        assert uow.samples.list(SampleQuery()).total == 0
        assert uow.results.get(result.id) is None
        assert uow.results.list_for_sample(sample.id) == []
        assert uow.results.ids_for_parameter("nitrate") == []


def test_uncommitted_changes_and_rollbacks_are_discarded(
    container: Container, save: Callable[..., None], lab: Lab
) -> None:
    sample = SampleFactory(lab_id=lab.id, location="Original")
    save(sample)
    with container.uow() as uow:
        loaded = uow.samples.get(sample.id)
        assert loaded is not None
        loaded.location = "Changed, never committed"
    with container.uow() as uow:
        loaded = uow.samples.get(sample.id)
        assert loaded is not None
        assert loaded.location == "Original"
        loaded.status = SampleStatus.RECEIVED
        uow.rollback()
        assert uow.samples.list(SampleQuery(status=SampleStatus.RECEIVED)).total == 0
        again = uow.samples.get(sample.id)
        assert again is not None
        again.status = SampleStatus.COMPLETED
        again.touch(T0 + DAY, None)
        uow.commit()
    with container.uow() as uow:
        final = uow.samples.get(sample.id)
        assert final is not None
        assert (final.location, final.status, final.version) == (
            "Original",
            SampleStatus.COMPLETED,
            2,
        )


# --- samples: listing ----------------------------------------------------------------

# One row per sample, in lab A (a*, dead) or B (b*): "id" is the id's first 8 hex digits,
# "day" the collection date in days after T0, "compl." the compliance status, "c"/"u"
# created_at/updated_at in hours after T0. Every column has ties on purpose; "dead" is a
# tombstone that matches almost everything and must never show.
TABLE = """
name | id       | type     | location        | collector      | day | status      | compl.  | c | u
a1   | c0ffee01 | drinking | River Station   | Amina Idrissi  | 0   | collected   | pending | 1 | 5
a2   | 0badf00d | surface  | River Station   | Youssef Benali | 1   | received    | pass    | 1 | 4
a3   | 7e57a11d | drinking | Lake Dam        | Amina Idrissi  | 1   | completed   | fail    | 2 | 4
a4   | fa11e000 | ground   | Well 50% Zone   | Karim_Tazi     | 2   | completed   | warning | 0 | 5
a5   | 5eed0001 | drinking | Well_1          | Youssef Benali | 2   | collected   | pass    | 2 | 3
a6   | abcdef12 | waste    | Lake Dam        | Salma Rhazi    | 3   | received    | fail    | 0 | 3
a7   | 3a3a3a3a | drinking | Spring 150 Zone | Salma Rhazi    | 3   | in_analysis | pending | 1 | 4
b1   | c0ffee02 | drinking | River Station   | Amina Idrissi  | 1   | collected   | pending | 1 | 1
b2   | b0b0b0b0 | surface  | Harbour         | Omar Fassi     | 4   | rejected    | fail    | 3 | 3
dead | dead0001 | drinking | River Station   | Amina Idrissi  | 1   | collected   | pass    | 1 | 4
"""
ROWS = {
    cells[0]: cells[1:]
    for line in TABLE.strip().splitlines()[1:]
    for cells in [[cell.strip() for cell in line.split("|")]]
}
LIVE_A = ["a1", "a2", "a3", "a4", "a5", "a6", "a7"]
LIVE = [*LIVE_A, "b1", "b2"]


@pytest.fixture
def world(save: Callable[..., None]) -> dict[str, Any]:
    """Two labs, seven live samples and a tombstone in A, two samples in B."""
    labs = {"A": LabFactory(), "B": LabFactory()}
    samples: dict[str, Sample] = {}
    for name, row in ROWS.items():
        prefix, type_, location, collector, day, status, compliance, c, u = row
        lab = "B" if name.startswith("b") else "A"
        samples[name] = SampleFactory(
            id=sid(prefix, len(samples)),
            lab_id=labs[lab].id,
            type=SampleType(type_),
            location=location,
            collector_name=collector,
            collection_date=T0 + int(day) * DAY,
            status=SampleStatus(status),
            compliance_status=ComplianceStatus(compliance),
            created_at=T0 + int(c) * HOUR,
            updated_at=T0 + int(u) * HOUR,
            deleted_at=T0 + DAY if name == "dead" else None,
        )
    save(*labs.values(), *samples.values())
    return {"labs": labs, "samples": samples}


def _names(container: Container, world: dict[str, Any], query: SampleQuery) -> list[str]:
    by_id = {s.id: name for name, s in world["samples"].items()}
    with container.uow() as uow:
        page = uow.samples.list(query)
        names = [by_id[s.id] for s in page.items]
    assert page.total == len(names), "every test here fits on one page"
    return names


LAB_A, LAB_B = "lab:A", "lab:B"


def _query(world: dict[str, Any], **filters: Any) -> SampleQuery:
    lab = filters.pop("lab_id", None)
    if lab in (LAB_A, LAB_B):
        filters["lab_id"] = world["labs"][lab[-1]].id
    elif lab is not None:
        filters["lab_id"] = lab
    for key in ("date_from", "date_to"):
        if key in filters:
            filters[key] = T0 + filters[key] * DAY
    return SampleQuery(**filters, page=PageRequest(limit=100))


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, LIVE),
        ({"lab_id": LAB_A}, LIVE_A),
        ({"lab_id": LAB_B}, ["b1", "b2"]),
        ({"lab_id": uuid.UUID(int=7)}, []),
        # collection date, both ends inclusive
        ({"date_from": 2}, ["a4", "a5", "a6", "a7", "b2"]),
        ({"date_to": 1}, ["a1", "a2", "a3", "b1"]),
        ({"date_from": 1, "date_to": 1}, ["a2", "a3", "b1"]),
        ({"date_from": 1, "date_to": 2}, ["a2", "a3", "a4", "a5", "b1"]),
        ({"date_from": 5}, []),
        ({"type": SampleType.SURFACE}, ["a2", "b2"]),
        ({"type": SampleType.BOTTLED}, []),
        ({"status": SampleStatus.COMPLETED}, ["a3", "a4"]),
        ({"status": SampleStatus.REJECTED}, ["b2"]),
        ({"compliance_status": ComplianceStatus.FAIL}, ["a3", "a6", "b2"]),
        ({"compliance_status": ComplianceStatus.PENDING}, ["a1", "a7", "b1"]),
        # location: exact, case-insensitive, trimmed; not a pattern, not a substring
        ({"location": "river station"}, ["a1", "a2", "b1"]),
        ({"location": "  RIVER STATION "}, ["a1", "a2", "b1"]),
        ({"location": "River"}, []),
        ({"location": "Well 50% Zone"}, ["a4"]),
        ({"location": "well _0% zone"}, []),
        ({"location": "Well%"}, []),
        # search: id prefix ...
        ({"search": "c0ffee"}, ["a1", "b1"]),
        ({"search": "C0FFEE01"}, ["a1"]),
        ({"search": "0BADF"}, ["a2"]),
        ({"search": str(sid("abcdef12", 5))}, ["a6"]),
        ({"search": str(sid("abcdef12", 5)).upper()}, ["a6"]),
        ({"search": "0000-4000-8000"}, []),  # inside every id, but not a prefix
        ({"search": "dead"}, []),  # the tombstone
        # ... location substring, any case ...
        ({"search": "station"}, ["a1", "a2", "b1"]),
        ({"search": "LAKE d"}, ["a3", "a6"]),
        ({"search": "  harbour  "}, ["b2"]),
        # ... collector substring, any case ...
        ({"search": "idrissi"}, ["a1", "a3", "b1"]),
        ({"search": "YOUSSEF"}, ["a2", "a5"]),
        ({"search": "salma rh"}, ["a6", "a7"]),
        # ... LIKE metacharacters are literal
        ({"search": "%"}, ["a4"]),
        ({"search": "50%"}, ["a4"]),
        ({"search": "_"}, ["a4", "a5"]),
        ({"search": "_1"}, ["a5"]),
        ({"search": "l_1"}, ["a5"]),
        ({"search": "\\"}, []),
        ({"search": "   "}, LIVE),  # blank search: no filter
        ({"search": "nothing like it"}, []),
        # combined
        ({"lab_id": LAB_A, "search": "c0ffee"}, ["a1"]),
        ({"lab_id": LAB_B, "location": "river station"}, ["b1"]),
        ({"lab_id": LAB_A, "type": SampleType.DRINKING, "date_from": 1}, ["a3", "a5", "a7"]),
        ({"lab_id": LAB_A, "search": "river", "status": SampleStatus.RECEIVED}, ["a2"]),
        (
            {"lab_id": LAB_A, "compliance_status": ComplianceStatus.FAIL, "date_to": 2},
            ["a3"],
        ),
        ({"search": "amina", "type": SampleType.DRINKING, "date_to": 0}, ["a1"]),
        (
            {
                "lab_id": LAB_A,
                "date_from": 0,
                "date_to": 3,
                "type": SampleType.DRINKING,
                "location": "lake dam",
                "compliance_status": ComplianceStatus.FAIL,
                "status": SampleStatus.COMPLETED,
                "search": "AMINA",
            },
            ["a3"],
        ),
        (
            {
                "lab_id": LAB_A,
                "type": SampleType.DRINKING,
                "status": SampleStatus.COLLECTED,
                "compliance_status": ComplianceStatus.PASS,
                "location": "well_1",
                "search": "5eed",
            },
            ["a5"],
        ),
        ({"lab_id": LAB_B, "compliance_status": ComplianceStatus.WARNING}, []),
    ],
)
def test_list_filters(
    container: Container, world: dict[str, Any], filters: dict[str, Any], expected: list[str]
) -> None:
    found = _names(container, world, _query(world, **filters))
    assert sorted(found) == sorted(expected)


def _expected_order(world: dict[str, Any], names: list[str], sort: Sort) -> list[str]:
    samples = world["samples"]

    def key(name: str) -> tuple[Any, str]:
        return getattr(samples[name], sort.field), str(samples[name].id)

    return sorted(names, key=key, reverse=sort.descending)


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("field", SAMPLE_SORT_FIELDS)
def test_every_sort_field_breaks_ties_by_id_in_the_same_direction(
    container: Container, world: dict[str, Any], field: str, descending: bool
) -> None:
    samples = world["samples"]
    values = [getattr(samples[name], field) for name in LIVE_A]
    assert len(set(values)) < len(values), f"the data set needs a tie on {field}"
    sort = Sort(field, descending=descending)
    expected = _expected_order(world, LIVE_A, sort)
    lab_a = world["labs"]["A"].id
    assert _names(container, world, SampleQuery(lab_id=lab_a, sort=sort)) == expected
    # and page by page (limit 3), the pages join up without gaps or repeats
    by_id = {s.id: name for name, s in samples.items()}
    paged: list[str] = []
    with container.uow() as uow:
        for offset in range(0, 9, 3):
            page = uow.samples.list(
                SampleQuery(lab_id=lab_a, sort=sort, page=PageRequest(limit=3, offset=offset))
            )
            paged += [by_id[s.id] for s in page.items]
    assert paged == expected


def test_default_sort_is_newest_collection_first(
    container: Container, world: dict[str, Any]
) -> None:
    expected = _expected_order(world, LIVE, Sort("collection_date", descending=True))
    assert _names(container, world, SampleQuery(page=PageRequest(limit=100))) == expected
    assert expected[:3] == ["b2", "a6", "a7"]  # b2 (day 4); a7/a6 tie on day 3: larger id first


def test_sort_with_filters_and_search(container: Container, world: dict[str, Any]) -> None:
    # "R" is in every location or collector but a5's
    query = SampleQuery(search="R", sort=Sort("location"), page=PageRequest(limit=100))
    expected = _expected_order(world, [n for n in LIVE if n != "a5"], Sort("location"))
    assert _names(container, world, query) == expected
    query = SampleQuery(
        compliance_status=ComplianceStatus.FAIL,
        sort=Sort("updated_at", descending=True),
        page=PageRequest(limit=100),
    )
    assert _names(container, world, query) == _expected_order(
        world, ["a3", "a6", "b2"], Sort("updated_at", descending=True)
    )


@pytest.mark.parametrize(
    ("limit", "offset", "count", "total_pages", "has_more"),
    [
        (3, 0, 3, 3, True),
        (3, 3, 3, 3, True),
        (3, 6, 1, 3, False),
        (3, 9, 0, 3, False),
        (7, 0, 7, 1, False),
        (100, 0, 7, 1, False),
        (1, 5, 1, 7, True),
    ],
)
def test_pagination_totals(
    container: Container,
    world: dict[str, Any],
    limit: int,
    offset: int,
    count: int,
    total_pages: int,
    has_more: bool,
) -> None:
    request = PageRequest(limit=limit, offset=offset)
    with container.uow() as uow:
        page = uow.samples.list(SampleQuery(lab_id=world["labs"]["A"].id, page=request))
        ids = [s.id for s in page.items]
    assert (len(ids), page.total, page.total_pages, page.has_more) == (
        count,
        7,
        total_pages,
        has_more,
    )
    ordered = _expected_order(world, LIVE_A, Sort("collection_date", descending=True))
    assert ids == [world["samples"][n].id for n in ordered[offset : offset + limit]]


def test_empty_lab_lists_nothing(container: Container, world: dict[str, Any]) -> None:
    with container.uow() as uow:
        page = uow.samples.list(SampleQuery(lab_id=uuid4(), search="river"))
    assert (page.items, page.total, page.total_pages, page.has_more) == ([], 0, 0, False)


def test_search_and_location_ignore_case_beyond_ascii(
    container: Container, save: Callable[..., None], lab: Lab
) -> None:
    sample = SampleFactory(lab_id=lab.id, location="Aïn Sebaâ Köln", collector_name="ÉLODIE")
    other = SampleFactory(lab_id=lab.id, location="Ain Sebaa Koln", collector_name="Elodie")
    save(sample, other)
    with container.uow() as uow:
        for search in ("AÏN", "köln", "KÖLN", "élodie", "Élodie"):
            page = uow.samples.list(SampleQuery(search=search))
            assert [s.id for s in page.items] == [sample.id], search
        for location in ("AÏN SEBAÂ KÖLN", "aïn sebaâ köln"):
            page = uow.samples.list(SampleQuery(location=location))
            assert [s.id for s in page.items] == [sample.id], location


# --- results -------------------------------------------------------------------------


def test_results_of_a_sample_oldest_test_first_then_by_id(
    container: Container, save: Callable[..., None], lab: Lab
) -> None:
    sample, other = SampleFactory(lab_id=lab.id), SampleFactory(lab_id=lab.id)

    def result(prefix: str, sample: Sample, **values: Any) -> Any:
        return ResultFactory(id=sid(prefix), sample_id=sample.id, lab_id=lab.id, **values)

    late = result("00000001", sample, parameter="ph", unit="pH", value=7.1, test_date=T0 + DAY)
    tie_b = result("bbbbbbbb", sample, test_date=T0)
    tie_a = result("aaaaaaaa", sample, test_date=T0)
    middle = result("ffffffff", sample, parameter="lead", unit="µg/L", test_date=T0 + HOUR)
    dead = result("00000000", sample, test_date=T0 - DAY, deleted_at=T0 + DAY)
    elsewhere = result("cccccccc", other, test_date=T0 - DAY)
    save(sample, other, late, tie_b, tie_a, middle, dead, elsewhere)

    with container.uow() as uow:
        assert [r.id for r in uow.results.list_for_sample(sample.id)] == [
            tie_a.id,
            tie_b.id,
            middle.id,
            late.id,
        ]
        assert [r.id for r in uow.results.list_for_sample(other.id)] == [elsewhere.id]
        assert uow.results.list_for_sample(uuid4()) == []
        assert uow.results.get(dead.id) is None
        tombstone = uow.results.get_including_deleted(dead.id)
        assert tombstone is not None
        assert tombstone.deleted_at == T0 + DAY
        found = uow.results.get(late.id)
        assert found is not None
        assert (found.parameter, found.value, found.sample_id) == ("ph", 7.1, sample.id)
        assert uow.results.get(uuid4()) is None
        assert uow.results.get_including_deleted(uuid4()) is None

        assert uow.results.ids_for_parameter("nitrate") == [tie_a.id, tie_b.id, elsewhere.id]
        assert uow.results.ids_for_parameter("ph") == [late.id]
        assert uow.results.ids_for_parameter("lead") == [middle.id]
        assert uow.results.ids_for_parameter("arsenic") == []

        # deleting one more hides it from both lists
        doomed = uow.results.get(tie_b.id)
        assert doomed is not None
        doomed.deleted_at = T0 + DAY
        uow.commit()
    with container.uow() as uow:
        assert [r.id for r in uow.results.list_for_sample(sample.id)] == [
            tie_a.id,
            middle.id,
            late.id,
        ]
        assert uow.results.ids_for_parameter("nitrate") == [tie_a.id, elsewhere.id]


def test_a_sample_with_its_results_in_one_read(
    container: Container, save: Callable[..., None], lab: Lab
) -> None:
    sample, bare = SampleFactory(lab_id=lab.id), SampleFactory(lab_id=lab.id)
    gone = SampleFactory(lab_id=lab.id, deleted_at=T0 + DAY)

    def result(prefix: str, of: Sample, **values: Any) -> Any:
        return ResultFactory(id=sid(prefix), sample_id=of.id, lab_id=lab.id, **values)

    late = result("00000001", sample, parameter="ph", unit="pH", value=7.1, test_date=T0 + DAY)
    tie_b = result("bbbbbbbb", sample, test_date=T0)
    tie_a = result("aaaaaaaa", sample, test_date=T0)
    dead = result("00000000", sample, test_date=T0 - DAY, deleted_at=T0 + DAY)
    save(sample, bare, gone, late, tie_b, tie_a, dead, result("cccccccc", gone, test_date=T0))

    with container.uow(read_only=True) as uow:
        found = uow.samples.get_with_results(sample.id)
        assert found is not None
        assert (found[0].id, found[0].location) == (sample.id, sample.location)
        assert [r.id for r in found[1]] == [tie_a.id, tie_b.id, late.id]
        assert [(r.parameter, r.value) for r in found[1]][-1] == ("ph", 7.1)
        alone = uow.samples.get_with_results(bare.id)
        assert alone is not None
        assert (alone[0].id, alone[1]) == (bare.id, [])
        assert uow.samples.get_with_results(gone.id) is None
        assert uow.samples.get_with_results(uuid4()) is None

    with container.uow() as uow:  # this unit of work's own changes count
        _delete_unflushed(uow, result_id=tie_b.id, sample_id=bare.id)
        found = uow.samples.get_with_results(sample.id)
        assert found is not None
        assert [r.id for r in found[1]] == [tie_a.id, late.id]
        assert uow.samples.get_with_results(bare.id) is None


def _delete_unflushed(uow: UnitOfWork, *, result_id: UUID, sample_id: UUID) -> None:
    """Tombstone a result and a sample in this unit of work, nothing sent yet."""
    result, sample = uow.results.get(result_id), uow.samples.get(sample_id)
    assert result is not None and sample is not None
    result.deleted_at = sample.deleted_at = T0 + DAY


def _as_sent(found: SampleWithResults) -> Any:
    """What `GET /samples/{id}` sends for it, read back as JSON."""
    if found.data_json is not None:
        return fast_json.json_numbers_as_floats(found.data_json)
    assert found.records is not None
    return _view_as_sent(found.records)


def _view_as_sent(records: tuple[Sample, list[TestResult]]) -> Any:
    sample, results = records
    view = SampleView.of(sample, [ResultView.of(r) for r in results])
    return fast_json.json_numbers_as_floats(fast_json.dump(SampleDetailOut, view))


def test_a_sample_shown_with_its_results_is_sent_as_its_view(
    container: Container, save: Callable[..., None], lab: Lab
) -> None:
    """Whether the storage hands records over or JSON it built itself, the client gets the
    same document: awkward values included (micro-seconds, quotes and unicode, small and
    whole floats, nulls, stored evaluations)."""
    moment = T0.replace(microsecond=89)
    sample = SampleFactory(
        lab_id=lab.id, location='Aïn "Sebaâ" \\ well', collection_date=moment,
        collector_name="Zoë", latitude=33.5, longitude=-7.0, notes="line\nbreak",
        created_by=uuid4(), updated_at=moment,
    )  # fmt: skip
    bare = SampleFactory(lab_id=lab.id, latitude=None, longitude=None, notes=None)
    gone = SampleFactory(lab_id=lab.id, deleted_at=T0 + DAY)
    evaluations = [{"standard": "WHO", "min": None, "max": 50.0, "recommended_max": None,
                    "basis": "health", "outcome": "fail"},
                   # JSONB writes this whole float as 45637738120232990 (`make verify`)
                   {"standard": "LAB", "min": 4.563773812023299e16, "max": None,
                    "recommended_max": None, "basis": "health", "outcome": "fail"}]  # fmt: skip

    def result(prefix: str, **values: Any) -> Any:
        return ResultFactory(id=sid(prefix), sample_id=sample.id, lab_id=lab.id, **values)

    nitrate = result("bbbbbbbb", parameter="nitrate", value=80.0, test_date=T0,
                     detection_limit=1e-05, evaluations=evaluations, created_at=moment)  # fmt: skip
    ph = result("aaaaaaaa", parameter="ph", unit="pH", value=7.123456789, test_date=T0,
                technician_name="A'B", test_method=None)  # fmt: skip
    dead = result("00000000", test_date=T0 - DAY, deleted_at=T0 + DAY)
    save(sample, bare, gone, nitrate, ph, dead)

    with container.uow(read_only=True) as uow:
        for record in (sample, bare):
            shown = uow.samples.show_with_results(record.id)
            records = uow.samples.get_with_results(record.id)
            assert shown is not None and records is not None
            assert (shown.lab_id, shown.version) == (lab.id, record.version)
            assert _as_sent(shown) == _view_as_sent(records)
        sent = _as_sent(uow.samples.show_with_results(sample.id))  # type: ignore[arg-type]
        assert [r["id"] for r in sent["results"]] == [str(ph.id), str(nitrate.id)]
        assert (sent["location"], sent["notes"]) == (sample.location, "line\nbreak")
        assert _as_sent(uow.samples.show_with_results(bare.id))["results"] == []  # type: ignore[arg-type]
        assert uow.samples.show_with_results(gone.id) is None
        assert uow.samples.show_with_results(uuid4()) is None

    with container.uow() as uow:  # this unit of work's own changes count
        _delete_unflushed(uow, result_id=nitrate.id, sample_id=bare.id)
        shown = uow.samples.show_with_results(sample.id)
        assert shown is not None
        assert [r["id"] for r in _as_sent(shown)["results"]] == [str(ph.id)]
        assert uow.samples.show_with_results(bare.id) is None
