"""Cheaper bookkeeping on the write path: statement-level audit queueing, feed stamps as
column defaults.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21

A sync batch of 1,000 mutations COPYs 1,000 audit entries and 1,000 records. Per-row
PL/pgSQL triggers ran 2,000 times for it, and the 1,000 queue rows each carried a
deferred foreign-key check at COMMIT (measured: COPY audit_log 26 ms, COMMIT 41 ms of a
~200 ms batch).

- `audit_log_queue_for_seal` becomes a statement-level trigger over the transition
  table: one `INSERT … SELECT` per statement queues every new entry.
- `audit_pending.entry_id` loses its foreign key: the queue row is written by that
  trigger from the audit row itself, in the same transaction, and audit rows can never
  be deleted (append-only triggers), so the check could never fail.
- A new row's `sync_txid`/`sync_seq` come from column defaults (evaluated without a
  trigger call); the `aqualab_sync_stamp` trigger now runs on UPDATE only, where it
  still restamps every change whatever the statement says.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SYNCED_TABLES = ("samples", "test_results", "tasks")
TXID = sa.text("(pg_current_xact_id()::text::bigint)")
SEQ = sa.text("nextval('sync_change_seq')")

ROW_QUEUE = """
CREATE OR REPLACE FUNCTION aqualab_queue_for_seal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_pending (entry_id, txid) VALUES (NEW.id, pg_current_xact_id());
    RETURN NEW;
END $$
"""
STATEMENT_QUEUE = """
CREATE OR REPLACE FUNCTION aqualab_queue_for_seal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_pending (entry_id, txid)
    SELECT id, pg_current_xact_id() FROM new_entries;
    RETURN NULL;
END $$
"""


def _synced_tables() -> list[str]:
    """Tables with the feed columns (tasks gains them when tasks sync)."""
    inspector = sa.inspect(op.get_bind())
    return [
        t for t in SYNCED_TABLES if "sync_txid" in {c["name"] for c in inspector.get_columns(t)}
    ]


def upgrade() -> None:
    op.execute("DROP TRIGGER audit_log_queue_for_seal ON audit_log")
    op.execute(STATEMENT_QUEUE)
    op.execute(
        "CREATE TRIGGER audit_log_queue_for_seal AFTER INSERT ON audit_log "
        "REFERENCING NEW TABLE AS new_entries "
        "FOR EACH STATEMENT EXECUTE FUNCTION aqualab_queue_for_seal()"
    )
    op.drop_constraint("fk_audit_pending_entry_id_audit_log", "audit_pending", type_="foreignkey")
    for table in _synced_tables():
        op.alter_column(table, "sync_txid", server_default=TXID)
        op.alter_column(table, "sync_seq", server_default=SEQ)
        op.execute(f"DROP TRIGGER {table}_sync_stamp ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_sync_stamp BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION aqualab_sync_stamp()"
        )


def downgrade() -> None:
    for table in _synced_tables():
        op.execute(f"DROP TRIGGER {table}_sync_stamp ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_sync_stamp BEFORE INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION aqualab_sync_stamp()"
        )
        op.alter_column(table, "sync_seq", server_default=None)
        op.alter_column(table, "sync_txid", server_default=None)
    op.create_foreign_key(
        "fk_audit_pending_entry_id_audit_log",
        "audit_pending",
        "audit_log",
        ["entry_id"],
        ["id"],
        deferrable=True,
        initially="DEFERRED",
    )
    op.execute("DROP TRIGGER audit_log_queue_for_seal ON audit_log")
    op.execute(ROW_QUEUE)
    op.execute(
        "CREATE TRIGGER audit_log_queue_for_seal AFTER INSERT ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION aqualab_queue_for_seal()"
    )
