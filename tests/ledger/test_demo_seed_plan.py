"""The seeded year's plan (pure): deterministic, MLIT-shaped, seasonal."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from ledger.demo_seed.catalogue import SEED_REGIONS
from ledger.demo_seed.plan import SeedPlan, band_shares, make_plan
from ledger.municipalities import municipality_name
from ledger.taxonomy import ContributionKind


@pytest.fixture(scope="module")
def plan() -> SeedPlan:
    return make_plan(7, 1500, date(2025, 1, 1))


def test_the_same_seed_gives_the_same_plan(plan: SeedPlan) -> None:
    again = make_plan(7, 1500, date(2025, 1, 1))
    assert again.claims == plan.claims and again.supports == plan.supports and again.revocations == plan.revocations
    assert make_plan(8, 1500, date(2025, 1, 1)).claims != plan.claims


def test_visit_day_bands_follow_mlit(plan: SeedPlan) -> None:
    shares = band_shares(plan)
    assert abs(shares["2-7"] - 0.49) < 0.05  # MLIT 2023: the modal band, ≈49%
    assert 0.2 < shares["1"] < 0.4 and 0.12 < shares["8+"] < 0.3
    segments = Counter(p.segment for p in plan.people)
    assert abs(segments["non_visiting"] / len(plan.people) - 4 / 22) < 0.03  # 非訪問系 4 of the 22%
    workers = [p for p in plan.people if p.main_type is not None and p.main_type.value == 3]
    assert sum(p.target_days >= 8 for p in workers) > len(workers) / 2  # 就労型 mostly 8+


def test_seasons(plan: SeedPlan) -> None:
    def months(predicate: object) -> Counter[int]:
        return Counter(plan.date_of(c.day).month for c in plan.claims if predicate(c))  # type: ignore[operator]

    taue = months(lambda c: "田植え" in c.instance.template.name)
    inekari = months(lambda c: "稲刈り" in c.instance.template.name)
    assert set(taue) == {5} and set(inekari) == {9}
    furusato = months(lambda c: c.instance.template.kind == ContributionKind.FURUSATO_NOZEI)
    assert furusato.most_common(1)[0][0] == 12 and furusato[12] > 0.3 * furusato.total()
    festivals = months(lambda c: c.instance.template.kind == ContributionKind.FESTIVAL_EVENT)
    assert sum(festivals[m] for m in (7, 8, 9, 10, 11)) > 0.6 * festivals.total()
    geisai = months(lambda c: "大地の芸術祭" in c.instance.template.name)
    assert set(geisai) <= {7, 8, 9, 10, 11} and geisai.total() > 0


def test_regions_ties_revocations_and_supports(plan: SeedPlan) -> None:
    assert {r.code for r in SEED_REGIONS} == {c.region for c in plan.claims}
    assert all(municipality_name(r.code) == r.region.name for r in SEED_REGIONS)
    assert sum(len(p.regions) > 1 for p in plan.people) > 0.08 * len(plan.people)
    assert 0.005 < len(plan.revocations) / len(plan.claims) < 0.03
    assert {r.reason for r in plan.revocations} == {1, 2, 3, 4, 5}
    assert len({s.region for s in plan.supports}) >= 8
    kin = [c for c in plan.claims if c.instance.template.kind == ContributionKind.KIN_VISIT]
    assert kin and {plan.date_of(c.day).month for c in kin} <= {1, 5, 8, 12}
    seen: set[tuple[int, tuple[int, str, date]]] = set()
    for claim in plan.claims:  # one record per person per activity, as the chain enforces
        key = (claim.person, claim.instance.key)
        assert key not in seen
        seen.add(key)
