"""Every console page and every operator endpoint, walked by who may not use it.

The routes are read from the app itself (a new route is walked without editing this file). For
each one, with region 館山's ids filled in:

- nobody signed in: a console page sends to the sign-in page, a JSON endpoint answers 401;
- 長岡's admin (a console session) and 長岡's operator key: never a 2xx or a redirect into the
  page, and never a byte of 館山's data (its activity's and project's names, and the contact a
  participant asked to show to 館山's staff);
- 館山's viewer: no state-changing request gets through;
- 館山's staff (not admin): nothing on the issuers and staff pages changes.

And, after all of it, nothing changed: the chain's head, 館山's audit entries made by those
actors, pending actions, accounts, labels, project details and notes are as they were.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import text

from ledger.certificate.listings import set_listing
from ledger.certificate.typed import listing_typed_data, sign_typed
from ledger.checkin import presence
from ledger.checkin.activities import ActivityDirectory
from ledger.checkin.codes import CodeMaker, create_batch
from ledger.db.engine import write_transaction
from tests.console.world import DATABASES, NAGAOKA, TATEYAMA, ChainWorld, chain_world

MARK_ACTIVITY = "館山だけの秘密の活動"
MARK_PROJECT = "館山だけの秘密のプロジェクト"
MARK_CONTACT = "館山だけに見せる連絡先"
WRITES = frozenset(("POST", "PUT", "PATCH", "DELETE"))
REFUSED = frozenset((401, 403, 404, 405, 409, 410, 413, 422))
JST = timezone(timedelta(hours=9))


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    with chain_world(tmp_path_factory.mktemp("authorization"), db=request.param) as built:
        now = int(time.time())
        created = httpx.post(
            f"{built.base_url}/api/v1/regions/{TATEYAMA}/activities",
            headers=built.bearer("a"),
            json={
                "name": MARK_ACTIVITY,
                "kind": 41,
                "reward": 10,
                "unit": "hour",  # paid per hour: its check-in (presence) pages are walked too
                "max_units": 8,
                "starts_at": now - 60,
                "ends_at": now + 86_400,
            },
            timeout=60,
        )
        assert created.status_code == 201, created.text
        project = httpx.post(
            f"{built.base_url}/api/v1/regions/{TATEYAMA}/projects",
            headers=built.bearer("a"),
            json={"name": MARK_PROJECT, "description": "", "goal": 100},
            timeout=60,
        )
        assert project.status_code == 201, project.text
        built.index()
        _list_in_tateyama(built)
        _codes_and_a_check_in(built, int(created.json()["activity_id"]))
        yield built


def _list_in_tateyama(world: ChainWorld) -> None:
    """A participant with records in 館山 asks to be listed to its staff with a contact."""
    person, now = world.history.people[1], int(time.time())
    document = listing_typed_data(31337, world.chain.address, person.address, TATEYAMA, MARK_CONTACT, True, now)
    set_listing(
        world.engine,
        chain_id=31337,
        ledger=world.chain.address,
        holder=person.address,
        region=TATEYAMA,
        contact=MARK_CONTACT,
        listed=True,
        issued_at=now,
        signature=sign_typed(document, person.key),
        now=now,
    )


def _codes_and_a_check_in(world: ChainWorld, activity_id: int) -> None:
    """A batch of claim codes and an open check-in at 館山's activity (ids for their routes)."""
    now = time.time()
    activity = ActivityDirectory(world.engine, 31337).get(activity_id)
    with write_transaction(world.engine) as conn:
        create_batch(
            conn,
            CodeMaker(b"k" * 32, 31337, world.chain.address),
            activity_id=activity_id,
            region=TATEYAMA,
            count=2,
            units=1,
            expires_at=int(now) + 3600,
            label="x",
            created_by="test",
            now_ms=int(now * 1000),
        )
        presence.scan(conn, activity, world.history.people[2].address.lower(), "0x" + "ab" * 32, presence.ARRIVE, now)


def _ids(world: ChainWorld) -> dict[str, str]:
    """Real ids of region 館山 for every path parameter the console and operator routes use."""
    with world.engine.connect() as conn:
        activity = conn.execute(
            text("SELECT MAX(activity_id) FROM activities WHERE region = :r"), {"r": TATEYAMA}
        ).scalar_one()
        project = conn.execute(
            text("SELECT MAX(project_id) FROM projects WHERE region = :r"), {"r": TATEYAMA}
        ).scalar_one()
        account = conn.execute(
            text("SELECT MIN(account_id) FROM staff_accounts WHERE region = :r"), {"r": TATEYAMA}
        ).scalar_one()
        batch = conn.execute(
            text("SELECT MAX(batch_id) FROM claim_code_batches WHERE region = :r"), {"r": TATEYAMA}
        ).scalar_one()
        session = conn.execute(
            text("SELECT MAX(session_id) FROM presence_sessions WHERE region = :r"), {"r": TATEYAMA}
        ).scalar_one()
    issuer = world.chain.issuers(TATEYAMA)[0]
    return {
        "code": f"{TATEYAMA:05d}",
        "region": str(TATEYAMA),
        "activity_id": str(activity),
        "project_id": str(project),
        "account_id": str(account),
        "address": issuer,
        "month": datetime.now(JST).strftime("%Y-%m"),
        "action_id": "1",
        "batch_id": str(batch),
        "session_id": str(session),
        "token": "x" * 43,
    }


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, through the routers the app includes (none of ours adds a prefix there)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes)


def _routes(world: ChainWorld) -> list[tuple[str, str]]:
    """(method, path template) of every console page of a region and every operator endpoint."""
    found = []
    for route in _api_routes(world.app.routes):
        console = route.path.startswith(("/console/regions/{code}", "/console/platform"))
        if not console and ("operator" not in route.tags or not route.path.startswith("/api/")):
            continue
        found += [(method, route.path) for method in sorted((route.methods or set()) - {"HEAD"})]
    assert len(found) > 60, f"only {len(found)} routes: did the console routers move?"
    return found


def _fill(path: str, ids: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in ids, f"add an id for {{{name}}} ({path})"
        return ids[name]

    return re.sub(r"\{(\w+)\}", value, path)


# A plausible body for every form and JSON write: the refusal must come from who is asking, not
# from a missing field (a field that does not apply is ignored by forms; JSON may answer 422).
FORM = {
    "name": "x",
    "description": "x",
    "venue": "x",
    "kind": "41",
    "reward": "1",
    "unit": "record",
    "max_units": "1",
    "capacity": "0",
    "goal": "1",
    "reason": "1",
    "note": "x",
    "designated": "1",
    "units": "1",
    "login": "intruder@example.jp",
    "display_name": "x",
    "role": "staff",
    "label": "x",
    "disabled": "1",
    "region": str(TATEYAMA),
    "starts_at": "2030-01-01T10:00",
    "ends_at": "2030-01-01T16:00",
}


def _request(client: httpx.Client, method: str, url: str, csrf: str | None, console: bool) -> httpx.Response:
    if method not in WRITES:
        return client.request(method, url)
    if console:
        form = dict(FORM, participant="0x" + "11" * 20, address="0x" + "22" * 20)
        if csrf:
            form["csrf_token"] = csrf
        return client.request(method, url, data=form)
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    body: dict[str, Any] = {
        "name": "x",
        "label": "x",
        "role": "staff",
        "login": "intruder@example.jp",
        "display_name": "x",
        "address": "0x" + "22" * 20,
        "participant": "0x" + "11" * 20,
        "reason": 1,
        "note": "x",
        "designated": True,
        "goal": 1,
    }
    return client.request(method, url, json=body, headers=headers)


def _state(world: ChainWorld) -> tuple[object, ...]:
    with world.engine.connect() as conn:
        counts = tuple(
            conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            for table in (
                "pending_actions",
                "staff_accounts",
                "staff_invites",
                "issuer_labels",
                "project_details",
                "revocation_notes",
                "activity_metadata",
                "eligibility_listings",
            )
        )
        ok_by_outsiders = conn.execute(
            text(
                "SELECT COUNT(*) FROM staff_audit WHERE outcome = 'ok' AND action NOT IN ('sign_in', 'sign_out') "
                "AND actor_label IN ('Nagaoka-Admin', 'Tateyama-Viewer', 'Tateyama-Staff', '長岡 key')"
            )
        ).scalar_one()
    return (world.chain.w3.eth.block_number, counts, ok_by_outsiders)


def _leaks(response: httpx.Response) -> bool:
    return any(mark in response.text for mark in (MARK_ACTIVITY, MARK_PROJECT, MARK_CONTACT))


def test_another_regions_admin_and_key_see_and_change_nothing(world: ChainWorld) -> None:
    ids = _ids(world)
    outsider = world.admin("nagaoka-admin", NAGAOKA)
    csrf = world.csrf(outsider)
    key = httpx.Client(base_url=world.base_url, headers=world.bearer("b"), timeout=60)
    world.clients.append(key)
    before = _state(world)
    problems = []
    for method, template in _routes(world):
        url = _fill(template, ids)
        console = template.startswith("/console")
        answer = _request(outsider, method, url, csrf, console)
        if answer.status_code not in REFUSED or _leaks(answer):
            problems.append(f"session {method} {url}: {answer.status_code} {answer.text[:120]!r}")
        if not console:
            answer = _request(key, method, url, None, False)
            if answer.status_code not in REFUSED or _leaks(answer):
                problems.append(f"key {method} {url}: {answer.status_code} {answer.text[:120]!r}")
    assert not problems, "\n".join(problems)
    assert _state(world) == before


def test_nobody_signed_in_is_sent_to_sign_in_or_refused(world: ChainWorld) -> None:
    ids = _ids(world)
    anonymous = world.new_client()
    problems = []
    for method, template in _routes(world):
        url = _fill(template, ids)
        answer = _request(anonymous, method, url, None, template.startswith("/console"))
        if template.startswith("/console"):
            if method == "GET":
                ok = answer.status_code == 303 and answer.headers["location"].startswith("/console/login")
            else:
                ok = (answer.status_code in (303, 401, 403) and "location" not in answer.headers) or (
                    answer.headers.get("location", "").startswith("/console/login")
                )
        else:
            ok = answer.status_code == 401
        if not ok or _leaks(answer):
            problems.append(f"{method} {url}: {answer.status_code}")
    assert not problems, "\n".join(problems)


def test_a_viewer_changes_nothing_and_staff_do_not_manage_issuers_or_staff(world: ChainWorld) -> None:
    ids = _ids(world)
    viewer = world.admin("tateyama-viewer", TATEYAMA, "viewer")
    staff = world.admin("tateyama-staff", TATEYAMA, "staff")
    before = _state(world)
    problems = []
    for method, template in _routes(world):
        if method not in WRITES:
            continue
        url = _fill(template, ids)
        console = template.startswith("/console")
        answer = _request(viewer, method, url, world.csrf(viewer), console)
        if answer.status_code not in REFUSED:
            problems.append(f"viewer {method} {url}: {answer.status_code}")
        if "/issuers" in template or "/staff" in template or "/platform" in template:
            answer = _request(staff, method, url, world.csrf(staff), console)
            if answer.status_code not in REFUSED:
                problems.append(f"staff {method} {url}: {answer.status_code}")
    assert not problems, "\n".join(problems)
    assert _state(world) == before


def test_the_walk_covers_every_area(world: ChainWorld) -> None:
    paths = {path for _, path in _routes(world)}
    areas = ("activities", "projects", "issuers", "staff", "audit", "reports", "checkins", "kiosk", "revoke")
    for area in (*areas, "eligibility"):
        assert any(area in p for p in paths), f"no route of {area} was walked"


def test_ids_name_real_rows(world: ChainWorld, tmp_path: Path) -> None:
    ids = _ids(world)
    assert all(v not in ("None", "") for v in ids.values()), ids
