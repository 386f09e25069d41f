"""Sample-list benchmark (issue 3): `.venv/bin/python bench/samples.py`.

Starts a throwaway embedded PostgreSQL, loads 100,000 samples with 5 results each into
one lab with `aqualab seed-demo` (timed), starts the real `aqualab serve` (one waitress
process, or gunicorn with `--workers N`; SQL storage, production settings but the API
rate limits lifted), creates a technician of
that lab and logs in as them, then runs wrk (bench/samples.lua, 10 s per run) at 10 and
100 connections against:

    GET /api/v1/samples                 no filter (default sort -collection_date)
    ... ?type= / ?status= / ?compliance_status=   a value present in the data, at random
    ... ?location=<exact site>          200 real sites, any case
    ... ?date_from=&date_to=            random 30-day windows over the two years
    ... ?search=<place>                 a location substring (the sites' place names)
    ... ?search=<6 hex chars>           an id prefix of a real sample
    ... ?sort=location / ?sort=-created_at
    GET /api/v1/samples/{id}            2,000 random real ids

Then it runs EXPLAIN (ANALYZE, BUFFERS) of the count and page queries the API issues for
one request of each list scenario, prints everything, and rewrites the part of
docs/performance.md between the bench-samples markers. The server and the database are
always stopped and removed (try/finally); only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import run as base  # noqa: E402  (bench/run.py: PostgreSQL, server, wrk and CPU helpers)

ROOT = base.ROOT
LUA_SCRIPT = BENCH_DIR / "samples.lua"
DOC = base.DOC
START_MARK = "<!-- bench-samples:start -->"
END_MARK = "<!-- bench-samples:end -->"
API = base.API
LAB_NAME = "Bench Lab"
TECH_EMAIL = "bench-technician@example.org"
MAX_TOTAL_SECONDS = 600

LIST_P95_MS = {10: 50.0, 100: 200.0}
GET_P95_MS = {10: 20.0}


@dataclass
class Plan:
    """One scenario: the query strings wrk draws from (params=None: a get-by-id)."""

    key: str
    label: str
    params: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    is_list: bool = True

    def build_paths(self) -> None:
        if self.is_list:
            self.paths = [
                f"{API}/samples" + (f"?{urllib.parse.urlencode(p)}" if p else "")
                for p in self.params
            ]


_SCAN = re.compile(
    r"((?:Parallel )?(?:Index Only|Index|Seq|Bitmap Index|Bitmap Heap) Scan(?: Backward)?)"
    r"(?: using (\S+))?(?: on (\S+))?"
)


@dataclass
class Explained:
    key: str
    request: str
    count_ms: float
    page_ms: float
    count_plan: list[str]
    page_plan: list[str]

    @staticmethod
    def scans(plan: list[str]) -> str:
        found = []
        for line in plan:
            if match := _SCAN.search(line):
                kind, index, table = match.groups()
                if kind.startswith("Bitmap Heap"):
                    continue
                found.append(f"{kind} {index}" if index else f"{kind} on {table}")
        return "; ".join(dict.fromkeys(found)) or "-"


# --- data -------------------------------------------------------------------------------


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def seed(pg: base.EmbeddedPostgres, workdir: Path, samples: int) -> dict[str, Any]:
    """Run `aqualab seed-demo` as a user would; return its JSON summary plus wall time."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in base._SCRUB}
    env.update({"DATABASE_URL": pg.url, "AQUALAB_VAR_DIR": str(workdir / "var")})
    args = [*base.aqualab_command(), "seed-demo", "--samples", str(samples), "--lab", LAB_NAME]
    started = time.perf_counter()
    done = subprocess.run(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False, timeout=420
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"seed-demo failed ({done.returncode}): {done.stdout[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    summary["wall_seconds"] = wall
    summary["command"] = f"aqualab seed-demo --samples {samples} --lab '{LAB_NAME}'"
    return summary


def pick_values(pg: base.EmbeddedPostgres, rng: random.Random) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(libpq_url(pg.url)) as conn:
        lab_id = conn.execute("SELECT id FROM labs WHERE name = %s", (LAB_NAME,)).fetchone()
        if lab_id is None:
            raise RuntimeError("the seeded lab is missing")
        ids = [
            str(r[0])
            for r in conn.execute(
                "SELECT id FROM samples WHERE lab_id = %s ORDER BY random() LIMIT 2000",
                (lab_id[0],),
            )
        ]
        locations = [
            r[0]
            for r in conn.execute(
                "SELECT location FROM (SELECT DISTINCT location FROM samples WHERE lab_id = %s) s"
                " ORDER BY random() LIMIT 200",
                (lab_id[0],),
            )
        ]
        first, last = conn.execute(
            "SELECT min(collection_date), max(collection_date) FROM samples WHERE lab_id = %s",
            (lab_id[0],),
        ).fetchone() or (None, None)
        present = {
            column: sorted(
                r[0]
                for r in conn.execute(
                    f"SELECT DISTINCT {column} FROM samples WHERE lab_id = %s",
                    (lab_id[0],),
                )
            )
            for column in ("type", "status", "compliance_status")
        }
    if not ids or first is None or last is None:
        raise RuntimeError("no samples were seeded")
    return {
        "lab_id": lab_id[0],
        "ids": ids,
        "locations": locations,
        "span": (first, last),
        "present": present,
    }


def place_words(locations: list[str]) -> list[str]:
    """Location substrings a user would type: place names of the lab's sites, any case."""
    words = {loc.split()[0] for loc in locations if len(loc.split()[0]) >= 4}
    return sorted({w.lower() for w in words} | {w[:5] for w in words})


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plans(values: dict[str, Any], rng: random.Random, n: int = 300) -> list[Plan]:
    first, last = values["span"]
    windows = []
    for _ in range(n):
        start = first + (last - first - timedelta(days=30)) * rng.random()
        windows.append({"date_from": _stamp(start), "date_to": _stamp(start + timedelta(days=30))})
    case: list[Callable[[str], str]] = [str.lower, str.upper, str]
    words = place_words(values["locations"])
    present = values["present"]
    result = [
        Plan("default", "no filter (-collection_date)", [{}]),
        Plan("type", "?type=<random type>", [{"type": t} for t in present["type"]]),
        Plan("status", "?status=<random status>", [{"status": s} for s in present["status"]]),
        Plan(
            "compliance",
            "?compliance_status=<random>",
            [{"compliance_status": c} for c in present["compliance_status"]],
        ),
        Plan(
            "location",
            "?location=<exact site, any case>",
            [{"location": rng.choice(case)(loc)} for loc in values["locations"]],
        ),
        Plan("dates", "?date_from&date_to (30 days)", windows),
        Plan("search_location", "?search=<place name>", [{"search": w} for w in words]),
        Plan("search_id", "?search=<id prefix, 6 hex>", [{"search": i[:6]} for i in values["ids"]]),
        Plan("sort_location", "?sort=location", [{"sort": "location"}]),
        Plan("sort_created", "?sort=-created_at", [{"sort": "-created_at"}]),
        Plan(
            "get",
            "GET /samples/{id} (random ids)",
            paths=[f"{API}/samples/{i}" for i in values["ids"]],
            is_list=False,
        ),
    ]
    for plan in result:
        plan.build_paths()
    return result


# --- HTTP -------------------------------------------------------------------------------


def technician_token(server: base.Server, admin_password: str, lab_id: Any) -> str:
    status, body = base.http(
        "POST",
        server.base_url + f"{API}/auth/login",
        {"email": base.ADMIN_EMAIL, "password": admin_password},
    )
    if status != 200:
        raise RuntimeError(f"admin login failed: {status} {body}")
    admin_token = body["tokens"]["access_token"]
    password = f"Tech-{secrets.token_urlsafe(12)}-7q"
    status, body = base.http(
        "POST",
        server.base_url + f"{API}/users",
        {
            # A fresh technician each run (a kept database already has the earlier ones).
            "email": TECH_EMAIL.replace("@", f"-{secrets.token_hex(4)}@"),
            "password": password,
            "name": "Bench Technician",
            "role": "technician",
            "lab_id": str(lab_id),
        },
        token=admin_token,
    )
    if status != 201:
        raise RuntimeError(f"creating the technician failed: {status} {body}")
    status, body = base.http(
        "POST",
        server.base_url + f"{API}/auth/login",
        {"email": body["email"], "password": password},
    )
    if status != 200:
        raise RuntimeError(f"technician login failed: {status} {body}")
    return str(body["tokens"]["access_token"])


def check_paths(server: base.Server, token: str, plan: Plan) -> None:
    """One request of the plan answers 200 with data (not an empty or failed list)."""
    status, body = base.http("GET", server.base_url + plan.paths[0], token=token)
    if status != 200:
        raise RuntimeError(f"{plan.key}: {plan.paths[0]} answered {status}: {body}")


def cpu_snapshot(server: base.Server) -> dict[str, float]:
    """bench/run.py's CPU counters, with the server's worker processes counted as "app"."""
    snapshot = base.cpu_snapshot(server)
    snapshot["app"] += base._cpu_seconds(sorted(child_pids(server.process.pid)))
    return snapshot


def child_pids(pid: int) -> set[int]:
    """gunicorn's workers: the processes whose parent is the server (none for waitress)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = base._proc_stat(int(entry.name))
            if fields and int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


@contextlib.contextmanager
def serve_with_workers(workers: int) -> Any:
    """`aqualab serve` reads WORKERS (= `--workers N`); 0 is one waitress process."""
    previous = os.environ.get("WORKERS")
    os.environ["WORKERS"] = str(workers)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("WORKERS", None)
        else:
            os.environ["WORKERS"] = previous


def run_wrk(
    wrk: str,
    server: base.Server,
    plan: Plan,
    *,
    connections: int,
    duration: int,
    timeout: int,
    token: str,
    workdir: Path,
) -> base.Result:
    paths_file = workdir / f"paths-{plan.key}.txt"
    paths_file.write_text("\n".join(plan.paths) + "\n")
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_PATHS": str(paths_file)}
    return base.measure_wrk(
        wrk,
        LUA_SCRIPT,
        server.base_url + plan.paths[0],
        base.Scenario(plan.key, plan.label, "GET", plan.paths[0], 200, auth=True),
        env=env,
        connections=connections,
        duration=duration,
        timeout=timeout,
        snapshot=lambda: cpu_snapshot(server),
    )


# --- EXPLAIN ------------------------------------------------------------------------------


def explain_all(pg: base.EmbeddedPostgres, lab_id: Any, list_plans: list[Plan]) -> list[Explained]:
    """EXPLAIN ANALYZE the count and the page query the API runs for one request of each."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from adapters.sqlalchemy import lab_data
    from adapters.sqlalchemy.engine import make_engine
    from adapters.sqlalchemy.lab_data import SqlAlchemySampleRepository
    from adapters.sqlalchemy.orm import start_mappers
    from adapters.sqlalchemy.records import RecordTracker
    from domain.compliance import ComplianceStatus
    from domain.lab_data import SampleStatus, SampleType
    from domain.paging import Sort
    from domain.ports import SampleQuery

    start_mappers()
    engine = make_engine(pg.url, pool_size=2)

    def sample_query(params: dict[str, str]) -> SampleQuery:
        query = SampleQuery(lab_id=lab_id)
        for name, value in params.items():
            if name == "type":
                query = replace(query, type=SampleType(value))
            elif name == "status":
                query = replace(query, status=SampleStatus(value))
            elif name == "compliance_status":
                query = replace(query, compliance_status=ComplianceStatus(value))
            elif name in ("date_from", "date_to"):
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
                query = replace(query, **{name: moment})
            elif name == "sort":
                sort = Sort(value.lstrip("-"), descending=value.startswith("-"))
                query = replace(query, sort=sort)
            else:
                query = replace(query, **{name: value})
        return query

    def explain(conn: sa.Connection, key: str, params: dict[str, str]) -> Explained:
        """EXPLAIN ANALYZE exactly the count and page statements the repository sends."""
        sent: list[tuple[str, Any]] = []

        def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
            if not statement.startswith("EXPLAIN"):  # the estimate of a capped count
                sent.append((statement, parameters))

        # A process remembers the broad filter shapes and then skips their count (ADR
        # 0008); forget them so each list shows its count and its page, as a shape's
        # first request in a server process sends them.
        lab_data._broad_shapes.clear()
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            with Session(engine) as session:
                repository = SqlAlchemySampleRepository(session, RecordTracker(session))
                repository.list(sample_query(params))
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
        timings, plans_text = [], []
        for statement, parameters in sent:
            # Sent through psycopg (a DriverQuery): positional values in a list.
            bound = tuple(parameters) if isinstance(parameters, list) else parameters
            result = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, bound)
            lines = list(result.scalars())
            match = re.search(r"Execution Time: ([\d.]+) ms", lines[-1])
            timings.append(float(match.group(1)) if match else float("nan"))
            plans_text.append(lines)
        request = "?" + urllib.parse.urlencode(params) if params else "(no parameters)"
        if len(sent) == 1:  # the count and the page in one statement
            return Explained(key, request, 0.0, timings[0], [], plans_text[0])
        return Explained(key, request, timings[0], timings[1], *plans_text)

    explained = []
    try:
        with engine.connect() as conn:
            for plan in list_plans:
                # a few values (type, status…): show the slowest; else one from the middle
                few = len(plan.params) <= 8
                candidates = plan.params if few else [plan.params[len(plan.params) // 2]]
                runs = [explain(conn, plan.key, params) for params in candidates]
                explained.append(max(runs, key=lambda e: e.count_ms + e.page_ms))
    finally:
        engine.dispose()
    return explained


# --- report -----------------------------------------------------------------------------


def verdicts(results: list[base.Result]) -> list[tuple[str, int, float, float, bool]]:
    rows = []
    for r in results:
        limits = GET_P95_MS if r.scenario.key == "get" else LIST_P95_MS
        if r.connections in limits:
            target = limits[r.connections]
            met = r.p95_ms < target and r.errors == 0
            rows.append((r.scenario.label, r.connections, r.p95_ms, target, met))
    return rows


def render_section(
    *,
    command: str,
    machine: dict[str, str],
    seeded: dict[str, Any],
    results: list[base.Result],
    explained: list[Explained],
    settings: dict[str, str],
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    secs = seeded.get("seconds", {})
    lines = [
        f"_Generated by `bench/samples.py` on {when}; rerun to refresh this section._",
        "",
        f"Command: `{command}`",
        "",
        "| Machine | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in machine.items()),
        "",
        f"**Data**: `{seeded['command']}` loaded {seeded['samples']:,} samples, "
        f"{seeded['results']:,} results and {seeded['audit_entries']:,} audit entries into one "
        f"lab in **{seeded['wall_seconds']:.0f} s** wall (insert {secs.get('insert', 0)} s, "
        f"sealing after the insert {secs.get('sealing_after_insert', 0)} s, "
        f"VACUUM/ANALYZE {secs.get('vacuum_analyze', 0)} s; "
        f"{seeded.get('audit_pending', '?')} audit entries left unsealed). "
        f"Sample compliance: {seeded.get('sample_compliance')}.",
        "",
        "Server: " + ", ".join(f"{k} {v}" for k, v in settings.items()) + ".",
        "",
        "| Request | Conns | Req/s | p50 ms | p95 ms | p99 ms | Max ms | Requests | Errors "
        "| CPU ms/req app / PG / wrk / other |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fmt = base._fmt_ms
    for r in results:
        lines.append(
            f"| `{r.scenario.label}` | {r.connections} | {r.rps:,.1f} | {fmt(r.p50_ms)} | "
            f"{fmt(r.p95_ms)} | {fmt(r.p99_ms)} | {fmt(r.max_ms)} | {r.requests:,} | "
            f"{r.errors}{'' if not r.errors else f' {r.statuses}'} | {base._fmt_cpu(r)} |"
        )
    rows = verdicts(results)
    met = sum(1 for row in rows if row[4])
    lines += [
        "",
        f"**Targets** (list p95 < 50 ms at 10 connections and < 200 ms at 100; get-by-id p95 "
        f"< 20 ms at 10): **{met} of {len(rows)} met**.",
        "",
        "| Request | Conns | p95 ms | Target ms | Verdict |",
        "|---|---:|---:|---:|---|",
        *(
            f"| `{label}` | {conns} | {fmt(p95)} | {target:.0f} | {'met' if ok else '**missed**'} |"
            for label, conns, p95, target, ok in rows
        ),
        "",
        "EXPLAIN (ANALYZE, BUFFERS) of the statements `GET /samples` runs, on the idle server "
        "after the runs, for one request of each kind (for type, status and "
        "compliance_status: the slowest of their values). *First* is the capped count for "
        "`meta.total` or a search's matching terms; it is empty when one statement answers "
        "(the count and the page together, or a broad list totalled by the planner's "
        "estimate):",
        "",
        "| Request | Example | First ms | First plan | Page ms | Page plan |",
        "|---|---|---:|---|---:|---|",
        *(
            f"| `{e.key}` | `{e.request}` | {e.count_ms:.1f} | {Explained.scans(e.count_plan)} | "
            f"{e.page_ms:.1f} | {Explained.scans(e.page_plan)} |"
            for e in explained
        ),
    ]
    slow = [e for e in explained if max(e.count_ms, e.page_ms) >= 10]
    if slow:
        lines += ["", "<details><summary>Full plans of the statements over 10 ms</summary>", ""]
        for e in slow:
            statements = (("count", e.count_plan, e.count_ms), ("page", e.page_plan, e.page_ms))
            for name, plan, ms in statements:
                if ms >= 10:
                    lines += [f"`{e.key}` {name} ({e.request}):", "", "```", *plan, "```", ""]
        lines.append("</details>")
    return "\n".join(lines)


def write_doc(section: str) -> None:
    base.replace_doc_section(START_MARK, END_MARK, section, "Sample list benchmark (issue 3)")


# --- main -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=100_000, help="samples to seed (100000)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--connections", default="10,100", help="comma-separated (10,100)")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (8)")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="serve with gunicorn and N sync worker processes (aqualab serve --workers N); "
        "default: one waitress process",
    )
    parser.add_argument("--timeout", type=int, default=30, help="wrk request timeout, s (30)")
    parser.add_argument("--only", default="", help="scenario keys, comma-separated (all)")
    parser.add_argument("--quick", action="store_true", help="10,000 samples, 3 s runs")
    parser.add_argument("--no-doc", action="store_true", help="leave docs/performance.md alone")
    parser.add_argument(
        "--keep-db",
        metavar="DIR",
        help="keep the seeded PostgreSQL in DIR and reuse it next time (seeds only once)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.duration = 10_000, 3
    args.connection_list = [int(c) for c in args.connections.split(",") if c.strip()]
    args.keys = [k.strip() for k in args.only.split(",") if k.strip()]
    if args.workers < 0:
        parser.error("--workers must be 0 (waitress) or more")
    if any(c < 1 for c in args.connection_list) or args.duration < 1 or args.samples < 1:
        parser.error("--samples, --duration and --connections must be positive")
    runs = (len(args.keys) or 11) * len(args.connection_list)
    budget = runs * (args.duration + 4) + 150 + args.samples / 1000
    if budget > MAX_TOTAL_SECONDS:
        parser.error(f"that plan needs ~{budget:.0f}s; keep the whole bench under 10 minutes")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    extra = sys.argv[1:] if argv is None else argv
    command = ".venv/bin/python bench/samples.py" + "".join(f" {a}" for a in extra)
    started = time.monotonic()
    wrk = base.ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="aqualab-bench-samples-"))
    workdir.chmod(0o755)  # the postgres user must reach its data directory inside
    kept = Path(args.keep_db).resolve() if args.keep_db else None
    pg = base.EmbeddedPostgres(kept or workdir / "pg")
    server: base.Server | None = None
    jwt_secret = secrets.token_urlsafe(48)
    admin_password = f"Bench-{secrets.token_urlsafe(12)}-7q"
    rng = random.Random(7)  # the request mix (not secrets)
    results: list[base.Result] = []
    explained: list[Explained] = []
    with base.terminate_on_sigterm():
        try:
            print("bench-samples: starting embedded PostgreSQL ...", flush=True)
            pg.start()
            machine = base.machine_info(wrk, pg)
            for name, value in machine.items():
                print(f"  {name:9} {value}")
            busy = base.machine_busy_fraction()
            machine["CPU busy before start"] = f"{busy:.0%}"
            seeded_file = kept / f"seeded-{args.samples}.json" if kept else None
            if seeded_file is not None and seeded_file.exists():
                print(f"bench-samples: reusing the database kept in {kept}", flush=True)
                seeded = json.loads(seeded_file.read_text())
            else:
                print(f"bench-samples: seeding {args.samples:,} samples ...", flush=True)
                seeded = seed(pg, workdir, args.samples)
                if seeded_file is not None:
                    seeded_file.write_text(json.dumps(seeded))
            print(
                f"bench-samples: seeded in {seeded['wall_seconds']:.1f} s: "
                f"{json.dumps(seeded['seconds'])}",
                flush=True,
            )
            values = pick_values(pg, rng)
            all_plans = plans(values, rng)
            chosen = [p for p in all_plans if not args.keys or p.key in args.keys]
            if unknown := set(args.keys) - {p.key for p in all_plans}:
                raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
            how = f"--workers {args.workers}" if args.workers else f"--threads {args.threads}"
            print(f"bench-samples: starting aqualab serve {how} ...", flush=True)
            with serve_with_workers(args.workers):
                server = base.start_server(workdir, pg, jwt_secret, args.threads, admin_password)
            if args.workers:
                found = len(child_pids(server.process.pid))
                print(f"bench-samples: gunicorn master {server.process.pid}, {found} workers")
            token = technician_token(server, admin_password, values["lab_id"])
            for plan in chosen:
                check_paths(server, token, plan)
            # Warm-up: pool connections opened, code paths imported, pages cached.
            run_wrk(
                wrk,
                server,
                all_plans[0],
                connections=10,
                duration=2,
                timeout=args.timeout,
                token=token,
                workdir=workdir,
            )
            for plan in chosen:
                for connections in args.connection_list:
                    print(f"bench-samples: {plan.label} at {connections} ...", flush=True)
                    result = run_wrk(
                        wrk,
                        server,
                        plan,
                        connections=connections,
                        duration=args.duration,
                        timeout=args.timeout,
                        token=token,
                        workdir=workdir,
                    )
                    results.append(result)
                    print(
                        f"  {result.rps:.1f} req/s, p50 {result.p50_ms:.1f} ms, "
                        f"p95 {result.p95_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
                        f"errors {result.errors} {result.statuses}, "
                        f"CPU ms/req app/PG/wrk/other {base._fmt_cpu(result)}",
                        flush=True,
                    )
                    base.wait_idle(server)
            print("bench-samples: EXPLAIN ANALYZE of the list queries ...", flush=True)
            explained = explain_all(pg, values["lab_id"], [p for p in chosen if p.is_list])
        finally:
            if server is not None:
                base.stop_server(server)
                if server.process.returncode not in (0, None):
                    print(f"server exited {server.process.returncode}:\n{server.log_tail()}")
            if kept is None:
                pg.destroy()
            else:
                pg.stop()
            shutil.rmtree(workdir, ignore_errors=True)

    base.print_results(results)
    for label, conns, p95, target, ok in verdicts(results):
        verdict = "met" if ok else "MISSED"
        print(f"  {label:34} {conns:>4} p95 {p95:8.1f} ms  target {target:.0f}  {verdict}")
    for e in explained:
        print(f"  EXPLAIN {e.key:16} count {e.count_ms:7.1f} ms  page {e.page_ms:7.1f} ms")
    section = render_section(
        command=command,
        machine=machine,
        seeded=seeded,
        results=results,
        explained=explained,
        settings={
            **(
                {"gunicorn": f"{args.workers} sync worker processes, 1 request at a time each"}
                if args.workers
                else {"waitress threads": str(args.threads)}
            ),
            "DB pool": "3 per worker" if args.workers else str(args.threads + 2),
            "wrk": f"-t2, {args.duration} s per run, --timeout {args.timeout}s",
            "token": "a technician of the seeded lab",
            "LOG_LEVEL": "WARNING",
            "PostgreSQL": "fsync on (embedded default), shared_buffers 256MB",
        },
    )
    if not args.no_doc:
        write_doc(section)
        print(f"bench-samples: wrote {DOC.relative_to(ROOT)}")
    print(f"bench-samples: done in {time.monotonic() - started:.0f} s")
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
