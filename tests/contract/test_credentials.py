"""Sessions, refresh tokens and password-reset tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

from domain.model import AuthSession, PasswordResetToken, RefreshToken, User
from entrypoints.container import Container
from tests.factories import T0, UserFactory

DAY = timedelta(days=1)


def _session(user: User, **overrides: object) -> AuthSession:
    values: dict[str, object] = {
        "id": uuid4(),
        "user_id": user.id,
        "created_at": T0,
        "expires_at": T0 + DAY,
    }
    values.update(overrides)
    return AuthSession(**values)  # type: ignore[arg-type]


def test_sessions_add_get_and_revoke_all_for_user(
    container: Container, user: User, save: Callable[..., None]
) -> None:
    other = UserFactory()
    save(other)
    earlier = T0 - timedelta(hours=5)
    mine = [_session(user), _session(user), _session(user, revoked_at=earlier)]
    theirs = _session(other)
    with container.uow() as uow:
        for s in [*mine, theirs]:
            uow.sessions.add(s)
        uow.commit()

    with container.uow() as uow:
        stored = uow.sessions.get(mine[0].id)
        assert stored is not None
        assert (stored.user_id, stored.created_at, stored.expires_at) == (user.id, T0, T0 + DAY)
        assert stored.is_active(T0 + timedelta(hours=1))
        assert uow.sessions.get(uuid4()) is None

    now = T0 + timedelta(hours=2)
    with container.uow() as uow:
        loaded = uow.sessions.get(mine[0].id)
        assert loaded is not None
        assert uow.sessions.revoke_all_for_user(user.id, now) == 2  # the revoked one is skipped
        assert loaded.revoked_at == now  # a record already loaded sees the change
        uow.commit()

    with container.uow() as uow:
        revoked = [uow.sessions.get(s.id) for s in mine]
        assert [s.revoked_at for s in revoked if s] == [now, now, earlier]
        untouched = uow.sessions.get(theirs.id)
        assert untouched is not None
        assert untouched.revoked_at is None
        assert uow.sessions.revoke_all_for_user(user.id, now) == 0


def test_revoking_without_commit_changes_nothing(container: Container, user: User) -> None:
    session = _session(user)
    with container.uow() as uow:
        uow.sessions.add(session)
        uow.commit()
    with container.uow() as uow:
        assert uow.sessions.revoke_all_for_user(user.id, T0) == 1
    with container.uow() as uow:
        stored = uow.sessions.get(session.id)
        assert stored is not None
        assert stored.revoked_at is None


def test_refresh_tokens_by_hash(container: Container, user: User) -> None:
    session = _session(user)
    token = RefreshToken(
        id=uuid4(),
        session_id=session.id,
        user_id=user.id,
        token_hash="hash-a",
        created_at=T0,
        expires_at=T0 + 7 * DAY,
    )
    with container.uow() as uow:
        uow.sessions.add(session)
        uow.refresh_tokens.add(token)
        uow.commit()

    rotated = T0 + timedelta(minutes=5)
    with container.uow() as uow:
        assert uow.refresh_tokens.get_by_hash_for_update("hash-b") is None
        assert uow.refresh_tokens.get_by_hash_for_update("HASH-A") is None  # exact match
        found = uow.refresh_tokens.get_by_hash_for_update("hash-a")
        assert found is not None
        assert (found.id, found.session_id, found.user_id) == (token.id, session.id, user.id)
        assert found.expires_at == T0 + 7 * DAY
        assert not found.was_used()
        found.rotated_at = rotated
        uow.commit()

    with container.uow() as uow:
        found = uow.refresh_tokens.get_by_hash_for_update("hash-a")
        assert found is not None
        assert found.was_used()
        assert found.rotated_at == rotated


def _reset(user: User, token_hash: str, **overrides: object) -> PasswordResetToken:
    values: dict[str, object] = {
        "id": uuid4(),
        "user_id": user.id,
        "token_hash": token_hash,
        "created_at": T0,
        "expires_at": T0 + timedelta(hours=1),
    }
    values.update(overrides)
    return PasswordResetToken(**values)  # type: ignore[arg-type]


def test_reset_tokens_invalidate_all_for_user(
    container: Container, user: User, save: Callable[..., None]
) -> None:
    other = UserFactory()
    save(other)
    used_before = T0 - timedelta(minutes=30)
    with container.uow() as uow:
        uow.reset_tokens.add(_reset(user, "r1"))
        uow.reset_tokens.add(_reset(user, "r2"))
        uow.reset_tokens.add(_reset(user, "r3", used_at=used_before))
        uow.reset_tokens.add(_reset(other, "r4"))
        uow.commit()

    with container.uow() as uow:
        r1 = uow.reset_tokens.get_by_hash_for_update("r1")
        assert r1 is not None
        assert r1.is_usable(T0 + timedelta(minutes=1))
        assert not r1.is_usable(T0 + timedelta(hours=2))  # expired
        assert uow.reset_tokens.get_by_hash_for_update("missing") is None

    now = T0 + timedelta(minutes=10)
    with container.uow() as uow:
        loaded = uow.reset_tokens.get_by_hash_for_update("r1")
        uow.reset_tokens.invalidate_all_for_user(user.id, now)
        assert loaded is not None
        assert loaded.used_at == now
        uow.commit()

    with container.uow() as uow:
        used = {h: uow.reset_tokens.get_by_hash_for_update(h) for h in ("r1", "r2", "r3", "r4")}
        assert {h: t.used_at for h, t in used.items() if t} == {
            "r1": now,
            "r2": now,
            "r3": used_before,  # an already used token keeps its own time
            "r4": None,  # another user's token is untouched
        }
        assert not any(t.is_usable(now) for h, t in used.items() if t and h != "r4")


def test_revoke_all_includes_sessions_added_in_the_same_transaction(
    container: Container, user: User
) -> None:
    fresh = _session(user)
    with container.uow() as uow:
        uow.sessions.add(fresh)
        assert uow.sessions.revoke_all_for_user(user.id, T0) == 1
        uow.commit()
    with container.uow() as uow:
        stored = uow.sessions.get(fresh.id)
        assert stored is not None
        assert stored.revoked_at == T0


def test_session_with_its_live_user_in_one_lookup(
    container: Container, user: User, save: Callable[..., None]
) -> None:
    session = _session(user)
    gone = UserFactory(deleted_at=T0)
    save(gone)
    orphan = _session(gone)
    with container.uow() as uow:
        uow.sessions.add(session)
        uow.sessions.add(orphan)
        uow.commit()

    with container.uow() as uow:
        found = uow.sessions.get_with_user(session.id)
        assert found is not None
        stored_session, stored_user = found
        assert (stored_session.id, stored_user.id, stored_user.email) == (
            session.id,
            user.id,
            user.email,
        )
        assert uow.sessions.get_with_user(orphan.id) is None  # a deleted user's session is dead
        assert uow.sessions.get_with_user(uuid4()) is None
