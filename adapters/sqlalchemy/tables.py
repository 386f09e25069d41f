"""The schema as SQLAlchemy metadata. Alembic migrations create it; a test proves they agree."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType

from domain.audit import AuditAction, AuditEntityType
from domain.compliance import Basis, ComplianceStatus, ParameterKind, Qualifier, StandardKind
from domain.lab_data import SampleStatus, SampleType
from domain.ports import SAMPLE_SORT_FIELDS
from domain.roles import Role
from domain.sync import DeviceStatus, ManualResolution, Resolution
from domain.tasks import TaskPriority, TaskStatus

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


def _sync_columns() -> tuple[sa.Column[object], ...]:
    """What every syncable table carries (docs/adr/0009-sync-engine.md).

    `sync_clock` is the field clock of domain/sync.py. `sync_txid`/`sync_seq` place the
    row's latest change in the change feed: `pg_current_xact_id()` and the next
    `sync_change_seq`, from column defaults on insert and from the `aqualab_sync_stamp`
    trigger on every update, so no write path can forget them (migration 0006).
    """
    return (
        sa.Column("sync_clock", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column(
            "sync_txid",
            sa.BigInteger,
            nullable=False,
            server_default=sa.text("(pg_current_xact_id()::text::bigint)"),
        ),
        sa.Column(
            "sync_seq",
            sa.BigInteger,
            nullable=False,
            server_default=sa.text("nextval('sync_change_seq')"),
        ),
    )


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
    # No foreign key: the queueing trigger writes the row from the audit entry itself,
    # and audit entries are never deleted (migration 0006).
    sa.Column("entry_id", sa.BigInteger, primary_key=True, autoincrement=False),
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

# --- lab data ------------------------------------------------------------------------

LIVE = sa.text("deleted_at IS NULL")
TOMBSTONES = sa.text("deleted_at IS NOT NULL")

parameters = sa.Table(
    "parameters",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("code", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("unit", sa.String(32), nullable=False),
    sa.Column("kind", _enum(ParameterKind, "parameter_kind", 20), nullable=False),
    sa.Column("min_value", sa.Float, nullable=True),
    sa.Column("max_value", sa.Float, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
)

standards = sa.Table(
    "standards",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", _enum(StandardKind, "standard_kind", 20), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
)

standard_limits = sa.Table(
    "standard_limits",
    metadata,
    sa.Column(
        "standard_code",
        sa.String(64),
        sa.ForeignKey("standards.code", deferrable=True, initially="DEFERRED"),
        primary_key=True,
    ),
    sa.Column(
        "parameter_code",
        sa.String(64),
        sa.ForeignKey("parameters.code", deferrable=True, initially="DEFERRED"),
        primary_key=True,
    ),
    sa.Column("min", sa.Float, nullable=True),
    sa.Column("max", sa.Float, nullable=True),
    sa.Column("recommended_max", sa.Float, nullable=True),
    sa.Column("basis", _enum(Basis, "limit_basis", 20), nullable=False),
    sa.Column("source", sa.Text, nullable=True),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ix_standard_limits_parameter_code", "parameter_code"),
)

samples = sa.Table(
    "samples",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "lab_id",
        sa.Uuid,
        sa.ForeignKey("labs.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    sa.Column("type", _enum(SampleType, "sample_type", 16), nullable=False),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("latitude", sa.Float, nullable=True),
    sa.Column("longitude", sa.Float, nullable=True),
    sa.Column("collection_date", TS, nullable=False),
    sa.Column("collector_name", sa.Text, nullable=False),
    sa.Column("status", _enum(SampleStatus, "sample_status", 16), nullable=False),
    sa.Column(
        "compliance_status", _enum(ComplianceStatus, "compliance_status", 16), nullable=False
    ),
    sa.Column("notes", sa.Text, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("created_by", sa.Uuid, nullable=True),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("updated_by", sa.Uuid, nullable=True),
    sa.Column("deleted_at", TS, nullable=True),
    *_sync_columns(),
    sa.Index("ix_samples_lab_sync_feed", "lab_id", "sync_txid", "sync_seq"),
    # Every list query is "one lab's live samples, filtered, in some order": one index per
    # sort/filter, all partial on live rows, with id last so ties page deterministically.
    # It also carries every other sortable column: a date range sorted by another column
    # sorts its matches from the index alone (ADR 0008).
    sa.Index(
        "ix_samples_lab_collection_date",
        "lab_id",
        "collection_date",
        "id",
        postgresql_include=[f for f in SAMPLE_SORT_FIELDS if f != "collection_date"],
        postgresql_where=LIVE,
    ),
    # An admin's default list spans every lab: newest first without a lab filter.
    sa.Index("ix_samples_collection_date", "collection_date", "id", postgresql_where=LIVE),
    sa.Index("ix_samples_lab_created_at", "lab_id", "created_at", "id", postgresql_where=LIVE),
    sa.Index("ix_samples_lab_updated_at", "lab_id", "updated_at", "id", postgresql_where=LIVE),
    sa.Index("ix_samples_lab_location", "lab_id", "location", "id", postgresql_where=LIVE),
    sa.Index(
        "ix_samples_lab_collector_name", "lab_id", "collector_name", "id", postgresql_where=LIVE
    ),
    sa.Index("ix_samples_lab_type", "lab_id", "type", "collection_date", postgresql_where=LIVE),
    sa.Index("ix_samples_lab_status", "lab_id", "status", "collection_date", postgresql_where=LIVE),
    sa.Index(
        "ix_samples_lab_compliance",
        "lab_id",
        "compliance_status",
        "collection_date",
        postgresql_where=LIVE,
    ),
    sa.Index(
        "ix_samples_lab_lower_location",
        "lab_id",
        sa.text("lower(location)"),
        "collection_date",
        postgresql_where=LIVE,
    ),
    sa.Index(
        "ix_samples_location_trgm",
        "location",
        postgresql_using="gin",
        postgresql_ops={"location": "gin_trgm_ops"},
        postgresql_where=LIVE,
    ),
    # A search's matches in date order, from the index alone (migration 0007, ADR 0016).
    sa.Index(
        "ix_samples_lab_location_collection_date",
        "lab_id",
        "location",
        "collection_date",
        "id",
        postgresql_where=LIVE,
    ),
    sa.Index(
        "ix_samples_lab_collector_name_collection_date",
        "lab_id",
        "collector_name",
        "collection_date",
        "id",
        postgresql_where=LIVE,
    ),
    sa.Index(
        "ix_samples_collector_trgm",
        "collector_name",
        postgresql_using="gin",
        postgresql_ops={"collector_name": "gin_trgm_ops"},
        postgresql_where=LIVE,
    ),
)

# Id-prefix search (`LIKE 'abc%'`) on the text form of the id.
sa.Index(
    "ix_samples_id_text",
    sa.cast(samples.c.id, sa.Text).label("id_text"),
    postgresql_ops={"id_text": "text_pattern_ops"},
    postgresql_where=LIVE,
)

# Each distinct location and collector name of a lab's samples, kept by triggers on
# samples (migration 0007): what a search matches first (ADR 0016).
sample_search_terms = sa.Table(
    "sample_search_terms",
    metadata,
    sa.Column("lab_id", sa.Uuid, primary_key=True),
    sa.Column("field", sa.String(16), primary_key=True),
    sa.Column("term", sa.Text, primary_key=True),
    sa.CheckConstraint("field IN ('location', 'collector_name')", name="field"),
    sa.Index(
        "ix_sample_search_terms_term_trgm",
        "term",
        postgresql_using="gin",
        postgresql_ops={"term": "gin_trgm_ops"},
    ),
)

# One row: a new value on every change to parameters, standards or limits (statement
# triggers, migration 0009), so a process can tell whether its copy is current.
reference_data_version = sa.Table(
    "reference_data_version",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.CheckConstraint("id = 1", name="one_row"),
)

test_results = sa.Table(
    "test_results",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "sample_id",
        sa.Uuid,
        sa.ForeignKey("samples.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    sa.Column("lab_id", sa.Uuid, nullable=False),
    sa.Column(
        "parameter",
        sa.String(64),
        sa.ForeignKey("parameters.code", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("qualifier", _enum(Qualifier, "result_qualifier", 1), nullable=False),
    sa.Column("detection_limit", sa.Float, nullable=True),
    sa.Column("unit", sa.String(32), nullable=False),
    sa.Column("test_date", TS, nullable=False),
    sa.Column("technician_name", sa.Text, nullable=True),
    sa.Column("test_method", sa.Text, nullable=True),
    sa.Column(
        "compliance_status", _enum(ComplianceStatus, "result_compliance_status", 16), nullable=False
    ),
    sa.Column("evaluations", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("notes", sa.Text, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("created_by", sa.Uuid, nullable=True),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("updated_by", sa.Uuid, nullable=True),
    sa.Column("deleted_at", TS, nullable=True),
    *_sync_columns(),
    # Every row, tombstones too: deleting a sample checks no result points at it (purge).
    sa.Index("ix_test_results_sample_all", "sample_id", "test_date", "id"),
    sa.Index("ix_test_results_lab_sync_feed", "lab_id", "sync_txid", "sync_seq"),
    sa.Index("ix_test_results_parameter", "parameter", postgresql_where=LIVE),
)

sync_devices = sa.Table(
    "sync_devices",
    metadata,
    sa.Column("device_id", sa.Text, primary_key=True),
    sa.Column(
        "user_id",
        sa.Uuid,
        sa.ForeignKey("users.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    sa.Column("lab_id", sa.Uuid, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("last_mutation_id", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_sync_at", TS, nullable=True),
    sa.Column("status", _enum(DeviceStatus, "sync_device_status", 16), nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index("ix_sync_devices_user_id", "user_id"),
)

sync_conflicts = sa.Table(
    "sync_conflicts",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("lab_id", sa.Uuid, nullable=False),
    sa.Column("entity", sa.String(32), nullable=False),
    sa.Column("record_id", sa.Uuid, nullable=False),
    sa.Column("device_id", sa.Text, nullable=False),
    sa.Column("user_id", sa.Uuid, nullable=True),
    sa.Column("mutation_id", sa.BigInteger, nullable=False),
    sa.Column("resolution", _enum(Resolution, "sync_resolution", 16), nullable=False),
    sa.Column("server_data", JSONB, nullable=True),
    sa.Column("client_data", JSONB, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("resolved", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("resolved_by", sa.Uuid, nullable=True),
    sa.Column("resolved_at", TS, nullable=True),
    sa.Column(
        "manual_resolution", _enum(ManualResolution, "sync_manual_resolution", 16), nullable=True
    ),
    sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Index("ix_sync_conflicts_lab_created", "lab_id", "created_at", "id"),
    sa.Index("ix_sync_conflicts_lab_resolved", "lab_id", "resolved", "created_at"),
)

# Private task lists (migration 0004, docs/tasks.md). `completed` is not a column: it is
# `status = 'completed'` (ADR 0011). Every list is one owner's live tasks: the owner leads
# every index, partial on live rows, with id last where it breaks ties of the sort.
tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "owner_id",
        sa.Uuid,
        sa.ForeignKey("users.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("status", _enum(TaskStatus, "task_status", 16), nullable=False),
    sa.Column("priority", _enum(TaskPriority, "task_priority", 8), nullable=False),
    sa.Column("due_date", TS, nullable=True),
    sa.Column(
        "sample_id",
        sa.Uuid,
        sa.ForeignKey("samples.id", deferrable=True, initially="DEFERRED"),
        nullable=True,
    ),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("created_by", sa.Uuid, nullable=True),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("updated_by", sa.Uuid, nullable=True),
    sa.Column("deleted_at", TS, nullable=True),
    # The default list (newest first) and the created_at sort of any filter.
    sa.Index("ix_tasks_owner_created_at", "owner_id", "created_at", "id", postgresql_where=LIVE),
    # The status filter (and `completed`, which is a status filter), newest first.
    sa.Index(
        "ix_tasks_owner_status", "owner_id", "status", "created_at", "id", postgresql_where=LIVE
    ),
    # Finding the tasks that point at a sample (the FK check when a sample row is purged).
    sa.Index("ix_tasks_sample_id", "sample_id", postgresql_where=sa.text("sample_id IS NOT NULL")),
)

# Tombstones only, by age: what `aqualab purge` looks for (migration 0005).
for _table in (samples, test_results, tasks):
    sa.Index(f"ix_{_table.name}_tombstones", _table.c.deleted_at, postgresql_where=TOMBSTONES)
