"""Compliance report benchmark (issue 5): `.venv/bin/python bench/reports.py`.

Starts a throwaway embedded PostgreSQL, loads 100,000 samples with 5 results each
(500,000 results, collected over two years) into one lab with `aqualab seed-demo`,
starts the real `aqualab serve` (one waitress process, SQL storage, production
settings, the API rate limit lifted) and times `POST /api/v1/reports/compliance` as the
lab's admin for

    year   the last 365 days of the data (about half of it)
    all    every sample of the lab (100,000 samples, 500,000 results)

in each format (`Accept: application/json`, `text/csv`, `application/pdf`): one warm-up
request, then `--runs` timed requests, median and max of the wall time to the last byte.
It also times the storage's part alone (the three aggregate statements, in-process),
EXPLAINs (ANALYZE, BUFFERS) them for the year report, counts the PDF's pages, prints
everything and rewrites the part of docs/performance.md between the bench-reports
markers. The server and the database are always stopped and removed (try/finally).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import run as base  # noqa: E402  (bench/run.py: PostgreSQL, server and CPU helpers)

ROOT = base.ROOT
API = base.API
START_MARK = "<!-- bench-reports:start -->"
END_MARK = "<!-- bench-reports:end -->"
LAB_NAME = "Bench Lab"
TARGET_S = 2.0
IMAGE = ROOT / "docs" / "images" / "compliance-report.png"
FORMATS = {"json": "application/json", "csv": "text/csv", "pdf": "application/pdf"}


@dataclass
class Timing:
    scenario: str
    fmt: str
    seconds: list[float] = field(default_factory=list)
    size: int = 0
    pages: int | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def seed(pg: base.EmbeddedPostgres, workdir: Path, samples: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in base._SCRUB}
    env.update({"DATABASE_URL": pg.url, "AQUALAB_VAR_DIR": str(workdir / "var")})
    args = [*base.aqualab_command(), "seed-demo", "--samples", str(samples), "--lab", LAB_NAME]
    started = time.perf_counter()
    done = subprocess.run(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"seed-demo failed ({done.returncode}): {done.stdout[-2000:]}")
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    summary["wall_seconds"] = time.perf_counter() - started
    return summary


def lab_and_span(pg: base.EmbeddedPostgres) -> tuple[str, datetime]:
    import psycopg

    with psycopg.connect(pg.url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        row = conn.execute(
            "SELECT l.id, max(s.collection_date) FROM labs l JOIN samples s ON s.lab_id = l.id "
            "WHERE l.name = %s GROUP BY l.id",
            (LAB_NAME,),
        ).fetchone()
    if row is None:
        raise RuntimeError("the seeded lab is missing")
    return str(row[0]), row[1]


def login(server: base.Server, password: str) -> str:
    status, body = base.http(
        "POST",
        server.base_url + f"{API}/auth/login",
        {"email": base.ADMIN_EMAIL, "password": password},
    )
    if status != 200:
        raise RuntimeError(f"login failed: {status} {body}")
    return str(body["tokens"]["access_token"])


def fetch(server: base.Server, token: str, body: dict[str, Any], accept: str) -> bytes:
    request = urllib.request.Request(
        server.base_url + f"{API}/reports/compliance",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": accept,
            "Authorization": f"Bearer {token}",
        },
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        if response.status != 200:
            raise RuntimeError(f"report failed: {response.status}")
        data: bytes = response.read()
        return data


def save_page_image(pdf: Path) -> None:
    """Page 1 of the year report as docs/images/compliance-report.png (README, docs)."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        print("  (pdftoppm missing: scripts/ensure-poppler.sh; image not refreshed)")
        return
    stem = IMAGE.with_suffix("")
    subprocess.run(
        [pdftoppm, "-r", "80", "-png", "-singlefile", "-f", "1", "-l", "1", str(pdf), str(stem)],
        check=True,
    )
    print(f"  wrote {IMAGE.relative_to(ROOT)}")


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", data))


def time_http(
    server: base.Server,
    token: str,
    scenarios: dict[str, dict[str, Any]],
    runs: int,
    pdf_dir: Path,
) -> tuple[list[Timing], dict[str, Any]]:
    timings, facts = [], {}
    for scenario, body in scenarios.items():
        for fmt, accept in FORMATS.items():
            timing = Timing(scenario, fmt)
            data = fetch(server, token, body, accept)  # warm-up
            for _ in range(runs):
                started = time.perf_counter()
                data = fetch(server, token, body, accept)
                timing.seconds.append(time.perf_counter() - started)
            timing.size = len(data)
            if fmt == "pdf":
                timing.pages = pdf_pages(data)
                (pdf_dir / f"{scenario}.pdf").write_bytes(data)
            if fmt == "json":
                report = json.loads(data)
                facts[scenario] = {
                    "samples": report["totals"]["samples"],
                    "results": sum(p["tests"] for p in report["by_parameter"]),
                    "exceedances": len(report["exceedances"]),
                    "locations": len(report["by_location"]),
                }
            print(
                f"  {scenario:5} {fmt:4} median {timing.median * 1000:7.0f} ms  "
                f"max {max(timing.seconds) * 1000:7.0f} ms  {timing.size / 1e6:6.2f} MB"
                + (f"  {timing.pages} pages" if timing.pages else ""),
                flush=True,
            )
            timings.append(timing)
    return timings, facts


def time_storage(
    pg: base.EmbeddedPostgres, lab_id: str, scenarios: dict[str, dict[str, Any]], runs: int
) -> tuple[dict[str, float], list[str]]:
    """The port alone (three statements, one snapshot), and EXPLAIN of the year's."""
    from adapters.sqlalchemy.engine import make_engine
    from adapters.sqlalchemy.reports import SqlAlchemyComplianceReports
    from domain.reports import ReportFilters

    engine = make_engine(pg.url, pool_size=2)
    port = SqlAlchemyComplianceReports(engine)
    medians: dict[str, float] = {}
    plans: list[str] = []
    try:
        for scenario, body in scenarios.items():
            filters = ReportFilters(
                lab_id=uuid.UUID(lab_id),
                date_from=_parse(body.get("date_from")),
                date_to=_parse(body.get("date_to")),
            )
            port.figures(filters)
            seconds = []
            for _ in range(runs):
                started = time.perf_counter()
                port.figures(filters)
                seconds.append(time.perf_counter() - started)
            medians[scenario] = statistics.median(seconds)
            if scenario == "year":
                with engine.connect() as conn:
                    for name, stmt in zip(
                        ("by location", "by parameter", "exceedances"),
                        port.statements(filters),
                        strict=True,
                    ):
                        compiled = stmt.compile(dialect=engine.dialect)
                        params: Any = compiled.params
                        if compiled.positiontup is not None:
                            params = tuple(params[n] for n in compiled.positiontup)
                        lines = conn.exec_driver_sql(
                            "EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), params
                        ).scalars()
                        plans.append(f"-- {name}")
                        plans.extend(lines)
    finally:
        engine.dispose()
    return medians, plans


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def render(
    *,
    command: str,
    machine: dict[str, str],
    seeded: dict[str, Any],
    timings: list[Timing],
    facts: dict[str, Any],
    storage: dict[str, float],
    plans: list[str],
    runs: int,
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Run {when} with `{command}` ({runs} timed requests per row after one warm-up; "
        "wall time to the last byte through the real server).",
        "",
        "**Machine**: " + "; ".join(f"{k}: {v}" for k, v in machine.items()) + ".",
        "",
        f"**Data**: `aqualab seed-demo --samples {seeded['samples']} --lab '{LAB_NAME}'`: "
        f"{seeded['samples']:,} samples, {seeded['results']:,} results over two years "
        f"({seeded['wall_seconds']:.0f} s to load).",
        "",
        "| report | samples | results | exceedances | format | median | max | size | "
        f"< {TARGET_S:.0f} s |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for t in timings:
        f = facts[t.scenario]
        size = f"{t.size / 1e6:.2f} MB" + (f", {t.pages} pages" if t.pages else "")
        verdict = "yes" if t.median < TARGET_S else "**no**"
        lines.append(
            f"| {t.scenario} | {f['samples']:,} | {f['results']:,} | {f['exceedances']:,} | "
            f"{t.fmt} | {t.median * 1000:,.0f} ms | {max(t.seconds) * 1000:,.0f} ms | "
            f"{size} | {verdict} |"
        )
    lines += [
        "",
        "The storage's part alone (the three aggregate statements in one snapshot, "
        "in-process, median): "
        + ", ".join(f"{k} {v * 1000:,.0f} ms" for k, v in storage.items())
        + ".",
        "",
        "<details><summary>EXPLAIN (ANALYZE, BUFFERS) of the year report's statements</summary>",
        "",
        "```text",
        *plans,
        "```",
        "",
        "</details>",
    ]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    base.replace_doc_section(START_MARK, END_MARK, section, "Compliance report benchmark (issue 5)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=100_000, help="samples to seed (100000)")
    parser.add_argument("--runs", type=int, default=5, help="timed requests per row (5)")
    parser.add_argument("--quick", action="store_true", help="10,000 samples, 3 runs")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite the doc")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.runs = 10_000, 3
    extra = sys.argv[1:] if argv is None else argv
    command = ".venv/bin/python bench/reports.py" + "".join(f" {a}" for a in extra)
    workdir = Path(tempfile.mkdtemp(prefix="aqualab-reports-bench-"))
    workdir.chmod(0o755)
    pg = base.EmbeddedPostgres(workdir / "pg")
    password = f"Bench-{secrets.token_urlsafe(12)}-7q"
    server = None
    with base.terminate_on_sigterm():
        try:
            pg.start()
            machine = base.machine_info("true", pg)  # no wrk here
            machine.pop("wrk", None)
            print(f"reports bench: seeding {args.samples:,} samples ...", flush=True)
            seeded = seed(pg, workdir, args.samples)
            lab_id, last = lab_and_span(pg)
            year_from = (last - timedelta(days=365)).astimezone(UTC)
            scenarios: dict[str, dict[str, Any]] = {
                "year": {
                    "lab_id": lab_id,
                    "date_from": year_from.isoformat().replace("+00:00", "Z"),
                    "date_to": last.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                },
                "all": {"lab_id": lab_id},
            }
            server = base.start_server(workdir, pg, secrets.token_urlsafe(48), 4, password)
            token = login(server, password)
            print("reports bench: timing the endpoint ...", flush=True)
            timings, facts = time_http(server, token, scenarios, args.runs, workdir)
            base.stop_server(server)
            server = None
            storage, plans = time_storage(pg, lab_id, scenarios, args.runs)
            print(f"  storage alone: {storage}", flush=True)
            section = render(
                command=command,
                machine=machine,
                seeded=seeded,
                timings=timings,
                facts=facts,
                storage=storage,
                plans=plans,
                runs=args.runs,
            )
            print(section)
            if not args.no_doc:
                write_doc(section)
                save_page_image(workdir / "year.pdf")
        finally:
            if server is not None:
                base.stop_server(server)
            pg.destroy()
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
