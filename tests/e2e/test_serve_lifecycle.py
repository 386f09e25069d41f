"""`aqualab serve` as a process: pid file, clean shutdown on SIGTERM, port released."""

from __future__ import annotations

import socket

import pytest
import requests

from tests.live_server import live_server

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
