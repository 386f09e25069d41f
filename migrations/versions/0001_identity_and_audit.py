"""Identity and access, the append-only hash-chained audit trail, rate limits.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from adapters.sqlalchemy.tables import Xid8

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _enum(name: str, values: list[str], length: int) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.create_table(
        "labs",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("code", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name="pk_labs"),
    )
    op.create_index("uq_labs_lower_name", "labs", [sa.text("lower(name)")], unique=True)
    op.create_index(
        "uq_labs_lower_code",
        "labs",
        [sa.text("lower(code)")],
        unique=True,
        postgresql_where=sa.text("code IS NOT NULL"),
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column(
            "role", _enum("user_role", ["admin", "technician", "viewer"], 20), nullable=False
        ),
        sa.Column("lab_id", sa.Uuid, nullable=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("last_login_at", TS, nullable=True),
        sa.Column("failed_login_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.ForeignKeyConstraint(
            ["lab_id"],
            ["labs.id"],
            name="fk_users_lab_id_labs",
            deferrable=True,
            initially="DEFERRED",
        ),
    )
    op.create_index(
        "uq_users_email_live",
        "users",
        ["email"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index("ix_users_lab_id", "users", ["lab_id"])
    op.create_index("ix_users_created_at", "users", ["created_at"])

    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_auth_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_auth_sessions_user_id_users",
            deferrable=True,
            initially="DEFERRED",
        ),
    )
    op.create_index("ix_auth_sessions_user_id", "auth_sessions", ["user_id"])
    op.create_index("ix_auth_sessions_expires_at", "auth_sessions", ["expires_at"])

    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("session_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("rotated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_tokens"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["auth_sessions.id"],
            name="fk_refresh_tokens_session_id_auth_sessions",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_refresh_tokens_user_id_users",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
    )
    op.create_index("ix_refresh_tokens_session_id", "refresh_tokens", ["session_id"])
    op.create_index("ix_refresh_tokens_expires_at", "refresh_tokens", ["expires_at"])

    op.create_table(
        "password_reset_tokens",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_password_reset_tokens"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_password_reset_tokens_user_id_users",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.UniqueConstraint("token_hash", name="uq_password_reset_tokens_token_hash"),
    )
    op.create_index("ix_password_reset_tokens_user_id", "password_reset_tokens", ["user_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=True),
        sa.Column(
            "entity_type",
            _enum(
                "audit_entity_type",
                [
                    "sample",
                    "result",
                    "parameter",
                    "standard_limit",
                    "user",
                    "lab",
                    "task",
                    "conflict",
                ],
                32,
            ),
            nullable=False,
        ),
        sa.Column("entity_id", sa.Text, nullable=False),
        sa.Column(
            "action",
            _enum("audit_action", ["create", "update", "delete", "resolve"], 16),
            nullable=False,
        ),
        sa.Column("old_values", JSONB, nullable=True),
        sa.Column("new_values", JSONB, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("request_id", sa.Text, nullable=True),
        sa.Column("device_id", sa.Text, nullable=True),
        sa.Column("lab_id", sa.Uuid, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_occurred_at", "audit_log", ["occurred_at"])
    op.create_index("ix_audit_log_entity", "audit_log", ["entity_type", "entity_id"])
    op.create_index("ix_audit_log_user_id", "audit_log", ["user_id"])

    op.create_table(
        "audit_pending",
        sa.Column("entry_id", sa.BigInteger, nullable=False),
        sa.Column("txid", Xid8, nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name="pk_audit_pending"),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["audit_log.id"],
            name="fk_audit_pending_entry_id_audit_log",
            deferrable=True,
            initially="DEFERRED",
        ),
    )
    op.create_table(
        "audit_chain",
        sa.Column("seq", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.BigInteger, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("sealed_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_chain"),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["audit_log.id"],
            name="fk_audit_chain_entry_id_audit_log",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.UniqueConstraint("entry_id", name="uq_audit_chain_entry_id"),
    )

    # The trail is append-only: the database itself refuses to change or remove it.
    op.execute(
        """
        CREATE FUNCTION aqualab_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the % table is append-only', TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        """
    )
    for table in ("audit_log", "audit_chain"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION aqualab_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION aqualab_reject_change()"
        )
    # Every new entry waits in audit_pending, tagged with its writer's transaction id.
    op.execute(
        """
        CREATE FUNCTION aqualab_queue_for_seal() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO audit_pending (entry_id, txid) VALUES (NEW.id, pg_current_xact_id());
            RETURN NEW;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_queue_for_seal AFTER INSERT ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION aqualab_queue_for_seal()"
    )

    op.create_table(
        "rate_limit_hits",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("window_start", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name="pk_rate_limit_hits"),
    )
    op.create_index("ix_rate_limit_hits_expires_at", "rate_limit_hits", ["expires_at"])


def downgrade() -> None:
    op.drop_table("rate_limit_hits")
    op.execute("DROP TRIGGER audit_log_queue_for_seal ON audit_log")
    op.execute("DROP FUNCTION aqualab_queue_for_seal()")
    for table in ("audit_log", "audit_chain"):
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
    op.execute("DROP FUNCTION aqualab_reject_change()")
    op.drop_table("audit_chain")
    op.drop_table("audit_pending")
    op.drop_table("audit_log")
    op.drop_table("password_reset_tokens")
    op.drop_table("refresh_tokens")
    op.drop_table("auth_sessions")
    op.drop_table("users")
    op.drop_table("labs")
