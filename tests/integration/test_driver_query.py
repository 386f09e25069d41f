"""`DriverQuery` (adapters/sqlalchemy/driver.py) on a real PostgreSQL.

Hot-path reads skip SQLAlchemy's execution and go straight through psycopg; these tests
pin that they still return exactly what SQLAlchemy would, on either parameter style,
stay visible to engine listeners, prepare (or not) as ADR 0014 says, never let a dead
connection back into the pool, and bind enums by their stored value.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.driver import DriverQuery
from adapters.sqlalchemy.engine import make_engine
from adapters.sqlalchemy.records import RESULT, SAMPLE, RecordShape
from domain.compliance import ComplianceStatus, Qualifier
from domain.lab_data import Sample, SampleStatus, SampleType, TestResult
from tests.factories import T0, ResultFactory, SampleFactory

pytestmark = pytest.mark.integration

CASABLANCA = timezone(timedelta(hours=1))


class PlainStatus(enum.Enum):
    """Not a str subclass: psycopg on its own would send the name, 'RECEIVED'."""

    RECEIVED = "received"


@pytest.fixture
def by_name_engine(clean_db: str) -> Iterator[sa.Engine]:
    """An engine made the ordinary way: pyformat binds, psycopg's default cursor."""
    engine = sa.create_engine(clean_db)
    yield engine
    engine.dispose()


@pytest.fixture(params=["production", "by_name"])
def any_engine(request: pytest.FixtureRequest) -> sa.Engine:
    fixture = "engine" if request.param == "production" else "by_name_engine"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


def _full_sample(lab_id: uuid.UUID) -> Sample:
    return SampleFactory(
        lab_id=lab_id,
        type=SampleType.DRINKING,
        latitude=33.5731,
        longitude=-7.5898,
        collection_date=datetime(2025, 1, 18, 9, 0, tzinfo=CASABLANCA),
        status=SampleStatus.RECEIVED,
        compliance_status=ComplianceStatus.FAIL,
        notes="turbid on arrival",
        created_by=uuid.uuid4(),
        updated_by=uuid.uuid4(),
        deleted_at=T0 + timedelta(days=1),
        sync_clock={"notes": {"at": 1737196200000, "device": "tablet-7"}},
    )


def _full_result(sample: Sample) -> TestResult:
    return ResultFactory(
        sample_id=sample.id,
        lab_id=sample.lab_id,
        qualifier=Qualifier.BELOW_DETECTION,
        detection_limit=0.5,
        technician_name="A. Technician",
        test_method="ISO 10304-1",
        compliance_status=ComplianceStatus.FAIL,
        evaluations=[{"standard": "who", "status": "fail", "limit": 50.0}],
        notes="re-run",
        created_by=uuid.uuid4(),
        updated_by=uuid.uuid4(),
        deleted_at=T0 + timedelta(hours=2),
        sync_clock={"value": {"at": 1737196200000}},
    )


@pytest.fixture
def stored(engine: sa.Engine) -> dict[str, Any]:
    """A sample and a result with every optional field set, and a pair with none set."""
    lab_id = uuid.uuid4()
    full_sample = _full_sample(lab_id)
    bare_sample = SampleFactory(lab_id=lab_id)
    records: dict[str, Any] = {
        "full_sample": full_sample,
        "bare_sample": bare_sample,
        "full_result": _full_result(full_sample),
        "bare_result": ResultFactory(sample_id=bare_sample.id, lab_id=lab_id),
    }
    with engine.begin() as conn:
        conn.execute(
            sa.insert(tables.labs).values(
                id=lab_id, name="Driver lab", code="DRV", created_at=T0, updated_at=T0
            )
        )
        for key in ("full_sample", "bare_sample"):
            conn.execute(sa.insert(tables.samples), SAMPLE.row(records[key]))
        for key in ("full_result", "bare_result"):
            conn.execute(sa.insert(tables.test_results), RESULT.row(records[key]))
    return records


def _through_driver(
    conn: sa.Connection, shape: RecordShape[Any], record_id: uuid.UUID
) -> list[Any]:
    rows = shape.by_id.rows(conn, {"id": record_id})
    assert len(rows) == 1
    return shape.decode(rows[0])


def _through_sqlalchemy(
    conn: sa.Connection, shape: RecordShape[Any], record_id: uuid.UUID
) -> list[Any]:
    statement = shape.select().where(shape.table.c.id == record_id)
    return list(conn.execute(statement).one())


@pytest.mark.parametrize("key", ["full_sample", "bare_sample", "full_result", "bare_result"])
def test_rows_equal_what_sqlalchemy_returns(
    any_engine: sa.Engine, stored: dict[str, Any], key: str
) -> None:
    shape: RecordShape[Any] = SAMPLE if key.endswith("sample") else RESULT
    record = stored[key]
    with any_engine.connect() as conn:
        driver = _through_driver(conn, shape, record.id)
        expected = _through_sqlalchemy(conn, shape, record.id)
    assert driver == expected
    # Equal is not enough: a StrEnum member equals its plain string.
    assert [type(v) for v in driver] == [type(v) for v in expected]
    assert shape.values(shape.build(driver)) == shape.values(record)  # as written
    by_column = dict(zip(shape.names, driver, strict=True))
    kinds: dict[str, type] = {"id": uuid.UUID, "compliance_status": ComplianceStatus}
    if shape is SAMPLE:
        kinds |= {"type": SampleType, "status": SampleStatus, "sync_clock": dict}
    else:
        kinds |= {"qualifier": Qualifier, "value": float, "evaluations": list}
    if key.startswith("full"):
        kinds |= {"deleted_at": datetime, "created_by": uuid.UUID, "notes": str}
    else:
        assert by_column["deleted_at"] is None and by_column["notes"] is None
    assert {name: type(by_column[name]) for name in kinds} == kinds


def test_timestamps_come_back_aware_in_utc_on_the_production_engine(
    engine: sa.Engine, stored: dict[str, Any]
) -> None:
    with engine.connect() as conn:
        values = _through_driver(conn, SAMPLE, stored["full_sample"].id)
    row = dict(zip(SAMPLE.names, values, strict=True))
    for column in ("collection_date", "created_at", "updated_at", "deleted_at"):
        assert row[column].utcoffset() == timedelta(0), column
    assert row["collection_date"] == datetime(2025, 1, 18, 8, 0, tzinfo=UTC)
    assert isinstance(row["latitude"], float) and isinstance(row["longitude"], float)


def test_the_by_name_engine_really_binds_by_name(by_name_engine: sa.Engine) -> None:
    # The premise of the parametrized tests: this engine takes the other code path.
    assert by_name_engine.dialect.paramstyle == "pyformat"
    assert "%(id)s" in SAMPLE.by_id.sql(by_name_engine.dialect)
    with by_name_engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        assert driver.cursor_factory is psycopg.Cursor


def test_engine_listeners_see_each_statement(engine: sa.Engine, stored: dict[str, Any]) -> None:
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    sample = stored["bare_sample"]
    with engine.connect() as conn:
        SAMPLE.by_id.rows(conn, {"id": sample.id})
        RESULT.by_id.scalar(conn, {"id": stored["bare_result"].id})
    assert seen == [
        (SAMPLE.by_id.sql(engine.dialect), [sample.id]),
        (RESULT.by_id.sql(engine.dialect), [stored["bare_result"].id]),
    ]


def _prepared(conn: sa.Connection, sql: str) -> int:
    statements = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars()
    return sum(1 for statement in statements if statement == sql)


def test_prepared_after_five_runs_unless_planned_each_run(
    engine: sa.Engine, stored: dict[str, Any]
) -> None:
    c = tables.samples.c
    key_lookup = DriverQuery(sa.select(c.location).where(c.id == sa.bindparam("id")))
    value_dependent = DriverQuery(
        sa.select(sa.func.count()).where(c.lab_id == sa.bindparam("lab_id")),
        plan_each_run=True,
    )
    sample = stored["bare_sample"]
    with engine.connect() as conn:
        for _ in range(6):
            assert key_lookup.scalar(conn, {"id": sample.id}) == sample.location
            assert value_dependent.scalar(conn, {"lab_id": sample.lab_id}) == 2
        assert _prepared(conn, key_lookup.sql(engine.dialect)) == 1
        assert _prepared(conn, value_dependent.sql(engine.dialect)) == 0


def test_a_dead_connection_is_invalidated_not_pooled(
    clean_db: str, admin_engine: sa.Engine
) -> None:
    engine = make_engine(clean_db, pool_size=1)  # one connection: the next checkout is it
    count = DriverQuery(sa.select(sa.func.count()).select_from(tables.labs))
    try:
        with engine.connect() as conn:
            assert count.scalar(conn) == 0
            driver: Any = conn.connection.driver_connection
            killed = driver.info.backend_pid
            with admin_engine.begin() as admin:
                admin.execute(sa.select(sa.func.pg_terminate_backend(killed)))
            with pytest.raises(psycopg.OperationalError):
                count.scalar(conn)
            assert conn.invalidated
        with engine.connect() as fresh:
            assert count.scalar(fresh) == 0
            assert fresh.connection.driver_connection.info.backend_pid != killed  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_enum_parameters_are_bound_by_value(any_engine: sa.Engine, stored: dict[str, Any]) -> None:
    c = tables.samples.c
    with_status = DriverQuery(sa.select(c.id).where(c.status == sa.bindparam("status")))
    with_qualifier = DriverQuery(
        sa.select(tables.test_results.c.id).where(
            tables.test_results.c.qualifier == sa.bindparam("qualifier")
        )
    )
    with any_engine.connect() as conn:
        received = with_status.rows(conn, {"status": SampleStatus.RECEIVED})
        plain_received = with_status.rows(conn, {"status": PlainStatus.RECEIVED})
        collected = with_status.rows(conn, {"status": SampleStatus.COLLECTED})
        below = with_qualifier.rows(conn, {"qualifier": Qualifier.BELOW_DETECTION})
    assert [r[0] for r in received] == [stored["full_sample"].id]
    assert [r[0] for r in plain_received] == [stored["full_sample"].id]
    assert [r[0] for r in collected] == [stored["bare_sample"].id]
    assert [r[0] for r in below] == [stored["full_result"].id]


@pytest.mark.parametrize("key", ["full_sample", "full_result"])
def test_writes_store_what_sqlalchemy_would(
    any_engine: sa.Engine, stored: dict[str, Any], key: str
) -> None:
    """The one-record INSERT and UPDATE of a unit of work's flush: JSONB, enums, times and
    NULLs stored as a Core insert stores them (the `stored` fixture's rows)."""
    shape: RecordShape[Any] = SAMPLE if key.endswith("sample") else RESULT
    original = stored[key]
    twin = type(original)(**{**original.__dict__, "id": uuid.uuid4()})
    with any_engine.begin() as conn:
        assert shape.insert_one.execute(conn, shape.row(twin)) == 1
        written = _through_sqlalchemy(conn, shape, twin.id)
        expected = _through_sqlalchemy(conn, shape, original.id)
        assert written[1:] == expected[1:]
        notes = shape.names.index("notes")
        sync_clock = shape.names.index("sync_clock")
        update = shape.update_one((notes, sync_clock))
        changed = update.execute(
            conn, {"k_id": twin.id, "v_notes": None, "v_sync_clock": {"notes": {"at": 1}}}
        )
        assert changed == 1
        after = _through_sqlalchemy(conn, shape, twin.id)
    assert (after[notes], after[sync_clock]) == (None, {"notes": {"at": 1}})
