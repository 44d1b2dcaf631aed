"""The console's front door: ``/console`` sends region staff to their region and shows platform
operators every region (and the form that creates a region's first admin); a region's overview
page lists what needs attention today.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection, text

from api.deps import EngineDep, SettingsDep, client_ip
from api.i18n import pick_language
from api.routes.console.common import (
    ConsoleForm,
    ConsoleSession,
    redirect_to,
    region_label,
    region_path,
    render_console,
    require_region,
)
from ledger import queries
from ledger.db.engine import write_transaction
from ledger.jst import day_start, today
from ledger.relay.outbox import region_claims_since
from ledger.staff import accounts
from ledger.staff.errors import StaffError

router = APIRouter(prefix="/console", include_in_schema=False)


def _regions(conn: Connection) -> list[int]:
    return [r.region for r in queries.list_regions(conn)]


def invite_url(request: Request, token: str) -> str:
    """The absolute invite link to hand over (the public URL when set, else this request's host)."""
    base = request.app.state.settings.checkin.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}/console/invite/{token}"


def _platform_page(request: Request, session: ConsoleSession, engine: EngineDep, **extra: object) -> HTMLResponse:
    lang, _ = pick_language(request)
    with engine.connect() as conn:
        regions = _regions(conn)
        admins = {
            int(r[0]): int(r[1])
            for r in conn.execute(
                text(
                    "SELECT region, COUNT(*) FROM staff_accounts WHERE role = 'admin' AND disabled_at IS NULL "
                    "AND region IS NOT NULL GROUP BY region"
                )
            )
        }
    rows = [(region_label(r, lang), region_path(r), admins.get(r, 0), f"{r:05d}") for r in regions]
    context: dict[str, object] = {"regions": rows, "invite": "", "error": ""}
    context.update(extra)
    return render_console(request, "console/platform.html", context, session)


@router.get("", response_class=HTMLResponse)
def console_home(request: Request, session: ConsoleSession, engine: EngineDep) -> Response:
    if session.account.region is not None:
        return redirect_to(region_path(session.account.region))
    session.actor.require("regions")
    return _platform_page(request, session, engine)


@router.post("/platform/admins", response_class=HTMLResponse)
def create_region_admin(
    request: Request,
    session: ConsoleForm,
    engine: EngineDep,
    settings: SettingsDep,
    region: Annotated[str, Form(max_length=6)],
    login: Annotated[str, Form(max_length=120)],
    display_name: Annotated[str, Form(max_length=80)],
) -> Response:
    """A platform operator creates a region's first admin; the page shows the one-time link."""
    session.actor.require("regions")
    code = require_region(session, region, "regions")
    try:
        with write_transaction(engine) as conn:
            if code not in _regions(conn):
                return _platform_page(request, session, engine, error="unknown_region")
            invite = accounts.create_account(
                conn,
                session.actor,
                login=login,
                display_name=display_name,
                role="admin",
                region=code,
                settings=settings.console,
                client=client_ip(request),
            )
    except (StaffError, ValueError) as exc:
        return _platform_page(request, session, engine, error=getattr(exc, "code", "invalid"))
    return _platform_page(request, session, engine, invite=invite_url(request, invite.token))


@router.get("/regions/{code}", response_class=HTMLResponse)
def region_overview(request: Request, code: str, session: ConsoleSession, engine: EngineDep) -> Response:
    region = require_region(session, code)
    if code != f"{region:05d}":
        return redirect_to(region_path(region))
    now = int(time.time())
    with engine.connect() as conn:
        counts = conn.execute(
            text(
                "SELECT "
                "SUM(CASE WHEN NOT closed AND starts_at <= :n AND ends_at > :n THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN NOT closed AND starts_at > :n THEN 1 ELSE 0 END), "
                "COUNT(*) FROM activities WHERE region = :r"
            ),
            {"n": now, "r": region},
        ).one()
        midnight = day_start(today(now))  # today, JST
        claims_today = region_claims_since(conn, region, midnight * 1000)
        pending = conn.execute(
            text("SELECT COUNT(*) FROM pending_actions WHERE region = :r AND status IN ('sending', 'failed')"),
            {"r": region},
        ).scalar_one()
    return render_console(
        request,
        "console/overview.html",
        {
            "open_now": int(counts[0] or 0),
            "upcoming": int(counts[1] or 0),
            "activities_total": int(counts[2] or 0),
            "claims_today": int(claims_today or 0),
            "pending": int(pending or 0),
            "public_url": f"/regions/{region}",
        },
        session,
        region=region,
    )
