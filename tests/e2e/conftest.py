"""E2E fixtures: real `aqualab serve` processes (waitress) on their own PostgreSQL databases.

Each server gets a database of its own, created in the session's throwaway cluster
(`pg_server`), so the e2e tests never see the rows other suites write or truncate.
The shared `main_server` runs for the whole session; tests on it use unique emails
and their own labs, so they do not depend on each other.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.postgres_server import EmbeddedPostgres
from tests.e2e.client import Api
from tests.live_server import LiveServer, live_server, run_cli, server_env

ADMIN_EMAIL = "admin@e2e.example"
ADMIN_PASSWORD = "Adm1nistrator-E2E"
ADMIN_LAB = "Central E2E Lab"
ALLOWED_ORIGIN = "https://allowed.e2e.example"
MAX_BODY_BYTES = 4096
LOCKOUT_ATTEMPTS = 3

MAIN_ENV = {
    # development: the console mailer prints reset links to the server's stdout
    "AQUALAB_ENV": "development",
    "CORS_ORIGINS": ALLOWED_ORIGIN,
    "MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    "LOCKOUT_ATTEMPTS": str(LOCKOUT_ATTEMPTS),
}


def _database_url(pg: EmbeddedPostgres, name: str) -> str:
    return sa.make_url(pg.url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def fresh_database(pg_server: EmbeddedPostgres) -> Iterator[Callable[[], str]]:
    """Factory: an empty database in the session cluster (the server migrates it)."""
    created: list[str] = []
    engine = sa.create_engine(
        _database_url(pg_server, "postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
    )

    def create() -> str:
        name = f"aqualab_e2e_{secrets.token_hex(4)}"
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return _database_url(pg_server, name)

    yield create
    with engine.connect() as conn:
        for name in created:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def own_cluster() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL cluster of the test's own, which it may stop and start (outages)."""
    # Not under pytest's tmp dir: as root the cluster runs as `postgres`, which must be
    # able to reach its directory (mkdtemp's directory is handed over to it).
    base = Path(tempfile.mkdtemp(prefix="aqualab-e2e-down-"))
    cluster = EmbeddedPostgres(base, ephemeral=True)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def log_secrets() -> set[str]:
    """Every password and token the e2e tests used (none may appear in a server's logs)."""
    return {ADMIN_PASSWORD}


@dataclass
class MainServer:
    server: LiveServer
    database_url: str
    create_admin_output: str


@pytest.fixture(scope="session")
def main_server(
    fresh_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MainServer]:
    """The admin is created with the CLI (as a new user would), then the server starts."""
    url = fresh_database()
    workdir: Path = tmp_path_factory.mktemp("main-server")
    output = create_admin_with_cli(url, workdir, MAIN_ENV)
    with live_server(database_url=url, env=MAIN_ENV, workdir=workdir) as server:
        yield MainServer(server=server, database_url=url, create_admin_output=output)


def create_admin_with_cli(url: str, workdir: Path, env: dict[str, str] | None = None) -> str:
    """`aqualab create-admin` (ADMIN_EMAIL in ADMIN_LAB) on the database at `url`; its output."""
    cli_env = server_env(database_url=url, var_dir=workdir / "cli-var", overrides=env)
    result = run_cli(
        "create-admin",
        "--email",
        ADMIN_EMAIL,
        "--password",
        ADMIN_PASSWORD,
        "--lab",
        ADMIN_LAB,
        env=cli_env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def server(main_server: MainServer) -> LiveServer:
    return main_server.server


@pytest.fixture
def api(main_server: MainServer, log_secrets: set[str]) -> Api:
    return Api(main_server.server.base_url, log_secrets)


@pytest.fixture
def admin_token(api: Api) -> str:
    return api.token(ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture
def lab(api: Api, admin_token: str) -> dict[str, str]:
    """A lab of this test's own, so list filters see only this test's users."""
    return api.create_lab(admin_token)
