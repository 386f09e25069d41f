"""The conflict rules of domain/sync.py: table-driven cases and order-independence.

Two devices edit one record from the same base version; whichever syncs first, the
record ends the same (Hypothesis draws the edits, values that may change nothing, times
and device ids).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.sync import (
    DELETED,
    FieldStamp,
    Merge,
    Resolution,
    Stamp,
    effective_time,
    marked_agreed,
    merge,
    read_clock,
    stamped,
)

T0 = datetime(2025, 1, 18, 10, 30, tzinfo=UTC)
FIELDS = ("location", "notes", "status")


def at(minutes: int, device: str = "") -> Stamp:
    return Stamp(T0 + timedelta(minutes=minutes), device)


def test_a_clock_within_five_minutes_is_trusted_beyond_it_the_server_decides() -> None:
    assert effective_time(T0 + timedelta(minutes=5), T0) == T0 + timedelta(minutes=5)
    assert effective_time(T0 + timedelta(minutes=5, seconds=1), T0) == T0
    assert effective_time(T0 - timedelta(days=3), T0) == T0 - timedelta(days=3)


def test_stamps_order_by_time_then_device() -> None:
    assert at(1, "a") < at(2, "a") < at(2, "b")
    assert at(2, "") < at(2, "a")


def test_a_clock_round_trips_through_json() -> None:
    raw = stamped({}, ["notes", DELETED], 3, at(1, "tab"))
    assert read_clock(raw) == {
        "notes": FieldStamp(3, at(1, "tab")),
        DELETED: FieldStamp(3, at(1, "tab")),
    }
    assert stamped(raw, ["location"], 4, at(2))["notes"] == raw["notes"]
    agreed = read_clock(marked_agreed(raw, ["notes"]))
    assert agreed["notes"] == FieldStamp(3, at(1, "tab"), agreed=True)
    assert not agreed[DELETED].agreed


def clock(**versions: tuple[int, Stamp]) -> dict[str, FieldStamp]:
    return {name: FieldStamp(v, s) for name, (v, s) in versions.items()}


CASES: list[tuple[str, dict[str, Any], Merge]] = [
    (
        "same base: applies",
        {"base_version": 3, "changes": {"notes": "n"}},
        Merge({"notes": "n"}, None),
    ),
    (
        "server changed nothing the client cares about (derived fields only)",
        {"base_version": 1, "changes": {"notes": "n"}},
        Merge({"notes": "n"}, None),
    ),
    (
        "disjoint fields: merged",
        {"base_version": 1, "changes": {"location": "L"}},
        Merge({"location": "L"}, Resolution.MERGED),
    ),
    (
        "same field, client later: client wins",
        {"base_version": 1, "changes": {"notes": "n"}, "stamp": at(20, "b")},
        Merge({"notes": "n"}, Resolution.CLIENT_WON, (), ("notes",)),
    ),
    (
        "same field, client earlier: server keeps it",
        {"base_version": 1, "changes": {"notes": "n"}, "stamp": at(5, "b")},
        Merge({}, Resolution.SERVER_WON, ("notes",), ()),
    ),
    (
        "same time: the larger device id wins, whoever syncs first",
        {"base_version": 1, "changes": {"notes": "n"}, "stamp": at(10, "b")},
        Merge({"notes": "n"}, Resolution.CLIENT_WON, (), ("notes",)),
    ),
    (
        "same field, same value: agreement, not a conflict (the later stamp stays)",
        {"base_version": 1, "changes": {"notes": "server"}, "stamp": at(5, "b")},
        Merge({}, None),
    ),
    (
        "same field, same value, client later: its stamp is written, marked agreed",
        {"base_version": 1, "changes": {"notes": "server"}, "stamp": at(20, "b")},
        Merge({"notes": "server"}, None, agreed=("notes",)),
    ),
    (
        "a value the device has seen, confirmed: written again whatever its stamp",
        {"base_version": 3, "changes": {"notes": "server"}, "stamp": at(5, "b")},
        Merge({"notes": "server"}, None),
    ),
    (
        "the device's own earlier edit is not a conflict",
        {"base_version": 1, "changes": {"notes": "again"}, "stamp": at(5, "a")},
        Merge({"notes": "again"}, None),
    ),
    (
        "a create of an id the server holds: every field counts",
        {"base_version": None, "changes": {"status": "received"}, "stamp": at(30, "b")},
        Merge({"status": "received"}, Resolution.CLIENT_WON, (), ("status",)),
    ),
]


@pytest.mark.parametrize(("case", "args", "expected"), CASES, ids=[c[0] for c in CASES])
def test_merge(case: str, args: dict[str, Any], expected: Merge) -> None:
    server = clock(
        notes=(2, at(10, "a")),
        status=(1, at(0)),
        location=(1, at(0)),
    )
    kwargs = {
        "current_version": 3 if "derived" not in case else 2,
        "current": {"notes": "server", "status": "collected", "location": "old"},
        "clock": server,
        "stamp": at(15, "z"),
        **args,
    }
    if "derived" in case:
        kwargs["clock"] = clock(notes=(1, at(0)), status=(1, at(0)), location=(1, at(0)))
    assert merge(**kwargs) == expected


# --- order independence -------------------------------------------------------------------


class Record:
    """The server's side of one record: values, version and field clock."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {name: "base" for name in FIELDS} | {DELETED: False}
        self.version = 1
        self.clock = {name: FieldStamp(1, Stamp(T0)) for name in (*FIELDS, DELETED)}

    def receive(self, base: int, changes: dict[str, Any], stamp: Stamp) -> Merge:
        """Every field the merge applies is written and stamped as one new version, even
        a value the record already holds (as application/sync.py does)."""
        outcome = merge(
            current_version=self.version,
            current=self.values,
            clock=self.clock,
            base_version=base,
            changes=changes,
            stamp=stamp,
        )
        if outcome.apply:
            self.version += 1
            for name, value in outcome.apply.items():
                self.values[name] = value
                self.clock[name] = FieldStamp(self.version, stamp, name in outcome.agreed)
        return outcome


# "base" is every field's starting value: an edit may change nothing.
edits = st.dictionaries(
    st.sampled_from(FIELDS), st.sampled_from(["base", "x", "y", "z"]), max_size=3
)
times = st.integers(min_value=0, max_value=5)


@st.composite
def mutation(draw: st.DrawFn, device: str) -> tuple[dict[str, Any], Stamp]:
    if draw(st.booleans()) and draw(st.booleans()):
        return {DELETED: True}, Stamp(T0 + timedelta(minutes=draw(times)), device)
    return {**draw(edits), DELETED: False}, Stamp(T0 + timedelta(minutes=draw(times)), device)


@settings(max_examples=400, deadline=None)
@given(mutation("device-a"), mutation("device-b"))
def test_two_concurrent_edits_end_the_same_whichever_syncs_first(
    a: tuple[dict[str, Any], Stamp], b: tuple[dict[str, Any], Stamp]
) -> None:
    first, second = Record(), Record()
    first.receive(1, *a)
    first.receive(1, *b)
    second.receive(1, *b)
    second.receive(1, *a)
    assert first.values == second.values
