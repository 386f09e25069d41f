"""Sync: field clocks and the change feed on samples and results, devices, conflicts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

Every insert or update of a syncable row gets `sync_txid` (the writing transaction,
`pg_current_xact_id()`) and `sync_seq` (a global sequence) from the `aqualab_sync_stamp`
trigger. A pull serves rows in (sync_txid, sync_seq) order and only those whose
transaction is older than every still-running writer, so a late commit is never
skipped (docs/adr/0009-sync-engine.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
SYNCED_TABLES = ("samples", "test_results")

STAMP_FUNCTION = """
CREATE FUNCTION aqualab_sync_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.sync_txid := pg_current_xact_id()::text::bigint;
    NEW.sync_seq := nextval('sync_change_seq');
    RETURN NEW;
END
$$
"""


def _enum(name: str, values: list[str], length: int) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.execute("CREATE SEQUENCE sync_change_seq AS bigint")
    op.execute(STAMP_FUNCTION)
    for table in SYNCED_TABLES:
        op.add_column(
            table,
            sa.Column("sync_clock", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        )
        # Existing rows enter the feed in id order, as if written by one old transaction.
        op.add_column(table, sa.Column("sync_txid", sa.BigInteger, nullable=True))
        op.add_column(table, sa.Column("sync_seq", sa.BigInteger, nullable=True))
        op.execute(
            f"UPDATE {table} SET sync_txid = 0, sync_seq = s.n FROM ("  # noqa: S608 - constant
            f"SELECT id, nextval('sync_change_seq') AS n FROM {table} ORDER BY id) s "
            f"WHERE {table}.id = s.id"
        )
        op.alter_column(table, "sync_txid", nullable=False)
        op.alter_column(table, "sync_seq", nullable=False)
        op.execute(
            f"CREATE TRIGGER {table}_sync_stamp BEFORE INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION aqualab_sync_stamp()"
        )
    op.create_index("ix_samples_lab_sync_feed", "samples", ["lab_id", "sync_txid", "sync_seq"])
    op.create_index(
        "ix_test_results_lab_sync_feed", "test_results", ["lab_id", "sync_txid", "sync_seq"]
    )
    # The feed index leads with lab_id: the lab-only index is redundant (and tempted the
    # planner into sorting a lab's results for a pull).
    op.drop_index("ix_test_results_lab_id", table_name="test_results")

    op.create_table(
        "sync_devices",
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("lab_id", sa.Uuid, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_mutation_id", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_sync_at", TS, nullable=True),
        sa.Column(
            "status", _enum("sync_device_status", ["ok", "partial", "error"], 16), nullable=False
        ),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("device_id", name="pk_sync_devices"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_sync_devices_user_id_users",
            deferrable=True,
            initially="DEFERRED",
        ),
    )
    op.create_index("ix_sync_devices_user_id", "sync_devices", ["user_id"])

    op.create_table(
        "sync_conflicts",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("lab_id", sa.Uuid, nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("record_id", sa.Uuid, nullable=False),
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=True),
        sa.Column("mutation_id", sa.BigInteger, nullable=False),
        sa.Column(
            "resolution",
            _enum("sync_resolution", ["server_won", "client_won", "merged"], 16),
            nullable=False,
        ),
        sa.Column("server_data", JSONB, nullable=True),
        sa.Column("client_data", JSONB, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("resolved_by", sa.Uuid, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column(
            "manual_resolution",
            _enum("sync_manual_resolution", ["server_won", "client_won", "custom"], 16),
            nullable=True,
        ),
        sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.PrimaryKeyConstraint("id", name="pk_sync_conflicts"),
    )
    op.create_index(
        "ix_sync_conflicts_lab_created", "sync_conflicts", ["lab_id", "created_at", "id"]
    )
    op.create_index(
        "ix_sync_conflicts_lab_resolved", "sync_conflicts", ["lab_id", "resolved", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("sync_conflicts")
    op.drop_table("sync_devices")
    op.create_index("ix_test_results_lab_id", "test_results", ["lab_id"])
    for table in SYNCED_TABLES:
        op.execute(f"DROP TRIGGER {table}_sync_stamp ON {table}")
        op.drop_index(f"ix_{table}_lab_sync_feed", table_name=table)
        for column in ("sync_seq", "sync_txid", "sync_clock"):
            op.drop_column(table, column)
    op.execute("DROP FUNCTION aqualab_sync_stamp()")
    op.execute("DROP SEQUENCE sync_change_seq")
