"""Japan-time calendar: the one place that turns unix seconds into JST days and months and back.

Japan Standard Time is UTC+9 with no daylight saving, so every conversion is integer arithmetic on
a fixed offset. The ledger uses three documented keys; nothing else should invent its own:

- **epoch day** (``int``): days since 1970-01-01 in Japan time. The key for "distinct calendar
  days" (visit days, stays) and for day arithmetic.
- **day key** (``int``, ``YYYYMMDD``): the key of a day in the database's day columns and rollups,
  readable in SQL and in exports.
- **month key** (``int``, ``YYYYMM``): the key of a month in rollups and month charts. Its text
  form for people and files is ``"YYYY-MM"`` (:func:`month_text`).

A day interval is inclusive at both ends (``start``..``end`` JST days); in seconds it is
``day_start(start)`` ≤ t < ``day_start(end + 1 day)``.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

__all__ = [
    "JST",
    "JST_OFFSET_SECONDS",
    "SECONDS_PER_DAY",
    "date_of",
    "date_of_day_key",
    "date_of_epoch_day",
    "day_end",
    "day_key",
    "day_key_of_date",
    "day_start",
    "epoch_day",
    "epoch_day_of_date",
    "format_date",
    "format_datetime",
    "month_first_day",
    "month_key",
    "month_key_of_date",
    "month_last_day",
    "month_text",
    "months",
    "next_month",
    "parse_date_text",
    "parse_month_text",
    "today",
]

JST_OFFSET_SECONDS = 9 * 3600
JST = timezone(timedelta(seconds=JST_OFFSET_SECONDS), "JST")
SECONDS_PER_DAY = 86_400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


# --- unix seconds -> JST ---------------------------------------------------------------------


def epoch_day(timestamp: float) -> int:
    """Days since 1970-01-01 in Japan time."""
    return (int(timestamp) + JST_OFFSET_SECONDS) // SECONDS_PER_DAY


def date_of(timestamp: float) -> date:
    """The JST calendar date of ``timestamp``."""
    return date.fromordinal(_EPOCH_ORDINAL + epoch_day(timestamp))


def day_key(timestamp: float) -> int:
    """The JST day of ``timestamp`` as ``YYYYMMDD``."""
    return day_key_of_date(date_of(timestamp))


def month_key(timestamp: float) -> int:
    """The JST month of ``timestamp`` as ``YYYYMM``."""
    return month_key_of_date(date_of(timestamp))


def today(now: float | None = None) -> date:
    """Today's date in Japan (``now`` defaults to the clock)."""
    return date_of(time.time() if now is None else now)


# --- JST -> unix seconds ---------------------------------------------------------------------


def day_start(day: date) -> int:
    """Unix seconds of 00:00:00 JST on ``day``."""
    return (day.toordinal() - _EPOCH_ORDINAL) * SECONDS_PER_DAY - JST_OFFSET_SECONDS


def day_end(day: date) -> int:
    """Unix seconds of 23:59:59 JST on ``day`` (the last second that belongs to it)."""
    return day_start(day) + SECONDS_PER_DAY - 1


# --- between the keys ------------------------------------------------------------------------


def epoch_day_of_date(day: date) -> int:
    return day.toordinal() - _EPOCH_ORDINAL


def date_of_epoch_day(days: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + days)


def day_key_of_date(day: date) -> int:
    return day.year * 10_000 + day.month * 100 + day.day


def date_of_day_key(key: int) -> date:
    """The date of a ``YYYYMMDD`` key; ValueError for a key that is not a calendar day."""
    return date(key // 10_000, key // 100 % 100, key % 100)


def month_key_of_date(day: date) -> int:
    return day.year * 100 + day.month


def month_first_day(month: int) -> date:
    return date(month // 100, month % 100, 1)


def next_month(month: int) -> int:
    year, mon = divmod(month, 100)
    return (year + 1) * 100 + 1 if mon == 12 else month + 1


def month_last_day(month: int) -> date:
    return month_first_day(next_month(month)) - timedelta(days=1)


def months(first: int, last: int) -> Iterator[int]:
    """Month keys from ``first`` to ``last`` inclusive (nothing when ``first > last``)."""
    month = first
    while month <= last:
        yield month
        month = next_month(month)


def month_text(month: int) -> str:
    """``YYYYMM`` as ``"YYYY-MM"``."""
    return f"{month // 100:04d}-{month % 100:02d}"


def parse_month_text(text: str) -> int:
    """``"YYYY-MM"`` as ``YYYYMM``; ValueError for anything else."""
    year_text, sep, month_text_ = text.partition("-")
    if not sep or len(year_text) != 4 or len(month_text_) != 2 or not (year_text + month_text_).isdigit():
        raise ValueError(f"a month is written YYYY-MM, got {text!r}")
    month = int(month_text_)
    if not 1 <= month <= 12:
        raise ValueError(f"a month is written YYYY-MM, got {text!r}")
    return int(year_text) * 100 + month


# --- for people ------------------------------------------------------------------------------


def format_date(day: date, lang: str = "ja") -> str:
    """A date for a page: ``2026年12月7日`` (ja) or ``2026-12-07`` (en)."""
    if lang == "ja":
        return f"{day.year}年{day.month}月{day.day}日"
    return day.isoformat()


def format_datetime(timestamp: float, lang: str = "ja", *, seconds: bool = False) -> str:
    """A moment in Japan time with its zone: ``2026年12月7日 21:05 JST`` / ``2026-12-07 21:05 JST``."""
    moment = datetime.fromtimestamp(int(timestamp), JST)
    clock = moment.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{format_date(moment.date(), lang)} {clock} JST"


_DATE_TEXT = re.compile(r"(\d{4})(?:[-/.](\d{1,2})[-/.](\d{1,2})|年(\d{1,2})月(\d{1,2})日?|(\d{2})(\d{2}))")


def parse_date_text(text: str) -> date:
    """A date as people type it into a page's date field: ``2026-12-07``, ``2026/12/7``,
    ``2026年12月7日`` or ``20261207`` (a phone's number pad), full-width digits too; ValueError for
    anything else or a day that does not exist."""
    typed = unicodedata.normalize("NFKC", text).strip().replace(" ", "")
    match = _DATE_TEXT.fullmatch(typed)
    if match is None:
        raise ValueError(f"a date is written 2026-12-07 or 2026年12月7日, got {text!r}")
    year, month, day = (int(g) for g in match.groups() if g is not None)
    return date(year, month, day)
