"""Background audit sealing: chains committed entries every few seconds.

`aqualab serve` runs the sealer in a process of its own (`SealerProcess`, which runs
`aqualab seal --follow`), at a lower CPU priority than the serving processes: sealing a
busy server's entries is steady CPU work (about 50 ms of Python per 1,000 entries), and
as a thread of a serving process it took the GIL from the requests beside it (a
1,000-mutation sync batch p50 166 -> 199 ms over HTTP). Any number of sealers may run,
one per server, on one database; the advisory lock in the adapter lets one seal at a
time, so correctness never depends on any of them.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from types import FrameType

from domain.ports import AuditChain

log = logging.getLogger("aqualab.audit")

SEALER_NICENESS = 10  # below the serving processes: requests first, sealing with the rest


class AuditSealer:
    def __init__(self, chain: AuditChain, interval_seconds: float = 2.0):
        self._chain = chain
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._chain.seal_pending()
            except Exception as exc:  # the database may be down; try again next tick
                log.warning("audit sealing failed: %s", type(exc).__name__)


def follow(chain: AuditChain, interval_seconds: float, parent: int | None = None) -> None:
    """Seal until SIGTERM/SIGINT, or until `parent` (the server that started this process,
    named by it: it may have died while this one was still starting) is gone."""
    parent = parent or os.getppid()
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sealer = AuditSealer(chain, interval_seconds)
    sealer.start()
    try:
        while os.getppid() == parent and not stop.wait(1.0):
            pass  # until stopped, or re-parented: the server died without stopping us
    finally:
        sealer.stop()


class SealerProcess:
    """`aqualab seal --follow` as a child of the server, niced, stopped with it."""

    def __init__(self, database_url: str, env: Mapping[str, str] | None = None):
        self._env = {**(env if env is not None else os.environ), "DATABASE_URL": database_url}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                *("-m", "entrypoints.cli.main", "seal", "--follow"),
                *("--parent-pid", str(os.getpid())),
            ],
            env=self._env,
            stdin=subprocess.DEVNULL,
            preexec_fn=_lower_priority,  # noqa: PLW1509 - no threads run yet at start-up
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _lower_priority() -> None:
    os.nice(SEALER_NICENESS)
