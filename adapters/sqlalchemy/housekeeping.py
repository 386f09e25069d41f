"""`Housekeeping` on PostgreSQL: bounded, idempotent deletes that skip rows others hold.

Every batch is `DELETE … WHERE id IN (SELECT id … LIMIT n FOR UPDATE SKIP LOCKED)` in a
transaction of its own: two purges at once never wait for each other (each takes rows
the other has not locked), a request or sync batch holding a row keeps it until the next
run, and a row already gone is simply not found again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from adapters.sqlalchemy import tables
from domain.housekeeping import Housekeeping

_REFRESH_TOKENS = sa.text(
    """
    DELETE FROM refresh_tokens WHERE id IN (
        SELECT t.id FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
        WHERE s.revoked_at IS NOT NULL OR s.expires_at <= :now
        LIMIT :n FOR UPDATE OF t SKIP LOCKED)
    """
)
_RESET_TOKENS = sa.text(
    """
    DELETE FROM password_reset_tokens WHERE id IN (
        SELECT id FROM password_reset_tokens
        WHERE used_at IS NOT NULL OR expires_at <= :now
        LIMIT :n FOR UPDATE SKIP LOCKED)
    """
)
# The session's remaining refresh tokens go with it (foreign keys are checked at commit).
_SESSIONS = sa.text(
    """
    WITH doomed AS (
        SELECT id FROM auth_sessions
        WHERE revoked_at < :ended_before OR expires_at < :ended_before
        LIMIT :n FOR UPDATE SKIP LOCKED
    ), tokens AS (
        DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM doomed)
    )
    DELETE FROM auth_sessions WHERE id IN (SELECT id FROM doomed)
    """
)
_RATE_LIMITS = sa.text(
    """
    DELETE FROM rate_limit_hits WHERE (key, window_start) IN (
        SELECT key, window_start FROM rate_limit_hits WHERE expires_at <= :now
        LIMIT :n FOR UPDATE SKIP LOCKED)
    """
)


@dataclass(frozen=True)
class TombstoneTable:
    entity: str  # the sync entity name (as in sync_conflicts.entity)
    table: sa.Table  # has `id` and `deleted_at`


# Purge order: children before parents. A new soft-deleted entity is one line here; the
# rows that must keep a tombstone alive are found from the database's own foreign keys, so
# a table a later migration adds that points at samples (tasks) is respected untouched.
TOMBSTONES: tuple[TombstoneTable, ...] = (
    TombstoneTable("task", tables.tasks),
    TombstoneTable("result", tables.test_results),
    TombstoneTable("sample", tables.samples),
)

_REFERENCING = sa.text(
    """
    SELECT n.nspname, r.relname, a.attname
    FROM pg_constraint c
    JOIN pg_class r ON r.oid = c.conrelid
    JOIN pg_namespace n ON n.oid = r.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
    WHERE c.contype = 'f' AND c.confrelid = to_regclass(:table) AND cardinality(c.conkey) = 1
    ORDER BY 1, 2, 3
    """
)


def referencing_columns(conn: sa.Connection, table: sa.Table) -> list[sa.ColumnClause[object]]:
    """Every single-column foreign key, in the live schema, that points at `table`."""
    rows = conn.execute(_REFERENCING, {"table": table.fullname}).all()
    return [
        sa.table(name, sa.column(column), schema=schema).c[column] for schema, name, column in rows
    ]


def tombstone_purge(
    spec: TombstoneTable,
    referencing: list[sa.ColumnClause[object]],
    deleted_before: datetime,
    limit: int,
) -> sa.Delete:
    table = spec.table
    conflicts = tables.sync_conflicts
    keep = [sa.exists().where(column == table.c.id) for column in referencing] + [
        sa.exists().where(
            conflicts.c.entity == spec.entity,
            conflicts.c.record_id == table.c.id,
            sa.not_(conflicts.c.resolved),
        )
    ]
    doomed = (
        sa.select(table.c.id)
        .where(table.c.deleted_at < deleted_before, *[sa.not_(k) for k in keep])
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return sa.delete(table).where(table.c.id.in_(doomed.scalar_subquery()))


class SqlHousekeeping(Housekeeping):
    def __init__(self, engine: sa.Engine, tombstones: Sequence[TombstoneTable] = TOMBSTONES):
        self._engine = engine
        self._tombstones = {t.entity: t for t in tombstones}

    def _run(self, statement: sa.Executable, params: dict[str, object] | None = None) -> int:
        with self._engine.begin() as conn:
            return int(conn.execute(statement, params or {}).rowcount)

    def purge_refresh_tokens(self, now: datetime, limit: int) -> int:
        return self._run(_REFRESH_TOKENS, {"now": now, "n": limit})

    def purge_reset_tokens(self, now: datetime, limit: int) -> int:
        return self._run(_RESET_TOKENS, {"now": now, "n": limit})

    def purge_sessions(self, ended_before: datetime, limit: int) -> int:
        return self._run(_SESSIONS, {"ended_before": ended_before, "n": limit})

    def purge_rate_limits(self, now: datetime, limit: int) -> int:
        return self._run(_RATE_LIMITS, {"now": now, "n": limit})

    def tombstone_entities(self) -> Sequence[str]:
        return list(self._tombstones)

    def purge_tombstones(self, entity: str, deleted_before: datetime, limit: int) -> int:
        spec = self._tombstones[entity]
        with self._engine.begin() as conn:
            referencing = referencing_columns(conn, spec.table)
            statement = tombstone_purge(spec, referencing, deleted_before, limit)
            return int(conn.execute(statement).rowcount)
