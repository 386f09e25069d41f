"""Objects built from rows must be readable in a fresh process before any ORM query."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FRESH_PROCESS = """
from adapters.sqlalchemy.orm import start_mappers
from adapters.sqlalchemy.repositories import _SESSIONS, _USERS
start_mappers()
session = _SESSIONS.one([None] * len(_SESSIONS.names))
user = _USERS.one([None] * len(_USERS.names))
print(session.revoked_at, user.email)
"""


def test_row_built_objects_are_readable_before_any_orm_query() -> None:
    """A gunicorn worker's first request may be an authenticated one: the session check
    builds AuthSession/User straight from a row, with no ORM query having run yet."""
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["None", "None"]
