"""Configuration from environment variables, validated once at start-up.

A missing or invalid setting stops the process with one line naming it
(`ConfigError`); `entrypoints.cli` prints that line and exits with status 2.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.ports import RateLimit

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")
_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class ConfigError(Exception):
    """One clear line for the operator."""


def parse_rate(value: str) -> RateLimit:
    match = _RATE.match(value)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"expected '<count>/<second|minute|hour|day>', got {value!r}")
    return RateLimit(int(match.group(1)), _PERIODS[match.group(2)])


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    aqualab_env: Literal["development", "production", "test"] = "development"
    storage: Literal["sql", "memory"] = Field("sql", alias="AQUALAB_STORAGE")
    database_url: str | None = None
    var_dir: Path = Field(Path("var"), alias="AQUALAB_VAR_DIR")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    threads: int = Field(8, ge=1, le=256)
    # 0: one waitress process (portable); N: gunicorn with N worker processes.
    workers: int = Field(0, ge=0, le=64)
    worker_class: Literal["sync", "gthread"] = "sync"
    # gunicorn kills a worker silent this long: what frees one a slow client holds.
    worker_timeout: int = Field(60, ge=2, le=3600, description="seconds")
    switch_interval_ms: float = Field(0.2, ge=0.1, le=100, description="Python GIL switch interval")
    db_pool_size: int | None = Field(None, ge=1, le=500)
    # Keep sessions with their users between requests, dropped on PostgreSQL NOTIFY before
    # the change that caused it is answered (ADRs 0020, 0021).
    auth_cache: Literal["on", "off"] = "on"

    jwt_secret: SecretStr | None = None
    access_token_ttl: int = Field(86400, ge=60, description="seconds")
    refresh_token_ttl: int = Field(7 * 86400, ge=300, description="seconds")
    reset_token_ttl: int = Field(3600, ge=300, description="seconds")
    lockout_attempts: int = Field(5, ge=1)
    lockout_minutes: int = Field(15, ge=1)
    # argon2id at OWASP's minimum (19 MiB, t=2, p=1; ADR 0015). The floors keep argon2
    # valid and let tests hash fast; the ceilings catch a typo before it costs a login GiBs.
    password_hash_memory_kib: int = Field(19456, ge=1024, le=1048576, description="KiB")
    password_hash_time_cost: int = Field(2, ge=1, le=64, description="argon2 passes")
    password_hash_parallelism: int = Field(1, ge=1, le=16, description="argon2 lanes")

    rate_limit_register: str = "5/minute"
    rate_limit_login: str = "10/minute"
    rate_limit_forgot: str = "5/minute"
    rate_limit_api: str = "100/minute"

    cors_origins: str = ""
    trusted_proxies: str = ""
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    metrics_token: SecretStr | None = None
    better_auth_secret: SecretStr | None = Field(
        None, description="accept access tokens a Better Auth front end signs (HS256)"
    )
    better_auth_issuer: str | None = Field(None, description="required `iss` of those tokens")
    better_auth_audience: str | None = Field(None, description="required `aud` of those tokens")
    compliance_margin: float = Field(
        0.8, gt=0, le=1, description="warn at this share of a health limit"
    )
    sync_tombstone_retention_days: int = Field(
        90, ge=1, description="deleted records kept for sync; older cursors must reset"
    )

    smtp_url: SecretStr | None = None
    mail_from: str = "AquaLab <no-reply@localhost>"
    public_url: str | None = None

    @field_validator(
        "rate_limit_register", "rate_limit_login", "rate_limit_forgot", "rate_limit_api"
    )
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        parse_rate(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: str) -> str:
        for item in _split(value):
            ipaddress.ip_network(item, strict=False)
        return value

    @field_validator("better_auth_secret")
    @classmethod
    def _strong_shared_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("at least 32 characters (it signs access tokens)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with postgresql:// or postgresql+psycopg://")
        return value or None

    # --- derived ------------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.aqualab_env == "production"

    @property
    def cors_origin_list(self) -> list[str]:
        return _split(self.cors_origins)

    @property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(p, strict=False) for p in _split(self.trusted_proxies)]

    def rate(self, name: Literal["register", "login", "forgot", "api"]) -> RateLimit:
        return parse_rate(getattr(self, f"rate_limit_{name}"))

    @property
    def pool_size(self) -> int:
        # Every serving thread can hold one connection, plus head-room for the sealer and probes.
        return self.db_pool_size or self.threads + 2

    @property
    def reset_url(self) -> str:
        base = self.public_url or f"http://{self.host}:{self.port}"
        return base.rstrip("/") + "/reset-password"


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def load_settings(**overrides: object) -> Settings:
    """Read the environment (overrides win) and fail with one line naming the bad setting."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "configuration"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {name}: {message}") from None
    if settings.is_production:
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
        if len(secret) < 32:
            raise ConfigError(
                "invalid setting JWT_SECRET: required in production, at least 32 characters"
            )
        if settings.database_url is None and settings.storage == "sql":
            raise ConfigError("invalid setting DATABASE_URL: required in production")
    return settings


def jwt_secret(settings: Settings) -> str:
    """The configured secret, or in development one generated once and kept under var/."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    path = settings.var_dir / "jwt_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
