"""A project-local PostgreSQL server: the embedded default for `make run`, and the
throwaway cluster the test suite starts.

initdb/postgres refuse to run as root, so when we are root every server command
runs as the `postgres` system user (runuser) on directories it owns. The server
listens on 127.0.0.1 only, with no Unix socket, and requires a password
generated at initdb time and kept in `<base>/password` (mode 0600).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DB_NAME = "aqualab"
SUPERUSER = "postgres"


class EmbeddedPostgresError(RuntimeError):
    pass


def find_bin_dir() -> Path:
    """PG_BIN, else the newest /usr/lib/postgresql/*/bin, else pg_ctl on PATH."""
    candidates = [os.environ.get("PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("pg_ctl")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise EmbeddedPostgresError(
        "PostgreSQL server binaries not found; install PostgreSQL 15 or set PG_BIN or DATABASE_URL"
    )


def _version_key(path: str) -> int:
    digits = "".join(ch for ch in Path(path).parent.name if ch.isdigit())
    return int(digits or 0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedPostgres:
    base_dir: Path
    port: int | None = None
    ephemeral: bool = False  # tests: fsync off, nothing worth keeping

    def __post_init__(self) -> None:
        self.base_dir = self.base_dir.resolve()
        self.bin_dir = find_bin_dir()
        self.data_dir = self.base_dir / "pgdata"
        self.log_file = self.base_dir / "postgres.log"
        self._as_root = os.geteuid() == 0

    # --- public -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return (
            f"postgresql+psycopg://{SUPERUSER}:{quote(self._password(), safe='')}"
            f"@127.0.0.1:{self._port()}/{DB_NAME}"
        )

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        result = self._run([self._bin("pg_ctl"), "status", "-D", str(self.data_dir)], check=False)
        return result.returncode == 0

    def start(self) -> str:
        """Initialise on first use, start if stopped, create the database; return its URL."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if not self.is_running():
            self._start_server()
        self._create_database()
        return self.url

    def stop(self) -> None:
        if self.is_running():
            self._run(
                [
                    self._bin("pg_ctl"),
                    "stop",
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "60",
                ]
            )

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    # --- internals ----------------------------------------------------------------

    def _bin(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _port(self) -> int:
        port_file = self.base_dir / "port"
        if self.port is None:
            if port_file.exists():
                self.port = int(port_file.read_text().strip())
            else:
                self.port = free_port()
        if not port_file.exists() or port_file.read_text().strip() != str(self.port):
            self.base_dir.mkdir(parents=True, exist_ok=True)
            port_file.write_text(str(self.port))
        return self.port

    def _password(self) -> str:
        password_file = self.base_dir / "password"
        if not password_file.exists():
            self.base_dir.mkdir(parents=True, exist_ok=True)
            password_file.write_text(secrets.token_urlsafe(24))
            password_file.chmod(0o600)
        return password_file.read_text().strip()

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        if self._as_root:
            args = ["runuser", "-u", SUPERUSER, "--", *args]
        result = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise EmbeddedPostgresError(f"{Path(args[-1]).name}: {' | '.join(detail)}")
        return result

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            owner = pwd.getpwnam(SUPERUSER)
            for path in (self.base_dir, self.data_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self.data_dir.chmod(0o700)

    def _initdb(self) -> None:
        self._prepare_dirs()
        password = self._password()
        pwfile = self.base_dir / ".initdb-pw"
        pwfile.write_text(password)
        try:
            if self._as_root:
                owner = pwd.getpwnam(SUPERUSER)
                os.chown(pwfile, owner.pw_uid, owner.pw_gid)
            pwfile.chmod(0o600)
            self._run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _start_server(self) -> None:
        port = self._port()
        options = [
            f"-p {port}",
            "-c listen_addresses=127.0.0.1",
            "-c unix_socket_directories=''",
            "-c max_connections=200",
            "-c shared_buffers=256MB",
        ]
        if self.ephemeral:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        if self._as_root and not self.log_file.exists():
            self.log_file.touch()
            owner = pwd.getpwnam(SUPERUSER)
            os.chown(self.log_file, owner.pw_uid, owner.pw_gid)
        self._run(
            [
                self._bin("pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                "60",
                "-o",
                " ".join(options),
            ]
        )
        self._wait_until_accepting(port)

    def _wait_until_accepting(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=1),
            ):
                return
            time.sleep(0.1)
        raise EmbeddedPostgresError(f"PostgreSQL did not start on port {port}; see {self.log_file}")

    def _create_database(self) -> None:
        import psycopg

        conninfo = f"host=127.0.0.1 port={self._port()} user={SUPERUSER} dbname=postgres"
        with psycopg.connect(conninfo, password=self._password(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DB_NAME}"')
