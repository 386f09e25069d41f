"""Load held (issue 7): 100 concurrent users of mixed traffic for 10 minutes (not in CI).

    .venv/bin/python bench/load_held.py [--minutes 10] [--think-ms 1000] [--quick] [--doc]

On a fresh embedded PostgreSQL seeded like bench/suite.py (100,000 samples, 500,000
results, 10,000 tasks, 50 users), with `aqualab serve --workers 2` and gthread workers
(`--worker-class`; a sync worker that accepts an idle user's connection waits on it through
the user's whole pause, see docs/reliability.md), 100 wrk connections
at once, each one user who pauses 0.5-1.5 s (uniform; `--think-ms`) after every answer
before the next request, as a person reading a screen does (`--think-ms 0`: flat out, a
stress run rather than users). They are split across the endpoints the way a lab's day
is (USERS): people reading samples and filtered lists, technicians entering results,
task lists and new tasks, and field devices syncing (each request a new device pushing
500 mutations and pulling 500 changes). Every seeded technician and viewer has a token,
so the requests come from all of them. The server's resident memory (master, workers,
audit sealer) is sampled every 5 s.

Held when: zero errors (non-2xx or socket errors), each endpoint's p95 within the target
issue 6 sets for it (alone, at 100 connections; here it shares them), and the RSS flat
within ±10 % of its value after the first minute.

Reuses bench/mixed.py (server on seeded data, parallel wrk runs, RSS verdict) and its
options. Writes the "Load held" section of docs/reliability.md (not with `--quick`:
2,000 samples, 1 minute, unless `--doc`).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import mixed  # noqa: E402  (seeded server, parallel wrk runs, RSS sampling and verdict)
import run as base  # noqa: E402  (results, doc sections)
import suite  # noqa: E402  (quiet machine)

DOC = base.ROOT / "docs" / "reliability.md"
START_MARK = "<!-- bench-load-held:start -->"
END_MARK = "<!-- bench-load-held:end -->"
# Endpoint key of bench/suite.py -> concurrent users (wrk connections); 100 in all.
USERS = {"get": 38, "list": 25, "result": 15, "tasks": 12, "task": 6, "sync": 4}
# A person reads what came back before the next click: each user pauses 0.5-1.5x this.
THINK_MS = 1000.0
# Issue 6's p95 targets, each for the endpoint alone: (ms, where it was set).
P95_TARGETS_MS = {
    "get": (50.0, "100 connections"),
    "list": (100.0, "100 connections, 100k samples"),
    "sync": (500.0, "20 concurrent devices"),
}
OTHER_TARGETS = {"result": "≥ 600 req/s alone (no p95 target)"}


def within_target(key: str, result: base.Result) -> bool | None:
    """None: issue 6 sets no p95 target for this endpoint."""
    target = P95_TARGETS_MS.get(key)
    return None if target is None else result.p95_ms <= target[0]


def verdict(streams: dict[str, base.Result], rss: dict[str, Any]) -> dict[str, bool]:
    return {
        "errors": sum(r.errors for r in streams.values()) == 0,
        "p95": all(within_target(k, r) is not False for k, r in streams.items()),
        "memory": bool(rss["flat"]),
    }


def _think_time(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--worker-class",
        choices=["gthread", "sync"],
        default="gthread",
        help="gunicorn worker class (gthread: a worker waits for no idle user; see the doc)",
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=THINK_MS,
        help=f"each user's pause between requests, ms ({THINK_MS:g}; 0: flat out)",
    )


def main(argv: list[str] | None = None) -> int:
    args = mixed.parse_args(argv, __doc__, more=_think_time)
    extra = sys.argv[1:] if argv is None else argv
    command = ".venv/bin/python bench/load_held.py" + "".join(f" {a}" for a in extra)
    seconds = int(args.minutes * 60)
    assert sum(USERS.values()) == 100
    print(
        f"load-held: {args.samples:,} samples, {sum(USERS.values())} users for "
        f"{args.minutes:g} min: about {(seconds + 60 + args.samples // 1000) // 60 + 1} min",
        flush=True,
    )
    started = time.monotonic()
    os.environ["WORKER_CLASS"] = args.worker_class  # read by the server `aqualab serve` starts
    with (
        base.terminate_on_sigterm(),
        mixed.mixed_bench(args, random.Random(7), "load-held", every_user=True) as bench,
    ):
        bench.run("get", 10, 3, "warm")
        if not args.quick:
            suite.wait_quiet(bench.server)
        print(f"load-held: {args.minutes:g} min of 100 users ...", flush=True)
        streams, timeline, rss = bench.mixed(USERS, seconds, args.think_ms)
        users = {pool: len(tokens) for pool, tokens in bench.tokens.items()}
    streams = {key: streams[key] for key in USERS}  # the table's order, not the finish order
    held = verdict(streams, rss)
    for key, r in streams.items():
        target = P95_TARGETS_MS.get(key)
        print(
            f"  {bench.endpoints[key].label:34} {USERS[key]:3} users {r.rps:8.1f} req/s  "
            f"p95 {r.p95_ms:7.1f} ms (target {target[0] if target else '-'})  "
            f"errors {r.errors} {r.statuses}"
        )
    print(
        f"  RSS after warm-up {rss['baseline']:.0f} MiB, range {rss['low']:.0f}-"
        f"{rss['high']:.0f}, last {rss['last']:.0f}; per minute "
        f"{[round(v) for v in mixed.per_minute(timeline)]}"
    )
    print(
        f"load-held: {'HELD' if all(held.values()) else 'NOT HELD'} "
        + ", ".join(f"{name} {'ok' if ok else 'MISSED'}" for name, ok in held.items()),
        flush=True,
    )
    if args.write_doc:
        section = render(
            command=command,
            bench=bench,
            streams=streams,
            timeline=timeline,
            rss=rss,
            users=users,
            held=held,
            args=args,
        )
        base.replace_doc_section(
            START_MARK, END_MARK, section, "Load held", doc=DOC, title="Reliability"
        )
        print(f"load-held: wrote {DOC.relative_to(base.ROOT)}")
    print(f"load-held: done in {time.monotonic() - started:.0f} s")
    return 0 if all(held.values()) else 1


def pause(think_ms: float) -> str:
    if not think_ms:
        return "sends the next request as soon as the last is answered (no think time)"
    return (
        f"waits {think_ms * 0.5:g}-{think_ms * 1.5:g} ms (uniform) after each answer before "
        "the next request"
    )


def render(
    *,
    command: str,
    bench: mixed.MixedBench,
    streams: dict[str, base.Result],
    timeline: list[tuple[float, float]],
    rss: dict[str, Any],
    users: dict[str, int],
    held: dict[str, bool],
    args: Any,
) -> str:
    fmt = base._fmt_ms
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine, seeded = bench.machine, bench.seeded
    requests = sum(r.requests for r in streams.values())
    errors = sum(r.errors for r in streams.values())
    minutes = mixed.per_minute(timeline)

    def target(key: str, r: base.Result) -> str:
        if key in P95_TARGETS_MS:
            ms, where = P95_TARGETS_MS[key]
            return f"≤ {ms:.0f} ms ({where}): {'met' if within_target(key, r) else '**missed**'}"
        return OTHER_TARGETS.get(key, "none set")

    quick = (
        [
            f"**Quick smoke run** ({args.samples:,} samples, {args.minutes:g} min): it checks "
            "the script, not the figures; the 10-minute run on a quiet machine replaces it.",
            "",
        ]
        if args.quick
        else []
    )
    lines = [
        f"_Generated by `bench/load_held.py` on {when}; rerun to refresh this section._",
        "",
        *quick,
        f"Command: `{command}`; machine: {machine.get('nproc', '')} x "
        f"{machine.get('cpu', '')}, commit {machine.get('commit', '')}. "
        f"Data: `{seeded['command']}` ({seeded['samples']:,} samples, "
        f"{seeded['results']:,} results). Server: `aqualab serve --workers 2` with "
        f"`WORKER_CLASS={args.worker_class}`, the app's "
        "argon2id defaults, rate limits lifted. Load: 100 wrk connections at once for "
        f"{args.minutes:g} min, each a user who {pause(args.think_ms)}, with the tokens of "
        f"{users['readers']} reading and {users['writers']} writing users.",
        "",
        "| Endpoint | Users | Requests | Req/s | p50 ms | p95 ms | p99 ms | Errors | "
        "Issue 6 p95 target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        *(
            f"| `{bench.endpoints[k].label}` | {USERS[k]} | {r.requests:,} | {r.rps:,.1f} | "
            f"{fmt(r.p50_ms)} | {fmt(r.p95_ms)} | {fmt(r.p99_ms)} | {r.errors} | "
            f"{target(k, r)} |"
            for k, r in streams.items()
        ),
        f"| **all** | {sum(USERS.values())} | {requests:,} | "
        f"{sum(r.rps for r in streams.values()):,.1f} | | | | {errors} | |",
        "",
        f"Server RSS (master + 2 workers + audit sealer), sampled every "
        f"{mixed.RSS_EVERY_S:.0f} s: {rss['baseline']:.0f} MiB after the warm-up, then between "
        f"{rss['low']:.0f} and {rss['high']:.0f} MiB, {rss['last']:.0f} MiB at the end — "
        f"{rss.get('deviation', 1.0):.1%} from the warm value against ±"
        f"{mixed.RSS_TOLERANCE:.0%}.",
        "",
        "| Minute | " + " | ".join(str(m) for m in range(len(minutes))) + " |",
        "|---|" + "---:|" * len(minutes),
        "| RSS MiB (max) | " + " | ".join(f"{v:.0f}" for v in minutes) + " |",
        "",
        f"Verdict: zero errors — **{'met' if held['errors'] else 'missed'}** ({errors} of "
        f"{requests:,}); p95 within issue 6's targets — **"
        f"{'met' if held['p95'] else 'missed'}**; memory flat — **"
        f"{'met' if held['memory'] else 'missed'}**. Load "
        f"**{'held' if all(held.values()) else 'not held'}**.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
