"""Field rules shared by every way data enters the system (HTTP, CLI, sync).

Each function returns the list of problems (empty when valid) so callers can
report every field error at once.
"""

from __future__ import annotations

import re

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
NAME_MAX_LENGTH = 200
EMAIL_MAX_LENGTH = 254

# Deliberately simple: the transport validates the full RFC syntax with a library;
# this guard keeps obviously broken addresses out of paths that bypass it (CLI).
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def password_problems(password: str) -> list[str]:
    problems = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(f"Password must be at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        problems.append(f"Password must be at most {PASSWORD_MAX_LENGTH} characters")
    if not any(c.isupper() for c in password):
        problems.append("Password must contain an upper-case letter")
    if not any(c.isdigit() for c in password):
        problems.append("Password must contain a digit")
    return problems


def email_problems(email: str) -> list[str]:
    if len(email) > EMAIL_MAX_LENGTH or not _EMAIL_SHAPE.match(email):
        return ["Invalid email format"]
    return []


def name_problems(name: str, *, field_label: str = "Name") -> list[str]:
    stripped = name.strip()
    if not stripped:
        return [f"{field_label} must not be empty"]
    if len(stripped) > NAME_MAX_LENGTH:
        return [f"{field_label} must be at most {NAME_MAX_LENGTH} characters"]
    return []


def normalize_email(email: str) -> str:
    return email.strip().lower()
