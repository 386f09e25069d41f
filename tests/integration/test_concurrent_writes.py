"""Writes that read, check and change a sample, made at once on PostgreSQL.

Each use case runs in its own thread and unit of work, as concurrent requests do. The
sample is locked by every write that changes it, so no change is lost: the status is
the worst of all results, the version counts every change, and of two updates made
against the same version exactly one wins.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from application.context import Caller, Principal, RequestMeta
from application.samples import CreateResultCommand, CreateSampleCommand, UpdateSampleCommand
from domain.audit import AuditAction, AuditEntityType
from domain.compliance import ComplianceStatus
from domain.errors import PreconditionFailed, VersionConflict
from domain.lab_data import Sample
from domain.paging import PageRequest
from domain.ports import AuditQuery
from domain.roles import Role
from entrypoints.container import Container
from tests.factories import LabFactory

pytestmark = pytest.mark.integration

WRITERS = 12


def technician(lab_id: UUID) -> Caller:
    return Caller(
        Principal(user_id=uuid4(), role=Role.TECHNICIAN, lab_id=lab_id),
        RequestMeta(request_id="concurrent", reason="concurrency test"),
    )


def new_sample(container: Container, who: Caller) -> UUID:
    view = container.create_sample()(
        who,
        CreateSampleCommand(
            {
                "type": "drinking",
                "location": "Well 7",
                "collection_date": datetime(2025, 3, 1, tzinfo=UTC),
                "collector_name": "A. Collector",
            }
        ),
    )
    return view.id


@pytest.fixture
def lab_sample(sql_container: Container) -> tuple[Caller, UUID]:
    """A technician of a new lab, and a sample of theirs with no results yet."""
    lab = LabFactory()
    with sql_container.uow() as uow:
        uow.labs.add(lab)
        uow.commit()
    who = technician(lab.id)
    return who, new_sample(sql_container, who)


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call on its own thread; each outcome is a value or the exception raised."""

    start = threading.Barrier(len(calls))

    def outcome(call: Callable[[], Any]) -> Any:
        start.wait()
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(outcome, calls))


def stored_sample(container: Container, sample_id: UUID) -> Sample:
    with container.uow(read_only=True) as uow:
        sample = uow.samples.get(sample_id)
        assert sample is not None
        return sample


def test_results_created_at_once_leave_the_worst_status_and_every_version(
    sql_container: Container, lab_sample: tuple[Caller, UUID]
) -> None:
    container = sql_container
    who, sample_id = lab_sample
    # Nitrate at 12 passes both standards, at 80 fails both; one failing result among
    # many passing ones must end up deciding the sample's status whatever the order.
    values = [12.0] * (WRITERS - 1) + [80.0]
    create = container.create_result()
    outcomes = at_once(
        [
            lambda v=v: create(
                who,
                CreateResultCommand(
                    sample_id,
                    {
                        "parameter": "nitrate",
                        "value": v,
                        "unit": "mg/L",
                        "test_date": datetime(2025, 3, 2, tzinfo=UTC),
                    },
                ),
            )
            for v in values
        ]
    )
    assert not [o for o in outcomes if isinstance(o, Exception)]
    sample = stored_sample(container, sample_id)
    assert sample.compliance_status is ComplianceStatus.FAIL
    with container.uow() as uow:
        statuses = uow.results.statuses_for_samples([sample_id])[sample_id]
        changes = uow.audit.list(
            AuditQuery(
                entity_type=AuditEntityType.SAMPLE,
                entity_id=str(sample_id),
                action=AuditAction.UPDATE,
                page=PageRequest(limit=100),
            )
        )
    assert sorted(statuses) == sorted(
        [ComplianceStatus.PASS] * (WRITERS - 1) + [ComplianceStatus.FAIL]
    )
    # pending -> pass (or fail), then pass -> fail at most once more; no change lost:
    # each one a new version and an audit entry whose values follow on from the last.
    assert sample.version in (2, 3)
    assert changes.total == sample.version - 1
    entries = sorted(changes.items, key=lambda e: e.id)
    assert [e.new_values["version"] for e in entries] == list(range(2, sample.version + 1))


def test_of_two_updates_against_the_same_version_exactly_one_wins(
    sql_container: Container, lab_sample: tuple[Caller, UUID]
) -> None:
    container = sql_container
    who, sample_id = lab_sample
    update = container.update_sample()
    outcomes = at_once(
        [
            lambda n=n: update(
                who,
                UpdateSampleCommand(sample_id, {"notes": f"writer {n}"}, if_match=1),
            )
            for n in range(WRITERS)
        ]
    )
    won = [o for o in outcomes if not isinstance(o, Exception)]
    lost = [o for o in outcomes if isinstance(o, Exception)]
    assert len(won) == 1
    assert all(isinstance(o, PreconditionFailed | VersionConflict) for o in lost), lost
    sample = stored_sample(container, sample_id)
    assert (sample.version, sample.notes) == (2, won[0].notes)
