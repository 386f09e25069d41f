"""OWASP injection: hostile strings in every query filter and in the main create bodies.

Every query parameter of every GET operation in the live server's OpenAPI document,
every string path parameter, and every string field of the main create operations
receives SQL metacharacters (quotes, comments, `%`, `_`, `\\`, tautologies, dollar
quoting) and Unicode edge cases (NUL, lone surrogates, invalid UTF-8, RTL override,
3,000 characters, emoji, combining marks). Each answer is a normal result or a 400 in
the SPEC's error shape — never a 5xx — and what is stored comes back byte for byte.
Search filters match the characters literally: `%` and `_` are not wildcards.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.e2e.client import Api, error_of, unique_email
from tests.e2e.owasp_support import HOSTILE, assert_reveals_nothing, operations
from tests.e2e.owasp_support import query_value as encoded

pytestmark = pytest.mark.e2e

TEXT_PAYLOADS = {name: value for name, value in HOSTILE.items() if isinstance(value, str)}
# The payloads the database could not store as text: they must be refused with a 400.
UNSTORABLE = {"nul byte", "lone surrogate"}


def _outcome_problem(op: str, name: str, response: Any, allowed: set[int]) -> str | None:
    """None when the answer is acceptable, else a line describing what went wrong."""
    if response.status_code not in allowed:
        return f"{op} [{name}] -> {response.status_code}: {response.text[:200]}"
    if response.status_code >= 400:
        body = response.json()
        if set(body) != {"error"} or body["error"]["request_id"] != response.headers.get(
            "X-Request-ID"
        ):
            return f"{op} [{name}] -> {response.status_code} outside the error shape"
        assert_reveals_nothing(response)
    return None


def test_every_query_parameter_survives_hostile_values(api: Api, admin_token: str) -> None:
    me = api.get("/auth/me", token=admin_token).json()
    path_values = {"user_id": me["id"]}
    targets = [
        op
        for op in operations(api)
        if op.method == "get" and op.query_parameters and set(op.path_parameters) <= {"user_id"}
    ]
    assert len(targets) >= 7  # users, labs, samples, sync status/conflicts, tasks x2, audit

    problems: list[str] = []
    requests_sent = 0
    for op in targets:
        base = api.base_url + op.url(path_values)
        for parameter in op.query_parameters:
            for name, value in HOSTILE.items():
                url = f"{base}?{parameter['name']}={encoded(value)}"
                response = api.http.get(
                    url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30
                )
                requests_sent += 1
                # /sync/status?device_id= names one device: an unknown one is 404.
                allowed = {200, 400, 404} if op.path.endswith("/sync/status") else {200, 400}
                problem = _outcome_problem(f"{op} {parameter['name']}", name, response, allowed)
                if problem:
                    problems.append(problem)
                elif response.status_code == 400:
                    fields = response.json()["error"]["field_errors"]
                    if parameter["name"] not in fields:
                        problems.append(f"{op} [{name}] 400 names {sorted(fields)}")
    print(f"query injection: {len(targets)} operations, {requests_sent} requests")
    assert not problems, "\n".join(problems[:40])
    assert requests_sent >= 40 * len(HOSTILE)


def test_string_path_parameters_survive_hostile_values(api: Api, admin_token: str) -> None:
    limit_body = {"max": 50, "basis": "health", "source": "injection test"}
    problems: list[str] = []
    for name, value in HOSTILE.items():
        segment = encoded(value)
        for method, path, body in (
            ("GET", f"/standards/{segment}", None),
            ("PUT", f"/standards/{segment}/limits/nitrate", limit_body),
            ("PUT", f"/standards/WHO-GDWQ-2022/limits/{segment}", limit_body),
        ):
            response = api.request(method, path, token=admin_token, json=body)
            problem = _outcome_problem(f"{method} {path[:60]}", name, response, {400, 404})
            if problem:
                problems.append(problem)
    assert not problems, "\n".join(problems)


# --- bodies: stored literally or refused with a field error -------------------------------


def _create_targets(api: Api, admin_token: str) -> list[tuple[str, dict[str, Any], list[str]]]:
    """(path, a valid body, its free-text fields) for the main create operations."""
    lab = api.create_lab(admin_token)
    sample = api.create_sample(admin_token, lab["id"], "Injection well", "2025-03-01")
    return [
        ("/labs", {"name": "Lab {tag}", "code": "C{tag}"}, ["name", "code"]),
        (
            "/samples",
            {
                "lab_id": lab["id"],
                "type": "surface",
                "location": "Well {tag}",
                "collection_date": "2025-03-02",
                "collector_name": "Collector {tag}",
            },
            ["location", "collector_name", "notes"],
        ),
        (
            f"/samples/{sample['id']}/results",
            {"parameter": "nitrate", "value": 12.5, "unit": "mg/L", "test_date": "2025-03-03"},
            ["technician_name", "test_method", "notes", "unit"],
        ),
        ("/tasks", {"title": "Task {tag}"}, ["title", "description"]),
        (
            "/users",
            {
                "email": "{email}",
                "password": "Inj3ction-Pass",
                "name": "User {tag}",
                "role": "viewer",
                "lab_id": lab["id"],
            },
            ["name"],
        ),
    ]


def _fill(template: dict[str, Any]) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {
        k: v.format(tag=tag, email=unique_email("inj")) if isinstance(v, str) else v
        for k, v in template.items()
    }


def _location_of(path: str, created: dict[str, Any]) -> str:
    if path.endswith("/results"):
        return f"/results/{created['id']}"
    return f"{path}/{created['id']}"


def test_create_bodies_store_hostile_text_literally_or_refuse_it(
    api: Api, admin_token: str
) -> None:
    problems: list[str] = []
    stored = refused = 0
    targets = _create_targets(api, admin_token)
    for path, template, fields in targets:
        for field in fields:
            for name, value in TEXT_PAYLOADS.items():
                body = _fill(template)
                # Unique names stay unique: the lab name keeps its tag around the payload.
                body[field] = f"{body[field]} {value}" if field == "name" else value
                response = api.post(path, token=admin_token, json=body)
                label = f"POST {path.split('/')[1]} {field}"
                problem = _outcome_problem(label, name, response, {201, 400})
                if problem:
                    problems.append(problem)
                    continue
                if response.status_code == 400:
                    refused += 1
                    error = response.json()["error"]
                    if name == "lone surrogate":
                        ok = error["code"] == "INVALID_JSON"
                    else:
                        ok = error["code"] == "VALIDATION_ERROR" and field in error["field_errors"]
                    if not ok:
                        problems.append(f"{label} [{name}] 400 {error['code']} {error}")
                    continue
                if name in UNSTORABLE:
                    problems.append(f"{label} [{name}] was accepted: {response.text[:200]}")
                    continue
                stored += 1
                fetched = api.get(_location_of(path, response.json()), token=admin_token)
                assert fetched.status_code == 200, fetched.text
                if fetched.json()[field] != body[field]:
                    problems.append(f"{label} [{name}] came back as {fetched.json()[field]!r}")
    print(f"body injection: {stored} stored literally, {refused} refused")
    assert not problems, "\n".join(problems[:40])
    field_count = sum(len(fields) for _, _, fields in targets)
    assert stored >= 100 and refused >= 2 * field_count  # at least NUL and surrogate each


def test_bodies_that_are_not_utf8_or_hold_escaped_nul_are_refused(
    api: Api, admin_token: str
) -> None:
    headers = {"Content-Type": "application/json"}
    not_utf8 = api.post("/labs", token=admin_token, data=b'{"name": "\xff\xfe"}', headers=headers)
    error_of(not_utf8, 400, "INVALID_JSON")
    escaped_nul = json.dumps({"name": "Lab \u0000 nul", "code": "NUL"})  # the `\u0000` escape
    refused = error_of(
        api.post("/labs", token=admin_token, data=escaped_nul, headers=headers),
        400,
        "VALIDATION_ERROR",
    )
    assert set(refused["field_errors"]) == {"name"}
    login = api.post("/auth/login", json={"email": "a\x00@b.example", "password": "x\x00"})
    assert set(error_of(login, 400, "VALIDATION_ERROR")["field_errors"]) == {"email", "password"}
    registered = api.post(
        "/auth/register",
        json={"email": unique_email("nul"), "password": "Nul-Passw0rd", "name": "N\x00"},
    )
    assert set(error_of(registered, 400, "VALIDATION_ERROR")["field_errors"]) == {"name"}


def test_a_sync_batch_rejects_only_the_mutations_that_hold_nul(
    api: Api, admin_token: str, lab: dict[str, Any]
) -> None:
    """A NUL in one mutation rejects that mutation; the rest of the batch applies, so a
    device's queue never jams behind it (SPEC 6: a rejected mutation still counts)."""
    password = "Sync-Nul-Pass1"
    tech = api.create_user(admin_token, role="technician", lab_id=lab["id"], password=password)
    token = api.token(tech["email"], password)

    def mutation(number: int, **changes: Any) -> dict[str, Any]:
        data = {
            "type": "drinking",
            "location": f"Sync well {number}",
            "collection_date": "2025-03-01",
            "collector_name": "Sync Collector",
        }
        m = {
            "mutation_id": number,
            "entity": "sample",
            "op": "upsert",
            "id": str(uuid.uuid4()),
            "modified_at": "2025-03-01T08:00:00Z",
            "data": data,
        }
        m.update(changes)
        return m

    bad = [
        mutation(1, data={**mutation(1)["data"], "location": "Well \x00 1"}),
        mutation(2, data={**mutation(2)["data"], "notes": "\x00"}),
        mutation(3, data={**mutation(3)["data"], "unknown\x00": "x\x00"}),
        mutation(4, entity="sample\x00"),
        mutation(5, op="upsert\x00"),
        mutation(6, id="\x00"),
        mutation(7, modified_at="2025-03-01\x00"),
    ]
    good = mutation(8)
    device = f"nul-{uuid.uuid4().hex[:6]}"
    response = api.post("/sync", token=token, json={"device_id": device, "mutations": [*bad, good]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["last_mutation_id"] == 8
    statuses = {r["mutation_id"]: r["status"] for r in body["results"]}
    assert statuses == {**{n: "rejected" for n in range(1, 8)}, 8: "applied"}, body["results"]
    located = api.get(f"/samples/{good['id']}", token=token)
    assert located.status_code == 200 and located.json()["location"] == "Sync well 8"

    # A conflicting edit (the server changed the sample since version 1) whose only NUL
    # is in `changed_fields`: answered like any conflict, the queue moves on.
    changed = api.patch(f"/samples/{good['id']}", token=token, json={"collector_name": "Server"})
    assert changed.status_code == 200, changed.text
    stale = mutation(
        9, id=good["id"], base_version=1, data={"notes": "edited"}, changed_fields=["notes\x00"]
    )
    again = api.post("/sync", token=token, json={"device_id": device, "mutations": [stale]})
    assert again.status_code == 200, again.text
    assert again.json()["last_mutation_id"] == 9
    assert again.json()["results"][0]["status"] in {"rejected", "conflict", "applied"}


# --- filters match literally ----------------------------------------------------------------


def test_like_metacharacters_in_searches_match_literally(
    api: Api, admin_token: str, lab: dict[str, Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    # Each literal name has a decoy that a `%`, `_` or `\` wildcard would also match.
    pairs = {
        "%": (f"Lab {tag} 100%", f"Lab {tag} 100 kg"),
        "_": (f"Lab {tag} a_c", f"Lab {tag} abc"),
        "\\": (f"Lab {tag} x\\y", f"Lab {tag} xy"),
        "'": (f"Lab {tag} O'Brien", f"Lab {tag} OBrien"),
        "tautology": (f"Lab {tag} ' OR 1=1 --", f"Lab {tag} OR 1=1"),
    }
    for literal, decoy in pairs.values():
        api.create_lab(admin_token, name=literal)
        api.create_lab(admin_token, name=decoy)
    for char, (literal, _decoy) in pairs.items():
        needle = literal.split(" ", 1)[1]  # "<tag> 100%": the tag keeps other labs out
        found = api.get("/labs", token=admin_token, params={"search": needle, "limit": 100})
        assert found.status_code == 200, found.text
        assert [lab["name"] for lab in found.json()["data"]] == [literal], char
    # Across every lab: only those that hold the very characters come back.
    for needle in ("' OR 1=1 --", "%", "_"):
        found = api.get("/labs", token=admin_token, params={"search": needle, "limit": 100})
        names = [f"{lab['name']} {lab['code'] or ''}" for lab in found.json()["data"]]
        assert names and all(needle in name for name in names), (needle, names)

    # Samples: location (exact, any case) and search (id prefix, location, collector).
    def sample(location: str, collector: str) -> str:
        created = api.post(
            "/samples",
            token=admin_token,
            json={
                "lab_id": lab["id"],
                "type": "ground",
                "location": location,
                "collection_date": "2025-04-01",
                "collector_name": collector,
            },
        )
        assert created.status_code == 201, created.text
        return created.json()["id"]  # type: ignore[no-any-return]

    percent = sample(f"Well {tag} 100%", "Amal_Idrissi")
    decoy = sample(f"Well {tag} 100 m", "AmalXIdrissi")
    quoted = sample(f"Well {tag} O'Brien; --", "Back\\slash")

    def samples(**params: str) -> list[str]:
        response = api.get(
            "/samples", token=admin_token, params={"lab_id": lab["id"], "limit": 100, **params}
        )
        assert response.status_code == 200, response.text
        return sorted(s["id"] for s in response.json()["data"])

    assert samples(search=f"{tag} 100%") == [percent]
    assert samples(search="Amal_Idrissi") == [percent]
    assert samples(search="%") == [percent]
    assert samples(search="_") == [percent]
    assert samples(search="\\") == [quoted]
    assert samples(search="O'Brien; --") == [quoted]
    assert samples(location=f"WELL {tag} 100%") == [percent]
    assert samples(location=f"Well {tag} 100_") == []
    assert samples(search="' OR 1=1 --") == []
    assert decoy not in samples(search="%")

    # Users: the search reaches email and name.
    users = {
        word: api.create_user(
            admin_token, role="viewer", lab_id=lab["id"], email=f"{tag}{word}@e2e.example"
        )["id"]
        for word in ("a_b", "axb")
    }
    found_users = api.get("/users", token=admin_token, params={"search": f"{tag}a_b"}).json()
    assert [u["id"] for u in found_users["data"]] == [users["a_b"]]


EDGE_DATES = [
    "0001-01-01T00:00:00+14:00",  # before year 1 once in UTC
    "9999-12-31T23:59:59-14:00",  # after year 9999 once in UTC
    "0001-01-01",
    "9999-12-31T23:59:59Z",
    "2025-02-30",
    "2025-01-01T25:00:00Z",
    "+12025-01-01T00:00:00Z",
]


def test_dates_at_the_edge_of_the_calendar_are_answered_not_crashed(
    api: Api, admin_token: str, lab: dict[str, Any]
) -> None:
    """Regression: a date that leaves the calendar when converted to UTC was a 500."""
    sample = {
        "lab_id": lab["id"],
        "type": "drinking",
        "location": "Calendar well",
        "collector_name": "Calendar Collector",
    }
    problems = []
    for value in EDGE_DATES:
        attempts = [
            (
                "GET /samples date_from",
                api.get("/samples", token=admin_token, params={"date_from": value}),
            ),
            (
                "GET /samples date_to",
                api.get("/samples", token=admin_token, params={"date_to": value}),
            ),
            (
                "GET /audit-logs date_from",
                api.get("/audit-logs", token=admin_token, params={"date_from": value}),
            ),
            (
                "POST /samples",
                api.post("/samples", token=admin_token, json={**sample, "collection_date": value}),
            ),
            (
                "POST /tasks",
                api.post("/tasks", token=admin_token, json={"title": "Edge", "due_date": value}),
            ),
            (
                "POST /reports",
                api.post("/reports/compliance", token=admin_token, json={"date_to": value}),
            ),
        ]
        for label, response in attempts:
            problem = _outcome_problem(label, value, response, {200, 201, 400})
            if problem:
                problems.append(problem)
    assert not problems, "\n".join(problems)
    shifted = api.get("/samples", token=admin_token, params={"date_from": EDGE_DATES[0]})
    assert "date_from" in error_of(shifted, 400, "VALIDATION_ERROR")["field_errors"]
