"""Shared fixtures: test settings, containers on either storage, a throwaway PostgreSQL."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.postgres_server import EmbeddedPostgres
from entrypoints.config import Settings, load_settings
from entrypoints.container import Container, build_container

FAST_HASHING = {"password_hash_memory_kib": 1024, "password_hash_time_cost": 1}


@pytest.fixture(scope="session")
def var_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="aqualab-var-") as path:
        yield Path(path)


@pytest.fixture
def make_settings(var_dir: Path):  # type: ignore[no-untyped-def]
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "aqualab_env": "test",
            "AQUALAB_VAR_DIR": str(var_dir),
            "jwt_secret": "test-secret-that-is-long-enough-for-hs256-use",
            "rate_limit_api": "100000/minute",
            **FAST_HASHING,
        }
        values.update(overrides)
        return load_settings(**values)

    return make


# --- PostgreSQL --------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    """One throwaway cluster for the whole run (started only if a test needs it)."""
    base = Path(tempfile.mkdtemp(prefix="aqualab-pg-"))
    server = EmbeddedPostgres(base, ephemeral=True)
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def database_url(pg_server: EmbeddedPostgres) -> str:
    from alembic import command

    from migrations import alembic_config

    url = os.environ.get("AQUALAB_TEST_DATABASE_URL") or pg_server.url
    command.upgrade(alembic_config(url), "head")
    return url


@pytest.fixture(scope="session")
def admin_engine(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url, pool_size=2)
    yield engine
    engine.dispose()


DATA_TABLES = (
    "audit_chain",
    "audit_pending",
    "audit_log",
    "refresh_tokens",
    "password_reset_tokens",
    "auth_sessions",
    "test_results",
    "samples",
    "sample_search_terms",
    "users",
    "labs",
    "rate_limit_hits",
    "standard_limits",
    "standards",
    "parameters",
)


def reset_database(engine: sa.Engine) -> None:
    """Empty every table and restore the reference data migration 0002 seeds. The
    append-only triggers would refuse, so they are bypassed for this session only
    (replica mode skips ordinary triggers) — a test-only power."""
    from adapters.reference_data import limit_rows, parameter_rows, standard_rows
    from adapters.sqlalchemy import tables

    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(sa.text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
        conn.execute(sa.insert(tables.parameters), parameter_rows())
        conn.execute(sa.insert(tables.standards), standard_rows())
        conn.execute(sa.insert(tables.standard_limits), limit_rows())
        # Replica mode skipped the triggers that mark reference data as changed; a cache
        # kept by a test's server must not mistake the restored limits for its copy.
        conn.execute(
            sa.text(
                "UPDATE reference_data_version SET version = nextval('reference_data_version_seq')"
            )
        )
        # Nor may a server's session cache keep sessions and users the TRUNCATE removed.
        conn.execute(sa.text("SELECT pg_notify('aqualab_auth', '*')"))


@pytest.fixture
def clean_db(admin_engine: sa.Engine, database_url: str) -> str:
    reset_database(admin_engine)
    return database_url


# --- containers --------------------------------------------------------------------


@pytest.fixture
def memory_container(make_settings) -> Iterator[Container]:  # type: ignore[no-untyped-def]
    container = build_container(make_settings(AQUALAB_STORAGE="memory"))
    yield container
    container.shutdown_resources()


@pytest.fixture
def sql_container(make_settings, clean_db: str) -> Iterator[Container]:  # type: ignore[no-untyped-def]
    container = build_container(
        make_settings(AQUALAB_STORAGE="sql", database_url=clean_db), clean_db
    )
    yield container
    container.shutdown_resources()


@pytest.fixture(params=["memory", "sql"])
def container(request: pytest.FixtureRequest) -> Container:
    """Parametrized over both storages: the contract suite runs every test twice."""
    return request.getfixturevalue(f"{request.param}_container")  # type: ignore[no-any-return]
