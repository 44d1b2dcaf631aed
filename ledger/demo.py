"""The demo's first steps on a chain: the four regions of the NTT Data project, a few activities and
contributions, one relayed support — all through the real contracts, idempotently.

Participants are deterministic throwaway keys (derived from a public seed string), so running the
demo twice gives the same people; they hold no ETH, as real participants would not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from sqlalchemy import Engine

from ledger.chain.client import ActivitySpec, LedgerClient, RecordInput
from ledger.chain.context import ChainContext
from ledger.chain.signing import SupportRequest, sign_support
from ledger.checkin import codes
from ledger.checkin.metadata import metadata_document, store_metadata
from ledger.db.engine import write_transaction
from ledger.jst import date_of
from ledger.taxonomy import ContributionKind, RewardUnit

if TYPE_CHECKING:
    from ledger.checkin.service import CheckinService

__all__ = [
    "DEMO_REGIONS",
    "DemoRegion",
    "RegionSummary",
    "IndexedRegion",
    "demo_participant",
    "setup_demo",
    "ensure_kiosk_activity",
    "KIOSK_ACTIVITY",
    "CODE_ACTIVITY",
    "PRESENCE_ACTIVITY",
    "DemoLinks",
    "demo_links",
    "demo_claim_code",
    "summarise",
    "index_demo",
]


@dataclass(frozen=True)
class DemoRegion:
    code: int  # JIS X 0402
    name: str
    coin_name: str
    symbol: str


# The four regions of 「ブロックチェーン技術を活用した地域と人のつながりの可視化」 (NTTデータ経営研究所, 2021).
DEMO_REGIONS: tuple[DemoRegion, ...] = (
    DemoRegion(12205, "館山市", "館山つながりコイン", "TATEYAMA"),
    DemoRegion(12234, "南房総市", "南房総つながりコイン", "MINAMIBOSO"),
    DemoRegion(15202, "長岡市", "長岡つながりコイン", "NAGAOKA"),
    DemoRegion(26100, "京都市", "京都つながりコイン", "KYOTO"),
)


@dataclass(frozen=True)
class _FirstActivity:
    region: int
    kind: ContributionKind
    reward: int  # per record, or per hour / day
    name: str
    designated: bool = False  # a 担い手活動 the municipality designated (ふるさと住民登録)
    unit: RewardUnit = RewardUnit.RECORD
    max_units: int = 1
    units: int = 1  # what each first record carries


# The first activities of each demo region: volunteering paid per hour (1,000 coins an hour, as
# actcoin does) and designated, a festival, a designated rice-planting day, a telework stay paid per
# day, a ふるさと納税 thank-you.
_FIRST_ACTIVITIES: tuple[_FirstActivity, ...] = (
    _FirstActivity(
        12205, ContributionKind.VOLUNTEERING, 1000, "海岸清掃ボランティア", True, RewardUnit.HOUR, max_units=8, units=3
    ),
    _FirstActivity(12205, ContributionKind.FESTIVAL_EVENT, 300, "館山わかしお祭り"),
    _FirstActivity(12234, ContributionKind.FARMING_EXPERIENCE, 500, "棚田の田植え体験", designated=True),
    _FirstActivity(15202, ContributionKind.TELEWORK, 800, "ワーケーション滞在", False, RewardUnit.DAY, 14, units=4),
    _FirstActivity(26100, ContributionKind.FURUSATO_NOZEI, 200, "ふるさと納税 応援"),
)


@dataclass(frozen=True)
class RegionSummary:
    code: int
    name: str
    coin: str
    participants: int
    minted: int
    spent: int
    revoked: int
    expired: int
    supply: int


def demo_participant(index: int) -> LocalAccount:
    """Deterministic demo participant ``index`` (a public, throwaway key: devnet only)."""
    account: LocalAccount = Account.from_key(keccak(text=f"tsunagari-demo-participant-{index}"))
    return account


def setup_demo(
    client: LedgerClient,
    platform: LocalAccount,
    region_admin: LocalAccount,
    relayer: LocalAccount,
    now: int,
    participants: int = 12,
    engine: Engine | None = None,
) -> bool:
    """Register the demo regions, activities and first contributions; False when already done."""
    for region in DEMO_REGIONS:
        if not client.region_info(region.code).registered:
            client.register_region(platform, region.code, region.coin_name, region.symbol, region_admin.address)
        if not client.is_issuer(region.code, relayer.address):
            client.grant_issuer(region_admin, region.code, relayer.address)
    if client.contract.functions.lastIds().call()[0] > 0:
        return False
    activity_ids: dict[int, list[tuple[int, int]]] = {}
    for first in _FIRST_ACTIVITIES:
        spec = ActivitySpec(
            region=first.region,
            kind=first.kind,
            reward=first.reward,
            starts_at=now - 3600,
            ends_at=now + 30 * 86_400,
            capacity=0,
            metadata_hash=_metadata(engine, first.name),
            designated=first.designated,
            unit=first.unit,
            max_units=first.max_units,
        )
        activity_ids.setdefault(first.region, []).append((client.register_activity(region_admin, spec), first.units))
    people = [demo_participant(i) for i in range(participants)]
    claim = 0
    for offset, (region_code, ids) in enumerate(activity_ids.items()):
        batch = []
        for activity_id, units in ids:
            for person in people[offset : offset + 6]:
                claim += 1
                batch.append(RecordInput(person.address, activity_id, claim, units))
        client.record_batch(relayer, region_code, batch)
    project = client.register_project(region_admin, DEMO_REGIONS[0].code, keccak(text="館山 海岸の松林を守る"))
    supporter = people[0]
    request = SupportRequest(supporter.address, project, 500, client.nonce(supporter.address), now + 3600)
    client.support_by_sig(relayer, request, sign_support(supporter, request, client.chain_id, client.address))
    return True


def _metadata(engine: Engine | None, name: str, venue: str = "") -> bytes:
    """The metadata hash of an activity named ``name``; its text is kept when there is a database."""
    if engine is None:
        return bytes.fromhex(metadata_document(name, "", venue)[1][2:])
    with write_transaction(engine) as conn:
        return bytes.fromhex(store_metadata(conn, name, "", venue)[2:])


KIOSK_ACTIVITY = "館山わかしお祭り 受付"


def ensure_kiosk_activity(client: LedgerClient, region_admin: LocalAccount, engine: Engine, now: int) -> int:
    """An activity open now for the demo's kiosk (館山市, 祭り): the indexed one, else a new one."""
    from sqlalchemy import text

    _, metadata_hash = metadata_document(KIOSK_ACTIVITY, "", "北条海岸")
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT activity_id FROM activities WHERE chain_id = :c AND metadata_hash = :h AND NOT closed "
                "AND starts_at <= :now AND ends_at > :soon ORDER BY activity_id DESC LIMIT 1"
            ),
            {"c": client.chain_id, "h": metadata_hash, "now": now, "soon": now + 3600},
        ).first()
    if row is not None:
        return int(row[0])
    spec = ActivitySpec(
        region=DEMO_REGIONS[0].code,
        kind=ContributionKind.FESTIVAL_EVENT,
        reward=300,
        starts_at=now - 3600,
        ends_at=now + 7 * 86_400,
        capacity=0,
        metadata_hash=_metadata(engine, KIOSK_ACTIVITY, "北条海岸"),
    )
    return client.register_activity(region_admin, spec)


CODE_ACTIVITY = "ふるさと納税 お礼状（デモ）"
PRESENCE_ACTIVITY = "海岸清掃ボランティア 受付（デモ）"


@dataclass(frozen=True)
class DemoLinks:
    """What the demo prints beside its kiosk: a ふるさと納税 letter's single-use claim code (its claim
    page) and the presence kiosk (check-in and check-out) of a volunteering activity rewarded per hour."""

    claim_code_url: str
    claim_code: str  # display form, as printed on the letter
    code_activity: int
    presence_kiosk_url: str
    presence_activity: int


def _open_activity(engine: Engine, chain_id: int, now: int, kind: ContributionKind, unit: RewardUnit) -> int | None:
    """An indexed activity of ``kind`` and ``unit`` open for the next hour: 館山市's first, then the
    newest; for a kind claimed by code, one with an unused code first."""
    from sqlalchemy import text

    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT a.activity_id FROM activities a WHERE a.chain_id = :c AND a.kind = :k AND a.unit = :u "
                "AND NOT a.closed AND a.starts_at <= :now AND a.ends_at > :soon ORDER BY "
                "EXISTS (SELECT 1 FROM claim_codes c WHERE c.activity_id = a.activity_id AND c.state = 'issued' "
                "AND c.expires_at > :soon) DESC, CASE WHEN a.region = :home THEN 0 ELSE 1 END, a.activity_id DESC "
                "LIMIT 1"
            ),
            {
                "c": chain_id,
                "k": int(kind),
                "u": int(unit),
                "now": now,
                "soon": now + 3600,
                "home": DEMO_REGIONS[0].code,
            },
        ).first()
    return None if row is None else int(row[0])


def _ensure_open_activity(
    client: LedgerClient, region_admin: LocalAccount, engine: Engine, now: int, first: _FirstActivity, days: int
) -> int:
    found = _open_activity(engine, client.chain_id, now, first.kind, first.unit)
    if found is not None:
        return found
    spec = ActivitySpec(
        region=first.region,
        kind=first.kind,
        reward=first.reward,
        starts_at=now - 3600,
        ends_at=now + days * 86_400,
        capacity=0,
        metadata_hash=_metadata(engine, first.name),
        designated=first.designated,
        unit=first.unit,
        max_units=first.max_units,
    )
    return client.register_activity(region_admin, spec)


def demo_claim_code(service: CheckinService, activity_id: int, now: int) -> codes.IssuedCode:
    """An unused, unexpired single-use code of ``activity_id`` (a seeded batch's spare one), else the
    first of a new batch of 10 labelled デモ用."""
    maker = service.intake.codes
    if maker is None:
        raise ValueError("this check-in service has no claim codes")
    with service.engine.connect() as conn:
        for batch in codes.list_batches(conn, activity_id, now=now):
            if batch.counts["issued"]:
                for code in codes.batch_codes(conn, maker, batch):
                    if code.state == "issued" and code.expires_at > now + 3600:
                        return code
    activity = service.directory.get(activity_id)
    with write_transaction(service.engine) as conn:
        batch = codes.create_batch(
            conn,
            maker,
            activity_id=activity_id,
            region=activity.region,
            count=10,
            units=1,
            expires_at=activity.ends_at,
            label="デモ用",
            created_by="demo",
            now_ms=now * 1000,
        )
        return codes.batch_codes(conn, maker, batch)[0]


def demo_links(
    client: LedgerClient, region_admin: LocalAccount, engine: Engine, service: CheckinService, now: int
) -> DemoLinks:
    """A claim-code URL of a ふるさと納税 activity open now and a presence-kiosk URL of a volunteering
    activity open now: the seeded ones (the index knows them), else new demo activities of 館山市."""
    home = DEMO_REGIONS[0].code
    furusato = _FirstActivity(home, ContributionKind.FURUSATO_NOZEI, 200, CODE_ACTIVITY)
    volunteering = _FirstActivity(
        home, ContributionKind.VOLUNTEERING, 1000, PRESENCE_ACTIVITY, True, RewardUnit.HOUR, max_units=8
    )
    code_activity = _ensure_open_activity(client, region_admin, engine, now, furusato, 30)
    code = demo_claim_code(service, code_activity, now)
    presence_activity = _ensure_open_activity(client, region_admin, engine, now, volunteering, 7)
    return DemoLinks(
        claim_code_url=service.claim_url(code.code),
        claim_code=code.display,
        code_activity=code_activity,
        presence_kiosk_url=service.kiosk_link(presence_activity, 0).url,
        presence_activity=presence_activity,
    )


def summarise(client: LedgerClient, regions: Sequence[DemoRegion] = DEMO_REGIONS) -> list[RegionSummary]:
    """Per demo region: coin address, participants and coin totals, read from the chain."""
    summaries = []
    for region in regions:
        info = client.region_info(region.code)
        summaries.append(
            RegionSummary(
                code=region.code,
                name=region.name,
                coin=info.coin,
                participants=info.participant_count,
                minted=info.minted,
                spent=info.spent,
                revoked=info.revoked,
                expired=info.expired,
                supply=info.total_supply,
            )
        )
    return summaries


@dataclass(frozen=True)
class IndexedRegion:
    """What the index says about a demo region (the same figures the dashboards will show)."""

    code: int
    name: str
    participants: int
    records: int
    stages: dict[str, int]
    kankei: int


def index_demo(ctx: ChainContext, regions: Sequence[DemoRegion] = DEMO_REGIONS) -> tuple[int, list[IndexedRegion]]:
    """Index the demo chain into the configured database; returns (logs indexed, per-region figures).

    An index built for another ledger (the devnet was reset) is moved aside as ``*.stale`` when it is
    the default SQLite file, so the demo never mixes two chains' histories.
    """
    from ledger import queries
    from ledger.db.engine import make_engine
    from ledger.indexer.service import build_indexer

    engine = make_engine(ctx.settings.db.url)
    _drop_stale_index(engine, ctx.deployment.ledger)
    service = build_indexer(ctx, engine)
    with service.indexer:
        logs = service.indexer.backfill()
    today = date_of(int(ctx.w3.eth.get_block("latest")["timestamp"]))
    indexed = []
    with engine.connect() as conn:
        for region in regions:
            summary = queries.region_summary(conn, region.code, date(2000, 1, 1), today)
            indexed.append(
                IndexedRegion(
                    code=region.code,
                    name=region.name,
                    participants=summary.participants or 0,
                    records=summary.records or 0,
                    stages={str(s.stage): s.people or 0 for s in summary.stages},
                    kankei=summary.kankei or 0,
                )
            )
    engine.dispose()
    return logs, indexed


def _drop_stale_index(engine: Engine, ledger_address: str) -> None:
    from sqlalchemy import inspect, text

    from ledger.db.engine import set_aside_sqlite

    if "indexer_checkpoints" not in inspect(engine).get_table_names():
        return
    with engine.connect() as conn:
        contracts = {str(r[0]) for r in conn.execute(text("SELECT contract FROM indexer_checkpoints"))}
    if not contracts or contracts == {ledger_address.lower()}:
        return
    set_aside_sqlite(engine, f"the index at {engine.url} belongs to another ledger ({', '.join(sorted(contracts))})")
