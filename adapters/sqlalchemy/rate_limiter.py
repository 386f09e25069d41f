"""A fixed-window rate limiter in PostgreSQL, so limits hold across server processes."""

from __future__ import annotations

import math

import sqlalchemy as sa

from domain.ports import RateDecision, RateLimit

_HIT = sa.text(
    """
    WITH w AS (
        SELECT extract(epoch FROM clock_timestamp()) AS now_s
    )
    INSERT INTO rate_limit_hits AS h (key, window_start, count, expires_at)
    SELECT :key, floor(w.now_s / :window)::bigint, 1,
           to_timestamp((floor(w.now_s / :window) + 1) * :window)
    FROM w
    ON CONFLICT (key, window_start) DO UPDATE SET count = h.count + 1
    RETURNING h.count, extract(epoch FROM h.expires_at - clock_timestamp()) AS seconds_left
    """
)


class PostgresRateLimiter:
    def __init__(self, engine: sa.Engine):
        self._engine = engine

    def hit(self, key: str, rule: RateLimit) -> RateDecision:
        with self._engine.begin() as conn:
            row = conn.execute(_HIT, {"key": key, "window": rule.window_seconds}).one()
        count, seconds_left = int(row[0]), float(row[1])
        allowed = count <= rule.limit
        retry_after = max(1, math.ceil(seconds_left))
        return RateDecision(allowed, max(0, rule.limit - count), 0 if allowed else retry_after)
