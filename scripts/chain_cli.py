"""The commands of the root that move coins on chain: ``record``, ``revoke``, ``balance``,
``support`` and ``support-cancel``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.municipalities import jis_code
from scripts.cli_common import AsOption, JsonFlag, chain, emit, fail, guarded
from scripts.format_cli import RegionOption, region_code, region_text, table

chain_commands = typer.Typer()  # commands of the root, no group of their own

__all__ = ["chain_commands"]


@chain_commands.command("record")
def record(
    region: RegionOption,
    activity: Annotated[int, typer.Option(help="activity id")],
    participants: Annotated[list[str], typer.Argument(help="participant addresses")],
    first_claim_id: Annotated[int, typer.Option(help="claim id of the first record (then +1 each)")] = 1,
    units: Annotated[int, typer.Option(min=1, max=65_535, help="hours or days each record carries")] = 1,
    as_: AsOption = "relayer",
) -> None:
    """Record a batch of contributions (issuer) and mint the activity's reward (× units) to each participant."""
    from ledger.chain.client import RecordInput

    ctx = chain()
    batch = [RecordInput(p, activity, first_claim_id + i, units) for i, p in enumerate(participants)]
    result = guarded(lambda: ctx.client.record_batch(ctx.operator(as_), region, batch))
    typer.echo(
        f"batch {result.batch_seq}: {result.count} records, {result.minted} coins minted, "
        f"{result.gas_per_record:.0f} gas per record, tx {ctx.client.tx_hash(result.receipt)}"
    )


@chain_commands.command("revoke")
def revoke(
    activity: Annotated[int, typer.Option(help="activity id")],
    participant: Annotated[str, typer.Option(help="participant address")],
    reason: Annotated[int, typer.Option(help="1 error, 2 not present, 3 duplicate person, 4 request, 5 other")],
    note: Annotated[str, typer.Option(help="explanation kept off chain; its keccak256 goes on chain")] = "",
    as_: AsOption = "region-admin",
) -> None:
    """Revoke a record (region admin); history is kept."""
    from eth_utils.crypto import keccak

    from ledger.chain.client import ZERO_HASH

    ctx = chain()
    evidence = keccak(text=note) if note else ZERO_HASH
    event = guarded(lambda: ctx.client.revoke(ctx.operator(as_), activity, participant, reason, evidence))
    typer.echo(f"revoked: {event['clawedBack']} coins clawed back, {event['shortfall']} already spent")


@chain_commands.command("balance")
def balance(
    address: str,
    region: Annotated[
        list[int] | None,
        typer.Option(
            parser=region_code, metavar="CODE", help="region code (repeatable; default: every region of the ledger)"
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Coin balances of an address: spendable now, as stored, and what expires first (regions with expiry)."""
    from ledger.jst import date_of_epoch_day

    ctx = chain()

    def read() -> dict[str, dict[str, int | bool]]:
        codes = region or ctx.client.registered_regions(ctx.deployment.deploy_block)
        holdings = {code: ctx.client.holding(address, code) for code in codes}
        return {
            jis_code(code): {
                "spendable": h.spendable,
                "stored": h.stored,
                "expiring": h.expiring,
                "expires_after_day": h.expires_after_day,
                "recorded": h.recorded,
            }
            for code, h in holdings.items()
        }

    found = guarded(read)
    if as_json:
        emit(found, True)
        return
    rows = [
        (
            region_text(int(code)),
            f"{h['spendable']:,}",
            f"{h['stored']:,}",
            f"{h['expiring']:,}" if h["expires_after_day"] else "-",
            date_of_epoch_day(int(h["expires_after_day"])).isoformat() if h["expires_after_day"] else "-",
            "yes" if h["recorded"] else "no",
        )
        for code, h in found.items()
    ]
    if not rows:
        typer.echo("this ledger has no regions yet")
        return
    typer.echo(f"coins of {address} (days in JST)")
    typer.echo(
        table(
            ("region", "spendable", "stored", "expiring", "expires after", "ever recorded"),
            rows,
            (False, True, True, True, False, False),
        )
    )


KeystoreOption = Annotated[Path, typer.Option(help="the supporter's keystore file")]
PasswordEnvOption = Annotated[str, typer.Option(help="environment variable holding the keystore password")]
ValidMinutesOption = Annotated[int, typer.Option(help="signature lifetime")]


def _supporter(keystore: Path, password_env: str) -> Any:
    """The supporter's key from ``keystore``, its password in the environment variable ``password_env``."""
    import os

    from ledger.chain.accounts import load_keystore

    password = os.environ.get(password_env)
    if password is None:
        fail(f"set {password_env} to the keystore password")
    return guarded(lambda: load_keystore(keystore, password or ""))


@chain_commands.command("support")
def support(
    project: Annotated[int, typer.Option(help="project id")],
    amount: Annotated[int, typer.Option(help="coins to spend")],
    keystore: KeystoreOption,
    password_env: PasswordEnvOption = "SUPPORTER_PASSWORD",
    valid_minutes: ValidMinutesOption = 30,
    as_: AsOption = "relayer",
) -> None:
    """Sign a support request with the supporter's key and relay it (the supporter needs no ETH)."""
    from ledger.chain.signing import SupportRequest, sign_support

    ctx = chain()
    supporter = _supporter(keystore, password_env)
    client = ctx.client
    request = SupportRequest(
        supporter.address, project, amount, client.nonce(supporter.address), int(time.time()) + valid_minutes * 60
    )
    signature = sign_support(supporter, request, ctx.chain_id, client.address)
    receipt = guarded(lambda: client.support_by_sig(ctx.operator(as_), request, signature))
    typer.echo(f"{supporter.address} supported project {project} with {amount} coins; tx {client.tx_hash(receipt)}")


@chain_commands.command("support-cancel")
def support_cancel(
    keystore: KeystoreOption,
    password_env: PasswordEnvOption = "SUPPORTER_PASSWORD",
    valid_minutes: ValidMinutesOption = 30,
    as_: AsOption = "relayer",
) -> None:
    """Cancel a signed support that was not sent yet: the supporter signs the cancellation of their
    next nonce and the relayer submits it (a support signed with that nonce can never be used)."""
    from ledger.chain.signing import CancelRequest, sign_cancel

    ctx = chain()
    supporter = _supporter(keystore, password_env)
    client = ctx.client
    request = CancelRequest(supporter.address, client.nonce(supporter.address), int(time.time()) + valid_minutes * 60)
    signature = sign_cancel(supporter, request, ctx.chain_id, client.address)
    receipt = guarded(lambda: client.cancel_nonce_by_sig(ctx.operator(as_), request, signature))
    typer.echo(f"{supporter.address}: nonce {request.nonce} cancelled; tx {client.tx_hash(receipt)}")
