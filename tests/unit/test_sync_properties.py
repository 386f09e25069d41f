"""Conflict resolution is commutative: two offline devices end the same whichever syncs first.

Each device queues a few edits (and maybe a delete) of one record, all made offline against
the version both pulled (base 1), its clock never running backwards, possibly behind the
time the server created the record. Hypothesis draws the edits, values (shared ones and the
device's own), times (ties included) and deletes. The record is pushed A-then-B and
B-then-A:

- at the domain level, through `domain.sync.merge` applied the way the sync use case
  applies it (every field it applies is stamped as a new version, changed or not);
- through the `Sync` use case on the in-memory storage, comparing the final records (the
  named regressions also on the SQL storage, whose jsonb holds the field clock).

Both times: the same final record, and every losing edit (a device's last word on a
field that did not survive) is kept in a stored conflict, whichever order it came in.
tests/unit/test_sync_rules.py holds the single-edit version of the domain property.

Any drawn edit may change nothing (re-type the values it started from, or the other
device's); the `SILENT_WRITES` regressions pin the cases that once ended differently in
the two orders, `AGREED_THEN_CHANGED` the one that lost an edit without a conflict, and
the last test what such a write leaves behind (a version, an audit entry, a change every
device pulls).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from domain.audit import AuditEntityType
from domain.roles import Role
from domain.sync import DELETED, Merge, Stamp
from entrypoints.container import Container
from tests.contract.test_sync import Device, SyncWorld, as_dict, sample_data
from tests.factories import LabFactory, UserFactory
from tests.unit.test_sync_rules import FIELDS, T0, Record

# --- what the devices do offline ----------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """One queued mutation: `changes` for an upsert, None for a delete."""

    changes: dict[str, str] | None
    minute: int  # the device's clock when it made the edit


Conflict = tuple[dict[str, Any], dict[str, Any]]  # the server's side, the client's side
SHARED = ("x", "y", "base")  # both devices may type these ("base": the starting value)


@st.composite
def offline_edits(draw: st.DrawFn, fields: tuple[str, ...], device: str) -> list[Edit]:
    """What one device queues offline: 1-4 edits, maybe a delete last (a deleted record
    cannot be edited on the device), its clock never running backwards (two of its edits
    may share a minute, and so may the two devices).

    An edit types shared values or the device's own, or nothing at all: it may change no
    value, or only re-type what the record holds when it arrives."""
    minutes = sorted(draw(st.lists(st.integers(-3, 6), min_size=1, max_size=4)))
    deletes = draw(st.booleans())
    edits = []
    for n, minute in enumerate(minutes):
        if deletes and n == len(minutes) - 1:
            edits.append(Edit(None, minute))
            continue
        typed = st.sampled_from((*SHARED, f"{device}-{n}"))
        edits.append(Edit(draw(st.dictionaries(st.sampled_from(fields), typed)), minute))
    return edits


def last_words(edits: list[Edit]) -> dict[str, Any]:
    """What a device finally meant for each field it typed, and whether it deleted."""
    meant: dict[str, Any] = {}
    for edit in edits:
        meant |= {DELETED: True} if edit.changes is None else edit.changes
    return meant


def assert_losers_are_kept(
    final: dict[str, Any], devices: list[list[Edit]], conflicts: list[Conflict]
) -> None:
    """Every device's last word that the record does not hold is in a conflict's server or
    client side, so a person can still restore it. (An edit's implicit `deleted = false`
    losing to a later delete is no loss: its values stay on the tombstone.)"""
    for edits in devices:
        for name, value in last_words(edits).items():
            if final[name] == value:
                continue
            kept = [
                (server, client)
                for server, client in conflicts
                if server.get(name) == value or client.get(name) == value
            ]
            assert kept, f"the losing {name}={value!r} is in no conflict: {conflicts}"


# --- the domain rule ------------------------------------------------------------------------


class ServerRecord(Record):
    """`Record` of test_sync_rules (a merge applied the way application/sync.py applies
    it), keeping the conflicts; a delete only sets `deleted`."""

    def __init__(self) -> None:
        super().__init__()
        self.conflicts: list[Conflict] = []

    def receive(self, base: int, changes: dict[str, Any], stamp: Stamp) -> Merge:
        before = dict(self.values)
        outcome = super().receive(base, changes, stamp)
        if outcome.conflicted:
            self.conflicts.append((before, dict(changes)))
        return outcome

    def push(self, device: str, edits: list[Edit]) -> None:
        for edit in edits:
            changes = {DELETED: True} if edit.changes is None else {**edit.changes, DELETED: False}
            self.receive(1, changes, Stamp(T0 + timedelta(minutes=edit.minute), device))


def both_orders(edits_a: list[Edit], edits_b: list[Edit]) -> tuple[ServerRecord, ServerRecord]:
    a_first, b_first = ServerRecord(), ServerRecord()
    a_first.push("device-a", edits_a)
    a_first.push("device-b", edits_b)
    b_first.push("device-b", edits_b)
    b_first.push("device-a", edits_a)
    return a_first, b_first


# Found by the property below (fixed in domain/sync.py `merge`): B re-typed A's later "x"
# beside a real change, which stamped notes with B's older time and device, so B's next
# edit of notes no longer met A's write and won in one order only.
RESTAMPED_AGREEMENT = (
    [Edit({"notes": "x"}, 5)],
    [Edit({"notes": "x", "location": "device-b-0"}, 1), Edit({"notes": "device-b-1"}, 2)],
)


# Found once an agreement was stamped (fixed by marking it, `FieldStamp.agreed`): B agreed
# with A's "y", then changed it. B's change met only its own stamp, so A's "y" lost without
# a conflict when A synced first (and with one when B did).
AGREED_THEN_CHANGED = (
    [Edit({"location": "y"}, 0)],
    [Edit({"location": "y"}, 0), Edit({"location": "x"}, 1)],
)


def test_regression_an_older_agreement_does_not_take_over_the_later_write() -> None:
    a_first, b_first = both_orders(*RESTAMPED_AGREEMENT)
    # A's "x" at minute 5 is the last write of notes; B's minute-2 edit is older.
    assert a_first.values["notes"] == b_first.values["notes"] == "x"
    assert a_first.values == b_first.values


# Found by the property below once edits could change nothing (fixed in application/sync.py
# `_write`/`_delete`, docs/adr/0019): a write that changed no value left no stamp and no
# version, yet in the other order the same write meets the delete and, being later, brings
# the record back (SPEC section 6: "an update whose modified_at is later than a delete brings
# the record back"). Now every field a merge applies is stamped as a new version.
RETYPED_AFTER_DELETE = "an update re-typing the values it started from, later than a delete"
DELETED_TWICE = "a device deleting twice, against an update between its two deletes"
AGREED_THEN_DELETED = "a device agreeing with an update, then deleting in the same minute"
SILENT_WRITES = {
    RETYPED_AFTER_DELETE: (
        [Edit(None, 0)],
        [Edit({"notes": "base"}, 1)],
    ),
    DELETED_TWICE: (
        [Edit({"notes": "x"}, 2)],
        [Edit(None, 0), Edit(None, 3)],
    ),
    # Found once stamps were written for such writes: B's empty edit agreed with A's, and
    # B's delete in the same minute then lost to B's own agreement (a tie with itself).
    AGREED_THEN_DELETED: (
        [Edit({}, 0)],
        [Edit({}, 0), Edit(None, 0)],
    ),
}
# The last write decides: the re-typing update (minute 1) keeps the record, the second
# delete (minute 3) removes it, B's delete comes after B's edit of the same minute.
ENDS_DELETED = {RETYPED_AFTER_DELETE: False, DELETED_TWICE: True, AGREED_THEN_DELETED: True}


@settings(max_examples=500, deadline=None)
@example(*RESTAMPED_AGREEMENT)
@example(*AGREED_THEN_CHANGED)
@example(*SILENT_WRITES[RETYPED_AFTER_DELETE])
@example(*SILENT_WRITES[DELETED_TWICE])
@example(*SILENT_WRITES[AGREED_THEN_DELETED])
@given(offline_edits(FIELDS, "device-a"), offline_edits(FIELDS, "device-b"))
def test_the_merge_rule_ends_the_same_whichever_device_syncs_first(
    edits_a: list[Edit], edits_b: list[Edit]
) -> None:
    a_first, b_first = both_orders(edits_a, edits_b)
    assert a_first.values == b_first.values
    for record in (a_first, b_first):
        assert_losers_are_kept(record.values, [edits_a, edits_b], record.conflicts)


@pytest.mark.parametrize("case", SILENT_WRITES)
def test_a_write_that_changes_nothing_still_counts_in_either_order(case: str) -> None:
    a_first, b_first = both_orders(*SILENT_WRITES[case])
    assert a_first.values == b_first.values
    assert a_first.values[DELETED] is ENDS_DELETED[case]


# --- the same through the Sync use case -------------------------------------------------------

SAMPLE_FIELDS = ("location", "notes", "collector_name")
START = datetime.now(UTC) - timedelta(days=1)  # well behind the server: no clock clamping
COMPARED = (*SAMPLE_FIELDS, "deleted", "type", "status", "compliance_status", "collection_date")


def world_on(container: Container) -> SyncWorld:
    lab, other = LabFactory(), LabFactory()
    tech, tech2 = (UserFactory(role=Role.TECHNICIAN, lab_id=lab.id) for _ in range(2))
    stranger = UserFactory(role=Role.TECHNICIAN, lab_id=other.id)
    viewer = UserFactory(role=Role.VIEWER, lab_id=lab.id)
    with container.uow() as uow:
        for each_lab in (lab, other):
            uow.labs.add(each_lab)
        for user in (tech, tech2, stranger, viewer):
            uow.users.add(user)
        uow.commit()
    return SyncWorld(container, lab, other, tech, tech2, viewer, stranger)


@pytest.fixture
def sync_world(memory_container: Container) -> Iterator[SyncWorld]:
    yield world_on(memory_container)


@pytest.fixture
def world(container: Container) -> SyncWorld:
    """On both storages: the field clock, agreements included, must survive the SQL
    adapter's jsonb as it does the in-memory store."""
    return world_on(container)


def push(device: Device, record: UUID, edits: list[Edit]) -> list[Conflict]:
    """Send a device's queue in one batch; the conflicts it stored (server, client side)."""
    mutations = []
    for edit in edits:
        at = (START + timedelta(minutes=edit.minute)).isoformat()
        if edit.changes is None:
            mutations.append(
                device.mutation("sample", "delete", record, base_version=1, modified_at=at)
            )
        else:
            mutations.append(device.sample(record, edit.changes, base=1, modified_at=at))
    result = device.sync(*mutations)
    assert {r.status for r in result.results} <= {"applied", "conflict"}, result.results
    return [
        (
            dict(c.server_data or {}),
            {**(c.client_data["data"] or {}), DELETED: c.client_data["op"] == "delete"},
        )
        for c in result.conflicts
    ]


def in_both_orders(
    world: SyncWorld, edits_a: list[Edit], edits_b: list[Edit]
) -> tuple[tuple[UUID, list[Conflict]], tuple[UUID, list[Conflict]]]:
    """Two copies of one sample: the first gets A's queue then B's, the second B's then A's."""
    creator = world.device()
    a_first, b_first = uuid4(), uuid4()
    base = sample_data(notes="base", location="base", collector_name="base")
    creator.sync(creator.sample(a_first, base), creator.sample(b_first, base))
    # Fresh devices for every example; "device-a" < "device-b" as in the domain test.
    suffix = uuid4().hex[:8]
    tablet = world.device(world.tech, f"device-a-{suffix}")
    phone = world.device(world.tech2, f"device-b-{suffix}")
    conflicts_a_first = push(tablet, a_first, edits_a) + push(phone, a_first, edits_b)
    conflicts_b_first = push(phone, b_first, edits_b) + push(tablet, b_first, edits_a)
    return (a_first, conflicts_a_first), (b_first, conflicts_b_first)


def final_record(world: SyncWorld, record: UUID) -> dict[str, Any]:
    snapshot, _version = world.server_sample(record)
    return {name: snapshot[name] for name in COMPARED}


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(*RESTAMPED_AGREEMENT)
@example(*AGREED_THEN_CHANGED)
@example(*SILENT_WRITES[RETYPED_AFTER_DELETE])
@example(*SILENT_WRITES[DELETED_TWICE])
@example(*SILENT_WRITES[AGREED_THEN_DELETED])
@given(offline_edits(SAMPLE_FIELDS, "device-a"), offline_edits(SAMPLE_FIELDS, "device-b"))
def test_two_devices_syncing_in_either_order_leave_the_same_record(
    sync_world: SyncWorld, edits_a: list[Edit], edits_b: list[Edit]
) -> None:
    world = sync_world
    (one, conflicts_one), (other, conflicts_other) = in_both_orders(world, edits_a, edits_b)
    final_one, final_other = final_record(world, one), final_record(world, other)
    assert final_one == final_other
    assert_losers_are_kept(final_one, [edits_a, edits_b], conflicts_one)
    assert_losers_are_kept(final_other, [edits_a, edits_b], conflicts_other)
    # A fresh device pulls the same content for both copies.
    pulled = world.device().pull_all()
    first, second = pulled[("sample", str(one))], pulled[("sample", str(other))]
    assert (first is None) == (second is None) == final_one["deleted"]
    if first is not None and second is not None:
        same = {name: as_dict(first)[name] for name in SAMPLE_FIELDS}  # type: ignore[index]
        assert same == {name: as_dict(second)[name] for name in SAMPLE_FIELDS}  # type: ignore[index]


def test_regression_an_older_agreement_does_not_take_over_through_the_use_case(
    sync_world: SyncWorld,
) -> None:
    (one, _), (other, _) = in_both_orders(sync_world, *RESTAMPED_AGREEMENT)
    assert final_record(sync_world, one)["notes"] == "x"
    assert final_record(sync_world, other)["notes"] == "x"


@pytest.mark.parametrize("case", SILENT_WRITES)
def test_a_write_that_changes_nothing_still_counts_through_the_use_case(
    world: SyncWorld, case: str
) -> None:
    (one, _), (other, _) = in_both_orders(world, *SILENT_WRITES[case])
    assert final_record(world, one) == final_record(world, other)
    assert final_record(world, one)[DELETED] is ENDS_DELETED[case]


def test_an_agreement_still_meets_the_agreeing_devices_next_edit(world: SyncWorld) -> None:
    """A's "y" is overwritten by B's later "x" in both orders, and kept in a conflict in
    both: B's agreement with it (marked in the stored field clock) did not make it B's own."""
    (one, conflicts_one), (other, conflicts_other) = in_both_orders(world, *AGREED_THEN_CHANGED)
    for record, conflicts in ((one, conflicts_one), (other, conflicts_other)):
        final = final_record(world, record)
        assert final["location"] == "x"
        assert_losers_are_kept(final, list(AGREED_THEN_CHANGED), conflicts)


def test_a_write_that_changes_nothing_is_a_version_every_device_pulls_and_the_audit_shows(
    world: SyncWorld,
) -> None:
    """What the fix costs, and no more (both storages): the re-typing write is a new version
    (audited, in the feed, with unchanged content); an older re-typing of it writes nothing."""
    creator, watcher = world.device(), world.device(world.tech2)
    sample = uuid4()
    creator.sync(creator.sample(sample, sample_data(notes="base")))
    watcher.pull_all()
    tablet, phone = world.device(world.tech, "tablet"), world.device(world.tech2, "phone")
    at = (START + timedelta(minutes=1)).isoformat()

    retyped = tablet.sync(tablet.sample(sample, {"notes": "base"}, base=1, modified_at=at))
    assert [(r.status, r.version) for r in retyped.results] == [("applied", 2)]
    assert world.server_sample(sample)[1] == 2
    updates = [e for e in world.audit(AuditEntityType.SAMPLE, sample) if e[0] == "update"]
    # Only the version moved: that is all the audit's before/after has to show.
    assert [entry[1:] for entry in updates] == [("tablet", {"version": 1}, {"version": 2})]
    pulled = watcher.sync()
    assert [(c.id, c.version, as_dict(c.data)["notes"]) for c in pulled.changes] == [  # type: ignore[index]
        (sample, 2, "base")
    ]

    older = (START + timedelta(minutes=0)).isoformat()
    stale = phone.sync(phone.sample(sample, {"notes": "base"}, base=1, modified_at=older))
    assert [(r.status, r.version) for r in stale.results] == [("applied", 2)]
    assert stale.conflicts == []
    assert len(world.audit(AuditEntityType.SAMPLE, sample)) == 2  # the create, the re-typing
    assert watcher.sync().changes == []
