"""Console page: ふるさと住民登録（プレミアム）の対象者 — who in the region is eligible, when each
person's eligibility lapses, who is one designated activity short, the contacts of those who opted
in, and the CSV of them for the municipality (recorded in the staff audit).

The page and ``GET /api/v1/regions/{region}/eligibility`` render the same document
(:func:`ledger.certificate.roster.roster`); the rule is :mod:`ledger.certificate.eligibility`'s.
Everything needs ``read`` in the region; contacts and the CSV need
:data:`ledger.certificate.listings.CONTACTS_PERMISSION` (``notes``: admins and staff, not viewers).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import EngineDep, client_ip
from api.i18n import pick_language
from api.routes.console.common import ConsoleSession, parse_day, region_path, render_console, require_region
from api.routes.listings import eligibility_csv_response, roster_for
from ledger.certificate.eligibility import PREMIUM_MIN_ACTIVITIES
from ledger.certificate.listings import CONTACTS_PERMISSION
from ledger.certificate.roster import LAPSING_SOON_DAYS
from ledger.console.audit import short_address
from ledger.jst import format_date

router = APIRouter(prefix="/console", include_in_schema=False)

VERIFIER_PATH = "/verify/certificate"
DayQuery = Annotated[str | None, Query(max_length=20)]  # 2026-12-07 or 2026年12月31日


def day_label(day: date | None, lang: str) -> str:
    """A JST day as people read it: 2026年12月7日, or 7 Dec 2026."""
    if day is None:
        return "—"
    return f"{day.year}年{day.month}月{day.day}日" if lang == "ja" else f"{day.day} {day:%b} {day.year}"


@router.get("/regions/{code}/eligibility", response_class=HTMLResponse)
def eligibility_page(
    request: Request, code: str, session: ConsoleSession, engine: EngineDep, as_of: DayQuery = None
) -> Response:
    region = require_region(session, code, "read")
    lang, _ = pick_language(request)
    with engine.connect() as conn:
        found = roster_for(conn, session.actor, region, parse_day(as_of))
    base = f"{region_path(region)}/eligibility"
    return render_console(
        request,
        "console/eligibility.html",
        {
            "roster": found,
            "as_of_value": format_date(found.as_of, lang),
            "eligibility_url": base,
            "csv_url": f"{base}.csv?as_of={found.as_of.isoformat()}",
            "can_contacts": session.actor.can(CONTACTS_PERMISSION),
            "verifier_url": VERIFIER_PATH,
            "minimum": PREMIUM_MIN_ACTIVITIES,
            "soon_days": LAPSING_SOON_DAYS,
            "short": short_address,
            "day": lambda d: day_label(d, lang),
        },
        session,
        region=region,
    )


@router.get("/regions/{code}/eligibility.csv")
def eligibility_csv(
    request: Request,
    code: str,
    session: ConsoleSession,
    engine: EngineDep,
    as_of: DayQuery = None,
    lang: Annotated[Literal["ja", "en"], Query()] = "ja",
) -> Response:
    region = require_region(session, code, CONTACTS_PERMISSION)
    return eligibility_csv_response(engine, session.actor, region, parse_day(as_of), lang, client_ip(request))
