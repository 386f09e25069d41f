"""The database itself refuses to change or remove audit entries and chain links."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.audit_chain import SqlAlchemyAuditChain
from tests.factories import T0

pytestmark = pytest.mark.integration

INSUFFICIENT_PRIVILEGE = "42501"

STATEMENTS = {
    "update": "UPDATE {table} SET {column} = {column}",
    "delete": "DELETE FROM {table}",
    "truncate": "TRUNCATE {table} CASCADE",
}
COLUMNS = {"audit_log": "reason", "audit_chain": "hash"}


@pytest.fixture
def sealed_entries(engine: sa.Engine) -> list[tuple[object, ...]]:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(tables.audit_log),
            [
                {"occurred_at": T0, "entity_type": "user", "entity_id": str(n), "action": "create"}
                for n in range(3)
            ],
        )
    assert SqlAlchemyAuditChain(engine).seal_pending() == 3
    return _snapshot(engine)


def _snapshot(engine: sa.Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        log = conn.execute(sa.text("SELECT * FROM audit_log ORDER BY id")).all()
        chain = conn.execute(sa.text("SELECT * FROM audit_chain ORDER BY seq")).all()
    return [tuple(r) for r in [*log, *chain]]


@pytest.mark.parametrize("statement", sorted(STATEMENTS))
@pytest.mark.parametrize("table", ["audit_log", "audit_chain"])
def test_changes_are_rejected(
    engine: sa.Engine, sealed_entries: list[tuple[object, ...]], table: str, statement: str
) -> None:
    sql = STATEMENTS[statement].format(table=table, column=COLUMNS[table])
    with pytest.raises(sa.exc.DBAPIError) as caught, engine.begin() as conn:
        conn.execute(sa.text(sql))
    assert getattr(caught.value.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE
    assert "append-only" in str(caught.value.orig)
    assert _snapshot(engine) == sealed_entries
    assert SqlAlchemyAuditChain(engine).verify().ok


def test_appending_is_allowed_and_queues_the_entry_for_sealing(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        entry_id = conn.scalar(
            sa.insert(tables.audit_log)
            .values(occurred_at=T0, entity_type="lab", entity_id="x", action="create")
            .returning(tables.audit_log.c.id)
        )
        txid = conn.scalar(sa.text("SELECT pg_current_xact_id()::text"))
        queued = conn.execute(sa.text("SELECT entry_id, txid::text FROM audit_pending")).all()
    assert [tuple(r) for r in queued] == [(entry_id, txid)]
