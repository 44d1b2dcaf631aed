"""Projects (応援先), their public form with small cells suppressed, and the off-chain names of activities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, text

from ledger.queries.cells import _check_k, _check_region, _region_names, suppress

# ---------------------------------------------------------------------------------------------
# Projects (応援先) and the off-chain text of activities and projects
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProjectEntry:
    """A project of a region that participants can support (応援) with the region's coins."""

    project_id: int
    region: int
    region_name: str | None
    name: str | None  # off-chain text whose keccak256 is the metadata hash on chain (None if unknown)
    description: str | None
    metadata_hash: str
    closed: bool
    raised: int  # coins spent on it
    supporters: int  # distinct supporters
    registered_at: int  # unix seconds
    tx_hash: str


def region_projects(conn: Connection, region: int | None = None) -> list[ProjectEntry]:
    """The projects of ``region`` (every region when ``None``), open ones first, newest first.

    ``raised`` and ``supporters`` come from the indexed ``ProjectSupported`` logs; names from the
    off-chain text kept by ``ledger.checkin.metadata`` (committed to by the hash on chain).
    """
    if region is not None:
        _check_region(region)
    where = "" if region is None else "WHERE p.region = :r "
    rows = conn.execute(
        text(
            "SELECT p.project_id, p.region, m.name, m.description, p.metadata_hash, p.closed, p.raised, "
            "p.supporters, p.registered_at, p.tx_hash FROM projects p "
            "LEFT JOIN activity_metadata m ON m.metadata_hash = p.metadata_hash "
            f"{where}ORDER BY p.closed, p.project_id DESC"
        ),
        {"r": region},
    ).all()
    names = _region_names(conn)
    return [
        ProjectEntry(
            project_id=int(r[0]),
            region=int(r[1]),
            region_name=names.get(int(r[1])),
            name=None if r[2] is None else str(r[2]),
            description=None if r[3] is None else str(r[3]),
            metadata_hash=str(r[4]),
            closed=bool(r[5]),
            raised=int(r[6] or 0),
            supporters=int(r[7] or 0),
            registered_at=int(r[8]),
            tx_hash=str(r[9]),
        )
        for r in rows
    ]


def activity_names(conn: Connection, activity_ids: Sequence[int]) -> dict[int, str]:
    """The off-chain names of activities (those whose text is known), by activity id."""
    ids = sorted({int(i) for i in activity_ids})
    if not ids:
        return {}
    rows = conn.execute(
        text(
            "SELECT a.activity_id, m.name FROM activities a "
            "JOIN activity_metadata m ON m.metadata_hash = a.metadata_hash WHERE a.activity_id IN :ids"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": ids},
    )
    return {int(r[0]): str(r[1]) for r in rows}


@dataclass(frozen=True, slots=True)
class PublicProject:
    """A project as a public page shows it: raised and supporters hidden below ``k`` supporters."""

    project_id: int
    region: int
    region_name: str | None
    name: str | None
    description: str | None
    metadata_hash: str
    closed: bool
    raised: int | None
    supporters: int | None
    registered_at: int
    tx_hash: str


def public_projects(conn: Connection, region: int | None = None, k: int | None = None) -> list[PublicProject]:
    """:func:`region_projects` with small cells suppressed: with fewer than ``k`` supporters (but
    some), neither the supporter count nor the coins raised are shown."""
    _check_k(k)
    result = []
    for p in region_projects(conn, region):
        hidden = suppress(p.supporters, k) is None
        result.append(
            PublicProject(
                p.project_id,
                p.region,
                p.region_name,
                p.name,
                p.description,
                p.metadata_hash,
                p.closed,
                None if hidden else p.raised,
                None if hidden else p.supporters,
                p.registered_at,
                p.tx_hash,
            )
        )
    return result
