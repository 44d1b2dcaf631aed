"""The single-use code format and the presence rule (pure), and their database transitions on a
real SQLite file and the local PostgreSQL: a code works once however redemptions race, a code
survives a rejected claim unused, stays never repeat a day, open check-ins expire."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.checkin import codes, presence
from ledger.checkin.activities import ActivityView
from ledger.checkin.codes import CodeMaker
from ledger.checkin.errors import CheckinRejected
from ledger.db.engine import write_transaction
from ledger.taxonomy import RewardUnit
from tests.indexer.helpers import database

LEDGER = "0x" + "ab" * 20
MAKER = CodeMaker(b"k" * 32, 31337, LEDGER)
JST_MIDNIGHT = int(datetime(2026, 12, 7, tzinfo=UTC).timestamp()) - 9 * 3600  # 2026-12-07 00:00 JST
NOW = JST_MIDNIGHT + 9 * 3600  # 09:00 JST


def activity(
    unit: RewardUnit = RewardUnit.RECORD, max_units: int = 1, activity_id: int = 7, region: int = 12205
) -> ActivityView:
    return ActivityView(
        activity_id=activity_id,
        region=region,
        kind=10,
        reward=100,
        starts_at=NOW - 86400 * 30,
        ends_at=NOW + 86400 * 30,
        capacity=0,
        closed=False,
        metadata_hash="0x" + "00" * 32,
        name="test",
        description="",
        venue="",
        region_name="館山市",
        unit=int(unit),
        max_units=max_units,
    )


# -- the code format ------------------------------------------------------------------------------


def test_codes_are_derived_deterministically_and_differ_per_serial_salt_and_deployment() -> None:
    salt = "11" * 16
    first = MAKER.derive(salt, 1)
    assert first == MAKER.derive(salt, 1)
    assert len(first) == codes.CODE_LENGTH and codes.looks_like_code(first)
    assert len({MAKER.derive(salt, s) for s in range(1, 2001)}) == 2000
    assert MAKER.derive("22" * 16, 1) != first
    assert CodeMaker(b"k" * 32, 1, LEDGER).derive(salt, 1) != first
    assert CodeMaker(b"j" * 32, 31337, LEDGER).derive(salt, 1) != first
    assert codes.normalise_code(first) == first


def test_typing_is_forgiving_but_a_typo_is_caught_by_the_check_character() -> None:
    code = MAKER.derive("33" * 16, 5)
    loose = codes.display_code(code).lower().replace("0", "o").replace("1", "l")
    assert codes.normalise_code(loose) == code
    assert codes.normalise_code(" " + codes.display_code(code) + " ") == code
    caught = 0
    for i in range(codes.CODE_LENGTH):
        for replacement in codes.ALPHABET:
            if replacement == code[i]:
                continue
            typo = code[:i] + replacement + code[i + 1 :]
            try:
                codes.normalise_code(typo)
            except CheckinRejected as exc:
                assert exc.code == "code_mistyped"
                caught += 1
    total = codes.CODE_LENGTH * (len(codes.ALPHABET) - 1)
    assert caught / total > 0.9  # a 5-bit check catches ~31 of 32 single-character typos
    for bad in ("", "ABC", "X" * 17, "K7QM-2X9D-HT4R-8WN!", "U" * 16, 12345):
        with pytest.raises(CheckinRejected) as info:
            codes.normalise_code(bad)  # type: ignore[arg-type]
        assert info.value.code == "token_malformed"


# -- the presence rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rounding", "minutes", "expected"),
    [
        ("down", 59, 0),
        ("down", 60, 1),
        ("down", 179, 2),
        ("nearest", 149, 2),
        ("nearest", 150, 3),
        ("up", 121, 3),
        ("up", 120, 2),
        ("down", 60 * 30, 8),  # capped
    ],
)
def test_hours_are_rounded_floored_and_capped_by_the_rule(rounding: str, minutes: int, expected: int) -> None:
    hourly = activity(RewardUnit.HOUR, 8)
    rule = presence.UnitRule(rounding, 1, 8, 10 * 3600)
    assert presence.measure(hourly, rule, NOW, NOW + minutes * 60) == expected


def test_days_count_jst_calendar_days_both_ends_included() -> None:
    stay = activity(RewardUnit.DAY, 14)
    rule = presence.default_rule(stay)
    assert presence.measure(stay, rule, NOW, NOW + 60) == 1
    assert presence.measure(stay, rule, NOW - 4 * 86400, NOW) == 5  # Wednesday to Sunday
    late = JST_MIDNIGHT - 60  # 23:59 JST the day before
    assert presence.measure(stay, rule, late, JST_MIDNIGHT + 60) == 2  # two calendar days
    assert presence.measure(stay, rule, NOW - 40 * 86400, NOW) == 14
    with pytest.raises(CheckinRejected) as info:
        presence.measure(stay, rule, NOW, NOW - 1)  # a negative stay
    assert info.value.code == "invalid_units"


def test_a_rule_that_does_not_fit_the_activity_is_refused() -> None:
    hourly = activity(RewardUnit.HOUR, 8)
    presence.validate_rule(hourly, presence.default_rule(hourly))
    for bad in (
        presence.UnitRule("sideways", 1, 8, 3600),
        presence.UnitRule("down", 0, 8, 3600),
        presence.UnitRule("down", 9, 8, 3600),
        presence.UnitRule("down", 1, 9, 3600),  # over the on-chain maxUnits
        presence.UnitRule("down", 1, 8, 60),
        presence.UnitRule("down", 1, 8, 30 * 3600),
    ):
        with pytest.raises(ValueError):
            presence.validate_rule(hourly, bad)
    with pytest.raises(ValueError):
        presence.validate_rule(activity(), presence.UnitRule("down", 1, 1, 3600))


# -- the database -----------------------------------------------------------------------------------

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _batch(engine: Engine, count: int = 3, expires_at: int = NOW + 86400) -> codes.CodeBatch:
    with write_transaction(engine) as conn:
        return codes.create_batch(
            conn,
            MAKER,
            activity_id=7,
            region=12205,
            count=count,
            units=1,
            expires_at=expires_at,
            label="2026年12月 お礼状",
            created_by="test",
            now_ms=NOW * 1000,
        )


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_code_is_redeemed_once_however_many_phones_race_for_it(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as engine:
        batch = _batch(engine)
        with engine.connect() as conn:
            plain = codes.batch_codes(conn, MAKER, batch)
        target = MAKER.hash(plain[0].code)
        winners: list[str] = []
        barrier = threading.Barrier(8)

        def redeem(i: int) -> None:
            barrier.wait()
            with write_transaction(engine) as conn:
                if codes.redeem(conn, target, f"0x{i:040x}", now=NOW):
                    winners.append(f"0x{i:040x}")

        threads = [threading.Thread(target=redeem, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == 1
        with engine.connect() as conn:
            row = codes.lookup(conn, target)
            assert row is not None and row.state == "redeemed" and row.participant == winners[0]
            assert codes.code_rejection(row, NOW, "0x" + "f" * 40).code == "code_used"  # type: ignore[union-attr]
            assert codes.code_rejection(row, NOW, winners[0]).code == "already_claimed"  # type: ignore[union-attr]
            refreshed = codes.get_batch(conn, batch.batch_id, now=NOW)
        assert refreshed is not None and refreshed.counts == {"issued": 2, "redeemed": 1, "voided": 0, "expired": 0}


@pytest.mark.parametrize("kind", BACKENDS)
def test_voiding_spares_redeemed_codes_and_an_expired_code_cannot_be_taken(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as engine:
        batch = _batch(engine, count=4, expires_at=NOW + 60)
        with engine.connect() as conn:
            plain = codes.batch_codes(conn, MAKER, batch)
        hashes = [MAKER.hash(c.code) for c in plain]
        with write_transaction(engine) as conn:
            assert codes.redeem(conn, hashes[0], "0x" + "1" * 40, now=NOW)
            assert codes.void_batch(conn, batch.batch_id, by="test", now_ms=NOW * 1000, serials=[2]) == 1
            assert not codes.redeem(conn, hashes[3], "0x" + "2" * 40, now=NOW + 60)  # expired at that second
        with engine.connect() as conn:
            assert codes.code_rejection(codes.lookup(conn, hashes[1]), NOW).code == "code_voided"  # type: ignore[union-attr]
            assert codes.code_rejection(codes.lookup(conn, hashes[3]), NOW + 61).code == "code_expired"  # type: ignore[union-attr]
            assert codes.code_rejection(None, NOW).code == "code_unknown"  # type: ignore[union-attr]
        with write_transaction(engine) as conn:
            assert codes.void_batch(conn, batch.batch_id, by="test", now_ms=NOW * 1000) == 2
        with engine.connect() as conn:
            states = [c.state for c in codes.batch_codes(conn, MAKER, batch)]
            stored = conn.execute(text("SELECT code_hash FROM claim_codes")).scalars().all()
        assert states == ["redeemed", "voided", "voided", "voided"]
        assert not {c.code for c in plain} & set(stored)  # the table holds hashes, never a code


def _arrive(engine: Engine, act: ActivityView, who: str, at: int, tag: str) -> presence.PresenceAnswer:
    with write_transaction(engine) as conn:
        return presence.scan(conn, act, who, f"0x{tag}", presence.ARRIVE, at)


def _depart(engine: Engine, act: ActivityView, who: str, at: int, tag: str) -> presence.PresenceAnswer:
    with write_transaction(engine) as conn:
        return presence.scan(conn, act, who, f"0x{tag}", presence.DEPART, at)


@pytest.mark.parametrize("kind", BACKENDS)
def test_check_in_then_out_records_the_hours_once(kind: str, tmp_path: Path) -> None:
    hourly = activity(RewardUnit.HOUR, 8)
    who = "0x" + "a" * 40
    with database(kind, tmp_path) as engine:
        with pytest.raises(CheckinRejected) as info:
            _depart(engine, hourly, who, NOW, "d0")
        assert info.value.code == "not_checked_in"
        arrived = _arrive(engine, hourly, who, NOW, "a1")
        assert arrived.state == "arrived" and arrived.claim_id is None
        assert _arrive(engine, hourly, who, NOW, "a1") == arrived  # the same request again: the same answer
        with pytest.raises(CheckinRejected) as info:
            _arrive(engine, hourly, who, NOW + 5, "a2")
        assert info.value.code == "already_checked_in"
        left = _depart(engine, hourly, who, NOW + 3 * 3600 + 1200, "d1")
        assert (left.state, left.units) == ("recorded", 3) and left.claim_id is not None
        assert _depart(engine, hourly, who, NOW + 3 * 3600 + 1200, "d1").claim_id == left.claim_id
        with pytest.raises(CheckinRejected) as info:
            _arrive(engine, hourly, who, NOW + 4 * 3600, "a3")
        assert info.value.code == "already_claimed" and info.value.claim_id == left.claim_id
        with engine.connect() as conn:
            claims = conn.execute(text("SELECT units, status FROM claims")).all()
        assert [tuple(c) for c in claims] == [(3, "accepted")]


@pytest.mark.parametrize("kind", BACKENDS)
def test_too_short_records_nothing_and_the_person_may_check_in_again(kind: str, tmp_path: Path) -> None:
    hourly = activity(RewardUnit.HOUR, 8)
    who = "0x" + "b" * 40
    with database(kind, tmp_path) as engine:
        _arrive(engine, hourly, who, NOW, "a1")
        short = _depart(engine, hourly, who, NOW + 600, "d1")
        assert (short.state, short.units, short.claim_id) == ("too_short", None, None)
        assert _arrive(engine, hourly, who, NOW + 700, "a2").state == "arrived"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM claims")).scalar_one() == 0


@pytest.mark.parametrize("kind", BACKENDS)
def test_an_open_check_in_expires_and_then_only_staff_can_record_it(kind: str, tmp_path: Path) -> None:
    hourly = activity(RewardUnit.HOUR, 8)
    who = "0x" + "c" * 40
    with database(kind, tmp_path) as engine:
        arrived = _arrive(engine, hourly, who, NOW, "a1")
        assert arrived.expires_at == NOW + 10 * 3600  # the default: the cap plus two hours
        with pytest.raises(CheckinRejected) as info:
            _depart(engine, hourly, who, NOW + 11 * 3600, "d1")
        assert info.value.code == "checkin_expired"
        with write_transaction(engine) as conn:
            for units in (0, -1, 25, 9):
                with pytest.raises(CheckinRejected) as info:
                    presence.staff_close(conn, hourly, arrived.session_id, units, by="staff:a", now=NOW + 12 * 3600)
                assert info.value.code == "invalid_units"
            row = presence.staff_close(conn, hourly, arrived.session_id, 6, by="staff:a", now=NOW + 12 * 3600)
        assert (row.state, row.units, row.measured_units, row.closed_by) == ("recorded", 6, 8, "staff:a")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT units FROM claims")).scalar_one() == 6


@pytest.mark.parametrize("kind", BACKENDS)
def test_stays_never_overlap(kind: str, tmp_path: Path) -> None:
    stay = activity(RewardUnit.DAY, 14, activity_id=21)
    other = activity(RewardUnit.DAY, 14, activity_id=22)
    third = activity(RewardUnit.DAY, 14, activity_id=23)
    who = "0x" + "d" * 40
    with database(kind, tmp_path) as engine:
        _arrive(engine, stay, who, NOW - 4 * 86400, "a1")
        with pytest.raises(CheckinRejected) as info:
            _arrive(engine, other, who, NOW - 3 * 86400, "a2")  # two open stays at once
        assert info.value.code == "overlapping_stay"
        first = _depart(engine, stay, who, NOW, "d1")
        assert (first.state, first.units) == ("recorded", 5)
        # the same evening a second stay in the same region starts: its first day is already recorded
        _arrive(engine, other, who, NOW + 3600, "a3")
        second = _depart(engine, other, who, NOW + 2 * 86400, "d3")
        assert (second.state, second.units) == ("recorded", 2)  # 12/8 and 12/9, not 12/7 again
        # staff asking for days another stay covered are refused, nothing is recorded
        opened = _arrive(engine, third, who, NOW + 3 * 86400, "a4")
        with write_transaction(engine) as conn:
            with pytest.raises(CheckinRejected) as info:
                presence.staff_close(conn, third, opened.session_id, 3, by="staff:a", now=NOW + 3 * 86400)
            assert info.value.code == "overlapping_stay"
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT units FROM claims ORDER BY id")).scalars().all()
            days = conn.execute(
                text("SELECT first_day, last_day FROM presence_sessions WHERE state = 'recorded' ORDER BY session_id")
            ).all()
        assert list(rows) == [5, 2]
        today = presence.jst_day(NOW)
        assert [tuple(d) for d in days] == [(today - 4, today), (today + 1, today + 2)]


@pytest.mark.parametrize("kind", BACKENDS)
def test_staff_confirmation_holds_the_record_until_staff_act(kind: str, tmp_path: Path) -> None:
    hourly = activity(RewardUnit.HOUR, 8)
    who = "0x" + "e" * 40
    with database(kind, tmp_path) as engine:
        with write_transaction(engine) as conn:
            presence.save_rule(conn, hourly, presence.UnitRule("nearest", 1, 8, 10 * 3600, True), by="t", now_ms=0)
        _arrive(engine, hourly, who, NOW, "a1")
        waiting = _depart(engine, hourly, who, NOW + 2 * 3600 + 1800, "d1")
        assert (waiting.state, waiting.units, waiting.claim_id) == ("awaiting_staff", 3, None)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM claims")).scalar_one() == 0
        with write_transaction(engine) as conn:
            row = presence.staff_close(conn, hourly, waiting.session_id, 2, by="staff:a", now=NOW + 4 * 3600)
        assert (row.state, row.units, row.measured_units) == ("recorded", 2, 3)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT units FROM claims")).scalar_one() == 2
