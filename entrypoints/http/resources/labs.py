"""/labs (admin writes; members read their own lab)."""

from __future__ import annotations

from uuid import UUID

import falcon

from application import labs
from domain.paging import Sort
from domain.ports import LAB_SORT_FIELDS, LabQuery
from entrypoints.http.common import (
    caller,
    if_match,
    list_payload,
    page_request,
    set_etag,
    sort_spec,
)
from entrypoints.http.operation import operation, render
from entrypoints.http.schemas import LabCreateIn, LabList, LabListQuery, LabOut, LabPutIn

TAGS = ("labs",)


class LabsResource:
    def __init__(self, list_labs: labs.ListLabs, create_lab: labs.CreateLab):
        self._list = list_labs
        self._create = create_lab

    @operation(
        summary="List labs (admins: all; others: their own)",
        tags=TAGS,
        query=LabListQuery,
        response=LabList,
        errors=(400, 401),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        q: LabListQuery = req.context.query
        query = LabQuery(
            search=q.search, sort=sort_spec(q, LAB_SORT_FIELDS, Sort("name")), page=page_request(q)
        )
        render(resp, LabList, list_payload(self._list(caller(req), query)))

    @operation(
        summary="Create a lab",
        tags=TAGS,
        status=201,
        request=LabCreateIn,
        response=LabOut,
        errors=(400, 401, 403, 409, 415),
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: LabCreateIn = req.context.body
        view = self._create(
            caller(req), labs.CreateLabCommand(name=body.name, code=body.code, id=body.id)
        )
        render(resp, LabOut, view, status=201)
        set_etag(resp, view.version)
        resp.location = f"/api/v1/labs/{view.id}"


class LabResource:
    def __init__(self, get_lab: labs.GetLab, update_lab: labs.UpdateLab):
        self._get = get_lab
        self._update = update_lab

    @operation(summary="Get a lab", tags=TAGS, response=LabOut, errors=(401, 404))
    def on_get(self, req: falcon.Request, resp: falcon.Response, lab_id: UUID) -> None:
        view = self._get(caller(req), lab_id)
        render(resp, LabOut, view)
        set_etag(resp, view.version)

    @operation(
        summary="Rename a lab or change its code",
        tags=TAGS,
        request=LabPutIn,
        response=LabOut,
        errors=(400, 401, 403, 404, 409, 412, 415),
        headers=("If-Match",),
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response, lab_id: UUID) -> None:
        body: LabPutIn = req.context.body
        view = self._update(
            caller(req),
            labs.UpdateLabCommand(
                lab_id=lab_id,
                name=body.name,
                code=body.code,
                expected_version=body.version,
                if_match=if_match(req),
            ),
        )
        render(resp, LabOut, view)
        set_etag(resp, view.version)
