"""Responses serialized straight from the views by orjson, byte for byte as pydantic would.

`render` validated every response through its pydantic model (from the view's
attributes) and dumped the model: ~10 % of the CPU of a list request (docs/
performance.md). A `Shape`, compiled once per response model, reads the same fields
from the view in the same order and lets orjson write them. Models it cannot mirror
(aliases, custom serializers, computed fields, field types it does not know) keep the
pydantic path, and so does any value it cannot read.

With `verify_against_pydantic(True)` (the test settings turn it on), every response is
rendered both ways and a difference raises: the whole test suite checks that the two
agree.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import json
import operator
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any, Literal

import orjson
from pydantic import BaseModel
from pydantic.fields import FieldInfo

_SCALARS: tuple[type, ...] = (str, int, float, bool, uuid.UUID, dt.datetime, dt.date)
_MISSING = object()


class _Mode:
    verify = False


_mode = _Mode()


class _Unreadable(Exception):
    """The value lacks a field the model requires: pydantic will say what is wrong."""


Convert = Callable[[Any], Any]


class Shape:
    def __init__(self, fields: list[tuple[str, Any, Convert | None]]):
        self._fields = fields
        names = self._names = tuple(name for name, _, _ in fields)
        # Every field in one C call: the common case, a view or a dict holding them all.
        self._attributes: Callable[[Any], tuple[Any, ...]]
        self._items: Callable[[Any], tuple[Any, ...]]
        if len(names) > 1:
            self._attributes, self._items = operator.attrgetter(*names), operator.itemgetter(*names)
        else:  # one name: the getters would return the value itself, not a tuple
            self._attributes = lambda value: (getattr(value, names[0]),)
            self._items = lambda value: (value[names[0]],)
        self._converts = tuple((name, convert) for name, _, convert in fields if convert)

    def __call__(self, value: Any) -> dict[str, Any]:
        is_dict = isinstance(value, dict)
        try:
            values = self._items(value) if is_dict else self._attributes(value)
        except (AttributeError, KeyError):  # a field left to its default, or missing
            return self._read(value.get if is_dict else functools.partial(getattr, value))
        out = dict(zip(self._names, values, strict=True))
        for name, convert in self._converts:
            item = out[name]
            if item is not None:
                out[name] = convert(item)
        return out

    def _read(self, read: Callable[[str, Any], Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, default, convert in self._fields:
            item = read(name, _MISSING)
            if item is _MISSING:
                if default is _MISSING:
                    raise _Unreadable(name)
                item = default
            out[name] = convert(item) if convert is not None and item is not None else item
        return out


def verify_against_pydantic(on: bool) -> None:
    _mode.verify = on


def dump(model: type[BaseModel], value: Any) -> bytes:
    """`model.model_validate(value, from_attributes=True).model_dump_json(by_alias=True)`."""
    shape = shape_of(model)
    fast: bytes | None = None
    if shape is not None and not isinstance(value, BaseModel):
        try:
            fast = orjson.dumps(shape(value), option=orjson.OPT_UTC_Z)
        except (_Unreadable, TypeError, ValueError):  # pydantic says what is wrong
            fast = None
    if fast is None or _mode.verify:
        slow = model.model_validate(value, from_attributes=True).model_dump_json(by_alias=True)
        if fast is not None and fast != slow.encode():
            raise AssertionError(f"fast JSON differs for {model.__name__}:\n{fast!r}\n{slow!r}")
        return slow.encode()
    return fast


def embed(model: type[BaseModel], text: str) -> bytes:
    """JSON the storage already built, sent as it is. With `verify_against_pydantic(True)`
    it must read back, through the model, as the same JSON."""
    if _mode.verify:
        through = model.model_validate_json(text).model_dump_json(by_alias=True)
        if json_numbers_as_floats(through) != json_numbers_as_floats(text):
            raise AssertionError(f"stored JSON differs for {model.__name__}:\n{text}\n{through}")
    return text.encode()


def json_numbers_as_floats(text: str | bytes) -> Any:
    """The document, every number read as a float: JSON has one kind of number, and the
    writers differ in form only. PostgreSQL writes a whole float stored in JSONB as an
    integer (45637738120232990), Python as a float (4.563773812023299e+16); read as the
    double every client reads it as, they are equal."""
    return json.loads(text, parse_int=float)


@functools.cache
def shape_of(model: type[BaseModel]) -> Shape | None:
    decorators = model.__pydantic_decorators__
    if (
        decorators.field_serializers
        or decorators.model_serializers
        or decorators.computed_fields
        or model.model_config.get("ser_json_timedelta")
        or model.model_config.get("ser_json_inf_nan")
    ):
        return None
    fields: list[tuple[str, Any, Convert | None]] = []
    for name, info in model.model_fields.items():
        if info.alias or info.serialization_alias or info.validation_alias or info.exclude:
            return None
        convert = _converter(info.annotation)
        if convert is False:
            return None
        fields.append((name, _default(info), convert or None))
    return Shape(fields)


def _default(info: FieldInfo) -> Any:
    if info.is_required() or info.default_factory is not None:
        return _MISSING
    return info.default


def _converter(annotation: Any) -> Convert | Literal[False] | None:
    """None: written as it is; a function: converts the value; False: not supported."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _converter(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _converter(options[0]) if len(options) == 1 else False
    if origin is Literal:
        return None if all(isinstance(a, str) for a in typing.get_args(annotation)) else False
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        convert = _converter(item)
        if convert is False:
            return False
        if convert is None:
            return list
        each = convert
        return lambda items: [each(i) if i is not None else None for i in items]
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return shape_of(annotation) or False
        if issubclass(annotation, enum.Enum) and issubclass(annotation, str):
            # pydantic validates the view's value into the enum and writes its value: a
            # plain string that already is one of the values is written as it is.
            values = frozenset(member.value for member in annotation)
            return lambda v: v if v.__class__ is str and v in values else annotation(v).value
        if annotation in _SCALARS:
            return _SCALAR_CHECKS.get(annotation)
    return False


# pydantic writes an int given to a float field as a float (3 -> 3.0).
_SCALAR_CHECKS: dict[type, Convert] = {float: float}
