"""Play a :class:`~ledger.demo_seed.plan.SeedPlan` on the demo's anvil, day by day, through the real path.

Nothing is written into the index tables: every record is a claim that a participant signs and the
check-in intake accepts, and that the relayer turns into a ``recordBatch``; every support is an
EIP-712 ``Support`` signed by the participant, accepted by :func:`ledger.relay.supports.accept_support`
and relayed with ``supportBySig``; activities, projects and revocations are the region admin's
transactions. The indexer reads it all back afterwards like any other chain history.

- **Participants** are throwaway keys derived from the seed (``keccak("tsunagari-demo-seed-<seed>-<i>")``,
  like :func:`ledger.demo.demo_participant`; devnet only). Each claim carries the participant's
  EIP-712 ``Claim`` signature over a real token and goes through :meth:`ClaimIntake.prepare` /
  :meth:`ClaimIntake.commit` with the intake's clock set to the simulated moment, the way a phone's
  does. Only the per-minute rate limits are off: they measure wall-clock minutes, and the seed packs
  a year into a few of them. The token is what the participant would have scanned or typed:

  * **non-visiting** activities (ふるさと納税, 特産品の購入, オンライン交流: no venue for a kiosk) hand out
    **single-use claim codes** (:mod:`ledger.checkin.codes`): on an activity's first claim a batch is
    generated (``created_by`` ``demo-seed``, valid until the activity ends) with a code for each
    planned claim of the activity and a few spare ones that stay unused; in each region's largest
    batch three more are voided (a misprinted sheet). Each claim redeems the next code of the batch;
  * activities rewarded **per hour** (volunteering) use a **presence** kiosk (units 0): the volunteer
    scans on arrival in the morning and again on leaving the planned hours (plus a few minutes) later,
    and the activity's default rule (whole hours, rounded down) records the planned hours;
  * activities rewarded **per day** (telework stays) use a presence kiosk too: the arrival is scanned
    on the first day of the stay (the plan's ``units`` days ending on the claim's day), the departure
    on its last day, so the record lands in a block of the last day (a stay of N days ends on its
    block's day, ledger/ties.py). A person's stays never overlap at check-in (the intake refuses
    that, ``overlapping_stay``): a planned stay that would (rare: about one stay in a thousand in
    the default demo) and a volunteer's second shift of a day that no longer fits in the day are
    recorded instead with a kiosk set to the planned units, as staff would do, and counted
    (``fixed_unit_claims``), so the records and units on chain stay the plan's;
  * everything else: the activity's rotating kiosk token (the slot of the simulated moment).
- **Chain time follows the simulated days.** The devnet starts with its genesis block a year ago
  (``ManagedDevnet(genesis_time=...)``, anvil ``--timestamp``). During the seed anvil automines
  (``evm_setAutomine``) with a fixed one-second step between blocks
  (``anvil_setBlockTimestampInterval``), and each simulated day starts with
  ``evm_setNextBlockTimestamp`` at that day's morning (JST), so every record's block timestamp is on
  its day. At the end the chain jumps to wall-clock now (``evm_setNextBlockTimestamp`` + ``evm_mine``)
  and interval mining is restored (``evm_setIntervalMining``), so the live kiosk works at once.
- **Deterministic**: the same seed, people and end day give the same blocks, logs and timestamps
  (the fixed block step makes block times independent of how fast this machine is).
- **Idempotent**: only a fresh ledger (no activity, no project) is seeded; :func:`seed_state` says
  why not otherwise.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import coincurve
import requests
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import Engine, inspect, text
from web3 import Web3
from web3.exceptions import Web3RPCError
from web3.types import TxReceipt

from ledger.chain.client import ActivitySpec
from ledger.chain.context import ChainContext
from ledger.chain.devnet import AnvilControl
from ledger.chain.signing import SupportRequest, sign_support
from ledger.checkin import codes
from ledger.checkin.activities import ActivityDirectory, ChainActivity
from ledger.checkin.errors import CheckinRejected
from ledger.checkin.intake import AcceptedClaim, Answer, ClaimIntake, ClaimRequest, PreparedClaim
from ledger.checkin.metadata import store_metadata
from ledger.checkin.presence import ARRIVE, DEPART, PresenceAnswer
from ledger.checkin.service import build_checkin
from ledger.db.engine import set_aside_sqlite, upgrade_to_head, write_transaction
from ledger.demo_seed.catalogue import SEED_REGIONS
from ledger.demo_seed.plan import (
    DayPlan,
    Instance,
    PlannedClaim,
    PlannedProject,
    PlannedSupport,
    SeedPlan,
    make_plan,
)
from ledger.errors import ConfigError, TsunagariError
from ledger.jst import date_of, day_start
from ledger.jst import today as jst_today
from ledger.relay.outbox import Outbox
from ledger.relay.relayer import Relayer
from ledger.relay.support_intake import SupportRefused, accept_support
from ledger.taxonomy import ContributionKind, RewardUnit

__all__ = [
    "DAYS",
    "CODE_KINDS",
    "SeedState",
    "SeedResult",
    "RegionSeedSummary",
    "address_of",
    "seed_participant_key",
    "seed_state",
    "genesis_time_for",
    "seed_year",
    "catch_up_chain_time",
    "register_seed_regions",
    "reset_stale_outbox",
]

DAYS = 364  # the simulated days end yesterday (JST) and stay inside the ties model's 365-day window
_DAY = 86_400
_MORNING = 9 * 3600  # the first block of a simulated day: 09:00 JST (+ up to two hours)
_EARLY = 6 * 3600  # a volunteer with two shifts in a day starts the first at 06:00 JST
_LATE = 23 * 3600 + 30 * 60  # ... and leaves the last by 23:30 JST
# Activities without a venue: their claims redeem single-use codes (label of the batch by kind).
CODE_KINDS: dict[int, str] = {
    ContributionKind.FURUSATO_NOZEI: "お礼状",
    ContributionKind.REMOTE_PURCHASE: "商品同梱カード",
    ContributionKind.ONLINE_EXCHANGE: "案内メール",
}
_VOIDED_CODES = 3  # voided in each region's largest batch (a misprinted sheet)

SeedState = Literal["fresh", "seeded", "no_room", "not_anvil"]


class SeedFailed(TsunagariError):
    """The seed could not play its plan (a claim or support the real path refused)."""


def seed_participant_key(seed: int, index: int) -> bytes:
    """The private key of seeded participant ``index`` (public, throwaway: devnet only)."""
    return keccak(text=f"tsunagari-demo-seed-{seed}-{index}")


def address_of(private: coincurve.PrivateKey) -> str:
    """The lowercase address of a key (coincurve: the seed derives thousands of them)."""
    return "0x" + keccak(private.public_key.format(compressed=False)[1:])[-20:].hex()


def genesis_time_for(today: date, days: int = DAYS) -> int:
    """Where a fresh devnet's genesis block goes so that ``days`` days before ``today`` fit after it."""
    return day_start(today - timedelta(days=days + 1))


@dataclass(frozen=True)
class RegionSeedSummary:
    code: int
    name: str
    people: int
    records: int
    revocations: int
    supports: int
    activities: int


@dataclass
class SeedResult:
    seed: int
    people: int
    first_day: date
    last_day: date
    records: int
    revocations: int
    supports: int
    activities: int
    projects: int
    rejected_claims: int
    blocks: int
    wall_s: float
    regions: list[RegionSeedSummary] = field(default_factory=list)
    code_batches: int = 0  # single-use code batches generated (one per non-visiting activity claimed)
    code_claims: int = 0  # claims that redeemed a single-use code (ふるさと納税, 特産品, オンライン交流)
    hour_checkins: int = 0  # volunteer shifts checked in and out (records per hour)
    stay_checkins: int = 0  # stays checked in on their first day and out on their last (records per day)
    fixed_unit_claims: int = 0  # hour or day claims a kiosk set to the planned units recorded (see above)

    def paths(self) -> str:
        """How the claims that need no kiosk token went in (a line of the demo's output)."""
        line = (
            f"{self.code_claims} ふるさと納税・特産品・オンライン交流 claims redeemed single-use codes "
            f"({self.code_batches} batches); checked in and out: {self.hour_checkins} volunteer shifts (hours), "
            f"{self.stay_checkins} stays (days)"
        )
        if self.fixed_unit_claims:
            line += f"; {self.fixed_unit_claims} that would overlap by a kiosk set to their planned units"
        return line

    def as_dict(self) -> dict[str, object]:
        document = dict(self.__dict__)
        document["first_day"] = self.first_day.isoformat()
        document["last_day"] = self.last_day.isoformat()
        document["regions"] = [vars(r) for r in self.regions]
        return document


def seed_state(ctx: ChainContext, today: date | None = None, days: int = DAYS) -> SeedState:
    """Whether the deployed ledger can take a seeded year now.

    ``fresh``: the chain's head is still before the year's first day (a devnet started a year ago;
    what was registered before that day, such as the live demo's kiosk activity, does not matter);
    ``seeded``: the head is past that day and the ledger has activities or projects (a second run
    does nothing; whether an earlier seed finished is :mod:`ledger.demo_seed.progress`'s business);
    ``no_room``: the head is too recent for a past year (started without ``--timestamp``);
    ``not_anvil``: the backend cannot set block times."""
    if ctx.settings.chain.backend != "anvil":
        return "not_anvil"
    today = today or jst_today()
    head = int(ctx.w3.eth.get_block("latest")["timestamp"])
    if head < day_start(today - timedelta(days=days)):
        return "fresh"
    last_activity, last_project = (int(v) for v in ctx.client.contract.functions.lastIds().call())
    return "seeded" if last_activity or last_project else "no_room"


def register_seed_regions(ctx: ChainContext) -> None:
    """Register the seed's regions with the region admin and the relayer as issuer (idempotent).

    The seed does this on its first morning; the demo does it first when it registers its live
    activities before the seed starts."""
    client = ctx.client
    admin = ctx.operator("region-admin")
    relayer = ctx.operator("relayer").address
    for seeded in SEED_REGIONS:
        region = seeded.region
        if not client.region_info(region.code).registered:
            client.register_region(
                ctx.operator("platform-admin"), region.code, region.coin_name, region.symbol, admin.address
            )
        if not client.is_issuer(region.code, relayer):
            client.grant_issuer(admin, region.code, relayer)
        if seeded.expiry_days and client.region_info(region.code).expiry_days != seeded.expiry_days:
            client.set_coin_expiry(admin, region.code, seeded.expiry_days)


def catch_up_chain_time(ctx: ChainContext) -> bool:
    """Bring a devnet whose clock lags wall-clock time (an interrupted seed) up to now; True if it did."""
    control = AnvilControl(ctx.w3)
    now = int(time.time())
    if control.head_timestamp() >= now - 2:  # anvil keeps the offset a past timestamp set: leave none behind
        return False
    control.set_block_timestamp_interval(None)
    control.set_next_block_timestamp(now)
    control.mine()
    return True


@dataclass(frozen=True)
class _Expected:
    """What one scan of the day must come back as: its planned claim, and ``arrived`` (a check-in),
    ``recorded`` (a check-out that recorded the claim) or ``accepted`` (a kiosk or code claim)."""

    claim: PlannedClaim
    outcome: str


@dataclass
class _CodeBatch:
    batch_id: int
    codes: list[str]  # canonical, by serial; the first ``planned`` go to the planned claims
    used: int = 0


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def reset_stale_outbox(engine: Engine) -> None:
    """A fresh chain must not inherit claims, relay batches or an index from an earlier chain: move a
    SQLite file that has them aside (``*.stale``); refuse on another database."""
    tables = set(inspect(engine).get_table_names())
    stale = "claims" in tables and Outbox(engine).holds_anything()
    if "indexer_checkpoints" in tables:
        with engine.connect() as conn:
            stale |= conn.execute(text("SELECT 1 FROM indexer_checkpoints LIMIT 1")).first() is not None
    if not stale:
        return
    set_aside_sqlite(engine, f"{engine.url} holds claims or an index of another chain; seed into an empty database")
    upgrade_to_head(engine)


def _lean_context(ctx: ChainContext) -> ChainContext:
    """The same chain and deployment over a leaner connection for the seed's thousands of requests:
    no proxy lookup from the environment on each request (the node is on loopback) and no ENS or
    request-validation middleware (the seed only sends well-formed transactions to a known chain).
    It roughly halves web3's cost per request; what is sent is unchanged."""
    session = requests.Session()
    session.trust_env = False
    provider = Web3.HTTPProvider(ctx.settings.chain.rpc_url, request_kwargs={"timeout": 60}, session=session)
    w3 = Web3(provider)
    for name in ("validation", "ens_name_to_address"):
        with contextlib.suppress(ValueError):
            w3.middleware_onion.remove(name)
    lean = ChainContext(settings=ctx.settings, w3=w3, chain_id=ctx.chain_id)
    lean.use_deployment(ctx.deployment)
    return lean


class _Seeder:
    def __init__(
        self,
        ctx: ChainContext,
        engine: Engine,
        plan: SeedPlan,
        log: Callable[[str], None],
        on_day: Callable[[int, int], None] | None = None,
    ) -> None:
        ctx = _lean_context(ctx)
        self.on_day = on_day
        self.horizon_ms = 0  # the end of the simulated day being played: the seed's relayer stops there
        self.ctx = ctx
        self.engine = engine
        self.plan = plan
        self.log = log
        self.client = ctx.client
        self.platform = ctx.operator("platform-admin")
        self.admin = ctx.operator("region-admin")
        self.control = AnvilControl(ctx.w3)
        self.clock = _Clock()
        service = build_checkin(
            ctx.settings, engine, ctx.chain_id, ctx.deployment.ledger, self.client, clock=self.clock
        )
        self.tokens = service.tokens
        self.signing = service.signing
        # The deployment's intake, clocked to the simulated moment. Activities the seed registered
        # are described from their registration (what the chain now holds) instead of one read
        # each; the per-minute rate limits are off (RateLimiter(0)): they measure wall-clock
        # minutes, and the seed packs a year into a few. Every other check stays.
        self.specs: dict[int, ActivitySpec] = {}
        directory = ActivityDirectory(engine, ctx.chain_id, self._registered, ttl_s=3600.0)
        maker = service.intake.codes
        assert maker is not None  # build_checkin always gives the intake the deployment's CodeMaker
        self.codes = maker
        self.intake = ClaimIntake(engine, self.tokens, self.signing, directory, codes=maker, clock=self.clock)
        self._admin_nonce: int | None = None
        self._fees: tuple[int, int] = (0, 0)
        self.relayer = Relayer(ctx.settings, engine, ctx, accepted_until_ms=lambda: self.horizon_ms)
        self.activities: dict[tuple[int, str, date], int] = {}
        self.projects: dict[int, list[tuple[PlannedProject, int]]] = defaultdict(list)
        self.closed: set[int] = set()
        self._keys: dict[int, tuple[coincurve.PrivateKey, str]] = {}
        self.revocations: Counter[int] = Counter()
        self.supports_queued = 0
        self.days: dict[int, DayPlan] = {}
        self.first_block = int(ctx.w3.eth.block_number)  # records are looked up from here
        self.regions_ready = False
        # single-use codes: planned claims per activity, each region's batch with voided codes, the batches
        self.code_counts: Counter[tuple[int, str, date]] = Counter()
        self.voided_in: set[tuple[int, str, date]] = set()
        self.batches: dict[tuple[int, str, date], _CodeBatch] = {}
        # presence: the stays checked in on each day, the claims a fixed-units kiosk records instead
        self.arrivals: dict[int, list[PlannedClaim]] = defaultdict(list)
        self.arrived_at: dict[PlannedClaim, float] = {}
        self.fixed_units: set[PlannedClaim] = set()
        self.presence_rng = random.Random(plan.seed * 1_000_033 + 16)  # minutes of arrivals and departures
        self.paths: Counter[str] = Counter()

    def _registered(self, activity_id: int) -> ChainActivity | None:
        spec = self.specs.get(activity_id)
        if spec is None:
            return None
        return ChainActivity(
            region=spec.region,
            kind=int(spec.kind),
            reward=spec.reward,
            starts_at=spec.starts_at,
            ends_at=spec.ends_at,
            capacity=spec.capacity,
            closed=False,
            metadata_hash="0x" + spec.metadata_hash.hex(),
            designated=spec.designated,
            unit=int(spec.unit),
            max_units=spec.max_units,
        )

    def transact(self, function: str, *args: object) -> TxReceipt:
        """The region admin's transaction: signed here with a local nonce, sent, its receipt awaited.

        The same transaction ``LedgerClient`` sends, without its per-call gas estimate and fee
        lookups (fees are read once a simulated day; the gas limit is generous). The demo serves
        while it seeds, so staff may send a region-admin transaction from the console meanwhile: a
        nonce taken that way is read again from the chain and the transaction signed anew."""
        w3 = self.ctx.w3
        for attempt in range(3):
            if self._admin_nonce is None:
                self._admin_nonce = int(w3.eth.get_transaction_count(self.admin.address, "pending"))
            max_fee, priority = self._fees
            tx: dict[str, Any] = {
                "type": 2,
                "chainId": self.ctx.chain_id,
                "nonce": self._admin_nonce,
                "to": self.client.address,
                "value": 0,
                "data": self.client.contract.encode_abi(function, args=list(args)),
                "gas": 600_000,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": priority,
            }
            signed = self.admin.sign_transaction(tx)
            try:
                tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            except Web3RPCError as exc:
                if "nonce" not in str(exc).lower() or attempt == 2:
                    raise
                self._admin_nonce = None  # someone else used it
                continue
            self._admin_nonce += 1
            break
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.01)
        if int(receipt["status"]) != 1:
            raise SeedFailed(f"{function}{args} reverted (tx {tx_hash.hex()})")
        return receipt

    def refresh_fees(self) -> None:
        base = int(self.ctx.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        priority = 10**9
        self._fees = (2 * base + priority, priority)

    # -- people -------------------------------------------------------------------------------------

    def key(self, person: int) -> tuple[coincurve.PrivateKey, str]:
        found = self._keys.get(person)
        if found is None:
            private = coincurve.PrivateKey(seed_participant_key(self.plan.seed, person))
            address = address_of(private)
            found = self._keys[person] = (private, address)
        return found

    # -- chain time ---------------------------------------------------------------------------------

    def start_day(self, day: int) -> None:
        moment = day_start(self.plan.date_of(day)) + _MORNING + (day * 7919) % 7200
        head = self.control.head_timestamp()
        moment = max(moment, head + 1)
        self.control.set_next_block_timestamp(moment)
        self.refresh_fees()
        self.horizon_ms = (day_start(self.plan.date_of(day)) + _DAY) * 1000 - 1
        self.clock.now = float(moment + 1800)  # claims are scanned half an hour after the morning's first block

    # -- the region admin ---------------------------------------------------------------------------

    def register_regions(self) -> None:
        register_seed_regions(self.ctx)

    def metadata(self, name: str, description: str, venue: str) -> bytes:
        with write_transaction(self.engine) as conn:
            return bytes.fromhex(store_metadata(conn, name, description, venue)[2:])

    def register_project(self, region: int, metadata_hash: bytes) -> int:
        receipt = self.transact("registerProject", region, metadata_hash)
        return int(self.client.events(receipt, "ProjectRegistered")[0]["projectId"])

    def activity(self, instance: Instance) -> int:
        found = self.activities.get(instance.key)
        if found is not None:
            return found
        t = instance.template
        spec = ActivitySpec(
            region=instance.region,
            kind=t.kind,
            reward=t.reward,
            starts_at=day_start(instance.start),
            ends_at=day_start(instance.end + timedelta(days=1)) - 1,
            capacity=0,
            metadata_hash=self.metadata(instance.name, instance.description, t.venue),
            designated=t.designated,
            unit=t.unit,
            max_units=t.max_units,
        )
        receipt = self.transact("registerActivity", spec.terms())
        activity_id = int(self.client.events(receipt, "ActivityRegistered")[0]["activityId"])
        self.specs[activity_id] = spec
        self.activities[instance.key] = activity_id
        return activity_id

    def open_projects(self, day: int, region: int) -> list[int]:
        return [pid for project, pid in self.projects[region] if project.day < day and pid not in self.closed]

    # -- one day -------------------------------------------------------------------------------------

    def play_day(self, day: int) -> None:
        work = self.days.get(day)
        self.start_day(day)
        if not self.regions_ready:
            self.register_regions()
            self.regions_ready = True
        if work is None:  # only stays that begin today: check-ins, nothing for the relayer
            self.commit_scans(day, self.stay_arrivals(day))
            return
        for project in work.projects:
            pid = self.register_project(project.region, self.metadata(project.name, project.description, ""))
            self.projects[project.region].append((project, pid))
        for project in work.closures:
            for planned, pid in self.projects[project.region]:
                if planned is project:
                    self.transact("closeProject", pid)
                    self.closed.add(pid)
        self.commit_scans(day, self.stay_arrivals(day) + self.claim_scans(work.claims))
        self.queue_supports(day, work.supports)
        report = self.relayer.run_once(timeout_s=120)
        if report.pending:
            raise SeedFailed(f"day {day}: the relayer left work pending: {report}")
        for revocation in work.revocations:
            _, address = self.key(revocation.claim.person)
            activity_id = self.activities[revocation.claim.instance.key]
            location = self.client.find_record(activity_id, address, self.first_block)
            if location is None:  # the relayer rejected it: nothing to revoke
                self.log(f"day {day}: no record of {address} in activity {activity_id} to revoke")
                continue
            evidence = keccak(text=revocation.note)
            self.transact(
                "revoke",
                to_checksum_address(location.issuer),
                location.batch_seq,
                list(location.records),
                location.position,
                revocation.reason,
                evidence,
            )
            self.revocations[revocation.claim.region] += 1

    # -- claims: what each participant scans or types, signed, through the intake --------------------

    def schedule(self) -> None:
        """From the plan: the size of each activity's code batch and each region's batch with voided
        codes; the day each stay is checked in on, and the stays that would overlap an earlier one of
        the same person (checked in first, kept) and get a fixed-units kiosk instead."""
        for claim in self.plan.claims:
            if self.path_of(claim) == "code":
                self.code_counts[claim.instance.key] += 1
        by_region: dict[int, list[tuple[int, str, date]]] = defaultdict(list)
        for key in self.code_counts:
            by_region[key[0]].append(key)
        for keys in by_region.values():
            self.voided_in.add(max(keys, key=lambda k: (self.code_counts[k], -k[2].toordinal(), k[1])))
        stays = sorted(
            (c for c in self.plan.claims if self.path_of(c) == "stay"),
            key=lambda c: (c.day - c.units + 1, c.day, c.region, c.person),
        )
        last_day: dict[int, int] = {}
        for claim in stays:
            first = claim.day - claim.units + 1
            if first <= last_day.get(claim.person, first - 1):  # its days would repeat another stay's
                self.fixed_units.add(claim)
                continue
            last_day[claim.person] = claim.day
            self.arrivals[first].append(claim)

    def path_of(self, claim: PlannedClaim) -> str:
        """``code``, ``hours`` or ``stay`` (check-in and check-out), else ``kiosk``."""
        template = claim.instance.template
        if template.kind in CODE_KINDS and template.unit == RewardUnit.RECORD:
            return "code"
        if template.unit == RewardUnit.RECORD or claim in self.fixed_units:
            return "kiosk"
        return "hours" if template.unit == RewardUnit.HOUR else "stay"

    def signed(self, claim: PlannedClaim, token: str, at: float, intent: str | None = None) -> ClaimRequest:
        """``claim``'s participant signs ``token`` at ``at`` (the claim page's EIP-712 ``Claim``)."""
        activity_id = self.activity(claim.instance)
        private, address = self.key(claim.person)
        requested_at = int(at)
        digest = self.signing.digest(activity_id, token, address, requested_at)
        raw = private.sign_recoverable(digest, hasher=None)
        signature = "0x" + (raw[:64] + bytes([raw[64] + 27])).hex()
        return ClaimRequest(token, address, requested_at, signature, activity_id, intent)

    def kiosk_scan(self, claim: PlannedClaim, at: float, units: int, intent: str | None = None) -> ClaimRequest:
        """The activity's kiosk code of the moment ``at`` (units 0: a presence kiosk), signed."""
        activity_id = self.activity(claim.instance)
        token = self.tokens.issue(claim.region, activity_id, self.tokens.slot_at(at), units)
        return self.signed(claim, token, at, intent)

    def code_scan(self, claim: PlannedClaim, at: float) -> ClaimRequest:
        """The next unused code of the activity's batch (generated on its first claim), signed."""
        activity_id = self.activity(claim.instance)
        batch = self.batches.get(claim.instance.key)
        if batch is None:
            batch = self.batches[claim.instance.key] = self.code_batch(claim.instance, activity_id)
        code = batch.codes[batch.used]
        batch.used += 1
        return self.signed(claim, code, at)

    def code_batch(self, instance: Instance, activity_id: int) -> _CodeBatch:
        planned = self.code_counts[instance.key]
        spare = 2 + planned // 10
        voided = _VOIDED_CODES if instance.key in self.voided_in else 0
        count = planned + spare + voided
        now_ms = int(self.clock.now * 1000)
        with write_transaction(self.engine) as conn:
            batch = codes.create_batch(
                conn,
                self.codes,
                activity_id=activity_id,
                region=instance.region,
                count=count,
                units=1,
                expires_at=self.specs[activity_id].ends_at,
                label=f"{instance.name} {CODE_KINDS[instance.template.kind]}",
                created_by="demo-seed",
                now_ms=now_ms,
            )
            if voided:
                serials = range(planned + spare + 1, count + 1)
                codes.void_batch(conn, batch.batch_id, by="demo-seed", now_ms=now_ms, serials=list(serials))
            issued = codes.batch_codes(conn, self.codes, batch)
        return _CodeBatch(batch.batch_id, [c.code for c in issued])

    def claim_scans(self, claims: list[PlannedClaim]) -> list[tuple[float, ClaimRequest, _Expected]]:
        """The day's claims as scans, in commit order: kiosk and code claims, then each volunteer's
        shifts (arrival, departure), then the stays that end today (departures)."""
        morning = self.clock.now
        scans: list[tuple[float, ClaimRequest, _Expected]] = []
        shifts: dict[int, list[PlannedClaim]] = defaultdict(list)
        leaving: list[PlannedClaim] = []
        for claim in claims:
            path = self.path_of(claim)
            if path == "code":
                scans.append((morning, self.code_scan(claim, morning), _Expected(claim, "accepted")))
            elif path == "kiosk":
                scans.append((morning, self.kiosk_scan(claim, morning, claim.units), _Expected(claim, "accepted")))
            elif path == "hours":
                shifts[claim.person].append(claim)
            else:
                leaving.append(claim)
        for person_shifts in shifts.values():
            scans.extend(self.shift_scans(person_shifts, morning))
        for claim in leaving:  # in the morning; a one-day stay (checked in this morning) in the evening
            at = max(morning + self.presence_rng.randint(0, 120) * 60, self.arrived_at.pop(claim) + 6 * 3600)
            scans.append((at, self.kiosk_scan(claim, at, 0, DEPART), _Expected(claim, "recorded")))
        return scans

    def shift_scans(self, shifts: list[PlannedClaim], morning: float) -> list[tuple[float, ClaimRequest, _Expected]]:
        """One volunteer's shifts of a day: in at ``morning``, out the planned hours and a few minutes
        later (the default rule rounds down to whole hours); a second shift starts half an hour after
        the first ends (the first at 06:00 when both would not fit before 23:30). A shift that still
        does not fit is recorded by a kiosk set to its hours."""
        midnight = float(day_start(date_of(morning)))
        lengths = [claim.units * 3600 + self.presence_rng.randint(1, 45) * 60 for claim in shifts]
        start = morning
        if start + sum(lengths) + 1800 * (len(shifts) - 1) > midnight + _LATE:
            start = midnight + _EARLY
        scans: list[tuple[float, ClaimRequest, _Expected]] = []
        for claim, length in zip(shifts, lengths, strict=True):
            end = start + length
            if end > midnight + _LATE:
                self.fixed_units.add(claim)
                scans.append((morning, self.kiosk_scan(claim, morning, claim.units), _Expected(claim, "accepted")))
                continue
            scans.append((start, self.kiosk_scan(claim, start, 0, ARRIVE), _Expected(claim, "arrived")))
            scans.append((end, self.kiosk_scan(claim, end, 0, DEPART), _Expected(claim, "recorded")))
            start = end + 1800
        return scans

    def stay_arrivals(self, day: int) -> list[tuple[float, ClaimRequest, _Expected]]:
        """Check-ins of the stays whose first day is ``day`` (their check-out is on their last day,
        which may be today: these scans go before the day's claims)."""
        scans = []
        for claim in self.arrivals.get(day, []):
            at = self.clock.now + self.presence_rng.randint(0, 180) * 60
            self.arrived_at[claim] = at
            scans.append((at, self.kiosk_scan(claim, at, 0, ARRIVE), _Expected(claim, "arrived")))
        return scans

    def commit_scans(self, day: int, scans: list[tuple[float, ClaimRequest, _Expected]]) -> None:
        """Prepare each scan with the intake's clock at its moment, commit them in one transaction
        (in order: a shift's check-in before its check-out), check every answer."""
        if not scans:
            return
        morning = self.clock.now
        prepared: list[PreparedClaim] = []
        try:
            for at, request, expected in scans:
                self.clock.now = at
                try:
                    prepared.append(self.intake.prepare(request, "demo-seed"))
                except CheckinRejected as exc:
                    raise SeedFailed(
                        f"day {day}: the intake refused {self.describe(expected)}: {exc.code} {exc}"
                    ) from exc
        finally:
            self.clock.now = morning
        for (_, _, expected), answer in zip(scans, self.intake.commit(prepared), strict=True):
            self.check(day, expected, answer)

    def check(self, day: int, expected: _Expected, answer: Answer) -> None:
        claim = expected.claim
        if isinstance(answer, CheckinRejected):
            raise SeedFailed(f"day {day}: the intake refused {self.describe(expected)}: {answer.code} {answer}")
        if expected.outcome == "arrived":
            ok = isinstance(answer, PresenceAnswer) and answer.state == "arrived"
        elif expected.outcome == "recorded":
            ok = (
                isinstance(answer, PresenceAnswer)
                and answer.state == "recorded"
                and answer.claim_id is not None
                and answer.units == claim.units
            )
        else:
            ok = isinstance(answer, AcceptedClaim) and answer.units == claim.units
        if not ok:
            raise SeedFailed(f"day {day}: {self.describe(expected)} came back as {answer}")
        if expected.outcome != "arrived":
            self.paths[self.path_of(claim)] += 1

    def describe(self, expected: _Expected) -> str:
        claim = expected.claim
        return (
            f"the {expected.outcome} claim of person {claim.person} at {claim.instance.name} "
            f"({claim.units} {claim.instance.template.unit.code})"
        )

    def queue_supports(self, day: int, supports: list[PlannedSupport]) -> None:
        nonces: dict[str, int] = {}
        for support in supports:
            projects = self.open_projects(day, support.region)
            if not projects:
                continue
            private, address = self.key(support.person)
            balance = self.client.balance_of(address, support.region)
            amount = min(support.amount, balance // 100 * 100)
            if amount <= 0:
                continue
            project = projects[min(int(support.pick * len(projects)), len(projects) - 1)]
            nonce = nonces.get(address)
            if nonce is None:
                nonce = self.client.nonce(address)
            nonces[address] = nonce + 1
            request = SupportRequest(to_checksum_address(address), project, amount, nonce, int(self.clock.now) + _DAY)
            account = Account.from_key(private.secret)
            signature = sign_support(account, request, self.ctx.chain_id, self.client.address)
            try:
                accept_support(
                    self.engine,
                    self.client,
                    supporter=address,
                    project_id=project,
                    amount=amount,
                    nonce=nonce,
                    deadline=request.deadline,
                    signature="0x" + signature.hex(),
                    now=int(self.clock.now),
                )
            except SupportRefused as exc:
                raise SeedFailed(f"day {day}: support refused: {exc.code} {exc.message}") from exc
            self.supports_queued += 1

    # -- the year ------------------------------------------------------------------------------------

    def run(self) -> None:
        self.days = self.plan.by_day()
        self.days.setdefault(0, DayPlan())  # the regions are registered on the first morning
        self.schedule()
        last_report = time.monotonic()
        for day in sorted(set(self.days) | set(self.arrivals)):
            self.play_day(day)
            if self.on_day is not None:  # the caller shows progress; no periodic log line
                self.on_day(day + 1, self.plan.days)
            elif time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                self.log(f"  seeded up to {self.plan.date_of(day).isoformat()} ({day + 1}/{self.plan.days} days)")


def _summaries(engine: Engine, seeder: _Seeder) -> list[RegionSeedSummary]:
    confirmed = Outbox(engine).confirmed_by_region()
    records = {region: (claims, people) for region, (claims, people, _) in confirmed.items()}
    supports = {region: count for region, (_, _, count) in confirmed.items()}
    activities = Counter(key[0] for key in seeder.activities)
    return [
        RegionSeedSummary(
            code=r.code,
            name=r.region.name,
            people=records.get(r.code, (0, 0))[1],
            records=records.get(r.code, (0, 0))[0],
            revocations=seeder.revocations[r.code],
            supports=supports.get(r.code, 0),
            activities=activities[r.code],
        )
        for r in SEED_REGIONS
    ]


def seed_year(
    ctx: ChainContext,
    engine: Engine,
    *,
    seed: int,
    people: int,
    today: date | None = None,
    days: int = DAYS,
    log: Callable[[str], None] = lambda _message: None,
    on_day: Callable[[int, int], None] | None = None,
    reset_database: bool = True,
) -> SeedResult:
    """Seed ``days`` days ending yesterday (JST) on the fresh ledger of ``ctx``; the outbox tables of
    ``engine`` (migrated) carry the claims and supports. :class:`ConfigError` unless
    :func:`seed_state` is ``fresh``.

    ``on_day(done, days)`` is called after each simulated day (the demo's progress). The seed's
    relayer relays only what was accepted up to the end of the simulated day it plays: live claims
    accepted meanwhile (the demo serves while it seeds) wait in the outbox for the live relayer.
    ``reset_database=False`` when the caller already moved a stale database aside (the demo does,
    before it serves from it)."""
    started = time.monotonic()
    today = today or jst_today()
    state = seed_state(ctx, today, days)
    if state != "fresh":
        raise ConfigError(
            {
                "seeded": "this ledger already has activities: the year is seeded only once, on a fresh devnet",
                "no_room": "the devnet's clock is too recent for a past year: it was started without a genesis "
                "time; stop it (`tsunagari devnet down`), remove its state file and run the demo again",
                "not_anvil": "only the anvil devnet can take a seeded year (it sets block times)",
            }[state]
        )
    if reset_database:
        reset_stale_outbox(engine)
    first_day = today - timedelta(days=days)
    plan = make_plan(seed, people, first_day, days)
    log(
        f"seeding {first_day.isoformat()} – {(today - timedelta(days=1)).isoformat()}: {people} people, "
        f"{len(plan.claims)} claims planned (seed {seed})"
    )
    seeder = _Seeder(ctx, engine, plan, log, on_day)
    first_block = int(ctx.w3.eth.block_number)
    automine = seeder.control.automine()
    seeder.control.set_automine(True)
    seeder.control.set_block_timestamp_interval(1)
    try:
        seeder.run()
    finally:
        seeder.control.set_block_timestamp_interval(None)
        catch_up_chain_time(ctx)
        if not automine:
            seeder.control.set_interval_mining(max(1, round(ctx.settings.devnet.block_time_s or 1)))
    report = seeder.relayer.report()
    regions = _summaries(engine, seeder)
    return SeedResult(
        seed=seed,
        people=people,
        first_day=first_day,
        last_day=today - timedelta(days=1),
        records=sum(r.records for r in regions),
        revocations=sum(seeder.revocations.values()),
        supports=sum(r.supports for r in regions),
        activities=len(seeder.activities),
        projects=sum(len(v) for v in seeder.projects.values()),
        rejected_claims=report.claims.get("rejected", 0),
        blocks=int(ctx.w3.eth.block_number) - first_block,
        wall_s=round(time.monotonic() - started, 1),
        regions=regions,
        code_batches=len(seeder.batches),
        code_claims=seeder.paths["code"],
        hour_checkins=seeder.paths["hours"],
        stay_checkins=seeder.paths["stay"],
        fixed_unit_claims=len(seeder.fixed_units),
    )
