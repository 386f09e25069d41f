"""Access tokens as JWTs (pyjwt), HS256 with a shared secret by default."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt

from adapters.clock import SystemClock
from domain.errors import Unauthenticated
from domain.model import User
from domain.ports import AccessClaims, Clock, IssuedAccessToken

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
