"""The sync engine through its use cases, on both storages (SPEC section 6).

Exactly-once push (duplicates, gaps, device ownership), per-mutation outcomes, the
conflict rules (merge, last-write-wins, clock skew, update vs delete, manual
resolution), and the pull (lab scoping, tombstones, cursors, reset).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from application.context import Caller, Principal, RequestMeta
from application.sync import (
    Cursor,
    Mutation,
    RawJson,
    ResolveConflictCommand,
    SyncCommand,
    SyncResult,
)
from domain.audit import AuditAction, AuditEntityType
from domain.errors import Forbidden, NotFound, ValidationFailed
from domain.model import Lab, User
from domain.paging import PageRequest
from domain.roles import Role
from domain.sync import ORIGIN, ManualResolution
from entrypoints.container import Container
from tests.factories import LabFactory, UserFactory

NOW = datetime.now(UTC)


@dataclass
class Device:
    """A minimal client: numbers its mutations and keeps its cursor."""

    container: Container
    user: User
    device_id: str
    next_id: int = 1
    cursor: str | None = None
    # What the device holds: (entity, id) → data, None for a deleted record.
    state: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)

    @property
    def caller(self) -> Caller:
        return Caller(
            Principal(user_id=self.user.id, role=self.user.role, lab_id=self.user.lab_id),
            RequestMeta(request_id=f"req-{self.device_id}"),
        )

    def mutation(self, entity: str, op: str, record_id: UUID, **fields: Any) -> Mutation:
        m = Mutation(mutation_id=self.next_id, entity=entity, op=op, id=str(record_id), **fields)
        self.next_id += 1
        return m

    def sample(
        self, record_id: UUID, data: dict[str, Any], *, base: int | None = None, **kw: Any
    ) -> Mutation:
        return self.mutation("sample", "upsert", record_id, data=data, base_version=base, **kw)

    def sync(self, *mutations: Mutation, pull_limit: int = 1000) -> SyncResult:
        result = self.container.sync()(
            self.caller,
            SyncCommand(self.device_id, self.cursor, pull_limit, list(mutations)),
        )
        self.cursor = result.cursor
        if result.reset_required:
            self.state.clear()
        for change in result.changes:
            self.state[(change.entity, str(change.id))] = as_dict(change.data)
        return result

    def pull_all(self) -> dict[tuple[str, str], dict[str, Any] | None]:
        """Pull to the end; return everything the device holds."""
        while self.sync(pull_limit=7).has_more:
            pass
        return self.state


def as_dict(data: Any) -> dict[str, Any] | None:
    """A pulled record as a dict (the SQL storage hands it over as JSON text)."""
    return json.loads(data) if isinstance(data, RawJson) else data


def sample_data(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "drinking",
        "location": "Bouskoura well 3",
        "collection_date": "2025-01-10T08:00:00Z",
        "collector_name": "Youssef El Amrani",
        **overrides,
    }


def result_data(sample_id: UUID, **overrides: Any) -> dict[str, Any]:
    return {
        "sample_id": str(sample_id),
        "parameter": "nitrate",
        "value": 12.5,
        "unit": "mg/L",
        "test_date": "2025-01-11T09:00:00Z",
        **overrides,
    }


@dataclass
class SyncWorld:
    container: Container
    lab: Lab
    other_lab: Lab
    tech: User
    tech2: User
    viewer: User
    stranger: User

    def device(self, user: User | None = None, device_id: str | None = None) -> Device:
        return Device(self.container, user or self.tech, device_id or f"dev-{uuid4().hex[:8]}")

    def server_sample(self, sample_id: UUID) -> Any:
        with self.container.uow() as uow:
            sample = uow.samples.get_including_deleted(sample_id)
            return None if sample is None else (sample.snapshot(), sample.version)

    def count(self, entity: str) -> int:
        with self.container.uow() as uow:
            repo = uow.samples if entity == "sample" else uow.results
            return len(repo.get_many(self.ids(entity)))

    def ids(self, entity: str) -> list[UUID]:
        store_name = "samples" if entity == "sample" else "test_results"
        if self.container.settings().storage == "memory":
            table = "samples" if entity == "sample" else "results"
            return list(self.container.memory_store().tables[table])
        import sqlalchemy as sa

        with self.container.engine().connect() as conn:
            return list(conn.execute(sa.text(f"SELECT id FROM {store_name}")).scalars())

    def audit(self, entity_type: AuditEntityType, entity_id: Any) -> list[Any]:
        with self.container.uow() as uow:
            from domain.ports import AuditQuery

            page = uow.audit.list(
                AuditQuery(entity_type=entity_type, entity_id=str(entity_id)),
            )
            return [(e.action, e.device_id, e.old_values, e.new_values) for e in page.items]


@pytest.fixture
def world(container: Container, save: Callable[..., None]) -> SyncWorld:
    lab, other = LabFactory(), LabFactory()
    save(lab, other)
    tech = UserFactory(role=Role.TECHNICIAN, lab_id=lab.id)
    tech2 = UserFactory(role=Role.TECHNICIAN, lab_id=lab.id)
    viewer = UserFactory(role=Role.VIEWER, lab_id=lab.id)
    stranger = UserFactory(role=Role.TECHNICIAN, lab_id=other.id)
    save(tech, tech2, viewer, stranger)
    return SyncWorld(container, lab, other, tech, tech2, viewer, stranger)


# --- push: exactly once ----------------------------------------------------------------


def test_a_create_is_applied_and_pulled_by_another_device(world: SyncWorld) -> None:
    phone, desk = world.device(), world.device(world.tech2)
    sid = uuid4()
    out = phone.sync(phone.sample(sid, sample_data(notes="first")))
    assert out.last_mutation_id == 1
    assert [(r.status, r.id, r.version) for r in out.results] == [("applied", str(sid), 1)]
    pulled = desk.pull_all()
    data = pulled[("sample", str(sid))]
    assert data is not None
    assert (data["location"], data["notes"], data["compliance_status"], data["version"]) == (
        "Bouskoura well 3",
        "first",
        "pending",
        1,
    )
    assert data["lab_id"] == str(world.lab.id)
    assert world.audit(AuditEntityType.SAMPLE, sid)[0][:2] == (AuditAction.CREATE, phone.device_id)


def test_a_resent_batch_is_answered_duplicate_and_an_overlapping_one_applies_only_the_new_part(
    world: SyncWorld,
) -> None:
    phone = world.device()
    ids = [uuid4() for _ in range(4)]
    first = [phone.sample(i, sample_data(location=f"site {n}")) for n, i in enumerate(ids[:3])]
    phone.sync(*first)
    again = phone.sync(*first)  # the response was lost: the client sends it again
    assert [r.status for r in again.results] == ["duplicate"] * 3
    assert [r.version for r in again.results] == [1, 1, 1]
    overlap = phone.sync(first[2], phone.sample(ids[3], sample_data(location="site 3")))
    assert [(r.mutation_id, r.status) for r in overlap.results] == [
        (3, "duplicate"),
        (4, "applied"),
    ]
    assert overlap.last_mutation_id == 4
    assert world.count("sample") == 4


def test_a_gap_stops_the_batch_there(world: SyncWorld) -> None:
    phone = world.device()
    m1 = phone.sample(uuid4(), sample_data())
    phone.next_id = 3  # mutation 2 never arrives
    m3 = phone.sample(uuid4(), sample_data())
    out = phone.sync(m1, m3)
    assert out.last_mutation_id == 1
    assert [r.mutation_id for r in out.results] == [1]
    assert world.count("sample") == 1


def test_a_device_belongs_to_the_user_who_first_synced_it(world: SyncWorld) -> None:
    world.device(device_id="shared-tablet").sync()
    with pytest.raises(Forbidden):
        world.device(world.tech2, device_id="shared-tablet").sync()
    status = world.container.sync_status()(world.device().caller, "shared-tablet")
    assert status.user_id == world.tech.id
    with pytest.raises(Forbidden):
        world.container.sync_status()(world.device(world.tech2).caller, "shared-tablet")
    with pytest.raises(NotFound):
        world.container.sync_status()(world.device().caller, "never-synced")


def test_viewers_pull_but_cannot_push(world: SyncWorld) -> None:
    viewer = world.device(world.viewer)
    viewer.sync()
    with pytest.raises(Forbidden):
        viewer.sync(viewer.sample(uuid4(), sample_data()))


def test_a_poison_mutation_is_rejected_with_field_errors_and_does_not_block_the_queue(
    world: SyncWorld,
) -> None:
    phone = world.device()
    good = [phone.sample(uuid4(), sample_data()) for _ in range(2)]
    bad = phone.sample(uuid4(), sample_data(type="lemonade", location=""))
    good.append(phone.sample(uuid4(), sample_data()))
    tail = phone.sample(uuid4(), sample_data())
    out = phone.sync(*good[:2], bad, good[2], tail)
    statuses = [r.status for r in out.results]
    assert statuses == ["applied", "applied", "rejected", "applied", "applied"]
    error = out.results[2].error
    assert error is not None and error.code == "VALIDATION_ERROR"
    assert set(error.field_errors) == {"type", "location"}
    assert out.last_mutation_id == 5
    assert world.count("sample") == 4
    status = world.container.sync_status()(phone.caller, phone.device_id)
    assert (status.last_mutation_id, status.status) == (5, "partial")
    assert "1 mutation(s) rejected" in (status.last_error or "")
    nxt = phone.sync(phone.sample(uuid4(), sample_data()))
    assert [r.status for r in nxt.results] == ["applied"]


def test_bad_envelopes_are_rejected_per_mutation(world: SyncWorld) -> None:
    phone = world.device()
    task = phone.mutation("task", "upsert", uuid4(), data={})
    envelope = Mutation(mutation_id=2, entity="sample", op="merge", id="not-a-uuid")
    phone.next_id = 3
    out = phone.sync(
        task,
        envelope,
        phone.sample(uuid4(), sample_data(), modified_at="yesterday", base=None),
        phone.sample(uuid4(), {**sample_data(), "colour": "blue"}),
    )
    errors = [set(r.error.field_errors) if r.error else None for r in out.results]
    assert errors == [{"entity"}, {"op", "id"}, {"modified_at"}, {"colour"}]
    assert out.last_mutation_id == 4


def test_request_level_problems_are_one_validation_error(world: SyncWorld) -> None:
    phone = world.device()
    with pytest.raises(ValidationFailed) as raised:
        world.container.sync()(
            phone.caller,
            SyncCommand("", "%%%not-a-cursor", 10, []),
        )
    assert set(raised.value.field_errors) == {"device_id", "cursor"}


# --- results through sync --------------------------------------------------------------


def test_synced_results_are_judged_and_keep_the_sample_status(world: SyncWorld) -> None:
    phone, desk = world.device(), world.device(world.tech2)
    sid, ok, bad = uuid4(), uuid4(), uuid4()
    out = phone.sync(
        phone.sample(sid, sample_data()),
        phone.mutation("result", "upsert", ok, data=result_data(sid, value=10.0)),
        phone.mutation("result", "upsert", bad, data=result_data(sid, value=80_000, unit="µg/L")),
        phone.mutation("result", "upsert", uuid4(), data=result_data(uuid4())),
    )
    assert [r.status for r in out.results] == ["applied", "applied", "applied", "rejected"]
    assert out.results[3].error is not None
    assert set(out.results[3].error.field_errors) == {"sample_id"}
    pulled = desk.pull_all()
    failing = pulled[("result", str(bad))]
    assert failing is not None
    assert (failing["value"], failing["unit"], failing["compliance_status"]) == (
        80.0,
        "mg/L",
        "fail",
    )
    sample = pulled[("sample", str(sid))]
    assert sample is not None and sample["compliance_status"] == "fail"
    phone.sync(phone.mutation("result", "delete", bad, base_version=1))
    changes = desk.pull_all()
    assert changes[("result", str(bad))] is None
    refreshed = changes[("sample", str(sid))]
    assert refreshed is not None and refreshed["compliance_status"] == "pass"


# --- conflicts -----------------------------------------------------------------------------


def _edit_twice(world: SyncWorld) -> tuple[Device, Device, UUID]:
    a, b = world.device(), world.device(world.tech2)
    sid = uuid4()
    a.sync(a.sample(sid, sample_data(notes="base")))
    b.pull_all()
    return a, b, sid


def test_disjoint_edits_from_the_same_base_are_merged(world: SyncWorld) -> None:
    a, b, sid = _edit_twice(world)
    a.sync(a.sample(sid, {"location": "Site A"}, base=1))
    out = b.sync(b.sample(sid, {"notes": "from B"}, base=1))
    assert out.results[0].status == "conflict"
    assert out.conflicts[0].resolution == "merged"
    snapshot, version = world.server_sample(sid)
    assert (snapshot["location"], snapshot["notes"], version) == ("Site A", "from B", 3)
    assert a.pull_all()[("sample", str(sid))]["notes"] == "from B"  # type: ignore[index]


def test_the_same_field_goes_to_the_later_edit_whichever_device_syncs_first(
    world: SyncWorld,
) -> None:
    early, late = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    for late_first in (False, True):
        a, b, sid = _edit_twice(world)
        edit_a = a.sample(sid, {"notes": "A (later)"}, base=1, modified_at=late.isoformat())
        edit_b = b.sample(sid, {"notes": "B (earlier)"}, base=1, modified_at=early.isoformat())
        first, second = ((a, edit_a), (b, edit_b)) if late_first else ((b, edit_b), (a, edit_a))
        first[0].sync(first[1])
        out = second[0].sync(second[1])
        assert out.results[0].status == "conflict"
        expected = "server_won" if late_first else "client_won"
        assert out.conflicts[0].resolution == expected
        assert world.server_sample(sid)[0]["notes"] == "A (later)"
        conflict_id = out.results[0].conflict_id
        entries = world.audit(AuditEntityType.CONFLICT, conflict_id)
        assert entries and entries[0][0] is AuditAction.CREATE
        assert entries[0][3]["client_version"]["data"] == second[1].data
        assert entries[0][3]["server_version"]["notes"] in ("A (later)", "B (earlier)")
        assert a.pull_all()[("sample", str(sid))] == b.pull_all()[("sample", str(sid))]


def test_both_devices_hold_the_same_state_after_pulling(world: SyncWorld) -> None:
    a, b, sid = _edit_twice(world)
    a.sync(a.sample(sid, {"notes": "A", "location": "L-A"}, base=1))
    b.sync(b.sample(sid, {"notes": "B"}, base=1))
    state_a, state_b = a.pull_all(), b.pull_all()
    assert state_a[("sample", str(sid))] == state_b[("sample", str(sid))]


def test_a_device_a_year_ahead_does_not_win_forever(world: SyncWorld) -> None:
    a, b, sid = _edit_twice(world)
    future = NOW + timedelta(days=365)
    out = a.sync(
        a.sample(sid, {"notes": "from the future"}, base=1, modified_at=future.isoformat())
    )
    assert out.results[0].status == "applied"
    # Its stamp was clamped to the server's time: a later honest edit wins.
    later = datetime.now(UTC) + timedelta(seconds=1)
    res = b.sync(b.sample(sid, {"notes": "honest"}, base=1, modified_at=later.isoformat()))
    assert res.conflicts[0].resolution == "client_won"
    assert world.server_sample(sid)[0]["notes"] == "honest"
    conflict = res.conflicts[0]
    assert conflict.client_data["modified_at"] == later.isoformat()
    assert conflict.client_data["effective_modified_at"] == later.isoformat()


def test_a_device_ahead_by_less_than_five_minutes_keeps_its_time(world: SyncWorld) -> None:
    a, b, sid = _edit_twice(world)
    ahead = datetime.now(UTC) + timedelta(minutes=3)
    a.sync(a.sample(sid, {"notes": "slightly ahead"}, base=1, modified_at=ahead.isoformat()))
    res = b.sync(b.sample(sid, {"notes": "now"}, base=1, modified_at=NOW.isoformat()))
    assert res.conflicts[0].resolution == "server_won"


@pytest.mark.parametrize("delete_is_later", [True, False])
@pytest.mark.parametrize("delete_first", [True, False])
def test_update_versus_delete_goes_to_the_later_one_in_either_order(
    world: SyncWorld, delete_is_later: bool, delete_first: bool
) -> None:
    a, b, sid = _edit_twice(world)
    t_early, t_late = NOW - timedelta(minutes=20), NOW - timedelta(minutes=10)
    t_delete, t_update = (t_late, t_early) if delete_is_later else (t_early, t_late)
    delete = a.mutation("sample", "delete", sid, base_version=1, modified_at=t_delete.isoformat())
    update = b.sample(sid, {"notes": "edited"}, base=1, modified_at=t_update.isoformat())
    order = [(a, delete), (b, update)] if delete_first else [(b, update), (a, delete)]
    order[0][0].sync(order[0][1])
    out = order[1][0].sync(order[1][1])
    assert out.results[0].status == "conflict"
    snapshot, _ = world.server_sample(sid)
    assert snapshot["deleted"] is delete_is_later
    pulled = world.device().pull_all()
    assert (pulled[("sample", str(sid))] is None) is delete_is_later


def test_a_tombstone_is_pulled_as_a_delete_and_a_later_update_brings_it_back(
    world: SyncWorld,
) -> None:
    a, b, sid = _edit_twice(world)
    a.sync(a.mutation("sample", "delete", sid, base_version=1))
    assert b.pull_all()[("sample", str(sid))] is None
    later = datetime.now(UTC) + timedelta(minutes=1)
    b.sync(b.sample(sid, {"notes": "revived"}, base=1, modified_at=later.isoformat()))
    revived = a.pull_all()[("sample", str(sid))]
    assert revived is not None and revived["notes"] == "revived"


def test_recreating_an_existing_id_with_identical_content_is_a_no_op(world: SyncWorld) -> None:
    a = world.device()
    sid = uuid4()
    a.sync(a.sample(sid, sample_data()))
    reinstalled = world.device(world.tech2)
    out = reinstalled.sync(reinstalled.sample(sid, sample_data()))
    assert [(r.status, r.version) for r in out.results] == [("applied", 1)]
    assert world.server_sample(sid)[1] == 1


def test_a_device_edits_on_top_of_its_own_earlier_edits_without_conflict(
    world: SyncWorld,
) -> None:
    a = world.device()
    sid = uuid4()
    out = a.sync(
        a.sample(sid, sample_data()),
        a.mutation("result", "upsert", uuid4(), data=result_data(sid)),  # bumps the sample
        a.sample(sid, {"notes": "one"}, base=1),
        a.sample(sid, {"location": "two"}, base=1),
    )
    assert [r.status for r in out.results] == ["applied"] * 4
    assert out.conflicts == []


def test_a_person_overrides_the_outcome_and_every_device_pulls_it(world: SyncWorld) -> None:
    early = NOW - timedelta(hours=1)
    a, b, sid = _edit_twice(world)
    a.sync(a.sample(sid, {"notes": "server"}, base=1))
    out = b.sync(b.sample(sid, {"notes": "client"}, base=1, modified_at=early.isoformat()))
    conflict_id = out.results[0].conflict_id
    assert conflict_id is not None and world.server_sample(sid)[0]["notes"] == "server"
    listed = world.container.list_conflicts()(a.caller, resolved=False)
    assert [c.id for c in listed.items] == [conflict_id]
    assert listed.items[0].client_data["data"] == {"notes": "client"}
    a.pull_all()
    view = world.container.resolve_conflict()(
        a.caller, ResolveConflictCommand(conflict_id, ManualResolution.CLIENT_WON)
    )
    assert view.resolved and view.resolved_by == world.tech.id
    assert world.server_sample(sid)[0]["notes"] == "client"
    assert a.pull_all()[("sample", str(sid))]["notes"] == "client"  # type: ignore[index]
    assert world.container.list_conflicts()(a.caller, resolved=False).items == []
    custom = world.container.resolve_conflict()(
        a.caller,
        ResolveConflictCommand(conflict_id, ManualResolution.CUSTOM, {"notes": "agreed"}),
    )
    assert custom.version == world.server_sample(sid)[1]
    assert world.server_sample(sid)[0]["notes"] == "agreed"
    actions = [e[0] for e in world.audit(AuditEntityType.CONFLICT, conflict_id)]
    assert sorted(actions) == sorted([AuditAction.CREATE, AuditAction.RESOLVE, AuditAction.RESOLVE])
    with pytest.raises(NotFound):
        world.container.resolve_conflict()(
            world.device(world.stranger).caller,
            ResolveConflictCommand(conflict_id, ManualResolution.SERVER_WON),
        )
    with pytest.raises(ValidationFailed):
        world.container.resolve_conflict()(
            a.caller, ResolveConflictCommand(conflict_id, ManualResolution.CUSTOM)
        )


# --- pull ------------------------------------------------------------------------------------


def test_pull_serves_only_the_callers_lab_oldest_first_in_pages(world: SyncWorld) -> None:
    mine, theirs = world.device(), world.device(world.stranger)
    ids = [uuid4() for _ in range(10)]
    for batch in (ids[:4], ids[4:]):
        mine.sync(*[mine.sample(i, sample_data(notes=str(n))) for n, i in enumerate(batch)])
    theirs.sync(theirs.sample(uuid4(), sample_data()))
    fresh = world.device(world.tech2)
    seen: list[str] = []
    while True:
        out = fresh.sync(pull_limit=3)
        assert len(out.changes) <= 3
        seen += [str(c.id) for c in out.changes]
        if not out.has_more:
            break
    # Oldest first: every change of the first batch before any of the second.
    assert sorted(seen[:4]) == sorted(str(i) for i in ids[:4])
    assert sorted(seen[4:]) == sorted(str(i) for i in ids[4:])
    assert fresh.sync().changes == []


def test_a_cursor_older_than_the_tombstone_retention_must_reset(world: SyncWorld) -> None:
    phone = world.device()
    phone.sync(phone.sample(uuid4(), sample_data()))
    stale = Cursor(ORIGIN, world.lab.id, datetime.now(UTC) - timedelta(days=365)).encode()
    phone.cursor = stale
    out = phone.sync()
    assert out.reset_required and out.changes == [] and out.has_more
    phone.cursor = Cursor(ORIGIN, world.other_lab.id, datetime.now(UTC)).encode()
    assert phone.sync().reset_required
    assert len(phone.pull_all()) == 1


def test_conflicts_are_listed_for_the_lab_only_with_filters(world: SyncWorld) -> None:
    a, b, sid = _edit_twice(world)
    a.sync(a.sample(sid, {"notes": "x"}, base=1))
    b.sync(b.sample(sid, {"notes": "y"}, base=1))
    listed = world.container.list_conflicts()
    assert listed(a.caller, entity="sample").total == 1
    assert listed(a.caller, entity="result").total == 0
    assert listed(a.caller, resolved=True).total == 0
    assert listed(world.device(world.stranger).caller).total == 0
    assert listed(a.caller, page=PageRequest(limit=1, offset=1)).items == []
    with pytest.raises(ValidationFailed):
        listed(a.caller, entity="task")


def content_hash(records: dict[tuple[str, str], dict[str, Any] | None]) -> str:
    canonical = json.dumps(sorted((k, v) for k, v in records.items()), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def test_two_fresh_devices_that_pull_to_the_end_hold_identical_content(
    world: SyncWorld,
) -> None:
    a = world.device()
    sids = [uuid4() for _ in range(5)]
    a.sync(*[a.sample(s, sample_data(notes=str(n))) for n, s in enumerate(sids)])
    a.sync(a.mutation("sample", "delete", sids[0], base_version=1))
    a.sync(a.sample(sids[1], {"notes": "changed"}, base=1))
    assert content_hash(world.device().pull_all()) == content_hash(
        world.device(world.tech2).pull_all()
    )


def test_two_first_syncs_of_one_device_race_to_one_owner(world: SyncWorld) -> None:
    """The loser gets a retryable 409 (Conflict) or, if it came second, sees the owner."""
    import threading

    from domain.errors import Conflict

    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def first_sync(user: User) -> None:
        device = world.device(user, device_id="brand-new")
        barrier.wait()
        try:
            device.sync(device.sample(uuid4(), sample_data()))
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        except Forbidden:
            outcomes.append("forbidden")

    threads = [threading.Thread(target=first_sync, args=(u,)) for u in (world.tech, world.tech2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) in (["conflict", "ok"], ["forbidden", "ok"])
    assert world.count("sample") == 1


def test_records_created_edited_and_deleted_within_one_batch(world: SyncWorld) -> None:
    """New records are written at the end of a batch, as its later mutations left them."""
    phone = world.device()
    sid, kept, gone = uuid4(), uuid4(), uuid4()
    other, other_result = uuid4(), uuid4()
    out = phone.sync(
        phone.sample(sid, sample_data()),
        phone.mutation("result", "upsert", kept, data=result_data(sid, value=10.0)),
        phone.mutation("result", "upsert", gone, data=result_data(sid, value=80.0)),
        phone.sample(sid, {"notes": "edited in the same batch"}, base=1),
        phone.mutation("result", "delete", gone, base_version=1),
        phone.sample(other, sample_data(location="Doomed")),
        phone.mutation("result", "upsert", other_result, data=result_data(other)),
        phone.mutation("sample", "delete", other, base_version=2),
    )
    assert [r.status for r in out.results] == ["applied"] * 8
    with world.container.uow() as uow:
        sample = uow.samples.get_including_deleted(sid)
        doomed = uow.samples.get_including_deleted(other)
        results = uow.results.get_many([kept, gone, other_result])
        assert sample is not None and doomed is not None
        assert (sample.notes, sample.compliance_status.value, sample.is_deleted) == (
            "edited in the same batch",
            "pass",
            False,
        )
        assert doomed.is_deleted
        assert [results[i].is_deleted for i in (kept, gone, other_result)] == [False, True, True]
    pulled = world.device(world.tech2).pull_all()
    assert pulled[("sample", str(other))] is None
    assert pulled[("result", str(other_result))] is None
    assert pulled[("sample", str(sid))]["notes"] == "edited in the same batch"  # type: ignore[index]
    # The sample: created, its notes edited, then its status set once at the batch's end.
    actions = [e[0] for e in world.audit(AuditEntityType.SAMPLE, sid)]
    assert sorted(actions) == sorted([AuditAction.CREATE, AuditAction.UPDATE, AuditAction.UPDATE])
