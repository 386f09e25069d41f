"""`aqualab serve --workers N`: gunicorn with N worker processes, each with its own container.

The master process (the arbiter) migrates the database and creates the admin before
it starts, then never touches the database again: it only forks, watches and stops
workers. There is no preloading: each worker imports nothing of the master's storage
and builds its own container, engine and connection pool after the fork, so no database
connection or SQLAlchemy engine is ever shared across a fork.

Each worker serves `threads` requests at a time (one with the default `sync` worker),
and its connection pool is sized from that count, so a request never waits for a
connection. The audit sealer is not in the workers: `aqualab serve` runs it beside the
master, in a low-priority process of its own (entrypoints/sealer.py).

SIGTERM and SIGINT both stop gracefully: workers finish the requests they are serving
(up to `graceful_timeout`), then release their connections.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from entrypoints.config import Settings

log = logging.getLogger("aqualab.server")

GRACEFUL_TIMEOUT_SECONDS = 20
# gunicorn creates its heartbeat files there with mkstemp (unique, 0600).
HEARTBEAT_DIR = "/dev/shm"  # noqa: S108
_WORKER_CLASSES = {
    "sync": "entrypoints.http.gunicorn_app.GracefulSyncWorker",
    "gthread": "entrypoints.http.gunicorn_app.GracefulThreadWorker",
}


def worker_threads(settings: Settings) -> int:
    """Requests one worker serves at a time: 1 for sync workers, THREADS for gthread."""
    return settings.threads if settings.worker_class == "gthread" else 1


def worker_settings(settings: Settings) -> Settings:
    """The settings a worker builds its container from: its pool fits its own threads.

    Every serving thread may hold a connection, plus two for the health probes;
    an explicit DB_POOL_SIZE can raise that, never lower it below the thread count.
    """
    threads = worker_threads(settings)
    pool = max(settings.db_pool_size or 0, threads + 2)
    return settings.model_copy(update={"threads": threads, "db_pool_size": pool})


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """gunicorn's settings, from ours (pure: the unit tests check it)."""
    return {
        "bind": [bind_address(settings.host, settings.port)],
        "workers": settings.workers,
        "worker_class": _WORKER_CLASSES[settings.worker_class],
        "threads": worker_threads(settings),
        "preload_app": False,  # each worker builds its own engine after the fork
        "timeout": settings.worker_timeout,
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        "keepalive": 5,
        "backlog": 2048,
        "proc_name": "aqualab",
        "accesslog": None,  # the app writes one JSON line per request itself
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "logger_class": "entrypoints.http.gunicorn_app.JsonLogger",
        "limit_request_line": 8190,
        "forwarded_allow_ips": "127.0.0.1,::1",
        # Worker heartbeats on tmpfs: a container's /tmp is often an overlay on disk, where
        # a slow fsync can make gunicorn think a healthy worker hangs.
        "worker_tmp_dir": HEARTBEAT_DIR if os.path.isdir(HEARTBEAT_DIR) else None,
        "post_worker_init": _post_worker_init,
        "worker_exit": _worker_exit,
    }


class AquaLabGunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn configured from Settings, not from its command line or a config file."""

    def __init__(self, settings: Settings, database_url: str | None):
        self.settings = settings
        self.database_url = database_url
        self.container: Any = None
        super().__init__(prog="aqualab serve")

    def load_config(self) -> None:
        for key, value in gunicorn_options(self.settings).items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """In each worker, after the fork: a container and an app of its own."""
        from entrypoints.container import build_container
        from entrypoints.http.app import create_app, freeze_startup_heap
        from entrypoints.logs import configure_logging

        settings = worker_settings(self.settings)
        configure_logging(settings.log_level)
        _tag_log_records_with_pid()
        sys.setswitchinterval(settings.switch_interval_ms / 1000)
        self.container = build_container(settings, self.database_url)
        app = create_app(self.container)
        freeze_startup_heap()
        return app

    def close_worker(self) -> None:
        """Close this worker's connections (gunicorn's worker_exit)."""
        if self.container is not None:
            self.container.shutdown_resources()
            self.container = None

    def run(self) -> None:
        try:
            GracefulArbiter(self).run()
        except RuntimeError as exc:
            print(f"aqualab: gunicorn: {exc}", file=sys.stderr)
            raise SystemExit(1) from exc


class GracefulArbiter(Arbiter):  # type: ignore[misc]
    """SIGINT (Ctrl-C) stops gracefully, like SIGTERM, instead of killing requests."""

    def handle_int(self) -> None:
        raise StopIteration


class _GracefulSignals:
    def init_signals(self) -> None:
        super().init_signals()  # type: ignore[misc]
        # Finish the current request on SIGINT too (gunicorn's default quits at once).
        signal.signal(signal.SIGINT, self.handle_exit)  # type: ignore[attr-defined]


class GracefulSyncWorker(_GracefulSignals, SyncWorker):  # type: ignore[misc]
    pass


class GracefulThreadWorker(_GracefulSignals, ThreadWorker):  # type: ignore[misc]
    pass


class JsonLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's own messages go through the root handler: JSON lines like the app's."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.error_log.handlers = []
        self.error_log.propagate = True


class _PidFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.pid = os.getpid()
        return True


def _tag_log_records_with_pid() -> None:
    """Every JSON log line of a worker names its process (`"pid": 1234`)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(_PidFilter())


# --- gunicorn hooks ------------------------------------------------------------------------


def _post_worker_init(worker: Any) -> None:
    log.info("worker ready", extra={"worker_pid": worker.pid})


def _worker_exit(server: Any, worker: Any) -> None:
    app = getattr(worker, "app", None)
    if isinstance(app, AquaLabGunicorn):
        app.close_worker()
