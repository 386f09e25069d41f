"""OWASP API Security Top 10 (2023) API1, API3 and API5 as test matrices on a live server.

The server runs on a PostgreSQL database of its own, holding two labs that each have an
admin, a technician and a viewer, and real records of every kind: a sample, a result, a
sync conflict, and a task in every user's list. Every record carries a lab or task
"mark" (a unique string), and responses are searched for the marks their caller must not
see. What this file proves:

- API1, object-level authorization: every operation of `/api/v1/openapi.json` whose path
  takes an id is called with the other lab's ids and with other users' tasks (also through
  `/{user_id}/tasks…` with someone else's id): 404, or 403 where the SPEC says so (role
  violations, another user's tasks), and the foreign records are unchanged afterwards. Ids
  inside bodies (sync mutations, a task's sample, a report's lab) do not reach another
  lab either; the list endpoints and the sync pull hold only the caller's lab and tasks.
- API5, function-level authorization: every documented operation x {anonymous, viewer,
  technician, admin}, checked against the one rule table `RULES`: 401 for anonymous on
  every secured operation, 403 for a role the table refuses, the documented success
  status wherever it allows.
- API3, property-level authorization: server-owned fields (role, lab_id, version,
  created_by, compliance_status, id, owner, password_hash …) sent through every create and
  update body are ignored or rejected, never applied (each record is read back); no
  response holds a password hash, a password, or a token other than the one it issues.

The operation lists are generated from the OpenAPI document: an operation the rule table
does not classify, or a path id whose kind is unknown, fails the tests instead of going
untested.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from adapters.passwords import PasslibPasswordHasher
from tests.e2e.client import API, Api, error_of, unique_email
from tests.e2e.owasp_support import Operation, operations
from tests.e2e.test_sync_protocol import upsert
from tests.live_server import LiveServer, live_server, run_cli

pytestmark = pytest.mark.e2e

ROOT_EMAIL = "root-admin@owasp-access.example"
ROOT_PASSWORD = "R00t-Administrator"
PASSWORD = "Acc3ss-Matrix-Pass"
RESET_PASSWORD = "Res3t-Matrix-Pass"
HIJACK_PASSWORD = "Hijack3d-Passw0rd"
WHO = "WHO-GDWQ-2022"
ROLES = ("admin", "technician", "viewer")
A_LONG_TIME_AGO = "2000-01-01T00:00:00Z"

# --- the SPEC's rules, once (section 4 and the Resources table of section 5) ---------------

PUBLIC = "public"  # no token needed
ANY_ROLE = "any role"  # every signed-in user (lab scope and task privacy still apply)
WRITER = "writer"  # technicians and admins; a viewer is read-only
ADMIN = "admin"  # administrators only

RULES: dict[str, str] = {
    "POST /api/v1/auth/register": PUBLIC,
    "POST /api/v1/auth/login": PUBLIC,
    "POST /api/v1/auth/refresh": PUBLIC,
    "POST /api/v1/auth/forgot-password": PUBLIC,
    "POST /api/v1/auth/reset-password": PUBLIC,
    "POST /api/v1/auth/logout": ANY_ROLE,
    "GET /api/v1/auth/me": ANY_ROLE,
    "GET /api/v1/users": ADMIN,
    "POST /api/v1/users": ADMIN,
    "GET /api/v1/users/{user_id}": ADMIN,
    "PUT /api/v1/users/{user_id}": ADMIN,
    "PATCH /api/v1/users/{user_id}": ADMIN,
    "DELETE /api/v1/users/{user_id}": ADMIN,
    # Members read their own lab (another lab is a 404 for them); only admins manage labs.
    "GET /api/v1/labs": ANY_ROLE,
    "POST /api/v1/labs": ADMIN,
    "GET /api/v1/labs/{lab_id}": ANY_ROLE,
    "PUT /api/v1/labs/{lab_id}": ADMIN,
    "GET /api/v1/parameters": ANY_ROLE,
    "POST /api/v1/parameters": ADMIN,
    "GET /api/v1/parameters/{parameter_id}": ANY_ROLE,
    "PUT /api/v1/parameters/{parameter_id}": ADMIN,
    "GET /api/v1/standards": ANY_ROLE,
    "GET /api/v1/standards/{code}": ANY_ROLE,
    "PUT /api/v1/standards/{code}/limits/{parameter}": ADMIN,
    "GET /api/v1/samples": ANY_ROLE,
    "POST /api/v1/samples": WRITER,
    "GET /api/v1/samples/{sample_id}": ANY_ROLE,
    "PUT /api/v1/samples/{sample_id}": WRITER,
    "PATCH /api/v1/samples/{sample_id}": WRITER,
    "DELETE /api/v1/samples/{sample_id}": WRITER,
    "GET /api/v1/samples/{sample_id}/results": ANY_ROLE,
    "POST /api/v1/samples/{sample_id}/results": WRITER,
    "GET /api/v1/results/{result_id}": ANY_ROLE,
    "PUT /api/v1/results/{result_id}": WRITER,
    "PATCH /api/v1/results/{result_id}": WRITER,
    "DELETE /api/v1/results/{result_id}": WRITER,
    # A push (the body here carries a mutation) is a write; a viewer may only pull.
    "POST /api/v1/sync": WRITER,
    "GET /api/v1/sync/status": ANY_ROLE,
    "GET /api/v1/sync/conflicts": ANY_ROLE,
    "POST /api/v1/sync/conflicts/{conflict_id}/resolve": WRITER,
    # Every user, whatever the role, has a private task list.
    "GET /api/v1/tasks": ANY_ROLE,
    "POST /api/v1/tasks": ANY_ROLE,
    "GET /api/v1/tasks/{task_id}": ANY_ROLE,
    "PUT /api/v1/tasks/{task_id}": ANY_ROLE,
    "PATCH /api/v1/tasks/{task_id}": ANY_ROLE,
    "DELETE /api/v1/tasks/{task_id}": ANY_ROLE,
    "PATCH /api/v1/tasks/{task_id}/complete": ANY_ROLE,
    "GET /api/v1/{user_id}/tasks": ANY_ROLE,
    "POST /api/v1/{user_id}/tasks": ANY_ROLE,
    "GET /api/v1/{user_id}/tasks/{task_id}": ANY_ROLE,
    "PUT /api/v1/{user_id}/tasks/{task_id}": ANY_ROLE,
    "PATCH /api/v1/{user_id}/tasks/{task_id}": ANY_ROLE,
    "DELETE /api/v1/{user_id}/tasks/{task_id}": ANY_ROLE,
    "PATCH /api/v1/{user_id}/tasks/{task_id}/complete": ANY_ROLE,
    "GET /api/v1/audit-logs": ADMIN,
    "GET /api/v1/audit-logs/verify": ADMIN,
    "POST /api/v1/reports/compliance": ANY_ROLE,
    "GET /api/v1/health": PUBLIC,
    "GET /api/v1/health/live": PUBLIC,
    "GET /api/v1/health/ready": PUBLIC,
    "GET /api/v1/metrics": PUBLIC,  # no METRICS_TOKEN configured on this server
    "GET /api/v1/docs": PUBLIC,
    "GET /api/v1/docs/init.js": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /health": PUBLIC,
    "GET /api/v1/openapi.json": PUBLIC,
}
ALLOWED: dict[str | None, set[str]] = {
    None: {PUBLIC},
    "viewer": {PUBLIC, ANY_ROLE},
    "technician": {PUBLIC, ANY_ROLE, WRITER},
    "admin": {PUBLIC, ANY_ROLE, WRITER, ADMIN},
}

# What an id in a path names, by the path segment before it.
ID_KINDS = {
    "users": "user",
    "labs": "lab",
    "samples": "sample",
    "results": "result",
    "conflicts": "conflict",
    "tasks": "task",
    "v1": "task list owner",  # /api/v1/{user_id}/tasks…
    "parameters": "parameter",
    "standards": "standard",
    "limits": "limit",
}
# Another lab's record does not exist for a technician or viewer; admins see every lab.
LAB_SCOPED = {"user", "lab", "sample", "result", "conflict"}
# Private to their owner, admins included: someone else's is 403 (SPEC section 4).
OWNER_SCOPED = {"task", "task list owner"}
# Reference data shared by every lab: there is no foreign id to try.
SHARED = {"parameter", "standard", "limit"}


def refusal(role: str | None, rule: str) -> tuple[int, str] | None:
    """The error the SPEC prescribes for this role on an operation of this rule, if any."""
    if rule in ALLOWED[role]:
        return None
    return (401, "UNAUTHORIZED") if role is None else (403, "FORBIDDEN")


# --- the OpenAPI document -------------------------------------------------------------------


def success_status(op: Operation) -> int:
    """The one 2xx or 3xx status the document promises."""
    (status,) = (int(code) for code in op.spec["responses"] if 200 <= int(code) < 400)
    return status


def body_schema(op: Operation) -> str | None:
    content = op.spec.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref: str | None = content.get("schema", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def id_kinds(op: Operation) -> dict[str, str]:
    segments = op.path.split("/")
    kinds = {}
    for name in op.path_parameters:
        before = segments[segments.index(f"{{{name}}}") - 1]
        kinds[name] = ID_KINDS.get(before, f"unclassified (an id after /{before}/)")
    return kinds


# --- a client that keeps every exchange -----------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    token: str | None
    response: requests.Response


class RecordingApi(Api):
    """`Api` that keeps every response with the token it was sent with, and that also
    reaches the few documented paths outside `/api/v1` (e.g. `/docs`)."""

    def __init__(self, base_url: str, root_paths: set[str]):
        super().__init__(base_url, set())
        self.root_paths = root_paths
        self.exchanges: list[Exchange] = []

    def url(self, path: str) -> str:
        return self.base_url + path if path in self.root_paths else super().url(path)

    def request(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        response = super().request(method, path, token=token, **kwargs)
        self.exchanges.append(Exchange(method, path, token, response))
        return response


# --- the world: two labs, their people and records --------------------------------------------


@dataclass
class Actor:
    role: str
    id: str
    email: str
    token: str
    lab_id: str | None


@dataclass
class LabWorld:
    id: str
    mark: str
    admin: Actor
    technician: Actor
    viewer: Actor
    sample: dict[str, Any]
    result: dict[str, Any]
    conflict_id: str
    device_id: str

    @property
    def members(self) -> list[Actor]:
        return [self.admin, self.technician, self.viewer]

    def member(self, role: str) -> Actor:
        return {"admin": self.admin, "technician": self.technician, "viewer": self.viewer}[role]


@dataclass
class World:
    server: LiveServer
    api: RecordingApi
    operations: list[Operation]
    root_token: str
    labs: tuple[LabWorld, LabWorld]
    task_marks: dict[str, str]  # user id -> the mark in the titles of their tasks
    tasks: dict[str, dict[str, Any]]  # user id -> a task of theirs
    login_user: Actor
    newcomer: Actor  # self-registered: a viewer of no lab
    nitrate_id: str
    devices: dict[str, str] = field(default_factory=dict)  # user id -> a device of theirs

    @property
    def members(self) -> list[Actor]:
        return [*self.labs[0].members, *self.labs[1].members]

    def lab_of(self, actor: Actor) -> LabWorld:
        return self.labs[0] if actor.lab_id == self.labs[0].id else self.labs[1]

    def other_lab(self, actor: Actor) -> LabWorld:
        return self.labs[1] if actor.lab_id == self.labs[0].id else self.labs[0]

    def actor_by_token(self, token: str | None) -> Actor | None:
        everyone = [*self.members, self.login_user, self.newcomer]
        return next((a for a in everyone if a.token == token), None)

    def forbidden_marks(self, caller: Actor | None) -> set[str]:
        """Marks whose records this caller must never receive (unknown callers: all)."""
        marks = {m for uid, m in self.task_marks.items() if caller is None or uid != caller.id}
        if caller is None or caller.role != "admin":
            marks |= {lab.mark for lab in self.labs if caller is None or lab.id != caller.lab_id}
        return marks


def sample_fields(mark: str) -> dict[str, Any]:
    return {
        "type": "drinking",
        "location": f"Site {mark}",
        "collection_date": "2025-01-10T08:00:00Z",
        "collector_name": f"Collector {mark}",
        "notes": f"notes {mark}",
    }


def result_fields(mark: str, value: float = 12.5) -> dict[str, Any]:
    return {
        "parameter": "nitrate",
        "value": value,
        "unit": "mg/L",
        "test_date": "2025-01-11T09:00:00Z",
        "technician_name": f"Analyst {mark}",
        "notes": f"notes {mark}",
    }


def created(response: requests.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()  # type: ignore[no-any-return]


def new_actor(api: Api, root_token: str, role: str, lab_id: str, mark: str) -> Actor:
    user = api.create_user(
        root_token,
        role=role,
        lab_id=lab_id,
        password=PASSWORD,
        name=f"{role} {mark}",
        email=unique_email(f"{role}-{mark}"),
    )
    return Actor(role, user["id"], user["email"], api.token(user["email"], PASSWORD), lab_id)


def new_sample(api: Api, actor: Actor, mark: str) -> dict[str, Any]:
    body = sample_fields(mark) | ({"lab_id": actor.lab_id} if actor.role == "admin" else {})
    return created(api.post("/samples", token=actor.token, json=body))


def new_result(api: Api, actor: Actor, sample_id: str, mark: str) -> dict[str, Any]:
    return created(
        api.post(f"/samples/{sample_id}/results", token=actor.token, json=result_fields(mark))
    )


def new_task(api: Api, actor: Actor, mark: str) -> dict[str, Any]:
    return created(
        api.post("/tasks", token=actor.token, json={"title": f"Task {mark}", "description": mark})
    )


def push(
    api: Api, actor: Actor, device_id: str, mutations: list[dict[str, Any]]
) -> requests.Response:
    return api.post(
        "/sync",
        token=actor.token,
        json={"device_id": device_id, "cursor": None, "pull_limit": 0, "mutations": mutations},
    )


def new_conflict(api: Api, technician: Actor, mark: str) -> tuple[str, str]:
    """A device edits a sample's notes on a stale version: (conflict id, device id)."""
    device_id, record_id = f"owasp-{uuid.uuid4().hex[:10]}", str(uuid.uuid4())
    earlier = datetime.now(UTC) - timedelta(minutes=1)
    first = created(
        push(api, technician, device_id, [upsert(1, record_id, sample_fields(mark), at=earlier)]),
        200,
    )
    assert first["results"][0]["status"] == "applied", first
    edited = api.patch(f"/samples/{record_id}", token=technician.token, json={"notes": mark})
    assert edited.status_code == 200, edited.text
    stale = upsert(2, record_id, {"notes": f"device {mark}"}, base=1, changed=["notes"])
    (outcome,) = created(push(api, technician, device_id, [stale]), 200)["results"]
    assert outcome["status"] == "conflict", outcome
    return outcome["conflict_id"], device_id


def build_lab(api: Api, root_token: str, world_marks: dict[str, str]) -> LabWorld:
    mark = f"labmark-{uuid.uuid4().hex[:12]}"
    lab = api.create_lab(root_token, name=f"Lab {mark}")
    people = {role: new_actor(api, root_token, role, lab["id"], mark) for role in ROLES}
    technician = people["technician"]
    sample = new_sample(api, technician, mark)
    result = new_result(api, technician, sample["id"], mark)
    conflict_id, device_id = new_conflict(api, technician, mark)
    for person in people.values():
        world_marks[person.id] = f"taskmark-{uuid.uuid4().hex[:12]}"
    return LabWorld(
        id=lab["id"],
        mark=mark,
        admin=people["admin"],
        technician=technician,
        viewer=people["viewer"],
        sample=sample,
        result=result,
        conflict_id=conflict_id,
        device_id=device_id,
    )


@pytest.fixture(scope="module")
def access_server(
    fresh_database: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    # development: the console mailer prints reset links, so reset-password runs for real
    workdir = tmp_path_factory.mktemp("owasp-access")
    url = fresh_database()
    with live_server(database_url=url, env={"AQUALAB_ENV": "development"}, workdir=workdir) as srv:
        admin = run_cli(
            "create-admin",
            *("--email", ROOT_EMAIL, "--password", ROOT_PASSWORD, "--lab", "OWASP root lab"),
            env=srv.env,
        )
        assert admin.returncode == 0, admin.stderr
        yield srv


@pytest.fixture(scope="module")
def world(access_server: LiveServer) -> World:
    api = RecordingApi(access_server.base_url, set())
    documented = list(operations(api))
    api.root_paths |= {op.path for op in documented if not op.path.startswith(API + "/")}
    root_token = api.token(ROOT_EMAIL, ROOT_PASSWORD)
    task_marks: dict[str, str] = {}
    labs = (build_lab(api, root_token, task_marks), build_lab(api, root_token, task_marks))
    registered = api.post(
        "/auth/register",
        json={"email": unique_email("newcomer"), "password": PASSWORD, "name": "Newcomer"},
    )
    session = created(registered)
    user = session["user"]
    newcomer = Actor("viewer", user["id"], user["email"], session["tokens"]["access_token"], None)
    task_marks[newcomer.id] = f"taskmark-{uuid.uuid4().hex[:12]}"
    members = [*labs[0].members, *labs[1].members, newcomer]
    tasks = {a.id: new_task(api, a, task_marks[a.id]) for a in members}
    login_user = new_actor(api, root_token, "viewer", labs[0].id, labs[0].mark)
    parameters = api.get("/parameters", token=root_token, params={"limit": 100}).json()["data"]
    nitrate = next(p["id"] for p in parameters if p["code"] == "nitrate")
    return World(
        access_server,
        api,
        documented,
        root_token,
        labs,
        task_marks,
        tasks,
        login_user,
        newcomer,
        nitrate,
    )


# --- calling any documented operation -------------------------------------------------------


def device_of(world: World, actor: Actor) -> str:
    """A device id of this user's own (a pull-only sync registers it)."""
    if actor.id not in world.devices:
        device_id = f"owasp-{uuid.uuid4().hex[:10]}"
        created(push(world.api, actor, device_id, []), 200)
        world.devices[actor.id] = device_id
    return world.devices[actor.id]


def reset_token(world: World) -> str:
    """A real reset token of a new user, from the console mailer."""
    user = world.api.create_user(world.root_token, role="viewer", lab_id=world.labs[0].id)
    mark = len(world.server.stdout())
    accepted = world.api.post("/auth/forgot-password", json={"email": user["email"]})
    assert accepted.status_code == 202, accepted.text
    mail = world.server.wait_for_stdout(
        rf"----- mail to {re.escape(user['email'])}:(?s:.*?)reset-password\?token=(\S+)",
        start=mark,
    )
    return mail.group(1)


def request_body(schema: str, world: World, home: Actor, ids: dict[str, str]) -> Any:
    """A valid body of this schema, so the answer is decided by authorization alone."""
    api, root = world.api, world.root_token
    mark = world.lab_of(home).mark if home.lab_id else "no lab"
    if schema == "RegisterIn":
        return {"email": unique_email("register"), "password": PASSWORD, "name": "Registered"}
    if schema == "LoginIn":
        return {"email": world.login_user.email, "password": PASSWORD}
    if schema == "RefreshIn":
        session = api.login(world.login_user.email, PASSWORD)
        return {"refresh_token": session["tokens"]["refresh_token"]}
    if schema == "ForgotPasswordIn":
        return {"email": world.login_user.email}
    if schema == "ResetPasswordIn":
        return {"token": reset_token(world), "password": RESET_PASSWORD}
    if schema == "UserCreateIn":
        return {
            "email": unique_email("created"),
            "password": PASSWORD,
            "name": "Created",
            "role": "technician",
            "lab_id": home.lab_id,
        }
    if schema == "UserPutIn":
        return {"name": "Replaced", "role": "technician", "lab_id": home.lab_id, "is_active": True}
    if schema == "UserPatchIn":
        return {"name": "Patched"}
    if schema == "LabCreateIn":
        return {"name": f"Lab {uuid.uuid4().hex}", "code": uuid.uuid4().hex[:6]}
    if schema == "LabPutIn":
        lab = created(api.get(f"/labs/{ids['lab_id']}", token=root), 200)
        return {"name": lab["name"], "code": lab["code"]}
    if schema == "ParameterCreateIn":
        return {"code": f"owasp_{uuid.uuid4().hex[:12]}", "name": "Probe", "unit": "mg/L"}
    if schema == "ParameterPutIn":
        current = created(api.get(f"/parameters/{ids['parameter_id']}", token=root), 200)
        return {k: current[k] for k in ("name", "min_value", "max_value")}
    if schema == "LimitPutIn":
        standard = created(api.get(f"/standards/{ids['code']}", token=root), 200)
        limit = next(x for x in standard["limits"] if x["parameter"] == ids["parameter"])
        return {k: limit[k] for k in ("min", "max", "recommended_max", "basis", "source")}
    if schema in ("SampleCreateIn", "SamplePutIn"):
        return sample_fields(mark) | ({"lab_id": home.lab_id} if schema == "SampleCreateIn" else {})
    if schema in ("SamplePatchIn", "ResultPatchIn"):
        return {"notes": "patched"}
    if schema in ("ResultCreateIn", "ResultPutIn"):
        return result_fields(mark)
    if schema == "SyncIn":
        return {
            "device_id": f"owasp-{uuid.uuid4().hex[:10]}",
            "cursor": None,
            "pull_limit": 0,
            "mutations": [upsert(1, str(uuid.uuid4()), sample_fields(mark))],
        }
    if schema == "ResolveIn":
        return {"resolution": "server_won"}
    if schema in ("TaskCreateIn", "TaskPutIn"):
        return {"title": "Probe task"}
    if schema == "TaskPatchIn":
        return {"priority": "high"}
    if schema == "TaskCompleteIn":
        return {"completed": True}
    if schema == "ComplianceReportIn":
        return {}
    pytest.fail(f"no valid request body for {schema}: add one to request_body()")


def query_value(world: World, home: Actor, name: str) -> str:
    if name == "device_id":
        return device_of(world, home)
    pytest.fail(f"no value for the required query parameter {name!r}: add one to query_value()")


def call(
    world: World, op: Operation, home: Actor, token: str | None, ids: dict[str, str]
) -> requests.Response:
    """Call `op` on the ids given, with a valid body and query built for `home`."""
    required = [p["name"] for p in op.query_parameters if p.get("required")]
    query = {name: query_value(world, home, name) for name in required}
    schema = body_schema(op)
    body = request_body(schema, world, home, ids) if schema else None
    return world.api.request(
        op.method.upper(), op.url(ids), token=token, json=body, params=query or None
    )


def fresh_target(world: World, home: Actor, kind: str) -> str:
    """A record of this kind that `home` may reach (its lab's; its own task list)."""
    lab, api = world.lab_of(home), world.api
    if kind == "sample":
        return str(new_sample(api, lab.technician, lab.mark)["id"])
    if kind == "result":
        sample = new_sample(api, lab.technician, lab.mark)
        return str(new_result(api, lab.technician, sample["id"], lab.mark)["id"])
    if kind == "conflict":
        return new_conflict(api, lab.technician, lab.mark)[0]
    if kind == "task":
        return str(new_task(api, home, world.task_marks[home.id])["id"])
    if kind == "user":
        return str(api.create_user(world.root_token, role="technician", lab_id=home.lab_id)["id"])
    existing = {
        "task list owner": home.id,
        "lab": lab.id,
        "parameter": world.nitrate_id,
        "standard": WHO,
        "limit": "nitrate",
    }
    if kind not in existing:
        pytest.fail(f"no record of kind {kind!r} to call with: add one to fresh_target()")
    return existing[kind]


def check_error(response: requests.Response, status: int, code: str) -> str | None:
    """None when the response is this error in the SPEC's shape, else what is wrong."""
    try:
        error_of(response, status, code)
    except AssertionError:
        return f"{response.status_code} {response.text[:200]}"
    return None


def leaks(world: World, exchanges: list[Exchange]) -> list[str]:
    """Responses holding a mark of a record their caller must not see."""
    found = []
    for exchange in exchanges:
        text = exchange.response.text.lower()
        caller = world.actor_by_token(exchange.token)
        if exchange.token == world.root_token:
            continue  # the platform's own admin set the world up: it sees everything
        for mark in world.forbidden_marks(caller):
            if mark in text:
                who = f"{caller.role} of {caller.lab_id}" if caller else "anonymous"
                found.append(f"{exchange.method} {exchange.path} as {who}: {mark}")
    return found


def foreign_state(world: World) -> dict[str, Any]:
    """Every record of the world, as the root admin and each owner see it."""
    api, root = world.api, world.root_token
    state: dict[str, Any] = {}
    for lab in world.labs:
        state[lab.id] = created(api.get(f"/labs/{lab.id}", token=root), 200)
        for path in (f"/samples/{lab.sample['id']}", f"/results/{lab.result['id']}"):
            state[path] = created(api.get(path, token=root), 200)
        conflicts = api.get("/sync/conflicts", token=lab.technician.token, params={"limit": 100})
        state[f"conflicts of {lab.id}"] = created(conflicts, 200)["data"]
        for member in lab.members:
            state[member.id] = created(api.get(f"/users/{member.id}", token=root), 200)
            own_tasks = api.get("/tasks", token=member.token, params={"limit": 100})
            state[f"tasks of {member.id}"] = created(own_tasks, 200)["data"]
    newcomer_tasks = api.get("/tasks", token=world.newcomer.token, params={"limit": 100})
    state["tasks of the newcomer"] = created(newcomer_tasks, 200)["data"]
    return state


# --- API5: function-level authorization -------------------------------------------------------


def test_every_role_gets_exactly_what_the_rule_table_allows(world: World) -> None:
    documented = {str(op) for op in world.operations}
    assert not documented - RULES.keys(), f"unclassified operations: {documented - RULES.keys()}"
    assert not RULES.keys() - documented, f"rules for no operation: {RULES.keys() - documented}"
    wrongly_public = [
        str(op) for op in world.operations if (RULES[str(op)] == PUBLIC) == op.needs_token
    ]
    assert not wrongly_public, f"the document and the rule table disagree: {wrongly_public}"

    home_lab = world.labs[0]
    outcomes: Counter[tuple[str, int]] = Counter()
    failures = []
    for op in world.operations:
        for role in (None, "viewer", "technician", "admin"):
            home = home_lab.member(role) if role else home_lab.technician
            token = None if role is None else home.token
            if role and op.path.endswith("/auth/logout"):  # it ends the session it is sent with
                token = world.api.token(home.email, PASSWORD)
            ids = {name: fresh_target(world, home, kind) for name, kind in id_kinds(op).items()}
            response = call(world, op, home, token, ids)
            outcomes[(role or "anonymous", response.status_code)] += 1
            refused = refusal(role, RULES[str(op)])
            if refused is not None:
                wrong = check_error(response, *refused)
            else:
                wrong = (
                    None
                    if response.status_code == success_status(op)
                    else f"{response.status_code} {response.text[:200]}"
                )
            if wrong:
                expected = refused or success_status(op)
                failures.append(f"{role or 'anonymous'} {op}: expected {expected}, got {wrong}")
    print(f"\nAPI5: {len(world.operations)} operations x 4 callers; outcomes {dict(outcomes)}")
    assert not failures, "\n".join(failures)


# --- API1: object-level authorization -------------------------------------------------------


def foreign_tries(
    world: World, caller: Actor, op: Operation
) -> Iterator[tuple[dict[str, str], tuple[int, str]]]:
    """Each assignment of the op's path ids with at least one record that is not the
    caller's, and the error the SPEC prescribes for it."""
    if caller.lab_id is None:  # the newcomer: every lab is another lab
        colleague, stranger = world.labs[0].technician, world.labs[1].viewer
        other_labs = list(world.labs)
    else:
        own_lab, other_lab = world.lab_of(caller), world.other_lab(caller)
        colleague = own_lab.member("viewer" if caller.role != "viewer" else "technician")
        stranger = other_lab.member(caller.role)
        other_labs = [other_lab]
    foreign_by_kind: dict[str, list[str]] = {
        "task": [world.tasks[colleague.id]["id"], world.tasks[stranger.id]["id"]],
        "task list owner": [colleague.id, stranger.id],
    }
    if caller.role != "admin":  # an admin's reach is every lab: nothing there is foreign
        foreign_by_kind |= {
            "user": [m.id for lab in other_labs for m in lab.members],
            "lab": [lab.id for lab in other_labs],
            "sample": [lab.sample["id"] for lab in other_labs],
            "result": [lab.result["id"] for lab in other_labs],
            "conflict": [lab.conflict_id for lab in other_labs],
        }
    own_by_kind = {
        "task": world.tasks[caller.id]["id"],
        "task list owner": caller.id,
        "parameter": world.nitrate_id,
        "standard": WHO,
        "limit": "nitrate",
    }
    kinds = id_kinds(op)
    options = {
        name: [(own_by_kind.get(kind, ""), False)]
        + [(v, True) for v in foreign_by_kind.get(kind, [])]
        for name, kind in kinds.items()
    }
    for combination in itertools.product(*options.values()):
        foreign_kinds = {kinds[n] for n, (_, f) in zip(options, combination, strict=True) if f}
        if not foreign_kinds:
            continue
        ids = {name: value for name, (value, _) in zip(options, combination, strict=True)}
        if foreign_kinds & OWNER_SCOPED:
            yield ids, (403, "FORBIDDEN")
        else:
            yield ids, refusal(caller.role, RULES[str(op)]) or (404, "NOT_FOUND")


def test_no_operation_with_an_id_reaches_another_labs_or_users_records(world: World) -> None:
    start = len(world.api.exchanges)
    before = foreign_state(world)
    id_operations = [op for op in world.operations if op.path_parameters]
    assert id_operations
    tried: Counter[str] = Counter()
    outcomes: Counter[int] = Counter()
    failures = []
    for op in id_operations:
        kinds = set(id_kinds(op).values())
        if str(op) not in RULES:
            failures.append(f"{op}: not in the rule table")
            continue
        if unknown := kinds - LAB_SCOPED - OWNER_SCOPED - SHARED:
            failures.append(f"{op}: ids of unknown kind {unknown}: classify them")
            continue
        for caller in [*world.members, world.newcomer]:
            for ids, (status, code) in foreign_tries(world, caller, op):
                response = call(world, op, caller, caller.token, ids)
                tried[str(op)] += 1
                outcomes[response.status_code] += 1
                if wrong := check_error(response, status, code):
                    failures.append(f"{caller.role} {op} {ids}: expected {status}, got {wrong}")
        if kinds <= SHARED:
            continue  # reference data: every lab's
        if not tried[str(op)]:
            failures.append(f"{op}: no foreign id was tried")
    after = foreign_state(world)
    print(
        f"\nAPI1: {len(id_operations)} id-taking operations, {sum(tried.values())} foreign "
        f"calls by {len(world.members) + 1} users; outcomes {dict(outcomes)}; per operation "
        f"{dict(tried)}"
    )
    assert not failures, "\n".join(failures)
    assert after == before, "a call with a foreign id changed a record"
    assert not leaks(world, world.api.exchanges[start:])


def test_ids_inside_bodies_do_not_reach_another_lab(world: World) -> None:
    start = len(world.api.exchanges)
    before = foreign_state(world)
    api, (home, other) = world.api, world.labs
    technician = home.technician
    foreign_mutations = [
        upsert(1, other.sample["id"], {"notes": "taken over"}, base=other.sample["version"]),
        {
            "mutation_id": 2,
            "entity": "sample",
            "op": "delete",
            "id": other.sample["id"],
            "base_version": None,
            "modified_at": datetime.now(UTC).isoformat(),
        },
        upsert(3, other.result["id"], {"notes": "taken over"}, entity="result"),
        upsert(
            4,
            str(uuid.uuid4()),
            result_fields(home.mark) | {"sample_id": other.sample["id"]},
            entity="result",
        ),
    ]
    body = created(push(api, technician, f"owasp-{uuid.uuid4().hex[:10]}", foreign_mutations), 200)
    assert [r["status"] for r in body["results"]] == ["rejected"] * 4, body
    assert {r["error"]["code"] for r in body["results"]} <= {"NOT_FOUND", "VALIDATION_ERROR"}

    # Another user's device id, and a report on another lab.
    error_of(push(api, technician, other.device_id, []), 403, "FORBIDDEN")
    report = api.post("/reports/compliance", token=technician.token, json={"lab_id": other.id})
    error_of(report, 403, "FORBIDDEN")
    # A task may point at a sample the caller can see, and at no other.
    task = api.post(
        "/tasks", token=technician.token, json={"title": "x", "sample_id": other.sample["id"]}
    )
    assert "sample_id" in error_of(task, 400, "VALIDATION_ERROR")["field_errors"]
    # Another lab's device has no status for this user; a colleague's device is not theirs.
    status = api.get("/sync/status", token=technician.token, params={"device_id": other.device_id})
    error_of(status, 404, "NOT_FOUND")
    colleague = api.get(
        "/sync/status", token=home.viewer.token, params={"device_id": home.device_id}
    )
    error_of(colleague, 403, "FORBIDDEN")

    assert foreign_state(world) == before
    assert not leaks(world, world.api.exchanges[start:])


def test_lists_and_the_sync_pull_hold_only_the_callers_lab_and_tasks(world: World) -> None:
    start = len(world.api.exchanges)
    api = world.api
    for lab, other in (world.labs, world.labs[::-1]):
        for member in (lab.technician, lab.viewer):
            token = member.token
            samples = created(api.get("/samples", token=token, params={"limit": 100}), 200)
            assert {s["lab_id"] for s in samples["data"]} == {lab.id}
            assert lab.sample["id"] in {s["id"] for s in samples["data"]}
            filtered = api.get("/samples", token=token, params={"lab_id": other.id})
            assert filtered.status_code in (200, 403, 404), filtered.text
            if filtered.status_code == 200:
                assert other.id not in {s["lab_id"] for s in filtered.json()["data"]}
            searched = api.get("/samples", token=token, params={"search": other.mark})
            assert created(searched, 200)["data"] == []
            labs = created(api.get("/labs", token=token, params={"limit": 100}), 200)
            assert [x["id"] for x in labs["data"]] == [lab.id]
            conflicts = api.get("/sync/conflicts", token=token, params={"limit": 100})
            conflict_ids = {c["id"] for c in created(conflicts, 200)["data"]}
            assert lab.conflict_id in conflict_ids and other.conflict_id not in conflict_ids
            pulled = api.post(
                "/sync",
                token=token,
                json={"device_id": f"owasp-{uuid.uuid4().hex[:10]}", "pull_limit": 1000},
            )
            changes = created(pulled, 200)["changes"]
            assert lab.sample["id"] in {c["id"] for c in changes}
            samples_pulled = [c["data"] for c in changes if c["entity"] == "sample" and c["data"]]
            assert {d["lab_id"] for d in samples_pulled} == {lab.id}
            created(api.post("/reports/compliance", token=token, json={}), 200)
            for admin_list in ("/users", "/audit-logs", "/audit-logs/verify"):
                error_of(api.get(admin_list, token=token), 403, "FORBIDDEN")
        for member in lab.members:
            for path in ("/tasks", f"/{member.id}/tasks"):
                own = created(api.get(path, token=member.token, params={"limit": 100}), 200)
                assert {t["owner_id"] for t in own["data"]} == {member.id}
                assert world.tasks[member.id]["id"] in {t["id"] for t in own["data"]}
    # A self-registered user of no lab: their own task list, and no lab data at all.
    newcomer = world.newcomer.token
    for path in ("/samples", "/labs"):
        assert created(api.get(path, token=newcomer, params={"limit": 100}), 200)["data"] == []
    assert (
        created(api.post("/reports/compliance", token=newcomer, json={}), 200)["totals"]["samples"]
        == 0
    )
    error_of(api.get("/sync/conflicts", token=newcomer), 403, "FORBIDDEN")
    own = created(api.get("/tasks", token=newcomer, params={"limit": 100}), 200)["data"]
    assert [t["id"] for t in own] == [world.tasks[world.newcomer.id]["id"]]
    # The marks are there to be found: an admin's list holds both labs' records and marks.
    everything = api.get("/samples", token=world.labs[0].admin.token, params={"limit": 100})
    assert {lab.sample["id"] for lab in world.labs} <= {s["id"] for s in everything.json()["data"]}
    assert all(lab.mark in everything.text.lower() for lab in world.labs)
    assert not leaks(world, world.api.exchanges[start:])


# --- API3: property-level authorization -----------------------------------------------------


def hijack_hash() -> str:
    """A well-formed hash of a password the attacker knows (fast parameters)."""
    return PasslibPasswordHasher(memory_kib=1024, time_cost=1).hash(HIJACK_PASSWORD)


def applied(response: requests.Response, status: int) -> bool:
    """True when the write went through; a refusal must be a 400 or 403 in the SPEC's shape."""
    if response.status_code == status:
        return True
    if response.status_code == 403:
        error_of(response, 403, "FORBIDDEN")
    else:
        error_of(response, 400, "VALIDATION_ERROR")
    return False


def read_back(api: Api, path: str, token: str) -> dict[str, Any]:
    return created(api.get(path, token=token), 200)


def recent(timestamp: str) -> bool:
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return moment > datetime.now(UTC) - timedelta(hours=1)


def test_register_and_user_bodies_cannot_set_roles_labs_or_password_hashes(world: World) -> None:
    api, root, (home, other) = world.api, world.root_token, world.labs
    stolen_id = str(uuid.uuid4())
    server_owned = {
        "id": stolen_id,
        "role": "admin",
        "lab_id": other.id,
        "is_active": True,
        "version": 42,
        "password_hash": hijack_hash(),
        "created_at": A_LONG_TIME_AGO,
        "last_login_at": A_LONG_TIME_AGO,
        "created_by": other.admin.id,
    }
    email = unique_email("register-mass")
    registered = api.post(
        "/auth/register", json={**server_owned, "email": email, "password": PASSWORD, "name": "M"}
    )
    if applied(registered, 201):
        session = registered.json()
        me = read_back(api, "/auth/me", session["tokens"]["access_token"])
        assert (me["role"], me["lab_id"], me["version"], me["last_login_at"]) == (
            "viewer",
            None,
            1,
            None,
        )
        assert me["id"] != stolen_id and recent(me["created_at"])
        error_of(
            api.post("/auth/login", json={"email": email, "password": HIJACK_PASSWORD}),
            401,
            "INVALID_CREDENTIALS",
        )
        api.login(email, PASSWORD)
        # Self-registered: no lab, so no lab data and no admin lists.
        token = session["tokens"]["access_token"]
        assert created(api.get("/samples", token=token), 200)["data"] == []
        error_of(api.get("/users", token=token), 403, "FORBIDDEN")

    # An admin creating a user: the server owns version, timestamps and the hash.
    made = api.post(
        "/users",
        token=root,
        json={
            **server_owned,
            "id": None,
            "email": unique_email("user-mass"),
            "password": PASSWORD,
            "name": "Made",
            "role": "technician",
            "lab_id": home.id,
        },
    )
    if applied(made, 201):
        user = read_back(api, f"/users/{made.json()['id']}", root)
        assert (user["version"], user["last_login_at"], user["role"]) == (1, None, "technician")
        assert recent(user["created_at"])
        error_of(
            api.post("/auth/login", json={"email": user["email"], "password": HIJACK_PASSWORD}),
            401,
            "INVALID_CREDENTIALS",
        )

    # An admin's PATCH cannot re-key a user or plant a hash; a stale version is refused.
    target = api.create_user(root, role="viewer", lab_id=home.id, password=PASSWORD)
    patched = api.patch(
        f"/users/{target['id']}",
        token=root,
        json={
            "id": stolen_id,
            "password_hash": hijack_hash(),
            "created_at": A_LONG_TIME_AGO,
            "last_login_at": A_LONG_TIME_AGO,
            "name": "Renamed",
        },
    )
    if applied(patched, 200):
        user = read_back(api, f"/users/{target['id']}", root)
        assert (user["name"], user["last_login_at"], user["version"]) == ("Renamed", None, 2)
        assert user["created_at"] == target["created_at"]
    error_of(api.get(f"/users/{stolen_id}", token=root), 404, "NOT_FOUND")
    stale = api.patch(f"/users/{target['id']}", token=root, json={"name": "Stale", "version": 99})
    error_of(stale, 409, "VERSION_CONFLICT")
    assert read_back(api, f"/users/{target['id']}", root)["name"] != "Stale"
    error_of(
        api.post("/auth/login", json={"email": target["email"], "password": HIJACK_PASSWORD}),
        401,
        "INVALID_CREDENTIALS",
    )
    api.login(target["email"], PASSWORD)

    # Nobody but an admin changes a role or a lab, not even their own.
    for member in (home.technician, home.viewer):
        for change in ({"role": "admin"}, {"lab_id": other.id}):
            refused = api.patch(f"/users/{member.id}", token=member.token, json=change)
            error_of(refused, 403, "FORBIDDEN")
        me = read_back(api, "/auth/me", member.token)
        assert (me["role"], me["lab_id"]) == (member.role, home.id)


def test_sample_and_result_bodies_cannot_set_lab_owner_version_or_compliance(
    world: World,
) -> None:
    api, (home, other) = world.api, world.labs
    technician, root = home.technician, world.root_token
    other_lab_before = read_back(api, f"/samples/{other.sample['id']}", root)
    stolen_id = str(uuid.uuid4())
    server_owned = {
        "compliance_status": "fail",
        "version": 7,
        "created_by": other.technician.id,
        "updated_by": other.technician.id,
        "created_at": A_LONG_TIME_AGO,
        "updated_at": A_LONG_TIME_AGO,
        "results": [{"parameter": "nitrate", "value": 1}],
        "evaluations": [],
        "deleted": True,
    }
    # Another lab named by a technician: refused, and nothing lands in that lab.
    probe = f"probe-{uuid.uuid4().hex[:10]}"
    elsewhere = api.post(
        "/samples",
        token=technician.token,
        json={**sample_fields(probe), "lab_id": other.id},
    )
    if applied(elsewhere, 201):
        assert elsewhere.json()["lab_id"] == home.id
    in_other_lab = api.get("/samples", token=root, params={"lab_id": other.id, "search": probe})
    assert created(in_other_lab, 200)["data"] == []

    made = api.post(
        "/samples",
        token=technician.token,
        json={**sample_fields(home.mark), **server_owned, "lab_id": home.id},
    )
    assert applied(made, 201)
    sample_id = made.json()["id"]
    sample = read_back(api, f"/samples/{sample_id}", technician.token)
    assert (sample["lab_id"], sample["compliance_status"], sample["version"]) == (
        home.id,
        "pending",
        1,
    )
    assert (sample["created_by"], sample["updated_by"], sample["results"]) == (
        technician.id,
        technician.id,
        [],
    )
    assert recent(sample["created_at"]) and recent(sample["updated_at"])

    # A failing nitrate result claimed to pass, pointed at another lab's sample.
    result_body = {
        **result_fields(home.mark, value=80.0),
        **server_owned,
        "compliance_status": "pass",
        "sample_id": other.sample["id"],
        "lab_id": other.id,
        "id": None,
    }
    result = api.post(f"/samples/{sample_id}/results", token=technician.token, json=result_body)
    assert applied(result, 201)
    result_id = result.json()["id"]
    stored = read_back(api, f"/results/{result_id}", technician.token)
    assert (stored["sample_id"], stored["compliance_status"], stored["version"]) == (
        sample_id,
        "fail",
        1,
    )
    assert stored["evaluations"] and stored["created_by"] == technician.id

    # Updates: neither PATCH nor PUT re-keys, moves or re-judges a record.
    re_key = {
        "id": stolen_id,
        "lab_id": other.id,
        "sample_id": other.sample["id"],
        "compliance_status": "pass",
        "created_by": other.technician.id,
        "created_at": A_LONG_TIME_AGO,
        "evaluations": [],
    }
    kept_sample = {"id": sample_id, "lab_id": home.id, "compliance_status": "fail"}
    kept_result = {"id": result_id, "sample_id": sample_id, "compliance_status": "fail"}
    for path, replacement, kept in (
        (f"/samples/{sample_id}", sample_fields(home.mark), kept_sample),
        (f"/results/{result_id}", result_fields(home.mark, value=80.0), kept_result),
    ):
        created_at = read_back(api, path, technician.token)["created_at"]
        kept |= {"created_by": technician.id, "created_at": created_at}
        for method, body in (("PATCH", {"notes": "patched"}), ("PUT", replacement)):
            before = read_back(api, path, technician.token)
            response = api.request(method, path, token=technician.token, json={**body, **re_key})
            if applied(response, 200):
                after = read_back(api, path, technician.token)
                assert {name: after[name] for name in kept} == kept, (method, path)
                assert after["version"] == before["version"] + 1
    error_of(api.get(f"/samples/{stolen_id}", token=root), 404, "NOT_FOUND")
    error_of(api.get(f"/results/{stolen_id}", token=root), 404, "NOT_FOUND")

    # `version` in a body is the version the client edited: a made-up one is refused.
    for path in (f"/samples/{sample_id}", f"/results/{result_id}"):
        current = read_back(api, path, technician.token)
        stale = api.patch(path, token=technician.token, json={"notes": "stale", "version": 999})
        error_of(stale, 409, "VERSION_CONFLICT")
        assert read_back(api, path, technician.token) == current
    assert read_back(api, f"/samples/{other.sample['id']}", root) == other_lab_before


def test_task_bodies_cannot_change_the_owner(world: World) -> None:
    api, (home, _other) = world.api, world.labs
    viewer, technician = home.viewer, home.technician
    planted = {
        "owner_id": technician.id,
        "owner": technician.id,
        "user_id": technician.id,
        "created_by": technician.id,
        "updated_by": technician.id,
        "version": 42,
        "created_at": A_LONG_TIME_AGO,
    }
    for path in ("/tasks", f"/{viewer.id}/tasks"):
        response = api.post(path, token=viewer.token, json={"title": "Mine", **planted})
        assert applied(response, 201)
        task_id = response.json()["id"]
        task = read_back(api, f"/tasks/{task_id}", viewer.token)
        assert (task["owner_id"], task["created_by"], task["version"]) == (viewer.id, viewer.id, 1)
        assert recent(task["created_at"])
        error_of(api.get(f"/tasks/{task_id}", token=technician.token), 403, "FORBIDDEN")
        theirs = created(api.get("/tasks", token=technician.token, params={"limit": 100}), 200)
        assert task_id not in {t["id"] for t in theirs["data"]}

        stolen_id = str(uuid.uuid4())
        for method in ("PATCH", "PUT"):
            body = {"title": f"{method} mine", **planted, "id": stolen_id}
            body.pop("version")
            updated = api.request(method, f"/tasks/{task_id}", token=viewer.token, json=body)
            if applied(updated, 200):
                after = read_back(api, f"/tasks/{task_id}", viewer.token)
                assert (after["id"], after["owner_id"], after["title"]) == (
                    task_id,
                    viewer.id,
                    f"{method} mine",
                )
        error_of(api.get(f"/tasks/{stolen_id}", token=viewer.token), 404, "NOT_FOUND")
        current = read_back(api, f"/tasks/{task_id}", viewer.token)
        stale = api.patch(
            f"/tasks/{task_id}", token=viewer.token, json={"title": "s", "version": 99}
        )
        error_of(stale, 409, "VERSION_CONFLICT")
        assert read_back(api, f"/tasks/{task_id}", viewer.token) == current


def test_synced_records_take_lab_owner_version_and_compliance_from_the_server(
    world: World,
) -> None:
    api, (home, other) = world.api, world.labs
    technician, root = home.technician, world.root_token
    record_id, result_id, stolen_id = (str(uuid.uuid4()) for _ in range(3))
    server_owned = {
        "id": stolen_id,
        "lab_id": other.id,
        "compliance_status": "fail",
        "version": 50,
        "created_by": other.technician.id,
        "updated_by": other.technician.id,
        "created_at": A_LONG_TIME_AGO,
    }
    result_data = {
        **result_fields(home.mark, value=80.0),
        **server_owned,
        "compliance_status": "pass",
        "sample_id": record_id,
    }
    mutations = [
        upsert(1, record_id, {**sample_fields(home.mark), **server_owned}),
        upsert(2, result_id, result_data, entity="result"),
    ]
    body = created(push(api, technician, f"owasp-{uuid.uuid4().hex[:10]}", mutations), 200)
    statuses = [r["status"] for r in body["results"]]
    for outcome in body["results"]:
        if outcome["status"] == "rejected":
            assert outcome["error"]["code"] == "VALIDATION_ERROR", outcome
    if statuses[0] == "applied":
        sample = read_back(api, f"/samples/{record_id}", technician.token)
        assert (sample["lab_id"], sample["created_by"]) == (home.id, technician.id)
        assert recent(sample["created_at"])
    if statuses[1] == "applied":
        result = read_back(api, f"/results/{result_id}", technician.token)
        assert (result["compliance_status"], result["version"], result["created_by"]) == (
            "fail",
            1,
            technician.id,
        )
        sample = read_back(api, f"/samples/{record_id}", technician.token)
        assert sample["compliance_status"] == "fail"
    for leaked in (f"/samples/{stolen_id}", f"/results/{stolen_id}"):
        error_of(api.get(leaked, token=root), 404, "NOT_FOUND")
    in_other_lab = api.get("/samples", token=root, params={"lab_id": other.id, "limit": 100})
    assert record_id not in {s["id"] for s in created(in_other_lab, 200)["data"]}

    # A custom conflict resolution sets fields "as in a PATCH": not the server's.
    conflict_id, _device = new_conflict(api, technician, home.mark)
    custom = {"resolution": "custom", "data": {"notes": "settled", **server_owned}}
    resolved = api.post(
        f"/sync/conflicts/{conflict_id}/resolve", token=technician.token, json=custom
    )
    if applied(resolved, 200):
        settled = read_back(api, f"/samples/{resolved.json()['record_id']}", technician.token)
        assert (settled["notes"], settled["lab_id"], settled["compliance_status"]) == (
            "settled",
            home.id,
            "pending",
        )
        assert settled["created_by"] == technician.id and settled["version"] != 50
    error_of(api.get(f"/samples/{stolen_id}", token=root), 404, "NOT_FOUND")

    # Another device's cursor pulls only the caller's own lab.
    theirs = api.post(
        "/sync",
        token=other.technician.token,
        json={"device_id": other.device_id, "cursor": None, "pull_limit": 1},
    )
    their_cursor = created(theirs, 200)["cursor"]
    pulled = api.post(
        "/sync",
        token=technician.token,
        json={"device_id": device_of(world, technician), "cursor": their_cursor},
    )
    changes = created(pulled, 200)["changes"]
    assert other.sample["id"] not in {c["id"] for c in changes}
    assert not leaks(world, [e for e in api.exchanges if e.token == technician.token])


# --- API3: what responses never carry (runs last: it reads every exchange of this module) ----

HASH_PATTERNS = re.compile(r"\$argon2(?:id|i|d)\$|\$2[aby]\$\d\d\$|password_hash", re.IGNORECASE)


def issued_tokens(response: requests.Response) -> set[str]:
    try:
        body = response.json()
    except ValueError:
        return set()
    tokens = body.get("tokens", body) if isinstance(body, dict) else None
    if not isinstance(tokens, dict):
        return set()
    return {tokens[k] for k in ("access_token", "refresh_token") if isinstance(tokens.get(k), str)}


def jwt_subject(token: str) -> str:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sub"])


def test_no_response_holds_a_password_hash_a_password_or_another_sessions_token(
    world: World,
) -> None:
    # The audit trail of a password change is one more place a hash could surface.
    api, root, home = world.api, world.root_token, world.labs[0]
    user = api.create_user(root, role="viewer", lab_id=home.id, password=PASSWORD)
    changed = api.patch(f"/users/{user['id']}", token=root, json={"password": RESET_PASSWORD})
    assert changed.status_code == 200, changed.text
    api.get("/audit-logs", token=root, params={"entity_type": "user", "entity_id": user["id"]})
    api.get("/audit-logs", token=root, params={"limit": 100})
    # Sessions and a reset of this test's own, so it holds even when run alone.
    refreshed = api.post("/auth/refresh", json=request_body("RefreshIn", world, home.viewer, {}))
    assert refreshed.status_code == 200, refreshed.text
    reset = api.post(
        "/auth/reset-password", json=request_body("ResetPasswordIn", world, home.viewer, {})
    )
    assert reset.status_code == 204, reset.text

    exchanges = world.api.exchanges
    passwords = {ROOT_PASSWORD, PASSWORD, RESET_PASSWORD, HIJACK_PASSWORD}
    reset_tokens = set(re.findall(r"reset-password\?token=(\S+)", world.server.stdout()))
    assert reset_tokens, "reset-password was exercised with real tokens"
    seen_tokens: set[str] = set()
    problems = []
    for exchange in exchanges:
        text, where = exchange.response.text, f"{exchange.method} {exchange.path}"
        if HASH_PATTERNS.search(text):
            problems.append(f"{where}: a password hash")
        problems += [f"{where}: a password" for p in passwords if p in text]
        problems += [f"{where}: a reset token" for t in reset_tokens if t in text]
        # A token appears once: in the response that issues it, to its own user.
        problems += [f"{where}: an earlier session's token" for t in seen_tokens if t in text]
        issued = issued_tokens(exchange.response)
        if issued and "user" in exchange.response.json():
            owner = exchange.response.json()["user"]["id"]
            access = exchange.response.json()["tokens"]["access_token"]
            if jwt_subject(access) != owner:
                problems.append(f"{where}: tokens of another user")
        seen_tokens |= issued
    print(f"\nAPI3: {len(exchanges)} responses scanned, {len(seen_tokens)} tokens issued")
    assert not problems, "\n".join(sorted(set(problems)))
