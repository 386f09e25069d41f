"""POST /reports/compliance over HTTP (falcon TestClient, memory storage): JSON, CSV, PDF.

The PDF is rendered to PNG with poppler's `pdftoppm` (scripts/ensure-poppler.sh installs
it) and read back with `pdftotext`, so the tests see what a printed page shows.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
from PIL import Image

from domain.compliance import ComplianceStatus
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.reports.csv_export import safe_text
from tests.factories import T0, ResultFactory, SampleFactory
from tests.unit.test_http_api import Api, assert_error
from tests.unit.test_http_lab_data import Lab, lab_world

REPORT = "/reports/compliance"
INJECTED = '=HYPERLINK("http://evil.example","x")'


@dataclass
class Reporting:
    lab: Lab
    ids: dict[str, str]

    def report(
        self, token: str, body: dict[str, Any] | None = None, accept: str | None = None
    ) -> falcon.testing.Result:
        headers = {"Accept": accept} if accept else {}
        if body is None:
            return self.lab.call("POST", REPORT, token, headers=headers)
        return self.lab.call("POST", REPORT, token, json=body, headers=headers)

    def ok(self, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.report(token, {} if body is None else body)
        assert response.status_code == 200, response.text
        return dict(response.json)


@pytest.fixture
def rep(make_settings) -> Iterator[Reporting]:  # type: ignore[no-untyped-def]
    for lab in lab_world(make_settings):
        yield build_data(lab)


def build_data(lab: Lab) -> Reporting:
    """Lab A: a fail, a warning, a fail at an injected site name, a pass and a pending
    sample; a deleted sample and a deleted result that must not count. Lab B: one fail."""
    ids: dict[str, str] = {}

    def sample(key: str, token: str | None = None, **values: Any) -> str:
        ids[key] = lab.sample(token, **values)["id"]
        return ids[key]

    def result(key: str, of: str, token: str | None = None, **values: Any) -> str:
        ids[key] = lab.result(ids[of], token, **values)["id"]
        return ids[key]

    sample("a1", location="Bouskoura well", collection_date="2025-01-05")
    result("a1_nitrate", "a1", value=60)  # fail (> 50)
    result("a1_ph", "a1", parameter="ph", value=7.2, unit="pH")  # pass
    sample("a2", location="Oued Sebou", type="ground", collection_date="2025-01-10")
    result("a2_nitrate", "a2", value=45)  # warning (>= 80 % of 50)
    sample("a3", location=INJECTED, collection_date="2025-01-20T08:30:00Z")
    result("a3_ph", "a3", parameter="ph", value=9.1, unit="pH")  # fail (> 8.5)
    sample("a4", location="Tap 12", collection_date="2025-02-01")  # pending
    sample("a5", location="tap 12", collection_date="2025-01-15")
    result("a5_nitrate", "a5", value=10)  # pass
    result("a5_gone", "a5", value=90)  # fail, then deleted
    assert lab.call("DELETE", f"/results/{ids['a5_gone']}", lab.tech).status_code == 204
    sample("a6", location="Bouskoura well", collection_date="2025-01-06")
    result("a6_nitrate", "a6", value=70)  # fail, then its sample is deleted
    assert lab.call("DELETE", f"/samples/{ids['a6']}", lab.tech).status_code == 204
    sample("b1", lab.other_tech, location="Rabat", collection_date="2025-01-07")
    result("b1_nitrate", "b1", lab.other_tech, value=75)
    return Reporting(lab, ids)


def totals(samples: int, p: int = 0, w: int = 0, f: int = 0, pending: int = 0) -> dict[str, int]:
    return {"samples": samples, "pass": p, "warning": w, "fail": f, "pending": pending}


# --- JSON --------------------------------------------------------------------------------------


def test_a_technicians_json_report(rep: Reporting) -> None:
    ids, lab = rep.ids, rep.lab
    before = datetime.now(UTC) - timedelta(seconds=5)
    report = rep.ok(lab.tech)
    assert report["filters"] == {
        "date_from": None,
        "date_to": None,
        "sample_type": None,
        "location": None,
        "compliance_status": None,
        "lab_id": lab.lab_a,
    }
    assert report["lab"] == {"id": lab.lab_a, "name": "Central"}
    assert datetime.fromisoformat(report["generated_at"]) >= before
    assert report["audit_head_hash"] == lab.api.container.audit_chain().head_hash()
    assert len(report["audit_head_hash"]) == 64
    assert report["totals"] == totals(5, p=1, w=1, f=2, pending=1)
    assert report["by_parameter"] == [
        {
            "parameter": "nitrate",
            "name": "Nitrate (as NO3-)",
            "unit": "mg/L",
            "tests": 3,
            "exceedances": 1,
            "max_value": 60.0,
            "who_limit": 50.0,
            "moroccan_limit": 50.0,
            "who_min": None,
            "moroccan_min": None,
            "pass": 1,
            "warning": 1,
            "fail": 1,
        },
        {
            "parameter": "ph",
            "name": "pH",
            "unit": "pH",
            "tests": 2,
            "exceedances": 1,
            "max_value": 9.1,
            "who_limit": 8.5,
            "moroccan_limit": 8.5,
            "who_min": 6.5,
            "moroccan_min": 6.5,
            "pass": 1,
            "warning": 0,
            "fail": 1,
        },
    ]
    assert report["by_location"] == [
        {"location": INJECTED, **totals(1, f=1)},
        {"location": "Bouskoura well", **totals(1, f=1)},
        {"location": "Oued Sebou", **totals(1, w=1)},
        {"location": "Tap 12", **totals(1, pending=1)},
        {"location": "tap 12", **totals(1, p=1)},
    ]
    assert report["exceedances"] == [
        {
            "sample_id": ids["a1"],
            "result_id": ids["a1_nitrate"],
            "parameter": "nitrate",
            "value": 60.0,
            "unit": "mg/L",
            "location": "Bouskoura well",
            "collection_date": "2025-01-05T00:00:00Z",
        },
        {
            "sample_id": ids["a3"],
            "result_id": ids["a3_ph"],
            "parameter": "ph",
            "value": 9.1,
            "unit": "pH",
            "location": INJECTED,
            "collection_date": "2025-01-20T08:30:00Z",
        },
    ]


def test_a_viewer_reads_the_same_report_and_nothing_is_audited(rep: Reporting) -> None:
    lab = rep.lab
    store = lab.api.container.memory_store()
    entries = len(store.audit)
    by_tech, by_viewer = rep.ok(lab.tech), rep.ok(lab.viewer)
    for report in (by_tech, by_viewer):
        del report["generated_at"]
    assert by_viewer == by_tech
    assert len(store.audit) == entries  # reading a report changes nothing
    no_body = rep.report(lab.viewer)  # every filter is optional, the body too
    assert no_body.status_code == 200 and no_body.json["totals"] == by_tech["totals"]


def test_filters_narrow_the_samples(rep: Reporting) -> None:
    lab = rep.lab

    def report(**body: Any) -> dict[str, Any]:
        return rep.ok(lab.viewer, body)

    window = report(date_from="2025-01-10", date_to="2025-01-20T08:30:00Z")  # inclusive
    assert window["totals"] == totals(3, p=1, w=1, f=1)
    assert window["filters"]["date_from"] == "2025-01-10T00:00:00Z"
    assert [e["result_id"] for e in window["exceedances"]] == [rep.ids["a3_ph"]]
    assert report(sample_type="ground")["totals"] == totals(1, w=1)
    tap = report(location="TAP 12")  # the exact site name, any case
    assert tap["totals"] == totals(2, p=1, pending=1)
    assert [row["location"] for row in tap["by_location"]] == ["Tap 12", "tap 12"]
    assert report(location="Tap")["totals"] == totals(0)
    failing = report(compliance_status="fail")
    assert failing["totals"] == totals(2, f=2)
    assert [p["parameter"] for p in failing["by_parameter"]] == ["nitrate", "ph"]
    assert [p["tests"] for p in failing["by_parameter"]] == [1, 2]
    pending = report(compliance_status="pending")
    assert (pending["by_parameter"], pending["exceedances"]) == ([], [])


# --- scope -----------------------------------------------------------------------------------


def test_scope_follows_the_sample_list(rep: Reporting) -> None:
    lab = rep.lab
    other = rep.ok(lab.other_tech)
    assert other["totals"] == totals(1, f=1)
    assert other["lab"] == {"id": lab.lab_b, "name": "Rabat"}
    assert [e["sample_id"] for e in other["exceedances"]] == [rep.ids["b1"]]
    # naming their own lab is fine; another lab is refused, never silently narrowed
    assert rep.ok(lab.tech, {"lab_id": lab.lab_a})["totals"]["samples"] == 5
    for token in (lab.tech, lab.viewer):
        assert_error(rep.report(token, {"lab_id": lab.lab_b}), 403, "FORBIDDEN")
    # an admin reports on every lab by default, or on the lab they name
    everything = rep.ok(lab.admin)
    assert everything["lab"] is None and everything["filters"]["lab_id"] is None
    assert everything["totals"] == totals(6, p=1, w=1, f=3, pending=1)
    assert len(everything["exceedances"]) == 3
    only_b = rep.ok(lab.admin, {"lab_id": lab.lab_b})
    assert {k: v for k, v in only_b.items() if k != "generated_at"} == {
        k: v for k, v in other.items() if k != "generated_at"
    }
    unknown = rep.report(lab.admin, {"lab_id": str(uuid.uuid4())})
    assert set(assert_error(unknown, 400, "VALIDATION_ERROR")["field_errors"]) == {"lab_id"}
    # a user without a lab has no lab data
    lonely = rep.ok(lab.lonely)
    assert lonely["totals"] == totals(0) and lonely["lab"] is None
    assert (lonely["by_parameter"], lonely["by_location"], lonely["exceedances"]) == ([], [], [])
    assert_error(rep.report(lab.lonely, {"lab_id": lab.lab_a}), 403, "FORBIDDEN")
    assert_error(lab.api.call("POST", REPORT, json={}), 401, "UNAUTHORIZED")


# --- validation --------------------------------------------------------------------------


def test_every_invalid_filter_is_reported_at_once(rep: Reporting) -> None:
    lab = rep.lab
    bad = rep.report(
        lab.tech,
        {
            "date_from": "yesterday",
            "date_to": "2025-01-01T10:00:00",  # no offset
            "sample_type": "juice",
            "compliance_status": "unknown",
            "location": "x" * 201,
            "lab_id": "lab-a",
        },
    )
    error = assert_error(bad, 400, "VALIDATION_ERROR")
    assert set(error["field_errors"]) == {
        "date_from",
        "date_to",
        "sample_type",
        "compliance_status",
        "location",
        "lab_id",
    }
    reversed_dates = rep.report(lab.tech, {"date_from": "2025-02-01", "date_to": "2025-01-01"})
    assert assert_error(reversed_dates, 400, "VALIDATION_ERROR")["field_errors"] == {
        "date_to": ["Must not be before date_from"]
    }
    both = rep.report(
        lab.admin,
        {"date_from": "2025-02-01", "date_to": "2025-01-01", "lab_id": str(uuid.uuid4())},
    )
    assert set(assert_error(both, 400, "VALIDATION_ERROR")["field_errors"]) == {
        "date_to",
        "lab_id",
    }
    assert_error(
        lab.call(
            "POST", REPORT, lab.tech, body="{oops", headers={"Content-Type": "application/json"}
        ),
        400,
        "INVALID_JSON",
    )
    assert_error(
        lab.call("POST", REPORT, lab.tech, body="a=b", headers={"Content-Type": "text/plain"}),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )


# --- content negotiation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        ("text/csv", "text/csv; charset=utf-8"),
        ("text/*", "text/csv; charset=utf-8"),
        ("application/json;q=0.5, text/csv", "text/csv; charset=utf-8"),
        ("application/pdf", "application/pdf"),
        ("text/html, application/pdf;q=0.9", "application/pdf"),
    ],
)
def test_the_accept_header_chooses_the_format(
    rep: Reporting, accept: str, content_type: str
) -> None:
    response = rep.report(rep.lab.viewer, {}, accept=accept)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Vary"] == "Accept"


@pytest.mark.parametrize("accept", ["image/png", "text/html", "application/pdf;q=0", "nonsense"])
def test_an_unsupported_accept_is_406(rep: Reporting, accept: str) -> None:
    error = assert_error(rep.report(rep.lab.viewer, {}, accept=accept), 406, "NOT_ACCEPTABLE")
    assert error["details"] == {"available": ["application/json", "text/csv", "application/pdf"]}


# --- CSV ---------------------------------------------------------------------------------------


def csv_sections(raw: bytes) -> dict[str, list[list[str]]]:
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM, for spreadsheets
    text = raw.decode("utf-8-sig")
    assert "\r\n" in text
    sections: dict[str, list[list[str]]] = {}
    for block in text.split("\r\n\r\n"):
        rows = list(csv.reader(io.StringIO(block)))
        sections[rows[0][0]] = rows[1:]
    return sections


def test_csv_holds_the_summary_and_one_row_per_exceedance(rep: Reporting) -> None:
    lab = rep.lab
    response = rep.report(lab.tech, {"date_from": "2025-01-01"}, accept="text/csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="compliance-report_central_2025-01-01_'
        f'{datetime.now(UTC).date().isoformat()}.csv"'
    )
    sections = csv_sections(response.content)
    assert list(sections) == ["Report", "Totals", "By parameter", "By location", "Exceedances"]
    facts = dict(sections["Report"][1:])
    assert sections["Report"][0] == ["field", "value"]
    assert facts["Lab"] == "Central"
    assert facts["Collected from"] == "2025-01-01T00:00:00Z"
    assert facts["Collected to"] == "(all)"
    assert facts["Audit chain head"] == lab.api.container.audit_chain().head_hash()
    assert sections["Totals"] == [
        ["samples", "pass", "warning", "fail", "pending"],
        ["5", "1", "1", "2", "1"],
    ]
    parameters = sections["By parameter"]
    assert parameters[0][:10] == [
        "parameter",
        "unit",
        "tests",
        "pass",
        "warning",
        "fail",
        "exceedances",
        "max_value",
        "who_limit",
        "moroccan_limit",
    ]
    assert parameters[1] == [
        "nitrate",
        "mg/L",
        "3",
        "1",
        "1",
        "1",
        "1",
        "60.0",
        "50.0",
        "50.0",
        "",
        "",
    ]
    assert parameters[2][-2:] == ["6.5", "6.5"]
    locations = sections["By location"]
    assert [row[0] for row in locations[1:]] == [
        "'" + INJECTED,
        "Bouskoura well",
        "Oued Sebou",
        "Tap 12",
        "tap 12",
    ]
    exceedances = sections["Exceedances"]
    assert exceedances[0] == [
        "sample_id",
        "result_id",
        "parameter",
        "value",
        "unit",
        "location",
        "collection_date",
    ]
    assert exceedances[1:] == [
        [
            rep.ids["a1"],
            rep.ids["a1_nitrate"],
            "nitrate",
            "60.0",
            "mg/L",
            "Bouskoura well",
            "2025-01-05T00:00:00Z",
        ],
        [
            rep.ids["a3"],
            rep.ids["a3_ph"],
            "ph",
            "9.1",
            "pH",
            "'" + INJECTED,
            "2025-01-20T08:30:00Z",
        ],
    ]


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_csv_neutralizes_formulas_in_text(rep: Reporting, start: str) -> None:
    lab = rep.lab
    location = f"{start}1+1 site"
    lab.sample(location=location, collection_date="2025-03-01")
    response = rep.report(lab.tech, {"location": location}, accept="text/csv")
    sections = csv_sections(response.content)
    assert dict(sections["Report"][1:])["Location"] == "'" + location
    assert sections["By location"][1][0] == "'" + location


def test_formula_guard_covers_every_trigger_and_only_them() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert safe_text(text) == "'" + text
    for text in ("1+1", "Oued Sebou", "", "'quoted"):
        assert safe_text(text) == text


# --- PDF ---------------------------------------------------------------------------------------


def poppler(tool: str, *args: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: run scripts/ensure-poppler.sh (make test does)"
    done = subprocess.run([path, *args], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


def add_exceedances(rep: Reporting, count: int) -> list[str]:
    """Many failing samples at once, stored directly (the HTTP path is tested above)."""
    container = rep.lab.api.container
    lab_a = uuid.UUID(rep.lab.lab_a)
    ids = []
    with container.uow() as uow:
        for n in range(count):
            sample = SampleFactory(
                lab_id=lab_a,
                location=f"Well {n:03d}",
                collection_date=T0 + timedelta(hours=n),
                compliance_status=ComplianceStatus.FAIL,
            )
            uow.samples.add(sample)
            uow.results.add(
                ResultFactory(
                    sample_id=sample.id,
                    lab_id=lab_a,
                    value=60.0 + n,
                    compliance_status=ComplianceStatus.FAIL,
                )
            )
            uow.results.add(
                ResultFactory(
                    sample_id=sample.id,
                    lab_id=lab_a,
                    parameter="ph",
                    value=7.0,
                    unit="pH",
                    compliance_status=ComplianceStatus.PASS,
                )
            )
            ids.append(str(sample.id))
        uow.commit()
    return ids


def test_pdf_is_a_printable_report_with_a_chart(rep: Reporting, tmp_path: Path) -> None:
    lab = rep.lab
    extra = add_exceedances(rep, 150)
    response = rep.report(lab.viewer, {"date_to": "2026-01-01"}, accept="application/pdf")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="compliance-report_central_start_2026-01-01.pdf"'
    )
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(response.content)
    assert response.content.startswith(b"%PDF-")
    pages = int(poppler("pdfinfo", str(pdf)).split("Pages:")[1].split()[0])
    assert pages >= 3  # 152 exceedances continue over several pages

    text = poppler("pdftotext", "-layout", str(pdf), "-")
    head = lab.api.container.audit_chain().head_hash()
    for expected in (
        "Compliance report",
        "Central",
        "Exceedances (152)",
        head,
        "Results per parameter",
    ):
        assert expected in text, expected
    assert all(sample_id in text for sample_id in [*extra, rep.ids["a1"], rep.ids["a3"]])
    assert f"Page {pages}" in text

    poppler("pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page"))
    with Image.open(tmp_path / "page-1.png") as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        raw = rgb.tobytes()
    pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
    ink = sum(1 for r, g, b in pixels if r + g + b < 600) / len(pixels)
    assert ink > 0.03, f"page 1 is nearly blank ({ink:.1%} ink)"

    def near(colour: tuple[int, int, int]) -> list[int]:
        return [
            i
            for i, (r, g, b) in enumerate(pixels)
            if abs(r - colour[0]) + abs(g - colour[1]) + abs(b - colour[2]) < 60
        ]

    green, red = near((46, 125, 50)), near((198, 40, 40))
    assert len(green) > 100 and len(red) > 100, "the chart's bars are missing"
    # the bars sit in the chart, in the upper part of the first page
    assert max(i // width for i in green) < height * 0.75


def test_an_empty_pdf_still_renders(rep: Reporting, tmp_path: Path) -> None:
    response = rep.report(rep.lab.lonely, {}, accept="application/pdf")
    assert response.status_code == 200
    pdf = tmp_path / "empty.pdf"
    pdf.write_bytes(response.content)
    text = poppler("pdftotext", str(pdf), "-")
    assert "Exceedances (0)" in text and "No test results among these samples." in text


# --- operations --------------------------------------------------------------------------


def test_openapi_documents_the_three_formats(rep: Reporting) -> None:
    doc = rep.lab.api.call("GET", "/openapi.json").json
    operation = doc["paths"]["/api/v1/reports/compliance"]["post"]
    content = operation["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ComplianceReportOut"
    }
    assert set(content) == {"application/json", "text/csv", "application/pdf"}
    assert {"400", "401", "403", "406", "429"} <= set(operation["responses"])
    schema = doc["components"]["schemas"]["ComplianceReportOut"]
    assert {"filters", "totals", "by_parameter", "by_location", "exceedances"} <= set(
        schema["properties"]
    )
    totals_schema = doc["components"]["schemas"]["ReportTotalsOut"]["properties"]
    assert set(totals_schema) == {"samples", "pass", "warning", "fail", "pending"}
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request = doc["components"]["schemas"][body.rsplit("/", 1)[1]]["properties"]
    assert set(request) == {
        "date_from",
        "date_to",
        "sample_type",
        "location",
        "compliance_status",
        "lab_id",
    }


def test_reports_count_against_the_api_rate_limit(make_settings) -> None:  # type: ignore[no-untyped-def]
    container = build_container(make_settings(AQUALAB_STORAGE="memory", rate_limit_api="3/minute"))
    try:
        api = Api(falcon.testing.TestClient(create_app(container)), container)
        token = api.admin_token()
        statuses = [api.call("POST", REPORT, token, json={}).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        limited = api.call("POST", REPORT, token, json={})
        assert_error(limited, 429, "RATE_LIMITED")
        assert int(limited.headers["Retry-After"]) > 0
    finally:
        container.shutdown_resources()
