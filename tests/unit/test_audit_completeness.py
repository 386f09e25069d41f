"""No change without its audit entry; no entry without its change (SPEC §7, SC-006).

Hypothesis draws random sequences of API calls — create/patch/put/delete samples,
create/patch/put/delete results, limit edits with and without re-evaluation, parameter
edits, sync batches (creates, edits on current or stale versions, deletes), private
tasks (create, patch, put, complete toggles, delete, under both path forms), by
admins, technicians, viewers and another lab's technician, with matching,
stale or no preconditions, and many invalid requests — and runs them through the
falcon TestClient on the in-memory storage. After every request the stored records are
compared with what they were before it:

- a failed request changed nothing and wrote no entry;
- a successful one wrote exactly one entry per record that changed (the right entity
  type, id and action: a new record is `create`, a new tombstone `delete`, anything
  else `update`), with the old and new values of exactly the fields that changed, and
  the caller, reason and request id of that request — and nothing else;
- a sync batch may change a record more than once: its entries, replayed over the
  record as it was, give the record as it is, each carries the device id, and every
  conflict entry names a stored conflict record.

At the end, replaying each record's audit entries over its initial state gives its
current state, `/audit-logs` lists every entry and `/audit-logs/verify` checks the chain.
"""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import falcon.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.memory.store import InMemoryStore
from adapters.reference_data import NM, WHO, parameter_id
from domain.audit import AuditAction, AuditEntityType, AuditEntry
from entrypoints.container import build_container
from entrypoints.http.app import create_app

API = "/api/v1"
PASSWORD = "Passw0rdX"
Key = tuple[str, str]  # (entity_type, entity_id) as the audit log names a record

KINDS = (
    *["create_sample"] * 4,
    "patch_sample",
    "put_sample",
    "delete_sample",
    *["create_result"] * 5,
    "patch_result",
    "put_result",
    "delete_result",
    *["put_limit"] * 2,
    "put_parameter",
    *["sync"] * 2,
    *["create_task"] * 2,
    "patch_task",
    "put_task",
    "complete_task",
    "delete_task",
)
ACTORS = ("tech", "tech", "tech", "tech", "admin", "admin", "viewer", "other")
PRECONDITIONS = (None, None, "if_match", "stale_if_match", "version", "stale_version")

# (parameter, value, unit): passing, warning, failing, converted, implausible, wrong unit …
READINGS = (
    ("nitrate", 10, "mg/L"),
    ("nitrate", 42, "mg/L"),
    ("nitrate", 60, "mg/L"),
    ("nitrate", 30_000, "µg/L"),
    ("nitrate", 12, "NTU"),
    ("nitrate", -4, "mg/L"),
    ("arsenic", 0.012, "mg/L"),
    ("arsenic", 3, "ug/L"),
    ("arsenic", 9, "µg/L"),
    ("ph", 7.1, "pH"),
    ("ph", 9.2, "pH"),
    ("ph", 15, "pH"),
    ("e_coli", 0, "CFU/100mL"),
    ("e_coli", 1, "CFU/100mL"),
    ("e_coli", 2, "CFU/100mL"),
    ("unobtainium", 1, "mg/L"),
)
LIMITS = (
    (WHO, "nitrate", {"max": 25, "basis": "health"}),
    (WHO, "nitrate", {"max": 50, "basis": "health"}),
    (NM, "nitrate", {"max": 40, "recommended_max": 30, "basis": "health"}),
    (WHO, "arsenic", {"max": 5, "basis": "health"}),
    (NM, "arsenic", {"max": 10, "basis": "health"}),
    (WHO, "ph", {"min": 7, "max": 8, "basis": "operational"}),
    (NM, "e_coli", {"max": 0, "basis": "health"}),
    (WHO, "turbidity", {"max": 4, "basis": "aesthetic"}),
    (WHO, "nitrate", {"max": -1, "basis": "health"}),  # invalid
    (WHO, "ph", {"min": 9, "max": 8, "basis": "operational"}),  # invalid
    (WHO, "unobtainium", {"max": 1, "basis": "health"}),  # unknown parameter
    ("EU-98-83", "nitrate", {"max": 1, "basis": "health"}),  # unknown standard
)
SAMPLE_PATCHES: tuple[dict[str, Any], ...] = (
    {"notes": "turbid on arrival"},
    {"status": "received"},
    {"status": "completed", "notes": None},
    {"location": "Oued Sebou", "type": "surface"},
    {"collection_date": "2025-02-01"},
    {"latitude": 33.5, "longitude": -7.6},
    {"latitude": 123},  # invalid
    {"type": "lake"},  # invalid
    {"status": None},  # invalid
    {},
)
TASK_PATCHES: tuple[dict[str, Any], ...] = (
    {"title": "Call the regulator"},
    {"completed": True},
    {"completed": False},
    {"status": "in_progress"},
    {"priority": "high", "due_date": "2025-04-01"},
    {"description": "bring two bottles", "due_date": None},
    {"sample_id": None},
    {"status": "pending", "completed": True},  # invalid: contradiction
    {"title": "   "},  # invalid
    {"priority": "urgent"},  # invalid
    {},
)
RESULT_PATCHES: tuple[dict[str, Any], ...] = (
    {"value": 45},
    {"value": 0.02, "unit": "mg/L"},
    {"notes": "re-run"},
    {"qualifier": "<", "detection_limit": 1},
    {"test_date": "2025-01-15"},
    {"unit": "NTU"},  # invalid for every parameter here
    {"value": 1e9},  # implausible
    {"parameter": "unobtainium"},
    {},
)


@dataclass
class Harness:
    client: falcon.testing.TestClient
    store: InMemoryStore
    tokens: dict[str, str]
    user_ids: dict[str, str]
    lab_b: str
    samples: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    counter: int = 0
    next_mutation: dict[str, int] = field(default_factory=dict)  # per device

    def request(
        self, method: str, path: str, actor: str, reason: str | None, **kwargs: Any
    ) -> tuple[falcon.testing.Result, str]:
        self.counter += 1
        request_id = f"op-{self.counter}"
        headers = {"Authorization": f"Bearer {self.tokens[actor]}", "X-Request-ID": request_id}
        headers.update(kwargs.pop("headers", {}))
        if reason:
            headers["X-Change-Reason"] = reason
        return self.client.simulate_request(
            method, API + path, headers=headers, **kwargs
        ), request_id


def build_harness(make_settings: Callable[..., Any]) -> tuple[Harness, Callable[[], None]]:
    container = build_container(make_settings(AQUALAB_STORAGE="memory"))
    client = falcon.testing.TestClient(create_app(container))
    container.create_admin()(
        email="root@lab.ma", password=PASSWORD, lab_name="Central", meta_reason="setup"
    )

    def login(email: str) -> str:
        response = client.simulate_post(
            f"{API}/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        return str(response.json["tokens"]["access_token"])

    admin = login("root@lab.ma")
    auth = {"Authorization": f"Bearer {admin}"}
    lab_a = client.simulate_get(f"{API}/auth/me", headers=auth).json["lab_id"]
    lab_b = client.simulate_post(f"{API}/labs", headers=auth, json={"name": "Rabat"}).json["id"]
    tokens, user_ids = {"admin": admin}, {}
    for actor, role, lab in (
        ("tech", "technician", lab_a),
        ("viewer", "viewer", lab_a),
        ("other", "technician", lab_b),
    ):
        created = client.simulate_post(
            f"{API}/users",
            headers=auth,
            json={
                "email": f"{actor}@lab.ma",
                "password": PASSWORD,
                "name": actor,
                "role": role,
                "lab_id": lab,
            },
        )
        assert created.status_code == 201, created.text
        user_ids[actor] = created.json["id"]
        tokens[actor] = login(f"{actor}@lab.ma")
    user_ids["admin"] = client.simulate_get(f"{API}/auth/me", headers=auth).json["id"]
    harness = Harness(client, container.memory_store(), tokens, user_ids, lab_b)
    # A few records to start from, in both labs, so that most operations find a target.
    for actor, location, readings in (
        ("tech", "Bouskoura well 3", (("nitrate", 10, "mg/L"), ("arsenic", 12, "µg/L"))),
        ("tech", "Tap 12", (("ph", 7.2, "pH"),)),
        ("other", "Oued Sebou", (("nitrate", 42, "mg/L"),)),
    ):
        body = {**sample_body(0), "location": location}
        sample, _ = harness.request("POST", "/samples", actor, None, json=body)
        assert sample.status_code == 201, sample.text
        harness.samples.append(sample.json["id"])
        for parameter, value, unit in readings:
            reading = {"parameter": parameter, "value": value, "unit": unit}
            result, _ = harness.request(
                "POST",
                f"/samples/{sample.json['id']}/results",
                actor,
                None,
                json={**reading, "test_date": "2025-01-11"},
            )
            assert result.status_code == 201, result.text
            harness.results.append(result.json["id"])
    for actor in ("tech", "viewer", "admin"):
        created, _ = harness.request("POST", "/tasks", actor, None, json=task_body(0))
        assert created.status_code == 201, created.text
        harness.tasks.append(created.json["id"])

    def shutdown() -> None:
        container.shutdown_resources()

    return harness, shutdown


def restorer(harness: Harness) -> Callable[[], None]:
    """Put the in-memory store back as it was after set-up (one server for every example:
    the users, labs, sessions and seeded reference data are the same each time)."""
    store = harness.store
    saved = copy.deepcopy((store.tables, store.audit, store.seals))
    samples, results = list(harness.samples), list(harness.results)
    tasks = list(harness.tasks)

    def restore() -> None:
        tables, audit, seals = copy.deepcopy(saved)
        with store.lock:
            store.tables = tables
            store.audit[:] = audit
            store.seals[:] = seals
        harness.samples, harness.results = list(samples), list(results)
        harness.tasks = list(tasks)
        harness.next_mutation = {}

    return restore


# --- what is stored, as the audit log names and snapshots it ------------------------------


def capture(store: InMemoryStore) -> dict[Key, tuple[dict[str, Any], Any]]:
    """Every lab-data record: its audited snapshot and its `updated_at` (to catch silent
    changes the snapshot would not show)."""
    state: dict[Key, tuple[dict[str, Any], Any]] = {}
    for s in store.tables["samples"].values():
        state[("sample", str(s.id))] = (copy.deepcopy(s.snapshot()), s.updated_at)
    for r in store.tables["results"].values():
        state[("result", str(r.id))] = (copy.deepcopy(r.snapshot()), r.updated_at)
    for lim in store.tables["limits"].values():
        key = ("standard_limit", f"{lim.standard_code}/{lim.parameter_code}")
        state[key] = (copy.deepcopy(lim.snapshot()), lim.updated_at)
    for p in store.tables["parameters"].values():
        state[("parameter", p.code)] = (copy.deepcopy(p.snapshot()), p.updated_at)
    for t in store.tables.get("tasks", {}).values():
        state[("task", str(t.id))] = (copy.deepcopy(t.snapshot()), t.updated_at)
    return state


def expected_action(before: dict[str, Any] | None, after: dict[str, Any]) -> AuditAction:
    if before is None:
        return AuditAction.CREATE
    if not before.get("deleted") and after.get("deleted"):
        return AuditAction.DELETE
    return AuditAction.UPDATE


def check_request(
    harness: Harness,
    response: falcon.testing.Result,
    request_id: str,
    actor: str,
    reason: str | None,
    before: dict[Key, tuple[dict[str, Any], Any]],
    audit_before: int,
) -> bool:
    """Compare what one request changed with what it audited; True if it succeeded."""
    assert response.status_code < 500, response.text
    after = capture(harness.store)
    entries: list[AuditEntry] = harness.store.audit[audit_before:]
    changed = {key for key in after if before.get(key) != after[key]}
    assert set(before) <= set(after), "records are never removed, only tombstoned"
    if response.status_code >= 400:
        assert not changed, (response.status_code, response.text, changed)
        assert not entries, (response.status_code, entries)
        return False
    audited = [(e.entity_type.value, e.entity_id) for e in entries]
    assert len(audited) == len(set(audited)), f"one entry per changed record: {audited}"
    assert set(audited) == changed, (response.status_code, set(audited) ^ changed)
    for entry in entries:
        key = (entry.entity_type.value, entry.entity_id)
        old = before[key][0] if key in before else None
        new = after[key][0]
        assert old != new, f"{key}: updated_at moved but nothing audited changed"
        assert entry.action is expected_action(old, new), (key, entry.action)
        assert entry.user_id is not None and str(entry.user_id) == harness.user_ids[actor]
        assert (entry.request_id, entry.reason) == (request_id, reason)
        if entry.action is AuditAction.CREATE:
            assert (entry.old_values, entry.new_values) == (None, new)
        elif entry.action is AuditAction.DELETE:
            assert old is not None and (entry.old_values, entry.new_values) == (old, None)
            assert new == {**old, "deleted": True, "version": old["version"] + 1}
        else:
            assert old is not None
            fields = {k for k in new if old.get(k) != new.get(k)}
            assert entry.old_values == {k: old.get(k) for k in fields}
            assert entry.new_values == {k: new[k] for k in fields}
            assert "version" in fields, f"{key}: a change without a new version"
    return True


def replay(initial: dict[str, Any] | None, entries: list[AuditEntry]) -> dict[str, Any]:
    """A record's state rebuilt from its initial state and its audit entries alone."""
    state = copy.deepcopy(initial) if initial is not None else None
    for entry in entries:
        if entry.action is AuditAction.CREATE:
            assert state is None
            state = copy.deepcopy(entry.new_values)
        elif entry.action is AuditAction.UPDATE:
            assert state is not None and entry.new_values is not None
            assert {k: state.get(k) for k in entry.old_values or {}} == entry.old_values
            state.update(copy.deepcopy(entry.new_values))
        else:
            assert state is not None and state == entry.old_values
            state = {**state, "deleted": True, "version": state["version"] + 1}
    assert state is not None
    return state


# --- the operations ------------------------------------------------------------------------


def pick(items: list[str], index: int) -> str:
    """An existing id (live or tombstone), or now and then one that never existed."""
    if not items or index % 11 == 10:
        return str(uuid.uuid4())
    return items[index % len(items)]


def current_version(store: InMemoryStore, table: str, key: Any) -> int:
    record = store.tables[table].get(key)
    return record.version if record is not None else 1


def precondition(
    kind: str | None, version: int, body: dict[str, Any] | None
) -> tuple[dict[str, str], dict[str, Any] | None]:
    headers: dict[str, str] = {}
    if kind == "if_match":
        headers["If-Match"] = f'"{version}"'
    elif kind == "stale_if_match":
        headers["If-Match"] = f'"{version + 1}"'
    elif body is not None and kind == "version":
        body = {**body, "version": version}
    elif body is not None and kind == "stale_version":
        body = {**body, "version": version + 3}
    return headers, body


def sample_body(variant: int) -> dict[str, Any]:
    body = {
        "type": ("drinking", "surface", "ground", "bottled")[variant % 4],
        "location": ("Bouskoura well 3", "Oued Sebou", "Tap 12")[variant % 3],
        "collection_date": ("2025-01-10", "2025-01-10T08:30:00Z", "2025-02-01")[variant % 3],
        "collector_name": ("Youssef", "Amina")[variant % 2],
    }
    if variant % 6 == 5:
        del body["location"]  # invalid
    return body


def result_body(variant: int) -> dict[str, Any]:
    parameter, value, unit = READINGS[variant % len(READINGS)]
    return {"parameter": parameter, "value": value, "unit": unit, "test_date": "2025-01-11"}


def task_body(variant: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": ("Re-sample well 3", "Order reagents", "  Calibrate pH meter ")[variant % 3],
        "priority": ("low", "medium", "high")[variant % 3],
        "due_date": ("2025-03-01", None, "2025-03-01T08:00:00Z")[variant % 3],
    }
    if variant % 4 == 1:
        body["status"] = ("pending", "in_progress", "completed")[variant % 3]
    if variant % 5 == 2:
        body["completed"] = bool(variant % 2)  # sometimes contradicts the status
    if variant % 6 == 5:
        del body["title"]  # invalid
    return body


def tasks_path(harness: Harness, actor: str, variant: int) -> str:
    """`/tasks`, or now and then `/{user_id}/tasks` with the caller's id or the admin's."""
    if variant % 3:
        return "/tasks"
    owner = actor if variant % 2 else "admin"
    return f"/{harness.user_ids[owner]}/tasks"


def task_operation(
    harness: Harness, op: dict[str, Any], send: Callable[..., tuple[falcon.testing.Result, str]]
) -> tuple[falcon.testing.Result, str]:
    kind, index, variant = op["kind"], op["index"], op["variant"]
    base = tasks_path(harness, effective_actor(op), variant)
    if kind == "create_task":
        body = task_body(variant)
        if variant % 5 == 0:
            body["id"] = str(uuid.uuid4())
        elif variant % 7 == 0 and harness.tasks:
            body["id"] = pick(harness.tasks, index)  # usually a duplicate
        if variant % 4 == 3:
            body["sample_id"] = pick(harness.samples, index)  # visible to the actor or not
        response, request_id = send("POST", base, body)
        if response.status_code == 201:
            harness.tasks.append(response.json["id"])
        return response, request_id
    task_id = pick(harness.tasks, index)
    version = current_version(harness.store, "tasks", uuid.UUID(task_id))
    path = f"{base}/{task_id}"
    if kind == "delete_task":
        return send("DELETE", path, None, version)
    if kind == "complete_task":
        body = (None, {"completed": True}, {"completed": False})[variant % 3]
        return send("PATCH", f"{path}/complete", body, version)
    if kind == "patch_task":
        body = dict(TASK_PATCHES[variant % len(TASK_PATCHES)])
        if variant % 8 == 4:
            body["sample_id"] = pick(harness.samples, index)
        return send("PATCH", path, body, version)
    assert kind == "put_task"
    return send("PUT", path, task_body(variant), version)


def effective_actor(op: dict[str, Any]) -> str:
    """Reference data is the admin's: most edits of it come from the admin."""
    if op["kind"] in ("put_limit", "put_parameter") and op["actor"] == "tech":
        return "admin"
    return str(op["actor"])


def run_operation(harness: Harness, op: dict[str, Any]) -> tuple[falcon.testing.Result, str]:
    kind, actor, reason = op["kind"], effective_actor(op), op["reason"]
    index, variant, pre = op["index"], op["variant"], op["precondition"]
    store = harness.store

    def send(
        method: str, path: str, body: dict[str, Any] | None, version: int | None = None
    ) -> tuple[falcon.testing.Result, str]:
        headers: dict[str, str] = {}
        if version is not None:
            headers, body = precondition(pre, version, body)
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        return harness.request(method, path, actor, reason, **kwargs)

    if kind == "create_sample":
        body = sample_body(variant)
        if variant % 5 == 0:
            body["id"] = str(uuid.uuid4())
        elif variant % 7 == 0 and harness.samples:
            body["id"] = pick(harness.samples, index)  # usually a duplicate
        if actor == "admin" and variant % 2:
            body["lab_id"] = harness.lab_b
        response, request_id = send("POST", "/samples", body)
        if response.status_code == 201:
            harness.samples.append(response.json["id"])
        return response, request_id
    if kind in ("patch_sample", "put_sample", "delete_sample"):
        sample_id = pick(harness.samples, index)
        version = current_version(store, "samples", uuid.UUID(sample_id))
        path = f"/samples/{sample_id}"
        if kind == "delete_sample":
            return send("DELETE", path, None, version)
        if kind == "patch_sample":
            return send("PATCH", path, SAMPLE_PATCHES[variant % len(SAMPLE_PATCHES)], version)
        return send("PUT", path, sample_body(variant), version)
    if kind == "create_result":
        body = result_body(variant)
        if variant % 9 == 0:
            body["id"] = pick(harness.results, index)  # a new id, or a duplicate
        elif variant % 4 == 0:
            body["id"] = str(uuid.uuid4())
        response, request_id = send(
            "POST", f"/samples/{pick(harness.samples, index)}/results", body
        )
        if response.status_code == 201:
            harness.results.append(response.json["id"])
        return response, request_id
    if kind in ("patch_result", "put_result", "delete_result"):
        result_id = pick(harness.results, index)
        version = current_version(store, "results", uuid.UUID(result_id))
        path = f"/results/{result_id}"
        if kind == "delete_result":
            return send("DELETE", path, None, version)
        if kind == "patch_result":
            return send("PATCH", path, RESULT_PATCHES[variant % len(RESULT_PATCHES)], version)
        return send("PUT", path, result_body(variant), version)
    if kind == "sync":
        return sync_batch(harness, actor, reason, index, variant)
    if kind.endswith("_task"):
        return task_operation(harness, op, send)
    if kind == "put_limit":
        standard, parameter, body = LIMITS[variant % len(LIMITS)]
        body = {**body, "reevaluate": bool(index % 2), "source": f"edit {variant}"}
        version = current_version(store, "limits", (standard, parameter))
        return send("PUT", f"/standards/{standard}/limits/{parameter}", body, version)
    assert kind == "put_parameter"
    code = ("nitrate", "arsenic", "ph")[variant % 3]
    body = {"name": f"{code} ({variant % 2})", "min_value": 0, "max_value": 14 + variant % 2}
    if code != "ph":
        body["max_value"] = 100_000
    version = current_version(store, "parameters", code)
    return send("PUT", f"/parameters/{parameter_id(code)}", body, version)


operations = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(KINDS),
            "actor": st.sampled_from(ACTORS),
            "index": st.integers(0, 1_000),
            "variant": st.integers(0, 1_000),
            "precondition": st.sampled_from(PRECONDITIONS),
            "reason": st.sampled_from((None, "field correction", "regulator request")),
        }
    ),
    min_size=10,
    max_size=25,
)


def _op(kind: str, actor: str = "tech", index: int = 0, variant: int = 0) -> dict[str, Any]:
    return {
        "kind": kind,
        "actor": actor,
        "index": index,
        "variant": variant,
        "precondition": None,
        "reason": None,
    }


# A fixed walk that makes every operation succeed once and fail once (on the set-up's
# records: index 0 is the technician's first sample, result and task). The random runs
# below explore far more, but which of their operations succeed depends on the draw; the
# tour makes "every operation was exercised both ways" hold by construction.
TOUR: tuple[tuple[dict[str, Any], bool], ...] = (
    (_op("create_sample", variant=1), True),
    (_op("create_sample", "viewer", variant=1), False),
    (_op("patch_sample"), True),
    (_op("patch_sample", "viewer"), False),
    (_op("put_sample", variant=1), True),
    (_op("put_sample", "viewer", variant=1), False),
    (_op("create_result", variant=1), True),
    (_op("create_result", "viewer", variant=1), False),
    (_op("patch_result"), True),
    (_op("patch_result", "viewer"), False),
    (_op("put_result"), True),
    (_op("put_result", "viewer"), False),
    (_op("put_limit", "admin", variant=1), True),
    (_op("put_limit", "viewer", variant=1), False),
    (_op("put_parameter", "admin"), True),
    (_op("put_parameter", "viewer"), False),
    (_op("sync"), True),
    (_op("sync", "viewer"), False),
    (_op("create_task", variant=1), True),
    (_op("create_task", variant=5), False),  # no title
    (_op("patch_task", variant=1), True),
    (_op("patch_task", "other", variant=1), False),  # another user's task: 403
    (_op("put_task", variant=1), True),
    (_op("put_task", "other", variant=1), False),
    (_op("complete_task", variant=1), True),
    (_op("complete_task", "other", variant=1), False),
    (_op("delete_result", index=1), True),
    (_op("delete_result", "viewer", index=1), False),
    (_op("delete_task", variant=1), True),
    (_op("delete_task", "other", variant=1), False),
    (_op("delete_sample", index=1), True),
    (_op("delete_sample", "viewer", index=1), False),
)


def test_every_change_is_audited_and_nothing_else(make_settings) -> None:  # type: ignore[no-untyped-def]
    outcomes: Counter[tuple[str, bool]] = Counter()
    harness, shutdown = build_harness(make_settings)
    restore = restorer(harness)

    def play(ops: list[dict[str, Any]]) -> list[bool]:
        restore()
        initial = capture(harness.store)
        audit_start = len(harness.store.audit)
        succeeded = []
        for op in ops:
            before, audit_before = capture(harness.store), len(harness.store.audit)
            response, request_id = run_operation(harness, op)
            actor = effective_actor(op)
            check = check_sync if op["kind"] == "sync" else check_request
            ok = check(harness, response, request_id, actor, op["reason"], before, audit_before)
            outcomes[(op["kind"], ok)] += 1
            succeeded.append(ok)
        check_final_state(harness, initial, audit_start)
        return succeeded

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(ops=operations)
    def run(ops: list[dict[str, Any]]) -> None:
        play(ops)

    try:
        assert play([op for op, _ in TOUR]) == [ok for _, ok in TOUR]
        run()
    finally:
        shutdown()
    # Every operation was exercised, both succeeding and failing.
    for kind in set(KINDS):
        assert outcomes[(kind, True)] > 0, (kind, outcomes)
        assert outcomes[(kind, False)] > 0, (kind, outcomes)


def sync_batch(
    harness: Harness, actor: str, reason: str | None, index: int, variant: int
) -> tuple[falcon.testing.Result, str]:
    """One device's batch of 1-4 mutations: creates, edits on the current or a stale
    version (conflicts), deletes — of its own lab's records or, now and then, not."""
    device = f"device-{actor}"
    first = harness.next_mutation.get(device, 1)
    mutations: list[dict[str, Any]] = []
    for n in range(1 + variant % 4):
        pick_at = index + 7 * n
        shape = (variant // 4 + n) % 6
        mutation: dict[str, Any] = {"mutation_id": first + n, "op": "upsert"}
        if shape == 0:
            sample_id = str(uuid.uuid4())
            mutation |= {"entity": "sample", "id": sample_id, "data": sample_body(variant + n)}
        elif shape == 1:
            result_id = str(uuid.uuid4())
            data = {**result_body(variant + n), "sample_id": pick(harness.samples, pick_at)}
            mutation |= {"entity": "result", "id": result_id, "data": data}
        elif shape in (2, 3):  # an edit on the current version, or on a stale one
            sample_id = pick(harness.samples, pick_at)
            version = current_version(harness.store, "samples", uuid.UUID(sample_id))
            mutation |= {
                "entity": "sample",
                "id": sample_id,
                "base_version": version if shape == 2 else max(1, version - 1),
                "data": SAMPLE_PATCHES[(variant + n) % len(SAMPLE_PATCHES)],
                "modified_at": ("2020-01-01T00:00:00Z", None)[n % 2],
            }
        elif shape == 4:
            result_id = pick(harness.results, pick_at)
            version = current_version(harness.store, "results", uuid.UUID(result_id))
            mutation |= {"entity": "result", "id": result_id, "base_version": version,
                         "data": RESULT_PATCHES[(variant + n) % len(RESULT_PATCHES)]}  # fmt: skip
        else:
            entity = ("sample", "result")[n % 2]
            target = pick(harness.samples if entity == "sample" else harness.results, pick_at)
            table = "samples" if entity == "sample" else "results"
            version = current_version(harness.store, table, uuid.UUID(target))
            mutation |= {"entity": entity, "op": "delete", "id": target, "base_version": version}
        mutations.append(mutation)
    response, request_id = harness.request(
        "POST", "/sync", actor, reason, json={"device_id": device, "mutations": mutations}
    )
    if response.status_code == 200:
        harness.next_mutation[device] = response.json["last_mutation_id"] + 1
        for outcome in response.json["results"]:  # new ids become targets once applied
            new = outcome["status"] == "applied" and outcome["version"] == 1
            if new and outcome["entity"] == "sample":
                harness.samples.append(outcome["id"])
            elif new and outcome["entity"] == "result":
                harness.results.append(outcome["id"])
    return response, request_id


def check_sync(
    harness: Harness,
    response: falcon.testing.Result,
    request_id: str,
    actor: str,
    reason: str | None,
    before: dict[Key, tuple[dict[str, Any], Any]],
    audit_before: int,
) -> bool:
    """A batch's entries explain exactly what it changed; True if the request succeeded."""
    assert response.status_code < 500, response.text
    after = capture(harness.store)
    entries: list[AuditEntry] = harness.store.audit[audit_before:]
    changed = {key for key in after if before.get(key) != after[key]}
    if response.status_code >= 400:
        assert not changed and not entries, (response.status_code, response.text)
        return False
    by_record: dict[Key, list[AuditEntry]] = {}
    for entry in entries:
        assert entry.user_id is not None and str(entry.user_id) == harness.user_ids[actor]
        assert (entry.request_id, entry.reason) == (request_id, reason)
        assert entry.device_id == f"device-{actor}", entry
        if entry.entity_type is AuditEntityType.CONFLICT:
            assert uuid.UUID(entry.entity_id) in harness.store.tables["sync_conflicts"]
            continue
        by_record.setdefault((entry.entity_type.value, entry.entity_id), []).append(entry)
    assert set(by_record) == changed, set(by_record) ^ changed
    for key, record_entries in by_record.items():
        start = before[key][0] if key in before else None
        assert replay(start, record_entries) == after[key][0], key
    return True


def check_final_state(
    harness: Harness, initial: dict[Key, tuple[dict[str, Any], Any]], audit_start: int
) -> None:
    final = capture(harness.store)
    by_record: dict[Key, list[AuditEntry]] = {}
    conflicts = harness.store.tables["sync_conflicts"]
    for entry in harness.store.audit[audit_start:]:
        if entry.entity_type is AuditEntityType.CONFLICT:
            assert uuid.UUID(entry.entity_id) in conflicts, entry
            continue
        by_record.setdefault((entry.entity_type.value, entry.entity_id), []).append(entry)
    assert set(by_record) <= set(final)
    for key, (snapshot, _) in final.items():
        entries = by_record.get(key, [])
        start = initial[key][0] if key in initial else None
        if not entries:
            assert start == snapshot, f"{key} changed without any audit entry"
            continue
        assert replay(start, entries) == snapshot, key
        latest = entries[-1]
        if latest.action is AuditAction.DELETE:
            assert latest.old_values is not None
            assert snapshot["version"] == latest.old_values["version"] + 1
        else:
            assert latest.new_values is not None
            assert latest.new_values["version"] == snapshot["version"]
    admin = {"Authorization": f"Bearer {harness.tokens['admin']}"}
    listed = harness.client.simulate_get(f"{API}/audit-logs", headers=admin, params={"limit": 1})
    assert listed.json["meta"]["total"] == len(harness.store.audit)
    verify = harness.client.simulate_get(f"{API}/audit-logs/verify", headers=admin).json
    assert verify["ok"] is True and verify["first_bad_id"] is None
    assert verify["checked"] == len(harness.store.audit)
