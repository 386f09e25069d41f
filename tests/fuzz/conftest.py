"""The fuzz suite's fixtures (the e2e ones: a fresh database per server) and its report
(tests/fuzz/report.py: the figures of every fuzz test, printed at the end of the run)."""

from __future__ import annotations

from tests.e2e.conftest import fresh_database
from tests.fuzz.report import pytest_runtest_logreport, pytest_terminal_summary

__all__ = ["fresh_database", "pytest_runtest_logreport", "pytest_terminal_summary"]
