"""Where a sync batch and a pull spend their time: `.venv/bin/python bench/profile_sync.py`.

Starts a throwaway embedded PostgreSQL, drives the Falcon app through falcon.testing (no
HTTP server: the figures are the application's own cost plus PostgreSQL), pushes N
batches of 1,000 mutations (250 samples, each followed by 3 results) and pulls them on a
second device with `pull_limit: 1,000`. Prints wall and CPU ms per batch and for the
pull; `--profile push|pull` adds a pyinstrument profile (`pip install pyinstrument` in
the venv; not a project dependency).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from adapters.postgres_server import EmbeddedPostgres

PASSWORD = "Passw0rdX"
READINGS = (("nitrate", 12.0, "mg/L"), ("ph", 7.2, "pH"), ("turbidity", 0.6, "NTU"))


def batch(first_id: int) -> tuple[bytes, int]:
    mutations: list[dict[str, Any]] = []
    mid = first_id
    for i in range(250):
        sid = str(uuid.uuid4())
        mutations.append(
            {"mutation_id": mid, "entity": "sample", "op": "upsert", "id": sid,
             "data": {"type": "drinking", "location": f"Site {i}",
                      "collection_date": "2025-01-10T08:00:00Z", "collector_name": "Y"}}
        )  # fmt: skip
        mid += 1
        for code, value, unit in READINGS:
            mutations.append(
                {"mutation_id": mid, "entity": "result", "op": "upsert",
                 "id": str(uuid.uuid4()),
                 "data": {"sample_id": sid, "parameter": code, "value": value, "unit": unit,
                          "test_date": "2025-01-11T09:00:00Z"}}
            )  # fmt: skip
            mid += 1
    body = {"device_id": "pusher", "pull_limit": 0, "mutations": mutations}
    return json.dumps(body).encode(), mid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--profile", choices=("push", "pull"))
    args = parser.parse_args()

    from falcon.testing import TestClient

    from entrypoints.cli.main import migrate
    from entrypoints.config import load_settings
    from entrypoints.container import build_container
    from entrypoints.http.app import create_app, freeze_startup_heap

    base = Path(tempfile.mkdtemp(prefix="aqualab-profile-sync-"))
    pg = EmbeddedPostgres(base, ephemeral=True)
    url = pg.start()
    try:
        migrate(url)
        settings = load_settings(
            database_url=url,
            aqualab_env="test",
            AQUALAB_VAR_DIR=str(base / "var"),
            jwt_secret="profile-" * 5,
            password_hash_memory_kib=1024,
            password_hash_time_cost=1,
            rate_limit_api="1000000/minute",
        )
        container = build_container(settings, url)
        client = TestClient(create_app(container))
        container.create_admin()(
            email="admin@lab.example", password=PASSWORD, lab_name="Lab", meta_reason="profile"
        )
        token = login(client, "admin@lab.example")
        lab = client.simulate_get("/api/v1/auth/me", headers=auth(token)).json["lab_id"]
        client.simulate_post(
            "/api/v1/users",
            headers=auth(token),
            json={"email": "tech@lab.example", "password": PASSWORD, "name": "T",
                  "role": "technician", "lab_id": lab},
        )  # fmt: skip
        headers = {**auth(login(client, "tech@lab.example")), "Content-Type": "application/json"}
        bodies, mid = [], 1
        for _ in range(args.batches):
            body, mid = batch(mid)
            bodies.append(body)
        freeze_startup_heap()  # as `aqualab serve` does once its app is built
        profiler = start_profiler(args.profile == "push")
        walls, cpus = [], []
        for body in bodies:
            wall, cpu = time.perf_counter(), time.process_time()
            answer = client.simulate_post("/api/v1/sync", body=body, headers=headers)
            assert answer.status_code == 200, answer.text[:300]
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
            print(f"push 1,000: {walls[-1]:.0f} ms wall, {cpus[-1]:.0f} ms CPU")
        print(
            f"push median: {statistics.median(walls):.0f} ms wall, "
            f"{statistics.median(cpus):.0f} ms CPU per 1,000 mutations"
        )
        stop_profiler(profiler)
        profiler = start_profiler(args.profile == "pull")
        cursor, pulled = None, 0
        wall, cpu = time.perf_counter(), time.process_time()
        while True:
            body = json.dumps({"device_id": "puller", "cursor": cursor, "pull_limit": 1000})
            answer = client.simulate_post("/api/v1/sync", body=body.encode(), headers=headers)
            page = json.loads(answer.text)
            pulled += len(page["changes"])
            cursor = page["cursor"]
            if not page["has_more"]:
                break
        print(f"pull {pulled:,}: {ms(wall, cpu)}")
        stop_profiler(profiler)
        container.shutdown_resources()
    finally:
        pg.stop()


def login(client: Any, email: str) -> str:
    answer = client.simulate_post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    return str(answer.json["tokens"]["access_token"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ms(wall: float, cpu: float) -> str:
    return (
        f"{(time.perf_counter() - wall) * 1000:.0f} ms wall, "
        f"{(time.process_time() - cpu) * 1000:.0f} ms CPU"
    )


def start_profiler(wanted: bool) -> Any:
    if not wanted:
        return None
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    return profiler


def stop_profiler(profiler: Any) -> None:
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False))


if __name__ == "__main__":
    main()
