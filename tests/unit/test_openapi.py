"""The OpenAPI document is valid 3.1 and describes every route the app serves."""

from __future__ import annotations

import re
from typing import Any

import falcon.inspect
import falcon.testing
import pytest
from openapi_spec_validator import validate

from entrypoints.container import build_container
from entrypoints.http.app import create_app


@pytest.fixture
def app_and_doc(make_settings) -> tuple[Any, dict[str, Any]]:  # type: ignore[no-untyped-def]
    container = build_container(make_settings(AQUALAB_STORAGE="memory"))
    app = create_app(container)
    doc = falcon.testing.TestClient(app).simulate_get("/api/v1/openapi.json").json
    return app, doc


def test_document_is_valid_openapi_31(app_and_doc: tuple[Any, dict[str, Any]]) -> None:
    _, doc = app_and_doc
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_every_route_and_method_is_documented(app_and_doc: tuple[Any, dict[str, Any]]) -> None:
    app, doc = app_and_doc
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for route in falcon.inspect.inspect_routes(app):
        path = re.sub(r"{(\w+)(:\w+)?}", r"{\1}", route.path)
        for method in route.methods:
            if not method.internal and method.method != "OPTIONS":
                served.add((path, method.method.lower()))
    assert served - documented == set()
    assert documented - served == set()
    assert len(served) >= 25


def test_auth_requirements_and_errors_are_documented(
    app_and_doc: tuple[Any, dict[str, Any]],
) -> None:
    _, doc = app_and_doc
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    me = doc["paths"]["/api/v1/auth/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    assert {"200", "401", "429", "500"} <= set(me["responses"])
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert login["security"] == []
    assert {"400", "401", "413", "415", "423", "429"} <= set(login["responses"])
    assert login["requestBody"]["content"]["application/json"]["schema"]["$ref"].startswith(
        "#/components/schemas/"
    )
    users = doc["paths"]["/api/v1/users"]["get"]
    names = {p["name"] for p in users["parameters"]}
    assert {
        "page",
        "limit",
        "offset",
        "sort",
        "order",
        "role",
        "lab_id",
        "is_active",
        "search",
    } <= names
    assert "ErrorOut" in doc["components"]["schemas"]
