"""`aqualab backup` / `aqualab restore`: pg_dump and pg_restore, run safely.

- The password never reaches a command line, an error message or a log: the tools get a
  connection string without it and read it from a temporary passfile (mode 0600) that
  is deleted as soon as they exit.
- The tools are the ones matching the server's major version when installed
  (`/usr/lib/postgresql/<major>/bin`), else the first newer-or-equal one found (`PG_BIN`,
  `PATH`, other `/usr/lib/postgresql/*/bin`): pg_dump refuses servers newer than itself.
- A backup is PostgreSQL's custom format (compressed, restorable table by table), written
  to a temporary file beside the target and renamed into place only when complete, so a
  failed run never leaves a truncated file under the final name.
- A restore replaces every object the backup holds in ONE transaction
  (`--clean --if-exists --single-transaction --exit-on-error`): it lands whole or not at
  all. Dropping tables is not blocked by the audit log's append-only triggers (they are
  row triggers on UPDATE/DELETE/TRUNCATE); the backup's own `alembic_version` comes back
  with its schema. A database holding tables the backup does not know (a newer schema)
  is refused, because the restored `alembic_version` would not describe it.
- Restored into another cluster, the sync change feed is renumbered when its positions
  are ahead of that cluster's transaction ids (`restamp_sync_feed`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import conninfo as libpq
from psycopg import sql

LOCK_TIMEOUT_MS = 60_000  # a restore waits this long for a running server's locks, then fails
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")
_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (\S+) (\S+) ")


class BackupError(RuntimeError):
    """One line for the operator; never contains the password."""


@dataclass(frozen=True)
class Target:
    """Where the database is, as libpq parameters, and its password kept apart."""

    params: dict[str, str]
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> Target:
        url = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
        try:
            params = {k: str(v) for k, v in libpq.conninfo_to_dict(url).items() if v is not None}
        except psycopg.ProgrammingError:
            raise BackupError("DATABASE_URL is not a valid PostgreSQL URL") from None
        password = params.pop("password", None)
        return cls(params, password)

    @property
    def conninfo(self) -> str:
        """For the tools' --dbname: everything but the password."""
        return libpq.make_conninfo(**self.params)

    def describe(self) -> str:
        host = self.params.get("host", "local socket")
        port = self.params.get("port", "5432")
        return f"database {self.params.get('dbname', '?')!r} on {host}:{port}"

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        try:
            return psycopg.connect(
                self.conninfo, password=self.password, connect_timeout=10, autocommit=True
            )
        except psycopg.OperationalError:
            raise BackupError(f"cannot connect to {self.describe()}") from None

    @contextlib.contextmanager
    def environment(self) -> Iterator[dict[str, str]]:
        """The tools' environment: the password in a passfile that exists only meanwhile."""
        env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "PGPASSFILE")}
        env["PGOPTIONS"] = f"-c lock_timeout={LOCK_TIMEOUT_MS} -c statement_timeout=0"
        if self.password is None:
            yield env
            return
        escaped = self.password.replace("\\", "\\\\").replace(":", "\\:")
        fd, path = tempfile.mkstemp(prefix="aqualab-pgpass-")
        try:
            with os.fdopen(fd, "w") as handle:  # mkstemp creates it 0600
                handle.write(f"*:*:*:*:{escaped}\n")
            env["PGPASSFILE"] = path
            yield env
        finally:
            Path(path).unlink(missing_ok=True)


def _tool_major(path: Path) -> int | None:
    try:
        out = subprocess.run(  # noqa: S603 - a PostgreSQL tool we located, no shell
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError:
        return None
    match = _VERSION.search(out)
    return int(match.group(1)) if match else None


def find_tool(name: str, server_major: int) -> Path:
    """The tool for this server's major version, else the first newer one."""
    exact = Path(f"/usr/lib/postgresql/{server_major}/bin/{name}")
    if exact.is_file():
        return exact
    candidates = [Path(os.environ["PG_BIN"]) / name] if os.environ.get("PG_BIN") else []
    if on_path := shutil.which(name):
        candidates.append(Path(on_path))
    candidates += [Path(p) for p in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))]
    for candidate in candidates:
        if candidate.is_file():
            major = _tool_major(candidate)
            if major is not None and major >= server_major:
                return candidate
    raise BackupError(
        f"{name} for PostgreSQL {server_major} (or newer) not found: install "
        f"postgresql-client-{server_major}, or set PG_BIN to its bin directory"
    )


def server_major(target: Target) -> int:
    with target.connect() as conn:
        return conn.info.server_version // 10000


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    # A located PostgreSQL tool with arguments as a list: no shell.
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        # The tools' own messages name objects and errors, never the passfile's content.
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        detail = "; ".join(lines[-3:]) or f"exit status {result.returncode}"
        raise BackupError(f"{what} failed: {detail}")


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    size_bytes: int
    seconds: float
    tool: Path


def backup(url: str, out: Path) -> BackupInfo:
    target = Target.from_url(url)
    out = out.expanduser().resolve()
    if not out.parent.is_dir():
        raise BackupError(f"directory {out.parent} does not exist")
    if out.is_dir():
        raise BackupError(f"{out} is a directory")
    tool = find_tool("pg_dump", server_major(target))
    started = time.perf_counter()
    fd, partial = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)
    try:
        with target.environment() as env:
            _run(
                [
                    str(tool),
                    "--format=custom",
                    "--no-password",
                    f"--lock-wait-timeout={LOCK_TIMEOUT_MS}",
                    f"--file={partial}",
                    f"--dbname={target.conninfo}",
                ],
                env,
                f"pg_dump of {target.describe()}",
            )
        Path(partial).chmod(0o600)  # it holds password hashes and every lab's data
        Path(partial).replace(out)
    finally:
        Path(partial).unlink(missing_ok=True)
    return BackupInfo(out, out.stat().st_size, time.perf_counter() - started, tool)


@dataclass(frozen=True)
class RestoreInfo:
    tables: int
    seconds: float
    alembic_revision: str | None
    tool: Path
    restamped: int = 0  # synced rows renumbered to fit this server's transaction ids


_SYNCED_TABLES = """
    SELECT c.relname FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'sync_txid'
      AND NOT a.attisdropped
    ORDER BY 1
"""


def restamp_sync_feed(target: Target) -> int:
    """Fit restored change-feed positions under this server's transaction ids.

    A row's feed position is (the id of the transaction that last wrote it, a sequence
    number), and a pull serves only rows older than the oldest running transaction. A
    backup restored into ANOTHER cluster can carry transaction ids this cluster has not
    reached yet, so its rows would stay hidden from every device. Then every synced row
    is renumbered, in its feed order, as written by one old transaction (id 0), exactly
    as migration 0003 entered existing rows, and the sequence moves past them. Nothing
    changes when the restored ids are already in this server's past (the usual case).
    """
    with target.connect() as conn, conn.transaction():
        tables = [str(r[0]) for r in conn.execute(_SYNCED_TABLES)]
        if not tables:
            return 0
        horizon = conn.execute(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
        ).fetchone()
        newest = conn.execute(
            sql.SQL("SELECT max(m) FROM ({}) x").format(
                sql.SQL(" UNION ALL ").join(
                    sql.SQL("SELECT max(sync_txid) AS m FROM {}").format(sql.Identifier(t))
                    for t in tables
                )
            )
        ).fetchone()
        if horizon is None or newest is None or newest[0] is None:
            return 0
        if int(str(newest[0])) < int(str(horizon[0])):
            return 0  # every restored change is in this server's past already
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE aqualab_feed_order ON COMMIT DROP AS SELECT t, id, "
                "row_number() OVER (ORDER BY sync_txid, sync_seq) AS n FROM ({}) feed"
            ).format(
                sql.SQL(" UNION ALL ").join(
                    sql.SQL("SELECT {} AS t, id, sync_txid, sync_seq FROM {}").format(
                        sql.Literal(t), sql.Identifier(t)
                    )
                    for t in tables
                )
            )
        )
        renumbered = 0
        for table in tables:
            name = sql.Identifier(table)
            # The stamp trigger would give every row this transaction's id: off meanwhile.
            conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(name))
            cursor = conn.execute(
                sql.SQL(
                    "UPDATE {} r SET sync_txid = 0, sync_seq = o.n "
                    "FROM aqualab_feed_order o WHERE o.t = %s AND o.id = r.id"
                ).format(name),
                (table,),
            )
            renumbered += max(cursor.rowcount, 0)
            conn.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(name))
        conn.execute(
            "SELECT setval('sync_change_seq', GREATEST("
            "(SELECT max(n) FROM aqualab_feed_order), "
            "(SELECT last_value FROM sync_change_seq)))"
        )
        return renumbered


def archive_tables(tool: Path, archive: Path) -> set[str]:
    """The tables (schema.name) an archive creates; fails clearly on a non-archive."""
    result = subprocess.run(  # noqa: S603 - the located pg_restore, arguments as a list
        [str(tool), "--list", str(archive)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{archive} is not a pg_dump custom-format archive")
    return {
        f"{m.group(1)}.{m.group(2)}"
        for line in result.stdout.splitlines()
        if (m := _TOC_TABLE.match(line))
    }


def _existing_tables(target: Target) -> set[str]:
    with target.connect() as conn:
        rows = conn.execute(
            "SELECT schemaname || '.' || tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    return {str(row[0]) for row in rows}


def restore(url: str, archive: Path) -> RestoreInfo:
    target = Target.from_url(url)
    archive = archive.expanduser().resolve()
    if not archive.is_file():
        raise BackupError(f"{archive} does not exist")
    tool = find_tool("pg_restore", server_major(target))
    tables = archive_tables(tool, archive)
    if not tables:
        raise BackupError(f"{archive} holds no tables")
    extra = sorted(_existing_tables(target) - tables)
    if extra:
        raise BackupError(
            f"{target.describe()} has tables the backup does not ({', '.join(extra)}): it "
            "was made by a newer schema. Restore into an empty database (then point "
            "DATABASE_URL at it), or drop those tables first"
        )
    started = time.perf_counter()
    with target.environment() as env:
        _run(
            [
                str(tool),
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                "--no-password",
                f"--dbname={target.conninfo}",
                str(archive),
            ],
            env,
            f"pg_restore into {target.describe()} (nothing was changed)",
        )
    with target.connect() as conn:
        row = conn.execute(
            "SELECT version_num FROM alembic_version"
            if "public.alembic_version" in tables
            else "SELECT NULL"
        ).fetchone()
    revision = str(row[0]) if row and row[0] is not None else None
    restamped = restamp_sync_feed(target)
    return RestoreInfo(len(tables), time.perf_counter() - started, revision, tool, restamped)
