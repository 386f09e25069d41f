"""Reading and verifying the audit trail (admin only)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from application.context import Caller
from application.policy import require_admin
from application.views import PageView
from domain.audit import AuditEntry, ChainReport
from domain.ports import AuditChain, AuditQuery, UnitOfWorkFactory


@dataclass(frozen=True)
class AuditDeps:
    uow: UnitOfWorkFactory
    chain: AuditChain


class ListAuditEntries:
    def __init__(self, deps: AuditDeps):
        self._deps = deps

    def __call__(self, caller: Caller, query: AuditQuery) -> PageView[AuditEntry]:
        require_admin(caller.principal)
        with self._deps.uow(read_only=True) as uow:
            page = uow.audit.list(query)
            # Plain copies, read while the unit of work is open: storage-backed entries
            # are expired when it closes (rolled back), so they must not escape it.
            return PageView.of(page, [replace(entry) for entry in page.items])


class VerifyAuditChain:
    """Seal what has committed since the last seal, then check the whole chain."""

    def __init__(self, deps: AuditDeps):
        self._deps = deps

    def __call__(self, caller: Caller | None) -> ChainReport:
        if caller is not None:
            require_admin(caller.principal)
        self._deps.chain.seal_pending()
        return self._deps.chain.verify()
