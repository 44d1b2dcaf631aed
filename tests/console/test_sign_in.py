"""Signing in to the console: invites, passwords, lockout, TOTP, sessions, CSRF and sign-out."""

from __future__ import annotations

import pyotp
from sqlalchemy import text

from ledger.db.engine import write_transaction
from ledger.staff import accounts, audit
from ledger.staff.roles import Actor
from tests.console.conftest import PASSWORD, ConsoleWorld, csrf_of

REGION = 15202


def test_invite_sets_the_password_once_and_signs_in(console_world: ConsoleWorld) -> None:
    with write_transaction(console_world.engine) as conn:
        invite = accounts.create_account(
            conn,
            Actor.cli(),
            login="Aiko@Example.jp",
            display_name="佐藤",
            role="admin",
            region=REGION,
            settings=console_world.settings.console,
        )
    client = console_world.new_client()
    page = client.get(f"/console/invite/{invite.token}")
    assert page.status_code == 200 and "パスワードの設定" in page.text
    weak = client.post(f"/console/invite/{invite.token}", data={"password": "short", "password_again": "short"})
    assert weak.status_code == 422
    done = client.post(f"/console/invite/{invite.token}", data={"password": PASSWORD, "password_again": PASSWORD})
    assert done.status_code == 303 and done.headers["location"].startswith("/console")
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = client.get("/console/regions/15202")
    assert home.status_code == 200 and "長岡市" in home.text
    again = console_world.new_client().post(
        f"/console/invite/{invite.token}", data={"password": PASSWORD, "password_again": PASSWORD}
    )
    assert again.status_code == 410
    assert console_world.sign_in(console_world.new_client(), "aiko@example.jp") == 303


def test_wrong_passwords_lock_the_account(console_world: ConsoleWorld) -> None:
    console_world.account("kenji", "staff", REGION)
    client = console_world.new_client()
    statuses = [console_world.sign_in(client, "kenji", "wrong password!") for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 423]
    assert console_world.sign_in(client, "kenji") == 423  # even the right password, while locked
    with console_world.engine.connect() as conn:
        entries = audit.entries(conn, REGION, action_prefix="sign_in")
    assert [e.outcome for e in entries].count("failed") == 6


def test_unknown_login_looks_like_a_wrong_password(console_world: ConsoleWorld) -> None:
    client = console_world.new_client()
    assert console_world.sign_in(client, "nobody") == 401


def test_one_address_is_slowed_after_many_failures(console_world: ConsoleWorld) -> None:
    client = console_world.new_client()
    limit = console_world.settings.console.client_failures
    statuses = [console_world.sign_in(client, f"nobody{i}") for i in range(limit + 1)]
    assert statuses[:limit] == [401] * limit and statuses[limit] == 429


def test_totp_is_required_once_enrolled(console_world: ConsoleWorld) -> None:
    account_id = console_world.account("mika", "admin", REGION)
    client = console_world.new_client()
    assert console_world.sign_in(client, "mika") == 303
    page = client.get("/console/account")
    begun = client.post("/console/account/totp/begin", data={"csrf_token": csrf_of(page.text)})
    with console_world.engine.connect() as conn:
        secret = conn.execute(
            text("SELECT totp_pending FROM staff_accounts WHERE account_id = :i"), {"i": account_id}
        ).scalar_one()
    confirmed = client.post(
        "/console/account/totp/confirm", data={"csrf_token": csrf_of(begun.text), "code": pyotp.TOTP(secret).now()}
    )
    assert confirmed.status_code == 303
    other = console_world.new_client()
    assert console_world.sign_in(other, "mika") == 401
    assert console_world.sign_in(other, "mika", code=pyotp.TOTP(secret).now()) == 303


def test_forms_without_the_csrf_token_or_from_another_site_are_refused(console_world: ConsoleWorld) -> None:
    console_world.account("ren", "staff", REGION)
    client = console_world.new_client()
    assert console_world.sign_in(client, "ren") == 303
    page = client.get("/console/account")
    assert client.post("/console/logout", data={}).status_code == 403
    assert client.post("/console/logout", data={"csrf_token": "forged"}).status_code == 403
    cross = client.post(
        "/console/logout", data={"csrf_token": csrf_of(page.text)}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert client.get("/console/account").status_code == 200  # still signed in
    out = client.post("/console/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    assert client.get("/console/account").status_code == 303  # to sign-in


def test_sign_out_everywhere_and_disabling_end_every_session(console_world: ConsoleWorld) -> None:
    admin_id = console_world.account("boss", "admin", REGION)
    staff_id = console_world.account("yui", "staff", REGION)
    phone, tablet = console_world.new_client(), console_world.new_client()
    assert console_world.sign_in(phone, "yui") == 303 and console_world.sign_in(tablet, "yui") == 303
    page = phone.get("/console/account")
    phone.post("/console/logout-everywhere", data={"csrf_token": csrf_of(page.text)})
    assert tablet.get("/console/account").status_code == 303
    assert console_world.sign_in(tablet, "yui") == 303
    with write_transaction(console_world.engine) as conn:
        boss = accounts.actor_of(accounts.get_account(conn, admin_id))
        accounts.set_disabled(conn, boss, staff_id, True)
    assert tablet.get("/console/account").status_code == 303
    assert console_world.sign_in(tablet, "yui") == 401


def test_an_expired_session_is_refused(console_world: ConsoleWorld) -> None:
    console_world.account("sora", "viewer", REGION)
    client = console_world.new_client()
    assert console_world.sign_in(client, "sora") == 303
    with write_transaction(console_world.engine) as conn:
        conn.execute(text("UPDATE staff_sessions SET seen_at = seen_at - 3 * 3600"))
    assert client.get("/console/account").status_code == 303


def test_the_next_parameter_cannot_leave_the_console(console_world: ConsoleWorld) -> None:
    console_world.account("taro", "admin", REGION)
    client = console_world.new_client()
    page = client.get("/console/login", params={"next": "https://evil.example/"})
    assert 'value="/console"' in page.text
