"""The staff's eligibility roster: who in a municipality is eligible for ふるさと住民登録 Premium, and
when each person's eligibility lapses (docs/console.md, 「ふるさと住民登録の対象者」).

One SQL query selects the region's designated, live (not revoked) records dated in the 12-month
window ending on ``as_of``; the verdict per person is :func:`ledger.certificate.eligibility.eligibility`,
the one rule the certificate and the verifier use too, so the console can never disagree with a
certificate. People are pseudonymous (their addresses); a contact is known only for those who opted
in on their own page (:mod:`ledger.certificate.listings`) and is returned only when the caller may
see it (``contacts=True``).

Who is on the roster:

- **eligible**: at least :data:`PREMIUM_MIN_ACTIVITIES` designated records in the window; sorted by
  ``eligible_until``, the soonest lapse first, and ``lapsing_soon`` when that is within
  :data:`LAPSING_SOON_DAYS` of ``as_of``;
- **close**: one designated record short (two): one more activity makes them eligible, the people
  staff may want to invite; after the eligible, the most recently active first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from eth_utils.address import to_checksum_address
from sqlalchemy import Connection, text

from ledger.certificate.eligibility import PREMIUM_MIN_ACTIVITIES, eligibility, window
from ledger.certificate.model import day_int, day_of_int

__all__ = [
    "LAPSING_SOON_DAYS",
    "Listing",
    "Roster",
    "RosterRow",
    "RosterSummary",
    "designated_days",
    "eligibility_roster",
    "listed_people",
    "roster",
    "roster_summary",
]

LAPSING_SOON_DAYS: Final = 30
CLOSE_AT: Final = PREMIUM_MIN_ACTIVITIES - 1


@dataclass(frozen=True)
class RosterRow:
    participant: str  # checksummed address (pseudonymous)
    designated: int  # designated live records in the 12-month window
    last_designated: date  # the most recent of them (JST day)
    eligible: bool
    eligible_until: date | None  # the last day of eligibility unless they take part again
    lapsing_soon: bool  # eligible, and eligible_until at most LAPSING_SOON_DAYS after as_of
    listed: bool  # opted in, on their page, to be listed to this municipality's staff
    contact: str | None  # what they wrote; only when listed and the caller may see contacts
    listed_at: int | None  # unix seconds of the opt-in; only with the contact

    @property
    def status(self) -> str:
        return "eligible" if self.eligible else "close"


@dataclass(frozen=True)
class RosterSummary:
    eligible: int
    lapsing_soon: int
    close: int
    listed: int  # roster people who opted in (eligible or close)


@dataclass(frozen=True)
class Listing:
    contact: str
    listed_at: int


def designated_days(
    conn: Connection, region: int, as_of: date, participants: Sequence[str] | None = None
) -> dict[str, list[date]]:
    """The JST days of each person's designated live records in ``region`` dated in the 12 months
    ending on ``as_of`` (lowercase address → days); only ``participants`` when given."""
    start, end = window(as_of)
    params: dict[str, object] = {"r": region, "lo": day_int(start), "hi": day_int(end)}
    only = ""
    if participants is not None:
        if not participants:
            return {}
        names = [f"p{i}" for i in range(len(participants))]
        only = f" AND c.participant IN ({', '.join(':' + n for n in names)})"
        params.update({n: p.lower() for n, p in zip(names, participants, strict=True)})
    rows = conn.execute(
        text(
            "SELECT c.participant, c.day FROM contributions c"
            " WHERE c.region = :r AND c.day BETWEEN :lo AND :hi AND c.designated" + only + " AND NOT EXISTS"
            " (SELECT 1 FROM revocations v WHERE v.activity_id = c.activity_id AND v.participant = c.participant)"
        ),
        params,
    ).all()
    days: dict[str, list[date]] = defaultdict(list)
    for participant, day in rows:
        days[str(participant)].append(day_of_int(int(day)))
    return dict(days)


def listed_people(conn: Connection, region: int) -> dict[str, Listing]:
    """Who opted in to be listed to ``region``'s staff (lowercase address → contact, since when)."""
    rows = conn.execute(
        text("SELECT participant, contact, created_at FROM eligibility_listings WHERE region = :r AND contact <> ''"),
        {"r": region},
    ).all()
    return {str(r.participant): Listing(str(r.contact), int(r.created_at)) for r in rows}


def eligibility_roster(conn: Connection, region: int, as_of: date, *, contacts: bool = False) -> list[RosterRow]:
    """The eligible and the close people of ``region`` on ``as_of`` (module docstring), eligible
    first by the date their eligibility lapses. ``contacts``: include the opted-in people's
    contacts (only for callers allowed to read them)."""
    listed = listed_people(conn, region)
    rows = []
    for participant, days in designated_days(conn, region, as_of).items():
        verdict = eligibility(days, as_of)
        if verdict.designated < CLOSE_AT:
            continue
        listing = listed.get(participant)
        until = verdict.eligible_until
        rows.append(
            RosterRow(
                participant=str(to_checksum_address(participant)),
                designated=verdict.designated,
                last_designated=max(days),
                eligible=verdict.eligible,
                eligible_until=until,
                lapsing_soon=until is not None and until - as_of <= timedelta(days=LAPSING_SOON_DAYS),
                listed=listing is not None,
                contact=listing.contact if listing is not None and contacts else None,
                listed_at=listing.listed_at if listing is not None and contacts else None,
            )
        )
    return sorted(rows, key=_order)


def _order(row: RosterRow) -> tuple[object, ...]:
    if row.eligible_until is not None:
        return (0, row.eligible_until.toordinal(), row.participant.lower())
    return (1, -row.last_designated.toordinal(), row.participant.lower())


def roster_summary(rows: Iterable[RosterRow]) -> RosterSummary:
    found = list(rows)
    return RosterSummary(
        eligible=sum(r.eligible for r in found),
        lapsing_soon=sum(r.lapsing_soon for r in found),
        close=sum(not r.eligible for r in found),
        listed=sum(r.listed for r in found),
    )


@dataclass(frozen=True)
class Roster:
    """What the console page and ``GET /api/v1/regions/{region}/eligibility`` show: one document."""

    region: int
    as_of: date
    window_from: date
    window_to: date
    contacts_visible: bool
    summary: RosterSummary
    people: tuple[RosterRow, ...]

    @property
    def eligible(self) -> tuple[RosterRow, ...]:
        return tuple(r for r in self.people if r.eligible)

    @property
    def close(self) -> tuple[RosterRow, ...]:
        return tuple(r for r in self.people if not r.eligible)


def roster(conn: Connection, region: int, as_of: date, *, contacts: bool = False) -> Roster:
    """:func:`eligibility_roster` with its window and summary."""
    rows = eligibility_roster(conn, region, as_of, contacts=contacts)
    start, end = window(as_of)
    return Roster(region, as_of, start, end, contacts, roster_summary(rows), tuple(rows))
