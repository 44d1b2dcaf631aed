"""Contribution kinds and their MLIT 関係人口 types.

The chain stores a contribution kind as one ``uint8``. The tens digit is the MLIT type
(国土交通省「関係人口の実態把握」2023 typology, summarised in ``../shared/BRIEF.md`` section 3)
and the units digit a finer kind inside that type, so the type of any kind is ``kind // 10``
and the contract only has to check that the kind is one it knows.

地縁・血縁 (family / hometown) visits get their own type because MLIT counts them apart
and excludes them from 訪問系 関係人口.
"""

from __future__ import annotations

from enum import IntEnum

from ledger.errors import InvalidInput

__all__ = [
    "MlitType",
    "ContributionKind",
    "RewardUnit",
    "mlit_type_of",
    "is_visiting",
    "KIND_LABELS",
    "TYPE_LABELS",
    "UNIT_LABELS",
]


class MlitType(IntEnum):
    """MLIT's typology of 関係人口 (plus the excluded 地縁・血縁 visits)."""

    HOBBY_CONSUMPTION = 1  # 趣味・消費型
    PARTICIPATION_EXCHANGE = 2  # 参加・交流型
    WORK = 3  # 就労型
    DIRECT_CONTRIBUTION = 4  # 直接寄与型
    NON_VISITING = 5  # 非訪問系 (ふるさと納税, purchases, online)
    KIN = 6  # 地縁・血縁的な訪問 (excluded from 訪問系 by MLIT)


class ContributionKind(IntEnum):
    """The on-chain ``kind`` of an activity: ``kind // 10`` is its :class:`MlitType`."""

    SIGHTSEEING = 10  # 観光・飲食・趣味の来訪
    LOCAL_PURCHASE = 11  # 現地での購入・消費
    FESTIVAL_EVENT = 20  # 祭り・イベント参加
    FARMING_EXPERIENCE = 21  # 田植え・農業体験
    EXCHANGE_MEETING = 22  # 交流会・地域留学
    TELEWORK = 30  # テレワーク・ワーケーション
    SIDE_JOB = 31  # 副業・兼業
    PAID_FARM_WORK = 32  # 援農・有償の農作業
    VOLUNTEERING = 40  # ボランティア
    PROJECT_HELP = 41  # 地域プロジェクトの企画・運営
    FURUSATO_NOZEI = 50  # ふるさと納税
    REMOTE_PURCHASE = 51  # 特産品の購入 (非訪問)
    ONLINE_EXCHANGE = 52  # オンライン交流
    KIN_VISIT = 60  # 帰省・地縁・血縁的な訪問


class RewardUnit(IntEnum):
    """What an activity's reward is paid per (the ledger's ``UNIT_*``): a record carries that many units.

    A stay of N days counts N visit days in the ties model (MLIT counts visit days); hours of help
    raise a record's intensity (docs/ties.md)."""

    RECORD = 0  # one reward per record: a visit, an event, a donation
    HOUR = 1  # per hour of help (volunteering: actcoin paid 1,000 coins an hour)
    DAY = 2  # per day of a stay (テレワーク, 二地域居住, 副業 on site)

    @property
    def code(self) -> str:
        """The unit's name in the API, the CLI and the pages: ``record``, ``hour`` or ``day``."""
        return self.name.lower()

    @classmethod
    def of_code(cls, code: str) -> RewardUnit:
        """The unit named ``code``; ``ValueError`` naming the choices otherwise."""
        for unit in cls:
            if unit.code == code:
                return unit
        raise InvalidInput(f"the unit must be record, hour or day, not {code!r}")


UNIT_LABELS: dict[RewardUnit, tuple[str, str]] = {
    RewardUnit.RECORD: ("回", "per participation"),
    RewardUnit.HOUR: ("時間", "per hour"),
    RewardUnit.DAY: ("日", "per day"),
}


_VISITING_TYPES = frozenset(
    (MlitType.HOBBY_CONSUMPTION, MlitType.PARTICIPATION_EXCHANGE, MlitType.WORK, MlitType.DIRECT_CONTRIBUTION)
)
# Looked up per record in the ties model's hot loop: dicts, not Enum construction.
_TYPE_OF: dict[int, MlitType] = {int(kind): MlitType(kind // 10) for kind in ContributionKind}
_VISITING: dict[int, bool] = {kind: mlit in _VISITING_TYPES for kind, mlit in _TYPE_OF.items()}


def mlit_type_of(kind: int) -> MlitType:
    """The MLIT type of an on-chain kind code; ``ValueError`` for an unknown code."""
    try:
        return _TYPE_OF[kind]
    except KeyError:
        raise InvalidInput(f"{kind} is not a contribution kind") from None


def is_visiting(kind: int) -> bool:
    """True for 訪問系 kinds as MLIT counts them: not 非訪問系 and not 地縁・血縁."""
    try:
        return _VISITING[kind]
    except KeyError:
        raise InvalidInput(f"{kind} is not a contribution kind") from None


TYPE_LABELS: dict[MlitType, tuple[str, str]] = {
    MlitType.HOBBY_CONSUMPTION: ("趣味・消費型", "Hobby / consumption"),
    MlitType.PARTICIPATION_EXCHANGE: ("参加・交流型", "Participation / exchange"),
    MlitType.WORK: ("就労型", "Work"),
    MlitType.DIRECT_CONTRIBUTION: ("直接寄与型", "Direct contribution"),
    MlitType.NON_VISITING: ("非訪問系", "Non-visiting"),
    MlitType.KIN: ("地縁・血縁", "Family / hometown"),
}

KIND_LABELS: dict[ContributionKind, tuple[str, str]] = {
    ContributionKind.SIGHTSEEING: ("観光・飲食", "Sightseeing and dining"),
    ContributionKind.LOCAL_PURCHASE: ("現地での購入", "Local purchase on site"),
    ContributionKind.FESTIVAL_EVENT: ("祭り・イベント", "Festival / event"),
    ContributionKind.FARMING_EXPERIENCE: ("田植え・農業体験", "Rice planting / farming experience"),
    ContributionKind.EXCHANGE_MEETING: ("交流会・地域留学", "Exchange meeting / study stay"),
    ContributionKind.TELEWORK: ("テレワーク・ワーケーション", "Telework / workation"),
    ContributionKind.SIDE_JOB: ("副業・兼業", "Side job"),
    ContributionKind.PAID_FARM_WORK: ("援農・有償農作業", "Paid farm work"),
    ContributionKind.VOLUNTEERING: ("ボランティア", "Volunteering"),
    ContributionKind.PROJECT_HELP: ("地域プロジェクト", "Regional project help"),
    ContributionKind.FURUSATO_NOZEI: ("ふるさと納税", "Furusato nozei (hometown tax donation)"),
    ContributionKind.REMOTE_PURCHASE: ("特産品の購入", "Buying local products remotely"),
    ContributionKind.ONLINE_EXCHANGE: ("オンライン交流", "Online exchange"),
    ContributionKind.KIN_VISIT: ("帰省・地縁血縁", "Family / hometown visit"),
}
