"""Staff accounts: created by a platform operator (a region's first admin) or a region admin (its
staff), each with a one-time invite link that sets the password; sign-in with lockout and an
optional TOTP second factor.

The invite token, like the session id, is 32 random bytes shown once; only its sha256 is stored.
A wrong login, password or code all fail with the same :class:`SignInFailed` (and an unknown login
costs the same argon2 time), so the sign-in form does not tell which logins exist.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import pyotp
from sqlalchemy import Connection, Engine, Row, text
from sqlalchemy.exc import IntegrityError

from ledger.db.engine import write_transaction
from ledger.settings import ConsoleSettings
from ledger.staff import audit
from ledger.staff.errors import (
    AccountExists,
    AccountLocked,
    Forbidden,
    InviteInvalid,
    SignInFailed,
    StaffError,
    TooManyAttempts,
    UnknownAccount,
)
from ledger.staff.passwords import DUMMY_HASH, check_rule, hash_password, needs_rehash, verify_password
from ledger.staff.roles import STAFF_ROLES, Actor

__all__ = [
    "Account",
    "Invite",
    "normalise_login",
    "create_account",
    "new_invite",
    "invite_account",
    "accept_invite",
    "sign_in",
    "get_account",
    "list_accounts",
    "set_role",
    "set_disabled",
    "change_password",
    "begin_totp",
    "confirm_totp",
    "disable_totp",
    "actor_of",
    "token_digest",
]

_ACCOUNT_COLUMNS = (
    "account_id, login, display_name, role, region, password_hash IS NOT NULL, totp_secret IS NOT NULL, "
    "failed_logins, locked_until, created_at, last_login_at, disabled_at"
)


@dataclass(frozen=True)
class Account:
    account_id: int
    login: str
    display_name: str
    role: str
    region: int | None
    has_password: bool
    has_totp: bool
    failed_logins: int
    locked_until: int | None
    created_at: int
    last_login_at: int | None
    disabled_at: int | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None and self.has_password


@dataclass(frozen=True)
class Invite:
    """A fresh invite: the token goes in the link ``/console/invite/<token>``, shown once."""

    account_id: int
    token: str
    expires_at: int


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_login(login: str) -> str:
    value = login.strip().lower()
    if not 3 <= len(value) <= 120 or any(c.isspace() for c in value):
        raise ValueError("a sign-in name has 3 to 120 characters and no spaces")
    return value


def _row_to_account(row: Row[Any]) -> Account:
    r: tuple[Any, ...] = tuple(row)
    return Account(
        int(r[0]),
        str(r[1]),
        str(r[2]),
        str(r[3]),
        None if r[4] is None else int(r[4]),
        bool(r[5]),
        bool(r[6]),
        int(r[7]),
        None if r[8] is None else int(r[8]),
        int(r[9]),
        None if r[10] is None else int(r[10]),
        None if r[11] is None else int(r[11]),
    )


def get_account(conn: Connection, account_id: int) -> Account:
    row = conn.execute(
        text(f"SELECT {_ACCOUNT_COLUMNS} FROM staff_accounts WHERE account_id = :i"), {"i": account_id}
    ).first()
    if row is None:
        raise UnknownAccount(f"no account {account_id}")
    return _row_to_account(row)


def list_accounts(conn: Connection, region: int | None) -> list[Account]:
    """A region's accounts (``None``: platform operators)."""
    where = "region IS NULL" if region is None else "region = :r"
    rows = conn.execute(
        text(f"SELECT {_ACCOUNT_COLUMNS} FROM staff_accounts WHERE {where} ORDER BY account_id"), {"r": region}
    ).all()
    return [_row_to_account(r) for r in rows]


def actor_of(account: Account) -> Actor:
    return Actor(
        f"account:{account.account_id}", account.display_name, account.role, account.region, account.account_id
    )


def _check_grant(by: Actor, role: str, region: int | None) -> None:
    if role not in STAFF_ROLES:
        raise ValueError(f"role must be one of {', '.join(STAFF_ROLES)}")
    if role == "platform":
        if region is not None:
            raise ValueError("a platform operator is not scoped to a region")
        by.require("regions")
        return
    if region is None:
        raise ValueError(f"a {role} account needs a region")
    by.require("staff", region)
    if role == "admin" and by.role not in ("admin", "platform"):
        raise Forbidden("only a region admin or a platform operator may create an admin")


def new_invite(conn: Connection, account_id: int, settings: ConsoleSettings, now: int | None = None) -> Invite:
    """A fresh one-time link for ``account_id`` (earlier unused links of the account stop working)."""
    now = int(time.time()) if now is None else now
    token = secrets.token_urlsafe(32)
    expires = now + settings.invite_hours * 3600
    conn.execute(
        text("UPDATE staff_invites SET used_at = :t WHERE account_id = :a AND used_at IS NULL"),
        {"t": now, "a": account_id},
    )
    conn.execute(
        text(
            "INSERT INTO staff_invites (token_sha256, account_id, created_at, expires_at, used_at) "
            "VALUES (:h, :a, :t, :e, NULL)"
        ),
        {"h": token_digest(token), "a": account_id, "t": now, "e": expires},
    )
    return Invite(account_id, token, expires)


def create_account(
    conn: Connection,
    by: Actor,
    *,
    login: str,
    display_name: str,
    role: str,
    region: int | None,
    settings: ConsoleSettings,
    client: str = "",
) -> Invite:
    """Create an account without a password and return its invite (``by`` must be allowed to)."""
    _check_grant(by, role, region)
    login = normalise_login(login)
    display_name = display_name.strip()
    if not 1 <= len(display_name) <= 80:
        raise ValueError("a display name has 1 to 80 characters")
    now = int(time.time())
    try:
        with conn.begin_nested():
            account_id = conn.execute(
                text(
                    "INSERT INTO staff_accounts (login, display_name, role, region, failed_logins, created_at, "
                    "created_by) VALUES (:l, :n, :r, :g, 0, :t, :b) RETURNING account_id"
                ),
                {"l": login, "n": display_name, "r": role, "g": region, "t": now, "b": by.account_id},
            ).scalar_one()
    except IntegrityError:
        raise AccountExists(f"the sign-in name {login!r} is taken") from None
    invite = new_invite(conn, int(account_id), settings, now)
    audit.record(
        conn,
        by,
        "staff.create",
        region=region,
        target=f"account:{account_id}",
        detail={"login": login, "display_name": display_name, "role": role},
        client=client,
    )
    return invite


def invite_account(conn: Connection, by: Actor, account_id: int, settings: ConsoleSettings, client: str = "") -> Invite:
    """A new invite link for an existing account (e.g. a forgotten password): its sessions end."""
    account = get_account(conn, account_id)
    _check_grant(by, account.role, account.region)
    invite = new_invite(conn, account_id, settings)
    from ledger.staff.sessions import revoke_all

    revoke_all(conn, account_id)
    audit.record(conn, by, "staff.invite", region=account.region, target=f"account:{account_id}", client=client)
    return invite


def accept_invite(conn: Connection, token: str, password: str, client: str = "") -> Account:
    """Set the password of the invited account; the link stops working."""
    now = int(time.time())
    row = conn.execute(
        text("SELECT account_id, expires_at, used_at FROM staff_invites WHERE token_sha256 = :h"),
        {"h": token_digest(token)},
    ).first()
    if row is None or row[2] is not None or int(row[1]) < now:
        raise InviteInvalid("this invite link is unknown, used or expired: ask your region admin for a new one")
    account = get_account(conn, int(row[0]))
    if account.disabled_at is not None:
        raise InviteInvalid("this account is disabled")
    check_rule(password, account.login)
    conn.execute(
        text("UPDATE staff_invites SET used_at = :t WHERE token_sha256 = :h"), {"t": now, "h": token_digest(token)}
    )
    conn.execute(
        text(
            "UPDATE staff_accounts SET password_hash = :p, failed_logins = 0, locked_until = NULL WHERE account_id = :i"
        ),
        {"p": hash_password(password), "i": account.account_id},
    )
    audit.record(conn, actor_of(account), "staff.accept_invite", region=account.region, client=client)
    return get_account(conn, account.account_id)


def _client_failures(conn: Connection, client: str, settings: ConsoleSettings, now: int) -> int:
    since = now - settings.client_window_minutes * 60
    conn.execute(text("DELETE FROM staff_login_failures WHERE at < :s"), {"s": since - 86_400})
    return int(
        conn.execute(
            text("SELECT COUNT(*) FROM staff_login_failures WHERE client = :c AND at >= :s"), {"c": client, "s": since}
        ).scalar_one()
    )


def sign_in(
    engine: Engine, login: str, password: str, code: str, settings: ConsoleSettings, client: str = ""
) -> Account:
    """Check a sign-in; on success the account (its failure count reset), else
    :class:`SignInFailed` / :class:`AccountLocked` / :class:`TooManyAttempts`, each audited.

    The attempt is one write transaction that commits whatever happened (a failure is counted,
    the lock set) before the refusal is raised.
    """
    with write_transaction(engine) as conn:
        outcome = _attempt(conn, login, password, code, settings, client)
    if isinstance(outcome, StaffError):
        raise outcome
    return outcome


def _attempt(
    conn: Connection, login: str, password: str, code: str, settings: ConsoleSettings, client: str
) -> Account | StaffError:
    now = int(time.time())
    if _client_failures(conn, client, settings, now) >= settings.client_failures:
        return TooManyAttempts(
            "too many failed sign-ins from this address: try again later", settings.client_window_minutes * 60
        )
    try:
        key = normalise_login(login)
    except ValueError:
        key = ""
    row = conn.execute(
        text(
            "SELECT account_id, password_hash, totp_secret, failed_logins, locked_until, disabled_at, display_name, "
            "region FROM staff_accounts WHERE login = :l"
        ),
        {"l": key},
    ).first()

    def fail(reason: str, account_id: int | None, region: int | None) -> None:
        conn.execute(text("INSERT INTO staff_login_failures (client, at) VALUES (:c, :t)"), {"c": client, "t": now})
        audit.record(
            conn,
            None,
            "sign_in",
            region=region,
            target="" if account_id is None else f"account:{account_id}",
            outcome="failed",
            detail={"login": key[:120], "reason": reason},
            client=client,
            actor_ref="anonymous" if account_id is None else f"account:{account_id}",
        )

    if row is None or row[1] is None:
        verify_password(DUMMY_HASH, password)
        fail("unknown login or no password yet", None if row is None else int(row[0]), None)
        return SignInFailed("wrong sign-in name, password or code")
    account_id, stored, totp_secret, failures, locked_until, disabled_at, _, region = row
    if disabled_at is not None:
        verify_password(DUMMY_HASH, password)
        fail("disabled", int(account_id), region)
        return SignInFailed("wrong sign-in name, password or code")
    if locked_until is not None and int(locked_until) > now:
        fail("locked", int(account_id), region)
        return AccountLocked("this account is locked after too many wrong passwords", int(locked_until))
    ok = verify_password(str(stored), password)
    if ok and totp_secret is not None:
        ok = pyotp.TOTP(str(totp_secret)).verify(code.strip(), valid_window=1)
    if not ok:
        failures = int(failures) + 1
        lock = now + settings.lockout_minutes * 60 if failures >= settings.lockout_after else None
        conn.execute(
            text("UPDATE staff_accounts SET failed_logins = :f, locked_until = :u WHERE account_id = :i"),
            {"f": 0 if lock else failures, "u": lock, "i": account_id},
        )
        fail("wrong password or code", int(account_id), region)
        if lock is not None:
            return AccountLocked("this account is now locked after too many wrong passwords", lock)
        return SignInFailed("wrong sign-in name, password or code")
    updates: dict[str, object] = {"i": account_id, "t": now}
    rehash = ""
    if needs_rehash(str(stored)):
        rehash = ", password_hash = :p"
        updates["p"] = hash_password(password)
    conn.execute(
        text(
            "UPDATE staff_accounts SET failed_logins = 0, locked_until = NULL, last_login_at = :t"
            f"{rehash} WHERE account_id = :i"
        ),
        updates,
    )
    account = get_account(conn, int(account_id))
    audit.record(conn, actor_of(account), "sign_in", region=account.region, client=client)
    return account


def _managed(conn: Connection, by: Actor, account_id: int) -> Account:
    account = get_account(conn, account_id)
    if account.region is None:
        by.require("regions")
    else:
        by.require("staff", account.region)
    if account.role == "admin" and by.role not in ("admin", "platform"):
        raise Forbidden("only a region admin or a platform operator may change an admin")
    return account


def set_role(conn: Connection, by: Actor, account_id: int, role: str, client: str = "") -> Account:
    account = _managed(conn, by, account_id)
    _check_grant(by, role, account.region)
    if by.account_id == account_id and role != account.role:
        raise Forbidden("you cannot change your own role")
    conn.execute(text("UPDATE staff_accounts SET role = :r WHERE account_id = :i"), {"r": role, "i": account_id})
    audit.record(
        conn,
        by,
        "staff.role",
        region=account.region,
        target=f"account:{account_id}",
        detail={"from": account.role, "to": role},
        client=client,
    )
    return get_account(conn, account_id)


def set_disabled(conn: Connection, by: Actor, account_id: int, disabled: bool, client: str = "") -> Account:
    """Disable (every session ends at once) or enable an account."""
    account = _managed(conn, by, account_id)
    if by.account_id == account_id:
        raise Forbidden("you cannot disable your own account")
    conn.execute(
        text("UPDATE staff_accounts SET disabled_at = :t WHERE account_id = :i"),
        {"t": int(time.time()) if disabled else None, "i": account_id},
    )
    if disabled:
        from ledger.staff.sessions import revoke_all

        revoke_all(conn, account_id)
    audit.record(
        conn,
        by,
        "staff.disable" if disabled else "staff.enable",
        region=account.region,
        target=f"account:{account_id}",
        client=client,
    )
    return get_account(conn, account_id)


def change_password(
    conn: Connection, account_id: int, current: str, new: str, keep_session: str | None, client: str = ""
) -> None:
    """Change one's own password; every other session of the account ends."""
    row = conn.execute(
        text("SELECT password_hash, login FROM staff_accounts WHERE account_id = :i"), {"i": account_id}
    ).first()
    if row is None or row[0] is None or not verify_password(str(row[0]), current):
        raise SignInFailed("the current password is wrong")
    check_rule(new, str(row[1]))
    conn.execute(
        text("UPDATE staff_accounts SET password_hash = :p WHERE account_id = :i"),
        {"p": hash_password(new), "i": account_id},
    )
    from ledger.staff.sessions import revoke_all

    revoke_all(conn, account_id, keep=keep_session)
    account = get_account(conn, account_id)
    audit.record(conn, actor_of(account), "staff.password", region=account.region, client=client)


def begin_totp(conn: Connection, account_id: int) -> str:
    """A new TOTP secret to enrol (shown as a QR code); it applies once confirmed with a code."""
    secret = pyotp.random_base32()
    conn.execute(
        text("UPDATE staff_accounts SET totp_pending = :s WHERE account_id = :i"), {"s": secret, "i": account_id}
    )
    return secret


def confirm_totp(conn: Connection, account_id: int, code: str, client: str = "") -> None:
    row = conn.execute(text("SELECT totp_pending FROM staff_accounts WHERE account_id = :i"), {"i": account_id}).first()
    if row is None or row[0] is None or not pyotp.TOTP(str(row[0])).verify(code.strip(), valid_window=1):
        raise SignInFailed("the code does not match: scan the QR code again and enter the current code")
    conn.execute(
        text("UPDATE staff_accounts SET totp_secret = totp_pending, totp_pending = NULL WHERE account_id = :i"),
        {"i": account_id},
    )
    account = get_account(conn, account_id)
    audit.record(conn, actor_of(account), "staff.totp_on", region=account.region, client=client)


def disable_totp(conn: Connection, account_id: int, password: str, client: str = "") -> None:
    row = conn.execute(
        text("SELECT password_hash FROM staff_accounts WHERE account_id = :i"), {"i": account_id}
    ).first()
    if row is None or row[0] is None or not verify_password(str(row[0]), password):
        raise SignInFailed("the password is wrong")
    conn.execute(
        text("UPDATE staff_accounts SET totp_secret = NULL, totp_pending = NULL WHERE account_id = :i"),
        {"i": account_id},
    )
    account = get_account(conn, account_id)
    audit.record(conn, actor_of(account), "staff.totp_off", region=account.region, client=client)
