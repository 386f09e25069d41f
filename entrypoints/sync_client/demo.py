"""`aqualab sync-demo`: a field tablet's day, scripted with the reference sync client.

Creates `--samples N` samples offline, each with 3 test results with realistic values, in a
local SQLite store, then syncs it with the server (push in batches, pull to the end) and
prints progress, the summary, the server's view of the device and the content hashes:

    aqualab sync-demo --email tech@lab.ma --password '…' --samples 200
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from entrypoints.sync_client.client import SyncClient, SyncError, SyncSummary
from entrypoints.sync_client.store import LocalStore
from entrypoints.sync_client.transport import Transport

DEFAULT_SERVER = "http://127.0.0.1:8000"
DEFAULT_DB = "var/sync-demo.sqlite3"

# (site, sample type, latitude, longitude)
SITES = [
    ("Rabat - Bouregreg intake", "surface", 34.0209, -6.8416),
    ("Salé - Well 12", "ground", 34.0531, -6.7985),
    ("Kénitra - Sebou river km 14", "surface", 34.2610, -6.5802),
    ("Meknès - Ain Bittit spring", "ground", 33.8935, -5.5473),
    ("Fès - Water tower 3", "drinking", 34.0181, -5.0078),
    ("Marrakech - Lalla Takerkoust reservoir", "surface", 31.3594, -8.1339),
    ("Agadir - desalination outlet", "drinking", 30.4278, -9.5981),
    ("Casablanca - school tap, Hay Hassani", "drinking", 33.5731, -7.5898),
]
PEOPLE = ["Ana Benali", "Youssef El Amrani", "Salma Idrissi", "Karim Tazi", "Nadia Alaoui"]

Draw = Callable[[random.Random], float]
# parameter code, canonical unit, test method, how a plausible value is drawn
PARAMETERS: list[tuple[str, str, str, Draw]] = [
    ("nitrate", "mg/L", "ISO 10304-1 (ion chromatography)", lambda r: r.lognormvariate(2.6, 0.6)),
    ("ph", "pH", "ISO 10523", lambda r: r.gauss(7.4, 0.45)),
    ("turbidity", "NTU", "ISO 7027-1", lambda r: r.expovariate(1 / 1.3)),
    ("e_coli", "CFU/100mL", "ISO 9308-1", lambda r: float(r.random() < 0.08)),
    ("conductivity", "µS/cm", "ISO 7888", lambda r: r.gauss(900, 300)),
    ("chloride", "mg/L", "ISO 9297", lambda r: r.lognormvariate(4.6, 0.7)),
    ("free_chlorine", "mg/L", "ISO 7393-2 (DPD)", lambda r: r.uniform(0.05, 0.9)),
    ("temperature", "°C", "SM 2550 B", lambda r: r.gauss(18, 4)),
    ("fluoride", "mg/L", "ISO 10304-1", lambda r: r.lognormvariate(-1.0, 0.6)),
]
# Rounding and the plausible range each value is clipped to.
PRECISION = {"ph": 2, "turbidity": 2, "free_chlorine": 2, "fluoride": 2, "conductivity": 0}
RANGES = {"ph": (4.0, 10.5), "conductivity": (50.0, 5000.0), "temperature": (2.0, 35.0)}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `sync-demo` on the `aqualab` sub-command parsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sync-demo",
        help="create samples offline in a local SQLite store and sync them (reference client)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--server", default=DEFAULT_SERVER, help=f"({DEFAULT_SERVER})")
    parser.add_argument(
        "--email", default=os.environ.get("AQUALAB_SYNC_EMAIL"), help="(AQUALAB_SYNC_EMAIL)"
    )
    parser.add_argument(
        "--password",
        default=os.environ.get("AQUALAB_SYNC_PASSWORD"),
        help="(AQUALAB_SYNC_PASSWORD)",
    )
    parser.add_argument(
        "--device-id", help="(default: a stable id generated once and kept in the local db)"
    )
    parser.add_argument("--db", default=DEFAULT_DB, help=f"local SQLite store ({DEFAULT_DB})")
    parser.add_argument("--samples", type=int, default=10, help="samples to create offline (10)")
    parser.add_argument("--batch-size", type=int, default=500, help="mutations per request")
    parser.add_argument("--pull-limit", type=int, default=500, help="changes per pull page")
    parser.add_argument("--seed", type=int, help="random seed for the generated values")
    parser.set_defaults(func=run)
    return parser


def create_offline_samples(
    store: LocalStore, count: int, rng: random.Random, now: datetime | None = None
) -> None:
    """Create `count` samples with 3 results each in `store` (queued in its outbox)."""
    now = now or datetime.now(UTC)
    for _ in range(count):
        site, kind, lat, lon = rng.choice(SITES)
        collected = now - timedelta(days=rng.uniform(1, 30))
        sample_id = store.create(
            "sample",
            {
                "type": kind,
                "location": site,
                "latitude": round(lat + rng.uniform(-0.002, 0.002), 5),
                "longitude": round(lon + rng.uniform(-0.002, 0.002), 5),
                "collection_date": _rfc3339(collected),
                "collector_name": rng.choice(PEOPLE),
                "status": "collected",
                "notes": rng.choice([None, "sealed bottle", "chilled at 4 °C", "rain overnight"]),
            },
        )
        tested = collected + timedelta(hours=rng.uniform(4, 20))
        technician = rng.choice(PEOPLE)
        for code, unit, method, draw in rng.sample(PARAMETERS, 3):
            low, high = RANGES.get(code, (0.0, 1e6))
            value = round(min(max(draw(rng), low), high), PRECISION.get(code, 1))
            store.create(
                "result",
                {
                    "sample_id": sample_id,
                    "parameter": code,
                    "value": value,
                    "qualifier": "=",
                    "unit": unit,
                    "test_date": _rfc3339(tested),
                    "technician_name": technician,
                    "test_method": method,
                },
            )


def run(
    args: argparse.Namespace, transport: Transport | None = None, out: TextIO = sys.stdout
) -> int:
    """The `sync-demo` handler (`transport` lets tests replace HTTP)."""
    if not args.email or not args.password:
        print("aqualab sync-demo: --email and --password are required", file=sys.stderr)
        return 2
    if args.samples < 0:
        print("aqualab sync-demo: --samples must be >= 0", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        store = LocalStore(args.db, device_id=args.device_id)
    except ValueError as exc:
        print(f"aqualab sync-demo: {exc}", file=sys.stderr)
        return 2
    try:
        before = store.pending_count()
        create_offline_samples(store, args.samples, random.Random(args.seed))  # noqa: S311
        _say(
            f"device {store.device_id}: created {args.samples} samples and "
            f"{3 * args.samples} results offline; {store.pending_count()} mutations queued "
            f"({before} from earlier runs) in {args.db}"
        )
        client = SyncClient(
            args.server,
            store,
            credentials=(args.email, args.password),
            transport=transport,
            batch_size=args.batch_size,
            pull_limit=args.pull_limit,
            progress=_progress(store),
        )
        try:
            summary = client.sync()
            status = client.status()
        finally:
            client.close()
        report = {
            "device_id": store.device_id,
            "summary": summary.as_dict(),
            "server_status": status,
            "local": {
                "samples": len(store.all("sample")),
                "results": len(store.all("result")),
                "rejections": len(store.rejections()),
                "conflicts": len(store.conflicts()),
            },
            "content_hash": {e: store.content_hash(e) for e in ("sample", "result")},
        }
        print(json.dumps(report, indent=2, ensure_ascii=False), file=out)
        return 0
    except (SyncError, ValueError) as exc:
        print(f"aqualab sync-demo: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _progress(store: LocalStore) -> Callable[[SyncSummary], None]:
    def show(summary: SyncSummary) -> None:
        _say(
            f"round trip {summary.round_trips}: acknowledged {summary.pushed} "
            f"(applied {summary.applied}, duplicate {summary.duplicates}, "
            f"conflict {summary.conflicts}, rejected {summary.rejected}), "
            f"{store.pending_count()} left; pulled {summary.pulled}"
        )

    return show


def _say(message: str) -> None:
    print(f"sync-demo: {message}", file=sys.stderr, flush=True)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
