"""The seeded year's places and what happens there: ten regions, their activities and seasons, their
projects. Pure data (no I/O); :mod:`ledger.demo_seed.plan` turns it into a calendar.

Regions: the four of the NTT Data project (館山市, 南房総市, 長岡市, 京都市) and the examples of the seed
deck (内閣官房・内閣府「関係人口の創出・拡大について」2022-01): 笠間市 (酒米田んぼのオーナー, 田植え),
十日町市 and 津南町 (大地の芸術祭 supporters), 上士幌町 (ふるさと納税 donors' events), 邑南町 (volunteers
running a trolley on the disused 三江線), 白浜町 (テレワーク / ワーケーション). Names by JIS X 0402 code
are in :mod:`ledger.municipalities`.

Seasons are month weights (January first) that follow the well-known calendar of each activity:
田植え on the weekends of May, 稲刈り in September, festivals on their dates (長岡まつり大花火大会
2–3 August, 祇園祭 山鉾巡行 17 and 24 July, 時代祭 22 October, 陶炎祭 from 29 April), 大地の芸術祭
from July to November, snow-digging volunteers in January and February, and ふるさと納税 with about
40% of the year's donations in December (the year-end rush before the tax year closes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ledger.demo import DEMO_REGIONS, DemoRegion
from ledger.taxonomy import ContributionKind as K
from ledger.taxonomy import RewardUnit

__all__ = ["Template", "SeedRegion", "SEED_REGIONS", "REGION_BY_CODE", "Cadence", "DESIGNATED_KINDS", "demo_terms"]

# The kinds the seeded municipalities designate as 担い手活動 for ふるさと住民登録 (BRIEF §8): helping
# hands, not visits. Volunteering is rewarded per hour (1,000 coins an hour, as actcoin pays) and
# telework stays per day; everything else per record.
DESIGNATED_KINDS = frozenset({K.VOLUNTEERING, K.PROJECT_HELP, K.PAID_FARM_WORK, K.FARMING_EXPERIENCE})
_UNITS = {K.VOLUNTEERING: (RewardUnit.HOUR, 8), K.TELEWORK: (RewardUnit.DAY, 7)}


def demo_terms(kind: K) -> tuple[bool, RewardUnit, int]:
    """(designated, reward unit, most units a record carries) of a demo activity of ``kind``."""
    unit, max_units = _UNITS.get(kind, (RewardUnit.RECORD, 1))
    return kind in DESIGNATED_KINDS, unit, max_units


# month:   a window per calendar month (one record per person per month)
# week:    a window per Monday–Sunday week (co-working check-ins, regular volunteers)
# weekends: each Saturday–Sunday of ``months`` is one event
# second_saturday: one evening a month (exchange meetings)
# dates:   fixed events ``(month, day, length in days)``
Cadence = Literal["month", "week", "weekends", "second_saturday", "dates"]

Season = tuple[float, float, float, float, float, float, float, float, float, float, float, float]

FLAT: Season = (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
TOURISM: Season = (0.6, 0.6, 0.9, 1.1, 1.4, 0.9, 1.2, 1.6, 1.0, 1.2, 1.1, 0.7)
KYOTO: Season = (0.6, 0.6, 1.2, 1.6, 1.2, 0.8, 0.9, 0.9, 0.9, 1.2, 1.7, 0.8)
SUMMER: Season = (0.4, 0.4, 0.6, 0.8, 1.0, 1.0, 1.7, 2.2, 1.0, 0.8, 0.6, 0.4)
FLOWERS: Season = (1.6, 1.8, 1.5, 1.0, 0.9, 0.7, 1.1, 1.3, 0.8, 0.8, 0.8, 1.0)
WORK: Season = (0.9, 0.9, 1.0, 1.0, 1.0, 1.0, 1.2, 1.3, 1.1, 1.0, 1.0, 0.7)
BEACH_CLEANUP: Season = (0.4, 0.4, 0.7, 1.0, 1.3, 1.3, 1.6, 1.6, 1.1, 0.9, 0.6, 0.4)
GEISAI: Season = (0, 0, 0, 0, 0, 0, 1.2, 1.6, 1.1, 1.2, 0.8, 0)
KOHEBI: Season = (0, 0, 0, 0, 0.4, 0.9, 1.5, 1.6, 1.2, 1.1, 0.6, 0)
TROLLEY: Season = (0, 0, 0, 1.0, 1.3, 0.9, 1.0, 1.5, 1.0, 1.4, 1.1, 0)
# ≈ 40% of the year's donations in December, a smaller rise in November.
FURUSATO: Season = (0.3, 0.3, 0.4, 0.3, 0.4, 0.5, 0.5, 0.5, 0.6, 0.9, 1.6, 4.2)
PRODUCTS: Season = (0.8, 0.7, 0.8, 0.8, 0.9, 1.1, 1.3, 0.9, 0.9, 1.0, 1.2, 1.6)
ONLINE: Season = (1.2, 1.2, 1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.9, 1.0, 1.1, 1.2)

# 帰省: お盆, 年末年始, ゴールデンウィーク
KIN_DATES = ((8, 12, 5), (12, 29, 6), (5, 2, 4))


@dataclass(frozen=True)
class Template:
    """A kind of activity a region runs again and again (each window is one on-chain activity)."""

    key: str
    kind: K
    reward: int
    name: str
    venue: str
    cadence: Cadence
    season: Season = FLAT
    dates: tuple[tuple[int, int, int], ...] = ()
    months: tuple[int, ...] = ()
    popularity: float = 1.0  # relative pull among the region's templates of the same MLIT type

    @property
    def designated(self) -> bool:
        return demo_terms(self.kind)[0]

    @property
    def unit(self) -> RewardUnit:
        """What ``reward`` is per: a record, an hour of help, a day of a stay."""
        return demo_terms(self.kind)[1]

    @property
    def max_units(self) -> int:
        return demo_terms(self.kind)[2]


@dataclass(frozen=True)
class SeedRegion:
    region: DemoRegion
    weight: float  # share of the participants whose home region it is
    neighbours: tuple[int, ...]
    templates: tuple[Template, ...]
    projects: tuple[tuple[str, str], ...]  # (name, description)
    expiry_days: int = 0  # the region's coin lifetime (0 = coins never expire)

    @property
    def code(self) -> int:
        return self.region.code


def _furusato(town: str) -> Template:
    return Template("furusato", K.FURUSATO_NOZEI, 200, f"{town} ふるさと納税 お礼", "オンライン", "month", FURUSATO)


_KIN = Template("kin", K.KIN_VISIT, 0, "帰省・家族の訪問", "", "dates", dates=KIN_DATES)

_TATEYAMA, _MINAMIBOSO, _NAGAOKA, _KYOTO = DEMO_REGIONS

SEED_REGIONS: tuple[SeedRegion, ...] = (
    SeedRegion(
        _TATEYAMA,
        0.15,
        (12234,),
        (
            Template(
                "sight", K.SIGHTSEEING, 100, "里見の城下町めぐり", "館山駅観光案内所", "month", TOURISM, popularity=2
            ),
            Template("market", K.LOCAL_PURCHASE, 100, "渚の駅たてやま 朝市", "渚の駅たてやま", "month", TOURISM),
            Template(
                "wakashio",
                K.FESTIVAL_EVENT,
                300,
                "館山わかしお祭り",
                "北条海岸",
                "dates",
                dates=((8, 3, 2),),
                popularity=3,
            ),
            Template(
                "yawatan",
                K.FESTIVAL_EVENT,
                300,
                "安房国司祭 やわたんまち",
                "鶴谷八幡宮",
                "dates",
                dates=((9, 14, 2),),
                popularity=2,
            ),
            Template(
                "exchange", K.EXCHANGE_MEETING, 300, "お試し移住者の交流会", "館山 まちなか交流拠点", "second_saturday"
            ),
            Template(
                "work", K.TELEWORK, 200, "海辺のワーケーション", "館山 コワーキングスペース", "week", WORK, popularity=2
            ),
            Template("sidejob", K.SIDE_JOB, 900, "観光DXの副業プロジェクト", "館山市役所", "month"),
            Template(
                "beach",
                K.VOLUNTEERING,
                1000,
                "北条海岸の清掃ボランティア",
                "北条海岸",
                "month",
                BEACH_CLEANUP,
                popularity=2,
            ),
            Template("pine", K.PROJECT_HELP, 800, "海辺の松林を守る会議", "館山市役所", "month"),
            _furusato("館山市"),
            Template("products", K.REMOTE_PURCHASE, 100, "房州びわの産地直送", "オンライン", "month", PRODUCTS),
            _KIN,
        ),
        (("海岸の松林を守る", "北条海岸の松林の植樹と手入れ"), ("わかしお祭り 山車の修繕", "祭りの山車を次の世代へ")),
    ),
    SeedRegion(
        _MINAMIBOSO,
        0.11,
        (12205,),
        (
            Template(
                "sight", K.SIGHTSEEING, 100, "花摘みと里山さんぽ", "白浜フラワーパーク", "month", FLOWERS, popularity=2
            ),
            Template(
                "taue",
                K.FARMING_EXPERIENCE,
                500,
                "大山千枚田の田植え体験",
                "大山千枚田",
                "weekends",
                months=(5,),
                popularity=3,
            ),
            Template(
                "inekari",
                K.FARMING_EXPERIENCE,
                500,
                "大山千枚田の稲刈り体験",
                "大山千枚田",
                "weekends",
                months=(9,),
                popularity=2,
            ),
            Template("exchange", K.EXCHANGE_MEETING, 300, "二地域居住 交流会", "三芳 交流拠点", "second_saturday"),
            Template("biwa", K.PAID_FARM_WORK, 700, "びわ農家の援農", "富浦のびわ園", "weekends", months=(5, 6)),
            Template("work", K.SIDE_JOB, 900, "道の駅の副業プロジェクト", "道の駅 富楽里とみやま", "month"),
            Template("terraces", K.VOLUNTEERING, 1000, "棚田の石垣の保全ボランティア", "大山千枚田", "month", FLAT),
            _furusato("南房総市"),
            Template("products", K.REMOTE_PURCHASE, 100, "びわゼリーの産地直送", "オンライン", "month", PRODUCTS),
            _KIN,
        ),
        (
            ("棚田の石垣を直す", "大山千枚田の崩れた石垣を積み直す"),
            ("空き家を移住体験住宅に", "お試し移住の家を整える"),
        ),
    ),
    SeedRegion(
        _NAGAOKA,
        0.14,
        (15210,),
        (
            Template("sight", K.SIGHTSEEING, 100, "摂田屋の酒蔵めぐり", "摂田屋", "month", TOURISM, popularity=2),
            Template(
                "hanabi",
                K.FESTIVAL_EVENT,
                300,
                "長岡まつり大花火大会",
                "信濃川河川敷",
                "dates",
                dates=((8, 2, 2),),
                popularity=4,
            ),
            Template("taue", K.FARMING_EXPERIENCE, 500, "山古志の棚田 田植え", "山古志", "weekends", months=(5,)),
            Template(
                "work", K.TELEWORK, 300, "山古志ワーケーション", "山古志 コワーキング", "week", WORK, popularity=2
            ),
            Template("sidejob", K.SIDE_JOB, 900, "酒蔵の副業プロジェクト", "摂田屋の酒蔵", "month"),
            Template(
                "staff", K.VOLUNTEERING, 1000, "長岡まつり 運営サポート", "信濃川河川敷", "dates", dates=((8, 1, 3),)
            ),
            Template("snow", K.VOLUNTEERING, 1000, "山古志の雪掘りボランティア", "山古志", "weekends", months=(1, 2)),
            Template("online", K.ONLINE_EXCHANGE, 100, "オンライン 地域ゼミ", "オンライン", "month", ONLINE),
            _furusato("長岡市"),
            _KIN,
        ),
        (("山古志の錦鯉の池を守る", "棚池の補修と見学会"), ("雪国の空き家を交流拠点に", "冬も集まれる場所づくり")),
    ),
    SeedRegion(
        _KYOTO,
        0.17,
        (),
        (
            Template("sight", K.SIGHTSEEING, 100, "町家と寺社めぐり", "京都市内", "month", KYOTO, popularity=3),
            Template("craft", K.LOCAL_PURCHASE, 100, "伝統工芸の工房で買う", "西陣", "month", KYOTO),
            Template(
                "gion",
                K.FESTIVAL_EVENT,
                300,
                "祇園祭 山鉾巡行",
                "四条通",
                "dates",
                dates=((7, 17, 1), (7, 24, 1)),
                popularity=3,
            ),
            Template(
                "jidai",
                K.FESTIVAL_EVENT,
                300,
                "時代祭",
                "京都御所〜平安神宮",
                "dates",
                dates=((10, 22, 1),),
                popularity=2,
            ),
            Template("exchange", K.EXCHANGE_MEETING, 300, "町家で交流会", "西陣の町家", "second_saturday"),
            Template("work", K.TELEWORK, 200, "町家ワーケーション", "京町家コワーキング", "week", WORK),
            Template("sidejob", K.SIDE_JOB, 900, "伝統工芸の副業プロジェクト", "西陣", "month"),
            Template("kamo", K.VOLUNTEERING, 1000, "鴨川の清掃ボランティア", "鴨川河川敷", "month", FLAT),
            _furusato("京都市"),
            _KIN,
        ),
        (("町家の保存と活用", "空き町家を学びの場に"), ("祇園祭 山鉾の懸装品を守る", "山鉾の修理の応援")),
    ),
    SeedRegion(
        DemoRegion(8216, "笠間市", "笠間つながりコイン", "KASAMA"),
        0.07,
        (),
        (
            Template(
                "sight", K.SIGHTSEEING, 100, "笠間焼の窯元めぐり", "笠間芸術の森公園", "month", TOURISM, popularity=2
            ),
            Template(
                "himatsuri",
                K.FESTIVAL_EVENT,
                300,
                "笠間の陶炎祭（ひまつり）",
                "笠間芸術の森公園",
                "dates",
                dates=((4, 29, 7),),
                popularity=3,
            ),
            Template("kiku", K.FESTIVAL_EVENT, 300, "笠間の菊まつり", "笠間稲荷神社", "dates", dates=((10, 20, 21),)),
            Template(
                "taue",
                K.FARMING_EXPERIENCE,
                500,
                "酒米田んぼオーナー 田植え",
                "笠間の酒米田んぼ",
                "weekends",
                months=(5,),
                popularity=3,
            ),
            Template(
                "inekari",
                K.FARMING_EXPERIENCE,
                500,
                "酒米田んぼオーナー 稲刈り",
                "笠間の酒米田んぼ",
                "weekends",
                months=(9,),
                popularity=2,
            ),
            Template(
                "shinshu",
                K.EXCHANGE_MEETING,
                300,
                "酒米オーナー 新酒の交流会",
                "笠間の酒蔵",
                "dates",
                dates=((2, 14, 1), (3, 14, 1)),
            ),
            Template("farm", K.PAID_FARM_WORK, 700, "栗農家の援農", "笠間の栗園", "weekends", months=(9, 10)),
            Template("cleanup", K.VOLUNTEERING, 1000, "佐白山の里山保全", "佐白山", "month", FLAT),
            _furusato("笠間市"),
            _KIN,
        ),
        (("酒米の田んぼを次の世代へ", "耕作放棄地を酒米の田んぼに"), ("窯元の空き工房を若手に", "陶芸家の移住を応援")),
    ),
    SeedRegion(
        DemoRegion(15210, "十日町市", "十日町つながりコイン", "TOKAMACHI"),
        0.09,
        (15482, 15202),
        (
            Template("sight", K.SIGHTSEEING, 100, "雪国の里山めぐり", "十日町駅", "month", TOURISM),
            Template(
                "geisai",
                K.FESTIVAL_EVENT,
                300,
                "大地の芸術祭 作品めぐり",
                "越後妻有の作品群",
                "month",
                GEISAI,
                popularity=4,
            ),
            Template(
                "yukimatsuri",
                K.FESTIVAL_EVENT,
                300,
                "十日町雪まつり",
                "十日町市内",
                "dates",
                dates=((2, 14, 3),),
                popularity=2,
            ),
            Template("taue", K.FARMING_EXPERIENCE, 500, "星峠の棚田 田植え", "星峠の棚田", "weekends", months=(5,)),
            Template(
                "kohebi",
                K.VOLUNTEERING,
                1000,
                "こへび隊（芸術祭サポーター）",
                "越後妻有里山現代美術館 MonET",
                "week",
                KOHEBI,
                popularity=3,
            ),
            Template("work", K.TELEWORK, 200, "里山ワーケーション", "十日町 コワーキング", "week", WORK),
            _furusato("十日町市"),
            Template("products", K.REMOTE_PURCHASE, 100, "魚沼産コシヒカリの産地直送", "オンライン", "month", PRODUCTS),
            _KIN,
        ),
        (("芸術祭の作品を冬に守る", "雪囲いと作品の修復"), ("棚田の草刈り応援", "星峠の棚田を保つ")),
    ),
    SeedRegion(
        DemoRegion(15482, "津南町", "津南つながりコイン", "TSUNAN"),
        0.05,
        (15210,),
        (
            Template("sight", K.SIGHTSEEING, 100, "ひまわり広場と河岸段丘", "津南町", "month", SUMMER, popularity=2),
            Template(
                "geisai",
                K.FESTIVAL_EVENT,
                300,
                "大地の芸術祭 津南エリア",
                "津南の作品群",
                "month",
                GEISAI,
                popularity=3,
            ),
            Template(
                "snow", K.VOLUNTEERING, 1000, "雪掘りボランティア", "津南町", "weekends", months=(1, 2), popularity=2
            ),
            Template(
                "farm",
                K.PAID_FARM_WORK,
                700,
                "雪下にんじん・米づくりの援農",
                "津南の農家",
                "weekends",
                months=(4, 5, 9, 10),
            ),
            Template("products", K.REMOTE_PURCHASE, 100, "雪下にんじんの産地直送", "オンライン", "month", PRODUCTS),
            _furusato("津南町"),
            _KIN,
        ),
        (("雪国の暮らしを伝える", "雪掘り道具と体験の場"),),
    ),
    SeedRegion(
        DemoRegion(1634, "上士幌町", "上士幌つながりコイン", "KAMISHIHORO"),
        0.08,
        (),
        (
            Template(
                "sight",
                K.SIGHTSEEING,
                100,
                "ぬかびら源泉郷とタウシュベツ川橋梁",
                "糠平",
                "month",
                TOURISM,
                popularity=2,
            ),
            Template(
                "balloon",
                K.FESTIVAL_EVENT,
                300,
                "北海道バルーンフェスティバル",
                "上士幌町航空公園",
                "dates",
                dates=((8, 8, 3),),
                popularity=3,
            ),
            Template(
                "donors",
                K.EXCHANGE_MEETING,
                300,
                "ふるさと納税寄附者の集い（東京）",
                "東京都内",
                "dates",
                dates=((2, 22, 1), (11, 16, 1)),
                popularity=2,
            ),
            Template("work", K.TELEWORK, 300, "上士幌ワーケーション", "上士幌 コワーキング", "week", SUMMER),
            Template("ranch", K.PAID_FARM_WORK, 700, "ナイタイ高原牧場の援農", "ナイタイ高原牧場", "month", SUMMER),
            Template(
                "furusato",
                K.FURUSATO_NOZEI,
                200,
                "上士幌町 ふるさと納税 お礼",
                "オンライン",
                "month",
                FURUSATO,
                popularity=3,
            ),
            Template(
                "online", K.ONLINE_EXCHANGE, 100, "オンライン 上士幌ファンミーティング", "オンライン", "month", ONLINE
            ),
            _KIN,
        ),
        (("子育て応援の森", "寄附で育てる町の森"), ("熱気球の町の新しい気球", "バルーンフェスティバルの気球")),
        expiry_days=180,  # 上士幌町's coins lapse about half a year after they were earned (まちのコイン style)
    ),
    SeedRegion(
        DemoRegion(32449, "邑南町", "邑南つながりコイン", "OHNAN"),
        0.06,
        (),
        (
            Template(
                "ride", K.SIGHTSEEING, 100, "天空の駅 宇都井のトロッコ乗車", "宇都井駅", "month", TROLLEY, popularity=2
            ),
            Template("gourmet", K.LOCAL_PURCHASE, 100, "A級グルメの町 食めぐり", "邑南町", "month", TOURISM),
            Template(
                "trolley",
                K.VOLUNTEERING,
                1000,
                "トロッコ運行ボランティア（旧三江線）",
                "宇都井駅",
                "weekends",
                months=(4, 5, 6, 7, 8, 9, 10, 11),
                popularity=3,
            ),
            Template(
                "study",
                K.EXCHANGE_MEETING,
                300,
                "高校生の地域留学 交流会",
                "矢上高校",
                "dates",
                dates=((8, 20, 2), (3, 20, 1)),
            ),
            Template("sidejob", K.SIDE_JOB, 900, "邑南町 副業・兼業プロジェクト", "邑南町役場", "month"),
            _furusato("邑南町"),
            _KIN,
        ),
        (("トロッコの線路を守る", "旧三江線の線路と駅の保守"), ("天空の駅のライトアップ", "宇都井駅を灯す")),
    ),
    SeedRegion(
        DemoRegion(30401, "白浜町", "白浜つながりコイン", "SHIRAHAMA"),
        0.08,
        (),
        (
            Template("beach", K.SIGHTSEEING, 100, "白良浜と温泉", "白良浜", "month", SUMMER, popularity=2),
            Template(
                "hanabi",
                K.FESTIVAL_EVENT,
                300,
                "白浜花火フェスティバル",
                "白良浜",
                "dates",
                dates=((7, 30, 1), (8, 10, 1)),
                popularity=2,
            ),
            Template(
                "work",
                K.TELEWORK,
                200,
                "白浜町ITビジネスオフィスでテレワーク",
                "白浜町ITビジネスオフィス",
                "week",
                WORK,
                popularity=3,
            ),
            Template(
                "sidejob",
                K.SIDE_JOB,
                900,
                "ワーケーション企業との副業プロジェクト",
                "白浜町ITビジネスオフィス",
                "month",
            ),
            Template("cleanup", K.VOLUNTEERING, 1000, "白良浜の清掃ボランティア", "白良浜", "month", BEACH_CLEANUP),
            _furusato("白浜町"),
            _KIN,
        ),
        (("白良浜の白い砂を守る", "浜の砂の補給と清掃"),),
    ),
)

REGION_BY_CODE: dict[int, SeedRegion] = {r.code: r for r in SEED_REGIONS}
