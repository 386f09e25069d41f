"""Identity use cases: register, login, refresh, logout, password reset, authenticate."""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from application.auditing import Auditor
from application.context import Principal, RequestMeta
from application.views import Session, TokenPair, UserView
from domain.audit import AuditEntityType
from domain.errors import (
    AccountLocked,
    Conflict,
    EmailExists,
    InvalidCredentials,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)
from domain.model import AuthSession, PasswordResetToken, RefreshToken, User
from domain.ports import (
    AccessClaims,
    AccessTokenVerifier,
    AuthenticationCache,
    Clock,
    IdGenerator,
    Mailer,
    PasswordHasher,
    RateLimit,
    RateLimiter,
    TokenService,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.roles import Role
from domain.validation import email_problems, name_problems, normalize_email, password_problems


@dataclass(frozen=True)
class AuthSettings:
    refresh_ttl: timedelta = timedelta(days=7)
    reset_ttl: timedelta = timedelta(hours=1)
    lockout_attempts: int = 5
    lockout_duration: timedelta = timedelta(minutes=15)
    register_rate: RateLimit = RateLimit(5, 60)
    login_rate: RateLimit = RateLimit(10, 60)
    forgot_rate: RateLimit = RateLimit(5, 60)
    reset_url: str = "http://127.0.0.1:8000/reset-password"


@dataclass(frozen=True)
class AuthDeps:
    """What every identity use case needs; built once by the container."""

    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    hasher: PasswordHasher
    tokens: TokenService
    rate_limiter: RateLimiter
    mailer: Mailer
    settings: AuthSettings
    # Who may sign access tokens: AquaLab itself (`tokens`) unless the container adds
    # another issuer, such as a Better Auth front end, behind the same port.
    verifier: AccessTokenVerifier | None = None
    # Sessions with their users kept between requests; None reads them every time.
    auth_cache: AuthenticationCache | None = None

    @property
    def access_verifier(self) -> AccessTokenVerifier:
        return self.verifier or self.tokens


def hash_secret(secret: str) -> str:
    """Refresh and reset tokens are random and long, so a fast hash is enough (no salt needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _enforce_rate(deps: AuthDeps, action: str, meta: RequestMeta, rule: RateLimit) -> None:
    decision = deps.rate_limiter.hit(f"{action}:{meta.client_ip or 'unknown'}", rule)
    if not decision.allowed:
        raise RateLimited(decision.retry_after_seconds)


def _start_session(deps: AuthDeps, uow: UnitOfWork, user: User) -> TokenPair:
    now = deps.clock.now()
    session = AuthSession(
        id=deps.ids.new_id(),
        user_id=user.id,
        created_at=now,
        expires_at=now + deps.settings.refresh_ttl,
    )
    uow.sessions.add(session)
    return _issue_pair(deps, uow, user, session)


def _issue_pair(deps: AuthDeps, uow: UnitOfWork, user: User, session: AuthSession) -> TokenPair:
    now = deps.clock.now()
    refresh_secret = secrets.token_urlsafe(32)
    uow.refresh_tokens.add(
        RefreshToken(
            id=deps.ids.new_id(),
            session_id=session.id,
            user_id=user.id,
            token_hash=hash_secret(refresh_secret),
            created_at=now,
            expires_at=now + deps.settings.refresh_ttl,
        )
    )
    session.expires_at = now + deps.settings.refresh_ttl
    access = deps.tokens.issue_access(user, session.id, now)
    return TokenPair(
        access_token=access.token, refresh_token=refresh_secret, expires_in=access.expires_in
    )


@dataclass(frozen=True)
class RegisterCommand:
    email: str
    password: str
    name: str


class Register:
    def __init__(self, deps: AuthDeps):
        self._deps = deps

    def __call__(self, cmd: RegisterCommand, meta: RequestMeta) -> Session:
        deps = self._deps
        problems = {
            "email": email_problems(cmd.email),
            "password": password_problems(cmd.password),
            "name": name_problems(cmd.name),
        }
        if any(problems.values()):
            raise ValidationFailed({k: v for k, v in problems.items() if v})
        _enforce_rate(deps, "register", meta, deps.settings.register_rate)
        email = normalize_email(cmd.email)
        password_hash = deps.hasher.hash(cmd.password)
        with deps.uow() as uow:
            if uow.users.get_by_email(email) is not None:
                raise EmailExists()
            now = deps.clock.now()
            user = User(
                id=deps.ids.new_id(),
                email=email,
                name=cmd.name.strip(),
                role=Role.VIEWER,
                lab_id=None,
                password_hash=password_hash,
                created_at=now,
                updated_at=now,
            )
            uow.users.add(user)
            Auditor(uow, deps.clock, user.id, meta).created(
                AuditEntityType.USER, user.id, user.snapshot()
            )
            tokens = _start_session(deps, uow, user)
            try:
                uow.commit()
            except Conflict as exc:  # a concurrent registration won the race for this email
                raise EmailExists() from exc
            return Session(user=UserView.of(user), tokens=tokens)


@dataclass(frozen=True)
class LoginCommand:
    email: str
    password: str


class Login:
    def __init__(self, deps: AuthDeps):
        self._deps = deps

    def __call__(self, cmd: LoginCommand, meta: RequestMeta) -> Session:
        deps = self._deps
        _enforce_rate(deps, "login", meta, deps.settings.login_rate)
        with deps.uow() as uow:
            user = uow.users.get_by_email(normalize_email(cmd.email))
            if user is None or not user.can_sign_in():
                deps.hasher.dummy_verify()
                raise InvalidCredentials()
            now = deps.clock.now()
            if user.is_locked(now):
                raise AccountLocked(_seconds_until(user, now))
            matches, upgraded_hash = deps.hasher.verify(cmd.password, user.password_hash)
            if not matches:
                user.record_failed_login(
                    now,
                    max_attempts=deps.settings.lockout_attempts,
                    lock_for=deps.settings.lockout_duration,
                )
                uow.commit()
                if user.is_locked(now):
                    raise AccountLocked(_seconds_until(user, now))
                raise InvalidCredentials()
            if upgraded_hash is not None:
                user.password_hash = upgraded_hash
            user.record_successful_login(now)
            tokens = _start_session(deps, uow, user)
            uow.commit()
            return Session(user=UserView.of(user), tokens=tokens)


def _seconds_until(user: User, now: datetime) -> int:
    assert user.locked_until is not None
    return max(1, math.ceil((user.locked_until - now).total_seconds()))


class Refresh:
    def __init__(self, deps: AuthDeps):
        self._deps = deps

    def __call__(self, refresh_token: str) -> TokenPair:
        deps = self._deps
        with deps.uow() as uow:
            now = deps.clock.now()
            stored = uow.refresh_tokens.get_by_hash_for_update(hash_secret(refresh_token))
            if stored is None:
                raise Unauthenticated("Invalid refresh token")
            session = uow.sessions.get(stored.session_id)
            if session is None or not session.is_active(now):
                raise Unauthenticated("Session expired or revoked")
            if stored.was_used():
                # A rotated token came back: someone holds a copy. End the whole session.
                session.revoke(now)
                uow.commit()
                raise Unauthenticated("Refresh token reuse detected; the session was revoked")
            if stored.expires_at <= now:
                raise Unauthenticated("Refresh token expired")
            user = uow.users.get(stored.user_id)
            if user is None or not user.can_sign_in():
                raise Unauthenticated("Account disabled")
            stored.rotated_at = now
            pair = _issue_pair(deps, uow, user, session)
            uow.commit()
            return pair


class Logout:
    def __init__(self, deps: AuthDeps):
        self._deps = deps

    def __call__(self, principal: Principal) -> None:
        if principal.session_id is None:
            return
        with self._deps.uow() as uow:
            session = uow.sessions.get(principal.session_id)
            if session is not None:
                session.revoke(self._deps.clock.now())
                uow.commit()


class ForgotPassword:
    def __init__(self, deps: AuthDeps):
        self._deps = deps

    def __call__(self, email: str, meta: RequestMeta) -> None:
        """Always succeeds from the caller's view, so it reveals nothing about accounts."""
        deps = self._deps
        _enforce_rate(deps, "forgot", meta, deps.settings.forgot_rate)
        secret = secrets.token_urlsafe(32)
        with deps.uow() as uow:
            user = uow.users.get_by_email(normalize_email(email))
            if user is None or not user.can_sign_in():
                return
            now = deps.clock.now()
            uow.reset_tokens.invalidate_all_for_user(user.id, now)
            uow.reset_tokens.add(
                PasswordResetToken(
                    id=deps.ids.new_id(),
                    user_id=user.id,
                    token_hash=hash_secret(secret),
                    created_at=now,
                    expires_at=now + deps.settings.reset_ttl,
                )
            )
            uow.commit()
            recipient = user.email
        minutes = int(deps.settings.reset_ttl.total_seconds() // 60)
        deps.mailer.send(
            to=recipient,
            subject="Reset your AquaLab password",
            body=(
                "Someone asked to reset the password of your AquaLab account.\n\n"
                f"Open this link within {minutes} minutes to choose a new password:\n"
                f"{deps.settings.reset_url}?token={secret}\n\n"
                "If it was not you, ignore this message; your password stays unchanged.\n"
            ),
        )


@dataclass(frozen=True)
class ResetPasswordCommand:
    token: str
    password: str


class ResetPassword:
    def __init__(self, deps: AuthDeps):
        self._deps = deps

    def __call__(self, cmd: ResetPasswordCommand, meta: RequestMeta) -> None:
        deps = self._deps
        if problems := password_problems(cmd.password):
            raise ValidationFailed({"password": problems})
        new_hash = deps.hasher.hash(cmd.password)
        with deps.uow() as uow:
            now = deps.clock.now()
            stored = uow.reset_tokens.get_by_hash_for_update(hash_secret(cmd.token))
            invalid = ValidationFailed({"token": ["Invalid or expired reset token"]})
            if stored is None or not stored.is_usable(now):
                raise invalid
            user = uow.users.get(stored.user_id)
            if user is None or not user.can_sign_in():
                raise invalid
            stored.used_at = now
            user.password_hash = new_hash
            user.failed_login_count = 0
            user.locked_until = None
            user.touch(now)
            uow.sessions.revoke_all_for_user(user.id, now)
            Auditor(uow, deps.clock, user.id, meta).updated(
                AuditEntityType.USER,
                user.id,
                {"password": "[previous]"},
                {"password": "[reset by email link]"},
            )
            uow.commit()


@dataclass(frozen=True)
class Authenticated:
    """Who is calling (for authorization) and their profile (for `GET /auth/me`)."""

    principal: Principal
    user: UserView


class Authenticate:
    """Turn a bearer token into a Principal, checking the session and the user every time.

    A revoked session, or a deactivated or deleted user, is refused at once in every
    server process; role and lab come from the database. With an `auth_cache` (opt-in),
    the session and user may come from it instead; it drops them when the database's
    notification of a change arrives (ADR 0020). The checks below run on every request
    either way.
    A token from an external issuer has no session here: it names an AquaLab user by
    `sub`, and that user must exist and be allowed to sign in.
    """

    def __init__(self, deps: AuthDeps):
        self._deps = deps

    def __call__(self, token: str) -> Authenticated:
        claims = self._deps.access_verifier.verify_access(token)
        if claims.session_id is None:
            return self._external(claims)
        session, user = self._session_with_user(claims.session_id)
        if session.revoked_at is not None or user.id != claims.user_id:
            raise Unauthenticated("Token revoked")
        if not user.can_sign_in():
            raise Unauthenticated("Account disabled or removed")
        principal = Principal(
            user_id=user.id,
            role=user.role,
            lab_id=user.lab_id,
            token_id=claims.jti,
            session_id=session.id,
        )
        return Authenticated(principal, UserView.of(user))

    def _session_with_user(self, session_id: UUID) -> tuple[AuthSession, User]:
        cache = self._deps.auth_cache
        if cache is not None and (cached := cache.get(session_id)) is not None:
            return cached
        # Taken before the read: a change committed after it makes `put` drop what we read.
        ticket = cache.ticket() if cache is not None else None
        with self._deps.uow(read_only=True) as uow:
            found = uow.sessions.get_with_user(session_id)
        if found is None:
            raise Unauthenticated("Token revoked")
        if cache is not None:
            cache.put(session_id, found, ticket)
        return found

    def _external(self, claims: AccessClaims) -> Authenticated:
        with self._deps.uow(read_only=True) as uow:
            user = uow.users.get(claims.user_id)
            if user is None or not user.can_sign_in():
                raise Unauthenticated("Unknown, disabled or removed user")
            principal = Principal(
                user_id=user.id, role=user.role, lab_id=user.lab_id, token_id=claims.jti
            )
            return Authenticated(principal, UserView.of(user))
