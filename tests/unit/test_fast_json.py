"""Responses written by orjson from the views are the bytes pydantic would write
(entrypoints/http/fast_json.py); in the test settings every response is checked both ways."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, ValidationError, field_serializer

from application.views import RawJson, SampleView
from domain.lab_data import SampleStatus
from entrypoints.http import fast_json
from entrypoints.http.schemas import ListMeta, SampleDetailOut, SampleList


def _pydantic(model: type[BaseModel], value: Any) -> bytes:
    return model.model_validate(value, from_attributes=True).model_dump_json(by_alias=True).encode()


def _sample(**changes: Any) -> SampleView:
    values: dict[str, Any] = {
        "id": uuid.uuid4(), "lab_id": uuid.uuid4(), "type": "drinking",
        "location": "Kénitra « puits » 3 \U0001f4a7", "latitude": 34.261_01,
        "longitude": -6.5802, "collection_date": datetime(2025, 1, 18, 10, 30, tzinfo=UTC),
        "collector_name": 'Amina "Tazi"', "status": "collected",
        "compliance_status": "pending", "notes": None, "version": 1,
        "created_at": datetime(2025, 1, 18, 10, 30, 0, 123_000, tzinfo=UTC),
        "created_by": None, "updated_at": datetime(2025, 1, 18, 10, 30, 0, 1, tzinfo=UTC),
        "updated_by": uuid.uuid4(), "results": [],
    }  # fmt: skip
    values.update(changes)
    return SampleView(**values)


@pytest.fixture
def verify_off() -> Any:
    fast_json.verify_against_pydantic(False)
    yield
    fast_json.verify_against_pydantic(True)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"latitude": None, "longitude": None, "notes": "x" * 300},
        {"latitude": 1e-7, "longitude": 1e22},
        {"latitude": 0.1 + 0.2, "longitude": -0.0},
        {"latitude": 45, "longitude": -7},  # ints given to float fields
        {"collection_date": datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)},
        {"collection_date": datetime(2025, 6, 1, 12, tzinfo=timezone(timedelta(hours=1)))},
    ],
)
def test_the_sample_list_is_written_as_pydantic_writes_it(
    changes: dict[str, Any], verify_off: None
) -> None:
    page = {
        "data": [_sample(**changes), _sample()],
        "meta": ListMeta(total=2, page=1, limit=20, total_pages=1, has_more=False),
    }
    assert fast_json.shape_of(SampleList) is not None
    assert fast_json.dump(SampleList, page) == _pydantic(SampleList, page)
    detail = _sample(**changes)
    assert fast_json.dump(SampleDetailOut, detail) == _pydantic(SampleDetailOut, detail)


class Flagged(BaseModel):
    count: int


def test_verification_catches_a_difference() -> None:
    fast_json.verify_against_pydantic(True)
    # pydantic writes a bool given to an int field as 1; written as it is, it is `true`.
    with pytest.raises(AssertionError, match="fast JSON differs"):
        fast_json.dump(Flagged, {"count": True})


def test_json_the_storage_built_is_sent_as_it_is(verify_off: None) -> None:
    text = RawJson(fast_json.dump(SampleDetailOut, _sample()).decode())
    assert fast_json.embed(SampleDetailOut, text) == text.encode()
    fast_json.verify_against_pydantic(True)
    assert fast_json.embed(SampleDetailOut, text) == text.encode()


def test_verification_reads_a_whole_number_and_its_float_as_one() -> None:
    """`make verify` found it: an evaluation's limit of 4.563773812023299e+16, stored in
    JSONB, comes back from PostgreSQL as 45637738120232990; pydantic writes the float."""
    fast_json.verify_against_pydantic(True)
    doc = orjson.loads(fast_json.dump(SampleDetailOut, _sample(latitude=4.563773812023299e16)))
    doc["latitude"] = 45637738120232990  # as PostgreSQL writes it
    text = orjson.dumps(doc).decode()
    assert fast_json.embed(SampleDetailOut, RawJson(text)) == text.encode()


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda doc: doc.pop("version"), "a field missing"),
        (lambda doc: doc.update(surplus=1), "a field the schema does not have"),
        (lambda doc: doc.update(collection_date="2025-01-18 10:30"), "not the API's timestamp"),
        (lambda doc: doc.update(latitude="34.2"), "a number as a string"),
    ],
)
def test_verification_checks_stored_json_against_the_schema(
    change: Callable[[dict[str, Any]], Any], why: str
) -> None:
    fast_json.verify_against_pydantic(True)
    doc = orjson.loads(fast_json.dump(SampleDetailOut, _sample()))
    assert fast_json.embed(SampleDetailOut, RawJson(orjson.dumps(doc).decode()))
    change(doc)
    with pytest.raises((AssertionError, ValidationError)):
        fast_json.embed(SampleDetailOut, RawJson(orjson.dumps(doc).decode()))


def test_without_verification_the_fast_bytes_are_served(verify_off: None) -> None:
    assert fast_json.dump(Flagged, {"count": 3}) == b'{"count":3}'


class Custom(BaseModel):
    at: datetime

    @field_serializer("at")
    def _as_day(self, value: datetime) -> str:
        return value.date().isoformat()


def test_models_it_cannot_mirror_keep_pydantic(verify_off: None) -> None:
    assert fast_json.shape_of(Custom) is None
    at = datetime(2025, 1, 18, 10, 30, tzinfo=UTC)
    assert fast_json.dump(Custom, {"at": at}) == b'{"at":"2025-01-18"}'


def test_a_value_missing_a_required_field_gets_pydantics_error(verify_off: None) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        fast_json.dump(Flagged, {})


class Defaults(BaseModel):
    name: str
    note: str | None = None
    status: SampleStatus = SampleStatus.COLLECTED


class One(BaseModel):
    name: str


class _Named:
    def __init__(self, **values: Any):
        self.__dict__.update(values)


@pytest.mark.parametrize(
    "value",
    [
        {"name": "a"},  # the defaults, from a dict
        _Named(name="a"),  # the defaults, from attributes
        {"name": "a", "note": "n", "status": "received"},  # a plain string for the enum
        _Named(name="a", note=None, status=SampleStatus.REJECTED),  # the enum member itself
    ],
    ids=["dict-defaults", "object-defaults", "dict-all", "object-all"],
)
def test_fields_read_at_once_or_one_by_one_are_written_as_pydantic_writes_them(
    value: Any, verify_off: None
) -> None:
    assert fast_json.dump(Defaults, value) == _pydantic(Defaults, value)


@pytest.mark.parametrize("value", [{"name": "a"}, _Named(name="a")], ids=["dict", "object"])
def test_a_model_of_one_field(value: Any, verify_off: None) -> None:
    assert fast_json.dump(One, value) == b'{"name":"a"}'


def test_a_string_that_is_no_member_of_the_enum_gets_pydantics_error(verify_off: None) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        fast_json.dump(Defaults, {"name": "a", "status": "lost"})
