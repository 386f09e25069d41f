"""Sample search through the lab's vocabulary of places and collectors.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21

`GET /samples?search=agadir` matched `location ILIKE '%agadir%'` on the samples
themselves: a trigram bitmap scan that rechecks every matching row in the heap, twice
per request (the count, then the page): 9-12 ms of PostgreSQL for a place name found in
1,500 of 100,000 samples (docs/adr/0016-sample-search-terms.md).

A lab has far fewer distinct places and collectors than samples (4,832 and 24 in the
100,000-sample bench lab). `sample_search_terms` holds each distinct value once, kept by
statement-level triggers on samples (insert and update; rows are never deleted, a stale
term matches no live sample). A search first finds the matching terms (trigram index
on a small table), then counts and pages the samples whose location or collector *is*
one of them, through index-only scans of the two new indexes below.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LIVE = sa.text("deleted_at IS NULL")

# Terms in a fixed order, so two transactions adding the same new terms lock them in the
# same order (no deadlock between them; the later one waits, then skips).
REMEMBER_TERMS = """
CREATE OR REPLACE FUNCTION aqualab_remember_search_terms() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sample_search_terms (lab_id, field, term)
    SELECT lab_id, field, term FROM (
        SELECT lab_id, 'location' AS field, location AS term FROM changed_samples
        UNION
        SELECT lab_id, 'collector_name', collector_name FROM changed_samples
    ) terms
    ORDER BY lab_id, field, term
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "sample_search_terms",
        sa.Column("lab_id", sa.Uuid, nullable=False),
        sa.Column("field", sa.String(16), nullable=False),
        sa.Column("term", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("lab_id", "field", "term", name="pk_sample_search_terms"),
        sa.CheckConstraint(
            "field IN ('location', 'collector_name')", name="ck_sample_search_terms_field"
        ),
    )
    op.create_index(
        "ix_sample_search_terms_term_trgm",
        "sample_search_terms",
        ["term"],
        postgresql_using="gin",
        postgresql_ops={"term": "gin_trgm_ops"},
    )
    for column in ("location", "collector_name"):
        op.create_index(
            f"ix_samples_lab_{column}_collection_date",
            "samples",
            ["lab_id", column, "collection_date", "id"],
            postgresql_where=LIVE,
        )
    op.execute(
        "INSERT INTO sample_search_terms (lab_id, field, term) "
        "SELECT DISTINCT lab_id, 'location', location FROM samples "
        "UNION SELECT DISTINCT lab_id, 'collector_name', collector_name FROM samples"
    )
    op.execute(REMEMBER_TERMS)
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER samples_search_terms_{event.lower()} AFTER {event} ON samples "
            "REFERENCING NEW TABLE AS changed_samples "
            "FOR EACH STATEMENT EXECUTE FUNCTION aqualab_remember_search_terms()"
        )


def downgrade() -> None:
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER samples_search_terms_{event} ON samples")
    op.execute("DROP FUNCTION aqualab_remember_search_terms()")
    for column in ("location", "collector_name"):
        op.drop_index(f"ix_samples_lab_{column}_collection_date", table_name="samples")
    op.drop_index("ix_sample_search_terms_term_trgm", table_name="sample_search_terms")
    op.drop_table("sample_search_terms")
