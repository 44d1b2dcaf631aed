"""Recomputing the derived tables (ties, tie months, participants, daily aggregates) from dirty keys.

Handlers and reorg rollbacks only mark keys dirty; this module turns dirty keys back into rows by
reading the event tables, so forward indexing and rollback share one definition of every derived
row. Each batch of keys is computed from a read snapshot, then written and its dirty markers removed
in one short write transaction: a crash leaves the markers, and the next refresh finishes the job;
the write lock is held only for the writes, so the API and the relayer, which write the same SQLite
file from other processes, wait milliseconds at most.

The moment ties are computed for (``as_of``) is the end of the JST day of the indexed head block,
so the derived rows depend only on the chain, never on the wall clock. A ``ties`` row stores only
figures that are step functions of ``as_of`` and the day they next change (``next_change``,
:func:`ledger.ties.next_change`); recency and score, which decay daily, are computed when read
(:func:`ledger.ties.tie_reading`). So when the head moves into a new day only the ties whose
``next_change`` has come are recomputed ("due" ties), and of their ``tie_months`` only the rows
from the last month stored on (earlier months are final: a month row is the tie as of that month's
end). A due tie needs no dirty marker: its ``next_change`` is the marker, removed by rewriting the
row. Dirty ties (new records, revocations, supports, rollbacks) are recomputed whole. The cost of
each derived table is stated in docs/indexer.md; the decision in docs/decisions/0016.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from itertools import combinations
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, text

from ledger import jst
from ledger.db.engine import copy_rows, write_transaction
from ledger.taxonomy import MlitType, mlit_type_of
from ledger.ties import (
    DEFAULT_PARAMS,
    Tie,
    TieParams,
    TieRecord,
    compute_tie,
    is_kankei_jinkou,
    kankei_category,
    next_change,
    step_figures_at,
)

__all__ = [
    "RefreshResult",
    "DerivedRefresher",
    "day_end",
    "filtered_rollups",
    "given_in_window",
    "head_as_of",
    "month_end",
    "month_of",
    "tie_columns",
]


def day_end(timestamp: int) -> int:
    """The last second of ``timestamp``'s JST day."""
    return jst.day_end(jst.date_of(timestamp))


def month_of(timestamp: int) -> int:
    """``YYYYMM`` of ``timestamp`` in JST."""
    return jst.month_key(timestamp)


def month_end(month: int) -> int:
    """The last second of JST month ``YYYYMM``."""
    return jst.day_end(jst.month_last_day(month))


NodeKey = tuple[str, int, int, int, int]  # filter_by, filter_value, month, prev, region
PairKey = tuple[str, int, int, int, int, int]  # filter_by, filter_value, month, prev, region_a, region_b


def _steps(months: set[int]) -> list[tuple[int, int]]:
    """(month, the active month before it or 0) for each active month."""
    ordered = sorted(months)
    return list(zip(ordered, [0, *ordered[:-1]], strict=True))


def filtered_rollups(rows: Iterable[tuple[int, int, int, int]]) -> tuple[Counter[NodeKey], Counter[PairKey]]:
    """One person's rows of ``filtered_month_people`` and ``filtered_pair_months`` (migration 0013)
    from their ``participant_kind_years`` rows as (region, kind, year, months).

    Under each filter (the kind, and its MLIT type: the union over the type's kinds) and region the
    person's active months S add +1 at (month, previous active month); for each pair of their regions
    S_a and S_b add +1 and S_a ∪ S_b adds −1, so a window's sum over ``prev < m0`` is the person's
    presence in both (inclusion–exclusion). Zero rows are left out.
    """
    active: dict[tuple[str, int], dict[int, set[int]]] = {}
    for region, kind, year, mask in rows:
        months = {year * 100 + m for m in range(1, 13) if mask >> (m - 1) & 1}
        for key in (("kind", kind), ("type", kind // 10)):
            active.setdefault(key, {}).setdefault(region, set()).update(months)
    nodes: Counter[NodeKey] = Counter()
    pairs: Counter[PairKey] = Counter()
    for (by, value), regions in active.items():
        for region, months in regions.items():
            for month, prev in _steps(months):
                nodes[by, value, month, prev, region] += 1
        for a, b in combinations(sorted(regions), 2):
            for months, sign in ((regions[a], 1), (regions[b], 1), (regions[a] | regions[b], -1)):
                for month, prev in _steps(months):
                    pairs[by, value, month, prev, a, b] += sign
    return (
        Counter({k: n for k, n in nodes.items() if n}),
        Counter({k: n for k, n in pairs.items() if n}),
    )


_T = TypeVar("_T")

# A tie's model part: the Tie, its next_change and steady_until, and its month rows' values from
# ``since`` on (month, first month, active, last active month, records, stage, kankei, category,
# visit band).
_Shaped = tuple[Tie, int, int, list[tuple[Any, ...]]]
_PG_ARRAY_TYPES: dict[type, str] = {str: "text", bool: "boolean", int: "bigint", float: "double precision"}
_MEMO_SHAPES = 50_000  # shapes a refresher remembers: ~3 KB each (measured), so at most ~150 MB
# Ties carried over a month's turn per statement (see _carry_month_turn): PostgreSQL does a batch in
# one statement; SQLite runs a prepared statement per tie, so its batches are smaller.
_CARRY_BATCH = {"postgresql": 20_000, "sqlite": 5_000}

# The tables a refresh writes, whose planner statistics it keeps (PostgreSQL).
_DERIVED_TABLES = (
    "ties", "tie_months", "participant_kind_years", "participants", "filtered_month_people", "filtered_pair_months",
    "tie_last_kinds", "dirty_ties", "region_daily", "region_daily_coins", "region_daily_issuers", "dirty_days",
)  # fmt: skip


# Ties whose next_change has come and that are not dirty (those are recomputed whole anyway).
_DUE_FROM = (
    "FROM ties t WHERE next_change <= :a AND NOT EXISTS "
    "(SELECT 1 FROM dirty_ties d WHERE d.participant = t.participant AND d.region = t.region)"
)
# In next_change order: a batch reads its keys off the front of ix_ties_next_change (next_change,
# participant, region), and the rewritten ties leave the range, so on the first day of a month, when
# every tie is due, each batch costs its own keys, not a scan past the ties done before it.
_DUE = f"SELECT participant, region {_DUE_FROM} ORDER BY next_change, participant, region LIMIT :n"

_MONTH_COLUMNS = (
    "region", "month", "participant", "first_month", "active", "last_active_month", "records", "stage", "kankei",
    "category", "visit_band",
)  # fmt: skip


def _month_key(row: dict[str, Any]) -> tuple[str, int, int]:
    return str(row["participant"]), int(row["region"]), int(row["month"])


def _month_values(row: dict[str, Any]) -> tuple[Any, ...]:
    """A ``tie_months`` row's values, comparable whether read back (SQLite gives 0/1) or computed."""
    return (
        int(row["first_month"]), bool(row["active"]), int(row["last_active_month"]), int(row["records"]),
        str(row["stage"]), bool(row["kankei"]), row["category"], str(row["visit_band"]),
    )  # fmt: skip


def head_as_of(conn: Connection, chain_id: int | None = None) -> int | None:
    """The moment the derived rows are computed for: the end of the JST day of the indexed head
    (None before anything is indexed)."""
    where, params = ("WHERE chain_id = :c", {"c": chain_id}) if chain_id is not None else ("", {})
    timestamp = conn.execute(text(f"SELECT MAX(block_timestamp) FROM indexer_checkpoints {where}"), params).scalar()
    return day_end(int(timestamp)) if timestamp is not None else None


def given_in_window(supports: Iterable[tuple[int, int]], as_of: int, params: TieParams) -> int:
    """Coins given in support (``(timestamp, amount)`` pairs) within the model's window ending at ``as_of``."""
    start = as_of - params.window_days * jst.SECONDS_PER_DAY
    return sum(amount for timestamp, amount in supports if start < timestamp <= as_of)


def tie_columns(tie: Tie, records: Sequence[TieRecord], as_of: int) -> dict[str, Any]:
    """The model's columns of a ``ties`` row (all but participant, region and ``next_change``) for
    ``tie``, computed from ``records`` as of ``as_of``: the one layout the refresher writes and export
    verify recomputes. Recency and score are not among them: they decay daily and are computed when
    read (:func:`ledger.ties.tie_reading`)."""
    live = [r for r in records if not r.revoked and r.timestamp <= as_of]
    # Kin (地縁・血縁) records count for nothing in the model: they set kin_first_month only.
    counted = [r for r in live if mlit_type_of(r.kind) is not MlitType.KIN]
    kin = [r.timestamp for r in live if mlit_type_of(r.kind) is MlitType.KIN]
    c = tie.components
    return {
        "records": len(live),
        "revoked_records": tie.revoked_records,
        "coins_earned": c.coins_earned,
        "coins_given": c.coins_given,
        "first_at": min((r.timestamp for r in counted), default=0),
        "last_at": max((r.timestamp for r in counted), default=0),
        "first_month": month_of(min(r.timestamp for r in counted)) if counted else 0,
        "kin_first_month": month_of(min(kin)) if kin else 0,
        "visit_days": c.visit_days_in_window,
        "visit_band": c.visit_band,
        "active_months": c.active_months,
        "distinct_types": c.distinct_types,
        "non_visiting_records": c.non_visiting_records,
        "kin_records": c.kin_records,
        "help_hours": c.help_hours,
        "stay_days": c.stay_days,
        "continuity": c.continuity,
        "frequency": c.frequency,
        "diversity": c.diversity,
        "intensity": c.intensity,
        "stage": tie.stage.value,
        "kankei": is_kankei_jinkou(tie),
        "category": kankei_category(tie),
    }


@dataclass(frozen=True)
class _TieRows:
    ties: list[dict[str, Any]]
    months: list[dict[str, Any]]
    kind_years: list[dict[str, Any]]  # participant_kind_years (migration 0012)
    first_seen: dict[str, tuple[int, int]]  # participant -> (first block, its timestamp)
    since: dict[tuple[str, int], int]  # a due tie's first month rewritten (empty for dirty ties: all)


@dataclass(frozen=True)
class _DayRows:
    daily: list[dict[str, Any]]
    coins: list[dict[str, Any]]
    issuers: list[dict[str, Any]]  # region_daily_issuers (migration 0012)


@dataclass(frozen=True)
class RefreshResult:
    ties: int
    days: int
    as_of: int


class DerivedRefresher:
    """Brings the derived tables of one chain's index up to date."""

    def __init__(self, engine: Engine, chain_id: int, params: TieParams = DEFAULT_PARAMS, batch: int = 500) -> None:
        self.engine = engine
        self.chain_id = chain_id
        self.params = params
        self.batch = batch
        self._postgres = engine.dialect.name == "postgresql"
        self._written = 0  # keys written by this refresher (see _keep_statistics)
        self._memo: dict[tuple[Any, ...], _Shaped] = {}  # see _shaped
        self._analyze_at = 1_000

    def head_as_of(self, conn: Connection) -> int | None:
        return head_as_of(conn, self.chain_id)

    def pending(self) -> tuple[int, int]:
        """(dirty or due ties, dirty days) waiting to be recomputed."""
        with self.engine.connect() as conn:
            as_of = self.head_as_of(conn)
            ties = conn.execute(text("SELECT COUNT(*) FROM dirty_ties")).scalar() or 0
            if as_of is not None:
                ties += conn.execute(text(f"SELECT COUNT(*) {_DUE_FROM}"), {"a": as_of}).scalar() or 0
            days = conn.execute(text("SELECT COUNT(*) FROM dirty_days")).scalar() or 0
        return int(ties), int(days)

    def __call__(self, budget_s: float | None = None) -> RefreshResult:
        return self.refresh(budget_s)

    def refresh(self, budget_s: float | None = None) -> RefreshResult:
        """Recompute dirty keys, all of them or as many batches as fit in ``budget_s`` seconds.

        A budget keeps a live indexer responsive: a long backfill's ties are spread over many
        short refreshes between new blocks instead of one long stall. Dirty ties come first, then
        the ties due on the head's day (``next_change <= as_of``: first those due only for a month's
        turn, carried in SQL by :meth:`_carry_month_turn`, then the rest through the model), then the
        dirty days.

        Each batch is computed from a read snapshot and written in its own short write transaction
        (SQLite ``BEGIN IMMEDIATE``): the API and the relayer write the same file, and holding the
        write lock while ties are computed would stall their commits. The write checks that the
        index did not move since the snapshot (another indexer process, a reorg rollback); if it
        did, the batch is computed again under the lock.
        """
        deadline = None if budget_s is None else time.monotonic() + budget_s
        with self.engine.connect() as conn:
            as_of = self.head_as_of(conn)
        if as_of is None:
            return RefreshResult(0, 0, 0)
        ties = self._drain(
            budget_s, deadline, "SELECT participant, region FROM dirty_ties ORDER BY participant, region LIMIT :n",
            {}, lambda conn, keys: self._compute_ties(conn, keys, as_of), self._write_ties,
        )  # fmt: skip
        ties += self._carry_month_turn(budget_s, deadline, as_of)
        ties += self._drain(
            budget_s, deadline, _DUE, {"a": as_of},
            lambda conn, keys: self._compute_ties(conn, keys, as_of, due=True), self._write_due_ties,
        )  # fmt: skip
        days = self._drain(
            budget_s, deadline, "SELECT region, day FROM dirty_days ORDER BY region, day LIMIT :n",
            {}, self._compute_days, self._write_days,
        )  # fmt: skip
        return RefreshResult(ties, days, as_of)

    def _carry_month_turn(self, budget_s: float | None, deadline: float | None, as_of: int) -> int:
        """Carry over the month's turn, in SQL, the due ties that are due for the turn alone.

        A tie due on its month's first day (``next_change`` that day) whose ``steady_until`` has not
        come has, at ``as_of``, the figures it had at the last month's end (no record since: it is not
        dirty; no window boundary passed: ``ledger.ties.next_change`` without ``new_month``). So its new
        month's ``tie_months`` row is the last month's with no record in it (not active, 0 records,
        the same last active month and step figures), and its ``ties`` row changes only in
        ``next_change``, the earlier of ``steady_until`` and the next month's turn. Both are written
        for a batch of ties at a time without the model: on a month's first day that is nearly every
        tie (decision 0021). The rest of the due ties take the model's path (:meth:`_drain`).

        The keys are chosen and written in one write transaction (on PostgreSQL in one statement whose
        ``UPDATE`` re-checks ``next_change``, so a tie is carried once even beside another refresher).
        Returns the ties carried."""
        month = month_of(as_of)
        prev = jst.month_key_of_date(jst.month_first_day(month) - timedelta(days=1))
        turn = jst.day_end(jst.month_first_day(month))
        next_turn = next_change((), (), as_of, self.params)  # the next month's turn, as _shaped takes it
        batch = _CARRY_BATCH["postgresql" if self._postgres else "sqlite"]
        values = {"turn": turn, "a": as_of, "n": batch, "next": next_turn, "month": month, "prev": prev}
        due = (
            "SELECT participant, region FROM ties t WHERE next_change = :turn AND steady_until > :a AND NOT EXISTS "
            "(SELECT 1 FROM dirty_ties d WHERE d.participant = t.participant AND d.region = t.region) "
            "ORDER BY next_change, participant, region LIMIT :n"
        )
        carried = "first_month, false, last_active_month, 0, stage, kankei, category, visit_band FROM tie_months m"
        done = 0
        progress = budget_s is None or budget_s > 0
        while progress or deadline is None or time.monotonic() < deadline:
            progress = False
            with write_transaction(self.engine) as conn:
                if self._postgres:
                    moved = conn.execute(
                        text(
                            f"WITH due AS ({due}), moved AS (UPDATE ties t SET next_change = "
                            "LEAST(t.steady_until, :next) FROM due WHERE t.participant = due.participant "
                            "AND t.region = due.region AND t.next_change = :turn RETURNING t.participant, t.region), "
                            f"added AS (INSERT INTO tie_months ({', '.join(_MONTH_COLUMNS)}) "
                            f"SELECT m.region, :month, m.participant, {carried} JOIN moved "
                            "ON m.participant = moved.participant AND m.region = moved.region "
                            "WHERE m.month = :prev RETURNING 1) "
                            "SELECT (SELECT COUNT(*) FROM moved), (SELECT COUNT(*) FROM added)"
                        ),
                        values,
                    ).one()[0]
                else:
                    keys = [(str(r[0]), int(r[1])) for r in conn.execute(text(due), values)]
                    moved = len(keys)
                    if keys:
                        conn.exec_driver_sql(
                            "UPDATE ties SET next_change = MIN(steady_until, ?) WHERE participant = ? AND region = ?",
                            [(next_turn, p, r) for p, r in keys],
                        )
                        conn.exec_driver_sql(
                            f"INSERT INTO tie_months ({', '.join(_MONTH_COLUMNS)}) "
                            f"SELECT region, ?, participant, {carried} "
                            "WHERE participant = ? AND region = ? AND month = ?",
                            [(month, p, r, prev) for p, r in keys],
                        )
            if not moved:
                break
            done += int(moved)
            self._keep_statistics(int(moved))
        return done

    def _index_version(self, conn: Connection) -> tuple[Any, ...]:
        """What changes whenever the event tables or the dirty keys do (a chunk, a rollback)."""
        return tuple(
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT contract, block_number, block_hash, updated_at FROM indexer_checkpoints "
                    "WHERE chain_id = :c ORDER BY contract"
                ),
                {"c": self.chain_id},
            )
        )

    def _drain(
        self,
        budget_s: float | None,
        deadline: float | None,
        select_keys: str,
        params: dict[str, Any],
        compute: Callable[[Connection, list[tuple[Any, Any]]], _T],
        write: Callable[[Connection, list[tuple[Any, Any]], _T], None],
    ) -> int:
        """Batches of dirty keys until none is left or the deadline passed; returns the keys done.

        On PostgreSQL a batch is written by a worker thread while the next one is computed: the
        model is Python (the GIL) and the writes are the server's work, so on two cores they overlap
        (decision 0021). One batch is in flight at most, and its keys, still marked until it commits,
        are left out of the next selection. A batch's computation reads only the event tables (and a
        due tie's own month rows), which no refresh writes, so it does not wait for the batch before.
        SQLite writes in the same thread: its file has one writer and its batches are small."""
        done = 0
        # A positive budget always gets one batch done, so slow statements cannot stall progress.
        progress = budget_s is None or budget_s > 0
        pool = ThreadPoolExecutor(1, thread_name_prefix="refresh-write") if self._postgres else None
        flight: tuple[Future[None], set[tuple[Any, Any]]] | None = None
        try:
            while progress or deadline is None or time.monotonic() < deadline:
                progress = False
                skip = flight[1] if flight is not None else set()
                with self.engine.connect() as conn, conn.begin():
                    version = self._index_version(conn)
                    found = conn.execute(text(select_keys), {**params, "n": self.batch + len(skip)})
                    keys = [k for k in ((r[0], r[1]) for r in found) if k not in skip][: self.batch]
                    if keys:
                        rows = compute(conn, keys)
                if flight is not None:
                    flight[0].result()  # the batch before is written (or its error raised here)
                    flight = None
                if not keys:
                    break
                job = partial(self._write_batch, select_keys, params, compute, write, version, keys, rows)
                if pool is None:
                    job()
                else:
                    flight = (pool.submit(job), set(keys))
                done += len(keys)
                self._keep_statistics(len(keys))
            if flight is not None:
                flight[0].result()
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        return done

    def _write_batch(
        self,
        select_keys: str,
        params: dict[str, Any],
        compute: Callable[[Connection, list[tuple[Any, Any]]], _T],
        write: Callable[[Connection, list[tuple[Any, Any]], _T], None],
        version: tuple[Any, ...],
        keys: list[tuple[Any, Any]],
        rows: _T,
    ) -> None:
        """One batch's write transaction. If the index moved since the batch's snapshot (another
        indexer process, a reorg rollback), the batch is selected and computed again under the lock."""
        with write_transaction(self.engine) as conn:
            if self._index_version(conn) != version:
                keys = [(r[0], r[1]) for r in conn.execute(text(select_keys), {**params, "n": self.batch})]
                rows = compute(conn, keys)
            write(conn, keys, rows)

    def _keep_statistics(self, keys: int) -> None:
        """``ANALYZE`` the derived tables on PostgreSQL each time the keys this refresher has written
        double (from 1,000 on): a refresh from empty tables (a backfill, a restored index) would
        otherwise run for minutes on the statistics of empty tables, until autovacuum's next look,
        and the planner then drives a batch's key list by a scan of the whole table (seen: 3.5 s
        for one 500-key delete from 17k ``tie_months`` rows). A few ``ANALYZE`` of ~30k sampled
        rows each over a whole backfill; none for a day's refresh of a full index, whose keys are
        fewer than a tenth of the ties the statistics already count."""
        if not self._postgres:
            return
        self._written += keys
        if self._written < self._analyze_at:
            return
        self._analyze_at = 2 * self._written
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # Only while the keys written are a tenth or more of the ties the statistics know of: a
            # day's refresh of a full index (33,000 of 2M ties at 10M records) changes nothing the
            # planner needs, and its six ANALYZE passes took 13 s of a 52 s refresh (decision 0021).
            known = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'ties'::regclass")).scalar()
            if 10 * self._written < float(known or 0):
                return
            conn.execute(text(f"ANALYZE {', '.join(_DERIVED_TABLES)}"))

    # -- ties ------------------------------------------------------------------------------------

    def _compute_ties(
        self, conn: Connection, keys: list[tuple[str, int]], as_of: int, *, due: bool = False
    ) -> _TieRows:
        """The rows of ``ties`` and ``tie_months`` for ``keys``, and who was first seen when.

        ``due``: the keys are due ties (no input changed, the calendar moved), so only their month
        rows from the last month stored on are computed; the earlier ones are final."""
        participants = sorted({p for p, _ in keys})
        wanted = set(keys)
        holders = ", ".join(f":p{i}" for i in range(len(participants)))
        # One database indexes one chain, so no chain_id filter: with it, SQLite (without ANALYZE
        # statistics) walks the (chain_id, tx_hash, log_index) index instead of the participant one.
        params: dict[str, Any] = {f"p{i}": p for i, p in enumerate(participants)}
        since: dict[tuple[str, int], int] = {}
        if due:
            for participant, region, month in conn.execute(
                text(
                    "SELECT participant, region, MAX(month) FROM tie_months "
                    f"WHERE participant IN ({holders}) GROUP BY participant, region"
                ),
                params,
            ):
                since[str(participant), int(region)] = int(month)
            for key in keys:
                since.setdefault(key, 0)
        revoked = {
            (str(r[0]), int(r[1]))
            for r in conn.execute(
                text(f"SELECT participant, activity_id FROM revocations WHERE participant IN ({holders})"),
                params,
            )
        }
        records: dict[tuple[str, int], list[TieRecord]] = defaultdict(list)
        first_seen: dict[str, tuple[int, int]] = {}
        for participant, region, activity_id, kind, amount, timestamp, block, units, unit in conn.execute(
            text(
                "SELECT participant, region, activity_id, kind, amount, block_timestamp, block_number, units, unit "
                f"FROM contributions WHERE participant IN ({holders})"
            ),
            params,
        ):
            seen = first_seen.get(participant)
            if seen is None or block < seen[0]:
                first_seen[participant] = (int(block), int(timestamp))
            key = (str(participant), int(region))
            if key in wanted:
                records[key].append(
                    TieRecord(
                        int(timestamp),
                        int(kind),
                        int(amount),
                        int(activity_id),
                        (key[0], int(activity_id)) in revoked,
                        int(units),
                        int(unit),
                    )
                )
        supports: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
        for supporter, region, amount, timestamp in conn.execute(
            text(f"SELECT supporter, region, amount, block_timestamp FROM supports WHERE supporter IN ({holders})"),
            params,
        ):
            supports[str(supporter), int(region)].append((int(timestamp), int(amount)))

        tie_rows: list[dict[str, Any]] = []
        month_rows: list[dict[str, Any]] = []
        kind_years: list[dict[str, Any]] = []
        for key in keys:
            key_records = records.get(key, [])
            self._tie_rows(key, key_records, supports.get(key, []), as_of, since.get(key, 0), tie_rows, month_rows)
            if due:
                continue
            masks: dict[tuple[int, int], int] = defaultdict(int)  # (kind, year) -> bit m-1 for month m
            for r in key_records:
                if not r.revoked:
                    month = month_of(r.timestamp)
                    masks[r.kind, month // 100] |= 1 << (month % 100 - 1)
            kind_years += [
                {"participant": key[0], "region": key[1], "kind": kind, "year": year, "months": mask,
                 "mlit_type": kind // 10}
                for (kind, year), mask in sorted(masks.items())
            ]  # fmt: skip
        return _TieRows(tie_rows, month_rows, kind_years, first_seen, since)

    def _write_due_ties(self, conn: Connection, keys: list[tuple[str, int]], rows: _TieRows) -> None:
        """A due tie's row, updated in place (its ``last_at`` is unchanged, so the triggers that
        follow it have nothing to do), and those of its month rows from its last stored month on
        that differ from the stored ones. The records did not change, so neither do its kind-years,
        the filtered rollups or ``participants``."""
        if rows.ties:
            columns = [c for c in rows.ties[0] if c not in ("participant", "region")]
            values = [tuple(row[c] for c in [*columns, "participant", "region"]) for row in rows.ties]
            if self._postgres:  # one statement for the batch (see _insert_rows)
                relation, arrays = self._pg_arrays([*columns, "participant", "region"], values)
                conn.exec_driver_sql(
                    f"UPDATE ties t SET {', '.join(f'{c} = k.{c}' for c in columns)} FROM {relation} "
                    "WHERE t.participant = k.participant AND t.region = k.region",
                    arrays,
                )
            else:
                conn.exec_driver_sql(
                    f"UPDATE ties SET {', '.join(f'{c} = ?' for c in columns)} WHERE participant = ? AND region = ?",
                    values,
                )
        stored = self._month_rows_since(conn, keys, rows.since)
        fresh = {_month_key(row): _month_values(row) for row in rows.months}
        gone = [k for k, values in stored.items() if fresh.get(k) != values]
        self._delete_keys(conn, "tie_months", ("participant", "region", "month"), gone)
        self._insert_rows(
            conn,
            "tie_months",
            [
                row
                for row in rows.months
                if stored.get(_month_key(row)) is None or stored[_month_key(row)] != _month_values(row)
            ],
        )

    def _month_rows_since(
        self, conn: Connection, keys: list[tuple[str, int]], since: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int, int], tuple[Any, ...]]:
        """The stored ``tie_months`` rows of ``keys`` from each key's ``since`` month on."""
        participants = sorted({p for p, _ in keys})
        holders = ", ".join(f":p{i}" for i in range(len(participants)))
        low = min(since.values(), default=0)
        found: dict[tuple[str, int, int], tuple[Any, ...]] = {}
        for row in conn.execute(
            text(
                f"SELECT {', '.join(_MONTH_COLUMNS)} FROM tie_months WHERE participant IN ({holders}) AND month >= :m"
            ),
            {**{f"p{i}": p for i, p in enumerate(participants)}, "m": low},
        ):
            values = dict(zip(_MONTH_COLUMNS, row, strict=True))
            key = _month_key(values)
            if (key[0], key[1]) in since and key[2] >= since[key[0], key[1]]:
                found[key] = _month_values(values)
        return found

    def _write_ties(self, conn: Connection, keys: list[tuple[str, int]], rows: _TieRows) -> None:
        tie_rows, month_rows = rows.ties, rows.months
        participants = sorted({p for p, _ in keys})
        tie_keys = ("participant", "region")
        self._delete_keys(conn, "ties", tie_keys, keys)
        self._delete_keys(conn, "tie_months", tie_keys, keys)
        old_years = self._kind_years_of(conn, participants)
        self._delete_keys(conn, "participant_kind_years", tie_keys, keys)
        self._delete_keys(conn, "dirty_ties", tie_keys, keys)
        self._insert_rows(conn, "ties", tie_rows)
        self._insert_rows(conn, "tie_months", month_rows)
        self._insert_rows(conn, "participant_kind_years", rows.kind_years)
        rewritten = set(keys)
        new_years: dict[str, list[tuple[int, int, int, int]]] = {
            p: [r for r in old if (p, r[0]) not in rewritten] for p, old in old_years.items()
        }
        for row in rows.kind_years:
            new_years.setdefault(row["participant"], []).append(
                (row["region"], row["kind"], row["year"], row["months"])
            )
        self._update_filtered_rollups(conn, old_years, new_years)
        self._refresh_participants(conn, participants, rows.first_seen)

    def _kind_years_of(self, conn: Connection, participants: list[str]) -> dict[str, list[tuple[int, int, int, int]]]:
        """Every ``participant_kind_years`` row of the people, in all their regions."""
        holders = ", ".join(f":p{i}" for i in range(len(participants)))
        found: dict[str, list[tuple[int, int, int, int]]] = {p: [] for p in participants}
        for participant, region, kind, year, months in conn.execute(
            text(
                "SELECT participant, region, kind, year, months FROM participant_kind_years "
                f"WHERE participant IN ({holders})"
            ),
            {f"p{i}": p for i, p in enumerate(participants)},
        ):
            found[str(participant)].append((int(region), int(kind), int(year), int(months)))
        return found

    def _update_filtered_rollups(
        self,
        conn: Connection,
        old: dict[str, list[tuple[int, int, int, int]]],
        new: dict[str, list[tuple[int, int, int, int]]],
    ) -> None:
        """Subtract the people's old contributions to the filtered rollups and add the new ones
        (migration 0013); rows that come to zero are deleted."""
        nodes: Counter[NodeKey] = Counter()
        pairs: Counter[PairKey] = Counter()
        for participant in sorted(set(old) | set(new)):
            before, after = old.get(participant, []), new.get(participant, [])
            if sorted(before) == sorted(after):
                continue
            old_nodes, old_pairs = filtered_rollups(before)
            new_nodes, new_pairs = filtered_rollups(after)
            nodes.update(new_nodes)
            nodes.subtract(old_nodes)
            pairs.update(new_pairs)
            pairs.subtract(old_pairs)
        node_columns = ["filter_by", "filter_value", "month", "prev", "region"]
        pair_columns = ["filter_by", "filter_value", "month", "prev", "region_a", "region_b"]
        self._add_counts(conn, "filtered_month_people", node_columns, nodes)
        self._add_counts(conn, "filtered_pair_months", pair_columns, pairs)

    def _add_counts(self, conn: Connection, table: str, key: list[str], counts: Counter[Any]) -> None:
        changed = [(*k, n) for k, n in sorted(counts.items()) if n]
        if not changed:
            return
        upsert = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET people = {table}.people + excluded.people"
        if self._postgres:
            relation, arrays = self._pg_arrays([*key, "people"], changed)
            conn.exec_driver_sql(
                f"INSERT INTO {table} ({', '.join(key)}, people) SELECT * FROM {relation} {upsert}", arrays
            )
        else:
            marks = ", ".join(["?"] * (len(key) + 1))
            conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(key)}, people) VALUES ({marks}) {upsert}", changed)
        self._delete_keys(conn, table, tuple(key), [row[:-1] for row in changed], "people = 0")

    def _insert_rows(self, conn: Connection, table: str, rows: list[dict[str, Any]]) -> None:
        """Bulk insert through the driver with tuples (SQLAlchemy's per-row parameter work is the
        largest cost of a refresh otherwise).

        On PostgreSQL the rows go in with one ``COPY``: a driver ``executemany`` is one statement
        per row there, and every statement fires the statement-level rollup triggers of ``ties`` and
        ``tie_months`` (migration 0005) with its own transition table, so the triggers, not the rows,
        were the cost of a batch; a multi-row ``VALUES`` of a batch's ~5,000 month rows is one
        firing but spends a second planning its ~45,000 parameters (decision 0020). ``COPY`` fires the triggers once
        and plans nothing. SQLite's triggers are per row, so one prepared statement run per row
        (``executemany``) is its fastest path.
        """
        if not rows:
            return
        columns = list(rows[0])
        values = [tuple(row[c] for c in columns) for row in rows]
        if self._postgres:
            driver: Any = conn.connection.driver_connection  # psycopg's, inside SQLAlchemy's transaction
            with driver.cursor() as cursor:
                copy_rows(cursor, table, columns, values)
            return
        marks = ", ".join(["?"] * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", values)

    def _pg_arrays(self, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
        """``unnest(%s::text[], %s::bigint[], …) AS k(columns)`` and its arrays: ``rows`` as one
        relation of any length with one parameter per column (PostgreSQL), so a batch's keys or rows
        are one cheap statement whatever their number. A column's array type follows its first
        non-null value (str, bool, int, float); a column of nulls only is text. Each array goes as
        one array literal (:func:`_array_literal`): the driver's own list adaptation was a tenth of
        a refresh's time."""
        parameters = []
        types = []
        for values in zip(*rows, strict=True):
            sample = next((v for v in values if v is not None), "")
            types.append(_PG_ARRAY_TYPES[type(sample)])
            parameters.append(_array_literal(values))
        unnest = ", ".join(f"%s::{t}[]" for t in types)
        return f"unnest({unnest}) AS k({', '.join(columns)})", tuple(parameters)

    def _delete_keys(
        self, conn: Connection, table: str, columns: tuple[str, ...], keys: Sequence[tuple[Any, ...]], extra: str = ""
    ) -> None:
        """Delete the rows of ``table`` whose ``columns`` equal one of ``keys`` (and ``extra``, an SQL
        condition on ``table``'s columns): one statement with the keys as arrays on PostgreSQL (see
        :meth:`_insert_rows`), one prepared statement per key on SQLite."""
        if not keys:
            return
        if not self._postgres:
            where = " AND ".join(f"{c} = ?" for c in columns)
            condition = f" AND {extra}" if extra else ""
            conn.exec_driver_sql(f"DELETE FROM {table} WHERE {where}{condition}", [tuple(k) for k in keys])
            return
        relation, arrays = self._pg_arrays(columns, keys)
        where = " AND ".join(f"t.{c} = k.{c}" for c in columns)
        condition = f" AND t.{extra}" if extra else ""
        conn.exec_driver_sql(f"DELETE FROM {table} t USING {relation} WHERE {where}{condition}", arrays)

    def _support_in_year(self, supports: list[tuple[int, int]], as_of: int) -> int:
        return given_in_window(supports, as_of, self.params)

    def _tie_rows(
        self,
        key: tuple[str, int],
        records: list[TieRecord],
        supports: list[tuple[int, int]],
        as_of: int,
        since: int,
        tie_rows: list[dict[str, Any]],
        month_rows: list[dict[str, Any]],
    ) -> None:
        if not records:
            return  # no record at all (e.g. only coins received by transfer): no tie
        participant, region = key
        shape = self._shaped(records, supports, as_of, since)
        tie, changes, steady, months = shape
        columns = tie_columns(tie, records, as_of)
        tie_rows.append(
            {"participant": participant, "region": region, **columns, "next_change": changes, "steady_until": steady}
        )
        month_rows += [
            {
                "region": region,
                "month": month,
                "participant": participant,
                "first_month": first_month,
                "active": active,
                "last_active_month": last_active,
                "records": count,
                "stage": stage,
                "kankei": kankei,
                "category": category,
                "visit_band": band,
            }
            for month, first_month, active, last_active, count, stage, kankei, category, band in months
        ]

    def _shaped(self, records: list[TieRecord], supports: list[tuple[int, int]], as_of: int, since: int) -> _Shaped:
        """The model's part of a tie's rows, computed once per *shape*: the records and supports as
        JST days, kinds, amounts, units and the order of first use of their activities.

        Every figure the model derives is a function of the shape and ``as_of`` (a day's end): windows
        are counted in JST days, activities only counted distinct; the exact times enter only
        ``first_at`` / ``last_at``, which :func:`tie_columns` takes from the records themselves. The
        people of one activity on one day with no other record there (most of a nation's records:
        one-off visits, ふるさと納税) share one shape, so a region's thousands of such ties cost a
        few model computations, not thousands. A bounded memo; cleared when full."""
        activities: dict[int, int] = {}
        shape = tuple(
            sorted(
                (
                    jst.epoch_day(r.timestamp),
                    r.kind,
                    r.amount,
                    activities.setdefault(r.activity_id, len(activities)),
                    r.revoked,
                    r.units,
                    r.unit,
                )
                for r in sorted(records, key=lambda r: (r.timestamp, r.activity_id))
            )
        )
        memo_key = (as_of, since, shape, tuple(sorted((jst.epoch_day(t), amount) for t, amount in supports)))
        found = self._memo.get(memo_key)
        if found is not None:
            return found
        tie = compute_tie(records, self._support_in_year(supports, as_of), as_of, self.params)
        steady = next_change(records, (t for t, _ in supports), as_of, self.params, new_month=False)
        # next_change with the month's turn is the earlier of that and the turn itself (which is what
        # it answers for a tie with nothing to leave a window): one pass over the records, not two.
        changes = min(steady, next_change((), (), as_of, self.params))
        months: list[tuple[Any, ...]] = []
        # Kin (地縁・血縁) records count for nothing in the model, so they make nobody active or new.
        counted = [
            r for r in records if not r.revoked and r.timestamp <= as_of and mlit_type_of(r.kind) is not MlitType.KIN
        ]
        if counted:
            per_month: Counter[int] = Counter(month_of(r.timestamp) for r in counted)
            first_month = min(per_month)
            every: list[int] = []
            month, last_month = first_month, month_of(as_of)
            while month <= last_month:
                every.append(month)
                month = jst.next_month(month)
            last_active: dict[int, int] = {}
            active = 0
            for month in every:
                if per_month[month] > 0:
                    active = month
                last_active[month] = active
            written = [m for m in every if m >= since]  # a due tie's earlier months are final: kept as stored
            # The stage at each month's end; support never enters it (intensity is not a criterion).
            figures = step_figures_at(records, [min(month_end(m), as_of) for m in written], self.params)
            months = [
                (month, first_month, per_month[month] > 0, last_active[month], per_month[month],
                 at.stage.value, at.kankei, at.category, at.visit_band)
                for month, at in zip(written, figures, strict=True)
            ]  # fmt: skip
        if len(self._memo) >= _MEMO_SHAPES:
            self._memo.clear()
        found = self._memo[memo_key] = (tie, changes, steady, months)
        return found

    def _refresh_participants(
        self, conn: Connection, participants: list[str], first_seen: dict[str, tuple[int, int]]
    ) -> None:
        holders = ", ".join(f":p{i}" for i in range(len(participants)))
        params = {f"p{i}": p for i, p in enumerate(participants)}
        regions = {
            str(r[0]): int(r[1])
            for r in conn.execute(
                text(
                    f"SELECT participant, COUNT(*) FROM ties WHERE participant IN ({holders}) AND records > 0 "
                    "GROUP BY participant"
                ),
                params,
            )
        }
        self._delete_keys(conn, "participants", ("address",), [(p,) for p in participants])
        self._insert_rows(
            conn,
            "participants",
            [
                {
                    "address": p,
                    "first_block": first_seen[p][0],
                    "first_at": first_seen[p][1],
                    "regions": regions.get(p, 0),
                }
                for p in participants
                if p in first_seen
            ],
        )

    # -- daily aggregates ------------------------------------------------------------------------------

    def _compute_days(self, conn: Connection, keys: list[tuple[int, int]]) -> _DayRows:
        """The rows of ``region_daily``, ``region_daily_coins`` and ``region_daily_issuers`` for
        ``keys``: per region, one grouped query per source table over each run of its dirty days
        (days at most a week apart), so a backfill's 365 days of a region are a handful of queries
        rather than eight per day (73,000 region-days at the national scale)."""
        daily: list[dict[str, Any]] = []
        coins: list[dict[str, Any]] = []
        issuers: list[dict[str, Any]] = []
        for region, days in _day_runs(keys):
            wanted = set(days)
            params = {"r": region, "d0": days[0], "d1": days[-1]}
            issuers += self._issuer_days(conn, region, wanted)
            for day, kind, mlit_type, live, people, issued, revoked in conn.execute(
                text(
                    "SELECT c.day, c.kind, c.mlit_type, "
                    "SUM(CASE WHEN v.id IS NULL THEN 1 ELSE 0 END), "
                    "COUNT(DISTINCT CASE WHEN v.id IS NULL THEN c.participant END), "
                    "SUM(c.amount), SUM(CASE WHEN v.id IS NULL THEN 0 ELSE 1 END) "
                    "FROM contributions c LEFT JOIN revocations v ON v.chain_id = c.chain_id "
                    "AND v.activity_id = c.activity_id AND v.participant = c.participant "
                    "WHERE c.region = :r AND c.day BETWEEN :d0 AND :d1 GROUP BY c.day, c.kind, c.mlit_type "
                    "ORDER BY c.day, c.kind, c.mlit_type"
                ),
                params,
            ):
                if int(day) in wanted:
                    daily.append(
                        {
                            "region": region,
                            "day": int(day),
                            "kind": int(kind),
                            "mlit_type": int(mlit_type),
                            "records": int(live),
                            "participants": int(people),
                            "coins_issued": int(issued),
                            "revoked_records": int(revoked),
                        }
                    )
            # per day: issued, spent, supports, clawed back, revocations, expired
            per_day: dict[int, list[int]] = defaultdict(lambda: [0] * 6)
            for total_at, count_at, sql in (
                (0, None, "SELECT day, COALESCE(SUM(amount), 0), 0 FROM contributions"),
                (1, 2, "SELECT day, COALESCE(SUM(amount), 0), COUNT(*) FROM supports"),
                (3, 4, "SELECT day, COALESCE(SUM(clawed_back), 0), COUNT(*) FROM revocations"),
                (5, None, "SELECT day, COALESCE(SUM(amount), 0), 0 FROM coin_expiries"),
            ):
                for day, total, count in conn.execute(
                    text(f"{sql} WHERE region = :r AND day BETWEEN :d0 AND :d1 GROUP BY day"), params
                ):
                    if int(day) in wanted:
                        per_day[int(day)][total_at] = int(total or 0)
                        if count_at is not None:
                            per_day[int(day)][count_at] = int(count or 0)
            for day in days:
                issued_total, spent, supports, clawed, revocations, expired = per_day.get(day, [0] * 6)
                if issued_total or supports or revocations or expired:
                    coins.append(
                        {
                            "region": region,
                            "day": day,
                            "issued": issued_total,
                            "spent": spent,
                            "clawed_back": clawed,
                            "supports": supports,
                            "revocations": revocations,
                            "expired": expired,
                        }
                    )
        return _DayRows(daily, coins, issuers)

    def _issuer_days(self, conn: Connection, region: int, days: set[int]) -> list[dict[str, Any]]:
        """The batches of ``region`` on ``days`` per issuer and day, and how many of the issuer's
        records of the day are revoked since: what the issuer audit sums over a period. A batch's
        log follows its records in the same block, so its day is dirty with theirs; a revocation
        (and a rollback undoing one) marks the revoked record's days dirty, so the revoked count
        follows too. Batches carry no day column: their JST day is their block time's."""
        ordered = sorted(days)
        t0 = jst.day_start(jst.date_of_day_key(ordered[0]))
        t1 = jst.day_end(jst.date_of_day_key(ordered[-1]))
        revoked = {
            (str(r[0]), int(r[1])): int(r[2])
            for r in conn.execute(
                text(
                    "SELECT c.issuer, c.day, COUNT(*) FROM contributions c JOIN revocations v "
                    "ON v.chain_id = c.chain_id AND v.activity_id = c.activity_id AND v.participant = c.participant "
                    "WHERE c.region = :r AND c.day BETWEEN :d0 AND :d1 GROUP BY c.issuer, c.day"
                ),
                {"r": region, "d0": ordered[0], "d1": ordered[-1]},
            )
        }
        found: dict[tuple[str, int], dict[str, Any]] = {}
        # Newest first, so the first batch seen of an issuer's day is its last one.
        for issuer, count, minted, timestamp, block, tx_hash, log_index in conn.execute(
            text(
                "SELECT issuer, count, minted, block_timestamp, block_number, tx_hash, log_index FROM batches "
                "WHERE region = :r AND block_timestamp BETWEEN :t0 AND :t1 "
                "ORDER BY block_number DESC, log_index DESC"
            ),
            {"r": region, "t0": t0, "t1": t1},
        ):
            day = jst.day_key(int(timestamp))
            if day not in days:
                continue
            row = found.get((str(issuer), day))
            if row is None:
                found[str(issuer), day] = {
                    "region": region,
                    "day": day,
                    "issuer": str(issuer),
                    "batches": 1,
                    "records": int(count or 0),
                    "minted": int(minted or 0),
                    "first_at": int(timestamp),
                    "last_at": int(timestamp),
                    "first_block": int(block),
                    "last_block": int(block),
                    "last_tx_hash": str(tx_hash),
                    "last_log_index": int(log_index),
                    # a record's issuer is its batch's (same transaction, same region: the contract
                    # refuses an activity of another region), so every revoked record has its row here
                    "revoked_records": revoked.get((str(issuer), day), 0),
                }
                continue
            row["batches"] += 1
            row["records"] += int(count or 0)
            row["minted"] += int(minted or 0)
            row["first_at"] = min(row["first_at"], int(timestamp))
            row["first_block"] = min(row["first_block"], int(block))
        return [found[k] for k in sorted(found, key=lambda k: (k[1], k[0]))]

    def _write_days(self, conn: Connection, keys: list[tuple[int, int]], rows: _DayRows) -> None:
        day_keys = ("region", "day")
        for table in ("region_daily", "region_daily_coins", "region_daily_issuers", "dirty_days"):
            self._delete_keys(conn, table, day_keys, keys)
        self._insert_rows(conn, "region_daily", rows.daily)
        self._insert_rows(conn, "region_daily_coins", rows.coins)
        self._insert_rows(conn, "region_daily_issuers", rows.issuers)


def _array_element(value: Any) -> str:
    if value is None:
        return "NULL"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array_literal(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal (``{1,2,NULL}``, ``{"a","b"}``, ``{t,f}``) of one column's values:
    strings double-quoted with ``\\`` and ``"`` escaped, so any text survives; numbers as Python
    prints them, which PostgreSQL reads back exactly."""
    return "{" + ",".join(map(_array_element, values)) + "}"


def _day_runs(keys: Iterable[tuple[int, int]], gap_days: int = 7) -> list[tuple[int, list[int]]]:
    """(region, its days) runs of ``keys`` (region, YYYYMMDD): a region's days in order, split where
    two are more than ``gap_days`` apart, so one query covers a run without reading far beyond it."""
    runs: list[tuple[int, list[int]]] = []
    last: tuple[int, int] | None = None
    for region, day in sorted(set(keys)):
        epoch = jst.epoch_day_of_date(jst.date_of_day_key(day))
        if last is None or last[0] != region or epoch - last[1] > gap_days:
            runs.append((region, []))
        runs[-1][1].append(day)
        last = (region, epoch)
    return runs
