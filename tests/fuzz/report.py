"""Prints the fuzz figures at the end of a run, whatever `-r`/`-s` say.

Each fuzz test attaches its figures to its report as the user property `fuzz`. The
hooks live here so that both ways of running reach them: tests/fuzz/conftest.py
re-exports them for a plain run, and `make verify` loads this module with
`-p tests.fuzz.report`, since under pytest-xdist only the controller prints and it
never reads tests/fuzz/conftest.py. Registered twice, they still print once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

_FIGURES: dict[tuple[str, int], dict[str, Any]] = {}
_PRINTED: list[bool] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        for index, (name, value) in enumerate(report.user_properties):
            if name == "fuzz":
                _FIGURES[report.nodeid, index] = value


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES or _PRINTED:
        return
    _PRINTED.append(True)
    figures_list = sorted(_FIGURES.values(), key=lambda f: str(f["role"]))
    terminalreporter.section("schemathesis fuzzing")
    for figures in figures_list:
        terminalreporter.write_line(
            f"{figures['role']}: {figures['operations']} operations "
            f"({len(figures['forbidden_to_role'])} forbidden to the role), "
            f"{figures['cases']} cases, {figures['requests']} requests, "
            f"statuses {json.dumps(figures['statuses'])}, "
            f"failures {json.dumps(figures['failures_by_check'])}, {figures['seconds']} s"
            + (f", {figures['runs']} runs" if "runs" in figures else "")
        )
    total = sum(int(f["cases"]) for f in figures_list)
    files = [str(f["file"]) for f in figures_list if f.get("file")]
    where = f"; figures in {files[0].rsplit('/', 1)[0]}/fuzz-<role>.json" if files else ""
    terminalreporter.write_line(f"total: {total} cases{where}")
