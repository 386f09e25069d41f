"""Read-only units of work: no transaction round trips, and no way to write through one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from psycopg.pq import TransactionStatus

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.engine import make_engine
from adapters.sqlalchemy.orm import start_mappers
from adapters.sqlalchemy.unit_of_work import (
    ReadOnlyViolation,
    SqlAlchemyUnitOfWork,
    make_read_only_session_factory,
    make_session_factory,
)
from domain.lab_data import SampleType
from domain.ports import LabQuery, SampleQuery
from tests.factories import LabFactory, SampleFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def one_connection(clean_db: str) -> Iterator[sa.Engine]:
    """A pool of one: read-only and writing units of work share the same connection."""
    start_mappers()
    engine = make_engine(clean_db, pool_size=1)
    yield engine
    engine.dispose()


def _status(uow: SqlAlchemyUnitOfWork) -> TransactionStatus:
    dbapi: Any = uow.session.connection().connection.dbapi_connection
    return TransactionStatus(dbapi.info.transaction_status)


def test_reads_go_out_alone_and_writes_still_get_a_transaction(one_connection: sa.Engine) -> None:
    writer = make_session_factory(one_connection)
    reader = make_read_only_session_factory(one_connection)
    lab = LabFactory()
    with SqlAlchemyUnitOfWork(writer, reader) as uow:
        uow.labs.add(lab)
        uow.commit()

    with SqlAlchemyUnitOfWork(writer, reader, read_only=True) as uow:
        assert [found.name for found in uow.labs.list(LabQuery()).items] == [lab.name]
        # After its reads, no transaction is open: psycopg sent no BEGIN (and closing
        # the unit of work needs no ROLLBACK).
        assert _status(uow) is TransactionStatus.IDLE

    # The same connection, back in the pool, is transactional again for a writer.
    with SqlAlchemyUnitOfWork(writer, reader) as uow:
        found = uow.labs.get(lab.id)
        assert found is not None
        assert _status(uow) is TransactionStatus.INTRANS
        found.name = "Renamed, then rolled back"
        uow.rollback()
    with SqlAlchemyUnitOfWork(writer, reader, read_only=True) as uow:
        again = uow.labs.get(lab.id)
        assert again is not None and again.name == lab.name


def test_a_read_only_unit_of_work_refuses_every_write(one_connection: sa.Engine) -> None:
    writer = make_session_factory(one_connection)
    reader = make_read_only_session_factory(one_connection)
    with SqlAlchemyUnitOfWork(writer, reader, read_only=True) as uow:
        uow.labs.add(LabFactory())
        with pytest.raises(ReadOnlyViolation):
            uow.commit()
        with pytest.raises(ReadOnlyViolation, match="INSERT"):
            uow.session.execute(sa.insert(tables.labs).values(**_lab_row()))
        with pytest.raises(ReadOnlyViolation, match="DELETE"):
            uow.session.execute(sa.delete(tables.labs))
    with one_connection.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(tables.labs)) == 0


def _lab_row() -> dict[str, object]:
    lab = LabFactory()
    return {
        "id": lab.id,
        "name": lab.name,
        "code": lab.code,
        "created_at": lab.created_at,
        "updated_at": lab.updated_at,
    }


def test_lists_are_planned_for_their_values_and_lookups_are_prepared(
    one_connection: sa.Engine,
) -> None:
    """psycopg prepares a statement on its sixth run on a connection, and PostgreSQL
    may then use a generic plan, blind to the values: fine for a lookup by key, wrong
    for lists. Those go out unprepared (ADR 0014). A search's term lookup and the join
    of the found terms to the samples have one plan whatever the values (the lookup's
    keeps its trigram index: tests/integration/test_sample_search.py), so they are
    prepared (ADR 0016)."""
    writer = make_session_factory(one_connection)
    reader = make_read_only_session_factory(one_connection)
    lab = LabFactory()
    with SqlAlchemyUnitOfWork(writer, reader) as uow:
        uow.labs.add(lab)
        uow.samples.add(SampleFactory(lab_id=lab.id, location="Agadir harbour"))
        uow.commit()
    for _ in range(8):
        with SqlAlchemyUnitOfWork(writer, reader, read_only=True) as uow:
            assert uow.samples.list(SampleQuery(lab_id=lab.id, search="agadir")).total == 1
            assert uow.samples.list(SampleQuery(lab_id=lab.id, type=SampleType.WASTE)).total == 0
            uow.labs.get(lab.id)
    with one_connection.connect() as conn:  # the pool's only connection: the same session
        prepared = list(conn.scalars(sa.text("SELECT statement FROM pg_prepared_statements")))
    assert any("FROM labs" in s for s in prepared), prepared
    assert any("FROM unnest(" in s for s in prepared), prepared  # the terms' join
    assert any("FROM sample_search_terms" in s for s in prepared), prepared  # the lookup
    lists = [s for s in prepared if "FROM samples" in s and "FROM unnest(" not in s]
    assert not lists, lists
