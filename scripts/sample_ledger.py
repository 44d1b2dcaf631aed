"""A believable year of ledger history on a local anvil, for the page tests and the screenshots.

Four regions (the NTT Data project's), about 13 months of activities of every MLIT type, people who
come once, come back, add a second form, lapse or become regulars, some tied to two or three
regions; revocations with reasons, an issuer granted and one revoked mid-year, projects with
supports (応援). Volunteering is paid per hour and telework per day (1–4 units a record), and
volunteering, project help and farm work are designated 担い手活動 (``demo_terms``). Everything goes
through the real contracts; activity and project names are kept
off chain with their hash on chain (``ledger.checkin.metadata``).

anvil starts at a genesis time in the past (``--timestamp``) and every transaction gets its own
block at the time of the event, so the chain's clock and the index's months are the story's.
Deterministic: the same seed gives the same chain.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from sqlalchemy import Engine

from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient, RecordInput
from ledger.chain.deploy import Deployment, deploy_ledger
from ledger.chain.devnet import AnvilDevnet
from ledger.chain.signing import SupportRequest, sign_support
from ledger.checkin.metadata import store_metadata
from ledger.db.engine import write_transaction
from ledger.demo_seed.catalogue import demo_terms
from ledger.settings import Settings
from ledger.taxonomy import ContributionKind as K

__all__ = ["PastAnvil", "Sample", "SAMPLE_REGIONS", "build_sample", "sample_person", "sample_stack"]

DAY = 86_400

# (code, name registered on chain, symbol, [(kind, reward, activity name)])
SAMPLE_REGIONS: tuple[tuple[int, str, str, tuple[tuple[K, int, str], ...]], ...] = (
    (
        12205,
        "館山市",
        "TATEYAMA",
        (
            (K.VOLUNTEERING, 1000, "北条海岸の清掃ボランティア"),
            (K.FESTIVAL_EVENT, 300, "館山わかしお祭り"),
            (K.LOCAL_PURCHASE, 100, "渚の駅 朝市"),
            (K.PROJECT_HELP, 800, "海辺の松林を守る会議"),
            (K.TELEWORK, 500, "海辺のワーケーション"),
        ),
    ),
    (
        12234,
        "南房総市",
        "MINAMIBOSO",
        (
            (K.FARMING_EXPERIENCE, 500, "棚田の田植え・稲刈り体験"),
            (K.SIGHTSEEING, 100, "花摘みと里山さんぽ"),
            (K.PAID_FARM_WORK, 700, "びわ農家の援農"),
            (K.REMOTE_PURCHASE, 100, "びわゼリーの産地直送"),
        ),
    ),
    (
        15202,
        "長岡市",
        "NAGAOKA",
        (
            (K.TELEWORK, 800, "山古志ワーケーション"),
            (K.SIDE_JOB, 900, "酒蔵の副業プロジェクト"),
            (K.FESTIVAL_EVENT, 300, "長岡まつり 運営サポート"),
            (K.ONLINE_EXCHANGE, 100, "オンライン 地域ゼミ"),
        ),
    ),
    (
        26100,
        "京都市",
        "KYOTO",
        (
            (K.FURUSATO_NOZEI, 200, "ふるさと納税 応援"),
            (K.EXCHANGE_MEETING, 300, "町家で交流会"),
            (K.VOLUNTEERING, 1000, "鴨川の清掃ボランティア"),
            (K.KIN_VISIT, 0, "帰省の記録"),
        ),
    ),
)

PROJECTS: dict[int, tuple[str, ...]] = {
    12205: ("海岸の松林を守る", "館山の夏祭り 山車の修繕"),
    12234: ("棚田の石垣を直す",),
    15202: ("山古志の錦鯉の池を守る", "雪国の空き家を交流拠点に"),
    26100: ("町家の保存と活用",),
}


def sample_person(index: int, seed: str = "tsunagari-sample") -> LocalAccount:
    """Deterministic throwaway participant key ``index`` (devnet only)."""
    account: LocalAccount = Account.from_key(keccak(text=f"{seed}-{index}"))
    return account


class PastAnvil(AnvilDevnet):
    """anvil whose genesis block is at ``genesis_timestamp`` (automine: one block per transaction)."""

    def __init__(self, genesis_timestamp: int, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.genesis_timestamp = genesis_timestamp

    def command(self) -> list[str]:
        return [*super().command(), "--timestamp", str(self.genesis_timestamp)]


@dataclass
class Sample:
    """What was built: the deployment, the people by index, and a few people worth showing."""

    deployment: Deployment
    client: LedgerClient
    people: list[LocalAccount]
    start: int
    end: int
    regions: tuple[int, ...]
    projects: dict[int, list[int]] = field(default_factory=dict)  # region -> project ids
    revoked: list[tuple[int, str]] = field(default_factory=list)  # (activity, participant)

    def richest_person(self, ties_of: Callable[[str], int]) -> str:
        """The participant with the most ties (by ``ties_of``): the one the screenshots show."""
        return max((p.address for p in self.people), key=lambda a: (ties_of(a), a))


@dataclass
class _Profile:
    home: int  # index into SAMPLE_REGIONS
    others: tuple[int, ...]
    rate: float  # chance to join an activity of the home region in an active month
    join: int  # first month
    leave: int  # last month
    non_visiting: bool


def _profiles(rng: random.Random, people: int, months: int) -> list[_Profile]:
    weights = (0.34, 0.2, 0.28, 0.18)
    profiles = []
    for _ in range(people):
        home = rng.choices(range(len(SAMPLE_REGIONS)), weights)[0]
        others: tuple[int, ...] = ()
        roll = rng.random()
        if roll < 0.3:
            others = (rng.choice([i for i in range(len(SAMPLE_REGIONS)) if i != home]),)
        elif roll < 0.38:
            others = tuple(rng.sample([i for i in range(len(SAMPLE_REGIONS)) if i != home], 2))
        level = rng.random()
        rate = 0.08 if level < 0.35 else 0.2 if level < 0.7 else 0.38 if level < 0.9 else 0.6
        join = min(int(rng.random() ** 1.6 * months), months - 1)
        leave = months - 1 if rng.random() < 0.75 else min(months - 1, join + rng.randint(1, 5))
        profiles.append(_Profile(home, others, rate, join, leave, rng.random() < 0.15))
    return profiles


def build_sample(
    anvil: AnvilDevnet,
    engine: Engine,
    *,
    start: int,
    months: int = 13,
    people: int = 90,
    seed: int = 2025,
) -> Sample:
    """Deploy and write the history from ``start`` (unix seconds, in anvil's past) on; the texts of
    activities and projects go to ``engine`` (migrated). Returns what was built."""
    rng = random.Random(seed)
    platform, relayer, admin = dev_account(0), dev_account(1), dev_account(2)
    staff = [dev_account(3), dev_account(4), dev_account(5)]
    clock = [start]

    def at(timestamp: int) -> None:
        clock[0] = max(timestamp, clock[0] + 1)
        anvil.set_next_block_timestamp(clock[0])

    at(start)
    deployment = deploy_ledger(anvil.w3, platform)
    client = LedgerClient(anvil.w3, deployment.ledger, poll_s=0.01)
    codes = tuple(r[0] for r in SAMPLE_REGIONS)
    issuers: dict[int, list[LocalAccount]] = {}
    for i, (code, name, symbol, _) in enumerate(SAMPLE_REGIONS):
        at(start + 60)
        client.register_region(platform, code, name, symbol, admin.address)
        at(start + 120)
        client.grant_issuer(admin, code, relayer.address)
        at(start + 180)
        client.grant_issuer(admin, code, staff[i % len(staff)].address)
        issuers[code] = [relayer, staff[i % len(staff)]]

    def metadata(name: str, venue: str = "") -> bytes:
        with write_transaction(engine) as conn:
            return bytes.fromhex(store_metadata(conn, name, "", venue)[2:])

    persons = [sample_person(i) for i in range(people)]
    profiles = _profiles(rng, people, months)
    sample = Sample(deployment, client, persons, start, start, codes)
    claim = 0
    units_rng = random.Random(f"{seed}-units")  # hours and days on their own stream: the story stays the same
    supported: list[tuple[int, int, LocalAccount]] = []  # (time, region, person) after a record
    for month in range(months):
        base = start + month * 30 * DAY + 2 * DAY
        if month == 1:
            for code in codes:
                for title in PROJECTS[code]:
                    at(base)
                    pid = client.register_project(admin, code, metadata(title))
                    sample.projects.setdefault(code, []).append(pid)
        if month == 4:  # a new issuer joins 館山市 (issuer audit)
            at(base)
            client.grant_issuer(admin, codes[0], dev_account(6).address)
            issuers[codes[0]].append(dev_account(6))
        if month == 9:  # ... and one leaves 長岡市
            at(base)
            client.revoke_issuer(admin, codes[2], issuers[codes[2]][1].address)
            issuers[codes[2]] = issuers[codes[2]][:1]
        plan = []
        for r, (code, _, _, activities) in enumerate(SAMPLE_REGIONS):
            for slot in range(3 if r != 1 or month % 2 == 0 else 2):
                day = base + (slot * 9 + rng.randint(0, 5)) * DAY + (10 + r) * 3600
                plan.append((day, r, slot, code, activities[(month + slot * 2 + r) % len(activities)]))
        for day, r, slot, code, (kind, reward, title) in sorted(plan):
            at(day - 3600)
            designated, unit, max_units = demo_terms(kind)
            spec = ActivitySpec(
                code, kind, reward, day - 2 * DAY, day + 2 * DAY, 0, metadata(title), designated, unit, max_units
            )
            activity = client.register_activity(admin, spec)
            joined = []
            for p, profile in enumerate(profiles):
                if not profile.join <= month <= profile.leave:
                    continue
                non_visiting = int(kind) // 10 == 5
                if r == profile.home:
                    chance = profile.rate * (1.6 if non_visiting and profile.non_visiting else 1.0)
                elif r in profile.others:
                    chance = profile.rate * 0.45
                else:
                    continue
                if month == profile.join and r == profile.home and slot == 0:
                    chance = 1.0  # everyone starts somewhere
                if rng.random() < chance:
                    joined.append(persons[p])
            if not joined:
                continue
            at(day)
            batch = []
            for person in joined:
                claim += 1
                batch.append(RecordInput(person.address, activity, claim, units_rng.randint(1, min(max_units, 4))))
            client.record_batch(issuers[code][slot % len(issuers[code])], code, batch)
            supported.extend((clock[0], code, person) for person in joined if rng.random() < 0.08)
            if rng.random() < 0.06 and len(joined) > 2:
                victim = joined[-1]
                at(day + 3 * 3600)
                client.revoke(admin, activity, victim.address, rng.choice((1, 2, 3, 5)), keccak(text=f"ev{claim}"))
                sample.revoked.append((activity, victim.address.lower()))
        if month == 10:
            closing = sample.projects[codes[0]][-1]
            at(base + 20 * DAY)
            client.close_project(admin, closing)
        # supports of the month by people who earned coins, signed by them and relayed
        for when, code, person in [s for s in supported if s[0] <= base + 28 * DAY]:
            projects = [p for p in sample.projects.get(code, []) if not client.project(p).closed]
            balance = client.balance_of(person.address, code)
            if not projects or balance < 100:
                continue
            at(max(when + DAY, clock[0] + 1))
            amount = min(balance, rng.choice((100, 200, 300, 500)))
            request = SupportRequest(person.address, rng.choice(projects), amount, client.nonce(person.address), 2**40)
            client.support_by_sig(relayer, request, sign_support(person, request, client.chain_id, client.address))
        supported = [s for s in supported if s[0] > base + 28 * DAY]
    sample.end = clock[0]
    return sample


@contextlib.contextmanager
def sample_stack(root: Path, *, people: int = 90, months: int = 13) -> Iterator[tuple[Settings, Sample, PastAnvil]]:
    """anvil with the sample history, indexed into ``root/tsunagari.db``, and the settings that point
    at both (RPC backend, no confirmations): what ``create_app(settings)`` serves. anvil stops on exit."""
    from ledger.chain.context import open_chain
    from ledger.chain.deploy import save_deployment
    from ledger.db.engine import make_engine, upgrade_to_head
    from ledger.indexer.service import build_indexer

    root.mkdir(parents=True, exist_ok=True)
    now = int(time.time())
    start = now - (months * 30 + 20) * DAY
    anvil = PastAnvil(start - 3600, log_file=root / "anvil.log")
    anvil.start()
    try:
        db_url = f"sqlite:///{root / 'tsunagari.db'}"
        engine = make_engine(db_url)
        upgrade_to_head(engine)
        sample = build_sample(anvil, engine, start=start, people=people, months=months)
        save_deployment(root / "deployments", sample.deployment)
        settings = Settings(
            db={"url": db_url},
            chain={
                "backend": "rpc",
                "rpc_url": anvil.rpc_url,
                "deployments_dir": root / "deployments",
                "confirmations": 0,
            },
        )
        service = build_indexer(open_chain(settings), engine)
        with service.indexer:
            service.indexer.backfill()
        engine.dispose()
        yield settings, sample, anvil
    finally:
        anvil.close()
