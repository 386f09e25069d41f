"""Tasks: a private to-do list every user has, whatever the role (SPEC §5 "Task").

`completed` is not stored: it is `status is COMPLETED`, so the two can never disagree
(docs/adr/0011-task-completion-derived-from-status.md). A request may name either or both;
`settle_status` turns what it names into the one status to store, or says why it cannot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

TITLE_MAX = 200
DESCRIPTION_MAX = 5_000

TASK_FIELDS = ("title", "description", "status", "priority", "completed", "due_date", "sample_id")


class TaskStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class TaskPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


# Sorting by priority follows this rank, not the alphabet ("high" < "low" < "medium").
PRIORITY_RANK = {TaskPriority.LOW: 1, TaskPriority.MEDIUM: 2, TaskPriority.HIGH: 3}


@dataclass(eq=False)
class Task:
    id: UUID
    owner_id: UUID
    title: str
    created_at: datetime
    updated_at: datetime
    created_by: UUID | None = None
    updated_by: UUID | None = None
    description: str | None = None
    status: TaskStatus = TaskStatus.PENDING
    priority: TaskPriority = TaskPriority.MEDIUM
    due_date: datetime | None = None
    sample_id: UUID | None = None
    version: int = 1
    deleted_at: datetime | None = None  # a tombstone: hidden from REST, kept for sync/purge

    @property
    def completed(self) -> bool:
        return self.status is TaskStatus.COMPLETED

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def priority_rank(self) -> int:
        return PRIORITY_RANK[self.priority]

    def touch(self, now: datetime, by: UUID | None) -> None:
        self.updated_at = now
        self.updated_by = by
        self.version += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "owner_id": str(self.owner_id),
            "title": self.title,
            "description": self.description,
            "status": self.status.value,
            "priority": self.priority.value,
            "completed": self.completed,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "sample_id": str(self.sample_id) if self.sample_id else None,
            "version": self.version,
            "deleted": self.is_deleted,
        }


CONTRADICTION = "Contradicts status: completed is true exactly when status is 'completed'"


def settle_status(
    current: TaskStatus, status: TaskStatus | None, completed: bool | None
) -> TaskStatus | None:
    """The status to store when a request names `status`, `completed`, both or neither.

    None means the two contradict each other. Completing sets `completed`; un-completing
    a completed task takes it back to `pending`; un-completing an open one keeps its status.
    """
    if status is not None:
        if completed is not None and completed != (status is TaskStatus.COMPLETED):
            return None
        return status
    if completed is None:
        return current
    if completed:
        return TaskStatus.COMPLETED
    return TaskStatus.PENDING if current is TaskStatus.COMPLETED else current


def _enum_problems(value: Any, kind: type[StrEnum], *, nullable: bool) -> list[str]:
    if value is None:
        return [] if nullable else ["Must not be null"]
    if isinstance(value, kind):
        return []
    if isinstance(value, str) and value in {m.value for m in kind}:
        return []
    return [f"Must be one of: {', '.join(m.value for m in kind)}"]


def task_problems(values: Mapping[str, Any], *, creating: bool) -> dict[str, list[str]]:
    """Every problem of a task's fields at once (the sample link is checked by the caller).

    `creating`: a create or a replace (PUT), where a missing or null field means its
    default; otherwise (PATCH) only the fields present are checked and null is refused.
    """
    problems: dict[str, list[str]] = {}

    def add(name: str, found: list[str]) -> None:
        if found:
            problems[name] = found

    if creating or "title" in values:
        title = values.get("title")
        if title is None:
            add("title", ["This field is required"])
        elif not isinstance(title, str):
            add("title", ["Must be a string"])
        elif not title.strip():
            add("title", ["Must not be empty"])
        elif len(title.strip()) > TITLE_MAX:
            add("title", [f"Must be at most {TITLE_MAX} characters"])
    description = values.get("description")
    if description is not None:
        if not isinstance(description, str):
            add("description", ["Must be a string"])
        elif len(description) > DESCRIPTION_MAX:
            add("description", [f"Must be at most {DESCRIPTION_MAX} characters"])
    # On create (and PUT, which replaces every field) null means "the default".
    if "status" in values:
        add("status", _enum_problems(values["status"], TaskStatus, nullable=creating))
    if "priority" in values:
        add("priority", _enum_problems(values["priority"], TaskPriority, nullable=creating))
    completed = values.get("completed")
    if "completed" in values and completed is None and not creating:
        add("completed", ["Must not be null"])
    elif completed is not None and not isinstance(completed, bool):
        add("completed", ["Must be true or false"])
    due = values.get("due_date")
    if due is not None and (not isinstance(due, datetime) or due.tzinfo is None):
        add("due_date", ["Must be an RFC 3339 timestamp"])
    sample_id = values.get("sample_id")
    if sample_id is not None and not isinstance(sample_id, UUID):
        add("sample_id", ["Must be a UUID"])
    if "status" not in problems and "completed" not in problems:
        status = values.get("status")
        named = TaskStatus(status) if status is not None else None
        if settle_status(TaskStatus.PENDING, named, completed) is None:
            add("completed", [CONTRADICTION])
    return problems
