"""The schema as SQLAlchemy metadata. Alembic migrations create it; a test proves they agree."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType

from domain.audit import AuditAction, AuditEntityType
from domain.roles import Role

# Foreign keys are checked at commit: the ORM maps no relationships (the domain has none),
# so it cannot order inserts across tables by itself.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Xid8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id (pg_current_xact_id())."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "xid8"


# Let reflection (alembic's schema comparison) recognise the type too.
ischema_names["xid8"] = Xid8


def _enum(enum_cls: type, name: str, length: int) -> sa.Enum:
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


TS = sa.DateTime(timezone=True)

labs = sa.Table(
    "labs",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("code", sa.Text, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Index("uq_labs_lower_name", sa.text("lower(name)"), unique=True),
    sa.Index(
        "uq_labs_lower_code",
        sa.text("lower(code)"),
        unique=True,
        postgresql_where=sa.text("code IS NOT NULL"),
    ),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", _enum(Role, "user_role", 20), nullable=False),
    sa.Column(
        "lab_id",
        sa.Uuid,
        sa.ForeignKey("labs.id", deferrable=True, initially="DEFERRED"),
        nullable=True,
    ),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("last_login_at", TS, nullable=True),
    sa.Column("failed_login_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", TS, nullable=True),
    sa.Column("deleted_at", TS, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # A deleted user's email may be registered again; live emails are unique.
    sa.Index(
        "uq_users_email_live", "email", unique=True, postgresql_where=sa.text("deleted_at IS NULL")
    ),
    sa.Index("ix_users_lab_id", "lab_id"),
    sa.Index("ix_users_created_at", "created_at"),
)

auth_sessions = sa.Table(
    "auth_sessions",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "user_id",
        sa.Uuid,
        sa.ForeignKey("users.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("revoked_at", TS, nullable=True),
    sa.Index("ix_auth_sessions_user_id", "user_id"),
    sa.Index("ix_auth_sessions_expires_at", "expires_at"),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "session_id",
        sa.Uuid,
        sa.ForeignKey("auth_sessions.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    sa.Column(
        "user_id",
        sa.Uuid,
        sa.ForeignKey("users.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("rotated_at", TS, nullable=True),
    sa.Index("ix_refresh_tokens_session_id", "session_id"),
    sa.Index("ix_refresh_tokens_expires_at", "expires_at"),
)

password_reset_tokens = sa.Table(
    "password_reset_tokens",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "user_id",
        sa.Uuid,
        sa.ForeignKey("users.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("used_at", TS, nullable=True),
    sa.Index("ix_password_reset_tokens_user_id", "user_id"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
    sa.Column("occurred_at", TS, nullable=False),
    sa.Column("user_id", sa.Uuid, nullable=True),
    sa.Column("entity_type", _enum(AuditEntityType, "audit_entity_type", 32), nullable=False),
    sa.Column("entity_id", sa.Text, nullable=False),
    sa.Column("action", _enum(AuditAction, "audit_action", 16), nullable=False),
    sa.Column("old_values", JSONB, nullable=True),
    sa.Column("new_values", JSONB, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("request_id", sa.Text, nullable=True),
    sa.Column("device_id", sa.Text, nullable=True),
    sa.Column("lab_id", sa.Uuid, nullable=True),
    sa.Index("ix_audit_log_occurred_at", "occurred_at"),
    sa.Index("ix_audit_log_entity", "entity_type", "entity_id"),
    sa.Index("ix_audit_log_user_id", "user_id"),
)

# Entries waiting to be chained; filled by a trigger on audit_log, drained by the sealer.
audit_pending = sa.Table(
    "audit_pending",
    metadata,
    sa.Column(
        "entry_id",
        sa.BigInteger,
        sa.ForeignKey("audit_log.id", deferrable=True, initially="DEFERRED"),
        primary_key=True,
    ),
    sa.Column("txid", Xid8, nullable=False),
)

audit_chain = sa.Table(
    "audit_chain",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column(
        "entry_id",
        sa.BigInteger,
        sa.ForeignKey("audit_log.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
        unique=True,
    ),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("sealed_at", TS, nullable=False, server_default=sa.func.now()),
)

rate_limit_hits = sa.Table(
    "rate_limit_hits",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("window_start", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Index("ix_rate_limit_hits_expires_at", "expires_at"),
)
