"""The read side of the index: what the つながり page, the region dashboards, the national view and
the researcher export ask of the database.

Plain functions over a SQLAlchemy :class:`~sqlalchemy.Connection`, returning frozen dataclasses (no
ORM objects, no web types). SQL is SQLAlchemy Core ``text()`` with bound parameters only, portable
between SQLite and PostgreSQL; every number coming back is converted with ``int()`` / ``float()``
(PostgreSQL sums of ``BIGINT`` come back as ``Decimal``).

Conventions.

- **Calendar.** ``start`` / ``end`` are :class:`datetime.date` JST calendar days, both inclusive.
  Records, coins and revocations are counted by JST *day* (``region_daily``,
  ``region_daily_coins``). People are counted by JST *month* from ``tie_months``: a range covers
  the whole months of ``start`` and ``end``, and a stage or 関係人口 figure "as of ``end``" is the
  tie as of the end of ``end``'s month (or the index head when that is earlier, see below): the
  dashboard states that day as ``as_of`` (:func:`as_of_day`). A period left open is filled by
  :func:`resolve_period`, the one rule of pages, JSON and CLI.
- **Head.** ``tie_months`` has rows up to the month of the index head. Month series, cohorts and
  "as of" figures never go past it (a range ending in the future is cut at the head's month), so a
  month that has not happened yet never reads as zero people.
- **Live.** A live record is one that has not been revoked. "Active in a month" means at least one
  live (non-kin) record that month (``tie_months.active``: 地縁・血縁 records feed no stage and make
  nobody active). A person's cohort is the month of their first live non-kin record
  (``first_month``). 参加者 (``participants``) counts everyone with a live record, kin-only people
  included (``ties.kin_first_month``, :func:`~ledger.queries.cells._kin_only`), at stage none.
- **Addresses** are accepted in any case (checksummed or not) and validated
  (:func:`normalize_address`); the index stores them lowercase.
- **One chain per database.** The derived tables carry no chain id, so neither do these queries.
- **Small cells.** Public aggregates take ``k`` (``None`` = raw figures, for operator views; the
  dashboards pass :data:`DEFAULT_K`). A count of people or records below ``k`` becomes ``None``
  (:func:`suppress`); zero is shown, since it identifies nobody. Where a group of cells is published
  with its total (the stage funnel, the visit bands, the type mix, new + returning), a second cell
  is hidden when only one was, so the hidden one cannot be recovered by subtraction
  (:func:`suppress_group`). Coin totals are hidden when fewer than ``k`` people were active in the
  range. Differences between overlapping ranges or consecutive months are not protected: publish
  fixed periods.

Indexes and rollups each query relies on. The rollups (``region_month_people``,
``region_month_cohorts``, ``region_pair_months``, ``region_month_kinds``, ``region_daily_stays``,
``region_month_stays``; migration 0005, docs/events.md "Dashboard rollups") are kept by triggers as the
refresher rewrites ``tie_months``, ``ties`` and ``region_daily``. Timings: SQLite at 1M records from
``scripts/bench/synthetic.py``, in process, p50 / p95 over ranges of 1-365 days, on a shared 2-CPU
machine under load (read them as orders of magnitude); the HTTP figures are in ``make bench
BENCH=dashboard``. "Before" is the previous implementation on the same data.

=========================  ===================================================================
``person_ties``            ``ties`` PK (participant, region)                            < 1 ms
``person_history``         ``ix_contributions_participant_region``,                     < 2 ms
                           ``ix_supports_supporter_region``, ``ix_revocations_activity_participant``
``person_coins``           the ``coin_movements`` view: ``ix_contributions_participant_region``,
                           ``ix_supports_supporter_region``; it *scans* ``revocations`` and
                           ``coin_transfers`` (*wanted*: ``revocations (participant)``,
                           ``coin_transfers (from_account)``, ``coin_transfers (to_account)``)
``person_supports``        ``ix_supports_supporter_region``                             < 2 ms
``region_summary``         ``region_month_people`` (one month), ``region_month_cohorts`` (one month),
                           ``region_month_kinds`` + edge days of ``region_daily``, ``region_daily_coins``:
                           7 / 15 ms (before: 16-19 ms p95 from the ``ix_tie_months_slice`` slice)
``region_monthly``         ``region_month_people``, ``region_month_kinds``: 2.5 / 14 ms (before ~66 ms)
``cohort_retention``       ``region_month_cohorts``: 0.4 / 5 ms (before 48 ms)
``returning_kinds``        ``region_month_kinds`` / ``region_daily`` and ``region_month_stays`` /
                           ``region_daily_stays``: 5 / 12 ms
``returning_activities``   ``ix_contributions_region_day``, ``ix_revocations_activity_participant``:
                           reads the region's records of the range (p95 350-570 ms): not on the
                           dashboard, which shows ``returning_kinds``
``issuer_audit``           ``region_daily_issuers`` (the period's days; migration 0012),
                           ``ix_revocations_region_day``, ``ix_contributions_activity_participant``,
                           ``ix_region_role_changes_region``: ~1 / 5 ms at 100k records (from batches it was
                           35 / 80 ms there: at 1M nearly every record is its own batch)
``region_overlap``         ``region_pair_months`` (one month): 0.7 / 11 ms (before 162-370 ms)
``national_graph``         unfiltered: ``region_month_cohorts`` and ``region_pair_months`` (one month):
                           1 / 5 ms (before 400-650 ms). With a kind or type:
                           ``filtered_month_people`` and ``filtered_pair_months``, the window's
                           months of the filter (migration 0013; before: ``participant_kind_years``,
                           180 ms p95 at 1M; before that a scan of ``contributions``, 2.7-10 s)
``region_units``           ``activity_registrations`` (the region's per-hour and per-day activities), then
                           ``ix_contributions_activity_participant``: reads those activities' records
                           only (not timed at 1M records: the synthetic data has none)
``region_dashboard``       all of the above but ``returning_activities``, plus ``_kin_only``
                           (``ix_ties_region_kin_first_month``, covering)
``index_status``           tiny tables
=========================  ===================================================================

The package, by subject (``from ledger.queries import X`` works for every public name):

- :mod:`~ledger.queries.cells`: small cells and suppression (k), calendar keys, addresses, who was
  active in a range of months.
- :mod:`~ledger.queries.region`: the registered regions and a region's figures (summary, units,
  monthly series, cohorts, activities that bring people back).
- :mod:`~ledger.queries.person`: a person's ties, history, coins and supports.
- :mod:`~ledger.queries.audit`: the issuer audit and its public form.
- :mod:`~ledger.queries.network`: overlap between regions, the national graph, MLIT's reference figures.
- :mod:`~ledger.queries.projects`: projects and their public form; activity names.
- :mod:`~ledger.queries.status`: the indexer's state.
- :mod:`~ledger.queries.pages`: the page assemblers (one document per page, for the JSON route and the
  HTML route alike) and the default period.
"""

from __future__ import annotations

from ledger.queries.audit import (
    REVOCATION_REASONS,
    REVOCATIONS_PAGE_MAX,
    REVOCATIONS_SHOWN,
    ROLE_KINDS,
    IssuerActivity,
    IssuerAudit,
    RevocationEntry,
    RoleChangeEntry,
    issuer_audit,
    public_audit,
)
from ledger.queries.cells import (
    DEFAULT_K,
    STAGES,
    VISIT_BANDS,
    day_int,
    month_int,
    months_between,
    normalize_address,
    suppress,
    suppress_group,
)
from ledger.queries.network import (
    NATIONAL_REFERENCE,
    GraphLink,
    GraphNode,
    NationalGraph,
    NationalReference,
    RegionOverlap,
    SharedRegion,
    national_graph,
    region_overlap,
)
from ledger.queries.pages import (
    FIGURE_DEFINITIONS,
    PersonPage,
    RegionDashboard,
    as_of_day,
    default_range,
    head_day,
    person_page,
    region_dashboard,
    resolve_period,
)
from ledger.queries.person import (
    HistoryEntry,
    PersonCoins,
    PersonTie,
    RevocationInfo,
    SupportedProject,
    TieComponentValues,
    person_coins,
    person_history,
    person_supports,
    person_ties,
)
from ledger.queries.projects import ProjectEntry, PublicProject, activity_names, public_projects, region_projects
from ledger.queries.region import (
    ActivityReturn,
    BandCount,
    Cohort,
    CohortMonth,
    CoinTotals,
    KindReturn,
    MonthlyPoint,
    RegionInfo,
    RegionSummary,
    StageCount,
    TypeCount,
    UnitFigure,
    UnitTotals,
    cohort_retention,
    list_regions,
    region_monthly,
    region_summary,
    region_units,
    returning_activities,
    returning_kinds,
)
from ledger.queries.status import (
    BACKLOG_CAP,
    CheckpointStatus,
    IndexStatus,
    backlog_text,
    bounded_count,
    checkpoints,
    index_status,
)

__all__ = [
    "ActivityReturn",
    "BACKLOG_CAP",
    "BandCount",
    "CheckpointStatus",
    "Cohort",
    "CohortMonth",
    "CoinTotals",
    "DEFAULT_K",
    "FIGURE_DEFINITIONS",
    "GraphLink",
    "GraphNode",
    "HistoryEntry",
    "IndexStatus",
    "IssuerActivity",
    "IssuerAudit",
    "KindReturn",
    "MonthlyPoint",
    "NATIONAL_REFERENCE",
    "NationalGraph",
    "NationalReference",
    "PersonCoins",
    "PersonTie",
    "ProjectEntry",
    "PublicProject",
    "REVOCATION_REASONS",
    "REVOCATIONS_PAGE_MAX",
    "REVOCATIONS_SHOWN",
    "ROLE_KINDS",
    "RegionDashboard",
    "RegionInfo",
    "RegionOverlap",
    "RegionSummary",
    "RevocationEntry",
    "RevocationInfo",
    "RoleChangeEntry",
    "STAGES",
    "SharedRegion",
    "StageCount",
    "SupportedProject",
    "TieComponentValues",
    "TypeCount",
    "UnitFigure",
    "UnitTotals",
    "VISIT_BANDS",
    "activity_names",
    "backlog_text",
    "bounded_count",
    "checkpoints",
    "cohort_retention",
    "day_int",
    "default_range",
    "PersonPage",
    "person_page",
    "as_of_day",
    "head_day",
    "resolve_period",
    "index_status",
    "issuer_audit",
    "list_regions",
    "month_int",
    "months_between",
    "national_graph",
    "normalize_address",
    "person_coins",
    "person_history",
    "person_supports",
    "person_ties",
    "public_audit",
    "public_projects",
    "region_dashboard",
    "region_monthly",
    "region_overlap",
    "region_projects",
    "region_summary",
    "region_units",
    "returning_activities",
    "returning_kinds",
    "suppress",
    "suppress_group",
]
