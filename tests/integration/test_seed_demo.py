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

from adapters.passwords import PasslibPasswordHasher
from adapters.sqlalchemy import tables
from adapters.sqlalchemy.demo_data import (
    SEED_REASON,
    ConcurrentSealer,
    DemoOptions,
    ensure_demo_labs,
    new_request_id,
    pending_audit_entries,
    seed_demo,
)
from adapters.sqlalchemy.demo_people import PeopleReport, seed_tasks, seed_users
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


# --- users and tasks (`--users N --tasks N`) -------------------------------------------

USERS = 13  # index 0 the admin, 5 and 11 viewers, 10 technicians
TASKS = 150
DEMO_PASSWORD = "Demo-password-7q"


@pytest.fixture
def people(
    sql_container: Container,
) -> Iterator[tuple[Container, UUID, PeopleReport, int]]:
    (lab_id,) = ensure_demo_labs(
        sql_container.uow, sql_container.clock(), sql_container.ids(), ["People Lab"]
    )
    engine = sql_container.engine()
    request_id = new_request_id()
    now = sql_container.clock().now()
    with ConcurrentSealer(sql_container.audit_chain()) as sealer:
        password_hash = sql_container.hasher().hash(DEMO_PASSWORD)
        report = seed_users(
            engine, USERS, [lab_id], ["People Lab"], password_hash, now=now, request_id=request_id
        )
        seed_demo(engine, DemoOptions(samples=40), [lab_id], request_id=request_id)
        written = seed_tasks(engine, TASKS, report.users, seed=42, now=now, request_id=request_id)
        sealer.finish()
    yield sql_container, lab_id, report, written


def test_users_have_the_role_mix_one_password_and_an_audit_entry_each(
    people: tuple[Container, UUID, PeopleReport, int],
) -> None:
    container, lab_id, report, _ = people
    assert (report.created, report.existing) == (USERS, 0)
    roles = [u.role.value for u in report.users]
    assert (roles.count("admin"), roles.count("viewer"), roles.count("technician")) == (1, 2, 10)
    assert len({u.email for u in report.users}) == USERS
    a = tables.audit_log.c
    entries = {
        row.entity_id: row
        for row in _rows(
            container,
            sa.select(a.entity_id, a.new_values, a.reason, a.lab_id, a.action).where(
                a.entity_type == "user"
            ),
        )
    }
    hasher = container.hasher()
    with container.uow() as uow:
        for seeded_user in report.users:
            user = uow.users.get_by_email(seeded_user.email)
            assert user is not None and user.id == seeded_user.id
            assert user.lab_id == lab_id and user.is_active
            assert hasher.verify(DEMO_PASSWORD, user.password_hash)[0]
            entry = entries[str(user.id)]
            assert (entry.action, entry.reason, entry.lab_id) == ("create", SEED_REASON, lab_id)
            assert entry.new_values == user.snapshot()
            assert "password_hash" not in entry.new_values


def test_a_second_run_finds_the_same_users(
    people: tuple[Container, UUID, PeopleReport, int],
) -> None:
    container, lab_id, report, _ = people
    again = seed_users(
        container.engine(),
        USERS,
        [lab_id],
        ["People Lab"],
        "unused-hash",
        now=container.clock().now(),
        request_id=new_request_id(),
    )
    assert (again.created, again.existing) == (0, USERS)
    assert [u.id for u in again.users] == [u.id for u in report.users]


def test_tasks_are_spread_valid_linked_to_visible_samples_and_audited(
    people: tuple[Container, UUID, PeopleReport, int],
) -> None:
    container, lab_id, report, written = people
    assert written == TASKS
    t, s, a = tables.tasks.c, tables.samples.c, tables.audit_log.c
    tasks = _rows(container, sa.select(t.id, t.owner_id, t.status, t.priority, t.sample_id))
    assert len(tasks) == TASKS
    users = {u.id for u in report.users}
    assert {row.owner_id for row in tasks} <= users
    assert len({row.owner_id for row in tasks}) >= USERS // 2  # spread, not one owner
    assert {row.status for row in tasks} == {"pending", "in_progress", "completed"}
    assert {row.priority for row in tasks} == {"low", "medium", "high"}
    linked = [row.sample_id for row in tasks if row.sample_id is not None]
    assert 0 < len(linked) < TASKS
    lab_samples = {row.id for row in _rows(container, sa.select(s.id).where(s.lab_id == lab_id))}
    assert set(linked) <= lab_samples  # a sample each owner may see: their own lab's

    entries = {
        row.entity_id: row
        for row in _rows(
            container,
            sa.select(a.entity_id, a.new_values, a.reason, a.action).where(a.entity_type == "task"),
        )
    }
    assert len(entries) == TASKS
    with container.uow() as uow:
        for row in tasks[:40]:
            task = uow.tasks.get(row.id)
            assert task is not None
            entry = entries[str(row.id)]
            assert (entry.action, entry.reason) == ("create", SEED_REASON)
            assert entry.new_values == task.snapshot()
    assert pending_audit_entries(container.engine()) == 0
    assert container.audit_chain().verify().ok


def test_the_cli_seeds_users_and_tasks(
    clean_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    monkeypatch.setenv("DATABASE_URL", clean_db)
    monkeypatch.setenv("AQUALAB_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("JWT_SECRET", "test-secret-that-is-long-enough-for-hs256-use")
    monkeypatch.setenv("PASSWORD_HASH_MEMORY_KIB", "1024")
    monkeypatch.setenv("PASSWORD_HASH_TIME_COST", "1")
    args = ["seed-demo", "--samples", "10", "--results-per-sample", "2", "--lab", "CLI People"]
    assert main([*args, "--users", "7", "--tasks", "30"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["users"]["created"] == 7
    assert summary["users"]["by_role"] == {"admin": 1, "technician": 5, "viewer": 1}
    assert summary["users"]["emails"][0] == "admin@cli-people.lab.example"
    assert summary["tasks"] == 30
    assert summary["audit_entries"] == 10 + 20 + 7 + 30
    assert summary["audit_pending"] == 0
    generated = summary["user_password"]
    hashes = _password_hashes(clean_db)
    assert len(hashes) == 1  # hashed once, shared by every new user
    assert PasslibPasswordHasher(memory_kib=1024, time_cost=1).verify(generated, hashes.pop())[0]

    # a given password is used and never echoed; weak ones and tasks without users refused
    assert main([*args, "--users", "7", "--user-password", "Given-password-9"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["users"]["existing"] == 7 and "user_password" not in summary
    assert main([*args, "--users", "2", "--user-password", "weak"]) == 2
    assert main([*args, "--tasks", "5"]) == 2


def _password_hashes(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(sa.select(tables.users.c.password_hash))}
    finally:
        engine.dispose()
