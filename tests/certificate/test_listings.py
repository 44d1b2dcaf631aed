"""A participant's opt-in to be listed to a municipality's staff, over real HTTP (the app served by
uvicorn on a py-evm chain's index, SQLite and PostgreSQL): the typed data comes from the API, the
participant's key signs it (eth-account, as the page's ethers does), the API checks it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from sqlalchemy import text

from ledger.certificate.listings import REQUEST_WINDOW_S, set_listing
from ledger.certificate.typed import listing_typed_data, sign_typed
from tests.console.world import DATABASES, NAGAOKA, TATEYAMA, ChainWorld, chain_world

CONTACT = "山田 花子 hanako@example.jp"


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    with chain_world(tmp_path_factory.mktemp("listings"), db=request.param) as built:
        yield built


@pytest.fixture
def http(world: ChainWorld) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.base_url, timeout=30) as client:
        yield client


def _url(person: LocalAccount | str) -> str:
    address = person if isinstance(person, str) else person.address
    return f"/api/v1/people/{address}/listings"


def _typed(http: httpx.Client, person: LocalAccount, contact: str, listed: bool = True, region: int = TATEYAMA) -> Any:
    answer = http.get(
        _url(person) + "/typed-data",
        params={"region": region, "contact": contact, "listed": str(listed).lower()},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _body(document: dict[str, Any], key: LocalAccount) -> dict[str, Any]:
    message = document["message"]
    return {
        "region": message["region"],
        "contact": message["contact"],
        "listed": message["listed"],
        "issued_at": message["issuedAt"],
        "signature": sign_typed(document, key.key),
    }


def _stored(world: ChainWorld, person: LocalAccount) -> list[tuple[Any, ...]]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT region, contact, issued_at FROM eligibility_listings WHERE participant = :p ORDER BY region"),
            {"p": person.address.lower()},
        ).all()
    return [tuple(r) for r in rows]


def _document_at(world: ChainWorld, person: LocalAccount, contact: str, listed: bool, issued_at: int) -> Any:
    return listing_typed_data(31337, world.chain.address, person.address, TATEYAMA, contact, listed, issued_at)


def test_opt_in_with_a_real_signature_and_the_list_shows_no_contact(world: ChainWorld, http: httpx.Client) -> None:
    person = world.history.people[0]
    document = _typed(http, person, f"  {CONTACT}\u3000")  # trimmed before it is signed
    assert document["primaryType"] == "EligibilityListing"
    assert document["domain"]["chainId"] == 31337 and document["domain"]["verifyingContract"] == world.chain.address
    assert document["message"]["contact"] == CONTACT and abs(document["message"]["issuedAt"] - time.time()) < 60
    answer = http.post(_url(person), json=_body(document, person))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"region": TATEYAMA, "code": f"{TATEYAMA:05d}", "listed": True}
    assert [(r, c) for r, c, _ in _stored(world, person)] == [(TATEYAMA, CONTACT)]

    listed = http.get(_url(person))
    assert listed.status_code == 200
    assert listed.json() == {"listings": [{"region": TATEYAMA, "code": f"{TATEYAMA:05d}", "listed": True}]}
    assert "hanako" not in listed.text and "山田" not in listed.text
    assert http.get(_url(person.address.lower())).json() == listed.json()  # any spelling of the address
    assert http.get(_url(world.history.people[1])).json() == {"listings": []}


def test_a_replayed_or_older_request_is_refused(world: ChainWorld, http: httpx.Client) -> None:
    person = world.history.people[1]
    document = _typed(http, person, "090-1234-5678")
    body = _body(document, person)
    assert http.post(_url(person), json=body).status_code == 200
    replay = http.post(_url(person), json=body)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "replayed_request"
    older = _document_at(world, person, "someone else's number", True, body["issued_at"] - 5)
    refused = http.post(_url(person), json=_body(older, person))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "replayed_request"
    assert [c for _, c, _ in _stored(world, person)] == ["090-1234-5678"]
    newer = _document_at(world, person, "090-9999-0000", True, body["issued_at"] + 1)  # a changed contact
    assert http.post(_url(person), json=_body(newer, person)).status_code == 200
    assert [c for _, c, _ in _stored(world, person)] == ["090-9999-0000"]


def test_a_request_signed_by_another_key_is_refused(world: ChainWorld, http: httpx.Client) -> None:
    person, intruder = world.history.people[2], Account.from_key(keccak(text="listing-intruder"))
    document = _typed(http, person, "not mine")
    answer = http.post(_url(person), json=_body(document, intruder))
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "signature_invalid"
    garbage = {**_body(document, person), "signature": "0x" + "00" * 65}
    assert http.post(_url(person), json=garbage).json()["error"]["code"] == "signature_invalid"
    tampered = {**_body(document, person), "contact": "edited after signing"}
    assert http.post(_url(person), json=tampered).json()["error"]["code"] == "signature_invalid"
    assert _stored(world, person) == []


def test_a_request_too_old_or_too_far_ahead_is_refused(world: ChainWorld, http: httpx.Client) -> None:
    person = world.history.people[2]
    now = int(time.time())
    old = _document_at(world, person, "late", True, now - REQUEST_WINDOW_S - 60)
    answer = http.post(_url(person), json=_body(old, person))
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "request_expired"
    ahead = _document_at(world, person, "early", True, now + REQUEST_WINDOW_S + 60)
    answer = http.post(_url(person), json=_body(ahead, person))
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "request_in_future"
    assert _stored(world, person) == []


def test_opting_out_deletes_the_contact_and_the_old_opt_in_cannot_come_back(
    world: ChainWorld, http: httpx.Client
) -> None:
    person = world.history.people[0]  # listed in 館山 by the first test, or now
    opt_in = _document_at(world, person, CONTACT, True, int(time.time()) + 2)
    assert http.post(_url(person), json=_body(opt_in, person)).status_code == 200
    opt_out = _typed(http, person, "", listed=False)
    opt_out = _document_at(world, person, "", False, opt_out["message"]["issuedAt"] + 3)
    answer = http.post(_url(person), json=_body(opt_out, person))
    assert answer.status_code == 200 and answer.json() == {
        "region": TATEYAMA,
        "code": f"{TATEYAMA:05d}",
        "listed": False,
    }
    assert http.get(_url(person)).json() == {"listings": []}
    with world.engine.connect() as conn:
        anywhere = conn.execute(
            text("SELECT COUNT(*) FROM eligibility_listings WHERE contact LIKE :c"), {"c": "%hanako%"}
        ).scalar_one()
    assert anywhere == 0 and [c for _, c, _ in _stored(world, person)] == [""]
    replay = http.post(_url(person), json=_body(opt_in, person))  # a copy of the opt-in, still fresh
    assert replay.status_code == 409 and http.get(_url(person)).json() == {"listings": []}
    # once no request older than the opt-out can pass the freshness check, nothing is kept at all
    later = int(time.time()) + REQUEST_WINDOW_S + 10
    other = world.history.people[2]
    set_listing(
        world.engine,
        chain_id=31337,
        ledger=world.chain.address,
        holder=other.address,
        region=TATEYAMA,
        contact="later",
        listed=True,
        issued_at=later,
        signature=sign_typed(_document_at(world, other, "later", True, later), other.key),
        now=later,
    )
    assert _stored(world, person) == []


def test_an_opt_out_without_a_listing_changes_nothing(world: ChainWorld, http: httpx.Client) -> None:
    stranger = Account.from_key(keccak(text="listing-never-listed"))
    document = _typed(http, stranger, "", listed=False)  # no records needed to opt out
    answer = http.post(_url(stranger), json=_body(document, stranger))
    assert answer.status_code == 200 and answer.json()["listed"] is False
    assert _stored(world, stranger) == []


def test_a_person_without_records_or_a_bad_request_is_refused(world: ChainWorld, http: httpx.Client) -> None:
    stranger = Account.from_key(keccak(text="listing-stranger"))
    answer = http.get(_url(stranger) + "/typed-data", params={"region": TATEYAMA, "contact": "me"})
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "no_records"
    signed = _document_at(world, stranger, "me", True, int(time.time()))
    answer = http.post(_url(stranger), json=_body(signed, stranger))
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "no_records"
    assert _stored(world, stranger) == []

    person = world.history.people[1]  # has records in 館山 only (長岡 has every other person)
    assert (
        http.get(_url(world.history.people[0]) + "/typed-data", params={"region": NAGAOKA, "contact": "x"}).status_code
        == 200
    )
    for params, code in (
        ({"region": NAGAOKA, "contact": "x"}, "no_records"),  # records in another region do not count
        ({"region": 1634, "contact": "x"}, "unknown_region"),
        ({"region": TATEYAMA, "contact": "   "}, "contact_invalid"),
        ({"region": TATEYAMA, "contact": "x" * 201}, "contact_invalid"),
        ({"region": TATEYAMA, "contact": "line\nbreak"}, "contact_invalid"),
        ({"region": TATEYAMA, "contact": "abc\u202eevil"}, "contact_invalid"),
    ):
        answer = http.get(_url(person) + "/typed-data", params=params)
        assert answer.status_code == 422 and answer.json()["error"]["code"] == code, (params, answer.text)
    padded = _document_at(world, person, " padded ", True, int(time.time()))  # signed, but not trimmed
    answer = http.post(_url(person), json=_body(padded, person))
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "contact_invalid"
    for bad in ("0x1234", "not-an-address"):
        assert http.get(_url(bad)).json()["error"]["code"] == "invalid_address"
