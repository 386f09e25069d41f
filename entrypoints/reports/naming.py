"""What every export of a report shares: labels of its filters and a download file name."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from application.reports import ComplianceReportView

ALL = "(all)"


def stamp(moment: datetime | None) -> str:
    """RFC 3339 UTC with a Z, as the JSON shows timestamps."""
    if moment is None:
        return ""
    return moment.isoformat().replace("+00:00", "Z")


def lab_label(report: ComplianceReportView) -> str:
    if report.lab is not None:
        return report.lab.name
    return "All labs" if report.filters.lab_id is None else str(report.filters.lab_id)


def period_label(report: ComplianceReportView) -> str:
    f = report.filters
    start = stamp(f.date_from) or "the first sample"
    end = stamp(f.date_to) or "the last sample"
    return f"{start} to {end}"


def filter_rows(report: ComplianceReportView) -> list[tuple[str, str]]:
    f = report.filters
    return [
        ("Lab", lab_label(report)),
        ("Collected from", stamp(f.date_from) or ALL),
        ("Collected to", stamp(f.date_to) or ALL),
        ("Sample type", f.sample_type or ALL),
        ("Location", f.location or ALL),
        ("Sample compliance status", f.compliance_status or ALL),
    ]


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-").lower()[:60]


def file_name(report: ComplianceReportView, extension: str) -> str:
    """E.g. `compliance-report_laboratoire-national_2025-01-01_2025-12-31.pdf` (ASCII only)."""
    f = report.filters
    parts = [
        "compliance-report",
        _slug(lab_label(report)) or "lab",
        f.date_from.date().isoformat() if f.date_from else "start",
        f.date_to.date().isoformat() if f.date_to else report.generated_at.date().isoformat(),
    ]
    return "_".join(parts) + "." + extension
