"""/samples, /results, /parameters and /standards over HTTP (falcon TestClient, memory storage)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import falcon.testing
import pytest

from adapters.reference_data import NM, WHO, parameter_id
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from tests.unit.test_http_api import Api, assert_error

PASSWORD = "Passw0rdX"


@dataclass
class Lab:
    api: Api
    admin: str
    tech: str
    viewer: str
    other_tech: str
    lonely: str
    lab_a: str
    lab_b: str

    def call(self, method: str, path: str, token: str, **kwargs: Any) -> falcon.testing.Result:
        return self.api.call(method, path, token, **kwargs)

    def sample(self, token: str | None = None, **overrides: Any) -> dict[str, Any]:
        body = {
            "type": "drinking",
            "location": "Bouskoura well 3",
            "collection_date": "2025-01-10",
            "collector_name": "Youssef El Amrani",
            **overrides,
        }
        created = self.call("POST", "/samples", token or self.tech, json=body)
        assert created.status_code == 201, created.text
        return dict(created.json)

    def result(self, sample_id: str, token: str | None = None, **overrides: Any) -> dict[str, Any]:
        body = {
            "parameter": "nitrate",
            "value": 10,
            "unit": "mg/L",
            "test_date": "2025-01-11",
            **overrides,
        }
        created = self.call("POST", f"/samples/{sample_id}/results", token or self.tech, json=body)
        assert created.status_code == 201, created.text
        return dict(created.json)


def _user(api: Api, admin: str, role: str, lab_id: str | None) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@lab.ma"
    created = api.call(
        "POST",
        "/users",
        admin,
        json={"email": email, "password": PASSWORD, "name": role, "role": role, "lab_id": lab_id},
    )
    assert created.status_code == 201, created.text
    login = api.call("POST", "/auth/login", json={"email": email, "password": PASSWORD})
    return str(login.json["tokens"]["access_token"])


@pytest.fixture
def lab(make_settings) -> Iterator[Lab]:  # type: ignore[no-untyped-def]
    yield from lab_world(make_settings)


def lab_world(make_settings) -> Iterator[Lab]:  # type: ignore[no-untyped-def]
    """Two labs; an admin, a technician and a viewer of the first, a technician of the second."""
    container = build_container(make_settings(AQUALAB_STORAGE="memory"))
    api = Api(falcon.testing.TestClient(create_app(container)), container)
    admin = api.admin_token()
    lab_a = api.call("GET", "/auth/me", admin).json["lab_id"]
    lab_b = api.call("POST", "/labs", admin, json={"name": "Rabat"}).json["id"]
    lonely = api.call(
        "POST", "/auth/register", json={"email": "self@lab.ma", "password": PASSWORD, "name": "S"}
    ).json["tokens"]["access_token"]
    yield Lab(
        api=api,
        admin=admin,
        tech=_user(api, admin, "technician", lab_a),
        viewer=_user(api, admin, "viewer", lab_a),
        other_tech=_user(api, admin, "technician", lab_b),
        lonely=lonely,
        lab_a=lab_a,
        lab_b=lab_b,
    )
    container.shutdown_resources()


# --- samples -----------------------------------------------------------------------------


def test_sample_lifecycle_with_etags(lab: Lab) -> None:
    created = lab.call(
        "POST",
        "/samples",
        lab.tech,
        json={
            "type": "ground",
            "location": "Bouskoura well 3",
            "collection_date": "2025-01-10",
            "collector_name": "Youssef",
            "latitude": 33.45,
            "longitude": -7.65,
        },
    )
    assert created.status_code == 201, created.text
    sample = created.json
    assert created.headers["Location"] == f"/api/v1/samples/{sample['id']}"
    assert created.headers["ETag"] == '"1"'
    assert sample["collection_date"] == "2025-01-10T00:00:00Z"  # a plain date is midnight UTC
    assert (sample["status"], sample["compliance_status"], sample["version"]) == (
        "collected",
        "pending",
        1,
    )
    assert sample["lab_id"] == lab.lab_a and sample["results"] == []
    path = f"/samples/{sample['id']}"

    fetched = lab.call("GET", path, lab.tech)
    assert fetched.status_code == 200 and fetched.headers["ETag"] == '"1"'
    assert fetched.json == sample

    stale = lab.call("PATCH", path, lab.tech, json={"notes": "x"}, headers={"If-Match": '"7"'})
    assert_error(stale, 412, "PRECONDITION_FAILED")
    conflict = lab.call("PATCH", path, lab.tech, json={"notes": "x", "version": 7})
    assert assert_error(conflict, 409, "VERSION_CONFLICT")["details"] == {"current_version": 1}
    patched = lab.call(
        "PATCH",
        path,
        lab.tech,
        json={"status": "received", "collection_date": "2025-01-10T10:30:00+01:00"},
        headers={"If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["ETag"] == '"2"'
    assert patched.json["status"] == "received"
    assert patched.json["collection_date"] == "2025-01-10T09:30:00Z"
    assert patched.json["latitude"] == 33.45  # PATCH keeps what it does not name

    put = lab.call(
        "PUT",
        path,
        lab.tech,
        json={
            "type": "surface",
            "location": "Oued Sebou",
            "collection_date": "2025-01-12",
            "collector_name": "Amina",
            "version": 2,
        },
    )
    assert put.status_code == 200, put.text
    assert put.headers["ETag"] == '"3"'
    assert put.json["latitude"] is None and put.json["status"] == "collected"  # PUT replaces
    incomplete = lab.call("PUT", path, lab.tech, json={"type": "surface"})
    assert set(assert_error(incomplete, 400, "VALIDATION_ERROR")["field_errors"]) == {
        "location",
        "collection_date",
        "collector_name",
    }
    assert_error(
        lab.call("DELETE", path, lab.tech, headers={"If-Match": '"2"'}), 412, "PRECONDITION_FAILED"
    )
    deleted = lab.call("DELETE", path, lab.tech, headers={"If-Match": '"3"'})
    assert deleted.status_code == 204 and deleted.text == ""
    assert_error(lab.call("GET", path, lab.tech), 404, "NOT_FOUND")
    assert_error(lab.call("PATCH", path, lab.tech, json={"notes": "x"}), 404, "NOT_FOUND")
    assert_error(lab.call("DELETE", path, lab.tech), 404, "NOT_FOUND")
    assert_error(lab.call("GET", f"{path}/results", lab.tech), 404, "NOT_FOUND")


def test_sample_validation_lists_every_field(lab: Lab) -> None:
    bad = lab.call(
        "POST",
        "/samples",
        lab.tech,
        json={
            "type": "lake",
            "location": "",
            "collection_date": "2025-01-10T10:00:00",  # no offset
            "latitude": 91,
            "longitude": -200,
            "status": "lost",
        },
    )
    errors = assert_error(bad, 400, "VALIDATION_ERROR")["field_errors"]
    assert set(errors) == {
        "type",
        "location",
        "collection_date",
        "collector_name",
        "latitude",
        "longitude",
        "status",
    }
    assert errors["collector_name"] == ["This field is required"]
    for date in ("10/01/2025", "2025-13-01", "yesterday"):
        wrong = lab.call(
            "POST",
            "/samples",
            lab.tech,
            json={
                "type": "drinking",
                "location": "W",
                "collector_name": "Y",
                "collection_date": date,
            },
        )
        assert set(assert_error(wrong, 400, "VALIDATION_ERROR")["field_errors"]) == {
            "collection_date"
        }
    sample = lab.sample()
    nulls = lab.call(
        "PATCH",
        f"/samples/{sample['id']}",
        lab.tech,
        json={"type": None, "location": None, "status": None},
    )
    assert set(assert_error(nulls, 400, "VALIDATION_ERROR")["field_errors"]) == {
        "type",
        "location",
        "status",
    }
    assert lab.call("GET", f"/samples/{sample['id']}", lab.tech).json["version"] == 1


def test_client_ids_and_duplicates(lab: Lab) -> None:
    sample_id = str(uuid.uuid4())
    assert lab.sample(id=sample_id)["id"] == sample_id
    duplicate = lab.call(
        "POST",
        "/samples",
        lab.tech,
        json={
            "id": sample_id,
            "type": "drinking",
            "location": "W",
            "collection_date": "2025-01-10",
            "collector_name": "Y",
        },
    )
    assert_error(duplicate, 409, "CONFLICT")
    result_id = str(uuid.uuid4())
    assert lab.result(sample_id, id=result_id)["id"] == result_id
    again = lab.call(
        "POST",
        f"/samples/{sample_id}/results",
        lab.tech,
        json={
            "id": result_id,
            "parameter": "ph",
            "value": 7,
            "unit": "pH",
            "test_date": "2025-01-11",
        },
    )
    assert_error(again, 409, "CONFLICT")
    assert lab.call("DELETE", f"/samples/{sample_id}", lab.tech).status_code == 204
    tombstoned = lab.call(
        "POST",
        "/samples",
        lab.tech,
        json={
            "id": sample_id,
            "type": "drinking",
            "location": "W",
            "collection_date": "2025-01-10",
            "collector_name": "Y",
        },
    )
    assert_error(tombstoned, 409, "CONFLICT")


# --- results -----------------------------------------------------------------------------


def test_results_are_judged_and_embedded(lab: Lab) -> None:
    sample = lab.sample()
    path = f"/samples/{sample['id']}/results"
    created = lab.call(
        "POST",
        path,
        lab.tech,
        json={
            "parameter": "arsenic",
            "value": 0.012,
            "unit": "mg/L",
            "test_date": "2025-01-11",
            "technician_name": "Amina",
            "test_method": "ICP-MS",
        },
    )
    assert created.status_code == 201, created.text
    arsenic = created.json
    assert created.headers["Location"] == f"/api/v1/results/{arsenic['id']}"
    assert created.headers["ETag"] == '"1"'
    assert (arsenic["value"], arsenic["unit"], arsenic["compliance_status"]) == (
        12.0,
        "µg/L",
        "fail",
    )
    assert arsenic["test_date"] == "2025-01-11T00:00:00Z" and arsenic["qualifier"] == "="
    assert arsenic["evaluations"] == [
        {
            "standard": NM,
            "min": None,
            "max": 10.0,
            "recommended_max": None,
            "basis": "health",
            "outcome": "fail",
        },
        {
            "standard": WHO,
            "min": None,
            "max": 10.0,
            "recommended_max": None,
            "basis": "health",
            "outcome": "fail",
        },
    ]
    nitrate = lab.result(sample["id"], value=42)  # 84 % of 50 mg/L: warning
    assert nitrate["compliance_status"] == "warning"

    detail = lab.call("GET", f"/samples/{sample['id']}", lab.viewer)
    assert detail.status_code == 200
    assert detail.json["compliance_status"] == "fail" and detail.json["version"] == 2
    assert detail.headers["ETag"] == '"2"'
    assert {r["id"] for r in detail.json["results"]} == {arsenic["id"], nitrate["id"]}
    listed = lab.call("GET", path, lab.viewer)
    assert listed.status_code == 200
    assert {r["id"] for r in listed.json["data"]} == {arsenic["id"], nitrate["id"]}
    assert listed.json["meta"]["total"] == 2 and listed.json["meta"]["has_more"] is False

    one = lab.call("GET", f"/results/{arsenic['id']}", lab.viewer)
    assert one.status_code == 200 and one.json == arsenic and one.headers["ETag"] == '"1"'
    assert_error(
        lab.call(
            "PATCH",
            f"/results/{arsenic['id']}",
            lab.tech,
            json={"value": 5},
            headers={"If-Match": '"9"'},
        ),
        412,
        "PRECONDITION_FAILED",
    )
    stale = lab.call(
        "PATCH", f"/results/{arsenic['id']}", lab.tech, json={"value": 5, "version": 9}
    )
    assert_error(stale, 409, "VERSION_CONFLICT")
    corrected = lab.call(
        "PATCH", f"/results/{arsenic['id']}", lab.tech, json={"value": 5, "unit": "ug/L"}
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.headers["ETag"] == '"2"'
    assert (corrected.json["value"], corrected.json["compliance_status"]) == (5.0, "pass")
    assert corrected.json["technician_name"] == "Amina"  # kept
    assert lab.call("GET", f"/samples/{sample['id']}", lab.tech).json["compliance_status"] == (
        "warning"
    )
    replaced = lab.call(
        "PUT",
        f"/results/{nitrate['id']}",
        lab.tech,
        json={"parameter": "nitrate", "value": 12, "unit": "mg/L", "test_date": "2025-01-12"},
    )
    assert replaced.status_code == 200 and replaced.json["compliance_status"] == "pass"
    assert lab.call("GET", f"/samples/{sample['id']}", lab.tech).json["compliance_status"] == "pass"
    for result in (arsenic, nitrate):
        deleted = lab.call("DELETE", f"/results/{result['id']}", lab.tech)
        assert deleted.status_code == 204
        assert_error(lab.call("GET", f"/results/{result['id']}", lab.tech), 404, "NOT_FOUND")
    after = lab.call("GET", f"/samples/{sample['id']}", lab.tech).json
    assert after["compliance_status"] == "pending" and after["results"] == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"parameter": "nitrate", "value": 10, "unit": "NTU"}, {"unit"}),
        ({"parameter": "arsenic", "value": 1, "unit": "pH"}, {"unit"}),
        ({"parameter": "ph", "value": 14.5, "unit": "pH"}, {"value"}),
        ({"parameter": "nitrate", "value": -3, "unit": "mg/L"}, {"value"}),
        ({"parameter": "e_coli", "value": 3, "unit": "CFU/100mL"}, {"value"}),
        ({"parameter": "unobtainium", "value": 1, "unit": "mg/L"}, {"parameter"}),
        ({"parameter": "nitrate", "value": 1, "unit": "mg/L", "qualifier": "~"}, {"qualifier"}),
        (
            {"parameter": "nitrate", "value": "lots", "unit": "", "detection_limit": -1},
            {"value", "unit", "detection_limit"},
        ),
    ],
)
def test_result_field_errors(lab: Lab, body: dict[str, Any], fields: set[str]) -> None:
    sample = lab.sample()
    response = lab.call(
        "POST",
        f"/samples/{sample['id']}/results",
        lab.tech,
        json={"test_date": "2025-01-11", **body},
    )
    assert set(assert_error(response, 400, "VALIDATION_ERROR")["field_errors"]) == fields
    assert lab.call("GET", f"/samples/{sample['id']}", lab.tech).json["results"] == []


def test_result_missing_fields_all_at_once(lab: Lab) -> None:
    sample = lab.sample()
    response = lab.call("POST", f"/samples/{sample['id']}/results", lab.tech, json={})
    assert set(assert_error(response, 400, "VALIDATION_ERROR")["field_errors"]) == {
        "parameter",
        "value",
        "unit",
        "test_date",
    }
    missing_sample = lab.call(
        "POST",
        f"/samples/{uuid.uuid4()}/results",
        lab.tech,
        json={"parameter": "ph", "value": 7, "unit": "pH", "test_date": "2025-01-11"},
    )
    assert_error(missing_sample, 404, "NOT_FOUND")


# --- authorization -------------------------------------------------------------------------


def test_lab_scoping_and_roles(lab: Lab) -> None:
    sample = lab.sample()
    result = lab.result(sample["id"])
    s_path, r_path = f"/samples/{sample['id']}", f"/results/{result['id']}"
    result_body = {"parameter": "ph", "value": 7, "unit": "pH", "test_date": "2025-01-11"}
    # another lab's technician: the records do not exist
    for method, path, body in (
        ("GET", s_path, None),
        ("PATCH", s_path, {"notes": "x"}),
        ("PUT", s_path, {**lab_sample_body(), "notes": "x"}),
        ("DELETE", s_path, None),
        ("GET", f"{s_path}/results", None),
        ("POST", f"{s_path}/results", result_body),
        ("GET", r_path, None),
        ("PATCH", r_path, {"value": 1}),
        ("DELETE", r_path, None),
    ):
        assert_error(lab.call(method, path, lab.other_tech, json=body), 404, "NOT_FOUND")
    assert lab.call("GET", "/samples", lab.other_tech).json["meta"]["total"] == 0
    # the viewer reads but never writes
    assert lab.call("GET", s_path, lab.viewer).status_code == 200
    assert lab.call("GET", r_path, lab.viewer).status_code == 200
    for method, path, body in (
        ("POST", "/samples", lab_sample_body()),
        ("PATCH", s_path, {"notes": "x"}),
        ("PUT", s_path, lab_sample_body()),
        ("DELETE", s_path, None),
        ("POST", f"{s_path}/results", result_body),
        ("PATCH", r_path, {"value": 1}),
        ("PUT", r_path, result_body),
        ("DELETE", r_path, None),
    ):
        assert_error(lab.call(method, path, lab.viewer, json=body), 403, "FORBIDDEN")
    # a technician records only in their own lab; the admin anywhere
    foreign = lab.call(
        "POST", "/samples", lab.tech, json={**lab_sample_body(), "lab_id": lab.lab_b}
    )
    assert_error(foreign, 403, "FORBIDDEN")
    by_admin = lab.call(
        "POST", "/samples", lab.admin, json={**lab_sample_body(), "lab_id": lab.lab_b}
    )
    assert by_admin.status_code == 201 and by_admin.json["lab_id"] == lab.lab_b
    assert lab.call("GET", f"/samples/{by_admin.json['id']}", lab.other_tech).status_code == 200
    unknown_lab = lab.call(
        "POST", "/samples", lab.admin, json={**lab_sample_body(), "lab_id": str(uuid.uuid4())}
    )
    assert set(assert_error(unknown_lab, 400, "VALIDATION_ERROR")["field_errors"]) == {"lab_id"}
    # a self-registered user has no lab: no lab data, but the reference data
    nothing = lab.call("GET", "/samples", lab.lonely)
    assert nothing.status_code == 200 and nothing.json["data"] == []
    assert nothing.json["meta"]["total"] == 0
    assert_error(lab.call("GET", s_path, lab.lonely), 404, "NOT_FOUND")
    assert lab.call("GET", "/parameters", lab.lonely).status_code == 200
    assert lab.call("GET", f"/standards/{WHO}", lab.lonely).status_code == 200
    # without a token: 401
    assert_error(lab.api.call("GET", "/samples"), 401, "UNAUTHORIZED")
    assert_error(lab.api.call("GET", "/parameters"), 401, "UNAUTHORIZED")


def lab_sample_body(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "drinking",
        "location": "Tap 1",
        "collection_date": "2025-01-10",
        "collector_name": "Y",
        **overrides,
    }


# --- lists -----------------------------------------------------------------------------------


def test_sample_list_filters_search_sort_and_pages(lab: Lab) -> None:
    a = lab.sample(
        location="Bouskoura Well", collection_date="2025-01-05", collector_name="Youssef"
    )
    b = lab.sample(
        location="Oued Sebou",
        type="surface",
        collection_date="2025-01-10T12:00:00Z",
        collector_name="Amina Benali",
        status="received",
    )
    c = lab.sample(location="Tap 12", collection_date="2025-01-20", collector_name="Karim")
    d = lab.sample(location="oued sebou", type="surface", collection_date="2025-02-01")
    lab.result(a["id"], value=60)  # fail
    lab.result(c["id"], value=10)  # pass
    other = lab.sample(lab.other_tech, location="Oued Sebou")

    def ids(token: str | None = None, **params: Any) -> list[str]:
        response = lab.call("GET", "/samples", token or lab.viewer, params=params)
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json["data"]]

    assert ids() == [d["id"], c["id"], b["id"], a["id"]]  # newest collection first
    assert ids(sort="collection_date") == [a["id"], b["id"], c["id"], d["id"]]
    assert ids(sort="collection_date", order="desc") == [d["id"], c["id"], b["id"], a["id"]]
    assert ids(sort="-collector_name")[0] == d["id"]  # "Youssef El Amrani"
    assert ids(date_from="2025-01-10", date_to="2025-01-20") == [c["id"], b["id"]]
    assert ids(date_from="2025-01-10T12:00:01Z") == [d["id"], c["id"]]
    assert ids(type="surface") == [d["id"], b["id"]]
    assert ids(location="OUED SEBOU") == [d["id"], b["id"]]  # exact site, any case
    assert ids(status="received") == [b["id"]]
    assert ids(compliance_status="fail") == [a["id"]]
    assert ids(compliance_status="pending") == [d["id"], b["id"]]
    assert ids(search="sebou") == [d["id"], b["id"]]
    assert ids(search="AMINA") == [b["id"]]
    assert ids(search=c["id"][:8].upper()) == [c["id"]]
    assert ids(search="well", type="drinking") == [a["id"]]
    assert ids(lab.admin, location="oued sebou") == [d["id"], b["id"], other["id"]]
    assert ids(lab.admin, location="oued sebou", lab_id=lab.lab_b) == [other["id"]]
    assert ids(lab.viewer, lab_id=lab.lab_b) == ids(lab.viewer)  # scope cannot be widened

    page = lab.call("GET", "/samples", lab.viewer, params={"limit": 3, "page": 2})
    assert page.json["meta"] == {
        "total": 4,
        "page": 2,
        "limit": 3,
        "total_pages": 2,
        "has_more": False,
        "total_exact": True,
    }
    assert [s["id"] for s in page.json["data"]] == [a["id"]]
    first = lab.call("GET", "/samples", lab.viewer, params={"limit": 3})
    assert first.json["meta"]["has_more"] is True and len(first.json["data"]) == 3
    assert ids(offset=1, limit=2) == [c["id"], b["id"]]
    listed = lab.call("GET", "/samples", lab.viewer).json["data"][0]
    assert "results" not in listed and listed["compliance_status"] == "pending"

    for params, field in (
        ({"sort": "notes"}, "sort"),
        ({"limit": 101}, "limit"),
        ({"type": "lake"}, "type"),
        ({"compliance_status": "bad"}, "compliance_status"),
        ({"date_from": "soon"}, "date_from"),
        ({"page": 0}, "page"),
    ):
        bad = lab.call("GET", "/samples", lab.viewer, params=params)
        assert field in assert_error(bad, 400, "VALIDATION_ERROR")["field_errors"]


# --- reference data ----------------------------------------------------------------------------


def test_parameters(lab: Lab) -> None:
    listed = lab.call("GET", "/parameters", lab.viewer)
    assert listed.status_code == 200
    by_code = {p["code"]: p for p in listed.json["data"]}
    assert listed.json["meta"]["total"] == len(by_code) >= 21
    assert by_code["arsenic"]["unit"] == "µg/L"
    assert by_code["e_coli"]["kind"] == "presence_absence"
    assert (by_code["ph"]["min_value"], by_code["ph"]["max_value"]) == (0, 14)
    ph_path = f"/parameters/{parameter_id('ph')}"
    one = lab.call("GET", ph_path, lab.viewer)
    assert one.status_code == 200 and one.json == by_code["ph"] and one.headers["ETag"] == '"1"'
    assert_error(lab.call("GET", f"/parameters/{uuid.uuid4()}", lab.viewer), 404, "NOT_FOUND")
    boron = {"code": "boron", "name": "Boron", "unit": "mg/l", "min_value": 0, "max_value": 50}
    assert_error(lab.call("POST", "/parameters", lab.tech, json=boron), 403, "FORBIDDEN")
    created = lab.call("POST", "/parameters", lab.admin, json=boron)
    assert created.status_code == 201 and created.json["unit"] == "mg/L"
    assert_error(lab.call("POST", "/parameters", lab.admin, json=boron), 409, "CONFLICT")
    bad = lab.call("POST", "/parameters", lab.admin, json={"code": "Bad Code", "unit": ""})
    assert set(assert_error(bad, 400, "VALIDATION_ERROR")["field_errors"]) == {
        "code",
        "name",
        "unit",
    }
    put_body = {"name": "pH value", "min_value": 0, "max_value": 14}
    assert_error(lab.call("PUT", ph_path, lab.tech, json=put_body), 403, "FORBIDDEN")
    assert_error(
        lab.call("PUT", ph_path, lab.admin, json=put_body, headers={"If-Match": '"3"'}),
        412,
        "PRECONDITION_FAILED",
    )
    renamed = lab.call("PUT", ph_path, lab.admin, json={**put_body, "version": 1})
    assert renamed.status_code == 200 and renamed.json["name"] == "pH value"
    assert renamed.headers["ETag"] == '"2"'


def test_standards_and_their_limits(lab: Lab) -> None:
    listed = lab.call("GET", "/standards", lab.viewer)
    assert listed.status_code == 200
    assert [s["code"] for s in listed.json["data"]] == sorted([WHO, NM])
    assert listed.json["meta"]["total"] == 2
    who = lab.call("GET", f"/standards/{WHO}", lab.viewer)
    assert who.status_code == 200
    assert {"code", "name", "limits"} <= set(who.json)
    assert who.json["code"] == WHO and who.json["name"].startswith("WHO")
    limits = {limit["parameter"]: limit for limit in who.json["limits"]}
    for limit in limits.values():
        assert {"parameter", "min", "max", "recommended_max", "basis", "source"} <= set(limit)
        assert limit["basis"] in {"health", "aesthetic", "operational"} and limit["source"]
    assert (limits["nitrate"]["max"], limits["nitrate"]["basis"]) == (50, "health")
    assert (limits["ph"]["min"], limits["ph"]["max"]) == (6.5, 8.5)
    assert limits["arsenic"]["max"] == 10
    nm = lab.call("GET", f"/standards/{NM}", lab.viewer).json
    sulfate = next(limit for limit in nm["limits"] if limit["parameter"] == "sulfate")
    assert (sulfate["max"], sulfate["recommended_max"]) == (400, 200)
    assert_error(lab.call("GET", "/standards/EU-98-83", lab.viewer), 404, "NOT_FOUND")


def test_limit_edits(lab: Lab) -> None:
    sample = lab.sample()
    result = lab.result(sample["id"], value=30)  # pass at 50 mg/L
    path = f"/standards/{WHO}/limits/nitrate"
    body = {"max": 25, "basis": "health", "source": "stricter lab policy"}
    assert_error(lab.call("PUT", path, lab.tech, json=body), 403, "FORBIDDEN")
    assert_error(lab.call("PUT", path, lab.viewer, json=body), 403, "FORBIDDEN")
    assert_error(
        lab.call("PUT", f"/standards/{WHO}/limits/unobtainium", lab.admin, json=body),
        404,
        "NOT_FOUND",
    )
    assert_error(
        lab.call("PUT", "/standards/EU-98-83/limits/nitrate", lab.admin, json=body),
        404,
        "NOT_FOUND",
    )
    invalid = lab.call("PUT", path, lab.admin, json={"max": -1, "basis": "tasty"})
    assert set(assert_error(invalid, 400, "VALIDATION_ERROR")["field_errors"]) == {"max", "basis"}
    inverted = lab.call("PUT", path, lab.admin, json={"min": 9, "max": 8, "basis": "health"})
    assert set(assert_error(inverted, 400, "VALIDATION_ERROR")["field_errors"]) == {"min"}
    assert_error(
        lab.call("PUT", path, lab.admin, json=body, headers={"If-Match": '"2"'}),
        412,
        "PRECONDITION_FAILED",
    )
    assert_error(
        lab.call("PUT", path, lab.admin, json={**body, "version": 2}), 409, "VERSION_CONFLICT"
    )

    kept = lab.call("PUT", path, lab.admin, json=body, headers={"If-Match": '"1"'})
    assert kept.status_code == 200, kept.text
    assert kept.headers["ETag"] == '"2"'
    assert kept.json["limit"]["max"] == 25 and kept.json["limit"]["version"] == 2
    assert kept.json["created"] is False and kept.json["changed_results"] == 0
    assert lab.call("GET", f"/results/{result['id']}", lab.tech).json == result  # history kept
    assert lab.call("GET", f"/samples/{sample['id']}", lab.tech).json["compliance_status"] == "pass"

    redo = lab.call(
        "PUT",
        path,
        lab.admin,
        json={**body, "reevaluate": True},
        headers={"X-Change-Reason": "apply the stricter policy"},
    )
    assert redo.status_code == 200, redo.text
    assert (
        redo.json["reevaluated_results"],
        redo.json["changed_results"],
        redo.json["changed_samples"],
    ) == (1, 1, 1)
    assert redo.json["limit"]["version"] == 2  # the limit itself did not change again
    judged = lab.call("GET", f"/results/{result['id']}", lab.tech).json
    assert judged["compliance_status"] == "fail" and judged["version"] == 2
    assert lab.call("GET", f"/samples/{sample['id']}", lab.tech).json["compliance_status"] == "fail"
    who = lab.call("GET", f"/standards/{WHO}", lab.viewer).json
    nitrate = next(limit for limit in who["limits"] if limit["parameter"] == "nitrate")
    assert (nitrate["max"], nitrate["source"]) == (25, "stricter lab policy")

    created = lab.call(
        "PUT",
        f"/standards/{WHO}/limits/temperature",
        lab.admin,
        json={"max": 30, "basis": "aesthetic"},
    )
    assert created.status_code == 200 and created.json["created"] is True

    audit = lab.call(
        "GET", "/audit-logs", lab.admin, params={"entity_type": "result", "entity_id": result["id"]}
    ).json["data"]
    assert [e["action"] for e in audit] == ["update", "create"]
    assert audit[0]["reason"] == "apply the stricter policy"
    limit_log = lab.call(
        "GET", "/audit-logs", lab.admin, params={"entity_type": "standard_limit"}
    ).json["data"]
    assert {(e["entity_id"], e["action"]) for e in limit_log} == {
        (f"{WHO}/nitrate", "update"),
        (f"{WHO}/temperature", "create"),
    }


def test_change_reason_and_request_id_reach_the_audit_log(lab: Lab) -> None:
    created = lab.call(
        "POST",
        "/samples",
        lab.tech,
        json=lab_sample_body(),
        headers={"X-Change-Reason": "field campaign", "X-Request-ID": "req-sample-1"},
    )
    sample_id = created.json["id"]
    lab.call(
        "POST",
        f"/samples/{sample_id}/results",
        lab.tech,
        json={"parameter": "ph", "value": 9, "unit": "pH", "test_date": "2025-01-11"},
        headers={"X-Change-Reason": "lab analysis"},
    )
    entries = lab.call(
        "GET", "/audit-logs", lab.admin, params={"entity_type": "sample", "entity_id": sample_id}
    ).json["data"]
    assert [(e["action"], e["reason"]) for e in entries] == [
        ("update", "lab analysis"),  # the derived status changed: pending → fail
        ("create", "field campaign"),
    ]
    assert entries[1]["request_id"] == "req-sample-1"
    assert entries[0]["old_values"] == {"compliance_status": "pending", "version": 1}
    assert entries[0]["new_values"]["compliance_status"] == "fail"
    assert lab.call("GET", "/audit-logs/verify", lab.admin).json["ok"] is True
