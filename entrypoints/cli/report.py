"""`aqualab report`: write a compliance report (JSON, CSV or PDF) to a file (docs/reports.md).

    aqualab report --from 2025-01-01 --to 2025-12-31 --format pdf --lab "Central" --out r.pdf

It runs the same use case as `POST /api/v1/reports/compliance`, as an operator who may
read every lab (like the other operator commands, it talks to the database directly:
DATABASE_URL, or the embedded PostgreSQL under var/). Dates follow the API (RFC 3339, or
YYYY-MM-DD = midnight UTC), except that a plain date given to `--to` covers that whole
day, so `--from 2025-01-01 --to 2025-12-31` is the full year. Without `--format`, the
format follows the extension of `--out` (.json, .csv, .pdf); `--out -` writes to stdout.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

FORMATS = ("json", "csv", "pdf")
OPERATOR = UUID(int=0)  # the CLI's principal: no user, every lab (nothing is written)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def add_parser(sub: Any) -> None:
    report = sub.add_parser(
        "report",
        help="write a compliance report (JSON, CSV or PDF) for a period",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    report.add_argument(
        "--from", dest="date_from", metavar="DATE", help="collected from (inclusive)"
    )
    report.add_argument(
        "--to", dest="date_to", metavar="DATE", help="collected to (a plain date: that whole day)"
    )
    report.add_argument(
        "--format", choices=FORMATS, help="json, csv or pdf (default: from --out, else json)"
    )
    report.add_argument(
        "--lab", metavar="NAME-or-ID", help="lab name, code or id (default: every lab)"
    )
    report.add_argument(
        "--type", dest="sample_type", metavar="TYPE", help="sample type, e.g. drinking"
    )
    report.add_argument("--location", help="exact site name (any case)")
    report.add_argument(
        "--status",
        dest="compliance_status",
        metavar="STATUS",
        help="sample compliance status, e.g. fail",
    )
    report.add_argument("--out", required=True, metavar="FILE", help="output file, or - for stdout")
    report.set_defaults(func=cmd_report)


def output_format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    suffix = Path(args.out).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else "json"


def cmd_report(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from entrypoints.http.errors import field_errors_from_pydantic
    from entrypoints.http.report_schemas import ComplianceReportIn

    fmt = output_format(args)
    if args.out == "-" and fmt == "pdf":
        print("aqualab: write a PDF to a file (--out report.pdf)", file=sys.stderr)
        return 2
    try:
        filters = ComplianceReportIn.model_validate(
            {
                "date_from": args.date_from,
                "date_to": args.date_to,
                "sample_type": args.sample_type,
                "location": args.location,
                "compliance_status": args.compliance_status,
            }
        )
    except ValidationError as exc:
        problems = field_errors_from_pydantic(exc)
        names = {"date_from": "--from", "date_to": "--to", "sample_type": "--type"}
        names["compliance_status"] = "--status"
        text = "; ".join(f"{names.get(k, '--' + k)}: {', '.join(v)}" for k, v in problems.items())
        print(f"aqualab: {text}", file=sys.stderr)
        return 2
    date_to = filters.date_to
    if date_to is not None and _DATE_ONLY.match(args.date_to.strip()):
        date_to = date_to + timedelta(days=1) - timedelta(microseconds=1)
    return _write(args, fmt, filters, date_to)


def _write(args: argparse.Namespace, fmt: str, filters: Any, date_to: Any) -> int:
    from application.context import Caller, Principal
    from application.reports import ComplianceReportCommand
    from domain.roles import Role
    from entrypoints.cli.main import _settings, database_url, migrate
    from entrypoints.container import build_container
    from entrypoints.http.report_schemas import ComplianceReportOut
    from entrypoints.reports.csv_export import render_csv
    from entrypoints.reports.pdf_export import render_pdf

    settings = _settings(args)
    url = database_url(settings)
    migrate(url)
    container = build_container(settings, url)
    try:
        lab_id = None
        if args.lab:
            lab_id = _find_lab(container, args.lab)
            if lab_id is None:
                print(f"aqualab: no lab named {args.lab!r} (name, code or id)", file=sys.stderr)
                return 2
        view = container.compliance_report()(
            Caller(Principal(user_id=OPERATOR, role=Role.ADMIN, lab_id=None)),
            ComplianceReportCommand(
                date_from=filters.date_from,
                date_to=date_to,
                sample_type=filters.sample_type,
                location=filters.location,
                compliance_status=filters.compliance_status,
                lab_id=lab_id,
            ),
        )
    finally:
        container.shutdown_resources()
    if fmt == "json":
        data = (
            ComplianceReportOut.model_validate(view, from_attributes=True)
            .model_dump_json(by_alias=True, indent=2)
            .encode()
            + b"\n"
        )
    elif fmt == "csv":
        data = render_csv(view)
    else:
        data = render_pdf(view)
    if args.out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(args.out).write_bytes(data)
    print(
        f"compliance report ({fmt}, {view.totals.samples} samples, "
        f"{len(view.exceedances)} exceedances) written to {args.out}",
        file=sys.stderr,
    )
    return 0


def _find_lab(container: Any, wanted: str) -> UUID | None:
    with container.uow() as uow:
        try:
            lab = uow.labs.get(UUID(wanted))
        except ValueError:
            lab = None
        lab = lab or uow.labs.get_by_name(wanted) or uow.labs.get_by_code(wanted)
        return lab.id if lab is not None else None
