"""Request and response shapes of /tasks (and /{user_id}/tasks): validation and OpenAPI.

The owner is always the caller: `owner_id`, `user_id`, `created_by` and the like in a body
are ignored like every unknown field. `version` is a precondition, not data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints

from domain.tasks import DESCRIPTION_MAX, TITLE_MAX, TaskPriority, TaskStatus
from entrypoints.http.schemas import Input, ListMeta, ListQuery, Output, Timestamp

Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX),
    Field(description=f"1 to {TITLE_MAX} characters after trimming", examples=["Re-sample well 3"]),
]
Description = Annotated[
    str, Field(max_length=DESCRIPTION_MAX, description=f"At most {DESCRIPTION_MAX:,} characters")
]
COMPLETED_DOC = (
    "Always equal to `status == completed`: setting one sets the other; naming both with "
    "different meanings (status `pending` and completed `true`) is a 400 field error"
)
SAMPLE_DOC = "A live sample you can see (your lab's; any lab for an admin), else a 400 field error"


class TaskOut(Output):
    id: UUID
    owner_id: UUID = Field(description="The user whose list holds the task (the caller)")
    title: str
    description: str | None
    status: TaskStatus
    priority: TaskPriority
    completed: bool = Field(description="True exactly when status is `completed`")
    due_date: datetime | None
    sample_id: UUID | None
    version: int
    created_at: datetime
    created_by: UUID | None
    updated_at: datetime
    updated_by: UUID | None


class TaskList(Output):
    data: list[TaskOut]
    meta: ListMeta


class TaskCreateIn(Input):
    id: UUID | None = Field(None, description="Client-supplied id (offline creation)")
    title: Title
    description: Description | None = None
    status: TaskStatus | None = Field(None, description="Default `pending` (or `completed`)")
    priority: TaskPriority = TaskPriority.MEDIUM
    completed: bool | None = Field(None, description=COMPLETED_DOC)
    due_date: Timestamp | None = Field(None, description="RFC 3339; YYYY-MM-DD is midnight UTC")
    sample_id: UUID | None = Field(None, description=SAMPLE_DOC)


class TaskPutIn(Input):
    """Every field: what is left out gets its default (status `pending`, priority `medium`)."""

    title: Title
    description: Description | None = None
    status: TaskStatus | None = None
    priority: TaskPriority = TaskPriority.MEDIUM
    completed: bool | None = Field(None, description=COMPLETED_DOC)
    due_date: Timestamp | None = None
    sample_id: UUID | None = Field(None, description=SAMPLE_DOC)
    version: int | None = Field(None, ge=1)


class TaskPatchIn(Input):
    """Only the fields sent change; `null` clears description, due_date and sample_id."""

    title: Title | None = None
    description: Description | None = None
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    completed: bool | None = Field(None, description=COMPLETED_DOC)
    due_date: Timestamp | None = None
    sample_id: UUID | None = Field(None, description=SAMPLE_DOC)
    version: int | None = Field(None, ge=1)


class TaskCompleteIn(Input):
    """Optional: without a body the call toggles; with one it sets the value (idempotent)."""

    completed: bool | None = Field(
        None, description="true: completed; false: back to `pending`; absent: toggle"
    )
    version: int | None = Field(None, ge=1)


class TaskListQuery(ListQuery):
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    completed: bool | None = Field(None, description="true or false")
