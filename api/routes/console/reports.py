"""Console pages: the monthly report for the mayor — a month picker, the printable A4 page and its
PDF (WeasyPrint, from the same HTML, with Debian's Noto Sans CJK JP).

The figures are :func:`ledger.console.report.monthly_report`'s, which the JSON endpoint
``/api/v1/regions/{region}/reports/{month}`` also returns. The daily chart is an inline SVG drawn
here (no script: it prints and converts to PDF as it is).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import EngineDep, SettingsDep
from api.errors import ApiError
from api.i18n import catalogue, pick_language
from api.routes.console.common import ConsoleSession, redirect_to, region_path, render_console, require_region
from api.routes.pages import STATIC_DIR, templates
from api.routes.region_audit import load_report
from ledger.console import report as report_ops
from ledger.errors import InvalidInput
from ledger.jst import format_date, format_datetime

router = APIRouter(prefix="/console", include_in_schema=False)

PDF_FONT: Final = "Noto Sans CJK JP"


# -- the daily chart, as SVG geometry -----------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the day and its count, for a <title>
    hidden: bool  # fewer than k: drawn as a short grey mark


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, str], ...]  # (y, label) of the y axis
    days: tuple[tuple[float, str], ...]  # (x, label) under the bars
    empty: bool


def _nice_max(value: int) -> int:
    if value <= 5:
        return 5
    step = 1
    while step * 10 < value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if value <= step * factor:
            return step * factor
    return step * 10


def daily_chart(report: report_ops.MonthlyReport, lang: str) -> Chart:
    """Bars of the month's live records per day on a fixed 680×135 canvas."""
    width, height, left, top, bottom = 680, 135, 44, 8, 24
    plot_width, plot_height = width - left - 8, height - top - bottom
    values = [p.records or 0 for p in report.daily]
    top_value = _nice_max(max(values, default=0))
    slot = plot_width / max(1, len(report.daily))
    bars = []
    days = []
    for i, point in enumerate(report.daily):
        x = left + i * slot + slot * 0.15
        hidden = point.records is None
        value = 0 if hidden else point.records or 0
        bar_height = 2.0 if hidden else plot_height * value / top_value
        count = "—" if hidden else f"{value:,}"
        day_label = f"{point.day.month}/{point.day.day}"
        bars.append(
            Bar(
                round(x, 1),
                round(top + plot_height - bar_height, 1),
                round(slot * 0.7, 1),
                round(bar_height, 1),
                f"{day_label}: {count}",
                hidden,
            )
        )
        if point.day.day == 1 or point.day.day % 5 == 0:
            days.append((round(x + slot * 0.35, 1), str(point.day.day)))
    steps = 5 if top_value % 5 == 0 else 4 if top_value % 4 == 0 else 2
    ticks = tuple(
        (round(top + plot_height - plot_height * i / steps, 1), f"{top_value * i // steps:,}") for i in range(steps + 1)
    )
    return Chart(width, height, left, top, plot_width, plot_height, tuple(bars), ticks, tuple(days), not any(values))


# -- pages --------------------------------------------------------------------------------------------


def _month_label(year: int, month: int, lang: str) -> str:
    return f"{year}年{month}月" if lang == "ja" else datetime(year, month, 1).strftime("%B %Y")


def _context(report: report_ops.MonthlyReport, lang: str) -> dict[str, Any]:
    year, month = report_ops.parse_month(report.month)
    municipality = report.municipality_ja if lang == "ja" else report.municipality_en
    title = f"{municipality} {_month_label(year, month, lang)}"
    return {
        "report": report,
        "municipality": municipality,
        "month_label": _month_label(year, month, lang),
        "report_title": title,
        "figures": report_ops.HEADLINE_FIGURES,
        "figure_values": {key: getattr(report.figures, key) for key, _ in report_ops.HEADLINE_FIGURES},
        "chart": daily_chart(report, lang),
        "period_start": format_date(report.start, lang),
        "period_end": format_date(report.end, lang),
        "generated": format_datetime(report.generated_at, lang),
        "head_at": "" if report.source.head_at is None else format_datetime(report.source.head_at, lang),
        "definition_keys": [d for _, d in report_ops.HEADLINE_FIGURES] + ["daily", "top_activities", "k"],
    }


@router.get("/regions/{code}/reports", response_class=HTMLResponse)
def reports_page(
    request: Request,
    code: str,
    session: ConsoleSession,
    engine: EngineDep,
    month: Annotated[str | None, Query(max_length=7)] = None,
) -> Response:
    region = require_region(session, code, "read")
    if month:
        try:
            report_ops.parse_month(month)
        except InvalidInput as exc:
            raise ApiError(422, "invalid", str(exc)) from None
        return redirect_to(f"{region_path(region)}/reports/{month}")
    lang, _ = pick_language(request)
    with engine.connect() as conn:
        months = report_ops.recent_months(conn, region)
    default = report_ops.month_key(*report_ops.last_complete_month())
    return render_console(
        request,
        "console/reports.html",
        {
            "default_month": default,
            "months": [(report_ops.month_key(y, m), _month_label(y, m, lang)) for y, m in months],
            "reports_url": f"{region_path(region)}/reports",
        },
        session,
        region=region,
    )


@router.get("/regions/{code}/reports/{month}", response_class=HTMLResponse)
def report_page(
    request: Request,
    code: str,
    month: str,
    session: ConsoleSession,
    engine: EngineDep,
    settings: SettingsDep,
    format: Annotated[Literal["html", "pdf"], Query()] = "html",
) -> Response:
    """The report page; ``/reports/2025-03.pdf`` or ``?format=pdf`` sends the PDF."""
    region = require_region(session, code, "read")
    if month.endswith(".pdf"):
        month, format = month.removesuffix(".pdf"), "pdf"
    with engine.connect() as conn:
        report = load_report(conn, session.actor, region, month, settings.api.public_k)
    lang, _ = pick_language(request)
    context = _context(report, lang)
    if format == "pdf":
        return _pdf_response(report, context, lang)
    context.update(
        pdf_url=f"{region_path(region)}/reports/{report.month}.pdf",
        reports_url=f"{region_path(region)}/reports",
    )
    return render_console(request, "console/report.html", context, session, region=region)


# -- PDF ----------------------------------------------------------------------------------------------


def render_pdf(html: str) -> bytes:
    """HTML → PDF with WeasyPrint and the print stylesheet (fonts from fontconfig: Noto Sans CJK JP)."""
    from weasyprint import CSS, HTML  # type: ignore[import-untyped]  # imported on first use: it is heavy

    document = HTML(string=html, base_url=str(STATIC_DIR))
    pdf: bytes = document.write_pdf(stylesheets=[CSS(filename=str(STATIC_DIR / "report.css"))])
    return pdf


def _pdf_response(report: report_ops.MonthlyReport, context: dict[str, Any], lang: str) -> Response:
    messages = catalogue(lang)
    html = templates.get_template("console/report_pdf.html").render(
        {**context, "lang": lang, "t": messages.t, "pdf_font": PDF_FONT}
    )
    pdf = render_pdf(html)
    year, month = report_ops.parse_month(report.month)
    japanese = f"{report.municipality_ja}_{year}年{month}月_月次報告.pdf"
    ascii_name = f"report-{report.region_code}-{report.month}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(japanese)}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
