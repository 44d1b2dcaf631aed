"""Check-in for one deployment, assembled from settings: tokens, signing, activities, intake, kiosk.

The API builds one :class:`CheckinService` per process (lazily, so the API starts even when the
chain node is down; once built it needs the node only for activities the indexer has not seen yet).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import segno
from sqlalchemy import Engine, text

from ledger.chain.client import LedgerClient
from ledger.checkin.activities import (
    ActivityDirectory,
    ChainActivity,
    ChainActivityReader,
    activity_state,
    check_units,
)
from ledger.checkin.codes import CodeMaker
from ledger.checkin.intake import ClaimIntake, RateLimiter
from ledger.checkin.signing import ClaimSigning
from ledger.checkin.tokens import KioskTokens, load_secret
from ledger.errors import ChainUnavailable
from ledger.relay.outbox import claim_counts
from ledger.settings import Settings

__all__ = ["CheckinService", "KioskFrame", "KioskLink", "build_checkin", "public_base_url"]


def public_base_url(settings: Settings) -> str:
    """Where people reach the API (QR codes, kiosk and invite links): ``checkin.public_url``, else
    ``http://<api.host>:<api.port>``; no trailing slash."""
    return (settings.checkin.public_url or f"http://{settings.api.host}:{settings.api.port}").rstrip("/")


@dataclass(frozen=True)
class KioskLink:
    """A kiosk URL, when it stops working, and the hours or days each check-in at it records."""

    url: str
    expires_at: int
    units: int


@dataclass(frozen=True)
class KioskFrame:
    """What the kiosk screen shows now."""

    state: str
    activity: dict[str, object]
    claim_url: str
    qr_svg: str
    slot: int
    rotation_s: int
    rotates_at: int
    server_time: float
    counts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class CheckinService:
    def __init__(
        self,
        engine: Engine,
        tokens: KioskTokens,
        signing: ClaimSigning,
        directory: ActivityDirectory,
        intake: ClaimIntake,
        public_url: str,
        kiosk_session_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.tokens = tokens
        self.signing = signing
        self.directory = directory
        self.intake = intake
        self.public_url = public_url.rstrip("/")
        self.kiosk_session_s = kiosk_session_s
        self.clock = clock
        self._qr_cache: dict[tuple[int, int, int], tuple[str, str]] = {}
        self._qr_lock = threading.Lock()

    def claim_url(self, token: str) -> str:
        return f"{self.public_url}/c/{token}"

    def kiosk_link(self, activity_id: int, units: int | None = None) -> KioskLink:
        """A kiosk link for ``activity_id`` (the operator opens it on the tablet).

        ``units`` is what each check-in at this kiosk records: the hours of a volunteering shift or
        the days of a stay, 1..the activity's cap (default: the cap); an activity rewarded per visit
        or event records 1; 0 opens a *presence* kiosk of an hour- or day-rewarded activity, whose
        one code checks people in on arrival and out on departure (ledger/checkin/presence.py).
        :class:`CheckinRejected` ``invalid_units`` otherwise."""
        activity = self.directory.get(activity_id)
        units = check_units(activity, units)
        expires = int(self.clock()) + self.kiosk_session_s
        expires = min(expires, activity.ends_at + 3600) if activity.ends_at > self.clock() else expires
        session = self.tokens.open_session(activity_id, expires, units)
        return KioskLink(f"{self.public_url}/kiosk/{activity_id}?k={session}", expires, units)

    def frame(self, activity_id: int, session: str) -> KioskFrame:
        now = self.clock()
        units = self.tokens.check_session(session, activity_id, now).units
        activity = self.directory.get(activity_id)
        with self.engine.connect() as conn:
            counts = claim_counts(conn, activity_id)
            if units == 0:
                counts["present"] = int(
                    conn.execute(
                        text(
                            "SELECT COUNT(*) FROM presence_sessions WHERE activity_id = :a AND state = 'open' "
                            "AND expires_at > :now"
                        ),
                        {"a": activity_id, "now": int(now)},
                    ).scalar_one()
                )
        state = activity_state(activity, now, counts["accepted"])
        slot = self.tokens.slot_at(now)
        url, svg = self._qr(activity.region, activity_id, slot, units)
        if state != "open":
            url, svg = "", ""
        return KioskFrame(
            state=state,
            activity={**activity.as_dict(state), "units": units},
            claim_url=url,
            qr_svg=svg,
            slot=slot,
            rotation_s=self.tokens.rotation_s,
            rotates_at=self.tokens.rotates_at(slot),
            server_time=now,
            counts=counts,
        )

    def _qr(self, region: int, activity_id: int, slot: int, units: int) -> tuple[str, str]:
        key = (activity_id, slot, units)
        with self._qr_lock:
            hit = self._qr_cache.get(key)
        if hit is not None:
            return hit
        url = self.claim_url(self.tokens.issue(region, activity_id, slot, units))
        svg = segno.make(url, error="m").svg_inline(scale=1, border=4, omitsize=True, dark="#000", light="#fff")
        with self._qr_lock:
            if len(self._qr_cache) > 1000:
                self._qr_cache.clear()
            self._qr_cache[key] = (url, svg)
        return url, svg


def _chain_reader(client: LedgerClient | Callable[[], LedgerClient]) -> ChainActivityReader:
    def read(activity_id: int) -> ChainActivity | None:
        try:
            info = (client if isinstance(client, LedgerClient) else client()).activity(activity_id)
        except ChainUnavailable:
            raise
        except Exception as exc:
            if isinstance(exc, (ConnectionError, OSError, TimeoutError)):
                raise ChainUnavailable(f"cannot read activity {activity_id} from the chain: {exc}") from exc
            return None
        if info.region == 0:
            return None
        return ChainActivity(
            region=info.region,
            kind=info.kind,
            reward=info.reward,
            starts_at=info.starts_at,
            ends_at=info.ends_at,
            capacity=info.capacity,
            closed=info.closed,
            metadata_hash="0x" + info.metadata_hash.hex(),
            designated=info.designated,
            unit=int(info.unit),
            max_units=info.max_units,
        )

    return read


def build_checkin(
    settings: Settings,
    engine: Engine,
    chain_id: int,
    ledger: str,
    client: LedgerClient | Callable[[], LedgerClient] | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> CheckinService:
    """The check-in service of the deployment ``ledger`` on ``chain_id``.

    ``client`` (or a function returning one, called when needed: the node may be down when the
    service is built) reads activities the indexer has not reached yet."""
    checkin = settings.checkin
    key = load_secret(checkin)
    tokens = KioskTokens(key, chain_id, ledger, rotation_s=checkin.rotation_s, grace_s=checkin.grace_s)
    signing = ClaimSigning(chain_id, ledger)
    directory = ActivityDirectory(engine, chain_id, _chain_reader(client) if client is not None else None)
    intake = ClaimIntake(
        engine,
        tokens,
        signing,
        directory,
        ip_limiter=RateLimiter(checkin.rate_ip_per_min),
        participant_limiter=RateLimiter(checkin.rate_participant_per_min),
        code_limiter=RateLimiter(checkin.code_failures_per_min),
        codes=CodeMaker(key, chain_id, ledger),
        clock=clock,
    )
    public_url = public_base_url(settings)
    return CheckinService(
        engine,
        tokens,
        signing,
        directory,
        intake,
        public_url,
        checkin.kiosk_session_hours * 3600,
        clock=clock,
    )
