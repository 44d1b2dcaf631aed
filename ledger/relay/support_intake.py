"""Intake of signed supports (応援): check a participant's EIP-712 ``Support`` signature and queue it.

A request is accepted (a ``support_requests`` row with status ``accepted``) only when the chain
would take it now, as far as can be checked without sending it: a valid address, a signature that
recovers to that address for this chain and ledger, an existing open project, an amount above
zero, a deadline in the future and the supporter's next unused nonce. The relayer then submits it
with ``supportBySig`` and records the outcome on the same row.
"""

from __future__ import annotations

import logging
import time

from eth_utils.address import is_address, to_checksum_address
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from web3.exceptions import Web3RPCError

from ledger.chain.client import LedgerClient
from ledger.chain.signing import SupportRequest, recover_support
from ledger.db.engine import write_transaction
from ledger.errors import ChainUnavailable, TsunagariError
from ledger.relay.outbox import SupportRow, insert_support, queued_supports, support_row

__all__ = ["SupportRefused", "accept_support", "support_status", "next_support_nonce", "MAX_UINT64"]

log = logging.getLogger("ledger.relay")

MAX_UINT64 = (1 << 64) - 1


class SupportRefused(TsunagariError):
    """The request cannot be relayed; ``code`` is stable (its HTTP status is given in ``api/errors.py``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def support_status(engine: Engine, support_id: int) -> SupportRow | None:
    """A support request and what became of it."""
    with engine.connect() as conn:
        return support_row(conn, support_id)


def _signature_bytes(signature: str) -> bytes:
    value = signature.removeprefix("0x")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise SupportRefused("invalid_signature", "the signature is not hex") from None
    if len(raw) != 65:
        raise SupportRefused("invalid_signature", f"a signature is 65 bytes, not {len(raw)}")
    return raw


def _project(engine: Engine, client: LedgerClient, project_id: int) -> tuple[int, bool]:
    """(region, closed) of the project, from the chain; from the indexed ``projects`` view if the node is down."""
    try:
        info = client.project(project_id)
        return info.region, info.closed
    except (OSError, Web3RPCError, ChainUnavailable) as exc:
        log.warning("project %d: the node did not answer (%s); using the index", project_id, exc)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT region, closed FROM projects WHERE chain_id = :c AND project_id = :p"),
            {"c": client.chain_id, "p": project_id},
        ).first()
    if row is None:
        raise ChainUnavailable("the chain node is unavailable and the project is not indexed")
    return int(row[0]), bool(row[1])


def accept_support(
    engine: Engine,
    client: LedgerClient,
    *,
    supporter: str,
    project_id: int,
    amount: int,
    nonce: int,
    deadline: int,
    signature: str,
    now: int | None = None,
) -> SupportRow:
    """Validate a signed support and queue it for the relayer; :class:`SupportRefused` says why not."""
    accepted_ms = int(time.time() * 1000) if now is None else now * 1000  # the seed passes its simulated moment
    now = int(time.time()) if now is None else now
    if not isinstance(supporter, str) or not is_address(supporter):
        raise SupportRefused("invalid_address", f"{supporter!r} is not an Ethereum address")
    if not 0 < amount <= MAX_UINT64:
        raise SupportRefused("invalid_amount", "the amount must be a positive whole number of coins")
    if not 0 < project_id <= MAX_UINT64:
        raise SupportRefused("unknown_project", f"project {project_id} does not exist")
    if not 0 <= nonce <= MAX_UINT64 or not 0 <= deadline <= MAX_UINT64:
        raise SupportRefused("invalid", "nonce and deadline must be unsigned integers")
    if deadline <= now:
        raise SupportRefused("signature_expired", f"the signature expired at {deadline} (now {now})")
    raw = _signature_bytes(signature)
    request = SupportRequest(to_checksum_address(supporter), project_id, amount, nonce, deadline)
    try:
        signer = recover_support(request, raw, client.chain_id, client.address)
    except Exception:  # noqa: BLE001 - any malformed signature is the same answer
        signer = ""
    if signer.lower() != supporter.lower():
        raise SupportRefused(
            "invalid_signature", f"the signature is not {request.supporter}'s for this support, chain and ledger"
        )
    region, closed = _project(engine, client, project_id)
    if region == 0:
        raise SupportRefused("unknown_project", f"project {project_id} does not exist")
    if closed:
        raise SupportRefused("project_closed", f"project {project_id} is closed")
    address = supporter.lower()
    try:
        chain_nonce: int | None = client.nonce(request.supporter)
    except (OSError, Web3RPCError) as exc:
        log.warning("nonce of %s: the node did not answer (%s); the relayer will check it", address, exc)
        chain_nonce = None
    try:
        with write_transaction(engine) as conn:
            if chain_nonce is not None:
                if nonce < chain_nonce:
                    raise SupportRefused("nonce_used", f"nonce {nonce} is used; the next one is {chain_nonce}")
                queued = queued_supports(conn, address, chain_nonce)
                if nonce > chain_nonce + queued:
                    raise SupportRefused(
                        "nonce_gap", f"nonce {nonce} skips ahead; the next one is {chain_nonce + queued}"
                    )
            return insert_support(
                conn,
                supporter=address,
                project_id=project_id,
                region=region,
                amount=amount,
                nonce=nonce,
                deadline=deadline,
                signature="0x" + raw.hex(),
                now_ms=accepted_ms,
            )
    except IntegrityError:
        message = f"a support with nonce {nonce} of {address} is already queued"
        raise SupportRefused("nonce_used", message) from None


def next_support_nonce(engine: Engine, client: LedgerClient, supporter: str) -> int:
    """The nonce the supporter's next signature must use: the chain's, past those already queued."""
    chain_nonce = client.nonce(to_checksum_address(supporter))
    with engine.connect() as conn:
        return chain_nonce + queued_supports(conn, supporter, chain_nonce)
