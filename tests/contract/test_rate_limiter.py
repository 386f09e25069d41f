"""The auth rate limiter of each storage: InMemoryRateLimiter and PostgresRateLimiter."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.ports import RateLimit
from entrypoints.container import Container

# A long window, so the test never straddles a window boundary.
DAY = 86_400


@pytest.mark.parametrize("limit", [1, 3])
def test_allows_limit_hits_then_refuses_with_retry_after(container: Container, limit: int) -> None:
    limiter = container.auth_rate_limiter()
    rule = RateLimit(limit=limit, window_seconds=DAY)
    key = f"login:{uuid4()}"

    allowed = [limiter.hit(key, rule) for _ in range(limit)]
    assert [d.allowed for d in allowed] == [True] * limit
    assert [d.remaining for d in allowed] == list(range(limit - 1, -1, -1))
    assert all(d.retry_after_seconds == 0 for d in allowed)

    for _ in range(2):
        refused = limiter.hit(key, rule)
        assert refused.allowed is False
        assert refused.remaining == 0
        assert 1 <= refused.retry_after_seconds <= DAY


def test_keys_are_independent(container: Container) -> None:
    limiter = container.auth_rate_limiter()
    rule = RateLimit(limit=2, window_seconds=DAY)
    first, second = f"ip:{uuid4()}", f"ip:{uuid4()}"
    assert [limiter.hit(first, rule).allowed for _ in range(3)] == [True, True, False]
    assert [limiter.hit(second, rule).allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit(first, rule).allowed is False


def test_a_short_window_reports_a_short_retry_after(container: Container) -> None:
    limiter = container.auth_rate_limiter()
    rule = RateLimit(limit=1, window_seconds=2)
    key = f"register:{uuid4()}"
    first = limiter.hit(key, rule)
    decisions = [limiter.hit(key, rule) for _ in range(3)]
    # The first hit may open a new window right at a boundary; whatever window the
    # later hits fall in, a refusal never asks to wait longer than the window.
    refused = [d for d in decisions if not d.allowed]
    assert first.allowed
    assert refused
    assert all(1 <= d.retry_after_seconds <= 2 for d in refused)
