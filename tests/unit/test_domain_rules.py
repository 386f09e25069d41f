"""Domain rules: users, sessions, versions, validation, paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.errors import PreconditionFailed, VersionConflict
from domain.model import AuthSession, ensure_version
from domain.paging import Page, PageRequest
from domain.validation import email_problems, name_problems, normalize_email, password_problems
from tests.factories import UserFactory

NOW = datetime(2025, 1, 18, 10, 30, tzinfo=UTC)


def test_lockout_after_max_attempts_then_counter_restarts() -> None:
    user = UserFactory()
    for _ in range(4):
        user.record_failed_login(NOW, max_attempts=5, lock_for=timedelta(minutes=15))
    assert not user.is_locked(NOW)
    user.record_failed_login(NOW, max_attempts=5, lock_for=timedelta(minutes=15))
    assert user.is_locked(NOW)
    assert user.is_locked(NOW + timedelta(minutes=14, seconds=59))
    assert not user.is_locked(NOW + timedelta(minutes=15))
    assert user.failed_login_count == 0


def test_successful_login_clears_failures() -> None:
    user = UserFactory()
    user.record_failed_login(NOW, max_attempts=5, lock_for=timedelta(minutes=15))
    user.record_successful_login(NOW)
    assert user.failed_login_count == 0 and user.last_login_at == NOW


def test_deleted_or_inactive_users_cannot_sign_in() -> None:
    assert UserFactory().can_sign_in()
    assert not UserFactory(is_active=False).can_sign_in()
    assert not UserFactory(deleted_at=NOW).can_sign_in()


def test_snapshot_never_contains_the_password_hash() -> None:
    user = UserFactory(password_hash="$argon2id$secret")
    assert "$argon2id$secret" not in str(user.snapshot())
    assert "password_hash" not in user.snapshot()


def test_session_revocation_is_idempotent_and_expiry_counts() -> None:
    session = AuthSession(
        id=uuid4(), user_id=uuid4(), created_at=NOW, expires_at=NOW + timedelta(days=1)
    )
    assert session.is_active(NOW)
    assert not session.is_active(NOW + timedelta(days=1))
    session.revoke(NOW)
    session.revoke(NOW + timedelta(hours=1))
    assert session.revoked_at == NOW and not session.is_active(NOW)


@pytest.mark.parametrize(
    ("if_match", "expected", "error"),
    [
        (None, None, None),
        (3, None, None),
        (None, 3, None),
        (2, None, PreconditionFailed),
        (None, 2, VersionConflict),
    ],
)
def test_ensure_version(
    if_match: int | None, expected: int | None, error: type[Exception] | None
) -> None:
    if error is None:
        ensure_version(3, if_match=if_match, expected=expected)
    else:
        with pytest.raises(error) as caught:
            ensure_version(3, if_match=if_match, expected=expected)
        assert caught.value.details == {"current_version": 3}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("password", "problems"),
    [
        ("Passw0rd", 0),
        ("short1A", 1),
        ("alllowercase1", 1),
        ("NoDigitsHere", 1),
        ("abc", 3),
        ("A1" + "x" * 127, 1),
    ],
)
def test_password_policy(password: str, problems: int) -> None:
    assert len(password_problems(password)) == problems


def test_email_and_name_rules() -> None:
    assert email_problems("ana@lab.ma") == []
    assert email_problems("not-an-email") == ["Invalid email format"]
    assert email_problems("a@b") == ["Invalid email format"]
    assert normalize_email("  Ana@Lab.MA ") == "ana@lab.ma"
    assert name_problems("   ") == ["Name must not be empty"]
    assert name_problems("x" * 201) != []


def test_page_arithmetic() -> None:
    request = PageRequest.from_page(3, 20)
    assert (request.offset, request.page) == (40, 3)
    page = Page(items=list(range(20)), total=65, request=request)
    assert page.total_pages == 4 and page.has_more
    last = Page(items=list(range(5)), total=65, request=PageRequest.from_page(4, 20))
    assert not last.has_more
    assert Page(items=[], total=0, request=PageRequest()).total_pages == 0
