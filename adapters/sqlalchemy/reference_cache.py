"""Parameters, standards and limits kept in memory per process, checked every time.

A result is judged against reference data an admin changes a few times a year; reading
it for every POST result cost three queries and ~1 ms of Python. The cache keeps one
`ReferenceData` together with the `reference_data_version` value it was loaded under
(migration 0009: statement triggers set a new value, from a sequence, on any change to
the three tables). Each unit of work that asks reads the version — one single-row
lookup in its own transaction — and gets the kept copy only if the value is the same;
otherwise the data is loaded again, in that transaction, and kept in place of the old.

So a change committed by any process is seen by the next unit of work of every process,
and a transaction sees its own uncommitted changes (the trigger's new value differs
from any committed one). The objects are plain copies built from rows, attached to no
session: nothing expires or lazily loads them, and nothing may change them.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.driver import DriverQuery
from adapters.sqlalchemy.repositories import RowMapper
from domain.lab_data import Parameter, ReferenceData, Standard, StandardLimit

_VERSION = DriverQuery(sa.select(tables.reference_data_version.c.version))
_PARAMETERS = RowMapper(Parameter, tables.parameters)
_STANDARDS = RowMapper(Standard, tables.standards)
_LIMITS = RowMapper(StandardLimit, tables.standard_limits)


class ReferenceDataCache:
    """One per process (the container's), shared by its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: tuple[int, ReferenceData] | None = None
        self.loads = 0  # how many times the data was read from the database

    def current(self, conn: sa.Connection) -> ReferenceData:
        version = _VERSION.scalar(conn)
        kept = self._kept
        if kept is not None and kept[0] == version:
            return kept[1]
        data = _load(conn)
        with self._lock:
            self.loads += 1
            self._kept = (version, data)
        return data


def _load(conn: sa.Connection) -> ReferenceData:
    return ReferenceData(
        _rows(conn, _PARAMETERS),
        _rows(conn, _STANDARDS),
        _rows(conn, _LIMITS),
    )


def _rows(conn: sa.Connection, mapper: RowMapper) -> list[Any]:
    return [mapper.one(row) for row in conn.execute(sa.select(*mapper.columns))]
