"""Unit of work: explicit commit, rollback by default, unique live emails."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from domain.errors import Conflict
from domain.ports import AuditQuery, LabQuery, UserQuery
from entrypoints.container import Container
from tests.contract.helpers import make_entry
from tests.factories import T0, LabFactory, UserFactory


def test_leaving_without_commit_rolls_back(container: Container) -> None:
    user, lab = UserFactory(), LabFactory()
    with container.uow() as uow:
        uow.labs.add(lab)
        uow.users.add(user)
        uow.audit.append(make_entry(entity_id=str(user.id)))
        assert uow.users.get(user.id) is not None  # visible inside its own transaction

    with container.uow() as uow:
        assert uow.users.get(user.id) is None
        assert uow.users.get_by_email(user.email) is None
        assert uow.labs.get(lab.id) is None
        assert uow.users.list(UserQuery()).total == 0
        assert uow.audit.list(AuditQuery()).total == 0
    chain = container.audit_chain()
    chain.seal_pending()
    report = chain.verify()
    assert (report.ok, report.checked, report.pending) == (True, 0, 0)


def test_an_exception_inside_the_block_rolls_back(container: Container) -> None:
    user = UserFactory()
    with pytest.raises(RuntimeError), container.uow() as uow:
        uow.users.add(user)
        raise RuntimeError("boom")
    with container.uow() as uow:
        assert uow.users.get(user.id) is None


def test_explicit_rollback_discards_changes_and_keeps_the_uow_usable(
    container: Container,
) -> None:
    discarded, kept = UserFactory(), UserFactory()
    with container.uow() as uow:
        uow.users.add(discarded)
        uow.rollback()
        assert uow.users.get(discarded.id) is None
        uow.users.add(kept)
        uow.commit()
    with container.uow() as uow:
        assert uow.users.get(discarded.id) is None
        assert uow.users.get(kept.id) is not None


def test_commit_persists_every_field(container: Container) -> None:
    lab = LabFactory(code="W-01")
    user = UserFactory(lab_id=lab.id, last_login_at=T0 + timedelta(hours=1), failed_login_count=2)
    with container.uow() as uow:
        uow.labs.add(lab)
        uow.users.add(user)
        uow.commit()

    with container.uow() as uow:
        stored = uow.users.get(user.id)
        assert stored is not None
        assert stored is not user
        assert (stored.email, stored.name, stored.role, stored.lab_id) == (
            user.email,
            user.name,
            user.role,
            user.lab_id,
        )
        assert stored.created_at == T0
        assert stored.last_login_at == T0 + timedelta(hours=1)
        assert stored.failed_login_count == 2
        assert stored.is_active is True
        assert stored.deleted_at is None
        assert stored.version == 1
        stored_lab = uow.labs.get(lab.id)
        assert stored_lab is not None
        assert (stored_lab.name, stored_lab.code) == (lab.name, "W-01")


def test_changes_to_a_loaded_record_persist_on_commit_only(container: Container) -> None:
    user = UserFactory(name="Before")
    with container.uow() as uow:
        uow.users.add(user)
        uow.commit()

    with container.uow() as uow:
        loaded = uow.users.get(user.id)
        assert loaded is not None
        loaded.name = "Not committed"
    with container.uow() as uow:
        loaded = uow.users.get(user.id)
        assert loaded is not None
        assert loaded.name == "Before"
        loaded.name = "After"
        loaded.version = 2
        uow.commit()
        # the unit of work stays usable after a commit
        assert uow.users.get(user.id) is not None

    with container.uow() as uow:
        loaded = uow.users.get(user.id)
        assert loaded is not None
        assert (loaded.name, loaded.version) == ("After", 2)


def test_a_live_duplicate_email_is_a_conflict_on_commit(
    container: Container, save: Callable[..., None]
) -> None:
    first = UserFactory(email="same@lab.example")
    save(first)
    innocent = UserFactory()
    with pytest.raises(Conflict), container.uow() as uow:
        uow.users.add(innocent)
        uow.users.add(UserFactory(email="same@lab.example"))
        uow.commit()

    with container.uow() as uow:
        # the whole transaction was undone, not only the offending row
        assert uow.users.get(innocent.id) is None
        found = uow.users.get_by_email("same@lab.example")
        assert found is not None
        assert found.id == first.id
        assert uow.users.list(UserQuery()).total == 1


def test_two_new_users_with_one_email_in_one_transaction_conflict(container: Container) -> None:
    with pytest.raises(Conflict), container.uow() as uow:
        uow.users.add(UserFactory(email="twin@lab.example"))
        uow.users.add(UserFactory(email="twin@lab.example"))
        uow.commit()
    with container.uow() as uow:
        assert uow.users.get_by_email("twin@lab.example") is None


def test_a_deleted_users_email_can_be_reused(
    container: Container, save: Callable[..., None]
) -> None:
    old = UserFactory(email="reuse@lab.example")
    save(old)
    with container.uow() as uow:
        loaded = uow.users.get(old.id)
        assert loaded is not None
        loaded.deleted_at = T0 + timedelta(days=1)
        uow.commit()

    new = UserFactory(email="reuse@lab.example")
    save(new)
    with container.uow() as uow:
        found = uow.users.get_by_email("reuse@lab.example")
        assert found is not None
        assert found.id == new.id

    # but only one *live* user may hold it
    with pytest.raises(Conflict), container.uow() as uow:
        uow.users.add(UserFactory(email="reuse@lab.example"))
        uow.commit()


def test_delete_and_reregister_in_one_transaction(
    container: Container, save: Callable[..., None]
) -> None:
    old = UserFactory(email="swap@lab.example")
    save(old)
    new = UserFactory(email="swap@lab.example")
    with container.uow() as uow:
        loaded = uow.users.get(old.id)
        assert loaded is not None
        loaded.deleted_at = T0
        uow.users.add(new)
        uow.commit()
    with container.uow() as uow:
        found = uow.users.get_by_email("swap@lab.example")
        assert found is not None
        assert found.id == new.id


def test_lab_names_and_codes_are_unique_ignoring_case(
    container: Container, save: Callable[..., None]
) -> None:
    save(LabFactory(name="River Lab", code="RV-1"))
    with pytest.raises(Conflict), container.uow() as uow:
        uow.labs.add(LabFactory(name="RIVER lab"))
        uow.commit()
    with pytest.raises(Conflict), container.uow() as uow:
        uow.labs.add(LabFactory(name="Other", code="rv-1"))
        uow.commit()
    # labs without a code do not collide with each other
    save(LabFactory(name="No code 1", code=None), LabFactory(name="No code 2", code=None))
    with container.uow() as uow:
        assert uow.labs.get_by_name("no code 2") is not None


def test_a_read_only_unit_of_work_cannot_commit(container: Container) -> None:
    with container.uow(read_only=True) as uow:
        uow.labs.add(LabFactory())
        with pytest.raises(RuntimeError):
            uow.commit()
    with container.uow(read_only=True) as uow:
        assert uow.labs.list(LabQuery()).total == 0
