"""Hot-path reads straight through psycopg, with SQL compiled once from Core.

`Connection.execute` costs ~0.25 ms of Python per statement on this machine (building
the statement, its cache key, bind and result processing) against ~0.1 ms for psycopg
alone (docs/performance.md, "Reading the sample-list run"). The statements every
request runs (the session check, a sample by id, its results, a list's page and count)
go through a `DriverQuery` instead: the SQL text still comes from the Core tables, so the
schema stays in one place, but it is compiled once per process and executed on the
unit of work's own connection, in its transaction. Enum columns come back as their
domain enums (`Decoder`), exactly as SQLAlchemy would return them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa


class DriverQuery:
    """One Core statement with named `bindparam`s, compiled for the connection's dialect on
    first use. psycopg prepares a statement on its sixth run on a connection, and
    PostgreSQL may then switch to a generic plan, blind to the parameters: right for a key
    lookup (no planning at all), wrong for a list whose best plan depends on the values (a
    search for '%agadir%' lost its trigram index: 8 -> 100 ms). `plan_each_run` sends the
    statement unprepared, planned for its values every time (ADR 0014)."""

    __slots__ = ("_compiled", "_prepare", "_statement")

    def __init__(self, statement: sa.ClauseElement, *, plan_each_run: bool = False):
        self._statement = statement
        self._prepare: bool | None = False if plan_each_run else None
        # By the dialect's parameter style: the production engine binds $1, $2 … for
        # psycopg's raw cursor (adapters/sqlalchemy/engine.py); an engine made otherwise
        # (a test's) binds by name.
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: sa.Dialect) -> _Compiled:
        compiled: Any = self._statement.compile(dialect=dialect)
        defaults = {k: v for k, v in compiled.params.items() if v is not None}
        names = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        # The column types' own conversions (JSON to text), as SQLAlchemy would apply
        # them: what an INSERT or UPDATE of a JSONB column needs. Enums are bound by value
        # below instead, whatever enum class the caller holds.
        processors = {
            name: process
            for name, process in compiled._bind_processors.items()
            if not isinstance(compiled.binds[name].type, sa.Enum)
        }
        found = self._compiled[dialect.paramstyle] = _Compiled(
            str(compiled), names, defaults, processors
        )
        return found

    def sql(self, dialect: sa.Dialect) -> str:
        return (self._compiled.get(dialect.paramstyle) or self._compile(dialect)).sql

    def rows(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        return self._run(conn, params, fetch=True)  # type: ignore[no-any-return]

    def execute(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement that returns no rows (an INSERT, an UPDATE); its row count."""
        return self._run(conn, params, fetch=False)  # type: ignore[no-any-return]

    def _run(self, conn: sa.Connection, params: Mapping[str, Any] | None, *, fetch: bool) -> Any:
        dialect = conn.dialect
        compiled = self._compiled.get(dialect.paramstyle) or self._compile(dialect)
        sql, values = compiled.sql, compiled.bind(params or {})
        driver: Any = conn.connection.driver_connection
        try:
            with driver.cursor() as cursor:
                # Listeners of the engine's cursor events (SQL logging, tracing, the tests'
                # statement counters, the read-only guard) see these statements as they
                # see every other one.
                events = conn.dispatch
                if events.before_cursor_execute:
                    events.before_cursor_execute(conn, cursor, sql, values, None, False)
                cursor.execute(sql, values, prepare=self._prepare)
                return cursor.fetchall() if fetch else cursor.rowcount
        except psycopg.Error:
            if driver.broken or driver.closed:
                conn.invalidate()  # never hand a dead connection back to the pool
            raise

    def scalar(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> Any:
        rows = self.rows(conn, params)
        return rows[0][0] if rows else None


class _Compiled:
    __slots__ = ("defaults", "names", "processors", "sql")

    def __init__(
        self,
        sql: str,
        names: tuple[str, ...] | None,
        defaults: dict[str, Any],
        processors: dict[str, Callable[[Any], Any]],
    ):
        self.sql = sql
        self.names = names  # positional binds in order; None: bound by name
        self.defaults = defaults
        self.processors = processors

    def bind(self, params: Mapping[str, Any]) -> Any:
        processors = self.processors
        if self.names is None:
            merged = {**self.defaults, **params}
            return {k: _bindable(v, processors.get(k)) for k, v in merged.items()}
        defaults = self.defaults
        return [
            _bindable(params[n] if n in params else defaults[n], processors.get(n))
            for n in self.names
        ]


def _bindable(value: Any, process: Callable[[Any], Any] | None) -> Any:
    if process is not None:
        return process(value)
    # psycopg would send an enum member by its name; the columns store the value.
    return value.value if isinstance(value, enum.Enum) else value


class Decoder:
    """Turns the raw values of `columns` into what the domain holds (enums as enums)."""

    __slots__ = ("_enums",)

    def __init__(self, columns: Sequence[sa.ColumnElement[Any]]):
        # Each enum's members by value: a dict lookup, not a call of the enum class.
        self._enums = tuple(
            (index, dict(column.type.enum_class._value2member_map_))
            for index, column in enumerate(columns)
            if isinstance(column.type, sa.Enum) and column.type.enum_class is not None
        )

    def __call__(self, row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for index, members in self._enums:
            value = values[index]
            if value is not None:
                values[index] = members[value]
        return values
