"""/tasks and /{user_id}/tasks: the caller's private task list (docs/tasks.md).

One pair of resources serves both path forms; the `{user_id}` form passes the id to the
use cases, which answer 403 when it is not the caller's.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import falcon

from application import tasks
from domain.paging import Sort
from domain.ports import TASK_SORT_FIELDS, TaskQuery
from entrypoints.http.common import (
    caller,
    if_match,
    list_payload,
    page_request,
    set_etag,
    sort_spec,
)
from entrypoints.http.operation import operation, render
from entrypoints.http.task_schemas import (
    TaskCompleteIn,
    TaskCreateIn,
    TaskList,
    TaskListQuery,
    TaskOut,
    TaskPatchIn,
    TaskPutIn,
)

TASKS = ("tasks",)
WRITE_ERRORS = (400, 401, 403, 404, 409, 412, 415)
PRIVACY = (
    "Tasks are private: another user's task is 403, an unknown or deleted one 404; the "
    "`/{user_id}/tasks` form is 403 when `user_id` is not yours (admins included)."
)


def _changes(body: Any, *, replace_all: bool) -> dict[str, Any]:
    values: dict[str, Any] = body.model_dump(exclude_unset=not replace_all)
    values.pop("version", None)
    return values


class TasksResource:
    def __init__(self, list_tasks: tasks.ListTasks, create_task: tasks.CreateTask):
        self._list = list_tasks
        self._create = create_task

    @operation(
        summary="List your tasks (filters, sort, pagination)",
        tags=TASKS,
        query=TaskListQuery,
        response=TaskList,
        errors=(400, 401, 403),
        description=f"Sort by: {', '.join(TASK_SORT_FIELDS)} (default `-created_at`, newest "
        "first); `priority` sorts by rank (low < medium < high); tasks without a due date "
        "come last either way; ties by id. " + PRIVACY,
    )
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, user_id: UUID | None = None
    ) -> None:
        q: TaskListQuery = req.context.query
        query = TaskQuery(
            owner_id=req.context.principal.user_id,
            status=q.status,
            priority=q.priority,
            completed=q.completed,
            sort=sort_spec(q, TASK_SORT_FIELDS, Sort("created_at", descending=True)),
            page=page_request(q),
        )
        render(resp, TaskList, list_payload(self._list(caller(req), query, path_user=user_id)))

    @operation(
        summary="Add a task to your list",
        tags=TASKS,
        status=201,
        request=TaskCreateIn,
        response=TaskOut,
        errors=(400, 401, 403, 409, 415),
        description="The owner is you, whatever the body says. An existing id is 409. " + PRIVACY,
    )
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, user_id: UUID | None = None
    ) -> None:
        body: TaskCreateIn = req.context.body
        values = body.model_dump(exclude={"id"})
        view = self._create(
            caller(req), tasks.CreateTaskCommand(values, id=body.id, path_user=user_id)
        )
        render(resp, TaskOut, view, status=201)
        set_etag(resp, view.version)
        resp.location = f"/api/v1/tasks/{view.id}"


class TaskResource:
    def __init__(
        self,
        get_task: tasks.GetTask,
        update_task: tasks.UpdateTask,
        complete_task: tasks.CompleteTask,
        delete_task: tasks.DeleteTask,
    ):
        self._get = get_task
        self._update = update_task
        self._complete = complete_task
        self._delete = delete_task

    @operation(
        summary="Get one of your tasks",
        tags=TASKS,
        response=TaskOut,
        errors=(401, 403, 404),
        description=PRIVACY,
    )
    def on_get(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        task_id: UUID,
        user_id: UUID | None = None,
    ) -> None:
        view = self._get(caller(req), task_id, path_user=user_id)
        render(resp, TaskOut, view)
        set_etag(resp, view.version)

    def _update_with(
        self, req: falcon.Request, resp: falcon.Response, task_id: UUID, user_id: UUID | None
    ) -> None:
        body = req.context.body
        replace_all = isinstance(body, TaskPutIn)
        view = self._update(
            caller(req),
            tasks.UpdateTaskCommand(
                task_id,
                _changes(body, replace_all=replace_all),
                replace_all=replace_all,
                expected_version=body.version,
                if_match=if_match(req),
                path_user=user_id,
            ),
        )
        render(resp, TaskOut, view)
        set_etag(resp, view.version)

    @operation(
        summary="Replace a task's fields",
        tags=TASKS,
        request=TaskPutIn,
        response=TaskOut,
        errors=WRITE_ERRORS,
        headers=("If-Match",),
        description="Fields left out get their defaults. " + PRIVACY,
    )
    def on_put(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        task_id: UUID,
        user_id: UUID | None = None,
    ) -> None:
        self._update_with(req, resp, task_id, user_id)

    @operation(
        summary="Change some of a task's fields",
        tags=TASKS,
        request=TaskPatchIn,
        response=TaskOut,
        errors=WRITE_ERRORS,
        headers=("If-Match",),
        description="`completed: true` sets status `completed`; `completed: false` takes a "
        "completed task back to `pending`. " + PRIVACY,
    )
    def on_patch(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        task_id: UUID,
        user_id: UUID | None = None,
    ) -> None:
        self._update_with(req, resp, task_id, user_id)

    @operation(
        summary="Toggle a task's completion, or set it",
        tags=TASKS,
        request=TaskCompleteIn,
        body_required=False,
        response=TaskOut,
        errors=WRITE_ERRORS,
        headers=("If-Match",),
        description="Without a body: toggles (an open task becomes `completed`; a completed "
        'one goes back to `pending`). With `{"completed": true|false}`: sets it, so a retry '
        "changes nothing (no new version). " + PRIVACY,
    )
    def on_patch_complete(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        task_id: UUID,
        user_id: UUID | None = None,
    ) -> None:
        body: TaskCompleteIn | None = req.context.body
        view = self._complete(
            caller(req),
            tasks.CompleteTaskCommand(
                task_id,
                completed=body.completed if body is not None else None,
                expected_version=body.version if body is not None else None,
                if_match=if_match(req),
                path_user=user_id,
            ),
        )
        render(resp, TaskOut, view)
        set_etag(resp, view.version)

    @operation(
        summary="Delete a task (kept as a tombstone)",
        tags=TASKS,
        status=204,
        errors=(401, 403, 404, 412),
        headers=("If-Match",),
        description=PRIVACY,
    )
    def on_delete(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        task_id: UUID,
        user_id: UUID | None = None,
    ) -> None:
        self._delete(caller(req), task_id, if_match=if_match(req), path_user=user_id)
        resp.status = 204
