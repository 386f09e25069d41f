"""Lab data: parameters, standards and their limits (seeded), samples, test results.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

The reference values live in adapters/reference_data.py (the in-memory storage seeds
from the same lists); they are the values of this revision. Later corrections go through `PUT /standards/{code}/limits/…`
(audited) or a new migration. `source` says where each value comes from, and says so
plainly where it is not confirmed from the standard's own text.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from adapters.reference_data import limit_rows, parameter_rows, standard_rows

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
LIVE = sa.text("deleted_at IS NULL")


def _enum(name: str, values: list[str], length: int) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


COMPLIANCE = ["pending", "pass", "warning", "fail"]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    parameters = op.create_table(
        "parameters",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column(
            "kind", _enum("parameter_kind", ["numeric", "presence_absence"], 20), nullable=False
        ),
        sa.Column("min_value", sa.Float, nullable=True),
        sa.Column("max_value", sa.Float, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name="pk_parameters"),
        sa.UniqueConstraint("code", name="uq_parameters_code"),
    )
    standards = op.create_table(
        "standards",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", _enum("standard_kind", ["guideline", "regulation"], 20), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("code", name="pk_standards"),
    )
    limits = op.create_table(
        "standard_limits",
        sa.Column("standard_code", sa.String(64), nullable=False),
        sa.Column("parameter_code", sa.String(64), nullable=False),
        sa.Column("min", sa.Float, nullable=True),
        sa.Column("max", sa.Float, nullable=True),
        sa.Column("recommended_max", sa.Float, nullable=True),
        sa.Column(
            "basis",
            _enum("limit_basis", ["health", "aesthetic", "operational"], 20),
            nullable=False,
        ),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("standard_code", "parameter_code", name="pk_standard_limits"),
        sa.ForeignKeyConstraint(
            ["standard_code"],
            ["standards.code"],
            name="fk_standard_limits_standard_code_standards",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.ForeignKeyConstraint(
            ["parameter_code"],
            ["parameters.code"],
            name="fk_standard_limits_parameter_code_parameters",
            deferrable=True,
            initially="DEFERRED",
        ),
    )
    op.create_index("ix_standard_limits_parameter_code", "standard_limits", ["parameter_code"])

    op.create_table(
        "samples",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("lab_id", sa.Uuid, nullable=False),
        sa.Column(
            "type",
            _enum(
                "sample_type", ["drinking", "surface", "ground", "waste", "bottled", "other"], 16
            ),
            nullable=False,
        ),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("latitude", sa.Float, nullable=True),
        sa.Column("longitude", sa.Float, nullable=True),
        sa.Column("collection_date", TS, nullable=False),
        sa.Column("collector_name", sa.Text, nullable=False),
        sa.Column(
            "status",
            _enum(
                "sample_status",
                ["collected", "received", "in_analysis", "completed", "rejected"],
                16,
            ),
            nullable=False,
        ),
        sa.Column("compliance_status", _enum("compliance_status", COMPLIANCE, 16), nullable=False),
        sa.Column("notes", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.Uuid, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.Uuid, nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_samples"),
        sa.ForeignKeyConstraint(
            ["lab_id"],
            ["labs.id"],
            name="fk_samples_lab_id_labs",
            deferrable=True,
            initially="DEFERRED",
        ),
    )
    for name, columns in (
        ("ix_samples_lab_collection_date", ["lab_id", "collection_date", "id"]),
        ("ix_samples_collection_date", ["collection_date", "id"]),
        ("ix_samples_lab_created_at", ["lab_id", "created_at", "id"]),
        ("ix_samples_lab_updated_at", ["lab_id", "updated_at", "id"]),
        ("ix_samples_lab_location", ["lab_id", "location", "id"]),
        ("ix_samples_lab_collector_name", ["lab_id", "collector_name", "id"]),
        ("ix_samples_lab_type", ["lab_id", "type", "collection_date"]),
        ("ix_samples_lab_status", ["lab_id", "status", "collection_date"]),
        ("ix_samples_lab_compliance", ["lab_id", "compliance_status", "collection_date"]),
    ):
        op.create_index(name, "samples", columns, postgresql_where=LIVE)
    op.create_index(
        "ix_samples_lab_lower_location",
        "samples",
        ["lab_id", sa.text("lower(location)"), "collection_date"],
        postgresql_where=LIVE,
    )
    op.create_index(
        "ix_samples_location_trgm",
        "samples",
        ["location"],
        postgresql_using="gin",
        postgresql_ops={"location": "gin_trgm_ops"},
        postgresql_where=LIVE,
    )
    op.create_index(
        "ix_samples_collector_trgm",
        "samples",
        ["collector_name"],
        postgresql_using="gin",
        postgresql_ops={"collector_name": "gin_trgm_ops"},
        postgresql_where=LIVE,
    )
    op.create_index(
        "ix_samples_id_text",
        "samples",
        [sa.text("(id::text) text_pattern_ops")],
        postgresql_where=LIVE,
    )

    op.create_table(
        "test_results",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("sample_id", sa.Uuid, nullable=False),
        sa.Column("lab_id", sa.Uuid, nullable=False),
        sa.Column("parameter", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("qualifier", _enum("result_qualifier", ["=", "<", ">"], 1), nullable=False),
        sa.Column("detection_limit", sa.Float, nullable=True),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("test_date", TS, nullable=False),
        sa.Column("technician_name", sa.Text, nullable=True),
        sa.Column("test_method", sa.Text, nullable=True),
        sa.Column(
            "compliance_status", _enum("result_compliance_status", COMPLIANCE, 16), nullable=False
        ),
        sa.Column("evaluations", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("notes", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.Uuid, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.Uuid, nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_test_results"),
        sa.ForeignKeyConstraint(
            ["sample_id"],
            ["samples.id"],
            name="fk_test_results_sample_id_samples",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.ForeignKeyConstraint(
            ["parameter"],
            ["parameters.code"],
            name="fk_test_results_parameter_parameters",
            deferrable=True,
            initially="DEFERRED",
        ),
    )
    op.create_index(
        "ix_test_results_sample",
        "test_results",
        ["sample_id", "test_date", "id"],
        postgresql_where=LIVE,
    )
    op.create_index(
        "ix_test_results_parameter", "test_results", ["parameter"], postgresql_where=LIVE
    )
    op.create_index("ix_test_results_lab_id", "test_results", ["lab_id"])

    op.bulk_insert(parameters, parameter_rows())
    op.bulk_insert(standards, standard_rows())
    op.bulk_insert(limits, limit_rows())


def downgrade() -> None:
    op.drop_table("test_results")
    op.drop_table("samples")
    op.drop_table("standard_limits")
    op.drop_table("standards")
    op.drop_table("parameters")
