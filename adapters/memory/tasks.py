"""The in-memory task repository: the same filters, order and paging as the SQL one."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from adapters.memory.repositories import Table
from domain.paging import Page
from domain.ports import TaskQuery, TaskRepository
from domain.tasks import Task, TaskStatus

TASKS_TABLE = "tasks"


def _matches(task: Task, q: TaskQuery) -> bool:
    if task.is_deleted or task.owner_id != q.owner_id:
        return False
    if q.status is not None and task.status != q.status:
        return False
    if q.priority is not None and task.priority != q.priority:
        return False
    return q.completed is None or (task.status is TaskStatus.COMPLETED) == q.completed


def _value(task: Task, field: str) -> Any:
    return task.priority_rank if field == "priority" else getattr(task, field)


class InMemoryTaskRepository(TaskRepository):
    def __init__(self, table: Table):
        self._t = table

    def add(self, task: Task) -> None:
        self._t.put(task.id, task)

    def get(self, task_id: UUID) -> Task | None:
        task: Task | None = self._t.get(task_id)
        return task if task is not None and not task.is_deleted else None

    def get_including_deleted(self, task_id: UUID) -> Task | None:
        task: Task | None = self._t.get(task_id)
        return task

    def list(self, query: TaskQuery) -> Page[Task]:
        found = [t for t in self._t.rows.values() if _matches(t, query)]
        field, descending = query.sort.field, query.sort.descending
        present = [t for t in found if _value(t, field) is not None]
        missing = [t for t in found if _value(t, field) is None]
        # Ties by id in the sort's direction (str(uuid) orders as PostgreSQL's uuid does).
        present.sort(key=lambda t: (_value(t, field), str(t.id)), reverse=descending)
        missing.sort(key=lambda t: str(t.id), reverse=descending)
        ordered = present + missing
        page = query.page
        chosen = [self._t.get(t.id) for t in ordered[page.offset : page.offset + page.limit]]
        return Page(items=chosen, total=len(ordered), request=page)
