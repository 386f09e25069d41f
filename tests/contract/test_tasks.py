"""The task repository: storage, tombstones, filters, sorts and paging, on both storages.

Every test runs against memory and PostgreSQL with identical assertions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.model import User
from domain.paging import PageRequest, Sort
from domain.ports import TASK_SORT_FIELDS, TaskQuery
from domain.tasks import Task, TaskPriority, TaskStatus
from entrypoints.container import Container
from tests.factories import T0, LabFactory, SampleFactory, UserFactory

DAY = timedelta(days=1)


def tid(n: int) -> UUID:
    """Readable ids whose order is n's order (ties in the sort break by id)."""
    return UUID(f"00000000-0000-4000-8000-{n:012d}")


def make_task(owner: User, n: int, **fields: Any) -> Task:
    values: dict[str, Any] = {
        "id": tid(n),
        "owner_id": owner.id,
        "title": f"task {n}",
        "created_at": T0 + n * DAY,
        "updated_at": T0 + n * DAY,
        "created_by": owner.id,
        "updated_by": owner.id,
        **fields,
    }
    return Task(**values)


def store(container: Container, *tasks: Task) -> None:
    with container.uow() as uow:
        for task in tasks:
            uow.tasks.add(task)
        uow.commit()


def listed(container: Container, query: TaskQuery) -> tuple[list[int], int, bool]:
    with container.uow() as uow:
        page = uow.tasks.list(query)
        return [int(str(t.id)[-12:]) for t in page.items], page.total, page.has_more


@pytest.fixture
def owner(save: Callable[..., None]) -> User:
    user = UserFactory()
    save(user)
    return user


def test_a_task_round_trips_with_every_field(
    container: Container, owner: User, save: Callable[..., None]
) -> None:
    lab = LabFactory()
    sample = SampleFactory(lab_id=lab.id)
    save(lab, sample)
    task = make_task(
        owner,
        1,
        description="Bring two bottles",
        status=TaskStatus.IN_PROGRESS,
        priority=TaskPriority.HIGH,
        due_date=T0 + 3 * DAY,
        sample_id=sample.id,
    )
    store(container, task)
    with container.uow() as uow:
        got = uow.tasks.get(task.id)
        assert got is not None
        assert got.snapshot() == task.snapshot()
        assert isinstance(got.status, TaskStatus) and isinstance(got.priority, TaskPriority)
        assert (got.created_at, got.updated_at, got.due_date) == (
            task.created_at,
            task.updated_at,
            T0 + 3 * DAY,
        )
        assert (got.created_by, got.updated_by, got.completed) == (owner.id, owner.id, False)
        assert uow.tasks.get(tid(99)) is None


def test_changes_commit_or_roll_back_with_the_unit_of_work(
    container: Container, owner: User
) -> None:
    store(container, make_task(owner, 1))
    with container.uow() as uow:
        task = uow.tasks.get(tid(1))
        assert task is not None
        task.status = TaskStatus.COMPLETED
        task.touch(T0 + 5 * DAY, owner.id)
        # no commit: rolled back
    with container.uow() as uow:
        task = uow.tasks.get(tid(1))
        assert task is not None and (task.status, task.version) == (TaskStatus.PENDING, 1)
        task.status = TaskStatus.COMPLETED
        task.touch(T0 + 5 * DAY, owner.id)
        uow.commit()
    with container.uow() as uow:
        task = uow.tasks.get(tid(1))
        assert task is not None
        assert (task.completed, task.version, task.updated_at) == (True, 2, T0 + 5 * DAY)


def test_tombstones_are_hidden_but_kept(container: Container, owner: User) -> None:
    store(container, make_task(owner, 1), make_task(owner, 2))
    with container.uow() as uow:
        task = uow.tasks.get(tid(1))
        assert task is not None
        task.deleted_at = T0 + 9 * DAY
        task.touch(T0 + 9 * DAY, owner.id)
        uow.commit()
    with container.uow() as uow:
        assert uow.tasks.get(tid(1)) is None
        tombstone = uow.tasks.get_including_deleted(tid(1))
        assert tombstone is not None and tombstone.deleted_at == T0 + 9 * DAY
        assert tombstone.version == 2
    assert listed(container, TaskQuery(owner_id=owner.id)) == ([2], 1, False)


def test_a_list_sees_its_unit_of_works_own_changes_and_objects(
    container: Container, owner: User
) -> None:
    """Pending changes reach the list (a new task, an edit, a deletion), and a task the
    unit of work already holds is listed as that same object, so an edit made through one
    is never lost to a stale copy from the other."""
    store(container, make_task(owner, 1), make_task(owner, 2), make_task(owner, 3))
    with container.uow() as uow:
        edited, deleted = uow.tasks.get(tid(1)), uow.tasks.get(tid(2))
        assert edited is not None and deleted is not None
        edited.priority = TaskPriority.HIGH
        deleted.deleted_at = T0 + 9 * DAY
        uow.tasks.add(make_task(owner, 4, status=TaskStatus.COMPLETED))
        page = uow.tasks.list(TaskQuery(owner_id=owner.id, sort=Sort("created_at")))
        assert [int(str(t.id)[-12:]) for t in page.items] == [1, 3, 4]
        assert page.items[0] is edited and page.items[0].priority is TaskPriority.HIGH
        high = uow.tasks.list(TaskQuery(owner_id=owner.id, priority=TaskPriority.HIGH))
        assert [t.id for t in high.items] == [tid(1)]
        done = uow.tasks.list(TaskQuery(owner_id=owner.id, completed=True))
        assert ([t.id for t in done.items], done.total) == ([tid(4)], 1)
        # not committed: none of it stays
    assert listed(container, TaskQuery(owner_id=owner.id, sort=Sort("created_at"))) == (
        [1, 2, 3],
        3,
        False,
    )


def test_lists_hold_only_the_owners_live_tasks_and_filter(
    container: Container, owner: User, save: Callable[..., None]
) -> None:
    other = UserFactory()
    save(other)
    store(
        container,
        make_task(owner, 1, priority=TaskPriority.LOW),
        make_task(owner, 2, status=TaskStatus.COMPLETED, priority=TaskPriority.HIGH),
        make_task(owner, 3, status=TaskStatus.IN_PROGRESS),
        make_task(owner, 4, status=TaskStatus.COMPLETED, priority=TaskPriority.LOW),
        make_task(other, 5),
        make_task(owner, 6, deleted_at=T0),
    )

    def ids(**filters: Any) -> list[int]:
        return listed(container, TaskQuery(owner_id=owner.id, **filters))[0]

    assert ids() == [4, 3, 2, 1]  # newest first by default
    assert listed(container, TaskQuery(owner_id=other.id))[0] == [5]
    assert ids(status=TaskStatus.COMPLETED) == [4, 2]
    assert ids(status=TaskStatus.PENDING) == [1]
    assert ids(completed=True) == [4, 2]
    assert ids(completed=False) == [3, 1]
    assert ids(priority=TaskPriority.LOW) == [4, 1]
    assert ids(priority=TaskPriority.LOW, completed=False) == [1]
    assert ids(priority=TaskPriority.MEDIUM, status=TaskStatus.COMPLETED) == []


def test_sorts_by_rank_and_dates_with_nulls_last_and_ties_by_id(
    container: Container, owner: User
) -> None:
    same = T0 + 10 * DAY
    store(
        container,
        make_task(owner, 1, priority=TaskPriority.HIGH, due_date=T0 + 2 * DAY),
        make_task(owner, 2, priority=TaskPriority.LOW),
        make_task(owner, 3, priority=TaskPriority.MEDIUM, due_date=T0 + 1 * DAY),
        make_task(owner, 4, priority=TaskPriority.HIGH, updated_at=same),
        make_task(owner, 5, priority=TaskPriority.LOW, due_date=T0 + 2 * DAY, updated_at=same),
        make_task(owner, 6, priority=TaskPriority.MEDIUM, created_at=T0 + 4 * DAY),
    )

    def ids(field: str, descending: bool) -> list[int]:
        query = TaskQuery(owner_id=owner.id, sort=Sort(field, descending))
        return listed(container, query)[0]

    assert ids("priority", False) == [2, 5, 3, 6, 1, 4]  # low < medium < high, then id
    assert ids("priority", True) == [4, 1, 6, 3, 5, 2]
    assert ids("due_date", False) == [3, 1, 5, 2, 4, 6]  # no due date: last
    assert ids("due_date", True) == [5, 1, 3, 6, 4, 2]  # … either way
    assert ids("created_at", False) == [1, 2, 3, 4, 6, 5]  # 4 and 6 tie: by id
    assert ids("created_at", True) == [5, 6, 4, 3, 2, 1]
    assert ids("updated_at", True) == [5, 4, 6, 3, 2, 1]
    assert ids("updated_at", False) == [1, 2, 3, 6, 4, 5]
    assert set(TASK_SORT_FIELDS) == {"created_at", "updated_at", "priority", "due_date"}


def test_pages_cover_the_list_once_with_meta(container: Container, owner: User) -> None:
    store(container, *(make_task(owner, n, priority=TaskPriority.MEDIUM) for n in range(1, 8)))
    seen: list[int] = []
    for offset in range(0, 8, 3):
        query = TaskQuery(
            owner_id=owner.id,
            sort=Sort("priority"),
            page=PageRequest(limit=3, offset=offset),
        )
        found, total, more = listed(container, query)
        assert total == 7 and more == (offset + 3 < 7)
        seen += found
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    empty = TaskQuery(owner_id=owner.id, page=PageRequest(limit=3, offset=30))
    assert listed(container, empty) == ([], 7, False)
