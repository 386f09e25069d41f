"""The "limit of our stack" for `make bench` (issue 6): what Falcon + psycopg can do bare.

    .venv/bin/python bench/limit_app.py --database-url URL --port P [--workers 2 | --threads 8]

One route, `GET /samples/{id}`: one SELECT of the sample row by primary key through a
small pool of psycopg connections, answered as JSON (orjson) — no auth, no validation, no
ORM, no middleware, no results embedded. `GET /health` answers without the database.
Served like AquaLab is: by one waitress process with AquaLab's thread count and
switch interval (`--threads`), or by gunicorn with `--workers N` sync workers (one request
at a time each, a connection each). The suite (bench/suite.py) runs it against the same
PostgreSQL and data in the same run, so AquaLab's read endpoints can be stated as a
fraction of it.

psycopg_pool is not a dependency, so the pool is a queue of connections opened lazily in
the serving process (after gunicorn's fork; no connection crosses a fork).
"""

from __future__ import annotations

import argparse
import queue
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

import falcon
import orjson
import psycopg

SAMPLE_SQL = (
    "SELECT id, lab_id, type, location, latitude, longitude, collection_date, "
    "collector_name, status, compliance_status, notes, version, created_at, updated_at "
    "FROM samples WHERE id = %s AND deleted_at IS NULL"
)
COLUMNS = SAMPLE_SQL.split("SELECT ", 1)[1].split(" FROM", 1)[0].split(", ")


class ConnectionQueue:
    """At most `size` autocommit connections, opened on first need, handed out in turn."""

    def __init__(self, url: str, size: int):
        self._url = url
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        self._slots.acquire()
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = psycopg.connect(self._url, autocommit=True)
            try:
                yield conn
            except psycopg.Error:
                conn.close()
                raise
            if not conn.closed:
                self._idle.put(conn)
        finally:
            self._slots.release()


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError


class SampleResource:
    def __init__(self, pool: ConnectionQueue):
        self._pool = pool

    def on_get(self, req: falcon.Request, resp: falcon.Response, sample_id: str) -> None:
        try:
            key = uuid.UUID(sample_id)
        except ValueError:
            raise falcon.HTTPNotFound() from None
        with self._pool.connection() as conn:
            row = conn.execute(SAMPLE_SQL, (key,)).fetchone()
        if row is None:
            raise falcon.HTTPNotFound()
        resp.data = orjson.dumps(dict(zip(COLUMNS, row, strict=True)), default=_default)
        resp.content_type = falcon.MEDIA_JSON


class HealthResource:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = b'{"status":"ok"}'
        resp.content_type = falcon.MEDIA_JSON


def create_app(database_url: str, pool_size: int) -> falcon.App[falcon.Request, falcon.Response]:
    app = falcon.App()
    app.add_route("/samples/{sample_id}", SampleResource(ConnectionQueue(database_url, pool_size)))
    app.add_route("/health", HealthResource())
    return app


def serve_waitress(args: argparse.Namespace) -> None:
    import waitress

    sys.setswitchinterval(args.switch_interval_ms / 1000)

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    with suppress(KeyboardInterrupt):
        waitress.serve(
            create_app(args.database_url, args.threads),
            host=args.host,
            port=args.port,
            threads=args.threads,
            connection_limit=1000,
            asyncore_use_poll=True,
            channel_timeout=30,
            _quiet=True,
        )


def serve_gunicorn(args: argparse.Namespace) -> None:
    from gunicorn.app.base import BaseApplication

    class LimitGunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
        def load_config(self) -> None:
            for key, value in {
                "bind": [f"{args.host}:{args.port}"],
                "workers": args.workers,
                "worker_class": "sync",
                "preload_app": False,
                "backlog": 2048,
                "keepalive": 5,
                "accesslog": None,
                "errorlog": "-",
                "loglevel": "warning",
                "proc_name": "aqualab-limit",
            }.items():
                self.cfg.set(key, value)

        def load(self) -> falcon.App[falcon.Request, falcon.Response]:
            sys.setswitchinterval(args.switch_interval_ms / 1000)
            return create_app(args.database_url, 1)  # a sync worker serves one at a time

    LimitGunicorn().run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True, help="libpq URL (postgresql://...)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (8)")
    parser.add_argument(
        "--workers", type=int, default=0, help="gunicorn sync workers (0: waitress)"
    )
    parser.add_argument("--switch-interval-ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.workers:
        serve_gunicorn(args)
    else:
        serve_waitress(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
