"""`aqualab backup` / `aqualab restore` on a real PostgreSQL: every table comes back row for
row, the audit chain still verifies, and a failed restore changes nothing."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
import sqlalchemy as sa

from adapters import pg_backup
from application.auth import LoginCommand
from application.context import RequestMeta
from domain.ports import SampleQuery
from domain.sync import ORIGIN, Resolution, SyncConflict, SyncDevice
from entrypoints.cli.main import main
from entrypoints.config import load_settings
from entrypoints.container import build_container
from tests.conftest import FAST_HASHING

PASSWORD = "Adm1nPassw0rd"


def _libpq(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def snapshot(url: str) -> dict[str, Any]:
    """Every row of every table, the sequences, indexes and triggers: what a restore must
    bring back exactly."""
    with psycopg.connect(_libpq(url)) as conn:
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        out: dict[str, Any] = {
            table: sorted(
                str(r[0]) for r in conn.execute(f'SELECT to_jsonb(t)::text FROM "{table}" t')
            )
            for table in tables
        }
        out["~sequences"] = conn.execute(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' "
            "ORDER BY 1"
        ).fetchall()
        out["~indexes"] = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        out["~triggers"] = conn.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal "
            "ORDER BY 1, 2"
        ).fetchall()
    return out


@pytest.fixture
def env(
    clean_db: str, var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("DATABASE_URL", clean_db)
    monkeypatch.setenv("AQUALAB_ENV", "test")
    monkeypatch.setenv("AQUALAB_VAR_DIR", str(var_dir))
    monkeypatch.setenv("JWT_SECRET", "a-test-secret-that-is-long-enough-for-hs256")
    for name, value in FAST_HASHING.items():
        monkeypatch.setenv(name, str(value))
    yield monkeypatch


def _populate(url: str) -> None:
    """Real data through the product: admin, labs, samples, results, audit, sessions,
    tokens, rate-limit rows, sync devices and conflicts, a tombstone."""
    assert main(["create-admin", "--email", "admin@lab.example", "--password", PASSWORD,
                 "--lab", "Central Lab"]) == 0  # fmt: skip
    assert main(["seed-demo", "--samples", "40", "--results-per-sample", "3"]) == 0
    container = build_container(load_settings(database_url=url), url)
    try:
        meta = RequestMeta(request_id="backup-test", client_ip="10.0.0.9")
        container.login()(LoginCommand("admin@lab.example", PASSWORD), meta)
        container.forgot_password()("admin@lab.example", meta)
        now = datetime.now(UTC)
        with container.uow() as uow:
            admin = uow.users.get_by_email("admin@lab.example")
            assert admin is not None and admin.lab_id is not None
            sample = uow.samples.list(SampleQuery()).items[0]
            uow.sync_devices.add(SyncDevice("device-ü", admin.id, admin.lab_id, now, 7, now))
            uow.sync_conflicts.add(
                SyncConflict(
                    id=uuid4(),
                    lab_id=admin.lab_id,
                    entity="sample",
                    record_id=sample.id,
                    device_id="device-ü",
                    user_id=admin.id,
                    mutation_id=7,
                    resolution=Resolution.MERGED,
                    server_data={"notes": "server"},
                    client_data={"op": "upsert", "data": {"notes": "client ✓"}},
                    version=2,
                    created_at=now - timedelta(minutes=1),
                    detail={"notes": "client"},
                )
            )
            stored = uow.samples.get(sample.id)
            assert stored is not None
            stored.deleted_at = now
            stored.version += 1
            uow.commit()
        container.verify_audit()(None)
    finally:
        container.shutdown_resources()


def _verify_audit(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["verify-audit"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return report


def test_backup_then_restore_over_changed_data_and_into_an_empty_database(
    env: pytest.MonkeyPatch,
    clean_db: str,
    scratch_database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _populate(clean_db)
    before = snapshot(clean_db)
    assert all(before[t] for t in ("users", "labs", "samples", "test_results", "audit_log",
                                   "audit_chain", "auth_sessions", "refresh_tokens",
                                   "password_reset_tokens", "rate_limit_hits", "sync_devices",
                                   "sync_conflicts", "alembic_version"))  # fmt: skip
    checked = _verify_audit(capsys)["checked"]
    assert checked > 40
    capsys.readouterr()

    file = tmp_path / "aqualab.dump"
    assert main(["backup", "--out", str(file)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["backup"] == str(file) and printed["bytes"] == file.stat().st_size > 0
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["aqualab.dump"]  # no partial file left

    # Wipe and change things: new rows, removed rows (the append-only audit tables too).
    assert main(["create-admin", "--email", "late@lab.example", "--password", PASSWORD]) == 0
    capsys.readouterr()
    with psycopg.connect(_libpq(clean_db)) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "TRUNCATE samples, test_results, audit_chain, audit_pending, audit_log CASCADE"
        )
    assert snapshot(clean_db) != before

    assert main(["restore", str(file)]) == 0
    restored = json.loads(capsys.readouterr().out)
    assert restored["alembic_revision"] == before["alembic_version"][0].split('"')[3]
    assert restored["sync_rows_restamped"] == 0  # same cluster: positions already in its past
    assert snapshot(clean_db) == before
    assert _verify_audit(capsys) == {"ok": True, "checked": checked, "first_bad_id": None}
    # The restored audit log is append-only again.
    with (
        psycopg.connect(_libpq(clean_db)) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute("DELETE FROM audit_log")

    # A brand-new, empty database.
    env.setenv("DATABASE_URL", scratch_database_url)
    assert main(["restore", str(file)]) == 0
    capsys.readouterr()
    assert snapshot(scratch_database_url) == before
    assert _verify_audit(capsys)["ok"] is True
    assert main(["migrate"]) == 0  # already at head: nothing to do, nothing broken


def test_a_failed_restore_changes_nothing_and_says_why(
    env: pytest.MonkeyPatch, clean_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _populate(clean_db)
    file = tmp_path / "good.dump"
    assert main(["backup", "--out", str(file)]) == 0
    capsys.readouterr()

    # Not an archive.
    junk = tmp_path / "junk.dump"
    junk.write_text("SELECT 1;")
    assert main(["restore", str(junk)]) == 1
    assert "not a pg_dump custom-format archive" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "missing.dump")]) == 1
    assert "does not exist" in capsys.readouterr().err

    # A truncated archive fails part-way: the single transaction rolls everything back.
    truncated = tmp_path / "truncated.dump"
    truncated.write_bytes(file.read_bytes()[: file.stat().st_size * 2 // 3])
    before = snapshot(clean_db)
    assert main(["restore", str(truncated)]) == 1
    assert "nothing was changed" in capsys.readouterr().err
    assert snapshot(clean_db) == before

    # A database with a table the backup does not know (a newer schema) is refused.
    with psycopg.connect(_libpq(clean_db)) as conn:
        conn.execute("CREATE TABLE newer_feature (id int)")
    try:
        assert main(["restore", str(file)]) == 1
        assert "newer_feature" in capsys.readouterr().err
    finally:
        with psycopg.connect(_libpq(clean_db)) as conn:
            conn.execute("DROP TABLE newer_feature")
    assert snapshot(clean_db) == before

    # Backups into a directory that does not exist fail before anything runs.
    assert main(["backup", "--out", str(tmp_path / "nowhere" / "x.dump")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_the_password_never_reaches_a_command_line_output_or_leftover_file(
    env: pytest.MonkeyPatch,
    clean_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    password = sa.make_url(clean_db).password
    assert password
    calls: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def spy(command: list[str], **kwargs: Any) -> Any:
        calls.append((list(command), dict(kwargs.get("env") or os.environ)))
        return real_run(command, **kwargs)

    monkeypatch.setattr(pg_backup.subprocess, "run", spy)
    leftovers = set(Path(tempfile.gettempdir()).glob("aqualab-pgpass-*"))
    file = tmp_path / "b.dump"
    assert main(["backup", "--out", str(file)]) == 0
    assert main(["restore", str(file)]) == 0
    tools = [(cmd, e) for cmd, e in calls if Path(cmd[0]).name in ("pg_dump", "pg_restore")]
    assert {Path(cmd[0]).name for cmd, _ in tools} == {"pg_dump", "pg_restore"}
    for command, environment in tools:
        assert all(password not in arg for arg in command)
        assert "PGPASSWORD" not in environment
    out = capsys.readouterr()
    assert password not in out.out + out.err
    assert set(Path(tempfile.gettempdir()).glob("aqualab-pgpass-*")) == leftovers

    # A wrong password: a clear error, exit 1, and still no password in what is printed.
    wrong = sa.make_url(clean_db).set(password="Wr0ng-s3cret")
    env.setenv("DATABASE_URL", wrong.render_as_string(hide_password=False))
    assert main(["backup", "--out", str(tmp_path / "c.dump")]) == 1
    err = capsys.readouterr().err
    assert "cannot connect to database" in err
    assert "Wr0ng-s3cret" not in err and password not in err
    assert not (tmp_path / "c.dump").exists()


def test_tools_match_the_server_major_version() -> None:
    tool = pg_backup.find_tool("pg_dump", 15)
    assert pg_backup._tool_major(tool) == 15
    with pytest.raises(pg_backup.BackupError, match="postgresql-client-99"):
        pg_backup.find_tool("pg_dump", 99)


def test_a_feed_from_a_cluster_further_on_is_renumbered_to_fit_this_one(
    env: pytest.MonkeyPatch,
    clean_db: str,
    scratch_database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Restored into another cluster, rows may carry transaction ids it has not reached;
    a pull would hide them. Restore renumbers them in feed order, as written long ago."""
    _populate(clean_db)
    feed_order = (
        "SELECT id FROM (SELECT id, sync_txid, sync_seq FROM samples UNION ALL "
        "SELECT id, sync_txid, sync_seq FROM test_results) f ORDER BY sync_txid, sync_seq"
    )
    with psycopg.connect(_libpq(clean_db)) as conn:
        conn.execute("SET session_replication_role = replica")  # as if from a busier cluster
        for table in ("samples", "test_results"):
            conn.execute(f"UPDATE {table} SET sync_txid = sync_txid + 4000000000")
        order = [row[0] for row in conn.execute(feed_order)]
    file = tmp_path / "busy.dump"
    assert main(["backup", "--out", str(file)]) == 0
    env.setenv("DATABASE_URL", scratch_database_url)
    capsys.readouterr()

    assert main(["restore", str(file)]) == 0
    assert json.loads(capsys.readouterr().out)["sync_rows_restamped"] == len(order) > 40

    with psycopg.connect(_libpq(scratch_database_url)) as conn:
        assert [row[0] for row in conn.execute(feed_order)] == order
        assert conn.execute(
            "SELECT max(sync_txid) FROM (SELECT sync_txid FROM samples UNION ALL "
            "SELECT sync_txid FROM test_results) f"
        ).fetchone() == (0,)
        (last,) = conn.execute("SELECT last_value FROM sync_change_seq").fetchone() or (0,)
        assert last >= len(order)
        lab_id = conn.execute("SELECT lab_id FROM samples LIMIT 1").fetchone()
    assert lab_id is not None
    # The feed serves every restored record of the lab again, in the same order.
    container = build_container(
        load_settings(database_url=scratch_database_url), scratch_database_url
    )
    try:
        with container.uow() as uow:
            items = uow.changes.after(lab_id[0], ["sample", "result"], ORIGIN, 10_000)
    finally:
        container.shutdown_resources()
    assert [item.record.id for item in items] == order
    assert _verify_audit(capsys)["ok"] is True
