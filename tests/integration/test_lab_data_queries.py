"""Sample queries on PostgreSQL: every main list query uses an index, and no N+1.

The EXPLAIN tests run the repository's own `list()` on ~30,000 samples in two labs,
capture the SQL and parameters it sends, and EXPLAIN exactly that.
"""

from __future__ import annotations

import json
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

from adapters.sqlalchemy import lab_data, tables
from adapters.sqlalchemy.lab_data import SqlAlchemySampleRepository
from adapters.sqlalchemy.orm import start_mappers
from adapters.sqlalchemy.records import RecordTracker
from application.context import Caller, Principal
from application.views import RawJson
from domain.compliance import ComplianceStatus
from domain.lab_data import SampleStatus, SampleType
from domain.paging import EXACT_TOTAL_LIMIT, PageRequest, Sort
from domain.ports import SAMPLE_SORT_FIELDS, SampleQuery
from domain.roles import Role
from entrypoints.container import Container
from tests.conftest import reset_database
from tests.factories import T0, LabFactory, ResultFactory, SampleFactory

pytestmark = pytest.mark.integration

LAB_A = UUID("aaaaaaaa-0000-4000-8000-000000000001")  # the big lab
LAB_B = UUID("bbbbbbbb-0000-4000-8000-000000000002")
SIZES = {LAB_A: 20_000, LAB_B: 10_000}
TOWNS = ["Casablanca", "Rabat", "Fès", "Marrakech", "Agadir", "Tanger", "Meknès", "Oujda"]
SITES = ["Well", "Spring", "Reservoir", "Tap", "River", "Borehole", "Dam", "Tank"]
LOCATIONS = [f"{town} {site} {n}" for town in TOWNS for site in SITES for n in range(1, 6)]
FIRST = ["Amina", "Youssef", "Salma", "Karim", "Omar", "Fatima", "Hamza", "Nadia"]
LAST = ["Idrissi", "Benali", "Rhazi", "Tazi", "Fassi", "Alaoui"]
COLLECTORS = [f"{first} {last}" for first in FIRST for last in LAST]
SAMPLE_COLUMNS = (
    "id",
    "lab_id",
    "type",
    "location",
    "latitude",
    "longitude",
    "collection_date",
    "collector_name",
    "status",
    "compliance_status",
    "notes",
    "version",
    "created_at",
    "updated_at",
    "deleted_at",
)


def _rows(rng: random.Random) -> Iterator[tuple[Any, ...]]:
    types, statuses = list(SampleType), list(SampleStatus)
    compliance = list(ComplianceStatus)
    for lab_id, count in SIZES.items():
        for _ in range(count):
            collected = T0 - timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
            created = collected + timedelta(hours=rng.randrange(1, 72))
            yield (
                uuid.UUID(int=rng.getrandbits(128), version=4),
                lab_id,
                rng.choices(types, weights=[60, 15, 15, 5, 3, 2])[0].value,
                rng.choice(LOCATIONS),
                round(rng.uniform(27.0, 36.0), 5),
                round(rng.uniform(-13.0, -1.0), 5),
                collected,
                rng.choice(COLLECTORS),
                rng.choices(statuses, weights=[10, 10, 10, 65, 5])[0].value,
                rng.choices(compliance, weights=[15, 65, 12, 8])[0].value,
                None,
                1,
                created,
                created + timedelta(hours=rng.randrange(0, 200)),
                created if rng.random() < 0.02 else None,  # a few tombstones
            )


def _seed(engine: sa.Engine) -> dict[str, Any]:
    reset_database(engine)
    rng = random.Random(20250118)
    with engine.begin() as conn:
        # The test cluster commits asynchronously; VACUUM marks a page all-visible (so the
        # planner costs index-only scans as a live database's) only once the commit that
        # wrote its rows is flushed.
        conn.execute(sa.text("SET LOCAL synchronous_commit TO on"))
        conn.execute(
            sa.insert(tables.labs),
            [
                {"id": lab_id, "name": f"Bulk {n}", "created_at": T0, "updated_at": T0}
                for n, lab_id in enumerate(SIZES)
            ],
        )
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        rows = list(_rows(rng))
        with cursor.copy(f"COPY samples ({', '.join(SAMPLE_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE samples"))
    live_a = [row for row in rows if row[1] == LAB_A and row[-1] is None]
    return {"count": len(rows), "some_id": live_a[0][0], "some_location": live_a[0][3]}


@pytest.fixture(scope="module")
def bulk_seed(admin_engine: sa.Engine) -> Iterator[dict[str, Any]]:
    start_mappers()
    seeded = _seed(admin_engine)
    yield seeded
    reset_database(admin_engine)


@pytest.fixture
def bulk(admin_engine: sa.Engine, bulk_seed: dict[str, Any]) -> dict[str, Any]:
    """The bulk data set; seeded again if a test in between emptied the database."""
    with admin_engine.connect() as conn:
        present = conn.scalar(
            sa.text("SELECT count(*) FROM samples WHERE id = :id"), {"id": bulk_seed["some_id"]}
        )
        total = conn.scalar(sa.text("SELECT count(*) FROM samples"))
    if present != 1 or total != bulk_seed["count"]:
        bulk_seed.update(_seed(admin_engine))
    return bulk_seed


# --- EXPLAIN --------------------------------------------------------------------------


def _captured_list(engine: sa.Engine, query: SampleQuery) -> list[tuple[str, Any]]:
    """The statements (and parameters) SqlAlchemySampleRepository.list sends."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not statement.startswith("EXPLAIN"):  # the estimate of a capped count
            sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with Session(engine) as session:
            page = SqlAlchemySampleRepository(session, RecordTracker(session)).list(query)
            assert page.items, "each EXPLAINed query should find something"
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    # The count and the page in one statement when one index serves the page; else the
    # count (or a search's matching terms) first, then the page.
    assert 1 <= len(sent) <= 2, sent
    return sent


def _plan(engine: sa.Engine, statement: str, parameters: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        raw = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar()
    plan = json.loads(raw) if isinstance(raw, str) else raw
    return plan[0]["Plan"]  # type: ignore[no-any-return]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


INDEX_NODES = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}


def _summary(plan: dict[str, Any]) -> list[str]:
    return [
        f"{n['Node Type']}({n.get('Index Name') or n.get('Relation Name') or ''})"
        for n in _nodes(plan)
    ]


def _page_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The plan without its counts (an Aggregate's subtree): a capped count over most of
    a lab may rightly read the table in order; the page must not."""
    if plan["Node Type"] == "Aggregate":
        return
    yield plan
    for child in plan.get("Plans", []):
        yield from _page_nodes(child)


def _uses_an_index(plan: dict[str, Any]) -> bool:
    nodes = list(_page_nodes(plan))
    seq = [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "samples"]
    return not seq and any(n["Node Type"] in INDEX_NODES for n in nodes)


def _query(name: str, bulk: dict[str, Any]) -> SampleQuery:
    lab = {"lab_id": LAB_A}
    return {
        "lab, newest first": SampleQuery(**lab),
        "lab, page 5": SampleQuery(**lab, page=PageRequest(limit=20, offset=80)),
        "lab + compliance_status": SampleQuery(**lab, compliance_status=ComplianceStatus.FAIL),
        "lab + type": SampleQuery(**lab, type=SampleType.SURFACE),
        "lab + status": SampleQuery(**lab, status=SampleStatus.REJECTED),
        "lab + location": SampleQuery(**lab, location=bulk["some_location"].upper()),
        "lab + date range": SampleQuery(
            **lab, date_from=T0 - timedelta(days=60), date_to=T0 - timedelta(days=30)
        ),
        "lab + search location substring": SampleQuery(**lab, search="arrakech reser"),
        "lab + search collector substring": SampleQuery(**lab, search="DRISS"),
        "lab + search id prefix": SampleQuery(**lab, search=str(bulk["some_id"])[:6]),
        "every lab (admin), newest first": SampleQuery(),
        "every lab + search id prefix": SampleQuery(search=str(bulk["some_id"])[:8].upper()),
        "lab, by location": SampleQuery(**lab, sort=Sort("location")),
        "lab, by collector desc": SampleQuery(**lab, sort=Sort("collector_name", True)),
        "lab, by created_at": SampleQuery(**lab, sort=Sort("created_at")),
        "lab, by updated_at desc": SampleQuery(**lab, sort=Sort("updated_at", True)),
    }[name]


MAIN_QUERIES = [
    "lab, newest first",
    "lab, page 5",
    "lab + compliance_status",
    "lab + type",
    "lab + status",
    "lab + location",
    "lab + date range",
    "lab + search location substring",
    "lab + search collector substring",
    "lab + search id prefix",
    "every lab (admin), newest first",
    "every lab + search id prefix",
    "lab, by location",
    "lab, by collector desc",
    "lab, by created_at",
    "lab, by updated_at desc",
]


def test_a_date_range_sorted_otherwise_reads_its_own_dates(
    admin_engine: sa.Engine, bulk: dict[str, Any]
) -> None:
    """Half a year of the big lab (~5,000 samples: more than FEW_MATCHES) sorted by
    creation: samples are created right after collection, so walking the creation index
    from the newest meets an older range only after every later sample. The page must
    read the range through the collection-date index and sort it."""
    query = SampleQuery(
        lab_id=LAB_A,
        date_from=T0 - timedelta(days=500),
        date_to=T0 - timedelta(days=320),
        sort=Sort("created_at", True),
    )
    page_sql, page_params = _captured_list(admin_engine, query)[-1]
    plan = _plan(admin_engine, page_sql, page_params)
    indexes = {n.get("Index Name") for n in _page_nodes(plan)}
    assert "ix_samples_lab_collection_date" in indexes, _summary(plan)
    assert "ix_samples_lab_created_at" not in indexes, _summary(plan)


def _analyzed(engine: sa.Engine, statement: str, parameters: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        raw = conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
        ).scalar()
    plan = json.loads(raw) if isinstance(raw, str) else raw
    return plan[0]["Plan"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("field", [f for f in SAMPLE_SORT_FIELDS if f != "collection_date"])
def test_a_date_range_sorted_otherwise_sorts_from_the_index_alone(
    admin_engine: sa.Engine, bulk: dict[str, Any], field: str
) -> None:
    """A month's matches carry their sort values from the collection-date index (every
    sortable column is included in it): no table read but the page's own rows."""
    query = SampleQuery(
        lab_id=LAB_A,
        date_from=T0 - timedelta(days=400),
        date_to=T0 - timedelta(days=370),
        sort=Sort(field),
    )
    page_sql, page_params = _captured_list(admin_engine, query)[-1]
    plan = _analyzed(admin_engine, page_sql, page_params)
    on_samples = [n for n in _nodes(plan) if n.get("Relation Name") == "samples"]
    assert {n["Node Type"] for n in on_samples} == {"Index Only Scan", "Index Scan"}, _summary(plan)
    (matches,) = [n for n in on_samples if n["Node Type"] == "Index Only Scan"]
    assert matches["Index Name"] == "ix_samples_lab_collection_date", _summary(plan)
    assert matches["Actual Rows"] > 100
    (rows,) = [n for n in on_samples if n["Node Type"] == "Index Scan"]
    assert rows["Index Name"] == "pk_samples"
    assert rows["Actual Loops"] * rows["Actual Rows"] <= query.page.limit, _summary(plan)


@pytest.mark.parametrize("field", ["location", "created_at", "collector_name"])
def test_a_search_sorted_otherwise_reads_only_its_page_rows(
    admin_engine: sa.Engine, bulk: dict[str, Any], field: str
) -> None:
    """A search matching hundreds of samples sorts them by the value each match carries,
    then reads the page's rows alone by primary key (it read every match's row before)."""
    query = SampleQuery(lab_id=LAB_A, search="marrakech", sort=Sort(field, True))
    page_sql, page_params = _captured_list(admin_engine, query)[-1]
    plan = _analyzed(admin_engine, page_sql, page_params)
    by_key = [n for n in _nodes(plan) if n.get("Index Name") == "pk_samples"]
    assert by_key, _summary(plan)
    assert sum(n["Actual Loops"] * n["Actual Rows"] for n in by_key) <= query.page.limit
    counted = next(n for n in _nodes(plan) if n["Node Type"] == "Aggregate")
    assert counted["Plans"][0]["Actual Rows"] > 1_000, _summary(plan)


def _date_range_by_place_ids(
    engine: sa.Engine, date_from: Any, date_to: Any, descending: bool
) -> list[UUID]:
    direction = "DESC" if descending else "ASC"
    with engine.connect() as conn:
        return list(
            conn.scalars(
                sa.text(
                    "SELECT id FROM samples WHERE lab_id = :lab AND deleted_at IS NULL"
                    " AND collection_date >= :date_from AND collection_date <= :date_to"
                    f" ORDER BY location {direction}, id {direction}"
                ),
                {"lab": LAB_A, "date_from": date_from, "date_to": date_to},
            )
        )


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
def test_few_matches_sorted_otherwise_come_in_the_order_plain_sql_gives(
    admin_engine: sa.Engine, bulk: dict[str, Any], descending: bool
) -> None:
    """The few-matches page sorts (place, id) pairs and reads only the page's rows: the
    same samples, in the same order, page after page, as ORDER BY place, id."""
    date_from, date_to = T0 - timedelta(days=400), T0 - timedelta(days=370)
    expected = _date_range_by_place_ids(admin_engine, date_from, date_to, descending)
    assert 40 < len(expected) <= EXACT_TOTAL_LIMIT
    with Session(admin_engine) as session:
        repo = SqlAlchemySampleRepository(session, RecordTracker(session))
        pages = [
            repo.list(
                SampleQuery(
                    lab_id=LAB_A,
                    date_from=date_from,
                    date_to=date_to,
                    sort=Sort("location", descending),
                    page=PageRequest(limit=20, offset=offset),
                )
            )
            for offset in (0, 20, len(expected) - 7)
        ]
    assert [s.id for s in pages[0].items] == expected[:20]
    assert [s.id for s in pages[1].items] == expected[20:40]
    assert [s.id for s in pages[2].items] == expected[-7:]
    assert pages[0].total == len(expected) and pages[0].total_exact


@pytest.mark.parametrize("name", MAIN_QUERIES)
def test_list_query_uses_an_index(admin_engine: sa.Engine, bulk: dict[str, Any], name: str) -> None:
    query = _query(name, bulk)
    page_sql, page_params = _captured_list(admin_engine, query)[-1]
    plan = _plan(admin_engine, page_sql, page_params)
    assert _uses_an_index(plan), f"{name}: {_summary(plan)}"


# --- no N+1 ---------------------------------------------------------------------------


class StatementCounter:
    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.statements: list[str] = []

    def _record(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(statement)

    def __enter__(self) -> StatementCounter:
        sa.event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)

    @property
    def count(self) -> int:
        return len(self.statements)


def _add_samples(container: Container, lab_id: UUID, count: int, results: int) -> list[UUID]:
    ids = []
    with container.uow() as uow:
        for n in range(count):
            sample = SampleFactory(lab_id=lab_id, collection_date=T0 + timedelta(minutes=n))
            uow.samples.add(sample)
            for m in range(results):
                uow.results.add(
                    ResultFactory(
                        sample_id=sample.id, lab_id=lab_id, test_date=T0 + timedelta(minutes=m)
                    )
                )
            ids.append(sample.id)
        uow.commit()
    return ids


@pytest.fixture
def lab_caller(sql_container: Container) -> tuple[UUID, Caller]:
    lab = LabFactory()
    with sql_container.uow() as uow:
        uow.labs.add(lab)
        uow.commit()
    principal = Principal(user_id=uuid.uuid4(), role=Role.TECHNICIAN, lab_id=lab.id)
    return lab.id, Caller(principal)


def test_listing_samples_costs_a_constant_number_of_statements(
    sql_container: Container, lab_caller: tuple[UUID, Caller]
) -> None:
    lab_id, caller = lab_caller
    list_samples, engine = sql_container.list_samples(), sql_container.engine()
    _add_samples(sql_container, lab_id, 5, results=3)
    list_samples(caller, SampleQuery())  # warm up (first connection, dialect checks)

    with StatementCounter(engine) as five:
        page = list_samples(caller, SampleQuery())
    _add_samples(sql_container, lab_id, 45, results=5)
    with StatementCounter(engine) as twenty:
        bigger = list_samples(caller, SampleQuery(page=PageRequest(limit=20)))
    with StatementCounter(engine) as hundred:
        list_samples(caller, SampleQuery(page=PageRequest(limit=100)))

    assert (len(page.items), page.total) == (5, 5)
    assert (len(bigger.items), bigger.total) == (20, 50)
    assert five.count == twenty.count == hundred.count <= 2, twenty.statements


def test_getting_a_sample_costs_a_constant_number_of_statements(
    sql_container: Container, lab_caller: tuple[UUID, Caller]
) -> None:
    lab_id, caller = lab_caller
    get_sample, engine = sql_container.get_sample(), sql_container.engine()
    (one,) = _add_samples(sql_container, lab_id, 1, results=1)
    (five,) = _add_samples(sql_container, lab_id, 1, results=5)
    (twenty,) = _add_samples(sql_container, lab_id, 1, results=20)
    get_sample(caller, one)  # warm up

    counts, sizes = [], []
    for sample_id in (one, five, twenty):
        with StatementCounter(engine) as counter:
            detail = get_sample(caller, sample_id)
        counts.append(counter.count)
        assert isinstance(detail.view, RawJson)  # serialized by PostgreSQL
        sizes.append(len(json.loads(detail.view)["results"]))
    assert sizes == [1, 5, 20]
    assert counts == [1, 1, 1], counts  # the sample and its results in one statement


# --- large totals -----------------------------------------------------------------------


def test_large_totals_are_estimated_and_has_more_stays_exact(
    admin_engine: sa.Engine, bulk: dict[str, Any]
) -> None:
    with admin_engine.connect() as conn:
        live = conn.scalar(
            sa.text("SELECT count(*) FROM samples WHERE lab_id = :lab AND deleted_at IS NULL"),
            {"lab": LAB_A},
        )
    assert live > EXACT_TOTAL_LIMIT
    with Session(admin_engine) as session:
        repo = SqlAlchemySampleRepository(session, RecordTracker(session))
        first = repo.list(SampleQuery(lab_id=LAB_A))
        assert first.total_exact is False and first.has_more is True
        assert abs(first.total - live) <= live * 0.2  # the planner's estimate, after ANALYZE
        last = repo.list(SampleQuery(lab_id=LAB_A, page=PageRequest(limit=20, offset=live - 5)))
        assert len(last.items) == 5 and last.has_more is False
        small = repo.list(SampleQuery(lab_id=LAB_A, search=str(bulk["some_id"])[:8]))
        assert small.total_exact is True and small.total >= 1


def test_a_date_range_sorted_otherwise_is_counted_and_paged_in_one_statement(
    admin_engine: sa.Engine, bulk: dict[str, Any]
) -> None:
    """Its matches are counted and, being few enough to count exactly, sorted into the
    page by the same statement: one round trip, an exact total, the order plain SQL gives."""
    lab_data._broad_shapes.clear()
    date_from, date_to = T0 - timedelta(days=400), T0 - timedelta(days=370)
    expected = _date_range_by_place_ids(admin_engine, date_from, date_to, descending=True)
    query = SampleQuery(
        lab_id=LAB_A, date_from=date_from, date_to=date_to, sort=Sort("location", True)
    )
    with Session(admin_engine) as session, StatementCounter(admin_engine) as counter:
        page = SqlAlchemySampleRepository(session, RecordTracker(session)).list(query)
    assert counter.count == 1, counter.statements
    assert [s.id for s in page.items] == expected[:20]
    assert page.total == len(expected) and page.total_exact and page.has_more


def test_a_date_range_past_the_cap_walks_the_sort_index_instead(
    admin_engine: sa.Engine, bulk: dict[str, Any]
) -> None:
    """Past the cap the matches the statement held are not the first in the requested
    order: that page is dropped, and the sort index is walked as for any broad filter."""
    date_from, date_to = T0 - timedelta(days=400), T0 - timedelta(days=370)
    expected = _date_range_by_place_ids(admin_engine, date_from, date_to, descending=False)
    cap = 50
    assert len(expected) > cap + 20
    query = SampleQuery(lab_id=LAB_A, date_from=date_from, date_to=date_to, sort=Sort("location"))
    with (
        mock.patch.object(lab_data, "EXACT_TOTAL_LIMIT", cap),
        mock.patch.dict(lab_data._list_structures, clear=True),
        mock.patch.dict(lab_data._broad_shapes, clear=True),
        Session(admin_engine) as session,
        StatementCounter(admin_engine) as counter,
    ):
        page = SqlAlchemySampleRepository(session, RecordTracker(session)).list(query)
    kinds = ["explain" if s.startswith("EXPLAIN") else "count" if "count(" in s else "page"
             for s in counter.statements]  # fmt: skip
    assert kinds == ["count", "explain", "page"], counter.statements
    assert [s.id for s in page.items] == expected[:20]
    assert page.total_exact is False and page.total > cap and page.has_more


def test_a_filter_counted_past_the_cap_is_not_counted_again_for_a_few_seconds(
    admin_engine: sa.Engine, bulk: dict[str, Any]
) -> None:
    """Past 10,000 matches the total is the planner's estimate anyway: once a filter's
    capped count has passed the cap, the same filter skips that count (10,001 index
    entries read) until ESTIMATE_REUSE_SECONDS have passed, then counts again."""
    lab_data._broad_shapes.clear()
    lab_data._estimates.clear()
    by_place = SampleQuery(lab_id=LAB_A, sort=Sort("location"))

    def listed() -> tuple[list[str], Any]:
        with Session(admin_engine) as session, StatementCounter(admin_engine) as counter:
            page = SqlAlchemySampleRepository(session, RecordTracker(session)).list(by_place)
        kinds = ["explain" if s.startswith("EXPLAIN") else "count" if "count(" in s else "page"
                 for s in counter.statements]  # fmt: skip
        return kinds, page

    first, page = listed()
    assert first == ["count", "explain", "page"]  # counted: 10,001 rows, past the cap
    assert page.total_exact is False and page.total > EXACT_TOTAL_LIMIT
    second, again = listed()
    assert second == ["page"]  # no count; the estimate reused
    assert again.total == page.total and again.total_exact is False and again.has_more
    assert [s.id for s in again.items] == [s.id for s in page.items]
    with mock.patch.object(lab_data, "ESTIMATE_REUSE_SECONDS", 0.0):
        fourth, _ = listed()
    assert fourth == ["explain", "count", "page"]  # seconds later: counted again
