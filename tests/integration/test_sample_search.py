"""`GET /samples?search=` through the lab's vocabulary (adapters/sqlalchemy/sample_search.py,
ADR 0016): the terms table follows the samples, and a search answers exactly what the
plain filter (`location ILIKE … OR collector_name ILIKE … OR id::text LIKE …`) answers."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from adapters.sqlalchemy import sample_search, tables
from adapters.sqlalchemy.lab_data import SqlAlchemySampleRepository, sample_filter
from adapters.sqlalchemy.records import RecordTracker
from domain.paging import Page, PageRequest, Sort
from domain.ports import SampleQuery
from tests.conftest import reset_database
from tests.factories import T0

pytestmark = pytest.mark.integration

LAB_A = UUID("aaaaaaaa-0000-4000-8000-00000000000a")
LAB_B = UUID("bbbbbbbb-0000-4000-8000-00000000000b")
PLACES = ["Agadir", "Kénitra", "Fès", "Oued Sebou", "Sidi Kacem", "100% Spring", "Tap_7"]
SITES = ["well", "tap", "Borehole", "reservoir"]
LOCATIONS = [f"{place} {site} {n}" for place in PLACES for site in SITES for n in (1, 2)]
COLLECTORS = ["Amina Idrissi", "Youssef Benali", "Salma Rhazi", "Karim el Fassi"]
COLUMNS = ("id", "lab_id", "type", "location", "collection_date", "collector_name", "status",
           "compliance_status", "version", "created_at", "updated_at", "deleted_at")  # fmt: skip
NEEDLES = ["agadir", "AGADIR", "kénitra", "KÉNITRA", "oued", "fès", "well", "tap", "tap_", "100%",
           "amina", "el fassi", "a", "zz", "0", "a1", "%", "_", "\\", "spring 1", "ap_",
           "0% s", "%_\\", "fe5"]  # fmt: skip


SORTS = [
    Sort("collection_date", descending=True),
    Sort("collection_date"),
    Sort("location"),
    Sort("created_at", descending=True),
    Sort("collector_name", descending=True),
    Sort("compliance_status"),
]


def _copy_samples(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    cursor: Any = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY samples ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _sample_rows(rng: random.Random, lab_id: UUID, count: int) -> list[tuple[Any, ...]]:
    rows = []
    for _ in range(count):
        collected = T0 - timedelta(minutes=rng.randrange(365 * 24 * 60))
        deleted = collected if rng.random() < 0.05 else None
        rows.append(
            (
                uuid.UUID(int=rng.getrandbits(128), version=4),
                lab_id,
                "drinking",
                rng.choice(LOCATIONS),
                collected,
                rng.choice(COLLECTORS),
                "collected",
                "pending",
                1,
                collected,
                collected,
                deleted,
            )
        )
    return rows


@pytest.fixture
def seeded(engine: sa.Engine) -> Iterator[sa.Engine]:
    reset_database(engine)
    rng = random.Random(16)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(tables.labs),
            [
                {"id": lab, "name": f"Search {n}", "created_at": T0, "updated_at": T0}
                for n, lab in enumerate((LAB_A, LAB_B))
            ],
        )
        _copy_samples(conn, _sample_rows(rng, LAB_A, 1_500) + _sample_rows(rng, LAB_B, 500))
    yield engine
    reset_database(engine)


def _terms(engine: sa.Engine) -> set[tuple[UUID, str, str]]:
    t = tables.sample_search_terms.c
    with engine.connect() as conn:
        return {
            (r.lab_id, r.field, r.term) for r in conn.execute(sa.select(t.lab_id, t.field, t.term))
        }


def _used(engine: sa.Engine) -> set[tuple[UUID, str, str]]:
    s = tables.samples.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(s.lab_id, s.location, s.collector_name)).all()
    return {(r.lab_id, "location", r.location) for r in rows} | {
        (r.lab_id, "collector_name", r.collector_name) for r in rows
    }


def _list(engine: sa.Engine, query: SampleQuery, *, plain: bool = False) -> Page[Any]:
    with Session(engine) as session:
        repository = SqlAlchemySampleRepository(session, RecordTracker(session))
        if not plain:
            return repository.list(query)
        with mock.patch.object(sample_search, "applies", lambda *_: False):
            return repository.list(query)


def test_the_terms_follow_the_samples(seeded: sa.Engine) -> None:
    assert _terms(seeded) == _used(seeded)  # after COPY

    s = tables.samples.c
    with seeded.begin() as conn:
        conn.execute(
            sa.update(tables.samples).where(s.lab_id == LAB_B).values(location="Safi port 9")
        )
        row = dict(zip(COLUMNS, _sample_rows(random.Random(1), LAB_A, 1)[0], strict=True))
        conn.execute(sa.insert(tables.samples).values({**row, "collector_name": "Nadia Tazi"}))
        one = sa.select(s.id).where(s.lab_id == LAB_A).limit(1).scalar_subquery()
        conn.execute(
            sa.update(tables.samples).where(s.id == one).values(collector_name="Omar Alaoui")
        )
        conn.execute(
            sa.update(tables.samples).where(s.lab_id == LAB_A).values(version=s.version + 1)
        )

    terms = _terms(seeded)
    assert (LAB_B, "location", "Safi port 9") in terms
    assert (LAB_A, "collector_name", "Nadia Tazi") in terms
    assert (LAB_A, "collector_name", "Omar Alaoui") in terms
    assert _used(seeded) <= terms  # old values stay: they match no live sample any more


@pytest.mark.parametrize("lab_id", [LAB_A, None], ids=["one lab", "every lab"])
def test_a_search_answers_what_the_plain_filter_answers(
    seeded: sa.Engine, lab_id: UUID | None
) -> None:
    answered = []
    real_search = sample_search.search

    def spy(*args: Any) -> Any:
        found = real_search(*args)
        answered.append(found is not None)
        return found

    some_id = str(_list(seeded, SampleQuery(lab_id=lab_id)).items[0].id)
    with seeded.begin() as conn:  # an edit after the terms were first taken
        conn.execute(sa.update(tables.samples).where(tables.samples.c.location.like("Fès tap%"))
                     .values(location="Fès source 3"))  # fmt: skip
    for needle in [*NEEDLES, some_id[:6], some_id[:9].upper(), "fès source"]:
        for sort in SORTS:
            for page in (PageRequest(limit=20), PageRequest(limit=7, offset=21)):
                for since in (None, T0 - timedelta(days=90)):
                    query = SampleQuery(
                        lab_id=lab_id, search=needle, date_from=since, sort=sort, page=page
                    )
                    with mock.patch.object(sample_search, "search", spy):
                        fast = _list(seeded, query)
                    plain = _list(seeded, query, plain=True)
                    context = (needle, sort, page, since)
                    assert [s.id for s in fast.items] == [s.id for s in plain.items], context
                    assert (fast.total, fast.total_exact) == (plain.total, plain.total_exact)
    assert answered and all(answered)  # the vocabulary answered every one of them


def test_more_matches_than_the_count_caps_are_left_to_the_plain_filter(
    seeded: sa.Engine,
) -> None:
    query = SampleQuery(lab_id=LAB_A, search="well")
    with (
        mock.patch.object(sample_search, "EXACT_TOTAL_LIMIT", 5),
        mock.patch.dict(sample_search._statements, clear=True),
        Session(seeded) as session,
    ):
        found = sample_search.search(session.connection(), query, sample_filter(query))
    assert found is None
    fallback = _list(seeded, query)
    assert [s.id for s in fallback.items] == [s.id for s in _list(seeded, query, plain=True).items]
    assert fallback.total > 5


def test_a_needle_in_too_many_terms_is_left_to_the_plain_filter(seeded: sa.Engine) -> None:
    query = SampleQuery(lab_id=LAB_A, search="well")
    with mock.patch.object(sample_search, "MAX_TERMS", 3), Session(seeded) as session:
        found = sample_search.search(session.connection(), query, sample_filter(query))
    assert found is None


def test_other_filters_and_short_needles_take_the_plain_filter() -> None:
    values = {"f_lab_id": LAB_A, "f_contains": "%xyz%", "f_id_prefix": "xyz%"}
    assert sample_search.applies(SampleQuery(lab_id=LAB_A, search="xyz"), values)
    by_place = SampleQuery(lab_id=LAB_A, search="xyz", sort=Sort("location"))
    assert sample_search.applies(by_place, values)
    typed = {**values, "f_type": "drinking"}
    assert not sample_search.applies(SampleQuery(lab_id=LAB_A, search="xyz"), typed)
    short = {"f_lab_id": LAB_A, "f_contains": "%xy%", "f_id_prefix": "xy%"}
    assert not sample_search.applies(SampleQuery(lab_id=LAB_A, search=" xy "), short)


def test_a_term_holding_the_separator_leaves_the_search_to_the_plain_filter(
    seeded: sa.Engine,
) -> None:
    row = dict(zip(COLUMNS, _sample_rows(random.Random(2), LAB_A, 1)[0], strict=True))
    with seeded.begin() as conn:
        location = f"Agadir{sample_search.SEPARATOR}odd {row['id']}"
        conn.execute(
            sa.insert(tables.samples).values({**row, "location": location, "deleted_at": None})
        )
    query = SampleQuery(lab_id=LAB_A, search="agadir")
    with Session(seeded) as session:
        assert sample_search.search(session.connection(), query, sample_filter(query)) is None
    found = _list(seeded, query)
    odd = _list(seeded, SampleQuery(lab_id=LAB_A, search="odd"))
    assert row["id"] in {s.id for s in odd.items}
    assert [s.id for s in found.items] == [s.id for s in _list(seeded, query, plain=True).items]


@pytest.mark.parametrize("one_lab", [True, False], ids=["one lab", "every lab"])
def test_the_term_lookup_keeps_its_trigram_index_when_planned_once(
    seeded: sa.Engine, one_lab: bool
) -> None:
    """The lookup is prepared: PostgreSQL plans it once for any needle (a generic plan),
    and that plan must still find the terms through the trigram index in a large
    vocabulary, not by reading every term."""
    rng = random.Random(5)
    rows = [
        (*row[:3], f"Site {n} {rng.choice(PLACES)}", *row[4:])
        for n, row in enumerate(_sample_rows(rng, LAB_A, 6_000))
    ]
    lookup = sample_search._MATCHING_TERMS[one_lab].sql(seeded.dialect)
    with seeded.begin() as conn:
        _copy_samples(conn, rows)
    with seeded.connect() as conn:  # as autovacuum would: the index's pending list merged
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM ANALYZE sample_search_terms"
        )
    with seeded.begin() as conn:
        conn.execute(sa.text("SET LOCAL plan_cache_mode = force_generic_plan"))
        conn.exec_driver_sql(f"PREPARE term_lookup AS {lookup}")
        arguments = f"'{LAB_A}', '%agadir%'" if one_lab else "'%agadir%'"
        plan = "\n".join(
            conn.exec_driver_sql(f"EXPLAIN EXECUTE term_lookup({arguments})").scalars()
        )
        conn.exec_driver_sql("DEALLOCATE term_lookup")
    assert "ix_sample_search_terms_term_trgm" in plan, plan
