"""Where `GET /samples` spends its time, in-process: `.venv/bin/python bench/profile_samples.py`.

Seeds N samples (default 10,000) into a throwaway embedded PostgreSQL with `aqualab
seed-demo`, drives the Falcon app through falcon.testing (no HTTP server, so the
figures are the application's own cost), prints ms/request for the list and for
get-by-id, and a pyinstrument profile of the list. Needs `pip install pyinstrument`
in the venv (not a project dependency).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from adapters.postgres_server import EmbeddedPostgres

LAB = "Profile Lab"
EMAIL = "profile@lab.example"
PASSWORD = "Passw0rdX"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; the best is shown")
    parser.add_argument(
        "--database-url",
        help="an already seeded database (lab named like --lab) instead of a throwaway one",
    )
    parser.add_argument("--lab", default=LAB, help="the seeded lab's name")
    parser.add_argument(
        "--list-query", default="", help="query string for the profiled list, e.g. 'type=river'"
    )
    parser.add_argument(
        "--profile", choices=["list", "get", "none"], default="list", help="what to profile"
    )
    args = parser.parse_args()

    from falcon.testing import TestClient
    from pyinstrument import Profiler

    from entrypoints.config import load_settings
    from entrypoints.container import build_container
    from entrypoints.http.app import create_app

    base = Path(tempfile.mkdtemp(prefix="aqualab-profile-"))
    pg = None if args.database_url else EmbeddedPostgres(base, ephemeral=True)
    url = args.database_url or pg.start()  # type: ignore[union-attr]
    try:
        var = base / "var"
        env = dict(os.environ, DATABASE_URL=url, AQUALAB_VAR_DIR=str(var))
        if pg is not None:
            subprocess.run(
                [".venv/bin/aqualab", "seed-demo", "--samples", str(args.samples), "--lab", LAB],
                env=env,
                check=True,
                capture_output=True,
            )
        settings = load_settings(
            database_url=url,
            aqualab_env="test",
            AQUALAB_VAR_DIR=str(var),
            password_hash_memory_kib=1024,
            password_hash_time_cost=1,
            rate_limit_api="1000000/minute",
            jwt_secret="profile-" * 5,
        )
        container = build_container(settings, url)
        client = TestClient(create_app(container))
        create_admin = container.create_admin()
        email = f"profile-{os.getpid()}@lab.example" if pg is None else EMAIL
        create_admin(email=email, password=PASSWORD, lab_name=args.lab, meta_reason="profile")
        credentials = {"email": email, "password": PASSWORD}
        login = client.simulate_post("/api/v1/auth/login", json=credentials)
        token = login.json["tokens"]["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        first = client.simulate_get("/api/v1/samples", headers=headers).json["data"][0]["id"]
        paths = {
            "list": "/api/v1/samples" + (f"?{args.list_query}" if args.list_query else ""),
            "get": f"/api/v1/samples/{first}",
            "me": "/api/v1/auth/me",
        }
        for path in paths.values():
            for _ in range(50):
                client.simulate_get(path, headers=headers)
            walls, cpus = [], []
            for _ in range(args.rounds):
                started, cpu = time.perf_counter(), time.process_time()
                for _ in range(args.requests):
                    client.simulate_get(path, headers=headers)
                walls.append((time.perf_counter() - started) / args.requests * 1000)
                cpus.append((time.process_time() - cpu) / args.requests * 1000)
            print(
                f"{path}: {min(walls):.2f} ms/request wall, {min(cpus):.2f} ms CPU of this "
                "process (in-process, PostgreSQL round trips included; best of "
                f"{args.rounds} x {args.requests})"
            )
        if args.profile != "none":
            profiler = Profiler(interval=0.0002)
            profiler.start()
            for _ in range(300):
                client.simulate_get(paths[args.profile], headers=headers)
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False))
        container.shutdown_resources()
    finally:
        if pg is not None:
            pg.destroy()


if __name__ == "__main__":
    main()
