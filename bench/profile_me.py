"""Where does the time of `GET /api/v1/auth/me` go? A py-spy profile under wrk load.

    .venv/bin/pip install py-spy      # a profiling tool, deliberately not a project dependency
    .venv/bin/python bench/profile_me.py [--connections 100] [--threads 8] [--duration 15]

Starts the same throwaway PostgreSQL + `aqualab serve` as bench/run.py, drives
`/auth/me` with wrk and samples the server with `py-spy record --gil` (only the
thread holding the GIL, i.e. Python CPU). Prints the functions with the largest
inclusive share of those samples and the CPU seconds each server thread used.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from run import (
    ADMIN_EMAIL,
    API,
    ensure_wrk,
    http,
    run_wrk,
    scenarios,
    start_server,
    stop_server,
)

from adapters.postgres_server import EmbeddedPostgres

_LINE = re.compile(r":\d+\)")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread of a process, keyed "tid name"."""
    ticks = os.sysconf("SC_CLK_TCK")
    result = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        result[f"{task.name} {name}"] = (int(fields[11]) + int(fields[12])) / ticks
    return result


def summarize(raw: Path, top: int) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
        total += samples
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    print(f"\n{total} GIL-holding samples; inclusive share (top {top}):")
    for frame, samples in inclusive.most_common(top):
        print(f"  {100 * samples / total:5.1f}%  {frame}")
    print("\nself share (top 15):")
    for frame, samples in own.most_common(15):
        print(f"  {100 * samples / total:5.1f}%  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (8)")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        sys.exit("profile: py-spy is missing; `.venv/bin/pip install py-spy`")
    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="aqualab-profile-"))
    workdir.chmod(0o755)  # the postgres user must reach its data directory inside
    pg = EmbeddedPostgres(workdir / "pg")
    password = f"Bench-{secrets.token_urlsafe(12)}-7q"
    server = None
    try:
        pg.start()
        server = start_server(workdir, pg, secrets.token_urlsafe(48), args.threads, password)
        status, body = http(
            "POST",
            server.base_url + f"{API}/auth/login",
            {"email": ADMIN_EMAIL, "password": password},
        )
        if status != 200:
            raise RuntimeError(f"admin login failed: {status} {body}")
        token = body["tokens"]["access_token"]
        me = scenarios(password)[1]
        run_wrk(wrk, server, me, connections=10, duration=2, timeout=30, token=token, run_id="w")
        raw = workdir / "profile.txt"
        spy = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(server.process.pid),
                "--gil",
                "--rate",
                "100",
                "--duration",
                str(max(1, args.duration - 1)),
                "--format",
                "raw",
                "--output",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        before = thread_cpu(server.process.pid)
        result = run_wrk(
            wrk,
            server,
            me,
            connections=args.connections,
            duration=args.duration,
            timeout=30,
            token=token,
            run_id="p",
        )
        after = thread_cpu(server.process.pid)
        spy.wait(timeout=60)
        print(
            f"GET /auth/me, {args.connections} connections, {args.threads} threads: "
            f"{result.rps:.0f} req/s, p50 {result.p50_ms:.0f} ms, p95 {result.p95_ms:.0f} ms "
            f"(sampling slows the server a little)"
        )
        print("server CPU seconds per thread during the run:")
        for key, seconds in sorted(after.items()):
            used = seconds - before.get(key, seconds)
            if used > 0:
                print(f"  {key:24} {used:6.2f}")
        summarize(raw, args.top)
    finally:
        if server is not None:
            stop_server(server)
        pg.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
