"""`aqualab serve` as a process: pid file, clean shutdown on SIGTERM, port released, and
the audit sealer process beside it."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from entrypoints.sealer import SEALER_NICENESS
from tests.live_server import live_server, run_cli, server_env

pytestmark = pytest.mark.e2e


def test_sigterm_stops_the_server_cleanly() -> None:
    with live_server(args=["--storage", "memory"]) as server:
        pid_file = server.var_dir / "aqualab.pid"
        assert server.process is not None
        assert pid_file.read_text().strip() == str(server.process.pid)
        health = requests.get(server.url("/api/v1/health"), timeout=5).json()
        assert health["checks"]["database"] == "memory"

        assert server.stop() == 0  # SIGTERM: finished its shutdown, no SIGKILL needed
        assert not pid_file.exists()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), 1):
            pass
        assert "Traceback" not in server.stderr()


def _sealers_of(pid: int) -> list[int]:
    """Child processes of `pid` running `aqualab seal --follow`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"seal" in command:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running, not exited (an exited child stays a zombie until its new parent reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _pending(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text("SELECT count(*) FROM audit_pending")) or 0)
    finally:
        engine.dispose()


def _eventually(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_the_audit_sealer_runs_beside_the_server_at_a_lower_priority(
    fresh_database: Callable[[], str],
) -> None:
    url = fresh_database()
    email, password = "sealer-admin@e2e.example", "Adm1nistrator-Sealer"
    args = ["--admin-email", email, "--admin-password", password]
    with live_server(database_url=url, args=args) as server:
        assert server.process is not None
        sealers = _sealers_of(server.process.pid)
        assert len(sealers) == 1, sealers
        assert _niceness(sealers[0]) == _niceness(server.process.pid) + SEALER_NICENESS
        # The admin's creation wrote audit entries: the sealer chains them by itself.
        assert _eventually(lambda: _pending(url) == 0)
        token = requests.post(
            server.api + "/auth/login", json={"email": email, "password": password}, timeout=10
        ).json()["tokens"]["access_token"]
        created = requests.post(
            server.api + "/labs",
            json={"name": "Sealed Lab"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        assert _eventually(lambda: _pending(url) == 0)
        assert server.stop() == 0
        assert _eventually(lambda: not _alive(sealers[0]))


def test_the_sealer_leaves_when_its_server_is_killed(fresh_database: Callable[[], str]) -> None:
    with live_server(database_url=fresh_database()) as server:
        assert server.process is not None
        sealers = _sealers_of(server.process.pid)
        assert len(sealers) == 1, sealers
        server.process.kill()
        server.process.wait()
        assert _eventually(lambda: not _alive(sealers[0]), seconds=15)


def test_a_sealer_whose_server_is_already_gone_leaves_at_once(
    fresh_database: Callable[[], str], tmp_path: Path
) -> None:
    """The server names itself to its sealer: one that dies while its sealer is still
    starting up (importing, connecting) is noticed as soon as the sealer gets going."""
    env = server_env(database_url=fresh_database(), var_dir=tmp_path / "var")
    started = time.monotonic()
    done = run_cli("seal", "--follow", "--parent-pid", "999999999", env=env, timeout=30)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 20
