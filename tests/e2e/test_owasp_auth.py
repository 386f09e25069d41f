"""OWASP API2 broken authentication: every kind of bad token is a 401, on a live server.

The server here runs on its own PostgreSQL database with Better Auth tokens enabled
(ADR 0012), so both verifiers are under attack. The test knows both signing keys (it
set them), which lets it forge tokens that are wrong in exactly one way: expired but
correctly signed, correctly signed for a revoked session or a removed user, signed with
the other issuer's key, re-signed with `alg: none`, HS512, RS256 or an attacker's key,
or edited after signing. Each is tried on representative endpoints (profile, lab data,
tasks, sync, an admin list, logout) and must get 401 `UNAUTHORIZED` in the SPEC's error
shape, while the genuine tokens of the same users keep working — so nothing passes
for the wrong reason.

Covered elsewhere and not repeated: logout revoking access and refresh tokens and refresh
reuse revoking the token family (test_story.py), logout holding across processes and
brute force stopped by the login rate limit and lockout across processes
(test_multi_process.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from tests.e2e.client import Api, error_of, secrets_in_logs
from tests.live_server import LiveServer, live_server

pytestmark = pytest.mark.e2e

ADMIN_EMAIL = "auth-admin@e2e.example"
ADMIN_PASSWORD = "Adm1nistrator-Auth"
PASSWORD = "Auth-Attack-Pass1"
ISSUER = "https://front.e2e.example"
BETTER_AUTH_SECRET = secrets.token_urlsafe(40)


@pytest.fixture(scope="module")
def auth_server(fresh_database: Callable[[], str]) -> Iterator[LiveServer]:
    env = {"BETTER_AUTH_SECRET": BETTER_AUTH_SECRET, "BETTER_AUTH_ISSUER": ISSUER}
    admin = ["--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD]
    with live_server(database_url=fresh_database(), env=env, args=admin) as server:
        yield server


@dataclass
class Person:
    user: dict[str, Any]
    access: str
    refresh: str

    @property
    def claims(self) -> dict[str, Any]:
        return jwt.decode(self.access, options={"verify_signature": False})


@dataclass
class World:
    api: Api
    server: LiveServer
    admin: Person
    lab_id: str

    @property
    def jwt_secret(self) -> str:
        return self.server.env["JWT_SECRET"]

    def person(self, role: str = "viewer") -> Person:
        user = self.api.create_user(
            self.admin.access, role=role, lab_id=self.lab_id, password=PASSWORD
        )
        session = self.api.login(user["email"], PASSWORD)
        tokens = session["tokens"]
        return Person(user, tokens["access_token"], tokens["refresh_token"])

    def external(self, user_id: str, **claims: Any) -> str:
        """A Better Auth token for this user, signed with the shared secret."""
        now = int(time.time())
        body = {"sub": user_id, "iss": ISSUER, "iat": now, "exp": now + 600, **claims}
        return self.remember(jwt.encode(body, BETTER_AUTH_SECRET, algorithm="HS256"))

    def remember(self, token: str) -> str:
        self.api.remember(token)
        return token


@pytest.fixture(scope="module")
def world(auth_server: LiveServer, log_secrets: set[str]) -> World:
    api = Api(auth_server.base_url, log_secrets)
    session = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    tokens = session["tokens"]
    admin = Person(session["user"], tokens["access_token"], tokens["refresh_token"])
    lab = api.create_lab(admin.access)
    return World(api, auth_server, admin, lab["id"])


# --- token surgery ---------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _hand_signed(header: dict[str, Any], claims: dict[str, Any], key: str | None) -> str:
    """A JWT assembled by hand: any `alg` in the header, HMAC-SHA256 (or nothing) as signature."""
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    if key is None:
        return signing_input + "."
    digest = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(digest)}"


def _with_payload(token: str, claims: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{_segment(claims)}.{signature}"


def _flip_signature(token: str) -> str:
    head, _, signature = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    return f"{head}.{_b64(bytes(raw))}"


# --- endpoints that must refuse a bad token --------------------------------------------------

REPRESENTATIVE: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/auth/me", None),
    ("GET", "/samples", None),
    ("GET", "/tasks", None),
    ("POST", "/tasks", {"title": "Must never be created"}),
    ("POST", "/sync", {"device_id": "attacker-tablet", "mutations": []}),
    ("GET", "/users", None),  # admin-only: a bad token is 401 before any 403
    ("GET", "/audit-logs", None),
    ("POST", "/auth/logout", None),
]


def _refused_everywhere(api: Api, token: str) -> list[str]:
    """The endpoints that did NOT answer 401 in the SPEC's shape (empty: all refused)."""
    failures = []
    for method, path, body in REPRESENTATIVE:
        response = api.request(method, path, token=token, json=body)
        try:
            error_of(response, 401, "UNAUTHORIZED")
        except AssertionError:
            failures.append(f"{method} {path} -> {response.status_code} {response.text[:120]}")
    return failures


def _works(api: Api, token: str) -> None:
    response = api.get("/auth/me", token=token)
    assert response.status_code == 200, response.text


def test_forged_and_tampered_tokens_are_refused(world: World) -> None:
    api, victim = world.api, world.person()
    claims = victim.claims
    now = int(time.time())
    admin_claims = world.admin.claims
    forged: dict[str, str] = {
        "expired, correctly signed": jwt.encode(
            {**claims, "iat": now - 7200, "exp": now - 3600}, world.jwt_secret, algorithm="HS256"
        ),
        "payload edited (role admin)": _with_payload(victim.access, {**claims, "role": "admin"}),
        "payload edited (sub of the admin)": _with_payload(
            victim.access, {**claims, "sub": world.admin.user["id"]}
        ),
        "payload edited (exp in a year)": _with_payload(
            victim.access, {**claims, "exp": now + 365 * 86400}
        ),
        "signature bit flipped": _flip_signature(victim.access),
        "signature removed": victim.access.rpartition(".")[0] + ".",
        "alg none": _hand_signed({"alg": "none", "typ": "JWT"}, claims, None),
        "alg None": _hand_signed({"alg": "None", "typ": "JWT"}, claims, None),
        "alg none, Better Auth claims": _hand_signed(
            {"alg": "none"}, {"sub": victim.user["id"], "iss": ISSUER, "exp": now + 600}, None
        ),
        "HS512 with the real key": jwt.encode(claims, world.jwt_secret, algorithm="HS512"),
        "HS384 with the real key": jwt.encode(claims, world.jwt_secret, algorithm="HS384"),
        # Algorithm confusion: an asymmetric alg whose "signature" is an HMAC by the key.
        "RS256 header, HMAC signature": _hand_signed({"alg": "RS256"}, claims, world.jwt_secret),
        "ES256 header, HMAC signature": _hand_signed({"alg": "ES256"}, claims, world.jwt_secret),
        "attacker's key": jwt.encode(claims, secrets.token_urlsafe(48), algorithm="HS256"),
        "attacker's key, kid and jku headers": jwt.encode(
            claims,
            "attacker-key-" + secrets.token_hex(16),
            algorithm="HS256",
            headers={"kid": "../../../dev/null", "jku": "https://evil.example/jwks.json"},
        ),
        "empty HMAC key": _hand_signed({"alg": "HS256", "typ": "JWT"}, claims, ""),
        # Each issuer's key signs only its own kind of token.
        "AquaLab claims signed with the Better Auth key": jwt.encode(
            claims, BETTER_AUTH_SECRET, algorithm="HS256"
        ),
        "Better Auth claims signed with the AquaLab key": jwt.encode(
            {"sub": victim.user["id"], "iss": ISSUER, "iat": now, "exp": now + 600},
            world.jwt_secret,
            algorithm="HS256",
        ),
        "Better Auth, expired": world.external(victim.user["id"], iat=now - 7200, exp=now - 3600),
        "Better Auth, issued an hour ahead": world.external(
            victim.user["id"], iat=now + 3600, exp=now + 7200
        ),
        "Better Auth, wrong issuer": world.external(victim.user["id"], iss="https://evil.example"),
        "Better Auth, unknown user": world.external(str(uuid.uuid4())),
        "Better Auth, sub not a uuid": world.external("admin"),
        "Better Auth, no exp": world.remember(
            jwt.encode(
                {"sub": victim.user["id"], "iss": ISSUER, "iat": now}, BETTER_AUTH_SECRET, "HS256"
            )
        ),
        # Correctly signed with the real key, but naming sessions that do not match.
        "unknown user on a live session": jwt.encode(
            {**claims, "sub": str(uuid.uuid4())}, world.jwt_secret, algorithm="HS256"
        ),
        "the admin's session, the victim's sub": jwt.encode(
            {**claims, "sid": admin_claims["sid"]}, world.jwt_secret, algorithm="HS256"
        ),
        "the victim's session, the admin's sub": jwt.encode(
            {**claims, "sub": admin_claims["sub"], "role": "admin"},
            world.jwt_secret,
            algorithm="HS256",
        ),
        "a session that never existed": jwt.encode(
            {**claims, "sid": str(uuid.uuid4())}, world.jwt_secret, algorithm="HS256"
        ),
        "no sid claim": jwt.encode(
            {k: v for k, v in claims.items() if k != "sid"}, world.jwt_secret, algorithm="HS256"
        ),
    }
    for token in forged.values():
        world.remember(token)

    # The genuine tokens work, so each refusal below is about the forgery alone.
    _works(api, victim.access)
    _works(api, world.external(victim.user["id"]))

    failures = {name: _refused_everywhere(api, token) for name, token in forged.items()}
    failures = {name: found for name, found in failures.items() if found}
    assert not failures, json.dumps(failures, indent=1)
    print(f"forged tokens: {len(forged)} kinds x {len(REPRESENTATIVE)} endpoints refused")

    _works(api, victim.access)  # no forgery disturbed the real session
    # A refused token is not written to the log either (a classic leak in failure paths).
    assert not secrets_in_logs(world.server, forged.values()), "a forged token was logged"


def test_a_correctly_signed_token_cannot_raise_its_own_role(world: World) -> None:
    """Even with the signing key, claims grant nothing: role and lab come from the database."""
    viewer = world.person()
    escalated = world.remember(
        jwt.encode(
            {**viewer.claims, "role": "admin", "lab_id": None}, world.jwt_secret, algorithm="HS256"
        )
    )
    assert world.api.get("/auth/me", token=escalated).json()["role"] == "viewer"
    error_of(world.api.get("/users", token=escalated), 403, "FORBIDDEN")
    external = world.external(viewer.user["id"], role="admin")
    error_of(world.api.get("/users", token=external), 403, "FORBIDDEN")


def test_revoked_deactivated_and_deleted_users_tokens_are_refused(world: World) -> None:
    api, admin = world.api, world.admin.access
    logged_out, deactivated, deleted = world.person(), world.person("technician"), world.person()
    tokens = {
        "logged out": [logged_out.access],
        "deactivated": [deactivated.access, world.external(deactivated.user["id"])],
        "deleted": [deleted.access, world.external(deleted.user["id"])],
    }
    for token_list in tokens.values():
        for token in token_list:
            _works(api, token)

    assert api.post("/auth/logout", token=logged_out.access).status_code == 204
    patched = api.patch(f"/users/{deactivated.user['id']}", token=admin, json={"is_active": False})
    assert patched.status_code == 200, patched.text
    assert api.delete(f"/users/{deleted.user['id']}", token=admin).status_code == 204

    failures = {
        f"{why} #{index}": found
        for why, token_list in tokens.items()
        for index, token in enumerate(token_list)
        if (found := _refused_everywhere(api, token))
    }
    assert not failures, json.dumps(failures, indent=1)
    # Their refresh tokens are dead too; a fresh Better Auth token changes nothing.
    for person in (logged_out, deactivated, deleted):
        refreshed = api.post("/auth/refresh", json={"refresh_token": person.refresh})
        error_of(refreshed, 401, "UNAUTHORIZED")
    error_of(api.get("/auth/me", token=world.external(deleted.user["id"])), 401, "UNAUTHORIZED")
    # Deactivated: signing in is refused as well, with the same answer as a wrong password.
    signin = api.post(
        "/auth/login", json={"email": deactivated.user["email"], "password": PASSWORD}
    )
    error_of(signin, 401, "INVALID_CREDENTIALS")


def test_access_and_refresh_tokens_are_not_interchangeable(world: World) -> None:
    api, person = world.api, world.person()
    error_of(api.get("/auth/me", token=person.refresh), 401, "UNAUTHORIZED")
    for wrong in (person.access, world.external(person.user["id"]), person.refresh + "x"):
        error_of(api.post("/auth/refresh", json={"refresh_token": wrong}), 401, "UNAUTHORIZED")
    # None of those attempts spent the real refresh token, and the access token still works.
    rotated = api.post("/auth/refresh", json={"refresh_token": person.refresh})
    assert rotated.status_code == 200, rotated.text
    _works(api, rotated.json()["access_token"])


def test_missing_or_garbled_authorization_headers_are_401(world: World) -> None:
    api, person = world.api, world.person()
    access = person.access
    garbled = [
        "",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Basic " + base64.b64encode(f"{ADMIN_EMAIL}:{ADMIN_PASSWORD}".encode()).decode(),
        f"Token {access}",
        f"Bearer{access}",
        access,
        f"Bearer {access} extra",
        f"Bearer {access}.{access}",
        "Bearer a.b",
        "Bearer a.b.c.d",
        "Bearer ...",
        "Bearer null",
        "Bearer undefined",
        "Bearer " + "A" * 8000,
        "Bearer %00",
        "Bearer " + _b64(secrets.token_bytes(64)),
        'Digest username="admin", response="0"',
    ]
    problems = []
    for header in garbled:
        for path in ("/auth/me", "/samples", "/users"):
            response = api.get(path, headers={"Authorization": header})
            try:
                error_of(response, 401, "UNAUTHORIZED")
            except AssertionError:
                problems.append(f"{header[:40]!r} {path} -> {response.status_code}")
    no_header = api.get("/samples")
    error_of(no_header, 401, "UNAUTHORIZED")
    assert not problems, problems
    # The scheme is case-insensitive (RFC 7235): this is not an attack, it must work.
    assert api.get("/auth/me", headers={"Authorization": f"bearer {access}"}).status_code == 200
