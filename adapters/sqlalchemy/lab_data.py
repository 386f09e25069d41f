"""SQLAlchemy repositories for parameters, standards, samples and test results."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session

from adapters.sqlalchemy import sample_search, tables
from adapters.sqlalchemy.driver import DriverQuery
from adapters.sqlalchemy.jsonb import jsonb_text
from adapters.sqlalchemy.records import (
    RESULT,
    SAMPLE,
    RecordTracker,
    TrackedRepository,
    by_ids,
    by_key,
    fetch_rows,
)
from adapters.sqlalchemy.repositories import escape_like
from adapters.sqlalchemy.wire import sample_with_results_object
from domain.compliance import ComplianceStatus
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

FEW_MATCHES = 2_000
T = TypeVar("T")
# A planner estimate at least this large is trusted without counting (ADR 0008).
BROAD_ESTIMATE = 5 * EXACT_TOTAL_LIMIT


class SqlAlchemyParameterRepository(ParameterRepository):
    def __init__(self, session: Session):
        self._s = session

    def add(self, parameter: Parameter) -> None:
        self._s.add(parameter)

    def get(self, parameter_id: UUID) -> Parameter | None:
        return self._s.get(Parameter, parameter_id)

    def get_by_code(self, code: str) -> Parameter | None:
        return self._s.scalars(sa.select(Parameter).where(tables.parameters.c.code == code)).first()

    def all(self) -> list[Parameter]:
        return list(self._s.scalars(sa.select(Parameter).order_by(tables.parameters.c.code)))


class SqlAlchemyStandardRepository(StandardRepository):
    def __init__(self, session: Session):
        self._s = session

    def add(self, standard: Standard) -> None:
        self._s.add(standard)

    def get(self, code: str) -> Standard | None:
        return self._s.get(Standard, code)

    def all(self) -> list[Standard]:
        return list(self._s.scalars(sa.select(Standard).order_by(tables.standards.c.code)))

    def add_limit(self, limit: StandardLimit) -> None:
        self._s.add(limit)

    def get_limit(self, standard_code: str, parameter_code: str) -> StandardLimit | None:
        return self._s.get(StandardLimit, (standard_code, parameter_code))

    def limits_of_standard(self, standard_code: str) -> list[StandardLimit]:
        c = tables.standard_limits.c
        return list(
            self._s.scalars(
                sa.select(StandardLimit)
                .where(c.standard_code == standard_code)
                .order_by(c.parameter_code)
            )
        )

    def limits_for_parameter(self, parameter_code: str) -> list[StandardLimit]:
        c = tables.standard_limits.c
        return list(
            self._s.scalars(
                sa.select(StandardLimit)
                .where(c.parameter_code == parameter_code)
                .order_by(c.standard_code)
            )
        )


def sample_filter(query: SampleQuery) -> dict[str, Any]:
    """The values a list filters on, by bind parameter name (absent: not filtered on)."""
    values: dict[str, Any] = {}
    if query.lab_id is not None:
        values["f_lab_id"] = query.lab_id
    if query.date_from is not None:
        values["f_date_from"] = query.date_from
    if query.date_to is not None:
        values["f_date_to"] = query.date_to
    if query.type is not None:
        values["f_type"] = query.type.value
    if query.status is not None:
        values["f_status"] = query.status.value
    if query.compliance_status is not None:
        values["f_compliance_status"] = query.compliance_status.value
    if query.location:
        values["f_location"] = query.location.strip().lower()
    if query.search and query.search.strip():
        needle = query.search.strip()
        values["f_id_prefix"] = escape_like(needle.lower()) + "%"
        values["f_contains"] = f"%{escape_like(needle)}%"
    return values


def filter_conditions(values: dict[str, Any]) -> list[Any]:
    """`WHERE` terms for `sample_filter`'s values, as named bind parameters: the same
    structure for the same filters, whatever their values (one compiled statement each)."""
    c = tables.samples.c

    def bound(name: str) -> Any:
        return sa.bindparam(name, values[name])

    conditions: list[Any] = [c.deleted_at.is_(None)]
    if "f_lab_id" in values:
        conditions.append(c.lab_id == bound("f_lab_id"))
    if "f_date_from" in values:
        conditions.append(c.collection_date >= bound("f_date_from"))
    if "f_date_to" in values:
        conditions.append(c.collection_date <= bound("f_date_to"))
    for name in ("type", "status", "compliance_status"):
        if f"f_{name}" in values:
            conditions.append(c[name] == bound(f"f_{name}"))
    if "f_location" in values:
        conditions.append(sa.func.lower(c.location) == bound("f_location"))
    if "f_contains" in values:
        contains = bound("f_contains")
        conditions.append(
            sa.or_(
                sa.cast(c.id, sa.Text).like(bound("f_id_prefix"), escape="\\"),
                c.location.ilike(contains, escape="\\"),
                c.collector_name.ilike(contains, escape="\\"),
            )
        )
    return conditions


def sample_conditions(query: SampleQuery) -> list[Any]:
    return filter_conditions(sample_filter(query))


def copy_rows(session: Session, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """COPY new rows into `table` on the session's connection (its transaction)."""
    if not rows:
        return
    columns = list(rows[0])
    driver = session.connection().connection.driver_connection
    assert driver is not None
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def sample_row(s: Sample) -> dict[str, Any]:
    return {
        "id": s.id, "lab_id": s.lab_id, "type": s.type.value, "location": s.location,
        "latitude": s.latitude, "longitude": s.longitude, "collection_date": s.collection_date,
        "collector_name": s.collector_name, "status": s.status.value,
        "compliance_status": s.compliance_status.value, "notes": s.notes,
        "version": s.version, "created_at": s.created_at, "created_by": s.created_by,
        "updated_at": s.updated_at, "updated_by": s.updated_by, "deleted_at": s.deleted_at,
        "sync_clock": jsonb_text(s.sync_clock),
    }  # fmt: skip


def result_row(r: TestResult) -> dict[str, Any]:
    return {
        "id": r.id, "sample_id": r.sample_id, "lab_id": r.lab_id, "parameter": r.parameter,
        "value": r.value, "qualifier": r.qualifier.value,
        "detection_limit": r.detection_limit, "unit": r.unit, "test_date": r.test_date,
        "technician_name": r.technician_name, "test_method": r.test_method,
        "compliance_status": r.compliance_status.value, "evaluations": jsonb_text(r.evaluations),
        "notes": r.notes, "version": r.version, "created_at": r.created_at,
        "created_by": r.created_by, "updated_at": r.updated_at, "updated_by": r.updated_by,
        "deleted_at": r.deleted_at, "sync_clock": jsonb_text(r.sync_clock),
    }  # fmt: skip


class SqlAlchemySampleRepository(TrackedRepository, SampleRepository):
    """Samples are plain records tracked by the unit of work (adapters/sqlalchemy/records.py)."""

    def __init__(self, session: Session, tracker: RecordTracker):
        super().__init__(session, tracker)
        self._records = tracker.samples

    def add(self, sample: Sample) -> None:
        self._records.add(sample)

    def get(self, sample_id: UUID, *, lock: bool = False) -> Sample | None:
        sample = by_key(self._records, self._conn, sample_id, lock=lock)
        return sample if sample is not None and not sample.is_deleted else None

    def get_including_deleted(self, sample_id: UUID) -> Sample | None:
        return by_key(self._records, self._conn, sample_id)

    def get_with_results(self, sample_id: UUID) -> tuple[Sample, list[TestResult]] | None:
        rows = _SAMPLE_WITH_RESULTS.rows(self._conn(), {"id": sample_id})
        if not rows:
            return None
        split = len(SAMPLE.columns)
        sample = self._records.adopt(SAMPLE.decode(rows[0][:split]))
        if sample.is_deleted:  # by this unit of work, not yet flushed
            return None
        adopt, decode = self._tracker.results.adopt, RESULT.decode
        results = [adopt(decode(row[split:])) for row in rows if row[split] is not None]
        return sample, [r for r in results if not r.is_deleted]

    def show_with_results(self, sample_id: UUID) -> SampleWithResults | None:
        rows = _SAMPLE_WITH_RESULTS_JSON.rows(self._conn(), {"id": sample_id})
        if not rows:
            return None
        lab_id, version, data_json = rows[0]
        return SampleWithResults(lab_id, version, data_json=data_json)

    def add_many(self, samples: Sequence[Sample]) -> None:
        copy_rows(self._s, tables.samples, [sample_row(s) for s in samples])
        self._records.remember_written(samples)

    def get_many(self, ids: Collection[UUID], *, lock: bool = False) -> dict[UUID, Sample]:
        return by_ids(self._records, self._conn(), ids, lock=lock)

    def list(self, query: SampleQuery) -> Page[Sample]:
        """One page, as read-only snapshots (rows mapped straight to `Sample`s)."""
        values = sample_filter(query)
        conn = self._conn()
        if sample_search.applies(query, values):
            found = sample_search.search(conn, query, values)
            if found is not None:
                return found
        shape = _shape(query)
        counted_past_cap_at = _broad_shapes.get(shape) if shape is not None else None
        if counted_past_cap_at is None and _one_index_serves(values, query.sort.field):
            return self._counted_page(conn, query, values, shape)
        counted: int | None = None
        estimate = self._estimate(values) if counted_past_cap_at is not None else None
        # Counted past the cap moments ago: the total is an estimate anyway, so the next
        # few seconds of the same filter skip reading 10,001 index entries again.
        recounts = (
            counted_past_cap_at is None
            or time.monotonic() - counted_past_cap_at >= ESTIMATE_REUSE_SECONDS
        )
        if recounts and (estimate is None or estimate < BROAD_ESTIMATE):
            if _DATE_RANGE.intersection(values) and not _one_index_serves(values, query.sort.field):
                # A date range is sorted from its matches whenever it has few enough to
                # count exactly (below): the count and that page in one statement.
                counted, found = self._counted_few_page(conn, query, values)
                _remember(shape, broad=counted > EXACT_TOTAL_LIMIT)
                if found is not None:
                    return found
            else:
                # The capped count: exact up to EXACT_TOTAL_LIMIT, reading at most one more.
                counted = _list_queries(values).count.scalar(conn, values) or 0
                _remember(shape, broad=counted > EXACT_TOTAL_LIMIT)
        exact = counted is not None and counted <= EXACT_TOTAL_LIMIT
        if counted is None:
            assert estimate is not None
            total = max(estimate, EXACT_TOTAL_LIMIT + 1)
        elif exact:
            total = counted
        else:
            total = max(counted, estimate if estimate is not None else self._estimate(values))
        # Few matches (a selective search): fetch them through the filter's own indexes
        # and sort them, rather than walk a whole lab's sort index hoping to meet them;
        # unless one index holds exactly the matches in the requested order. A date range
        # counts as few up to the count's cap: samples are entered in the order they are
        # collected, so walking `created_at` (or any other order) from one end meets a
        # range in the past only after every later sample (4,207 matches in a month: 43 ms
        # walking the index, 3 ms sorting them).
        few_limit = EXACT_TOTAL_LIMIT if _DATE_RANGE.intersection(values) else FEW_MATCHES
        few = (
            counted is not None
            and counted <= few_limit
            and not _one_index_serves(values, query.sort.field)
        )
        page = _list_queries(values).page(query.sort.field, query.sort.descending, few=few)
        # With an estimated total, one extra row tells whether another page exists.
        params = dict(values, p_limit=query.page.limit + (0 if exact else 1))
        params["p_offset"] = query.page.offset
        decode = SAMPLE.decode
        build = SAMPLE.build
        rows = [build(decode(row)) for row in page.rows(conn, params)]
        more = None if exact else len(rows) > query.page.limit
        return Page(
            items=rows[: query.page.limit],
            total=total,
            request=query.page,
            total_exact=exact,
            more=more,
        )

    def _counted_page(
        self,
        conn: sa.Connection,
        query: SampleQuery,
        values: dict[str, Any],
        shape: tuple[Any, ...] | None,
    ) -> Page[Sample]:
        """The capped count and the page in one statement, when one index holds the
        matches in the requested order: the page walks it whatever the count."""
        statement = _list_queries(values).counted_page(query.sort.field, query.sort.descending)
        params = dict(values, p_limit=query.page.limit + 1, p_offset=query.page.offset)
        rows = statement.rows(conn, params)
        counted = rows[0][0]
        _remember(shape, broad=counted > EXACT_TOTAL_LIMIT)
        decode, build = SAMPLE.decode, SAMPLE.build
        items = [build(decode(row[1:])) for row in rows if row[1] is not None]
        exact = counted <= EXACT_TOTAL_LIMIT
        return Page(
            items=items[: query.page.limit],
            total=counted if exact else max(counted, self._estimate(values)),
            request=query.page,
            total_exact=exact,
            more=None if exact else len(items) > query.page.limit,
        )

    def _counted_few_page(
        self, conn: sa.Connection, query: SampleQuery, values: dict[str, Any]
    ) -> tuple[int, Page[Sample] | None]:
        """The capped count and, when it is exact, the page sorted from those matches.
        Past the cap the matches held are not the first in the requested order: no page."""
        statement = _list_queries(values).counted_few_page(query.sort.field, query.sort.descending)
        params = dict(values, p_limit=query.page.limit, p_offset=query.page.offset)
        rows = statement.rows(conn, params)
        counted = rows[0][0]
        if counted > EXACT_TOTAL_LIMIT:
            return counted, None
        decode, build = SAMPLE.decode, SAMPLE.build
        items = [build(decode(row[1:])) for row in rows if row[1] is not None]
        return counted, Page(items=items, total=counted, request=query.page)

    def _estimate(self, values: dict[str, Any]) -> int:
        """The planner's row estimate: instant, and close for the broad queries that need it.
        It moves only when statistics do (ANALYZE), so each is reused for a few seconds."""
        key = tuple(sorted(values.items()))
        now = time.monotonic()
        known = _estimates.get(key)
        if known is not None and now - known[1] < ESTIMATE_REUSE_SECONDS:
            return known[0]
        plan = _list_queries(values).explain.scalar(self._conn(), values)
        estimate = int(plan[0]["Plan"]["Plan Rows"])
        if len(_estimates) >= _ESTIMATES_MAX:
            _estimates.clear()  # rare; each shape asks the planner once more
        _estimates[key] = (estimate, now)
        return estimate


# Equality filters with an index (lab_id, <filter>, collection_date): with one of them
# (and maybe a date range), a newest-first page is that index read in order.
_DATED_FILTER_INDEXES = frozenset({"f_type", "f_status", "f_compliance_status", "f_location"})
_DATE_RANGE = frozenset({"f_date_from", "f_date_to"})


def _one_index_serves(values: dict[str, Any], sort_field: str) -> bool:
    if sort_field != "collection_date" or "f_contains" in values:
        return False
    filters = len(_DATED_FILTER_INDEXES.intersection(values))
    # Across labs (an admin's list) only the plain collection-date index exists.
    return filters <= 1 if "f_lab_id" in values else filters == 0


class _ListQueries:
    """The statements of one list filter structure (which filters, not their values),
    compiled once per process: the capped count, the planner's estimate, and a page per
    sort (walking the sort index, or sorting the few matches)."""

    def __init__(self, values: dict[str, Any]):
        self._conditions = filter_conditions(values)
        matching = sa.select(sa.literal(1)).select_from(tables.samples).where(*self._conditions)
        self.count = DriverQuery(
            sa.select(sa.func.count()).select_from(
                matching.limit(EXACT_TOTAL_LIMIT + 1).subquery()
            ),
            plan_each_run=True,
        )
        self.explain = DriverQuery(_Explain(matching), plan_each_run=True)
        self._capped = matching.limit(EXACT_TOTAL_LIMIT + 1).subquery()
        self._pages: dict[tuple[str, bool, bool], DriverQuery] = {}
        self._counted_pages: dict[tuple[str, bool], DriverQuery] = {}
        self._counted_few_pages: dict[tuple[str, bool], DriverQuery] = {}

    def counted_page(self, field: str, descending: bool) -> DriverQuery:
        key = (field, descending)
        query = self._counted_pages.get(key)
        if query is None:
            page = self._page_statement(field, descending, few=False).subquery("page")
            counted = sa.select(sa.func.count().label("total")).select_from(self._capped)
            statement = _beside_count(counted, page, field, descending)
            query = self._counted_pages[key] = DriverQuery(statement, plan_each_run=True)
        return query

    def counted_few_page(self, field: str, descending: bool) -> DriverQuery:
        key = (field, descending)
        query = self._counted_few_pages.get(key)
        if query is None:
            samples = tables.samples
            matches = (
                sa.select(samples.c.id, samples.c[field])
                .where(*self._conditions)
                .limit(EXACT_TOTAL_LIMIT + 1)
                .cte("matches")
                .prefix_with("MATERIALIZED")
            )
            counted = sa.select(sa.func.count().label("total")).select_from(matches)
            page = self._sorted_from(matches, field, descending).subquery("rows")
            statement = _beside_count(counted, page, field, descending)
            query = self._counted_few_pages[key] = DriverQuery(statement, plan_each_run=True)
        return query

    def page(self, field: str, descending: bool, *, few: bool) -> DriverQuery:
        key = (field, descending, few)
        query = self._pages.get(key)
        if query is None:
            query = self._pages[key] = DriverQuery(
                self._page_statement(field, descending, few=few), plan_each_run=True
            )
        return query

    def _page_statement(self, field: str, descending: bool, *, few: bool) -> sa.Select[Any]:
        samples = tables.samples
        if not few:
            column, tie = samples.c[field], samples.c.id
            return (
                sa.select(*(samples.c[name] for name in SAMPLE.names))
                .where(*self._conditions)
                .order_by(*_ordered(column, tie, descending))
                .limit(sa.bindparam("p_limit", type_=sa.Integer))
                .offset(sa.bindparam("p_offset", type_=sa.BigInteger))
            )
        # The few matches, as (sort value, id) only: sorting thousands of whole rows (a
        # month is ~4,000 samples) copied every column of each into the CTE and the sort,
        # ~10 ms; the page's rows are then read by primary key.
        matches = (
            sa.select(samples.c.id, samples.c[field])
            .where(*self._conditions)
            .cte("matches")
            .prefix_with("MATERIALIZED")
        )
        return self._sorted_from(matches, field, descending).order_by(
            *_ordered(samples.c[field], samples.c.id, descending)
        )

    @staticmethod
    def _sorted_from(matches: Any, field: str, descending: bool) -> sa.Select[Any]:
        """One page of the matches' (id, sort value) pairs, sorted, then its rows by key."""
        samples = tables.samples
        page = (
            sa.select(matches.c.id)
            .order_by(*_ordered(matches.c[field], matches.c.id, descending))
            .limit(sa.bindparam("p_limit", type_=sa.Integer))
            .offset(sa.bindparam("p_offset", type_=sa.BigInteger))
            .subquery("page")
        )
        return sa.select(*(samples.c[name] for name in SAMPLE.names)).join(
            page, samples.c.id == page.c.id
        )


def _beside_count(
    counted: sa.Select[Any], page: Any, field: str, descending: bool
) -> sa.Select[Any]:
    """The count in every row of the page, in order. An outer join from the count: an
    empty page (past the last) still says how many matched."""
    counted_cte = counted.cte("counted")
    return (
        sa.select(counted_cte.c.total, *(page.c[name] for name in SAMPLE.names))
        .select_from(counted_cte.outerjoin(page, sa.true()))
        .order_by(*_ordered(page.c[field], page.c.id, descending))
    )


def _ordered(column: Any, tie: Any, descending: bool) -> list[Any]:
    return [column.desc(), tie.desc()] if descending else [column.asc(), tie.asc()]


class _Explain(sa.Executable, sa.ClauseElement):
    """`EXPLAIN (FORMAT JSON) <select>`: compiles to the select's own SQL and binds."""

    inherit_cache = False

    def __init__(self, select: sa.Select[Any]):
        self.select = select


@compiles(_Explain)
def _compile_explain(element: _Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + str(compiler.process(element.select, **kw))


_list_structures: dict[frozenset[str], _ListQueries] = {}


def _list_queries(values: dict[str, Any]) -> _ListQueries:
    key = frozenset(values)
    found = _list_structures.get(key)
    if found is None:  # at most 2^9 structures; a race builds one twice, harmlessly
        found = _list_structures[key] = _ListQueries(values)
    return found


# Filter shapes (the filters of a list, without sort and page) whose last capped count
# overflowed, in this process. A list of a known-broad shape asks the planner first and
# skips the count when the estimate is at least BROAD_ESTIMATE (ADR 0008); a smaller
# estimate means the data shrank (or the estimate is off): it counts again and relearns.
# Unknown shapes count first, so small labs send exactly the two statements they always
# did. Searches are never remembered: estimates for substring matches are guesses.
# The filters whose capped count last passed EXACT_TOTAL_LIMIT, and when (monotonic).
_broad_shapes: dict[tuple[Any, ...], float] = {}
_BROAD_SHAPES_MAX = 1024
# The planner's estimates by filter values, with when they were taken.
ESTIMATE_REUSE_SECONDS = 10.0
_estimates: dict[tuple[Any, ...], tuple[int, float]] = {}
_ESTIMATES_MAX = 4096


def _shape(query: SampleQuery) -> tuple[Any, ...] | None:
    if query.search and query.search.strip():
        return None
    location = query.location.strip().lower() if query.location else None
    return (
        query.lab_id,
        query.date_from,
        query.date_to,
        query.type,
        query.status,
        query.compliance_status,
        location,
    )


def _remember(shape: tuple[Any, ...] | None, *, broad: bool) -> None:
    if shape is None:
        return
    if not broad:
        _broad_shapes.pop(shape, None)
        return
    if shape not in _broad_shapes and len(_broad_shapes) >= _BROAD_SHAPES_MAX:
        _broad_shapes.clear()  # rare; relearning costs one count per shape
    _broad_shapes[shape] = time.monotonic()


# `GET /samples/{id}`: the sample and its results in one round trip (one row per result,
# the sample's columns repeated; a sample without results comes back once, results NULL).
_SAMPLE_WITH_RESULTS = DriverQuery(
    sa.select(*SAMPLE.columns, *RESULT.columns)
    .select_from(
        tables.samples.outerjoin(
            tables.test_results,
            sa.and_(
                tables.test_results.c.sample_id == tables.samples.c.id,
                tables.test_results.c.deleted_at.is_(None),
            ),
        )
    )
    .where(tables.samples.c.id == sa.bindparam("id"), tables.samples.c.deleted_at.is_(None))
    .order_by(tables.test_results.c.test_date, tables.test_results.c.id)
)

# `GET /samples/{id}` when the sample is only shown: the same, as JSON built by PostgreSQL.
_SAMPLE_WITH_RESULTS_JSON = DriverQuery(
    sa.select(
        tables.samples.c.lab_id,
        tables.samples.c.version,
        sa.cast(sample_with_results_object(tables.samples), sa.Text),
    ).where(tables.samples.c.id == sa.bindparam("id"), tables.samples.c.deleted_at.is_(None))
)

_LIVE_RESULTS_OF = DriverQuery(
    RESULT.select()
    .where(
        tables.test_results.c.sample_id == sa.bindparam("sample_id"),
        tables.test_results.c.deleted_at.is_(None),
    )
    .order_by(tables.test_results.c.test_date, tables.test_results.c.id)
)


# Every write to a result recomputes its sample's status from this (ADR 0017).
_LIVE_STATUSES_OF = DriverQuery(
    sa.select(tables.test_results.c.sample_id, tables.test_results.c.compliance_status).where(
        tables.test_results.c.sample_id == sa.any_(sa.bindparam("sample_ids")),
        tables.test_results.c.deleted_at.is_(None),
    )
)


class SqlAlchemyResultRepository(TrackedRepository, ResultRepository):
    """Results are plain records tracked by the unit of work (adapters/sqlalchemy/records.py)."""

    def __init__(self, session: Session, tracker: RecordTracker):
        super().__init__(session, tracker)
        self._records = tracker.results

    def add(self, result: TestResult) -> None:
        self._records.add(result)

    def get(self, result_id: UUID, *, lock: bool = False) -> TestResult | None:
        result = by_key(self._records, self._conn, result_id, lock=lock)
        return result if result is not None and not result.is_deleted else None

    def get_including_deleted(self, result_id: UUID) -> TestResult | None:
        return by_key(self._records, self._conn, result_id)

    def list_for_sample(self, sample_id: UUID) -> list[TestResult]:
        return fetch_rows(self._records, self._conn(), _LIVE_RESULTS_OF, {"sample_id": sample_id})

    def add_many(self, results: Sequence[TestResult]) -> None:
        copy_rows(self._s, tables.test_results, [result_row(r) for r in results])
        self._records.remember_written(results)

    def get_many(self, ids: Collection[UUID], *, lock: bool = False) -> dict[UUID, TestResult]:
        return by_ids(self._records, self._conn(), ids, lock=lock)

    def statuses_for_samples(
        self, sample_ids: Collection[UUID]
    ) -> dict[UUID, list[ComplianceStatus]]:
        found: dict[UUID, list[ComplianceStatus]] = {sid: [] for sid in sample_ids}
        if sample_ids:
            rows = _LIVE_STATUSES_OF.rows(self._conn(), {"sample_ids": list(found)})
            for sample_id, status in rows:
                found[sample_id].append(ComplianceStatus(status))
        return found

    def ids_for_parameter(self, parameter_code: str) -> list[UUID]:
        c = tables.test_results.c
        return list(
            self._conn().scalars(
                sa.select(c.id)
                .where(c.parameter == parameter_code, c.deleted_at.is_(None))
                .order_by(c.id)
            )
        )
