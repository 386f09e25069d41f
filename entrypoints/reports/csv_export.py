"""A compliance report as one CSV file that opens cleanly in a spreadsheet (docs/reports.md).

UTF-8 with a byte-order mark (so spreadsheets read accents right), comma-separated,
CRLF line ends, RFC 4180 quoting. Five sections, each a title line, a header row and
its rows, separated by one empty line: Report, Totals, By parameter, By location and,
last, Exceedances (one row per exceedance). Text that a spreadsheet could take for a
formula (starting with = + - @, a tab or a carriage return) is prefixed with a single
quote (CSV injection); numbers are written as plain numbers, timestamps as RFC 3339.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from application.reports import ComplianceReportView
from entrypoints.reports.naming import filter_rows, stamp

MEDIA_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

TOTALS_HEADER = ("samples", "pass", "warning", "fail", "pending")
PARAMETER_HEADER = (
    "parameter",
    "unit",
    "tests",
    "pass",
    "warning",
    "fail",
    "exceedances",
    "max_value",
    "who_limit",
    "moroccan_limit",
    "who_min",
    "moroccan_min",
)
LOCATION_HEADER = ("location", "samples", "pass", "warning", "fail", "pending")
EXCEEDANCE_HEADER = (
    "sample_id",
    "result_id",
    "parameter",
    "value",
    "unit",
    "location",
    "collection_date",
)


def safe_text(value: str) -> str:
    """Neutralize a cell a spreadsheet would evaluate as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    return safe_text(str(value))


def _rows(writer: Any, rows: Iterable[Iterable[Any]]) -> None:
    writer.writerows([_cell(v) for v in row] for row in rows)


def render_csv(report: ComplianceReportView) -> bytes:
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Report"])
    writer.writerow(["field", "value"])
    _rows(
        writer,
        [
            ("Title", "AquaLab compliance report"),
            *filter_rows(report),
            ("Generated at", stamp(report.generated_at)),
            ("Audit chain head", report.audit_head_hash),
        ],
    )
    t = report.totals
    writer.writerow([])
    writer.writerow(["Totals"])
    writer.writerow(TOTALS_HEADER)
    _rows(writer, [(t.samples, t.passed, t.warning, t.failed, t.pending)])
    writer.writerow([])
    writer.writerow(["By parameter"])
    writer.writerow(PARAMETER_HEADER)
    _rows(
        writer,
        (
            (
                p.parameter,
                p.unit,
                p.tests,
                p.passed,
                p.warning,
                p.failed,
                p.exceedances,
                p.max_value,
                p.who_limit,
                p.moroccan_limit,
                p.who_min,
                p.moroccan_min,
            )
            for p in report.by_parameter
        ),
    )
    writer.writerow([])
    writer.writerow(["By location"])
    writer.writerow(LOCATION_HEADER)
    _rows(
        writer,
        (
            (loc.location, loc.samples, loc.passed, loc.warning, loc.failed, loc.pending)
            for loc in report.by_location
        ),
    )
    writer.writerow([])
    writer.writerow(["Exceedances"])
    writer.writerow(EXCEEDANCE_HEADER)
    _rows(
        writer,
        (
            (
                e.sample_id,
                e.result_id,
                e.parameter,
                e.value,
                e.unit,
                e.location,
                stamp(e.collection_date),
            )
            for e in report.exceedances
        ),
    )
    return out.getvalue().encode("utf-8")
