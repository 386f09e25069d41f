"""The lab-data "done when" story over real HTTP, on PostgreSQL.

An admin opens a lab with a technician and a viewer; the technician records samples and
results and sees the computed compliance (pass, warning at 80 % of a health limit,
fail, with mg/L → µg/L conversion); the viewer searches and filters but cannot write;
another lab's technician sees none of it; the admin tightens a limit with explicit
re-evaluation and the sample's status follows; the admin reads every change in the
audit log, with the reasons given, and the chain verifies.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.client import Api, error_of

pytestmark = pytest.mark.e2e

WHO = "WHO-GDWQ-2022"
NM = "NM-03.7.001-2006"
NITRATE_LIMIT = f"/standards/{WHO}/limits/nitrate"


@pytest.fixture
def who_nitrate(api: Api, admin_token: str) -> Iterator[dict[str, Any]]:
    """WHO's nitrate limit as seeded; put back afterwards (the server is shared)."""
    standard = api.get(f"/standards/{WHO}", token=admin_token).json()
    original = next(limit for limit in standard["limits"] if limit["parameter"] == "nitrate")
    yield original
    restored = api.put(
        NITRATE_LIMIT,
        token=admin_token,
        json={
            "max": original["max"],
            "basis": original["basis"],
            "source": original["source"],
            "reevaluate": True,
        },
        headers={"X-Change-Reason": "e2e: restore the seeded limit"},
    )
    assert restored.status_code == 200, restored.text


def _sample(api: Api, token: str, location: str, **extra: Any) -> dict[str, Any]:
    response = api.post(
        "/samples",
        token=token,
        json={
            "type": "drinking",
            "location": location,
            "collection_date": "2025-03-10",
            "collector_name": "Youssef El Amrani",
            **extra,
        },
        headers={"X-Change-Reason": "spring campaign"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/api/v1/samples/{response.json()['id']}"
    assert response.headers["ETag"] == '"1"'
    return response.json()  # type: ignore[no-any-return]


def _result(
    api: Api, token: str, sample_id: str, parameter: str, value: float, unit: str
) -> dict[str, Any]:
    response = api.post(
        f"/samples/{sample_id}/results",
        token=token,
        json={
            "parameter": parameter,
            "value": value,
            "unit": unit,
            "test_date": "2025-03-11",
            "technician_name": "Amina Benali",
            "test_method": "ISO 7890-3",
        },
        headers={"X-Change-Reason": "lab analysis"},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _audit(api: Api, token: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/audit-logs", token=token, params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def test_lab_data_story(api: Api, admin_token: str, who_nitrate: dict[str, Any]) -> None:
    # --- the admin opens a lab with a technician and a viewer ---------------------------
    lab = api.create_lab(admin_token)
    tech = api.create_user(admin_token, role="technician", lab_id=lab["id"], reason="new hire")
    viewer = api.create_user(admin_token, role="viewer", lab_id=lab["id"])
    other_lab = api.create_lab(admin_token)
    stranger = api.create_user(admin_token, role="technician", lab_id=other_lab["id"])
    tech_token = api.token(tech["email"], "Techn1cianPass")
    viewer_token = api.token(viewer["email"], "Techn1cianPass")
    stranger_token = api.token(stranger["email"], "Techn1cianPass")
    site = f"Bouskoura {uuid.uuid4().hex[:6]}"

    # --- the technician records samples and results and sees the compliance ---------------
    safe = _sample(api, tech_token, f"{site} well 1")
    borderline = _sample(api, tech_token, f"{site} well 2", type="ground")
    polluted = _sample(api, tech_token, f"{site} tap", latitude=33.45, longitude=-7.65)
    assert safe["lab_id"] == lab["id"] and safe["compliance_status"] == "pending"
    assert safe["collection_date"] == "2025-03-10T00:00:00Z"

    nitrate_safe = _result(api, tech_token, safe["id"], "nitrate", 30, "mg/L")
    assert nitrate_safe["compliance_status"] == "pass"
    nitrate_high = _result(api, tech_token, borderline["id"], "nitrate", 40, "mg/L")
    assert nitrate_high["compliance_status"] == "warning"  # exactly 80 % of 50 mg/L
    assert {e["standard"]: e["outcome"] for e in nitrate_high["evaluations"]} == {
        WHO: "warning",
        NM: "warning",
    }
    arsenic = _result(api, tech_token, polluted["id"], "arsenic", 0.012, "mg/L")
    assert (arsenic["value"], arsenic["unit"], arsenic["compliance_status"]) == (
        12,
        "µg/L",
        "fail",
    )
    wrong_unit = api.post(
        f"/samples/{polluted['id']}/results",
        token=tech_token,
        json={"parameter": "arsenic", "value": 3, "unit": "NTU", "test_date": "2025-03-11"},
    )
    assert set(error_of(wrong_unit, 400, "VALIDATION_ERROR")["field_errors"]) == {"unit"}

    detail = api.get(f"/samples/{polluted['id']}", token=tech_token)
    assert detail.status_code == 200 and detail.headers["ETag"] == '"2"'
    assert detail.json()["compliance_status"] == "fail"
    assert [r["id"] for r in detail.json()["results"]] == [arsenic["id"]]
    statuses = {
        s["id"]: api.get(f"/samples/{s['id']}", token=tech_token).json()["compliance_status"]
        for s in (safe, borderline)
    }
    assert statuses == {safe["id"]: "pass", borderline["id"]: "warning"}

    # a correction with its reason, guarded by the ETag
    stale = api.patch(
        f"/samples/{polluted['id']}",
        token=tech_token,
        json={"status": "in_analysis"},
        headers={"If-Match": '"1"'},
    )
    error_of(stale, 412, "PRECONDITION_FAILED")
    received = api.patch(
        f"/samples/{polluted['id']}",
        token=tech_token,
        json={"status": "in_analysis", "notes": "metallic taste"},
        headers={"If-Match": '"2"', "X-Change-Reason": "lab reception"},
    )
    assert received.status_code == 200 and received.headers["ETag"] == '"3"'

    # --- the viewer searches and filters, and cannot write --------------------------------
    def viewer_ids(**params: Any) -> list[str]:
        response = api.get("/samples", token=viewer_token, params=params)
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()["data"]]

    assert set(viewer_ids(search=site.upper())) == {safe["id"], borderline["id"], polluted["id"]}
    assert viewer_ids(search="youssef", compliance_status="fail") == [polluted["id"]]
    assert viewer_ids(compliance_status="warning") == [borderline["id"]]
    assert viewer_ids(type="ground") == [borderline["id"]]
    assert viewer_ids(status="in_analysis") == [polluted["id"]]
    assert viewer_ids(location=f"{site} WELL 1") == [safe["id"]]
    assert viewer_ids(search=polluted["id"][:8]) == [polluted["id"]]
    same_day = viewer_ids(date_from="2025-03-10", date_to="2025-03-10", sort="location")
    assert same_day == [polluted["id"], safe["id"], borderline["id"]]  # "tap" < "well 1" < …
    page = api.get("/samples", token=viewer_token, params={"limit": 2, "sort": "-location"})
    assert page.json()["meta"] == {
        "total": 3,
        "page": 1,
        "limit": 2,
        "total_pages": 2,
        "has_more": True,
        "total_exact": True,
    }
    assert [s["id"] for s in page.json()["data"]] == [borderline["id"], safe["id"]]
    assert viewer_ids(date_from="2025-03-11") == []
    seen = api.get(f"/samples/{safe['id']}", token=viewer_token)
    assert seen.status_code == 200 and seen.json()["results"][0]["id"] == nitrate_safe["id"]
    for method, path, body in (
        (
            "POST",
            "/samples",
            {
                "type": "drinking",
                "location": "x",
                "collection_date": "2025-03-10",
                "collector_name": "x",
            },
        ),
        ("PATCH", f"/samples/{safe['id']}", {"notes": "viewer was here"}),
        ("DELETE", f"/samples/{safe['id']}", None),
        (
            "POST",
            f"/samples/{safe['id']}/results",
            {"parameter": "ph", "value": 7, "unit": "pH", "test_date": "2025-03-11"},
        ),
        ("DELETE", f"/results/{nitrate_safe['id']}", None),
    ):
        error_of(api.request(method, path, token=viewer_token, json=body), 403, "FORBIDDEN")

    # --- another lab's technician: none of it exists -----------------------------------------
    error_of(api.get(f"/samples/{safe['id']}", token=stranger_token), 404, "NOT_FOUND")
    error_of(api.get(f"/results/{arsenic['id']}", token=stranger_token), 404, "NOT_FOUND")
    error_of(
        api.patch(f"/samples/{safe['id']}", token=stranger_token, json={"notes": "x"}),
        404,
        "NOT_FOUND",
    )
    assert api.get("/samples", token=stranger_token, params={"search": site}).json()["data"] == []

    # --- the admin tightens WHO's nitrate limit and re-evaluates ---------------------------
    assert (who_nitrate["max"], who_nitrate["basis"]) == (50, "health")
    error_of(
        api.put(NITRATE_LIMIT, token=tech_token, json={"max": 35, "basis": "health"}),
        403,
        "FORBIDDEN",
    )
    tightened = api.put(
        NITRATE_LIMIT,
        token=admin_token,
        json={
            "max": 35,
            "basis": "health",
            "source": "e2e: stricter local policy",
            "reevaluate": True,
            "version": who_nitrate["version"],
        },
        headers={"X-Change-Reason": "ministry circular 12/2025"},
    )
    assert tightened.status_code == 200, tightened.text
    change = tightened.json()
    assert change["limit"]["max"] == 35 and change["limit"]["version"] == who_nitrate["version"] + 1
    assert change["changed_results"] >= 2 and change["changed_samples"] >= 2
    after = {
        s["id"]: api.get(f"/samples/{s['id']}", token=tech_token).json()["compliance_status"]
        for s in (safe, borderline)
    }
    # 30 mg/L is now above 80 % of 35; 40 mg/L is above 35 itself
    assert after == {safe["id"]: "warning", borderline["id"]: "fail"}
    judged = api.get(f"/results/{nitrate_high['id']}", token=viewer_token).json()
    who_evaluation = next(e for e in judged["evaluations"] if e["standard"] == WHO)
    assert (who_evaluation["max"], who_evaluation["outcome"]) == (35, "fail")

    # --- the technician deletes a result: the sample goes back to pending --------------------
    deleted = api.delete(
        f"/results/{arsenic['id']}",
        token=tech_token,
        headers={"X-Change-Reason": "contaminated vial"},
    )
    assert deleted.status_code == 204
    error_of(api.get(f"/results/{arsenic['id']}", token=tech_token), 404, "NOT_FOUND")
    assert api.get(f"/samples/{polluted['id']}", token=tech_token).json()["compliance_status"] == (
        "pending"
    )

    # --- the admin reads every change in the audit log --------------------------------------
    admin_id = api.get("/auth/me", token=admin_token).json()["id"]
    safe_log = _audit(api, admin_token, entity_type="sample", entity_id=safe["id"])
    assert [(e["action"], e["reason"], e["user_id"]) for e in safe_log] == [
        ("update", "ministry circular 12/2025", admin_id),
        ("update", "lab analysis", tech["id"]),
        ("create", "spring campaign", tech["id"]),
    ]
    assert [e["new_values"]["compliance_status"] for e in safe_log[:2]] == ["warning", "pass"]
    assert safe_log[2]["new_values"]["location"] == f"{site} well 1"

    result_log = _audit(api, admin_token, entity_type="result", entity_id=nitrate_safe["id"])
    assert [(e["action"], e["reason"]) for e in result_log] == [
        ("update", "ministry circular 12/2025"),
        ("create", "lab analysis"),
    ]
    assert result_log[0]["old_values"]["compliance_status"] == "pass"
    assert result_log[0]["new_values"]["compliance_status"] == "warning"

    arsenic_log = _audit(api, admin_token, entity_type="result", entity_id=arsenic["id"])
    assert [(e["action"], e["reason"]) for e in arsenic_log] == [
        ("delete", "contaminated vial"),
        ("create", "lab analysis"),
    ]
    assert arsenic_log[0]["old_values"]["value"] == 12 and arsenic_log[0]["new_values"] is None
    polluted_log = _audit(api, admin_token, entity_type="sample", entity_id=polluted["id"])
    assert [(e["action"], e["reason"]) for e in polluted_log] == [
        ("update", "contaminated vial"),  # fail → pending
        ("update", "lab reception"),
        ("update", "lab analysis"),  # pending → fail
        ("create", "spring campaign"),
    ]
    assert polluted_log[1]["new_values"] == {
        "status": "in_analysis",
        "notes": "metallic taste",
        "version": 3,
    }

    limit_log = _audit(api, admin_token, entity_type="standard_limit", entity_id=f"{WHO}/nitrate")
    latest = limit_log[0]
    assert (latest["action"], latest["reason"]) == ("update", "ministry circular 12/2025")
    assert latest["old_values"]["max"] == 50 and latest["new_values"]["max"] == 35

    by_tech = _audit(api, admin_token, user_id=tech["id"])
    assert {e["entity_type"] for e in by_tech} == {"sample", "result"}
    # 3 samples, 3 results and their 3 status updates, 1 correction, 1 deletion and its update
    assert len(by_tech) == 3 + 3 + 3 + 1 + 1 + 1
    error_of(api.get("/audit-logs", token=tech_token), 403, "FORBIDDEN")

    verify = api.get("/audit-logs/verify", token=admin_token)
    assert verify.status_code == 200
    assert verify.json()["ok"] is True and verify.json()["first_bad_id"] is None
    assert verify.json()["checked"] >= len(by_tech)
