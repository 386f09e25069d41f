"""/audit-logs (admin)."""

from __future__ import annotations

import falcon

from application import audit_log
from domain.ports import AuditQuery
from entrypoints.http.common import caller, list_payload, page_request
from entrypoints.http.operation import operation, render
from entrypoints.http.schemas import AuditList, AuditQueryIn, ChainReportOut

TAGS = ("audit",)


class AuditLogResource:
    def __init__(self, list_audit: audit_log.ListAuditEntries):
        self._list = list_audit

    @operation(
        summary="Audit entries, newest first",
        tags=TAGS,
        query=AuditQueryIn,
        response=AuditList,
        errors=(400, 401, 403),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        q: AuditQueryIn = req.context.query
        query = AuditQuery(
            date_from=q.date_from,
            date_to=q.date_to,
            user_id=q.user_id,
            entity_type=q.entity_type,
            entity_id=q.entity_id,
            action=q.action,
            page=page_request(q),
        )
        render(resp, AuditList, list_payload(self._list(caller(req), query)))


class AuditVerifyResource:
    def __init__(self, verify: audit_log.VerifyAuditChain):
        self._verify = verify

    @operation(
        summary="Check the audit hash chain",
        tags=TAGS,
        response=ChainReportOut,
        errors=(401, 403),
        description="Chains entries committed since the last seal, then recomputes every hash. "
        "`first_bad_id` names the first entry whose content or link does not match.",
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        render(resp, ChainReportOut, self._verify(caller(req)))
