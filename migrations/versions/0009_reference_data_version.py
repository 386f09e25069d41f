"""Reference data version: lets a process keep parameters, standards and limits in memory.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21

Judging a result reads the parameter, every standard and the parameter's limits: three
queries and ~1 ms of Python per POST result, for data an admin edits a few times a year.
A process may keep them in memory as long as it checks, in each unit of work, that
`reference_data_version.version` is still the value it loaded them under (one indexed
single-row read). Statement triggers on the three tables set a new value on every
change, in the changing transaction. The value comes from a sequence, not `version + 1`:
sequences never hand out a value twice, even to a transaction that rolls back, so a
process that loaded data inside a transaction that then rolled back can never mistake
its copy for a later committed change that happened to reach the same number.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

REFERENCE_TABLES = ("parameters", "standards", "standard_limits")

BUMP = """
CREATE FUNCTION aqualab_bump_reference_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE reference_data_version SET version = nextval('reference_data_version_seq');
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute("CREATE SEQUENCE reference_data_version_seq")
    op.create_table(
        "reference_data_version",
        sa.Column("id", sa.SmallInteger, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reference_data_version"),
        sa.CheckConstraint("id = 1", name="ck_reference_data_version_one_row"),
    )
    op.execute(
        "INSERT INTO reference_data_version (id, version) "
        "VALUES (1, nextval('reference_data_version_seq'))"
    )
    op.execute(BUMP)
    for table in REFERENCE_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_reference_version "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION aqualab_bump_reference_version()"
        )


def downgrade() -> None:
    for table in REFERENCE_TABLES:
        op.execute(f"DROP TRIGGER {table}_reference_version ON {table}")
    op.execute("DROP FUNCTION aqualab_bump_reference_version()")
    op.execute("DROP TABLE reference_data_version")
    op.execute("DROP SEQUENCE reference_data_version_seq")
