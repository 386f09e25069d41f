"""Engine construction and the database health probe."""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
import sqlalchemy as sa

from adapters.sqlalchemy.jsonb import jsonb_text
from domain.errors import StorageUnavailable


def make_engine(
    url: str, *, pool_size: int, pool_timeout: float = 5.0, echo: bool = False
) -> sa.Engine:
    """A pool sized to the serving threads (no overflow), failing fast when exhausted or down."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        echo=echo,
        # PostgreSQL's own $n placeholders, sent as they are: psycopg's default cursor
        # rewrites every statement's %(name)s placeholders in Python, which dominated the
        # cost of inserting a sync batch (one statement with thousands of them).
        paramstyle="numeric_dollar",
        # jsonb values (evaluations, field clocks, audit old/new values) in and out.
        json_serializer=jsonb_text,
        json_deserializer=orjson.loads,
        connect_args={
            "cursor_factory": psycopg.RawCursor,
            "connect_timeout": 3,
            "options": "-c timezone=UTC -c statement_timeout=30000",
            "application_name": "aqualab",
        },
    )
    return engine


class SqlHealthProbe:
    def __init__(self, engine: sa.Engine):
        self._engine = engine

    def check(self) -> dict[str, Any]:
        try:
            with self._engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # any failure to talk to the database means "not ready"
            raise StorageUnavailable() from exc
        pool = self._engine.pool
        return {
            "database": "ok",
            "pool_size": getattr(pool, "size", lambda: 0)(),
            "pool_checked_out": getattr(pool, "checkedout", lambda: 0)(),
        }
