"""Run the real `aqualab serve` (waitress) as a subprocess for end-to-end and browser tests.

`live_server(...)` starts the server on a free loopback port with fast password
hashing, a private `AQUALAB_VAR_DIR` and its stdout/stderr captured to files, waits
until `/api/v1/health/ready` answers 200, and always stops it (SIGTERM, then SIGKILL).

    with live_server(database_url=url, env={"RATE_LIMIT_LOGIN": "3/minute"}) as server:
        requests.get(server.url("/api/v1/health"))
        server.request_logs()        # the parsed JSON "request" lines from stderr
        server.wait_for_stdout(r"token=(\\S+)")  # e.g. the console mailer's reset link
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from adapters.postgres_server import free_port

HOST = "127.0.0.1"
READY_PATH = "/api/v1/health/ready"

# Settings the parent environment must not leak into a test server.
_CONFIG_VARIABLES = (
    "DATABASE_URL",
    "JWT_SECRET",
    "AQUALAB_ENV",
    "AQUALAB_STORAGE",
    "AQUALAB_VAR_DIR",
    "HOST",
    "PORT",
    "THREADS",
    "DB_POOL_SIZE",
    "CORS_ORIGINS",
    "TRUSTED_PROXIES",
    "MAX_BODY_BYTES",
    "LOG_LEVEL",
    "METRICS_TOKEN",
    "BETTER_AUTH_SECRET",
    "SMTP_URL",
    "PUBLIC_URL",
    "LOCKOUT_ATTEMPTS",
    "LOCKOUT_MINUTES",
    "RATE_LIMIT_LOGIN",
    "RATE_LIMIT_REGISTER",
    "RATE_LIMIT_FORGOT",
    "RATE_LIMIT_API",
    "ACCESS_TOKEN_TTL",
    "REFRESH_TOKEN_TTL",
    "RESET_TOKEN_TTL",
    "AUTH_CACHE",
)

# Fast hashing and generous limits: a test that wants a limit sets it explicitly.
BASE_ENV = {
    "AQUALAB_ENV": "test",
    "PASSWORD_HASH_MEMORY_KIB": "1024",
    "PASSWORD_HASH_TIME_COST": "1",
    "RATE_LIMIT_LOGIN": "100000/minute",
    "RATE_LIMIT_REGISTER": "100000/minute",
    "RATE_LIMIT_FORGOT": "100000/minute",
    "RATE_LIMIT_API": "100000/minute",
    "LOG_LEVEL": "INFO",
    "PYTHONUNBUFFERED": "1",
}


def aqualab_command() -> list[str]:
    """The installed `aqualab` script next to this interpreter, else the module."""
    script = Path(sys.executable).parent / "aqualab"
    if script.exists():
        return [str(script)]
    found = shutil.which("aqualab")
    return [found] if found else [sys.executable, "-m", "entrypoints.cli.main"]


def server_env(
    *,
    database_url: str | None,
    var_dir: Path,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in _CONFIG_VARIABLES}
    env.update(BASE_ENV)
    env["JWT_SECRET"] = secrets.token_urlsafe(48)
    env["AQUALAB_VAR_DIR"] = str(var_dir)
    if database_url:
        env["DATABASE_URL"] = database_url
        env["AQUALAB_STORAGE"] = "sql"
    else:
        env["AQUALAB_STORAGE"] = "memory"
    env.update(overrides or {})
    return env


def run_cli(
    *args: str, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one `aqualab` CLI command to completion (e.g. create-admin, verify-audit)."""
    return subprocess.run(
        [*aqualab_command(), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class ServerFailedToStart(RuntimeError):
    pass


class LiveServer:
    """One `aqualab serve` process. Use `live_server()` rather than this class directly."""

    def __init__(
        self,
        *,
        workdir: Path,
        database_url: str | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        threads: int = 4,
        startup_timeout: float = 60.0,
    ):
        self.workdir = workdir
        self.var_dir = workdir / "var"
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url
        self.env = server_env(database_url=database_url, var_dir=self.var_dir, overrides=env)
        self.args = list(args)
        self.threads = threads
        self.startup_timeout = startup_timeout
        self.stdout_path = workdir / "stdout.log"
        self.stderr_path = workdir / "stderr.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._files: list[Any] = []

    # --- addresses --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def api(self) -> str:
        return self.base_url + "/api/v1"

    # --- lifecycle --------------------------------------------------------------

    def start(self, attempts: int = 3) -> None:
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            self._spawn()
            try:
                self._wait_until_ready()
                return
            except ServerFailedToStart:
                self.stop()
                # Another process may have taken the port between free_port() and bind.
                if attempt == attempts or "address already in use" not in self.stderr().lower():
                    raise

    def _spawn(self) -> None:
        command = [
            *aqualab_command(),
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--threads",
            str(self.threads),
            *self.args,
        ]
        stdout = self.stdout_path.open("ab")
        stderr = self.stderr_path.open("ab")
        self._files = [stdout, stderr]
        self.process = subprocess.Popen(
            command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            cwd=self.workdir,
        )

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailedToStart(
                    f"aqualab serve exited with {self.process.returncode}:\n{self.stderr()[-3000:]}"
                )
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url(READY_PATH), timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise ServerFailedToStart(
            f"aqualab serve not ready after {self.startup_timeout}s:\n{self.stderr()[-3000:]}"
        )

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`; returns the exit code."""
        process, self.process = self.process, None
        code: int | None = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=timeout)
            code = process.returncode
        for handle in self._files:
            handle.close()
        self._files = []
        return code

    # --- captured output ----------------------------------------------------------

    def stdout(self) -> str:
        return _read(self.stdout_path)

    def stderr(self) -> str:
        return _read(self.stderr_path)

    def logs(self) -> str:
        """Everything the process wrote (stderr holds the JSON log, stdout the console mail)."""
        return self.stderr() + self.stdout()

    def log_lines(self) -> list[str]:
        """stderr lines that are meant to be JSON log records (they start with `{`)."""
        return [line for line in self.stderr().splitlines() if line.startswith("{")]

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_lines()]

    def request_logs(self) -> list[dict[str, Any]]:
        return [r for r in self.log_records() if r.get("event") == "request"]

    def wait_for_log(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Log records matching `predicate`, waiting up to `timeout` for the first one."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.log_records() if predicate(r)]
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def wait_for_stdout(
        self, pattern: str, *, start: int = 0, timeout: float = 5.0
    ) -> re.Match[str]:
        """The first match of `pattern` in stdout after character `start` (mails arrive there)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.stdout(), start)
            if match:
                return match
            if time.monotonic() >= deadline:
                raise AssertionError(f"{pattern!r} did not appear on the server's stdout")
            time.sleep(0.05)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


@contextlib.contextmanager
def live_server(
    *,
    database_url: str | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    threads: int = 4,
    workdir: Path | None = None,
) -> Iterator[LiveServer]:
    """Start `aqualab serve` (SQL storage when `database_url` is given, else memory)."""
    owned = workdir is None
    root = Path(tempfile.mkdtemp(prefix="aqualab-live-")) if workdir is None else workdir
    server = LiveServer(
        workdir=root, database_url=database_url, env=env, args=args, threads=threads
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if owned and not os.environ.get("AQUALAB_KEEP_TEST_LOGS"):
            shutil.rmtree(root, ignore_errors=True)
