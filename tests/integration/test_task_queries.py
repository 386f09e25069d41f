"""Task list queries on PostgreSQL: the main list queries use an index on `tasks`.

~30,000 analysed tasks of 200 users; the repository's own `list()` runs, its SQL and
parameters are captured, and exactly that is EXPLAINed.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.orm import start_mappers
from adapters.sqlalchemy.records import RecordTracker
from adapters.sqlalchemy.tasks import SqlAlchemyTaskRepository
from domain.paging import PageRequest, Sort
from domain.ports import TaskQuery
from domain.tasks import TaskPriority, TaskStatus
from tests.conftest import reset_database
from tests.factories import T0

pytestmark = pytest.mark.integration

USERS = 200
TASKS_PER_USER = 150
COLUMNS = (
    "id",
    "owner_id",
    "title",
    "status",
    "priority",
    "due_date",
    "version",
    "created_at",
    "updated_at",
    "deleted_at",
)


def _owner(n: int) -> UUID:
    return UUID(f"00000000-0000-4000-8000-{n:012d}")


def _rows(rng: random.Random) -> Iterator[tuple[Any, ...]]:
    statuses, priorities = list(TaskStatus), list(TaskPriority)
    for n in range(USERS):
        for k in range(TASKS_PER_USER):
            created = T0 - timedelta(minutes=rng.randrange(365 * 24 * 60))
            due = created + timedelta(days=rng.randrange(1, 60)) if rng.random() < 0.7 else None
            yield (
                uuid.UUID(int=rng.getrandbits(128), version=4),
                _owner(n),
                f"task {k}",
                rng.choices(statuses, weights=[50, 20, 30])[0].value,
                rng.choice(priorities).value,
                due,
                1,
                created,
                created + timedelta(hours=rng.randrange(0, 200)),
                created if rng.random() < 0.03 else None,  # a few tombstones
            )


@pytest.fixture(scope="module")
def seeded(admin_engine: sa.Engine) -> Iterator[int]:
    start_mappers()
    reset_database(admin_engine)
    rng = random.Random(20251121)
    with admin_engine.begin() as conn:
        conn.execute(
            sa.insert(tables.users),
            [
                {
                    "id": _owner(n),
                    "email": f"owner{n}@lab.example",
                    "name": f"Owner {n}",
                    "role": "viewer",
                    "password_hash": "x",
                    "created_at": T0,
                    "updated_at": T0,
                }
                for n in range(USERS)
            ],
        )
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        rows = list(_rows(rng))
        with cursor.copy(f"COPY tasks ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    with admin_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE tasks"))
    yield len(rows)
    reset_database(admin_engine)


def _captured(engine: sa.Engine, query: TaskQuery) -> list[tuple[str, Any]]:
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with Session(engine) as session:
            page = SqlAlchemyTaskRepository(session, RecordTracker(session)).list(query)
            assert page.items, "each EXPLAINed query should find something"
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert len(sent) == 2, sent  # the count, then the page
    return sent


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _plan(engine: sa.Engine, statement: str, parameters: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        raw = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar()
    plan = json.loads(raw) if isinstance(raw, str) else raw
    return plan[0]["Plan"]  # type: ignore[no-any-return]


INDEX_NODES = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}
OWNER = _owner(42)
QUERIES = {
    "newest first (the default)": TaskQuery(owner_id=OWNER),
    "page 3": TaskQuery(owner_id=OWNER, page=PageRequest(limit=20, offset=40)),
    "status filter": TaskQuery(owner_id=OWNER, status=TaskStatus.IN_PROGRESS),
    "completed": TaskQuery(owner_id=OWNER, completed=True),
    "not completed": TaskQuery(owner_id=OWNER, completed=False),
    "priority filter": TaskQuery(owner_id=OWNER, priority=TaskPriority.HIGH),
    "by priority rank": TaskQuery(owner_id=OWNER, sort=Sort("priority", True)),
    "by due date": TaskQuery(owner_id=OWNER, sort=Sort("due_date")),
    "by updated_at desc": TaskQuery(owner_id=OWNER, sort=Sort("updated_at", True)),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_task_list_queries_use_an_index_on_tasks(
    admin_engine: sa.Engine, seeded: int, name: str
) -> None:
    assert seeded == USERS * TASKS_PER_USER
    for statement, parameters in _captured(admin_engine, QUERIES[name]):
        nodes = list(_nodes(_plan(admin_engine, statement, parameters)))
        summary = [f"{n['Node Type']}({n.get('Index Name') or ''})" for n in nodes]
        assert not [
            n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "tasks"
        ], (name, summary)
        used = {n.get("Index Name") for n in nodes if n["Node Type"] in INDEX_NODES}
        assert used & {"ix_tasks_owner_created_at", "ix_tasks_owner_status"}, (name, summary)


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("newest first (the default)", "ix_tasks_owner_created_at"),
        ("page 3", "ix_tasks_owner_created_at"),
        ("status filter", "ix_tasks_owner_status"),
        ("completed", "ix_tasks_owner_status"),
    ],
)
def test_newest_first_pages_read_an_index_in_order_without_sorting(
    admin_engine: sa.Engine, seeded: int, name: str, index: str
) -> None:
    """Newest first (ties by id) is an owner index read backwards: no sort node at all."""
    _, (statement, parameters) = _captured(admin_engine, QUERIES[name])
    nodes = list(_nodes(_plan(admin_engine, statement, parameters)))
    types = [n["Node Type"] for n in nodes]
    assert not {"Sort", "Incremental Sort"} & set(types), types
    assert any(n.get("Index Name") == index for n in nodes), types
