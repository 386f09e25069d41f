"""`aqualab purge` behind its port: the same rules on both storages (docs/deploy.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from adapters.clock import FixedClock
from application.housekeeping import Purge, PurgeDeps, PurgeSettings
from domain.audit import AuditEntityType
from domain.housekeeping import Housekeeping
from domain.lab_data import Sample, TestResult
from domain.model import AuthSession, Lab, PasswordResetToken, RefreshToken, User
from domain.ports import AuditQuery
from domain.sync import Resolution, SyncConflict
from domain.tasks import Task
from entrypoints.container import Container
from tests.contract.helpers import make_entry
from tests.factories import T0, LabFactory, ResultFactory, SampleFactory, UserFactory

DAY = timedelta(days=1)
NOW = T0 + 400 * DAY
ACCESS_TTL = DAY
RETENTION = 90 * DAY
OLD = NOW - RETENTION - DAY  # deleted before the retention window
RECENT = NOW - RETENTION + DAY  # deleted inside it


def _purge(container: Container, now: datetime = NOW) -> Purge:
    deps = PurgeDeps(
        store=container.housekeeping_store(),
        clock=FixedClock(now),
        settings=PurgeSettings(access_ttl=ACCESS_TTL, tombstone_retention=RETENTION),
    )
    return Purge(deps)


def _session(user: User, expires_at: datetime, revoked_at: datetime | None = None) -> AuthSession:
    return AuthSession(
        id=uuid4(), user_id=user.id, created_at=T0, expires_at=expires_at, revoked_at=revoked_at
    )


def _refresh(session: AuthSession, expires_at: datetime, rotated: bool = False) -> RefreshToken:
    return RefreshToken(
        id=uuid4(),
        session_id=session.id,
        user_id=session.user_id,
        token_hash=f"hash-{uuid4()}",
        created_at=T0,
        expires_at=expires_at,
        rotated_at=T0 if rotated else None,
    )


def _reset(user: User, expires_at: datetime, used: bool = False) -> PasswordResetToken:
    return PasswordResetToken(
        id=uuid4(),
        user_id=user.id,
        token_hash=f"reset-{uuid4()}",
        created_at=T0,
        expires_at=expires_at,
        used_at=T0 if used else None,
    )


def _conflict(lab: Lab, entity: str, record_id: UUID, resolved: bool) -> SyncConflict:
    return SyncConflict(
        id=uuid4(),
        lab_id=lab.id,
        entity=entity,
        record_id=record_id,
        device_id="device-1",
        user_id=None,
        mutation_id=1,
        resolution=Resolution.SERVER_WON,
        server_data=None,
        client_data={"op": "delete"},
        version=2,
        created_at=T0,
        resolved=resolved,
    )


def test_sessions_and_tokens_go_only_when_no_token_of_them_can_work(
    container: Container, user: User
) -> None:
    live = _session(user, expires_at=NOW + DAY)
    live_rotated = _refresh(live, expires_at=NOW - DAY, rotated=True)  # reuse detection
    live_current = _refresh(live, expires_at=NOW + DAY)
    just_revoked = _session(user, expires_at=NOW + DAY, revoked_at=NOW - ACCESS_TTL / 2)
    just_revoked_token = _refresh(just_revoked, expires_at=NOW + DAY)
    long_revoked = _session(user, expires_at=NOW + DAY, revoked_at=NOW - 2 * ACCESS_TTL)
    long_revoked_token = _refresh(long_revoked, expires_at=NOW + DAY)
    just_expired = _session(user, expires_at=NOW - ACCESS_TTL / 2)
    just_expired_token = _refresh(just_expired, expires_at=NOW - ACCESS_TTL / 2)
    long_expired = _session(user, expires_at=NOW - 2 * ACCESS_TTL)
    long_expired_token = _refresh(long_expired, expires_at=NOW - 2 * ACCESS_TTL)
    used = _reset(user, expires_at=NOW + DAY, used=True)
    expired = _reset(user, expires_at=NOW - DAY)
    usable = _reset(user, expires_at=NOW + DAY)
    sessions = [live, just_revoked, long_revoked, just_expired, long_expired]
    refresh = [
        live_rotated,
        live_current,
        just_revoked_token,
        long_revoked_token,
        just_expired_token,
        long_expired_token,
    ]
    with container.uow() as uow:
        for s in sessions:
            uow.sessions.add(s)
        uow.commit()  # sessions first: the SQL mappers do not order inserts across tables
    with container.uow() as uow:
        for t in refresh:
            uow.refresh_tokens.add(t)
        for r in (used, expired, usable):
            uow.reset_tokens.add(r)
        uow.commit()

    report = _purge(container)()

    # Tokens of ended sessions (revoked, or expired) go; a live session keeps all of its.
    assert report.refresh_tokens == 4
    assert report.password_reset_tokens == 2
    # Sessions go once every access token they issued has expired too.
    assert report.sessions == 2
    with container.uow() as uow:
        assert {s.id for s in sessions if uow.sessions.get(s.id) is not None} == {
            live.id,
            just_revoked.id,
            just_expired.id,
        }
        revoked = uow.sessions.get(just_revoked.id)
        assert revoked is not None
        assert revoked.revoked_at == NOW - ACCESS_TTL / 2  # still revoked: still refused
        kept = {t.id for t in refresh if uow.refresh_tokens.get_by_hash_for_update(t.token_hash)}
        assert kept == {live_rotated.id, live_current.id}
        resets = {
            r.id
            for r in (used, expired, usable)
            if uow.reset_tokens.get_by_hash_for_update(r.token_hash)
        }
        assert resets == {usable.id}

    assert _purge(container)().total == 0  # idempotent


@pytest.fixture
def lab(container: Container) -> Lab:
    stored = LabFactory()
    with container.uow() as uow:
        uow.labs.add(stored)
        uow.commit()
    return stored


def _store(container: Container, *records: Sample | TestResult | SyncConflict) -> None:
    with container.uow() as uow:
        for record in records:
            if isinstance(record, Sample):
                uow.samples.add(record)
        uow.commit()
    with container.uow() as uow:
        for record in records:
            if isinstance(record, TestResult):
                uow.results.add(record)
            elif isinstance(record, SyncConflict):
                uow.sync_conflicts.add(record)
        uow.commit()


def _sample(lab: Lab, deleted_at: datetime | None) -> Sample:
    sample: Sample = SampleFactory(lab_id=lab.id, deleted_at=deleted_at)
    return sample


def _result(sample: Sample, deleted_at: datetime | None) -> TestResult:
    result: TestResult = ResultFactory(
        lab_id=sample.lab_id, sample_id=sample.id, deleted_at=deleted_at
    )
    return result


@pytest.mark.parametrize("batch_size", [1000, 1])
def test_old_tombstones_go_results_before_their_samples_and_never_the_audit_trail(
    container: Container, lab: Lab, save: Callable[..., None], batch_size: int
) -> None:
    gone_sample = _sample(lab, OLD)
    gone_results = [_result(gone_sample, OLD), _result(gone_sample, OLD - DAY)]
    # A sample with a result still inside the retention window waits for it.
    waiting_sample = _sample(lab, OLD)
    waiting_result = _result(waiting_sample, RECENT)
    recent_sample = _sample(lab, RECENT)
    live_sample = _sample(lab, None)
    live_result = _result(live_sample, None)
    old_result_of_live_sample = _result(live_sample, OLD)
    # An unresolved sync conflict keeps its record (resolving it may bring it back).
    disputed_sample = _sample(lab, OLD)
    settled_sample = _sample(lab, OLD)
    disputed_result = _result(live_sample, OLD)
    _store(
        container,
        gone_sample,
        waiting_sample,
        recent_sample,
        live_sample,
        disputed_sample,
        settled_sample,
        *gone_results,
        waiting_result,
        live_result,
        old_result_of_live_sample,
        disputed_result,
        _conflict(lab, "sample", disputed_sample.id, resolved=False),
        _conflict(lab, "sample", settled_sample.id, resolved=True),
        _conflict(lab, "result", disputed_result.id, resolved=False),
        # A conflict about a *result* does not hold a *sample* with the same id.
        _conflict(lab, "result", gone_sample.id, resolved=False),
    )
    save(*[make_entry(entity_type=AuditEntityType.SAMPLE, entity_id=str(i)) for i in range(3)])
    with container.uow() as uow:
        audit_before = uow.audit.list(AuditQuery()).total

    report = _purge(container)(batch_size=batch_size)

    assert report.tombstones == {"task": 0, "result": 3, "sample": 2}
    with container.uow() as uow:
        samples = [
            gone_sample,
            waiting_sample,
            recent_sample,
            live_sample,
            disputed_sample,
            settled_sample,
        ]
        assert {s.id for s in samples if uow.samples.get_including_deleted(s.id)} == {
            waiting_sample.id,
            recent_sample.id,
            live_sample.id,
            disputed_sample.id,
        }
        results = [*gone_results, waiting_result, live_result, old_result_of_live_sample]
        assert {
            r.id for r in [*results, disputed_result] if uow.results.get_including_deleted(r.id)
        } == {
            waiting_result.id,
            live_result.id,
            disputed_result.id,
        }
        assert uow.audit.list(AuditQuery()).total == audit_before

    # Once the last result has aged out, its sample follows in the same run.
    later = _purge(container, now=RECENT + RETENTION + DAY)()
    assert later.tombstones == {"task": 0, "result": 1, "sample": 2}  # waiting, recent
    assert _purge(container, now=RECENT + RETENTION + DAY)().total == 0


def test_purge_rejects_a_batch_size_below_one(container: Container) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        _purge(container)(batch_size=0)


def test_the_store_lists_the_tombstone_entities_children_first(container: Container) -> None:
    store: Housekeeping = container.housekeeping_store()
    entities = list(store.tombstone_entities())
    assert entities.index("result") < entities.index("sample")
    assert entities.index("task") < entities.index("sample")


def test_old_task_tombstones_go_and_a_live_task_keeps_the_sample_it_names(
    container: Container, lab: Lab, save: Callable[..., None]
) -> None:
    owner = UserFactory()
    save(owner)
    named_by_live_task = _sample(lab, OLD)
    named_by_old_tombstone = _sample(lab, OLD)
    _store(container, named_by_live_task, named_by_old_tombstone)

    def task(sample: Sample | None, deleted_at: datetime | None) -> Task:
        return Task(
            id=uuid4(),
            owner_id=owner.id,
            title="Resample the well",
            created_at=T0,
            updated_at=T0,
            sample_id=sample.id if sample else None,
            deleted_at=deleted_at,
        )

    live = task(named_by_live_task, None)
    old = task(named_by_old_tombstone, OLD)
    recent = task(None, RECENT)
    with container.uow() as uow:
        for t in (live, old, recent):
            uow.tasks.add(t)
        uow.commit()

    report = _purge(container)()

    assert report.tombstones == {"task": 1, "result": 0, "sample": 1}
    with container.uow() as uow:
        kept = [t.id for t in (live, old, recent) if uow.tasks.get_including_deleted(t.id)]
        assert kept == [live.id, recent.id]
        assert uow.samples.get_including_deleted(named_by_live_task.id) is not None
        assert uow.samples.get_including_deleted(named_by_old_tombstone.id) is None
