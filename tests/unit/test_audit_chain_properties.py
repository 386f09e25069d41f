"""The audit hash chain over generated trails (test_audit_chain.py has the hand-made cases).

Hypothesis draws trails of 1-12 entries with any users, actions, unicode text, old/new
values and time zones, seals them, then tampers once. Proven: an untouched chain
verifies in full; any single field edit, removed entry, swap or inserted entry is reported
at the first link that no longer fits; sealing in several goes gives the same hashes as
sealing at once, so appending never changes an earlier hash.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.audit import (
    GENESIS_HASH,
    AuditAction,
    AuditEntityType,
    AuditEntry,
    AuditSeal,
    canonical_entry,
    chain_hash,
    seal,
    verify_chain,
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = json_scalars | st.lists(json_scalars, max_size=3)
json_objects = st.none() | st.dictionaries(st.text(max_size=10), json_values, max_size=3)
zones = st.integers(-12 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=zones
)
optional_text = st.none() | st.text(max_size=30)


def audit_entries(entry_id: int) -> st.SearchStrategy[AuditEntry]:
    return st.builds(
        AuditEntry,
        occurred_at=moments,
        user_id=st.none() | st.uuids(),
        entity_type=st.sampled_from(list(AuditEntityType)),
        entity_id=st.text(min_size=1, max_size=40),
        action=st.sampled_from(list(AuditAction)),
        old_values=json_objects,
        new_values=json_objects,
        reason=optional_text,
        request_id=optional_text,
        device_id=optional_text,
        lab_id=st.none() | st.uuids(),
        id=st.just(entry_id),
    )


@st.composite
def trails(draw: st.DrawFn, min_size: int = 1) -> list[AuditEntry]:
    size = draw(st.integers(min_size, 12))
    return [draw(audit_entries(n)) for n in range(1, size + 1)]


def sealed(entries: list[AuditEntry]) -> list[tuple[AuditSeal, AuditEntry | None]]:
    return list(zip(seal(entries, last_seq=0, last_hash=GENESIS_HASH), entries, strict=True))


@settings(max_examples=50)
@given(trails())
def test_an_untouched_chain_verifies_in_full(entries: list[AuditEntry]) -> None:
    report = verify_chain(sealed(entries))
    assert (report.ok, report.checked, report.first_bad_id) == (True, len(entries), None)


# Every field the hash covers, with a way to change it.
EDITS: dict[str, st.SearchStrategy[Any]] = {
    "occurred_at": moments,
    "user_id": st.none() | st.uuids(),
    "entity_type": st.sampled_from(list(AuditEntityType)),
    "entity_id": st.text(max_size=40),
    "action": st.sampled_from(list(AuditAction)),
    "old_values": json_objects,
    "new_values": json_objects,
    "reason": optional_text,
    "request_id": optional_text,
    "device_id": optional_text,
    "lab_id": st.none() | st.uuids(),
}


@given(trails(), st.data())
def test_any_single_field_edit_is_reported_at_that_entry(
    entries: list[AuditEntry], data: st.DataObject
) -> None:
    links = sealed(entries)
    position = data.draw(st.integers(0, len(entries) - 1), label="position")
    name = data.draw(st.sampled_from(sorted(EDITS)), label="field")
    original = entries[position]
    forged = dataclasses.replace(original, **{name: data.draw(EDITS[name], label="new value")})
    assume(canonical_entry(forged) != canonical_entry(original))  # e.g. not the same instant
    links[position] = (links[position][0], forged)
    report = verify_chain(links)
    assert (report.ok, report.first_bad_id, report.checked) == (False, original.id, position)


@settings(max_examples=50)
@given(trails(min_size=2), st.data())
def test_a_removed_entry_is_reported_where_the_chain_breaks(
    entries: list[AuditEntry], data: st.DataObject
) -> None:
    links = sealed(entries)
    position = data.draw(st.integers(0, len(entries) - 2), label="position")
    # The row is gone but its link stays: reported at that link.
    without_row = [*links[:position], (links[position][0], None), *links[position + 1 :]]
    report = verify_chain(without_row)
    assert (report.ok, report.first_bad_id, report.checked) == (
        False,
        entries[position].id,
        position,
    )
    # Row and link both gone: the next link no longer follows.
    report = verify_chain(links[:position] + links[position + 1 :])
    assert (report.ok, report.first_bad_id, report.checked) == (
        False,
        entries[position + 1].id,
        position,
    )


@settings(max_examples=50)
@given(trails(min_size=2))
def test_removing_the_newest_entry_leaves_a_shorter_chain_that_still_verifies(
    entries: list[AuditEntry],
) -> None:
    """The chain alone cannot tell a truncated tail: that is why the sealer's head (last
    seq and hash) is kept apart and compared (see the contract tests)."""
    report = verify_chain(sealed(entries)[:-1])
    assert (report.ok, report.checked) == (True, len(entries) - 1)


@settings(max_examples=50)
@given(trails(min_size=2), st.data())
def test_two_swapped_entries_are_reported_at_the_first_of_them(
    entries: list[AuditEntry], data: st.DataObject
) -> None:
    first = data.draw(st.integers(0, len(entries) - 2), label="first")
    second = data.draw(st.integers(first + 1, len(entries) - 1), label="second")
    assume(canonical_entry(entries[first]) != canonical_entry(entries[second]))
    links = sealed(entries)
    # The rows swap places under the links (ids are part of the hash, so this is caught)...
    rows = [entry for _, entry in links]
    rows[first], rows[second] = rows[second], rows[first]
    report = verify_chain([(link, row) for (link, _), row in zip(links, rows, strict=True)])
    assert (report.ok, report.checked) == (False, first)
    # ...or whole links swap places.
    links[first], links[second] = links[second], links[first]
    report = verify_chain(links)
    assert (report.ok, report.first_bad_id, report.checked) == (False, entries[second].id, first)


@settings(max_examples=50)
@given(trails(), st.data())
def test_an_inserted_entry_is_reported_at_the_entry_it_pushed_aside(
    entries: list[AuditEntry], data: st.DataObject
) -> None:
    links = sealed(entries)
    position = data.draw(st.integers(0, len(entries) - 1), label="position")
    forged = data.draw(audit_entries(10_000), label="forged")
    # The forger links the new entry correctly after its predecessor...
    prev_seq, prev_hash = (
        (0, GENESIS_HASH) if position == 0 else (position, links[position - 1][0].hash)
    )
    [forged_link] = seal([forged], last_seq=prev_seq, last_hash=prev_hash)
    inserted = [*links[:position], (forged_link, forged), *links[position:]]
    report = verify_chain(inserted)
    # ...but the entry after it still points at the old predecessor.
    assert (report.ok, report.first_bad_id, report.checked) == (
        False,
        entries[position].id,
        position + 1,
    )
    # Renumbering the later links does not help: their hashes still chain from the old one.
    renumbered = inserted[: position + 1] + [
        (dataclasses.replace(link, seq=link.seq + 1), row) for link, row in inserted[position + 1 :]
    ]
    report = verify_chain(renumbered)
    assert (report.ok, report.first_bad_id, report.checked) == (
        False,
        entries[position].id,
        position + 1,
    )


@settings(max_examples=50)
@given(trails(), st.data())
def test_appending_keeps_every_earlier_hash(entries: list[AuditEntry], data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(1, len(entries)), max_size=4), label="cuts"))
    at_once = seal(entries, last_seq=0, last_hash=GENESIS_HASH)
    in_goes: list[AuditSeal] = []
    start = 0
    for cut in [*cuts, len(entries)]:
        last_seq, last_hash = (in_goes[-1].seq, in_goes[-1].hash) if in_goes else (0, GENESIS_HASH)
        in_goes += seal(entries[start:cut], last_seq=last_seq, last_hash=last_hash)
        start = cut
    assert in_goes == at_once
    assert verify_chain(zip(in_goes, entries, strict=True)).ok
    # The link of entry k depends on entries 1..k only.
    for k, link in enumerate(at_once):
        assert link.hash == chain_hash(at_once[k - 1].hash if k else GENESIS_HASH, entries[k])
