"""Check-in and check-out (presence) as region staff run it, for activities rewarded per hour or
per day: who is there now, check-outs awaiting confirmation, check-ins nobody closed, and the
activity's rule. The console page, the operator JSON endpoints and ``tsunagari presence`` call
these with the same permissions (reading ``read``, acting ``checkins``).

Each action is one write transaction with its audit entry, so a record and its audit never part:
``presence.close`` (detail: the session, the participant, the measured units, the units recorded
and ``corrected`` when staff recorded other units than the measure), ``presence.cancel`` and
``presence.rule``. Open check-ins past their expiry are marked ``expired`` before every listing
and action (:func:`ledger.checkin.presence.expire_due`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import Engine, text

from ledger.checkin import presence
from ledger.checkin.activities import ActivityView
from ledger.checkin.errors import CheckinRejected
from ledger.checkin.presence import MAX_HOURS, ROUNDINGS, SessionRow, UnitRule
from ledger.checkin.service import CheckinService
from ledger.db.engine import write_transaction
from ledger.errors import InvalidInput
from ledger.staff import audit
from ledger.staff.errors import WrongRegion
from ledger.staff.roles import Actor
from ledger.taxonomy import RewardUnit

__all__ = [
    "RECENT_SHOWN",
    "NotPresenceActivity",
    "Board",
    "activity_of",
    "session_place",
    "board",
    "close",
    "cancel",
    "save_rule",
    "parse_rule_form",
    "rule_ceiling",
    "expiry_hours_ceiling",
]

RECENT_SHOWN: Final = 50  # ended sessions listed on the page
_ENDED: Final = ("recorded", "too_short", "cancelled")


class NotPresenceActivity(InvalidInput):
    """An activity rewarded per visit: it has no arrival and departure."""


@dataclass(frozen=True)
class Board:
    """What the presence page shows, sessions newest first."""

    activity: ActivityView
    rule: UnitRule
    open: list[SessionRow] = field(default_factory=list)  # 滞在中
    awaiting: list[SessionRow] = field(default_factory=list)  # 確認待ち
    expired: list[SessionRow] = field(default_factory=list)  # 期限切れ
    ended: list[SessionRow] = field(default_factory=list)  # recorded, too_short, cancelled

    def as_dict(self) -> dict[str, Any]:
        return {
            "activity_id": self.activity.activity_id,
            "unit": RewardUnit(self.activity.unit).code,
            "rule": self.rule.as_dict(),
            "open": [s.as_dict() for s in self.open],
            "awaiting_staff": [s.as_dict() for s in self.awaiting],
            "expired": [s.as_dict() for s in self.expired],
            "ended": [s.as_dict() for s in self.ended],
        }


def activity_of(service: CheckinService, region: int, activity_id: int) -> ActivityView:
    """The activity if it is ``region``'s and rewarded per hour or day."""
    activity = service.directory.get(activity_id)  # CheckinRejected unknown_activity
    if activity.region != region:
        raise WrongRegion(f"activity {activity_id} belongs to region {activity.region:05d}, not {region:05d}")
    if activity.unit == RewardUnit.RECORD:
        raise NotPresenceActivity(f"activity {activity_id} is rewarded per visit: it has no check-in and check-out")
    return activity


def session_place(engine: Engine, session_id: int) -> tuple[int, int]:
    """(activity id, region) of a session (the JSON endpoints and the CLI name only the session)."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT activity_id, region FROM presence_sessions WHERE session_id = :s"), {"s": session_id}
        ).first()
    if row is None:
        raise CheckinRejected("unknown_claim", f"there is no check-in {session_id}")
    return int(row.activity_id), int(row.region)


def board(engine: Engine, actor: Actor, service: CheckinService, region: int, activity_id: int) -> Board:
    """The activity's sessions by state and its rule (expired check-ins marked first)."""
    actor.require("read", region)
    activity = activity_of(service, region, activity_id)
    with write_transaction(engine) as conn:
        presence.expire_due(conn, service.clock(), activity_id)
    with engine.connect() as conn:
        rule = presence.load_rule(conn, activity)
        live = presence.list_sessions(conn, activity_id, ("open", "awaiting_staff", "expired"))
        ended = presence.list_sessions(conn, activity_id, _ENDED, limit=RECENT_SHOWN)
    return Board(
        activity=activity,
        rule=rule,
        open=[s for s in live if s.state == "open"],
        awaiting=[s for s in live if s.state == "awaiting_staff"],
        expired=[s for s in live if s.state == "expired"],
        ended=ended,
    )


def close(
    engine: Engine,
    actor: Actor,
    service: CheckinService,
    region: int,
    activity_id: int,
    session_id: int,
    units: int | None = None,
    client: str = "",
) -> SessionRow:
    """Record a session (open, expired or awaiting confirmation) with ``units`` (None: the
    measure): its claim goes to the outbox, the audit says whether staff corrected the units.
    ``CheckinRejected`` ``invalid_units`` / ``overlapping_stay`` / ``already_claimed`` /
    ``unknown_claim`` change nothing."""
    actor.require("checkins", region)
    activity = activity_of(service, region, activity_id)
    now = service.clock()
    with write_transaction(engine) as conn:
        presence.expire_due(conn, now, activity_id)
        closed = presence.staff_close(conn, activity, session_id, units, by=actor.ref, now=now)
        audit.record(
            conn,
            actor,
            "presence.close",
            region=region,
            target=f"presence:{session_id}",
            detail={
                "activity_id": activity_id,
                "session_id": session_id,
                "participant": closed.participant,
                "measured_units": closed.measured_units,
                "units": closed.units,
                "corrected": units is not None and units != closed.measured_units,
                "claim_id": closed.claim_id,
            },
            client=client,
        )
    return closed


def cancel(
    engine: Engine,
    actor: Actor,
    service: CheckinService,
    region: int,
    activity_id: int,
    session_id: int,
    client: str = "",
) -> SessionRow:
    """End a session without a record (a mistaken check-in, a check-out staff do not confirm)."""
    actor.require("checkins", region)
    activity = activity_of(service, region, activity_id)
    now = service.clock()
    with write_transaction(engine) as conn:
        presence.expire_due(conn, now, activity_id)
        cancelled = presence.staff_cancel(conn, activity, session_id, by=actor.ref, now=now)
        audit.record(
            conn,
            actor,
            "presence.cancel",
            region=region,
            target=f"presence:{session_id}",
            detail={
                "activity_id": activity_id,
                "session_id": session_id,
                "participant": cancelled.participant,
                "measured_units": cancelled.measured_units,
            },
            client=client,
        )
    return cancelled


def save_rule(
    engine: Engine,
    actor: Actor,
    service: CheckinService,
    region: int,
    activity_id: int,
    rule: UnitRule,
    client: str = "",
) -> UnitRule:
    """Set the activity's rule (``ValueError`` naming the problem when it does not fit)."""
    actor.require("checkins", region)
    activity = activity_of(service, region, activity_id)
    with write_transaction(engine) as conn:
        before = presence.load_rule(conn, activity)
        saved = presence.save_rule(conn, activity, rule, by=actor.ref, now_ms=int(service.clock() * 1000))
        audit.record(
            conn,
            actor,
            "presence.rule",
            region=region,
            target=f"activity:{activity_id}",
            detail={"activity_id": activity_id, "from": _rule_words(before), "to": _rule_words(saved)},
            client=client,
        )
    return saved


def _rule_words(rule: UnitRule) -> str:
    return (
        f"{rule.rounding} min {rule.min_units} cap {rule.cap_units} expiry {rule.open_expiry_s // 3600}h"
        f"{' staff confirms' if rule.staff_confirms else ''}"
    )


def rule_ceiling(activity: ActivityView) -> int:
    """The largest cap a rule of ``activity`` may have (its maximum; 24 for hours)."""
    return min(activity.max_units, MAX_HOURS) if activity.unit == RewardUnit.HOUR else activity.max_units


def expiry_hours_ceiling(activity: ActivityView, cap: int) -> int:
    """The longest an open check-in may stay open, in hours (a day for hours; the cap + 7 days)."""
    return MAX_HOURS if activity.unit == RewardUnit.HOUR else (cap + 7) * 24


def _whole(raw: str) -> int | None:
    raw = raw.strip()
    if not raw or not raw.lstrip("-").isdigit() or len(raw) > 9:
        return None
    return int(raw)


def parse_rule_form(form: Mapping[str, str], activity: ActivityView) -> tuple[UnitRule | None, dict[str, str]]:
    """The rule form (strings: rounding, min_units, cap_units, expiry_hours, staff_confirms) as a
    :class:`UnitRule`, or an error key per field."""
    errors: dict[str, str] = {}
    rounding = form.get("rounding", "down")
    if rounding not in ROUNDINGS:
        errors["rounding"] = "rounding_invalid"
    ceiling = rule_ceiling(activity)
    cap = _whole(form.get("cap_units", ""))
    if cap is None or not 1 <= cap <= ceiling:
        errors["cap_units"] = "cap_invalid"
    least = _whole(form.get("min_units", ""))
    if least is None or not 1 <= least <= (cap if cap is not None and "cap_units" not in errors else ceiling):
        errors["min_units"] = "min_invalid"
    hours = _whole(form.get("expiry_hours", ""))
    longest = expiry_hours_ceiling(activity, cap if cap is not None and "cap_units" not in errors else ceiling)
    if hours is None or not 1 <= hours <= longest:
        errors["expiry_hours"] = "expiry_invalid"
    if errors or cap is None or least is None or hours is None:
        return None, errors
    staff = form.get("staff_confirms", "") in ("1", "on", "true")
    return UnitRule(rounding, least, cap, hours * 3600, staff), {}
