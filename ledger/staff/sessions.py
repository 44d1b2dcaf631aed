"""Server-side sessions of the console.

The cookie carries a random 256-bit id; the database keeps only its sha256, with the CSRF token,
the absolute expiry (``console.session_hours`` after sign-in) and the last request (a session idle
for ``console.idle_minutes`` ends). Signing out ends one session; "sign out everywhere", a
password change, a new invite and disabling the account end all of an account's sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Connection, text

from ledger.settings import ConsoleSettings
from ledger.staff.accounts import Account, actor_of, get_account
from ledger.staff.errors import CsrfRejected, SessionInvalid
from ledger.staff.roles import Actor

__all__ = ["Session", "start", "load", "end", "revoke_all", "list_sessions", "check_csrf", "TOUCH_EVERY_S"]

TOUCH_EVERY_S = 60  # write seen_at at most once a minute per session


@dataclass(frozen=True)
class Session:
    session_id: str  # the cookie's value (only when just started) or its digest
    digest: str
    account: Account
    csrf_token: str
    created_at: int
    seen_at: int
    expires_at: int

    @property
    def actor(self) -> Actor:
        return actor_of(self.account)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(conn: Connection, account: Account, settings: ConsoleSettings, user_agent: str = "") -> Session:
    now = int(time.time())
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + settings.session_hours * 3600
    conn.execute(
        text(
            "INSERT INTO staff_sessions (session_sha256, account_id, csrf_token, created_at, seen_at, expires_at, "
            "revoked_at, user_agent) VALUES (:h, :a, :c, :t, :t, :e, NULL, :u)"
        ),
        {"h": _digest(session_id), "a": account.account_id, "c": csrf, "t": now, "e": expires, "u": user_agent[:200]},
    )
    return Session(session_id, _digest(session_id), account, csrf, now, now, expires)


def load(conn: Connection, session_id: str, settings: ConsoleSettings, now: int | None = None) -> Session:
    """The live session of a cookie value, touched; :class:`SessionInvalid` otherwise."""
    now = int(time.time()) if now is None else now
    if not session_id or len(session_id) > 128:
        raise SessionInvalid("please sign in")
    digest = _digest(session_id)
    row = conn.execute(
        text(
            "SELECT account_id, csrf_token, created_at, seen_at, expires_at, revoked_at "
            "FROM staff_sessions WHERE session_sha256 = :h"
        ),
        {"h": digest},
    ).first()
    if row is None or row[5] is not None:
        raise SessionInvalid("please sign in")
    if int(row[4]) <= now or int(row[3]) + settings.idle_minutes * 60 <= now:
        raise SessionInvalid("your session has expired: please sign in again")
    account = get_account(conn, int(row[0]))
    if account.disabled_at is not None or not account.has_password:
        raise SessionInvalid("this account is disabled")
    if now - int(row[3]) >= TOUCH_EVERY_S:
        conn.execute(text("UPDATE staff_sessions SET seen_at = :t WHERE session_sha256 = :h"), {"t": now, "h": digest})
    return Session("", digest, account, str(row[1]), int(row[2]), int(row[3]), int(row[4]))


def end(conn: Connection, digest: str) -> None:
    conn.execute(
        text("UPDATE staff_sessions SET revoked_at = :t WHERE session_sha256 = :h AND revoked_at IS NULL"),
        {"t": int(time.time()), "h": digest},
    )


def revoke_all(conn: Connection, account_id: int, keep: str | None = None) -> int:
    """End every session of the account (but ``keep``, a digest); returns how many ended."""
    result = conn.execute(
        text(
            "UPDATE staff_sessions SET revoked_at = :t WHERE account_id = :a AND revoked_at IS NULL "
            "AND session_sha256 != :k"
        ),
        {"t": int(time.time()), "a": account_id, "k": keep or ""},
    )
    return int(result.rowcount or 0)


def list_sessions(conn: Connection, account_id: int) -> list[tuple[str, int, int, str]]:
    """Live sessions of an account: digest, created_at, seen_at, user agent."""
    now = int(time.time())
    return [
        (str(r[0]), int(r[1]), int(r[2]), str(r[3]))
        for r in conn.execute(
            text(
                "SELECT session_sha256, created_at, seen_at, user_agent FROM staff_sessions "
                "WHERE account_id = :a AND revoked_at IS NULL AND expires_at > :n ORDER BY created_at DESC"
            ),
            {"a": account_id, "n": now},
        )
    ]


def check_csrf(session: Session, presented: str | None) -> None:
    if not presented or not hmac.compare_digest(presented.encode(), session.csrf_token.encode()):
        raise CsrfRejected("this form has expired or did not come from the console: reload the page and try again")
