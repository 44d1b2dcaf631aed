"""A region's issuers: the keys allowed to record contributions (the relayer, a kiosk's key...).

The list comes from the chain (``getRoleMembers`` of the region's issuer role), or, while the node
cannot be reached, from the indexed role changes (the ``region_roles`` view). Each address carries
its human label (``issuer_labels``, local, audited) and what it issued, from the indexed
``batches``. Granting and revoking are chain actions (:func:`ledger.console.pending.run_chain_action`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final, Literal

from eth_utils.address import to_checksum_address
from sqlalchemy import Connection, Engine, text
from web3.exceptions import Web3Exception

from ledger.chain.client import LedgerClient
from ledger.chain.context import ChainContext
from ledger.checkin.errors import CheckinRejected
from ledger.checkin.signing import normalise_address
from ledger.console.pending import CHECKERS, PendingAction, run_chain_action
from ledger.db.engine import write_transaction
from ledger.errors import InvalidInput, TsunagariError
from ledger.staff import audit
from ledger.staff.roles import Actor

__all__ = [
    "ISSUER_ROLE_KIND",
    "MAX_LABEL",
    "Issuer",
    "checked_address",
    "check_label",
    "list_issuers",
    "grant",
    "revoke",
    "set_label",
]

ISSUER_ROLE_KIND: Final = 2  # region_role_changes.role_kind: 1 region admin, 2 issuer
MAX_LABEL: Final = 80
Source = Literal["chain", "index"]


@dataclass(frozen=True)
class Issuer:
    address: str  # checksummed
    label: str
    batches: int
    records: int
    last_issued_at: int | None  # block time of its last batch in the region

    def as_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "label": self.label,
            "batches": self.batches,
            "records": self.records,
            "last_issued_at": self.last_issued_at,
        }


def checked_address(address: str) -> str:
    """A checksummed address, or ``ValueError`` with a clear message (a typo in a mixed-case
    address is caught by its EIP-55 checksum)."""
    try:
        lower = normalise_address(address.strip())
    except CheckinRejected as exc:
        raise InvalidInput(exc.message) from None
    if int(lower, 16) == 0:
        raise InvalidInput("the zero address cannot be an issuer")
    return str(to_checksum_address(lower))


def check_label(label: str) -> str:
    label = label.strip()
    if len(label) > MAX_LABEL:
        raise InvalidInput(f"a label has at most {MAX_LABEL} characters")
    return label


def _indexed_issuers(conn: Connection, region: int) -> list[str]:
    rows = conn.execute(
        text("SELECT DISTINCT account FROM region_roles WHERE region = :r AND role_kind = :k"),
        {"r": region, "k": ISSUER_ROLE_KIND},
    ).all()
    return [str(r[0]) for r in rows]


def list_issuers(
    conn: Connection, actor: Actor, region: int, client: LedgerClient | None
) -> tuple[list[Issuer], Source]:
    """The region's current issuers with labels and what each issued, and where the list came from."""
    actor.require("read", region)
    source: Source = "index"
    addresses: list[str] | None = None
    if client is not None:
        try:
            addresses = client.issuers(region)
            source = "chain"
        except (TsunagariError, Web3Exception, OSError, ValueError):  # the node is down: the index still knows
            addresses = None
    if addresses is None:
        addresses = _indexed_issuers(conn, region)
    labels = {
        str(r[0]).lower(): str(r[1])
        for r in conn.execute(text("SELECT address, label FROM issuer_labels WHERE region = :r"), {"r": region})
    }
    stats = {
        str(r[0]): (int(r[1]), int(r[2] or 0), None if r[3] is None else int(r[3]))
        for r in conn.execute(
            text(
                "SELECT LOWER(issuer), COUNT(*), SUM(count), MAX(block_timestamp) FROM batches WHERE region = :r "
                "GROUP BY LOWER(issuer)"
            ),
            {"r": region},
        )
    }
    result = []
    for address in sorted({a.lower() for a in addresses}):
        batches, records, last = stats.get(address, (0, 0, None))
        result.append(Issuer(str(to_checksum_address(address)), labels.get(address, ""), batches, records, last))
    return result, source


def _save_label(conn: Connection, region: int, address: str, label: str) -> str:
    """Upsert the label; returns the previous one ('' when none)."""
    previous = conn.execute(
        text("SELECT label FROM issuer_labels WHERE region = :r AND LOWER(address) = :a"),
        {"r": region, "a": address.lower()},
    ).scalar_one_or_none()
    conn.execute(
        text("DELETE FROM issuer_labels WHERE region = :r AND LOWER(address) = :a"),
        {"r": region, "a": address.lower()},
    )
    if label:
        conn.execute(
            text("INSERT INTO issuer_labels (region, address, label, updated_at) VALUES (:r, :a, :l, :t)"),
            {"r": region, "a": address, "l": label, "t": int(time.time())},
        )
    return "" if previous is None else str(previous)


def set_label(engine: Engine, actor: Actor, region: int, address: str, label: str, client: str = "") -> str:
    """Name an issuer address (local, audited); an empty label removes the name."""
    actor.require("issuers", region)
    address, label = checked_address(address), check_label(label)
    with write_transaction(engine) as conn:
        previous = _save_label(conn, region, address, label)
        audit.record(
            conn,
            actor,
            "issuer.label",
            region=region,
            target=f"issuer:{address}",
            detail={"from": previous, "to": label},
            client=client,
        )
    return address


def grant(
    engine: Engine, actor: Actor, chain: ChainContext, region: int, address: str, label: str = "", client: str = ""
) -> dict[str, Any]:
    """Let ``address`` record contributions in ``region`` (and name it)."""
    actor.require("issuers", region)
    address, label = checked_address(address), check_label(label)
    sender = chain.operator("region-admin")

    def send() -> dict[str, Any]:
        receipt = chain.client.grant_issuer(sender, region, address)
        return {"issuer": address, "tx_hash": chain.client.tx_hash(receipt)}

    result = run_chain_action(
        engine,
        actor,
        region=region,
        kind="issuer.grant",
        payload={"issuer": address, "label": label},
        send=send,
        target=f"issuer:{address}",
        client=client,
    )
    if label:
        with write_transaction(engine) as conn:
            _save_label(conn, region, address, label)
    return {**result, "label": label}


def revoke(
    engine: Engine, actor: Actor, chain: ChainContext, region: int, address: str, client: str = ""
) -> dict[str, Any]:
    """Take the issuer role of ``region`` from ``address`` (its records stay; the label is kept)."""
    actor.require("issuers", region)
    address = checked_address(address)
    sender = chain.operator("region-admin")

    def send() -> dict[str, Any]:
        receipt = chain.client.revoke_issuer(sender, region, address)
        return {"issuer": address, "tx_hash": chain.client.tx_hash(receipt)}

    return run_chain_action(
        engine,
        actor,
        region=region,
        kind="issuer.revoke",
        payload={"issuer": address},
        send=send,
        target=f"issuer:{address}",
        client=client,
    )


def _role_now(conn: Connection, action: PendingAction, granted: bool) -> dict[str, Any] | None:
    """A grant (revoke) is done when the latest indexed issuer-role change of the address in the
    region is a grant (revoke) mined after the action was written."""
    address = str(action.payload.get("issuer", "")).lower()
    row = conn.execute(
        text(
            "SELECT granted, tx_hash, block_timestamp FROM region_role_changes "
            "WHERE region = :r AND role_kind = :k AND LOWER(account) = :a "
            "ORDER BY block_number DESC, log_index DESC LIMIT 1"
        ),
        {"r": action.region, "k": ISSUER_ROLE_KIND, "a": address},
    ).first()
    if row is None or bool(row[0]) != granted or int(row[2]) < action.created_at - 300:
        return None
    return {"issuer": str(action.payload.get("issuer")), "tx_hash": str(row[1])}


CHECKERS["issuer.grant"] = lambda conn, action: _role_now(conn, action, True)
CHECKERS["issuer.revoke"] = lambda conn, action: _role_now(conn, action, False)
