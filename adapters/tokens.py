"""Access tokens as JWTs (pyjwt): AquaLab's own (HS256 with a shared secret by default) and,
when configured, those a Better Auth front end signs."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import jwt

from adapters.clock import SystemClock
from domain.errors import Unauthenticated
from domain.model import User
from domain.ports import AccessClaims, AccessTokenVerifier, Clock, IssuedAccessToken

ISSUER = "aqualab"


class JwtTokenService:
    def __init__(
        self,
        secret: str,
        *,
        access_ttl: timedelta = timedelta(hours=24),
        algorithm: str = "HS256",
        leeway_seconds: int = 30,
        clock: Clock | None = None,
    ):
        self._clock = clock or SystemClock()
        self._secret = secret
        self._ttl = access_ttl
        self._algorithm = algorithm
        self._leeway = leeway_seconds

    def issue_access(self, user: User, session_id: uuid.UUID, now: datetime) -> IssuedAccessToken:
        jti = uuid.uuid4().hex
        expires_at = now + self._ttl
        claims = {
            "iss": ISSUER,
            "sub": str(user.id),
            "sid": str(session_id),
            "role": user.role.value,
            "lab_id": str(user.lab_id) if user.lab_id else None,
            "jti": jti,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        token = jwt.encode(claims, self._secret, algorithm=self._algorithm)
        return IssuedAccessToken(
            token=token, jti=jti, expires_in=int(self._ttl.total_seconds()), expires_at=expires_at
        )

    def verify_access(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                issuer=ISSUER,
                # Expiry is checked against our clock port below, not the wall clock.
                options={
                    "require": ["sub", "sid", "jti", "iat", "exp", "iss"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
            if claims["exp"] + self._leeway <= self._clock.now().timestamp():
                raise Unauthenticated("Token expired")
            lab_id = claims.get("lab_id")
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]),
                jti=str(claims["jti"]),
                issued_at=datetime.fromtimestamp(claims["iat"], UTC),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
                role=claims.get("role"),
                lab_id=uuid.UUID(lab_id) if lab_id else None,
            )
        except (jwt.InvalidTokenError, ValueError, TypeError, KeyError) as exc:
            raise Unauthenticated("Invalid token") from exc


class BetterAuthTokenVerifier:
    """Access tokens signed by a Better Auth front end with the shared `BETTER_AUTH_SECRET`.

    HS256 only (no other algorithm is ever accepted, so `alg: none` and algorithm
    confusion fail). `sub` must be the id of an AquaLab user: the front end signs in
    against its own user store and puts the AquaLab user id in `sub`; role and lab
    always come from AquaLab's database, never from the token. `exp` is required;
    `iss`/`aud` are checked when configured.
    """

    def __init__(
        self,
        secret: str,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_seconds: int = 30,
        clock: Clock | None = None,
    ):
        self._clock = clock or SystemClock()
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds

    def verify_access(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=self._issuer,
                audience=self._audience,
                options={
                    "require": ["sub", "exp"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_aud": self._audience is not None,
                },
            )
            now = self._clock.now().timestamp()
            if claims["exp"] + self._leeway <= now:
                raise Unauthenticated("Token expired")
            issued_at = claims.get("iat", now)
            if issued_at - self._leeway > now:
                raise Unauthenticated("Token issued in the future")
            return AccessClaims(
                user_id=uuid.UUID(str(claims["sub"])),
                session_id=None,
                # Better Auth tokens need not carry a jti; the digest identifies this one.
                jti=str(claims.get("jti") or hashlib.sha256(token.encode()).hexdigest()[:32]),
                issued_at=datetime.fromtimestamp(issued_at, UTC),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except (jwt.InvalidTokenError, ValueError, TypeError, KeyError, OverflowError) as exc:
            raise Unauthenticated("Invalid token") from exc


class IssuerRoutingVerifier:
    """AquaLab's own tokens (`iss: aqualab`) go to `own`; any other token goes to the
    external verifier when one is configured, else it is refused. The issuer only picks
    the key: each verifier checks its own signature, so a forged `iss` gains nothing."""

    def __init__(self, own: AccessTokenVerifier, external: AccessTokenVerifier | None):
        self._own = own
        self._external = external

    def verify_access(self, token: str) -> AccessClaims:
        if self._external is None or _unverified_issuer(token) == ISSUER:
            return self._own.verify_access(token)
        return self._external.verify_access(token)


def _unverified_issuer(token: str) -> object:
    try:
        return jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated("Invalid token") from exc


class RememberingVerifier:
    """Remembers the claims of tokens that already verified, so a client's next requests
    skip the signature check and claim parsing (~0.1 ms of each authenticated request,
    docs/performance.md). Sound because verification is a pure function of the token
    and the keys, which do not change while the process runs; expiry is still checked on
    every use, and revocation never lived here (the session check runs on every request,
    against the database, or with `AUTH_CACHE=on` against the session cache its change
    notifications keep current, ADR 0020)."""

    def __init__(
        self,
        inner: AccessTokenVerifier,
        *,
        clock: Clock | None = None,
        leeway_seconds: int = 30,
        max_tokens: int = 4096,
    ):
        self._inner = inner
        self._clock = clock or SystemClock()
        self._leeway = timedelta(seconds=leeway_seconds)
        self._max_tokens = max_tokens
        self._verified: dict[str, AccessClaims] = {}

    def verify_access(self, token: str) -> AccessClaims:
        claims = self._verified.get(token)
        if claims is not None and self._clock.now() < claims.expires_at + self._leeway:
            return claims
        claims = self._inner.verify_access(token)  # raises for an expired or bad token
        if len(self._verified) >= self._max_tokens:
            self._verified.clear()  # rare and cheap: each live client re-verifies once
        self._verified[token] = claims
        return claims
