"""The sync protocol end to end: a real `aqualab serve`, real PostgreSQL, real HTTP.

Issue 4's "tests that must exist", driven by the reference client
(`entrypoints/sync_client`) where it fits and by raw `POST /api/v1/sync` where a test
needs to say exactly what goes on the wire. The engine's rules are covered through the
use cases in tests/contract/test_sync.py; these tests prove they survive the network:
lost responses, cut connections, concurrent devices, transactions that commit late.

The module runs one server of its own (the shared e2e server caps bodies at 4 KiB, a
batch of 500 mutations is ~150 KiB) on a database of its own; every test opens its own
lab, so each test's change feed holds only its own records.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import psycopg
import pytest
import requests
import sqlalchemy as sa

from application.sync import Cursor
from domain.sync import ORIGIN
from entrypoints.sync_client import store as store_module
from entrypoints.sync_client.client import (
    ForbiddenError,
    RetriesExhausted,
    SyncClient,
    SyncStateError,
)
from entrypoints.sync_client.store import LocalStore, content_hash
from entrypoints.sync_client.transport import HttpTransport, Response, TransportError
from tests.e2e.client import Api, error_of
from tests.e2e.tcp_proxy import TcpProxy
from tests.live_server import LiveServer, live_server, run_cli, server_env

pytestmark = pytest.mark.e2e

ADMIN_EMAIL = "admin@sync.e2e.example"
ADMIN_PASSWORD = "Adm1nistrator-Sync"
PASSWORD = "Techn1cianPass"
SYNC = "/api/v1/sync"


# --- the server and the people -------------------------------------------------------------


@dataclass
class SyncServer:
    server: LiveServer
    database_url: str  # SQLAlchemy form
    engine: sa.Engine

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def conninfo(self) -> str:
        """The database for a plain psycopg connection."""
        url = sa.make_url(self.database_url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def sync_server(
    fresh_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SyncServer]:
    url = fresh_database()
    workdir: Path = tmp_path_factory.mktemp("sync-server")
    cli_env = server_env(database_url=url, var_dir=workdir / "cli-var")
    created = run_cli(
        "create-admin",
        "--email",
        ADMIN_EMAIL,
        "--password",
        ADMIN_PASSWORD,
        "--lab",
        "Sync E2E Central",
        env=cli_env,
    )
    assert created.returncode == 0, created.stderr
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with live_server(database_url=url, workdir=workdir, threads=12) as server:
        yield SyncServer(server, url, engine)
    engine.dispose()


@pytest.fixture(scope="module")
def admin_api(sync_server: SyncServer) -> Api:
    return Api(sync_server.base_url, set())


@pytest.fixture(scope="module")
def admin_token(admin_api: Api) -> str:
    return admin_api.token(ADMIN_EMAIL, ADMIN_PASSWORD)


@dataclass
class Person:
    id: str
    email: str
    token: str
    lab_id: str


@dataclass
class Lab:
    """A lab of the test's own: two technicians, and a stranger in another lab."""

    srv: SyncServer
    api: Api
    admin_token: str
    id: str
    tech: Person
    tech2: Person
    stranger: Person
    stores: list[LocalStore] = field(default_factory=list)

    def client(
        self,
        person: Person | None = None,
        *,
        device_id: str | None = None,
        store: LocalStore | None = None,
        transport: Any = None,
        base_url: str | None = None,
        **options: Any,
    ) -> SyncClient:
        """A reference client on an in-memory store; retries without waiting."""
        person = person or self.tech
        if store is None:
            store = LocalStore(":memory:", device_id or f"dev-{uuid.uuid4().hex[:10]}")
            self.stores.append(store)
        options.setdefault("sleep", lambda _seconds: None)
        options.setdefault("timeout", 30.0)
        return SyncClient(
            base_url or self.srv.base_url,
            store,
            token=person.token,
            transport=transport,
            **options,
        )

    def sync(
        self,
        device_id: str,
        mutations: list[dict[str, Any]] | None = None,
        *,
        person: Person | None = None,
        cursor: str | None = None,
        pull_limit: int = 1000,
        status: int = 200,
    ) -> dict[str, Any]:
        """One raw `POST /sync` round trip."""
        response = self.api.post(
            SYNC,
            token=(person or self.tech).token,
            json={
                "device_id": device_id,
                "cursor": cursor,
                "pull_limit": pull_limit,
                "mutations": mutations or [],
            },
            timeout=60,
        )
        assert response.status_code == status, response.text
        return response.json()  # type: ignore[no-any-return]

    def pull_all(
        self, device_id: str, cursor: str | None = None, *, person: Person | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """Raw pulls to the end: (every change in order, the last cursor)."""
        changes: list[dict[str, Any]] = []
        while True:
            body = self.sync(device_id, cursor=cursor, person=person)
            changes.extend(body["changes"])
            cursor = body["cursor"]
            if not body["has_more"]:
                return changes, cursor

    def sql(self, query: str, **params: Any) -> list[Any]:
        with self.srv.engine.connect() as conn:
            return list(conn.execute(sa.text(query), params))

    def live_count(self, table: str) -> int:
        rows = self.sql(
            f"SELECT count(*) FROM {table} WHERE lab_id = :lab AND deleted_at IS NULL",
            lab=self.id,
        )
        return int(rows[0][0])


def _person(api: Api, admin_token: str, lab_id: str) -> Person:
    user = api.create_user(admin_token, role="technician", lab_id=lab_id, password=PASSWORD)
    return Person(user["id"], user["email"], api.token(user["email"], PASSWORD), lab_id)


@pytest.fixture
def lab(sync_server: SyncServer, admin_api: Api, admin_token: str) -> Iterator[Lab]:
    api = Api(sync_server.base_url, set())
    home = api.create_lab(admin_token)
    other = api.create_lab(admin_token)
    made = Lab(
        sync_server,
        api,
        admin_token,
        home["id"],
        _person(api, admin_token, home["id"]),
        _person(api, admin_token, home["id"]),
        _person(api, admin_token, other["id"]),
    )
    yield made
    for store in made.stores:
        store.close()


@pytest.fixture(scope="module")
def sync_out_validator(admin_api: Api) -> jsonschema.protocols.Validator:
    """Validates a `POST /sync` answer against the server's own OpenAPI `SyncOut`."""
    document = admin_api.get("/openapi.json").json()
    schema = {"$ref": "#/components/schemas/SyncOut", "components": document["components"]}
    validator_class = jsonschema.validators.validator_for(
        {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    )
    return validator_class(schema)


# --- records and mutations -------------------------------------------------------------------


def sample_data(n: int = 0, **overrides: Any) -> dict[str, Any]:
    return {
        "type": "drinking",
        "location": f"Bouskoura well {n}",
        "collection_date": "2025-01-10T08:00:00Z",
        "collector_name": "Youssef El Amrani",
        **overrides,
    }


def result_data(sample_id: str, n: int = 0, **overrides: Any) -> dict[str, Any]:
    return {
        "sample_id": sample_id,
        "parameter": "nitrate",
        "value": float(n % 60) + 0.5,
        "unit": "mg/L",
        "test_date": "2025-01-11T09:00:00Z",
        "technician_name": "Amina Benali",
        **overrides,
    }


def upsert(
    mutation_id: int,
    record_id: str,
    data: dict[str, Any],
    *,
    entity: str = "sample",
    base: int | None = None,
    at: datetime | None = None,
    changed: list[str] | None = None,
) -> dict[str, Any]:
    m = {
        "mutation_id": mutation_id,
        "entity": entity,
        "op": "upsert",
        "id": record_id,
        "base_version": base,
        "modified_at": _iso(at or datetime.now(UTC)),
        "data": data,
    }
    if changed is not None:
        m["changed_fields"] = changed
    return m


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def statuses(body: Mapping[str, Any]) -> list[tuple[int, str]]:
    return [(r["mutation_id"], r["status"]) for r in body["results"]]


def latest(changes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last change received per record id (feed order is oldest first)."""
    out: dict[str, dict[str, Any]] = {}
    for change in changes:
        out[change["id"]] = change
    return out


# --- 1. lost response --------------------------------------------------------------------


class LosingTransport:
    """Forwards to a real `HttpTransport`, then drops the next `lose` /sync answers."""

    def __init__(self, base_url: str) -> None:
        self.inner = HttpTransport(base_url)
        self.lose = 0
        self.lost: list[Any] = []  # the bodies the server sent and the client never saw
        self.seen: list[Any] = []  # the /sync bodies the client did see

    def request(
        self,
        method: str,
        path: str,
        body: Any | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        response = self.inner.request(method, path, body, headers)
        if path == SYNC:
            if self.lose and response.status == 200:
                self.lose -= 1
                self.lost.append(response.body)
                raise TransportError("POST /api/v1/sync: the answer was lost on the way back")
            self.seen.append(response.body)
        return response

    def close(self) -> None:
        self.inner.close()


def test_a_lost_response_is_resent_and_every_record_exists_exactly_once(
    lab: Lab, sync_out_validator: jsonschema.protocols.Validator
) -> None:
    transport = LosingTransport(lab.srv.base_url)
    phone = lab.client(transport=transport, batch_size=3, retries=3)
    first = [phone.store.create("sample", sample_data(n)) for n in range(3)]

    transport.lose = 1  # the batch commits, its answer never arrives; the client re-sends
    summary = phone.sync()
    assert summary.retries == 1
    assert [statuses(b) for b in transport.lost] == [
        [(1, "applied"), (2, "applied"), (3, "applied")]
    ]
    resent = transport.seen[0]
    assert statuses(resent) == [(1, "duplicate"), (2, "duplicate"), (3, "duplicate")]
    assert [r["version"] for r in resent["results"]] == [1, 1, 1]
    assert phone.store.pending_count() == 0 and phone.store.last_mutation_id == 3

    # Lost again, and this time the client gives up; the user keeps working offline.
    more = [phone.store.create("sample", sample_data(n)) for n in range(3, 5)]
    phone.store.update("sample", first[0], {"notes": "re-checked"})  # mutation 6
    transport.lose, phone.retries = 1, 0
    with pytest.raises(RetriesExhausted):
        phone.sync()
    assert statuses(transport.lost[-1]) == [(4, "applied"), (5, "applied"), (6, "applied")]

    # The next batch overlaps the committed one: only the new part applies.
    phone.store.create("sample", sample_data(5))
    phone.batch_size = 10
    transport.seen.clear()
    phone.sync()
    assert statuses(transport.seen[0]) == [
        (4, "duplicate"),
        (5, "duplicate"),
        (6, "duplicate"),
        (7, "applied"),
    ]
    assert transport.seen[0]["last_mutation_id"] == 7

    # Exactly one copy of every record, each created once (one audit "create" each).
    ids = [*first, *more]
    assert lab.live_count("samples") == 6
    rows = lab.sql(
        "SELECT id::text, version, notes FROM samples WHERE lab_id = :lab ORDER BY id", lab=lab.id
    )
    assert len({r[0] for r in rows}) == 6 and set(ids) <= {r[0] for r in rows}
    assert {r[0]: (r[1], r[2]) for r in rows}[first[0]] == (2, "re-checked")
    creates = lab.sql(
        "SELECT entity_id, count(*) FROM audit_log WHERE entity_type = 'sample' "
        "AND action = 'create' AND entity_id = ANY(:ids) GROUP BY entity_id",
        ids=ids,
    )
    assert sorted(n for _, n in creates) == [1] * 5
    status = phone.status()
    assert status is not None and status["last_mutation_id"] == 7 and status["status"] == "ok"
    # The device holds exactly what the server holds.
    fresh = lab.client(lab.tech2)
    fresh.sync()
    assert fresh.content_hash("sample") == phone.content_hash("sample")
    assert phone.content_hash("sample") == server_hash(lab, "sample")
    assert len(fresh.store.all("sample")) == 6
    for body in [*transport.lost, *transport.seen]:
        sync_out_validator.validate(body)


# --- 2. 10,000 records through a connection that gets cut ---------------------------------------

SAMPLES_10K = 5_000
RESULTS_PER_SAMPLE = 1  # 5,000 samples + 5,000 results = 10,000 records


def server_hash(lab: Lab, entity: str) -> str:
    """`content_hash` over the server's live rows of the lab, straight from PostgreSQL."""
    table = "samples" if entity == "sample" else "test_results"
    rows = lab.sql(
        f"SELECT * FROM {table} WHERE lab_id = :lab AND deleted_at IS NULL",
        lab=lab.id,
    )
    records = []
    for row in rows:
        records.append({name: _plain(value) for name, value in row._mapping.items()})
    return content_hash(entity, records)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, uuid.UUID) else value


def test_ten_thousand_records_survive_cut_connections_exactly_once(lab: Lab) -> None:
    field_phone = lab.client(batch_size=500, pull_limit=1000, retries=5)
    store = field_phone.store
    with store.transaction():  # one local transaction: the outbox fills in well under a second
        for n in range(SAMPLES_10K):
            sid = store.create("sample", sample_data(n, notes=f"batch sample {n}"))
            for k in range(RESULTS_PER_SAMPLE):
                store.create("result", result_data(sid, n * RESULTS_PER_SAMPLE + k))
    assert store.pending_count() == 10_000

    with TcpProxy("127.0.0.1", lab.srv.server.port) as proxy:
        field_phone.transport = HttpTransport(proxy.base_url, timeout=60)
        cuts = {
            3: lambda: proxy.cut_request_after(40_000),  # mid-request: never processed
            8: lambda: proxy.cut_response_after(300),  # mid-response: committed, answer lost
            14: lambda: proxy.cut_response_after(0),  # nothing comes back at all
        }

        def progress(summary: Any) -> None:
            arm = cuts.pop(summary.round_trips, None)
            if arm is not None:
                arm()

        field_phone._progress = progress
        pushed = field_phone.sync()
        assert [d for d, _ in proxy.cuts] == ["request", "response", "response"], proxy.cuts
        # The two batches whose answers were cut had committed: re-sent, they are duplicates.
        # (A request cut before it was processed may be re-sent by the transport silently.)
        assert pushed.retries >= 1
        assert pushed.pushed == 10_000 and pushed.rejected == 0 and pushed.conflicts == 0
        assert (pushed.applied, pushed.duplicates) == (9_000, 1_000)
        assert store.pending_count() == 0 and store.last_mutation_id == 10_000

        # Exactly 10,000 on the server: nothing lost, nothing doubled.
        assert lab.live_count("samples") == SAMPLES_10K
        assert lab.live_count("test_results") == SAMPLES_10K * RESULTS_PER_SAMPLE
        status = field_phone.status()
        assert status is not None and status["last_mutation_id"] == 10_000

        # A fresh device pulls it all, through a cut of its own in the middle of a page.
        desk = lab.client(lab.tech2, pull_limit=1000)
        desk.transport = HttpTransport(proxy.base_url, timeout=60)
        proxy.cut_response_after(250_000)
        pulled = desk.sync()
        assert proxy.cuts[-1] == ("response", 250_000)
        assert pulled.pulled >= 10_000 and pulled.retries >= 1

    for entity in ("sample", "result"):
        expected = server_hash(lab, entity)
        assert desk.content_hash(entity) == field_phone.content_hash(entity) == expected, entity
    assert len(desk.store.all("sample")) == SAMPLES_10K
    assert len(desk.store.all("result")) == SAMPLES_10K * RESULTS_PER_SAMPLE


# --- 3. gaps and replays from a second session of the same device ------------------------------


def test_a_second_session_of_a_device_replays_as_duplicates_and_stops_at_a_gap(lab: Lab) -> None:
    tablet = lab.client(device_id=f"tablet-{uuid.uuid4().hex[:8]}")
    device_id = tablet.store.device_id
    ids = [tablet.store.create("sample", sample_data(n, notes="first session")) for n in range(3)]
    tablet.sync()
    assert tablet.store.last_mutation_id == 3

    # A second session (reinstalled app, restored backup) re-sends old mutation ids with
    # other content: all duplicates, nothing changes on the server.
    replay = [upsert(n + 1, ids[n], sample_data(n, notes="second session")) for n in range(3)]
    replay.append(upsert(2, str(uuid.uuid4()), sample_data(9)))  # an old id, a new record
    body = lab.sync(device_id, replay, pull_limit=0)
    assert statuses(body) == [
        (1, "duplicate"),
        (2, "duplicate"),
        (3, "duplicate"),
        (2, "duplicate"),
    ]
    assert [r["version"] for r in body["results"][:3]] == [1, 1, 1]
    assert body["last_mutation_id"] == 3
    notes = lab.sql("SELECT notes FROM samples WHERE lab_id = :lab", lab=lab.id)
    assert sorted(n for (n,) in notes) == ["first session"] * 3

    # Skipping ahead: nothing after the gap is processed, last_mutation_id is unchanged.
    ahead = str(uuid.uuid4())
    body = lab.sync(device_id, [upsert(7, ahead, sample_data(7))], pull_limit=0)
    assert body["results"] == [] and body["last_mutation_id"] == 3
    # A batch with a gap inside applies the contiguous run and stops there.
    fourth, after_gap = str(uuid.uuid4()), str(uuid.uuid4())
    body = lab.sync(
        device_id,
        [
            upsert(3, ids[2], sample_data(2)),
            upsert(4, fourth, sample_data(4)),
            upsert(6, after_gap, sample_data(6)),
        ],
        pull_limit=0,
    )
    assert statuses(body) == [(3, "duplicate"), (4, "applied")]
    assert body["last_mutation_id"] == 4
    found = {r[0] for r in lab.sql("SELECT id::text FROM samples WHERE lab_id = :lab", lab=lab.id)}
    assert found == {*ids, fourth}  # neither record beyond a gap exists
    status = lab.api.get("/sync/status", token=lab.tech.token, params={"device_id": device_id})
    assert status.status_code == 200 and status.json()["last_mutation_id"] == 4

    # The first session (issued up to 3) notices that the server has processed an id it
    # never issued and refuses to sync: its next edit would be answered `duplicate`.
    with pytest.raises(SyncStateError, match="only issued up to 3"):
        tablet.sync()
    assert tablet.store.last_mutation_id == 3

    # A second reference-client store under the same device id starts numbering at 1: the
    # client stops before acknowledging anything.
    second = lab.client(device_id=device_id)
    second.store.create("sample", sample_data(11))
    with pytest.raises(SyncStateError, match="Use a new device id"):
        second.sync()
    assert second.store.pending_count() == 1 and second.store.last_mutation_id == 0


# --- 4. two devices, one record, at the same time -------------------------------------------


def _in_parallel(*actions: Callable[[], Any]) -> list[Any]:
    """Run the actions in threads released together by a barrier; re-raise any failure."""
    barrier = threading.Barrier(len(actions))
    out: list[Any] = [None] * len(actions)
    errors: list[BaseException] = []

    def run(i: int, action: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            out[i] = action()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    return out


def conflicts_of(lab: Lab, token: str | None = None, **params: Any) -> list[dict[str, Any]]:
    response = lab.api.get(
        "/sync/conflicts", token=token or lab.tech.token, params={"limit": 100, **params}
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def conflict_audit(lab: Lab, conflict_id: str) -> list[dict[str, Any]]:
    response = lab.api.get(
        "/audit-logs",
        token=lab.admin_token,
        params={"entity_type": "conflict", "entity_id": conflict_id, "limit": 100},
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def in_thread(lab: Lab, path: Path, person: Person) -> Callable[[], Any]:
    """A sync of the device stored at `path`, from a thread (sqlite3 objects stay in one)."""

    def run() -> Any:
        store = LocalStore(path)
        try:
            return lab.client(person, store=store).sync()
        finally:
            store.close()

    return run


def test_two_devices_editing_one_record_at_once_converge_and_keep_the_loser(
    lab: Lab, tmp_path: Path
) -> None:
    phone_store = LocalStore(tmp_path / "phone.db", "phone-" + uuid.uuid4().hex[:8])
    tablet_store = LocalStore(tmp_path / "tablet.db", "tablet-" + uuid.uuid4().hex[:8])
    lab.stores += [phone_store, tablet_store]
    phone = lab.client(store=phone_store)
    tablet = lab.client(lab.tech2, store=tablet_store)
    r0, r1, r2 = (phone.store.create("sample", sample_data(n)) for n in range(3))
    phone.sync()
    tablet.sync()
    assert tablet.store.get("sample", r0)["version"] == 1  # type: ignore[index]

    # Offline edits from the same base version; the later edit of a field must win,
    # whichever device reaches the server first.
    phone.store.update("sample", r0, {"notes": "phone says clear"})
    time.sleep(0.01)
    tablet.store.update("sample", r0, {"notes": "tablet says cloudy"})  # later: wins r0
    tablet.store.update("sample", r1, {"notes": "tablet says dry"})
    time.sleep(0.01)
    phone.store.update("sample", r1, {"notes": "phone says flooded"})  # later: wins r1
    phone.store.update("sample", r2, {"location": "Well 2, north shaft"})  # disjoint fields:
    tablet.store.update("sample", r2, {"collector_name": "Amina Benali"})  # both are kept

    phone_sync, tablet_sync = _in_parallel(
        in_thread(lab, tmp_path / "phone.db", lab.tech),
        in_thread(lab, tmp_path / "tablet.db", lab.tech2),
    )
    assert phone_sync.rejected == tablet_sync.rejected == 0
    assert phone_sync.conflicts + tablet_sync.conflicts == 3  # one per record, on the later

    server = {
        r[0]: r[1:]
        for r in lab.sql(
            "SELECT id::text, notes, location, collector_name, version FROM samples "
            "WHERE lab_id = :lab",
            lab=lab.id,
        )
    }
    assert server[r0][0] == "tablet says cloudy"
    assert server[r1][0] == "phone says flooded"
    assert server[r2][1:3] == ("Well 2, north shaft", "Amina Benali")

    # The loser is kept whole: in /sync/conflicts and in the audit log.
    found = {c["record_id"]: c for c in conflicts_of(lab)}
    assert set(found) == {r0, r1, r2}
    losers = {r0: "phone says clear", r1: "tablet says dry"}
    for record_id, lost in losers.items():
        c = found[record_id]
        assert c["resolution"] in ("server_won", "client_won") and not c["resolved"]
        kept = {(c["client_data"].get("data") or {}).get("notes"), c["server_data"]["notes"]}
        assert lost in kept, c
        (entry,) = conflict_audit(lab, c["id"])
        assert entry["action"] == "create" and entry["lab_id"] == lab.id
        assert entry["device_id"] == c["device_id"]
        audited = entry["new_values"]
        assert audited["record_id"] == record_id and audited["resolution"] == c["resolution"]
        assert lost in {
            (audited["client_version"].get("data") or {}).get("notes"),
            audited["server_version"]["notes"],
        }
    assert found[r2]["resolution"] == "merged"
    assert conflict_audit(lab, found[r2]["id"])[0]["new_values"]["resolution"] == "merged"

    # After pulling, both devices hold the server's state, and the same one.
    phone.sync()
    tablet.sync()
    for device in (phone, tablet):
        assert device.store.get("sample", r0)["notes"] == "tablet says cloudy"  # type: ignore[index]
        assert device.store.get("sample", r1)["notes"] == "phone says flooded"  # type: ignore[index]
        merged = device.store.get("sample", r2)
        assert merged is not None
        assert (merged["location"], merged["collector_name"], merged["version"]) == (
            "Well 2, north shaft",
            "Amina Benali",
            server[r2][3],
        )
    assert phone.content_hash("sample") == tablet.content_hash("sample")
    assert phone.content_hash("sample") == server_hash(lab, "sample")


# --- 5. late commits, then a randomized stress -------------------------------------------------


def held_open_update(srv: SyncServer, table: str, record_id: str, notes: str) -> psycopg.Connection:
    """An UPDATE in a transaction left open: its change gets a txid older than later writes."""
    conn = psycopg.connect(srv.conninfo)
    conn.execute(
        f"UPDATE {table} SET notes = %s, version = version + 1 WHERE id = %s",
        (notes, record_id),
    )
    return conn


def test_a_change_that_commits_late_is_pulled_after_its_commit(lab: Lab) -> None:
    phone = lab.client()
    s0, s1 = (phone.store.create("sample", sample_data(n)) for n in range(2))
    phone.sync()
    reader = f"reader-{uuid.uuid4().hex[:8]}"
    first, cursor = lab.pull_all(reader)
    assert {c["id"] for c in first} == {s0, s1}

    late = held_open_update(lab.srv, "samples", s0, "late")
    try:
        # Later writes commit while the late one is still running, and the reader pulls.
        s2 = phone.store.create("sample", sample_data(2))
        phone.store.update("sample", s1, {"notes": "committed early"})
        phone.sync()
        assert lab.sql("SELECT notes FROM samples WHERE id = :id", id=s1)[0][0] == (
            "committed early"
        )
        meanwhile, held_cursor = lab.pull_all(reader, cursor)
        # Nothing from the late transaction, and nothing newer than it either: a change is
        # served only once every transaction older than it has finished, so the cursor can
        # never move past the late change.
        assert meanwhile == []
    finally:
        late.commit()
        late.close()

    after, _ = lab.pull_all(reader, held_cursor)
    got = latest(after)
    assert got[s0]["data"]["notes"] == "late" and got[s0]["version"] == 2
    assert got[s1]["data"]["notes"] == "committed early"
    assert set(got) == {s0, s1, s2}
    phone.sync()
    assert phone.store.get("sample", s0)["notes"] == "late"  # type: ignore[index]
    assert phone.content_hash("sample") == server_hash(lab, "sample")


STRESS_SECONDS_CAP = 25
API_ROUNDS = 100  # per writer device (3 of them), 1-4 mutations each
SQL_ROUNDS = 100  # per held-open SQL writer (3 of them)


def server_state(lab: Lab) -> dict[str, tuple[int, bool, str | None]]:
    """id → (version, deleted, notes) for every row of the lab, tombstones included."""
    state = {}
    for table in ("samples", "test_results"):
        for rid, version, deleted, notes in lab.sql(
            f"SELECT id::text, version, deleted_at IS NOT NULL, notes FROM {table} "
            "WHERE lab_id = :lab",
            lab=lab.id,
        ):
            state[rid] = (version, deleted, None if deleted else notes)
    return state


def received_state(changes: list[dict[str, Any]]) -> dict[str, tuple[int, bool, str | None]]:
    return {
        rid: (c["version"], c["op"] == "delete", None if c["data"] is None else c["data"]["notes"])
        for rid, c in latest(changes).items()
    }


def test_randomized_writers_and_pullers_never_lose_a_change(lab: Lab) -> None:
    seed_client = lab.client()
    samples = [seed_client.store.create("sample", sample_data(n)) for n in range(24)]
    results = [seed_client.store.create("result", result_data(s, n)) for n, s in enumerate(samples)]
    seed_client.sync()
    deadline = time.monotonic() + STRESS_SECONDS_CAP
    writers_done = threading.Event()
    errors: list[BaseException] = []
    rounds = {"api": 0, "sql": 0, "pull": 0}
    count_lock = threading.Lock()

    def counted(kind: str) -> None:
        with count_lock:
            rounds[kind] += 1

    def api_writer(seed: int) -> None:
        """A device pushing creates, edits (from a stale base) and deletes."""
        r = random.Random(seed)
        http = requests.Session()
        device, next_id = f"writer-{seed}-{uuid.uuid4().hex[:6]}", 1
        mine: list[str] = []
        for _ in range(API_ROUNDS):
            mutations = []
            for _ in range(r.randint(1, 4)):
                roll = r.random()
                if roll < 0.35 or not mine:
                    rid = str(uuid.uuid4())
                    mine.append(rid)
                    m = upsert(next_id, rid, sample_data(next_id, notes=f"{device} new"))
                elif roll < 0.85:
                    target = r.choice(samples + mine)
                    m = upsert(
                        next_id,
                        target,
                        {"notes": f"{device} #{next_id}"},
                        base=1,
                        changed=["notes"],
                    )
                else:
                    target = r.choice(samples + mine)
                    m = {
                        "mutation_id": next_id,
                        "entity": "sample",
                        "op": "delete",
                        "id": target,
                        "base_version": 1,
                        "modified_at": _iso(datetime.now(UTC)),
                    }
                mutations.append(m)
                next_id += 1
            response = http.post(
                lab.srv.base_url + SYNC,
                headers={"Authorization": f"Bearer {lab.tech.token}"},
                json={"device_id": device, "pull_limit": 0, "mutations": mutations},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            assert response.json()["last_mutation_id"] == next_id - 1
            counted("api")
            time.sleep(r.uniform(0, 0.01))

    def sql_writer(seed: int) -> None:
        """Transactions held open for a random while: they commit after younger ones."""
        r = random.Random(seed)
        with psycopg.connect(lab.srv.conninfo) as conn:
            for n in range(SQL_ROUNDS):
                table, rid = r.choice(
                    [("samples", r.choice(samples)), ("test_results", r.choice(results))]
                )
                conn.execute(
                    f"UPDATE {table} SET notes = %s, version = version + 1 WHERE id = %s",
                    (f"sql-{seed}-{n}", rid),
                )
                time.sleep(r.uniform(0, 0.04))
                conn.commit()
                counted("sql")

    def puller(seed: int, into: list[dict[str, Any]]) -> None:
        r = random.Random(seed)
        http = requests.Session()
        device, cursor = f"puller-{seed}-{uuid.uuid4().hex[:6]}", None
        while True:
            finishing = writers_done.is_set()
            response = http.post(
                lab.srv.base_url + SYNC,
                headers={"Authorization": f"Bearer {lab.tech2.token}"},
                json={"device_id": device, "cursor": cursor, "pull_limit": r.randint(1, 40)},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert not body["reset_required"]
            into.extend(body["changes"])
            cursor = body["cursor"]
            counted("pull")
            if finishing and not body["has_more"]:
                return  # pulled to the end after every writer had finished
            if time.monotonic() > deadline:
                raise AssertionError("the stress did not finish in time")

    def guarded(target: Callable[..., None], *args: Any) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    received: list[list[dict[str, Any]]] = [[] for _ in range(3)]
    pullers = [guarded(puller, 100 + i, received[i]) for i in range(3)]
    writers = [guarded(api_writer, 200 + i) for i in range(3)]
    writers += [guarded(sql_writer, 300 + i) for i in range(3)]
    for thread in writers:
        thread.join(timeout=STRESS_SECONDS_CAP)
    writers_done.set()
    for thread in pullers:
        thread.join(timeout=STRESS_SECONDS_CAP)
    assert not errors, errors
    assert rounds["api"] == 3 * API_ROUNDS and rounds["sql"] == 3 * SQL_ROUNDS, rounds
    assert rounds["pull"] >= 100, rounds

    truth = server_state(lab)
    union: dict[str, dict[str, Any]] = {}
    for changes in received:
        # Per record, versions only ever move forward within a puller's stream.
        seen: dict[str, int] = {}
        for change in changes:
            assert change["version"] >= seen.get(change["id"], 0), change
            seen[change["id"]] = change["version"]
        assert received_state(changes) == truth  # each puller, pulled to the end
        for rid, change in latest(changes).items():
            if rid not in union or change["version"] > union[rid]["version"]:
                union[rid] = change
    assert received_state(list(union.values())) == truth
    assert len(truth) > len(samples) + len(results)  # the writers created records too


# --- 6. delete versus edit, tombstones, reset -----------------------------------------------


def test_delete_versus_edit_in_both_orders_and_tombstones_and_reset(
    lab: Lab, sync_out_validator: jsonschema.protocols.Validator
) -> None:
    phone, tablet = lab.client(), lab.client(lab.tech2)
    r1, r2, r3, r4 = (phone.store.create("sample", sample_data(n)) for n in range(1, 5))
    phone.sync()
    tablet.sync()
    observer = f"observer-{uuid.uuid4().hex[:8]}"
    before, observer_cursor = lab.pull_all(observer)
    assert {c["id"] for c in before} == {r1, r2, r3, r4}

    def later() -> None:
        time.sleep(0.01)  # the next local edit gets a later modified_at

    phone.store.delete("sample", r1)
    later()
    tablet.store.update("sample", r1, {"notes": "tablet: still there"})  # later edit: revives
    phone.store.update("sample", r2, {"notes": "phone: edited"})
    later()
    tablet.store.delete("sample", r2)  # later delete: wins
    tablet.store.update("sample", r3, {"notes": "tablet: edited"})
    later()
    phone.store.delete("sample", r3)  # later delete: wins
    tablet.store.delete("sample", r4)
    later()
    phone.store.update("sample", r4, {"notes": "phone: edited later"})  # later edit: wins

    phone.sync()  # the phone's side of every pair arrives first
    tablet.sync()
    outcome = {c["record_id"]: c["resolution"] for c in conflicts_of(lab)}
    assert outcome == {r1: "client_won", r2: "client_won", r3: "server_won", r4: "server_won"}
    live = {
        rid: notes
        for rid, notes in lab.sql(
            "SELECT id::text, notes FROM samples WHERE lab_id = :lab AND deleted_at IS NULL",
            lab=lab.id,
        )
    }
    assert live == {r1: "tablet: still there", r4: "phone: edited later"}

    # Tombstones reach the devices as deletes; everyone ends with the server's state.
    phone.sync()
    tablet.sync()
    for device in (phone, tablet):
        assert device.store.get("sample", r2) is None and device.store.get("sample", r3) is None
        assert device.store.get("sample", r1)["notes"] == "tablet: still there"  # type: ignore[index]
    assert (
        phone.content_hash("sample") == tablet.content_hash("sample") == server_hash(lab, "sample")
    )
    body = lab.sync(observer, cursor=observer_cursor)
    sync_out_validator.validate(body)
    got = latest(body["changes"])
    assert {rid: c["op"] for rid, c in got.items()} == {
        r1: "upsert",
        r2: "delete",
        r3: "delete",
        r4: "upsert",
    }
    assert got[r2]["data"] is None and got[r1]["data"]["notes"] == "tablet: still there"
    fresh, _ = lab.pull_all(f"fresh-{uuid.uuid4().hex[:8]}")  # a new device gets tombstones too
    assert {c["id"]: c["op"] for c in fresh} == {rid: c["op"] for rid, c in got.items()}

    # A cursor older than the tombstone retention (90 days) must reset; so must another
    # lab's cursor. A younger one is served.
    now = datetime.now(UTC)
    stale = Cursor(ORIGIN, uuid.UUID(lab.id), now - timedelta(days=91)).encode()
    foreign = Cursor(ORIGIN, uuid.UUID(lab.stranger.lab_id), now).encode()
    for cursor in (stale, foreign):
        reset = lab.sync(observer, cursor=cursor)
        sync_out_validator.validate(reset)
        assert reset["reset_required"] is True and reset["changes"] == [] and reset["cursor"]
        assert Cursor.decode(reset["cursor"]).position == ORIGIN
        again, _ = lab.pull_all(observer, reset["cursor"])
        assert {c["id"]: c["op"] for c in again} == {c["id"]: c["op"] for c in fresh}
    young = Cursor(ORIGIN, uuid.UUID(lab.id), now - timedelta(days=89)).encode()
    assert lab.sync(observer, cursor=young)["reset_required"] is False

    # The reference client recovers from a reset on its own: it drops its synced copy and
    # pulls again to the same state.
    with tablet.store.transaction():
        tablet.store._set_meta("cursor", stale)  # as if the tablet had been offline 91 days
    summary = tablet.sync()
    assert summary.resets == 1
    assert tablet.content_hash("sample") == server_hash(lab, "sample")


# --- 7. clock skew ---------------------------------------------------------------------------


def test_a_device_a_year_ahead_does_not_win_forever(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    office, future = lab.client(), lab.client(lab.tech2)
    rid = office.store.create("sample", sample_data(1))
    office.sync()
    future.sync()

    a_year_ahead = (datetime.now(UTC) + timedelta(days=365)).isoformat().replace("+00:00", "Z")
    with monkeypatch.context() as patched:  # the device's clock runs a year ahead
        patched.setattr(store_module, "utc_now", lambda: a_year_ahead)
        future.store.update("sample", rid, {"notes": "from the future"})
    assert future.store.pending()[0].modified_at == a_year_ahead
    synced_at = datetime.now(UTC)
    future.sync()
    (stamp,) = lab.sql("SELECT sync_clock -> 'notes' ->> 't' FROM samples WHERE id = :id", id=rid)
    stored = datetime.fromisoformat(stamp[0])
    assert abs(stored - synced_at) < timedelta(minutes=1)  # clamped to the server's time

    # An edit made afterwards on another device, from the older base, wins.
    time.sleep(0.01)
    office.store.update("sample", rid, {"notes": "measured today"})
    summary = office.sync()
    assert summary.conflicts == 1
    (conflict,) = conflicts_of(lab)
    assert conflict["resolution"] == "client_won"
    assert conflict["server_data"]["notes"] == "from the future"  # the loser is kept
    assert lab.sql("SELECT notes FROM samples WHERE id = :id", id=rid)[0][0] == "measured today"

    # The clamp is to the time the edit reaches the server (the server cannot know better):
    # every edit made after that wins, as above; one made elsewhere between the skewed edit
    # and its arrival loses to it, like any edit made before the winning one.
    future.sync()
    assert future.store.get("sample", rid)["notes"] == "measured today"  # type: ignore[index]
    with monkeypatch.context() as patched:
        patched.setattr(store_module, "utc_now", lambda: a_year_ahead)
        future.store.update("sample", rid, {"notes": "future, again"})
    office.sync()
    time.sleep(0.01)
    office.store.update("sample", rid, {"notes": "measured before it arrived"})
    time.sleep(0.01)
    future.sync()  # arrives after the office's edit was made
    assert office.sync().conflicts == 1
    assert conflicts_of(lab)[0]["resolution"] == "server_won"
    assert lab.sql("SELECT notes FROM samples WHERE id = :id", id=rid)[0][0] == "future, again"
    time.sleep(0.01)
    office.store.update("sample", rid, {"notes": "measured after it arrived"})
    office.sync()
    future.sync()
    assert future.store.get("sample", rid)["notes"] == "measured after it arrived"  # type: ignore[index]
    assert future.content_hash("sample") == office.content_hash("sample")
    assert office.content_hash("sample") == server_hash(lab, "sample")


# --- 8. poison record, lab isolation, device ownership, status ------------------------------


def error_code(response: requests.Response) -> str:
    return str(response.json()["error"]["code"])


def test_a_poison_record_does_not_block_the_queue_and_labs_and_devices_stay_apart(
    lab: Lab, sync_out_validator: jsonschema.protocols.Validator
) -> None:
    collector = lab.client(batch_size=1000, pull_limit=1000)
    device_id = collector.store.device_id
    assert collector.status() is None  # unknown until its first sync (404)
    ids = []
    for n in range(1000):
        data = sample_data(n, type="lava") if n == 499 else sample_data(n)
        ids.append(collector.store.create("sample", data))
    summary = collector.sync()
    assert (summary.round_trips, summary.applied, summary.rejected) == (1, 999, 1)
    (rejection,) = collector.store.rejections()
    assert rejection["mutation_id"] == 500 and rejection["id"] == ids[499]
    assert rejection["error"]["code"] == "VALIDATION_ERROR"
    assert set(rejection["error"]["field_errors"]) == {"type"}
    assert collector.store.get("sample", ids[499]) is None  # the refused create is undone
    assert lab.live_count("samples") == 999
    status = collector.status()
    assert status is not None
    assert (status["last_mutation_id"], status["status"]) == (1000, "partial")
    assert "mutation 500" in status["last_error"]

    # The next batch is not blocked.
    more = [collector.store.create("sample", sample_data(n)) for n in range(1000, 1005)]
    assert collector.sync().applied == 5
    status = collector.status()
    assert status is not None
    assert (status["last_mutation_id"], status["status"], status["last_error"]) == (
        1005,
        "ok",
        None,
    )
    assert lab.live_count("samples") == 1004

    # Another lab's records are never pulled, in either direction.
    outsider = lab.client(lab.stranger)
    theirs = outsider.store.create("sample", sample_data(7, notes="other lab"))
    outsider.sync()
    assert [r["id"] for r in outsider.store.all("sample")] == [theirs]
    ours, _ = lab.pull_all(f"check-{uuid.uuid4().hex[:8]}")
    assert theirs not in {c["id"] for c in ours} and len(latest(ours)) == 1004
    assert {c["data"]["lab_id"] for c in ours} == {lab.id}
    assert set(more) <= {c["id"] for c in ours}

    # A device id belongs to the user who first synced it.
    stolen = lab.api.post(
        SYNC, token=lab.tech2.token, json={"device_id": device_id, "mutations": []}
    )
    error_of(stolen, 403, "FORBIDDEN")
    thief = lab.client(lab.stranger, device_id=device_id)
    thief.store.create("sample", sample_data(8))
    with pytest.raises(ForbiddenError):
        thief.sync()
    peek = lab.api.get("/sync/status", token=lab.tech2.token, params={"device_id": device_id})
    assert peek.status_code == 403, peek.text
    admin_view = lab.api.get("/sync/status", token=lab.admin_token, params={"device_id": device_id})
    assert admin_view.status_code == 200 and admin_view.json()["user_id"] == lab.tech.id
    assert lab.live_count("samples") == 1004

    # The answer's shape is the documented SyncOut, rejected mutation and all.
    body = lab.sync(device_id, [upsert(1006, str(uuid.uuid4()), {"type": "lava"})], pull_limit=3)
    sync_out_validator.validate(body)
    with pytest.raises(jsonschema.ValidationError):  # the schema does constrain
        sync_out_validator.validate({**body, "results": [{"status": "lost"}]})
    (result,) = body["results"]
    assert result["status"] == "rejected" and result["error"]["field_errors"]
    assert body["has_more"] is True and len(body["changes"]) == 3
