"""Background audit sealing: chains committed entries every few seconds.

Any number of processes may run one; the advisory lock in the adapter lets one
seal at a time, so correctness never depends on this process.
"""

from __future__ import annotations

import logging
import threading

from domain.ports import AuditChain

log = logging.getLogger("aqualab.audit")


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
