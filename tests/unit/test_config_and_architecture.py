"""Configuration validation, and the layer rules checked by import-linter."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from entrypoints.cli.main import main
from entrypoints.config import ConfigError, jwt_secret, load_settings, parse_rate

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"rate_limit_login": "lots"}, "RATE_LIMIT_LOGIN"),
        ({"port": "http"}, "PORT"),
        ({"database_url": "mysql://x"}, "DATABASE_URL"),
        ({"trusted_proxies": "not-an-ip"}, "TRUSTED_PROXIES"),
        ({"log_level": "chatty"}, "LOG_LEVEL"),
    ],
)
def test_invalid_setting_names_itself(overrides: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    assert str(caught.value).startswith(f"invalid setting {name}:")
    assert "\n" not in str(caught.value)


def test_production_requires_a_strong_jwt_secret_and_a_database() -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        load_settings(aqualab_env="production", database_url="postgresql://db/x")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings(aqualab_env="production", jwt_secret="x" * 40)
    assert load_settings(
        aqualab_env="production", jwt_secret="x" * 40, database_url="postgresql://db/x"
    ).is_production


def test_development_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = load_settings(AQUALAB_VAR_DIR=str(tmp_path))
    first = jwt_secret(settings)
    assert len(first) >= 48 and jwt_secret(settings) == first
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0


def test_parse_rate() -> None:
    assert parse_rate("10/minute").limit == 10 and parse_rate("10/minute").window_seconds == 60
    assert parse_rate(" 5 / hour ").window_seconds == 3600
    with pytest.raises(ValueError):
        parse_rate("0/minute")


def test_cli_reports_a_bad_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RATE_LIMIT_API", "fast")
    assert main(["verify-audit"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "aqualab: invalid setting RATE_LIMIT_API: "
        "expected '<count>/<second|minute|hour|day>', got 'fast'"
    )


def test_import_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a dev dependency"
    result = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_mailer_choice_never_prints_secrets_in_production(make_settings) -> None:  # type: ignore[no-untyped-def]
    from adapters.mail import ConsoleMailer, DisabledMailer, SmtpMailer
    from entrypoints.container import _mailer

    assert isinstance(_mailer(make_settings(aqualab_env="development")), ConsoleMailer)
    production = make_settings(
        aqualab_env="production", jwt_secret="p" * 40, database_url="postgresql://db/x"
    )
    assert isinstance(_mailer(production), DisabledMailer)
    with_smtp = make_settings(
        smtp_url="smtps://u:p@mail.lab.example:465", mail_from="AquaLab <a@lab.example>"
    )
    mailer = _mailer(with_smtp)
    assert isinstance(mailer, SmtpMailer)
    assert (mailer._settings.host, mailer._settings.port, mailer._settings.use_tls) == (
        "mail.lab.example",
        465,
        True,
    )
