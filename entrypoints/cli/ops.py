"""`aqualab backup`, `aqualab restore`, `aqualab purge` (docs/deploy.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from application.housekeeping import DEFAULT_BATCH_SIZE


def _url(args: argparse.Namespace) -> str:
    from entrypoints.cli.main import _settings, database_url

    return database_url(_settings(args))


def cmd_backup(args: argparse.Namespace) -> int:
    from adapters.pg_backup import BackupError, backup

    try:
        info = backup(_url(args), Path(args.out))
    except BackupError as exc:
        print(f"aqualab: backup: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "backup": str(info.path),
                "bytes": info.size_bytes,
                "seconds": round(info.seconds, 1),
                "pg_dump": str(info.tool),
            }
        )
    )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from adapters.pg_backup import BackupError, restore

    try:
        info = restore(_url(args), Path(args.file))
    except BackupError as exc:
        print(f"aqualab: restore: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "restored": str(Path(args.file)),
                "tables": info.tables,
                "alembic_revision": info.alembic_revision,
                "sync_rows_restamped": info.restamped,
                "seconds": round(info.seconds, 1),
                "pg_restore": str(info.tool),
            }
        )
    )
    print(
        "restored; `aqualab migrate` (or starting the server) brings an older backup's "
        "schema up to date, and `aqualab verify-audit` checks its audit chain",
        file=sys.stderr,
    )
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from entrypoints.cli.main import _settings, database_url
    from entrypoints.container import build_container

    if args.batch_size < 1:
        print("aqualab: --batch-size must be at least 1", file=sys.stderr)
        return 2
    settings = _settings(args)
    url = database_url(settings) if settings.storage == "sql" else None
    container = build_container(settings, url)
    try:
        started = time.perf_counter()
        report = container.purge()(batch_size=args.batch_size)
    finally:
        container.shutdown_resources()
    out: dict[str, Any] = {
        "refresh_tokens": report.refresh_tokens,
        "password_reset_tokens": report.password_reset_tokens,
        "sessions": report.sessions,
        "rate_limit_hits": report.rate_limit_hits,
        "tombstones": report.tombstones,
        "total": report.total,
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(out))
    return 0


def add_parsers(sub: Any) -> None:
    backup = sub.add_parser(
        "backup", help="dump the database with pg_dump (custom format) into FILE"
    )
    backup.add_argument("--out", required=True, metavar="FILE", help="the backup file to write")
    backup.set_defaults(func=cmd_backup)

    restore = sub.add_parser(
        "restore",
        help="replace the database's contents with a backup (one transaction: all or nothing)",
    )
    restore.add_argument("file", metavar="FILE", help="a file `aqualab backup` wrote")
    restore.set_defaults(func=cmd_restore)

    purge = sub.add_parser(
        "purge",
        help="delete ended sessions and their tokens, used or expired reset tokens, closed "
        "rate-limit windows and tombstones older than SYNC_TOMBSTONE_RETENTION_DAYS "
        "(never audit entries)",
    )
    purge.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"rows per transaction ({DEFAULT_BATCH_SIZE})",
    )
    purge.set_defaults(func=cmd_purge)
