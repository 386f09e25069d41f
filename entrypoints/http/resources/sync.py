"""/sync, /sync/status, /sync/conflicts, /sync/conflicts/{id}/resolve (SPEC section 6)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import falcon
import orjson

from application import sync
from application.views import RawJson
from entrypoints.http.common import caller, list_payload, page_request
from entrypoints.http.operation import operation, render
from entrypoints.http.sync_schemas import (
    ConflictList,
    ConflictListQuery,
    ConflictOut,
    DeviceOut,
    DeviceQuery,
    ResolveIn,
    SyncIn,
    SyncOut,
)

SYNC = ("sync",)


class SyncResource:
    def __init__(self, run: sync.Sync):
        self._run = run

    @operation(
        summary="Push a batch of mutations, then pull a page of changes",
        tags=SYNC,
        request=SyncIn,
        response=SyncOut,
        errors=(400, 401, 403, 409, 413, 415),
        description="Exactly-once by `mutation_id` per device: ids at or below the device's "
        "last are `duplicate`; a gap stops the batch. The batch commits as one "
        "transaction (503 = nothing applied; re-send it). See docs/sync.md.",
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: SyncIn = req.context.body
        mutations = [sync.Mutation(**m.model_dump()) for m in body.mutations]
        result = self._run(
            caller(req), sync.SyncCommand(body.device_id, body.cursor, body.pull_limit, mutations)
        )
        # Built directly rather than validated through `SyncOut`: a page carries up to
        # 1,000 records and re-validating them would double the cost of a pull. The
        # shape is pinned against the OpenAPI schema by tests/unit/test_http_sync.py.
        resp.data = sync_json(result).encode()
        resp.content_type = falcon.MEDIA_JSON


def sync_json(result: sync.SyncResult) -> str:
    """The response, with records the storage already serialized spliced in as they are."""
    head = orjson.dumps(_head(result)).decode()
    return f'{head[:-1]},"changes":[{",".join(map(_change, result.changes))}]}}'


def _change(change: sync.ChangeView) -> str:
    # Entity names, ops and ids are plain tokens (no JSON escaping needed); a page has up
    # to 1,000 of these, so they are written directly.
    data = change.data
    body = (
        "null"
        if data is None
        else data
        if isinstance(data, RawJson)
        else orjson.dumps(data).decode()
    )
    return (
        f'{{"entity":"{change.entity}","op":"{change.op.value}","id":"{change.id}",'
        f'"version":{change.version},"data":{body}}}'
    )


def _head(result: sync.SyncResult) -> dict[str, Any]:
    """Everything of the response but its changes (`sync_json` appends them)."""
    return {
        "last_mutation_id": result.last_mutation_id,
        "results": [
            {
                "mutation_id": r.mutation_id,
                "status": r.status.value,
                "entity": r.entity,
                "id": r.id,
                "version": r.version,
                "error": None
                if r.error is None
                else {
                    "code": r.error.code,
                    "message": r.error.message,
                    "field_errors": r.error.field_errors,
                },
                "conflict_id": str(r.conflict_id) if r.conflict_id else None,
            }
            for r in result.results
        ],
        "conflicts": [
            {
                "conflict_id": str(c.conflict_id),
                "entity": c.entity,
                "id": str(c.id),
                "resolution": c.resolution,
                "version": c.version,
                "server_data": c.server_data,
                "client_data": c.client_data,
            }
            for c in result.conflicts
        ],
        "cursor": result.cursor,
        "has_more": result.has_more,
        "reset_required": result.reset_required,
    }


class SyncStatusResource:
    def __init__(self, status: sync.SyncStatus):
        self._status = status

    @operation(
        summary="A device's sync log: last mutation, last sync, status, last error",
        tags=SYNC,
        query=DeviceQuery,
        response=DeviceOut,
        errors=(400, 401, 403, 404),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query: DeviceQuery = req.context.query
        render(resp, DeviceOut, self._status(caller(req), query.device_id))


class ConflictsResource:
    def __init__(self, list_conflicts: sync.ListConflicts):
        self._list = list_conflicts

    @operation(
        summary="Sync conflicts of your lab, newest first",
        tags=SYNC,
        query=ConflictListQuery,
        response=ConflictList,
        errors=(400, 401, 403),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        q: ConflictListQuery = req.context.query
        page = self._list(caller(req), entity=q.entity, resolved=q.resolved, page=page_request(q))
        render(resp, ConflictList, list_payload(page))


class ConflictResolveResource:
    def __init__(self, resolve: sync.ResolveConflict):
        self._resolve = resolve

    @operation(
        summary="Override a conflict's automatic outcome (a new version every device pulls)",
        tags=SYNC,
        request=ResolveIn,
        response=ConflictOut,
        errors=(400, 401, 403, 404, 415),
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, conflict_id: UUID) -> None:
        body: ResolveIn = req.context.body
        view = self._resolve(
            caller(req), sync.ResolveConflictCommand(conflict_id, body.resolution, body.data)
        )
        render(resp, ConflictOut, view)
