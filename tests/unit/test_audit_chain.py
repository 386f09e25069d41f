"""The audit hash chain: sealing links entries in order; any edit breaks verification."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

from domain.audit import (
    GENESIS_HASH,
    AuditAction,
    AuditEntityType,
    AuditEntry,
    chain_hash,
    seal,
    verify_chain,
)

T0 = datetime(2025, 1, 18, 10, 30, tzinfo=UTC)


def entry(n: int, **changes: object) -> AuditEntry:
    base = AuditEntry(
        id=n,
        occurred_at=T0 + timedelta(seconds=n),
        user_id=uuid4(),
        entity_type=AuditEntityType.USER,
        entity_id=str(uuid4()),
        action=AuditAction.UPDATE,
        old_values={"name": f"old {n}"},
        new_values={"name": f"new {n}", "score": 1.5},
        reason="typo",
        request_id=f"req-{n}",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_seal_links_each_entry_to_the_previous_hash() -> None:
    entries = [entry(1), entry(2), entry(3)]
    seals = seal(entries, last_seq=0, last_hash=GENESIS_HASH)
    assert [s.seq for s in seals] == [1, 2, 3]
    assert seals[0].prev_hash == GENESIS_HASH
    assert seals[1].prev_hash == seals[0].hash
    assert seals[2].prev_hash == seals[1].hash
    assert len({s.hash for s in seals}) == 3


def test_sealing_continues_an_existing_chain() -> None:
    first = seal([entry(1)], last_seq=0, last_hash=GENESIS_HASH)
    second = seal([entry(2)], last_seq=first[-1].seq, last_hash=first[-1].hash)
    all_at_once = seal([entry(1), entry(2)], last_seq=0, last_hash=GENESIS_HASH)
    # entries differ in random uuids between calls, so compare structure, not hashes
    assert second[0].seq == 2 and second[0].prev_hash == first[0].hash
    assert [s.seq for s in all_at_once] == [1, 2]


def test_intact_chain_verifies() -> None:
    entries = [entry(i) for i in range(1, 6)]
    seals = seal(entries, last_seq=0, last_hash=GENESIS_HASH)
    report = verify_chain(zip(seals, entries, strict=True))
    assert report.ok and report.checked == 5 and report.first_bad_id is None


def test_edited_entry_is_reported_as_first_bad() -> None:
    entries = [entry(i) for i in range(1, 6)]
    seals = seal(entries, last_seq=0, last_hash=GENESIS_HASH)
    entries[2].new_values = {"name": "forged"}
    report = verify_chain(zip(seals, entries, strict=True))
    assert not report.ok
    assert report.first_bad_id == 3
    assert report.checked == 2


def test_missing_entry_and_gap_in_sequence_are_detected() -> None:
    entries = [entry(i) for i in range(1, 4)]
    seals = seal(entries, last_seq=0, last_hash=GENESIS_HASH)
    missing = verify_chain([(seals[0], entries[0]), (seals[1], None), (seals[2], entries[2])])
    assert (missing.ok, missing.first_bad_id) == (False, 2)
    gap = verify_chain([(seals[0], entries[0]), (seals[2], entries[2])])
    assert (gap.ok, gap.first_bad_id) == (False, 3)


def test_reordered_links_fail() -> None:
    entries = [entry(i) for i in range(1, 4)]
    seals = seal(entries, last_seq=0, last_hash=GENESIS_HASH)
    report = verify_chain([(seals[1], entries[1]), (seals[0], entries[0])])
    assert not report.ok


def test_hash_does_not_depend_on_timezone_representation() -> None:
    utc = entry(1)
    plus_one = dataclasses.replace(
        utc, occurred_at=utc.occurred_at.astimezone(timezone(timedelta(hours=1)))
    )
    assert chain_hash(GENESIS_HASH, utc) == chain_hash(GENESIS_HASH, plus_one)


def test_hash_covers_every_recorded_field() -> None:
    original = entry(1)
    base = chain_hash(GENESIS_HASH, original)
    for change in (
        {"reason": "other"},
        {"request_id": "other"},
        {"device_id": "tablet-7"},
        {"action": AuditAction.DELETE},
        {"old_values": None},
        {"user_id": None},
        {"occurred_at": T0},
    ):
        assert chain_hash(GENESIS_HASH, dataclasses.replace(original, **change)) != base, change  # type: ignore[arg-type]
