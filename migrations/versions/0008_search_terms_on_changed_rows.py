"""Search terms: an UPDATE of samples pays only when it changes a location or collector.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21

Migration 0007's statement-level trigger ran its `INSERT … SELECT` after every UPDATE
statement on samples. The sync engine and the compliance recomputation update samples
one row per statement (executemany), so each paid ~0.1 ms for terms that cannot have
changed (500 single-row updates: 95 → 150 ms). The UPDATE trigger becomes a row trigger
on the two columns, guarded by a `WHEN` that PostgreSQL evaluates without calling the
function: updates that leave both columns alone cost nothing. Inserts keep the
statement-level trigger (one ordered `INSERT … SELECT` per statement).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

REMEMBER_ROW_TERMS = """
CREATE OR REPLACE FUNCTION aqualab_remember_row_search_terms() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sample_search_terms (lab_id, field, term)
    VALUES (NEW.lab_id, 'collector_name', NEW.collector_name),
           (NEW.lab_id, 'location', NEW.location)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute("DROP TRIGGER samples_search_terms_update ON samples")
    op.execute(REMEMBER_ROW_TERMS)
    op.execute(
        "CREATE TRIGGER samples_search_terms_update "
        "AFTER UPDATE OF location, collector_name ON samples FOR EACH ROW "
        "WHEN (OLD.location IS DISTINCT FROM NEW.location "
        "OR OLD.collector_name IS DISTINCT FROM NEW.collector_name) "
        "EXECUTE FUNCTION aqualab_remember_row_search_terms()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER samples_search_terms_update ON samples")
    op.execute("DROP FUNCTION aqualab_remember_row_search_terms()")
    op.execute(
        "CREATE TRIGGER samples_search_terms_update AFTER UPDATE ON samples "
        "REFERENCING NEW TABLE AS changed_samples "
        "FOR EACH STATEMENT EXECUTE FUNCTION aqualab_remember_search_terms()"
    )
