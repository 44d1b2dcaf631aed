"""Check-in and check-out for activities rewarded per hour (volunteering) or per day (テレワーク,
二地域居住): the participant scans the kiosk when arriving and again when leaving, and the units
recorded on chain come from the time between, by the activity's rule (docs/checkin.md).

**One QR code for both.** A kiosk opened in *presence* mode shows codes with units 0
(:mod:`.tokens`); a claim with such a code is an arrival when the participant has no open check-in
at the activity, a departure when they have one. The claim page says which before it signs, and
sends its ``intent`` (``arrive`` / ``depart``) so a double tap cannot turn an arrival into a
departure; without an intent the state decides.

**The rule** (:class:`UnitRule`, per activity, defaults in :func:`default_rule`):

- hours: the time between arrival and departure in hours, rounded ``down`` (default: only whole
  hours of help count), to the ``nearest`` hour (half up) or ``up``;
- days: JST calendar days from arrival to departure, both counted (arrive Monday, leave Friday:
  5 days), as MLIT counts visit days;
- fewer than ``min_units`` records nothing (the session ends ``too_short``); more than
  ``cap_units`` (at most the activity's on-chain ``maxUnits``, and 24 for hours) records the cap;
- an arrival without departure ``expires`` ``open_expiry_s`` after it: the participant can no
  longer check out themselves, staff may still close it with the units they confirm;
- ``staff_confirms``: each check-out waits (``awaiting_staff``) until staff confirm or correct its
  units in the console; nothing reaches the outbox before that.

**Stays do not overlap.** A participant has at most one open check-in per unit (hours, days) at
a time across every activity, and the days a stay records in a region never repeat days another
recorded stay of theirs in that region covered: a check-out drops the shared days, a staff
correction that would repeat them is refused (``overlapping_stay``).

**On chain** a per-day record of N units means a stay of N days ending on the day of its block
(ledger/ties.py), so a stay is recorded when it ends. Staff confirming a stay on a later day move
its days; the console says so, and the rule's default records at once.

Every transition is one write transaction and conditional on the state it starts from; the
record itself is a claim in the outbox (``ledger.relay.outbox``), relayed like a kiosk's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from eth_utils.crypto import keccak
from sqlalchemy import Connection, text

from ledger.checkin.activities import ActivityView
from ledger.checkin.errors import CheckinRejected
from ledger.errors import InvalidInput
from ledger.jst import SECONDS_PER_DAY, epoch_day
from ledger.relay.outbox import NewClaim, claim_id_by_participant, insert_claim, live_claims
from ledger.taxonomy import RewardUnit

__all__ = [
    "ROUNDINGS",
    "SESSION_STATES",
    "MAX_HOURS",
    "UnitRule",
    "PresenceAnswer",
    "SessionRow",
    "default_rule",
    "load_rule",
    "save_rule",
    "validate_rule",
    "measure",
    "jst_day",
    "scan",
    "open_session_of",
    "list_sessions",
    "staff_close",
    "staff_cancel",
    "expire_due",
    "ARRIVE",
    "DEPART",
]

ROUNDINGS = ("down", "nearest", "up")
SESSION_STATES = ("open", "recorded", "awaiting_staff", "too_short", "expired", "cancelled")
MAX_HOURS = 24  # hours of help one record may carry: nobody helps for 30 hours in a day
ARRIVE = "arrive"
DEPART = "depart"
_DAY_S = SECONDS_PER_DAY

jst_day = epoch_day  # days since 1970-01-01 in Japan time (ledger.jst)


@dataclass(frozen=True)
class UnitRule:
    rounding: str  # down, nearest, up (hours)
    min_units: int
    cap_units: int
    open_expiry_s: int
    staff_confirms: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def default_rule(activity: ActivityView) -> UnitRule:
    """Hours: whole hours only, at least 1, the activity's cap, open for the cap plus 2 hours (at
    most a day). Days: at least 1, the cap, open for the cap plus a day."""
    if activity.unit == RewardUnit.HOUR:
        cap = min(activity.max_units, MAX_HOURS)
        return UnitRule("down", 1, cap, min(cap + 2, MAX_HOURS) * 3600)
    return UnitRule("down", 1, activity.max_units, (activity.max_units + 1) * _DAY_S)


def validate_rule(activity: ActivityView, rule: UnitRule) -> UnitRule:
    """``rule`` if it fits the activity; ``ValueError`` naming the problem otherwise."""
    if activity.unit == RewardUnit.RECORD:
        raise InvalidInput(f"activity {activity.activity_id} is rewarded per visit: it has no time rule")
    if rule.rounding not in ROUNDINGS:
        raise InvalidInput(f"rounding must be one of {', '.join(ROUNDINGS)}, not {rule.rounding!r}")
    ceiling = min(activity.max_units, MAX_HOURS) if activity.unit == RewardUnit.HOUR else activity.max_units
    if not 1 <= rule.cap_units <= ceiling:
        raise InvalidInput(f"the cap must be 1 to {ceiling} (the activity's maximum), not {rule.cap_units}")
    if not 1 <= rule.min_units <= rule.cap_units:
        raise InvalidInput(f"the minimum must be 1 to the cap ({rule.cap_units}), not {rule.min_units}")
    longest = (MAX_HOURS * 3600) if activity.unit == RewardUnit.HOUR else (rule.cap_units + 7) * _DAY_S
    if not 3600 <= rule.open_expiry_s <= longest:
        raise InvalidInput(
            f"an open check-in expires after 1 hour to {longest // 3600} hours, not {rule.open_expiry_s} s"
        )
    return rule


def load_rule(conn: Connection, activity: ActivityView) -> UnitRule:
    row = conn.execute(
        text(
            "SELECT rounding, min_units, cap_units, open_expiry_s, staff_confirms FROM activity_unit_rules "
            "WHERE activity_id = :a"
        ),
        {"a": activity.activity_id},
    ).first()
    if row is None:
        return default_rule(activity)
    return UnitRule(
        str(row.rounding), int(row.min_units), int(row.cap_units), int(row.open_expiry_s), bool(row.staff_confirms)
    )


def save_rule(conn: Connection, activity: ActivityView, rule: UnitRule, *, by: str, now_ms: int) -> UnitRule:
    validate_rule(activity, rule)
    params = {"a": activity.activity_id, **rule.as_dict(), "by": by, "now": now_ms}
    updated = conn.execute(
        text(
            "UPDATE activity_unit_rules SET rounding = :rounding, min_units = :min_units, cap_units = :cap_units, "
            "open_expiry_s = :open_expiry_s, staff_confirms = :staff_confirms, updated_by = :by, "
            "updated_at_ms = :now WHERE activity_id = :a"
        ),
        params,
    ).rowcount
    if not updated:
        conn.execute(
            text(
                "INSERT INTO activity_unit_rules (activity_id, rounding, min_units, cap_units, open_expiry_s, "
                "staff_confirms, updated_by, updated_at_ms) VALUES (:a, :rounding, :min_units, :cap_units, "
                ":open_expiry_s, :staff_confirms, :by, :now)"
            ),
            params,
        )
    return rule


def measure(activity: ActivityView, rule: UnitRule, opened_at: float, closed_at: float) -> int:
    """The units between arrival and departure by ``rule`` (0 when below its minimum, capped)."""
    if closed_at < opened_at:
        raise CheckinRejected("invalid_units", "a check-out cannot be before its check-in")
    if activity.unit == RewardUnit.DAY:
        units = jst_day(closed_at) - jst_day(opened_at) + 1
    else:
        hours = (closed_at - opened_at) / 3600
        if rule.rounding == "up":
            units = math.ceil(hours - 1e-9)
        elif rule.rounding == "nearest":
            units = math.floor(hours + 0.5)
        else:
            units = math.floor(hours + 1e-9)
    if units < rule.min_units:
        return 0
    return min(units, rule.cap_units)


@dataclass(frozen=True)
class PresenceAnswer:
    """What a presence scan did: ``arrived``, ``recorded`` (a claim in the outbox), ``awaiting_staff``
    or ``too_short``."""

    state: str
    session_id: int
    activity_id: int
    region: int
    participant: str
    opened_at: int
    expires_at: int
    closed_at: int | None = None
    units: int | None = None
    claim_id: int | None = None
    accepted_at_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SessionRow:
    session_id: int
    activity_id: int
    region: int
    participant: str
    unit: int
    state: str
    opened_at: int
    expires_at: int
    closed_at: int | None
    measured_units: int | None
    units: int | None
    first_day: int | None
    last_day: int | None
    claim_id: int | None
    closed_by: str | None
    open_request_hash: str
    close_request_hash: str | None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["unit"] = RewardUnit(self.unit).code
        out.pop("open_request_hash")
        out.pop("close_request_hash")
        return out


_COLUMNS = (
    "session_id, activity_id, region, participant, unit, state, opened_at, expires_at, closed_at, measured_units, "
    "units, first_day, last_day, claim_id, closed_by, open_request_hash, close_request_hash"
)


def _row(row: Any) -> SessionRow:
    def opt(value: Any) -> int | None:
        return None if value is None else int(value)

    return SessionRow(
        session_id=int(row.session_id),
        activity_id=int(row.activity_id),
        region=int(row.region),
        participant=str(row.participant),
        unit=int(row.unit),
        state=str(row.state),
        opened_at=int(row.opened_at),
        expires_at=int(row.expires_at),
        closed_at=opt(row.closed_at),
        measured_units=opt(row.measured_units),
        units=opt(row.units),
        first_day=opt(row.first_day),
        last_day=opt(row.last_day),
        claim_id=opt(row.claim_id),
        closed_by=row.closed_by,
        open_request_hash=str(row.open_request_hash),
        close_request_hash=row.close_request_hash,
    )


def _session(conn: Connection, where: str, params: dict[str, Any]) -> SessionRow | None:
    row = conn.execute(text(f"SELECT {_COLUMNS} FROM presence_sessions WHERE {where}"), params).first()
    return None if row is None else _row(row)


def open_session_of(conn: Connection, activity_id: int, participant: str) -> SessionRow | None:
    """The participant's open check-in at the activity (expired or not), if any."""
    return _session(
        conn, "activity_id = :a AND participant = :p AND state = 'open'", {"a": activity_id, "p": participant}
    )


def latest_session_of(conn: Connection, activity_id: int, participant: str) -> SessionRow | None:
    """The participant's most recent session at the activity (what the claim page shows)."""
    return _session(
        conn,
        "session_id = (SELECT MAX(session_id) FROM presence_sessions WHERE activity_id = :a AND participant = :p)",
        {"a": activity_id, "p": participant},
    )


def list_sessions(
    conn: Connection, activity_id: int, states: Sequence[str] | None = None, *, limit: int = 500
) -> list[SessionRow]:
    """The activity's sessions, newest first (``states`` filters)."""
    where = "activity_id = :a"
    params: dict[str, Any] = {"a": activity_id, "limit": limit}
    if states:
        names = [f":s{i}" for i in range(len(states))]
        where += f" AND state IN ({', '.join(names)})"
        params.update({f"s{i}": s for i, s in enumerate(states)})
    rows = conn.execute(
        text(f"SELECT {_COLUMNS} FROM presence_sessions WHERE {where} ORDER BY session_id DESC LIMIT :limit"),
        params,
    )
    return [_row(r) for r in rows]


def expire_due(conn: Connection, now: float, activity_id: int | None = None) -> int:
    """Mark open check-ins past their expiry ``expired`` (in the caller's write transaction)."""
    sql = "UPDATE presence_sessions SET state = 'expired' WHERE state = 'open' AND expires_at <= :now"
    params: dict[str, Any] = {"now": int(now)}
    if activity_id is not None:
        sql += " AND activity_id = :a"
        params["a"] = activity_id
    return int(conn.execute(text(sql), params).rowcount or 0)


def _answer(session: SessionRow, state: str | None = None) -> PresenceAnswer:
    shown = state or ("arrived" if session.state == "open" else session.state)
    return PresenceAnswer(
        state=shown,
        session_id=session.session_id,
        activity_id=session.activity_id,
        region=session.region,
        participant=session.participant,
        opened_at=session.opened_at,
        expires_at=session.expires_at,
        closed_at=session.closed_at,
        units=session.units,
        claim_id=session.claim_id,
        accepted_at_ms=(session.closed_at if shown != "arrived" and session.closed_at else session.opened_at) * 1000,
    )


def _stay_days(
    conn: Connection, session: SessionRow, units: int, close_day: int, *, clip: bool
) -> tuple[int, int, int]:
    """(first day, last day, units) of a stay of ``units`` days ending ``close_day``: with ``clip``
    the days another recorded stay in the region already covers are dropped from its start, else
    they are ``overlapping_stay``."""
    first = close_day - units + 1
    latest = conn.execute(
        text(
            "SELECT MAX(last_day) FROM presence_sessions WHERE participant = :p AND region = :r AND unit = :u "
            "AND state IN ('recorded', 'awaiting_staff') AND session_id <> :s AND first_day <= :last"
        ),
        {
            "p": session.participant,
            "r": session.region,
            "u": int(RewardUnit.DAY),
            "s": session.session_id,
            "last": close_day,
        },
    ).scalar()
    if latest is not None and int(latest) >= first:
        if not clip:
            raise CheckinRejected(
                "overlapping_stay",
                f"{units} days ending on this day would repeat days of another recorded stay in this region",
            )
        first = int(latest) + 1
        units = close_day - first + 1
    return first, close_day, max(units, 0)


def _record(
    conn: Connection, activity: ActivityView, session: SessionRow, units: int, request_hash: str, now: float
) -> int:
    claim_id = insert_claim(
        conn,
        NewClaim(
            activity_id=activity.activity_id,
            region=activity.region,
            participant=session.participant,
            request_hash=request_hash,
            slot=0,
            units=units,
        ),
        int(now * 1000),
    )
    if claim_id is None:
        raise CheckinRejected(
            "already_claimed",
            "you already have a record of this activity",
            claim_id=claim_id_by_participant(conn, activity.activity_id, session.participant),
        )
    return claim_id


def _staff_hash(session_id: int, action: str) -> str:
    return "0x" + keccak(text=f"tsunagari/presence/{action}/{session_id}").hex()


def scan(
    conn: Connection,
    activity: ActivityView,
    participant: str,
    request_hash: str,
    intent: str | None,
    now: float,
) -> PresenceAnswer:
    """A presence-mode claim, in the caller's write transaction: an arrival or a departure."""
    replay = _session(
        conn, "open_request_hash = :h OR close_request_hash = :h", {"h": request_hash}
    )  # the same signed request again: the same answer
    if replay is not None:
        if replay.open_request_hash == request_hash:
            return _answer(replay, "arrived")
        return _answer(replay)
    rule = load_rule(conn, activity)
    current = open_session_of(conn, activity.activity_id, participant)
    if current is None:
        if intent == DEPART:
            raise CheckinRejected("not_checked_in", "you have not checked in to this activity: scan when you arrive")
        return _arrive(conn, activity, rule, participant, request_hash, now)
    if intent == ARRIVE:
        raise CheckinRejected(
            "already_checked_in", "you are already checked in: scan again when you leave to check out"
        )
    return _depart(conn, activity, rule, current, request_hash, now)


def _arrive(
    conn: Connection, activity: ActivityView, rule: UnitRule, participant: str, request_hash: str, now: float
) -> PresenceAnswer:
    claim_id = claim_id_by_participant(conn, activity.activity_id, participant)
    if claim_id is not None:
        raise CheckinRejected("already_claimed", "you already have a record of this activity", claim_id=claim_id)
    waiting = _session(
        conn,
        "activity_id = :a AND participant = :p AND state = 'awaiting_staff'",
        {"a": activity.activity_id, "p": participant},
    )
    if waiting is not None:
        raise CheckinRejected("already_claimed", "your check-out is waiting for the staff to confirm it")
    elsewhere = _session(
        conn,
        "participant = :p AND unit = :u AND state = 'open' AND expires_at > :now",
        {"p": participant, "u": activity.unit, "now": int(now)},
    )
    if elsewhere is not None:
        what = "stay" if activity.unit == RewardUnit.DAY else "check-in"
        raise CheckinRejected(
            "overlapping_stay",
            f"you have an open {what} at activity {elsewhere.activity_id}: check out there first",
        )
    if activity.capacity:
        taken = live_claims(conn, activity.activity_id) + int(
            conn.execute(
                text(
                    "SELECT COUNT(*) FROM presence_sessions WHERE activity_id = :a AND "
                    "(state = 'awaiting_staff' OR (state = 'open' AND expires_at > :now))"
                ),
                {"a": activity.activity_id, "now": int(now)},
            ).scalar_one()
        )
        if taken >= activity.capacity:
            raise CheckinRejected(
                "activity_full", f"activity {activity.activity_id} is full ({activity.capacity} people)"
            )
    expires = int(now) + rule.open_expiry_s
    session_id = conn.execute(
        text(
            "INSERT INTO presence_sessions (activity_id, region, participant, unit, state, opened_at, "
            "open_request_hash, expires_at) VALUES (:a, :r, :p, :u, 'open', :at, :h, :e) RETURNING session_id"
        ),
        {
            "a": activity.activity_id,
            "r": activity.region,
            "p": participant,
            "u": activity.unit,
            "at": int(now),
            "h": request_hash,
            "e": expires,
        },
    ).scalar_one()
    return PresenceAnswer(
        state="arrived",
        session_id=int(session_id),
        activity_id=activity.activity_id,
        region=activity.region,
        participant=participant,
        opened_at=int(now),
        expires_at=expires,
        accepted_at_ms=int(now) * 1000,
    )


def _close(
    conn: Connection,
    session: SessionRow,
    *,
    state: str,
    closed_at: int,
    request_hash: str | None,
    measured: int | None,
    units: int | None,
    days: tuple[int, int] | None,
    claim_id: int | None,
    by: str,
    from_states: Sequence[str],
) -> SessionRow:
    names = ", ".join(f"'{s}'" for s in from_states)
    moved = conn.execute(
        text(
            "UPDATE presence_sessions SET state = :state, closed_at = :closed, close_request_hash = :h, "
            "measured_units = COALESCE(:measured, measured_units), units = :units, first_day = :first, "
            f"last_day = :last, claim_id = :claim, closed_by = :by WHERE session_id = :s AND state IN ({names})"
        ),
        {
            "state": state,
            "closed": closed_at,
            "h": request_hash,
            "measured": measured,
            "units": units,
            "first": days[0] if days else None,
            "last": days[1] if days else None,
            "claim": claim_id,
            "by": by,
            "s": session.session_id,
        },
    ).rowcount
    if not moved:
        raise CheckinRejected("unknown_claim", f"check-in {session.session_id} was closed meanwhile")
    found = _session(conn, "session_id = :s", {"s": session.session_id})
    assert found is not None
    return found


def _depart(
    conn: Connection, activity: ActivityView, rule: UnitRule, session: SessionRow, request_hash: str, now: float
) -> PresenceAnswer:
    if now >= session.expires_at:
        conn.execute(
            text("UPDATE presence_sessions SET state = 'expired' WHERE session_id = :s AND state = 'open'"),
            {"s": session.session_id},
        )
        raise CheckinRejected(
            "checkin_expired", "your check-in is too old to check out here: ask the staff to confirm your time"
        )
    measured = measure(activity, rule, session.opened_at, now)
    units = measured
    days: tuple[int, int] | None = None
    if measured and activity.unit == RewardUnit.DAY:
        first, last, units = _stay_days(conn, session, measured, jst_day(now), clip=True)
        days = (first, last)
    if units < rule.min_units or units == 0:
        state, recorded, claim_id, days = "too_short", None, None, None
    elif rule.staff_confirms:
        state, recorded, claim_id = "awaiting_staff", units, None
    else:
        state, recorded = "recorded", units
        claim_id = _record(conn, activity, session, units, request_hash, now)
    closed = _close(
        conn,
        session,
        state=state,
        closed_at=int(now),
        request_hash=request_hash,
        measured=measured,
        units=recorded,
        days=days,
        claim_id=claim_id,
        by="participant",
        from_states=("open",),
    )
    return _answer(closed)


def staff_close(
    conn: Connection, activity: ActivityView, session_id: int, units: int | None, *, by: str, now: float
) -> SessionRow:
    """Staff record a session with ``units`` (None: what the clock and the rule measure now, or the
    check-out's measure awaiting confirmation): an open or expired check-in nobody checked out, or a
    check-out awaiting staff. In the caller's write transaction; the caller audits it."""
    session = _session(conn, "session_id = :s AND activity_id = :a", {"s": session_id, "a": activity.activity_id})
    if session is None:
        raise CheckinRejected("unknown_claim", f"there is no check-in {session_id} at activity {activity.activity_id}")
    if session.state not in ("open", "expired", "awaiting_staff"):
        raise CheckinRejected("unknown_claim", f"check-in {session_id} is already {session.state}")
    rule = load_rule(conn, activity)
    closed_at = session.closed_at if session.state == "awaiting_staff" and session.closed_at else int(now)
    measured = session.measured_units
    if measured is None:
        measured = measure(activity, replace(rule, min_units=1), session.opened_at, min(closed_at, session.expires_at))
    if units is None:
        units = session.units if session.state == "awaiting_staff" and session.units else measured
    ceiling = min(activity.max_units, MAX_HOURS) if activity.unit == RewardUnit.HOUR else activity.max_units
    if not 1 <= units <= ceiling:
        label = "hours" if activity.unit == RewardUnit.HOUR else "days"
        raise CheckinRejected("invalid_units", f"a record of this activity holds 1 to {ceiling} {label}, not {units}")
    days = None
    if activity.unit == RewardUnit.DAY:
        first, last, _ = _stay_days(conn, session, units, jst_day(now), clip=False)
        days = (first, last)
    claim_id = _record(conn, activity, session, units, _staff_hash(session_id, "record"), now)
    return _close(
        conn,
        session,
        state="recorded",
        closed_at=closed_at,
        request_hash=session.close_request_hash,
        measured=measured,
        units=units,
        days=days,
        claim_id=claim_id,
        by=by,
        from_states=("open", "expired", "awaiting_staff"),
    )


def staff_cancel(conn: Connection, activity: ActivityView, session_id: int, *, by: str, now: float) -> SessionRow:
    """Staff end a session without a record (a mistaken check-in, a check-out they do not confirm)."""
    session = _session(conn, "session_id = :s AND activity_id = :a", {"s": session_id, "a": activity.activity_id})
    if session is None:
        raise CheckinRejected("unknown_claim", f"there is no check-in {session_id} at activity {activity.activity_id}")
    return _close(
        conn,
        session,
        state="cancelled",
        closed_at=session.closed_at or int(now),
        request_hash=session.close_request_hash,
        measured=session.measured_units,
        units=None,
        days=None,
        claim_id=None,
        by=by,
        from_states=("open", "expired", "awaiting_staff"),
    )
