"""The region admin's console pages over real HTTP, SQLite and a py-evm chain: issuers (grant with
a label, rename, revoke) and staff accounts (invite, sign in, roles, disable), region isolation,
roles, CSRF and escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from eth_account import Account
from sqlalchemy import text

from ledger.chain.accounts import dev_account
from ledger.console import issuers as issuer_ops
from ledger.staff import audit
from ledger.staff.roles import Actor
from tests.console.conftest import PASSWORD, csrf_of
from tests.console.world import NAGAOKA, TATEYAMA, A, B, ChainWorld, chain_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    with chain_world(tmp_path_factory.mktemp("admin")) as found:
        yield found


def _issuer_rows(html: str) -> list[str]:
    return re.findall(r'data-issuer="(0x[0-9a-fA-F]{40})"', html)


def test_an_issuer_is_granted_with_a_label_renamed_and_revoked(world: ChainWorld) -> None:
    admin = world.admin("kaito")
    page = admin.get(f"{A}/issuers")
    assert page.status_code == 200
    relayer = dev_account(1).address
    assert _issuer_rows(page.text) == [relayer]
    assert "発行した記録" in page.text and ">3<" in page.text  # the relayer's batch of three records
    csrf = csrf_of(page.text)

    bad = admin.post(f"{A}/issuers", data={"csrf_token": csrf, "address": "0x1234", "label": "x"})
    assert bad.status_code == 422 and "アドレスの形式が正しくありません" in bad.text
    address = Account.create().address
    typo = address[:-1] + ("a" if address[-1] != "a" else "b")
    mixed = typo if typo != typo.lower() else typo.upper()
    assert admin.post(f"{A}/issuers", data={"csrf_token": csrf, "address": mixed}).status_code == 422

    label = "<script>alert(1)</script>受付タブレット"
    granted = admin.post(f"{A}/issuers", data={"csrf_token": csrf, "address": address.lower(), "label": label})
    assert granted.status_code == 303 and granted.headers["location"].endswith("done=issuer_granted")
    listing = admin.get(f"{A}/issuers").text
    assert sorted(_issuer_rows(listing)) == sorted([relayer, address])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;受付タブレット" in listing and "<script>alert(1)" not in listing
    assert world.chain.is_issuer(TATEYAMA, address)

    renamed = admin.post(f"{A}/issuers/{address}/label", data={"csrf_token": csrf, "label": "受付タブレット2"})
    assert renamed.status_code == 303
    world.index()
    data = admin.get(f"/api/v1/regions/{TATEYAMA}/issuers").json()
    assert data["source"] == "chain"
    assert {i["address"]: i["label"] for i in data["issuers"]} == {relayer: "", address: "受付タブレット2"}

    revoked = admin.post(f"{A}/issuers/{address}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303 and revoked.headers["location"].endswith("done=issuer_revoked")
    assert _issuer_rows(admin.get(f"{A}/issuers").text) == [relayer]
    assert not world.chain.is_issuer(TATEYAMA, address)

    # With the node away, the list comes from the index (here: after indexing the revocation).
    world.index()
    with world.engine.connect() as conn:
        found, source = issuer_ops.list_issuers(conn, Actor.cli(), TATEYAMA, None)
        entries = audit.entries(conn, TATEYAMA, action_prefix="issuer.")
    assert source == "index" and [i.address for i in found] == [relayer] and found[0].records == 3
    assert [(e.action, e.outcome) for e in reversed(entries)] == [
        ("issuer.grant", "ok"),
        ("issuer.label", "ok"),
        ("issuer.revoke", "ok"),
    ]

    # The JSON endpoints do the same with an operator key.
    with httpx.Client(base_url=world.base_url, headers=world.bearer("a")) as api:
        other = Account.create().address
        made = api.post(f"/api/v1/regions/{TATEYAMA}/issuers", json={"address": other, "label": "API"})
        assert made.status_code == 201 and made.json()["issuer"] == other
        assert api.patch(f"/api/v1/regions/{TATEYAMA}/issuers/{other}", json={"label": "API 2"}).status_code == 200
        assert api.post(f"/api/v1/regions/{TATEYAMA}/issuers", json={"address": "nope"}).status_code == 422
        assert api.delete(f"/api/v1/regions/{TATEYAMA}/issuers/{other}").status_code == 200
        listed = api.get(f"/api/v1/regions/{TATEYAMA}/issuers").json()["issuers"]
        assert [i["address"] for i in listed] == [relayer]


def test_staff_are_invited_kept_out_of_admin_pages_and_disabled(world: ChainWorld) -> None:
    admin = world.admin("riku")
    page = admin.get(f"{A}/staff")
    assert page.status_code == 200 and "地域管理者" in page.text
    csrf = csrf_of(page.text)
    invited = admin.post(
        f"{A}/staff",
        data={"csrf_token": csrf, "login": "Ren@example.jp", "display_name": "<b>蓮</b>", "role": "staff"},
    )
    assert invited.status_code == 200
    link = re.search(r'id="invite-link" value="([^"]+)"|value="([^"]+)"[^>]*id="invite-link"', invited.text)
    assert link, invited.text
    url = link.group(1) or link.group(2)
    assert url.startswith(world.base_url + "/console/invite/")
    assert "&lt;b&gt;蓮&lt;/b&gt;" in invited.text and "<b>蓮</b>" not in invited.text
    assert "招待中" in invited.text
    taken = admin.post(
        f"{A}/staff", data={"csrf_token": csrf, "login": "ren@example.jp", "display_name": "x", "role": "staff"}
    )
    assert taken.status_code == 409 and "すでに使われています" in taken.text

    staff = world.new_client()
    token = url.rsplit("/", 1)[1]
    accepted = staff.post(f"/console/invite/{token}", data={"password": PASSWORD, "password_again": PASSWORD})
    assert accepted.status_code == 303
    assert staff.get(f"{A}/projects").status_code == 200
    assert staff.get(f"{A}/issuers").status_code == 403
    assert staff.get(f"{A}/staff").status_code == 403
    staff_csrf = csrf_of(staff.get(f"{A}/projects").text)
    headers = world.json(staff)
    assert staff.get(f"/api/v1/regions/{TATEYAMA}/issuers").status_code == 200  # others read
    assert (
        staff.post(
            f"/api/v1/regions/{TATEYAMA}/issuers", json={"address": Account.create().address}, headers=headers
        ).status_code
        == 403
    )
    assert staff.get(f"/api/v1/regions/{TATEYAMA}/staff").status_code == 403
    spy = {"csrf_token": staff_csrf, "login": "zzz", "display_name": "z", "role": "admin"}
    assert staff.post(f"{A}/staff", data=spy).status_code == 403

    listing = admin.get(f"{A}/staff").text
    assert "有効" in listing and "スタッフ" in listing
    with world.engine.connect() as conn:
        ren_id, admin_id = (
            int(conn.execute(text("SELECT account_id FROM staff_accounts WHERE login = :l"), {"l": login}).scalar_one())
            for login in ("ren@example.jp", "riku")
        )
    role = admin.post(f"{A}/staff/{ren_id}/role", data={"csrf_token": csrf, "role": "viewer"})
    assert role.status_code == 303
    me = admin.post(f"{A}/staff/{admin_id}/role", data={"csrf_token": csrf, "role": "viewer"})
    assert me.status_code == 403 and "自分の役割の変更" in me.text
    assert admin.post(f"{A}/staff/{admin_id}/disable", data={"csrf_token": csrf}).status_code == 403
    json_headers = world.json(admin)
    assert admin.patch(f"/api/v1/staff/{admin_id}", json={"role": "staff"}, headers=json_headers).status_code == 403

    disabled = admin.post(f"{A}/staff/{ren_id}/disable", data={"csrf_token": csrf})
    assert disabled.status_code == 303 and disabled.headers["location"].endswith("done=staff_disabled")
    gone = staff.get(f"{A}/projects")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/console/login")
    assert "無効" in admin.get(f"{A}/staff").text
    assert admin.post(f"{A}/staff/{ren_id}/enable", data={"csrf_token": csrf}).status_code == 303

    # A new invite link (forgotten password), through the JSON endpoint.
    again = admin.post(f"/api/v1/staff/{ren_id}/invite", headers=json_headers)
    assert again.status_code == 200 and "/console/invite/" in again.json()["invite_url"]
    patched = admin.patch(f"/api/v1/staff/{ren_id}", json={"role": "staff", "disabled": True}, headers=json_headers)
    assert patched.status_code == 200 and (patched.json()["role"], patched.json()["status"]) == ("staff", "disabled")
    listed = admin.get(f"/api/v1/regions/{TATEYAMA}/staff").json()
    assert {a["login"] for a in listed} >= {"riku", "ren@example.jp"}
    with world.engine.connect() as conn:
        actions = {e.action for e in audit.entries(conn, TATEYAMA, action_prefix="staff.")}
    assert {"staff.create", "staff.role", "staff.disable", "staff.enable", "staff.invite"} <= actions


def test_another_region_viewers_and_missing_csrf_are_refused(world: ChainWorld) -> None:
    admin_a = world.admin("mei")
    viewer_id = world.account("mitsu", "viewer", TATEYAMA)
    admin_b = world.admin("yuto", NAGAOKA)
    csrf_b = csrf_of(admin_b.get(B).text)
    relayer = dev_account(1).address
    for path in ("/issuers", "/staff"):
        assert admin_b.get(f"{A}{path}").status_code == 403
    posts = {
        "/issuers": {"address": Account.create().address, "label": "x"},
        f"/issuers/{relayer}/label": {"label": "x"},
        f"/issuers/{relayer}/revoke": {},
        "/staff": {"login": "spy", "display_name": "spy", "role": "admin"},
        f"/staff/{viewer_id}/role": {"role": "admin"},
        f"/staff/{viewer_id}/invite": {},
        f"/staff/{viewer_id}/disable": {},
        f"/staff/{viewer_id}/enable": {},
    }
    for path, form in posts.items():
        assert admin_b.post(f"{A}{path}", data={"csrf_token": csrf_b, **form}).status_code == 403, path
    # A's account under B's URL: not found, nothing shown.
    assert admin_b.post(f"{B}/staff/{viewer_id}/disable", data={"csrf_token": csrf_b}).status_code == 404

    headers = world.json(admin_b)
    assert admin_b.get(f"/api/v1/regions/{TATEYAMA}/issuers").status_code == 403
    assert (
        admin_b.post(f"/api/v1/regions/{TATEYAMA}/issuers", json={"address": relayer}, headers=headers).status_code
        == 403
    )
    assert (
        admin_b.patch(f"/api/v1/regions/{TATEYAMA}/issuers/{relayer}", json={"label": "x"}, headers=headers).status_code
        == 403
    )
    assert admin_b.delete(f"/api/v1/regions/{TATEYAMA}/issuers/{relayer}", headers=headers).status_code == 403
    assert admin_b.get(f"/api/v1/regions/{TATEYAMA}/staff").status_code == 403
    spy = {"login": "spy", "display_name": "s", "role": "staff"}
    assert admin_b.post(f"/api/v1/regions/{TATEYAMA}/staff", json=spy, headers=headers).status_code == 403
    assert admin_b.patch(f"/api/v1/staff/{viewer_id}", json={"disabled": True}, headers=headers).status_code == 403
    assert admin_b.post(f"/api/v1/staff/{viewer_id}/invite", headers=headers).status_code == 403
    with httpx.Client(base_url=world.base_url, headers=world.bearer("b")) as key_b:
        assert key_b.get(f"/api/v1/regions/{TATEYAMA}/issuers").status_code == 403
        assert key_b.patch(f"/api/v1/staff/{viewer_id}", json={"disabled": True}).status_code == 403

    # A viewer of the region: every POST refused.
    viewer = world.signed_in("mitsu")
    csrf_v = csrf_of(viewer.get(A).text)
    assert viewer.get(f"{A}/issuers").status_code == 403
    for path, form in posts.items():
        assert viewer.post(f"{A}{path}", data={"csrf_token": csrf_v, **form}).status_code == 403, path

    # The region's admin without the CSRF token: refused, and nothing changed.
    assert admin_a.post(f"{A}/staff/{viewer_id}/disable", data={}).status_code == 403
    assert admin_a.post(f"{A}/issuers", data={"address": Account.create().address}).status_code == 403
    assert admin_a.patch(f"/api/v1/staff/{viewer_id}", json={"disabled": True}).status_code == 403
    assert viewer.get(A).status_code == 200
