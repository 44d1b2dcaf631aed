"""Scale benchmark: 10,000,000 contributions for ~2,000,000 people across 200 regions on PostgreSQL.

Not part of the default ``make bench`` run (docs/decisions/0018-scale-bench.md): it needs the local
PostgreSQL and takes tens of minutes; run it by name, ``make bench BENCH=scale`` or
``python -m scripts.bench scale``. Progress goes to stderr.

**Build** (``build_s``). A national year is generated deterministically with numpy, with the index
bench's MLIT-like mix (:mod:`scripts.bench.synthetic`: the MLIT type weights, the kinds of each type,
就労型 people in the frequent bands, 30% of a person's records of another type, 12% with a second
region, one activity per (region, kind, JST day), records between 09:00 and 18:00 JST of 2025 on
12-second blocks), scaled to the nation: 200 municipalities with Zipf-like sizes (the largest has
~10% of the records), and one-record people raised to 66% of the population (one-off visits and
ふるさと納税 donations dominate nationally), so 10M records are ~2M people. An activity's records
are recorded in batches of up to 100 in one block (one transaction each, its ``BatchRecorded``
after its records); 0.5% of the records are revoked later in the year, and 2% of the people support
one of their home region's five projects.

Every event goes through the indexer's own handlers (:data:`ledger.indexer.handlers.HANDLERS` into a
:class:`~ledger.indexer.store.ChunkSink` with the store's provenance columns), so the rows and the dirty
keys are exactly what the indexer would write; only the transport differs: the rows go to
PostgreSQL with ``COPY`` (psycopg 3 ``cursor.copy``) instead of ``INSERT``, with the event tables'
secondary indexes dropped during the load and recreated from their own definitions afterwards. The
checkpoint is written by :meth:`~ledger.indexer.store.IndexStore.write_chunk`, as the runner does.

**Refresh.** :class:`~ledger.indexer.refresh.DerivedRefresher` recomputes every dirty key
(``refresh_s``); then the head moves one JST day forward without new records (a checkpoint one day of
blocks later) and the refresh runs again, twice, as the index bench does: the nation's year ends on
December 31st, so the first day later is January 1st, a month's first day, when every tie is due for
its new month's row (``monthly_refresh_s``), and the second is an ordinary quiet day
(``daily_refresh_s``, the figure the target is about: the ties whose ``next_change`` has come).

**Vacuum.** Then ``VACUUM (ANALYZE)`` of the schema (``timings.vacuum_s``), as autovacuum does on a
PostgreSQL server with its default settings; this machine's server runs with ``autovacuum = off``,
and without it the month's turn leaves every ``ties`` row a dead version and no visibility map is
set, so index-only scans read the heap (at 10M: region dashboard p95 247 ms unvacuumed, 55–118 ms
after; decision 0021).

**Measured over HTTP.** The API runs as its own process on the database (one uvicorn worker, no cache;
a throwaway anvil answers the chain id the certificate route asks for). One keep-alive client sends,
one at a time, after 10 untimed warm-ups, 100 requests of each: the region dashboard JSON
(``/api/v1/regions/{code}/dashboard`` over the regions, weighted by size, and ranges of a day to a
year, the default period one in ten), a person's ties (``/api/v1/people/{address}/ties``), the
national view (``/api/v1/national``) and the national view filtered by a kind or (one in four) an
MLIT type, and the certificate of a person with many records
(``/api/v1/people/{address}/certificate`` for the year, over the 20 people with the most records in
one region). Each reports p50 / p95 / max in ms. Then the researcher export
(``/api/v1/export?table=contributions&format=parquet`` with a researcher key, the whole ZIP read):
``export_rows_per_s`` = contributions / seconds.

Targets (issue 19): every p95 ≤ 100 ms, ``daily_refresh_s`` ≤ 10, export ≥ 300,000 rows/s.

Settings (environment):

- ``TSUNAGARI_BENCH_SCALE_CONTRIBUTIONS=<n>``: build ``n`` records instead of 10,000,000; people and
  regions scale with it (regions: 200 × n / 10M, at least 4);
- ``TSUNAGARI_BENCH_SCALE_KEEP=1``: keep the schema (``bench_scale_<n>``) after the run and reuse it
  on the next one when it holds the same records (build and refresh are then skipped and reported as
  null);
- ``TSUNAGARI_BENCH_SCALE_REFRESH_BUDGET_S=<s>``, ``…_MONTHLY_BUDGET_S=<s>`` and ``…_DAILY_BUDGET_S=<s>``:
  stop the refresh from empty, the month's first day's or the ordinary day's after ``s`` seconds (at
  least one batch);
  its ``*_s`` is then null and ``*_estimate_s`` extrapolates from the ties done to the ties that were
  due (default: no budget). A stopped refresh leaves keys dirty or due that the next one would do
  too, so the refreshes after a stopped one are not measured (null, with ``*_skipped`` saying why).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import Engine, text

from ledger.auth import create_api_key
from ledger.chain.artifacts import abi_sha256
from ledger.chain.deploy import Deployment, save_deployment
from ledger.chain.devnet import AnvilDevnet
from ledger.db.engine import copy_rows, make_engine, upgrade_to_head, write_transaction
from ledger.indexer.handlers import HANDLERS, TABLE_COLUMNS, ActivityTerms, LogContext, jst_day
from ledger.indexer.refresh import DerivedRefresher
from ledger.indexer.store import _PROVENANCE_COLUMNS, Checkpoint, ChunkSink, IndexStore
from ledger.municipalities import MUNICIPALITIES
from ledger.taxonomy import ContributionKind, MlitType
from scripts.bench.dashboard import _measure, _ranges, _serve
from scripts.bench.synthetic import _KINDS_BY_TYPE, _TYPE_WEIGHTS, _WORK_COUNT_BANDS, YEAR_DAYS, YEAR_START

__all__ = [
    "run",
    "build",
    "generate_nation",
    "Nation",
    "events",
    "handle",
    "P95_TARGET_MS",
    "DAILY_REFRESH_TARGET_S",
    "EXPORT_TARGET_ROWS_PER_S",
]

P95_TARGET_MS = 100.0
DAILY_REFRESH_TARGET_S = 10.0
EXPORT_TARGET_ROWS_PER_S = 300_000
FULL = 10_000_000
CONTRIBUTIONS = int(os.environ.get("TSUNAGARI_BENCH_SCALE_CONTRIBUTIONS", str(FULL)))
KEEP = os.environ.get("TSUNAGARI_BENCH_SCALE_KEEP", "0") == "1"


def _budget(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value else None


REFRESH_BUDGET_S = _budget("TSUNAGARI_BENCH_SCALE_REFRESH_BUDGET_S")
MONTHLY_BUDGET_S = _budget("TSUNAGARI_BENCH_SCALE_MONTHLY_BUDGET_S")
DAILY_BUDGET_S = _budget("TSUNAGARI_BENCH_SCALE_DAILY_BUDGET_S")
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHAIN_ID = 31337  # anvil's, so the API's chain context matches the index
RUNS = 100
WARMUP = 10
CERTIFICATE_PEOPLE = 20

CONTRACT = "0x" + "5c" * 20
ISSUER = "0x" + "15" * 20
ADMIN = "0x" + "ad" * 20
RELAYER = "0x" + "00" * 20
ZERO_HASH = "0x" + "00" * 32
REWARD = 100
PROJECTS_PER_REGION = 5
BATCH = 100  # records per recordBatch transaction
REVOKED_SHARE = 0.005
SUPPORTER_SHARE = 0.02
BLOCK_SECONDS = 12
RECORD_HOURS = (9, 18)  # records are made between 09:00 and 18:00 JST
LATE_HOURS = (18, 22)  # revocations and supports between 18:00 and 22:00 JST: never a record's block
# Records a person makes in the year nationally: synthetic.py's MLIT bands with one-record people at
# 66% (mean ~5 records a person with the 就労型 people); 就労型 people keep synthetic.py's frequent bands.
NATIONAL_COUNT_BANDS = ((0.66, 1, 1), (0.25, 2, 7), (0.07, 8, 23), (0.02, 24, 80))
_KINDS = tuple(ContributionKind)
_CHUNK_ROWS = 200_000
_YEAR_FIRST = date(2025, 1, 1)
_YEAR_LAST = _YEAR_FIRST + timedelta(days=YEAR_DAYS - 1)


def _say(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def region_count(contributions: int) -> int:
    return max(4, round(200 * contributions / FULL))


def region_codes(count: int) -> list[int]:
    """``count`` municipality codes: the ten of :data:`~ledger.municipalities.MUNICIPALITIES` (names on
    the pages), then the 201st, 202nd … city code of each prefecture in turn (01201, 02201, …, 47201,
    01202, …), real codes of most prefectures' cities."""
    codes = sorted(MUNICIPALITIES)
    city = 201
    while len(codes) < count:
        for prefecture in range(1, 48):
            code = prefecture * 1000 + city
            if code not in codes and len(codes) < count:
                codes.append(code)
        city += 1
    return codes[:count]


def activity_id_of(region_index: int, kind_index: int, day_index: int) -> int:
    return 1 + (region_index * len(_KINDS) + kind_index) * (YEAR_DAYS + 1) + day_index


# ---------------------------------------------------------------------------------------------
# The population (numpy arrays, deterministic from a seed)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Nation:
    regions: list[int]  # JIS codes, largest first
    participants: list[str]  # addresses by person index
    home: np.ndarray  # region index of each person
    # the records in chain order
    person: np.ndarray
    region: np.ndarray  # region index
    kind: np.ndarray  # ContributionKind value
    activity: np.ndarray
    timestamp: np.ndarray
    revoked: np.ndarray  # indexes (into the record arrays) of the records revoked later
    revoked_at: np.ndarray
    supporters: np.ndarray  # person indexes
    supported_at: np.ndarray
    support_amount: np.ndarray


def _band_counts(rng: np.random.Generator, bands: tuple[tuple[float, int, int], ...], n: int) -> np.ndarray:
    shares = np.cumsum([share for share, _, _ in bands])
    band = np.minimum(np.searchsorted(shares / shares[-1], rng.random(n), side="right"), len(bands) - 1)
    low = np.array([b[1] for b in bands])[band]
    high = np.array([b[2] for b in bands])[band]
    return rng.integers(low, high + 1)


def generate_nation(total: int, regions: int, seed: int = 2025) -> Nation:
    rng = np.random.default_rng(seed)
    codes = region_codes(regions)
    weights = 1.0 / np.arange(1, len(codes) + 1) ** 0.8  # Zipf-like municipality sizes
    weights /= weights.sum()
    types = np.array([int(t) for t, _ in _TYPE_WEIGHTS])
    type_p = np.array([w for _, w in _TYPE_WEIGHTS])
    type_p /= type_p.sum()
    # people: enough for ``total`` records, the last one cut short
    guess = int(total / 4.0) + 16
    primary = rng.choice(types, size=guess, p=type_p)
    counts = np.where(
        primary == int(MlitType.WORK),
        _band_counts(rng, _WORK_COUNT_BANDS, guess),
        _band_counts(rng, NATIONAL_COUNT_BANDS, guess),
    )
    ends = np.cumsum(counts)
    people = int(np.searchsorted(ends, total)) + 1
    primary, counts = primary[:people], counts[:people].copy()
    counts[-1] -= int(ends[people - 1]) - total
    home = rng.choice(len(codes), size=people, p=weights)
    second = np.where(rng.random(people) < 0.12, rng.choice(len(codes), size=people, p=weights), home)
    participants = [f"0x{bytes(b).hex()}" for b in rng.integers(0, 256, size=(people, 20), dtype=np.uint8)]

    person = np.repeat(np.arange(people, dtype=np.int64), counts)
    # distinct days per person: redraw the duplicates until none is left
    day = rng.integers(0, YEAR_DAYS, size=total)
    while True:
        order = np.lexsort((day, person))
        dup = np.zeros(total, dtype=bool)
        same = (person[order][1:] == person[order][:-1]) & (day[order][1:] == day[order][:-1])
        dup[order[1:][same]] = True
        if not dup.any():
            break
        day[dup] = rng.integers(0, YEAR_DAYS, size=int(dup.sum()))
    # the record's MLIT type: the person's 70% of the time, else any type
    mlit = np.where(rng.random(total) < 0.7, primary[person], rng.choice(types, size=total))
    kinds_of = {int(t): [int(k) for k in _KINDS_BY_TYPE[MlitType(int(t))]] for t in types}
    kind = np.empty(total, dtype=np.int64)
    pick = rng.random(total)
    for t, kinds in kinds_of.items():
        mask = mlit == t
        kind[mask] = np.array(kinds)[(pick[mask] * len(kinds)).astype(np.int64)]
    region = np.where((second[person] != home[person]) & (rng.random(total) < 0.3), second[person], home[person])
    kind_index = np.searchsorted(np.array([int(k) for k in _KINDS]), kind)
    activity = 1 + (region * len(_KINDS) + kind_index) * (YEAR_DAYS + 1) + day
    # each activity's records are recorded at one moment of its day, on a block boundary
    slots = (RECORD_HOURS[1] - RECORD_HOURS[0]) * 3600 // BLOCK_SECONDS
    moment = rng.integers(0, slots, size=int(activity.max()) + 1) * BLOCK_SECONDS
    timestamp = YEAR_START + day * 86_400 + RECORD_HOURS[0] * 3600 + moment[activity]
    order = np.lexsort((person, activity, timestamp))
    person, region, kind, activity, timestamp = (a[order] for a in (person, region, kind, activity, timestamp))

    late = (LATE_HOURS[1] - LATE_HOURS[0]) * 3600 // BLOCK_SECONDS
    revoked = np.sort(rng.choice(total, size=int(total * REVOKED_SHARE), replace=False))
    revoked_day = np.minimum((timestamp[revoked] - YEAR_START) // 86_400 + rng.integers(1, 31, size=len(revoked)),
                             YEAR_DAYS - 1)  # fmt: skip
    revoked_at = YEAR_START + revoked_day * 86_400 + LATE_HOURS[0] * 3600 + rng.integers(0, late, len(revoked)) * 12
    supporters = np.sort(rng.choice(people, size=max(1, int(people * SUPPORTER_SHARE)), replace=False))
    support_day = rng.integers(0, YEAR_DAYS, size=len(supporters))
    supported_at = (
        YEAR_START + support_day * 86_400 + LATE_HOURS[0] * 3600 + rng.integers(0, late, len(supporters)) * 12
    )
    return Nation(
        regions=codes,
        participants=participants,
        home=home,
        person=person,
        region=region,
        kind=kind,
        activity=activity,
        timestamp=timestamp,
        revoked=revoked,
        revoked_at=revoked_at,
        supporters=supporters,
        supported_at=supported_at,
        support_amount=rng.integers(1, 11, size=len(supporters)) * REWARD,
    )


# ---------------------------------------------------------------------------------------------
# Writing: the handlers' rows, COPY'd
# ---------------------------------------------------------------------------------------------


def _block_of(timestamp: int) -> int:
    return (timestamp - YEAR_START) // BLOCK_SECONDS + 1 if timestamp >= YEAR_START else 0


def _block_hash(block: int) -> str:
    return f"0x{(0xB5 << 248) | block:064x}"


Provenance = tuple[int, str, int, str, int, str, int, int]
Event = tuple[str, dict[str, Any], Provenance]  # handler key, decoded arguments, the log's provenance


class _Positions:
    """Transaction hashes and the positions of transactions and logs within their blocks."""

    def __init__(self) -> None:
        self.tx = 0
        self.tx_index = 0
        self.log_index = 0
        self.block = -1
        self.timestamp = 0
        self.tx_hash = ""

    def transaction(self, block: int, timestamp: int) -> None:
        if block != self.block:
            self.block, self.tx_index, self.log_index = block, 0, 0
        else:
            self.tx_index += 1
        self.timestamp = timestamp
        self.tx += 1
        self.tx_hash = f"0x{(0x7C << 248) | self.tx:064x}"

    def log(self) -> Provenance:
        """The provenance of the transaction's next log (the store's provenance columns, in order)."""
        self.log_index += 1
        block = self.block
        return (CHAIN_ID, CONTRACT, block, _block_hash(block), self.timestamp, self.tx_hash, self.tx_index,
                self.log_index - 1)  # fmt: skip


def _setup_events(nation: Nation, at: _Positions) -> Iterator[Event]:
    """Regions, their issuer role, projects and every activity, in block 0 (before the year)."""
    before = YEAR_START - 86_400
    for n, region in enumerate(nation.regions):
        at.transaction(0, before)
        yield (
            "TsunagariLedger:RegionRegistered",
            {"region": region, "admin": ADMIN, "coin": f"0x{n + 1:040x}", "name": f"R{region}", "symbol": f"R{n}"},
            at.log(),
        )
        yield (
            "TsunagariLedger:RegionRoleGranted",
            {"region": region, "roleKind": 2, "account": ISSUER, "sender": ADMIN},
            at.log(),
        )
        for p in range(PROJECTS_PER_REGION):
            yield (
                "TsunagariLedger:ProjectRegistered",
                {"projectId": n * PROJECTS_PER_REGION + p + 1, "region": region, "metadataHash": ZERO_HASH,
                 "admin": ADMIN},
                at.log(),
            )  # fmt: skip
    for activity_id in np.unique(nation.activity).tolist():
        rest, day_index = divmod(activity_id - 1, YEAR_DAYS + 1)
        region_index, kind_index = divmod(rest, len(_KINDS))
        starts = YEAR_START + day_index * 86_400
        at.transaction(0, before)
        yield (
            "TsunagariLedger:ActivityRegistered",
            {
                "activityId": activity_id, "region": nation.regions[region_index], "kind": int(_KINDS[kind_index]),
                "reward": REWARD, "startsAt": starts, "endsAt": starts + 86_399, "capacity": 0,
                "metadataHash": ZERO_HASH, "admin": ADMIN, "designated": False, "unit": 0, "maxUnits": 1,
            },
            at.log(),
        )  # fmt: skip


def _late_events(nation: Nation) -> list[tuple[int, str, dict[str, Any]]]:
    """Revocations and supports as (timestamp, key, args), in time order."""
    events: list[tuple[int, str, dict[str, Any]]] = []
    revoked_at = nation.revoked_at.tolist()
    for n, i in enumerate(nation.revoked.tolist()):
        events.append(
            (
                revoked_at[n],
                "TsunagariLedger:ContributionRevoked",
                {
                    "participant": nation.participants[int(nation.person[i])],
                    "activityId": int(nation.activity[i]),
                    "region": nation.regions[int(nation.region[i])],
                    "reason": 1 + n % 5,
                    "clawedBack": REWARD,
                    "shortfall": 0,
                    "evidenceHash": ZERO_HASH,
                    "admin": ADMIN,
                    "claimId": 0,
                },
            )
        )
    supported_at, amounts = nation.supported_at.tolist(), nation.support_amount.tolist()
    for n, who in enumerate(nation.supporters.tolist()):
        home = int(nation.home[who])
        events.append(
            (
                supported_at[n],
                "TsunagariLedger:ProjectSupported",
                {
                    "projectId": home * PROJECTS_PER_REGION + 1 + n % PROJECTS_PER_REGION,
                    "region": nation.regions[home],
                    "supporter": nation.participants[who],
                    "amount": amounts[n],
                    "relayer": RELAYER,
                    "nonce": (1 << 256) - 1,
                },
            )
        )
    events.sort(key=lambda e: e[0])
    return events


def events(nation: Nation) -> Iterator[Event]:
    """Every log of the nation's chain in chain order: the set-up in block 0, then each activity's
    records in batches of up to ``BATCH`` (one transaction: the records, then its ``BatchRecorded``),
    with the revocations and supports between them in time order."""
    at = _Positions()
    yield from _setup_events(nation, at)
    late = _late_events(nation)
    next_late = 0
    participants, regions = nation.participants, nation.regions
    person, region, activity, timestamp = (
        a.tolist() for a in (nation.person, nation.region, nation.activity, nation.timestamp)
    )
    seq = [0] * len(regions)
    total = len(person)
    i = 0
    recorded, batch_key = "TsunagariLedger:ContributionRecorded", "TsunagariLedger:BatchRecorded"
    while i < total:
        ts, act = timestamp[i], activity[i]
        while next_late < len(late) and late[next_late][0] < ts:
            when, key, args = late[next_late]
            at.transaction(_block_of(when), when)
            yield key, args, at.log()
            next_late += 1
        at.transaction(_block_of(ts), ts)
        j = i
        while j < total and j - i < BATCH and activity[j] == act and timestamp[j] == ts:
            yield recorded, {"participant": participants[person[j]], "activityId": act, "units": 1}, at.log()
            j += 1
        r = region[i]
        seq[r] += 1
        minted = REWARD * (j - i)
        yield (
            batch_key,
            {"region": regions[r], "issuer": ISSUER, "batchSeq": seq[r], "count": j - i, "minted": minted},
            at.log(),
        )
        i = j
    for when, key, args in late[next_late:]:
        at.transaction(_block_of(when), when)
        yield key, args, at.log()


def handle(stream: Iterator[Event], flush: Callable[[ChunkSink], None], chunk_rows: int = _CHUNK_ROWS) -> Provenance:
    """Run each event through its indexer handler into a :class:`ChunkSink`, handing full sinks to
    ``flush`` (never between a batch's records and its log); returns the last log's provenance."""
    activities: dict[int, ActivityTerms] = {}  # the handlers' activity directory, kept across logs
    sink = ChunkSink()
    last: Provenance | None = None
    for key, args, provenance in stream:
        sink.provenance = last = provenance
        HANDLERS[key](args, LogContext(provenance[2], provenance[4], jst_day(provenance[4]), activities), sink)
        if sink.count >= chunk_rows and not sink.held:
            flush(sink)
            sink = ChunkSink()
    flush(sink)
    assert last is not None
    return last


@contextmanager
def _copy_connection(engine: Engine) -> Iterator[Any]:
    """The psycopg connection under one pooled connection, committed at the end."""
    pooled = engine.raw_connection()
    try:
        raw = pooled.driver_connection
        assert raw is not None
        yield raw
        raw.commit()
    finally:
        pooled.close()


def _copy(raw: Any, table: str, columns: tuple[str, ...], rows: Any) -> None:
    with raw.cursor() as cursor:
        copy_rows(cursor, table, columns, rows)


def _secondary_indexes(engine: Engine, tables: list[str]) -> list[tuple[str, str, str]]:
    """(table, index, definition) of the tables' indexes other than primary keys; the definition of
    an index behind a unique constraint is the constraint's (``CONSTRAINT name UNIQUE (...)``)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.relname, i.relname, pg_get_indexdef(i.oid), c.conname, pg_get_constraintdef(c.oid) "
                "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "LEFT JOIN pg_constraint c ON c.conindid = i.oid AND c.contype = 'u' "
                "WHERE t.relnamespace = current_schema()::regnamespace AND NOT x.indisprimary "
                "AND t.relname = ANY(:t) ORDER BY t.relname, i.relname"
            ),
            {"t": tables},
        ).all()
    return [(str(t), str(i), f"CONSTRAINT {c} {cdef}" if c else str(idef)) for t, i, idef, c, cdef in rows]


def _drop_indexes(engine: Engine, indexes: list[tuple[str, str, str]]) -> None:
    with write_transaction(engine) as conn:
        for table, index, definition in indexes:
            if definition.startswith("CONSTRAINT "):
                conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {definition.split()[1]}"))
            else:
                conn.execute(text(f"DROP INDEX {index}"))


def _create_indexes(engine: Engine, indexes: list[tuple[str, str, str]]) -> None:
    with write_transaction(engine) as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        for table, _, definition in indexes:
            if definition.startswith("CONSTRAINT "):
                conn.execute(text(f"ALTER TABLE {table} ADD {definition}"))
            else:
                conn.execute(text(definition))


def build(engine: Engine, nation: Nation) -> dict[str, int]:
    """Write ``nation`` into ``engine`` (a migrated, empty PostgreSQL schema) as the indexer would:
    the handlers' rows by ``COPY``, their dirty keys, and the checkpoint; returns counts."""
    indexes = _secondary_indexes(engine, ["contributions", "batches", "activity_registrations"])
    _drop_indexes(engine, indexes)  # recreated from their definitions once the rows are in
    ties: set[tuple[str, int]] = set()
    days: set[tuple[int, int]] = set()
    record_days: set[tuple[int, str]] = set()
    written = 0
    started = time.perf_counter()

    def flush(sink: ChunkSink) -> None:
        nonlocal written
        ties.update(sink.ties)
        days.update(sink.days)
        record_days.update(sink.record_days)
        with _copy_connection(engine) as raw:
            for table, rows in sink.rows.items():
                _copy(raw, table, (*_PROVENANCE_COLUMNS, *TABLE_COLUMNS[table]), rows)
        written += sink.count
        _say(f"  {written:,} rows ({time.perf_counter() - started:.0f} s)")

    last = handle(events(nation), flush)
    _say(f"rows copied in {time.perf_counter() - started:.0f} s; recreating {len(indexes)} indexes")
    started = time.perf_counter()
    _create_indexes(engine, indexes)
    _say(f"indexes in {time.perf_counter() - started:.0f} s; dirty keys and checkpoint")
    # The store's rule for a revocation: the days of the revoked record are dirty. Only revocations mark
    # record days, so the sinks' (activity, participant) pairs are the revocations' rows: one join.
    with engine.connect() as conn:
        marked = conn.execute(
            text(
                "SELECT DISTINCT c.region, c.day FROM contributions c JOIN revocations r "
                "ON r.activity_id = c.activity_id AND r.participant = c.participant"
            )
        ).all()
    days.update((int(r), int(d)) for r, d in marked)
    assert len(record_days) == len(nation.revoked)
    with _copy_connection(engine) as raw:
        _copy(raw, "dirty_ties", ("participant", "region"), sorted(ties))
        _copy(raw, "dirty_days", ("region", "day"), sorted(days))
    block, timestamp = last[2], last[4]
    IndexStore(engine, CHAIN_ID).write_chunk(
        CONTRACT, ChunkSink(), [], Checkpoint(block, _block_hash(block), timestamp), block, keep_blocks_from=0
    )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return {"rows": written, "ties": len(ties), "days": len(days)}


def move_head_one_day(engine: Engine) -> None:
    """A checkpoint one JST day of blocks later, without new records (what a quiet day looks like)."""
    with engine.connect() as conn:
        block, ts = conn.execute(
            text("SELECT block_number, block_timestamp FROM indexer_checkpoints WHERE chain_id = :c"), {"c": CHAIN_ID}
        ).one()
    block, ts = int(block) + 86_400 // BLOCK_SECONDS, int(ts) + 86_400
    IndexStore(engine, CHAIN_ID).write_chunk(
        CONTRACT, ChunkSink(), [], Checkpoint(block, _block_hash(block), ts), block, keep_blocks_from=0
    )


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


def _schema_rows(engine: Engine) -> int | None:
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass('contributions')")).scalar() is None:
            return None
        return int(conn.execute(text("SELECT COUNT(*) FROM contributions")).scalar() or 0)


def _facts(engine: Engine, regions: list[int]) -> dict[str, Any]:
    with engine.connect() as conn:
        people = [
            str(r[0]) for r in conn.execute(text("SELECT address FROM participants ORDER BY address LIMIT 200000"))
        ]
        busiest = conn.execute(
            text(
                "SELECT participant, region, COUNT(*) AS n FROM contributions GROUP BY participant, region "
                "ORDER BY n DESC, participant LIMIT :k"
            ),
            {"k": CERTIFICATE_PEOPLE},
        ).all()
        sizes = dict(
            (int(r), int(n))
            for r, n in conn.execute(text("SELECT region, COUNT(*) FROM contributions GROUP BY region"))
        )
    return {
        "people": people,
        "busiest": [(str(p), int(r), int(n)) for p, r, n in busiest],
        "region_sizes": [sizes.get(r, 0) for r in regions],
    }


def _cases(facts: dict[str, Any], regions: list[int], seed: int = 19) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    rng = random.Random(seed)
    n = RUNS + WARMUP
    dashboard: list[tuple[str, dict[str, Any]]] = []
    national: list[tuple[str, dict[str, Any]]] = []
    by_kind: list[tuple[str, dict[str, Any]]] = []
    kinds, types = [int(k) for k in ContributionKind], [int(t) for t in MlitType]
    for i in range(n):
        region = rng.choices(regions, facts["region_sizes"])[0]
        start, end = _ranges(rng)
        dashboard.append(
            (f"/api/v1/regions/{region:05d}/dashboard", {} if i % 10 == 9 else {"start": str(start), "end": str(end)})
        )
        start, end = _ranges(rng)
        national.append(("/api/v1/national", {"start": str(start), "end": str(end)}))
        start, end = _ranges(rng)
        flt = {"mlit_type": rng.choice(types)} if i % 4 == 3 else {"kind": rng.choice(kinds)}
        by_kind.append(("/api/v1/national", {"start": str(start), "end": str(end), **flt}))
    ties: list[tuple[str, dict[str, Any]]] = [
        (f"/api/v1/people/{p}/ties", {}) for p in rng.sample(facts["people"], min(n, len(facts["people"])))
    ]
    year = {"from": str(_YEAR_FIRST), "to": str(_YEAR_LAST)}
    certificates = [
        (f"/api/v1/people/{p}/certificate", {"region": f"{r:05d}", **year})
        for p, r, _ in (rng.choice(facts["busiest"]) for _ in range(n))
    ]
    return {
        "region_dashboard": dashboard,
        "person_ties": ties,
        "national_graph": national,
        "national_graph_kind": by_kind,
        "certificate": certificates,
    }


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in this process's environment (the API child inherits it), restored afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _http(engine: Engine, url: str, regions: list[int], contributions: int) -> dict[str, Any]:
    facts = _facts(engine, regions)
    with write_transaction(engine) as conn:
        key, _ = create_api_key(conn, "researcher", "scale bench")
    result: dict[str, Any] = {"certificate_records": facts["busiest"][0][2] if facts["busiest"] else 0}
    devnet = AnvilDevnet().start()
    try:
        with tempfile.TemporaryDirectory(prefix="tsunagari-bench-scale-") as tmp:
            save_deployment(
                Path(tmp),
                Deployment(
                    chain_id=CHAIN_ID, ledger=CONTRACT, deploy_block=0, deploy_block_hash=_block_hash(0),
                    deploy_tx=f"0x{(0x7C << 248) | 1:064x}", platform_admin=ADMIN,
                    abi_sha256=abi_sha256("TsunagariLedger"), solc_version="bench", deployed_at=YEAR_START - 86_400,
                ),
            )  # fmt: skip
            env = {
                "TSUNAGARI_CHAIN__BACKEND": "rpc",
                "TSUNAGARI_CHAIN__RPC_URL": devnet.rpc_url,
                "TSUNAGARI_CHAIN__DEPLOYMENTS_DIR": tmp,
            }
            with _environment(env):
                process, base = _serve(url)
            try:
                with httpx.Client(base_url=base, timeout=600) as http:
                    for name, cases in _cases(facts, regions).items():
                        _say(f"{name}: {len(cases) - WARMUP} requests")
                        figures = _measure(http, cases, WARMUP)
                        for stat in ("p50", "p95", "max"):
                            result[f"{name}_{stat}_ms"] = figures[stat]
                    _say("export: contributions as Parquet")
                    started = time.perf_counter()
                    size = 0
                    with http.stream(
                        "GET", "/api/v1/export", params={"table": "contributions", "format": "parquet"},
                        headers={"X-API-Key": key},
                    ) as response:  # fmt: skip
                        if response.status_code != 200:
                            raise AssertionError(f"export: {response.status_code} {response.read()[:300]!r}")
                        for chunk in response.iter_bytes():
                            size += len(chunk)
                    seconds = time.perf_counter() - started
                    result["export_s"] = round(seconds, 1)
                    result["export_mb"] = round(size / 1e6, 1)
                    result["export_rows_per_s"] = round(contributions / seconds)
            finally:
                process.terminate()
                process.wait(timeout=30)
    finally:
        devnet.close()
    return result


def run() -> dict[str, object]:
    """Build (or reuse) the national database, refresh, serve, measure; one flat JSON-able dict."""
    started = time.perf_counter()
    regions = region_count(CONTRIBUTIONS)
    schema = f"bench_scale_{CONTRIBUTIONS}" if KEEP else f"bench_scale_{os.getpid()}"
    result: dict[str, Any] = {"bench": "scale", "contributions": CONTRIBUTIONS, "db": "postgresql"}
    admin = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}", "connect_timeout": 5})
    timings: dict[str, float] = {}
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
        reused = KEEP and _schema_rows(engine) == CONTRIBUTIONS
        if reused:
            _say(f"reusing schema {schema}")
            upgrade_to_head(engine)
            result.update(
                build_s=None, refresh_s=None, monthly_refresh_s=None, daily_refresh_s=None, derived_complete=None
            )
            codes = region_codes(regions)
        else:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            upgrade_to_head(engine)
            build_started = time.perf_counter()
            nation = generate_nation(CONTRIBUTIONS, regions)
            timings["generate_s"] = round(time.perf_counter() - build_started, 1)
            _say(f"{len(nation.person):,} records by {len(nation.participants):,} people in {regions} regions "
                 f"generated in {timings['generate_s']} s; writing")  # fmt: skip
            counts = build(engine, nation)
            codes = nation.regions
            del nation
            result["build_s"] = round(time.perf_counter() - build_started, 1)
            _say(f"built in {result['build_s']} s ({counts['rows']:,} rows, {counts['ties']:,} dirty ties); refreshing")
            result.update(_refresh(engine, timings, counts["ties"]))
            vacuum_started = time.perf_counter()
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
                conn.execute(text(f"VACUUM (ANALYZE) {', '.join(str(t[0]) for t in tables)}"))
            timings["vacuum_s"] = round(time.perf_counter() - vacuum_started, 1)
        with engine.connect() as conn:
            result["people"] = int(conn.execute(text("SELECT COUNT(*) FROM participants")).scalar() or 0)
            result["ties"] = int(conn.execute(text("SELECT COUNT(*) FROM ties")).scalar() or 0)
        result["regions"] = regions
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        result.update(_http(engine, url, codes, CONTRIBUTIONS))
    finally:
        engine.dispose()
        if not KEEP:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()
    p95s = [result.get(f"{n}_p95_ms") for n in
            ("region_dashboard", "person_ties", "national_graph", "national_graph_kind", "certificate")]  # fmt: skip
    daily = result.get("daily_refresh_s")
    export = result.get("export_rows_per_s")
    result.update(
        targets_met=all(isinstance(v, (int, float)) and v <= P95_TARGET_MS for v in p95s)
        and isinstance(daily, (int, float))
        and daily <= DAILY_REFRESH_TARGET_S
        and isinstance(export, (int, float))
        and export >= EXPORT_TARGET_ROWS_PER_S,
        p95_target_ms=P95_TARGET_MS,
        cache="none: every request is a cold answer",
        timings=timings,
        elapsed_s=round(time.perf_counter() - started, 1),
    )
    return result


def _refresh(engine: Engine, timings: dict[str, float], dirty_ties: int) -> dict[str, Any]:
    """``refresh_s``, ``monthly_refresh_s`` and ``daily_refresh_s``; with budgets, the ties per second
    measured and the time all the keys would take at that rate (``*_estimate_s``) instead, and
    ``derived_complete`` false."""
    refresher = DerivedRefresher(engine, CHAIN_ID)
    figures: dict[str, Any] = {"derived_complete": True}
    for name, budget in (
        ("refresh", REFRESH_BUDGET_S), ("monthly_refresh", MONTHLY_BUDGET_S), ("daily_refresh", DAILY_BUDGET_S)
    ):  # fmt: skip
        if name != "refresh":
            stopped = next((n for n in ("refresh", "monthly_refresh") if figures.get(f"{n}_s", 0) is None), None)
            if stopped is not None:
                figures.update({f"{name}_s": None, f"{name}_skipped": f"the {stopped} was stopped by its budget"})
                continue
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
            move_head_one_day(engine)
            dirty_ties = refresher.pending()[0]
            timings[f"{name}_due"] = dirty_ties
        started = time.perf_counter()
        done = refresher.refresh(budget)
        seconds = time.perf_counter() - started
        pending = refresher.pending()
        timings[f"{name}_ties"] = done.ties
        timings[f"{name}_ties_per_s"] = round(done.ties / max(seconds, 1e-9), 1)
        if pending == (0, 0):
            figures[f"{name}_s"] = round(seconds, 1)
            _say(f"{name}: {done.ties:,} ties, {done.days:,} days in {seconds:.1f} s")
        else:
            figures[f"{name}_s"] = None
            figures[f"{name}_estimate_s"] = round(seconds * dirty_ties / max(1, done.ties))
            figures["derived_complete"] = False
            estimate = figures[f"{name}_estimate_s"]
            _say(f"{name}: stopped after {seconds:.1f} s: {done.ties:,} ties done, {pending[0]:,} ties and "
                 f"{pending[1]:,} days left; all {dirty_ties:,} ties at this rate: {estimate} s")  # fmt: skip
    return figures
