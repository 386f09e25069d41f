"""A private task list over real HTTP, on PostgreSQL.

A self-registered viewer (no lab) and a technician each keep a task list: create (one
with a client id, one linked to a sample of the technician's lab), filter, sort by
priority rank, toggle completion, edit with If-Match, delete. Neither can touch the
other's tasks (403), nor use the other's `/{user_id}/tasks` (403, the admin neither);
unknown and deleted tasks are 404. The admin reads every change in the audit log.
"""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.client import Api, error_of, unique_email

pytestmark = pytest.mark.e2e

PASSWORD = "Viewer1Password"


def test_task_list_story(api: Api, admin_token: str, lab: dict[str, str]) -> None:
    # A viewer who registered alone (no lab) and a technician of a lab.
    email = unique_email("viewer")
    registered = api.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "name": "Salma"}
    )
    assert registered.status_code == 201, registered.text
    viewer = registered.json()["tokens"]["access_token"]
    viewer_id = registered.json()["user"]["id"]
    tech_user = api.create_user(admin_token, role="technician", lab_id=lab["id"])
    tech = api.token(tech_user["email"], "Techn1cianPass")
    sample = api.post(
        "/samples",
        token=tech,
        json={
            "type": "ground",
            "location": "Bouskoura well 3",
            "collection_date": "2025-03-10",
            "collector_name": "Youssef",
        },
    )
    assert sample.status_code == 201, sample.text
    sample_id = sample.json()["id"]

    # The viewer fills a list, through both path forms, one task with a client id.
    client_id = str(uuid.uuid4())
    made = {}
    for title, priority, path, extra in (
        ("Read the WHO guideline", "low", "/tasks", {"id": client_id}),
        ("Call the lab", "high", f"/{viewer_id}/tasks", {"due_date": "2025-04-01"}),
        ("Book the training", "medium", "/tasks", {"status": "in_progress"}),
    ):
        created = api.post(
            path,
            token=viewer,
            json={"title": title, "priority": priority, "owner_id": tech_user["id"], **extra},
            headers={"X-Change-Reason": "e2e: planning"},
        )
        assert created.status_code == 201, created.text
        assert created.json()["owner_id"] == viewer_id  # never the body's owner
        assert created.headers["ETag"] == '"1"'
        made[title] = created.json()
    assert made["Read the WHO guideline"]["id"] == client_id
    duplicate = api.post("/tasks", token=viewer, json={"id": client_id, "title": "Again"})
    error_of(duplicate, 409, "CONFLICT")
    # A sample the viewer (no lab) cannot see is a field error, not a hint it exists.
    linked = api.post("/tasks", token=viewer, json={"title": "Look", "sample_id": sample_id})
    assert set(error_of(linked, 400, "VALIDATION_ERROR")["field_errors"]) == {"sample_id"}
    # The technician links a task to their lab's sample.
    tech_task = api.post(
        "/tasks", token=tech, json={"title": "Filter the sample", "sample_id": sample_id}
    )
    assert tech_task.status_code == 201, tech_task.text
    assert tech_task.json()["sample_id"] == sample_id

    # Lists: only one's own tasks; priority sorts by rank; filters.
    by_rank = api.get("/tasks", token=viewer, params={"sort": "-priority"}).json()
    assert [t["priority"] for t in by_rank["data"]] == ["high", "medium", "low"]
    assert by_rank["meta"]["total"] == 3
    assert api.get("/tasks", token=tech).json()["meta"]["total"] == 1
    open_ones = api.get(f"/{viewer_id}/tasks", token=viewer, params={"completed": "false"})
    assert open_ones.json()["meta"]["total"] == 3
    paged = api.get("/tasks", token=viewer, params={"limit": 2, "page": 2}).json()
    assert len(paged["data"]) == 1 and paged["meta"]["total_pages"] == 2

    # Toggle, set, edit with a precondition.
    call_id = made["Call the lab"]["id"]
    toggled = api.patch(f"/tasks/{call_id}/complete", token=viewer)
    assert toggled.status_code == 200, toggled.text
    assert (toggled.json()["status"], toggled.json()["completed"]) == ("completed", True)
    assert toggled.headers["ETag"] == '"2"'
    again = api.patch(f"/tasks/{call_id}/complete", token=viewer, json={"completed": True})
    assert again.json()["version"] == 2  # a retry changes nothing
    assert (
        api.get("/tasks", token=viewer, params={"completed": "true"}).json()["meta"]["total"] == 1
    )
    stale = api.patch(
        f"/tasks/{call_id}", token=viewer, json={"title": "x"}, headers={"If-Match": '"1"'}
    )
    error_of(stale, 412, "PRECONDITION_FAILED")
    reopened = api.patch(
        f"/tasks/{call_id}",
        token=viewer,
        json={"completed": False, "description": "they were out"},
        headers={"If-Match": '"2"'},
    )
    assert reopened.status_code == 200, reopened.text
    assert (reopened.json()["status"], reopened.json()["version"]) == ("pending", 3)
    contradiction = api.put(
        f"/tasks/{call_id}",
        token=viewer,
        json={"title": "Call", "status": "pending", "completed": True},
    )
    assert "completed" in error_of(contradiction, 400, "VALIDATION_ERROR")["field_errors"]

    # Privacy: another user's task is 403, another user's list 403 (the admin too).
    tech_task_id = tech_task.json()["id"]
    error_of(api.get(f"/tasks/{tech_task_id}", token=viewer), 403, "FORBIDDEN")
    error_of(api.delete(f"/tasks/{call_id}", token=tech), 403, "FORBIDDEN")
    error_of(api.patch(f"/tasks/{call_id}/complete", token=admin_token), 403, "FORBIDDEN")
    error_of(api.get(f"/{viewer_id}/tasks", token=admin_token), 403, "FORBIDDEN")
    error_of(api.get(f"/{viewer_id}/tasks/{call_id}", token=tech), 403, "FORBIDDEN")
    error_of(api.get(f"/tasks/{uuid.uuid4()}", token=viewer), 404, "NOT_FOUND")

    # Delete: 204, then 404 for the owner; the list shrinks.
    deleted = api.delete(f"/{viewer_id}/tasks/{call_id}", token=viewer, headers={"If-Match": '"3"'})
    assert deleted.status_code == 204, deleted.text
    error_of(api.get(f"/tasks/{call_id}", token=viewer), 404, "NOT_FOUND")
    assert api.get("/tasks", token=viewer).json()["meta"]["total"] == 2

    # Every change is in the audit log, with its reason, and the chain verifies.
    log = api.get(
        "/audit-logs",
        token=admin_token,
        params={"entity_type": "task", "entity_id": call_id, "limit": 100},
    ).json()
    assert [e["action"] for e in reversed(log["data"])] == ["create", "update", "update", "delete"]
    assert log["data"][-1]["reason"] == "e2e: planning"
    verify = api.get("/audit-logs/verify", token=admin_token).json()
    assert verify["ok"] is True
