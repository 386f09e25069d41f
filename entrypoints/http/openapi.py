"""Build the OpenAPI 3.1 document from the routes and their `@operation` metadata.

apispec has no Falcon plugin, so we walk the routes we registered, read each
responder's OperationSpec, and register pydantic's JSON Schemas (2020-12, the
dialect of OpenAPI 3.1) as components.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from apispec import APISpec
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from entrypoints.http.errors import CODE_BY_STATUS
from entrypoints.http.operation import MAX_CHANGE_REASON, OperationSpec, takes_change_reason
from entrypoints.http.schemas import ErrorOut

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")

ERROR_DESCRIPTIONS = {
    400: "Invalid input (INVALID_JSON or VALIDATION_ERROR with field_errors)",
    401: "Missing, invalid, expired or revoked token (UNAUTHORIZED / INVALID_CREDENTIALS)",
    403: "Not allowed for this role (FORBIDDEN)",
    404: "Not found, or not visible to the caller (NOT_FOUND)",
    409: "Conflict (CONFLICT, EMAIL_EXISTS, VERSION_CONFLICT)",
    412: "If-Match does not match the current version (PRECONDITION_FAILED)",
    413: "Body too large (PAYLOAD_TOO_LARGE)",
    406: "None of the formats the Accept header names is offered (NOT_ACCEPTABLE)",
    415: "Body is not application/json (UNSUPPORTED_MEDIA_TYPE)",
    423: "Account temporarily locked (ACCOUNT_LOCKED)",
    429: "Rate limit exceeded (RATE_LIMITED), see Retry-After",
    500: "Unexpected error (INTERNAL_ERROR)",
    503: "Database unavailable (SERVICE_UNAVAILABLE), retry later",
}
STATUS_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    308: "Permanent redirect",
}
HEADER_PARAMS = {
    "If-Match": {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": 'ETag of the version you edited, e.g. `"3"`; 412 if no longer current',
    },
}
CHANGE_REASON = {
    "name": "X-Change-Reason",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": MAX_CHANGE_REASON},
    "description": "Why the change is made; stored in the audit trail (400 if longer)",
}


@dataclass(frozen=True)
class RouteEntry:
    path: str
    resource: object
    suffix: str | None = None


def openapi_path(template: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for name, converter in _PARAM.findall(template):
        schema: dict[str, Any] = {"type": "string"}
        if converter == "uuid":
            schema["format"] = "uuid"
        elif converter == "int":
            schema = {"type": "integer"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _PARAM.sub(r"{\1}", template), params


def operations_of(entry: RouteEntry) -> list[tuple[str, OperationSpec]]:
    found = []
    for method in HTTP_METHODS:
        name = f"on_{method}" + (f"_{entry.suffix}" if entry.suffix else "")
        responder = getattr(entry.resource, name, None)
        spec = getattr(responder, "__operation__", None)
        if spec is not None:
            found.append((method, spec))
    return found


def build_openapi(routes: list[RouteEntry], *, version: str) -> dict[str, Any]:
    spec = APISpec(
        title="AquaLab API",
        version=version,
        openapi_version="3.1.0",
        servers=[{"url": "/", "description": "This server"}],
        info={
            "description": (
                "Water-quality lab backend: samples, test results, WHO / NM 03.7.001 compliance, "
                "offline sync and a hash-chained audit trail.\n\n"
                "Sign in with `POST /api/v1/auth/login`, then press **Authorize** and paste the "
                '`access_token`. Every error has the shape `{"error": {code, message, details, '
                "field_errors, request_id, timestamp}}`."
            )
        },
    )
    spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )

    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (ErrorOut, "serialization")
    ]
    for entry in routes:
        for _, op in operations_of(entry):
            for model, mode in (
                (op.request, "validation"),
                (op.query, "validation"),
                (op.response, "serialization"),
            ):
                if model is not None and (model, mode) not in models:
                    models.append((model, mode))  # type: ignore[arg-type]
    refs, schema = models_json_schema(models, ref_template="#/components/schemas/{model}")
    for name, definition in schema.get("$defs", {}).items():
        spec.components.schema(name, definition)

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return refs[(model, mode)]  # type: ignore[index]

    error_content = {"application/json": {"schema": ref(ErrorOut, "serialization")}}
    for entry in routes:
        path, path_params = openapi_path(entry.path)
        operations: dict[str, Any] = {}
        for method, op in operations_of(entry):
            parameters = list(path_params)
            if op.query is not None:
                query_schema = op.query.model_json_schema(
                    ref_template="#/components/schemas/{model}"
                )
                required = set(query_schema.get("required", []))
                for name, prop in query_schema.get("properties", {}).items():
                    param = {
                        "name": name,
                        "in": "query",
                        "required": name in required,
                        "schema": prop,
                    }
                    if "description" in prop:
                        param["description"] = prop["description"]
                    parameters.append(param)
            parameters += [HEADER_PARAMS[h] for h in op.headers]
            if takes_change_reason(op, method):
                parameters.append(CHANGE_REASON)
            responses: dict[str, Any] = {}
            success: dict[str, Any] = {"description": STATUS_DESCRIPTIONS.get(op.status, "OK")}
            if op.response is not None:
                success["content"] = {
                    "application/json": {"schema": ref(op.response, "serialization")}
                }
                for media in op.produces:  # other formats of the same resource (Accept)
                    if media != "application/json":
                        success["content"][media] = {
                            "schema": {"type": "string", "contentMediaType": media}
                        }
            elif op.status not in (204, 308) and op.produces:
                success["content"] = {media: {"schema": {}} for media in op.produces}
            if op.status == 308:
                success["headers"] = {"Location": {"schema": {"type": "string"}}}
            responses[str(op.status)] = success
            for status, text in op.extra_responses.items():
                responses[str(status)] = {"description": text}
            errors = set(op.errors) | {500}
            if op.auth:
                errors |= {401, 429}
            if op.request is not None:
                errors |= {400, 413, 415}
            if op.query is not None or takes_change_reason(op, method):
                errors |= {400}
            if path_params:  # a malformed id (e.g. not a UUID) matches no route
                errors |= {404}
            for status in sorted(errors):
                response: dict[str, Any] = {
                    "description": ERROR_DESCRIPTIONS.get(
                        status, CODE_BY_STATUS.get(status, "Error")
                    ),
                    "content": error_content,
                }
                if status in (429, 503):
                    response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
                responses[str(status)] = response
            operation: dict[str, Any] = {
                "summary": op.summary,
                "tags": list(op.tags),
                "operationId": _operation_id(method, path),
                "parameters": parameters,
                "responses": responses,
                "security": [{"bearerAuth": []}] if op.auth else [],
            }
            if op.description:
                operation["description"] = op.description
            if op.request is not None:
                operation["requestBody"] = {
                    "required": op.body_required,
                    "content": {"application/json": {"schema": ref(op.request, "validation")}},
                }
            operations[method] = operation
        if operations:
            spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation_id(method: str, path: str) -> str:
    """Stable and unique: the method and the path, e.g. `get_users_user_id`, `get_root_docs`."""
    inside_api = path.startswith("/api/v1/")
    words = re.findall(r"[a-z0-9]+", path.removeprefix("/api/v1").lower())
    return "_".join([method, *([] if inside_api else ["root"]), *words])
