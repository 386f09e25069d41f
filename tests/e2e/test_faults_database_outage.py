"""The database goes down in the middle of traffic, then comes back; the server is not restarted.

test_database_down.py stops the cluster while the server is idle. Here client threads
keep reading and writing (REST creates of samples, results and tasks, sync batches,
lists and reads) while the test's own PostgreSQL cluster is stopped and started under
them, and a probe polls `/health/ready` all along. Every request is answered — 2xx, or
503 `SERVICE_UNAVAILABLE` within a few seconds, never a 500, never a hang; readiness goes
red and then green by itself; no write is half-applied (a record exists exactly when its
audit entry does, a sync batch is all in or all out); what was acknowledged is there;
sync devices re-send the batches answered 503 and end with every record exactly once;
and the audit chain verifies.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass

import pytest
import requests
import sqlalchemy as sa

from adapters.postgres_server import EmbeddedPostgres
from tests.e2e.client import Api
from tests.e2e.faults_workload import (
    SAMPLE,
    Ledger,
    Workload,
    check_devices,
    check_sample_compliance,
    check_writes,
    wait_until,
)
from tests.live_server import LiveServer, live_server, run_cli

pytestmark = pytest.mark.e2e

ADMIN = ("outage-admin@e2e.example", "Outage-Adm1n-Passw0rd")
PASSWORD = "Techn1cianPass"
FAST = 5.0  # seconds: "fail fast", generous for a busy machine
OUTAGE_503S = 30  # answers seen failing before the database comes back
OUTAGE_SECONDS = 2.0  # at least


@dataclass(frozen=True)
class Probe:
    at: float
    status: int | None
    seconds: float


class ReadinessProbe:
    """Polls `/health/ready` every 100 ms from a thread of its own, like a load balancer."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.probes: list[Probe] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ReadinessProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            started = time.monotonic()
            try:
                status: int | None = requests.get(
                    self.server.url("/api/v1/health/ready"), timeout=30
                ).status_code
            except requests.RequestException:
                status = None
            self.probes.append(Probe(started, status, time.monotonic() - started))

    def transitions(self) -> list[int | None]:
        """The distinct statuses in order: [200, 503, 200] for an outage and recovery."""
        out: list[int | None] = []
        for probe in self.probes:
            if not out or out[-1] != probe.status:
                out.append(probe.status)
        return out


def test_database_outage_under_traffic_fails_fast_half_writes_nothing_and_recovers(
    own_cluster: EmbeddedPostgres, log_secrets: set[str]
) -> None:
    seed = int(os.environ.get("AQUALAB_FAULT_SEED", str(random.randrange(10**6))))
    log_secrets.add(ADMIN[1])
    args = ["--admin-email", ADMIN[0], "--admin-password", ADMIN[1]]
    engine = sa.create_engine(own_cluster.url, poolclass=sa.NullPool)
    ledger = Ledger(engine)
    with live_server(database_url=own_cluster.url, args=args, threads=8) as server:
        assert server.process is not None
        pid = server.process.pid
        api = Api(server.base_url, log_secrets)
        admin = api.token(*ADMIN)
        lab = api.create_lab(admin)
        tech = api.create_user(admin, role="technician", lab_id=lab["id"], password=PASSWORD)
        token = api.token(tech["email"], PASSWORD)

        workload = Workload(lambda: server.base_url, token, seed=seed, readers=2)
        with ReadinessProbe(server) as readiness:
            workload.start()
            try:
                wait_until(lambda: workload.acknowledged_since(0) >= 30, 60, "traffic flows")
                before_outage = len(workload.attempts)
                own_cluster.stop()
                down_at = time.monotonic()
                wait_until(
                    lambda: _unavailable_since(workload, before_outage) >= OUTAGE_503S,
                    60,
                    f"{OUTAGE_503S} answers 503 during the outage",
                )
                time.sleep(max(0.0, down_at + OUTAGE_SECONDS - time.monotonic()))
                workload.resume(1)  # later attempts belong to the recovery
                own_cluster.start()
                up_at = time.monotonic()
                wait_until(
                    lambda: bool(readiness.probes) and readiness.probes[-1].status == 200,
                    30,
                    "readiness green again",
                )
                recovered_at = time.monotonic()
                after = len(workload.attempts)
                wait_until(
                    lambda: workload.acknowledged_since(after) >= 30, 60, "traffic served again"
                )
            except BaseException:
                workload.abandon()
                raise
            workload.stop()  # devices re-send what was answered 503 before stopping

        attempts = workload.attempts
        statuses = {a.status for a in attempts}
        assert statuses <= {200, 201, 503}, statuses  # never a 500, never left unanswered
        unavailable = [a for a in attempts if a.status == 503]
        assert {a.error_code for a in unavailable} == {"SERVICE_UNAVAILABLE"}
        slowest_503 = max(a.seconds for a in unavailable)
        assert slowest_503 < FAST, f"a 503 took {slowest_503:.1f}s"
        assert readiness.transitions() == [200, 503, 200], readiness.transitions()
        red = [p for p in readiness.probes if p.status == 503]
        assert max(p.seconds for p in red) < FAST
        assert all(p.at >= down_at - 1 and p.at <= up_at + 1 for p in red)

        account = check_writes(ledger, workload.writes)
        assert account.lost == 0
        sync_records = check_devices(ledger, workload.devices)
        sample_ids = [w.id for w in workload.writes if w.kind == SAMPLE] + [
            m["id"] for d in workload.devices for b in d.batches for m in b.mutations
        ]
        check_sample_compliance(ledger, sample_ids)

        wait_until(lambda: ledger.pending_audit_entries() == 0, 30, "the sealer drains")
        verified = api.get("/audit-logs/verify", token=api.token(*ADMIN))
        assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text
        cli = run_cli("verify-audit", env=server.env)
        assert cli.returncode == 0 and '"ok": true' in cli.stdout, cli.stdout + cli.stderr

        assert server.process is not None and server.process.pid == pid  # never restarted
        assert server.is_running()
        assert not [
            r for r in server.request_logs() if r.get("status", 0) >= 500 and r["status"] != 503
        ]
    engine.dispose()

    writes_503 = [w for w in workload.writes if w.attempt.status == 503]
    print(
        f"\nseed={seed} outage {up_at - down_at:.1f}s, ready again {recovered_at - up_at:.1f}s "
        f"after the restart; requests={len(attempts)} 503s={len(unavailable)} "
        f"(slowest {slowest_503:.2f}s, readiness red {len(red)} probes, slowest "
        f"{max(p.seconds for p in red):.2f}s); REST writes attempted={account.attempted} "
        f"acknowledged={account.acknowledged} present={account.present} lost={account.lost} "
        f"answered 503={len(writes_503)} of which applied={account.unanswered_present}; "
        f"sync batches re-sent after 503="
        f"{sum(len(b.attempts) > 1 for d in workload.devices for b in d.batches)}, "
        f"sync records exactly once={sync_records}"
    )


def _unavailable_since(workload: Workload, index: int) -> int:
    return sum(a.status == 503 for a in workload.attempts[index:])
