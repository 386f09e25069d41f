"""SQLAlchemy repositories for parameters, standards, samples and test results."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.engine import PLAN_EACH_RUN
from adapters.sqlalchemy.jsonb import jsonb_text
from adapters.sqlalchemy.records import SAMPLE, RecordTracker, by_ids, fetch
from adapters.sqlalchemy.repositories import contains, escape_like
from domain.compliance import ComplianceStatus
from domain.lab_data import Parameter, Sample, Standard, StandardLimit, TestResult
from domain.paging import EXACT_TOTAL_LIMIT, Page
from domain.ports import (
    ParameterRepository,
    ResultRepository,
    SampleQuery,
    SampleRepository,
    StandardRepository,
)

FEW_MATCHES = 2_000
# A list's best plan depends on its filter values (a search pattern, a date range, a
# type's share of the lab): never a generic plan for those statements (ADR 0014).
PLANNED_FOR_VALUES = {PLAN_EACH_RUN: True}
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


def sample_conditions(query: SampleQuery) -> list[Any]:
    c = tables.samples.c
    conditions: list[Any] = [c.deleted_at.is_(None)]
    if query.lab_id is not None:
        conditions.append(c.lab_id == query.lab_id)
    if query.date_from is not None:
        conditions.append(c.collection_date >= query.date_from)
    if query.date_to is not None:
        conditions.append(c.collection_date <= query.date_to)
    if query.type is not None:
        conditions.append(c.type == query.type)
    if query.status is not None:
        conditions.append(c.status == query.status)
    if query.compliance_status is not None:
        conditions.append(c.compliance_status == query.compliance_status)
    if query.location:
        conditions.append(sa.func.lower(c.location) == query.location.strip().lower())
    if query.search and query.search.strip():
        needle = query.search.strip()
        conditions.append(
            sa.or_(
                sa.cast(c.id, sa.Text).like(escape_like(needle.lower()) + "%", escape="\\"),
                contains(c.location, needle),
                contains(c.collector_name, needle),
            )
        )
    return conditions


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


class SqlAlchemySampleRepository(SampleRepository):
    """Samples are plain records tracked by the unit of work (adapters/sqlalchemy/records.py)."""

    def __init__(self, session: Session, tracker: RecordTracker):
        self._s = session
        self._tracker = tracker
        self._records = tracker.samples

    def _conn(self) -> sa.Connection:
        self._tracker.flush()
        return self._s.connection()

    def add(self, sample: Sample) -> None:
        self._records.add(sample)

    def get(self, sample_id: UUID) -> Sample | None:
        sample = self.get_including_deleted(sample_id)
        return sample if sample is not None and not sample.is_deleted else None

    def get_including_deleted(self, sample_id: UUID) -> Sample | None:
        cached = self._records.cached(sample_id)
        if cached is not None:
            return cached
        found = fetch(self._records, self._conn(), [tables.samples.c.id == sample_id])
        return found[0] if found else None

    def add_many(self, samples: Sequence[Sample]) -> None:
        copy_rows(self._s, tables.samples, [sample_row(s) for s in samples])
        self._records.remember_written(samples)

    def get_many(self, ids: Collection[UUID], *, lock: bool = False) -> dict[UUID, Sample]:
        return by_ids(self._records, self._conn(), ids, lock=lock)

    def list(self, query: SampleQuery) -> Page[Sample]:
        """One page, as read-only snapshots (Core rows mapped straight to `Sample`s)."""
        conditions = sample_conditions(query)
        matching = sa.select(sa.literal(1)).select_from(tables.samples).where(*conditions)
        conn = self._conn()
        shape = _shape(query)
        counted: int | None = None
        estimate = self._estimate(matching) if shape in _broad_shapes else None
        if estimate is None or estimate < BROAD_ESTIMATE:
            # The capped count: exact up to EXACT_TOTAL_LIMIT, reading at most one more row.
            counted = (
                conn.scalar(
                    sa.select(sa.func.count()).select_from(
                        matching.limit(EXACT_TOTAL_LIMIT + 1).subquery()
                    ),
                    execution_options=PLANNED_FOR_VALUES,
                )
                or 0
            )
            _remember(shape, broad=counted > EXACT_TOTAL_LIMIT)
        exact = counted is not None and counted <= EXACT_TOTAL_LIMIT
        if counted is None:
            assert estimate is not None
            total = estimate
        elif exact:
            total = counted
        else:
            total = max(counted, estimate if estimate is not None else self._estimate(matching))
        source: Any = tables.samples
        if counted is not None and counted <= FEW_MATCHES:
            # Few matches (a selective search): fetch them through the filter's own indexes
            # and sort them, rather than walk a whole lab's sort index hoping to meet them.
            source = (
                sa.select(tables.samples)
                .where(*conditions)
                .cte("matches")
                .prefix_with("MATERIALIZED")
            )
        columns = source.c
        column, tie = columns[query.sort.field], columns.id
        order = [column.desc(), tie.desc()] if query.sort.descending else [column.asc(), tie.asc()]
        # With an estimated total, one extra row tells whether another page exists.
        fetch = query.page.limit + (0 if exact else 1)
        stmt = (
            sa.select(*(columns[name] for name in SAMPLE.names))
            .order_by(*order)
            .limit(fetch)
            .offset(query.page.offset)
        )
        if source is tables.samples:
            stmt = stmt.where(*conditions)
        rows = [
            SAMPLE.build(row) for row in conn.execute(stmt, execution_options=PLANNED_FOR_VALUES)
        ]
        more = None if exact else len(rows) > query.page.limit
        return Page(
            items=rows[: query.page.limit],
            total=total,
            request=query.page,
            total_exact=exact,
            more=more,
        )

    def _estimate(self, matching: sa.Select[Any]) -> int:
        """The planner's row estimate: instant, and close for the broad queries that need it."""
        compiled = matching.compile(dialect=self._s.get_bind().dialect)
        params: Any = compiled.params
        if compiled.positiontup is not None:  # the engine binds positionally ($1, $2 …)
            params = tuple(params[name] for name in compiled.positiontup)
        plan = (
            self._s.connection()
            .exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), params)
            .scalar_one()
        )
        return int(plan[0]["Plan"]["Plan Rows"])


# Filter shapes (the filters of a list, without sort and page) whose last capped count
# overflowed, in this process. A list of a known-broad shape asks the planner first and
# skips the count when the estimate is at least BROAD_ESTIMATE (ADR 0008); a smaller
# estimate means the data shrank (or the estimate is off): it counts again and relearns.
# Unknown shapes count first, so small labs send exactly the two statements they always
# did. Searches are never remembered: estimates for substring matches are guesses.
_broad_shapes: dict[tuple[Any, ...], None] = {}
_BROAD_SHAPES_MAX = 1024


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
    elif shape not in _broad_shapes:
        if len(_broad_shapes) >= _BROAD_SHAPES_MAX:
            _broad_shapes.clear()  # rare; relearning costs one count per shape
        _broad_shapes[shape] = None


class SqlAlchemyResultRepository(ResultRepository):
    """Results are plain records tracked by the unit of work (adapters/sqlalchemy/records.py)."""

    def __init__(self, session: Session, tracker: RecordTracker):
        self._s = session
        self._tracker = tracker
        self._records = tracker.results

    def _conn(self) -> sa.Connection:
        self._tracker.flush()
        return self._s.connection()

    def add(self, result: TestResult) -> None:
        self._records.add(result)

    def get(self, result_id: UUID) -> TestResult | None:
        result = self.get_including_deleted(result_id)
        return result if result is not None and not result.is_deleted else None

    def get_including_deleted(self, result_id: UUID) -> TestResult | None:
        cached = self._records.cached(result_id)
        if cached is not None:
            return cached
        found = fetch(self._records, self._conn(), [tables.test_results.c.id == result_id])
        return found[0] if found else None

    def list_for_sample(self, sample_id: UUID) -> list[TestResult]:
        c = tables.test_results.c
        return fetch(
            self._records,
            self._conn(),
            [c.sample_id == sample_id, c.deleted_at.is_(None)],
            order_by=[c.test_date, c.id],
        )

    def add_many(self, results: Sequence[TestResult]) -> None:
        copy_rows(self._s, tables.test_results, [result_row(r) for r in results])
        self._records.remember_written(results)

    def get_many(self, ids: Collection[UUID], *, lock: bool = False) -> dict[UUID, TestResult]:
        return by_ids(self._records, self._conn(), ids, lock=lock)

    def statuses_for_samples(
        self, sample_ids: Collection[UUID]
    ) -> dict[UUID, list[ComplianceStatus]]:
        c = tables.test_results.c
        found: dict[UUID, list[ComplianceStatus]] = {sid: [] for sid in sample_ids}
        if sample_ids:
            rows = self._conn().execute(
                sa.select(c.sample_id, c.compliance_status).where(
                    c.sample_id.in_(list(sample_ids)), c.deleted_at.is_(None)
                )
            )
            for sample_id, status in rows:
                found[sample_id].append(status)
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
