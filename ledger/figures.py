"""One catalogue of figure definitions: what every number on a page, in the JSON API and in the export's
data dictionary means, with a 日本語 and an English label and definition, keyed by a stable id.

Pages mark each figure they show with ``data-figure="<id>"`` (and ``data-value`` = the raw number, empty
when suppressed), the JSON dashboard carries the definitions under ``definitions``, and the export's
data dictionary quotes them. Change a definition here and everywhere changes with it; an id never
changes meaning (add a new id instead).

Usage::

    from ledger.figures import FIGURES, definition
    FIGURES["participants"].label_ja        # "参加者"
    definition("kankei", "en")              # "関係人口: people whose tie is ..."
"""

# ruff: noqa: E501  (one definition a line: the catalogue reads better unwrapped)

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FIGURES", "Figure", "definition", "definitions"]


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure: its stable id, short labels and one-sentence definitions in 日本語 and English."""

    id: str
    label_ja: str
    label_en: str
    definition_ja: str
    definition_en: str

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_ja

    def definition(self, lang: str) -> str:
        return self.definition_en if lang == "en" else self.definition_ja


_CATALOGUE: tuple[Figure, ...] = (
    Figure(
        "participants",
        "参加者",
        "Participants",
        "期間末の日までにこの地域で有効な記録が1件以上ある人数（全段階。記録が地縁・血縁だけの人も含む）。",
        "People with at least one live record in the region up to the as-of day (every stage, people whose only records are 地縁・血縁 included).",
    ),
    Figure(
        "kankei",
        "関係人口",
        "関係人口",
        "関係人口：つながりモデルの段階が「関係人口」または「コア」の人数（継続的：2か月以上・90日以上、かつ多様な形で：2形態以上・年8日以上の訪問・非訪問系2種以上のいずれか。docs/ties.md §6）。期間末の月の時点。",
        "関係人口: people whose tie is at stage kankei or core (continuous: 2+ months spanning 90+ days, and diverse or frequent: 2+ MLIT forms, 8+ visit days a year or 2+ non-visiting kinds; docs/ties.md §6), as of the end of the as-of month.",
    ),
    Figure(
        "kankei_visiting",
        "関係人口（訪問系）",
        "関係人口, visiting",
        "関係人口のうち訪問系（過去1年に訪問日が1日以上）。",
        "関係人口 with at least one visit day in the trailing year (訪問系).",
    ),
    Figure(
        "kankei_non_visiting",
        "関係人口（非訪問系）",
        "関係人口, non-visiting",
        "関係人口のうち非訪問系（過去1年に訪問日なし：ふるさと納税・特産品購入・オンライン交流のみ）。",
        "関係人口 with no visit day in the trailing year (非訪問系: donations, local products, online exchange).",
    ),
    Figure(
        "monthly",
        "月ごとの推移",
        "Month by month",
        "月ごとの推移：各月末時点の参加者（地縁・血縁だけの人を含む）と関係人口、その月に活動した人（はじめて・くり返し）、記録数とコイン。",
        "Month by month: participants (地縁・血縁-only people included) and 関係人口 as of each month's end; people active that month (new, returning); records and coins of the month.",
    ),
    Figure(
        "active",
        "期間内に活動した人",
        "Active in the period",
        "期間内の月に有効な記録（地縁・血縁を除く）が1件以上ある人数。",
        "People with a live (non-kin) record in the period's months.",
    ),
    Figure(
        "new",
        "はじめて",
        "New",
        "はじめて：期間内に活動した人のうち、この地域での最初の有効な記録（地縁・血縁を除く）が期間内の月にある人。",
        "New: people active in the period whose first live (non-kin) record in the region falls in the period's months.",
    ),
    Figure(
        "returning",
        "くり返し",
        "Returning",
        "くり返し：期間内のある月に活動し、それより前の月（期間の前でも期間内でもよい）にもこの地域で記録がある人。期間内にはじめて来て期間内にまた来た人は「はじめて」と「くり返し」の両方に数える。",
        "Returning: people active in a month of the period who had a live record in the region in an earlier month (before the period or within it). Someone new in the period who came back within it counts as both new and returning.",
    ),
    Figure(
        "stages",
        "段階",
        "Stages",
        "段階の内訳（なし→来訪→リピーター→関係人口→コア）、期間末の日の時点。記録が地縁・血縁だけの人は「なし」。規則は docs/ties.md §6。",
        "The stage funnel (none → visitor → repeater → kankei → core) as of the as-of day; people whose only records are 地縁・血縁 are at none. Rules in docs/ties.md §6.",
    ),
    Figure(
        "visit_bands",
        "訪問日数",
        "Visit days",
        "過去1年の訪問日数の区分（国交省の 1日／2〜7日／8日以上、0＝訪問なし）。全国値は 2〜7日＝49% のみ公表。",
        "Visit days in the trailing year in MLIT's bands (1, 2-7, 8+; 0 = no visit); the national figure quoted is 2-7 days = 49%.",
    ),
    Figure(
        "type_mix",
        "関わり方の類型",
        "MLIT types",
        "期間内の有効な記録の国交省類型別件数。訪問系4類型の構成比を全国の訪問系関係人口の構成（人ベース）と並べる。",
        "Live records of the range by MLIT type; the four visiting types' shares sit beside the national mix of visiting 関係人口 (which counts people, not records).",
    ),
    Figure(
        "national",
        "全国値",
        "National figures",
        "全国値：国土交通省 2023年度調査（n=118,963）。自己申告の調査で、台帳は記録された活動のみ：水準ではなく形を比べる。",
        "National figures: MLIT 2023 survey (n=118,963), self-reported; the ledger sees recorded activity only, so compare shapes, not levels.",
    ),
    Figure(
        "cohorts",
        "継続率",
        "Retention",
        "初回活動月別の継続率：この地域で最初の記録がその月にある人のうち、各月に活動した人の割合。",
        "Retention by first-activity month: of the people whose first live record in the region fell in that month, the share active in each later month.",
    ),
    Figure(
        "returning_kinds",
        "また来てもらえた活動",
        "Activities that bring people back",
        "再訪につながる活動：期間内の活動種別ごとの有効な記録数と、そのうち参加者が後日この地域で再び記録した件数（指標の時点まで）。地縁・血縁は除く。",
        "Activities that bring people back: per activity kind, the range's live records and how many of them were followed by a later live record of the same person in the region (up to the index head); kin visits excluded.",
    ),
    Figure(
        "coins_issued",
        "発行したコイン",
        "Coins issued",
        "発行：期間内の記録で発行されたコイン（後に取り消された記録を含む）。",
        "Issued: coins minted by the range's records (records revoked later included).",
    ),
    Figure(
        "coins_spent",
        "応援に使われたコイン",
        "Coins spent on support",
        "応援：期間内にプロジェクトの応援に使われたコイン。",
        "Support: coins spent on projects in the range.",
    ),
    Figure(
        "coins_clawed_back",
        "取り消しで回収したコイン",
        "Coins revoked",
        "取消：期間内の取り消しで回収されたコイン。",
        "Revoked: coins burned by revocations made in the range.",
    ),
    Figure(
        "gift_rate",
        "応援率",
        "Gift rate",
        "応援率＝応援 ÷ 発行（同じ期間）。地域が渡したコインのうち応援として戻った割合。",
        "Gift rate = support ÷ issued over the same range: how much of what the region gave came back as support.",
    ),
    Figure(
        "audit",
        "発行者監査",
        "Issuer audit",
        "発行者監査：発行者ごとの記録・発行コイン・取り消し、期間内の取り消し（理由つき。新しい順に最大50件と全件数）と権限の変更。公開版は参加者アドレスを含まない。",
        "Issuer audit: per issuer the records, coins and revoked records; revocations in the range with their reasons (the newest 50 and how many in all); role changes. The public version carries no participant address.",
    ),
    Figure(
        "overlap",
        "他の地域との重なり",
        "Overlap with other regions",
        "重なり：この地域と他の地域の両方で期間内に活動した人数と、この地域の活動者に占める割合。",
        "Overlap: people active in both this region and another in the range, and their share of this region's active people.",
    ),
    Figure(
        "projects",
        "応援先プロジェクト",
        "Projects",
        "応援先プロジェクト：応援額と応援者数（応援者が k 人未満のときは非表示）。",
        "Projects open for support, with coins raised and supporters (hidden with fewer than k supporters).",
    ),
    Figure(
        "help_hours",
        "お手伝いの時間",
        "Hours of help",
        "お手伝いの時間：期間内の日の、時間単位の活動の有効な記録（地縁・血縁を除く）の時間の合計と、その人数。k 人未満のときは時間も人数も表示しない。",
        "Hours of help: the hours of live per-hour records (kin visits excluded) made on the range's days, and the people behind them; both hidden with fewer than k people.",
    ),
    Figure(
        "stay_days",
        "滞在日数",
        "Days of stays",
        "滞在日数：日単位の活動の有効な記録（N日の滞在は記録の日に終わるN日間）がカバーする期間内の日を、人ごとに数えた合計（同じ人の同じ日は1日）と、その人数。k 人未満のときは日数も人数も表示しない。",
        "Days of stays: the days inside the range covered by live per-day records (a stay of N days is the N days ending on the day it was recorded), counted once per person and day, and the people behind them; both hidden with fewer than k people.",
    ),
    Figure(
        "index",
        "インデクサの状態",
        "Indexer status",
        "インデクサの状態：取り込んだブロック、チェーンの先頭との差（ラグ）、未計算の派生行（1万件まで数え、それ以上は「1万件以上」）。",
        'Indexer status: the block indexed, the lag behind the chain head, derived rows waiting (counted up to 10,000: beyond, "10,000 or more").',
    ),
    Figure(
        "k",
        "小さなセルの秘匿",
        "Small-cell suppression",
        "小さなセルの秘匿：k 人未満の人数（と差し引きで分かる1セル）は表示しない（null）。0 は表示する。",
        "Small-cell suppression: a count of fewer than k people (and one more cell when subtraction would reveal it) is shown as null; zero is shown.",
    ),
    Figure(
        "participants_without_kin",
        "参加者（地縁・血縁だけの人を除く）",
        "Participants without kin-only people",
        "参加者のうち、地縁・血縁以外の有効な記録が期間末の日までに1件以上ある人数（つながりモデルの段階がつく人）。",
        "Participants with at least one live record other than 地縁・血縁 up to the as-of day (the people the ties model gives a stage).",
    ),
    Figure(
        "kin_only",
        "地縁・血縁だけの人",
        "Kin-only people",
        "参加者のうち、期間末の日までの有効な記録が地縁・血縁（家族・故郷への訪問）だけの人数。国交省の定義で訪問系に含めないため段階は「なし」。",
        "Participants whose only live records up to the as-of day are 地縁・血縁 (family or hometown visits): MLIT leaves them out of 訪問系, so their stage is none.",
    ),
    Figure(
        "stage_none",
        "なし",
        "None",
        "段階「なし」：有効な記録はあるが来訪の条件に満たない人（地縁・血縁だけの人を含む）。期間末の日の時点。",
        "Stage none: people with a live record who do not meet the visitor rule (kin-only people included), as of the as-of day.",
    ),
    Figure(
        "stage_visitor",
        "来訪",
        "Visitor",
        "段階「来訪」の人数（docs/ties.md §6）、期間末の日の時点。",
        "People at stage visitor (docs/ties.md §6) as of the as-of day.",
    ),
    Figure(
        "stage_repeater",
        "リピーター",
        "Repeater",
        "段階「リピーター」の人数（docs/ties.md §6）、期間末の日の時点。",
        "People at stage repeater (docs/ties.md §6) as of the as-of day.",
    ),
    Figure(
        "stage_kankei",
        "関係人口",
        "Kankei",
        "段階「関係人口」の人数（docs/ties.md §6）、期間末の日の時点。",
        "People at stage kankei (docs/ties.md §6) as of the as-of day.",
    ),
    Figure(
        "stage_core",
        "コア",
        "Core",
        "段階「コア」の人数（docs/ties.md §6）、期間末の日の時点。",
        "People at stage core (docs/ties.md §6) as of the as-of day.",
    ),
    Figure(
        "records",
        "記録",
        "Records",
        "期間内の日の有効な記録の件数（地縁・血縁を含む。後に取り消された記録は除く）。",
        "Live records made on the period's days (地縁・血縁 included; records revoked since left out).",
    ),
    Figure(
        "revoked_records",
        "取り消された記録",
        "Revoked records",
        "期間内の日の記録のうち、その後に取り消されたものの件数。",
        "Records made on the period's days that have been revoked since.",
    ),
    Figure(
        "revocations",
        "取り消し",
        "Revocations",
        "期間内に行われた取り消しの件数（取り消した日で数える）。",
        "Revocations made on the period's days (counted by the day of the revocation).",
    ),
    Figure(
        "supports",
        "応援の件数",
        "Supports",
        "期間内の日の応援（プロジェクトへのコインの支払い）の件数。",
        "Support transactions (coins spent on a project) on the period's days.",
    ),
    Figure(
        "project_raised",
        "応援額",
        "Raised",
        "プロジェクトに集まったコインの合計（応援者が k 人未満のときは非表示）。",
        "Coins raised by a project (hidden with fewer than k supporters).",
    ),
    Figure(
        "project_supporters",
        "応援者数",
        "Supporters",
        "プロジェクトを応援した人数（k 人未満のときは非表示）。",
        "People who supported a project (hidden when fewer than k).",
    ),
    Figure(
        "period",
        "期間",
        "Period",
        "既定の期間：インデクサが取り込んだ最後の日（JST）を終わりとし、その月を含む直近12か月の初日から。ページ・JSON・CLI で同じ。",
        "The default period: up to the last JST day the index has reached, from the first day of the 12 whole months ending with that day's month; the same for pages, JSON and the CLI.",
    ),
    Figure(
        "as_of",
        "時点",
        "As of",
        "人数の基準日：期間の最後の日。ただしインデクサが取り込んだ最後の日より後にはしない（未来の日付は使わない）。",
        "The day people figures are counted as of: the period's last day, but never later than the last day the index has reached (never a future day).",
    ),
    Figure(
        "national_people",
        "人数（全国図）",
        "People (national view)",
        "全国図の地域ごとの人数：期間内の月に有効な記録（地縁・血縁を除く）がある人。種別・類型を選ぶとその記録がある人。",
        "People per region in the national view: people with a live (non-kin) record in the period's months; with a kind or type, a live record of it.",
    ),
    Figure(
        "national_shared",
        "共通の人数",
        "Shared people",
        "2つの地域の両方で期間内に活動した人数（k 人未満のつながりは描かない）。",
        "People active in both regions in the period (links of fewer than k people are left out).",
    ),
    Figure(
        "tie_score",
        "つながりの強さ",
        "Tie score",
        "つながりの強さ（0〜100）：継続・頻度・多様性・最近さ・強度の構成要素から（docs/ties.md）。",
        "Tie strength (0-100) from its components: continuity, frequency, diversity, recency, intensity (docs/ties.md).",
    ),
    Figure(
        "tie_stage",
        "段階",
        "Stage",
        "この地域とのつながりの段階（docs/ties.md §6）。",
        "The tie's stage with this region (docs/ties.md §6).",
    ),
    Figure(
        "coin_balance",
        "コインの残高",
        "Coin balance",
        "その地域のコインの残高（獲得−取り消し−応援±移転）。",
        "The region's coins held: earned − clawed back − spent ± transferred.",
    ),
)

FIGURES: dict[str, Figure] = {f.id: f for f in _CATALOGUE}
"""Every figure by its id, in the order the region dashboard shows them."""


def definition(figure_id: str, lang: Literal["ja", "en"] | str = "ja") -> str:
    """The definition of ``figure_id`` in ``lang`` (日本語 unless ``"en"``); KeyError for an unknown id."""
    return FIGURES[figure_id].definition(lang)


def definitions() -> dict[str, dict[str, str]]:
    """``{id: {"ja": ..., "en": ...}}`` for every figure (the JSON dashboard's ``definitions``)."""
    return {f.id: {"ja": f.definition_ja, "en": f.definition_en} for f in _CATALOGUE}
