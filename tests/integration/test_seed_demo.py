"""`aqualab seed-demo` on PostgreSQL: counts, the engine's verdicts, and a complete audit trail."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.demo_data import (
    SEED_REASON,
    ConcurrentSealer,
    DemoOptions,
    ensure_demo_labs,
    pending_audit_entries,
    seed_demo,
)
from application.samples import judge_measured, measure
from domain.compliance import ComplianceStatus, sample_status
from entrypoints.cli.main import main
from entrypoints.container import Container

pytestmark = pytest.mark.integration

SAMPLES = 200
PER_SAMPLE = 5


@pytest.fixture
def seeded(sql_container: Container) -> Iterator[tuple[Container, list[UUID]]]:
    lab_ids = ensure_demo_labs(
        sql_container.uow, sql_container.clock(), sql_container.ids(), ["Seed Test Lab"]
    )
    done: list[int] = []
    with ConcurrentSealer(sql_container.audit_chain()) as sealer:
        report = seed_demo(
            sql_container.engine(),
            DemoOptions(samples=SAMPLES, results_per_sample=PER_SAMPLE, batch_size=64),
            lab_ids,
            progress=done.append,
        )
        sealer.finish()
    assert sum(done) == SAMPLES
    assert (report.samples, report.results) == (SAMPLES, SAMPLES * PER_SAMPLE)
    assert report.audit_entries == SAMPLES * (1 + PER_SAMPLE)
    yield sql_container, lab_ids


def _rows(container: Container, stmt: Any) -> list[Any]:
    with container.engine().connect() as conn:
        return list(conn.execute(stmt))


def test_counts_and_lab(seeded: tuple[Container, list[UUID]]) -> None:
    container, (lab_id,) = seeded
    s, r = tables.samples.c, tables.test_results.c
    samples = _rows(container, sa.select(s.id, s.lab_id, s.type, s.status))
    results = _rows(container, sa.select(r.id, r.sample_id, r.lab_id, r.parameter))
    assert len(samples) == SAMPLES
    assert len(results) == SAMPLES * PER_SAMPLE
    assert {row.lab_id for row in samples} == {lab_id}
    assert {row.lab_id for row in results} == {lab_id}
    per_sample: dict[UUID, list[str]] = defaultdict(list)
    for row in results:
        per_sample[row.sample_id].append(row.parameter)
    assert set(per_sample) == {row.id for row in samples}
    # five distinct parameters per sample
    assert all(len(set(codes)) == PER_SAMPLE for codes in per_sample.values())
    # a realistic mix, not one value everywhere
    assert len({row.type for row in samples}) >= 3
    assert "completed" in {row.status for row in samples}


def test_every_sample_status_is_the_worst_of_its_results(
    seeded: tuple[Container, list[UUID]],
) -> None:
    container, _ = seeded
    s, r = tables.samples.c, tables.test_results.c
    statuses: dict[UUID, list[ComplianceStatus]] = defaultdict(list)
    for row in _rows(container, sa.select(r.sample_id, r.compliance_status)):
        statuses[row.sample_id].append(ComplianceStatus(row.compliance_status))
    samples = _rows(container, sa.select(s.id, s.compliance_status))
    for row in samples:
        assert row.compliance_status == sample_status(statuses[row.id]).value
    assert {row.compliance_status for row in samples} <= {"pass", "warning", "fail"}


def test_evaluations_are_what_the_api_would_store(seeded: tuple[Container, list[UUID]]) -> None:
    container, _ = seeded
    r = tables.test_results.c
    ids = [row.id for row in _rows(container, sa.select(r.id).order_by(r.id))]
    chosen = random.Random(3).sample(ids, 40)
    margin = container.settings().compliance_margin
    # a random draw, plus one result of every status and every parameter the generator produced
    first_of = sa.func.min(sa.cast(r.id, sa.Text))
    for column in (r.compliance_status, r.parameter, r.qualifier):
        for row in _rows(container, sa.select(column, first_of).group_by(column)):
            chosen.append(UUID(row[1]))
    with container.uow() as uow:
        for result_id in chosen:
            result = uow.results.get(result_id)
            assert result is not None
            measured = measure(
                uow,
                {
                    "parameter": result.parameter,
                    "value": result.value,
                    "qualifier": result.qualifier.value,
                    "detection_limit": result.detection_limit,
                    "unit": result.unit,
                    "test_date": result.test_date,
                    "technician_name": result.technician_name,
                    "test_method": result.test_method,
                    "notes": result.notes,
                },
            )
            evaluations, status = judge_measured(uow, measured, margin)
            assert result.evaluations == evaluations
            assert result.compliance_status == status
            assert len(evaluations) >= 1


def test_one_sealed_create_entry_per_sample_and_result(
    seeded: tuple[Container, list[UUID]],
) -> None:
    container, (lab_id,) = seeded
    a, s, r = tables.audit_log.c, tables.samples.c, tables.test_results.c
    entries = _rows(
        container,
        sa.select(a.entity_type, a.entity_id, a.action, a.new_values, a.reason, a.lab_id).where(
            a.entity_type.in_(["sample", "result"])
        ),
    )
    sample_ids = {str(row.id) for row in _rows(container, sa.select(s.id))}
    result_ids = {str(row.id) for row in _rows(container, sa.select(r.id))}
    by_type: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        assert (entry.action, entry.reason, entry.lab_id) == ("create", SEED_REASON, lab_id)
        by_type[entry.entity_type].append(entry.entity_id)
    assert sorted(by_type["sample"]) == sorted(sample_ids)
    assert sorted(by_type["result"]) == sorted(result_ids)

    # new_values is exactly the stored entity's snapshot, as the API writes it
    snapshots = {(e.entity_type, e.entity_id): e.new_values for e in entries}
    with container.uow() as uow:
        for sample_id in sorted(sample_ids)[:15]:
            sample = uow.samples.get(UUID(sample_id))
            assert sample is not None
            assert snapshots[("sample", sample_id)] == sample.snapshot()
            for result in uow.results.list_for_sample(sample.id):
                assert snapshots[("result", str(result.id))] == result.snapshot()

    # every entry is chained and the chain verifies
    assert pending_audit_entries(container.engine()) == 0
    report = container.audit_chain().verify()
    assert report.ok
    assert report.checked == len(entries) + 1  # + the lab's create entry


def test_a_second_run_reuses_the_lab_and_adds_fresh_ids(
    seeded: tuple[Container, list[UUID]],
) -> None:
    container, lab_ids = seeded
    again = ensure_demo_labs(
        container.uow, container.clock(), container.ids(), ["seed test lab"]
    )  # any case
    assert again == lab_ids
    seed_demo(container.engine(), DemoOptions(samples=10, seed=42), again)
    count = _rows(container, sa.select(sa.func.count()).select_from(tables.samples))[0][0]
    assert count == SAMPLES + 10


def test_the_cli_command(
    clean_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    monkeypatch.setenv("DATABASE_URL", clean_db)
    monkeypatch.setenv("AQUALAB_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("JWT_SECRET", "test-secret-that-is-long-enough-for-hs256-use")
    code = main(
        ["seed-demo", "--samples", "30", "--results-per-sample", "3", "--labs", "2", "--lab", "CLI"]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(summary["labs"]) == ["CLI", "CLI 2"]
    assert (summary["samples"], summary["results"], summary["audit_entries"]) == (30, 90, 120)
    assert summary["audit_pending"] == 0
    assert main(["seed-demo", "--samples", "5", "--results-per-sample", "99"]) == 2
