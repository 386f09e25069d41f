"""Shared pieces of the OWASP API Top 10 e2e tests (tests/e2e/test_owasp_*.py).

The operations under attack are read from the live server's own OpenAPI document, so
an endpoint added later is attacked too without anyone editing a list. Hostile strings
are kept here once, and `assert_reveals_nothing` is the one definition of "an error body
that leaks no internals".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from tests.e2e.client import Api

METHODS = ("get", "post", "put", "patch", "delete")

# SQL metacharacters and Unicode edge cases. `bytes` values are raw bytes that are not
# valid UTF-8: they can only travel percent-encoded in a URL or as a raw body.
HOSTILE: dict[str, str | bytes] = {
    "single quote": "'",
    "double quote": '"',
    "comment": ";--",
    "percent": "%",
    "underscore": "_",
    "backslash": "\\",
    "tautology": "' OR 1=1 --",
    "union": "x' UNION SELECT password_hash FROM users --",
    "dollar quoting": "$$;DROP TABLE samples;$$",
    "nul byte": "a\x00b",
    "lone surrogate": "\ud800",
    "invalid utf-8": b"\xff\xfe\xc3",
    "rtl override": "\u202egpj.exe",
    "very long": "x" * 3_000,  # over every length limit, under the e2e body limit
    "emoji": "\U0001f4a7\U0001f9ea",
    "combining marks": "e\u0301\u0327\u0308",
    "zero width": "a\u200bb\ufeff",
    "crlf": "a\r\nb",
}

# What must never reach a client: traces, driver and ORM names, SQL, file paths.
_INTERNALS = (
    re.compile(
        r"Traceback|File \"|\.py\b|psycopg|sqlalchemy|pydantic|falcon|waitress|"
        r"NUL \(0x00\)|/work/|site-packages|<class ",
        re.IGNORECASE,
    ),
    re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|WHERE|syntax error at)\b"),
)


def query_value(value: str | bytes) -> str:
    """The percent-encoded form of a query value (lone surrogates as their raw bytes)."""
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    return quote(raw, safe="")


def assert_reveals_nothing(response: requests.Response) -> None:
    for pattern in _INTERNALS:
        leak = pattern.search(response.text)
        assert leak is None, (response.status_code, leak.group(0), response.text[:500])


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the OpenAPI template, e.g. /api/v1/users/{user_id}
    spec: Mapping[str, Any]

    @property
    def query_parameters(self) -> list[Mapping[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == "query"]

    @property
    def path_parameters(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def needs_token(self) -> bool:
        return bool(self.spec.get("security"))

    @property
    def has_body(self) -> bool:
        return "requestBody" in self.spec

    def url(self, values: Mapping[str, str]) -> str:
        return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], self.path)

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def operations(api: Api) -> Iterator[Operation]:
    """Every operation the live server documents."""
    document = api.get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield Operation(method, path, item[method])


def list_operations(api: Api) -> list[Operation]:
    """GET operations answering the SPEC's list envelope (`{"data": [...], "meta"}`)."""
    document = api.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    found = []
    for op in operations(api):
        if op.method != "get":
            continue
        content = op.spec["responses"].get("200", {}).get("content", {})
        ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
        properties = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
        if {"data", "meta"} <= set(properties):
            found.append(op)
    return found
