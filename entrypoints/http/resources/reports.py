"""/reports/compliance: one report as JSON, CSV or PDF, chosen by the Accept header."""

from __future__ import annotations

from collections.abc import Callable

import falcon
from falcon.util.mediatypes import best_match

from application import reports
from application.reports import ComplianceReportView
from entrypoints.http.common import caller
from entrypoints.http.errors import ApiError
from entrypoints.http.operation import operation, render
from entrypoints.http.report_schemas import ComplianceReportIn, ComplianceReportOut
from entrypoints.reports import csv_export, pdf_export
from entrypoints.reports.naming import file_name

REPORTS = ("reports",)
JSON, CSV, PDF = "application/json", "text/csv", "application/pdf"
OFFERED = (JSON, CSV, PDF)


def negotiate(accept: str | None) -> str:
    """The format the client accepts best (JSON when it does not say); 406 when none."""
    if accept is None or not accept.strip():
        return JSON
    try:
        best = best_match(OFFERED, accept)
    except ValueError:  # a malformed Accept header names nothing we can serve
        best = ""
    if not best:
        raise ApiError(
            406,
            "NOT_ACCEPTABLE",
            "This report is available as application/json, text/csv or application/pdf",
            details={"available": list(OFFERED)},
        )
    return best


NO_FILTERS = ComplianceReportIn.model_validate({})

EXPORTS: dict[str, tuple[str, str, Callable[[ComplianceReportView], bytes]]] = {
    CSV: (csv_export.MEDIA_TYPE, "csv", csv_export.render_csv),
    PDF: (pdf_export.MEDIA_TYPE, "pdf", pdf_export.render_pdf),
}


class ComplianceReportResource:
    def __init__(self, generate: reports.GenerateComplianceReport):
        self._generate = generate

    @operation(
        summary="Compliance report (JSON, or CSV / PDF by Accept)",
        tags=REPORTS,
        request=ComplianceReportIn,
        response=ComplianceReportOut,
        errors=(400, 401, 403, 406, 415),
        produces=(JSON, CSV, PDF),
        body_required=False,
        description="Totals, per-parameter and per-location figures and every exceedance "
        "(a live result whose status is fail) of the samples the filters select; every "
        "filter is optional (no body, or `{}`, for all). `Accept: text/csv` returns the same "
        "report as one CSV file, `Accept: application/pdf` as a printable PDF with a chart "
        "(docs/reports.md). Non-admins report on their own lab. Reading a report changes "
        "nothing and is not audited.",
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        media = negotiate(req.get_header("Accept"))
        body = req.context.body or NO_FILTERS
        view = self._generate(
            caller(req),
            reports.ComplianceReportCommand(
                date_from=body.date_from,
                date_to=body.date_to,
                sample_type=body.sample_type,
                location=body.location,
                compliance_status=body.compliance_status,
                lab_id=body.lab_id,
            ),
        )
        resp.vary = ("Accept",)
        if media == JSON:
            render(resp, ComplianceReportOut, view)
            return
        content_type, extension, export = EXPORTS[media]
        resp.data = export(view)
        resp.content_type = content_type
        resp.downloadable_as = file_name(view, extension)
        resp.status = 200
