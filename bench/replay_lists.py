"""Where the suite's list requests spend their time, in-process, per request shape:
`.venv/bin/python bench/replay_lists.py --database-url URL [--lab NAME] [--rounds 2]`.

Draws the same 400 `GET /samples?<filter>&sort=` paths as bench/suite.py (its
`list_paths`, over values read from the lab), replays them through falcon.testing as a
technician of that lab (a new one per run), and prints the mean wall time, the CPU of
this process and the CPU of every PostgreSQL process per request, overall and for the
slowest shapes (filter + sort + page). Needs a database seeded by `aqualab seed-demo`.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import random
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import samples as samples_bench
import suite
from falcon.testing import TestClient

from entrypoints.config import load_settings
from entrypoints.container import Container, build_container
from entrypoints.http.app import create_app


def postgres_cpu_seconds() -> float:
    total = 0
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def in_process_app(database_url: str) -> tuple[Container, TestClient]:
    """The production app on `database_url`, called in-process (no server), with cheap
    password hashing and the API rate limit lifted (one client sends everything)."""
    settings = load_settings(
        database_url=database_url,
        aqualab_env="production",
        jwt_secret="replay-" * 6,
        password_hash_memory_kib=1024,
        password_hash_time_cost=1,
        rate_limit_api="1000000/minute",
    )
    container = build_container(settings, database_url)
    return container, TestClient(create_app(container))


def shape_of(path: str) -> str:
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(path).query))
    filters = "+".join(k for k in query if k not in ("sort", "page", "date_to"))
    return f"{filters} sort={query['sort']}" + (" page 2" if "page" in query else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--lab", default="Bench Lab", help="the seeded lab's name")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--show", type=int, default=12, help="slowest shapes to list")
    args = parser.parse_args()

    samples_bench.LAB_NAME = args.lab
    rng = random.Random(7)
    values = samples_bench.pick_values(argparse.Namespace(url=args.database_url), rng)  # type: ignore[arg-type]
    paths = suite.list_paths(values, rng)
    container, client = in_process_app(args.database_url)
    tag = f"{os.getpid()}-{int(time.time())}"
    admin, tech, password = f"replay-{tag}@lab.example", f"tech-{tag}@lab.example", "Replay-Pw-7q"
    container.create_admin()(
        email=admin, password=password, lab_name=args.lab, meta_reason="replay"
    )

    def token(email: str) -> str:
        answer = client.simulate_post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )
        return str(answer.json["tokens"]["access_token"])

    made = client.simulate_post(
        "/api/v1/users",
        headers={"Authorization": f"Bearer {token(admin)}"},
        json={"email": tech, "password": password, "name": "Replay", "role": "technician",
              "lab_id": str(values["lab_id"])},
    )  # fmt: skip
    if made.status_code != 201:
        raise SystemExit(f"creating the technician failed: {made.status_code} {made.text}")
    headers = {"Authorization": f"Bearer {token(tech)}"}
    for path in paths:  # warm up
        client.simulate_get(path, headers=headers)
    per_shape: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])
    wall0, cpu0, pg0 = time.perf_counter(), time.process_time(), postgres_cpu_seconds()
    for _ in range(args.rounds):
        for path in paths:
            wall, cpu = time.perf_counter(), time.process_time()
            answer = client.simulate_get(path, headers=headers)
            if answer.status_code != 200:
                raise SystemExit(f"{path}: {answer.status_code} {answer.text}")
            stats = per_shape[shape_of(path)]
            stats[0] += 1
            stats[1] += time.perf_counter() - wall
            stats[2] += time.process_time() - cpu
    wall1, cpu1, pg1 = time.perf_counter(), time.process_time(), postgres_cpu_seconds()
    n = sum(int(s[0]) for s in per_shape.values())
    print(
        f"all {n} requests: wall {(wall1 - wall0) / n * 1000:.2f} ms, Python "
        f"{(cpu1 - cpu0) / n * 1000:.2f} ms, PostgreSQL {(pg1 - pg0) / n * 1000:.2f} ms per request"
    )
    slowest = sorted(per_shape.items(), key=lambda kv: -kv[1][1] / kv[1][0])[: args.show]
    for shape, (count, wall, cpu) in slowest:
        print(
            f"{shape:45} n={int(count):4d} wall {wall / count * 1000:6.2f} ms, "
            f"Python {cpu / count * 1000:5.2f} ms"
        )
    container.shutdown_resources()


if __name__ == "__main__":
    main()
