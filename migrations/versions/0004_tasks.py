"""Tasks: every user's private to-do list.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

`completed` is not stored: it is `status = 'completed'` (docs/adr/0011). Deleted tasks
are tombstones (`deleted_at`), so a later sync entity and purge can use them. Every list
query is one owner's live tasks, so each index leads with `owner_id` and is partial on
live rows; the other sorts (updated_at, priority rank, due_date) sort one person's
tasks found through `ix_tasks_owner_created_at` (docs/tasks.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
LIVE = sa.text("deleted_at IS NULL")


def _enum(name: str, values: list[str], length: int) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("owner_id", sa.Uuid, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column(
            "status",
            _enum("task_status", ["pending", "in_progress", "completed"], 16),
            nullable=False,
        ),
        sa.Column("priority", _enum("task_priority", ["low", "medium", "high"], 8), nullable=False),
        sa.Column("due_date", TS, nullable=True),
        sa.Column("sample_id", sa.Uuid, nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.Uuid, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.Uuid, nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name="fk_tasks_owner_id_users",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"],
            ["samples.id"],
            name="fk_tasks_sample_id_samples",
            deferrable=True,
            initially="DEFERRED",
        ),
    )
    op.create_index(
        "ix_tasks_owner_created_at",
        "tasks",
        ["owner_id", "created_at", "id"],
        postgresql_where=LIVE,
    )
    op.create_index(
        "ix_tasks_owner_status",
        "tasks",
        ["owner_id", "status", "created_at", "id"],
        postgresql_where=LIVE,
    )
    op.create_index(
        "ix_tasks_sample_id",
        "tasks",
        ["sample_id"],
        postgresql_where=sa.text("sample_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("tasks")
