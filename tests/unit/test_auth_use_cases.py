"""Identity use cases on in-memory adapters."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.passwords import PasslibPasswordHasher
from application import auth, users
from application.context import RequestMeta
from domain.audit import AuditAction, AuditEntityType
from domain.errors import (
    AccountLocked,
    EmailExists,
    InvalidCredentials,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)
from domain.ports import AuditQuery, RateLimit
from domain.roles import Role
from tests.unit.conftest import World


def test_register_creates_a_viewer_without_lab_and_signs_in(world: World) -> None:
    session = world.register()
    assert session.user.role == "viewer" and session.user.lab_id is None
    assert session.user.email == "ana@lab.ma"
    principal = auth.Authenticate(world.auth)(session.tokens.access_token).principal
    assert principal.user_id == session.user.id and principal.role is Role.VIEWER
    assert session.tokens.expires_in == 24 * 3600


def test_register_reports_every_problem_at_once(world: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        auth.Register(world.auth)(auth.RegisterCommand("bad", "short", " "), RequestMeta())
    assert set(caught.value.field_errors) == {"email", "password", "name"}
    with world.uow() as uow:
        assert (
            uow.users.list(__import__("domain.ports", fromlist=["UserQuery"]).UserQuery()).total
            == 0
        )


def test_register_duplicate_email_is_case_insensitive(world: World) -> None:
    world.register("ana@lab.ma")
    with pytest.raises(EmailExists):
        world.register("ANA@Lab.ma")


def test_register_is_audited_without_password(world: World) -> None:
    session = world.register(password="Sup3rSecretPw")
    with world.uow() as uow:
        entries = uow.audit.list(AuditQuery()).items
    assert [(e.entity_type, e.action) for e in entries] == [
        (AuditEntityType.USER, AuditAction.CREATE)
    ]
    assert entries[0].entity_id == str(session.user.id)
    assert "Sup3rSecretPw" not in str(entries[0].new_values) and "argon2" not in str(
        entries[0].new_values
    )


def test_login_wrong_password_and_unknown_email_look_the_same(world: World) -> None:
    world.register()
    with pytest.raises(InvalidCredentials) as wrong_password:
        world.login(password="Wrong1234")
    with pytest.raises(InvalidCredentials) as unknown:
        world.login(email="nobody@lab.ma")
    assert wrong_password.value.message == unknown.value.message


def test_lockout_after_five_failures_even_with_the_right_password(world: World) -> None:
    world.register()
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            world.login(password="Wrong1234")
    with pytest.raises(AccountLocked) as locked:
        world.login(password="Wrong1234")
    assert locked.value.retry_after_seconds == 15 * 60
    with pytest.raises(AccountLocked):
        world.login()
    world.clock.advance(timedelta(minutes=15))
    assert world.login().user.email == "ana@lab.ma"


def test_login_rate_limit_per_ip(world: World) -> None:
    world.register()
    strict = replace(world.auth, settings=replace(world.auth.settings, login_rate=RateLimit(2, 60)))
    login = auth.Login(strict)
    for _ in range(2):
        login(auth.LoginCommand("ana@lab.ma", "Passw0rdX"), RequestMeta(client_ip="1.1.1.1"))
    with pytest.raises(RateLimited) as limited:
        login(auth.LoginCommand("ana@lab.ma", "Passw0rdX"), RequestMeta(client_ip="1.1.1.1"))
    assert limited.value.retry_after_seconds >= 1
    login(auth.LoginCommand("ana@lab.ma", "Passw0rdX"), RequestMeta(client_ip="2.2.2.2"))


def test_bcrypt_hash_is_verified_and_upgraded_to_argon2id(world: World) -> None:
    import bcrypt

    session = world.register()
    with world.uow() as uow:
        user = uow.users.get(session.user.id)
        assert user is not None
        user.password_hash = bcrypt.hashpw(b"Passw0rdX", bcrypt.gensalt(rounds=4)).decode()
        uow.commit()
    world.login()
    with world.uow() as uow:
        user = uow.users.get(session.user.id)
        assert user is not None and user.password_hash.startswith("$argon2id$")
    world.login()


def test_refresh_rotates_and_reuse_revokes_the_session(world: World) -> None:
    first = world.register().tokens
    refresh = auth.Refresh(world.auth)
    second = refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    auth.Authenticate(world.auth)(second.access_token)
    with pytest.raises(Unauthenticated, match="reuse"):
        refresh(first.refresh_token)
    with pytest.raises(Unauthenticated):
        refresh(second.refresh_token)
    with pytest.raises(Unauthenticated):
        auth.Authenticate(world.auth)(second.access_token)


def test_refresh_token_expires(world: World) -> None:
    tokens = world.register().tokens
    world.clock.advance(timedelta(days=7, seconds=1))
    with pytest.raises(Unauthenticated):
        auth.Refresh(world.auth)(tokens.refresh_token)


def test_unknown_refresh_token(world: World) -> None:
    with pytest.raises(Unauthenticated):
        auth.Refresh(world.auth)("nope")


def test_logout_revokes_access_and_refresh_of_that_session_only(world: World) -> None:
    world.register()
    phone = world.login().tokens
    desktop = world.login().tokens
    principal = auth.Authenticate(world.auth)(phone.access_token).principal
    auth.Logout(world.auth)(principal)
    with pytest.raises(Unauthenticated):
        auth.Authenticate(world.auth)(phone.access_token)
    with pytest.raises(Unauthenticated):
        auth.Refresh(world.auth)(phone.refresh_token)
    auth.Authenticate(world.auth)(desktop.access_token)


def test_forgot_and_reset_password(world: World) -> None:
    session = world.register()
    auth.ForgotPassword(world.auth)("ANA@lab.ma", RequestMeta(client_ip="9.9.9.9"))
    assert len(world.mailer.sent) == 1
    mail = world.mailer.sent[0]
    assert mail.to == "ana@lab.ma"
    token = re.search(r"token=([\w-]+)", mail.body)
    assert token is not None
    reset = auth.ResetPassword(world.auth)
    reset(auth.ResetPasswordCommand(token.group(1), "N3wPassword"), RequestMeta())
    with pytest.raises(InvalidCredentials):
        world.login()
    assert world.login(password="N3wPassword")
    with pytest.raises(Unauthenticated):  # every session ended by the reset
        auth.Authenticate(world.auth)(session.tokens.access_token)
    with pytest.raises(ValidationFailed) as reused:
        reset(auth.ResetPasswordCommand(token.group(1), "An0therPass"), RequestMeta())
    assert "token" in reused.value.field_errors


def test_forgot_password_for_unknown_email_sends_nothing_and_succeeds(world: World) -> None:
    auth.ForgotPassword(world.auth)("ghost@lab.ma", RequestMeta())
    assert world.mailer.sent == []


def test_reset_token_expires_and_newer_request_invalidates_older(world: World) -> None:
    world.register()
    forgot = auth.ForgotPassword(world.auth)
    forgot("ana@lab.ma", RequestMeta())
    forgot("ana@lab.ma", RequestMeta())
    old, new = (re.search(r"token=([\w-]+)", m.body).group(1) for m in world.mailer.sent)  # type: ignore[union-attr]
    reset = auth.ResetPassword(world.auth)
    with pytest.raises(ValidationFailed):
        reset(auth.ResetPasswordCommand(old, "N3wPassword"), RequestMeta())
    world.clock.advance(timedelta(hours=1, seconds=1))
    with pytest.raises(ValidationFailed):
        reset(auth.ResetPasswordCommand(new, "N3wPassword"), RequestMeta())


def test_reset_rejects_a_weak_password_before_touching_the_token(world: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        auth.ResetPassword(world.auth)(auth.ResetPasswordCommand("whatever", "weak"), RequestMeta())
    assert "password" in caught.value.field_errors


def test_deactivated_and_deleted_users_lose_access_at_once(world: World) -> None:
    admin = world.admin()
    tech = users.CreateUser(world.users)(
        admin, users.CreateUserCommand("tech@lab.ma", "Passw0rdX", "Tech", Role.VIEWER)
    )
    token = world.login("tech@lab.ma").tokens.access_token
    users.UpdateUser(world.users)(admin, users.UpdateUserCommand(tech.id, is_active=False))
    with pytest.raises(Unauthenticated):
        auth.Authenticate(world.auth)(token)
    with pytest.raises(InvalidCredentials):
        world.login("tech@lab.ma")
    users.UpdateUser(world.users)(admin, users.UpdateUserCommand(tech.id, is_active=True))
    token = world.login("tech@lab.ma").tokens.access_token
    users.DeleteUser(world.users)(admin, tech.id)
    with pytest.raises(Unauthenticated):
        auth.Authenticate(world.auth)(token)


def test_role_change_applies_to_existing_tokens(world: World) -> None:
    admin = world.admin()
    viewer = users.CreateUser(world.users)(
        admin, users.CreateUserCommand("v@lab.ma", "Passw0rdX", "V", Role.VIEWER)
    )
    token = world.login("v@lab.ma").tokens.access_token
    users.UpdateUser(world.users)(admin, users.UpdateUserCommand(viewer.id, role=Role.ADMIN))
    assert auth.Authenticate(world.auth)(token).principal.role is Role.ADMIN


def test_tampered_and_foreign_tokens_are_rejected(world: World) -> None:
    from adapters.tokens import JwtTokenService

    token = world.register().tokens.access_token
    other = JwtTokenService("another-secret-another-secret-xx")
    with pytest.raises(Unauthenticated):
        other.verify_access(token)
    header, payload, signature = token.split(".")
    with pytest.raises(Unauthenticated):
        auth.Authenticate(world.auth)(f"{header}.{payload}x.{signature}")
    with pytest.raises(Unauthenticated):
        auth.Authenticate(world.auth)("not-a-jwt")


def test_alg_none_token_is_rejected(world: World) -> None:
    import jwt

    session = world.register()
    claims = world.auth.tokens.verify_access(session.tokens.access_token)
    forged = jwt.encode(
        {
            "iss": "aqualab",
            "sub": str(claims.user_id),
            "sid": str(claims.session_id),
            "jti": "x",
            "iat": 1,
            "exp": 4102444800,
        },
        key=None,
        algorithm="none",
    )
    with pytest.raises(Unauthenticated):
        auth.Authenticate(world.auth)(forged)


def test_expired_access_token(world: World) -> None:
    from datetime import UTC, datetime

    session = world.register()
    claims = world.auth.tokens.verify_access(session.tokens.access_token)
    with world.uow() as uow:
        user = uow.users.get(claims.user_id)
        assert user is not None
    old = world.auth.tokens.issue_access(user, claims.session_id, datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(Unauthenticated, match="expired"):
        auth.Authenticate(world.auth)(old.token)


def test_hasher_is_argon2id_and_rejects_garbage_hashes() -> None:
    hasher = PasslibPasswordHasher(memory_kib=1024, time_cost=1)
    digest = hasher.hash("Passw0rdX")
    assert digest.startswith("$argon2id$")
    assert hasher.verify("Passw0rdX", digest) == (True, None)
    assert hasher.verify("nope", digest)[0] is False
    assert hasher.verify("Passw0rdX", "garbage") == (False, None)


def test_smtp_mailer_delivers_through_a_local_server() -> None:
    """A tiny SMTP sink on loopback proves the SMTP adapter speaks the protocol."""
    import socket
    import threading

    from adapters.mail import SmtpMailer, SmtpSettings

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    received: list[str] = []

    def serve() -> None:
        conn, _ = listener.accept()
        stream = conn.makefile("rwb")

        def reply(line: str) -> None:
            stream.write(line.encode() + b"\r\n")
            stream.flush()

        reply("220 sink")
        data_mode, body = False, []
        for raw in stream:
            line = raw.decode().rstrip("\r\n")
            if data_mode:
                if line == ".":
                    data_mode = False
                    received.append("\n".join(body))
                    reply("250 queued")
                else:
                    body.append(line)
                continue
            verb = line.split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                reply("250 sink")
            elif verb == "DATA":
                data_mode = True
                reply("354 go")
            elif verb == "QUIT":
                reply("221 bye")
                break
            else:
                reply("250 ok")
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    mailer = SmtpMailer(
        SmtpSettings("127.0.0.1", port, None, None, False, "AquaLab <noreply@lab.ma>")
    )
    mailer.send(to="ana@lab.ma", subject="Reset", body="Open https://x/reset?token=abc\n")
    mailer.flush(timeout=5)
    thread.join(timeout=5)
    listener.close()
    assert received and "To: ana@lab.ma" in received[0] and "token=abc" in received[0]


def test_unknown_email_costs_one_password_verification_like_a_known_one(world: World) -> None:
    """Timing equality by construction: every failed login runs exactly one argon2 verify."""

    class CountingHasher:
        def __init__(self, inner: PasslibPasswordHasher):
            self.inner = inner
            self.verifications = 0

        def hash(self, password: str) -> str:
            return self.inner.hash(password)

        def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
            self.verifications += 1
            return self.inner.verify(password, password_hash)

        def dummy_verify(self) -> None:
            self.verifications += 1
            self.inner.dummy_verify()

    world.register()
    hasher = CountingHasher(PasslibPasswordHasher(memory_kib=1024, time_cost=1))
    login = auth.Login(replace(world.auth, hasher=hasher))
    for email in ("ana@lab.ma", "nobody@lab.ma"):
        before = hasher.verifications
        with pytest.raises(InvalidCredentials):
            login(auth.LoginCommand(email, "Wrong1234"), RequestMeta())
        assert hasher.verifications - before == 1, email
