"""Mixed runs of issue 6 (part of `make bench`): logins beside reads, and memory over time.

    .venv/bin/python bench/mixed.py [--minutes 10] [--quick] [--no-doc]

On a fresh embedded PostgreSQL seeded like bench/suite.py (100,000 samples, 500,000
results, 10,000 tasks, 50 users), with `aqualab serve --workers 2`:

1. **Logins beside reads.** `GET /samples/{id}` at 10 connections alone, then the same
   run while `POST /auth/login` runs flat out at 4 more connections (argon2id at the
   app's defaults). Password hashing must not hold the GIL hostage: the reads keep their
   p95 (target: issue 3's 20 ms at 10 connections).
2. **Memory over a long mixed run.** For `--minutes` (10), every endpoint of the suite at
   once, each with its own wrk — reads of samples (8 connections), filtered lists (4),
   new results (3), task lists (2), new tasks (2) and a sync push+pull of 500 (1) — while
   the resident memory of the server's processes (master, workers, audit sealer) is
   sampled every 5 s. Target: flat within ±10 % of its value after the first minute
   (the warm-up: caches filled, pools opened).

Writes the "Mixed runs" section of docs/performance.md (not with `--quick`: 2,000
samples, 20 s logins, 1 minute of mixed traffic, unless `--doc`).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import run as base  # noqa: E402  (server start/stop, wrk, http, doc sections)
import samples as samples_bench  # noqa: E402  (seeded values, worker pids)
import suite  # noqa: E402  (seeding, endpoints, tokens, one wrk run)

from adapters.postgres_server import EmbeddedPostgres  # noqa: E402

START_MARK = "<!-- bench-mixed:start -->"
END_MARK = "<!-- bench-mixed:end -->"
LOGIN_CONNECTIONS = 4
PACED_LOGINS_PER_S = 10.0  # a busy morning: 50 users signing in within 5 s
READ_P95_TARGET_MS = 20.0  # issue 3's GET /samples/{id} target at 10 connections
RSS_TOLERANCE = 0.10
RSS_EVERY_S = 5.0
# Endpoint key of bench/suite.py -> connections of its wrk in the long mixed run.
MIX = {"get": 8, "list": 4, "result": 3, "tasks": 2, "task": 2, "sync": 1}


def in_parallel(jobs: dict[str, Any]) -> dict[str, Any]:
    """Run each zero-argument job on its own thread; their results by name."""
    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def work(name: str, job: Any) -> None:
        try:
            results[name] = job()
        except BaseException as exc:  # re-raised below, after every join
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n, j)) for n, j in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def paced_logins(
    server: base.Server, bodies: list[str], rate: float, seconds: float
) -> dict[str, Any]:
    """Logins at a steady `rate` per second from one thread (each waits for the last):
    what the server's users do, unlike wrk's flat-out run."""
    import json

    latencies: list[float] = []
    errors = 0
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < seconds:
        due = started + n / rate
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        t = time.perf_counter()
        status, _ = base.http(
            "POST", server.base_url + f"{suite.API}/auth/login", json.loads(bodies[n % len(bodies)])
        )
        latencies.append((time.perf_counter() - t) * 1000)
        errors += status != 200
        n += 1
    latencies.sort()
    elapsed = time.monotonic() - started
    return {
        "done": n,
        "rate": n / elapsed,
        "p50_ms": latencies[len(latencies) // 2],
        "p95_ms": latencies[int(len(latencies) * 0.95)],
        "errors": errors,
    }


def rss_verdict(samples: list[tuple[float, float]], warmup_s: float) -> dict[str, Any]:
    after = [(t, mib) for t, mib in samples if t >= warmup_s]
    if not after:
        return {"baseline": 0.0, "low": 0.0, "high": 0.0, "last": 0.0, "flat": False}
    baseline = after[0][1]
    low, high = min(m for _, m in after), max(m for _, m in after)
    deviation = max(abs(low - baseline), abs(high - baseline)) / baseline if baseline else 1.0
    return {
        "baseline": baseline,
        "low": low,
        "high": high,
        "last": after[-1][1],
        "deviation": deviation,
        "flat": deviation <= RSS_TOLERANCE,
    }


@dataclass
class MixedBench:
    """AquaLab (`serve --workers 2`) on freshly seeded data, ready for wrk runs."""

    wrk: str
    server: base.Server
    home: Path
    machine: dict[str, str]
    seeded: dict[str, Any]
    endpoints: dict[str, suite.Endpoint]
    tokens: dict[str, list[str]]
    timeout: int

    def run(
        self, key: str, connections: int, duration: int, tag: str, think_ms: float = 0
    ) -> base.Result:
        result, _ = suite.run_wrk(
            self.wrk,
            self.server,
            self.endpoints[key],
            connections=connections,
            duration=duration,
            timeout=self.timeout,
            tokens=self.tokens,
            workdir=self.home,
            tag=f"{tag}-{secrets.token_hex(3)}",
            extra_env={"BENCH_THINK_MS": str(think_ms)} if think_ms else None,
        )
        return result

    def mixed(
        self, mix: dict[str, int], seconds: int, think_ms: float = 0
    ) -> tuple[dict[str, base.Result], list[tuple[float, float]], dict[str, Any]]:
        """Every endpoint of `mix` at once (its own wrk at its connections) for `seconds`,
        with the server's RSS sampled: (results by endpoint, RSS timeline, RSS verdict).
        `think_ms`: each connection pauses about that long between requests (0: flat out)."""
        with suite.RssSampler(self.server, interval=RSS_EVERY_S) as sampler:
            streams = in_parallel(
                {
                    key: (lambda k=key, c=c: self.run(k, c, seconds, f"mixed-{k}", think_ms))
                    for key, c in mix.items()
                }
            )
        rss = rss_verdict(sampler.timeline, warmup_s=min(60.0, seconds / 4))
        return streams, sampler.timeline, rss


@contextlib.contextmanager
def mixed_bench(
    args: argparse.Namespace, rng: random.Random, name: str, *, every_user: bool = False
) -> Iterator[MixedBench]:
    """A fresh embedded PostgreSQL seeded like bench/suite.py and the server on it, with
    tokens of 11 reading and 8 writing users (`every_user`: of all seeded technicians and
    viewers); everything removed after."""
    wrk = base.ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix=f"aqualab-{name}-"))
    workdir.chmod(0o755)  # the postgres user must reach its data directory inside
    pg = EmbeddedPostgres(workdir / "pg")
    server: base.Server | None = None
    try:
        pg.start()
        machine = base.machine_info(wrk, pg)
        print(f"{name}: seeding (aqualab seed-demo) ...", flush=True)
        seeded = suite.seed(pg, workdir, args)
        values = samples_bench.pick_values(pg, rng)
        users = suite.seeded_users(pg)
        endpoints = {
            e.key: e for e in suite.build_endpoints(values, users, args.user_password, rng)
        }
        technicians, viewers = users.get("technician", []), users.get("viewer", [])
        if every_user:
            reading, writing = technicians + viewers, technicians
        else:
            reading, writing = (technicians[:8] + viewers[:3])[:12], technicians[:8]
        home = workdir / "workers2"
        home.mkdir()
        with samples_bench.serve_with_workers(2):
            server = base.start_server(
                home,
                pg,
                secrets.token_urlsafe(48),
                suite.APP_THREADS,
                f"Bench-{secrets.token_urlsafe(12)}-7q",
                extra_env=suite.APP_ARGON2,
            )
        tokens = {
            "readers": suite.login_tokens(server, reading, args.user_password),
            "writers": suite.login_tokens(server, writing, args.user_password),
        }
        suite.preflight(server, list(endpoints.values()), tokens)
        yield MixedBench(wrk, server, home, machine, seeded, endpoints, tokens, args.timeout)
    finally:
        if server is not None:
            base.stop_server(server)
        pg.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


def parse_args(
    argv: list[str] | None,
    description: str | None = __doc__,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=description.splitlines()[0] if description else None
    )
    if more is not None:
        more(parser)
    parser.add_argument("--minutes", type=float, default=10, help="long mixed run (10)")
    parser.add_argument("--login-seconds", type=int, default=30, help="each login run (30)")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--results-per-sample", type=int, default=5)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--timeout", type=int, default=30, help="wrk request timeout, s (30)")
    parser.add_argument("--quick", action="store_true", help="smoke check: tiny data, short")
    parser.add_argument("--no-doc", action="store_true", help="leave docs/performance.md alone")
    parser.add_argument("--doc", action="store_true", help="with --quick: write the doc anyway")
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes, args.login_seconds = 1, 10
        args.samples, args.users, args.tasks = 2_000, 12, 200
    args.write_doc = not args.no_doc and (not args.quick or args.doc)
    args.user_password = f"Bench-{secrets.token_urlsafe(12)}-7q"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    extra = sys.argv[1:] if argv is None else argv
    command = ".venv/bin/python bench/mixed.py" + "".join(f" {a}" for a in extra)
    seconds = int(args.minutes * 60)
    print(
        f"bench-mixed: {args.samples:,} samples; logins beside reads 2 x {args.login_seconds} s, "
        f"then {args.minutes:g} min of mixed traffic: about "
        f"{(seconds + 2 * args.login_seconds + 60 + args.samples // 1000) // 60 + 1} min",
        flush=True,
    )
    started = time.monotonic()
    rng = random.Random(7)
    with base.terminate_on_sigterm(), mixed_bench(args, rng, "bench-mixed") as bench:
        server, endpoints, wrk_run = bench.server, bench.endpoints, bench.run
        wrk_run("get", 10, 3, "warm")
        suite.wait_quiet(server)
        print("bench-mixed: GET /samples/{id} alone ...", flush=True)
        alone = wrk_run("get", 10, args.login_seconds, "alone")
        suite.wait_quiet(server)
        print("bench-mixed: GET /samples/{id} while logins run ...", flush=True)
        both = in_parallel(
            {
                "get": lambda: wrk_run("get", 10, args.login_seconds, "with-logins"),
                "login": lambda: wrk_run("login", LOGIN_CONNECTIONS, args.login_seconds, "logins"),
            }
        )
        suite.wait_quiet(server)
        print(
            f"bench-mixed: GET /samples/{{id}} beside {PACED_LOGINS_PER_S:g} logins/s ...",
            flush=True,
        )
        paced = in_parallel(
            {
                "get": lambda: wrk_run("get", 10, args.login_seconds, "paced-logins"),
                "login": lambda: paced_logins(
                    server, endpoints["login"].bodies, PACED_LOGINS_PER_S, args.login_seconds
                ),
            }
        )
        logins = {
            "alone": alone,
            "with": both["get"],
            "login": both["login"],
            "paced": paced["get"],
            "paced_login": paced["login"],
        }
        for name in ("alone", "with", "login", "paced"):
            r = logins[name]
            print(f"  {name:6} {r.rps:8.1f} req/s  p95 {r.p95_ms:7.1f} ms  errors {r.errors}")
        print(f"  paced logins: {logins['paced_login']}")
        suite.wait_quiet(server)

        print(f"bench-mixed: {args.minutes:g} min of mixed traffic ...", flush=True)
        streams, timeline, rss = bench.mixed(MIX, seconds)
        for key, r in streams.items():
            print(
                f"  {endpoints[key].label:34} {r.rps:8.1f} req/s  p95 {r.p95_ms:7.1f} ms  "
                f"errors {r.errors}"
            )
        print(
            f"  RSS after warm-up {rss['baseline']:.0f} MiB, range {rss['low']:.0f}-"
            f"{rss['high']:.0f}, last {rss['last']:.0f} "
            f"({'flat' if rss['flat'] else 'NOT flat'} within ±{RSS_TOLERANCE:.0%})",
            flush=True,
        )
        machine, seeded = bench.machine, bench.seeded

    if args.write_doc:
        section = render(
            command=command,
            machine=machine,
            seeded=seeded,
            logins=logins,
            streams=streams,
            endpoints=endpoints,
            timeline=timeline,
            rss=rss,
            args=args,
        )
        base.replace_doc_section(START_MARK, END_MARK, section, "Mixed runs (issue 6)")
        print(f"bench-mixed: wrote {base.DOC.relative_to(base.ROOT)}")
    print(f"bench-mixed: done in {time.monotonic() - started:.0f} s")
    return 0


def render(
    *,
    command: str,
    machine: dict[str, str],
    seeded: dict[str, Any],
    logins: dict[str, base.Result],
    streams: dict[str, base.Result],
    endpoints: dict[str, Any],
    timeline: list[tuple[float, float]],
    rss: dict[str, Any],
    args: argparse.Namespace,
) -> str:
    fmt = base._fmt_ms
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    alone, with_logins, login = logins["alone"], logins["with"], logins["login"]
    paced, paced_login = logins["paced"], logins["paced_login"]
    kept = paced.p95_ms <= READ_P95_TARGET_MS and paced.errors == 0
    lines = [
        f"_Generated by `bench/mixed.py` on {when}; rerun to refresh this section._",
        "",
        f"Command: `{command}`; machine: {machine.get('nproc', '')} x "
        f"{machine.get('cpu', '')}, commit {machine.get('commit', '')}. "
        f"Data: `{seeded['command']}` ({seeded['samples']:,} samples, "
        f"{seeded['results']:,} results). Server: `aqualab serve --workers 2`, the app's "
        "argon2id defaults, rate limits lifted.",
        "",
        f"**Logins beside reads** ({args.login_seconds} s each; `GET /samples/{{id}}` at 10 "
        f"connections, logins at {LOGIN_CONNECTIONS} more):",
        "",
        "| Run | GET req/s | GET p50 ms | GET p95 ms | GET p99 ms | Errors | Logins/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| reads alone | {alone.rps:,.0f} | {fmt(alone.p50_ms)} | {fmt(alone.p95_ms)} | "
        f"{fmt(alone.p99_ms)} | {alone.errors} | — |",
        f"| reads beside {PACED_LOGINS_PER_S:g} logins/s (one client, steady) | "
        f"{paced.rps:,.0f} | {fmt(paced.p50_ms)} | {fmt(paced.p95_ms)} | "
        f"{fmt(paced.p99_ms)} | {paced.errors} | {paced_login['rate']:.1f} (p95 "
        f"{fmt(paced_login['p95_ms'])} ms, {paced_login['errors']} errors) |",
        f"| reads beside logins flat out ({LOGIN_CONNECTIONS} wrk connections) | "
        f"{with_logins.rps:,.0f} | {fmt(with_logins.p50_ms)} | "
        f"{fmt(with_logins.p95_ms)} | {fmt(with_logins.p99_ms)} | {with_logins.errors} | "
        f"{login.rps:,.1f} ({login.errors} errors) |",
        "",
        f"Target: the reads keep issue 3's p95 ≤ {READ_P95_TARGET_MS:.0f} ms while "
        f"{PACED_LOGINS_PER_S:g} logins/s run — **{'met' if kept else 'missed'}** (p95 "
        f"{fmt(alone.p95_ms)} → {fmt(paced.p95_ms)} ms). Flat-out logins are a brute-force "
        "attack (rate limits and lockout stop it in production; lifted here): hashing then "
        "takes most of both CPUs, and a sync worker busy hashing serves nothing else.",
        "",
        f"**Memory over {args.minutes:g} minutes of mixed traffic** (each endpoint its own "
        "wrk, all at once):",
        "",
        "| Endpoint | Conns | Req/s | p95 ms | p99 ms | Errors |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| `{endpoints[k].label}` | {MIX[k]} | {r.rps:,.1f} | {fmt(r.p95_ms)} | "
            f"{fmt(r.p99_ms)} | {r.errors} |"
            for k, r in streams.items()
        ),
        "",
        f"Server RSS (master + 2 workers + audit sealer), sampled every {RSS_EVERY_S:.0f} s: "
        f"{rss['baseline']:.0f} MiB after the warm-up minute, then between {rss['low']:.0f} "
        f"and {rss['high']:.0f} MiB, {rss['last']:.0f} MiB at the end — "
        f"{rss.get('deviation', 1.0):.1%} from the warm value: **"
        f"{'flat (met)' if rss['flat'] else 'not flat (missed)'}** against ±"
        f"{RSS_TOLERANCE:.0%}.",
        "",
        "| Minute | " + " | ".join(str(m) for m in range(len(per_minute(timeline)))) + " |",
        "|---|" + "---:|" * len(per_minute(timeline)),
        "| RSS MiB (max) | " + " | ".join(f"{v:.0f}" for v in per_minute(timeline)) + " |",
    ]
    return "\n".join(lines)


def per_minute(timeline: list[tuple[float, float]]) -> list[float]:
    minutes: dict[int, float] = {}
    for t, mib in timeline:
        minute = int(t // 60)
        minutes[minute] = max(minutes.get(minute, 0.0), mib)
    return [minutes[m] for m in sorted(minutes)]


if __name__ == "__main__":
    raise SystemExit(main())
