"""Indexes for `aqualab purge`: tombstones by age, and results by sample for every row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21

Deleting a sample makes PostgreSQL check that no result still points at it. The
results-by-sample index covered live rows only, so each of those checks scanned every
result (177 s to purge 10,000 old sample tombstones among 100,000 results; 1.3 s with
an index on every row). The index is rebuilt without its `deleted_at IS NULL`
condition: live-result reads use it as before, tombstones only make it slightly larger.
The partial `deleted_at` indexes hold tombstones only, so purge finds old ones without
reading the live rows. Built CONCURRENTLY: the tables stay writable during an upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TOMBSTONES = sa.text("deleted_at IS NOT NULL")
LIVE = sa.text("deleted_at IS NULL")
TOMBSTONED_TABLES = ("samples", "test_results", "tasks")


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_test_results_sample_all",
            "test_results",
            ["sample_id", "test_date", "id"],
            postgresql_concurrently=True,
        )
        op.drop_index("ix_test_results_sample", "test_results", postgresql_concurrently=True)
        for table in TOMBSTONED_TABLES:
            op.create_index(
                f"ix_{table}_tombstones",
                table,
                ["deleted_at"],
                postgresql_where=TOMBSTONES,
                postgresql_concurrently=True,
            )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for table in TOMBSTONED_TABLES:
            op.drop_index(f"ix_{table}_tombstones", table, postgresql_concurrently=True)
        op.create_index(
            "ix_test_results_sample",
            "test_results",
            ["sample_id", "test_date", "id"],
            postgresql_where=LIVE,
            postgresql_concurrently=True,
        )
        op.drop_index("ix_test_results_sample_all", "test_results", postgresql_concurrently=True)
