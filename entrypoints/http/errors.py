"""One place that turns every failure into the SPEC's error envelope.

Domain errors become `ApiError`s with their status; Falcon's own errors (404
route, 405, 413, …) are rendered by the same serializer; anything unexpected is
logged with its traceback and answered with a bare 500 that reveals nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import falcon
from pydantic import ValidationError

from domain import errors as d

log = logging.getLogger("aqualab.http")

STATUS_BY_ERROR: list[tuple[type[d.DomainError], int]] = [
    (d.ValidationFailed, 400),
    (d.Unauthenticated, 401),
    (d.InvalidCredentials, 401),
    (d.Forbidden, 403),
    (d.NotFound, 404),
    (d.VersionConflict, 409),
    (d.EmailExists, 409),
    (d.Conflict, 409),
    (d.PreconditionFailed, 412),
    (d.AccountLocked, 423),
    (d.RateLimited, 429),
    (d.StorageUnavailable, 503),
]

CODE_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    411: "LENGTH_REQUIRED",
    412: "PRECONDITION_FAILED",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    423: "ACCOUNT_LOCKED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class ApiError(falcon.HTTPError):
    """An HTTP error that already knows its envelope fields."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        field_errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(status, title=message, headers=headers)
        self.error_code = code
        self.message = message
        self.details = details or {}
        self.field_errors = field_errors or {}


def invalid_json(message: str = "Malformed JSON body") -> ApiError:
    return ApiError(400, "INVALID_JSON", message)


def validation_error(field_errors: dict[str, list[str]]) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", "Invalid input data", field_errors=field_errors)


def field_errors_from_pydantic(exc: ValidationError, *, prefix: str = "") -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "body"
        messages = [str(error["msg"]).removeprefix("Value error, ")]
        if error["type"] == "missing":
            messages = ["This field is required"]
        elif error["type"] == "password_policy":
            messages = list(error.get("ctx", {}).get("problems", messages))
        fields.setdefault(prefix + location, []).extend(messages)
    return fields


def from_domain(exc: d.DomainError) -> ApiError:
    status = next((code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls)), 400)
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after_seconds", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if status == 503:
        headers["Retry-After"] = "5"
    return ApiError(
        status,
        exc.code,
        exc.message,
        details=exc.details,
        field_errors=getattr(exc, "field_errors", None),
        headers=headers or None,
    )


def envelope(req: falcon.Request, error: falcon.HTTPError) -> dict[str, Any]:
    status = error.status_code
    if isinstance(error, ApiError):
        code, message = error.error_code, error.message
        details, field_errors = error.details, error.field_errors
    else:
        code = CODE_BY_STATUS.get(status, "ERROR")
        message = error.title or falcon.code_to_http_status(status)
        if status == 404:
            message = "Resource not found"
        details, field_errors = {}, {}
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details,
            "field_errors": field_errors,
            "request_id": getattr(req.context, "request_id", None),
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
    }


def serialize_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    resp.media = envelope(req, error)
    resp.content_type = falcon.MEDIA_JSON


def install_error_handlers(
    app: falcon.App[Any, Any], storage_errors: tuple[type[BaseException], ...]
) -> None:
    def handle_domain(
        req: falcon.Request, resp: falcon.Response, error: d.DomainError, params: dict[str, Any]
    ) -> None:
        raise from_domain(error)

    def handle_storage(
        req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
    ) -> None:
        log.warning("database unavailable: %s", type(error).__name__)
        raise from_domain(d.StorageUnavailable())

    def handle_unexpected(
        req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
    ) -> None:
        if isinstance(error, falcon.HTTPError):
            raise error
        log.exception(
            "unhandled error", extra={"request_id": getattr(req.context, "request_id", None)}
        )
        raise ApiError(500, "INTERNAL_ERROR", "An unexpected error occurred")

    def handle_malformed(
        req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
    ) -> None:
        raise invalid_json()

    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(d.DomainError, handle_domain)
    app.add_error_handler(falcon.MediaMalformedError, handle_malformed)
    if storage_errors:
        app.add_error_handler(
            [e for e in storage_errors if issubclass(e, Exception)], handle_storage
        )
    app.set_error_serializer(serialize_error)
