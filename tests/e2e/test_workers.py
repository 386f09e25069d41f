"""`aqualab serve --workers 2`: gunicorn worker processes share nothing but PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.live_server import LiveServer, live_server

EMAIL = "workers-admin@e2e.example"
PASSWORD = "Adm1nistrator-Workers"


def _children(pid: int) -> set[int]:
    """The server's worker processes (not the audit sealer beside them)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"seal" not in command:
                found.add(int(entry.name))
    return found


def _pids_serving(server: LiveServer, path: str, status: int) -> set[int]:
    return {
        r["pid"]
        for r in server.request_logs()
        if r.get("path") == path and r.get("status") == status and "pid" in r
    }


def _many(get: Callable[[], int], count: int) -> list[int]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: get(), range(count)))


def test_two_workers_serve_and_share_revocation(fresh_database: Callable[[], str]) -> None:
    args = ["--workers", "2", "--admin-email", EMAIL, "--admin-password", PASSWORD]
    with live_server(database_url=fresh_database(), args=args) as server:
        assert server.process is not None
        workers = _children(server.process.pid)
        assert len(workers) == 2, server.stderr()[-2000:]

        live = server.api + "/health/live"
        statuses = _many(lambda: requests.get(live, timeout=10).status_code, 200)
        assert statuses == [200] * 200
        served_by = server.wait_for_log(lambda r: r.get("path") == "/api/v1/health/live")
        assert served_by
        assert _pids_serving(server, "/api/v1/health/live", 200) == workers

        login = requests.post(
            server.api + "/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=10
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['tokens']['access_token']}"}
        me = server.api + "/auth/me"
        assert requests.get(me, headers=headers, timeout=10).status_code == 200
        logout = requests.post(server.api + "/auth/logout", headers=headers, timeout=10)
        assert logout.status_code == 204, logout.text

        # The very next request, whichever worker takes it, sees the logout (it is in
        # PostgreSQL, not in a process's memory); so do the 40 after it, on both workers.
        assert requests.get(me, headers=headers, timeout=10).status_code == 401
        after = _many(lambda: requests.get(me, headers=headers, timeout=10).status_code, 40)
        assert after == [401] * 40
        assert _pids_serving(server, "/api/v1/auth/me", 401) == workers

        assert server.stop() == 0  # SIGTERM: a graceful stop of the master and its workers
        assert all(not Path(f"/proc/{pid}").exists() for pid in workers)
