"""Single-use claim codes and check-in / check-out over real HTTP: the served app on a real anvil
and a real SQLite file (tests/checkin/presence_world.py), its check-in clock moved by the test.

Every bad input is its own error code with its HTTP status; nothing is recorded twice (one claim
per person and activity in the outbox, whatever is replayed) and nothing partially (a code stays
``issued`` when its claim is refused). Also the code entry page ``/c``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from sqlalchemy import text

from api.routes.pages import CONTENT_SECURITY_POLICY
from ledger.checkin import codes
from ledger.checkin.intake import RateLimiter
from ledger.db.engine import write_transaction
from tests.checkin.presence_world import DAY, CodesWorld, codes_world, signed_body

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodesWorld]:
    with codes_world(tmp_path_factory.mktemp("codes-api")) as built:
        yield built


@pytest.fixture
def http(world: CodesWorld) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.base_url, timeout=30, follow_redirects=False) as client:
        yield client
    world.clock.offset_s = 0.0  # every test starts on the wall clock


def error_of(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, str(answer.json()["error"]["code"])


def claim(
    http: httpx.Client, world: CodesWorld, person: Any, token: str, activity: str, **extra: Any
) -> httpx.Response:
    return http.post("/api/v1/claims", json=signed_body(world, person, token, world.activities[activity], **extra))


def unknown_code(world: CodesWorld) -> str:
    """A code of the right shape and check character that this deployment never issued."""
    stranger = codes.CodeMaker(secrets.token_bytes(32), 31337, world.deployment.ledger)
    return stranger.derive(secrets.token_hex(16), 1)


def mistype(code: str) -> str:
    """``code`` with its check character changed."""
    last = codes.ALPHABET[(codes.ALPHABET.index(code[-1]) + 1) % len(codes.ALPHABET)]
    return code[:-1] + last


# -- single-use codes ------------------------------------------------------------------------------


def test_a_code_works_once_and_is_shown_before_signing(world: CodesWorld, http: httpx.Client) -> None:
    _, (first, second, _) = world.code_batch("furusato")
    loose = first.display.lower()  # as typed from the letter: lower case with hyphens
    context = http.get(f"/api/v1/checkin/{loose}")
    assert context.status_code == 200, context.text
    body = context.json()
    assert body["kind"] == "code" and body["token"] == first.code  # the canonical code is what is signed
    assert body["code"] == {"expires_at": first.expires_at, "used": False, "display": first.display}
    assert body["activity"]["id"] == world.activities["furusato"]

    person, other = Account.create(), Account.create()
    accepted = claim(http, world, person, first.code, "furusato")
    assert accepted.status_code == 202, accepted.text
    claim_id = accepted.json()["claim_id"]
    assert world.code_state(first.code) == "redeemed"
    assert http.get(f"/api/v1/checkin/{first.code}").json()["code"]["used"] is True

    # someone else with the same code: code_used, and nothing recorded for them
    assert error_of(claim(http, world, other, first.code, "furusato")) == (409, "code_used")
    assert world.claims_of(other.address) == []
    # the same person again (a new signature): their claim, not a second one
    again = claim(
        http, world, person, first.code, "furusato", requested_at=accepted.json()["accepted_at_ms"] // 1000 + 5
    )
    assert error_of(again) == (409, "already_claimed") and again.json()["error"]["claim_id"] == claim_id
    # a second code of the same activity for the same person: already claimed, and that code stays unused
    second_try = claim(http, world, person, second.code, "furusato")
    assert error_of(second_try) == (409, "already_claimed") and second_try.json()["error"]["claim_id"] == claim_id
    assert world.code_state(second.code) == "issued"
    assert [(c[0], c[2]) for c in world.claims_of(person.address)] == [(claim_id, 1)]
    # the code signed as typed (not canonical) is refused: the page must sign the canonical form
    assert error_of(claim(http, world, other, second.display, "furusato"))[1] == "token_malformed"
    assert world.code_state(second.code) == "issued"


def test_expired_voided_guessed_and_mistyped_codes(world: CodesWorld, http: httpx.Client) -> None:
    person = Account.create()
    _, (short_lived,) = world.code_batch("furusato2", 1, expires_in_s=3600)
    batch, (voided, also_voided) = world.code_batch("furusato2", 2)
    with write_transaction(world.engine) as conn:
        assert codes.void_batch(conn, batch.batch_id, by="test", now_ms=int(time.time() * 1000)) == 2

    world.clock.offset_s = 2 * 3600  # the letter sat on the table for two hours too long
    assert error_of(http.get(f"/api/v1/checkin/{short_lived.code}")) == (410, "code_expired")
    assert error_of(claim(http, world, person, short_lived.code, "furusato2")) == (410, "code_expired")
    assert world.code_state(short_lived.code) == "issued"
    world.clock.offset_s = 0

    assert error_of(http.get(f"/api/v1/checkin/{voided.display}")) == (410, "code_voided")
    assert error_of(claim(http, world, person, also_voided.code, "furusato2")) == (410, "code_voided")
    guessed = unknown_code(world)
    assert error_of(http.get(f"/api/v1/checkin/{guessed}")) == (404, "code_unknown")
    assert error_of(claim(http, world, person, guessed, "furusato2")) == (404, "code_unknown")
    _, (good,) = world.code_batch("furusato2", 1)
    assert error_of(http.get(f"/api/v1/checkin/{mistype(good.code)}")) == (400, "code_mistyped")
    assert error_of(claim(http, world, person, mistype(good.code), "furusato2")) == (400, "code_mistyped")
    assert world.claims_of(person.address) == []
    assert world.code_state(good.code) == "issued"


def test_guessing_codes_is_rate_limited(world: CodesWorld, http: httpx.Client) -> None:
    intake = world.service.intake
    saved = intake.code_limiter
    intake.code_limiter = RateLimiter(3)  # three wrong codes a minute from one address
    try:
        _, (good,) = world.code_batch("furusato2", 1)
        for _ in range(3):
            assert error_of(http.get(f"/api/v1/checkin/{unknown_code(world)}")) == (404, "code_unknown")
        limited = http.get(f"/api/v1/checkin/{unknown_code(world)}")
        assert error_of(limited) == (429, "rate_limited")
        assert float(limited.headers["Retry-After"]) > 0
        # while it waits, even a right code is not looked up from that address (no oracle)
        assert error_of(http.get(f"/api/v1/checkin/{good.code}")) == (429, "rate_limited")
        person = Account.create()
        assert error_of(claim(http, world, person, good.code, "furusato2")) == (429, "rate_limited")
        assert world.code_state(good.code) == "issued"
    finally:
        intake.code_limiter = saved


def test_a_code_posted_for_another_activity(world: CodesWorld, http: httpx.Client) -> None:
    _, (nagaoka,) = world.code_batch("nagaoka_online", 1)
    person = Account.create()
    body = signed_body(world, person, nagaoka.code, world.activities["nagaoka_online"])
    body["activity_id"] = world.activities["furusato"]  # the page of 館山's activity, a code of 長岡's
    assert error_of(http.post("/api/v1/claims", json=body))[1] == "token_wrong_activity"
    signed_for_other = signed_body(world, person, nagaoka.code, world.activities["furusato"])
    assert error_of(http.post("/api/v1/claims", json=signed_for_other))[1] == "token_wrong_activity"
    assert world.code_state(nagaoka.code) == "issued"
    assert world.claims_of(person.address) == []


# -- check-in and check-out ------------------------------------------------------------------------


def test_hours_of_help_from_arrival_to_departure(world: CodesWorld, http: httpx.Client) -> None:
    person = Account.create()
    world.clock.offset_s = -3 * 3600 - 600  # arrives 3 h 10 min ago
    token = world.presence_token("volunteer")
    context = http.get(f"/api/v1/checkin/{token}", params={"participant": person.address}).json()
    assert context["kind"] == "presence" and context["presence"] == {"next": "arrive", "session": None}
    assert context["activity"]["unit"] == "hour" and context["activity"]["units"] == 0
    arrived = claim(http, world, person, token, "volunteer", intent="arrive")
    assert arrived.status_code == 202, arrived.text
    assert arrived.json()["status"] == "arrived" and arrived.json()["claim_id"] is None
    # arriving twice is refused; the kiosk counts one person present
    twice = claim(
        http,
        world,
        person,
        token,
        "volunteer",
        intent="arrive",
        requested_at=arrived.json()["accepted_at_ms"] // 1000 + 1,
    )
    assert error_of(twice) == (409, "already_checked_in")

    world.clock.offset_s = 0
    token = world.presence_token("volunteer")
    context = http.get(f"/api/v1/checkin/{token}", params={"participant": person.address}).json()
    assert context["presence"]["next"] == "depart" and context["presence"]["session"]["state"] == "open"
    body = signed_body(world, person, token, world.activities["volunteer"], intent="depart")
    departed = http.post("/api/v1/claims", json=body)
    assert departed.status_code == 202, departed.text
    answer = departed.json()
    assert answer["status"] == "accepted" and answer["units"] == 3 and answer["claim_id"]
    assert answer["status_url"] == f"/api/v1/claims/{answer['claim_id']}"
    # the same signed departure again (a lost answer): the same claim, never a second one
    replay = http.post("/api/v1/claims", json=body)
    assert replay.status_code == 202 and replay.json()["claim_id"] == answer["claim_id"]
    assert [(c[2], c[3]) for c in world.claims_of(person.address)] == [(3, "accepted")]
    # a new arrival after the recorded departure: already claimed (one record per activity)
    later = body["requested_at"] + 2  # another scan (the same second would be the same request)
    again = claim(
        http, world, person, world.presence_token("volunteer"), "volunteer", intent="arrive", requested_at=later
    )
    assert again.status_code == 409, again.text
    assert error_of(again)[1] == "already_claimed" and again.json()["error"]["claim_id"] == answer["claim_id"]
    assert len(world.claims_of(person.address)) == 1


def test_a_short_visit_records_nothing(world: CodesWorld, http: httpx.Client) -> None:
    person = Account.create()
    world.clock.offset_s = -20 * 60
    assert claim(http, world, person, world.presence_token("volunteer"), "volunteer").json()["status"] == "arrived"
    world.clock.offset_s = 0
    short = claim(http, world, person, world.presence_token("volunteer"), "volunteer", intent="depart")
    assert short.status_code == 202 and short.json()["status"] == "too_short" and short.json()["claim_id"] is None
    assert world.claims_of(person.address) == []


def test_checkout_without_checkin_and_after_expiry(world: CodesWorld, http: httpx.Client) -> None:
    person, late = Account.create(), Account.create()
    assert error_of(claim(http, world, person, world.presence_token("volunteer"), "volunteer", intent="depart")) == (
        409,
        "not_checked_in",
    )
    world.clock.offset_s = -11 * 3600  # the default rule closes a check-in after 8 + 2 hours
    assert claim(http, world, late, world.presence_token("volunteer"), "volunteer").json()["status"] == "arrived"
    world.clock.offset_s = 0
    token = world.presence_token("volunteer")
    context = http.get(f"/api/v1/checkin/{token}", params={"participant": late.address}).json()
    assert context["presence"]["session"]["state"] == "expired" and context["presence"]["next"] == "arrive"
    assert error_of(claim(http, world, late, token, "volunteer", intent="depart")) == (410, "checkin_expired")
    assert world.claims_of(person.address) == [] and world.claims_of(late.address) == []


def test_stays_do_not_overlap(world: CodesWorld, http: httpx.Client) -> None:
    person = Account.create()
    world.clock.offset_s = -4 * DAY
    assert claim(http, world, person, world.presence_token("stay"), "stay").json()["status"] == "arrived"
    world.clock.offset_s = -2 * DAY
    elsewhere = claim(http, world, person, world.presence_token("stay_nagaoka"), "stay_nagaoka", intent="arrive")
    assert error_of(elsewhere) == (409, "overlapping_stay")
    world.clock.offset_s = 0
    left = claim(http, world, person, world.presence_token("stay"), "stay", intent="depart")
    assert left.status_code == 202 and left.json()["units"] == 5  # arrival day D-4 to departure day D
    with world.engine.connect() as conn:
        sessions = conn.execute(
            text("SELECT activity_id, state, units FROM presence_sessions WHERE participant = :p"),
            {"p": person.address.lower()},
        ).all()
    assert [tuple(s) for s in sessions] == [(world.activities["stay"], "recorded", 5)]
    assert [(c[1], c[2]) for c in world.claims_of(person.address)] == [(world.activities["stay"], 5)]


# -- the code entry page ---------------------------------------------------------------------------


def test_the_code_entry_page(world: CodesWorld, http: httpx.Client) -> None:
    form = http.get("/c")
    assert form.status_code == 200 and form.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert '<form id="code-form" method="get" action="/c"' in form.text
    field = re.search(r"<input id=\"code-input\"[^>]*>", form.text, re.S)
    assert field is not None
    for attribute in ('autocapitalize="characters"', 'autocomplete="off"', 'placeholder="XXXX-XXXX-XXXX-XXXX"'):
        assert attribute in field.group(0)
    assert '<label for="code-input">' in form.text and "コードを使う" in form.text
    assert "<script>" not in form.text and "style=" not in form.text

    _, (code,) = world.code_batch("furusato2", 1)
    typed = f" {code.display.lower()} "
    moved = http.get("/c", params={"code": typed})
    assert moved.status_code == 303 and moved.headers["location"] == f"/c/{code.code}"
    wrong = http.get("/c", params={"code": mistype(code.code)})
    assert (
        wrong.status_code == 200 and 'data-error="code_mistyped"' in wrong.text and 'aria-invalid="true"' in wrong.text
    )
    assert mistype(code.code) in wrong.text  # what was typed stays in the field
    short = http.get("/c", params={"code": "ABCD-1234"})
    assert 'data-error="code_malformed"' in short.text
    english = http.get("/c", params={"lang": "en"})
    assert "Use this code" in english.text
    page = http.get(f"/c/{code.display.lower()}")  # the claim page itself takes the loose form
    assert page.status_code == 200 and f'data-token="{code.display.lower()}"' in page.text
    assert world.code_state(code.code) == "issued"  # looking is not claiming
