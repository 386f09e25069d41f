"""/tasks and /{user_id}/tasks over HTTP (falcon TestClient, memory storage)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from domain.audit import AuditAction, AuditEntityType
from tests.unit.test_http_api import assert_error
from tests.unit.test_http_lab_data import Lab, lab_world


@pytest.fixture
def lab(make_settings) -> Iterator[Lab]:  # type: ignore[no-untyped-def]
    yield from lab_world(make_settings)


def me(lab: Lab, token: str) -> str:
    return str(lab.call("GET", "/auth/me", token).json["id"])


def task(lab: Lab, token: str, **body: Any) -> dict[str, Any]:
    created = lab.call("POST", "/tasks", token, json={"title": "Re-sample well 3", **body})
    assert created.status_code == 201, created.text
    return dict(created.json)


def titles(result: Any) -> list[str]:
    return [t["title"] for t in result.json["data"]]


# --- create, read, defaults -------------------------------------------------------------


def test_create_sets_defaults_owner_and_etag(lab: Lab) -> None:
    user_id = me(lab, lab.tech)
    created = lab.call(
        "POST",
        "/tasks",
        lab.tech,
        json={
            "title": "  Calibrate the pH meter  ",
            "due_date": "2025-02-01",
            # Mass assignment: none of these is the client's to set.
            "owner_id": me(lab, lab.admin),
            "user_id": me(lab, lab.admin),
            "created_by": me(lab, lab.admin),
            "created_at": "2020-01-01T00:00:00Z",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Location"] == f"/api/v1/tasks/{body['id']}"
    assert body["title"] == "Calibrate the pH meter"  # trimmed
    assert (body["status"], body["priority"], body["completed"]) == ("pending", "medium", False)
    assert body["due_date"] == "2025-02-01T00:00:00Z"  # a plain date is midnight UTC
    assert (body["owner_id"], body["created_by"], body["updated_by"]) == (user_id,) * 3
    assert body["created_at"] != "2020-01-01T00:00:00Z"
    assert (body["version"], body["description"], body["sample_id"]) == (1, None, None)
    fetched = lab.call("GET", f"/tasks/{body['id']}", lab.tech)
    assert fetched.status_code == 200 and fetched.json == body
    assert fetched.headers["ETag"] == '"1"'


def test_create_with_client_id_and_duplicate_is_conflict(lab: Lab) -> None:
    task_id = str(uuid.uuid4())
    assert task(lab, lab.tech, id=task_id)["id"] == task_id
    again = lab.call("POST", "/tasks", lab.tech, json={"id": task_id, "title": "Again"})
    assert_error(again, 409, "CONFLICT")
    # Another user reusing the id learns nothing more than "taken" and creates nothing.
    other = lab.call("POST", "/tasks", lab.other_tech, json={"id": task_id, "title": "Mine"})
    assert_error(other, 409, "CONFLICT")
    # A deleted task's id stays taken (its tombstone is kept).
    assert lab.call("DELETE", f"/tasks/{task_id}", lab.tech).status_code == 204
    assert_error(
        lab.call("POST", "/tasks", lab.tech, json={"id": task_id, "title": "Back"}),
        409,
        "CONFLICT",
    )


def test_completed_or_status_on_create_set_each_other(lab: Lab) -> None:
    done = task(lab, lab.tech, completed=True)
    assert (done["status"], done["completed"]) == ("completed", True)
    started = task(lab, lab.tech, status="in_progress", priority="high")
    assert (started["status"], started["completed"], started["priority"]) == (
        "in_progress",
        False,
        "high",
    )
    closed = task(lab, lab.tech, status="completed", completed=True)
    assert closed["completed"] is True


def test_validation_reports_every_problem_at_once(lab: Lab) -> None:
    bad = lab.call(
        "POST",
        "/tasks",
        lab.tech,
        json={
            "title": "x" * 201,
            "description": "d" * 5_001,
            "status": "done",
            "priority": "urgent",
            "due_date": "next week",
            "sample_id": "not-a-uuid",
        },
    )
    error = assert_error(bad, 400, "VALIDATION_ERROR")
    assert set(error["field_errors"]) == {
        "title",
        "description",
        "status",
        "priority",
        "due_date",
        "sample_id",
    }
    blank = lab.call("POST", "/tasks", lab.tech, json={"title": "   "})
    assert set(assert_error(blank, 400, "VALIDATION_ERROR")["field_errors"]) == {"title"}
    missing = lab.call("POST", "/tasks", lab.tech, json={})
    assert assert_error(missing, 400, "VALIDATION_ERROR")["field_errors"]["title"]
    # 200 characters after trimming is fine; the spaces around do not count.
    assert task(lab, lab.tech, title=f"  {'t' * 200}  ")["title"] == "t" * 200
    assert len(task(lab, lab.tech, description="d" * 5_000)["description"]) == 5_000
    assert lab.call("GET", "/tasks", lab.tech).json["meta"]["total"] == 2


def test_contradictory_status_and_completed_is_a_field_error_with_the_others(lab: Lab) -> None:
    other_labs_sample = lab.sample(lab.other_tech)["id"]
    result = lab.call(
        "POST",
        "/tasks",
        lab.tech,
        json={
            "title": "Contradiction",
            "status": "pending",
            "completed": True,
            "sample_id": other_labs_sample,
        },
    )
    error = assert_error(result, 400, "VALIDATION_ERROR")
    assert set(error["field_errors"]) == {"completed", "sample_id"}
    made = task(lab, lab.tech)
    path = f"/tasks/{made['id']}"
    for body in (
        {"status": "completed", "completed": False},
        {"status": "in_progress", "completed": True},
    ):
        assert_error(lab.call("PATCH", path, lab.tech, json=body), 400, "VALIDATION_ERROR")
        put = lab.call("PUT", path, lab.tech, json={"title": "t", **body})
        assert_error(put, 400, "VALIDATION_ERROR")
    assert lab.call("GET", path, lab.tech).json["version"] == 1


def test_malformed_and_non_json_bodies(lab: Lab) -> None:
    bad_json = lab.call(
        "POST",
        "/tasks",
        lab.tech,
        body="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_error(bad_json, 400, "INVALID_JSON")
    text = lab.call(
        "POST", "/tasks", lab.tech, body="title=x", headers={"Content-Type": "text/plain"}
    )
    assert_error(text, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert_error(lab.api.call("GET", "/tasks"), 401, "UNAUTHORIZED")


# --- privacy: 403 vs 404 ------------------------------------------------------------------


def test_another_users_task_is_forbidden_and_unknown_or_deleted_is_not_found(lab: Lab) -> None:
    mine = task(lab, lab.tech)
    path = f"/tasks/{mine['id']}"
    for token in (lab.viewer, lab.admin, lab.other_tech, lab.lonely):
        assert_error(lab.call("GET", path, token), 403, "FORBIDDEN")
        assert_error(lab.call("PATCH", path, token, json={"title": "x"}), 403, "FORBIDDEN")
        assert_error(lab.call("PUT", path, token, json={"title": "x"}), 403, "FORBIDDEN")
        assert_error(lab.call("PATCH", f"{path}/complete", token), 403, "FORBIDDEN")
        assert_error(lab.call("DELETE", path, token), 403, "FORBIDDEN")
        assert lab.call("GET", "/tasks", token).json["data"] == []
    unchanged = lab.call("GET", path, lab.tech).json
    assert unchanged == mine
    unknown = f"/tasks/{uuid.uuid4()}"
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        body = {"title": "x"} if method in ("PUT", "PATCH") else None
        assert_error(lab.call(method, unknown, lab.tech, json=body), 404, "NOT_FOUND")
    assert_error(lab.call("PATCH", f"{unknown}/complete", lab.tech), 404, "NOT_FOUND")
    assert lab.call("DELETE", path, lab.tech).status_code == 204
    for token in (lab.tech, lab.other_tech):  # deleted: gone for everyone, owner included
        assert_error(lab.call("GET", path, token), 404, "NOT_FOUND")
        assert_error(lab.call("DELETE", path, token), 404, "NOT_FOUND")
        assert_error(lab.call("PATCH", f"{path}/complete", token), 404, "NOT_FOUND")


def test_user_id_path_form_works_for_the_owner_only(lab: Lab) -> None:
    tech_id, admin_id = me(lab, lab.tech), me(lab, lab.admin)
    base = f"/{tech_id}/tasks"
    created = lab.call("POST", base, lab.tech, json={"title": "Scoped"})
    assert created.status_code == 201, created.text
    item = f"{base}/{created.json['id']}"
    assert lab.call("GET", base, lab.tech).json["data"][0]["id"] == created.json["id"]
    assert lab.call("GET", item, lab.tech).json["title"] == "Scoped"
    assert lab.call("PATCH", item, lab.tech, json={"priority": "high"}).json["priority"] == "high"
    put = lab.call("PUT", item, lab.tech, json={"title": "Scoped again"})
    assert (put.json["title"], put.json["priority"]) == ("Scoped again", "medium")
    assert lab.call("PATCH", f"{item}/complete", lab.tech).json["completed"] is True
    # The same task is reachable through both forms.
    assert lab.call("GET", f"/tasks/{created.json['id']}", lab.tech).json["completed"] is True
    # Someone else's user id in the path: 403 for everyone, the admin too, and whatever
    # the task id (even one of the caller's own tasks, or none at all).
    own_admin_task = task(lab, lab.admin)["id"]
    for token in (lab.admin, lab.viewer, lab.other_tech):
        for method, path, body in (
            ("GET", base, None),
            ("POST", base, {"title": "Sneaky"}),
            ("GET", item, None),
            ("PUT", item, {"title": "Sneaky"}),
            ("PATCH", item, {"title": "Sneaky"}),
            ("PATCH", f"{item}/complete", None),
            ("DELETE", item, None),
            ("GET", f"{base}/{own_admin_task}", None),
            ("GET", f"{base}/{uuid.uuid4()}", None),
        ):
            assert_error(lab.call(method, path, token, json=body), 403, "FORBIDDEN")
    assert lab.call("GET", f"/{admin_id}/tasks", lab.admin).json["meta"]["total"] == 1
    assert lab.call("GET", base, lab.tech).json["meta"]["total"] == 1
    assert lab.call("DELETE", item, lab.tech).status_code == 204
    assert_error(lab.call("GET", item, lab.tech), 404, "NOT_FOUND")
    # An unknown user id is just "not you".
    assert_error(lab.call("GET", f"/{uuid.uuid4()}/tasks", lab.tech), 403, "FORBIDDEN")


def test_every_role_has_a_writable_list_even_a_viewer_without_a_lab(lab: Lab) -> None:
    for token in (lab.admin, lab.tech, lab.viewer, lab.other_tech, lab.lonely):
        made = task(lab, token, title="My own")
        path = f"/tasks/{made['id']}"
        assert lab.call("PATCH", path, token, json={"title": "Renamed"}).status_code == 200
        assert lab.call("PATCH", f"{path}/complete", token).json["completed"] is True
        listed = lab.call("GET", "/tasks", token).json
        assert [t["title"] for t in listed["data"]] == ["Renamed"]
        assert lab.call("DELETE", path, token).status_code == 204
        assert lab.call("GET", "/tasks", token).json["meta"]["total"] == 0


# --- updates, versions ----------------------------------------------------------------------


def test_patch_put_with_etags_if_match_and_version(lab: Lab) -> None:
    made = task(lab, lab.tech, description="first")
    path = f"/tasks/{made['id']}"
    patched = lab.call(
        "PATCH", path, lab.tech, json={"description": None, "due_date": "2025-03-01T08:00:00+02:00"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["ETag"] == '"2"'
    assert patched.json["description"] is None
    assert patched.json["due_date"] == "2025-03-01T06:00:00Z"
    assert patched.json["title"] == made["title"]  # untouched
    stale = lab.call("PATCH", path, lab.tech, json={"title": "x"}, headers={"If-Match": '"1"'})
    assert assert_error(stale, 412, "PRECONDITION_FAILED")["details"] == {"current_version": 2}
    conflict = lab.call("PATCH", path, lab.tech, json={"title": "x", "version": 1})
    assert assert_error(conflict, 409, "VERSION_CONFLICT")["details"] == {"current_version": 2}
    bad_tag = lab.call("PUT", path, lab.tech, json={"title": "x"}, headers={"If-Match": "junk"})
    assert_error(bad_tag, 412, "PRECONDITION_FAILED")
    put = lab.call(
        "PUT",
        path,
        lab.tech,
        json={"title": "Replaced", "priority": "low", "version": 2},
        headers={"If-Match": '"2"'},
    )
    assert put.status_code == 200, put.text
    assert (put.json["title"], put.json["priority"], put.json["due_date"]) == (
        "Replaced",
        "low",
        None,  # PUT replaces: what is left out gets its default
    )
    assert put.json["version"] == 3
    # Nothing to change: no new version.
    same = lab.call("PATCH", path, lab.tech, json={"title": "Replaced"})
    assert same.json["version"] == 3 and same.headers["ETag"] == '"3"'
    stale_delete = lab.call("DELETE", path, lab.tech, headers={"If-Match": '"2"'})
    assert_error(stale_delete, 412, "PRECONDITION_FAILED")
    assert lab.call("DELETE", path, lab.tech, headers={"If-Match": '"3"'}).status_code == 204


def test_patch_completed_and_status_follow_each_other(lab: Lab) -> None:
    path = f"/tasks/{task(lab, lab.tech, status='in_progress')['id']}"
    done = lab.call("PATCH", path, lab.tech, json={"completed": True}).json
    assert (done["status"], done["completed"]) == ("completed", True)
    reopened = lab.call("PATCH", path, lab.tech, json={"completed": False}).json
    assert (reopened["status"], reopened["completed"]) == ("pending", False)
    working = lab.call("PATCH", path, lab.tech, json={"status": "in_progress"}).json
    assert (working["status"], working["completed"]) == ("in_progress", False)
    # Un-completing an open task keeps its status.
    still = lab.call("PATCH", path, lab.tech, json={"completed": False}).json
    assert (still["status"], still["version"]) == ("in_progress", working["version"])
    closed = lab.call("PATCH", path, lab.tech, json={"status": "completed"}).json
    assert closed["completed"] is True
    for body in ({"status": None}, {"completed": None}, {"priority": None}, {"title": None}):
        error = assert_error(lab.call("PATCH", path, lab.tech, json=body), 400, "VALIDATION_ERROR")
        assert set(error["field_errors"]) == set(body)


def test_complete_toggles_or_sets_idempotently_and_honours_preconditions(lab: Lab) -> None:
    path = f"/tasks/{task(lab, lab.tech)['id']}/complete"
    toggled = lab.call("PATCH", path, lab.tech)
    assert toggled.status_code == 200, toggled.text
    assert (toggled.json["status"], toggled.json["completed"], toggled.json["version"]) == (
        "completed",
        True,
        2,
    )
    assert toggled.headers["ETag"] == '"2"'
    back = lab.call("PATCH", path, lab.tech).json
    assert (back["status"], back["completed"], back["version"]) == ("pending", False, 3)
    # Setting explicitly: a retry changes nothing (no new version, no audit entry).
    for _ in range(2):
        done = lab.call("PATCH", path, lab.tech, json={"completed": True}).json
        assert (done["completed"], done["version"]) == (True, 4)
    for _ in range(2):
        undone = lab.call("PATCH", path, lab.tech, json={"completed": False}).json
        assert (undone["status"], undone["version"]) == ("pending", 5)
    # An empty JSON object toggles too.
    assert lab.call("PATCH", path, lab.tech, json={}).json["completed"] is True
    stale = lab.call("PATCH", path, lab.tech, headers={"If-Match": '"1"'})
    assert_error(stale, 412, "PRECONDITION_FAILED")
    conflict = lab.call("PATCH", path, lab.tech, json={"completed": False, "version": 2})
    assert_error(conflict, 409, "VERSION_CONFLICT")
    ok = lab.call("PATCH", path, lab.tech, headers={"If-Match": '"6"'})
    assert (ok.json["completed"], ok.json["version"]) == (False, 7)
    invalid = lab.call("PATCH", path, lab.tech, json={"completed": "maybe"})
    assert_error(invalid, 400, "VALIDATION_ERROR")
    text = lab.call("PATCH", path, lab.tech, body="x", headers={"Content-Type": "text/plain"})
    assert_error(text, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert lab.call("GET", path.removesuffix("/complete"), lab.tech).json["version"] == 7


def test_task_changes_are_audited_with_reason_and_request_id(lab: Lab) -> None:
    headers = {"X-Change-Reason": "weekly plan", "X-Request-ID": "req-task-1"}
    created = lab.call("POST", "/tasks", lab.tech, json={"title": "Audit me"}, headers=headers)
    task_id = created.json["id"]
    lab.call("PATCH", f"/tasks/{task_id}/complete", lab.tech)
    lab.call("DELETE", f"/tasks/{task_id}", lab.tech)
    entries = [e for e in lab.api.container.memory_store().audit if e.entity_id == task_id]
    assert [(e.entity_type, e.action) for e in entries] == [
        (AuditEntityType.TASK, AuditAction.CREATE),
        (AuditEntityType.TASK, AuditAction.UPDATE),
        (AuditEntityType.TASK, AuditAction.DELETE),
    ]
    create, update, delete = entries
    assert (create.reason, create.request_id) == ("weekly plan", "req-task-1")
    assert create.new_values is not None and create.new_values["title"] == "Audit me"
    assert str(create.user_id) == me(lab, lab.tech) and create.lab_id is None
    assert update.old_values == {"status": "pending", "completed": False, "version": 1}
    assert update.new_values == {"status": "completed", "completed": True, "version": 2}
    assert delete.old_values is not None and delete.new_values is None
    listed = lab.call(
        "GET", "/audit-logs", lab.admin, params={"entity_type": "task", "entity_id": task_id}
    )
    assert listed.json["meta"]["total"] == 3


# --- sample links ---------------------------------------------------------------------------


def test_sample_link_must_be_a_live_sample_the_caller_can_see(lab: Lab) -> None:
    own = lab.sample(lab.tech)["id"]
    foreign = lab.sample(lab.other_tech)["id"]
    gone = lab.sample(lab.tech)["id"]
    assert lab.call("DELETE", f"/samples/{gone}", lab.tech).status_code == 204
    linked = task(lab, lab.tech, sample_id=own)
    assert linked["sample_id"] == own
    assert task(lab, lab.viewer, sample_id=own)["sample_id"] == own  # a viewer of the lab
    assert task(lab, lab.admin, sample_id=foreign)["sample_id"] == foreign  # admin: any lab
    messages = set()
    for token, sample_id in (
        (lab.tech, foreign),  # another lab's: same answer as one that does not exist
        (lab.tech, str(uuid.uuid4())),
        (lab.tech, gone),
        (lab.lonely, own),  # no lab: no sample is visible
        (lab.admin, gone),
    ):
        result = lab.call("POST", "/tasks", token, json={"title": "t", "sample_id": sample_id})
        error = assert_error(result, 400, "VALIDATION_ERROR")
        assert set(error["field_errors"]) == {"sample_id"}
        messages.add(tuple(error["field_errors"]["sample_id"]))
    assert len(messages) == 1  # never tells which case it was
    path = f"/tasks/{linked['id']}"
    moved = lab.call("PATCH", path, lab.tech, json={"sample_id": foreign})
    assert_error(moved, 400, "VALIDATION_ERROR")
    # A link the sample has outlived is kept through edits of other fields …
    assert lab.call("DELETE", f"/samples/{own}", lab.tech).status_code == 204
    kept = lab.call("PUT", path, lab.tech, json={"title": "Still linked", "sample_id": own})
    assert kept.status_code == 200 and kept.json["sample_id"] == own
    # … and can be cleared.
    cleared = lab.call("PATCH", path, lab.tech, json={"sample_id": None})
    assert cleared.json["sample_id"] is None


# --- lists ----------------------------------------------------------------------------------


def test_filters_sorts_and_pagination(lab: Lab) -> None:
    for title, priority, status, due in (
        ("a", "low", "pending", "2025-03-03"),
        ("b", "high", "completed", None),
        ("c", "medium", "in_progress", "2025-03-01"),
        ("d", "high", "pending", "2025-03-02"),
        ("e", "low", "completed", None),
    ):
        task(lab, lab.tech, title=title, priority=priority, status=status, due_date=due)
    task(lab, lab.other_tech, title="not mine")

    def listing(**params: Any) -> Any:
        result = lab.call("GET", "/tasks", lab.tech, params=params)
        assert result.status_code == 200, result.text
        return result

    default = listing()
    assert titles(default) == ["e", "d", "c", "b", "a"]  # newest first
    assert default.json["meta"] == {
        "total": 5,
        "page": 1,
        "limit": 20,
        "total_pages": 1,
        "has_more": False,
        "total_exact": True,
    }
    assert titles(listing(sort="created_at")) == ["a", "b", "c", "d", "e"]
    by_rank = titles(listing(sort="priority"))
    ranks = {"a": 1, "e": 1, "c": 2, "b": 3, "d": 3}
    assert [ranks[t] for t in by_rank] == [1, 1, 2, 3, 3]
    assert [ranks[t] for t in titles(listing(sort="-priority"))] == [3, 3, 2, 1, 1]
    assert [ranks[t] for t in titles(listing(sort="priority", order="desc"))] == [3, 3, 2, 1, 1]
    assert titles(listing(sort="due_date"))[:3] == ["c", "d", "a"]
    assert titles(listing(sort="-due_date"))[:3] == ["a", "d", "c"]  # no due date: last
    assert set(titles(listing(sort="-due_date"))[3:]) == {"b", "e"}
    assert titles(listing(status="completed")) == ["e", "b"]
    assert titles(listing(completed="true")) == ["e", "b"]
    assert titles(listing(completed="false")) == ["d", "c", "a"]
    assert titles(listing(priority="high")) == ["d", "b"]
    assert titles(listing(priority="low", completed="false")) == ["a"]
    page2 = listing(limit=2, page=2)
    assert titles(page2) == ["c", "b"]
    assert page2.json["meta"] == {
        "total": 5,
        "page": 2,
        "limit": 2,
        "total_pages": 3,
        "has_more": True,
        "total_exact": True,
    }
    assert titles(listing(limit=2, offset=4)) == ["a"]
    assert listing(limit=2, offset=4).json["meta"]["has_more"] is False
    # Updating moves a task to the top of the updated_at sort.
    a_id = next(t["id"] for t in listing().json["data"] if t["title"] == "a")
    lab.call("PATCH", f"/tasks/{a_id}", lab.tech, json={"description": "touched"})
    assert titles(listing(sort="-updated_at"))[0] == "a"
    for params, field in (
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page": 0}, "page"),
        ({"sort": "title"}, "sort"),
        ({"status": "done"}, "status"),
        ({"priority": "urgent"}, "priority"),
        ({"completed": "perhaps"}, "completed"),
        ({"order": "sideways"}, "order"),
    ):
        bad = lab.call("GET", "/tasks", lab.tech, params=params)
        assert field in assert_error(bad, 400, "VALIDATION_ERROR")["field_errors"], params


def test_ties_are_broken_by_id_so_pages_never_overlap(lab: Lab) -> None:
    ids = [task(lab, lab.tech, title=f"t{n}", priority="medium")["id"] for n in range(7)]
    seen: list[str] = []
    for page in range(1, 5):
        result = lab.call(
            "GET", "/tasks", lab.tech, params={"sort": "priority", "limit": 2, "page": page}
        )
        seen += [t["id"] for t in result.json["data"]]
    assert seen == sorted(ids)  # one rank: id order, no task twice, none missed
    descending = lab.call("GET", "/tasks", lab.tech, params={"sort": "-priority", "limit": 100})
    assert [t["id"] for t in descending.json["data"]] == sorted(ids, reverse=True)
