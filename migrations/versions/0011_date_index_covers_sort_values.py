"""The lab's collection-date index carries every sortable column of a sample.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22

A list filtered by a date range and sorted by another column (a month by place, by
entry time) fetches the range's matches with their sort values and sorts them (ADR
0008). Those values came from the table: a month of ~4,000 samples visited ~2,000 heap
pages when rows are not stored in collection order (6 ms of PostgreSQL). With the
sortable columns included in the index, the matches are an index-only scan (~2.5 ms).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

LIVE = sa.text("deleted_at IS NULL")
SORT_VALUES = [
    "created_at",
    "updated_at",
    "location",
    "collector_name",
    "type",
    "status",
    "compliance_status",
]


def upgrade() -> None:
    _replace_date_index(include=SORT_VALUES)


def downgrade() -> None:
    _replace_date_index(include=[])


def _replace_date_index(*, include: list[str]) -> None:
    op.drop_index("ix_samples_lab_collection_date", table_name="samples")
    op.create_index(
        "ix_samples_lab_collection_date",
        "samples",
        ["lab_id", "collection_date", "id"],
        postgresql_include=include,
        postgresql_where=LIVE,
    )
