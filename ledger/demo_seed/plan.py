"""The seeded year as a plan: who does what, where and on which day. Pure and deterministic (a
``random.Random(seed)``; no clock, no I/O), so it can be checked without a chain.

**What the people follow** (the MLIT 2023 figures in ``../shared/BRIEF.md`` §3, 国土交通省
「関係人口の実態把握」, n = 118,963):

- 関係人口 ≈ 22% of adults, 訪問系 18% and 非訪問系 4% → **18% of the seeded people are non-visiting
  only** (4/22: ふるさと納税, 特産品の購入, オンライン交流).
- Visitor mix 趣味・消費 38%, 参加・交流 26%, 直接寄与 23%, 就労 8% → each visitor's **main type** is
  drawn with these weights (among the types the home region offers).
- The modal band is **2–7 visit days a year (≈49%)**, and 就労型 is mostly **8+ days** → visit-day
  bands are drawn per main type (1 day / 2–7 / 8+): 趣味・消費 36/52/12, 参加・交流 30/54/16,
  直接寄与 22/50/28, 就労 8/27/65 (%). Weighted by the visitor mix this gives ≈ 29% one-off
  visitors, ≈ 50% in 2–7 days (the brief's 49%) and ≈ 21% with 8+ days. The brief gives only the
  2–7 share and "就労型 mostly 8+"; the split of the rest between one-off visitors and 8+ is ours.
- 地縁・血縁 visits are flagged apart (kind 60, MLIT excludes them from 訪問系): 5% of the people
  only visit family (お盆, 年末年始, GW), 4% of the visitors also do.

Our own assumptions, for the story the dashboards tell: 15% of the visitors are tied to a second
region (a neighbour when there is one: 館山↔南房総, 十日町↔津南↔長岡), 3% to a third; 12% of the
visitors also make a ふるさと納税 to their home region; about 1.2% of the records are revoked a few
days later with a reason (1 error, 2 not present, 3 duplicate person, 4 request, 5 other); people
with two or more records in a region support (応援) one of its projects with a fifth chance, one-off
visitors rarely. Inside a visitor's year, about 70% of the visits are of the main type and the
rest spread over the others (多様性); days follow each activity's season (``catalogue``).
"""

from __future__ import annotations

import bisect
import calendar
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from ledger.demo_seed.catalogue import REGION_BY_CODE, SEED_REGIONS, SeedRegion, Template
from ledger.taxonomy import ContributionKind, MlitType, RewardUnit

__all__ = [
    "VISITOR_MIX",
    "BAND_SHARES",
    "NON_VISITING_SHARE",
    "KIN_ONLY_SHARE",
    "Instance",
    "Person",
    "PlannedClaim",
    "PlannedRevocation",
    "PlannedSupport",
    "PlannedProject",
    "DayPlan",
    "SeedPlan",
    "make_plan",
    "visit_band",
    "band_shares",
]

# MLIT 2023: visitors by main type (趣味・消費 38, 参加・交流 26, 直接寄与 23, 就労 8).
VISITOR_MIX: dict[MlitType, float] = {
    MlitType.HOBBY_CONSUMPTION: 38,
    MlitType.PARTICIPATION_EXCHANGE: 26,
    MlitType.DIRECT_CONTRIBUTION: 23,
    MlitType.WORK: 8,
}
# Visit-day bands (1, 2–7, 8+) by main type: 2–7 ≈ 49% overall, 就労 mostly 8+.
BAND_SHARES: dict[MlitType, tuple[float, float, float]] = {
    MlitType.HOBBY_CONSUMPTION: (0.36, 0.52, 0.12),
    MlitType.PARTICIPATION_EXCHANGE: (0.30, 0.54, 0.16),
    MlitType.DIRECT_CONTRIBUTION: (0.22, 0.50, 0.28),
    MlitType.WORK: (0.08, 0.27, 0.65),
}
NON_VISITING_SHARE = 4 / 22  # 非訪問系 4% of the 22% 関係人口
KIN_ONLY_SHARE = 0.05
_KIN_EXTRA = 0.04
_SECOND_REGION = 0.15
_THIRD_REGION = 0.03
_FURUSATO_EXTRA = 0.12
_MAIN_TYPE_SHARE = 0.7
_REVOKE_SHARE = 0.012
_REVOCATION_REASONS: tuple[tuple[int, float, str], ...] = (
    (1, 30, "受付の操作ミス（別の参加者の記録）"),
    (2, 25, "当日の不参加が判明（受付のみで帰宅）"),
    (3, 15, "同一人物の二重登録（端末の買い替え）"),
    (4, 20, "本人からの取り消しの依頼"),
    (5, 10, "その他（荒天による中止）"),
)
_SMALL_BAND = (2, 3, 4, 5, 6, 7)
_SMALL_BAND_WEIGHTS = (30, 24, 17, 12, 9, 8)


def visit_band(days: int) -> str:
    """MLIT's band of ``days`` visit days a year: 0, 1, 2-7, 8+."""
    return "0" if days <= 0 else "1" if days == 1 else "2-7" if days <= 7 else "8+"


@dataclass(frozen=True)
class Instance:
    """One on-chain activity: a template's window (``start``..``end``, JST dates, inclusive)."""

    region: int
    template: Template
    start: date
    end: date

    @property
    def key(self) -> tuple[int, str, date]:
        return (self.region, self.template.key, self.start)

    @property
    def name(self) -> str:
        t, s = self.template, self.start
        if t.cadence == "month":
            return f"{t.name} {s.year}年{s.month}月"
        if t.cadence == "week":
            return f"{t.name} {s.month}/{s.day}の週"
        if t.cadence == "dates" and t.kind != ContributionKind.KIN_VISIT:
            return f"{t.name} {s.year}"
        return f"{t.name} {s.month}/{s.day}"

    @property
    def description(self) -> str:
        if self.start == self.end:
            return f"{self.start.isoformat()}"
        return f"{self.start.isoformat()} – {self.end.isoformat()}"


@dataclass
class Person:
    index: int
    home: int
    segment: str  # visitor, non_visiting, kin
    main_type: MlitType | None
    target_days: int  # visit days drawn for the home region (visitors)
    regions: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class PlannedClaim:
    day: int
    person: int
    instance: Instance
    units: int = 1  # hours of help or days of a stay (ending on ``day``); 1 for a visit or an event

    @property
    def region(self) -> int:
        return self.instance.region


@dataclass(frozen=True)
class PlannedRevocation:
    day: int
    claim: PlannedClaim
    reason: int
    note: str


@dataclass(frozen=True)
class PlannedSupport:
    day: int
    person: int
    region: int
    amount: int  # at most this much (never more than the balance at the time)
    pick: float  # chooses among the region's open projects on the day


@dataclass(frozen=True)
class PlannedProject:
    day: int
    region: int
    name: str
    description: str
    close_day: int | None = None


@dataclass
class DayPlan:
    claims: list[PlannedClaim] = field(default_factory=list)
    revocations: list[PlannedRevocation] = field(default_factory=list)
    supports: list[PlannedSupport] = field(default_factory=list)
    projects: list[PlannedProject] = field(default_factory=list)
    closures: list[PlannedProject] = field(default_factory=list)


@dataclass
class SeedPlan:
    seed: int
    first_day: date
    days: int
    people: list[Person]
    claims: list[PlannedClaim]
    revocations: list[PlannedRevocation]
    supports: list[PlannedSupport]
    projects: list[PlannedProject]

    def date_of(self, day: int) -> date:
        return self.first_day + timedelta(days=day)

    def by_day(self) -> dict[int, DayPlan]:
        days: dict[int, DayPlan] = defaultdict(DayPlan)
        for claim in self.claims:
            days[claim.day].claims.append(claim)
        for revocation in self.revocations:
            days[revocation.day].revocations.append(revocation)
        for support in self.supports:
            days[support.day].supports.append(support)
        for project in self.projects:
            days[project.day].projects.append(project)
            if project.close_day is not None:
                days[project.close_day].closures.append(project)
        return dict(sorted(days.items()))


class _Calendar:
    """Each template's instances and day weights over the simulated days, for fast sampling."""

    def __init__(self, first_day: date, days: int) -> None:
        self.first_day = first_day
        self.days = days
        self._cache: dict[tuple[int, str], tuple[list[int], list[float], list[Instance]]] = {}

    def _instance(self, region: int, t: Template, d: date) -> tuple[Instance | None, float]:
        weekend = d.weekday() >= 5
        mlit = t.kind // 10
        if t.cadence in ("month", "week"):
            weight = t.season[d.month - 1]
            if mlit in (1, 2, 4):
                weight *= 2.5 if weekend else 1.0
            elif mlit == 3:
                weight *= 0.4 if weekend else 1.0
            if weight <= 0:
                return None, 0.0
            if t.cadence == "month":
                last = calendar.monthrange(d.year, d.month)[1]
                return Instance(region, t, d.replace(day=1), d.replace(day=last)), weight
            start = d - timedelta(days=d.weekday())
            return Instance(region, t, start, start + timedelta(days=6)), weight
        if t.cadence == "weekends":
            if d.month not in t.months or not weekend:
                return None, 0.0
            start = d if d.weekday() == 5 else d - timedelta(days=1)
            return Instance(region, t, start, start + timedelta(days=1)), 1.2 if d.weekday() == 5 else 1.0
        if t.cadence == "second_saturday":
            if d.weekday() == 5 and 8 <= d.day <= 14:
                return Instance(region, t, d, d), 1.0
            return None, 0.0
        for month, day, length in t.dates:
            for year in (d.year - 1, d.year):
                start = date(year, month, day)
                if start <= d < start + timedelta(days=length):
                    return Instance(region, t, start, start + timedelta(days=length - 1)), 1.3 if d == start else 1.0
        return None, 0.0

    def table(self, region: int, t: Template) -> tuple[list[int], list[float], list[Instance]]:
        key = (region, t.key)
        if key not in self._cache:
            days, cumulative, instances = [], [], []
            total = 0.0
            interned: dict[tuple[int, str, date], Instance] = {}
            for i in range(self.days):
                instance, weight = self._instance(region, t, self.first_day + timedelta(days=i))
                if instance is None or weight <= 0:
                    continue
                instance = interned.setdefault(instance.key, instance)
                total += weight
                days.append(i)
                cumulative.append(total)
                instances.append(instance)
            self._cache[key] = (days, cumulative, instances)
        return self._cache[key]

    def sample(self, rng: random.Random, region: int, t: Template) -> tuple[int, Instance] | None:
        days, cumulative, instances = self.table(region, t)
        if not days:
            return None
        i = bisect.bisect_left(cumulative, rng.random() * cumulative[-1])
        i = min(i, len(days) - 1)
        return days[i], instances[i]


class _Planner:
    def __init__(self, seed: int, people: int, first_day: date, days: int) -> None:
        self.rng = random.Random(seed)
        self.units_rng = random.Random(seed * 1_000_003 + 7)  # its own stream: units do not move the rest
        self.seed = seed
        self.count = people
        self.first_day = first_day
        self.days = days
        self.calendar = _Calendar(first_day, days)
        self.claims: list[PlannedClaim] = []
        # per (person, region): days used and instances used (one record per person per activity)
        self.used_days: dict[tuple[int, int], set[int]] = defaultdict(set)
        self.used_instances: dict[int, set[tuple[int, str, date]]] = defaultdict(set)

    # -- helpers -----------------------------------------------------------------------------------

    def templates(self, region: SeedRegion, mlit: int) -> list[Template]:
        return [t for t in region.templates if t.kind // 10 == mlit]

    def add(self, person: int, region: SeedRegion, templates: list[Template], *, visit: bool = True) -> bool:
        """One record of ``person`` in ``region`` on a template of ``templates``; False if none fits."""
        if not templates:
            return False
        weights = [t.popularity for t in templates]
        for _ in range(14):
            template = self.rng.choices(templates, weights)[0]
            found = self.calendar.sample(self.rng, region.code, template)
            if found is None:
                continue
            day, instance = found
            if instance.key in self.used_instances[person]:
                continue
            if visit and day in self.used_days[(person, region.code)]:
                continue
            self.used_instances[person].add(instance.key)
            if visit:
                self.used_days[(person, region.code)].add(day)
            self.claims.append(PlannedClaim(day, person, instance, self.units(day, instance)))
            return True
        return False

    def units(self, day: int, instance: Instance) -> int:
        """Hours of a volunteering shift (mostly 2–4), or days of a stay ending on ``day`` inside its window."""
        t = instance.template
        if t.unit == RewardUnit.HOUR:
            return self.units_rng.choices((1, 2, 3, 4, 6, 8), (10, 25, 30, 20, 10, 5))[0]
        if t.unit == RewardUnit.DAY:
            since_start = day - (instance.start - self.first_day).days + 1
            return max(1, min(self.units_rng.choices((1, 2, 3, 4, 5), (20, 30, 25, 15, 10))[0], since_start))
        return 1

    def visits(self, person: int, region: SeedRegion, main: MlitType, count: int) -> None:
        visiting = [m for m in VISITOR_MIX if self.templates(region, m)]
        for k in range(count):
            mlit = main
            if k > 0 and self.rng.random() > _MAIN_TYPE_SHARE:
                mlit = self.rng.choices(visiting, [VISITOR_MIX[m] for m in visiting])[0]
            if not self.add(person, region, self.templates(region, mlit) or self.templates(region, main)):
                self.add(person, region, [t for t in region.templates if t.kind // 10 in (1, 2, 3, 4)])

    def non_visiting(self, person: int, region: SeedRegion, count: int) -> None:
        by_kind = {t.kind: t for t in region.templates if t.kind // 10 == 5}
        kinds = list(by_kind)
        weights = [{50: 65, 51: 20, 52: 15}[int(k)] for k in kinds]
        for _ in range(count):
            self.add(person, region, [by_kind[self.rng.choices(kinds, weights)[0]]], visit=False)

    def kin(self, person: int, region: SeedRegion, count: int) -> None:
        kin = self.templates(region, MlitType.KIN)
        for _ in range(count):
            self.add(person, region, kin, visit=False)

    def band_days(self, main: MlitType) -> int:
        one, small, _ = BAND_SHARES[main]
        roll = self.rng.random()
        if roll < one:
            return 1
        if roll < one + small:
            return self.rng.choices(_SMALL_BAND, _SMALL_BAND_WEIGHTS)[0]
        return 8 + min(int(self.rng.expovariate(1 / 5)), 30)

    # -- people ---------------------------------------------------------------------------------------

    def person(self, index: int) -> Person:
        rng = self.rng
        roll = rng.random()
        segment = (
            "non_visiting"
            if roll < NON_VISITING_SHARE
            else "kin"
            if roll < NON_VISITING_SHARE + KIN_ONLY_SHARE
            else "visitor"
        )
        weights = [r.weight * (2.5 if segment == "non_visiting" and r.code == 1634 else 1.0) for r in SEED_REGIONS]
        home = rng.choices(SEED_REGIONS, weights)[0]
        if segment == "non_visiting":
            count = rng.choices((1, 2, 3, 4, 5, 6), (55, 25, 9, 6, 3, 2))[0]
            self.non_visiting(index, home, count)
            return Person(index, home.code, segment, None, 0, [home.code])
        if segment == "kin":
            self.kin(index, home, rng.choices((1, 2, 3), (55, 30, 15))[0])
            return Person(index, home.code, segment, None, 0, [home.code])
        offered = [m for m in VISITOR_MIX if self.templates(home, m)]
        main = rng.choices(offered, [VISITOR_MIX[m] for m in offered])[0]
        target = self.band_days(main)
        self.visits(index, home, main, target)
        person = Person(index, home.code, segment, main, target, [home.code])
        if rng.random() < _FURUSATO_EXTRA:
            self.non_visiting(index, home, rng.choices((1, 2), (75, 25))[0])
        if rng.random() < _KIN_EXTRA:
            self.kin(index, home, 1)
        extra = 2 if rng.random() < _THIRD_REGION else 1 if rng.random() < _SECOND_REGION else 0
        for _ in range(extra):
            others = [c for c in home.neighbours if c not in person.regions]
            if others and rng.random() < 0.6:
                region = REGION_BY_CODE[rng.choice(others)]
            else:
                candidates = [r for r in SEED_REGIONS if r.code not in person.regions]
                region = rng.choices(candidates, [r.weight for r in candidates])[0]
            person.regions.append(region.code)
            self.visits(index, region, main, rng.choices((1, 2, 3, 4), (55, 30, 10, 5))[0])
        return person

    # -- the rest of the year -------------------------------------------------------------------------

    def projects(self) -> list[PlannedProject]:
        planned = []
        for r, region in enumerate(SEED_REGIONS):
            for i, (name, description) in enumerate(region.projects):
                day = min(self.days - 1, 1 + r % 5 + 70 * i)
                close = None
                if region.code == 12205 and i == 1:
                    close = min(self.days - 2, day + 200)  # 山車の修繕: funded, closed
                planned.append(PlannedProject(day, region.code, name, description, close))
        return planned

    def revocations(self) -> list[PlannedRevocation]:
        revoked = []
        reasons = [r for r, _, _ in _REVOCATION_REASONS]
        weights = [w for _, w, _ in _REVOCATION_REASONS]
        notes = {r: n for r, _, n in _REVOCATION_REASONS}
        for claim in self.claims:
            if claim.instance.template.kind == ContributionKind.KIN_VISIT or claim.day > self.days - 3:
                continue
            if self.rng.random() < _REVOKE_SHARE:
                reason = self.rng.choices(reasons, weights)[0]
                day = min(self.days - 1, claim.day + self.rng.randint(1, 14))
                revoked.append(PlannedRevocation(day, claim, reason, notes[reason]))
        return revoked

    def supports(self, revoked: set[tuple[int, tuple[int, str, date]]]) -> list[PlannedSupport]:
        by_tie: dict[tuple[int, int], list[int]] = defaultdict(list)
        for claim in self.claims:
            if claim.instance.template.reward > 0 and (claim.person, claim.instance.key) not in revoked:
                by_tie[(claim.person, claim.region)].append(claim.day)
        supports = []
        amounts, weights = (100, 200, 300, 500, 1000), (30, 25, 20, 15, 10)
        for (person, region), days in sorted(by_tie.items()):
            days.sort()
            chance = 0.2 if len(days) >= 2 else 0.03
            if self.rng.random() >= chance:
                continue
            day = days[min(1, len(days) - 1)] + self.rng.randint(1, 30)
            for _ in range(2):
                if day >= self.days:
                    break
                supports.append(
                    PlannedSupport(day, person, region, self.rng.choices(amounts, weights)[0], self.rng.random())
                )
                if self.rng.random() >= 0.35:
                    break
                day += self.rng.randint(20, 90)
        return supports


def make_plan(seed: int, people: int, first_day: date, days: int = 364) -> SeedPlan:
    """The year from ``first_day`` (a JST date) for ``days`` days, for ``people`` participants."""
    planner = _Planner(seed, people, first_day, days)
    persons = [planner.person(i) for i in range(people)]
    revocations = planner.revocations()
    revoked = {(r.claim.person, r.claim.instance.key) for r in revocations}
    supports = planner.supports(revoked)
    claims = sorted(
        planner.claims, key=lambda c: (c.day, c.region, c.instance.start, c.instance.template.key, c.person)
    )
    return SeedPlan(
        seed=seed,
        first_day=first_day,
        days=days,
        people=persons,
        claims=claims,
        revocations=sorted(revocations, key=lambda r: (r.day, r.claim.region, r.claim.person)),
        supports=sorted(supports, key=lambda s: (s.day, s.region, s.person)),
        projects=planner.projects(),
    )


def band_shares(plan: SeedPlan) -> dict[str, float]:
    """Shares of visitors (people with a 訪問系 record) by MLIT band of their home-region visit days."""
    days: dict[tuple[int, int], set[int]] = defaultdict(set)
    for claim in plan.claims:
        if 1 <= claim.instance.template.kind // 10 <= 4:
            covered = claim.units if claim.instance.template.unit == RewardUnit.DAY else 1  # as ledger/ties.py
            days[(claim.person, claim.region)].update(range(claim.day - covered + 1, claim.day + 1))
    bands = [visit_band(len(days[(p.index, p.home)])) for p in plan.people if days.get((p.index, p.home))]
    return {band: sum(1 for b in bands if b == band) / max(len(bands), 1) for band in ("1", "2-7", "8+")}
