"""Write traffic for the fault-injection tests, and the checks that nothing was half-written.

A `Workload` runs client threads against a live server whose address may change (a
restarted server gets a new port): REST writers create samples, results and tasks with
ids of their own (offline creation, SPEC 3), sync devices push batches of samples and
their results, readers list and read. Every attempt is recorded with what came back, so
the test can hold the database to account afterwards:

- an acknowledged write (2xx received) is present with the content that was sent;
- a write without an answer (connection cut, 503) is wholly applied or wholly absent:
  a record exists exactly when its one audit "create" entry exists, and a sync batch's
  records exist exactly when the device's `last_mutation_id` covers the batch;
- a sample's `compliance_status` is the worst of its results' (SPEC 5);
- a sync device re-sends its unanswered batch until it is answered, then numbers on.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import sqlalchemy as sa

SAMPLE, RESULT, TASK = "sample", "result", "task"
CLIENT_TIMEOUT_SECONDS = 30
# nitrate's WHO limit is 50 mg/L: one value per outcome, so samples mix all three.
NITRATE_VALUES = (12.5, 45.0, 61.0)
SEVERITY = {"pending": 0, "pass": 1, "warning": 2, "fail": 3}


@dataclass
class Attempt:
    """One HTTP request of the workload and what came back (status None: no answer)."""

    kind: str  # sample, result, task, sync, read
    round: int
    started: float = 0.0  # time.monotonic()
    status: int | None = None
    seconds: float = 0.0
    error_code: str | None = None
    failure: str | None = None  # the client's exception when nothing came back

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Write:
    """A REST create with a client-chosen id."""

    kind: str
    id: str
    payload: dict[str, Any]
    attempt: Attempt
    sample_id: str | None = None  # a result's sample


@dataclass
class Batch:
    """One sync push: mutation ids first..last, each a sample or a result upsert."""

    first: int
    mutations: list[dict[str, Any]]
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.first + len(self.mutations) - 1

    @property
    def record_ids(self) -> list[str]:
        return [m["id"] for m in self.mutations]


@dataclass
class Device:
    device_id: str
    next_mutation: int = 1
    pending: Batch | None = None  # sent, not answered yet: re-sent as is
    batches: list[Batch] = field(default_factory=list)

    @property
    def issued(self) -> int:
        return self.next_mutation - 1


def sample_payload(rng: random.Random, record_id: str, who: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "type": rng.choice(["drinking", "ground", "surface"]),
        "location": f"Fault well {rng.randrange(10_000)}",
        "collection_date": "2025-02-03T08:00:00Z",
        "collector_name": who,
        "notes": f"note {uuid.uuid4().hex[:12]}",
    }


def result_payload(rng: random.Random, record_id: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "parameter": "nitrate",
        "value": rng.choice(NITRATE_VALUES),
        "unit": "mg/L",
        "test_date": "2025-02-04T09:00:00Z",
        "technician_name": "Amina Benali",
    }


class Workload:
    """Client threads writing (and, with `readers`, reading) until `stop()`.

    `pause()` holds every thread before its next request and waits until none is in the
    middle of one; `resume()` lets them go on (against `base_url()` as it is then).
    """

    def __init__(
        self,
        base_url: Callable[[], str],
        token: str,
        *,
        seed: int,
        rest_writers: int = 3,
        devices: int = 2,
        readers: int = 0,
        batch_samples: int = 10,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.rng = random.Random(seed)
        self.round = 0
        self.batch_samples = batch_samples
        self.writes: list[Write] = []
        self.devices = [Device(f"fault-dev-{uuid.uuid4().hex[:10]}") for _ in range(devices)]
        self.attempts: list[Attempt] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._go = threading.Event()
        self._go.set()
        self._stopped = threading.Event()
        self._abandoned = threading.Event()
        self._busy = 0
        self._idle = threading.Condition(self._lock)
        self._threads = [
            *(self._thread(self._write_loop, random.Random(seed + n)) for n in range(rest_writers)),
            *(
                self._thread(self._sync_loop, random.Random(seed + 100 + n), device)
                for n, device in enumerate(self.devices)
            ),
            *(self._thread(self._read_loop, random.Random(seed + 200 + n)) for n in range(readers)),
        ]

    def _thread(self, target: Callable[..., None], *args: Any) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # reported by stop(): a thread must not die silently
                self.errors.append(exc)

        return threading.Thread(target=run, daemon=True)

    # --- control ---------------------------------------------------------------------

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def pause(self) -> None:
        self._go.clear()
        with self._idle:
            assert self._idle.wait_for(lambda: self._busy == 0, timeout=CLIENT_TIMEOUT_SECONDS + 5)

    def resume(self, round_number: int) -> None:
        self.round = round_number
        self._go.set()

    def stop(self) -> None:
        """Stop once every device's last batch is answered (re-sending it as needed)."""
        self._stopped.set()
        self._go.set()
        for thread in self._threads:
            thread.join(timeout=CLIENT_TIMEOUT_SECONDS + 5)
        hanging = any(t.is_alive() for t in self._threads)
        self.abandon()
        assert not hanging, "a client thread hangs, or a device could not deliver its batch"
        if self.errors:
            raise self.errors[0]

    def abandon(self) -> None:
        """Stop now, answered or not (the test failed already)."""
        self._abandoned.set()
        self._stopped.set()
        self._go.set()
        for thread in self._threads:
            thread.join(timeout=CLIENT_TIMEOUT_SECONDS + 5)

    def acknowledged_since(self, index: int) -> int:
        with self._lock:
            return sum(a.acknowledged for a in self.attempts[index:])

    # --- one request -------------------------------------------------------------------

    def _request(
        self, http: requests.Session, kind: str, method: str, path: str, body: Any = None
    ) -> tuple[Attempt, Any]:
        with self._lock:
            self._busy += 1
            attempt = Attempt(kind, self.round, time.monotonic())
            self.attempts.append(attempt)
        answer: Any = None
        try:
            response = http.request(
                method,
                self.base_url() + "/api/v1" + path,
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=CLIENT_TIMEOUT_SECONDS,
            )
            attempt.status = response.status_code
            answer = response.json()
            if attempt.status >= 400:
                attempt.error_code = answer["error"]["code"]
        except requests.RequestException as exc:
            attempt.failure = type(exc).__name__
        except ValueError:
            attempt.failure = "not JSON"  # noticed by the checks: every answer is JSON
        finally:
            attempt.seconds = time.monotonic() - attempt.started
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()
        return attempt, answer

    def _wait_turn(self) -> bool:
        self._go.wait()
        return not self._stopped.is_set()

    # --- the clients -------------------------------------------------------------------------

    def _write_loop(self, rng: random.Random) -> None:
        http = requests.Session()
        mine: list[str] = []  # samples this writer created and saw acknowledged
        while self._wait_turn():
            choice = rng.random()
            if choice < 0.4 or not mine:
                record_id = str(uuid.uuid4())
                payload = sample_payload(rng, record_id, "Rest writer")
                attempt, _ = self._request(http, SAMPLE, "POST", "/samples", payload)
                write = Write(SAMPLE, record_id, payload, attempt)
                if attempt.acknowledged:
                    mine.append(record_id)
            elif choice < 0.85:
                sample_id = rng.choice(mine)
                payload = result_payload(rng, str(uuid.uuid4()))
                path = f"/samples/{sample_id}/results"
                attempt, _ = self._request(http, RESULT, "POST", path, payload)
                write = Write(RESULT, payload["id"], payload, attempt, sample_id)
            else:
                payload = {"id": str(uuid.uuid4()), "title": f"Re-test {rng.randrange(10**6)}"}
                attempt, _ = self._request(http, TASK, "POST", "/tasks", payload)
                write = Write(TASK, payload["id"], payload, attempt)
            with self._lock:
                self.writes.append(write)
            self._back_off(http, attempt)

    def _sync_loop(self, rng: random.Random, device: Device) -> None:
        http = requests.Session()
        while True:
            self._go.wait()
            # A device stops only once its last batch is answered: clients resume.
            if (self._stopped.is_set() and device.pending is None) or self._abandoned.is_set():
                return
            if device.pending is None:
                device.pending = self._new_batch(rng, device)
            batch = device.pending
            attempt, answer = self._request(
                http,
                "sync",
                "POST",
                "/sync",
                {
                    "device_id": device.device_id,
                    "cursor": None,
                    "pull_limit": 0,
                    "mutations": batch.mutations,
                },
            )
            batch.attempts.append(attempt)
            self._back_off(http, attempt)
            if attempt.status == 200:
                _check_sync_answer(batch, answer)
                device.pending = None
            elif attempt.status not in (None, 503):
                raise AssertionError(f"sync answered {attempt.status}: {answer}")

    def _new_batch(self, rng: random.Random, device: Device) -> Batch:
        mutations = []
        first = device.next_mutation
        for n in range(self.batch_samples):
            sample_id, result_id = str(uuid.uuid4()), str(uuid.uuid4())
            data = sample_payload(rng, sample_id, device.device_id)
            del data["id"]
            result = result_payload(rng, result_id)
            del result["id"]
            result["sample_id"] = sample_id
            for offset, (entity, record_id, values) in enumerate(
                ((SAMPLE, sample_id, data), (RESULT, result_id, result))
            ):
                mutations.append(
                    {
                        "mutation_id": first + 2 * n + offset,
                        "entity": entity,
                        "op": "upsert",
                        "id": record_id,
                        "base_version": None,
                        "modified_at": "2025-02-04T10:00:00.000Z",
                        "data": values,
                    }
                )
        device.next_mutation = first + len(mutations)
        batch = Batch(first, mutations)
        device.batches.append(batch)
        return batch

    def _read_loop(self, rng: random.Random) -> None:
        http = requests.Session()
        while self._wait_turn():
            path = rng.choice(["/samples?limit=20", "/auth/me", "/tasks?limit=20"])
            attempt, _ = self._request(http, "read", "GET", path)
            self._back_off(http, attempt)

    @staticmethod
    def _back_off(http: requests.Session, attempt: Attempt) -> None:
        """After a failure, wait a little, as a real client would (and on a new connection)."""
        if attempt.status is None:
            http.close()
        if not attempt.acknowledged:
            time.sleep(0.05)


def _check_sync_answer(batch: Batch, answer: dict[str, Any]) -> None:
    """A 200 to a (re-)sent batch: every mutation processed once, nothing rejected."""
    assert answer["last_mutation_id"] == batch.last, answer["last_mutation_id"]
    outcomes = [(r["mutation_id"], r["status"]) for r in answer["results"]]
    assert [m for m, _ in outcomes] == [m["mutation_id"] for m in batch.mutations]
    assert {s for _, s in outcomes} <= {"applied", "duplicate"}, outcomes
    # A batch commits as one transaction: a re-sent batch is all new or all duplicate.
    assert len({s for _, s in outcomes}) == 1, outcomes


# --- the database's account ---------------------------------------------------------------


class Ledger:
    """What PostgreSQL holds for the ids the workload used."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def _rows(self, query: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(query), params))

    def _live(self, table: str, columns: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        rows = self._rows(
            f"SELECT id::text, {columns} FROM {table} "
            "WHERE id = ANY(CAST(:ids AS uuid[])) AND deleted_at IS NULL",
            ids=ids,
        )
        return {r.id: dict(r._mapping) for r in rows}

    def samples(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        columns = (
            "location, collector_name, notes, type::text, compliance_status::text AS compliance"
        )
        return self._live("samples", columns, ids)

    def results(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        columns = (
            "sample_id::text, value, parameter, version, compliance_status::text AS compliance"
        )
        return self._live("test_results", columns, ids)

    def tasks(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return self._live("tasks", "title", ids)

    def audit_creates(self, ids: list[str]) -> dict[str, int]:
        rows = self._rows(
            "SELECT entity_id, count(*) FROM audit_log WHERE action = 'create' "
            "AND entity_id = ANY(:ids) GROUP BY entity_id",
            ids=ids,
        )
        return {entity_id: count for entity_id, count in rows}

    def device_positions(self, device_ids: list[str]) -> dict[str, int]:
        rows = self._rows(
            "SELECT device_id, last_mutation_id FROM sync_devices WHERE device_id = ANY(:ids)",
            ids=device_ids,
        )
        return {device_id: position for device_id, position in rows}

    def worst_result_of(self, sample_ids: list[str]) -> dict[str, str]:
        rows = self._rows(
            "SELECT sample_id::text, compliance_status::text FROM test_results "
            "WHERE sample_id = ANY(CAST(:ids AS uuid[])) AND deleted_at IS NULL",
            ids=sample_ids,
        )
        worst: dict[str, str] = {}
        for sample_id, status in rows:
            if SEVERITY[status] > SEVERITY.get(worst.get(sample_id, "pending"), 0):
                worst[sample_id] = status
        return worst

    def pending_audit_entries(self) -> int:
        return int(self._rows("SELECT count(*) FROM audit_pending")[0][0])

    def audit_entries(self) -> int:
        return int(self._rows("SELECT count(*) FROM audit_log")[0][0])

    def app_backends(self) -> int:
        """Server sessions PostgreSQL still runs (the engine names them `aqualab`)."""
        return int(
            self._rows(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'aqualab' "
                "AND pid <> pg_backend_pid()"
            )[0][0]
        )


@dataclass
class Account:
    """The figures of one check of the workload against the database."""

    attempted: int = 0
    acknowledged: int = 0
    present: int = 0
    lost: int = 0  # acknowledged, yet absent: must stay 0
    unanswered_present: int = 0
    unanswered_absent: int = 0
    sync_records: int = 0


def check_writes(ledger: Ledger, writes: list[Write]) -> Account:
    """Acknowledged writes present with their content; unanswered ones all or nothing."""
    account = Account(attempted=len(writes))
    ids = {kind: [w.id for w in writes if w.kind == kind] for kind in (SAMPLE, RESULT, TASK)}
    found: dict[str, dict[str, dict[str, Any]]] = {
        SAMPLE: ledger.samples(ids[SAMPLE]),
        RESULT: ledger.results(ids[RESULT]),
        TASK: ledger.tasks(ids[TASK]),
    }
    audited = ledger.audit_creates([w.id for w in writes])
    for write in writes:
        row = found[write.kind].get(write.id)
        # SPEC 7: no change without its entry, no entry without its change.
        assert audited.get(write.id, 0) == (1 if row else 0), (write, row, audited.get(write.id))
        if row is not None:
            _assert_content(write, row)
            account.present += 1
        if write.attempt.acknowledged:
            account.acknowledged += 1
            if row is None:
                account.lost += 1
        elif row is None:
            account.unanswered_absent += 1
        else:
            account.unanswered_present += 1
        if write.attempt.status is not None and not write.attempt.acknowledged:
            assert write.attempt.status == 503, (write.kind, write.attempt)
    return account


def _assert_content(write: Write, row: dict[str, Any]) -> None:
    sent = write.payload
    if write.kind == SAMPLE:
        got = {k: row[k] for k in ("location", "collector_name", "notes", "type")}
        assert got == {k: sent[k] for k in got}, (sent, row)
    elif write.kind == RESULT:
        assert (row["sample_id"], row["value"], row["parameter"]) == (
            write.sample_id,
            sent["value"],
            sent["parameter"],
        ), (sent, row)
        assert row["version"] == 1
    else:
        assert row["title"] == sent["title"], (sent, row)


def check_devices(ledger: Ledger, devices: list[Device]) -> int:
    """Each device's batches: all answered in the end, every record once, seq continues.

    Returns the number of sync records checked."""
    positions = ledger.device_positions([d.device_id for d in devices])
    records = 0
    for device in devices:
        assert device.pending is None, f"{device.device_id} still has an unanswered batch"
        assert positions.get(device.device_id, 0) == device.issued
        ids = [rid for batch in device.batches for rid in batch.record_ids]
        samples = ledger.samples(ids)
        results = ledger.results(ids)
        audited = ledger.audit_creates(ids)
        for batch in device.batches:
            for mutation in batch.mutations:
                table = samples if mutation["entity"] == SAMPLE else results
                row = table.get(mutation["id"])
                assert row is not None, f"acknowledged sync record lost: {mutation}"
                assert audited.get(mutation["id"]) == 1, mutation  # created once
                if mutation["entity"] == SAMPLE:
                    assert row["notes"] == mutation["data"]["notes"]
                else:
                    assert row["value"] == mutation["data"]["value"]
                records += 1
    return records


def check_unanswered_batches(ledger: Ledger, devices: list[Device]) -> tuple[int, int]:
    """While the server is down: each device's unanswered batch is all there or all absent,
    and the device's position says which. Returns (batches applied, batches absent)."""
    positions = ledger.device_positions([d.device_id for d in devices])
    applied = absent = 0
    for device in devices:
        batch = device.pending
        if batch is None:
            continue
        ids = batch.record_ids
        held = len(ledger.samples(ids)) + len(ledger.results(ids))
        audited = sum(ledger.audit_creates(ids).values())
        position = positions.get(device.device_id, 0)
        if position >= batch.last:
            assert (held, audited) == (len(ids), len(ids)), (device.device_id, held, audited)
            applied += 1
        else:
            assert position == batch.first - 1, (position, batch.first)
            assert (held, audited) == (0, 0), (device.device_id, held, audited)
            absent += 1
    return applied, absent


def check_sample_compliance(ledger: Ledger, sample_ids: list[str]) -> None:
    """Every sample's compliance_status is the worst of its results (pending without)."""
    samples = ledger.samples(sample_ids)
    worst = ledger.worst_result_of(list(samples))
    for sample_id, row in samples.items():
        assert row["compliance"] == worst.get(sample_id, "pending"), (sample_id, row)


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds}s: {what}"
        time.sleep(0.1)
