"""Activities, the kiosk and check-ins, as region staff run them (the console pages and the operator
JSON endpoints both call these).

Every chain write goes through :func:`ledger.console.pending.run_chain_action`: a ``pending_actions``
row before the transaction, ``done``/``failed`` and the staff audit after. The kinds are
``activity.create``, ``activity.edit``, ``activity.designate``, ``activity.close`` and
``record.revoke``; each registers a checker in :data:`ledger.console.pending.CHECKERS` so a row a
crash left ``sending`` is settled from the indexed chain. Opening the kiosk sends nothing: it is
audited locally (``kiosk.open``).

Texts (name, description, venue) stay off chain (:func:`ledger.checkin.metadata.store_metadata`),
and so does a revocation's note: ``revocation_notes`` keeps it under ``0x`` + keccak256(note), the
evidence hash the chain records. Notes are for staff only, never public.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from eth_utils.crypto import keccak
from sqlalchemy import Connection, Engine, text

from ledger.chain.client import ActivitySpec
from ledger.chain.context import ChainContext
from ledger.checkin.activities import ActivityDirectory, ActivityView
from ledger.checkin.metadata import store_metadata
from ledger.checkin.service import CheckinService, KioskLink
from ledger.checkin.signing import normalise_address
from ledger.console.pending import CHECKERS, PendingAction, run_chain_action
from ledger.db.engine import write_transaction
from ledger.errors import InvalidInput
from ledger.jst import JST, today
from ledger.relay.outbox import claim_counts, recent_claims
from ledger.staff import audit
from ledger.staff.roles import Actor
from ledger.taxonomy import ContributionKind, RewardUnit

__all__ = [
    "ACTIVITY_KINDS",
    "REVOKE_REASONS",
    "ChainSource",
    "ActivityInput",
    "ActivityRow",
    "ActivityFacts",
    "CheckIn",
    "parse_activity_form",
    "validate_activity",
    "create_activity",
    "edit_activity",
    "designate_activity",
    "close_activity",
    "revoke_record",
    "open_kiosk",
    "region_activities",
    "activity_facts",
    "check_ins",
    "evidence_hash_of",
    "short_address",
]

ACTIVITY_KINDS: Final = ("activity.create", "activity.edit", "activity.designate", "activity.close", "record.revoke")
REVOKE_REASONS: Final = (1, 2, 3, 4, 5)  # 誤って発行, 不参加, 同一人物の重複, 本人の申し出, その他
ZERO_EVIDENCE: Final = "0x" + "00" * 32
_MAX_REWARD: Final = 2**40 - 1
_MAX_TIME: Final = 2**40 - 1

# The chain as the caller reaches it: called only when a transaction is about to be sent, so a node
# that is down fails *after* the pending row is written (and the row is marked failed).
ChainSource = Callable[[], ChainContext]


# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityInput:
    """A new activity as staff describe it; ``unit`` is ``record``, ``hour`` or ``day``."""

    name: str
    kind: int
    reward: int
    starts_at: int
    ends_at: int
    description: str = ""
    venue: str = ""
    capacity: int = 0
    designated: bool = False
    unit: str = "record"
    max_units: int = 1

    def spec(self, region: int, metadata_hash: str) -> ActivitySpec:
        return ActivitySpec(
            region=region,
            kind=ContributionKind(self.kind),
            reward=self.reward,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            capacity=self.capacity,
            metadata_hash=bytes.fromhex(metadata_hash[2:]),
            designated=self.designated,
            unit=RewardUnit.of_code(self.unit),
            max_units=self.max_units,
        )


def validate_activity(value: ActivityInput) -> dict[str, str]:
    """Problems by field (an error key per field; empty when the chain would take the activity)."""
    errors: dict[str, str] = {}
    if not value.name.strip():
        errors["name"] = "name_required"
    elif len(value.name) > 120:
        errors["name"] = "name_too_long"
    if len(value.venue) > 200:
        errors["venue"] = "venue_too_long"
    if len(value.description) > 2000:
        errors["description"] = "description_too_long"
    if value.kind not in {int(k) for k in ContributionKind}:
        errors["kind"] = "kind_invalid"
    if not 0 <= value.reward <= _MAX_REWARD:
        errors["reward"] = "reward_invalid"
    if value.unit not in ("record", "hour", "day"):
        errors["unit"] = "unit_invalid"
    elif value.unit == "record" and value.max_units != 1:
        errors["max_units"] = "max_units_record"
    elif not 1 <= value.max_units <= 65_535:
        errors["max_units"] = "max_units_invalid"
    if not 0 <= value.capacity < 2**32:
        errors["capacity"] = "capacity_invalid"
    if not 0 <= value.starts_at <= _MAX_TIME:
        errors["starts_at"] = "starts_invalid"
    if not 0 <= value.ends_at <= _MAX_TIME:
        errors["ends_at"] = "ends_invalid"
    elif "starts_at" not in errors and value.ends_at <= value.starts_at:
        errors["ends_at"] = "ends_before_start"
    return errors


def _form_rules(value: ActivityInput, now: int) -> dict[str, str]:
    """What the console form asks on top of what the chain accepts: an activity still to come (the
    API may register past ones, e.g. to record a paper sign-in sheet), designated before it starts."""
    errors: dict[str, str] = {}
    if 0 < value.ends_at <= now:
        errors["ends_at"] = "ends_in_past"
    if value.designated and 0 < value.starts_at <= now:
        errors["designated"] = "designated_started"
    return errors


def _jst_input(raw: str) -> int | None:
    """``YYYY-MM-DDTHH:MM`` (a ``datetime-local`` field) read as JST; None when it is not one."""
    try:
        moment = datetime.strptime(raw.strip()[:16], "%Y-%m-%dT%H:%M")
    except ValueError:
        return None
    return int(moment.replace(tzinfo=JST).timestamp())


def jst_input_value(timestamp: int) -> str:
    """Unix seconds as a ``datetime-local`` value in JST."""
    return datetime.fromtimestamp(timestamp, JST).strftime("%Y-%m-%dT%H:%M")


def default_form(now: int | None = None) -> dict[str, str]:
    """The new-activity form's values: tomorrow 10:00–16:00 JST, an event paid per participation."""
    now = int(time.time()) if now is None else now
    tomorrow = today(now) + timedelta(days=1)
    start = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 10, 0, tzinfo=JST)
    return {
        "name": "",
        "venue": "",
        "description": "",
        "kind": str(int(ContributionKind.FESTIVAL_EVENT)),
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (start + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M"),
        "reward": "300",
        "unit": "record",
        "max_units": "1",
        "capacity": "0",
        "designated": "",
    }


def _int(raw: str, default: int | None = None) -> int | None:
    raw = raw.strip().replace(",", "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        return None


def parse_activity_form(form: Mapping[str, str], now: int | None = None) -> tuple[ActivityInput | None, dict[str, str]]:
    """The new-activity form (strings) as an :class:`ActivityInput`, or the problems by field.

    Times are ``datetime-local`` values in JST; an activity paid per participation records one unit
    whatever the units field says."""
    errors: dict[str, str] = {}
    fields: dict[str, int] = {}
    for name, default, key in (
        ("kind", None, "kind_invalid"),
        ("reward", None, "reward_invalid"),
        ("max_units", 1, "max_units_invalid"),
        ("capacity", 0, "capacity_invalid"),
    ):
        value = _int(form.get(name, ""), default)
        if value is None:
            errors[name] = key
        else:
            fields[name] = value
    for name, key in (("starts_at", "starts_invalid"), ("ends_at", "ends_invalid")):
        value = _jst_input(form.get(name, ""))
        if value is None:
            errors[name] = key
        else:
            fields[name] = value
    unit = form.get("unit", "record")
    if unit == "record":
        fields["max_units"] = 1
    parsed = ActivityInput(
        name=form.get("name", "").strip(),
        kind=fields.get("kind", -1),
        reward=fields.get("reward", 0),
        starts_at=fields.get("starts_at", 0),
        ends_at=fields.get("ends_at", 0),
        description=form.get("description", "").strip(),
        venue=form.get("venue", "").strip(),
        capacity=fields.get("capacity", 0),
        designated=form.get("designated", "") in ("1", "on", "true"),
        unit=unit,
        max_units=fields.get("max_units", 1),
    )
    now = int(time.time()) if now is None else now
    for name, key in {**_form_rules(parsed, now), **validate_activity(parsed)}.items():
        if "starts_at" in errors and name in ("ends_at", "designated"):
            continue  # follow-on problems of a start time that could not be read
        errors.setdefault(name, key)
    return (None if errors else parsed), errors


# ---------------------------------------------------------------------------------------------
# Chain actions
# ---------------------------------------------------------------------------------------------


def create_activity(
    engine: Engine, actor: Actor, region: int, value: ActivityInput, chain: ChainSource, client: str = ""
) -> dict[str, Any]:
    """Register ``value`` on chain (its text kept off chain first); returns ``activity_id`` and
    ``metadata_hash``. ``ValueError`` when it does not validate."""
    actor.require("activities", region)
    errors = validate_activity(value)
    if errors:
        raise InvalidInput("; ".join(f"{k}: {v}" for k, v in errors.items()))
    with write_transaction(engine) as conn:  # the text first, so the kiosk can show the name once indexed
        metadata_hash = store_metadata(conn, value.name, value.description, value.venue)

    def send() -> dict[str, Any]:
        ctx = chain()
        activity_id = ctx.client.register_activity(ctx.operator("region-admin"), value.spec(region, metadata_hash))
        return {"activity_id": activity_id, "metadata_hash": metadata_hash}

    return run_chain_action(
        engine,
        actor,
        region=region,
        kind="activity.create",
        payload={"region": region, **asdict(value)},
        send=send,
        metadata_hash=metadata_hash,
        client=client,
    )


def edit_activity(
    engine: Engine,
    actor: Actor,
    region: int,
    activity_id: int,
    *,
    name: str,
    description: str,
    venue: str,
    chain: ChainSource,
    directory: ActivityDirectory | None = None,
    client: str = "",
) -> dict[str, Any]:
    """New text for an activity: stored, then its hash committed on chain (``setActivityMetadata``)."""
    actor.require("activities", region)
    name, description, venue = name.strip(), description.strip(), venue.strip()
    if not name or len(name) > 120 or len(description) > 2000 or len(venue) > 200:
        raise InvalidInput("name 1-120, description up to 2000 and venue up to 200 characters")
    with write_transaction(engine) as conn:
        metadata_hash = store_metadata(conn, name, description, venue)

    def send() -> dict[str, Any]:
        ctx = chain()
        receipt = ctx.client.set_activity_metadata(
            ctx.operator("region-admin"), activity_id, bytes.fromhex(metadata_hash[2:])
        )
        return {"activity_id": activity_id, "metadata_hash": metadata_hash, "tx_hash": ctx.client.tx_hash(receipt)}

    result = run_chain_action(
        engine,
        actor,
        region=region,
        kind="activity.edit",
        payload={"activity_id": activity_id, "name": name, "description": description, "venue": venue},
        send=send,
        metadata_hash=metadata_hash,
        target=f"activity:{activity_id}",
        client=client,
    )
    if directory is not None:
        directory.invalidate(activity_id)
    return result


def designate_activity(
    engine: Engine,
    actor: Actor,
    region: int,
    activity_id: int,
    designated: bool,
    chain: ChainSource,
    directory: ActivityDirectory | None = None,
    client: str = "",
) -> dict[str, Any]:
    """Designate an activity as a 担い手活動 or undo it (the chain refuses once it started:
    :class:`ledger.errors.ActivityStarted`)."""
    actor.require("activities", region)

    def send() -> dict[str, Any]:
        ctx = chain()
        receipt = ctx.client.set_activity_designated(ctx.operator("region-admin"), activity_id, designated)
        return {"activity_id": activity_id, "designated": designated, "tx_hash": ctx.client.tx_hash(receipt)}

    result = run_chain_action(
        engine,
        actor,
        region=region,
        kind="activity.designate",
        payload={"activity_id": activity_id, "designated": designated},
        send=send,
        target=f"activity:{activity_id}",
        client=client,
    )
    if directory is not None:
        directory.invalidate(activity_id)
    return result


def close_activity(
    engine: Engine,
    actor: Actor,
    region: int,
    activity_id: int,
    chain: ChainSource,
    directory: ActivityDirectory | None = None,
    client: str = "",
) -> dict[str, Any]:
    """Close an activity: no further check-ins (cannot be undone)."""
    actor.require("activities", region)

    def send() -> dict[str, Any]:
        ctx = chain()
        receipt = ctx.client.close_activity(ctx.operator("region-admin"), activity_id)
        return {"activity_id": activity_id, "closed": True, "tx_hash": ctx.client.tx_hash(receipt)}

    result = run_chain_action(
        engine,
        actor,
        region=region,
        kind="activity.close",
        payload={"activity_id": activity_id},
        send=send,
        target=f"activity:{activity_id}",
        client=client,
    )
    if directory is not None:
        directory.mark_closed(activity_id)
    return result


def evidence_hash_of(note: str) -> str:
    """The evidence hash a revocation records for ``note``: ``0x`` + keccak256 of its UTF-8 (zero
    when there is no note)."""
    return "0x" + keccak(text=note).hex() if note else ZERO_EVIDENCE


def revoke_record(
    engine: Engine,
    actor: Actor,
    region: int,
    activity_id: int,
    participant: str,
    reason: int,
    note: str,
    chain: ChainSource,
    client: str = "",
) -> dict[str, Any]:
    """Revoke ``participant``'s record of ``activity_id`` with a reason (1–5); the note is kept in
    ``revocation_notes`` under its hash (staff only) and only the hash goes on chain."""
    actor.require("checkins", region)
    if reason not in REVOKE_REASONS:
        raise InvalidInput("the reason must be 1 to 5")
    note = note.strip()
    if len(note) > 2000:
        raise InvalidInput("the note is at most 2000 characters")
    participant = normalise_address(participant)
    evidence = evidence_hash_of(note)
    with write_transaction(engine) as conn:
        if note:  # kept before the transaction, like an activity's text: the chain only holds its hash
            conn.execute(
                text(
                    "INSERT INTO revocation_notes (evidence_hash, region, note, created_at, created_by) "
                    "VALUES (:h, :r, :n, :t, :a) ON CONFLICT DO NOTHING"
                ),
                {"h": evidence, "r": region, "n": note, "t": int(time.time()), "a": actor.ref},
            )
        recorded_in = conn.execute(
            text(
                "SELECT tx_hash FROM contributions WHERE activity_id = :a AND participant = :p "
                "ORDER BY block_number DESC LIMIT 1"
            ),
            {"a": activity_id, "p": participant.lower()},
        ).scalar()

    def send() -> dict[str, Any]:
        ctx = chain()
        event = ctx.client.revoke(
            ctx.operator("region-admin"),
            activity_id,
            participant,
            reason,
            bytes.fromhex(evidence[2:]),
            tx_hash=str(recorded_in) if recorded_in else None,
        )
        return {
            "activity_id": activity_id,
            "participant": participant,
            "reason": reason,
            "evidence_hash": evidence,
            "clawed_back": int(event["clawedBack"]),
            "shortfall": int(event["shortfall"]),
        }

    return run_chain_action(
        engine,
        actor,
        region=region,
        kind="record.revoke",
        payload={"activity_id": activity_id, "participant": participant, "reason": reason, "evidence_hash": evidence},
        send=send,
        target=f"participant:{participant}",
        client=client,
        audit_payload={"activity_id": activity_id, "participant": participant, "reason": reason},
    )


def open_kiosk(
    engine: Engine,
    actor: Actor,
    region: int,
    activity_id: int,
    units: int | None,
    checkin: CheckinService,
    client: str = "",
) -> KioskLink:
    """A kiosk link for the venue's tablet (no transaction; audited as ``kiosk.open``)."""
    actor.require("checkins", region)
    link = checkin.kiosk_link(activity_id, units)
    with write_transaction(engine) as conn:
        audit.record(
            conn,
            actor,
            "kiosk.open",
            region=region,
            target=f"activity:{activity_id}",
            detail={"activity_id": activity_id, "units": link.units, "expires_at": link.expires_at},
            client=client,
        )
    return link


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityRow:
    activity_id: int
    name: str
    kind: int
    reward: int
    unit: str
    max_units: int
    starts_at: int
    ends_at: int
    capacity: int
    closed: bool
    designated: bool
    counts: dict[str, int]

    def section(self, now: int) -> str:
        """``open`` (受付中), ``upcoming`` (これから) or ``past`` (終了: closed or ended)."""
        if self.closed or self.ends_at <= now:
            return "past"
        return "upcoming" if self.starts_at > now else "open"

    def as_dict(self) -> dict[str, Any]:
        return {
            "activity_id": self.activity_id,
            "name": self.name,
            "kind": self.kind,
            "reward": self.reward,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "capacity": self.capacity,
            "closed": self.closed,
            "designated": self.designated,
            "unit": self.unit,
            "max_units": self.max_units,
            "claims": self.counts,
        }


def region_activities(conn: Connection, chain_id: int, region: int) -> list[ActivityRow]:
    """The region's indexed activities (newest first) with their claim counts."""
    rows = conn.execute(
        text(
            "SELECT a.activity_id, a.kind, a.reward, a.starts_at, a.ends_at, a.capacity, a.closed, a.designated, "
            "a.unit, a.max_units, m.name "
            "FROM activities a LEFT JOIN activity_metadata m ON m.metadata_hash = a.metadata_hash "
            "WHERE a.chain_id = :c AND a.region = :r ORDER BY a.activity_id DESC"
        ),
        {"c": chain_id, "r": region},
    ).all()
    return [
        ActivityRow(
            activity_id=int(r.activity_id),
            name=str(r.name or f"#{r.activity_id}"),
            kind=int(r.kind),
            reward=int(r.reward),
            unit=RewardUnit(int(r.unit)).code,
            max_units=int(r.max_units),
            starts_at=int(r.starts_at),
            ends_at=int(r.ends_at),
            capacity=int(r.capacity),
            closed=bool(r.closed),
            designated=bool(r.designated),
            counts=claim_counts(conn, int(r.activity_id)),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class ActivityFacts:
    """One activity as the console shows it; ``indexed`` is False while only the chain knows it."""

    activity_id: int
    region: int
    name: str
    description: str
    venue: str
    kind: int
    reward: int
    unit: str
    max_units: int
    starts_at: int
    ends_at: int
    capacity: int
    closed: bool
    designated: bool
    metadata_hash: str
    indexed: bool
    counts: dict[str, int]
    revoked: int = 0

    def state(self, now: int) -> str:
        if self.closed:
            return "closed"
        if now < self.starts_at:
            return "upcoming"
        return "ended" if now >= self.ends_at else "open"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "claims": self.counts}


def activity_facts(
    conn: Connection, chain_id: int, activity_id: int, directory: ActivityDirectory | None = None
) -> ActivityFacts | None:
    """The activity from the index, else (an activity registered moments ago) from ``directory``
    (which reads the chain once); None when neither knows it."""
    row = conn.execute(
        text(
            "SELECT a.activity_id, a.region, a.kind, a.reward, a.starts_at, a.ends_at, a.capacity, a.closed, "
            "a.designated, a.unit, a.max_units, a.metadata_hash, m.name, m.description, m.venue "
            "FROM activities a LEFT JOIN activity_metadata m ON m.metadata_hash = a.metadata_hash "
            "WHERE a.chain_id = :c AND a.activity_id = :i"
        ),
        {"c": chain_id, "i": activity_id},
    ).first()
    counts = claim_counts(conn, activity_id)
    revoked = int(
        conn.execute(text("SELECT COUNT(*) FROM revocations WHERE activity_id = :a"), {"a": activity_id}).scalar_one()
    )
    if row is not None:
        return ActivityFacts(
            activity_id=int(row.activity_id),
            region=int(row.region),
            name=str(row.name or f"#{row.activity_id}"),
            description=str(row.description or ""),
            venue=str(row.venue or ""),
            kind=int(row.kind),
            reward=int(row.reward),
            unit=RewardUnit(int(row.unit)).code,
            max_units=int(row.max_units),
            starts_at=int(row.starts_at),
            ends_at=int(row.ends_at),
            capacity=int(row.capacity),
            closed=bool(row.closed),
            designated=bool(row.designated),
            metadata_hash=str(row.metadata_hash),
            indexed=True,
            counts=counts,
            revoked=revoked,
        )
    if directory is None:
        return None
    from ledger.checkin.errors import CheckinRejected

    try:
        view: ActivityView = directory.get(activity_id)
    except CheckinRejected:
        return None
    return ActivityFacts(
        activity_id=view.activity_id,
        region=view.region,
        name=view.name,
        description=view.description,
        venue=view.venue,
        kind=view.kind,
        reward=view.reward,
        unit=RewardUnit(view.unit).code,
        max_units=view.max_units,
        starts_at=view.starts_at,
        ends_at=view.ends_at,
        capacity=view.capacity,
        closed=view.closed,
        designated=view.designated,
        metadata_hash=view.metadata_hash,
        indexed=False,
        counts=counts,
        revoked=revoked,
    )


@dataclass(frozen=True)
class CheckIn:
    """One participant at an activity: a claim of the check-in outbox and/or a record on chain.

    ``status``: ``accepted`` (受付済み), ``submitted`` (送信中), ``confirmed`` (記録済み: confirmed by
    the relayer, or indexed), ``rejected`` (却下), ``revoked`` (取消済み: an indexed revocation)."""

    claim_id: int | None
    participant: str
    units: int
    status: str
    at: int
    tx_hash: str | None
    error: str | None
    revocation_reason: int | None

    @property
    def revocable(self) -> bool:
        return self.status == "confirmed"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


CHECKIN_STATUSES: Final = ("accepted", "submitted", "confirmed", "rejected", "revoked")


def check_ins(
    conn: Connection,
    activity_id: int,
    *,
    address_prefix: str = "",
    status: str | None = None,
    limit: int = 500,
) -> list[CheckIn]:
    """The activity's check-ins, newest first: its claims, with what the index knows (a record, a
    revocation), plus records made without a claim here (the CLI, another issuer)."""
    prefix = address_prefix.strip().lower()
    if prefix and not prefix.startswith("0x"):
        prefix = "0x" + prefix
    like = {"p": prefix + "%"} if prefix else {}
    where = " AND participant LIKE :p" if prefix else ""
    claims = recent_claims(conn, activity_id, prefix)
    records = {
        str(r.participant): r
        for r in conn.execute(
            text(
                "SELECT participant, units, tx_hash, block_timestamp FROM contributions "
                f"WHERE activity_id = :a{where} ORDER BY block_number"
            ),
            {"a": activity_id, **like},
        )
    }
    revoked = {
        str(r.participant): int(r.reason)
        for r in conn.execute(
            text(f"SELECT participant, reason FROM revocations WHERE activity_id = :a{where}"),
            {"a": activity_id, **like},
        )
    }
    out: list[CheckIn] = []
    seen: set[str] = set()
    for c in claims:
        participant = str(c.participant)
        seen.add(participant)
        record = records.get(participant)
        state = str(c.status)
        if record is not None and state != "rejected":
            state = "confirmed"
        if participant in revoked:
            state = "revoked"
        out.append(
            CheckIn(
                claim_id=int(c.id),
                participant=participant,
                units=int(c.units),
                status=state,
                at=int(c.accepted_at_ms) // 1000,
                tx_hash=str(c.tx_hash or (record.tx_hash if record is not None else "")) or None,
                error=c.error_code,
                revocation_reason=revoked.get(participant),
            )
        )
    for participant, record in records.items():
        if participant in seen:
            continue
        out.append(
            CheckIn(
                claim_id=None,
                participant=participant,
                units=int(record.units),
                status="revoked" if participant in revoked else "confirmed",
                at=int(record.block_timestamp),
                tx_hash=str(record.tx_hash),
                error=None,
                revocation_reason=revoked.get(participant),
            )
        )
    out.sort(key=lambda c: c.at, reverse=True)
    if status:
        out = [c for c in out if c.status == status]
    return out[:limit]


def short_address(address: str) -> str:
    """``0x1234…abcd``."""
    return f"{address[:6]}…{address[-4:]}" if len(address) > 12 else address


# ---------------------------------------------------------------------------------------------
# Reconciliation: what the indexed chain shows of a row a crash left ``sending``
# ---------------------------------------------------------------------------------------------

_SLACK_S: Final = 60


def _claimed_ids(conn: Connection, region: int, kind: str, key: str) -> set[int]:
    """Ids already settled by other ``done`` rows of ``kind`` (two identical creations are two activities)."""
    ids: set[int] = set()
    for (result,) in conn.execute(
        text("SELECT result FROM pending_actions WHERE region = :r AND kind = :k AND status = 'done'"),
        {"r": region, "k": kind},
    ):
        try:
            value = json.loads(result or "{}").get(key)
        except ValueError:
            continue
        if isinstance(value, int):
            ids.add(value)
    return ids


def _check_create(conn: Connection, action: PendingAction) -> dict[str, Any] | None:
    if not action.metadata_hash:
        return None
    taken = _claimed_ids(conn, action.region, "activity.create", "activity_id")
    for row in conn.execute(
        text(
            "SELECT activity_id, tx_hash FROM activity_registrations WHERE region = :r AND metadata_hash = :h "
            "AND block_timestamp >= :t ORDER BY block_number, log_index"
        ),
        {"r": action.region, "h": action.metadata_hash.lower(), "t": action.created_at - _SLACK_S},
    ):
        if int(row.activity_id) not in taken:
            return {"activity_id": int(row.activity_id), "metadata_hash": action.metadata_hash, "tx_hash": row.tx_hash}
    return None


def _check_edit(conn: Connection, action: PendingAction) -> dict[str, Any] | None:
    activity_id = int(action.payload.get("activity_id", 0))
    row = conn.execute(
        text(
            "SELECT tx_hash FROM activity_metadata_changes WHERE activity_id = :a AND metadata_hash = :h "
            "AND block_timestamp >= :t ORDER BY block_number DESC LIMIT 1"
        ),
        {"a": activity_id, "h": (action.metadata_hash or "").lower(), "t": action.created_at - _SLACK_S},
    ).first()
    if row is None:
        return None
    return {"activity_id": activity_id, "metadata_hash": action.metadata_hash, "tx_hash": row.tx_hash}


def _check_designate(conn: Connection, action: PendingAction) -> dict[str, Any] | None:
    activity_id = int(action.payload.get("activity_id", 0))
    designated = bool(action.payload.get("designated"))
    row = conn.execute(
        text(
            "SELECT tx_hash, designated FROM activity_designations WHERE activity_id = :a AND block_timestamp >= :t "
            "ORDER BY block_number DESC, log_index DESC LIMIT 1"
        ),
        {"a": activity_id, "t": action.created_at - _SLACK_S},
    ).first()
    if row is None or bool(row.designated) != designated:
        return None
    return {"activity_id": activity_id, "designated": designated, "tx_hash": row.tx_hash}


def _check_close(conn: Connection, action: PendingAction) -> dict[str, Any] | None:
    activity_id = int(action.payload.get("activity_id", 0))
    row = conn.execute(
        text("SELECT tx_hash FROM activity_closures WHERE activity_id = :a LIMIT 1"), {"a": activity_id}
    ).first()
    return None if row is None else {"activity_id": activity_id, "closed": True, "tx_hash": row.tx_hash}


def _check_revoke(conn: Connection, action: PendingAction) -> dict[str, Any] | None:
    activity_id = int(action.payload.get("activity_id", 0))
    participant = str(action.payload.get("participant", "")).lower()
    row = conn.execute(
        text(
            "SELECT reason, evidence_hash, clawed_back, shortfall, tx_hash FROM revocations "
            "WHERE activity_id = :a AND participant = :p LIMIT 1"
        ),
        {"a": activity_id, "p": participant},
    ).first()
    if row is None:
        return None
    return {
        "activity_id": activity_id,
        "participant": participant,
        "reason": int(row.reason),
        "evidence_hash": row.evidence_hash,
        "clawed_back": int(row.clawed_back),
        "shortfall": int(row.shortfall),
        "tx_hash": row.tx_hash,
    }


CHECKERS.update(
    {
        "activity.create": _check_create,
        "activity.edit": _check_edit,
        "activity.designate": _check_designate,
        "activity.close": _check_close,
        "record.revoke": _check_revoke,
    }
)
