"""The wire shapes of the sync protocol (SPEC section 6), for validation and OpenAPI.

A mutation's fields are parsed leniently on purpose: a malformed mutation must come back
`rejected` with field errors (and count as processed) instead of failing the whole batch
and blocking the device's queue. The documented schema still says what is expected.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import ConfigDict, Field, WithJsonSchema

from domain.sync import (
    DEFAULT_PULL,
    MAX_BATCH,
    MAX_PULL,
    DeviceStatus,
    ManualResolution,
    MutationOp,
    Outcome,
    Resolution,
)
from entrypoints.http.schemas import Input, ListMeta, ListQuery, Output

ENTITIES = ["sample", "result"]
RECORD = {
    "anyOf": [
        {"$ref": "#/components/schemas/SampleOut"},
        {"$ref": "#/components/schemas/ResultOut"},
        {"type": "null"},
    ],
    "description": "The whole record as `GET /samples/{id}` (without `results`) or "
    "`GET /results/{id}` returns it; null for a delete.",
}


def _document_envelope(schema: dict[str, Any]) -> None:
    """Document `entity`, `op` and `id` as required (they are; see the module docstring)."""
    for name in ENVELOPE:
        schema["properties"][name].pop("default", None)
    schema["required"] = sorted({*schema.get("required", []), *ENVELOPE})


ENVELOPE = ("entity", "op", "id")


class MutationIn(Input):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_document_envelope)
    # Checked when the mutation is validated: a NUL rejects that mutation, not the batch.
    _refuses_nul: ClassVar[bool] = False

    mutation_id: int = Field(
        ge=1, description="The device's own counter: 1, 2, 3 … never reused", examples=[41]
    )
    # Required, but a missing one rejects this mutation only (field errors), not the batch.
    entity: Annotated[Any, WithJsonSchema({"type": "string", "enum": ENTITIES})] = None
    op: Annotated[
        Any, WithJsonSchema({"type": "string", "enum": [o.value for o in MutationOp]})
    ] = None
    id: Annotated[Any, WithJsonSchema({"type": "string", "format": "uuid"})] = None
    base_version: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": ["integer", "null"],
                "minimum": 1,
                "description": "The version the edit was made on; null for a create",
            }
        ),
    ] = None
    modified_at: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "When the user made the edit, by the device's clock "
                "(more than 5 minutes ahead of the server: server time is used)",
            }
        ),
    ] = None
    data: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": ["object", "null"],
                "description": "upsert: the fields being set (all required fields for a "
                "create); the same fields and rules as the REST create/PATCH",
            }
        ),
    ] = None
    changed_fields: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": ["array", "null"],
                "items": {"type": "string"},
                "description": "Which fields of `data` the user changed (absent: all)",
            }
        ),
    ] = None


class SyncIn(Input):
    device_id: str = Field(min_length=1, max_length=200, examples=["tablet-7"])
    cursor: str | None = Field(
        None, description="Opaque; null on the first sync or after `reset_required`"
    )
    pull_limit: int = Field(
        DEFAULT_PULL, ge=0, description=f"At most {MAX_PULL} (larger is clamped); 0: push only"
    )
    mutations: list[MutationIn] = Field(
        default_factory=list, max_length=MAX_BATCH, description="In mutation_id order"
    )


class MutationErrorOut(Output):
    code: str
    message: str
    field_errors: dict[str, list[str]] = Field(default_factory=dict)


class MutationResultOut(Output):
    mutation_id: int
    status: Outcome
    entity: str | None
    id: str | None
    version: int | None = Field(
        None, description="The record's version after this batch (the base of the next edit)"
    )
    error: MutationErrorOut | None = None
    conflict_id: UUID | None = None


class ConflictSummaryOut(Output):
    conflict_id: UUID
    entity: str
    id: UUID
    resolution: Resolution
    version: int
    server_data: dict[str, Any] | None = Field(
        description="The record as the server had it before this mutation (`deleted` included)"
    )
    client_data: dict[str, Any] = Field(
        description="The mutation: op, data, changed_fields, base_version, modified_at "
        "(as sent), effective_modified_at (after clamping), received_at"
    )


class ChangeOut(Output):
    entity: str
    op: MutationOp
    id: UUID
    version: int
    data: Annotated[dict[str, Any] | None, WithJsonSchema(RECORD)]


class SyncOut(Output):
    last_mutation_id: int = Field(description="Where the server stopped (a gap stops a batch)")
    results: list[MutationResultOut]
    conflicts: list[ConflictSummaryOut]
    changes: list[ChangeOut] = Field(description="Oldest first, tombstones included")
    cursor: str = Field(description="Send it with the next sync")
    has_more: bool
    reset_required: bool = Field(
        False,
        description="The cursor is older than the tombstone retention (or of another lab): "
        "drop the synced copy and pull again from the returned cursor",
    )


class DeviceOut(Output):
    device_id: str
    user_id: UUID
    lab_id: UUID
    last_mutation_id: int
    last_sync_at: datetime | None
    status: DeviceStatus
    last_error: str | None
    created_at: datetime


class DeviceQuery(Input):
    device_id: str = Field(min_length=1, max_length=200)


class ConflictOut(Output):
    id: UUID
    entity: str
    record_id: UUID
    device_id: str
    mutation_id: int
    resolution: Resolution = Field(description="The automatic outcome")
    resolved: bool = Field(description="A person has settled it")
    resolved_by: UUID | None
    resolved_at: datetime | None
    manual_resolution: ManualResolution | None
    server_data: dict[str, Any] | None
    client_data: dict[str, Any]
    detail: dict[str, Any] = Field(
        description="server_kept / client_won: the fields both sides changed, by winner"
    )
    version: int = Field(description="The record's version after the outcome")
    created_at: datetime


class ConflictList(Output):
    data: list[ConflictOut]
    meta: ListMeta


class ConflictListQuery(ListQuery):
    entity: str | None = Field(None, description="sample | result")
    resolved: bool | None = None


class ResolveIn(Input):
    resolution: ManualResolution
    data: dict[str, Any] | None = Field(
        None, description="Required for `custom`: the fields to set (as in a PATCH)"
    )
