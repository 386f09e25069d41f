"""Tasks: every user's private to-do list (SPEC §4 and §5 "Task", docs/tasks.md).

Authorization: every authenticated user, whatever the role (a viewer without a lab too),
reads and writes their own list and nobody else's. Another user's task is 403 (seed 004),
an unknown or deleted one 404; the `/{user_id}/tasks` form is 403 when `user_id` is not
the caller, admins included. A task may point at a live sample the caller can see (their
own lab; any lab for an admin); anything else is a field error that never tells whether
the sample exists. Every change is audited in the same unit of work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from application.auditing import Auditor
from application.context import Caller, Principal
from application.policy import can_see_lab
from application.views import PageView
from domain.audit import AuditEntityType
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.model import ensure_version
from domain.ports import Clock, IdGenerator, TaskQuery, UnitOfWork, UnitOfWorkFactory
from domain.tasks import (
    CONTRADICTION,
    Task,
    TaskPriority,
    TaskStatus,
    settle_status,
    task_problems,
)

SAMPLE_NOT_VISIBLE = "No such sample in your lab"


@dataclass(frozen=True)
class TaskDeps:
    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator


@dataclass(frozen=True)
class TaskView:
    id: UUID
    owner_id: UUID
    title: str
    description: str | None
    status: str
    priority: str
    completed: bool
    due_date: datetime | None
    sample_id: UUID | None
    version: int
    created_at: datetime
    created_by: UUID | None
    updated_at: datetime
    updated_by: UUID | None

    @classmethod
    def of(cls, t: Task) -> TaskView:
        return cls(
            id=t.id,
            owner_id=t.owner_id,
            title=t.title,
            description=t.description,
            status=t.status.value,
            priority=t.priority.value,
            completed=t.completed,
            due_date=t.due_date,
            sample_id=t.sample_id,
            version=t.version,
            created_at=t.created_at,
            created_by=t.created_by,
            updated_at=t.updated_at,
            updated_by=t.updated_by,
        )


# --- authorization ---------------------------------------------------------------------


def require_own_list(principal: Principal, path_user: UUID | None) -> None:
    """`/{user_id}/tasks…` names a list: only its owner may use it (admins too)."""
    if path_user is not None and path_user != principal.user_id:
        raise Forbidden("Task lists are private to their owner")


def own_task(uow: UnitOfWork, principal: Principal, task_id: UUID) -> Task:
    task = uow.tasks.get(task_id)
    if task is None:
        raise NotFound("Task not found")
    if task.owner_id != principal.user_id:
        raise Forbidden("This task belongs to another user")
    return task


def sample_problem(uow: UnitOfWork, principal: Principal, sample_id: Any) -> list[str]:
    """A live sample the caller can see, or one message that says nothing more."""
    if not isinstance(sample_id, UUID):
        return []  # already reported by `task_problems`
    sample = uow.samples.get(sample_id)
    if sample is None or not can_see_lab(principal, sample.lab_id):
        return [SAMPLE_NOT_VISIBLE]
    return []


def _raise_if_any(problems: Mapping[str, list[str]]) -> None:
    if any(problems.values()):
        raise ValidationFailed({k: v for k, v in problems.items() if v})


# --- values ------------------------------------------------------------------------------


def _named_status(values: Mapping[str, Any]) -> TaskStatus | None:
    status = values.get("status")
    return TaskStatus(status) if status is not None else None


def _wanted(task: Task, values: Mapping[str, Any], *, replace_all: bool) -> dict[str, Any]:
    """The field values a validated request leads to (PUT: unnamed fields get defaults)."""
    base = TaskStatus.PENDING if replace_all else task.status
    status = settle_status(base, _named_status(values), values.get("completed"))
    if status is None:  # validated before: cannot happen
        raise ValidationFailed({"completed": [CONTRADICTION]})
    wanted: dict[str, Any] = {"status": status}
    if replace_all or "title" in values:
        wanted["title"] = values["title"].strip()
    if replace_all or "description" in values:
        wanted["description"] = values.get("description")
    if replace_all or "priority" in values:
        wanted["priority"] = TaskPriority(values.get("priority") or TaskPriority.MEDIUM)
    if replace_all or "due_date" in values:
        wanted["due_date"] = values.get("due_date")
    if replace_all or "sample_id" in values:
        wanted["sample_id"] = values.get("sample_id")
    return wanted


def _apply(task: Task, wanted: Mapping[str, Any]) -> list[str]:
    changed = []
    for name, value in wanted.items():
        if getattr(task, name) != value:
            setattr(task, name, value)
            changed.append(name)
    return changed


# --- use cases ---------------------------------------------------------------------------


class ListTasks:
    def __init__(self, deps: TaskDeps):
        self._deps = deps

    def __call__(
        self, caller: Caller, query: TaskQuery, *, path_user: UUID | None = None
    ) -> PageView[TaskView]:
        principal = caller.principal
        require_own_list(principal, path_user)
        query = replace(query, owner_id=principal.user_id)
        with self._deps.uow(read_only=True) as uow:
            page = uow.tasks.list(query)
            return PageView.of(page, [TaskView.of(t) for t in page.items])


class GetTask:
    def __init__(self, deps: TaskDeps):
        self._deps = deps

    def __call__(self, caller: Caller, task_id: UUID, *, path_user: UUID | None = None) -> TaskView:
        require_own_list(caller.principal, path_user)
        with self._deps.uow(read_only=True) as uow:
            return TaskView.of(own_task(uow, caller.principal, task_id))


@dataclass(frozen=True)
class CreateTaskCommand:
    values: Mapping[str, Any]
    id: UUID | None = None
    path_user: UUID | None = None


class CreateTask:
    def __init__(self, deps: TaskDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: CreateTaskCommand) -> TaskView:
        principal = caller.principal
        require_own_list(principal, cmd.path_user)
        problems = task_problems(cmd.values, creating=True)
        deps = self._deps
        with deps.uow() as uow:
            if cmd.values.get("sample_id") is not None and "sample_id" not in problems:
                problems["sample_id"] = sample_problem(uow, principal, cmd.values["sample_id"])
            _raise_if_any(problems)
            if cmd.id is not None and uow.tasks.get_including_deleted(cmd.id) is not None:
                raise Conflict("A task with this id already exists")
            now = deps.clock.now()
            task = Task(
                id=cmd.id or deps.ids.new_id(),
                owner_id=principal.user_id,
                title="",
                created_at=now,
                updated_at=now,
                created_by=principal.user_id,
                updated_by=principal.user_id,
            )
            _apply(task, _wanted(task, cmd.values, replace_all=True))
            uow.tasks.add(task)
            Auditor.of(uow, deps.clock, caller).created(
                AuditEntityType.TASK, task.id, task.snapshot()
            )
            uow.commit()
            return TaskView.of(task)


@dataclass(frozen=True)
class UpdateTaskCommand:
    """`changes` holds the fields being set; `replace_all` (PUT) gives the others defaults."""

    task_id: UUID
    changes: Mapping[str, Any]
    replace_all: bool = False
    expected_version: int | None = None
    if_match: int | None = None
    path_user: UUID | None = None


class UpdateTask:
    def __init__(self, deps: TaskDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: UpdateTaskCommand) -> TaskView:
        principal = caller.principal
        require_own_list(principal, cmd.path_user)
        problems = task_problems(cmd.changes, creating=cmd.replace_all)
        deps = self._deps
        with deps.uow() as uow:
            task = own_task(uow, principal, cmd.task_id)
            ensure_version(task.version, if_match=cmd.if_match, expected=cmd.expected_version)
            new_sample = cmd.changes.get("sample_id")
            if new_sample is not None and new_sample != task.sample_id:
                # Only a new link is checked: a task keeps a link its sample has outlived.
                problems.setdefault("sample_id", sample_problem(uow, principal, new_sample))
            _raise_if_any(problems)
            before = task.snapshot()
            if _apply(task, _wanted(task, cmd.changes, replace_all=cmd.replace_all)):
                task.touch(deps.clock.now(), principal.user_id)
                Auditor.of(uow, deps.clock, caller).updated(
                    AuditEntityType.TASK, task.id, before, task.snapshot()
                )
                uow.commit()
            return TaskView.of(task)


@dataclass(frozen=True)
class CompleteTaskCommand:
    """`completed` None toggles; true/false sets it (idempotent, so a retry is harmless)."""

    task_id: UUID
    completed: bool | None = None
    expected_version: int | None = None
    if_match: int | None = None
    path_user: UUID | None = None


class CompleteTask:
    def __init__(self, deps: TaskDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: CompleteTaskCommand) -> TaskView:
        principal = caller.principal
        require_own_list(principal, cmd.path_user)
        deps = self._deps
        with deps.uow() as uow:
            task = own_task(uow, principal, cmd.task_id)
            ensure_version(task.version, if_match=cmd.if_match, expected=cmd.expected_version)
            completed = (not task.completed) if cmd.completed is None else cmd.completed
            status = settle_status(task.status, None, completed)
            assert status is not None  # naming only `completed` never contradicts
            before = task.snapshot()
            if _apply(task, {"status": status}):
                task.touch(deps.clock.now(), principal.user_id)
                Auditor.of(uow, deps.clock, caller).updated(
                    AuditEntityType.TASK, task.id, before, task.snapshot()
                )
                uow.commit()
            return TaskView.of(task)


class DeleteTask:
    """A tombstone: hidden from the API, kept for a later sync entity and purge."""

    def __init__(self, deps: TaskDeps):
        self._deps = deps

    def __call__(
        self,
        caller: Caller,
        task_id: UUID,
        *,
        if_match: int | None = None,
        path_user: UUID | None = None,
    ) -> None:
        principal = caller.principal
        require_own_list(principal, path_user)
        deps = self._deps
        with deps.uow() as uow:
            task = own_task(uow, principal, task_id)
            ensure_version(task.version, if_match=if_match, expected=None)
            before = task.snapshot()
            now = deps.clock.now()
            task.deleted_at = now
            task.touch(now, principal.user_id)
            Auditor.of(uow, deps.clock, caller).deleted(AuditEntityType.TASK, task.id, before)
            uow.commit()
