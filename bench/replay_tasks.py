"""What one `GET /tasks` costs, in-process: `.venv/bin/python bench/replay_tasks.py
--database-url URL [--lab NAME] [--requests 2000] [--profile tottime]`.

Creates a new admin of the lab (any user has a private list), gives them 200 tasks
through `POST /tasks` (about what each of the suite's 50 users holds), replays
`GET /tasks` through falcon.testing (the default list and a few filters and sorts, in
turn), and prints the mean wall time, the CPU of this process and the CPU of every
PostgreSQL process per request. `--profile` adds a cProfile of the replayed requests,
sorted by that key. Needs a migrated database with the lab (`aqualab seed-demo`).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_lists import in_process_app, postgres_cpu_seconds

TASKS = 200
PATHS = (
    "/api/v1/tasks",
    "/api/v1/tasks?status=pending",
    "/api/v1/tasks?completed=false&sort=due_date",
    "/api/v1/tasks?sort=-priority&page=2",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--lab", default="Bench Lab", help="the seeded lab's name")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", default="", help="a pstats sort key: tottime, cumulative")
    args = parser.parse_args()

    container, client = in_process_app(args.database_url)
    email, password = f"tasks-{os.getpid()}-{int(time.time())}@lab.example", "Replay-Pw-7q"
    container.create_admin()(
        email=email, password=password, lab_name=args.lab, meta_reason="replay"
    )
    login = client.simulate_post("/api/v1/auth/login", json={"email": email, "password": password})
    headers = {"Authorization": f"Bearer {login.json['tokens']['access_token']}"}
    rng = random.Random(3)
    for n in range(TASKS):
        made = client.simulate_post(
            "/api/v1/tasks",
            headers=headers,
            json={
                "title": f"Task {n}",
                "priority": rng.choice(("low", "medium", "high")),
                "status": rng.choice(("pending", "in_progress", "completed")),
                "due_date": f"2026-12-{rng.randint(1, 28):02d}T09:00:00Z",
            },
        )
        if made.status_code != 201:
            raise SystemExit(f"creating a task failed: {made.status_code} {made.text}")
    for n in range(200):  # warm up: statements compiled and prepared, caches filled
        client.simulate_get(PATHS[n % len(PATHS)], headers=headers)
    profiler = cProfile.Profile(time.thread_time) if args.profile else None
    wall0, cpu0, pg0 = time.perf_counter(), time.process_time(), postgres_cpu_seconds()
    for n in range(args.requests):
        path = PATHS[n % len(PATHS)]
        if profiler is not None:
            profiler.enable()
        answer = client.simulate_get(path, headers=headers)
        if profiler is not None:
            profiler.disable()
        if answer.status_code != 200 or not answer.json["data"]:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text}")
    wall1, cpu1, pg1 = time.perf_counter(), time.process_time(), postgres_cpu_seconds()
    n = args.requests
    print(
        f"GET /tasks x {n} ({len(PATHS)} shapes in turn): wall {(wall1 - wall0) / n * 1000:.2f}"
        f" ms, Python {(cpu1 - cpu0) / n * 1000:.2f} ms, PostgreSQL "
        f"{(pg1 - pg0) / n * 1000:.2f} ms per request"
    )
    if profiler is not None:
        pstats.Stats(profiler).sort_stats(args.profile).print_stats(30)
    container.shutdown_resources()


if __name__ == "__main__":
    main()
