"""Imperative mapping: the domain classes stay plain; SQLAlchemy learns about them here."""

from __future__ import annotations

import threading

from sqlalchemy.orm import configure_mappers, registry

from adapters.sqlalchemy import tables
from domain.lab_data import Parameter, Standard, StandardLimit
from domain.model import AuthSession, Lab, PasswordResetToken, RefreshToken, User

mapper_registry = registry(metadata=tables.metadata)
_lock = threading.Lock()
_started = False


def start_mappers() -> None:
    """Idempotent and thread-safe: every entrypoint and test may call it."""
    global _started  # noqa: PLW0603 - process-wide mapping happens exactly once
    with _lock:
        if _started:
            return
        mapper_registry.map_imperatively(Lab, tables.labs)
        mapper_registry.map_imperatively(User, tables.users)
        mapper_registry.map_imperatively(AuthSession, tables.auth_sessions)
        mapper_registry.map_imperatively(RefreshToken, tables.refresh_tokens)
        mapper_registry.map_imperatively(PasswordResetToken, tables.password_reset_tokens)
        mapper_registry.map_imperatively(Parameter, tables.parameters)
        mapper_registry.map_imperatively(Standard, tables.standards)
        mapper_registry.map_imperatively(StandardLimit, tables.standard_limits)
        # Samples, results, sync devices and conflicts, and tasks are not mapped: plain
        # records tracked by the unit of work (adapters/sqlalchemy/records.py; ADR 0013).
        # Configured now, not on the first ORM query: objects built straight from rows
        # (repositories.RowMapper, the session check of every request) read attributes
        # through instrumentation that configuration completes. A worker whose first
        # request was authenticated failed every request after it (AttributeError).
        configure_mappers()
        _started = True
