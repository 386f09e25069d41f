"""/samples, /results, /parameters, /standards."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import falcon

from application import reference, samples
from application.views import PageView
from domain.paging import Page, PageRequest, Sort
from domain.ports import SAMPLE_SORT_FIELDS, SampleQuery
from entrypoints.http.common import (
    caller,
    if_match,
    list_payload,
    page_request,
    set_etag,
    sort_spec,
)
from entrypoints.http.operation import operation, render
from entrypoints.http.schemas import (
    LimitChangeOut,
    LimitPutIn,
    PageQuery,
    ParameterCreateIn,
    ParameterList,
    ParameterOut,
    ParameterPutIn,
    ResultCreateIn,
    ResultList,
    ResultOut,
    ResultPatchIn,
    ResultPutIn,
    SampleCreateIn,
    SampleDetailOut,
    SampleList,
    SampleListQuery,
    SamplePatchIn,
    SamplePutIn,
    StandardList,
    StandardOut,
)

SAMPLES = ("samples",)
RESULTS = ("results",)
REFERENCE = ("reference data",)
WRITE_ERRORS = (400, 401, 403, 404, 409, 412, 415)


def whole_list(items: list[Any]) -> dict[str, Any]:
    """Short reference lists come whole, with the same meta as paged ones."""
    page = Page(items=items, total=len(items), request=PageRequest(limit=max(len(items), 1)))
    return list_payload(PageView.of(page, items))


def page_of(items: list[Any], query: Any) -> dict[str, Any]:
    """One page of a list the use case returns whole (a sample's results): `limit` still
    caps what one response carries."""
    request = page_request(query)
    window = items[request.offset : request.offset + request.limit]
    return list_payload(PageView.of(Page(items=window, total=len(items), request=request), window))


def changes_of(body: Any, *, replace: bool) -> dict[str, Any]:
    """PATCH: what the client sent; PUT: every field. `version` is a precondition, not data."""
    values: dict[str, Any] = body.model_dump(exclude_unset=not replace)
    values.pop("version", None)
    return values


# --- samples ---------------------------------------------------------------------------


class SamplesResource:
    def __init__(self, list_samples: samples.ListSamples, create_sample: samples.CreateSample):
        self._list = list_samples
        self._create = create_sample

    @operation(
        summary="List samples (filters, search, sort, pagination)",
        tags=SAMPLES,
        query=SampleListQuery,
        response=SampleList,
        errors=(400, 401),
        description=f"Sort by: {', '.join(SAMPLE_SORT_FIELDS)} (default `-collection_date`). "
        "Non-admins see their own lab only.",
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        q: SampleListQuery = req.context.query
        query = SampleQuery(
            lab_id=q.lab_id,
            date_from=q.date_from,
            date_to=q.date_to,
            type=q.type,
            location=q.location,
            compliance_status=q.compliance_status,
            status=q.status,
            search=q.search,
            sort=sort_spec(q, SAMPLE_SORT_FIELDS, Sort("collection_date", descending=True)),
            page=page_request(q),
        )
        render(resp, SampleList, list_payload(self._list(caller(req), query)))

    @operation(
        summary="Record a sample",
        tags=SAMPLES,
        status=201,
        request=SampleCreateIn,
        response=SampleDetailOut,
        errors=(400, 401, 403, 409, 415),
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: SampleCreateIn = req.context.body
        values = body.model_dump(exclude={"id", "lab_id"})
        view = self._create(
            caller(req), samples.CreateSampleCommand(values, lab_id=body.lab_id, id=body.id)
        )
        render(resp, SampleDetailOut, view, status=201)
        set_etag(resp, view.version)
        resp.location = f"/api/v1/samples/{view.id}"


class SampleResource:
    def __init__(
        self,
        get_sample: samples.GetSample,
        update_sample: samples.UpdateSample,
        delete_sample: samples.DeleteSample,
    ):
        self._get = get_sample
        self._update = update_sample
        self._delete = delete_sample

    @operation(
        summary="Get a sample with its results",
        tags=SAMPLES,
        response=SampleDetailOut,
        errors=(401, 404),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, sample_id: UUID) -> None:
        detail = self._get(caller(req), sample_id)
        render(resp, SampleDetailOut, detail.view)
        set_etag(resp, detail.version)

    def _update_with(
        self, req: falcon.Request, resp: falcon.Response, sample_id: UUID, *, replace: bool
    ) -> None:
        body = req.context.body
        view = self._update(
            caller(req),
            samples.UpdateSampleCommand(
                sample_id,
                changes_of(body, replace=replace),
                expected_version=body.version,
                if_match=if_match(req),
            ),
        )
        render(resp, SampleDetailOut, view)
        set_etag(resp, view.version)

    @operation(
        summary="Replace a sample's fields",
        tags=SAMPLES,
        request=SamplePutIn,
        response=SampleDetailOut,
        errors=WRITE_ERRORS,
        headers=("If-Match",),
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response, sample_id: UUID) -> None:
        self._update_with(req, resp, sample_id, replace=True)

    @operation(
        summary="Change some of a sample's fields",
        tags=SAMPLES,
        request=SamplePatchIn,
        response=SampleDetailOut,
        errors=WRITE_ERRORS,
        headers=("If-Match",),
    )
    def on_patch(self, req: falcon.Request, resp: falcon.Response, sample_id: UUID) -> None:
        self._update_with(req, resp, sample_id, replace=False)

    @operation(
        summary="Delete a sample and its results (kept as tombstones for sync)",
        tags=SAMPLES,
        status=204,
        errors=(401, 403, 404, 412),
        headers=("If-Match",),
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response, sample_id: UUID) -> None:
        self._delete(caller(req), sample_id, if_match=if_match(req))
        resp.status = 204


# --- results ---------------------------------------------------------------------------


class SampleResultsResource:
    def __init__(self, list_results: samples.ListResults, create_result: samples.CreateResult):
        self._list = list_results
        self._create = create_result

    @operation(
        summary="A sample's test results",
        tags=RESULTS,
        query=PageQuery,
        response=ResultList,
        errors=(400, 401, 404),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, sample_id: UUID) -> None:
        render(resp, ResultList, page_of(self._list(caller(req), sample_id), req.context.query))

    @operation(
        summary="Record a test result (judged against every standard)",
        tags=RESULTS,
        status=201,
        request=ResultCreateIn,
        response=ResultOut,
        errors=(400, 401, 403, 404, 409, 415),
        description="The unit must be the parameter's canonical unit or convert to it "
        "(mg/L ↔ µg/L). The response carries the evaluation against each standard.",
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, sample_id: UUID) -> None:
        body: ResultCreateIn = req.context.body
        values = body.model_dump(exclude={"id"})
        view = self._create(caller(req), samples.CreateResultCommand(sample_id, values, id=body.id))
        render(resp, ResultOut, view, status=201)
        set_etag(resp, view.version)
        resp.location = f"/api/v1/results/{view.id}"


class ResultResource:
    def __init__(
        self,
        get_result: samples.GetResult,
        update_result: samples.UpdateResult,
        delete_result: samples.DeleteResult,
    ):
        self._get = get_result
        self._update = update_result
        self._delete = delete_result

    @operation(summary="Get a test result", tags=RESULTS, response=ResultOut, errors=(401, 404))
    def on_get(self, req: falcon.Request, resp: falcon.Response, result_id: UUID) -> None:
        view = self._get(caller(req), result_id)
        render(resp, ResultOut, view)
        set_etag(resp, view.version)

    def _update_with(
        self, req: falcon.Request, resp: falcon.Response, result_id: UUID, *, replace: bool
    ) -> None:
        body = req.context.body
        view = self._update(
            caller(req),
            samples.UpdateResultCommand(
                result_id,
                changes_of(body, replace=replace),
                expected_version=body.version,
                if_match=if_match(req),
            ),
        )
        render(resp, ResultOut, view)
        set_etag(resp, view.version)

    @operation(
        summary="Replace a test result",
        tags=RESULTS,
        request=ResultPutIn,
        response=ResultOut,
        errors=WRITE_ERRORS,
        headers=("If-Match",),
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response, result_id: UUID) -> None:
        self._update_with(req, resp, result_id, replace=True)

    @operation(
        summary="Correct some fields of a test result",
        tags=RESULTS,
        request=ResultPatchIn,
        response=ResultOut,
        errors=WRITE_ERRORS,
        headers=("If-Match",),
    )
    def on_patch(self, req: falcon.Request, resp: falcon.Response, result_id: UUID) -> None:
        self._update_with(req, resp, result_id, replace=False)

    @operation(
        summary="Delete a test result (kept as a tombstone for sync)",
        tags=RESULTS,
        status=204,
        errors=(401, 403, 404, 412),
        headers=("If-Match",),
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response, result_id: UUID) -> None:
        self._delete(caller(req), result_id, if_match=if_match(req))
        resp.status = 204


# --- reference data ----------------------------------------------------------------------


class ParametersResource:
    def __init__(
        self, list_parameters: reference.ListParameters, create_parameter: reference.CreateParameter
    ):
        self._list = list_parameters
        self._create = create_parameter

    @operation(
        summary="Measured parameters and their canonical units",
        tags=REFERENCE,
        response=ParameterList,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        render(resp, ParameterList, whole_list(self._list(caller(req))))

    @operation(
        summary="Add a parameter (admin)",
        tags=REFERENCE,
        status=201,
        request=ParameterCreateIn,
        response=ParameterOut,
        errors=(400, 401, 403, 409, 415),
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: ParameterCreateIn = req.context.body
        view = self._create(caller(req), reference.CreateParameterCommand(**body.model_dump()))
        render(resp, ParameterOut, view, status=201)
        set_etag(resp, view.version)


class ParameterResource:
    def __init__(
        self, get_parameter: reference.GetParameter, update_parameter: reference.UpdateParameter
    ):
        self._get = get_parameter
        self._update = update_parameter

    @operation(summary="Get a parameter", tags=REFERENCE, response=ParameterOut, errors=(401, 404))
    def on_get(self, req: falcon.Request, resp: falcon.Response, parameter_id: UUID) -> None:
        view = self._get(caller(req), parameter_id)
        render(resp, ParameterOut, view)
        set_etag(resp, view.version)

    @operation(
        summary="Rename a parameter or change its plausible range (admin)",
        tags=REFERENCE,
        request=ParameterPutIn,
        response=ParameterOut,
        errors=WRITE_ERRORS,
        headers=("If-Match",),
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response, parameter_id: UUID) -> None:
        body: ParameterPutIn = req.context.body
        view = self._update(
            caller(req),
            reference.UpdateParameterCommand(
                parameter_id,
                name=body.name,
                min_value=body.min_value,
                max_value=body.max_value,
                expected_version=body.version,
                if_match=if_match(req),
            ),
        )
        render(resp, ParameterOut, view)
        set_etag(resp, view.version)


class StandardsResource:
    def __init__(self, list_standards: reference.ListStandards):
        self._list = list_standards

    @operation(summary="Drinking-water standards", tags=REFERENCE, response=StandardList)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        render(resp, StandardList, whole_list(self._list(caller(req))))


class StandardResource:
    def __init__(self, get_standard: reference.GetStandard):
        self._get = get_standard

    @operation(
        summary="A standard with its limits",
        tags=REFERENCE,
        response=StandardOut,
        errors=(401, 404),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, code: str) -> None:
        render(resp, StandardOut, self._get(caller(req), code))


class StandardLimitResource:
    def __init__(self, put_limit: reference.PutLimit):
        self._put = put_limit

    @operation(
        summary="Set a standard's limit for a parameter (admin, audited)",
        tags=REFERENCE,
        request=LimitPutIn,
        response=LimitChangeOut,
        errors=WRITE_ERRORS,
        headers=("If-Match",),
        description="Stored results keep the evaluations they were judged with unless "
        "`reevaluate` is true; then every result of the parameter is judged again and each "
        "change is audited.",
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response, code: str, parameter: str) -> None:
        body: LimitPutIn = req.context.body
        change = self._put(
            caller(req),
            reference.PutLimitCommand(
                standard_code=code,
                parameter_code=parameter,
                basis=body.basis,
                min=body.min,
                max=body.max,
                recommended_max=body.recommended_max,
                source=body.source,
                reevaluate=body.reevaluate,
                expected_version=body.version,
                if_match=if_match(req),
            ),
        )
        render(resp, LimitChangeOut, change)
        set_etag(resp, change.limit.version)
