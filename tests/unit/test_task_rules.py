"""Task rules: completed follows status, field validation, snapshots, priority rank."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.tasks import (
    CONTRADICTION,
    DESCRIPTION_MAX,
    PRIORITY_RANK,
    TITLE_MAX,
    Task,
    TaskPriority,
    TaskStatus,
    settle_status,
    task_problems,
)

NOW = datetime(2025, 1, 18, 10, 30, tzinfo=UTC)
P, W, C = TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED


def make(**fields: object) -> Task:
    owner = uuid4()
    values: dict[str, object] = {
        "id": uuid4(),
        "owner_id": owner,
        "title": "Re-sample well 3",
        "created_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    return Task(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "status", "completed", "expected"),
    [
        # Neither named: unchanged.
        (P, None, None, P),
        (W, None, None, W),
        (C, None, None, C),
        # Only `completed`: true completes; false re-opens a completed task as pending and
        # leaves an open one as it is.
        (P, None, True, C),
        (W, None, True, C),
        (C, None, True, C),
        (C, None, False, P),
        (W, None, False, W),
        (P, None, False, P),
        # Only `status`: it wins, whatever the current status.
        (C, W, None, W),
        (P, C, None, C),
        # Both, agreeing.
        (P, C, True, C),
        (C, P, False, P),
        (C, W, False, W),
        # Both, contradicting: None.
        (P, P, True, None),
        (P, W, True, None),
        (P, C, False, None),
    ],
)
def test_settle_status(
    current: TaskStatus, status: TaskStatus | None, completed: bool | None, expected: object
) -> None:
    assert settle_status(current, status, completed) is expected


def test_completed_is_status_completed_and_snapshot_says_both() -> None:
    task = make(status=C, priority=TaskPriority.HIGH, due_date=NOW)
    assert task.completed is True and task.priority_rank == 3
    snap = task.snapshot()
    assert (snap["status"], snap["completed"], snap["priority"]) == ("completed", True, "high")
    assert snap["due_date"] == NOW.isoformat() and snap["deleted"] is False
    assert set(snap) == {
        "id",
        "owner_id",
        "title",
        "description",
        "status",
        "priority",
        "completed",
        "due_date",
        "sample_id",
        "version",
        "deleted",
    }
    task.status = W
    assert task.completed is False and task.snapshot()["completed"] is False


def test_touch_and_tombstone() -> None:
    task = make()
    by = uuid4()
    later = datetime(2025, 2, 1, tzinfo=UTC)
    task.touch(later, by)
    assert (task.version, task.updated_at, task.updated_by) == (2, later, by)
    assert not task.is_deleted
    task.deleted_at = later
    assert task.is_deleted and task.snapshot()["deleted"] is True


def test_priority_rank_orders_low_medium_high_not_alphabetically() -> None:
    ranked = sorted(TaskPriority, key=PRIORITY_RANK.__getitem__)
    assert ranked == [TaskPriority.LOW, TaskPriority.MEDIUM, TaskPriority.HIGH]
    assert sorted(p.value for p in TaskPriority) != [p.value for p in ranked]


def test_create_problems_all_at_once() -> None:
    problems = task_problems(
        {
            "title": "   ",
            "description": "d" * (DESCRIPTION_MAX + 1),
            "status": "done",
            "priority": "urgent",
            "completed": "yes",
            "due_date": datetime(2025, 1, 1),  # no time zone
            "sample_id": "abc",
        },
        creating=True,
    )
    assert set(problems) == {
        "title",
        "description",
        "status",
        "priority",
        "completed",
        "due_date",
        "sample_id",
    }
    assert task_problems({}, creating=True) == {"title": ["This field is required"]}
    assert task_problems({"title": 5}, creating=True) == {"title": ["Must be a string"]}


def test_title_is_measured_after_trimming() -> None:
    assert task_problems({"title": f"  {'t' * TITLE_MAX}  "}, creating=True) == {}
    too_long = task_problems({"title": "t" * (TITLE_MAX + 1)}, creating=True)
    assert too_long == {"title": [f"Must be at most {TITLE_MAX} characters"]}
    assert task_problems({"title": "t", "description": "d" * DESCRIPTION_MAX}, creating=True) == {}


def test_contradiction_is_a_field_error_on_completed() -> None:
    values = {"title": "t", "status": "pending", "completed": True}
    assert task_problems(values, creating=True) == {"completed": [CONTRADICTION]}
    assert task_problems({"status": "completed", "completed": False}, creating=False) == {
        "completed": [CONTRADICTION]
    }
    assert task_problems({"status": "completed", "completed": True}, creating=False) == {}
    # An invalid status is reported as such, not as a contradiction too.
    assert set(task_problems({"status": "done", "completed": True}, creating=False)) == {"status"}


def test_updates_check_only_what_they_name_and_refuse_nulls() -> None:
    assert task_problems({}, creating=False) == {}
    assert task_problems({"priority": "high"}, creating=False) == {}
    nulls = task_problems(
        {"title": None, "status": None, "priority": None, "completed": None}, creating=False
    )
    assert set(nulls) == {"title", "status", "priority", "completed"}
    # Clearing the optional fields is fine.
    cleared = {"description": None, "due_date": None, "sample_id": None}
    assert task_problems(cleared, creating=False) == {}
    # A replace (PUT) treats null status/priority/completed as their defaults.
    defaults = {"title": "t", "status": None, "priority": None, "completed": None}
    assert task_problems(defaults, creating=True) == {}
