"""Lab management: admins create and edit labs; members may read their own lab."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from application.auditing import Auditor
from application.context import Caller, RequestMeta
from application.policy import ensure_lab_visible, require_admin
from application.views import LabView, PageView
from domain.audit import AuditEntityType
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.model import Lab, ensure_version
from domain.paging import Page
from domain.ports import Clock, IdGenerator, LabQuery, UnitOfWork, UnitOfWorkFactory
from domain.validation import name_problems

CODE_MAX_LENGTH = 32


@dataclass(frozen=True)
class LabDeps:
    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator


@dataclass(frozen=True)
class CreateLabCommand:
    name: str
    code: str | None = None
    id: UUID | None = None


@dataclass(frozen=True)
class UpdateLabCommand:
    lab_id: UUID
    name: str
    code: str | None
    expected_version: int | None = None
    if_match: int | None = None


def _problems(name: str, code: str | None) -> dict[str, list[str]]:
    problems = {"name": name_problems(name)}
    if code is not None and not (1 <= len(code.strip()) <= CODE_MAX_LENGTH):
        problems["code"] = [f"Code must be 1 to {CODE_MAX_LENGTH} characters"]
    return {k: v for k, v in problems.items() if v}


def _ensure_unique(uow: UnitOfWork, name: str, code: str | None, *, except_id: UUID | None) -> None:
    same_name = uow.labs.get_by_name(name)
    if same_name is not None and same_name.id != except_id:
        raise Conflict("A lab with this name already exists", details={"field": "name"})
    if code:
        same_code = uow.labs.get_by_code(code)
        if same_code is not None and same_code.id != except_id:
            raise Conflict("A lab with this code already exists", details={"field": "code"})


def ensure_lab(
    uow: UnitOfWork, clock: Clock, ids: IdGenerator, name: str, meta: RequestMeta
) -> UUID:
    """Find a lab by name or create it (operator bootstrap)."""
    existing = uow.labs.get_by_name(name.strip())
    if existing is not None:
        return existing.id
    now = clock.now()
    lab = Lab(id=ids.new_id(), name=name.strip(), code=None, created_at=now, updated_at=now)
    uow.labs.add(lab)
    Auditor(uow, clock, None, meta).created(
        AuditEntityType.LAB, lab.id, lab.snapshot(), lab_id=lab.id
    )
    return lab.id


class ListLabs:
    def __init__(self, deps: LabDeps):
        self._deps = deps

    def __call__(self, caller: Caller, query: LabQuery) -> PageView[LabView]:
        principal = caller.principal
        with self._deps.uow(read_only=True) as uow:
            if principal.is_admin:
                page = uow.labs.list(query)
            else:
                own = uow.labs.get(principal.lab_id) if principal.lab_id else None
                items = [own] if own is not None and query.page.offset == 0 else []
                page = Page(items=items, total=1 if own else 0, request=query.page)
            return PageView.of(page, [LabView.of(lab) for lab in page.items])


class GetLab:
    def __init__(self, deps: LabDeps):
        self._deps = deps

    def __call__(self, caller: Caller, lab_id: UUID) -> LabView:
        ensure_lab_visible(caller.principal, lab_id, what="Lab")
        with self._deps.uow(read_only=True) as uow:
            lab = uow.labs.get(lab_id)
            if lab is None:
                raise NotFound("Lab not found")
            return LabView.of(lab)


class CreateLab:
    def __init__(self, deps: LabDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: CreateLabCommand) -> LabView:
        require_admin(caller.principal)
        if problems := _problems(cmd.name, cmd.code):
            raise ValidationFailed(problems)
        deps = self._deps
        name, code = cmd.name.strip(), (cmd.code.strip() if cmd.code else None)
        with deps.uow() as uow:
            if cmd.id is not None and uow.labs.get(cmd.id) is not None:
                raise Conflict("A lab with this id already exists")
            _ensure_unique(uow, name, code, except_id=None)
            now = deps.clock.now()
            lab = Lab(
                id=cmd.id or deps.ids.new_id(), name=name, code=code, created_at=now, updated_at=now
            )
            uow.labs.add(lab)
            Auditor.of(uow, deps.clock, caller).created(
                AuditEntityType.LAB, lab.id, lab.snapshot(), lab_id=lab.id
            )
            uow.commit()
            return LabView.of(lab)


class UpdateLab:
    def __init__(self, deps: LabDeps):
        self._deps = deps

    def __call__(self, caller: Caller, cmd: UpdateLabCommand) -> LabView:
        require_admin(caller.principal)
        if problems := _problems(cmd.name, cmd.code):
            raise ValidationFailed(problems)
        deps = self._deps
        name, code = cmd.name.strip(), (cmd.code.strip() if cmd.code else None)
        with deps.uow() as uow:
            lab = uow.labs.get(cmd.lab_id)
            if lab is None:
                raise NotFound("Lab not found")
            ensure_version(lab.version, if_match=cmd.if_match, expected=cmd.expected_version)
            _ensure_unique(uow, name, code, except_id=lab.id)
            if (lab.name, lab.code) == (name, code):
                return LabView.of(lab)
            before = lab.snapshot()
            now = deps.clock.now()
            lab.name, lab.code = name, code
            lab.updated_at = now
            lab.version += 1
            Auditor.of(uow, deps.clock, caller).updated(
                AuditEntityType.LAB, lab.id, before, lab.snapshot(), lab_id=lab.id
            )
            uow.commit()
            return LabView.of(lab)
