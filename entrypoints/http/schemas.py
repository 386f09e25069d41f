"""Request and response shapes: one source that validates input and generates OpenAPI 3.1.

Pydantic reports every field problem at once and emits JSON Schema 2020-12, which is
exactly OpenAPI 3.1's schema dialect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from pydantic_core import PydanticCustomError

from domain.audit import AuditAction, AuditEntityType
from domain.paging import MAX_LIMIT
from domain.roles import Role
from domain.validation import PASSWORD_MAX_LENGTH, password_problems


class Input(BaseModel):
    """Unknown fields are ignored (mass assignment of e.g. `role` has no effect)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


Password = Annotated[
    str, Field(min_length=1, max_length=PASSWORD_MAX_LENGTH, examples=["Str0ngPassw0rd"])
]
Name = Annotated[str, Field(min_length=1, max_length=200, examples=["Amina Benali"])]


def check_password_policy(value: str) -> str:
    if problems := password_problems(value):
        raise PydanticCustomError(
            "password_policy", "{summary}", {"summary": "; ".join(problems), "problems": problems}
        )
    return value


class _NewPassword(Input):
    @field_validator("password", check_fields=False)
    @classmethod
    def _policy(cls, value: str) -> str:
        return check_password_policy(value)


# --- auth --------------------------------------------------------------------------


class RegisterIn(_NewPassword):
    email: EmailStr
    password: Password = Field(
        description="At least 8 characters, one upper-case letter, one digit"
    )
    name: Name


class LoginIn(Input):
    email: Annotated[str, Field(min_length=1, max_length=320, examples=["admin@lab.example"])]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class RefreshIn(Input):
    refresh_token: Annotated[str, Field(min_length=1, max_length=512)]


class ForgotPasswordIn(Input):
    email: Annotated[str, Field(min_length=1, max_length=320)]


class ResetPasswordIn(_NewPassword):
    token: Annotated[str, Field(min_length=1, max_length=512)]
    password: Password


class TokensOut(Output):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Access-token lifetime in seconds")


class UserOut(Output):
    id: UUID
    email: str
    name: str
    role: Role
    lab_id: UUID | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    version: int


class SessionOut(Output):
    user: UserOut
    tokens: TokensOut


# --- lists ---------------------------------------------------------------------------


class ListMeta(Output):
    total: int
    page: int
    limit: int
    total_pages: int
    has_more: bool


class ListQuery(Input):
    page: int = Field(1, ge=1)
    limit: int = Field(20, ge=1, le=MAX_LIMIT)
    offset: int | None = Field(None, ge=0, description="Accepted instead of `page`")
    sort: str | None = Field(None, description="`field` or `-field` (descending)")
    order: Literal["asc", "desc"] | None = None


class UserList(Output):
    data: list[UserOut]
    meta: ListMeta


# --- users ---------------------------------------------------------------------------


class UserCreateIn(_NewPassword):
    id: UUID | None = Field(None, description="Client-supplied id (optional)")
    email: EmailStr
    password: Password
    name: Name
    role: Role
    lab_id: UUID | None = None


class UserPutIn(Input):
    email: EmailStr | None = None
    name: Name
    role: Role
    lab_id: UUID | None
    is_active: bool
    version: int | None = Field(None, ge=1, description="Expected current version (409 if stale)")


class UserPatchIn(Input):
    email: EmailStr | None = None
    name: Name | None = None
    role: Role | None = None
    lab_id: UUID | None = None
    is_active: bool | None = None
    password: Password | None = None
    version: int | None = Field(None, ge=1)

    @field_validator("password")
    @classmethod
    def _policy(cls, value: str | None) -> str | None:
        return check_password_policy(value) if value is not None else None


class UserListQuery(ListQuery):
    role: Role | None = None
    lab_id: UUID | None = None
    is_active: bool | None = None
    search: Annotated[str, Field(max_length=200)] | None = None


# --- labs ----------------------------------------------------------------------------


class LabOut(Output):
    id: UUID
    name: str
    code: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class LabList(Output):
    data: list[LabOut]
    meta: ListMeta


class LabCreateIn(Input):
    id: UUID | None = None
    name: Name
    code: Annotated[str, Field(min_length=1, max_length=32)] | None = None


class LabPutIn(Input):
    name: Name
    code: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    version: int | None = Field(None, ge=1)


class LabListQuery(ListQuery):
    search: Annotated[str, Field(max_length=200)] | None = None


# --- audit ---------------------------------------------------------------------------


class AuditEntryOut(Output):
    id: int
    occurred_at: datetime = Field(serialization_alias="timestamp")
    user_id: UUID | None
    entity_type: AuditEntityType
    entity_id: str
    action: AuditAction
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    reason: str | None
    request_id: str | None
    device_id: str | None
    lab_id: UUID | None


class AuditList(Output):
    data: list[AuditEntryOut]
    meta: ListMeta


class AuditQueryIn(Input):
    page: int = Field(1, ge=1)
    limit: int = Field(20, ge=1, le=MAX_LIMIT)
    offset: int | None = Field(None, ge=0)
    date_from: datetime | None = None
    date_to: datetime | None = None
    user_id: UUID | None = None
    entity_type: AuditEntityType | None = None
    entity_id: Annotated[str, Field(max_length=200)] | None = None
    action: AuditAction | None = None


class ChainReportOut(Output):
    ok: bool
    checked: int
    first_bad_id: int | None
    pending: int = Field(description="Committed entries not yet chained (sealed within seconds)")


# --- operations ----------------------------------------------------------------------


class HealthOut(Output):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Any] = {}
    version: str | None = None


class ErrorBody(Output):
    code: str = Field(examples=["VALIDATION_ERROR"])
    message: str
    details: dict[str, Any] = {}
    field_errors: dict[str, list[str]] = {}
    request_id: str | None
    timestamp: datetime


class ErrorOut(Output):
    error: ErrorBody
