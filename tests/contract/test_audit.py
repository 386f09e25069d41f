"""Audit trail (append, list newest first with filters) and the hash chain."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest

from domain.audit import GENESIS_HASH, AuditAction, AuditEntityType, AuditEntry, seal
from domain.paging import PageRequest
from domain.ports import AuditQuery
from entrypoints.container import Container
from tests.contract.helpers import make_entry, remove_entry, tamper_entry
from tests.factories import T0

H = timedelta(hours=1)
ALICE, BOB = uuid4(), uuid4()


@pytest.fixture
def trail(save: Callable[..., None]) -> list[AuditEntry]:
    """Six entries in three transactions; `request_id` names each one."""
    entries = [
        make_entry(request_id="e1", occurred_at=T0, user_id=ALICE, entity_id="u-1"),
        make_entry(
            request_id="e2",
            occurred_at=T0 + H,
            user_id=BOB,
            entity_id="u-1",
            action=AuditAction.UPDATE,
            old_values={"name": "A"},
            new_values={"name": "B"},
            reason="typo",
        ),
        make_entry(
            request_id="e3",
            occurred_at=T0 + 2 * H,
            user_id=ALICE,
            entity_type=AuditEntityType.LAB,
            entity_id="lab-1",
            lab_id=uuid4(),
        ),
        make_entry(
            request_id="e4",
            occurred_at=T0 + 3 * H,
            user_id=None,
            entity_id="u-2",
            action=AuditAction.DELETE,
            old_values={"name": "C"},
            new_values=None,
        ),
        make_entry(
            request_id="e5",
            occurred_at=T0 + 4 * H,
            user_id=BOB,
            entity_type=AuditEntityType.LAB,
            entity_id="lab-1",
            action=AuditAction.UPDATE,
            device_id="tablet-7",
        ),
        make_entry(request_id="e6", occurred_at=T0 + 5 * H, user_id=ALICE, entity_id="u-3"),
    ]
    save(*entries[:2])
    save(entries[2])
    save(*entries[3:])
    return entries


def _listed(container: Container, query: AuditQuery) -> tuple[list[str], int, bool]:
    with container.uow() as uow:
        page = uow.audit.list(query)
        return [e.request_id or "" for e in page.items], page.total, page.has_more


def test_list_is_newest_first_and_round_trips_every_field(
    container: Container, trail: list[AuditEntry]
) -> None:
    assert _listed(container, AuditQuery()) == (["e6", "e5", "e4", "e3", "e2", "e1"], 6, False)
    with container.uow() as uow:
        items = uow.audit.list(AuditQuery()).items
        ids = [e.id for e in items]
        second = next(e for e in items if e.request_id == "e2")
        lab_entry = next(e for e in items if e.request_id == "e3")
        assert all(isinstance(i, int) for i in ids)
        assert ids == sorted(ids, reverse=True)
        assert len(set(ids)) == 6
        assert (second.occurred_at, second.user_id, second.entity_id) == (T0 + H, BOB, "u-1")
        assert (second.entity_type, second.action) == (AuditEntityType.USER, AuditAction.UPDATE)
        assert (second.old_values, second.new_values) == ({"name": "A"}, {"name": "B"})
        assert second.reason == "typo"
        assert lab_entry.lab_id == trail[2].lab_id
        assert next(e for e in items if e.request_id == "e5").device_id == "tablet-7"
        assert next(e for e in items if e.request_id == "e4").new_values is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (AuditQuery(date_from=T0 + 3 * H), ["e6", "e5", "e4"]),  # bounds are inclusive
        (AuditQuery(date_to=T0 + H), ["e2", "e1"]),
        (AuditQuery(date_from=T0 + H, date_to=T0 + 2 * H), ["e3", "e2"]),
        (AuditQuery(date_from=T0 + 6 * H), []),
        (AuditQuery(user_id=ALICE), ["e6", "e3", "e1"]),
        (AuditQuery(user_id=uuid4()), []),
        (AuditQuery(entity_type=AuditEntityType.LAB), ["e5", "e3"]),
        (AuditQuery(entity_id="u-1"), ["e2", "e1"]),
        (AuditQuery(action=AuditAction.UPDATE), ["e5", "e2"]),
        (AuditQuery(action=AuditAction.RESOLVE), []),
        (
            AuditQuery(entity_type=AuditEntityType.LAB, entity_id="lab-1", user_id=BOB),
            ["e5"],
        ),
        (AuditQuery(user_id=ALICE, date_from=T0 + H, action=AuditAction.CREATE), ["e6", "e3"]),
    ],
)
def test_filters(
    container: Container, trail: list[AuditEntry], query: AuditQuery, expected: list[str]
) -> None:
    names, total, _ = _listed(container, query)
    assert names == expected
    assert total == len(expected)


def test_paging(container: Container, trail: list[AuditEntry]) -> None:
    pages = [
        _listed(container, AuditQuery(page=PageRequest(limit=4, offset=offset)))
        for offset in (0, 4, 8)
    ]
    assert pages == [
        (["e6", "e5", "e4", "e3"], 6, True),
        (["e2", "e1"], 6, False),
        ([], 6, False),
    ]
    assert _listed(container, AuditQuery(user_id=ALICE, page=PageRequest(limit=2, offset=0))) == (
        ["e6", "e3"],
        3,
        True,
    )


# --- the chain ----------------------------------------------------------------------


def _entry_id(container: Container, request_id: str) -> int:
    with container.uow() as uow:
        found = [e.id for e in uow.audit.list(AuditQuery()).items if e.request_id == request_id]
    assert len(found) == 1
    return int(found[0] or 0)


def test_sealed_chain_verifies_and_covers_every_entry_in_order(
    container: Container, trail: list[AuditEntry]
) -> None:
    chain = container.audit_chain()
    chain.seal_pending()
    assert chain.seal_pending() == 0  # nothing left to seal
    report = chain.verify()
    assert (report.ok, report.checked, report.first_bad_id, report.pending) == (True, 6, None, 0)

    # The chain is exactly the stored entries in id order, hashed from what was stored.
    with container.uow() as uow:
        stored = sorted(uow.audit.list(AuditQuery()).items, key=lambda e: e.id or 0)
        expected_head = seal(stored, last_seq=0, last_hash=GENESIS_HASH)[-1].hash
    assert chain.head_hash() == expected_head


def test_chain_grows_with_later_commits(
    container: Container, trail: list[AuditEntry], save: Callable[..., None]
) -> None:
    chain = container.audit_chain()
    chain.seal_pending()
    head = chain.head_hash()
    save(make_entry(request_id="e7"), make_entry(request_id="e8"))
    chain.seal_pending()
    assert chain.head_hash() != head
    report = chain.verify()
    assert (report.ok, report.checked, report.pending) == (True, 8, 0)


def test_empty_chain_verifies(container: Container) -> None:
    chain = container.audit_chain()
    assert chain.seal_pending() == 0
    assert chain.head_hash() == GENESIS_HASH
    report = chain.verify()
    assert (report.ok, report.checked, report.first_bad_id, report.pending) == (True, 0, None, 0)


@pytest.mark.parametrize("victim", ["e1", "e4", "e6"])
def test_a_tampered_entry_is_detected(
    container: Container, trail: list[AuditEntry], victim: str
) -> None:
    chain = container.audit_chain()
    chain.seal_pending()
    assert chain.verify().ok
    bad_id = _entry_id(container, victim)
    tamper_entry(container, bad_id)

    report = chain.verify()
    assert report.ok is False
    assert report.first_bad_id == bad_id
    assert report.checked == int(victim[1:]) - 1  # the links before it still verify


def test_a_removed_entry_is_detected(container: Container, trail: list[AuditEntry]) -> None:
    chain = container.audit_chain()
    chain.seal_pending()
    bad_id = _entry_id(container, "e3")
    remove_entry(container, bad_id)

    report = chain.verify()
    assert report.ok is False
    assert report.first_bad_id == bad_id
    assert report.checked == 2


def test_a_rolled_back_entry_never_reaches_the_chain(
    container: Container, trail: list[AuditEntry]
) -> None:
    with container.uow() as uow:
        uow.audit.append(make_entry(request_id="ghost"))
    chain = container.audit_chain()
    chain.seal_pending()
    report = chain.verify()
    assert (report.ok, report.checked, report.pending) == (True, 6, 0)
    assert "ghost" not in _listed(container, AuditQuery())[0]
