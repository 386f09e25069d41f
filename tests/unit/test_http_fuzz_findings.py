"""What schemathesis found in the live API (tests/fuzz/test_fuzz_api.py), pinned on the
in-memory storage: each finding's right behaviour, and that the OpenAPI document says so.

- An `X-Change-Reason` longer than its documented `maxLength` is refused with 400, not
  silently cut (the audit trail would keep a different reason than the one sent).
- An id in the path that is not a UUID matches no route: 404, documented on every
  operation that takes one (`/{user_id}/tasks` did not document it).
- A JSON number is not a date: pydantic would read it as Unix seconds, the contract
  says a date-time string.
- An integer query parameter is digits: pydantic would read "0.0" or "1_000" as one.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_http_api import Api, assert_error
from tests.unit.test_http_api import api as api  # noqa: PLC0414  (the fixture, reused)

SAMPLE = {
    "type": "drinking",
    "location": "Fuzz well",
    "collection_date": "2025-01-10",
    "collector_name": "Fuzz",
}


def _openapi(api: Api) -> dict[str, Any]:
    result = api.call("GET", "/openapi.json")
    assert result.status_code == 200
    return dict(result.json)


def test_an_overlong_change_reason_is_refused_not_cut(api: Api) -> None:
    token = api.admin_token()
    too_long = api.call(
        "POST", "/samples", token, json=SAMPLE, headers={"X-Change-Reason": "r" * 1001}
    )
    error = assert_error(too_long, 400, "VALIDATION_ERROR")
    assert list(error["field_errors"]) == ["X-Change-Reason"]
    logout = api.call("POST", "/auth/logout", token, headers={"X-Change-Reason": "r" * 1001})
    assert_error(logout, 400, "VALIDATION_ERROR")

    at_limit = api.call(
        "POST", "/samples", token, json=SAMPLE, headers={"X-Change-Reason": "r" * 1000}
    )
    assert at_limit.status_code == 201, at_limit.text


def test_operations_taking_a_change_reason_document_its_400(api: Api) -> None:
    for path, operations in _openapi(api)["paths"].items():
        for method, operation in operations.items():
            names = {p["name"] for p in operation["parameters"]}
            if "X-Change-Reason" in names:
                assert "400" in operation["responses"], (method, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/not-a-uuid/tasks"), ("POST", "/not-a-uuid/tasks")],
)
def test_a_malformed_path_id_is_a_documented_404(api: Api, method: str, path: str) -> None:
    token = api.admin_token()
    result = api.call(method, path, token, json={"title": "x"})
    assert_error(result, 404, "NOT_FOUND")
    operation = _openapi(api)["paths"]["/api/v1/{user_id}/tasks"][method.lower()]
    assert "404" in operation["responses"]


def test_every_operation_with_a_path_parameter_documents_404(api: Api) -> None:
    for path, operations in _openapi(api)["paths"].items():
        for method, operation in operations.items():
            if any(p["in"] == "path" for p in operation["parameters"]):
                assert "404" in operation["responses"], (method, path)


@pytest.mark.parametrize("number", [0, 1736899200, 2.006555128207622e-263])
def test_a_number_is_not_a_date(api: Api, number: float) -> None:
    token = api.admin_token()
    report = api.call("POST", "/reports/compliance", token, json={"date_from": number})
    assert "date_from" in assert_error(report, 400, "VALIDATION_ERROR")["field_errors"]
    sample = api.call("POST", "/samples", token, json={**SAMPLE, "collection_date": number})
    assert "collection_date" in assert_error(sample, 400, "VALIDATION_ERROR")["field_errors"]


def test_date_strings_still_work(api: Api) -> None:
    token = api.admin_token()
    for value in ("2025-01-10", "2025-01-10T08:30:00Z", "2025-01-10T09:30:00+01:00"):
        created = api.call("POST", "/samples", token, json={**SAMPLE, "collection_date": value})
        assert created.status_code == 201, created.text
        assert created.json["collection_date"].startswith("2025-01-10T")
    report = api.call("POST", "/reports/compliance", token, json={"date_from": "2025-01-01"})
    assert report.status_code == 200, report.text


@pytest.mark.parametrize(
    "query",
    ["location=a&location=b", "limit=5&limit=500", "page=1&page=2"],
)
def test_a_parameter_given_twice_is_refused(api: Api, query: str) -> None:
    token = api.admin_token()
    result = api.call("GET", "/samples", token, query_string=query)
    name = query.split("=", maxsplit=1)[0]
    messages = assert_error(result, 400, "VALIDATION_ERROR")["field_errors"][name]
    assert messages[0] == "Give this parameter once"
    once = api.call("GET", "/samples", token, query_string=query.split("&", maxsplit=1)[0])
    assert once.status_code == 200, once.text


@pytest.mark.parametrize("value", ["1736899200", "1.5", "-3"])
def test_a_string_of_digits_is_not_a_date(api: Api, value: str) -> None:
    token = api.admin_token()
    result = api.call("GET", "/samples", token, query_string=f"date_to={value}")
    assert "date_to" in assert_error(result, 400, "VALIDATION_ERROR")["field_errors"]
    audit = api.call("GET", "/audit-logs", token, query_string=f"date_from={value}")
    assert "date_from" in assert_error(audit, 400, "VALIDATION_ERROR")["field_errors"]


@pytest.mark.parametrize("value", ["0.0", "1_000", " 5", "+5"])
@pytest.mark.parametrize("path", ["/sync/conflicts", "/samples", "/tasks", "/audit-logs"])
def test_an_integer_parameter_takes_digits_only(api: Api, path: str, value: str) -> None:
    """pydantic reads "0.0", "1_000", " 5" and "+5" as integers; the contract says integer
    (`make verify` sent `/sync/conflicts?offset=0.0`)."""
    token = api.admin_token()
    for name in ("offset", "limit", "page"):
        result = api.call("GET", path, token, query_string=f"{name}={value}")
        assert name in assert_error(result, 400, "VALIDATION_ERROR")["field_errors"], name
    plain = api.call("GET", path, token, query_string="offset=0&limit=5")
    assert plain.status_code == 200, plain.text


@pytest.mark.parametrize("flag", [True, False])
def test_true_and_false_are_not_numbers(api: Api, flag: bool) -> None:
    token = api.admin_token()
    sample = api.call("POST", "/samples", token, json={**SAMPLE, "latitude": flag})
    assert "latitude" in assert_error(sample, 400, "VALIDATION_ERROR")["field_errors"]
    created = api.call("POST", "/samples", token, json={**SAMPLE, "latitude": 33.5})
    assert created.status_code == 201, created.text
    result = api.call(
        "POST",
        f"/samples/{created.json['id']}/results",
        token,
        json={"parameter": "nitrate", "value": flag, "unit": "mg/L", "test_date": "2025-01-11"},
    )
    assert "value" in assert_error(result, 400, "VALIDATION_ERROR")["field_errors"]
    task = api.call("POST", "/tasks", token, json={"title": "x", "completed": flag})
    assert task.status_code == 201, task.text  # a real boolean field still takes one


@pytest.mark.parametrize("not_a_flag", [0, 1, 0.0, "true", "yes"])
def test_numbers_and_words_are_not_booleans_in_a_body(api: Api, not_a_flag: object) -> None:
    token = api.admin_token()
    task = api.call("POST", "/tasks", token, json={"title": "x", "completed": not_a_flag})
    assert "completed" in assert_error(task, 400, "VALIDATION_ERROR")["field_errors"]
    created = api.call("POST", "/tasks", token, json={"title": "x", "completed": False})
    assert created.status_code == 201, created.text
    flipped = api.call(
        "PATCH", f"/tasks/{created.json['id']}/complete", token, json={"completed": 1}
    )
    assert "completed" in assert_error(flipped, 400, "VALIDATION_ERROR")["field_errors"]
    listed = api.call("GET", "/tasks?completed=true", token)  # a query string has only text
    assert listed.status_code == 200, listed.text


@pytest.mark.parametrize("blank", ["\n", "   ", "\t\r\n"])
def test_a_blank_optional_body_is_malformed_json(api: Api, blank: str) -> None:
    token = api.admin_token()
    headers = {"Content-Type": "application/json"}
    result = api.call("POST", "/reports/compliance", token, body=blank, headers=headers)
    assert_error(result, 400, "INVALID_JSON")
    left_out = api.call("POST", "/reports/compliance", token, body="", headers=headers)
    assert left_out.status_code == 200, left_out.text
    no_body = api.call("POST", "/reports/compliance", token)
    assert no_body.status_code == 200, no_body.text
