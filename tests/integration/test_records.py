"""Plain records tracked by the SQL unit of work: samples, results, sync devices (ADR 0013).

The contract suite shows the application-visible behaviour is the same on both storages;
these tests pin the tracker's own promises on a real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork, make_session_factory
from domain.compliance import ComplianceStatus
from domain.errors import Conflict
from domain.lab_data import Sample, SampleStatus
from domain.sync import DeviceStatus, SyncDevice
from tests.factories import T0, LabFactory, ResultFactory, SampleFactory, UserFactory

pytestmark = pytest.mark.integration

NewUow = Callable[[], SqlAlchemyUnitOfWork]


@pytest.fixture
def new_uow(engine: sa.Engine) -> NewUow:
    factory = make_session_factory(engine)
    return lambda: SqlAlchemyUnitOfWork(factory)


@pytest.fixture
def stored(new_uow: NewUow) -> list[Sample]:
    lab = LabFactory()
    samples = [SampleFactory(lab_id=lab.id) for _ in range(3)]
    with new_uow() as uow:
        uow.labs.add(lab)
        for sample in samples:
            uow.samples.add(sample)
        uow.commit()
    return samples


def _row(engine: sa.Engine, sample: Sample) -> sa.Row[tuple[object, ...]]:
    with engine.connect() as conn:
        return conn.execute(sa.select(tables.samples).where(tables.samples.c.id == sample.id)).one()


def test_one_object_per_id_within_a_unit_of_work(new_uow: NewUow, stored: list[Sample]) -> None:
    with new_uow() as uow:
        first = uow.samples.get(stored[0].id)
        again = uow.samples.get_many([stored[0].id, stored[1].id])[stored[0].id]
        assert first is again is uow.samples.get_including_deleted(stored[0].id)


def test_only_changed_records_and_columns_are_written(
    new_uow: NewUow, stored: list[Sample], engine: sa.Engine
) -> None:
    untouched_before = _row(engine, stored[2])
    with new_uow() as uow:
        a, b, c = (uow.samples.get(s.id) for s in stored)
        assert a is not None and b is not None and c is not None
        a.notes = "turbid on arrival"
        b.status = SampleStatus.RECEIVED
        # Meanwhile another writer changes a column of `a` this unit of work never touched.
        with engine.begin() as other:
            other.execute(
                sa.update(tables.samples)
                .where(tables.samples.c.id == a.id)
                .values(collector_name="Changed elsewhere")
            )
        uow.commit()
    assert _row(engine, stored[0]).notes == "turbid on arrival"
    assert _row(engine, stored[0]).collector_name == "Changed elsewhere"
    assert _row(engine, stored[1]).status == SampleStatus.RECEIVED
    assert _row(engine, stored[2]) == untouched_before  # not even restamped


def test_pending_changes_are_visible_to_the_next_query(
    new_uow: NewUow, stored: list[Sample]
) -> None:
    sample = stored[0]
    with new_uow() as uow:
        uow.results.add(
            ResultFactory(
                lab_id=sample.lab_id, sample_id=sample.id, compliance_status=ComplianceStatus.FAIL
            )
        )
        assert uow.results.statuses_for_samples([sample.id]) == {sample.id: [ComplianceStatus.FAIL]}
        assert [r.sample_id for r in uow.results.list_for_sample(sample.id)] == [sample.id]


def test_a_rollback_forgets_every_change(new_uow: NewUow, stored: list[Sample]) -> None:
    with new_uow() as uow:
        sample = uow.samples.get(stored[0].id)
        assert sample is not None
        sample.notes = "never stored"
        uow.samples.add(SampleFactory(lab_id=sample.lab_id))
        uow.rollback()
        reloaded = uow.samples.get(stored[0].id)
        assert reloaded is not None and reloaded is not sample
        assert reloaded.notes == stored[0].notes
        uow.commit()  # nothing left to write
    with new_uow() as uow:
        assert uow.samples.get(stored[0].id).notes == stored[0].notes  # type: ignore[union-attr]


def test_a_locking_read_sees_the_latest_committed_row(
    new_uow: NewUow, stored: list[Sample], engine: sa.Engine
) -> None:
    with new_uow() as uow:
        early = uow.samples.get(stored[0].id)
        assert early is not None and early.version == 1
        with engine.begin() as other:
            other.execute(
                sa.update(tables.samples)
                .where(tables.samples.c.id == early.id)
                .values(version=2, notes="from another transaction")
            )
        locked = uow.samples.get_many([early.id], lock=True)[early.id]
        assert locked is early
        assert (early.version, early.notes) == (2, "from another transaction")


def test_a_locking_read_of_many_holds_each_row_until_the_end_and_reads_all_others_plainly(
    new_uow: NewUow, stored: list[Sample], engine: sa.Engine
) -> None:
    locked_ids = sorted([stored[2].id, stored[0].id])
    free_id = stored[1].id

    def try_lock(record_id: object) -> bool:
        with engine.connect() as other:
            other.exec_driver_sql("SET lock_timeout = '50ms'")
            try:
                other.execute(
                    sa.select(tables.samples.c.id)
                    .where(tables.samples.c.id == record_id)
                    .with_for_update()
                )
            except sa.exc.OperationalError:
                return False
            finally:
                other.rollback()
            return True

    with new_uow() as uow:
        locked = uow.samples.get_many(set(locked_ids), lock=True)
        assert sorted(locked) == locked_ids
        plain = uow.samples.get_many([free_id, stored[0].id, stored[1].id])
        assert plain[stored[0].id] is locked[stored[0].id]  # one object per id
        assert plain[free_id].location == stored[1].location
        assert [try_lock(i) for i in (*locked_ids, free_id)] == [False, False, True]
    assert all(try_lock(i) for i in locked_ids)  # released with the unit of work


def test_a_device_is_keyed_by_its_id_and_one_created_meanwhile_is_a_conflict(
    new_uow: NewUow, stored: list[Sample]
) -> None:
    lab_id = stored[0].lab_id
    user = UserFactory(lab_id=lab_id)
    with new_uow() as uow:
        uow.users.add(user)
        uow.commit()
    with new_uow() as first, new_uow() as second:
        first.sync_devices.add(SyncDevice("tablet-7", user.id, lab_id, T0))
        first.commit()
        # The other request read "no such device" before that commit, then creates it.
        with pytest.raises(Conflict):
            second.sync_devices.add(SyncDevice("tablet-7", user.id, lab_id, T0))
        # Only the savepoint was rolled back: the rest of its transaction goes on.
        device = second.sync_devices.get("tablet-7", lock=True)
        assert device is not None and device.user_id == user.id
        assert second.sync_devices.get("tablet-7") is device
        device.last_mutation_id, device.status = 42, DeviceStatus.PARTIAL
        device.last_error = "mutation 40: rejected"
        second.commit()
    with new_uow() as uow:
        again = uow.sync_devices.get("tablet-7")
        assert again is not None
        assert (again.last_mutation_id, again.status, again.last_error) == (
            42,
            DeviceStatus.PARTIAL,
            "mutation 40: rejected",
        )
        assert uow.sync_devices.get("tablet-8") is None
