"""A page far beyond the data is an empty page on PostgreSQL too, not a 500.

schemathesis (tests/fuzz) sent `GET /samples?page=14978737887407`: the offset fits
PostgreSQL's bigint, but the list queries bound it as `integer`, and the driver failed
with "integer out of range". Every path of the samples list (plain, filtered, searched)
is tried with offsets past 2**31.
"""

from __future__ import annotations

from collections.abc import Iterator

import falcon.testing
import pytest

from entrypoints.container import Container
from entrypoints.http.app import create_app
from tests.unit.test_http_api import Api

pytestmark = pytest.mark.integration

BEYOND_INT32 = 2**31


@pytest.fixture
def api(sql_container: Container) -> Iterator[Api]:
    yield Api(falcon.testing.TestClient(create_app(sql_container)), sql_container)


@pytest.mark.parametrize(
    "query",
    [
        f"offset={BEYOND_INT32}",
        f"offset={2**62}",
        f"page={BEYOND_INT32}&limit=100",
        f"offset={BEYOND_INT32}&location=Fuzz%20well",
        f"offset={BEYOND_INT32}&search=fuzz",
        f"offset={BEYOND_INT32}&sort=-collection_date&type=drinking",
    ],
)
def test_an_offset_beyond_32_bits_is_an_empty_page(api: Api, query: str) -> None:
    token = api.admin_token()
    sample = {
        "type": "drinking",
        "location": "Fuzz well",
        "collection_date": "2025-01-10",
        "collector_name": "Fuzz",
    }
    assert api.call("POST", "/samples", token, json=sample).status_code == 201
    result = api.call("GET", "/samples", token, query_string=query)
    assert result.status_code == 200, result.text
    assert result.json["data"] == []
