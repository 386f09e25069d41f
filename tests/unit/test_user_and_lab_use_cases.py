"""User and lab management: authorization, validation, versions, audit entries."""

from __future__ import annotations

from uuid import uuid4

import pytest

from application import audit_log, labs, users
from application.context import Caller, Principal
from domain.audit import AuditAction, AuditEntityType
from domain.errors import (
    Conflict,
    EmailExists,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
    VersionConflict,
)
from domain.paging import PageRequest, Sort
from domain.ports import AuditQuery, LabQuery, UserQuery
from domain.roles import Role
from tests.unit.conftest import World


def viewer_caller(lab_id: object = None) -> Caller:
    return Caller(Principal(user_id=uuid4(), role=Role.VIEWER, lab_id=lab_id))  # type: ignore[arg-type]


def test_only_admins_manage_users(world: World) -> None:
    caller = viewer_caller()
    with pytest.raises(Forbidden):
        users.ListUsers(world.users)(caller, UserQuery())
    with pytest.raises(Forbidden):
        users.CreateUser(world.users)(
            caller, users.CreateUserCommand("x@lab.ma", "Passw0rdX", "X", Role.ADMIN)
        )
    with pytest.raises(Forbidden):
        labs.CreateLab(world.labs)(caller, labs.CreateLabCommand("Lab"))
    with pytest.raises(Forbidden):
        audit_log.ListAuditEntries(world.audit)(caller, AuditQuery())


def test_create_user_validates_everything_at_once(world: World) -> None:
    admin = world.admin()
    with pytest.raises(ValidationFailed) as caught:
        users.CreateUser(world.users)(
            admin, users.CreateUserCommand("nope", "weak", "", Role.TECHNICIAN, lab_id=uuid4())
        )
    assert set(caught.value.field_errors) == {"email", "password", "name", "lab_id"}


def test_technician_needs_a_lab(world: World) -> None:
    admin = world.admin()
    with pytest.raises(ValidationFailed) as caught:
        users.CreateUser(world.users)(
            admin, users.CreateUserCommand("t@lab.ma", "Passw0rdX", "T", Role.TECHNICIAN)
        )
    assert caught.value.field_errors["lab_id"] == ["A technician must belong to a lab"]


def test_create_user_with_client_id_and_duplicates(world: World) -> None:
    admin = world.admin()
    wanted = uuid4()
    lab = labs.CreateLab(world.labs)(admin, labs.CreateLabCommand("North", "N1"))
    created = users.CreateUser(world.users)(
        admin,
        users.CreateUserCommand(
            "t@lab.ma", "Passw0rdX", "T", Role.TECHNICIAN, lab_id=lab.id, id=wanted
        ),
    )
    assert created.id == wanted and created.lab_id == lab.id
    with pytest.raises(EmailExists):
        users.CreateUser(world.users)(
            admin, users.CreateUserCommand("T@LAB.ma", "Passw0rdX", "T", Role.VIEWER)
        )
    with pytest.raises(Conflict):
        users.CreateUser(world.users)(
            admin, users.CreateUserCommand("u@lab.ma", "Passw0rdX", "U", Role.VIEWER, id=wanted)
        )


def test_update_user_versions_and_audit(world: World) -> None:
    admin = world.admin()
    created = users.CreateUser(world.users)(
        admin, users.CreateUserCommand("v@lab.ma", "Passw0rdX", "V", Role.VIEWER)
    )
    update = users.UpdateUser(world.users)
    with pytest.raises(PreconditionFailed):
        update(admin, users.UpdateUserCommand(created.id, name="W", if_match=created.version + 1))
    with pytest.raises(VersionConflict):
        update(
            admin,
            users.UpdateUserCommand(created.id, name="W", expected_version=created.version + 1),
        )
    changed = update(
        admin, users.UpdateUserCommand(created.id, name="W", expected_version=created.version)
    )
    assert changed.name == "W" and changed.version == created.version + 1
    unchanged = update(admin, users.UpdateUserCommand(created.id, name="W"))
    assert unchanged.version == changed.version  # a no-op writes nothing
    entries = audit_log.ListAuditEntries(world.audit)(
        admin, AuditQuery(entity_id=str(created.id), action=AuditAction.UPDATE)
    ).items
    assert len(entries) == 1
    assert entries[0].old_values == {"name": "V", "version": 1}
    assert entries[0].new_values == {"name": "W", "version": 2}
    assert (entries[0].reason, entries[0].request_id) == ("testing", "req-admin")
    assert entries[0].user_id == admin.principal.user_id


def test_admin_cannot_demote_deactivate_or_delete_self(world: World) -> None:
    admin = world.admin()
    me = admin.principal.user_id
    with pytest.raises(Conflict):
        users.UpdateUser(world.users)(admin, users.UpdateUserCommand(me, role=Role.VIEWER))
    with pytest.raises(Conflict):
        users.UpdateUser(world.users)(admin, users.UpdateUserCommand(me, is_active=False))
    with pytest.raises(Conflict):
        users.DeleteUser(world.users)(admin, me)


def test_deleted_user_is_hidden_but_history_stays(world: World) -> None:
    admin = world.admin()
    created = users.CreateUser(world.users)(
        admin, users.CreateUserCommand("d@lab.ma", "Passw0rdX", "D", Role.VIEWER)
    )
    users.DeleteUser(world.users)(admin, created.id)
    with pytest.raises(NotFound):
        users.GetUser(world.users)(admin, created.id)
    with pytest.raises(NotFound):
        users.DeleteUser(world.users)(admin, created.id)
    history = audit_log.ListAuditEntries(world.audit)(
        admin, AuditQuery(entity_id=str(created.id))
    ).items
    assert [e.action for e in history] == [AuditAction.DELETE, AuditAction.CREATE]
    again = users.CreateUser(world.users)(
        admin, users.CreateUserCommand("d@lab.ma", "Passw0rdX", "D2", Role.VIEWER)
    )
    assert again.id != created.id


def test_list_users_filters_sorts_and_pages(world: World) -> None:
    admin = world.admin()
    lab = labs.CreateLab(world.labs)(admin, labs.CreateLabCommand("South"))
    create = users.CreateUser(world.users)
    for i in range(5):
        create(
            admin,
            users.CreateUserCommand(
                f"t{i}@lab.ma", "Passw0rdX", f"Tech {i}", Role.TECHNICIAN, lab_id=lab.id
            ),
        )
    create(admin, users.CreateUserCommand("v@lab.ma", "Passw0rdX", "Viewer", Role.VIEWER))
    list_users = users.ListUsers(world.users)
    techs = list_users(
        admin, UserQuery(role=Role.TECHNICIAN, sort=Sort("email"), page=PageRequest(limit=2))
    )
    assert techs.total == 5 and techs.total_pages == 3 and techs.has_more
    assert [u.email for u in techs.items] == ["t0@lab.ma", "t1@lab.ma"]
    found = list_users(admin, UserQuery(search="VIEW"))
    assert [u.email for u in found.items] == ["v@lab.ma"]
    in_lab = list_users(admin, UserQuery(lab_id=lab.id, sort=Sort("email", descending=True)))
    assert in_lab.items[0].email == "t4@lab.ma"


def test_labs_unique_names_and_member_visibility(world: World) -> None:
    admin = world.admin(lab=None)
    create = labs.CreateLab(world.labs)
    north = create(admin, labs.CreateLabCommand("North", "N"))
    south = create(admin, labs.CreateLabCommand("South", "S"))
    with pytest.raises(Conflict):
        create(admin, labs.CreateLabCommand("north"))
    with pytest.raises(Conflict):
        create(admin, labs.CreateLabCommand("Other", "n"))
    member = Caller(Principal(user_id=uuid4(), role=Role.TECHNICIAN, lab_id=north.id))
    assert labs.GetLab(world.labs)(member, north.id).name == "North"
    with pytest.raises(NotFound):
        labs.GetLab(world.labs)(member, south.id)
    listed = labs.ListLabs(world.labs)(member, LabQuery())
    assert [lab.id for lab in listed.items] == [north.id]
    assert labs.ListLabs(world.labs)(admin, LabQuery()).total == 2


def test_update_lab(world: World) -> None:
    admin = world.admin(lab=None)
    lab = labs.CreateLab(world.labs)(admin, labs.CreateLabCommand("North", "N"))
    labs.CreateLab(world.labs)(admin, labs.CreateLabCommand("South", "S"))
    update = labs.UpdateLab(world.labs)
    with pytest.raises(Conflict):
        update(admin, labs.UpdateLabCommand(lab.id, "South", "N"))
    with pytest.raises(PreconditionFailed):
        update(admin, labs.UpdateLabCommand(lab.id, "North 2", "N", if_match=9))
    renamed = update(admin, labs.UpdateLabCommand(lab.id, "North 2", None, expected_version=1))
    assert (renamed.name, renamed.code, renamed.version) == ("North 2", None, 2)
    with pytest.raises(NotFound):
        update(admin, labs.UpdateLabCommand(uuid4(), "X", None))


def test_every_change_is_audited_and_chain_verifies(world: World) -> None:
    admin = world.admin()
    lab = labs.CreateLab(world.labs)(admin, labs.CreateLabCommand("East"))
    user = users.CreateUser(world.users)(
        admin, users.CreateUserCommand("e@lab.ma", "Passw0rdX", "E", Role.VIEWER)
    )
    users.UpdateUser(world.users)(
        admin, users.UpdateUserCommand(user.id, lab_id=lab.id, lab_id_set=True)
    )
    users.DeleteUser(world.users)(admin, user.id)
    entries = audit_log.ListAuditEntries(world.audit)(
        admin, AuditQuery(page=PageRequest(limit=100))
    ).items
    kinds = [(e.entity_type, e.action) for e in reversed(entries)]
    assert kinds[-4:] == [
        (AuditEntityType.LAB, AuditAction.CREATE),
        (AuditEntityType.USER, AuditAction.CREATE),
        (AuditEntityType.USER, AuditAction.UPDATE),
        (AuditEntityType.USER, AuditAction.DELETE),
    ]
    report = audit_log.VerifyAuditChain(world.audit)(admin)
    assert report.ok and report.checked == len(entries)


def test_failed_use_case_leaves_no_audit_entry(world: World) -> None:
    admin = world.admin()
    before = audit_log.ListAuditEntries(world.audit)(admin, AuditQuery()).total
    with pytest.raises(EmailExists):
        users.CreateUser(world.users)(
            admin, users.CreateUserCommand("root@lab.ma", "Passw0rdX", "Dup", Role.VIEWER)
        )
    assert audit_log.ListAuditEntries(world.audit)(admin, AuditQuery()).total == before


def test_create_admin_bootstraps_and_updates(world: World) -> None:
    bootstrap = users.CreateOrUpdateAdmin(world.users)
    first = bootstrap(email="boss@lab.ma", password="Passw0rdX", lab_name="HQ", meta_reason="cli")
    second = bootstrap(
        email="BOSS@lab.ma", password="N3wPassword", lab_name="HQ", meta_reason="cli"
    )
    assert first.id == second.id and second.role == "admin" and second.lab_id == first.lab_id
    assert world.login("boss@lab.ma", "N3wPassword")
    with pytest.raises(ValidationFailed):
        bootstrap(email="x", password="weak", lab_name=None, meta_reason="cli")
