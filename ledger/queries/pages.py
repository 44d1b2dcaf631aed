"""The page assemblers: one document per page, rendered by both the JSON route and the HTML route."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, text

from ledger import jst
from ledger.figures import FIGURES
from ledger.queries.audit import IssuerAudit, issuer_audit, public_audit
from ledger.queries.cells import (
    DEFAULT_K,
    _check_range,
    _check_region,
    _month_last_day,
    normalize_address,
)
from ledger.queries.network import NATIONAL_REFERENCE, NationalReference, RegionOverlap, region_overlap
from ledger.queries.person import (
    HistoryEntry,
    PersonCoins,
    PersonTie,
    SupportedProject,
    person_coins,
    person_history,
    person_supports,
    person_ties,
)
from ledger.queries.projects import PublicProject, activity_names, public_projects
from ledger.queries.region import (
    Cohort,
    KindReturn,
    MonthlyPoint,
    RegionInfo,
    RegionSummary,
    UnitTotals,
    cohort_retention,
    list_regions,
    region_monthly,
    region_summary,
    region_units,
    returning_kinds,
)
from ledger.queries.status import IndexStatus, index_status

# ---------------------------------------------------------------------------------------------
# The region dashboard as one document (the JSON API and the server-rendered page both use it)
# ---------------------------------------------------------------------------------------------


FIGURE_DEFINITIONS: dict[str, tuple[str, str]] = {f.id: (f.definition_ja, f.definition_en) for f in FIGURES.values()}
"""(日本語, English) definition of every figure by id: a view of :data:`ledger.figures.FIGURES`."""


def default_range(conn: Connection) -> tuple[date, date]:
    """The default period of every page, JSON document and CLI report: the 12 whole JST months ending
    with the month of the index head's day, up to that day (today, JST, before anything is indexed)."""
    end = head_day(conn)
    return _twelve_months_to(end), end


def head_day(conn: Connection) -> date:
    """The last JST day the index has reached (today, JST, before anything is indexed): no figure is
    ever "as of" a later day."""
    timestamp = conn.execute(text("SELECT MAX(block_timestamp) FROM indexer_checkpoints")).scalar()
    now = int(timestamp) if timestamp is not None else int(time.time())
    return jst.date_of(now)


def _twelve_months_to(end: date) -> date:
    """The first day of the month 11 months before ``end``'s: 12 whole months ending with ``end``'s."""
    year, month = divmod(end.year * 12 + end.month - 1 - 11, 12)
    return date(year, month + 1, 1)


def resolve_period(conn: Connection, start: date | None = None, end: date | None = None) -> tuple[date, date]:
    """The one rule for a period with parts left out, shared by the pages, the JSON API and the CLI:
    ``end`` defaults to the index head's day (:func:`head_day`), ``start`` to the first day of the 12
    whole months ending with ``end``'s month. The caller checks ``start <= end``."""
    end = end or head_day(conn)
    return start or _twelve_months_to(end), end


def as_of_day(conn: Connection, as_of_month: int) -> date:
    """The day people figures "as of ``as_of_month``" are counted at: the month's last day, or the
    index head's day when that is earlier (never a day in the future)."""
    return min(_month_last_day(as_of_month), head_day(conn))


@dataclass(frozen=True, slots=True)
class RegionDashboard:
    """Everything a region dashboard shows, for one period; every figure's definition is in
    ``definitions`` (:data:`FIGURE_DEFINITIONS`)."""

    region: RegionInfo
    start: date
    end: date
    as_of: date  # the day people figures are counted at (:func:`as_of_day`): never after the index head
    k: int | None
    summary: RegionSummary  # 関係人口, stages, bands, type mix, new/returning, coins (gift rate)
    units: UnitTotals  # hours of help and days of stays
    monthly: tuple[MonthlyPoint, ...]
    cohorts: tuple[Cohort, ...]
    returning_kinds: tuple[KindReturn, ...]
    audit: IssuerAudit  # public: no participant addresses
    overlap: RegionOverlap
    projects: tuple[PublicProject, ...]
    index: IndexStatus
    caught_up: bool
    national: NationalReference
    definitions: dict[str, dict[str, str]]


def region_dashboard(
    conn: Connection, region: int, start: date | None = None, end: date | None = None, k: int | None = DEFAULT_K
) -> RegionDashboard | None:
    """The whole public region dashboard (``None`` when the region is not registered); ``start`` /
    ``end`` default by :func:`resolve_period`. Every part comes from the functions above, so a page
    and the JSON API show the same numbers. Reads rollups and small tables (no scan of
    ``contributions`` or ``tie_months``), and the records of per-hour and per-day activities by
    activity (:func:`region_units`)."""
    _check_region(region)
    info = next((r for r in list_regions(conn) if r.region == region), None)
    if info is None:
        return None
    start, end = resolve_period(conn, start, end)
    _check_range(start, end)
    status = index_status(conn)
    summary = region_summary(conn, region, start, end, k=k)
    return RegionDashboard(
        region=info,
        start=start,
        end=end,
        as_of=as_of_day(conn, summary.as_of_month),
        k=k,
        summary=summary,
        units=region_units(conn, region, start, end, k=k),
        monthly=tuple(region_monthly(conn, region, start, end, k=k)),
        cohorts=tuple(cohort_retention(conn, region, start, end, k=k)),
        returning_kinds=tuple(returning_kinds(conn, region, start, end, k=k)),
        audit=public_audit(issuer_audit(conn, region, start, end)),
        overlap=region_overlap(conn, region, start, end, k=k),
        projects=tuple(public_projects(conn, region, k=k)),
        index=status,
        caught_up=status.caught_up,
        national=NATIONAL_REFERENCE,
        definitions={key: {"ja": ja, "en": en} for key, (ja, en) in FIGURE_DEFINITIONS.items()},
    )


@dataclass(frozen=True, slots=True)
class PersonPage:
    """Everything a participant's つながり page shows: the ties (components, never the score alone),
    the newest history, coins per region, what they supported, and the projects they can support."""

    participant: str
    ties: tuple[PersonTie, ...]
    history: tuple[HistoryEntry, ...]  # newest first, at most ``history_limit``
    coins: tuple[PersonCoins, ...]
    supports: tuple[SupportedProject, ...]
    activity_names: dict[int, str]  # of the history's activities whose text is known
    projects: tuple[PublicProject, ...]  # every project, small cells suppressed at ``k``
    open_projects: tuple[PublicProject, ...]  # open, in a region where the person holds coins


def person_page(
    conn: Connection, address: str, history_limit: int = 200, k: int | None = DEFAULT_K
) -> PersonPage | None:
    """The つながり page of ``address`` (``None`` when the index has no tie and no history for it).
    Projects carry the public figures (``raised`` and supporters hidden below ``k`` supporters), as on
    a region page."""
    participant = normalize_address(address)
    ties = person_ties(conn, participant)
    history = person_history(conn, participant, limit=history_limit)
    if not ties and not history:
        return None
    coins = person_coins(conn, participant)
    projects = public_projects(conn, k=k)
    balances = {c.region: c.balance for c in coins}
    return PersonPage(
        participant=participant,
        ties=tuple(ties),
        history=tuple(history),
        coins=tuple(coins),
        supports=tuple(person_supports(conn, participant)),
        activity_names=activity_names(conn, [h.activity_id for h in history if h.activity_id is not None]),
        projects=tuple(projects),
        open_projects=tuple(p for p in projects if not p.closed and balances.get(p.region, 0) > 0),
    )
