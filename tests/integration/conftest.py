"""Fixtures for the integration suite: a real PostgreSQL, engines, a scratch database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from adapters.sqlalchemy.engine import make_engine
from adapters.sqlalchemy.orm import start_mappers


def _libpq_url(url: sa.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def engine(clean_db: str) -> Iterator[sa.Engine]:
    """An application-style engine on the emptied test database, big enough for threads."""
    start_mappers()
    engine = make_engine(clean_db, pool_size=12)
    yield engine
    engine.dispose()


@pytest.fixture
def scratch_database_url(database_url: str) -> Iterator[str]:
    """A brand-new, empty database on the same cluster; dropped afterwards."""
    server = sa.make_url(database_url)
    name = f"aqualab_scratch_{uuid.uuid4().hex[:12]}"
    maintenance = _libpq_url(server.set(database="postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
