"""LabRepository: case-insensitive lookups, search, sorting and paging."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest

from domain.model import Lab
from domain.paging import PageRequest, Sort
from domain.ports import LAB_SORT_FIELDS, LabQuery
from entrypoints.container import Container
from tests.factories import T0, LabFactory


@pytest.fixture
def labs(save: Callable[..., None]) -> dict[str, Lab]:
    h = timedelta(hours=1)
    stored = {
        "river": LabFactory(name="River Station", code="RV-01", created_at=T0 + h),
        "lake": LabFactory(name="Lake Köln", code="lk_02", created_at=T0),
        "well": LabFactory(name="Well Field", code=None, created_at=T0),
        "delta": LabFactory(name="delta works", code="DW-03", created_at=T0 + 2 * h),
        "spring": LabFactory(name="Spring 50% Zone", code=None, created_at=T0 + h),
    }
    save(*stored.values())
    return stored


def _names(container: Container, query: LabQuery) -> list[str]:
    with container.uow() as uow:
        return [lab.name for lab in uow.labs.list(query).items]


def test_get_by_name_and_code_ignore_case(container: Container, labs: dict[str, Lab]) -> None:
    with container.uow() as uow:
        for probe in ("River Station", "river station", "RIVER STATION"):
            found = uow.labs.get_by_name(probe)
            assert found is not None
            assert found.id == labs["river"].id
        for probe in ("RV-01", "rv-01", "Rv-01"):
            found = uow.labs.get_by_code(probe)
            assert found is not None
            assert found.id == labs["river"].id
        found = uow.labs.get_by_code("LK_02")
        assert found is not None
        assert found.id == labs["lake"].id
        assert uow.labs.get_by_name("River") is None  # exact, not a prefix
        assert uow.labs.get_by_code("RV") is None
        assert uow.labs.get_by_code("LK%02") is None
        assert uow.labs.get(labs["well"].id) is not None
        assert uow.labs.get(uuid4()) is None


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("STATION", ["River Station"]),  # name
        ("rv-", ["River Station"]),  # code
        ("W", ["delta works", "Well Field"]),  # any case
        ("LK_", ["Lake Köln"]),  # "_" is not a wildcard
        ("50%", ["Spring 50% Zone"]),
        ("köln", ["Lake Köln"]),
        ("nothing", []),
    ],
)
def test_list_search_matches_name_or_code(
    container: Container, labs: dict[str, Lab], search: str, expected: list[str]
) -> None:
    assert _names(container, LabQuery(search=search, sort=Sort("name"))) == sorted(
        expected, key=lambda n: n
    )


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("field", LAB_SORT_FIELDS)
def test_sorting_puts_nulls_last_and_breaks_ties_by_id(
    container: Container, labs: dict[str, Lab], field: str, descending: bool
) -> None:
    items = list(labs.values())
    present = sorted((x for x in items if getattr(x, field) is not None), key=lambda x: x.id)
    present.sort(key=lambda x: getattr(x, field), reverse=descending)
    missing = sorted((x for x in items if getattr(x, field) is None), key=lambda x: x.id)
    expected = [x.name for x in present + missing]
    got = _names(container, LabQuery(sort=Sort(field, descending=descending)))
    assert got == expected


def test_sort_by_code_keeps_labs_without_code_last(
    container: Container, labs: dict[str, Lab]
) -> None:
    asc = _names(container, LabQuery(sort=Sort("code")))
    desc = _names(container, LabQuery(sort=Sort("code", descending=True)))
    # byte order: upper-case codes sort before lower-case ones
    assert asc[:3] == ["delta works", "River Station", "Lake Köln"]
    assert desc[:3] == ["Lake Köln", "River Station", "delta works"]
    assert set(asc[3:]) == set(desc[3:]) == {"Well Field", "Spring 50% Zone"}


def test_default_sort_is_by_name_and_pages_agree(
    container: Container, labs: dict[str, Lab]
) -> None:
    with container.uow() as uow:
        first = uow.labs.list(LabQuery(page=PageRequest(limit=2)))
        last = uow.labs.list(LabQuery(page=PageRequest(limit=2, offset=4)))
        first_names = [lab.name for lab in first.items]
        last_names = [lab.name for lab in last.items]
    assert first_names == ["Lake Köln", "River Station"]
    assert last_names == ["delta works"]
    assert (first.total, first.has_more, first.total_pages) == (5, True, 3)
    assert (last.total, last.has_more) == (5, False)
