"""`aqualab report` and the SQL report figures on realistic seeded data (real PostgreSQL).

The CLI runs as a subprocess, as an operator would run it; its output is compared with
figures counted independently in plain SQL.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy.demo_data import DemoOptions, ensure_demo_labs, seed_demo
from entrypoints.container import Container
from tests.live_server import run_cli, server_env

pytestmark = pytest.mark.integration

LAB = "Report CLI Lab"
NOW = datetime(2025, 12, 31, 18, 0, tzinfo=UTC)


@pytest.fixture
def seeded(sql_container: Container, database_url: str) -> Iterator[dict[str, Any]]:
    labs = ensure_demo_labs(
        sql_container.uow, sql_container.clock(), sql_container.ids(), [LAB, "Other Lab"]
    )
    seed_demo(
        sql_container.engine(),
        DemoOptions(samples=300, results_per_sample=5, batch_size=100),
        labs,
        now=NOW,
    )
    yield {"lab_id": labs[0], "other": labs[1], "container": sql_container}


def sql_counts(container: Container, lab_id: UUID, start: str, end: str) -> dict[str, Any]:
    """The expected figures, counted the plain way."""
    with container.engine().connect() as conn:
        params = {"lab": lab_id, "start": start, "end": end}
        samples = dict(
            conn.execute(
                sa.text(
                    "SELECT compliance_status, count(*) FROM samples WHERE lab_id = :lab "
                    "AND deleted_at IS NULL AND collection_date BETWEEN :start AND :end "
                    "GROUP BY compliance_status"
                ),
                params,
            ).all()
        )
        fails = conn.execute(
            sa.text(
                "SELECT r.id FROM test_results r JOIN samples s ON s.id = r.sample_id "
                "WHERE s.lab_id = :lab AND s.deleted_at IS NULL AND r.deleted_at IS NULL "
                "AND r.compliance_status = 'fail' "
                "AND s.collection_date BETWEEN :start AND :end"
            ),
            params,
        ).scalars()
        return {"samples": samples, "fails": {str(i) for i in fails}}


def cli(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = server_env(database_url=database_url, var_dir=tmp_path / "var")
    return run_cli("report", *args, env=env)


def test_report_cli_writes_json_csv_and_pdf(
    seeded: dict[str, Any], database_url: str, tmp_path: Path
) -> None:
    period = ("--from", "2025-01-01", "--to", "2025-12-31")
    json_out = tmp_path / "year.json"
    done = cli(tmp_path, database_url, *period, "--lab", LAB, "--out", str(json_out))
    assert done.returncode == 0, done.stderr
    report = json.loads(json_out.read_text())
    # a plain --to date covers that whole day
    assert report["filters"]["date_to"] == "2025-12-31T23:59:59.999999Z"
    assert report["lab"] == {"id": str(seeded["lab_id"]), "name": LAB}
    expected = sql_counts(
        seeded["container"],
        seeded["lab_id"],
        "2025-01-01T00:00:00Z",
        "2025-12-31T23:59:59.999999Z",
    )
    totals = report["totals"]
    assert totals["samples"] == sum(expected["samples"].values()) > 50
    for status in ("pass", "warning", "fail", "pending"):
        assert totals[status] == expected["samples"].get(status, 0)
    assert {e["result_id"] for e in report["exceedances"]} == expected["fails"]
    assert len(expected["fails"]) > 0
    assert sum(p["exceedances"] for p in report["by_parameter"]) == len(expected["fails"])
    assert sum(loc["samples"] for loc in report["by_location"]) == totals["samples"]
    assert f"{totals['samples']} samples" in done.stderr

    csv_out = tmp_path / "year.csv"  # the format follows the extension
    done = cli(
        tmp_path, database_url, *period, "--lab", str(seeded["lab_id"]), "--out", str(csv_out)
    )
    assert done.returncode == 0, done.stderr
    text = csv_out.read_bytes().decode("utf-8-sig")
    exceedances = text.split("\r\n\r\n")[-1]
    rows = list(csv.reader(io.StringIO(exceedances)))
    assert rows[0] == ["Exceedances"]
    assert {row[1] for row in rows[2:] if row} == expected["fails"]

    pdf_out = tmp_path / "year.out"
    done = cli(tmp_path, database_url, *period, "--format", "pdf", "--out", str(pdf_out))
    assert done.returncode == 0, done.stderr
    assert pdf_out.read_bytes().startswith(b"%PDF-")
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "run scripts/ensure-poppler.sh"
    shown = subprocess.run(
        [pdftotext, str(pdf_out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "All labs" in shown and "Compliance report" in shown


def test_report_cli_refuses_bad_input(
    seeded: dict[str, Any], database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "never.json"
    unknown = cli(tmp_path, database_url, "--lab", "No Such Lab", "--out", str(out))
    assert unknown.returncode == 2 and "no lab named 'No Such Lab'" in unknown.stderr
    invalid = cli(tmp_path, database_url, "--type", "juice", "--from", "soon", "--out", str(out))
    assert invalid.returncode == 2
    assert "--type:" in invalid.stderr and "--from:" in invalid.stderr
    assert not out.exists()
