"""Sync throughput and concurrency: `.venv/bin/python bench/sync.py` (see docs/performance.md).

1. Push: one device uploads N samples with 3 results each (default 100,000 + 300,000)
   in batches of 1,000 mutations (push only, `pull_limit: 0`); records/s.
2. Pull: a second device of the lab pulls everything (`pull_limit: 1,000`) to the end;
   records/s, and a check that it received every record exactly once.
3. Concurrency: 20 devices sync for 60 s (each round: 20 new samples + results, edits
   of shared records that conflict, then a pull); p95 of `POST /sync`, errors, and at
   the end no lost or duplicated record (every acknowledged id is on the server once,
   and a fresh device that pulls to the end holds exactly the server's records).

The server's resident memory is sampled during the push and pull (VmRSS of the server
process and its children) to show it stays flat in the number of records. Requests
are sent by Python clients (http.client, keep-alive): sync is stateful, which wrk's
scripts cannot follow. Bodies of the push are encoded before the clock starts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as base

API = base.API
ROOT = base.ROOT
START, END = "<!-- bench-sync:start -->", "<!-- bench-sync:end -->"
PARAMETERS = (("nitrate", 12.0, "mg/L"), ("ph", 7.2, "pH"), ("turbidity", 0.6, "NTU"))
T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Client:
    """One keep-alive HTTP connection speaking JSON."""

    def __init__(self, base_url: str, token: str):
        parts = urlsplit(base_url)
        self._conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=120)
        self._headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def post(self, path: str, body: bytes) -> tuple[int, Any]:
        self._conn.request("POST", path, body=body, headers=self._headers)
        response = self._conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None

    def close(self) -> None:
        self._conn.close()


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (gunicorn workers)."""
    total = 0
    pids = [pid]
    try:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
        )
        pids += [int(p) for p in out.stdout.split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def sample_data(n: int) -> dict[str, Any]:
    return {
        "type": "drinking",
        "location": f"Site {n % 500}",
        "collection_date": (T0 + timedelta(minutes=n)).isoformat(),
        "collector_name": "Bench Collector",
    }


def result_data(sample_id: str, k: int) -> dict[str, Any]:
    code, value, unit = PARAMETERS[k]
    return {
        "sample_id": sample_id,
        "parameter": code,
        "value": value,
        "unit": unit,
        "test_date": "2025-01-02T09:00:00Z",
    }


def push_bodies(device: str, samples: int, batch: int) -> list[bytes]:
    """Batches of `batch` mutations: samples, each followed by its three results."""
    bodies: list[bytes] = []
    mutations: list[dict[str, Any]] = []
    mid = 0
    for n in range(samples):
        sid = str(uuid.uuid4())
        mid += 1
        mutations.append(
            {"mutation_id": mid, "entity": "sample", "op": "upsert", "id": sid,
             "data": sample_data(n)}
        )  # fmt: skip
        for k in range(3):
            mid += 1
            mutations.append(
                {"mutation_id": mid, "entity": "result", "op": "upsert",
                 "id": str(uuid.uuid4()), "data": result_data(sid, k)}
            )  # fmt: skip
        if len(mutations) >= batch:
            bodies.append(_body(device, mutations[:batch]))
            mutations = mutations[batch:]
    if mutations:
        bodies.append(_body(device, mutations))
    return bodies


def _body(device: str, mutations: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {"device_id": device, "cursor": None, "pull_limit": 0, "mutations": mutations}
    ).encode()


def push(server: base.Server, token: str, bodies: list[bytes]) -> dict[str, Any]:
    client = Client(server.base_url, token)
    pid = server.process.pid
    rss = [rss_kib(pid)]
    latencies = []
    records = 0
    started = time.perf_counter()
    for i, body in enumerate(bodies):
        t0 = time.perf_counter()
        status, out = client.post(f"{API}/sync", body)
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            raise RuntimeError(f"push batch {i}: {status} {out}")
        bad = [r for r in out["results"] if r["status"] != "applied"]
        if bad:
            raise RuntimeError(f"push batch {i}: not applied: {bad[:3]}")
        records += len(out["results"])
        if i % max(1, len(bodies) // 8) == 0:
            rss.append(rss_kib(pid))
    elapsed = time.perf_counter() - started
    rss.append(rss_kib(pid))
    client.close()
    return {
        "records": records,
        "seconds": elapsed,
        "rate": records / elapsed,
        "batch_p50_ms": statistics.median(latencies) * 1000,
        "batch_p95_ms": quantile(latencies, 0.95) * 1000,
        "rss_mib": [round(r / 1024) for r in rss],
    }


def pull(server: base.Server, token: str, device: str, expected: int) -> dict[str, Any]:
    client = Client(server.base_url, token)
    pid = server.process.pid
    rss = [rss_kib(pid)]
    seen: set[str] = set()
    duplicates = 0
    cursor = None
    rounds = 0
    started = time.perf_counter()
    while True:
        body = json.dumps({"device_id": device, "cursor": cursor, "pull_limit": 1000}).encode()
        status, out = client.post(f"{API}/sync", body)
        if status != 200:
            raise RuntimeError(f"pull: {status} {out}")
        for change in out["changes"]:
            key = change["entity"] + change["id"]
            duplicates += key in seen
            seen.add(key)
        cursor = out["cursor"]
        rounds += 1
        if rounds % 50 == 0:
            rss.append(rss_kib(pid))
        if not out["has_more"]:
            break
    elapsed = time.perf_counter() - started
    rss.append(rss_kib(pid))
    client.close()
    return {
        "records": len(seen),
        "expected": expected,
        "duplicates": duplicates,
        "seconds": elapsed,
        "rate": len(seen) / elapsed,
        "round_trips": rounds,
        "rss_mib": [round(r / 1024) for r in rss],
        "keys": seen,
    }


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Device(threading.Thread):
    """One device of the concurrency run: creates, edits shared records, pulls."""

    def __init__(self, server: base.Server, token: str, name: str, shared: list[str], stop: float):
        super().__init__(daemon=True)
        self.client = Client(server.base_url, token)
        self.name_ = name
        self.shared = shared
        self.stop_at = stop
        self.rng = random.Random(name)
        self.mid = 0
        self.cursor: str | None = None
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.created: set[str] = set()
        self.conflicts = 0

    def run(self) -> None:
        n = 0
        while time.monotonic() < self.stop_at:
            mutations = []
            for _ in range(5):
                sid = str(uuid.uuid4())
                self.mid += 1
                mutations.append(
                    {"mutation_id": self.mid, "entity": "sample", "op": "upsert", "id": sid,
                     "data": sample_data(n)}
                )  # fmt: skip
                n += 1
                for k in range(3):
                    self.mid += 1
                    rid = str(uuid.uuid4())
                    mutations.append(
                        {"mutation_id": self.mid, "entity": "result", "op": "upsert", "id": rid,
                         "data": result_data(sid, k)}
                    )  # fmt: skip
                    self.created.add("result" + rid)
                self.created.add("sample" + sid)
            self.mid += 1
            mutations.append(
                {"mutation_id": self.mid, "entity": "sample", "op": "upsert",
                 "id": self.rng.choice(self.shared), "base_version": 1,
                 "modified_at": datetime.now(UTC).isoformat(),
                 "data": {"notes": f"{self.name_} {n}"}}
            )  # fmt: skip
            body = json.dumps(
                {"device_id": self.name_, "cursor": self.cursor, "pull_limit": 200,
                 "mutations": mutations}
            ).encode()  # fmt: skip
            t0 = time.perf_counter()
            try:
                status, out = self.client.post(f"{API}/sync", body)
            except OSError as exc:
                self.errors.append(repr(exc))
                continue
            self.latencies.append(time.perf_counter() - t0)
            if status != 200:
                self.errors.append(f"{status} {out}")
                continue
            if out["last_mutation_id"] != self.mid:
                self.errors.append(f"stopped at {out['last_mutation_id']} of {self.mid}")
            self.conflicts += sum(r["status"] == "conflict" for r in out["results"])
            self.errors += [str(r) for r in out["results"] if r["status"] == "rejected"]
            self.cursor = out["cursor"]
        self.client.close()


def concurrency(
    server: base.Server, tokens: list[str], seconds: float, devices: int, device_prefix: str = ""
) -> dict[str, Any]:
    """`device_prefix` keeps device ids apart when several runs share a database (a device
    id belongs to the user who first synced it)."""
    client = Client(server.base_url, tokens[0])
    shared = [str(uuid.uuid4()) for _ in range(10)]
    seed = [
        {"mutation_id": i + 1, "entity": "sample", "op": "upsert", "id": sid,
         "data": sample_data(i)}
        for i, sid in enumerate(shared)
    ]  # fmt: skip
    status, out = client.post(
        f"{API}/sync",
        json.dumps(
            {"device_id": f"{device_prefix}shared-seed", "pull_limit": 0, "mutations": seed}
        ).encode(),
    )
    if status != 200:
        raise RuntimeError(f"seeding shared records: {status} {out}")
    stop = time.monotonic() + seconds
    threads = [
        Device(server, tokens[i % len(tokens)], f"{device_prefix}concurrent-{i}", shared, stop)
        for i in range(devices)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies = [x for t in threads for x in t.latencies]
    created = set().union(*(t.created for t in threads))
    # A fresh device pulls to the end: every acknowledged record exactly once.
    fresh = pull(server, tokens[0], f"{device_prefix}concurrent-fresh", 0)
    client.close()
    return {
        "devices": devices,
        "seconds": elapsed,
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0,
        "p95_ms": quantile(latencies, 0.95) * 1000 if latencies else 0,
        "max_ms": max(latencies) * 1000 if latencies else 0,
        "errors": sum(len(t.errors) for t in threads),
        "error_samples": [e for t in threads for e in t.errors][:3],
        "conflicts": sum(t.conflicts for t in threads),
        "created": len(created),
        "fresh_records": fresh["records"],
        "fresh_duplicates": fresh["duplicates"],
        "missing": len(created - fresh["keys"]),
    }


def server_rows(pg: base.EmbeddedPostgres) -> int:
    import psycopg

    with psycopg.connect(pg.url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM samples) + (SELECT count(*) FROM test_results)"
        ).fetchone()
    return int(row[0]) if row else 0


def wait_for_sealer(pg: base.EmbeddedPostgres, limit_seconds: float = 600) -> dict[str, Any]:
    """Wait until the server's sealer has chained every audit entry (audit_pending empty),
    then vacuum what the push wrote.

    The sealer runs at a lower priority than the workers (entrypoints/sealer.py), so a
    long push leaves it behind; the pull is measured once it has caught up, as a device
    joining later would meet the server."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(pg.url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        conn.autocommit = True
        first = pending = int(conn.execute("SELECT count(*) FROM audit_pending").fetchone()[0])
        while pending and time.perf_counter() - started < limit_seconds:
            time.sleep(0.5)
            pending = int(conn.execute("SELECT count(*) FROM audit_pending").fetchone()[0])
        # The push inserted 400,000 rows and as many audit entries: autovacuum would now
        # VACUUM ANALYZE each table, during the pull. Do it first (as bench/samples.py does
        # after seeding), so the pull measures the pull.
        vacuum_started = time.perf_counter()
        conn.execute("VACUUM ANALYZE samples, test_results, audit_log, audit_chain, audit_pending")
        vacuum = time.perf_counter() - vacuum_started
    return {
        "pending_after_push": first,
        "seconds": vacuum_started - started,
        "left": pending,
        "vacuum_seconds": vacuum,
    }


def login_technicians(
    server: base.Server, admin_password: str, count: int, lab_name: str
) -> list[str]:
    """`count` technician tokens of a new lab."""
    status, body = base.http(
        "POST",
        server.base_url + f"{API}/auth/login",
        {"email": base.ADMIN_EMAIL, "password": admin_password},
    )
    if status != 200:
        raise RuntimeError(f"admin login failed: {status} {body}")
    admin = body["tokens"]["access_token"]
    status, lab = base.http(
        "POST", server.base_url + f"{API}/labs", {"name": lab_name}, token=admin
    )
    if status != 201:
        raise RuntimeError(f"creating the lab failed: {status} {lab}")
    tokens = []
    for i in range(count):
        email = f"sync-{lab_name.split(maxsplit=1)[0].lower()}-{i}@lab.example"
        password = f"Sync-{secrets.token_urlsafe(9)}-7q"
        status, body = base.http(
            "POST",
            server.base_url + f"{API}/users",
            {"email": email, "password": password, "name": f"Device {i}",
             "role": "technician", "lab_id": lab["id"]},
            token=admin,
        )  # fmt: skip
        if status != 201:
            raise RuntimeError(f"creating a technician failed: {status} {body}")
        status, body = base.http(
            "POST", server.base_url + f"{API}/auth/login", {"email": email, "password": password}
        )
        if status != 200:
            raise RuntimeError(f"technician login failed: {status} {body}")
        tokens.append(body["tokens"]["access_token"])
    return tokens


def render(
    command: str, machine: dict[str, str], args: argparse.Namespace, results: dict[str, Any]
) -> str:
    p, q, c = results["push"], results["pull"], results["concurrency"]
    s = results["sealing"]
    lines = [
        START,
        f"_Generated by `bench/sync.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; rerun to "
        "refresh this section._",
        "",
        f"Command: `{command}`",
        "",
        "| Machine | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in machine.items()],
        "",
        (
            f"Server: `aqualab serve --workers {args.workers}` (gunicorn, sync workers), "
            if args.workers
            else f"Server: `aqualab serve --threads {args.threads}` (one waitress process), "
        )
        + "production settings, rate limits lifted.",
        "",
        "| Run | Records | Seconds | Records/s | Target | Notes |",
        "|---|---:|---:|---:|---:|---|",
        f"| push ({args.samples:,} samples + {3 * args.samples:,} results, batches of "
        f"{args.batch:,}) | {p['records']:,} | {p['seconds']:.1f} | {p['rate']:,.0f} | 5,000 | "
        f"batch p50 {p['batch_p50_ms']:.0f} ms, p95 {p['batch_p95_ms']:.0f} ms |",
        f"| pull (pull_limit 1,000) | {q['records']:,} of {q['expected']:,} | "
        f"{q['seconds']:.1f} | {q['rate']:,.0f} | 20,000 | {q['round_trips']} round trips, "
        f"{q['duplicates']} duplicates |",
        "",
        f"Audit entries left to chain when the push ended: {s['pending_after_push']:,}; the "
        f"sealer (its own process, nice +10) caught up {s['seconds']:.1f} s later. Then "
        f"`VACUUM ANALYZE` of the written tables ({s['vacuum_seconds']:.1f} s; autovacuum "
        "would otherwise run it during the pull), then the pull.",
        "",
        f"Server RSS (MiB, the server and its processes) sampled through the push: "
        f"{p['rss_mib']}; through the pull: {q['rss_mib']}.",
        "",
        f"**{c['devices']} devices for {c['seconds']:.0f} s** (each round trip: 5 new samples "
        "with 3 results, one edit of a shared record, pull ≤ 200): "
        f"{c['requests']:,} requests ({c['rps']:.1f}/s), `POST /sync` p50 "
        f"{c['p50_ms']:.0f} ms, **p95 {c['p95_ms']:.0f} ms** (target < 500), max "
        f"{c['max_ms']:.0f} ms; errors {c['errors']}; conflicts {c['conflicts']:,} "
        f"(expected: the shared records); {c['created']:,} records acknowledged, a fresh "
        f"device pulled {c['fresh_records']:,} ({c['fresh_duplicates']} duplicates, "
        f"{c['missing']} acknowledged records missing).",
        END,
    ]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    """`section` is rendered with its own markers (see `render`)."""
    inner = section.removeprefix(START + "\n").removesuffix("\n" + END).removesuffix(END)
    base.replace_doc_section(START, END, inner.rstrip("\n"), "Sync benchmark (issue 4)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--workers", type=int, default=0, help="gunicorn worker processes (0: one waitress)"
    )
    parser.add_argument("--quick", action="store_true", help="10,000 samples, 15 s")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.seconds = 10_000, 15
    extra = sys.argv[1:] if argv is None else argv
    command = ".venv/bin/python bench/sync.py" + "".join(f" {a}" for a in extra)
    workdir = Path(tempfile.mkdtemp(prefix="aqualab-sync-bench-"))
    workdir.chmod(0o755)
    pg = base.EmbeddedPostgres(workdir / "pg")
    admin_password = f"Bench-{secrets.token_urlsafe(12)}-7q"
    server = None
    with base.terminate_on_sigterm():
        try:
            pg.start()
            machine_facts = base.machine_info(base.ensure_wrk(), pg)
            machine_facts.pop("wrk", None)
            busy = base.machine_busy_fraction()
            machine_facts["CPU busy before start"] = f"{busy:.0%}"
            os.environ["WORKERS"] = str(args.workers)  # = aqualab serve --workers N
            server = base.start_server(
                workdir, pg, secrets.token_urlsafe(48), args.threads, admin_password
            )
            tokens = login_technicians(server, admin_password, 2, "Bulk sync lab")
            busy_lab = login_technicians(server, admin_password, 4, "Concurrent sync lab")
            print(f"sync bench: encoding {args.samples:,} samples x 4 records ...", flush=True)
            bodies = push_bodies("bench-push", args.samples, args.batch)
            print(f"sync bench: pushing {len(bodies)} batches ...", flush=True)
            pushed = push(server, tokens[0], bodies)
            print(f"  push: {pushed}", flush=True)
            del bodies
            sealing = wait_for_sealer(pg)
            print(f"  sealer caught up: {sealing}", flush=True)
            pulled = pull(server, tokens[1], "bench-pull", pushed["records"])
            print(f"  pull: { {k: v for k, v in pulled.items() if k != 'keys'} }", flush=True)
            rows = server_rows(pg)
            if pulled["records"] != rows or pulled["duplicates"]:
                raise RuntimeError(f"pull got {pulled['records']} of {rows} rows")
            print(f"sync bench: {args.devices} devices for {args.seconds:.0f} s ...", flush=True)
            conc = concurrency(server, busy_lab, args.seconds, args.devices)
            print(f"  concurrency: {conc}", flush=True)
            results = {
                "push": pushed,
                "sealing": sealing,
                "pull": pulled,
                "concurrency": conc,
            }
            section = render(command, machine_facts, args, results)
            print(section)
            if not args.no_doc:
                write_doc(section)
        finally:
            if server is not None:
                base.stop_server(server)
            pg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
