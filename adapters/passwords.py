"""Password hashing through the passlib API (the maintained `libpass` distribution).

argon2id for new hashes, at OWASP's minimum by default (19 MiB, t=2, p=1; ADR 0015).
bcrypt hashes from older systems, and argon2id hashes made with other parameters (the
earlier 64 MiB, t=3, p=4 default), still verify and are replaced by a hash at the
configured parameters on the next successful login.

argon2-cffi computes the hash in C with the GIL released, so other threads of the
process keep serving while a login hashes (tests/unit/test_passwords.py proves it).
"""

from __future__ import annotations

from passlib.context import CryptContext

OWASP_MEMORY_KIB = 19456
OWASP_TIME_COST = 2
OWASP_PARALLELISM = 1


class PasslibPasswordHasher:
    def __init__(
        self,
        *,
        memory_kib: int = OWASP_MEMORY_KIB,
        time_cost: int = OWASP_TIME_COST,
        parallelism: int = OWASP_PARALLELISM,
    ):
        self._context = CryptContext(
            schemes=["argon2", "bcrypt"],
            deprecated=["bcrypt"],
            argon2__type="ID",
            argon2__memory_cost=memory_kib,
            argon2__time_cost=time_cost,
            argon2__parallelism=parallelism,
        )
        self._dummy_hash = self._context.hash("not-a-real-password-0")

    def hash(self, password: str) -> str:
        return str(self._context.hash(password))

    def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        try:
            matches, replacement = self._context.verify_and_update(password, password_hash)
            return bool(matches), replacement
        except (ValueError, TypeError):  # unknown or corrupt stored hash: never a match
            return False, None

    def dummy_verify(self) -> None:
        self._context.verify("wrong-password", self._dummy_hash)
