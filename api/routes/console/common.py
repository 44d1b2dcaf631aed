"""What every console page shares: the session dependencies (pages redirect to sign-in; forms
check the CSRF token and the origin), rendering with the region's navigation, notices after an
action (``?done=<key>``) and the error page.

A form carries the session's CSRF token in a hidden ``csrf_token`` field (``csrf_field()`` in a
template); a script's ``fetch`` sends it as ``X-CSRF-Token``.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape

from api.deps import SESSION_COOKIE, EngineDep, check_origin, session_of
from api.errors import ApiError, Redirect
from api.i18n import catalogue, pick_language
from api.routes.pages import render_page, templates
from ledger import jst
from ledger.jst import format_datetime, parse_date_text
from ledger.municipalities import JisCodeError, jis_code, municipality_name, parse_jis_code
from ledger.staff import sessions
from ledger.staff.errors import SessionInvalid
from ledger.staff.roles import ROLE_LABELS, Permission

__all__ = [
    "ConsoleSession",
    "ConsoleForm",
    "parse_region",
    "parse_day",
    "region_path",
    "region_label",
    "render_console",
    "redirect_to",
    "console_error_page",
    "require_region",
    "set_session_cookie",
    "NAV",
]

CONSOLE_MESSAGES: Final = ("common.",)  # what common.js needs; the console's own script needs none


def _jst(timestamp: int | None) -> str:
    """Unix seconds as a JST date and time with the zone, in Japanese (``2026年12月7日 21:05 JST``):
    the console shows every time in JST."""
    return "—" if timestamp is None else format_datetime(int(timestamp), "ja")


templates.env.filters["jst"] = _jst

MONTH_CHOICES: Final = 36  # how many months back a month field offers


def _month_options(selected: str, lang: str) -> list[tuple[str, str]]:
    """(``YYYY-MM``, label) of this JST month and the ones before it, newest first, with
    ``selected`` kept when it is older: a month field is a list (decision 0015), since a month
    input shows "December 2026" in an English browser, whatever the page's language."""
    month = jst.month_key_of_date(jst.today())
    keys = []
    for _ in range(MONTH_CHOICES):
        keys.append(jst.month_text(month))
        year, mon = divmod(month, 100)
        month = (year - 1) * 100 + 12 if mon == 1 else month - 1
    if selected and selected not in keys:
        keys.append(selected)
    if lang == "en":
        return [(key, key) for key in keys]
    return [(key, f"{int(key[:4])}年{int(key[5:7])}月") for key in keys]


templates.env.globals["month_options"] = _month_options

# (key, path under /console/regions/<code>, permission to see it)
NAV: Final[tuple[tuple[str, str, Permission], ...]] = (
    ("overview", "", "read"),
    ("activities", "/activities", "read"),
    ("projects", "/projects", "read"),
    ("audit", "/audit", "read"),
    ("reports", "/reports", "read"),
    ("eligibility", "/eligibility", "read"),
    ("issuers", "/issuers", "issuers"),
    ("staff", "/staff", "staff"),
)


def parse_day(value: str | None) -> date | None:
    """A day from a page's query (``2026-12-07``, ``2026年12月7日`` or another form
    :func:`ledger.jst.parse_date_text` reads; empty: none); 422 ``invalid`` otherwise."""
    if not value:
        return None
    try:
        return parse_date_text(value)
    except ValueError:
        raise ApiError(422, "invalid", f"not a date: {value[:10]!r}") from None


def parse_region(code: str) -> int:
    """A JIS X 0402 code from a URL: five digits (``01634``) or without the leading zero."""
    try:
        return parse_jis_code(code)
    except JisCodeError:
        raise ApiError(404, "not_found", f"no region {code[:12]!r}") from None


def region_path(region: int) -> str:
    return f"/console/regions/{jis_code(region)}"


def region_label(region: int, lang: str) -> str:
    """The municipality's name with its five-digit code, 「上士幌町（01634）」, else the code."""
    name = municipality_name(region, lang)
    return f"{name}（{jis_code(region)}）" if name else jis_code(region)


def _canonical_region_url(request: Request) -> None:
    """A console page asked with a region code spelled without its leading zero (``/console/regions/1634/…``)
    is redirected (308) to its five-digit URL; a form post is served under either spelling."""
    code = request.path_params.get("code")
    if not isinstance(code, str) or request.method not in ("GET", "HEAD"):
        return
    try:
        canonical = jis_code(parse_jis_code(code))
    except JisCodeError:
        return  # require_region answers 404
    prefix = f"/console/regions/{code}"
    path = request.url.path
    if code != canonical and (path == prefix or path.startswith(prefix + "/")):
        raise Redirect(str(request.url.replace(path=f"/console/regions/{canonical}{path[len(prefix) :]}")))


async def _console_session(request: Request, engine: EngineDep) -> sessions.Session:
    _canonical_region_url(request)
    return await asyncio.to_thread(session_of, request, engine)


async def _console_form(request: Request, engine: EngineDep) -> sessions.Session:
    """A state-changing console request: signed in, from our origin, with the session's CSRF token."""
    session = await _console_session(request, engine)
    check_origin(request)
    form = await request.form()
    token = form.get("csrf_token")
    sessions.check_csrf(session, token if isinstance(token, str) else request.headers.get("x-csrf-token"))
    return session


ConsoleSession = Annotated[sessions.Session, Depends(_console_session)]
ConsoleForm = Annotated[sessions.Session, Depends(_console_form)]


def require_region(session: sessions.Session, code: str, permission: Permission = "read") -> int:
    """The region of a console URL, if the signed-in account may ``permission`` in it."""
    region = parse_region(code)
    session.actor.require(permission, region)
    return region


def render_console(
    request: Request,
    template: str,
    context: dict[str, Any],
    session: sessions.Session | None,
    *,
    region: int | None = None,
    status: int = 200,
) -> HTMLResponse:
    """Render a console page (``console/base.html`` layout) with the navigation of ``region``."""
    lang, _ = pick_language(request)
    messages = catalogue(lang).messages
    nav = []
    if session is not None and region is not None:
        actor = session.actor
        nav = [(key, region_path(region) + path) for key, path, perm in NAV if actor.can(perm)]
    done = request.query_params.get("done", "")
    csrf = session.csrf_token if session is not None else ""
    response = render_page(
        request,
        template,
        {
            "page": "console",
            "session": session,
            "account": session.account if session else None,
            "role_label": (
                ROLE_LABELS.get(session.account.role, ("", ""))[0 if lang == "ja" else 1] if session else ""
            ),
            "region": region,
            "region_code": jis_code(region) if region is not None else "",
            "region_name": region_label(region, lang) if region is not None else "",
            "nav": nav,
            "current_path": request.url.path,
            "done": done if done.replace("_", "").isalnum() else "",
            "csrf_token": csrf,
            "has_t": lambda key: key in messages,  # a message built from a code exists (else a fallback)
            "csrf_field": lambda: Markup('<input type="hidden" name="csrf_token" value="{}">').format(escape(csrf)),
            **context,
        },
        script_messages=CONSOLE_MESSAGES,
    )
    response.status_code = status
    return response


def set_session_cookie(request: Request, response: Response, value: str, max_age: int) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Secure over https (or when configured)."""
    secure = request.app.state.settings.console.secure_cookie
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https" if secure is None else secure,
    )


def redirect_to(url: str, done: str | None = None) -> RedirectResponse:
    """After a successful form post: 303 to ``url`` with a notice key (Post/Redirect/Get)."""
    if done:
        url = f"{url}{'&' if '?' in url else '?'}done={quote(done)}"
    return RedirectResponse(url, status_code=303)


def console_error_page(request: Request, exc: Exception, status: int, code: str) -> Response:
    """Errors on console pages: sign-in again for a missing or expired session, else a page that
    says what went wrong (the JSON endpoints keep the JSON shape)."""
    if isinstance(exc, SessionInvalid):
        target = request.url.path if request.method == "GET" else "/console"
        response: Response = RedirectResponse(f"/console/login?next={quote(target)}", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    message = exc.message if isinstance(exc, ApiError) else str(exc)
    return render_console(
        request,
        "console/error.html",
        {"status": status, "code": code, "message": message},
        getattr(request.state, "console_session", None),
        status=status,
    )
