"""The session cache's rules, with the listener's reports made by hand, and `Authenticate`
using it: what a notification drops, when a read may not be kept, when nothing is served,
and that the revocation and account checks still run on a cached session."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from adapters.auth_cache import ListeningAuthenticationCache, NoAuthenticationCache
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from application import auth
from domain.errors import Unauthenticated
from domain.model import AuthSession, User
from domain.roles import Role
from tests.factories import UserFactory
from tests.unit.conftest import World


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _found(user: User | None = None) -> tuple[AuthSession, User]:
    user = user or UserFactory.build()
    now = datetime.now(UTC)
    session = AuthSession(
        id=uuid.uuid4(), user_id=user.id, created_at=now, expires_at=now + timedelta(days=7)
    )
    return session, user


def _live_cache(**options: float) -> ListeningAuthenticationCache:
    cache = ListeningAuthenticationCache(**options)  # type: ignore[arg-type]
    cache.listening(None)
    return cache


def _kept(cache: ListeningAuthenticationCache, found: tuple[AuthSession, User]) -> None:
    cache.put(found[0].id, found, cache.ticket())


def test_a_notification_drops_that_users_sessions_only() -> None:
    cache = _live_cache()
    ana = UserFactory.build()
    phone, laptop, other = _found(ana), _found(ana), _found()
    for found in (phone, laptop, other):
        _kept(cache, found)
    assert cache.get(phone[0].id) is phone

    cache.reading()
    cache.notified([str(ana.id)])

    assert cache.get(phone[0].id) is None
    assert cache.get(laptop[0].id) is None
    assert cache.get(other[0].id) is other


def test_an_unreadable_payload_drops_everything() -> None:
    cache = _live_cache()
    first, second = _found(), _found()
    _kept(cache, first)
    _kept(cache, second)
    cache.notified(["*"])
    assert cache.get(first[0].id) is None and cache.get(second[0].id) is None
    assert len(cache) == 0


def test_a_read_that_raced_a_notification_is_not_kept() -> None:
    cache = _live_cache()
    found = _found()
    ticket = cache.ticket()  # taken, then the database read...
    cache.notified([str(uuid.uuid4())])  # ...a change lands (any user's)...
    cache.put(found[0].id, found, ticket)  # ...before the rows are kept
    assert cache.get(found[0].id) is None

    cache.put(found[0].id, found, cache.ticket())
    assert cache.get(found[0].id) is found


def test_nothing_is_served_while_notifications_are_being_read() -> None:
    cache = _live_cache()
    found = _found()
    _kept(cache, found)
    cache.reading()
    assert cache.get(found[0].id) is None
    cache.notified([])
    assert cache.get(found[0].id) is found


def test_nothing_is_served_while_the_listener_socket_has_unread_bytes() -> None:
    listener_end, database_end = socket.socketpair()
    with listener_end, database_end:
        cache = ListeningAuthenticationCache()
        cache.listening(listener_end.fileno())
        found = _found()
        _kept(cache, found)
        assert cache.get(found[0].id) is found

        database_end.sendall(b"A notification on its way")
        assert cache.get(found[0].id) is None

        listener_end.recv(100)
        assert cache.get(found[0].id) is found


def test_before_listening_and_after_losing_the_listener_nothing_is_kept_or_served() -> None:
    cache = ListeningAuthenticationCache()
    found = _found()
    assert cache.ticket() is None
    cache.put(found[0].id, found, cache.ticket())
    cache.put(found[0].id, found, 0)
    assert cache.get(found[0].id) is None and len(cache) == 0

    cache.listening(None)
    _kept(cache, found)
    assert cache.get(found[0].id) is found

    cache.lost()
    assert cache.ticket() is None and cache.get(found[0].id) is None and len(cache) == 0


def test_a_reconnect_starts_empty_and_refuses_reads_from_before_it() -> None:
    cache = _live_cache()
    kept, in_flight = _found(), _found()
    _kept(cache, kept)
    ticket_before = cache.ticket()
    cache.listening(None)  # a new LISTEN: what happened before it was never heard
    assert cache.get(kept[0].id) is None and len(cache) == 0
    _kept(cache, kept)
    cache.lost()
    cache.listening(None)
    assert cache.get(kept[0].id) is None
    cache.put(in_flight[0].id, in_flight, ticket_before)
    assert cache.get(in_flight[0].id) is None


def test_the_cache_is_bounded() -> None:
    cache = _live_cache(max_entries=3)
    entries = [_found() for _ in range(7)]
    for found in entries:
        _kept(cache, found)
        assert len(cache) <= 3
    assert cache.get(entries[-1][0].id) is entries[-1]


def test_old_entries_miss() -> None:
    clock = FakeMonotonic()
    cache = ListeningAuthenticationCache(max_age_seconds=60, monotonic=clock)
    cache.listening(None)
    found = _found()
    _kept(cache, found)
    clock.now += 59
    cache.confirmed(clock.now)  # the listener's heartbeats keep the lease
    assert cache.get(found[0].id) is found
    clock.now += 2
    cache.confirmed(clock.now)
    assert cache.get(found[0].id) is None


def test_nothing_is_served_once_the_listener_has_not_been_heard_from_for_a_lease() -> None:
    clock = FakeMonotonic()
    cache = ListeningAuthenticationCache(lease_seconds=3, monotonic=clock)
    cache.listening(None, confirmed_at=clock.now - 0.5)  # the registration's round trip
    found = _found()
    _kept(cache, found)
    clock.now += 2.5
    assert cache.get(found[0].id) is found
    clock.now += 0.1
    assert cache.get(found[0].id) is None  # 3.1 s since the round trip was sent
    cache.confirmed(clock.now - 4)  # an old round trip's answer renews nothing
    assert cache.get(found[0].id) is None
    cache.confirmed(clock.now - 0.2)
    assert cache.get(found[0].id) is found


def test_a_probe_is_acknowledged_not_read_as_a_user() -> None:
    cache = _live_cache()
    ana, other = _found(), _found()
    for found in (ana, other):
        _kept(cache, found)
    probe = cache.notified(["probe:41", str(ana[1].id), "probe:57", "probe:junk"])
    assert probe == 57  # the highest, acknowledged once what came with it is applied
    assert cache.get(ana[0].id) is None and cache.get(other[0].id) is other
    assert cache.notified([str(other[1].id)]) is None


def test_no_cache_keeps_nothing() -> None:
    cache = NoAuthenticationCache()
    found = _found()
    cache.put(found[0].id, found, cache.ticket())
    assert cache.ticket() is None and cache.get(found[0].id) is None


# --- Authenticate with a cache ------------------------------------------------------------


class CountingUnitsOfWork:
    def __init__(self, world: World):
        self.world = world
        self.opened = 0
        self.while_reading: Callable[[], None] = lambda: None

    def __call__(self, *, read_only: bool = False) -> InMemoryUnitOfWork:
        self.opened += 1
        self.while_reading()
        return self.world.uow(read_only=read_only)


@pytest.fixture
def cache() -> ListeningAuthenticationCache:
    return _live_cache()


def _authenticate(world: World, cache: ListeningAuthenticationCache) -> tuple[
    auth.Authenticate, CountingUnitsOfWork
]:  # fmt: skip
    units = CountingUnitsOfWork(world)
    return auth.Authenticate(replace(world.auth, uow=units, auth_cache=cache)), units


def _signed_in_and_cached(world: World, cache: ListeningAuthenticationCache) -> tuple[
    str, auth.Authenticate, CountingUnitsOfWork, UUID, tuple[AuthSession, User]
]:  # fmt: skip
    """A new user's token, checked once: its session and user are now in the cache."""
    token = world.register().tokens.access_token
    authenticate, units = _authenticate(world, cache)
    session_id = authenticate(token).principal.session_id
    assert session_id is not None
    cached = cache.get(session_id)
    assert cached is not None
    return token, authenticate, units, session_id, cached


def test_a_cached_session_is_served_without_a_unit_of_work(
    world: World, cache: ListeningAuthenticationCache
) -> None:
    token = world.register().tokens.access_token
    authenticate, units = _authenticate(world, cache)

    first = authenticate(token)
    assert units.opened == 1 and len(cache) == 1
    second = authenticate(token)
    assert units.opened == 1
    assert second.principal == first.principal and second.user == first.user


def test_a_cached_session_is_refused_once_revoked(
    world: World, cache: ListeningAuthenticationCache
) -> None:
    token, authenticate, units, _, cached = _signed_in_and_cached(world, cache)
    cached[0].revoked_at = datetime.now(UTC)  # as the database would now say

    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(token)
    assert units.opened == 1  # refused from the cache: the check ran on the cached objects


@pytest.mark.parametrize("change", ["deactivated", "deleted"])
def test_a_cached_session_is_refused_once_the_user_cannot_sign_in(
    world: World, cache: ListeningAuthenticationCache, change: str
) -> None:
    token, authenticate, units, _, cached = _signed_in_and_cached(world, cache)
    if change == "deactivated":
        cached[1].is_active = False
    else:
        cached[1].deleted_at = datetime.now(UTC)

    with pytest.raises(Unauthenticated, match="disabled or removed"):
        authenticate(token)
    assert units.opened == 1


def test_a_cached_session_of_another_user_is_refused(
    world: World, cache: ListeningAuthenticationCache
) -> None:
    token, authenticate, _, session_id, cached = _signed_in_and_cached(world, cache)
    stranger = UserFactory.build(role=Role.ADMIN)
    cache.put(session_id, (cached[0], stranger), cache.ticket())

    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(token)


def test_after_a_notification_the_next_request_reads_the_database(
    world: World, cache: ListeningAuthenticationCache
) -> None:
    session = world.register()
    authenticate, units = _authenticate(world, cache)
    authenticate(session.tokens.access_token)
    auth.Logout(world.auth)(authenticate(session.tokens.access_token).principal)
    cache.notified([str(session.user.id)])  # what migration 0010's trigger announces

    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(session.tokens.access_token)
    assert units.opened == 2


def test_a_read_during_which_a_change_was_announced_is_not_kept(
    world: World, cache: ListeningAuthenticationCache
) -> None:
    session = world.register()
    authenticate, units = _authenticate(world, cache)
    units.while_reading = lambda: cache.notified([str(session.user.id)])

    authenticate(session.tokens.access_token)
    assert len(cache) == 0
    units.while_reading = lambda: None
    authenticate(session.tokens.access_token)
    assert len(cache) == 1 and units.opened == 2


def test_an_unknown_session_is_not_kept(world: World, cache: ListeningAuthenticationCache) -> None:
    session = world.register()
    authenticate, units = _authenticate(world, cache)
    world.store.tables["sessions"].clear()  # the session is gone altogether

    for _ in range(2):
        with pytest.raises(Unauthenticated):
            authenticate(session.tokens.access_token)
    assert units.opened == 2 and len(cache) == 0
