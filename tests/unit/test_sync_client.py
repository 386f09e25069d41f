"""The reference sync client against a tiny in-process model of the server's protocol.

`FakeServer` implements the `Transport` protocol: login, `POST /sync` (exactly-once by
mutation id, stop at a gap, per-mutation validation, conflicts merged or last-write-wins,
pull by cursor with tombstones, reset_required) and `GET /sync/status`, plus injectable
faults (drop before/after commit, 503, 401). No PostgreSQL, no sockets, no sleeping.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

import pytest

from entrypoints.cli.main import build_parser
from entrypoints.sync_client import (
    AuthenticationError,
    ForbiddenError,
    LocalStore,
    Response,
    RetriesExhausted,
    SyncClient,
    SyncGapError,
    SyncStateError,
    TransportError,
    content_hash,
    demo,
)

REQUIRED = {
    "sample": ("type", "location", "collection_date", "collector_name"),
    "result": ("sample_id", "parameter", "value", "unit", "test_date"),
}
USERS = {"ana@lab.ma": ("Passw0rdX", "ana"), "bob@lab.ma": ("Passw0rdX", "bob")}


class FakeServer:
    """One lab's records, versions, a change log and per-device mutation counters."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.seq = 0  # change-log position; the cursor is its string form
        self.devices: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}
        self.faults: list[str] = []  # consumed one per POST /sync
        self.sync_bodies: list[dict[str, Any]] = []
        self.logins = 0

    # -- Transport -------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Any | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        payload: Any = copy.deepcopy(body)  # as if it went over the wire
        url = urllib.parse.urlsplit(path)
        if (method, url.path) == ("POST", "/api/v1/auth/login"):
            return self._login(payload)
        user = self.tokens.get((headers or {}).get("Authorization", "").removeprefix("Bearer "))
        if user is None:
            return _error(401, "UNAUTHORIZED")
        if (method, url.path) == ("GET", "/api/v1/sync/status"):
            device = self.devices.get(urllib.parse.parse_qs(url.query)["device_id"][0])
            if device is None:
                return _error(404, "NOT_FOUND")
            if device["owner"] != user:
                return _error(403, "FORBIDDEN")
            return Response(200, {}, {k: device[k] for k in ("last_mutation_id", "status")})
        assert (method, url.path) == ("POST", "/api/v1/sync"), path
        fault = self.faults.pop(0) if self.faults else None
        if fault == "drop":
            raise TransportError("connection reset before the request arrived")
        if fault == "503":
            return Response(503, {}, {"error": {"code": "SERVICE_UNAVAILABLE"}})
        if fault == "401":
            self.tokens.clear()
            return _error(401, "UNAUTHORIZED")
        self.sync_bodies.append(payload)
        answer = self._sync(user, payload, reset=fault == "reset")
        if isinstance(answer, Response):
            return answer
        if fault == "drop_after_commit":
            raise TransportError("connection reset while reading the response")
        return Response(200, {}, copy.deepcopy(answer))

    def _login(self, body: dict[str, Any]) -> Response:
        password, user = USERS.get(body["email"], (None, None))
        if user is None or password != body["password"]:
            return _error(401, "INVALID_CREDENTIALS")
        self.logins += 1
        token = f"tok-{user}-{self.logins}"
        self.tokens[token] = user
        return Response(
            200, {}, {"user": {"email": body["email"]}, "tokens": {"access_token": token}}
        )

    # -- the protocol ----------------------------------------------------------------
    def _sync(self, user: str, body: dict[str, Any], reset: bool) -> dict[str, Any] | Response:
        assert len(body["mutations"]) <= 1000 and body["pull_limit"] <= 1000
        device = self.devices.setdefault(
            body["device_id"], {"owner": user, "last_mutation_id": 0, "status": "ok"}
        )
        if device["owner"] != user:
            return _error(403, "FORBIDDEN")
        results: list[dict[str, Any]] = []
        conflicts: list[dict[str, Any]] = []
        for mutation in body["mutations"]:
            mid = mutation["mutation_id"]
            key = (mutation["entity"], mutation["id"])
            if mid <= device["last_mutation_id"]:
                record = self.records.get(key)
                version = record["version"] if record else None
                results.append(_result(mutation, "duplicate", version))
                continue
            if mid > device["last_mutation_id"] + 1:
                break  # a gap: stop here
            results.append(self._apply(mutation, conflicts))
            device["last_mutation_id"] = mid
        cursor = int(body["cursor"] or 0)
        if reset and body["cursor"] is not None:
            changes, has_more, new_cursor = [], False, "0"
        else:
            log = sorted((r for r in self.records.values() if r["seq"] > cursor), key=_seq)
            page = log[: body["pull_limit"]]
            changes = [self._change(record) for record in page]
            has_more = len(log) > len(page)
            new_cursor = str(page[-1]["seq"] if page else max(cursor, 0))
        return {
            "last_mutation_id": device["last_mutation_id"],
            "results": results,
            "conflicts": conflicts,
            "changes": changes,
            "cursor": new_cursor,
            "has_more": has_more,
            "reset_required": reset and body["cursor"] is not None,
        }

    def _apply(self, m: dict[str, Any], conflicts: list[dict[str, Any]]) -> dict[str, Any]:
        key = (m["entity"], m["id"])
        record = self.records.get(key)
        data = m.get("data") or {}
        errors = self._validate(m, record)
        if errors:
            return _result(
                m, "rejected", None, {"code": "VALIDATION_ERROR", "field_errors": errors}
            )
        if record is None:
            self._write(key, m, dict(data), deleted=m["op"] == "delete")
            return _result(m, "applied", self.records[key]["version"])
        if m["base_version"] == record["version"]:
            merged = {**record["data"], **data}
            self._write(key, m, merged, deleted=m["op"] == "delete")
            return _result(m, "applied", self.records[key]["version"])
        # A conflict: merge disjoint field edits, otherwise the later modified_at wins.
        client_fields = set(m.get("changed_fields") or data) if m["op"] == "upsert" else {"*"}
        server_fields = {
            f for f, v in record["field_versions"].items() if v > (m["base_version"] or 0)
        }
        server_data = {**self._full(record), "deleted": record["deleted"]}  # as the server does
        client_data = dict(data) if m["op"] == "upsert" else None
        if m["op"] == "upsert" and not record["deleted"] and not client_fields & server_fields:
            resolution = "merged"
        elif m["modified_at"] > record["modified_at"]:
            resolution = "client_won"
        else:
            resolution = "server_won"
        if resolution != "server_won":
            self._write(key, m, {**record["data"], **data}, deleted=m["op"] == "delete")
        conflict_id = f"c{len(conflicts) + 1}-{m['mutation_id']}"
        version = self.records[key]["version"]
        conflicts.append(
            {
                "conflict_id": conflict_id,
                "entity": m["entity"],
                "id": m["id"],
                "resolution": resolution,
                "version": version,
                "server_data": server_data,
                "client_data": client_data,
            }
        )
        return {**_result(m, "conflict", version), "conflict_id": conflict_id}

    def _validate(self, m: dict[str, Any], record: dict[str, Any] | None) -> dict[str, list[str]]:
        data = m.get("data") or {}
        errors: dict[str, list[str]] = {}
        if m["op"] == "upsert" and record is None:
            for name in REQUIRED[m["entity"]]:
                if data.get(name) in (None, ""):
                    errors[name] = ["required"]
        if "value" in data and not isinstance(data["value"], int | float):
            errors["value"] = ["must be a number"]
        if m["op"] == "delete" and record is None:
            errors["id"] = ["not found"]
        return errors

    def _write(
        self, key: tuple[str, str], m: dict[str, Any], data: dict[str, Any], deleted: bool
    ) -> None:
        old = self.records.get(key)
        version = (old["version"] if old else 0) + 1
        self.seq += 1
        fields = dict(old["field_versions"]) if old else {}
        changed = (m.get("changed_fields") or list(m.get("data") or {})) if not deleted else []
        fields.update(dict.fromkeys(changed, version))
        self.records[key] = {
            "entity": key[0],
            "id": key[1],
            "version": version,
            "deleted": deleted,
            "data": data,
            "seq": self.seq,
            "modified_at": m["modified_at"],
            "field_versions": fields,
        }

    def _full(self, record: dict[str, Any]) -> dict[str, Any]:
        return {
            **record["data"],
            "id": record["id"],
            "version": record["version"],
            "lab_id": "lab-1",
            "compliance_status": "pending",
            "created_at": "2025-01-18T10:30:00.000123Z",
        }

    def _change(self, record: dict[str, Any]) -> dict[str, Any]:
        deleted = record["deleted"]
        return {
            "entity": record["entity"],
            "op": "delete" if deleted else "upsert",
            "id": record["id"],
            "version": record["version"],
            "data": None if deleted else self._full(record),
        }

    # -- test helpers ----------------------------------------------------------------
    def live(self, entity: str) -> list[dict[str, Any]]:
        return [
            self._full(r)
            for r in self.records.values()
            if r["entity"] == entity and not r["deleted"]
        ]

    def hash(self, entity: str) -> str:
        return content_hash(entity, self.live(entity))

    def edit(self, entity: str, record_id: str, **changes: Any) -> None:
        """A change made on the server by someone else (e.g. the REST API)."""
        m = {"data": changes, "modified_at": "2999-01-01T00:00:00.000Z"}
        record = self.records[(entity, record_id)]
        self._write((entity, record_id), m, {**record["data"], **changes}, deleted=False)


def _seq(record: dict[str, Any]) -> int:
    return int(record["seq"])


def _result(
    m: dict[str, Any], status: str, version: int | None, error: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "mutation_id": m["mutation_id"],
        "status": status,
        "entity": m["entity"],
        "id": m["id"],
        "version": version,
        "error": error,
        "conflict_id": None,
    }


def _error(status: int, code: str) -> Response:
    return Response(
        status, {}, {"error": {"code": code, "message": code.lower(), "field_errors": {}}}
    )


def sample(location: str = "Well 3", **extra: Any) -> dict[str, Any]:
    return {
        "type": "ground",
        "location": location,
        "collection_date": "2025-01-18",
        "collector_name": "Ana",
        **extra,
    }


def result(sample_id: str, value: Any = 12.5) -> dict[str, Any]:
    return {
        "sample_id": sample_id,
        "parameter": "nitrate",
        "value": value,
        "unit": "mg/L",
        "test_date": "2025-01-19T08:00:00Z",
    }


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


Sleeps = list[float]


def device(
    server: FakeServer, name: str = "tablet-7", who: str = "ana@lab.ma", **options: Any
) -> tuple[LocalStore, SyncClient, Sleeps]:
    store = LocalStore(":memory:", device_id=name)
    sleeps: Sleeps = []
    client = SyncClient(
        "http://aqualab.test",
        store,
        credentials=(who, "Passw0rdX"),
        transport=server,
        sleep=sleeps.append,
        **options,
    )
    return store, client, sleeps


# -- local store -------------------------------------------------------------------------


def test_local_edits_apply_at_once_and_queue_numbered_mutations() -> None:
    store = LocalStore(":memory:", device_id="tablet-7")
    sid = store.create("sample", sample())
    store.update("sample", sid, {"notes": "cloudy"})
    rid = store.create("result", result(sid), id="5b0c6f57-0000-4000-8000-000000000001")
    store.delete("result", rid)

    assert store.get("sample", sid) == {**sample(), "notes": "cloudy", "id": sid, "version": None}
    assert store.get("result", rid) is None and [r["id"] for r in store.all("sample")] == [sid]
    pending = store.pending()
    assert [m.mutation_id for m in pending] == [1, 2, 3, 4]
    assert [(m.op, m.base_version, m.depends_on) for m in pending] == [
        ("upsert", None, None),
        ("upsert", None, 1),  # waits for mutation 1's version
        ("upsert", None, None),
        ("delete", None, 3),
    ]
    wire = pending[1].to_wire()
    assert wire["data"] == {"notes": "cloudy"} and wire["changed_fields"] == ["notes"]
    assert "data" not in pending[3].to_wire() and pending[0].modified_at.endswith("Z")
    assert [len(store.next_batch(10)), len(store.next_batch(1))] == [1, 1]
    with pytest.raises(KeyError):
        store.update("result", rid, {"notes": "x"})
    with pytest.raises(ValueError, match="writable"):
        store.create("sample", {"compliance_status": "pass"})


def test_store_file_keeps_device_numbering_and_cursor(tmp_path: Any, server: FakeServer) -> None:
    path = tmp_path / "sub" / "device.sqlite3"
    store = LocalStore(path)
    device_id = store.device_id
    assert device_id.startswith("device-")
    store.create("sample", sample())
    SyncClient("http://x", store, credentials=("ana@lab.ma", "Passw0rdX"), transport=server).sync()
    store.create("sample", sample("Well 4"))
    store.close()

    again = LocalStore(path)
    assert again.device_id == device_id and again.cursor == "1" and again.last_mutation_id == 1
    assert [m.mutation_id for m in again.pending()] == [2]
    with pytest.raises(ValueError, match="belongs to device"):
        LocalStore(path, device_id="someone-else")


# -- pushing -----------------------------------------------------------------------------


def test_sync_pushes_the_outbox_in_batches_and_acknowledges_it(server: FakeServer) -> None:
    store, client, _ = device(server, batch_size=10)
    ids = [store.create("sample", sample(f"Site {i}")) for i in range(25)]

    summary = client.sync()

    assert [len(b["mutations"]) for b in server.sync_bodies] == [10, 10, 5]
    assert [b["mutations"][0]["mutation_id"] for b in server.sync_bodies] == [1, 11, 21]
    assert server.sync_bodies[0]["cursor"] is None and server.sync_bodies[1]["cursor"] == "10"
    assert (summary.pushed, summary.applied, summary.round_trips, summary.pulled) == (25, 25, 3, 25)
    assert store.pending_count() == 0 and store.last_mutation_id == 25
    assert all(store.get("sample", i)["version"] == 1 for i in ids)  # type: ignore[index]
    # the pulled copies carry the server's fields; the hash ignores them
    assert store.get("sample", ids[0])["lab_id"] == "lab-1"  # type: ignore[index]
    assert store.content_hash("sample") == server.hash("sample")
    assert client.status() == {"last_mutation_id": 25, "status": "ok"}


def test_a_response_lost_after_commit_is_resent_and_answered_duplicate(server: FakeServer) -> None:
    store, client, sleeps = device(server, batch_size=3)
    for i in range(5):
        store.create("sample", sample(f"Site {i}"))
    server.faults = ["drop_after_commit"]  # the server commits 1..3, the answer is lost

    summary = client.sync()

    first, resent = server.sync_bodies[0], server.sync_bodies[1]
    assert resent == first  # the very same request
    assert (summary.pushed, summary.applied, summary.duplicates) == (5, 2, 3)
    assert (summary.retries, sleeps) == (1, [0.5])
    assert len(server.live("sample")) == 5 and all(
        r["version"] == 1 for r in server.records.values()
    )
    assert store.content_hash("sample") == server.hash("sample")


def test_transient_failures_back_off_then_give_up_without_losing_anything(
    server: FakeServer,
) -> None:
    store, client, sleeps = device(server, retries=3, backoff=1.0, max_backoff=3.0)
    store.create("sample", sample())
    server.faults = ["503", "drop", "503", "503"]

    with pytest.raises(RetriesExhausted, match="4 attempts"):
        client.sync()
    assert sleeps == [1.0, 2.0, 3.0] and server.records == {}
    assert store.pending_count() == 1

    server.faults = ["drop", "503"]
    assert client.sync().applied == 1 and store.pending_count() == 0


def test_a_gap_on_the_server_raises_instead_of_spinning(server: FakeServer) -> None:
    store, client, _ = device(server)
    store.create("sample", sample())
    client.sync()
    server.devices["tablet-7"]["last_mutation_id"] = 0  # e.g. restored from an old backup
    store.create("sample", sample("Well 4"))  # mutation 2: the server expects 1

    with pytest.raises(SyncGapError, match="next unsent mutation is 2"):
        client.sync()
    assert [m.mutation_id for m in store.pending()] == [2]


def test_a_server_ahead_of_the_device_numbering_is_refused(server: FakeServer) -> None:
    store, client, _ = device(server)
    server.devices["tablet-7"] = {"owner": "ana", "last_mutation_id": 50, "status": "ok"}
    store.create("sample", sample())

    with pytest.raises(SyncStateError, match="up to 50"):
        client.sync()
    assert store.pending_count() == 1 and store.last_mutation_id == 0  # nothing acknowledged


def test_partial_progress_continues_with_the_rest(server: FakeServer) -> None:
    store, client, _ = device(server, batch_size=4)
    for i in range(4):
        store.create("sample", sample(f"Site {i}"))
    original = server._sync

    def stop_after_two(user: str, body: dict[str, Any], reset: bool) -> Any:
        if len(server.sync_bodies) == 1:  # the server processes only 2 of the first batch
            body = {**body, "mutations": body["mutations"][:2]}
        return original(user, body, reset)

    server._sync = stop_after_two  # type: ignore[method-assign]
    summary = client.sync()
    assert [[m["mutation_id"] for m in b["mutations"]] for b in server.sync_bodies] == [
        [1, 2, 3, 4],
        [3, 4],
    ]
    assert summary.applied == 4 and store.pending_count() == 0


def test_rejected_mutations_are_kept_do_not_block_and_are_undone(server: FakeServer) -> None:
    store, client, _ = device(server)
    sid = store.create("sample", sample())
    bad = store.create("result", result(sid, value="lots"))
    good = store.create("result", result(sid, value=3.0))

    summary = client.sync()

    assert (summary.applied, summary.rejected, store.pending_count()) == (2, 1, 0)
    [rejection] = store.rejections()
    assert rejection["id"] == bad and rejection["error"]["field_errors"] == {
        "value": ["must be a number"]
    }
    assert store.get("result", bad) is None and store.get("result", good) is not None
    # a rejected update falls back to the server's copy
    store.update("result", good, {"value": "oops"})
    client.sync()
    assert store.get("result", good)["value"] == 3.0  # type: ignore[index]
    assert store.content_hash("result") == server.hash("result")


def test_an_edit_of_an_unacknowledged_edit_waits_for_its_base_version(server: FakeServer) -> None:
    store, client, _ = device(server)
    sid = store.create("sample", sample())
    store.update("sample", sid, {"notes": "first"})
    store.update("sample", sid, {"location": "Well 3b"})

    summary = client.sync()

    sent = [
        [(m["mutation_id"], m["base_version"]) for m in b["mutations"]] for b in server.sync_bodies
    ]
    assert sent == [[(1, None)], [(2, 1)], [(3, 2)]]
    assert (summary.applied, summary.conflicts) == (3, 0)
    assert store.get("sample", sid)["version"] == 3  # type: ignore[index]
    assert store.content_hash("sample") == server.hash("sample")


# -- pulling -----------------------------------------------------------------------------


def test_pull_applies_upserts_and_tombstones_page_by_page(server: FakeServer) -> None:
    tablet, tablet_client, _ = device(server, "tablet-7")
    ids = [tablet.create("sample", sample(f"Site {i}")) for i in range(4)]
    rid = tablet.create("result", result(ids[0]))
    tablet_client.sync()
    tablet.update("sample", ids[1], {"notes": "re-sampled"})
    tablet.delete("result", rid)
    tablet_client.sync()

    phone, phone_client, _ = device(server, "phone-2", pull_limit=2)
    summary = phone_client.sync()

    # the newest state of each of the 5 records, one tombstone among them, 2 per page
    assert (summary.round_trips, summary.pulled) == (3, 5)
    assert [b["cursor"] for b in server.sync_bodies[-3:]] == [None, "3", "6"]
    assert phone.get("result", rid) is None
    assert phone.get("sample", ids[1])["notes"] == "re-sampled"  # type: ignore[index]
    for entity in ("sample", "result"):
        assert phone.content_hash(entity) == tablet.content_hash(entity) == server.hash(entity)


def test_pulled_changes_do_not_overwrite_unsent_local_edits(server: FakeServer) -> None:
    store, client, _ = device(server)
    sid = store.create("sample", sample())
    client.sync()
    server.edit("sample", sid, notes="from the lab")  # version 2, on the server
    store.update("sample", sid, {"location": "Well 3, north side"})  # unsent, base 1

    # A pull-only answer (as if the outbox had been sent in a later batch).
    store.apply_response(
        {
            "last_mutation_id": 1,
            "results": [],
            "changes": [server._change(server.records[("sample", sid)])],
            "cursor": "2",
            "has_more": False,
        }
    )
    local = store.get("sample", sid)
    assert local is not None and local["location"] == "Well 3, north side"
    assert local.get("notes") is None and local["version"] == 1

    summary = client.sync()  # disjoint fields: the server merges both edits
    assert summary.conflicts == 1 and store.conflicts()[0]["resolution"] == "merged"
    final = store.get("sample", sid)
    assert final is not None and (final["location"], final["notes"], final["version"]) == (
        "Well 3, north side",
        "from the lab",
        3,
    )
    assert store.content_hash("sample") == server.hash("sample")


def test_a_lost_conflict_takes_the_servers_record(server: FakeServer) -> None:
    tablet, tablet_client, _ = device(server, "tablet-7")
    sid = tablet.create("sample", sample())
    tablet_client.sync()
    phone, phone_client, _ = device(server, "phone-2")
    phone_client.sync()
    tablet.update("sample", sid, {"notes": "tablet"})  # earlier modified_at
    phone.update("sample", sid, {"notes": "phone"})
    phone_client.sync()

    summary = tablet_client.sync()

    assert summary.conflicts == 1
    [conflict] = tablet.conflicts()
    assert conflict["resolution"] == "server_won" and conflict["client_data"] == {"notes": "tablet"}
    assert tablet.get("sample", sid)["notes"] == "phone"  # type: ignore[index]
    assert tablet.content_hash("sample") == phone.content_hash("sample") == server.hash("sample")


def test_an_update_that_loses_to_a_delete_removes_the_record(server: FakeServer) -> None:
    tablet, tablet_client, _ = device(server, "tablet-7")
    sid = tablet.create("sample", sample())
    tablet_client.sync()
    phone, phone_client, _ = device(server, "phone-2")
    phone_client.sync()
    tablet.update("sample", sid, {"notes": "tablet"})
    phone.delete("sample", sid)
    phone_client.sync()

    assert tablet_client.sync().conflicts == 1
    assert tablet.conflicts()[0]["server_data"]["deleted"] is True
    assert tablet.get("sample", sid) is None and tablet.all("sample") == []
    assert tablet.content_hash("sample") == server.hash("sample")


def test_reset_required_discards_synced_records_but_keeps_unsent_edits(server: FakeServer) -> None:
    store, client, _ = device(server)
    kept = store.create("sample", sample("Kept"))
    gone = store.create("sample", sample("Gone on the server"))
    client.sync()
    del server.records[("sample", gone)]  # purged together with its tombstone
    store.update("sample", kept, {"notes": "unsent"})
    server.faults = ["reset"]

    summary = client.sync()

    assert summary.resets == 1 and server.sync_bodies[-1]["cursor"] is None
    assert store.get("sample", gone) is None
    assert store.get("sample", kept)["notes"] == "unsent"  # type: ignore[index]
    assert store.content_hash("sample") == server.hash("sample")


# -- authentication ----------------------------------------------------------------------


def test_logs_in_again_after_a_401_and_reports_a_forbidden_device(server: FakeServer) -> None:
    store, client, _ = device(server)
    store.create("sample", sample())
    server.faults = ["401"]
    assert client.sync().applied == 1 and server.logins == 2

    _, bob, _ = device(server, "tablet-7", who="bob@lab.ma")
    with pytest.raises(ForbiddenError, match="403 FORBIDDEN"):
        bob.sync()
    with pytest.raises(ForbiddenError):
        bob.status()

    token_only = SyncClient("http://x", LocalStore(), token="expired", transport=server)
    with pytest.raises(AuthenticationError):
        token_only.sync()
    wrong = SyncClient(
        "http://x", LocalStore(), credentials=("ana@lab.ma", "nope"), transport=server
    )
    with pytest.raises(AuthenticationError, match="INVALID_CREDENTIALS"):
        wrong.sync()


def test_status_of_an_unknown_device_is_none(server: FakeServer) -> None:
    _, client, _ = device(server)
    assert client.status() is None


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        SyncClient("http://x", LocalStore(), token="t", batch_size=1001)
    with pytest.raises(ValueError, match="pull_limit"):
        SyncClient("http://x", LocalStore(), token="t", pull_limit=0)
    with pytest.raises(ValueError, match="token or credentials"):
        SyncClient("http://x", LocalStore())


# -- content hash ------------------------------------------------------------------------


def test_content_hash_covers_writable_fields_and_normalises_numbers_and_dates() -> None:
    base = {"id": "a", "version": 2, **sample(), "latitude": 34, "notes": None}
    same = {
        **base,
        "latitude": 34.0,
        "collection_date": "2025-01-18T00:00:00+00:00",
        "lab_id": "lab-1",
        "compliance_status": "fail",
        "updated_at": "whenever",
    }
    del same["notes"]
    tombstone = {"id": "b", "version": 1, "deleted": True}
    assert content_hash("sample", [base]) == content_hash("sample", [tombstone, same])
    assert content_hash("sample", [base]) != content_hash("sample", [{**base, "version": 3}])
    assert content_hash("sample", [base]) != content_hash("sample", [{**base, "notes": "x"}])
    assert content_hash("sample", []) == content_hash("result", [])


# -- the demo command --------------------------------------------------------------------


def test_sync_demo_creates_samples_offline_and_syncs_them(
    server: FakeServer, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.sqlite3"
    argv = ["sync-demo", "--email", "ana@lab.ma", "--password", "Passw0rdX", "--db", str(db)]
    args = build_parser().parse_args([*argv, "--samples", "4", "--batch-size", "5", "--seed", "1"])
    assert args.func is demo.run and args.server == "http://127.0.0.1:8000"
    out = io.StringIO()

    assert demo.run(args, transport=server, out=out) == 0

    report = json.loads(out.getvalue())
    assert report["summary"]["applied"] == 16 and report["summary"]["round_trips"] == 4
    assert report["local"] == {"samples": 4, "results": 12, "rejections": 0, "conflicts": 0}
    assert report["content_hash"]["result"] == server.hash("result")
    assert report["server_status"]["last_mutation_id"] == 16
    results = server.live("result")
    assert {r["unit"] for r in results} <= {p[1] for p in demo.PARAMETERS}
    assert all(isinstance(r["value"], float) for r in results)
    assert "round trip 4" in capsys.readouterr().err

    again = build_parser().parse_args([*argv, "--samples", "1"])
    assert demo.run(again, transport=server, out=io.StringIO()) == 0
    assert len(server.live("sample")) == 5  # same device, numbering continued
    assert set(server.devices) == {report["device_id"]}


def test_sync_demo_needs_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(email=None, password=None, samples=1)
    assert demo.run(args) == 2
    assert "--email and --password" in capsys.readouterr().err
