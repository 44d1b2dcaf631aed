"""Between regions: the overlap of a region with the others, the national graph, and MLIT's national
reference figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from ledger.municipalities import municipality_location
from ledger.queries.cells import (
    _check_k,
    _check_range,
    _check_region,
    _month_window,
    _people_in_range,
    _region_names,
    name_region,
    suppress,
)
from ledger.taxonomy import ContributionKind, MlitType


@dataclass(frozen=True, slots=True)
class NationalReference:
    """MLIT's national figures that a region's shapes are shown beside (only those the brief quotes)."""

    source: str
    respondents: int
    kankei_share_of_adults: float
    visiting_share_of_adults: float
    non_visiting_share_of_adults: float
    # share of 訪問系 関係人口 by MLIT type (the four do not sum to 1: the rest is other/unanswered)
    visitor_type_mix: Mapping[MlitType, float]
    # share of 訪問系 関係人口 by annual visit days; only the modal band is quoted
    visit_band_shares: Mapping[str, float]
    notes: str


NATIONAL_REFERENCE = NationalReference(
    source=(
        "国土交通省「関係人口の実態把握」2023年度調査 (n=118,963), as summarised in the product brief §3 "
        "(MLIT 2023 survey of relationship population)"
    ),
    respondents=118_963,
    kankei_share_of_adults=0.22,
    visiting_share_of_adults=0.18,
    non_visiting_share_of_adults=0.04,
    visitor_type_mix={
        MlitType.HOBBY_CONSUMPTION: 0.38,
        MlitType.PARTICIPATION_EXCHANGE: 0.26,
        MlitType.DIRECT_CONTRIBUTION: 0.23,
        MlitType.WORK: 0.08,
    },
    visit_band_shares={"2-7": 0.49},
    notes=(
        "Survey shares are of people (self-reported); a region's figures here are of recorded activity "
        "(type mix: records by type; bands: people by visit days in the trailing year). Compare shapes, "
        "not levels. 就労型 is mostly in the 8+ band. 地縁・血縁 visits are excluded from 訪問系."
    ),
)

# ---------------------------------------------------------------------------------------------
# Between regions: overlap and the national graph
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SharedRegion:
    """Another region that people of the region are also tied to."""

    region: int
    region_name: str | None
    shared: int | None  # people active in both regions in the range
    share: float | None  # shared / the region's active people
    code: str = ""  # five-digit JIS code, filled from ``region``
    label: str = ""  # the municipality's name (日本語), else the coin's name

    def __post_init__(self) -> None:
        name_region(self, self.region_name)


@dataclass(frozen=True, slots=True)
class RegionOverlap:
    """The other regions a region's people are also tied to."""

    region: int
    region_name: str | None
    start: date
    end: date
    first_month: int
    last_month: int
    people: int | None  # active in the region in the range
    others: tuple[SharedRegion, ...]  # most shared first


def region_overlap(conn: Connection, region: int, start: date, end: date, k: int | None = None) -> RegionOverlap:
    """Other regions sharing the region's people: those with a live record in both during the range's
    months. With ``k``, regions sharing fewer than ``k`` people are left out.
    """
    _check_region(region)
    _check_range(start, end)
    _check_k(k)
    first, last, at_head = _month_window(conn, start, end)
    people, _ = _people_in_range(conn, region, first, last, via_ties=at_head)
    # A person active in both regions in months m0..m1 has rows of month m1 in both, each with a last
    # active month >= m0; ``region_pair_months`` counts such pairs by the earlier of the two.
    rows: Sequence[Any] = (
        []
        if first > last
        else conn.execute(
            text(
                "SELECT other, SUM(people) FROM region_pair_months "
                "WHERE month = :m1 AND region = :r AND last_active_month >= :m0 GROUP BY other HAVING SUM(people) > 0"
            ),
            {"r": region, "m0": first, "m1": last},
        ).all()
    )
    names = _region_names(conn)
    others = [
        SharedRegion(int(other), names.get(int(other)), int(n), int(n) / people if people else None)
        for other, n in rows
        if suppress(int(n), k) is not None
    ]
    others.sort(key=lambda s: (-(s.shared or 0), s.region))
    return RegionOverlap(
        region=region,
        region_name=names.get(region),
        start=start,
        end=end,
        first_month=first,
        last_month=last,
        people=suppress(people, k),
        others=tuple(others),
    )


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A region of the national graph."""

    region: int
    region_name: str | None
    people: int | None  # active in the region in the period (under the kind filter)
    code: str = ""  # five-digit JIS code, filled from ``region``
    label: str = ""  # the municipality's name (日本語), else the coin's name
    latitude: float | None = None  # where the map places it (ledger.municipalities.LOCATIONS); None: unknown
    longitude: float | None = None

    def __post_init__(self) -> None:
        name_region(self, self.region_name)
        location = municipality_location(self.region)
        if location is not None:
            object.__setattr__(self, "latitude", location.latitude)
            object.__setattr__(self, "longitude", location.longitude)


@dataclass(frozen=True, slots=True)
class GraphLink:
    """People active in both regions of a pair (``source < target``)."""

    source: int
    target: int
    shared: int


@dataclass(frozen=True, slots=True)
class NationalGraph:
    """Regions as nodes, shared people as weighted links."""

    start: date
    end: date
    first_month: int
    last_month: int
    kind: int | None
    mlit_type: int | None
    k: int | None
    nodes: tuple[GraphNode, ...]  # by region code
    links: tuple[GraphLink, ...]  # heaviest first


def national_graph(
    conn: Connection,
    start: date,
    end: date,
    kind: int | None = None,
    mlit_type: int | None = None,
    k: int | None = None,
) -> NationalGraph:
    """The national view: every region with people active in the period, linked by the people active
    in both. People are counted over the range's whole months (like every people figure here).

    ``kind`` (a :class:`~ledger.taxonomy.ContributionKind` code) or ``mlit_type`` (a
    :class:`~ledger.taxonomy.MlitType`) keeps only live records of that kind or type, read from
    ``filtered_month_people`` and ``filtered_pair_months`` (a few rows per region or pair and month
    of the window, migration 0013); without a filter from the
    rollups of ``tie_months`` (non-kin records only). With ``k``, a node's count below ``k`` is hidden
    and a link of fewer than ``k`` people is left out.
    """
    _check_range(start, end)
    _check_k(k)
    if kind is not None and mlit_type is not None:
        raise ValueError("filter by kind or by mlit_type, not both")
    if kind is not None:
        kind = int(ContributionKind(kind))
    if mlit_type is not None:
        mlit_type = int(MlitType(mlit_type))
    first, last, _ = _month_window(conn, start, end)
    names = _region_names(conn)
    # A link of fewer than k people is left out (suppress), so the database leaves it out: at the
    # national scale a year has ~11,000 region pairs with someone in both and ~1,300 of k or more.
    least = 1 if k is None else k
    if kind is None and mlit_type is None:
        # From the rollups (kept by triggers on tie_months): nodes are the people of month m1's rows
        # last active in m0 or later; links the pairs of such rows of one person.
        node_rows: Sequence[Any] = []
        link_rows: Sequence[Any] = []
        if first <= last:
            node_rows = conn.execute(
                text(
                    "SELECT region, SUM(people) FROM region_month_cohorts "
                    "WHERE month = :m1 AND last_active_month >= :m0 "
                    "GROUP BY region HAVING SUM(people) > 0 ORDER BY region"
                ),
                {"m0": first, "m1": last},
            ).all()
            link_rows = conn.execute(
                text(
                    "SELECT region, other, SUM(people) FROM region_pair_months WHERE month = :m1 "
                    "AND last_active_month >= :m0 AND region < other GROUP BY region, other "
                    "HAVING SUM(people) >= :least"
                ),
                {"m0": first, "m1": last, "least": least},
            ).all()
        graph_nodes = [GraphNode(int(r), names.get(int(r)), suppress(int(n), k)) for r, n in node_rows]
        graph_links = [GraphLink(int(a), int(b), int(n)) for a, b, n in link_rows]  # k or more: HAVING
        graph_links.sort(key=lambda link: (-link.shared, link.source, link.target))
        return NationalGraph(start, end, first, last, kind, mlit_type, k, tuple(graph_nodes), tuple(graph_links))
    # filtered_month_people and filtered_pair_months (kept by the refresher, migration 0013): a
    # person's active months meet [m0, m1] at exactly one of them, the first in the window, whose
    # previous active month is before m0; pair rows are signed (S_a + S_b - S_a ∪ S_b), so the same
    # sum counts the people active in both regions. The filter and the month lead both keys.
    by, value = ("kind", kind) if kind is not None else ("type", mlit_type)
    params: dict[str, Any] = {"f": by, "v": value, "m0": first, "m1": last, "least": least}
    window = "filter_by = :f AND filter_value = :v AND month BETWEEN :m0 AND :m1 AND prev < :m0"
    people = {
        int(r): int(n)
        for r, n in conn.execute(
            text(
                f"SELECT region, SUM(people) FROM filtered_month_people WHERE {window} "
                "GROUP BY region HAVING SUM(people) > 0"
            ),
            params,
        )
    }
    shared = {
        (int(a), int(b)): int(n)
        for a, b, n in conn.execute(
            text(
                f"SELECT region_a, region_b, SUM(people) FROM filtered_pair_months WHERE {window} "
                "GROUP BY region_a, region_b HAVING SUM(people) >= :least"
            ),
            params,
        )
    }
    nodes = [GraphNode(region, names.get(region), suppress(people[region], k)) for region in sorted(people)]
    links = [GraphLink(a, b, n) for (a, b), n in shared.items()]  # k or more: HAVING
    links.sort(key=lambda link: (-link.shared, link.source, link.target))
    return NationalGraph(start, end, first, last, kind, mlit_type, k, tuple(nodes), tuple(links))
