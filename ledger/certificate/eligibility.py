"""ふるさと住民登録 Premium eligibility: one definition for the certificate, the verifier, the console.

**Eligible on day D** (JST) in a municipality: at least :data:`PREMIUM_MIN_ACTIVITIES` live
(not revoked) records of distinct activities that the municipality designated as 担い手活動, dated
in the 12 months ending on D — from the day after D's date one year earlier, through D (for
D = 2026-12-07: 2025-12-08 … 2026-12-07). One record per person per activity is the chain's rule,
so records and activities are the same count.

**Eligible until**: the last day the window still holds the third most recent designated record:
that record's date plus one year, minus one day. Renewal is annual in the national scheme, so the
console shows this date as when eligibility lapses unless the person takes part again.

The scheme's other conditions (identity by My Number Card, at most three municipalities, not the
home municipality) are the national app's to check, not ours (BRIEF §8).

The standalone verifier page implements the same rule in JavaScript (``ledger/certificate/verifier/verifier.js``);
``tests/certificate`` runs both on the same dates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

__all__ = ["PREMIUM_MIN_ACTIVITIES", "Eligibility", "eligibility", "window", "year_after"]

PREMIUM_MIN_ACTIVITIES: Final = 3


def year_after(day: date) -> date:
    """The same date a year later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def window(as_of: date) -> tuple[date, date]:
    """The 12 months ending on ``as_of``, both ends included."""
    return _year_before(as_of) + timedelta(days=1), as_of


@dataclass(frozen=True)
class Eligibility:
    as_of: date
    designated: int  # designated live records in the window
    eligible: bool
    eligible_until: date | None  # None when not eligible

    @property
    def text_ja(self) -> str:
        return f"指定活動 {self.designated}件（直近12か月）"


def eligibility(designated_days: Iterable[date], as_of: date) -> Eligibility:
    """The verdict for the designated live records dated ``designated_days`` (one per activity)."""
    start, end = window(as_of)
    inside = sorted((d for d in designated_days if start <= d <= end), reverse=True)
    eligible = len(inside) >= PREMIUM_MIN_ACTIVITIES
    until = year_after(inside[PREMIUM_MIN_ACTIVITIES - 1]) - timedelta(days=1) if eligible else None
    return Eligibility(as_of, len(inside), eligible, until)
