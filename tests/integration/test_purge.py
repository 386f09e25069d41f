"""`aqualab purge` on PostgreSQL: rate-limit rows, two purges at once, the CLI itself."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.clock import FixedClock
from adapters.sqlalchemy.housekeeping import SqlHousekeeping
from application.housekeeping import Purge, PurgeDeps, PurgeSettings
from domain.housekeeping import PurgeReport
from entrypoints.cli.main import main

DAY = timedelta(days=1)
SETTINGS = PurgeSettings(access_ttl=DAY, tombstone_retention=90 * DAY)


def _purge(engine: sa.Engine, now: datetime) -> Purge:
    return Purge(PurgeDeps(SqlHousekeeping(engine), FixedClock(now), SETTINGS))


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)


def _seed(engine: sa.Engine, now: datetime, *, samples: int, tokens: int) -> None:
    """Purgeable rows in bulk (plus a few that must stay), straight in SQL."""
    old = now - 100 * DAY
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO labs (id, name, created_at, updated_at) "
                "VALUES ('00000000-0000-0000-0000-00000000000a', 'Purge Lab', :t, :t)"
            ),
            {"t": old},
        )
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, name, role, password_hash, created_at, "
                "updated_at) VALUES ('00000000-0000-0000-0000-0000000000b0', 'p@lab.example', "
                "'P', 'admin', 'x', :t, :t)"
            ),
            {"t": old},
        )
        conn.execute(
            sa.text(
                """
                INSERT INTO samples (id, lab_id, type, location, collection_date,
                    collector_name, status, compliance_status, created_at, updated_at,
                    deleted_at)
                SELECT gen_random_uuid(), '00000000-0000-0000-0000-00000000000a', 'drinking',
                    'Site ' || g, :old, 'C', 'collected', 'pending', :old, :old,
                    CASE WHEN g % 10 = 0 THEN NULL ELSE :old END
                FROM generate_series(1, :n) g
                """
            ),
            {"old": old, "n": samples},
        )
        conn.execute(
            sa.text(
                """
                INSERT INTO test_results (id, sample_id, lab_id, parameter, value, qualifier,
                    unit, test_date, compliance_status, created_at, updated_at, deleted_at)
                SELECT gen_random_uuid(), s.id, s.lab_id, 'nitrate', 1, '=', 'mg/L', :old,
                    'pass', :old, :old, s.deleted_at
                FROM samples s CROSS JOIN generate_series(1, 2)
                """
            ),
            {"old": old},
        )
        conn.execute(
            sa.text(
                """
                INSERT INTO password_reset_tokens (id, user_id, token_hash, created_at,
                    expires_at, used_at)
                SELECT gen_random_uuid(), '00000000-0000-0000-0000-0000000000b0',
                    'h' || g, :old, :old + interval '1 hour',
                    CASE WHEN g % 2 = 0 THEN :old END
                FROM generate_series(1, :n) g
                """
            ),
            {"old": old, "n": tokens},
        )
        conn.execute(
            sa.text(
                """
                INSERT INTO rate_limit_hits (key, window_start, count, expires_at)
                SELECT 'login:10.0.0.' || g, g, 3,
                    CASE WHEN g <= :n - 5 THEN :old ELSE :future END
                FROM generate_series(1, :n) g
                """
            ),
            {"old": old, "future": now + DAY, "n": tokens},
        )


def test_rate_limit_rows_go_once_their_window_has_closed(clean_db: str, engine: sa.Engine) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    _seed(engine, now, samples=0, tokens=20)
    report = _purge(engine, now)(batch_size=7)
    assert report.rate_limit_hits == 15
    with engine.connect() as conn:
        left = conn.scalars(sa.text("SELECT expires_at FROM rate_limit_hits")).all()
    assert len(left) == 5
    assert all(expires > now for expires in left)


def test_two_purges_at_once_share_the_work_without_waiting_or_failing(
    clean_db: str, engine: sa.Engine
) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    _seed(engine, now, samples=600, tokens=3000)
    expected = PurgeReport(
        password_reset_tokens=3000,
        rate_limit_hits=2995,
        tombstones={"task": 0, "result": 1080, "sample": 540},
    )
    reports: list[PurgeReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait()
            reports.append(_purge(engine, now)(batch_size=50))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert len(reports) == 2
    # Between them the two purges removed every purgeable row exactly once …
    total = PurgeReport(
        password_reset_tokens=sum(r.password_reset_tokens for r in reports),
        rate_limit_hits=sum(r.rate_limit_hits for r in reports),
        tombstones={e: sum(r.tombstones[e] for r in reports) for e in expected.tombstones},
    )
    assert total == expected
    # … and nothing else: the live samples and their results, the open rate windows.
    assert _count(engine, "samples") == 60
    assert _count(engine, "test_results") == 120
    assert _count(engine, "password_reset_tokens") == 0
    assert _count(engine, "rate_limit_hits") == 5
    # A sample the first purge passed over while the second was still deleting its results
    # was taken by the second, whose sample pass starts after its result pass: none is left.
    assert _purge(engine, now)().total == 0


def test_aqualab_purge_prints_what_it_removed(
    clean_db: str,
    engine: sa.Engine,
    var_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _seed(engine, datetime.now(UTC), samples=10, tokens=4)
    monkeypatch.setenv("DATABASE_URL", clean_db)
    monkeypatch.setenv("AQUALAB_VAR_DIR", str(var_dir))
    monkeypatch.setenv("JWT_SECRET", "x" * 40)

    assert main(["purge", "--batch-size", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["tombstones"] == {"task": 0, "result": 18, "sample": 9}
    assert printed["password_reset_tokens"] == 4
    assert printed["rate_limit_hits"] == 0  # the seeded windows are still open
    assert printed["total"] == 31

    assert main(["purge"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 0
    assert main(["purge", "--batch-size", "0"]) == 2
    assert "--batch-size" in capsys.readouterr().err
