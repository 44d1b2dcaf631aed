"""A synthetic year of contributions, written through the indexer's own handlers and store (no chain).

Used by the index benchmark to measure the region dashboard at 1M records without mining 1M records.
Rows are not hand-built: every event goes through :data:`ledger.indexer.handlers.HANDLERS` with a
:class:`~ledger.indexer.handlers.LogContext` and a provenance tuple into a
:class:`~ledger.indexer.store.ChunkSink`, and each chunk is committed by
:meth:`~ledger.indexer.store.IndexStore.write_chunk` with its checkpoint, exactly as the runner does.
So the event rows, the dirty keys and the checkpoint are what the indexer would have produced.

The population imitates MLIT 2023 (BRIEF section 3), deterministically from a seed:

- records a person makes in a year: 1 (25%), 2-7 (45%, the modal band), 8-23 (22%), 24-80 (8%);
  就労型 people are mostly in the 8+ bands;
- a primary MLIT type per person from the visitor mix (趣味・消費 38, 参加・交流 26, 直接寄与 23,
  就労 8) with some 非訪問系 and 地縁・血縁 people; 30% of a person's records are of another type;
- four regions (the NTT Data project's), unevenly used; 12% of people also have a second region;
- one record per person per activity: an activity is (region, kind, JST day), and a person's
  records fall on distinct days; records are stamped 09:00-18:00 JST over calendar year 2025, on
  12-second blocks.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Engine

from ledger.indexer.handlers import HANDLERS, ActivityTerms, LogContext, jst_day
from ledger.indexer.store import Checkpoint, ChunkSink, IndexStore
from ledger.taxonomy import ContributionKind, MlitType

__all__ = [
    "REGIONS",
    "YEAR_START",
    "YEAR_DAYS",
    "SyntheticRecord",
    "SyntheticYear",
    "generate_year",
    "write_year",
]

REGIONS = (12205, 12234, 15202, 26100)  # 館山市, 南房総市, 長岡市, 京都市
_REGION_WEIGHTS = (0.3, 0.2, 0.3, 0.2)
YEAR_START = 1_735_657_200  # 2025-01-01 00:00 JST
YEAR_DAYS = 365
_BLOCK_SECONDS = 12
_REWARD = 100
_CONTRACT = "0x" + "7e" * 20
_ISSUER = "0x" + "15" * 20
_ADMIN = "0x" + "ad" * 20

_TYPE_WEIGHTS: tuple[tuple[MlitType, float], ...] = (
    (MlitType.HOBBY_CONSUMPTION, 0.38 * 0.8),
    (MlitType.PARTICIPATION_EXCHANGE, 0.26 * 0.8),
    (MlitType.DIRECT_CONTRIBUTION, 0.23 * 0.8),
    (MlitType.WORK, 0.08 * 0.8),
    (MlitType.NON_VISITING, 0.15),
    (MlitType.KIN, 0.05),
)
_KINDS_BY_TYPE: dict[MlitType, tuple[ContributionKind, ...]] = {
    t: tuple(k for k in ContributionKind if k // 10 == t) for t in MlitType
}
_KINDS = tuple(ContributionKind)
# (share, smallest, largest) records a year
_COUNT_BANDS = ((0.25, 1, 1), (0.45, 2, 7), (0.22, 8, 23), (0.08, 24, 80))
_WORK_COUNT_BANDS = ((0.05, 1, 1), (0.15, 2, 7), (0.5, 8, 23), (0.3, 24, 80))


@dataclass(frozen=True, slots=True)
class SyntheticRecord:
    block: int
    timestamp: int
    participant: str
    region: int
    kind: int
    activity_id: int


@dataclass(frozen=True)
class SyntheticYear:
    records: list[SyntheticRecord]  # in block order
    participants: int
    activities: dict[int, tuple[int, int, int]]  # activity id -> (region, kind, day index)


def activity_id_of(region_index: int, kind: ContributionKind, day_index: int) -> int:
    return 1 + (region_index * len(_KINDS) + _KINDS.index(kind)) * (YEAR_DAYS + 1) + day_index


def _pick(rng: random.Random, bands: tuple[tuple[float, int, int], ...]) -> int:
    roll, acc = rng.random(), 0.0
    for share, low, high in bands:
        acc += share
        if roll < acc:
            return rng.randint(low, high)
    return bands[-1][1]


def generate_year(total: int, seed: int = 2025) -> SyntheticYear:
    """``total`` records by as many people as the MLIT-like mix needs (~100k for 1M records)."""
    rng = random.Random(seed)
    types = [t for t, _ in _TYPE_WEIGHTS]
    type_weights = [w for _, w in _TYPE_WEIGHTS]
    rows: list[tuple[int, str, int, int, int]] = []  # (timestamp, participant, region, kind, activity)
    activities: dict[int, tuple[int, int, int]] = {}
    people = 0
    while len(rows) < total:
        people += 1
        participant = f"0x{rng.getrandbits(160):040x}"
        primary = rng.choices(types, type_weights)[0]
        count = min(_pick(rng, _WORK_COUNT_BANDS if primary is MlitType.WORK else _COUNT_BANDS), total - len(rows))
        home = rng.choices(range(len(REGIONS)), _REGION_WEIGHTS)[0]
        second = rng.randrange(len(REGIONS)) if rng.random() < 0.12 else home
        for day_index in rng.sample(range(YEAR_DAYS), count):
            mlit_type = primary if rng.random() < 0.7 else rng.choice(types)
            kind = rng.choice(_KINDS_BY_TYPE[mlit_type])
            region_index = second if second != home and rng.random() < 0.3 else home
            activity = activity_id_of(region_index, kind, day_index)
            activities[activity] = (REGIONS[region_index], int(kind), day_index)
            timestamp = YEAR_START + day_index * 86_400 + 9 * 3600 + rng.randrange(9 * 3600)
            rows.append((timestamp, participant, REGIONS[region_index], int(kind), activity))
    rows.sort()
    records = [
        SyntheticRecord(
            block=(ts - YEAR_START) // _BLOCK_SECONDS + 1,
            timestamp=YEAR_START + ((ts - YEAR_START) // _BLOCK_SECONDS) * _BLOCK_SECONDS,
            participant=p,
            region=r,
            kind=k,
            activity_id=a,
        )
        for ts, p, r, k, a in rows
    ]
    return SyntheticYear(records=records, participants=people, activities=activities)


def _block_hash(block: int) -> str:
    return f"0x{(0xB1 << 248) | block:064x}"


class _Chunks:
    """Feeds events to the real handlers and commits chunks through the real store."""

    def __init__(self, engine: Engine, chain_id: int, chunk_size: int) -> None:
        self.store = IndexStore(engine, chain_id)
        self.chain_id = chain_id
        self.chunk_size = chunk_size
        self.sink = ChunkSink()
        self.tx = 0
        self.last: tuple[int, int] = (0, YEAR_START)  # (block, timestamp)
        self.written = 0
        self._log_index: dict[int, int] = {}
        self.activities: dict[int, ActivityTerms] = {}  # the handlers' activity directory, kept across logs

    def emit(self, key: str, args: dict[str, object], block: int, timestamp: int) -> None:
        self.tx += 1
        log_index = self._log_index.get(block, 0)
        self._log_index = {block: log_index + 1}
        self.sink.provenance = (
            self.chain_id,
            _CONTRACT,
            block,
            _block_hash(block),
            timestamp,
            f"0x{self.tx:064x}",
            0,
            log_index,
        )
        HANDLERS[key](args, LogContext(block, timestamp, jst_day(timestamp), self.activities), self.sink)
        self.last = (block, timestamp)
        if self.sink.count >= self.chunk_size and not self.sink.held:  # never between a batch's records and its log
            self.flush()

    def flush(self) -> None:
        if not self.sink.count:
            return
        block, timestamp = self.last
        self.store.write_chunk(
            _CONTRACT, self.sink, [], Checkpoint(block, _block_hash(block), timestamp), block, keep_blocks_from=0
        )
        self.written += self.sink.count
        self.sink = ChunkSink()


def _setup_events(year: SyntheticYear) -> Iterator[tuple[str, dict[str, object]]]:
    for n, region in enumerate(REGIONS):
        yield (
            "TsunagariLedger:RegionRegistered",
            {"region": region, "admin": _ADMIN, "coin": f"0x{n + 1:040x}", "name": f"R{region}", "symbol": f"R{n}"},
        )
        yield (
            "TsunagariLedger:RegionRoleGranted",
            {"region": region, "roleKind": 2, "account": _ISSUER, "sender": _ADMIN},
        )
    for activity_id in sorted(year.activities):
        region, kind, day_index = year.activities[activity_id]
        starts = YEAR_START + day_index * 86_400
        yield (
            "TsunagariLedger:ActivityRegistered",
            {
                "activityId": activity_id,
                "region": region,
                "kind": kind,
                "reward": _REWARD,
                "startsAt": starts,
                "endsAt": starts + 86_399,
                "capacity": 0,
                "metadataHash": "0x" + "00" * 32,
                "admin": _ADMIN,
                "designated": False,
                "unit": 0,
                "maxUnits": 1,
            },
        )


def write_year(
    engine: Engine,
    chain_id: int,
    year: SyntheticYear,
    chunk_size: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Index ``year`` into ``engine`` (migrated, empty); returns the event rows written."""
    chunks = _Chunks(engine, chain_id, chunk_size)
    # Regions and activities are registered in block 0, before the year starts.
    for key, setup_args in _setup_events(year):
        chunks.emit(key, setup_args, 0, YEAR_START - 86_400)
    chunks.flush()
    contribution, batch = "TsunagariLedger:ContributionRecorded", "TsunagariLedger:BatchRecorded"
    seq = {region: 0 for region in REGIONS}
    open_batch: tuple[int, int, int] | None = None  # (region, block, timestamp) of the batch being written
    count = 0

    def close_batch() -> None:
        # The batch's log after its records names their issuer, as on chain (up to 100 records a batch).
        nonlocal open_batch, count
        if open_batch is None:
            return
        region, block, timestamp = open_batch
        seq[region] += 1
        batch_args: dict[str, object] = {
            "region": region,
            "issuer": _ISSUER,
            "batchSeq": seq[region],
            "count": count,
            "minted": _REWARD * count,
        }
        chunks.emit(batch, batch_args, block, timestamp)
        open_batch, count = None, 0

    for r in year.records:
        if open_batch is not None and (open_batch[:2] != (r.region, r.block) or count == 100):
            close_batch()
        if open_batch is None:
            open_batch = (r.region, r.block, r.timestamp)
        args: dict[str, object] = {"participant": r.participant, "activityId": r.activity_id, "units": 1}
        chunks.emit(contribution, args, r.block, r.timestamp)
        count += 1
        if progress is not None and chunks.sink.count == 0:
            progress(chunks.written)
    close_batch()
    chunks.flush()
    return chunks.written
