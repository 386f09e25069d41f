"""Announce changes to sessions and users: lets a process keep them between requests.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21

Checking the session and its user was a fifth of the CPU of a simple authenticated GET.
A process may keep them in memory if it hears of every change at once (ADR 0020): row
triggers `pg_notify('aqualab_auth', <user id>)` on every update or delete of a session
(logout, refresh, revocation) or of a user (role, lab, deactivation, soft or hard
delete, login bookkeeping). PostgreSQL delivers a notification when the changing
transaction commits, never for one that rolls back, and sends a payload repeated in one
transaction once: revoking all of a user's sessions costs one message. TRUNCATE (tests
and restores) announces `*`, which listeners read as "drop everything".
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NOTIFY_ROW = """
CREATE FUNCTION aqualab_notify_auth_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('aqualab_auth', OLD.id::text);
    ELSE
        PERFORM pg_notify('aqualab_auth', OLD.user_id::text);
    END IF;
    RETURN NULL;
END $$
"""

NOTIFY_ALL = """
CREATE FUNCTION aqualab_notify_auth_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aqualab_auth', '*');
    RETURN NULL;
END $$
"""

AUTH_TABLES = ("auth_sessions", "users")


def upgrade() -> None:
    op.execute(NOTIFY_ROW)
    op.execute(NOTIFY_ALL)
    for table in AUTH_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_notify_auth AFTER UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION aqualab_notify_auth_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_notify_auth_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION aqualab_notify_auth_truncate()"
        )


def downgrade() -> None:
    for table in AUTH_TABLES:
        op.execute(f"DROP TRIGGER {table}_notify_auth_truncate ON {table}")
        op.execute(f"DROP TRIGGER {table}_notify_auth ON {table}")
    op.execute("DROP FUNCTION aqualab_notify_auth_truncate()")
    op.execute("DROP FUNCTION aqualab_notify_auth_change()")
