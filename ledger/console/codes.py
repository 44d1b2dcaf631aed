"""Single-use claim codes as region staff run them: generate a batch for an activity, list the
batches, print the A4 sheet or download the mail-merge CSV (the codes re-derived), void a batch.
The console pages, the operator JSON endpoints and ``tsunagari codes`` all call these, with the
same permission (``checkins``; listing needs ``read``).

**Codes are bearer tokens.** Whoever reads one can redeem it, so every way of seeing their plain
text is audited: ``codes.generate`` (the count, batch and expiry, never a code; when the JSON
endpoint hands the codes back once, ``delivered: json``), ``codes.print`` and ``codes.csv`` (who
downloaded them, how many). Viewers see the batches and their counts but not the codes.

**Expiry.** A code works until its ``expires_at`` and never after the activity ends: the intake
refuses every claim of an ended activity (``activity_ended``), so an expiry later than the
activity's ``ends_at`` would print a date on the letter that the code cannot keep. Generation
refuses such an expiry (:data:`EXPIRY_AFTER_END`); the console's date field means "through that
day, Japan time" and is clipped to the activity's end on its last day (:func:`expiry_of_day`).

**Units.** A code of an activity rewarded per visit records 1; of one rewarded per hour or day
it records the hours or days staff choose for the batch (1 by default: a code measures no time),
at most the activity's cap (and 24 hours).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine

from ledger.checkin import codes
from ledger.checkin.activities import ActivityView, check_units
from ledger.checkin.codes import MAX_BATCH, CodeBatch
from ledger.checkin.errors import CheckinRejected
from ledger.checkin.presence import MAX_HOURS
from ledger.checkin.service import CheckinService
from ledger.console.audit import _csv
from ledger.db.engine import write_transaction
from ledger.errors import ConfigError, InvalidInput
from ledger.jst import JST, date_of, day_start, format_datetime
from ledger.staff import audit
from ledger.staff.errors import StaffError, WrongRegion
from ledger.staff.roles import Actor
from ledger.taxonomy import RewardUnit

__all__ = [
    "MAX_BATCH",
    "MAX_LABEL",
    "CSV_COLUMNS",
    "BatchNotFound",
    "CodeInputInvalid",
    "PrintableCode",
    "CodeSheet",
    "expiry_of_day",
    "default_expiry_day",
    "code_units",
    "generate",
    "generate_with_codes",
    "list_batches",
    "codes_for_print",
    "codes_csv",
    "void",
    "batch_place",
    "csv_filename",
]

MAX_LABEL: Final = 200
CSV_COLUMNS: Final = (
    "serial",
    "code",
    "url",
    "activity_id",
    "activity_name",
    "municipality",
    "expires_at_jst",
    "state",
)
# The error keys of :class:`CodeInputInvalid` (the console shows a message per key).
COUNT_INVALID: Final = "count_invalid"
EXPIRY_PAST: Final = "expiry_past"
EXPIRY_AFTER_END: Final = "expiry_after_end"
LABEL_TOO_LONG: Final = "label_too_long"


class BatchNotFound(StaffError):
    """No such batch of codes."""

    code = "unknown_batch"


class CodeInputInvalid(InvalidInput):
    """A generation request the server will not make; ``key`` names the problem (a form field's)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class PrintableCode:
    """One code with its plain text and claim URL (the print sheet, the CSV, the JSON answer)."""

    serial: int
    code: str  # canonical (16 characters)
    display: str  # XXXX-XXXX-XXXX-XXXX
    state: str  # issued, redeemed, voided, expired (issued but past its expiry)
    expires_at: int
    url: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class CodeSheet:
    batch: CodeBatch
    activity: ActivityView
    codes: list[PrintableCode]


def expiry_of_day(day: date, activity: ActivityView) -> int:
    """The expiry meant by "valid through ``day``" (Japan time): the end of that day, or the
    activity's end when it ends that day. A day after the activity's last day stays after its end
    (and :func:`generate` refuses it)."""
    end_of_day = day_start(day + timedelta(days=1))
    last_day = date_of(activity.ends_at)
    return min(end_of_day, activity.ends_at) if day <= last_day else end_of_day


def default_expiry_day(activity: ActivityView) -> date:
    """What the console's expiry field proposes: the activity's last day (Japan time)."""
    return date_of(activity.ends_at)


def code_units(activity: ActivityView, units: int | None) -> int:
    """The units each code of a batch records (``None``: 1); :class:`CheckinRejected`
    ``invalid_units`` beyond what the activity allows (0 is a presence kiosk's, never a code's)."""
    if units is None:
        return 1
    if units == 0:
        raise CheckinRejected("invalid_units", "a claim code records 1 or more units, not 0")
    units = check_units(activity, units)
    if activity.unit == RewardUnit.HOUR and units > MAX_HOURS:
        raise CheckinRejected("invalid_units", f"a claim code records at most {MAX_HOURS} hours, not {units}")
    return units


def _maker(service: CheckinService) -> codes.CodeMaker:
    maker = service.intake.codes
    if maker is None:
        raise ConfigError("this check-in service makes no claim codes (no check-in key)")
    return maker


def _activity_of(service: CheckinService, region: int, activity_id: int) -> ActivityView:
    activity = service.directory.get(activity_id)  # CheckinRejected unknown_activity
    if activity.region != region:
        raise WrongRegion(f"activity {activity_id} belongs to region {activity.region:05d}, not {region:05d}")
    return activity


def generate(
    engine: Engine,
    actor: Actor,
    service: CheckinService,
    region: int,
    activity_id: int,
    count: int,
    expires_at: int,
    label: str = "",
    units: int | None = None,
    client: str = "",
    *,
    delivered: str | None = None,
) -> CodeBatch:
    """``count`` new codes for ``activity_id``, valid until ``expires_at`` (unix seconds); audited as
    ``codes.generate`` in the same transaction (``delivered``: how the caller hands the codes out
    at once, e.g. ``json``). Refuses an activity closed or ended (``CheckinRejected``), another
    region's (``WrongRegion``), and bad input (:class:`CodeInputInvalid`, ``invalid_units``)."""
    actor.require("checkins", region)
    activity = _activity_of(service, region, activity_id)
    now = service.clock()
    if activity.closed:
        raise CheckinRejected("activity_closed", f"activity {activity_id} is closed")
    if now >= activity.ends_at:
        raise CheckinRejected("activity_ended", f"activity {activity_id} has ended")
    if not 1 <= count <= MAX_BATCH:
        raise CodeInputInvalid(COUNT_INVALID, f"a batch holds 1 to {MAX_BATCH} codes, not {count}")
    if expires_at <= now:
        raise CodeInputInvalid(EXPIRY_PAST, "the codes' expiry must be in the future")
    if expires_at > activity.ends_at:
        raise CodeInputInvalid(
            EXPIRY_AFTER_END,
            f"the codes cannot outlive the activity: it ends at {format_datetime(activity.ends_at, 'en')}, "
            "after which no claim is accepted",
        )
    label = label.strip()
    if len(label) > MAX_LABEL:
        raise CodeInputInvalid(LABEL_TOO_LONG, f"the label is at most {MAX_LABEL} characters")
    each = code_units(activity, units)
    with write_transaction(engine) as conn:
        batch = codes.create_batch(
            conn,
            _maker(service),
            activity_id=activity_id,
            region=region,
            count=count,
            units=each,
            expires_at=expires_at,
            label=label,
            created_by=actor.ref,
            now_ms=int(now * 1000),
        )
        detail: dict[str, Any] = {
            "activity_id": activity_id,
            "batch_id": batch.batch_id,
            "count": count,
            "units": each,
            "expires_at": expires_at,
            "label": label,
        }
        if delivered:
            detail["delivered"] = delivered
        audit.record(
            conn,
            actor,
            "codes.generate",
            region=region,
            target=f"code-batch:{batch.batch_id}",
            detail=detail,
            client=client,
        )
    return batch


def list_batches(engine: Engine, actor: Actor, region: int, activity_id: int) -> list[CodeBatch]:
    """The activity's batches, newest first, with their codes counted by state (no codes)."""
    actor.require("read", region)
    with engine.connect() as conn:
        return [b for b in codes.list_batches(conn, activity_id) if b.region == region]


def _batch_of(engine: Engine, region: int, batch_id: int) -> CodeBatch:
    with engine.connect() as conn:
        batch = codes.get_batch(conn, batch_id)
    if batch is None:
        raise BatchNotFound(f"there is no batch of codes {batch_id}")
    if batch.region != region:
        raise WrongRegion(f"batch {batch_id} belongs to region {batch.region:05d}, not {region:05d}")
    return batch


def batch_place(engine: Engine, batch_id: int) -> tuple[int, int]:
    """(activity id, region) of a batch (the JSON endpoints and the CLI name only the batch)."""
    with engine.connect() as conn:
        batch = codes.get_batch(conn, batch_id)
    if batch is None:
        raise BatchNotFound(f"there is no batch of codes {batch_id}")
    return batch.activity_id, batch.region


def _sheet(engine: Engine, service: CheckinService, batch: CodeBatch, *, only_unused: bool = False) -> CodeSheet:
    activity = service.directory.get(batch.activity_id)
    now = int(service.clock())
    with engine.connect() as conn:
        issued = codes.batch_codes(conn, _maker(service), batch)
    shown = []
    for c in issued:
        state = "expired" if c.state == "issued" and c.expires_at <= now else c.state
        if only_unused and state != "issued":
            continue
        shown.append(PrintableCode(c.serial, c.code, c.display, state, c.expires_at, service.claim_url(c.code)))
    return CodeSheet(batch, activity, shown)


def generate_with_codes(
    engine: Engine,
    actor: Actor,
    service: CheckinService,
    region: int,
    activity_id: int,
    count: int,
    expires_at: int,
    label: str = "",
    units: int | None = None,
    client: str = "",
) -> CodeSheet:
    """:func:`generate`, and the new codes in plain text at once (the JSON endpoint's answer, for
    an integrator's mail merge); the generation's audit says ``delivered: json``."""
    batch = generate(
        engine, actor, service, region, activity_id, count, expires_at, label, units, client, delivered="json"
    )
    return _sheet(engine, service, batch)


def codes_for_print(
    engine: Engine,
    actor: Actor,
    service: CheckinService,
    region: int,
    batch_id: int,
    *,
    purpose: str = "print",
    only_unused: bool = False,
    client: str = "",
) -> CodeSheet:
    """The batch's codes in plain text with their claim URLs (``only_unused``: the ones still
    redeemable), audited as ``codes.<purpose>`` (``print`` or ``csv``): who took the codes out."""
    actor.require("checkins", region)
    if purpose not in ("print", "csv"):
        raise InvalidInput(f"purpose is print or csv, not {purpose!r}")
    batch = _batch_of(engine, region, batch_id)
    sheet = _sheet(engine, service, batch, only_unused=only_unused)
    with write_transaction(engine) as conn:
        audit.record(
            conn,
            actor,
            f"codes.{purpose}",
            region=region,
            target=f"code-batch:{batch_id}",
            detail={"activity_id": batch.activity_id, "batch_id": batch_id, "count": len(sheet.codes)},
            client=client,
        )
    return sheet


def codes_csv(sheet: CodeSheet) -> bytes:
    """The mail-merge CSV of a sheet: UTF-8 with a BOM (Excel in Japan), CRLF, :data:`CSV_COLUMNS`;
    ``expires_at_jst`` is the last minute a code works (``2026-12-31 23:59`` for "through the 31st")."""
    return _csv(
        CSV_COLUMNS,
        (
            (
                c.serial,
                c.display,
                c.url,
                sheet.activity.activity_id,
                sheet.activity.name,
                sheet.activity.region_name,
                datetime.fromtimestamp(c.expires_at - 1, JST).strftime("%Y-%m-%d %H:%M"),  # last valid minute
                c.state,
            )
            for c in sheet.codes
        ),
    )


def csv_filename(sheet: CodeSheet) -> tuple[str, str]:
    """(Japanese, ASCII) file names of a batch's CSV."""
    batch = sheet.batch
    return (
        f"参加コード_{sheet.activity.name[:40]}_{batch.batch_id}.csv",
        f"codes-{batch.activity_id}-{batch.batch_id}.csv",
    )


def void(engine: Engine, actor: Actor, region: int, batch_id: int, client: str = "") -> int:
    """Void the batch's unused codes (redeemed ones stay: revoke their records instead); how many.
    Audited as ``codes.void`` in the same transaction."""
    actor.require("checkins", region)
    batch = _batch_of(engine, region, batch_id)
    with write_transaction(engine) as conn:
        voided = codes.void_batch(conn, batch_id, by=actor.ref, now_ms=int(time.time() * 1000))
        audit.record(
            conn,
            actor,
            "codes.void",
            region=region,
            target=f"code-batch:{batch_id}",
            detail={"activity_id": batch.activity_id, "batch_id": batch_id, "count": voided},
            client=client,
        )
    return voided
