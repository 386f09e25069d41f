"""The SQL task repository (table `tasks`, migration 0004). Tasks are plain records
tracked by the unit of work (adapters/sqlalchemy/records.py, ADR 0013); a list's two
statements are compiled once per filter structure and sort, and run through psycopg."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.driver import DriverQuery
from adapters.sqlalchemy.records import TASK, RecordTracker, TrackedRepository, by_key, fetch_rows
from domain.paging import Page
from domain.ports import TaskQuery, TaskRepository
from domain.tasks import PRIORITY_RANK, Task, TaskStatus

_C = tables.tasks.c
# Priority sorts by rank (low < medium < high), not by the stored text.
_PRIORITY_RANK = sa.case({p.value: rank for p, rank in PRIORITY_RANK.items()}, value=_C.priority)


def _conditions(query: TaskQuery) -> list[Any]:
    """The list's conditions, with a bind parameter for each value that varies."""
    conditions: list[Any] = [_C.owner_id == sa.bindparam("owner_id"), _C.deleted_at.is_(None)]
    if query.status is not None:
        conditions.append(_C.status == sa.bindparam("status"))
    if query.priority is not None:
        conditions.append(_C.priority == sa.bindparam("priority"))
    if query.completed is True:
        conditions.append(_C.status == TaskStatus.COMPLETED)
    elif query.completed is False:
        conditions.append(_C.status != TaskStatus.COMPLETED)
    return conditions


def _order(field: str, descending: bool) -> list[Any]:
    """The sort, nulls (tasks without a due date) last either way, ties by id alike."""
    column: Any = _PRIORITY_RANK if field == "priority" else _C[field]
    if not descending:
        return [column.asc(), _C.id.asc()]  # ascending: nulls come last anyway
    # Only `due_date` can be null; the others keep a plain DESC, which an index scanned
    # backwards serves (DESC NULLS LAST would not match it).
    first = column.desc().nulls_last() if field == "due_date" else column.desc()
    return [first, _C.id.desc()]


class _ListQueries:
    """A list's count and page for one structure (which filters, which sort), compiled
    once per process."""

    def __init__(self, query: TaskQuery):
        conditions = _conditions(query)
        self.count = DriverQuery(
            sa.select(sa.func.count()).select_from(tables.tasks).where(*conditions)
        )
        self.page = DriverQuery(
            TASK.select()
            .where(*conditions)
            .order_by(*_order(query.sort.field, query.sort.descending))
            .limit(sa.bindparam("limit"))
            .offset(sa.bindparam("offset"))
        )


_list_structures: dict[tuple[Any, ...], _ListQueries] = {}


def _list_queries(query: TaskQuery) -> _ListQueries:
    key = (
        query.status is not None,
        query.priority is not None,
        query.completed,
        query.sort.field,
        query.sort.descending,
    )
    found = _list_structures.get(key)
    if found is None:  # a few dozen structures; a race builds one twice, harmlessly
        found = _list_structures[key] = _ListQueries(query)
    return found


class SqlAlchemyTaskRepository(TrackedRepository, TaskRepository):
    def __init__(self, session: Session, tracker: RecordTracker):
        super().__init__(session, tracker)
        self._records = tracker.tasks

    def add(self, task: Task) -> None:
        self._records.add(task)

    def get(self, task_id: UUID) -> Task | None:
        task = by_key(self._records, self._conn, task_id)
        return task if task is not None and not task.is_deleted else None

    def get_including_deleted(self, task_id: UUID) -> Task | None:
        return by_key(self._records, self._conn, task_id)

    def list(self, query: TaskQuery) -> Page[Task]:
        """One owner's list: an exact count (a person's list, not a lab's archive) and a page."""
        queries = _list_queries(query)
        values: dict[str, Any] = {"owner_id": query.owner_id}
        if query.status is not None:
            values["status"] = query.status
        if query.priority is not None:
            values["priority"] = query.priority
        conn = self._conn()
        total = queries.count.scalar(conn, values) or 0
        values["limit"], values["offset"] = query.page.limit, query.page.offset
        items = fetch_rows(self._records, conn, queries.page, values)
        return Page(items=items, total=total, request=query.page)
