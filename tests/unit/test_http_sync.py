"""/sync, /sync/status, /sync/conflicts over HTTP (falcon TestClient, memory storage).

The rules themselves are proven on both storages in tests/contract/test_sync.py; here:
status codes, error shapes, the lenient mutation envelope and the documented JSON.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from entrypoints.http.sync_schemas import SyncOut
from tests.unit.test_http_api import assert_error
from tests.unit.test_http_lab_data import Lab, lab_world

SAMPLE = {
    "type": "drinking",
    "location": "Bouskoura well 3",
    "collection_date": "2025-01-10",
    "collector_name": "Youssef El Amrani",
}


@pytest.fixture
def lab(make_settings) -> Iterator[Lab]:  # type: ignore[no-untyped-def]
    yield from lab_world(make_settings)


def mutation(n: int, record_id: str, **fields: Any) -> dict[str, Any]:
    return {"mutation_id": n, "entity": "sample", "op": "upsert", "id": record_id, **fields}


def sync(lab: Lab, token: str, **body: Any) -> Any:
    return lab.call("POST", "/sync", token, json={"device_id": "tablet-7", **body})


def test_a_round_trip_pushes_then_pulls(lab: Lab) -> None:
    sid = str(uuid.uuid4())
    out = sync(lab, lab.tech, cursor=None, mutations=[mutation(1, sid, data=SAMPLE)])
    assert out.status_code == 200, out.text
    body = out.json
    assert set(body) == {
        "last_mutation_id",
        "results",
        "conflicts",
        "changes",
        "cursor",
        "has_more",
        "reset_required",
    }
    assert body["results"] == [
        {
            "mutation_id": 1,
            "status": "applied",
            "entity": "sample",
            "id": sid,
            "version": 1,
            "error": None,
            "conflict_id": None,
        }
    ]
    [change] = body["changes"]
    assert (change["entity"], change["op"], change["id"], change["version"]) == (
        "sample",
        "upsert",
        sid,
        1,
    )
    assert change["data"]["collection_date"] == "2025-01-10T00:00:00Z"
    sample = lab.call("GET", f"/samples/{sid}", lab.tech).json
    assert change["data"] == {k: v for k, v in sample.items() if k != "results"}
    again = sync(lab, lab.tech, cursor=body["cursor"], mutations=[mutation(1, sid, data=SAMPLE)])
    assert again.json["results"][0]["status"] == "duplicate"
    assert again.json["changes"] == [] and again.json["has_more"] is False


def test_a_malformed_mutation_is_rejected_not_the_batch(lab: Lab) -> None:
    out = sync(
        lab,
        lab.tech,
        mutations=[
            {"mutation_id": 1, "entity": 7, "id": ["x"], "data": "nope"},
            mutation(2, str(uuid.uuid4()), data={**SAMPLE, "type": "lemonade"}),
            mutation(3, str(uuid.uuid4()), data=SAMPLE),
        ],
    )
    assert out.status_code == 200, out.text
    results = out.json["results"]
    assert [r["status"] for r in results] == ["rejected", "rejected", "applied"]
    assert set(results[0]["error"]["field_errors"]) == {"entity", "op", "id", "data"}
    assert results[1]["error"]["field_errors"] == {
        "type": ["Must be one of: drinking, surface, ground, waste, bottled, other"]
    }
    assert out.json["last_mutation_id"] == 3


@pytest.mark.parametrize(
    "envelope",
    [
        {"data": [{}, None, 7]},
        {"data": "sample"},
        {"changed_fields": "location"},
        {"changed_fields": [1, 2]},
    ],
)
def test_a_delete_with_a_malformed_data_or_changed_fields_is_rejected(
    lab: Lab, envelope: dict[str, Any]
) -> None:
    """make verify found a delete carrying `data: [...]` applied: the envelope's types hold
    for every op, whether or not the op reads the field."""
    sid = str(uuid.uuid4())
    created = sync(lab, lab.tech, mutations=[mutation(1, sid, data=SAMPLE)])
    assert created.json["results"][0]["status"] == "applied"
    delete = {**mutation(2, sid, op="delete", base_version=1), **envelope}
    out = sync(lab, lab.tech, mutations=[delete])
    assert out.status_code == 200, out.text
    [result] = out.json["results"]
    assert result["status"] == "rejected"
    assert set(result["error"]["field_errors"]) == set(envelope)
    assert lab.call("GET", f"/samples/{sid}", lab.tech).status_code == 200  # still there

    fine = sync(lab, lab.tech, mutations=[mutation(3, sid, op="delete", base_version=1, data=None)])
    assert fine.json["results"][0]["status"] == "applied"
    assert lab.call("GET", f"/samples/{sid}", lab.tech).status_code == 404


def test_request_errors(lab: Lab) -> None:
    assert_error(lab.call("POST", "/sync", lab.tech, json={}), 400, "VALIDATION_ERROR")
    too_many = [mutation(n, str(uuid.uuid4()), data=SAMPLE) for n in range(1, 1002)]
    error = assert_error(sync(lab, lab.tech, mutations=too_many), 400, "VALIDATION_ERROR")
    assert "mutations" in error["field_errors"]
    error = assert_error(sync(lab, lab.tech, cursor="garbage!"), 400, "VALIDATION_ERROR")
    assert "cursor" in error["field_errors"]
    assert_error(lab.call("POST", "/sync", None, json={"device_id": "x"}), 401, "UNAUTHORIZED")
    pushed = sync(lab, lab.viewer, mutations=[mutation(1, str(uuid.uuid4()), data=SAMPLE)])
    assert_error(pushed, 403, "FORBIDDEN")
    assert sync(lab, lab.viewer, device_id="viewer-tab").status_code == 200
    assert_error(sync(lab, lab.lonely), 403, "FORBIDDEN")  # no lab: nothing to sync


def test_a_device_of_another_user_is_403_and_status_is_its_owners(lab: Lab) -> None:
    assert sync(lab, lab.tech).status_code == 200
    assert_error(sync(lab, lab.other_tech), 403, "FORBIDDEN")
    status = lab.call("GET", "/sync/status?device_id=tablet-7", lab.tech)
    assert status.status_code == 200
    assert status.json["last_mutation_id"] == 0 and status.json["status"] == "ok"
    assert_error(lab.call("GET", "/sync/status?device_id=tablet-7", lab.viewer), 403, "FORBIDDEN")
    assert_error(lab.call("GET", "/sync/status?device_id=nope", lab.tech), 404, "NOT_FOUND")
    assert_error(lab.call("GET", "/sync/status", lab.tech), 400, "VALIDATION_ERROR")


def test_conflicts_are_listed_and_resolved(lab: Lab) -> None:
    sid = str(uuid.uuid4())
    sync(lab, lab.tech, device_id="a", mutations=[mutation(1, sid, data=SAMPLE)])
    sync(
        lab,
        lab.tech,
        device_id="b",
        mutations=[mutation(1, sid, base_version=1, data={"notes": "b"})],
    )
    out = sync(
        lab,
        lab.tech,
        device_id="a",
        mutations=[
            mutation(
                2, sid, base_version=1, data={"notes": "a"}, modified_at="2020-01-01T00:00:00Z"
            )
        ],
    )
    [conflict] = out.json["conflicts"]
    assert conflict["resolution"] == "server_won"
    assert conflict["server_data"]["notes"] == "b" and conflict["client_data"]["data"] == {
        "notes": "a"
    }
    listed = lab.call("GET", "/sync/conflicts?resolved=false&entity=sample", lab.tech)
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json["data"]] == [conflict["conflict_id"]]
    assert listed.json["meta"]["total"] == 1
    assert lab.call("GET", "/sync/conflicts", lab.other_tech).json["data"] == []
    path = f"/sync/conflicts/{conflict['conflict_id']}/resolve"
    assert_error(
        lab.call("POST", path, lab.tech, json={"resolution": "custom"}), 400, "VALIDATION_ERROR"
    )
    assert_error(
        lab.call("POST", path, lab.other_tech, json={"resolution": "client_won"}), 404, "NOT_FOUND"
    )
    assert_error(
        lab.call("POST", path, lab.viewer, json={"resolution": "client_won"}), 403, "FORBIDDEN"
    )
    resolved = lab.call("POST", path, lab.tech, json={"resolution": "client_won"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json["resolved"] is True and resolved.json["manual_resolution"] == "client_won"
    assert lab.call("GET", f"/samples/{sid}", lab.tech).json["notes"] == "a"


def test_the_sync_response_matches_its_documented_schema(lab: Lab) -> None:
    """The response is built by hand for speed: pin it to `SyncOut` (every field, every kind)."""
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    sync(lab, lab.tech, device_id="x", mutations=[mutation(1, a, data=SAMPLE)])
    result = {"sample_id": a, "parameter": "nitrate", "value": 60, "unit": "mg/L",
              "test_date": "2025-01-11"}  # fmt: skip
    out = sync(
        lab,
        lab.tech,
        device_id="y",
        mutations=[
            mutation(1, a, base_version=1, data={"notes": "y"}),
            {"mutation_id": 2, "entity": "result", "op": "upsert", "id": b, "data": result},
            mutation(3, str(uuid.uuid4()), data={"type": "nope"}),
            {"mutation_id": 4, "entity": "result", "op": "delete", "id": b, "base_version": 1},
        ],
    ).json
    out2 = sync(
        lab,
        lab.tech,
        device_id="x",
        mutations=[mutation(2, a, base_version=1, data={"notes": "x"})],
    ).json
    for body in (out, out2):
        assert SyncOut.model_validate(body).model_dump(mode="json") == body
    assert {c["op"] for c in out["changes"]} == {"upsert", "delete"}
    assert out2["conflicts"] and any(r["error"] for r in out["results"])


def test_sync_is_documented(lab: Lab) -> None:
    spec = lab.call("GET", "/openapi.json", None).json
    for path in ("/api/v1/sync", "/api/v1/sync/status", "/api/v1/sync/conflicts"):
        assert path in spec["paths"], path
    assert "/api/v1/sync/conflicts/{conflict_id}/resolve" in spec["paths"]
    schemas = spec["components"]["schemas"]
    for name in ("SyncIn", "SyncOut", "MutationIn", "ChangeOut", "ConflictOut", "DeviceOut"):
        assert name in schemas, name
    data = schemas["ChangeOut"]["properties"]["data"]
    assert {"$ref": "#/components/schemas/SampleOut"} in data["anyOf"]
