"""Domain errors: what went wrong in business terms, never in transport terms.

The HTTP layer maps each class to a status code in one place; the CLI prints them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    """Base class; `code` is the stable machine-readable name clients rely on."""

    code = "DOMAIN_ERROR"
    default_message = "The request could not be completed"

    def __init__(self, message: str | None = None, *, details: Mapping[str, object] | None = None):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.details: dict[str, object] = dict(details or {})


class ValidationFailed(DomainError):
    code = "VALIDATION_ERROR"
    default_message = "Invalid input data"

    def __init__(
        self,
        field_errors: Mapping[str, Sequence[str]],
        message: str | None = None,
    ):
        super().__init__(message)
        self.field_errors = {field: list(msgs) for field, msgs in field_errors.items()}


class NotFound(DomainError):
    code = "NOT_FOUND"
    default_message = "Resource not found"


class Forbidden(DomainError):
    code = "FORBIDDEN"
    default_message = "You do not have permission to perform this action"


class Unauthenticated(DomainError):
    code = "UNAUTHORIZED"
    default_message = "Authentication required"


class InvalidCredentials(DomainError):
    code = "INVALID_CREDENTIALS"
    default_message = "Invalid email or password"


class AccountLocked(DomainError):
    code = "ACCOUNT_LOCKED"
    default_message = "Too many failed login attempts; the account is temporarily locked"

    def __init__(self, retry_after_seconds: int):
        super().__init__(details={"retry_after": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class Conflict(DomainError):
    code = "CONFLICT"
    default_message = "The request conflicts with the current state of the resource"


class EmailExists(Conflict):
    code = "EMAIL_EXISTS"
    default_message = "A user with this email already exists"


class VersionConflict(Conflict):
    code = "VERSION_CONFLICT"
    default_message = "The record was changed by someone else; reload it and retry"

    def __init__(self, current_version: int):
        super().__init__(details={"current_version": current_version})
        self.current_version = current_version


class PreconditionFailed(DomainError):
    code = "PRECONDITION_FAILED"
    default_message = "If-Match does not match the current version"

    def __init__(self, current_version: int):
        super().__init__(details={"current_version": current_version})
        self.current_version = current_version


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    default_message = "Too many requests; retry later"

    def __init__(self, retry_after_seconds: int):
        super().__init__(details={"retry_after": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class StorageUnavailable(DomainError):
    """The storage could not be reached; nothing was changed and a retry may succeed."""

    code = "SERVICE_UNAVAILABLE"
    default_message = "The service is temporarily unavailable; retry later"
