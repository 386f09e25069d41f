"""The SQL task repository (table `tasks`, migration 0004)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from adapters.sqlalchemy import tables
from domain.paging import Page
from domain.ports import TaskQuery, TaskRepository
from domain.tasks import PRIORITY_RANK, Task, TaskStatus

_C = tables.tasks.c
# Priority sorts by rank (low < medium < high), not by the stored text.
_PRIORITY_RANK = sa.case({p.value: rank for p, rank in PRIORITY_RANK.items()}, value=_C.priority)


def task_conditions(query: TaskQuery) -> list[Any]:
    conditions: list[Any] = [_C.owner_id == query.owner_id, _C.deleted_at.is_(None)]
    if query.status is not None:
        conditions.append(_C.status == query.status)
    if query.priority is not None:
        conditions.append(_C.priority == query.priority)
    if query.completed is True:
        conditions.append(_C.status == TaskStatus.COMPLETED)
    elif query.completed is False:
        conditions.append(_C.status != TaskStatus.COMPLETED)
    return conditions


def task_order(query: TaskQuery) -> list[Any]:
    """The sort, nulls (tasks without a due date) last either way, ties by id alike."""
    field, descending = query.sort.field, query.sort.descending
    column: Any = _PRIORITY_RANK if field == "priority" else _C[field]
    if not descending:
        return [column.asc(), _C.id.asc()]  # ascending: nulls come last anyway
    # Only `due_date` can be null; the others keep a plain DESC, which an index scanned
    # backwards serves (DESC NULLS LAST would not match it).
    first = column.desc().nulls_last() if field == "due_date" else column.desc()
    return [first, _C.id.desc()]


class SqlAlchemyTaskRepository(TaskRepository):
    def __init__(self, session: Session):
        self._s = session

    def add(self, task: Task) -> None:
        self._s.add(task)

    def get(self, task_id: UUID) -> Task | None:
        task = self._s.get(Task, task_id)
        return task if task is not None and not task.is_deleted else None

    def get_including_deleted(self, task_id: UUID) -> Task | None:
        return self._s.get(Task, task_id)

    def list(self, query: TaskQuery) -> Page[Task]:
        """One owner's list: an exact count (a person's list, not a lab's archive) and a page."""
        conditions = task_conditions(query)
        total = (
            self._s.scalar(sa.select(sa.func.count()).select_from(tables.tasks).where(*conditions))
            or 0
        )
        rows = self._s.scalars(
            sa.select(Task)
            .where(*conditions)
            .order_by(*task_order(query))
            .limit(query.page.limit)
            .offset(query.page.offset)
        )
        return Page(items=list(rows), total=total, request=query.page)
