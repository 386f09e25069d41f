"""Schemathesis fuzzes every operation of the live API against its own OpenAPI contract.

A real `aqualab serve` (waitress) on a fresh PostgreSQL database serves
`/api/v1/openapi.json`; schemathesis reads that document (all 66 operations) and
sends generated requests: the public operations once, without a token
(`anonymous`), and every operation that needs a token as each role (admin,
technician and viewer of one lab, each a fresh user). Valid cases (half of them
with the ids of real objects in the path — a sample with a result, the caller's own
task, another user's task, a lab, a victim user — re-seeded before each operation,
so they reach the handlers and not only a random-id 404) and invalid ones (negative
mode: wrong types, missing fields, out-of-range values, overlong headers).

Each response must pass:
- `not_a_server_error`: no 5xx, ever;
- `status_code_conformance`: the status is one the operation documents;
- `response_schema_conformance`: the body matches the documented schema;
- `content_type_conformance`, `response_headers_conformance`: the documented
  media type and headers (e.g. `Retry-After` on 429);
- `negative_data_rejection`: invalid input is refused with a 4xx. `POST /sync` is
  the exception the SPEC (section 6) makes: an invalid mutation is answered
  `rejected` inside a 200, so there the check is that no mutation breaking the
  documented `MutationIn` schema was `applied`.
A stateful test then follows the links schemathesis infers between operations
(e.g. `GET /auth/me` -> `id` -> `/{user_id}/tasks`) under the same checks.

Budget: `AQUALAB_FUZZ_EXAMPLES` (N, default 5 for `make test`; `make verify` sets
100) valid plus N invalid cases per operation and role. When the first valid cases
(up to 20) show the role may not call an operation (only 403, never a success), it
gets a quarter of that: its handler stops at the role check. The figures (cases per
operation and role, requests, statuses, failures by check, operations forbidden to
the role) are printed at the end of the run (tests/fuzz/conftest.py) and written to
`fuzz-<role>.json` in the run's pytest temp directory.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.client import Api, unique_email
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin_with_cli
from tests.live_server import LiveServer, live_server

pytestmark = [pytest.mark.e2e, pytest.mark.verify]

EXAMPLES = int(os.environ.get("AQUALAB_FUZZ_EXAMPLES", "5"))
ROLES = ("admin", "technician", "viewer")
PASSWORD = "Fuzz1ngPassw0rd"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]
# Valid cases sent before deciding whether the role may call the operation at all.
PROBE = 20
SYNC = "POST /api/v1/sync"
LOGOUT = "POST /api/v1/auth/logout"
INVALID_APPLIED = "Invalid sync mutation applied"
# Failures kept per (operation, check): enough to reproduce, not a wall of text.
KEEP_EXAMPLES = 2


@pytest.fixture(scope="module")
def fuzz_server(
    fresh_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    url = fresh_database()
    workdir: Path = tmp_path_factory.mktemp("fuzz-server")
    create_admin_with_cli(url, workdir)
    with live_server(database_url=url, workdir=workdir) as server:
        yield server


@pytest.fixture(scope="module")
def schema(fuzz_server: LiveServer) -> schemathesis.BaseSchema:
    # Loaded from the served document as a dict: `from_url` would leave out the operation
    # that serves the document itself, and it is one of the 66 to fuzz.
    served = requests.get(fuzz_server.url("/api/v1/openapi.json"), timeout=30)
    assert served.status_code == 200, served.text
    loaded = schemathesis.openapi.from_dict(served.json())
    loaded.config.update(base_url=fuzz_server.base_url)
    # Each case gets the role's bearer token from the test. Unknown query parameters are
    # ignored by design, like unknown body fields (SPEC: extra input is ignored), so an
    # extra parameter is not invalid input here.
    loaded.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    return loaded


@dataclass
class Identity:
    """The user a role is fuzzed as: its token, and the real ids it may aim at."""

    role: str
    user_id: str
    email: str
    token: str
    ids: dict[str, str] = field(default_factory=dict)


class World:
    """Seeds real objects (a lab, users, a sample with a result, tasks) and re-seeds them,
    since the fuzzer deletes and edits what it finds."""

    def __init__(self, api: Api):
        self.api = api
        self.root = api.token(ADMIN_EMAIL, ADMIN_PASSWORD)
        self.lab = api.create_lab(self.root)
        self.other_lab = api.create_lab(self.root)
        self.parameter_id = api.get("/parameters", token=self.root).json()["data"][0]["id"]
        self.technician = self.new_identity("technician")

    def new_identity(self, role: str) -> Identity:
        email = unique_email(f"fuzz-{role}")
        user = self.api.create_user(
            self.root, role=role, lab_id=self.lab["id"], password=PASSWORD, email=email
        )
        token = self.api.token(email, PASSWORD)
        return Identity(role=role, user_id=user["id"], email=email, token=token)

    def reseed(self, identity: Identity) -> None:
        """Fresh objects for the next operation: the previous one may have deleted them."""
        api, tech = self.api, self.technician.token
        sample = api.post(
            "/samples",
            token=tech,
            json={
                "type": "drinking",
                "location": "Fuzz well",
                "collection_date": "2025-03-10",
                "collector_name": "Fuzz",
            },
        )
        assert sample.status_code == 201, sample.text
        result = api.post(
            f"/samples/{sample.json()['id']}/results",
            token=tech,
            json={"parameter": "nitrate", "value": 12.5, "unit": "mg/L", "test_date": "2025-03-11"},
        )
        assert result.status_code == 201, result.text
        own_task = api.post("/tasks", token=identity.token, json={"title": "Fuzz own task"})
        assert own_task.status_code == 201, own_task.text
        other_task = api.post("/tasks", token=self.root, json={"title": "Someone else's task"})
        assert other_task.status_code == 201, other_task.text
        victim = api.create_user(self.root, role="technician", lab_id=self.lab["id"])
        identity.ids = {
            "lab_id": self.lab["id"],
            "sample_id": sample.json()["id"],
            "result_id": result.json()["id"],
            "task_id": own_task.json()["id"],
            "other_task_id": other_task.json()["id"],
            "victim_id": victim["id"],
            "parameter_id": self.parameter_id,
            "code": "WHO-GDWQ-2022",
            "parameter": "nitrate",
        }


@pytest.fixture(scope="module")
def world(fuzz_server: LiveServer) -> World:
    return World(Api(fuzz_server.base_url, set()))


def real_path_parameters(path: str, params: dict[str, Any], identity: Identity) -> dict[str, Any]:
    """The generated path parameters with every id that names a seeded object replaced."""
    ids = identity.ids
    real = dict(params)
    for name in real:
        if name == "user_id":
            # Under /{user_id}/tasks the caller's own id; a user resource is a victim's,
            # so the fuzzer never deactivates or demotes the identity it runs as.
            real[name] = ids["victim_id"] if path.startswith("/api/v1/users/") else identity.user_id
        elif name in ids:
            real[name] = ids[name]
    return real


@dataclass
class Figures:
    role: str
    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures_by_check: Counter[str] = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    forbidden: list[str] = field(default_factory=list)
    without_negative_cases: list[str] = field(default_factory=list)

    def record_failure(self, operation: str, title: str, message: str, curl: str) -> None:
        self.failures_by_check[title] += 1
        if len(self.examples[operation, title]) < KEEP_EXAMPLES:
            self.examples[operation, title].append(f"{message.strip()[:600]}\n    {curl[:800]}")

    def summary(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "examples_setting": EXAMPLES,
            "operations": len(self.cases),
            "cases": sum(self.cases.values()),
            "requests": sum(self.statuses.values()),
            "cases_per_operation": dict(sorted(self.cases.items())),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "failures_by_check": dict(self.failures_by_check),
            "forbidden_to_role": self.forbidden,
            "without_negative_cases": self.without_negative_cases,
        }


class Fuzzer:
    """Runs one role's cases against one operation at a time and keeps the figures."""

    def __init__(self, identity: Identity | None, http: requests.Session, schema_doc: Any):
        self.identity = identity
        self.http = http
        self.figures = Figures(role=identity.role if identity else "anonymous")
        self.mutation_validator = jsonschema_rs.validator_for(
            {"$ref": "#/components/schemas/MutationIn", "components": schema_doc["components"]}
        )

    def operation(self, operation: schemathesis.APIOperation) -> None:
        """EXAMPLES valid and EXAMPLES invalid cases; a quarter of that when the first
        valid ones show the role may not call the operation (only 403, no success)."""
        label = operation.label
        probe = min(PROBE, EXAMPLES)
        seen = self.run(operation, GenerationMode.POSITIVE, probe)
        budget = EXAMPLES
        reached = any(200 <= status < 300 or status in (409, 412) for status in seen)
        if 403 in seen and not reached:
            self.figures.forbidden.append(label)
            budget = max(EXAMPLES // 4, probe)
        if budget > probe:
            self.run(operation, GenerationMode.POSITIVE, budget - probe)
        if has_input(operation):
            self.run(operation, GenerationMode.NEGATIVE, budget)

    def run(
        self, operation: schemathesis.APIOperation, mode: GenerationMode, examples: int
    ) -> set[int]:
        label, identity, http, figures = operation.label, self.identity, self.http, self.figures
        strategy = operation.as_strategy(generation_mode=mode)
        if mode is GenerationMode.POSITIVE and operation.path_parameters and identity:
            # Half the valid cases aim at real objects, half at random ids (404 paths).
            def aim(case: schemathesis.Case) -> schemathesis.Case:
                case.path_parameters = real_path_parameters(
                    operation.path, case.path_parameters or {}, identity
                )
                return case

            strategy = st.one_of(strategy, strategy.map(aim))
        in_band = label == SYNC
        checks = NEGATIVE_CHECKS if mode is GenerationMode.NEGATIVE and not in_band else CHECKS
        seen: set[int] = set()

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            headers = {}
            if identity is not None:
                token = identity.token
                if label == LOGOUT:
                    token = login(http, operation, identity)  # logout revokes what it is given
                headers["Authorization"] = f"Bearer {token}"
            figures.cases[label] += 1
            curl = case.as_curl_command(headers)
            try:
                response = case.call(session=http, headers=headers, timeout=30)
                figures.statuses[response.status_code] += 1
                seen.add(response.status_code)
                case.validate_response(response, checks=checks, headers=headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    figures.record_failure(label, failure.title, failure.message, curl)
            except Failure as failure:
                figures.record_failure(label, failure.title, failure.message, curl)
            else:
                if in_band and response.status_code == 200:
                    for problem in self.invalid_mutations_applied(case, response.json()):
                        figures.record_failure(label, INVALID_APPLIED, problem, curl)

        try:
            run()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise
            # Nothing in its inputs can be made invalid (e.g. a lone optional header).
            figures.without_negative_cases.append(label)
        return seen

    def invalid_mutations_applied(self, case: schemathesis.Case, answer: Any) -> list[str]:
        """SPEC 6: an invalid mutation is answered `rejected` inside a 200, never applied."""
        sent = {
            m.get("mutation_id"): m
            for m in (case.body or {}).get("mutations", [])
            if isinstance(m, dict) and isinstance(m.get("mutation_id"), int)
        }
        problems = []
        for result in answer["results"]:
            mutation = sent.get(result["mutation_id"])
            if result["status"] == "applied" and mutation is not None:
                errors = [e.message for e in self.mutation_validator.iter_errors(mutation)]
                if errors:
                    problems.append(f"mutation {result['mutation_id']} applied: {errors[:3]}")
        return problems


def login(http: requests.Session, operation: schemathesis.APIOperation, who: Identity) -> str:
    base = operation.schema.config.base_url
    response = http.post(
        f"{base}/api/v1/auth/login", json={"email": who.email, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    return str(response.json()["tokens"]["access_token"])


def assert_no_problems(figures: Figures) -> None:
    problems = [
        f"{operation} — {check}:\n  " + "\n  ".join(examples)
        for (operation, check), examples in sorted(figures.examples.items())
    ]
    assert not problems, f"{len(problems)} contract violations:\n" + "\n".join(problems)


def needs_token(operation: schemathesis.APIOperation) -> bool:
    return bool(operation.definition.raw.get("security"))


def has_input(operation: schemathesis.APIOperation) -> bool:
    """Negative cases need something to break: an operation without inputs has none."""
    containers = (operation.path_parameters, operation.query, operation.headers)
    return any(len(c) for c in containers) or bool(operation.body)


@pytest.mark.parametrize("role", ["anonymous", *ROLES])
def test_every_operation_keeps_its_contract_under_fuzzing(
    role: str,
    schema: schemathesis.BaseSchema,
    world: World,
    tmp_path_factory: pytest.TempPathFactory,
    record_property: Callable[[str, object], None],
) -> None:
    """`anonymous` fuzzes the public operations (login, register, health, docs…) once;
    each role fuzzes every operation that needs a token, as a user of that role."""
    identity = None if role == "anonymous" else world.new_identity(role)
    all_operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in all_operations if needs_token(op) == bool(identity)]
    started = time.monotonic()
    with requests.Session() as http:
        fuzzer = Fuzzer(identity, http, schema.raw_schema)
        for operation in operations:
            if identity is not None:
                world.reseed(identity)
            fuzzer.operation(operation)
    figures = fuzzer.figures
    run_dir = tmp_path_factory.getbasetemp()
    if run_dir.name.startswith("popen-"):  # a pytest-xdist worker's own directory
        run_dir = run_dir.parent
    out = run_dir / f"fuzz-{role}.json"
    summary = figures.summary() | {
        "operations_in_document": len(all_operations),
        "seconds": round(time.monotonic() - started, 1),
        "file": str(out),
    }
    out.write_text(json.dumps(summary, indent=2))
    record_property("fuzz", summary)  # printed by tests/fuzz/conftest.py at the end
    assert_no_problems(figures)
    documented = sum(len(item) for item in schema.raw_schema["paths"].values())
    assert len(all_operations) == documented
    missed = {op.label for op in operations} - set(figures.cases)
    assert not missed, f"operations never fuzzed: {missed}"
    assert not [status for status in figures.statuses if status >= 500]


STATEFUL_SCENARIOS = max(EXAMPLES // 2, 5)


@pytest.mark.parametrize("role", ROLES)
def test_linked_operations_keep_their_contract(
    role: str,
    schema: schemathesis.BaseSchema,
    world: World,
    record_property: Callable[[str, object], None],
) -> None:
    """Stateful: sequences that feed one response into the next request (links that
    schemathesis infers, e.g. `GET /auth/me` -> `id` -> `GET /{user_id}/tasks`, or a
    created task's id -> `PATCH /tasks/{task_id}`), under the same checks."""
    identity = world.new_identity(role)
    world.reseed(identity)
    figures = Figures(role=f"{role} (stateful)")
    started = time.monotonic()
    http = requests.Session()

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            params = case.path_parameters or {}
            if (
                case.operation.path.startswith("/api/v1/users/")
                and case.method.upper() != "GET"
                and params.get("user_id") == identity.user_id
            ):
                # A link from `GET /auth/me` would make the fuzzed user edit or delete
                # itself; a victim stands in, so the identity stays usable.
                params["user_id"] = identity.ids["victim_id"]

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            token = identity.token
            if case.operation.label == LOGOUT:
                token = login(http, case.operation, identity)
            headers = {"Authorization": f"Bearer {token}"} if needs_token(case.operation) else {}
            return {"headers": headers, "session": http, "timeout": 30}

        def validate_response(
            self,
            response: Any,
            case: schemathesis.Case,
            **kwargs: Any,
        ) -> None:
            label = case.operation.label
            figures.cases[label] += 1
            figures.statuses[response.status_code] += 1
            headers = kwargs.get("headers")
            # Recorded, not raised: a raise would make Hypothesis replay the scenario
            # against a server whose state has moved on (the replay then diverges).
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    curl = case.as_curl_command(headers)
                    figures.record_failure(label, failure.title, failure.message, curl)
            except Failure as failure:
                curl = case.as_curl_command(headers)
                figures.record_failure(label, failure.title, failure.message, curl)

    runs = diverged = 0
    with http:
        # Which links are open depends on what the server answered, and its state moves on
        # between scenarios: Hypothesis may see a replay diverge (Flaky) and stop early. The
        # steps sent were checked all the same (schemathesis's own runner takes that view),
        # and a new run continues until the steps reach the budget.
        while sum(figures.cases.values()) < 3 * STATEFUL_SCENARIOS and runs < 5:
            runs += 1
            try:
                Workflow.run(
                    settings=settings(
                        max_examples=STATEFUL_SCENARIOS,
                        stateful_step_count=6,
                        deadline=None,
                        database=None,
                        phases=[Phase.explicit, Phase.generate],
                        suppress_health_check=list(HealthCheck),
                        print_blob=False,
                    )
                )
            except Flaky:
                diverged += 1
    summary = figures.summary() | {"seconds": round(time.monotonic() - started, 1), "file": ""}
    record_property("fuzz", summary | {"runs": runs, "runs_ended_by_diverging_replay": diverged})
    assert figures.statuses, "no stateful step was sent"
    assert_no_problems(figures)
