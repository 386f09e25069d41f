"""A compliance report as a printable A4 PDF (reportlab; docs/reports.md).

Page 1: title, lab, period and filters, generation time and the audit chain's head hash,
the totals, a stacked bar chart of pass/warning/fail results per parameter, then the
per-parameter table (with the WHO and NM limits), the per-location table and the
complete exceedance list. Every page's footer repeats the lab, the generation time, the
head hash and the page number.

Long lists stay fast (a year of a busy lab has thousands of exceedances): they are
drawn by `RowList`, a flowable that writes each row as one line of a monospaced font
(columns padded to fixed widths) into one PDF text object per page, instead of a
platypus `Table` (which builds a text object per cell and re-measures the remaining
rows at every page break): 14,000 rows take about 0.35 s. A list that continues on the
next page repeats its header there; a cell too long for its column ends with "…".
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from application.reports import ComplianceReportView, ParameterView
from entrypoints.reports.naming import filter_rows, lab_label, period_label, stamp

MEDIA_TYPE = "application/pdf"
PASS_COLOR = colors.HexColor("#2e7d32")
WARNING_COLOR = colors.HexColor("#f9a825")
FAIL_COLOR = colors.HexColor("#c62828")
PENDING_COLOR = colors.HexColor("#78909c")
HEADER_BG = colors.HexColor("#e3eaf2")
STRIPE_BG = colors.HexColor("#f6f8fa")
GRID = colors.HexColor("#b0bec5")
LIST_FONT = "Courier"  # monospaced: a row is one padded line
LIST_SIZE = 6.8
GAP = 2  # characters between columns
PADDING = 3
ROW_HEIGHT = 11
MARGIN = 15 * mm
FOOTER_HASH_CHARS = 16

_styles = getSampleStyleSheet()
TITLE = ParagraphStyle("ReportTitle", parent=_styles["Title"], fontSize=18, spaceAfter=2)
SUBTITLE = ParagraphStyle("ReportSubtitle", parent=_styles["Heading2"], spaceBefore=0)
HEADING = ParagraphStyle("ReportHeading", parent=_styles["Heading3"], spaceBefore=8, keepWithNext=1)
BODY = ParagraphStyle("ReportBody", parent=_styles["BodyText"], fontSize=8.5, leading=11)
LEAD = ParagraphStyle("ReportLead", parent=BODY, keepWithNext=1)


def _number(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.6g}"


def _limit(maximum: float | None, minimum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{minimum:g}\u2013{maximum:g}"  # an en dash
    if minimum is not None:
        return f">= {minimum:g}"
    return _number(maximum)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table_style(header_rows: int = 1, *, numeric_from: int = 1) -> TableStyle:
    return TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
            ("FONT", (0, 0), (-1, header_rows - 1), "Helvetica-Bold", 7.5),
            ("BACKGROUND", (0, 0), (-1, header_rows - 1), HEADER_BG),
            ("ROWBACKGROUNDS", (0, header_rows), (-1, -1), [colors.white, STRIPE_BG]),
            ("LINEBELOW", (0, header_rows - 1), (-1, header_rows - 1), 0.6, GRID),
            ("BOX", (0, 0), (-1, -1), 0.4, GRID),
            ("ALIGN", (numeric_from, 0), (-1, -1), "RIGHT"),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 1),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ]
    )


@dataclass(frozen=True)
class Column:
    title: str
    chars: int  # width in characters of the list's monospaced font
    right: bool = False  # numbers: right-aligned


def _fit(column: Column, cell: str) -> str:
    cell = _clip(cell, column.chars)
    return cell.rjust(column.chars) if column.right else cell.ljust(column.chars)


class RowList(Flowable):  # type: ignore[misc]
    """Rows of text under a header in a monospaced font, split across pages.

    Each row is one line of one PDF text object (columns padded to their width), so a
    page of 70 rows costs 70 text operations whatever the number of columns.
    """

    def __init__(
        self,
        columns: Sequence[Column],
        rows: Sequence[Sequence[str]],
        *,
        start: int = 0,
        stop: int | None = None,
    ):
        super().__init__()
        self.columns, self.rows = list(columns), rows
        self.start, self.stop = start, len(rows) if stop is None else stop
        self.width = sum(c.chars for c in self.columns) + GAP * (len(self.columns) - 1)
        self.width = self.width * stringWidth(" ", LIST_FONT, LIST_SIZE) + 2 * PADDING

    def _line(self, cells: Sequence[str]) -> str:
        return (" " * GAP).join(map(_fit, self.columns, cells)).rstrip()

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.height = (self.stop - self.start + 1) * ROW_HEIGHT
        return self.width, self.height

    def split(self, available_width: float, available_height: float) -> list[Flowable]:
        fit = int(available_height // ROW_HEIGHT) - 1  # the header takes a row
        if fit < 2:  # not even a header and two rows: start on the next page
            return []
        if self.start + fit >= self.stop:
            return [self]
        middle = self.start + fit
        return [
            RowList(self.columns, self.rows, start=self.start, stop=middle),
            RowList(self.columns, self.rows, start=middle, stop=self.stop),
        ]

    def draw(self) -> None:
        canvas, width, height = self.canv, self.width, self.height
        canvas.setFillColor(HEADER_BG)
        canvas.rect(0, height - ROW_HEIGHT, width, ROW_HEIGHT, stroke=0, fill=1)
        canvas.setFillColor(STRIPE_BG)
        for n in range(1, self.stop - self.start, 2):
            canvas.rect(0, height - (n + 2) * ROW_HEIGHT, width, ROW_HEIGHT, stroke=0, fill=1)
        canvas.setStrokeColor(GRID)
        canvas.setLineWidth(0.4)
        canvas.rect(0, 0, width, height, stroke=1, fill=0)
        canvas.line(0, height - ROW_HEIGHT, width, height - ROW_HEIGHT)
        text = canvas.beginText(PADDING, height - ROW_HEIGHT + 3)
        text.setFillColor(colors.black)
        text.setFont(LIST_FONT + "-Bold", LIST_SIZE, leading=ROW_HEIGHT)
        text.textLine(self._line([c.title for c in self.columns]))
        text.setFont(LIST_FONT, LIST_SIZE, leading=ROW_HEIGHT)
        rows, line = self.rows, self._line
        for n in range(self.start, self.stop):
            text.textLine(line(rows[n]))
        canvas.drawText(text)


PARAMETER_COLUMNS = (
    Column("Parameter", 16),
    Column("Unit", 10),
    Column("Tests", 9, right=True),
    Column("Pass", 9, right=True),
    Column("Warning", 9, right=True),
    Column("Fail", 9, right=True),
    Column("Max value", 10, right=True),
    Column("WHO", 11, right=True),
    Column("NM", 11, right=True),
)
LOCATION_COLUMNS = (
    Column("Location", 60),
    Column("Samples", 9, right=True),
    Column("Pass", 9, right=True),
    Column("Warning", 9, right=True),
    Column("Fail", 9, right=True),
    Column("Pending", 9, right=True),
)
EXCEEDANCE_COLUMNS = (  # 123 characters: the width of the page at 6.8 pt
    Column("Collected (UTC)", 16),
    Column("Location", 27),
    Column("Parameter", 15),
    Column("Value", 10, right=True),
    Column("Unit", 9),
    Column("Sample id", 36),
)


def _nice_step(top: int, ticks: int = 5) -> int:
    """A whole 1, 2 or 5 x 10^n step giving about `ticks` gridlines up to `top`."""
    raw = max(top / ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    return int(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def _chart(parameters: Sequence[ParameterView], width: float) -> Drawing:
    height = 200
    drawing = Drawing(width, height)
    chart = VerticalBarChart()
    chart.x, chart.y = 40, 55
    chart.width, chart.height = width - 150, height - 75
    chart.data = [
        [p.passed for p in parameters],
        [p.warning for p in parameters],
        [p.failed for p in parameters],
    ]
    chart.categoryAxis.style = "stacked"
    chart.categoryAxis.categoryNames = [p.parameter for p in parameters]
    chart.categoryAxis.labels.angle = 40
    chart.categoryAxis.labels.boxAnchor = "ne"
    chart.categoryAxis.labels.dx = 2
    chart.categoryAxis.labels.dy = -2
    chart.categoryAxis.labels.fontSize = 7
    top = max((p.passed + p.warning + p.failed for p in parameters), default=0)
    step = _nice_step(top)
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = max(step, math.ceil(top / step) * step)
    chart.valueAxis.valueStep = step
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = lambda v: f"{v:,.0f}"
    chart.barSpacing = 0
    chart.groupSpacing = 4
    for index, colour in enumerate((PASS_COLOR, WARNING_COLOR, FAIL_COLOR)):
        chart.bars[index].fillColor = colour
        chart.bars[index].strokeColor = None
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = width - 95, height - 30
    legend.fontSize = 8
    legend.alignment = "right"
    legend.colorNamePairs = [(PASS_COLOR, "pass"), (WARNING_COLOR, "warning"), (FAIL_COLOR, "fail")]
    drawing.add(legend)
    drawing.add(
        String(0, height - 12, "Results per parameter", fontName="Helvetica-Bold", fontSize=9)
    )
    return drawing


def _footer(report: ComplianceReportView) -> Callable[[Canvas, Any], None]:
    text = (
        f"AquaLab compliance report · {lab_label(report)} · generated {stamp(report.generated_at)}"
        f" · audit head {report.audit_head_hash[:FOOTER_HASH_CHARS]}…"
    )

    def draw(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(colors.HexColor("#546e7a"))
        canvas.drawString(MARGIN, 9 * mm, _clip(text, 150))
        canvas.drawRightString(A4[0] - MARGIN, 9 * mm, f"Page {doc.page}")
        canvas.restoreState()

    return draw


def render_pdf(report: ComplianceReportView) -> bytes:
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=14 * mm,
        bottomMargin=16 * mm,
        title="AquaLab compliance report",
        author="AquaLab",
        subject=f"{lab_label(report)}, {period_label(report)}",
        creator="AquaLab",
    )
    width = A4[0] - 2 * MARGIN
    story: list[Flowable] = [
        Paragraph("Compliance report", TITLE),
        Paragraph(escape(lab_label(report)), SUBTITLE),
        Paragraph(escape(f"Samples collected from {period_label(report)}"), BODY),
        Spacer(1, 4),
    ]
    facts = [
        *filter_rows(report),
        ("Generated at", stamp(report.generated_at)),
        ("Audit chain head", report.audit_head_hash),
    ]
    facts_table = Table(
        [[k, _clip(v, 110)] for k, v in facts], colWidths=[40 * mm, width - 40 * mm], hAlign="LEFT"
    )
    facts_style = _table_style(numeric_from=2)
    facts_style.add("FONT", (0, 0), (0, -1), "Helvetica-Bold", 7.5)
    facts_style.add("FONT", (1, 0), (1, -1), "Helvetica", 7.5)
    facts_style.add("BACKGROUND", (0, 0), (-1, 0), colors.white)
    facts_style.add("FONT", (1, len(facts) - 1), (1, len(facts) - 1), "Courier", 7)
    facts_table.setStyle(facts_style)
    story.append(facts_table)

    t = report.totals
    story.append(Paragraph("Samples", HEADING))
    totals = Table(
        [
            ["Samples", "Pass", "Warning", "Fail", "Pending"],
            [_number(n) for n in (t.samples, t.passed, t.warning, t.failed, t.pending)],
        ],
        colWidths=[30 * mm] * 5,
        hAlign="LEFT",
    )
    totals_style = _table_style(numeric_from=0)
    totals_style.add("FONT", (0, 1), (-1, 1), "Helvetica-Bold", 10)
    for column, colour in (
        (1, PASS_COLOR),
        (2, WARNING_COLOR),
        (3, FAIL_COLOR),
        (4, PENDING_COLOR),
    ):
        totals_style.add("TEXTCOLOR", (column, 1), (column, 1), colour)
    totals.setStyle(totals_style)
    story.append(totals)

    story.append(Spacer(1, 6))
    if report.by_parameter:
        story.append(_chart(report.by_parameter, width))
    else:
        story.append(Paragraph("No test results among these samples.", BODY))

    story.append(Paragraph("By parameter", HEADING))
    parameter_rows = [
        [
            p.parameter,
            p.unit or "",
            _number(p.tests),
            _number(p.passed),
            _number(p.warning),
            _number(p.failed),
            _number(p.max_value),
            _limit(p.who_limit, p.who_min),
            _limit(p.moroccan_limit, p.moroccan_min),
        ]
        for p in report.by_parameter
    ]
    story.append(
        RowList(PARAMETER_COLUMNS, parameter_rows) if parameter_rows else Paragraph("None.", BODY)
    )

    story.append(Paragraph("By location", HEADING))
    location_rows = [
        [
            loc.location,
            *(_number(n) for n in (loc.samples, loc.passed, loc.warning, loc.failed, loc.pending)),
        ]
        for loc in report.by_location
    ]
    story.append(
        RowList(LOCATION_COLUMNS, location_rows) if location_rows else Paragraph("None.", BODY)
    )

    count = len(report.exceedances)
    story.append(Paragraph(f"Exceedances ({count:,})", HEADING))
    story.append(
        Paragraph("Live results whose compliance status is fail, by collection date.", LEAD)
    )
    exceedance_rows = [
        [
            stamp(e.collection_date)[:16].replace("T", " "),
            e.location,
            e.parameter,
            _number(e.value),
            e.unit,
            str(e.sample_id),
        ]
        for e in report.exceedances
    ]
    story.append(
        RowList(EXCEEDANCE_COLUMNS, exceedance_rows)
        if exceedance_rows
        else Paragraph("None.", BODY)
    )

    footer = _footer(report)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()
