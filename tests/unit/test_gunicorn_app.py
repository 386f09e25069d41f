"""`aqualab serve --workers N`: gunicorn's options come from Settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.config import load_settings
from entrypoints.http.gunicorn_app import (
    AquaLabGunicorn,
    bind_address,
    gunicorn_options,
    worker_settings,
    worker_threads,
)


def test_options_come_from_the_settings() -> None:
    settings = load_settings(
        host="0.0.0.0", port=8123, workers=3, threads=8, log_level="warning", storage="sql"
    )
    options = gunicorn_options(settings)
    assert options["bind"] == ["0.0.0.0:8123"]
    assert options["workers"] == 3
    assert options["worker_class"] == "entrypoints.http.gunicorn_app.GracefulSyncWorker"
    assert options["threads"] == 1  # sync workers serve one request at a time
    assert options["preload_app"] is False  # every worker builds its own engine after fork
    assert options["loglevel"] == "warning"
    assert options["accesslog"] is None


def test_gthread_workers_use_the_thread_setting() -> None:
    settings = load_settings(workers=2, threads=6, worker_class="gthread")
    options = gunicorn_options(settings)
    assert options["worker_class"] == "entrypoints.http.gunicorn_app.GracefulThreadWorker"
    assert options["threads"] == worker_threads(settings) == 6


@pytest.mark.parametrize(
    ("worker_class", "threads", "db_pool_size", "expected_pool"),
    [
        ("sync", 8, None, 3),  # one serving thread, plus two for the probes
        ("gthread", 8, None, 10),
        ("gthread", 8, 4, 10),  # never below the worker's threads
        ("gthread", 8, 30, 30),  # a larger explicit pool is kept
    ],
)
def test_each_worker_pool_fits_its_own_threads(
    worker_class: str, threads: int, db_pool_size: int | None, expected_pool: int
) -> None:
    settings = load_settings(
        workers=2, threads=threads, worker_class=worker_class, db_pool_size=db_pool_size
    )
    per_worker = worker_settings(settings)
    assert per_worker.threads == worker_threads(settings)
    assert per_worker.pool_size == expected_pool
    assert per_worker.pool_size >= per_worker.threads


def test_workers_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKERS", "4")
    assert load_settings().workers == 4
    monkeypatch.delenv("WORKERS")
    assert load_settings().workers == 0  # default: one waitress process


def test_ipv6_hosts_are_bracketed() -> None:
    assert bind_address("::1", 8000) == "[::1]:8000"
    assert bind_address("127.0.0.1", 8000) == "127.0.0.1:8000"


def test_the_application_loads_the_options_into_gunicorn() -> None:
    settings = load_settings(port=8124, workers=2, storage="sql")
    app = AquaLabGunicorn(settings, "postgresql://unused@127.0.0.1/unused")
    assert app.cfg.workers == 2
    assert app.cfg.bind == ["127.0.0.1:8124"]
    assert app.cfg.preload_app is False
    assert app.container is None  # nothing is built before a worker forks


def test_worker_heartbeats_live_on_tmpfs_when_there_is_one() -> None:
    """In a container /tmp is an overlay on disk; gunicorn's heartbeat files belong in RAM."""
    options = gunicorn_options(load_settings(workers=2))
    expected = "/dev/shm" if Path("/dev/shm").is_dir() else None
    assert options["worker_tmp_dir"] == expected


def test_the_start_up_heap_is_frozen_out_of_the_collectors_way() -> None:
    import gc

    from entrypoints.http.app import freeze_startup_heap

    gc.unfreeze()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 10_000  # modules, classes, the app: all set aside
    finally:
        gc.unfreeze()
