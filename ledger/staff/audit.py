"""The staff audit: every sign-in (and failed one) and every staff action, with its outcome.

Rows are written in the same transaction as the change they describe where the change is local;
a chain action writes ``ok`` or ``failed`` after the transaction (and a :class:`PendingAction` row
before it, so a crash in between is reconciled, ledger/console/pending.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from ledger.staff.roles import Actor

__all__ = ["AuditEntry", "record", "entries"]


@dataclass(frozen=True)
class AuditEntry:
    entry_id: int
    at: int
    actor: str
    actor_label: str
    region: int | None
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]
    client: str


def record(
    conn: Connection,
    actor: Actor | None,
    action: str,
    *,
    region: int | None = None,
    target: str = "",
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
    client: str = "",
    actor_ref: str | None = None,
    actor_label: str | None = None,
) -> None:
    """Append one entry (``actor`` None: an anonymous request, e.g. a failed sign-in)."""
    conn.execute(
        text(
            "INSERT INTO staff_audit (at, actor, actor_label, region, action, target, outcome, detail, client) "
            "VALUES (:at, :a, :l, :r, :x, :t, :o, :d, :c)"
        ),
        {
            "at": int(time.time()),
            "a": actor_ref or (actor.ref if actor else "anonymous"),
            "l": actor_label or (actor.label if actor else ""),
            "r": region,
            "x": action,
            "t": target,
            "o": outcome,
            "d": json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str),
            "c": client[:64],
        },
    )


def entries(
    conn: Connection,
    region: int | None,
    *,
    before_id: int | None = None,
    limit: int = 100,
    action_prefix: str | None = None,
) -> list[AuditEntry]:
    """Newest first; ``region`` None: every region (platform view)."""
    where, params = ["1=1"], {"limit": limit}
    if region is not None:
        where.append("region = :r")
        params["r"] = region
    if before_id is not None:
        where.append("entry_id < :b")
        params["b"] = before_id
    if action_prefix:
        where.append("action LIKE :p")
        params["p"] = action_prefix + "%"  # type: ignore[assignment]
    rows = conn.execute(
        text(
            "SELECT entry_id, at, actor, actor_label, region, action, target, outcome, detail, client "
            f"FROM staff_audit WHERE {' AND '.join(where)} ORDER BY entry_id DESC LIMIT :limit"
        ),
        params,
    ).all()
    return [
        AuditEntry(
            int(r[0]),
            int(r[1]),
            str(r[2]),
            str(r[3]),
            None if r[4] is None else int(r[4]),
            str(r[5]),
            str(r[6]),
            str(r[7]),
            json.loads(r[8] or "{}"),
            str(r[9]),
        )
        for r in rows
    ]
