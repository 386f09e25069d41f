"""The audit sealer under concurrency: late commits, several sealers, many writers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from uuid import uuid4

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.audit_chain import SqlAlchemyAuditChain
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork, make_session_factory
from application.context import Caller, Principal
from application.users import CreateUserCommand
from domain.audit import AuditAction, AuditEntityType, AuditEntry
from domain.ports import AuditQuery, UserQuery
from domain.roles import Role
from entrypoints.container import Container, build_container
from tests.factories import T0

pytestmark = pytest.mark.integration

T = TypeVar("T")


def _entry(entity_id: str) -> AuditEntry:
    return AuditEntry(
        occurred_at=T0,
        user_id=None,
        entity_type=AuditEntityType.USER,
        entity_id=entity_id,
        action=AuditAction.CREATE,
        old_values=None,
        new_values={"n": entity_id},
    )


def _insert_entry(conn: sa.Connection, entity_id: str) -> int:
    entry_id = conn.scalar(
        sa.insert(tables.audit_log)
        .values(occurred_at=T0, entity_type="user", entity_id=entity_id, action="create")
        .returning(tables.audit_log.c.id)
    )
    assert isinstance(entry_id, int)
    return entry_id


def _chained(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(sa.text("SELECT entry_id FROM audit_chain ORDER BY seq")))


def _pending(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(sa.text("SELECT entry_id FROM audit_pending ORDER BY entry_id")))


def _assert_complete_chain(engine: sa.Engine, expected: int) -> None:
    """Every entry chained exactly once, nothing pending, and the chain verifies."""
    with engine.connect() as conn:
        entries = set(conn.scalars(sa.text("SELECT id FROM audit_log")))
    chained = _chained(engine)
    assert len(entries) == expected
    assert len(chained) == len(set(chained)) == expected
    assert set(chained) == entries
    assert _pending(engine) == []
    report = SqlAlchemyAuditChain(engine).verify()
    assert (report.ok, report.checked, report.first_bad_id, report.pending) == (
        True,
        expected,
        None,
        0,
    )


# --- a writer that commits late is chained later, never skipped -----------------------


def test_an_entry_committed_after_a_later_one_is_not_skipped(engine: sa.Engine) -> None:
    chain = SqlAlchemyAuditChain(engine)
    with engine.connect() as conn_a:
        tx_a = conn_a.begin()
        a_id = _insert_entry(conn_a, "A")  # A holds the lower txid (and the lower id)
        with engine.begin() as conn_b:
            b_id = _insert_entry(conn_b, "B")
        assert a_id < b_id

        # B is committed, but a writer older than it is still running: seal nothing yet.
        assert chain.seal_pending() == 0
        assert _chained(engine) == []
        assert _pending(engine) == [b_id]  # A's queue row is not visible: A is uncommitted

        tx_a.commit()

    assert chain.seal_pending() == 2
    assert _chained(engine) == [a_id, b_id]
    _assert_complete_chain(engine, 2)


def test_a_unit_of_work_that_started_writing_first_holds_back_later_entries(
    engine: sa.Engine,
) -> None:
    """A's txid is assigned by its first write (not an audit one); its entry gets the
    *higher* id because it is appended after B committed. B must still wait for A."""
    chain = SqlAlchemyAuditChain(engine)
    factory = make_session_factory(engine)
    with SqlAlchemyUnitOfWork(factory) as uow_a:
        # any write assigns A its transaction id
        uow_a.session.execute(
            sa.insert(tables.rate_limit_hits).values(
                key=f"k-{uuid4()}", window_start=0, count=1, expires_at=T0
            )
        )
        with SqlAlchemyUnitOfWork(factory) as uow_b:
            uow_b.audit.append(_entry("B"))
            uow_b.commit()
        assert chain.seal_pending() == 0
        assert _chained(engine) == []

        uow_a.audit.append(_entry("A"))
        uow_a.session.flush()
        assert chain.seal_pending() == 0  # still running
        uow_a.commit()

    assert chain.seal_pending() == 2
    _assert_complete_chain(engine, 2)


def test_a_rolled_back_writer_releases_the_entries_behind_it(engine: sa.Engine) -> None:
    chain = SqlAlchemyAuditChain(engine)
    with engine.connect() as conn_a:
        tx_a = conn_a.begin()
        _insert_entry(conn_a, "A")
        with engine.begin() as conn_b:
            b_id = _insert_entry(conn_b, "B")
        assert chain.seal_pending() == 0
        tx_a.rollback()
    assert chain.seal_pending() == 1
    assert _chained(engine) == [b_id]
    _assert_complete_chain(engine, 1)


# --- many sealers, many writers ------------------------------------------------------


def _run_threads(count: int, target: Callable[[int], T]) -> list[T]:
    """Run `target(0..count-1)` in `count` threads released at the same instant."""
    barrier = threading.Barrier(count)

    def start(index: int) -> T:
        barrier.wait(timeout=30)
        return target(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(start, range(count)))


def test_concurrent_sealers_build_one_chain_without_duplicates(engine: sa.Engine) -> None:
    total = 0
    with engine.begin() as conn:  # a backlog, in several transactions
        for batch in range(5):
            conn.execute(
                sa.insert(tables.audit_log),
                [
                    {
                        "occurred_at": T0,
                        "entity_type": "lab",
                        "entity_id": f"{batch}-{n}",
                        "action": "update",
                    }
                    for n in range(120)
                ],
            )
            total += 120

    stop = threading.Event()

    def writer() -> int:
        written = 0
        while not stop.is_set() and written < 200:
            with engine.begin() as conn:
                _insert_entry(conn, f"w-{written}")
            written += 1
        return written

    def sealer(_: int) -> int:
        chain = SqlAlchemyAuditChain(engine)
        return sum(chain.seal_pending() for _ in range(15))

    with ThreadPoolExecutor(max_workers=2) as writers:
        jobs = [writers.submit(writer) for _ in range(2)]
        sealed = _run_threads(6, sealer)
        stop.set()
        total += sum(job.result() for job in jobs)

    sealed_at_the_end = SqlAlchemyAuditChain(engine).seal_pending()
    assert sum(sealed) + sealed_at_the_end == total  # each entry counted by exactly one sealer
    _assert_complete_chain(engine, total)


@pytest.fixture
def writer_container(make_settings, clean_db: str) -> Iterator[Container]:  # type: ignore[no-untyped-def]
    container = build_container(
        make_settings(AQUALAB_STORAGE="sql", database_url=clean_db, db_pool_size=12), clean_db
    )
    yield container
    container.shutdown_resources()


def test_concurrent_writers_are_all_chained(writer_container: Container) -> None:
    threads, per_thread = 8, 50
    admin = Caller(Principal(user_id=uuid4(), role=Role.ADMIN, lab_id=None))
    create_user = writer_container.create_user()
    chain = writer_container.audit_chain()
    engine = writer_container.engine()
    done = threading.Event()

    def background_sealer() -> int:
        sealed = 0
        while not done.wait(0.02):
            sealed += chain.seal_pending()
        return sealed

    def write(index: int) -> int:
        for n in range(per_thread):
            create_user(
                admin,
                CreateUserCommand(
                    email=f"w{index}-{n}@lab.example",
                    password="Passw0rd!",
                    name=f"Writer {index} {n}",
                    role=Role.VIEWER,
                ),
            )
        return per_thread

    with ThreadPoolExecutor(max_workers=1) as side:
        sealing = side.submit(background_sealer)
        written = _run_threads(threads, write)
        done.set()
        sealed = sealing.result()

    expected = threads * per_thread
    assert sum(written) == expected
    sealed += chain.seal_pending()
    assert sealed == expected
    _assert_complete_chain(engine, expected)
    with writer_container.uow() as uow:
        assert uow.users.list(UserQuery()).total == expected
        assert uow.audit.list(AuditQuery(entity_type=AuditEntityType.USER)).total == expected
