"""Alembic: upgrade, downgrade and upgrade again on a fresh database; schema == ORM metadata."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from adapters.sqlalchemy.tables import metadata
from migrations import alembic_config

pytestmark = pytest.mark.integration

HEAD = ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_current_head()

TRIGGERS = {
    ("audit_log", "audit_log_append_only"),
    ("audit_log", "audit_log_no_truncate"),
    ("audit_log", "audit_log_queue_for_seal"),
    ("audit_chain", "audit_chain_append_only"),
    ("audit_chain", "audit_chain_no_truncate"),
    ("samples", "samples_sync_stamp"),
    ("samples", "samples_search_terms_insert"),
    ("samples", "samples_search_terms_update"),
    ("test_results", "test_results_sync_stamp"),
    ("parameters", "parameters_reference_version"),
    ("standards", "standards_reference_version"),
    ("standard_limits", "standard_limits_reference_version"),
    ("auth_sessions", "auth_sessions_notify_auth"),
    ("auth_sessions", "auth_sessions_notify_auth_truncate"),
    ("users", "users_notify_auth"),
    ("users", "users_notify_auth_truncate"),
}


def _schema_facts(url: str) -> tuple[set[str], set[tuple[str, str]], set[str], str | None]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            triggers = {
                (row.table, row.name)
                for row in conn.execute(
                    sa.text(
                        "SELECT tgrelid::regclass::text AS table, tgname AS name "
                        "FROM pg_trigger WHERE NOT tgisinternal"
                    )
                )
            }
            functions = set(
                conn.scalars(sa.text("SELECT proname FROM pg_proc WHERE proname LIKE 'aqualab%'"))
            )
            version = (
                conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
                if "alembic_version" in tables
                else None
            )
        return tables, triggers, functions, version
    finally:
        engine.dispose()


def _differences(url: str) -> list[object]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_on_a_fresh_database(scratch_database_url: str) -> None:
    config = alembic_config(scratch_database_url)
    expected_tables = set(metadata.tables)

    command.upgrade(config, "head")
    tables, triggers, functions, version = _schema_facts(scratch_database_url)
    assert expected_tables <= tables
    assert triggers == TRIGGERS
    assert functions == {
        "aqualab_reject_change",
        "aqualab_queue_for_seal",
        "aqualab_sync_stamp",
        "aqualab_remember_search_terms",
        "aqualab_remember_row_search_terms",
        "aqualab_bump_reference_version",
        "aqualab_notify_auth_change",
        "aqualab_notify_auth_truncate",
    }
    assert version == HEAD == "0011"
    assert _count(scratch_database_url, "standard_limits") > 30  # the seeded reference data

    command.downgrade(config, "base")
    tables, triggers, functions, version = _schema_facts(scratch_database_url)
    assert tables == {"alembic_version"}
    assert triggers == set()
    assert functions == set()
    assert version is None

    command.upgrade(config, "head")
    tables, triggers, functions, version = _schema_facts(scratch_database_url)
    assert expected_tables <= tables
    assert triggers == TRIGGERS
    assert version == HEAD
    assert _differences(scratch_database_url) == []


def _count(url: str, table: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)
    finally:
        engine.dispose()


def test_migrated_schema_equals_the_orm_metadata(database_url: str) -> None:
    assert _differences(database_url) == []


def test_the_comparison_notices_a_drifted_schema(scratch_database_url: str) -> None:
    """Guard the guard: a column the ORM does not know about must show up as a difference."""
    command.upgrade(alembic_config(scratch_database_url), "head")
    engine = sa.create_engine(scratch_database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE labs ADD COLUMN stray integer"))
            conn.execute(sa.text("DROP INDEX ix_users_created_at"))
    finally:
        engine.dispose()
    kinds = {diff[0] for diff in _differences(scratch_database_url) if isinstance(diff, tuple)}
    assert {"remove_column", "add_index"} <= kinds


def test_migrated_indexes_include_the_columns_the_metadata_includes(database_url: str) -> None:
    """Alembic's comparison does not look at INCLUDE columns: the covering indexes are
    compared here (ix_samples_lab_collection_date must carry every sortable column)."""
    expected = {
        index.name: list(index.dialect_options["postgresql"]["include"])
        for table in metadata.tables.values()
        for index in table.indexes
        if index.dialect_options["postgresql"]["include"]
    }
    assert expected["ix_samples_lab_collection_date"]
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            found = {
                name: [
                    row.attname
                    for row in conn.execute(
                        sa.text(
                            "SELECT a.attname FROM pg_index i"
                            " CROSS JOIN LATERAL unnest(i.indkey::int2[])"
                            "   WITH ORDINALITY AS k(attnum, position)"
                            " JOIN pg_attribute a"
                            "   ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
                            " WHERE i.indexrelid = CAST(:name AS regclass)"
                            "   AND k.position > i.indnkeyatts ORDER BY k.position"
                        ),
                        {"name": name},
                    )
                ]
                for name in expected
            }
    finally:
        engine.dispose()
    assert found == expected
