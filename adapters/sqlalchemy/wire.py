"""Samples and results as JSON built by PostgreSQL, in the shape the API sends them.

Building a record's JSON in Python (decoding the row's UUIDs, timestamps and floats,
then encoding them again) costs more than the statement that reads it; PostgreSQL
writes the same JSON from the row directly. Used where records are read only to be
sent: a pull's records (the entities' `wire()`), `GET /samples/{id}` (`SampleView` with
its results). tests/integration/test_sync_feed.py and tests/contract/test_lab_data.py pin
the JSON to what the Python side builds, field by field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by

from adapters.sqlalchemy import tables

_STAMPS = ("collection_date", "test_date", "created_at", "updated_at")
SAMPLE_FIELDS = ("id", "lab_id", "type", "location", "latitude", "longitude", "collection_date",
                 "collector_name", "status", "compliance_status", "notes", "version",
                 "created_at", "created_by", "updated_at", "updated_by")  # fmt: skip
RESULT_FIELDS = ("id", "sample_id", "parameter", "value", "qualifier", "detection_limit", "unit",
                 "test_date", "technician_name", "test_method", "compliance_status",
                 "evaluations", "notes", "version", "created_at", "created_by", "updated_at",
                 "updated_by")  # fmt: skip


def _sql(literal: str) -> Any:
    """A constant written into the SQL text: sent as parameters, this statement's sixty
    constants cost more to bind than its row to read, and hide them from the planner."""
    return sa.literal_column(literal)


def _iso(column: Any) -> Any:
    """A timestamp as the API writes it (Python's isoformat in UTC, `Z`): micro-seconds
    only when there are any. One `to_char`, then an empty fraction cut: ~1.4 µs per
    timestamp in PostgreSQL, against 1.8 to 2.3 µs for testing the micro-seconds first and
    formatting twice."""
    utc = sa.func.timezone(_sql("'UTC'"), column)
    written = sa.func.to_char(utc, _sql("""'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""))
    return sa.func.replace(written, _sql("'.000000Z'"), _sql("'Z'"))


def json_object(table: sa.FromClause, fields: Sequence[str], *more: Any) -> Any:
    """`json_build_object` of the row's fields in order (timestamps as `_iso`), then `more`
    (name, value, name, value …)."""
    c = table.c
    pairs: list[Any] = []
    for name in fields:
        pairs += [_sql(f"'{name}'"), _iso(c[name]) if name in _STAMPS else c[name]]
    return sa.func.json_build_object(*pairs, *more)


def sample_with_results_object(samples: sa.FromClause) -> Any:
    """The sample's JSON with `results`: its live results, oldest test first (ties by id),
    as `SampleRepository.get_with_results` orders them."""
    r = tables.test_results.alias("live_result")
    results = (
        sa.select(
            sa.func.coalesce(
                sa.func.json_agg(
                    aggregate_order_by(json_object(r, RESULT_FIELDS), r.c.test_date, r.c.id)
                ),
                sa.text("'[]'::json"),
            )
        )
        .where(r.c.sample_id == samples.c.id, r.c.deleted_at.is_(None))
        .scalar_subquery()
    )
    return json_object(samples, SAMPLE_FIELDS, _sql("'results'"), results)
