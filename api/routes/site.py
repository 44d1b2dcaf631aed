"""The pages people look at: home, a participant's つながり page, region dashboards, the national view.

Presentation only: each page renders the document its assembler in ``ledger.queries`` builds (the
region page :func:`~ledger.queries.region_dashboard`, the same document as the JSON dashboard; the
national view :func:`~ledger.queries.national_graph`), for the period
:func:`~ledger.queries.resolve_period` fills in (the JSON API's and the CLI's rule). Small cells are
suppressed by the assembler, never here. Every figure shown carries ``data-figure`` (its id in
:data:`ledger.figures.FIGURES`) and ``data-value`` (the raw number, empty when suppressed). Every figure
is in the HTML (tables, one click away from each chart), and the charts are drawn by our scripts
from a JSON data block (``<script type="application/json" id="page-data">``, data not code, so the
CSP holds). Unknown addresses and regions get a helpful 404 page, malformed query parameters a 422
page that says which one; every page shows how far the index has got (the chain node may be down:
the pages keep showing the last indexed state).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import Connection

from api import japan_map
from api.deps import ConnDep, SettingsDep
from api.i18n import catalogue, pick_language
from api.routes.pages import japan_map_url, render_page, templates
from ledger import jst, queries
from ledger.figures import FIGURES
from ledger.municipalities import JisCodeError, jis_code, municipality_name, parse_jis_code, region_label
from ledger.taxonomy import KIND_LABELS, TYPE_LABELS, ContributionKind, MlitType
from ledger.ties import JST

__all__ = ["router", "index_banner", "default_period"]

router = APIRouter(tags=["pages"], include_in_schema=False)


def _num(value: int | float | None) -> str:
    """A count with thousands separators; a suppressed cell (``None``) is a dash."""
    return "—" if value is None else f"{value:,}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _fig(figure_id: str, value: int | float | None, text: str | None = None) -> Markup:
    """One figure's number, marked for tests and tools: ``data-figure`` is its id in
    :data:`ledger.figures.FIGURES`, ``data-value`` the raw number (empty when suppressed). A function,
    not a macro: a region page shows a few hundred of them."""
    raw = "" if value is None else str(value)
    shown = _num(value) if text is None else text
    return Markup('<span class="fig-value" data-figure="{}" data-value="{}">{}</span>').format(figure_id, raw, shown)


templates.env.filters.update(num=_num, pct=_pct)
templates.env.globals.update(fig=_fig)

STALE_AFTER_S: Final = 120  # the index is "behind" when its last commit is older than this
MAX_RANGE_DAYS: Final = 3660
_COMMON: Final = ("common.", "page.", "chart.", "fig.", "comp.")


class PageProblem(Exception):
    """A page cannot be shown: 404 (unknown address or region) or 422 (a malformed parameter)."""

    def __init__(self, status: int, title_key: str, text_key: str, **params: object) -> None:
        super().__init__(text_key)
        self.status = status
        self.title_key = title_key
        self.text_key = text_key
        self.params = params


def _problem_page(request: Request, problem: PageProblem) -> HTMLResponse:
    response = render_page(
        request,
        "problem.html",
        {"page": "problem", "problem": problem, "banner": None},
        script_messages=_COMMON,
    )
    response.status_code = problem.status
    return response


@dataclass(frozen=True)
class IndexBanner:
    """How far the index has got, for the banner on every page."""

    indexed: bool  # at least one checkpoint
    block: int
    block_time: int  # unix seconds of the newest indexed block
    lag_blocks: int
    age_s: int  # since the indexer last committed
    error: str | None
    behind: bool  # show the banner as a warning

    @property
    def head_day(self) -> date | None:
        return jst.date_of(self.block_time) if self.indexed else None


def index_banner(conn: Connection, now: float | None = None) -> IndexBanner:
    found = queries.checkpoints(conn)  # not the backlog counts: the banner does not show them
    if not found:
        return IndexBanner(False, 0, 0, 0, 0, None, True)
    newest = max(found, key=lambda c: c.block_number)
    age = max(0, int((time.time() if now is None else now) - newest.updated_at))
    error = next((c.last_error for c in found if c.last_error), None)
    behind = newest.lag_blocks > 0 or error is not None or age > STALE_AFTER_S
    return IndexBanner(True, newest.block_number, newest.block_timestamp, newest.lag_blocks, age, error, behind)


def default_period(banner: IndexBanner) -> tuple[date, date]:
    """The default period for ``banner``'s head (:func:`ledger.queries.resolve_period`'s rule: the 12
    whole months ending with the head's month, up to the head's day)."""
    end = banner.head_day or datetime.now(JST).date()
    year, month = divmod(end.year * 12 + end.month - 1 - 11, 12)
    return date(year, month + 1, 1), end


def _parse_day(name: str, value: str | None) -> date | None:
    if value is None or value == "":
        return None
    try:
        return jst.parse_date_text(value)  # 2026-12-07 from links, 2026年12月7日 as the field shows it
    except ValueError:
        raise PageProblem(422, "problem.bad_param_title", "problem.bad_date", name=name, value=value[:40]) from None


def _period(request: Request, conn: Connection) -> tuple[date, date]:
    start, end = queries.resolve_period(
        conn,
        _parse_day("start", request.query_params.get("start")),
        _parse_day("end", request.query_params.get("end")),
    )
    if start > end:
        lang, _ = pick_language(request)
        raise PageProblem(
            422,
            "problem.bad_param_title",
            "problem.start_after_end",
            start=jst.format_date(start, lang),
            end=jst.format_date(end, lang),
        )
    if (end - start).days > MAX_RANGE_DAYS:
        raise PageProblem(422, "problem.bad_param_title", "problem.range_too_long", days=MAX_RANGE_DAYS)
    return start, end


def _int_param(request: Request, name: str, allowed: Mapping[int, object]) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number not in allowed:
        raise PageProblem(422, "problem.bad_param_title", "problem.bad_choice", name=name, value=value[:40])
    return number


def _presets(start: date, end: date, head: date) -> list[tuple[str, date, date, bool]]:
    """(message key, start, end, current) of the period shortcuts."""
    year, month = divmod(head.year * 12 + head.month - 1 - 11, 12)
    options = [
        ("period.last_3_months", head - timedelta(days=90), head),
        ("period.last_12_months", date(year, month + 1, 1), head),
        ("period.this_year", date(head.year, 1, 1), head),
        ("period.all", head - timedelta(days=MAX_RANGE_DAYS), head),
    ]
    return [(key, s, e, (s, e) == (start, end)) for key, s, e in options]


def _month_label(month: int, lang: str) -> str:
    return f"{month // 100}年{month % 100}月" if lang == "ja" else f"{month // 100}-{month % 100:02d}"


def _pick(lang: str) -> Callable[[Any, str], Any]:
    def pick(obj: Any, field: str) -> Any:
        return getattr(obj, f"{field}_{lang}")

    return pick


def _day_text(day: int) -> str:
    return f"{day // 10000}-{day // 100 % 100:02d}-{day % 100:02d}"


def _render(request: Request, template: str, context: dict[str, Any], messages: tuple[str, ...] = ()) -> HTMLResponse:
    lang, _ = pick_language(request)
    context = {
        **context,
        "pick": _pick(lang),
        "month_label": lambda m: _month_label(m, lang),
        "day_text": _day_text,
        "define": lambda figure_id: FIGURES[figure_id].definition(lang),  # one catalogue (ledger.figures)
        # Dates and times for people: 2026年12月7日 (ja) / 2026-12-07 (en), times in JST with the zone.
        "day_label": lambda day: jst.format_date(day, lang),
        "day_key_label": lambda key: jst.format_date(jst.date_of_day_key(key), lang),
        "date_of": lambda ts: jst.format_date(jst.date_of(ts), lang),
        "jst": lambda ts: jst.format_datetime(ts, lang),
    }
    return render_page(request, template, context, script_messages=_COMMON + messages)


# -- home ---------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse, summary="Home: regions and links")
def home(request: Request, conn: ConnDep, settings: SettingsDep) -> HTMLResponse:
    banner = index_banner(conn)
    start, end = queries.resolve_period(conn)
    rows = []
    for region in queries.list_regions(conn):
        summary = queries.region_summary(conn, region.region, start, end, k=settings.api.public_k)
        rows.append((region, summary))
    return _render(request, "home.html", {"page": "home", "banner": banner, "rows": rows, "start": start, "end": end})


@router.get("/people", summary="Open a participant's page from the address form")
def people_lookup(request: Request) -> Response:
    address = (request.query_params.get("address") or "").strip()
    try:
        normalized = queries.normalize_address(address)
    except ValueError:
        return _problem_page(
            request, PageProblem(422, "problem.bad_param_title", "problem.bad_address", value=address[:60])
        )
    return RedirectResponse(f"/people/{normalized}", status_code=303)


# -- a participant ------------------------------------------------------------------------------------


@router.get("/people/{address}", response_class=HTMLResponse, summary="A participant's つながり page")
def person_page(request: Request, address: str, conn: ConnDep, settings: SettingsDep) -> HTMLResponse:
    banner = index_banner(conn)
    try:
        participant = queries.normalize_address(address)
    except ValueError:
        return _problem_page(
            request, PageProblem(404, "problem.no_person_title", "problem.bad_address", value=address[:60])
        )
    page = queries.person_page(conn, participant, history_limit=200, k=settings.api.public_k)
    if page is None:
        return _problem_page(
            request, PageProblem(404, "problem.no_person_title", "problem.no_person", address=participant)
        )
    lang, _ = pick_language(request)
    ties, history = list(page.ties), list(page.history)
    projects = {p.project_id: p for p in page.projects}
    certificate_regions = _certificate_regions(ties, history, lang)
    balances = {c.region: c.balance for c in page.coins}
    data = {
        "address": participant,
        "lang": lang,
        "ties": [
            {
                "region": jis_code(t.region),
                "name": region_label(t.region, t.region_name, lang),
                "stage": t.stage.value,
                "score": round(t.score, 1),
                "components": asdict(t.components),
            }
            for t in ties
        ],
        "projects": [
            {"id": p.project_id, "region": p.region, "name": p.name, "balance": balances.get(p.region, 0)}
            for p in page.open_projects
        ],
    }
    return _render(
        request,
        "person.html",
        {
            "page": "person",
            "banner": banner,
            "participant": participant,
            "ties": ties,
            "history": history,
            "activity_names": page.activity_names,
            "coins": page.coins,
            "supported": [(projects.get(x.project_id), x.project_id, x.amount) for x in page.supports],
            "open_projects": page.open_projects,
            "label_of": lambda code, name: region_label(code, name, lang),
            "jis_code": jis_code,
            "project_names": {pid: p.name for pid, p in projects.items() if p.name},
            "stages": queries.STAGES[1:],
            "certificate_regions": certificate_regions,
            "data": data,
        },
        ("support.", "error.", "cert.", "listing."),
    )


@dataclass(frozen=True)
class CertificateRegion:
    """A municipality the person has records in: what the certificate and the listing forms offer."""

    region: int
    code: str  # five-digit JIS code
    name: str


def _certificate_regions(
    ties: list[queries.PersonTie], history: list[queries.HistoryEntry], lang: str
) -> list[CertificateRegion]:
    """The municipalities of the person's live records, strongest tie first (a certificate and a
    listing are for one municipality at a time)."""
    regions = [t.region for t in ties if t.records > 0]
    regions += sorted({h.region for h in history if h.entry == "contribution" and not h.revoked} - set(regions))
    return [
        CertificateRegion(region, f"{region:05d}", municipality_name(region, lang) or f"{region:05d}")
        for region in regions
    ]


# -- a region -----------------------------------------------------------------------------------------


@router.get("/regions/{code}", response_class=HTMLResponse, summary="A region's dashboard")
def region_page(request: Request, code: str, conn: ConnDep, settings: SettingsDep) -> Response:
    banner = index_banner(conn)
    try:
        region: int | None = parse_jis_code(code)
    except JisCodeError:
        region = None
    if region is not None and code != jis_code(region):  # /regions/1634 -> /regions/01634, the canonical URL
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/regions/{jis_code(region)}{query}", status_code=308)
    if region is None or region not in {r.region for r in queries.list_regions(conn)}:
        return _problem_page(request, PageProblem(404, "problem.no_region_title", "problem.no_region", code=code[:20]))
    try:
        start, end = _period(request, conn)
    except PageProblem as problem:
        return _problem_page(request, problem)
    lang, _ = pick_language(request)
    k = settings.api.public_k
    dashboard = queries.region_dashboard(conn, region, start, end, k=k)
    if dashboard is None:  # pragma: no cover - checked above
        return _problem_page(request, PageProblem(404, "problem.no_region_title", "problem.no_region", code=code[:20]))
    summary, monthly, cohorts = dashboard.summary, dashboard.monthly, dashboard.cohorts
    label = "label_" + lang
    data = {
        "lang": lang,
        "monthly": {
            "months": [_month_label(m.month, lang) for m in monthly],
            "kankei": [m.kankei for m in monthly],
            "participants": [m.participants for m in monthly],
            "new": [m.new for m in monthly],
            "returning": [m.returning for m in monthly],
            "issued": [m.coins.issued for m in monthly],
            "spent": [m.coins.spent for m in monthly],
            "clawed_back": [m.coins.clawed_back for m in monthly],
        },
        "stages": {
            "labels": [getattr(s, label) for s in summary.stages],
            "values": [s.people for s in summary.stages],
        },
        "types": {
            "labels": [getattr(t, label) for t in summary.type_mix if t.national_share is not None],
            "region": [t.share_of_visiting for t in summary.type_mix if t.national_share is not None],
            "national": [t.national_share for t in summary.type_mix if t.national_share is not None],
        },
        "bands": {
            "labels": [getattr(b, label) for b in summary.visit_bands if b.band != "0"],
            "region": [b.share_of_visitors for b in summary.visit_bands if b.band != "0"],
            "national": [b.national_share for b in summary.visit_bands if b.band != "0"],
        },
        "cohorts": {
            "months": [_month_label(c.month, lang) for c in cohorts],
            "offsets": max((len(c.months) for c in cohorts), default=0),
            # a hidden (suppressed) cell is listed apart, so the chart draws it hatched, never as 0 %
            "cells": [
                [o.offset, i, round(o.share * 100, 1)]
                for i, c in enumerate(cohorts)
                for o in c.months
                if o.share is not None
            ],
            "hidden": [[o.offset, i] for i, c in enumerate(cohorts) for o in c.months if o.share is None],
        },
        "returning": {
            "labels": [getattr(r, "kind_" + lang) for r in dashboard.returning_kinds],
            "rates": [
                None if r.return_rate is None else round(r.return_rate * 100, 1) for r in dashboard.returning_kinds
            ],
        },
        "overlap": {
            "labels": [region_label(o.region, o.region_name, lang) for o in dashboard.overlap.others],
            "values": [o.shared for o in dashboard.overlap.others],
        },
    }
    return _render(
        request,
        "region.html",
        {
            "page": "region",
            "banner": banner,
            "region": dashboard.region,
            "code": jis_code(region),
            "municipality": municipality_name(region, lang),
            "region_title": region_label(region, dashboard.region.name, lang),
            "start": start,
            "end": end,
            "as_of": dashboard.as_of,
            "presets": _presets(start, end, queries.head_day(conn)),
            "summary": summary,
            "units": dashboard.units,
            "monthly": monthly,
            "cohorts": cohorts,
            "returning_kinds": dashboard.returning_kinds,
            "audit": dashboard.audit,
            # the rest of the period's revocations, newest first, after the ones the page lists
            "revocations_url": f"/api/v1/regions/{jis_code(region)}/audit?"
            + urlencode(
                {
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "revocations_offset": len(dashboard.audit.revocations),
                    "revocations_limit": queries.REVOCATIONS_PAGE_MAX,
                }
            ),
            "index": dashboard.index,
            "backlog": lambda count: queries.backlog_text(count, lang, dashboard.index.backlog_cap),
            "overlap": dashboard.overlap,
            "projects": dashboard.projects,
            "k": k,
            "label_of": lambda code, name: region_label(code, name, lang),
            "jis_code": jis_code,
            "empty": not summary.participants and not summary.records and not monthly_has_data(list(monthly)),
            "data": data,
        },
    )


def monthly_has_data(monthly: list[queries.MonthlyPoint]) -> bool:
    return any(m.participants or m.records for m in monthly)


# -- the national view --------------------------------------------------------------------------------

_KINDS: Final = {int(k): KIND_LABELS[k] for k in ContributionKind}
_TYPES: Final = {int(t): TYPE_LABELS[t] for t in MlitType}


@router.get("/national", response_class=HTMLResponse, summary="Regions linked by the people they share")
def national_page(request: Request, conn: ConnDep, settings: SettingsDep) -> HTMLResponse:
    banner = index_banner(conn)
    try:
        start, end = _period(request, conn)
        kind = _int_param(request, "kind", _KINDS)
        mlit_type = _int_param(request, "mlit_type", _TYPES) if kind is None else None
    except PageProblem as problem:
        return _problem_page(request, problem)
    lang, _ = pick_language(request)
    graph = queries.national_graph(conn, start, end, kind=kind, mlit_type=mlit_type, k=settings.api.public_k)
    names = {n.region: region_label(n.region, n.region_name, lang) for n in graph.nodes}
    messages = catalogue(lang)

    def people_text(people: int | None) -> str:
        if people is None:
            return messages.t("national.map_hidden", k=settings.api.public_k)
        return messages.t("national.map_people", n=_num(people))

    points = [
        japan_map.MapPoint(
            n.code,
            f"{names[n.region]} {people_text(n.people)}",
            n.people,
            n.latitude,
            n.longitude,
        )
        for n in graph.nodes
    ]
    drawn = japan_map.layout(points, [(jis_code(x.source), jis_code(x.target), x.shared) for x in graph.links])
    # each region's links, heaviest first, for its panel beside the map
    shared_with: dict[int, list[tuple[int, int]]] = {n.region: [] for n in graph.nodes}
    for x in graph.links:
        for one, other in ((x.source, x.target), (x.target, x.source)):
            shared_with.setdefault(one, []).append((other, x.shared))
            names.setdefault(other, region_label(other, None, lang))
    for others in shared_with.values():
        others.sort(key=lambda pair: (-pair[1], pair[0]))
    return _render(
        request,
        "national.html",
        {
            "page": "national",
            "banner": banner,
            "graph": graph,
            "names": names,
            "start": start,
            "end": end,
            "presets": _presets(start, end, queries.head_day(conn)),
            "jis_code": jis_code,
            "kind": kind,
            "mlit_type": mlit_type,
            "kinds": _KINDS,
            "types": _TYPES,
            "map": drawn,
            "map_url": japan_map_url(),
            "k": settings.api.public_k,
            "shared_with": shared_with,
        },
    )
