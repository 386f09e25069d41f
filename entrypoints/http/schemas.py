"""Request and response shapes: one source that validates input and generates OpenAPI 3.1.

Pydantic reports every field problem at once and emits JSON Schema 2020-12, which is
exactly OpenAPI 3.1's schema dialect.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, get_args
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from domain.audit import AuditAction, AuditEntityType
from domain.compliance import Basis, ComplianceStatus, ParameterKind, Qualifier, StandardKind
from domain.lab_data import SampleStatus, SampleType
from domain.paging import MAX_LIMIT
from domain.roles import Role
from domain.validation import PASSWORD_MAX_LENGTH, password_problems


class Input(BaseModel):
    """Unknown fields are ignored (mass assignment of e.g. `role` has no effect)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)
    # False where the values are validated later, one by one (sync mutations).
    _refuses_nul: ClassVar[bool] = True

    @field_validator("*")
    @classmethod
    def _no_nul_characters(cls, value: object) -> object:
        # PostgreSQL text and JSONB cannot hold U+0000: refuse it here, as a field error,
        # rather than let the driver fail the request with a 500.
        if cls._refuses_nul and _holds_nul(value):
            raise PydanticCustomError("nul_character", "Text may not contain NUL characters")
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_other_types(cls, value: object, info: ValidationInfo) -> object:
        # pydantic would read true/false as 1/0 where a number is expected.
        admits_bool, only_bool, only_int = _field_rules(cls, info.field_name or "")
        # ... and "0.0", "1_000" or " 5" as integers (a query string holds only text).
        if only_int and isinstance(value, str) and not _INTEGER.fullmatch(value):
            raise PydanticCustomError("int_parsing", "Input should be a valid integer")
        if isinstance(value, bool) and not admits_bool:
            raise PydanticCustomError("bool_not_allowed", "true and false are not valid here")
        # ... and 0, 1.0 or "yes" as a boolean in a JSON body (a query string has only text).
        if only_bool and info.mode == "json" and value is not None and not isinstance(value, bool):
            raise PydanticCustomError("bool_type", "Input should be true or false")
        return value


_INTEGER = re.compile(r"-?[0-9]+")


@functools.cache
def _field_rules(model: type[BaseModel], field_name: str) -> tuple[bool, bool, bool]:
    """(may the field hold a boolean, may it hold nothing else, is it an integer and
    nothing else): once per model and field, not per value (a sync batch validates
    thousands of fields)."""
    field = model.model_fields.get(field_name)
    if field is None:
        return True, False, False
    annotation = field.annotation
    return _admits_bool(annotation), _only_bool(annotation), _only_int(annotation)


def _only_int(annotation: object) -> bool:
    return annotation is int or (
        bool(get_args(annotation)) and set(get_args(annotation)) <= {int, type(None)}
    )


def _admits_bool(annotation: object) -> bool:
    if annotation is bool or annotation is Any:
        return True
    return any(_admits_bool(arg) for arg in get_args(annotation))


def _only_bool(annotation: object) -> bool:
    """bool or bool | None: nothing but a JSON boolean (or null) fits."""
    return annotation is bool or (
        bool(get_args(annotation)) and set(get_args(annotation)) <= {bool, type(None)}
    )


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


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
    total_exact: bool = Field(
        True,
        description="False when more than 10,000 records match: `total` is then the "
        "database's estimate (`has_more` stays exact)",
    )


# PostgreSQL's OFFSET is a bigint: a larger offset (or page * limit) would fail in the driver.
MAX_OFFSET = 2**63 - 1
MAX_PAGE = MAX_OFFSET // MAX_LIMIT


class PageQuery(Input):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    limit: int = Field(20, ge=1, le=MAX_LIMIT)
    offset: int | None = Field(None, ge=0, le=MAX_OFFSET, description="Accepted instead of `page`")


class ListQuery(PageQuery):
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
    page: int = Field(1, ge=1, le=MAX_PAGE)
    limit: int = Field(20, ge=1, le=MAX_LIMIT)
    offset: int | None = Field(None, ge=0, le=MAX_OFFSET)
    date_from: datetime | None = None
    date_to: datetime | None = None
    user_id: UUID | None = None
    entity_type: AuditEntityType | None = None
    entity_id: Annotated[str, Field(max_length=200)] | None = None
    action: AuditAction | None = None

    @field_validator("date_from", "date_to", mode="before")
    @classmethod
    def _date_time_string(cls, value: object) -> object:
        return value if value is None else _timestamp(value)


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


# --- lab data ----------------------------------------------------------------------------

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_START = re.compile(r"^\s*\d{4}-")


def _timestamp(value: object) -> object:
    """RFC 3339, or a plain YYYY-MM-DD meaning midnight UTC (SPEC §3)."""
    if isinstance(value, str) and _DATE_ONLY.match(value.strip()):
        return datetime.fromisoformat(value.strip()).replace(tzinfo=UTC)
    if (isinstance(value, str) and _DATE_START.match(value)) or isinstance(value, datetime):
        return value
    # pydantic would read a number, or a string of digits, as Unix seconds; the contract
    # says an RFC 3339 date-time string.
    raise PydanticCustomError("datetime_type", "Expected a date-time string, e.g. 2025-01-18")


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise PydanticCustomError(
            "timezone", "Include a time zone offset, e.g. 2025-01-18T10:30:00Z"
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise PydanticCustomError("datetime_range", "Date out of range") from None


Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp),
    AfterValidator(_aware_utc),
    Field(examples=["2025-01-18T10:30:00Z"]),
]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Notes = Annotated[str, Field(max_length=10_000)]


class ParameterOut(Output):
    id: UUID
    code: str
    name: str
    unit: str
    kind: ParameterKind
    min_value: float | None
    max_value: float | None
    version: int


class ParameterList(Output):
    data: list[ParameterOut]
    meta: ListMeta


class ParameterCreateIn(Input):
    id: UUID | None = None
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", examples=["boron"])]
    name: Name
    unit: Annotated[str, Field(min_length=1, max_length=32, examples=["mg/L"])]
    kind: ParameterKind = ParameterKind.NUMERIC
    min_value: float | None = None
    max_value: float | None = None


class ParameterPutIn(Input):
    name: Name
    min_value: float | None
    max_value: float | None
    version: int | None = Field(None, ge=1)


class LimitOut(Output):
    standard: str
    parameter: str
    min: float | None
    max: float | None
    recommended_max: float | None
    basis: Basis
    source: str | None
    version: int
    updated_at: datetime


class StandardOut(Output):
    code: str
    name: str
    kind: StandardKind
    description: str | None
    limits: list[LimitOut]


class StandardSummary(Output):
    code: str
    name: str
    kind: StandardKind
    description: str | None


class StandardList(Output):
    data: list[StandardSummary]
    meta: ListMeta


class LimitPutIn(Input):
    min: float | None = Field(None, ge=0)
    max: float | None = Field(None, ge=0)
    recommended_max: float | None = Field(None, ge=0, description="NM VMR (warning above it)")
    basis: Basis
    source: Annotated[str, Field(max_length=2000)] | None = None
    reevaluate: bool = Field(
        False,
        description="Judge every stored result of this parameter again now (each change audited). "
        "Without it, stored results keep the evaluations they were judged with.",
    )
    version: int | None = Field(None, ge=1)


class LimitChangeOut(Output):
    limit: LimitOut
    created: bool
    reevaluated_results: int
    changed_results: int
    changed_samples: int


class Evaluation(Output):
    standard: str
    min: float | None
    max: float | None
    recommended_max: float | None
    basis: Basis
    outcome: ComplianceStatus


class ResultOut(Output):
    id: UUID
    sample_id: UUID
    parameter: str
    value: float
    qualifier: Qualifier
    detection_limit: float | None
    unit: str
    test_date: datetime
    technician_name: str | None
    test_method: str | None
    compliance_status: ComplianceStatus
    evaluations: list[Evaluation]
    notes: str | None
    version: int
    created_at: datetime
    created_by: UUID | None
    updated_at: datetime
    updated_by: UUID | None


class ResultList(Output):
    data: list[ResultOut]
    meta: ListMeta


class ResultCreateIn(Input):
    id: UUID | None = Field(None, description="Client-supplied id (offline creation)")
    parameter: Annotated[str, Field(min_length=1, max_length=64, examples=["nitrate"])]
    value: float = Field(examples=[12.5])
    unit: Annotated[str, Field(min_length=1, max_length=32, examples=["mg/L"])]
    test_date: Timestamp
    qualifier: Qualifier = Qualifier.EQUAL
    detection_limit: float | None = Field(None, ge=0)
    technician_name: Text200 | None = None
    test_method: Text200 | None = None
    notes: Notes | None = None


class ResultPutIn(Input):
    parameter: Annotated[str, Field(min_length=1, max_length=64)]
    value: float
    unit: Annotated[str, Field(min_length=1, max_length=32)]
    test_date: Timestamp
    qualifier: Qualifier = Qualifier.EQUAL
    detection_limit: float | None = Field(None, ge=0)
    technician_name: Text200 | None = None
    test_method: Text200 | None = None
    notes: Notes | None = None
    version: int | None = Field(None, ge=1)


class ResultPatchIn(Input):
    parameter: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    value: float | None = None
    unit: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    test_date: Timestamp | None = None
    qualifier: Qualifier | None = None
    detection_limit: float | None = Field(None, ge=0)
    technician_name: Text200 | None = None
    test_method: Text200 | None = None
    notes: Notes | None = None
    version: int | None = Field(None, ge=1)


class SampleOut(Output):
    id: UUID
    lab_id: UUID
    type: SampleType
    location: str
    latitude: float | None
    longitude: float | None
    collection_date: datetime
    collector_name: str
    status: SampleStatus
    compliance_status: ComplianceStatus
    notes: str | None
    version: int
    created_at: datetime
    created_by: UUID | None
    updated_at: datetime
    updated_by: UUID | None


class SampleDetailOut(SampleOut):
    results: list[ResultOut]


class SampleList(Output):
    data: list[SampleOut]
    meta: ListMeta


Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class SampleCreateIn(Input):
    id: UUID | None = Field(None, description="Client-supplied id (offline creation)")
    lab_id: UUID | None = Field(None, description="Admins only; default: your own lab")
    type: SampleType
    location: Text200 = Field(examples=["Bouskoura well 3"])
    collection_date: Timestamp
    collector_name: Text200 = Field(examples=["Youssef El Amrani"])
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    status: SampleStatus = SampleStatus.COLLECTED
    notes: Notes | None = None


class SamplePutIn(Input):
    type: SampleType
    location: Text200
    collection_date: Timestamp
    collector_name: Text200
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    status: SampleStatus = SampleStatus.COLLECTED
    notes: Notes | None = None
    version: int | None = Field(None, ge=1)


class SamplePatchIn(Input):
    type: SampleType | None = None
    location: Text200 | None = None
    collection_date: Timestamp | None = None
    collector_name: Text200 | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    status: SampleStatus | None = None
    notes: Notes | None = None
    version: int | None = Field(None, ge=1)


class SampleListQuery(ListQuery):
    date_from: Timestamp | None = Field(None, description="Collection date from (inclusive)")
    date_to: Timestamp | None = Field(None, description="Collection date to (inclusive)")
    type: SampleType | None = None
    location: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="Exact site name (any case)"
    )
    compliance_status: ComplianceStatus | None = None
    status: SampleStatus | None = None
    lab_id: UUID | None = Field(None, description="Admins: one lab (default: every lab)")
    search: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="Id prefix, location or collector name (case-insensitive)"
    )
