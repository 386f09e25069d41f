"""`@operation`: declares a responder's contract once, for validation and for OpenAPI.

The decorator authenticates when asked, validates the JSON body and the query
string against pydantic models (all field errors at once), and records the
metadata the OpenAPI builder reads. Resources stay thin: parse, call, render.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import falcon
from pydantic import BaseModel, ValidationError

from application.views import RawJson
from entrypoints.http import fast_json
from entrypoints.http.errors import (
    ApiError,
    field_errors_from_pydantic,
    invalid_json,
    validation_error,
)

M = TypeVar("M", bound=BaseModel)

JSON_TYPES = ("application/json",)
MAX_CHANGE_REASON = 1000  # characters of X-Change-Reason the audit trail keeps


@dataclass(frozen=True)
class OperationSpec:
    summary: str
    tags: tuple[str, ...]
    status: int = 200
    request: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    auth: bool = True
    errors: tuple[int, ...] = ()
    description: str | None = None
    extra_responses: dict[int, str] = field(default_factory=dict)
    produces: tuple[str, ...] = ("application/json",)
    headers: tuple[str, ...] = ()  # documented request headers, e.g. If-Match
    body_required: bool = True  # False: an empty body is allowed (`req.context.body` None)


def operation(
    *,
    summary: str,
    tags: tuple[str, ...],
    status: int = 200,
    request: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    auth: bool = True,
    errors: tuple[int, ...] = (),
    description: str | None = None,
    extra_responses: dict[int, str] | None = None,
    produces: tuple[str, ...] = ("application/json",),
    headers: tuple[str, ...] = (),
    body_required: bool = True,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    spec = OperationSpec(
        summary=summary,
        tags=tags,
        status=status,
        request=request,
        query=query,
        response=response,
        auth=auth,
        errors=errors,
        description=description,
        extra_responses=extra_responses or {},
        produces=produces,
        headers=headers,
        body_required=body_required,
    )

    def decorate(responder: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(responder)
        def wrapper(
            resource: Any, req: falcon.Request, resp: falcon.Response, **params: Any
        ) -> None:
            if spec.auth:
                req.context.principal = req.context.auth.require()
            if takes_change_reason(spec, req.method):
                check_change_reason(req)
            if spec.request is not None:
                req.context.body = parse_body(req, spec.request, required=spec.body_required)
            if spec.query is not None:
                req.context.query = parse_query(req, spec.query)
            responder(resource, req, resp, **params)

        wrapper.__operation__ = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


def takes_change_reason(spec: OperationSpec, method: str) -> bool:
    """Authenticated writes accept (and document) an `X-Change-Reason` header."""
    return spec.auth and method.lower() != "get"


def check_change_reason(req: falcon.Request) -> None:
    # Refused rather than cut: a truncated reason would change what the audit trail says.
    reason = req.get_header("X-Change-Reason")
    if reason is not None and len(reason) > MAX_CHANGE_REASON:
        raise validation_error({"X-Change-Reason": [f"At most {MAX_CHANGE_REASON} characters"]})


def parse_body(req: falcon.Request, model: type[M], *, required: bool = True) -> M | None:
    if not required and not req.content_length and not req.content_type:
        return None  # an optional body left out (a body without a type is still 415)
    content_type = (req.content_type or "").split(";")[0].strip().lower()
    if not (content_type in JSON_TYPES or content_type.endswith("+json")):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the request body as application/json")
    raw = read_body(req)
    if not raw and not required:
        return None  # the optional body left out, though a JSON type was named
    if not raw.strip():
        # Blank is no JSON document: an optional body is sent whole or not at all.
        raise invalid_json("A JSON body is required" if required else "Malformed JSON body")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise invalid_json() from None
        if any(e["type"] == "model_type" and not e["loc"] for e in exc.errors()):
            raise validation_error({"body": ["Expected a JSON object"]}) from None
        raise validation_error(field_errors_from_pydantic(exc)) from None


def read_body(req: falcon.Request) -> bytes:
    limit: int = req.context.max_body_bytes
    # A chunked body has no Content-Length, and falcon's bounded_stream then reads nothing:
    # gunicorn passes such bodies on as they come (waitress buffers them and sets the
    # length), so read the server's own stream, which it ends at the body's end.
    chunked = req.content_length is None and req.env.get("wsgi.input_terminated")
    stream = req.stream if chunked else req.bounded_stream
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"The request body exceeds {limit} bytes")
    return bytes(data)


def parse_query(req: falcon.Request, model: type[M]) -> M:
    values: dict[str, Any] = {}
    repeated: dict[str, list[str]] = {}
    for name, value in req.params.items():
        if isinstance(value, list) and name in model.model_fields:
            # Every documented parameter is a single value: which copy was meant is unknown.
            repeated[name] = ["Give this parameter once"]
        values[name] = value[-1] if isinstance(value, list) else value
    try:
        query = model.model_validate(values)
    except ValidationError as exc:
        for name, messages in field_errors_from_pydantic(exc).items():
            repeated.setdefault(name, []).extend(messages)
    if repeated:
        raise validation_error(repeated)
    return query


def render(resp: falcon.Response, model: type[BaseModel], value: Any, *, status: int = 200) -> None:
    """Serialize through the response model, so the output always matches the documented schema."""
    resp.data = (
        fast_json.embed(model, value)
        if isinstance(value, RawJson)
        else fast_json.dump(model, value)
    )
    resp.content_type = falcon.MEDIA_JSON
    resp.status = status
