"""Statements and buffers of date-range lists, deterministic where timings are not:
`.venv/bin/python bench/list_buffers.py --database-url URL [--lab NAME] [--sort location]`.

Runs the repository's own `list()` for consecutive date ranges (default: ten ranges of
30 days, going back from now) of one lab, sorted by `--sort`, records every statement it
sends, then re-runs each under `EXPLAIN (ANALYZE, BUFFERS)` and prints, per range and in
all, the statements, the shared buffers they touched and their execution time. Needs a
database seeded by `aqualab seed-demo`. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.sqlalchemy.engine import make_engine
from adapters.sqlalchemy.lab_data import SqlAlchemySampleRepository
from adapters.sqlalchemy.records import RecordTracker
from domain.paging import Sort
from domain.ports import SampleQuery


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--lab", default="Bench Lab", help="the seeded lab's name")
    parser.add_argument("--sort", default="location", help="a sample sort field; -name: descending")
    parser.add_argument("--days", type=int, default=30, help="days per range (30)")
    parser.add_argument("--ranges", type=int, default=10, help="ranges (10)")
    args = parser.parse_args()

    engine = make_engine(args.database_url, pool_size=2)
    with engine.connect() as conn:
        lab = conn.execute(sa.text("SELECT id FROM labs WHERE name = :n"), {"n": args.lab}).scalar()
    if lab is None:
        raise SystemExit(f"no lab named {args.lab!r}")
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not statement.startswith("EXPLAIN"):  # the planner's estimate of a broad count
            sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    sort = Sort(args.sort.lstrip("-"), descending=args.sort.startswith("-"))
    now = datetime.now(UTC)
    totals = [0, 0, 0.0]
    for n in range(args.ranges):
        date_to = now - timedelta(days=n * args.days)
        query = SampleQuery(
            lab_id=lab, date_from=date_to - timedelta(days=args.days), date_to=date_to, sort=sort
        )
        sent.clear()
        with Session(engine) as session:
            page = SqlAlchemySampleRepository(session, RecordTracker(session)).list(query)
        statements = list(sent)
        buffers, ms = 0, 0.0
        with engine.connect() as conn:
            driver: Any = conn.connection.driver_connection
            for statement, parameters in statements:
                with driver.cursor() as cursor:
                    cursor.execute(
                        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
                    )
                    raw = cursor.fetchone()[0]
                plan = raw if isinstance(raw, list) else json.loads(raw)
                top = plan[0]["Plan"]
                buffers += top["Shared Hit Blocks"] + top["Shared Read Blocks"]
                ms += plan[0]["Execution Time"]
        print(
            f"{query.date_from:%Y-%m-%d}..{query.date_to:%Y-%m-%d}: total {page.total:6d}, "
            f"{len(statements)} statement(s), {buffers:6d} buffers, {ms:6.2f} ms"
        )
        totals[0] += len(statements)
        totals[1] += buffers
        totals[2] += ms
    print(f"all: {totals[0]} statements, {totals[1]} buffers, {totals[2]:.1f} ms of execution")
    engine.dispose()


if __name__ == "__main__":
    main()
