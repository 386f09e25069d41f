"""Password hashing through the passlib API (the maintained `libpass` distribution).

argon2id for new hashes; bcrypt hashes from older systems still verify and are
replaced by argon2id on the next successful login.
"""

from __future__ import annotations

from passlib.context import CryptContext


class PasslibPasswordHasher:
    def __init__(self, *, memory_kib: int = 65536, time_cost: int = 3, parallelism: int = 4):
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
