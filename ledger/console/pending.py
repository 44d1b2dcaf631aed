"""Chain actions that cannot be left half-done.

A console action that sends a transaction (register an activity, close it, revoke a record,
register a project, grant an issuer...) is written to ``pending_actions`` as ``sending`` *before*
the transaction is sent, and marked ``done`` (with its result: the id created, the tx hash) or
``failed`` (with the error) after, in the same database transaction as its staff-audit entry.

If the process dies between sending and marking, the row stays ``sending``. :func:`reconcile`
settles such rows from the indexed chain (a kind registers a checker that says whether the chain
shows the action done: e.g. an activity with the row's metadata hash registered after the row was
written); rows still unsettled after :data:`STALE_AFTER_S` are shown to staff as "not confirmed"
with what was asked, so nothing is silently lost or silently done twice. ``failed`` rows are
checked the same way (a timeout can hide a transaction that was mined).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sqlalchemy import Connection, Engine, text

from ledger.db.engine import write_transaction
from ledger.staff import audit
from ledger.staff.roles import Actor

__all__ = [
    "STALE_AFTER_S",
    "PendingAction",
    "run_chain_action",
    "open_actions",
    "reconcile",
    "dismiss",
    "CHECKERS",
]

STALE_AFTER_S: Final = 120
T = TypeVar("T", bound=dict[str, Any])

# kind -> (conn, action) -> the result if the chain shows the action done, else None.
CHECKERS: dict[str, Callable[[Connection, PendingAction], dict[str, Any] | None]] = {}


@dataclass(frozen=True)
class PendingAction:
    action_id: int
    region: int
    kind: str
    payload: dict[str, Any]
    metadata_hash: str | None
    status: str
    result: dict[str, Any] | None
    error: str | None
    actor: str
    created_at: int
    updated_at: int


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def run_chain_action(
    engine: Engine,
    actor: Actor,
    *,
    region: int,
    kind: str,
    payload: dict[str, Any],
    send: Callable[[], T],
    metadata_hash: str | None = None,
    target: str = "",
    client: str = "",
    audit_payload: dict[str, Any] | None = None,
) -> T:
    """Record the intent, run ``send`` (which talks to the chain and returns a JSON-able result),
    then record the outcome and the audit entry. ``send``'s exception propagates after being
    recorded as ``failed``. ``audit_payload`` replaces ``payload`` in the audit (e.g. to leave out
    a long text kept elsewhere)."""
    now = int(time.time())
    with write_transaction(engine) as conn:
        action_id = int(
            conn.execute(
                text(
                    "INSERT INTO pending_actions (region, kind, payload, metadata_hash, status, actor, created_at, "
                    "updated_at) VALUES (:r, :k, :p, :m, 'sending', :a, :t, :t) RETURNING action_id"
                ),
                {"r": region, "k": kind, "p": _dumps(payload), "m": metadata_hash, "a": actor.ref, "t": now},
            ).scalar_one()
        )
    detail = dict(payload if audit_payload is None else audit_payload)
    try:
        result = send()
    except Exception as exc:
        with write_transaction(engine) as conn:
            conn.execute(
                text("UPDATE pending_actions SET status = 'failed', error = :e, updated_at = :t WHERE action_id = :i"),
                {"e": f"{type(exc).__name__}: {exc}"[:2000], "t": int(time.time()), "i": action_id},
            )
            audit.record(
                conn,
                actor,
                kind,
                region=region,
                target=target,
                outcome="failed",
                detail={**detail, "error": f"{type(exc).__name__}: {exc}"[:500]},
                client=client,
            )
        raise
    with write_transaction(engine) as conn:
        conn.execute(
            text("UPDATE pending_actions SET status = 'done', result = :r, updated_at = :t WHERE action_id = :i"),
            {"r": _dumps(result), "t": int(time.time()), "i": action_id},
        )
        audit.record(
            conn,
            actor,
            kind,
            region=region,
            target=target or _target_of(result),
            detail={**detail, **result},
            client=client,
        )
    return result


def _target_of(result: dict[str, Any]) -> str:
    for key in ("activity_id", "project_id", "participant", "issuer", "account_id"):
        if key in result:
            return f"{key.removesuffix('_id')}:{result[key]}"
    return ""


def _row(r: Any) -> PendingAction:
    return PendingAction(
        int(r[0]),
        int(r[1]),
        str(r[2]),
        json.loads(r[3]),
        r[4],
        str(r[5]),
        None if r[6] is None else json.loads(r[6]),
        r[7],
        str(r[8]),
        int(r[9]),
        int(r[10]),
    )


_COLUMNS = "action_id, region, kind, payload, metadata_hash, status, result, error, actor, created_at, updated_at"


def open_actions(conn: Connection, region: int) -> list[PendingAction]:
    """Actions of ``region`` that staff must look at: ``failed`` ones, and ``sending`` ones (a
    crash, or still in flight when younger than :data:`STALE_AFTER_S`)."""
    rows = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM pending_actions WHERE region = :r AND status IN ('sending', 'failed') "
            "ORDER BY action_id DESC LIMIT 200"
        ),
        {"r": region},
    ).all()
    return [_row(r) for r in rows]


def reconcile(engine: Engine, region: int, now: int | None = None) -> int:
    """Settle open rows of ``region`` that the indexed chain shows done (with the kind's checker);
    returns how many were settled. Rows without a checker or not found stay open.

    ``failed`` rows are checked too: a node that timed out after it had accepted the transaction
    makes the action look failed although it was mined; the chain decides."""
    now = int(time.time()) if now is None else now
    settled = 0
    with write_transaction(engine) as conn:
        for action in open_actions(conn, region):
            if action.kind not in CHECKERS:
                continue
            result = CHECKERS[action.kind](conn, action)
            if result is None:
                continue
            conn.execute(
                text(
                    "UPDATE pending_actions SET status = 'done', result = :r, updated_at = :t "
                    "WHERE action_id = :i AND status IN ('sending', 'failed')"
                ),
                {"r": _dumps({**result, "reconciled": True}), "t": now, "i": action.action_id},
            )
            audit.record(
                conn,
                None,
                action.kind,
                region=region,
                target=_target_of(result),
                outcome="ok",
                detail={**action.payload, **result, "reconciled": True},
                actor_ref=action.actor,
                actor_label="(reconciled from the chain)",
            )
            settled += 1
    return settled


def dismiss(engine: Engine, actor: Actor, region: int, action_id: int, client: str = "") -> None:
    """Staff have looked at a failed or stale action (and retried it or decided not to)."""
    with write_transaction(engine) as conn:
        updated = conn.execute(
            text(
                "UPDATE pending_actions SET status = 'dismissed', updated_at = :t "
                "WHERE action_id = :i AND region = :r AND status IN ('sending', 'failed')"
            ),
            {"t": int(time.time()), "i": action_id, "r": region},
        ).rowcount
        if updated:
            audit.record(conn, actor, "pending.dismiss", region=region, target=f"action:{action_id}", client=client)
