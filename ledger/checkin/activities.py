"""What the intake and the kiosk need to know about an activity, read without slowing a claim down.

The indexed ``activities`` view is the source (no RPC in the hot path, and check-in keeps working
while the chain node is down); an activity registered moments ago that the indexer has not reached
yet is read from the chain once. Entries are cached for ``ttl_s`` so a burst of claims reads the
database once per activity, and a closure is seen within that time (an operator closing through
the API invalidates at once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import Engine, text

from ledger.checkin.errors import CheckinRejected
from ledger.municipalities import municipality_name

__all__ = ["ActivityView", "ActivityDirectory", "ChainActivityReader", "activity_state", "ACTIVITY_STATES"]

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
            "state": state,
        }


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


# (activity id) -> (region, kind, reward, starts_at, ends_at, capacity, closed, metadata hash hex) or None
ChainActivityReader = Callable[[int], tuple[int, int, int, int, int, int, bool, str] | None]

_SQL = text(
    """
    SELECT a.activity_id, a.region, a.kind, a.reward, a.starts_at, a.ends_at, a.capacity, a.closed,
           a.metadata_hash, m.name, m.description, m.venue, r.name AS coin_name
      FROM activities a
      LEFT JOIN activity_metadata m ON m.metadata_hash = a.metadata_hash
      LEFT JOIN regions r ON r.chain_id = a.chain_id AND r.region = a.region
     WHERE a.chain_id = :chain AND a.activity_id = :id
    """
)
_METADATA_SQL = text("SELECT name, description, venue FROM activity_metadata WHERE metadata_hash = :h")


class ActivityDirectory:
    """Cached activity lookups for one chain."""

    def __init__(
        self,
        engine: Engine,
        chain_id: int,
        chain_reader: ChainActivityReader | None = None,
        *,
        ttl_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._chain_id = chain_id
        self._chain_reader = chain_reader
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[int, tuple[float, ActivityView]] = {}
        self._lock = threading.Lock()

    def invalidate(self, activity_id: int) -> None:
        with self._lock:
            self._cache.pop(activity_id, None)

    def mark_closed(self, activity_id: int) -> None:
        with self._lock:
            entry = self._cache.get(activity_id)
            if entry is not None:
                self._cache[activity_id] = (entry[0], replace(entry[1], closed=True))

    def is_fresh(self, activity_id: int) -> bool:
        """Whether :meth:`get` would answer from memory (no database or chain read)."""
        with self._lock:
            entry = self._cache.get(activity_id)
        return entry is not None and self._clock() - entry[0] < self._ttl_s

    def get(self, activity_id: int) -> ActivityView:
        """The activity; :class:`CheckinRejected` ``unknown_activity`` when neither index nor chain has it."""
        now = self._clock()
        with self._lock:
            entry = self._cache.get(activity_id)
        if entry is not None and now - entry[0] < self._ttl_s:
            return entry[1]
        view = self._load(activity_id)
        if view is None:
            raise CheckinRejected("unknown_activity", f"activity {activity_id} does not exist")
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[activity_id] = (now, view)
        return view

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
                    region_name=municipality_name(int(row.region)) or str(row.coin_name or row.region),
                )
            if self._chain_reader is None:
                return None
            found = self._chain_reader(activity_id)
            if found is None:
                return None
            region, kind, reward, starts_at, ends_at, capacity, closed, metadata_hash = found
            meta = conn.execute(_METADATA_SQL, {"h": metadata_hash}).first()
        return ActivityView(
            activity_id=activity_id,
            region=region,
            kind=kind,
            reward=reward,
            starts_at=starts_at,
            ends_at=ends_at,
            capacity=capacity,
            closed=closed,
            metadata_hash=metadata_hash,
            name=str(meta.name) if meta else f"#{activity_id}",
            description=str(meta.description) if meta else "",
            venue=str(meta.venue) if meta else "",
            region_name=municipality_name(region) or str(region),
        )
