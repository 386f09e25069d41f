"""Verified access tokens are remembered per process (adapters/tokens.py RememberingVerifier):
a client's next request skips the signature check, never the expiry check."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from adapters.clock import FixedClock
from adapters.tokens import JwtTokenService, RememberingVerifier
from domain.errors import Unauthenticated
from domain.ports import AccessClaims
from tests.factories import UserFactory

SECRET = "remembered-token-secret-" + "x" * 24


class CountingVerifier:
    def __init__(self, inner: JwtTokenService):
        self.inner = inner
        self.calls = 0

    def verify_access(self, token: str) -> AccessClaims:
        self.calls += 1
        return self.inner.verify_access(token)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def service(clock: FixedClock) -> JwtTokenService:
    return JwtTokenService(SECRET, access_ttl=timedelta(minutes=15), clock=clock)


def _token(service: JwtTokenService, clock: FixedClock) -> str:
    return service.issue_access(UserFactory(), uuid.uuid4(), clock.now()).token


def test_a_verified_token_is_not_verified_again(
    service: JwtTokenService, clock: FixedClock
) -> None:
    counting = CountingVerifier(service)
    verifier = RememberingVerifier(counting, clock=clock)
    token = _token(service, clock)

    first = verifier.verify_access(token)
    again = verifier.verify_access(token)

    assert again == first
    assert counting.calls == 1


def test_a_remembered_token_still_expires(service: JwtTokenService, clock: FixedClock) -> None:
    counting = CountingVerifier(service)
    verifier = RememberingVerifier(counting, clock=clock, leeway_seconds=30)
    token = _token(service, clock)
    verifier.verify_access(token)

    clock.advance(timedelta(minutes=15, seconds=29))
    verifier.verify_access(token)  # inside the leeway: still good, still remembered
    assert counting.calls == 1
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthenticated):
        verifier.verify_access(token)


def test_a_bad_token_is_checked_every_time(service: JwtTokenService, clock: FixedClock) -> None:
    counting = CountingVerifier(service)
    verifier = RememberingVerifier(counting, clock=clock)
    forged = JwtTokenService("another-secret-" + "y" * 32, clock=clock)
    token = _token(forged, clock)

    for _ in range(2):
        with pytest.raises(Unauthenticated):
            verifier.verify_access(token)
    assert counting.calls == 2


def test_memory_is_bounded_and_forgetting_changes_no_answer(
    service: JwtTokenService, clock: FixedClock
) -> None:
    counting = CountingVerifier(service)
    verifier = RememberingVerifier(counting, clock=clock, max_tokens=3)
    tokens = [_token(service, clock) for _ in range(7)]

    claims = [verifier.verify_access(t) for t in tokens]
    again = [verifier.verify_access(t) for t in tokens]

    assert again == claims
    assert len(verifier._verified) <= 3
    assert counting.calls > len(tokens)  # some were forgotten and verified again
