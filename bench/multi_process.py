"""Does a second server process help? `GET /auth/me` against N `aqualab serve` processes.

    .venv/bin/python bench/multi_process.py [--processes 2] [--connections 100] [--duration 15]

Starts N servers (same throwaway PostgreSQL, same JWT secret) on their own
loopback ports and runs one wrk per server at the same time, connections split
evenly, then prints the combined requests/s and each server's latency. An
experiment for docs/performance.md, not a deployment recipe.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from run import (
    ADMIN_EMAIL,
    API,
    Result,
    Server,
    ensure_wrk,
    http,
    run_wrk,
    scenarios,
    start_server,
    stop_server,
)

from adapters.postgres_server import EmbeddedPostgres


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=100, help="in total (100)")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads each (8)")
    parser.add_argument("--duration", type=int, default=15)
    args = parser.parse_args()
    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="aqualab-multi-"))
    workdir.chmod(0o755)  # the postgres user must reach its data directory inside
    pg = EmbeddedPostgres(workdir / "pg")
    password = f"Bench-{secrets.token_urlsafe(12)}-7q"
    secret = secrets.token_urlsafe(48)
    servers: list[Server] = []
    try:
        pg.start()
        for n in range(args.processes):
            home = workdir / f"server{n}"
            home.mkdir()
            servers.append(start_server(home, pg, secret, args.threads, password))
        status, body = http(
            "POST",
            servers[0].base_url + f"{API}/auth/login",
            {"email": ADMIN_EMAIL, "password": password},
        )
        if status != 200:
            raise RuntimeError(f"admin login failed: {status} {body}")
        token = body["tokens"]["access_token"]
        me = scenarios(password)[1]
        for server in servers:  # warm-up
            run_wrk(wrk, server, me, connections=5, duration=2, timeout=30, token=token, run_id="w")
        per_server = max(1, args.connections // args.processes)
        results: list[Result | None] = [None] * len(servers)

        def drive(index: int) -> None:
            results[index] = run_wrk(
                wrk,
                servers[index],
                me,
                connections=per_server,
                duration=args.duration,
                timeout=30,
                token=token,
                run_id=str(index),
            )

        workers = [threading.Thread(target=drive, args=(i,)) for i in range(len(servers))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        done = [r for r in results if r is not None]
        total = sum(r.rps for r in done)
        print(
            f"GET /auth/me: {args.processes} processes x {args.threads} threads, "
            f"{per_server} connections each: {total:.0f} req/s in total"
        )
        for n, r in enumerate(done):
            print(
                f"  server {n}: {r.rps:.0f} req/s, p50 {r.p50_ms:.0f} ms, p95 {r.p95_ms:.0f} ms, "
                f"p99 {r.p99_ms:.0f} ms, errors {r.errors}"
            )
    finally:
        for server in servers:
            stop_server(server)
        pg.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
