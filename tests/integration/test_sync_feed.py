"""The SQL change feed serializes records in PostgreSQL: exactly what the entities send.

A pull on PostgreSQL embeds the JSON the database builds; on the in-memory storage the
entity's `wire()` builds it. This pins the two to the same content for every field, with
awkward values (micro-seconds, nulls, quotes and unicode, small and whole floats).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from application.sync_entities import ResultSync, SampleSync
from domain.lab_data import Sample, SampleType, TestResult
from domain.model import Lab
from domain.sync import ORIGIN
from entrypoints.container import Container
from tests.factories import LabFactory

pytestmark = pytest.mark.integration


def test_postgres_builds_the_same_record_json_as_the_entities(sql_container: Container) -> None:
    lab: Lab = LabFactory()
    with sql_container.uow() as uow:
        uow.labs.add(lab)
        uow.commit()
    moment = datetime(2025, 3, 4, 5, 6, 7, 89, tzinfo=UTC)
    whole = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    samples = [
        Sample(uuid4(), lab.id, SampleType.GROUND, 'Aïn "Sebaâ" \\ well', moment, "Zoë",
               created_at=whole, updated_at=moment, latitude=33.5, longitude=-7.0,
               notes="line\nbreak", created_by=uuid4()),
        Sample(uuid4(), lab.id, SampleType.WASTE, "Plain", whole, "X",
               created_at=moment, updated_at=whole),
    ]  # fmt: skip
    results = [
        TestResult(uuid4(), samples[0].id, lab.id, "nitrate", 80.0, "mg/L", moment,
                   created_at=whole, updated_at=whole, detection_limit=1e-05,
                   evaluations=[{"standard": "WHO", "min": None, "max": 50.0,
                                 "recommended_max": None, "basis": "health",
                                 "outcome": "fail"}]),
        TestResult(uuid4(), samples[1].id, lab.id, "ph", 7.123456789, "pH", whole,
                   created_at=moment, updated_at=moment, technician_name="A'B"),
    ]  # fmt: skip
    with sql_container.uow() as uow:
        for s in samples:
            uow.samples.add(s)
        for r in results:
            uow.results.add(r)
        uow.commit()
    entities = {"sample": SampleSync(), "result": ResultSync()}
    with sql_container.uow() as uow:
        items = uow.changes.after(lab.id, ["sample", "result"], ORIGIN, 10)
        stored = {**uow.samples.get_many([s.id for s in samples]),
                  **uow.results.get_many([r.id for r in results])}  # fmt: skip
        assert len(items) == 4
        for item in items:
            assert item.data_json is not None
            from_entity = json.loads(json.dumps(entities[item.entity].wire(stored[item.record.id])))
            assert json.loads(item.data_json) == from_entity


def test_a_pull_reads_the_feed_through_its_indexes(sql_container: Container) -> None:
    """The page query walks each entity's (lab_id, sync_txid, sync_seq) index, never a table."""
    from sqlalchemy import event

    lab: Lab = LabFactory()
    with sql_container.uow() as uow:
        uow.labs.add(lab)
        uow.commit()
    now = datetime.now(UTC)
    with sql_container.uow() as uow:  # enough rows for the planner to care, then statistics
        for n in range(1500):
            sample = Sample(uuid4(), lab.id, SampleType.DRINKING, f"Site {n}", now, "X",
                            created_at=now, updated_at=now)  # fmt: skip
            uow.samples.add(sample)
            uow.results.add(
                TestResult(
                    uuid4(), sample.id, lab.id, "ph", 7.0, "pH", now, created_at=now, updated_at=now
                )
            )
        uow.commit()
    engine = sql_container.engine()
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE samples")
        conn.exec_driver_sql("ANALYZE test_results")
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with sql_container.uow() as uow:
            uow.changes.after(lab.id, ["sample", "result"], ORIGIN, 100)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    # One statement per page: the horizon is taken inside it, from its own snapshot.
    [(statement, parameters)] = [c for c in captured if not c[0].startswith(("BEGIN", "SET"))]
    assert "UNION ALL" in statement and "pg_snapshot_xmin" in statement
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + statement,
            tuple(parameters),
        ).scalar_one()
    text = json.dumps(plan)
    assert "ix_samples_lab_sync_feed" in text and "ix_test_results_lab_sync_feed" in text
    assert "Seq Scan" not in text
    # Each entity's page comes off its index in feed order; only the merge of the two
    # pages (at most twice `limit` small rows) may be sorted.
    assert text.count('"Node Type": "Sort"') <= 1
