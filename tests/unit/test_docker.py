"""The container files, checked where no Docker engine runs (docs/deploy.md says so).

- docker/entrypoint.sh runs for real, with a fake `aqualab` first on PATH: migrate, then
  `exec` into serve (same pid, signals reach it), arguments passed untouched, a failed
  migration stops it.
- Dockerfile and docker-compose.yml are parsed and checked: stages, non-root user, the
  health check on a route the app really serves, services, volume, health checks,
  start order, no secret with a default.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
import yaml

from entrypoints.container import Container
from entrypoints.http.app import create_app

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"

FAKE_AQUALAB = r"""#!/bin/sh
# Records its pid and arguments (one per line), then behaves as the test asks.
{ echo "pid $$"; for arg in "$@"; do echo "arg $arg"; done; echo "end"; } >> "$FAKE_LOG"
case "$1" in
  migrate) exit "${FAKE_MIGRATE_STATUS:-0}" ;;
  serve)
    if [ -n "${FAKE_SERVE_WAIT:-}" ]; then
      trap 'echo "got TERM" >> "$FAKE_LOG"; exit 0' TERM
      echo "serving" >> "$FAKE_LOG"
      while :; do sleep 0.05; done
    fi
    exit "${FAKE_SERVE_STATUS:-0}" ;;
esac
exit 0
"""


def _calls(log: Path) -> list[tuple[int, list[str]]]:
    calls: list[tuple[int, list[str]]] = []
    pid, args = 0, []
    for line in log.read_text().splitlines() if log.exists() else []:
        if line.startswith("pid "):
            pid, args = int(line[4:]), []
        elif line.startswith("arg "):
            args.append(line[4:])
        elif line == "end":
            calls.append((pid, args))
    return calls


@pytest.fixture(params=sorted({"sh", *(["dash"] if shutil.which("dash") else [])}))
def run_entrypoint(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Start the entry script under a POSIX shell with the fake `aqualab` first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "aqualab"
    fake.write_text(FAKE_AQUALAB)
    fake.chmod(0o755)
    log = tmp_path / "calls.log"

    def start(*args: str, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
        environment = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_LOG": str(log),
            **env,
        }
        proc = subprocess.Popen([request.param, str(ENTRYPOINT), *args], env=environment)
        return proc, log

    return start


def test_serve_migrates_first_then_becomes_the_server_with_its_arguments(
    run_entrypoint: Any,
) -> None:
    proc, log = run_entrypoint("serve", "--admin-lab", "Central Lab", "--threads", "4", "")
    assert proc.wait(timeout=10) == 0
    calls = _calls(log)
    assert [args for _, args in calls] == [
        ["migrate"],
        ["serve", "--admin-lab", "Central Lab", "--threads", "4", ""],
    ]
    (migrate_pid, _), (serve_pid, _) = calls
    assert serve_pid == proc.pid  # exec: the server replaced the shell (PID 1 in a container)
    assert migrate_pid != proc.pid  # migrate ran as a child, and finished first


def test_no_arguments_means_serve(run_entrypoint: Any) -> None:
    proc, log = run_entrypoint()
    assert proc.wait(timeout=10) == 0
    assert [args for _, args in _calls(log)] == [["migrate"], ["serve"]]


def test_a_failed_migration_stops_before_anything_serves(run_entrypoint: Any) -> None:
    proc, log = run_entrypoint("serve", FAKE_MIGRATE_STATUS="3")
    assert proc.wait(timeout=10) == 3
    assert [args for _, args in _calls(log)] == [["migrate"]]


def test_the_server_exit_status_is_the_container_exit_status(run_entrypoint: Any) -> None:
    proc, _ = run_entrypoint("serve", FAKE_SERVE_STATUS="7")
    assert proc.wait(timeout=10) == 7


def test_other_commands_run_as_they_are_without_migrating(run_entrypoint: Any) -> None:
    proc, log = run_entrypoint("backup", "--out", "/var/lib/aqualab/backups/a b.dump")
    assert proc.wait(timeout=10) == 0
    assert _calls(log) == [(proc.pid, ["backup", "--out", "/var/lib/aqualab/backups/a b.dump"])]


def test_sigterm_reaches_the_server(run_entrypoint: Any) -> None:
    proc, log = run_entrypoint("serve", FAKE_SERVE_WAIT="1")
    try:
        deadline = time.monotonic() + 10
        while "serving" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the fake server never started"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "got TERM" in log.read_text()


def test_the_entry_script_is_strict_posix_sh() -> None:
    text = ENTRYPOINT.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert re.search(r"^set -eu$", text, re.MULTILINE)
    assert os.access(ENTRYPOINT, os.X_OK)
    assert subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=False).returncode == 0


# --- Dockerfile --------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_builds_in_a_builder_stage_and_runs_as_a_non_root_user() -> None:
    steps = _instructions()
    stages = [args for keyword, args in steps if keyword == "FROM"]
    assert len(stages) == 2
    assert stages[0].endswith("AS builder") and stages[1].endswith("AS runtime")
    froms = [i for i, (keyword, _) in enumerate(steps) if keyword == "FROM"]
    runtime = steps[froms[1] :]
    assert any("pip wheel" in args for keyword, args in steps if keyword == "RUN")
    assert any("from=builder" in args for keyword, args in runtime if keyword == "RUN")
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert json_list(runtime, "ENTRYPOINT") == ["aqualab-entrypoint"]
    assert json_list(runtime, "CMD") == ["serve"]
    copies = [args for keyword, args in runtime if keyword == "COPY"]
    assert any("docker/entrypoint.sh /usr/local/bin/aqualab-entrypoint" in c for c in copies)
    # No secret is baked into the image.
    env = " ".join(args for keyword, args in steps if keyword in ("ENV", "ARG"))
    for secret in ("JWT_SECRET", "DATABASE_URL", "SMTP_URL", "METRICS_TOKEN", "PASSWORD"):
        assert secret not in env


def json_list(steps: list[tuple[str, str]], keyword: str) -> list[str]:
    found = [args for k, args in steps if k == keyword]
    assert found, keyword
    value: list[str] = yaml.safe_load(found[-1])  # JSON (exec) form is valid YAML
    return value


def test_every_path_the_build_copies_exists_and_is_not_docker_ignored() -> None:
    allowed = {
        line.removeprefix("!")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for keyword, args in _instructions():
        if keyword == "COPY" and "--from" not in args:
            sources = [a for a in shlex.split(args) if not a.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), source
                assert source.split("/")[0] in allowed, source


def test_the_healthcheck_probes_a_route_the_app_serves(memory_container: Container) -> None:
    (check,) = [args for keyword, args in _instructions() if keyword == "HEALTHCHECK"]
    match = re.search(r"http://127\.0\.0\.1:%s(/\S+?)'", check)
    assert match, check
    path = match.group(1)
    assert path == "/api/v1/health/ready"
    client = falcon.testing.TestClient(create_app(memory_container))
    assert client.simulate_get(path).status_code == 200
    assert "PORT" in check  # follows the configured port


# --- docker-compose.yml ------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_runs_postgres_15_with_a_named_volume_and_a_health_check(
    compose: dict[str, Any],
) -> None:
    db = compose["services"]["db"]
    assert db["image"].startswith("postgres:15")
    assert "pgdata:/var/lib/postgresql/data" in db["volumes"]
    assert "pgdata" in compose["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


def test_compose_migrates_once_before_the_app_starts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    migrate, app = services["migrate"], services["app"]
    assert migrate["command"] == ["migrate"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert app["image"] == migrate["image"] and "build" in migrate
    assert app["environment"]["DATABASE_URL"] == migrate["environment"]["DATABASE_URL"]
    assert "@db:5432/" in app["environment"]["DATABASE_URL"]
    assert app["environment"]["AQUALAB_ENV"] == "production"


def test_compose_commits_no_secret(compose: dict[str, Any]) -> None:
    """Every secret is `${NAME:?…}`: required from the environment, no default value."""
    required = re.compile(r"\$\{(POSTGRES_PASSWORD|JWT_SECRET):\?[^}]*\}")
    checked = 0
    for service in compose["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if name in ("POSTGRES_PASSWORD", "JWT_SECRET", "DATABASE_URL"):
                assert required.search(str(value)), (name, value)
                assert ":-" not in str(value)  # no fallback value either
                checked += 1
    assert checked == 5  # db's password; migrate's and app's URL and JWT secret
