"""PostgresRateLimiter: one limit shared by every process that uses the database."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy.engine import make_engine
from adapters.sqlalchemy.rate_limiter import PostgresRateLimiter
from domain.ports import RateLimit

pytestmark = pytest.mark.integration

DAY = 86_400


@pytest.fixture
def two_processes(clean_db: str) -> Iterator[tuple[PostgresRateLimiter, PostgresRateLimiter]]:
    """Two limiters on two separate engines (connection pools), as two servers would have."""
    first, second = make_engine(clean_db, pool_size=6), make_engine(clean_db, pool_size=6)
    yield PostgresRateLimiter(first), PostgresRateLimiter(second)
    first.dispose()
    second.dispose()


def test_alternating_hits_share_one_limit(
    two_processes: tuple[PostgresRateLimiter, PostgresRateLimiter],
) -> None:
    one, two = two_processes
    rule = RateLimit(limit=5, window_seconds=DAY)
    key = f"login:{uuid4()}"
    decisions = [(one if n % 2 == 0 else two).hit(key, rule) for n in range(8)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0, 0]
    assert all(d.retry_after_seconds >= 1 for d in decisions[5:])
    # the other key is still untouched, in either process
    assert two.hit(f"login:{uuid4()}", rule).allowed


def test_concurrent_hits_from_both_processes_allow_exactly_the_limit(
    two_processes: tuple[PostgresRateLimiter, PostgresRateLimiter],
) -> None:
    limiters = two_processes
    rule = RateLimit(limit=7, window_seconds=DAY)
    key = f"register:{uuid4()}"
    with ThreadPoolExecutor(max_workers=10) as pool:
        decisions = list(pool.map(lambda n: limiters[n % 2].hit(key, rule), range(20)))
    assert sum(d.allowed for d in decisions) == 7
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(7))


def test_hits_are_stored_in_the_database(
    two_processes: tuple[PostgresRateLimiter, PostgresRateLimiter], clean_db: str
) -> None:
    one, _ = two_processes
    key = f"forgot:{uuid4()}"
    for _ in range(3):
        one.hit(key, RateLimit(limit=10, window_seconds=DAY))
    engine = sa.create_engine(clean_db, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            count = conn.scalar(
                sa.text("SELECT count FROM rate_limit_hits WHERE key = :key"), {"key": key}
            )
    finally:
        engine.dispose()
    assert count == 3
