"""The SQL unit of work maps unique violations to Conflict, and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork, make_session_factory
from domain.errors import Conflict
from domain.model import AuthSession
from domain.ports import UserQuery
from tests.factories import T0, LabFactory, UserFactory

pytestmark = pytest.mark.integration

FOREIGN_KEY_VIOLATION = "23503"


NewUow = Callable[[], SqlAlchemyUnitOfWork]


@pytest.fixture
def new_uow(engine: sa.Engine) -> NewUow:
    factory = make_session_factory(engine)
    return lambda: SqlAlchemyUnitOfWork(factory)


def test_unknown_lab_is_an_integrity_error_not_a_conflict(new_uow: NewUow) -> None:
    user = UserFactory(lab_id=uuid4())
    with new_uow() as uow:
        uow.users.add(user)
        with pytest.raises(sa.exc.IntegrityError) as caught:
            uow.commit()
    assert not isinstance(caught.value, Conflict)
    assert getattr(caught.value.orig, "sqlstate", None) == FOREIGN_KEY_VIOLATION
    with new_uow() as uow:
        assert uow.users.get(user.id) is None


def test_session_of_an_unknown_user_is_an_integrity_error(new_uow: NewUow) -> None:
    session = AuthSession(id=uuid4(), user_id=uuid4(), created_at=T0, expires_at=T0)
    with new_uow() as uow:
        uow.sessions.add(session)
        with pytest.raises(sa.exc.IntegrityError) as caught:
            uow.commit()
    assert getattr(caught.value.orig, "sqlstate", None) == FOREIGN_KEY_VIOLATION


def test_foreign_keys_are_checked_at_commit_so_insert_order_does_not_matter(
    new_uow: NewUow,
) -> None:
    lab = LabFactory()
    user = UserFactory(lab_id=lab.id)
    with new_uow() as uow:
        uow.users.add(user)  # before its lab
        uow.session.flush()
        uow.labs.add(lab)
        uow.commit()
    with new_uow() as uow:
        assert uow.users.list(UserQuery(lab_id=lab.id)).total == 1


def test_unique_violation_is_a_conflict_and_the_uow_stays_usable(new_uow: NewUow) -> None:
    with new_uow() as uow:
        uow.users.add(UserFactory(email="dup@lab.example"))
        uow.commit()
    other = UserFactory()
    with new_uow() as uow:
        uow.users.add(UserFactory(email="dup@lab.example"))
        with pytest.raises(Conflict) as caught:
            uow.commit()
        assert isinstance(caught.value.__cause__, sa.exc.IntegrityError)
        uow.users.add(other)
        uow.commit()
    with new_uow() as uow:
        assert uow.users.get(other.id) is not None
