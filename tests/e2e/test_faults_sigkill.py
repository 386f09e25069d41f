"""SIGKILL in the middle of sync batches and REST writes, then a restart on the same database.

Client threads create samples, results and tasks over REST (ids of their own) and two
sync devices push batches of samples with their results, while the server is killed
with SIGKILL at a random moment, several times (`AQUALAB_FAULT_KILL_ROUNDS`, default 3).
Between a kill and the restart, with the server gone and its sessions ended in
PostgreSQL, the database is held to account: every acknowledged write is there with its
content, every unanswered one is wholly there (record and audit entry) or wholly absent,
and each device's unanswered batch is all in or all out, as its `last_mutation_id` says.
After the restart the devices re-send what was not answered and go on numbering; in the
end every sync record exists exactly once, every sample's compliance agrees with its
results, the sealer of each killed server is gone and the audit chain verifies.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from tests.e2e.client import Api
from tests.e2e.faults_workload import (
    SAMPLE,
    Ledger,
    Workload,
    check_devices,
    check_sample_compliance,
    check_unanswered_batches,
    check_writes,
    wait_until,
)
from tests.e2e.test_serve_lifecycle import _alive, _sealers_of
from tests.live_server import live_server, run_cli

pytestmark = pytest.mark.e2e

ADMIN = ("kill-admin@e2e.example", "Kill-Adm1n-Passw0rd")
PASSWORD = "Techn1cianPass"
KILL_ROUNDS = int(os.environ.get("AQUALAB_FAULT_KILL_ROUNDS", "3"))


def test_sigkill_mid_writes_loses_nothing_acknowledged_and_half_writes_nothing(
    fresh_database: Callable[[], str], log_secrets: set[str]
) -> None:
    seed = int(os.environ.get("AQUALAB_FAULT_SEED", str(random.randrange(10**6))))
    rng = random.Random(seed)
    url = fresh_database()
    log_secrets.add(ADMIN[1])
    args = ["--admin-email", ADMIN[0], "--admin-password", ADMIN[1]]
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    ledger = Ledger(engine)
    with live_server(database_url=url, args=args, threads=8) as server:
        api = Api(server.base_url, log_secrets)
        admin = api.token(*ADMIN)
        lab = api.create_lab(admin)
        tech = api.create_user(admin, role="technician", lab_id=lab["id"], password=PASSWORD)
        token = api.token(tech["email"], PASSWORD)  # a JWT: it outlives the restarts

        workload = Workload(lambda: server.base_url, token, seed=seed)
        workload.start()
        unanswered_batches = {"applied": 0, "absent": 0}
        killed_pids = []
        try:
            for round_number in range(1, KILL_ROUNDS + 1):
                since = len(workload.attempts)
                _wait_for_traffic(workload, since, "traffic acknowledged before the kill")
                time.sleep(rng.uniform(0.0, 1.0))  # an arbitrary moment
                assert server.process is not None
                pid = server.process.pid
                sealers = _sealers_of(pid)
                assert len(sealers) == 1, sealers

                killed_at = time.monotonic()
                server.process.kill()
                server.process.wait()
                workload.pause()
                killed_pids.append(pid)
                in_flight = [
                    a
                    for a in workload.attempts[since:]
                    if a.status is None and a.started < killed_at
                ]
                assert in_flight, f"round {round_number}: the kill caught no request in flight"

                # A commit the dead server had already sent may still be running in its
                # backend: judge the database once PostgreSQL has ended every session.
                wait_until(lambda: ledger.app_backends() == 0, 30, "the killed sessions end")
                assert all(_wait_gone(s) for s in sealers), "the killed server's sealer stayed"
                account = check_writes(ledger, list(workload.writes))
                assert account.lost == 0
                applied, absent = check_unanswered_batches(ledger, workload.devices)
                unanswered_batches["applied"] += applied
                unanswered_batches["absent"] += absent

                server.stop()
                restart = time.monotonic()
                server.start()  # same database, same JWT secret, a new port
                print(f"round {round_number}: restarted in {time.monotonic() - restart:.1f}s")
                workload.resume(round_number)
            _wait_for_traffic(workload, len(workload.attempts), "traffic resumes")
        except BaseException:
            workload.abandon()
            raise
        workload.stop()

        # Every device's last batch was answered; their records exist exactly once.
        api = Api(server.base_url, log_secrets)  # the restarted server's address
        account = check_writes(ledger, workload.writes)
        sync_records = check_devices(ledger, workload.devices)
        for device in workload.devices:
            status = api.get("/sync/status", token=token, params={"device_id": device.device_id})
            assert status.status_code == 200, status.text
            assert status.json()["last_mutation_id"] == device.issued
        sample_ids = [w.id for w in workload.writes if w.kind == SAMPLE] + [
            m["id"] for d in workload.devices for b in d.batches for m in b.mutations
        ]
        check_sample_compliance(ledger, sample_ids)

        # The audit chain: the new sealer chains what the killed ones left, then verifies.
        wait_until(lambda: ledger.pending_audit_entries() == 0, 30, "the sealer drains")
        admin = api.token(*ADMIN)
        verified = api.get("/audit-logs/verify", token=admin)
        assert verified.status_code == 200, verified.text
        assert verified.json()["ok"] is True
        cli = run_cli("verify-audit", env=server.env)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert '"ok": true' in cli.stdout
        assert f'"checked": {ledger.audit_entries()}' in cli.stdout

        statuses = {a.status for a in workload.attempts}
        assert statuses <= {None, 200, 201, 503}, statuses  # None: cut by a kill
    engine.dispose()

    sync_batches = [b for d in workload.devices for b in d.batches]
    print(
        f"\nseed={seed} kill rounds={KILL_ROUNDS} (pids {killed_pids}); REST writes "
        f"attempted={account.attempted} acknowledged={account.acknowledged} "
        f"present={account.present} lost={account.lost} "
        f"unanswered: applied={account.unanswered_present} absent={account.unanswered_absent}; "
        f"sync batches={len(sync_batches)} "
        f"re-sent={sum(len(b.attempts) > 1 for b in sync_batches)} "
        f"unanswered at a kill: applied={unanswered_batches['applied']} "
        f"absent={unanswered_batches['absent']}; sync records exactly once={sync_records}"
    )
    assert account.lost == 0


def _wait_for_traffic(workload: Workload, since: int, what: str) -> None:
    wait_until(lambda: workload.acknowledged_since(since) >= 20, 60, what)


def _wait_gone(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
