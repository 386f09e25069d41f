"""User management (admin only)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from application.auditing import Auditor
from application.context import Caller
from application.policy import require_admin
from application.views import PageView, UserView
from domain.audit import AuditEntityType
from domain.errors import Conflict, EmailExists, NotFound, ValidationFailed
from domain.model import User, ensure_version
from domain.ports import (
    Clock,
    IdGenerator,
    PasswordHasher,
    UnitOfWork,
    UnitOfWorkFactory,
    UserQuery,
)
from domain.roles import Role
from domain.validation import email_problems, name_problems, normalize_email, password_problems

UNSET: object = object()


@dataclass(frozen=True)
class UserDeps:
    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    hasher: PasswordHasher


@dataclass(frozen=True)
class CreateUserCommand:
    email: str
    password: str
    name: str
    role: Role
    lab_id: UUID | None = None
    id: UUID | None = None


@dataclass(frozen=True)
class UpdateUserCommand:
    """Fields left as None are unchanged; `lab_id_set` distinguishes "clear the lab" from "keep"."""

    user_id: UUID
    email: str | None = None
    name: str | None = None
    role: Role | None = None
    lab_id: UUID | None = None
    lab_id_set: bool = False
    is_active: bool | None = None
    password: str | None = None
    expected_version: int | None = None
    if_match: int | None = None


def _lab_problems(uow: UnitOfWork, role: Role, lab_id: UUID | None) -> list[str]:
    if lab_id is not None and uow.labs.get(lab_id) is None:
        return ["Unknown lab"]
    if lab_id is None and role is Role.TECHNICIAN:
        return ["A technician must belong to a lab"]
    return []


def _commit_user_change(uow: UnitOfWork) -> None:
    """The only unique key a user change can break (in a race) is the live email."""
    try:
        uow.commit()
    except Conflict as exc:
        raise EmailExists() from exc


def _raise_if_any(problems: dict[str, list[str]]) -> None:
    if any(problems.values()):
        raise ValidationFailed({k: v for k, v in problems.items() if v})


class ListUsers:
    def __init__(self, deps: UserDeps):
        self._deps = deps

    def __call__(self, caller: Caller, query: UserQuery) -> PageView[UserView]:
        require_admin(caller.principal)
        with self._deps.uow(read_only=True) as uow:
            page = uow.users.list(query)
            return PageView.of(page, [UserView.of(u) for u in page.items])


class GetUser:
    def __init__(self, deps: UserDeps):
        self._deps = deps

    def __call__(self, caller: Caller, user_id: UUID) -> UserView:
        require_admin(caller.principal)
        with self._deps.uow(read_only=True) as uow:
            user = uow.users.get(user_id)
            if user is None:
                raise NotFound("User not found")
            return UserView.of(user)


class CreateUser:
    def __init__(self, deps: UserDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: CreateUserCommand) -> UserView:
        require_admin(caller.principal)
        deps = self._deps
        problems = {
            "email": email_problems(cmd.email),
            "password": password_problems(cmd.password),
            "name": name_problems(cmd.name),
        }
        password_hash = deps.hasher.hash(cmd.password) if not problems["password"] else ""
        with deps.uow() as uow:
            problems["lab_id"] = _lab_problems(uow, cmd.role, cmd.lab_id)
            _raise_if_any(problems)
            email = normalize_email(cmd.email)
            if uow.users.get_by_email(email) is not None:
                raise EmailExists()
            if cmd.id is not None and uow.users.get(cmd.id) is not None:
                raise Conflict("A user with this id already exists")
            now = deps.clock.now()
            user = User(
                id=cmd.id or deps.ids.new_id(),
                email=email,
                name=cmd.name.strip(),
                role=cmd.role,
                lab_id=cmd.lab_id,
                password_hash=password_hash,
                created_at=now,
                updated_at=now,
            )
            uow.users.add(user)
            Auditor.of(uow, deps.clock, caller).created(
                AuditEntityType.USER, user.id, user.snapshot(), lab_id=user.lab_id
            )
            _commit_user_change(uow)
            return UserView.of(user)


class UpdateUser:
    def __init__(self, deps: UserDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: UpdateUserCommand) -> UserView:
        require_admin(caller.principal)
        deps = self._deps
        with deps.uow() as uow:
            user = uow.users.get(cmd.user_id)
            if user is None:
                raise NotFound("User not found")
            ensure_version(user.version, if_match=cmd.if_match, expected=cmd.expected_version)
            role = cmd.role or user.role
            lab_id = cmd.lab_id if cmd.lab_id_set else user.lab_id
            problems: dict[str, list[str]] = {
                "email": email_problems(cmd.email) if cmd.email is not None else [],
                "name": name_problems(cmd.name) if cmd.name is not None else [],
                "password": password_problems(cmd.password) if cmd.password is not None else [],
                "lab_id": _lab_problems(uow, role, lab_id),
            }
            _raise_if_any(problems)
            is_self = user.id == caller.principal.user_id
            if is_self and (role is not Role.ADMIN or cmd.is_active is False):
                raise Conflict("You cannot demote or deactivate your own account")
            before = user.snapshot()
            now = deps.clock.now()
            if cmd.email is not None and normalize_email(cmd.email) != user.email:
                email = normalize_email(cmd.email)
                if uow.users.get_by_email(email) is not None:
                    raise EmailExists()
                user.email = email
            if cmd.name is not None:
                user.name = cmd.name.strip()
            user.role = role
            user.lab_id = lab_id
            ends_sessions = False
            if cmd.is_active is not None:
                ends_sessions = user.is_active and not cmd.is_active
                user.is_active = cmd.is_active
            if cmd.password is not None:
                user.password_hash = deps.hasher.hash(cmd.password)
                ends_sessions = True
            after = user.snapshot()
            if after == before and cmd.password is None:
                return UserView.of(user)
            user.touch(now)
            if ends_sessions:
                uow.sessions.revoke_all_for_user(user.id, now)
            new = user.snapshot()
            if cmd.password is not None:
                before["password"], new["password"] = "[previous]", "[changed by admin]"
            Auditor.of(uow, deps.clock, caller).updated(
                AuditEntityType.USER, user.id, before, new, lab_id=user.lab_id
            )
            _commit_user_change(uow)
            return UserView.of(user)


class DeleteUser:
    """Deactivates and hides the user; their audit history stays."""

    def __init__(self, deps: UserDeps):
        self._deps = deps

    def __call__(self, caller: Caller, user_id: UUID, *, if_match: int | None = None) -> None:
        require_admin(caller.principal)
        deps = self._deps
        if user_id == caller.principal.user_id:
            raise Conflict("You cannot delete your own account")
        with deps.uow() as uow:
            user = uow.users.get(user_id)
            if user is None:
                raise NotFound("User not found")
            ensure_version(user.version, if_match=if_match, expected=None)
            before = user.snapshot()
            now = deps.clock.now()
            user.is_active = False
            user.deleted_at = now
            user.touch(now)
            uow.sessions.revoke_all_for_user(user.id, now)
            Auditor.of(uow, deps.clock, caller).deleted(
                AuditEntityType.USER, user.id, before, lab_id=user.lab_id
            )
            uow.commit()


class CreateOrUpdateAdmin:
    """Operator bootstrap (CLI): make sure an admin with this email and password exists."""

    def __init__(self, deps: UserDeps):
        self._deps = deps

    def __call__(
        self, *, email: str, password: str, lab_name: str | None, meta_reason: str
    ) -> UserView:
        from application.context import RequestMeta
        from application.labs import ensure_lab

        deps = self._deps
        problems = {"email": email_problems(email), "password": password_problems(password)}
        _raise_if_any(problems)
        email = normalize_email(email)
        password_hash = deps.hasher.hash(password)
        meta = RequestMeta(reason=meta_reason)
        with deps.uow() as uow:
            lab_id = ensure_lab(uow, deps.clock, deps.ids, lab_name, meta) if lab_name else None
            now = deps.clock.now()
            user = uow.users.get_by_email(email)
            if user is None:
                user = User(
                    id=deps.ids.new_id(),
                    email=email,
                    name=email.split("@")[0],
                    role=Role.ADMIN,
                    lab_id=lab_id,
                    password_hash=password_hash,
                    created_at=now,
                    updated_at=now,
                )
                uow.users.add(user)
                Auditor(uow, deps.clock, None, meta).created(
                    AuditEntityType.USER, user.id, user.snapshot(), lab_id=lab_id
                )
            else:
                before = user.snapshot()
                user.role = Role.ADMIN
                user.is_active = True
                user.password_hash = password_hash
                user.failed_login_count = 0
                user.locked_until = None
                if lab_id is not None:
                    user.lab_id = lab_id
                user.touch(now)
                after = user.snapshot()
                before["password"], after["password"] = "[previous]", "[set by operator]"
                Auditor(uow, deps.clock, None, meta).updated(
                    AuditEntityType.USER, user.id, before, after, lab_id=lab_id
                )
            uow.commit()
            return UserView.of(user)
