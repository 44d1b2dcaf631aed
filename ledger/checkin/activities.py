"""What the intake and the kiosk need to know about an activity, read without slowing a claim down.

The indexed ``activities`` view is the source (no RPC in the hot path, and check-in keeps working
while the chain node is down); an activity registered moments ago that the indexer has not reached
yet is read from the chain once. Entries are cached for ``ttl_s`` so a burst of claims reads the
database once per activity, and a closure is seen within that time (an operator closing through
the API invalidates at once).

When an entry's ``ttl_s`` has passed, the next caller still gets it from memory and one refresh
runs in the background (one per activity at a time); a caller waits for a load only when there is
no entry younger than ``max_stale_s``, and then concurrent callers share that one load. Before,
every claim in flight at the moment of expiry hopped to a thread and read the index (or the chain)
itself: under a 64-connection flood a burst of up to 64 loads every two seconds, which showed as
the claim endpoint's latency tail (``make bench BENCH=claims``). A closure made elsewhere (on chain,
or by another API process) is therefore seen within ``ttl_s`` plus one load, and at the latest
after ``max_stale_s`` when loads fail.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import Engine, text

from ledger.checkin.errors import CheckinRejected
from ledger.municipalities import region_label
from ledger.taxonomy import RewardUnit

__all__ = [
    "ActivityView",
    "ActivityDirectory",
    "ChainActivity",
    "ChainActivityReader",
    "activity_state",
    "check_units",
    "ACTIVITY_STATES",
]

ACTIVITY_STATES = ("open", "closed", "full", "not_started", "ended")


@dataclass(frozen=True)
class ActivityView:
    activity_id: int
    region: int
    kind: int
    reward: int
    starts_at: int
    ends_at: int
    capacity: int  # 0 = unlimited
    closed: bool
    metadata_hash: str
    name: str
    description: str
    venue: str
    region_name: str
    designated: bool = False  # a 担い手活動 designated by the municipality
    unit: int = int(RewardUnit.RECORD)  # what the reward is per: a record, an hour, a day
    max_units: int = 1  # most units one check-in may record

    def as_dict(self, state: str) -> dict[str, object]:
        return {
            "id": self.activity_id,
            "region": self.region,
            "region_name": self.region_name,
            "name": self.name,
            "description": self.description,
            "venue": self.venue,
            "kind": self.kind,
            "reward": self.reward,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "capacity": self.capacity,
            "designated": self.designated,
            "unit": RewardUnit(self.unit).code,
            "max_units": self.max_units,
            "state": state,
        }


def check_units(activity: ActivityView, units: int | None) -> int:
    """The units a kiosk of ``activity`` records: ``units`` if the activity allows it, else
    :class:`CheckinRejected` ``invalid_units``; ``None`` means the activity's cap (1 for an activity
    rewarded per visit or event); 0 is a presence kiosk (check-in and check-out) of an activity
    rewarded per hour or day."""
    if units is None:
        return activity.max_units if activity.unit != RewardUnit.RECORD else 1
    if units == 0:  # a presence kiosk: arrival and departure decide the units (ledger/checkin/presence.py)
        if activity.unit == RewardUnit.RECORD:
            raise CheckinRejected(
                "invalid_units",
                f"activity {activity.activity_id} is rewarded per visit: it has no arrival and departure",
            )
        return 0
    if activity.unit == RewardUnit.RECORD and units != 1:
        raise CheckinRejected(
            "invalid_units", f"activity {activity.activity_id} is rewarded per visit: a check-in records 1, not {units}"
        )
    if not 1 <= units <= activity.max_units:
        label = "hours" if activity.unit == RewardUnit.HOUR else "days"
        raise CheckinRejected(
            "invalid_units",
            f"activity {activity.activity_id} records 1 to {activity.max_units} {label} per check-in, not {units}",
        )
    return units


def activity_state(activity: ActivityView, now: float, accepted: int) -> str:
    """open, closed, full, not_started or ended (in that order of precedence)."""
    if activity.closed:
        return "closed"
    if now < activity.starts_at:
        return "not_started"
    if now > activity.ends_at:
        return "ended"
    if activity.capacity and accepted >= activity.capacity:
        return "full"
    return "open"


@dataclass(frozen=True)
class ChainActivity:
    """An activity as the chain has it (for one the indexer has not reached yet)."""

    region: int
    kind: int
    reward: int
    starts_at: int
    ends_at: int
    capacity: int
    closed: bool
    metadata_hash: str  # 0x hex
    designated: bool
    unit: int
    max_units: int


# (activity id) -> the activity on chain, or None when there is no such activity
ChainActivityReader = Callable[[int], ChainActivity | None]

_SQL = text(
    """
    SELECT a.activity_id, a.region, a.kind, a.reward, a.starts_at, a.ends_at, a.capacity, a.closed,
           a.metadata_hash, a.designated, a.unit, a.max_units, m.name, m.description, m.venue, r.name AS coin_name
      FROM activities a
      LEFT JOIN activity_metadata m ON m.metadata_hash = a.metadata_hash
      LEFT JOIN regions r ON r.chain_id = a.chain_id AND r.region = a.region
     WHERE a.chain_id = :chain AND a.activity_id = :id
    """
)
_METADATA_SQL = text("SELECT name, description, venue FROM activity_metadata WHERE metadata_hash = :h")


class ActivityDirectory:
    """Cached activity lookups for one chain (thread-safe)."""

    def __init__(
        self,
        engine: Engine,
        chain_id: int,
        chain_reader: ChainActivityReader | None = None,
        *,
        ttl_s: float = 2.0,
        max_stale_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._chain_id = chain_id
        self._chain_reader = chain_reader
        self._ttl_s = ttl_s
        self._max_stale_s = max(ttl_s, 5 * ttl_s if max_stale_s is None else max_stale_s)
        self._clock = clock
        self._cache: dict[int, tuple[float, ActivityView]] = {}
        self._closed: set[int] = set()  # closed through this process (closing cannot be undone)
        self._loading: dict[int, threading.Event] = {}  # activity id -> set when its load ends
        self._lock = threading.Lock()

    def invalidate(self, activity_id: int) -> None:
        with self._lock:
            self._cache.pop(activity_id, None)

    def mark_closed(self, activity_id: int) -> None:
        with self._lock:
            self._closed.add(activity_id)
            entry = self._cache.get(activity_id)
            if entry is not None:
                self._cache[activity_id] = (entry[0], replace(entry[1], closed=True))

    def is_fresh(self, activity_id: int) -> bool:
        """Whether :meth:`get` would answer from memory now (no database or chain read in the caller)."""
        with self._lock:
            entry = self._cache.get(activity_id)
        return entry is not None and self._clock() - entry[0] < self._max_stale_s

    def get(self, activity_id: int) -> ActivityView:
        """The activity; :class:`CheckinRejected` ``unknown_activity`` when neither index nor chain has it."""
        now = self._clock()
        with self._lock:
            entry = self._cache.get(activity_id)
            if entry is not None and now - entry[0] < self._max_stale_s:
                if now - entry[0] >= self._ttl_s and activity_id not in self._loading:
                    self._loading[activity_id] = threading.Event()
                    threading.Thread(
                        target=self._refresh, args=(activity_id,), name="tsunagari-activity", daemon=True
                    ).start()
                return entry[1]
            in_flight = self._loading.get(activity_id)
            if in_flight is None:
                self._loading[activity_id] = threading.Event()
        if in_flight is None:
            return self._load_and_store(activity_id, owner=True)
        in_flight.wait(timeout=30)  # another caller is loading it: share that load
        with self._lock:
            shared = self._cache.get(activity_id)
        if shared is not None and self._clock() - shared[0] < self._max_stale_s:
            return shared[1]
        return self._load_and_store(activity_id, owner=False)  # that load failed: try once more here

    def _refresh(self, activity_id: int) -> None:
        with contextlib.suppress(Exception):  # the stale entry serves until max_stale_s; a later get retries
            self._load_and_store(activity_id, owner=True)

    def _load_and_store(self, activity_id: int, *, owner: bool) -> ActivityView:
        started = self._clock()
        try:
            view = self._load(activity_id)
            if view is None:
                raise CheckinRejected("unknown_activity", f"activity {activity_id} does not exist")
            with self._lock:
                if activity_id in self._closed and not view.closed:
                    view = replace(view, closed=True)  # closed here; the index has not seen it yet
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[activity_id] = (started, view)
            return view
        finally:
            if owner:
                with self._lock:
                    done = self._loading.pop(activity_id, None)
                if done is not None:
                    done.set()

    def _load(self, activity_id: int) -> ActivityView | None:
        with self._engine.connect() as conn:
            row = conn.execute(_SQL, {"chain": self._chain_id, "id": activity_id}).first()
            if row is not None:
                return ActivityView(
                    activity_id=int(row.activity_id),
                    region=int(row.region),
                    kind=int(row.kind),
                    reward=int(row.reward),
                    starts_at=int(row.starts_at),
                    ends_at=int(row.ends_at),
                    capacity=int(row.capacity),
                    closed=bool(row.closed),
                    metadata_hash=str(row.metadata_hash),
                    name=str(row.name or f"#{activity_id}"),
                    description=str(row.description or ""),
                    venue=str(row.venue or ""),
                    region_name=region_label(int(row.region), None if row.coin_name is None else str(row.coin_name)),
                    designated=bool(row.designated),
                    unit=int(row.unit),
                    max_units=int(row.max_units),
                )
            if self._chain_reader is None:
                return None
            found = self._chain_reader(activity_id)
            if found is None:
                return None
            meta = conn.execute(_METADATA_SQL, {"h": found.metadata_hash}).first()
        return ActivityView(
            activity_id=activity_id,
            region=found.region,
            kind=found.kind,
            reward=found.reward,
            starts_at=found.starts_at,
            ends_at=found.ends_at,
            capacity=found.capacity,
            closed=found.closed,
            metadata_hash=found.metadata_hash,
            name=str(meta.name) if meta else f"#{activity_id}",
            description=str(meta.description) if meta else "",
            venue=str(meta.venue) if meta else "",
            region_name=region_label(found.region),
            designated=found.designated,
            unit=found.unit,
            max_units=found.max_units,
        )
