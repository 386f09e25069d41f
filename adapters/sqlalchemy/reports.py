"""Compliance-report figures computed by PostgreSQL: three aggregate statements, one snapshot.

1. the covered samples counted by compliance status per location, plus the grand total
   (`GROUPING SETS ((location), ())`);
2. their live results per parameter: tests, pass/warning/fail counts and the highest
   value (`count(*) FILTER (…)`, `max`);
3. the exceedances (live `fail` results) joined to their samples, in report order,
   reached through the failing samples (a fail result makes its sample fail).

The samples are filtered exactly as `GET /samples` filters them (`sample_conditions`).
The statements run in one REPEATABLE READ, READ ONLY transaction, so the totals, the
tables and the list agree even while other sessions write. Text keys are ordered with
`COLLATE "C"` (code-point order), which is what the in-memory adapter's sort does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.lab_data import sample_conditions
from domain.compliance import ComplianceStatus
from domain.ports import ComplianceReports, SampleQuery
from domain.reports import (
    Exceedance,
    LocationFigures,
    ParameterFigures,
    ReportFigures,
    ReportFilters,
    StatusCounts,
)

_S = tables.samples.c
_R = tables.test_results.c


def _status_counts(status: sa.ColumnElement[Any]) -> list[sa.ColumnElement[Any]]:
    return [
        sa.func.count().label("n"),
        sa.func.count().filter(status == ComplianceStatus.PASS).label("n_pass"),
        sa.func.count().filter(status == ComplianceStatus.WARNING).label("n_warning"),
        sa.func.count().filter(status == ComplianceStatus.FAIL).label("n_fail"),
        sa.func.count().filter(status == ComplianceStatus.PENDING).label("n_pending"),
    ]


def _counts(row: Any) -> StatusCounts:
    return StatusCounts(
        samples=row.n,
        passed=row.n_pass,
        warning=row.n_warning,
        failed=row.n_fail,
        pending=row.n_pending,
    )


def _code_point(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return column.collate("C")


class SqlAlchemyComplianceReports(ComplianceReports):
    def __init__(self, engine: sa.Engine):
        self._engine = engine

    def figures(self, filters: ReportFilters) -> ReportFigures:
        by_location_stmt, by_parameter_stmt, exceedances_stmt = self.statements(filters)
        with (
            self._engine.connect().execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            ) as conn,
            conn.begin(),
        ):
            location_rows = conn.execute(by_location_stmt).all()
            parameter_rows = conn.execute(by_parameter_stmt).all()
            exceedance_rows = conn.execute(exceedances_stmt).all()
        return _figures(location_rows, parameter_rows, exceedance_rows)

    @staticmethod
    def statements(filters: ReportFilters) -> tuple[sa.Select[Any], ...]:
        """The three statements (also EXPLAINed by bench/reports.py)."""
        covered = sample_conditions(
            SampleQuery(
                lab_id=filters.lab_id,
                date_from=filters.date_from,
                date_to=filters.date_to,
                type=filters.sample_type,
                location=filters.location,
                compliance_status=filters.compliance_status,
            )
        )
        live_results: list[sa.ColumnElement[bool]] = [_R.deleted_at.is_(None)]
        if filters.lab_id is not None:  # a result carries its sample's lab: lets its index help
            live_results.append(_R.lab_id == filters.lab_id)
        joined = tables.test_results.join(tables.samples, tables.samples.c.id == _R.sample_id)

        by_location_stmt = (
            sa.select(
                _S.location,
                sa.func.grouping(_S.location).label("is_total"),
                *_status_counts(_S.compliance_status),
            )
            .where(*covered)
            .group_by(sa.func.grouping_sets(sa.tuple_(_S.location), sa.text("()")))
            .order_by(_code_point(_S.location))
        )
        by_parameter_stmt = (
            sa.select(
                _R.parameter,
                *_status_counts(_R.compliance_status),
                sa.func.max(_R.value).label("top"),
            )
            .select_from(joined)
            .where(*covered, *live_results)
            .group_by(_R.parameter)
            .order_by(_code_point(_R.parameter))
        )
        exceedances_stmt = (
            sa.select(
                _S.id.label("sample_id"),
                _R.id.label("result_id"),
                _R.parameter,
                _R.value,
                _R.unit,
                _S.location,
                _S.collection_date,
            )
            .select_from(joined)
            .where(
                *covered,
                *live_results,
                _R.compliance_status == ComplianceStatus.FAIL,
                # Implied (a sample's status is the worst of its live results, kept in the
                # same transaction as every result change), and it lets PostgreSQL start
                # from the few failing samples (ix_samples_lab_compliance) and reach their
                # results by ix_test_results_sample_all, instead of scanning every result.
                _S.compliance_status == ComplianceStatus.FAIL,
            )
            .order_by(_S.collection_date, _S.id, _code_point(_R.parameter), _R.id)
        )

        return by_location_stmt, by_parameter_stmt, exceedances_stmt


def _figures(
    location_rows: Sequence[Any], parameter_rows: Sequence[Any], exceedance_rows: Sequence[Any]
) -> ReportFigures:
    totals = next((_counts(r) for r in location_rows if r.is_total), StatusCounts())
    return ReportFigures(
        totals=totals,
        by_location=[
            LocationFigures(r.location, _counts(r)) for r in location_rows if not r.is_total
        ],
        by_parameter=[
            ParameterFigures(
                parameter=r.parameter,
                tests=r.n,
                passed=r.n_pass,
                warning=r.n_warning,
                failed=r.n_fail,
                max_value=r.top,
            )
            for r in parameter_rows
        ],
        exceedances=[Exceedance(*r) for r in exceedance_rows],
    )
