"""Replacing the relayer's key without losing or doubling a claim.

A relayer key is an issuer in every region it records for; batches are numbered per (issuer,
region) on chain, and the outbox keeps each batch under the key that sent it. So a rotation is:

1. **Grant** (:func:`grant_new_key`): each region's admin grants the issuer role to the new key
   (here with the server's ``region-admin`` key where it is that region's admin; any other region is
   listed with the command its own admin runs). The new key must hold gas money first.
2. **Drain** (:func:`drain_old_key`): stop the relayer(s) running with the old key (SIGTERM), then
   drain: under the old key's lease, settle every batch the old key has in flight until each is
   ``confirmed`` or ``failed`` (a failed batch's claims return to the outbox), taking no new work.
   Claims keep arriving into the outbox meanwhile; they wait (seconds).
3. **Switch**: start the relayer with ``relay.key`` set to the new key's name. It takes the
   accepted claims, numbering its batches from its own sequence per region.
4. **Revoke** (:func:`revoke_old_key`): each region's admin revokes the old key, refused while the
   old key still has a batch that is not confirmed (so nothing it sent is left without a sender).

On a chain without instant finality, a confirmed batch of the old key could still leave the chain
in a reorg deeper than ``chain.confirmations``; wait that long before revoking (docs/operations.md).
``tsunagari relay rotate-key`` runs 1, 2 and 4 in order, with the switch in between left to the
operator's process manager.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine

from ledger.chain.context import ChainContext
from ledger.errors import ConfigError, TsunagariError
from ledger.relay.outbox import OPEN, BatchStatus, Outbox
from ledger.settings import Settings

__all__ = ["RotationStep", "drain_old_key", "grant_new_key", "revoke_old_key"]

log = logging.getLogger("ledger.relay.rotation")


@dataclass
class RotationStep:
    """What one step did, region by region."""

    done: list[int] = field(default_factory=list)  # regions changed now
    already: list[int] = field(default_factory=list)  # regions already as wanted
    others: list[int] = field(default_factory=list)  # regions whose admin is not this server's key


class RotationBlocked(TsunagariError):
    """A rotation step cannot go on yet (the reason says what to do)."""


def _issuer_regions(ctx: ChainContext, account: str) -> list[int]:
    client = ctx.client
    return [r for r in client.registered_regions() if client.is_issuer(r, account)]


def grant_new_key(ctx: ChainContext, admin: LocalAccount, old: str, new: str) -> RotationStep:
    """The issuer role for ``new`` in every region where ``old`` has it."""
    client = ctx.client
    if int(ctx.w3.eth.get_balance(client.w3.to_checksum_address(new))) == 0:
        raise ConfigError(f"the new relayer key {new} holds no gas money: fund it first")
    step = RotationStep()
    for region in _issuer_regions(ctx, old):
        if client.is_issuer(region, new):
            step.already.append(region)
        elif client.is_region_admin(region, admin.address):
            client.grant_issuer(admin, region, new)
            step.done.append(region)
        else:
            step.others.append(region)
    return step


def drain_old_key(settings: Settings, engine: Engine, ctx: ChainContext, *, timeout_s: float = 600.0) -> int:
    """Settle every batch the relayer key of ``settings`` has in flight, taking no new work; returns
    how many batches were open. Waits for the key's lease (a relayer still running with it)."""
    from ledger.relay.relayer import Relayer

    relayer = Relayer(settings, engine, ctx)
    outbox = Outbox(engine)
    deadline = time.monotonic() + timeout_s
    waiting = [BatchStatus.BUILT, BatchStatus.SENT, BatchStatus.MINED]
    opened = len(outbox.batches(relayer.issuer, waiting))
    try:
        while True:
            if time.monotonic() > deadline:
                left = len(outbox.batches(relayer.issuer, waiting))
                raise RotationBlocked(f"{left} batches of {relayer.issuer} still open after {timeout_s:.0f} s")
            if not relayer.hold_lease():
                time.sleep(relayer.relay.lease_s / 3)  # a relayer with the old key still runs: stop it
                continue
            relayer.settle_only()
            if not outbox.batches(relayer.issuer, waiting) and not relayer.deck.flights:
                return opened
            time.sleep(relayer.relay.poll_interval_s)
    finally:
        if relayer.active:
            relayer.lease.release()


def revoke_old_key(ctx: ChainContext, engine: Engine, admin: LocalAccount, old: str) -> RotationStep:
    """Revoke ``old`` as issuer in every region (refused while it has a batch not yet confirmed)."""
    open_batches = Outbox(engine).batches(old.lower(), [*OPEN, BatchStatus.MINED])
    if open_batches:
        raise RotationBlocked(
            f"{len(open_batches)} batches of {old} are not confirmed yet: drain the old key first "
            "(tsunagari relay rotate-key runs the drain)"
        )
    client = ctx.client
    step = RotationStep()
    for region in _issuer_regions(ctx, old):
        if client.is_region_admin(region, admin.address):
            client.revoke_issuer(admin, region, old)
            step.done.append(region)
        else:
            step.others.append(region)
    return step
