"""Reference data kept per process: reused while unchanged, reloaded after any change.

Two caches on one database stand for two server processes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from adapters.reference_data import WHO
from adapters.sqlalchemy.reference_cache import ReferenceDataCache
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork, make_session_factory
from domain.lab_data import ReferenceData

pytestmark = pytest.mark.integration

Process = Callable[[], SqlAlchemyUnitOfWork]


def process(engine: sa.Engine, cache: ReferenceDataCache) -> Process:
    sessions = make_session_factory(engine)
    return lambda: SqlAlchemyUnitOfWork(sessions, reference_cache=cache)


def who_nitrate_max(reference: ReferenceData) -> float | None:
    (limit,) = [x for x in reference.applicable_limits("nitrate") if x.standard == WHO]
    return limit.max


def edit_who_nitrate(uow: SqlAlchemyUnitOfWork, maximum: float) -> None:
    limit = uow.standards.get_limit(WHO, "nitrate")
    assert limit is not None
    limit.max = maximum


def test_unchanged_reference_data_is_read_once_per_process(engine: sa.Engine) -> None:
    cache = ReferenceDataCache()
    uow_of = process(engine, cache)
    with uow_of() as uow:
        first = uow.reference()
    with uow_of() as uow:
        assert uow.reference() is first
    assert cache.loads == 1
    assert who_nitrate_max(first) == 50


def test_a_change_committed_by_another_process_is_seen_by_the_next_unit_of_work(
    engine: sa.Engine,
) -> None:
    mine, theirs = ReferenceDataCache(), ReferenceDataCache()
    with process(engine, mine)() as uow:
        assert who_nitrate_max(uow.reference()) == 50
    with process(engine, theirs)() as uow:
        edit_who_nitrate(uow, 45.0)
        uow.commit()
    with process(engine, mine)() as uow:
        assert who_nitrate_max(uow.reference()) == 45
    assert mine.loads == 2


def test_a_unit_of_work_sees_its_own_pending_change_and_a_rollback_leaves_no_trace(
    engine: sa.Engine,
) -> None:
    cache = ReferenceDataCache()
    uow_of = process(engine, cache)
    with uow_of() as uow:
        assert who_nitrate_max(uow.reference()) == 50
        edit_who_nitrate(uow, 10.0)  # pending in the session, not flushed yet
        assert who_nitrate_max(uow.reference()) == 10
        uow.rollback()
    with uow_of() as uow:
        assert who_nitrate_max(uow.reference()) == 50
    # Another process commits a change after that rollback: its version is new too (a
    # sequence never repeats a value), so the rolled-back copy can never be taken for it.
    with process(engine, ReferenceDataCache())() as uow:
        edit_who_nitrate(uow, 10.5)
        uow.commit()
    with uow_of() as uow:
        assert who_nitrate_max(uow.reference()) == 10.5


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE parameters SET max_value = 99999 WHERE code = 'nitrate'",
        "INSERT INTO standards (code, name, kind) VALUES ('EU-DWD-2020', 'EU', 'regulation')",
        "DELETE FROM standard_limits WHERE standard_code = 'WHO-GDWQ-2022' "
        "AND parameter_code = 'nitrate'",
    ],
)
def test_every_kind_of_change_to_the_three_tables_is_noticed(
    engine: sa.Engine, change: str
) -> None:
    cache = ReferenceDataCache()
    uow_of = process(engine, cache)
    with uow_of() as uow:
        before = uow.reference()
    with engine.begin() as conn:
        conn.execute(sa.text(change))
    with uow_of() as uow:
        after = uow.reference()
    assert after is not before
    assert cache.loads == 2
    nitrate = after.get_by_code("nitrate")
    assert nitrate is not None
    changed = (
        nitrate.max_value == 99999,
        [s.code for s in after.all()] != [s.code for s in before.all()],
        len(after.applicable_limits("nitrate")) == 1,
    )
    assert any(changed)


def test_kept_objects_belong_to_no_session(engine: sa.Engine) -> None:
    """They outlive the unit of work that loaded them and are read by other threads: a
    session expiring what it loaded (a rollback does) must not reach them."""
    uow_of = process(engine, ReferenceDataCache())
    with uow_of() as uow:
        reference = uow.reference()
        loaded = [*reference.all(), *reference.limits_for_parameter("nitrate")]
        assert all(sa.inspect(obj).session is None for obj in loaded)
        uow.session.expire_all()
    nitrate = reference.get_by_code("nitrate")
    assert nitrate is not None
    assert (nitrate.code, nitrate.unit) == ("nitrate", "mg/L")
    assert [s.code for s in reference.all()] == ["NM-03.7.001-2006", WHO]
    assert who_nitrate_max(reference) == 50
