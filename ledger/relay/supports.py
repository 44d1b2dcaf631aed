"""Signed supports (応援) into ``supportBySig`` transactions, one each.

The relayer takes each accepted support (by supporter and nonce, one supporter at a time), checks
the supporter's signed nonce against the chain's (``nonces(supporter)``) and simulates the call
before writing or signing anything. What the simulation refuses is decided by the chain's error:

- a paused region or ledger: the support waits;
- ``InsufficientBalance`` while the supporter still has claims of the region on the way: it waits
  for their coins;
- a nonce above the chain's while an earlier signature of the supporter is queued: it waits for
  that one; otherwise ``nonce_gap`` (the earlier signature was never relayed);
- a nonce already used: the signature may already be on chain (anyone can submit a signed
  support; the relayer looks for the transaction that used it) — landed if so, else
  ``nonce_already_used``, or ``nonce_cancelled`` when the supporter cancelled that nonce
  (``cancelNonce``/``cancelNonceBySig``) before it was relayed;
- anything else: ``rejected`` with the error's code.

A support that passes is written as a batch row (``kind = 'support'``) and sent like a record
batch; the supporter's nonce makes it idempotent (a signature is usable once).
"""

from __future__ import annotations

import logging

from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from ledger.chain.client import LedgerClient
from ledger.errors import ContractError, InsufficientBalance, NonceAlreadyUsed, Paused, RegionPaused, error_code
from ledger.relay.evidence import ChainEvidence
from ledger.relay.flights import FlightDeck, failpoint
from ledger.relay.holds import HOLD_PAUSED_S, HOLD_SHORT_S, Holds
from ledger.relay.outbox import BatchKind, ClaimStatus, Moved, Outbox, SupportRow
from ledger.relay.reconciliation import Reconciler
from ledger.relay.sender import TxSender

__all__ = ["SupportRelay"]

log = logging.getLogger("ledger.relay")

_RETRY_LATER = (RegionPaused, Paused)


class SupportRelay:
    """Relays accepted supports."""

    def __init__(
        self,
        outbox: Outbox,
        deck: FlightDeck,
        sender: TxSender,
        client: LedgerClient,
        evidence: ChainEvidence,
        reconciler: Reconciler,
    ) -> None:
        self.outbox = outbox
        self.deck = deck
        self.sender = sender
        self.client = client
        self.evidence = evidence
        self.reconciler = reconciler
        self.issuer = deck.issuer
        self.holds = Holds()

    def relay_all(self) -> bool:
        """Send what can go now; True when something changed."""
        if self.deck.slots() <= 0:
            return False
        busy: set[str] = set()
        progressed = False
        for row in self.outbox.open_supports():
            if row.status is ClaimStatus.SUBMITTED:
                busy.add(row.supporter)
                continue
            if self.deck.slots() <= 0:
                break
            if row.supporter in busy or self.holds.held("support", row.id):
                continue
            busy.add(row.supporter)
            progressed |= self._relay(row)
        return progressed

    def _call(self, row: SupportRow) -> str:
        args = [
            to_checksum_address(row.supporter),
            row.project_id,
            row.amount,
            row.nonce,
            row.deadline,
            HexBytes(row.signature),
        ]
        return str(self.client.contract.encode_abi("supportBySig", args=args))

    def _relay(self, row: SupportRow) -> bool:
        data = self._call(row)
        try:
            gas = self.sender.estimate_gas(data)  # reverts like eth_call would, with the typed error
        except ContractError as err:
            return self._refused(row, err)
        try:
            batch_id = self.outbox.take_for_support_batch(row, self.issuer)
        except Moved:
            return False
        failpoint("after_build")
        self.deck.launch(batch_id, BatchKind.SUPPORT, row.region, data, gas, support_id=row.id)
        return True

    def _refused(self, row: SupportRow, err: ContractError) -> bool:
        if isinstance(err, _RETRY_LATER):
            log.warning("support %d waits: %s", row.id, err)
            self.holds.hold("support", row.id, HOLD_PAUSED_S)
            return False
        code = error_code(err)
        if isinstance(err, NonceAlreadyUsed):
            current = int(err.args_by_name.get("currentNonce", 0))
            if current < row.nonce:
                if self.outbox.earlier_support_pending(row.supporter, current, row.nonce):
                    self.holds.hold("support", row.id, HOLD_SHORT_S)
                    return False
                code = "nonce_gap"  # an earlier signature of this supporter was never relayed
            else:
                found = self.evidence.support_landing(row)
                if found is not None:  # the signature is on chain already (submitted by someone)
                    try:
                        batch_id = self.outbox.take_for_support_batch(row, self.issuer)
                    except Moved:
                        return False
                    landing = self.reconciler.land_support(batch_id, found)
                    log.info("support %d was already on chain in tx %s", row.id, landing.tx_hash)
                    return True
                if self.evidence.nonce_cancelled(row):
                    code = "nonce_cancelled"  # the supporter withdrew this signature before it was sent
        if isinstance(err, InsufficientBalance) and self.outbox.claims_pending_for(row.supporter, row.region):
            log.info("support %d waits for the supporter's claims to be recorded", row.id)
            self.holds.hold("support", row.id, HOLD_SHORT_S)
            return False
        self.outbox.reject_support(row.id, code, str(err))
        log.info("support %d rejected: %s", row.id, err)
        return True
