"""The page assemblers: one document per page, rendered by both the JSON route and the HTML route."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, text

from ledger.queries.audit import IssuerAudit, issuer_audit, public_audit
from ledger.queries.cells import _EPOCH_ORDINAL, _SECONDS_PER_DAY, DEFAULT_K, _check_range, _check_region
from ledger.queries.network import NATIONAL_REFERENCE, NationalReference, RegionOverlap, region_overlap
from ledger.queries.projects import PublicProject, public_projects
from ledger.queries.region import (
    Cohort,
    KindReturn,
    MonthlyPoint,
    RegionInfo,
    RegionSummary,
    UnitTotals,
    cohort_retention,
    list_regions,
    region_monthly,
    region_summary,
    region_units,
    returning_kinds,
)
from ledger.queries.status import IndexStatus, index_status
from ledger.ties import JST_OFFSET_SECONDS

# ---------------------------------------------------------------------------------------------
# The region dashboard as one document (the JSON API and the server-rendered page both use it)
# ---------------------------------------------------------------------------------------------


FIGURE_DEFINITIONS: dict[str, tuple[str, str]] = {
    "participants": (
        "期間末の月までにこの地域で有効な記録が1件以上ある人数（全段階）。",
        "People with at least one live record in the region up to the end of the as-of month (every stage).",
    ),
    "kankei": (
        "関係人口：つながりモデルの段階が「関係人口」または「コア」の人数（継続的：2か月以上・90日以上、"
        "かつ多様な形で：2形態以上・年8日以上の訪問・非訪問系2種以上のいずれか。docs/ties.md §6）。期間末の月の時点。",
        "関係人口: people whose tie is at stage kankei or core (continuous: 2+ months spanning 90+ days, and "
        "diverse or frequent: 2+ MLIT forms, 8+ visit days a year or 2+ non-visiting kinds; docs/ties.md §6), "
        "as of the end of the as-of month.",
    ),
    "kankei_visiting": (
        "関係人口のうち訪問系（過去1年に訪問日が1日以上）。",
        "関係人口 with at least one visit day in the trailing year (訪問系).",
    ),
    "kankei_non_visiting": (
        "関係人口のうち非訪問系（過去1年に訪問日なし：ふるさと納税・特産品購入・オンライン交流のみ）。",
        "関係人口 with no visit day in the trailing year (非訪問系: donations, local products, online exchange).",
    ),
    "monthly": (
        "月ごとの推移：各月末時点の人数と段階、その月に活動した人（新規・再来）、記録数とコイン。",
        "Month by month: people and stages as of each month's end; people active that month (new, returning); "
        "records and coins of the month.",
    ),
    "active": (
        "期間内の月に有効な記録（地縁・血縁を除く）が1件以上ある人数。",
        "People with a live (non-kin) record in the range's months.",
    ),
    "new": (
        "新規：期間内に活動した人のうち、この地域での最初の記録が期間内の月にある人。",
        "New: people active in the range whose first live record in the region falls in the range's months.",
    ),
    "returning": (
        "再来：期間内に活動した人のうち、期間より前にもこの地域で記録がある人。",
        "Returning: people active in the range who already had a live record in the region before it.",
    ),
    "stages": (
        "段階の内訳（なし→来訪→リピーター→関係人口→コア）、期間末の月の時点。規則は docs/ties.md §6。",
        "The stage funnel (none → visitor → repeater → kankei → core) as of the end of the as-of month; "
        "rules in docs/ties.md §6.",
    ),
    "visit_bands": (
        "過去1年の訪問日数の区分（国交省の 1日／2〜7日／8日以上、0＝訪問なし）。全国値は 2〜7日＝49% のみ公表。",
        "Visit days in the trailing year in MLIT's bands (1, 2-7, 8+; 0 = no visit); the national figure quoted "
        "is 2-7 days = 49%.",
    ),
    "type_mix": (
        "期間内の有効な記録の国交省類型別件数。訪問系4類型の構成比を全国の訪問系関係人口の構成（人ベース）と並べる。",
        "Live records of the range by MLIT type; the four visiting types' shares sit beside the national mix of "
        "visiting 関係人口 (which counts people, not records).",
    ),
    "national": (
        "全国値：国土交通省 2023年度調査（n=118,963）。自己申告の調査で、台帳は記録された活動のみ："
        "水準ではなく形を比べる。",
        "National figures: MLIT 2023 survey (n=118,963), self-reported; the ledger sees recorded activity only, so "
        "compare shapes, not levels.",
    ),
    "cohorts": (
        "初回活動月別の継続率：この地域で最初の記録がその月にある人のうち、各月に活動した人の割合。",
        "Retention by first-activity month: of the people whose first live record in the region fell in that "
        "month, the share active in each later month.",
    ),
    "returning_kinds": (
        "再訪につながる活動：期間内の活動種別ごとの有効な記録数と、そのうち参加者が後日この地域で再び記録した件数"
        "（指標の時点まで）。地縁・血縁は除く。",
        "Activities that bring people back: per activity kind, the range's live records and how many of them "
        "were followed by a later live record of the same person in the region (up to the index head); kin "
        "visits excluded.",
    ),
    "coins_issued": (
        "発行：期間内の記録で発行されたコイン（後に取り消された記録を含む）。",
        "Issued: coins minted by the range's records (records revoked later included).",
    ),
    "coins_spent": (
        "応援：期間内にプロジェクトの応援に使われたコイン。",
        "Support: coins spent on projects in the range.",
    ),
    "coins_clawed_back": (
        "取消：期間内の取り消しで回収されたコイン。",
        "Revoked: coins burned by revocations made in the range.",
    ),
    "gift_rate": (
        "応援率＝応援 ÷ 発行（同じ期間）。地域が渡したコインのうち応援として戻った割合。",
        "Gift rate = support ÷ issued over the same range: how much of what the region gave came back as support.",
    ),
    "audit": (
        "発行者監査：発行者ごとの記録・発行コイン・取り消し、期間内の取り消し（理由つき）と権限の変更。公開版は参加者アドレスを含まない。",
        "Issuer audit: per issuer the records, coins and revoked records; revocations in the range with their "
        "reasons; role changes. The public version carries no participant address.",
    ),
    "overlap": (
        "重なり：この地域と他の地域の両方で期間内に活動した人数と、この地域の活動者に占める割合。",
        "Overlap: people active in both this region and another in the range, and their share of this region's "
        "active people.",
    ),
    "projects": (
        "応援先プロジェクト：応援額と応援者数（応援者が k 人未満のときは非表示）。",
        "Projects open for support, with coins raised and supporters (hidden with fewer than k supporters).",
    ),
    "help_hours": (
        "お手伝いの時間：期間内の日の、時間単位の活動の有効な記録（地縁・血縁を除く）の時間の合計と、その人数。"
        "k 人未満のときは時間も人数も表示しない。",
        "Hours of help: the hours of live per-hour records (kin visits excluded) made on the range's days, and the "
        "people behind them; both hidden with fewer than k people.",
    ),
    "stay_days": (
        "滞在日数：日単位の活動の有効な記録（N日の滞在は記録の日に終わるN日間）がカバーする期間内の日を、人ごとに数えた合計"
        "（同じ人の同じ日は1日）と、その人数。k 人未満のときは日数も人数も表示しない。",
        "Days of stays: the days inside the range covered by live per-day records (a stay of N days is the N days "
        "ending on the day it was recorded), counted once per person and day, and the people behind them; both "
        "hidden with fewer than k people.",
    ),
    "index": (
        "インデクサの状態：取り込んだブロック、チェーンの先頭との差（ラグ）、未計算の派生行。",
        "Indexer status: the block indexed, the lag behind the chain head, derived rows waiting.",
    ),
    "k": (
        "小さなセルの秘匿：k 人未満の人数（と差し引きで分かる1セル）は表示しない（null）。0 は表示する。",
        "Small-cell suppression: a count of fewer than k people (and one more cell when subtraction would reveal "
        "it) is shown as null; zero is shown.",
    ),
}
"""A short 日本語 and English definition of every figure of the region dashboard, by figure key."""


def default_range(conn: Connection) -> tuple[date, date]:
    """The dashboards' default period: the last 12 whole JST months up to the index head's day
    (up to today before anything is indexed)."""
    timestamp = conn.execute(text("SELECT MAX(block_timestamp) FROM indexer_checkpoints")).scalar()
    end = (
        date.fromordinal(_EPOCH_ORDINAL + (int(timestamp) + JST_OFFSET_SECONDS) // _SECONDS_PER_DAY)
        if (timestamp is not None)
        else date.today()
    )
    year, month = divmod(end.year * 12 + end.month - 1 - 11, 12)
    return date(year, month + 1, 1), end


@dataclass(frozen=True, slots=True)
class RegionDashboard:
    """Everything a region dashboard shows, for one period; every figure's definition is in
    ``definitions`` (:data:`FIGURE_DEFINITIONS`)."""

    region: RegionInfo
    start: date
    end: date
    k: int | None
    summary: RegionSummary  # 関係人口, stages, bands, type mix, new/returning, coins (gift rate)
    units: UnitTotals  # hours of help and days of stays
    monthly: tuple[MonthlyPoint, ...]
    cohorts: tuple[Cohort, ...]
    returning_kinds: tuple[KindReturn, ...]
    audit: IssuerAudit  # public: no participant addresses
    overlap: RegionOverlap
    projects: tuple[PublicProject, ...]
    index: IndexStatus
    caught_up: bool
    national: NationalReference
    definitions: dict[str, dict[str, str]]


def region_dashboard(
    conn: Connection, region: int, start: date | None = None, end: date | None = None, k: int | None = DEFAULT_K
) -> RegionDashboard | None:
    """The whole public region dashboard (``None`` when the region is not registered); ``start`` /
    ``end`` default to :func:`default_range`. Every part comes from the functions above, so a page
    and the JSON API show the same numbers. Reads rollups and small tables (no scan of
    ``contributions`` or ``tie_months``), and the records of per-hour and per-day activities by
    activity (:func:`region_units`)."""
    _check_region(region)
    info = next((r for r in list_regions(conn) if r.region == region), None)
    if info is None:
        return None
    if start is None or end is None:
        default_start, default_end = default_range(conn)
        start, end = start or default_start, end or default_end
    _check_range(start, end)
    status = index_status(conn)
    return RegionDashboard(
        region=info,
        start=start,
        end=end,
        k=k,
        summary=region_summary(conn, region, start, end, k=k),
        units=region_units(conn, region, start, end, k=k),
        monthly=tuple(region_monthly(conn, region, start, end, k=k)),
        cohorts=tuple(cohort_retention(conn, region, start, end, k=k)),
        returning_kinds=tuple(returning_kinds(conn, region, start, end, k=k)),
        audit=public_audit(issuer_audit(conn, region, start, end)),
        overlap=region_overlap(conn, region, start, end, k=k),
        projects=tuple(public_projects(conn, region, k=k)),
        index=status,
        caught_up=status.caught_up,
        national=NATIONAL_REFERENCE,
        definitions={key: {"ja": ja, "en": en} for key, (ja, en) in FIGURE_DEFINITIONS.items()},
    )
