"""Gas benchmark: what one contribution record costs on chain, against OpenZeppelin mints in the same run.

Everything runs on one fresh anvil (Prague, automine, no state file) that this module starts and stops.

**Our figures.** The product ledger is deployed from the committed artifacts (``contracts/build``) and
driven through :class:`ledger.chain.client.LedgerClient` exactly as the relayer does. A figure is the
``gasUsed`` of one ``recordBatch`` receipt divided by the number of records in it, so the 21,000 base
fee, the calldata, the issuer-role check, the batch-sequence write and the ``BatchRecorded`` event are
all included, amortised over the batch. Each record mints the reward (balance and record count live
in one packed ``(participant, region)`` slot) and enforces one record per person per activity.

- ``record_gas_first_time``: 100 participants never seen in the region (each gets a new holding slot
  and a participant index).
- ``record_gas_returning``: the same 100 participants, recorded for a second activity.
- ``record_gas_returning_scattered``: 100 returning participants whose indexes are ~25 apart.
  One-per-person is a bitmap per activity keyed by participant index (256 indexes a storage word).
  The first bit set in a word pays for a new slot (22,100 gas), later bits in the same word in the
  same transaction are almost free. Participants who joined the region together (adjacent indexes)
  share words; a batch of people who joined at different times touches more words and costs more.
  Here 100 records touch ~11 words instead of 1: this is the honest returning figure for a busy
  region, and ``record_gas_returning`` is the best case.
- ``record_gas_first_time_batch_128``: mean over the 20 batches of 128 new participants that set up
  the scattered case.
- ``record_gas_batch_200_returning``: 200 returning participants with adjacent indexes in one batch.

``targets_met`` checks the two BRIEF section 5 goals (first-time and returning, batch of 100); the
scattered case is reported, not gated.

**Baselines.** ``scripts/bench/solidity/OzMintWrappers.sol`` (OpenZeppelin 5.x ERC-1155, ERC-20 and
ERC-721 with an unrestricted public ``mint``) is compiled here, at run time, through
:mod:`ledger.chain.compiler` with the product's :data:`~ledger.chain.compiler.COMPILER_SETTINGS`
(same solc, optimizer runs, EVM version, via-IR). Each figure is the ``gasUsed`` of one mint
transaction, which also carries the 21,000 base fee: one mint per transaction is how these tokens
are issued one contribution at a time. "new" is a holder without a balance (for ERC-20, once the
total supply is already non-zero; the very first mint, which also creates the supply slot, is
reported as ``oz_erc20_mint_first_ever``); "existing" is a holder that already has one. The ERC-721
wrapper is bare ``_mint``: a POAP-style token that also stores an event id per token pays one more
new slot (~22,100) per mint than ``oz_erc721_mint``.

Run standalone: ``python -c "import json; from scripts.bench.gas import run; print(json.dumps(run()))"``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract

from ledger.chain.accounts import dev_account
from ledger.chain.artifacts import load_artifact
from ledger.chain.client import ActivitySpec, LedgerClient, RecordInput, checksum, send_transaction
from ledger.chain.compiler import COMPILER_SETTINGS, compile_standard_json, standard_json_input
from ledger.chain.deploy import deploy_ledger
from ledger.chain.devnet import AnvilDevnet, anvil_binary
from ledger.errors import ConfigError, TransactionFailed
from ledger.taxonomy import ContributionKind

__all__ = ["run", "BATCH_SIZE", "RETURNING_TARGET", "FIRST_TIME_TARGET"]

BATCH_SIZE = 100
RETURNING_TARGET = 10_000  # BRIEF section 5: gas per record, returning participant, batch of 100
FIRST_TIME_TARGET = 30_000  # same, first-time participant

REGION = 12205
REWARD = 100
SCATTER_BATCHES = 20  # 20 x 128 = 2,560 new participants: indexes spread over ~10 bitmap words
SCATTER_BATCH_SIZE = 128
SCATTER_STRIDE = 25  # every 25th of them: 100 returning records, ~10 per bitmap word
LARGE_BATCH = 200

_SOLIDITY_DIR = Path(__file__).resolve().parent / "solidity"
_WRAPPERS_UNIT = "OzMintWrappers.sol"


def _participant(n: int) -> ChecksumAddress:
    """Deterministic fresh address number ``n`` (the last 20 bytes of a keccak)."""
    return checksum("0x" + keccak(b"tsunagari-bench-gas:" + n.to_bytes(8, "big"))[-20:].hex())


def _per_record(receipt_gas: int, count: int) -> float:
    return round(receipt_gas / count, 1)


def _compile_wrappers() -> tuple[str, dict[str, dict[str, Any]]]:
    """Compile the OZ wrappers; returns the solc version and ``{contract: {abi, bytecode}}``."""
    standard_input = standard_json_input([_WRAPPERS_UNIT], root=_SOLIDITY_DIR, settings=COMPILER_SETTINGS)
    result = compile_standard_json(standard_input)
    contracts: dict[str, dict[str, Any]] = {}
    for name, data in result.output["contracts"][_WRAPPERS_UNIT].items():
        contracts[name] = {"abi": data["abi"], "bytecode": "0x" + data["evm"]["bytecode"]["object"]}
    return result.solc_version, contracts


def _deploy(w3: Web3, deployer: LocalAccount, abi: list[dict[str, Any]], bytecode: str) -> Contract:
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    tx = factory.constructor().build_transaction(
        {"from": deployer.address, "nonce": w3.eth.get_transaction_count(deployer.address, "pending")}
    )
    signed = deployer.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
    address = receipt["contractAddress"]
    if receipt["status"] != 1 or address is None:
        raise TransactionFailed(f"deploying a benchmark baseline failed in block {receipt['blockNumber']}")
    contract: Contract = w3.eth.contract(address=checksum(str(address)), abi=abi)
    return contract


def _oz_baselines(w3: Web3, sender: LocalAccount, wrappers: dict[str, dict[str, Any]]) -> dict[str, int]:
    """gasUsed of single mint transactions on the OpenZeppelin wrappers."""
    a, b = _participant(900_000), _participant(900_001)

    def gas(contract: Contract, fn: str, *args: object) -> int:
        receipt = send_transaction(w3, sender, contract.functions[fn](*args))
        return int(receipt["gasUsed"])

    erc1155 = _deploy(w3, sender, **wrappers["BenchERC1155"])
    erc20 = _deploy(w3, sender, **wrappers["BenchERC20"])
    erc721 = _deploy(w3, sender, **wrappers["BenchERC721"])

    # Each token gets a first mint to holder a, then "new" is measured on holder b and "existing" on a.
    # (Base ERC-1155 and ERC-721 keep no supply slot, so their first mint costs what any new holder's does.)
    gas(erc1155, "mint", a, 1, REWARD)
    erc1155_new = gas(erc1155, "mint", b, 1, REWARD)
    erc1155_existing = gas(erc1155, "mint", a, 1, REWARD)

    erc20_first_ever = gas(erc20, "mint", a, REWARD)  # also creates the total-supply slot
    erc20_new = gas(erc20, "mint", b, REWARD)
    erc20_existing = gas(erc20, "mint", a, REWARD)

    gas(erc721, "mint", a, 1)
    erc721_new_holder = gas(erc721, "mint", b, 2)
    erc721_existing_holder = gas(erc721, "mint", a, 3)

    return {
        "oz_erc1155_mint_new": erc1155_new,
        "oz_erc1155_mint_existing": erc1155_existing,
        "oz_erc20_mint_new": erc20_new,
        "oz_erc20_mint_existing": erc20_existing,
        "oz_erc20_mint_first_ever": erc20_first_ever,
        "oz_erc721_mint": erc721_new_holder,
        "oz_erc721_mint_existing_holder": erc721_existing_holder,
    }


def _record(client: LedgerClient, issuer: LocalAccount, activity: int, people: Sequence[str], claim0: int) -> int:
    """Record ``people`` for ``activity`` in one batch; returns the receipt's gasUsed."""
    records = [RecordInput(participant=p, activity_id=activity, claim_id=claim0 + i) for i, p in enumerate(people)]
    result = client.record_batch(issuer, REGION, records)
    if result.count != len(people) or result.minted != REWARD * len(people):
        raise TransactionFailed(f"batch recorded {result.count} records minting {result.minted}, expected more")
    return int(result.receipt["gasUsed"])


def _ledger_figures(w3: Web3) -> dict[str, float | int]:
    admin, issuer, region_admin = dev_account(0), dev_account(1), dev_account(2)
    client = LedgerClient(w3, deploy_ledger(w3, admin).ledger, poll_s=0.02)
    client.register_region(admin, REGION, f"Bench {REGION}", f"B{REGION}", region_admin.address)
    client.grant_issuer(region_admin, REGION, issuer.address)
    now = int(w3.eth.get_block("latest")["timestamp"])

    def activity() -> int:
        spec = ActivitySpec(
            region=REGION,
            kind=ContributionKind.FARMING_EXPERIENCE,
            reward=REWARD,
            starts_at=now - 3600,
            ends_at=now + 30 * 86_400,
            capacity=0,
        )
        return client.register_activity(region_admin, spec)

    claims = iter(range(1, 1 << 40, 1 << 16))  # distinct claim-id ranges per batch

    # 100 fresh participants (indexes 1..100), then the same 100 again.
    first = [_participant(i) for i in range(BATCH_SIZE)]
    first_time = _record(client, issuer, activity(), first, next(claims))
    returning = _record(client, issuer, activity(), first, next(claims))

    # 2,560 more fresh participants (indexes 101..2,660) in batches of 128 ...
    crowd = [_participant(BATCH_SIZE + i) for i in range(SCATTER_BATCHES * SCATTER_BATCH_SIZE)]
    crowd_activity = activity()
    crowd_gas = [
        _record(client, issuer, crowd_activity, crowd[k : k + SCATTER_BATCH_SIZE], next(claims))
        for k in range(0, len(crowd), SCATTER_BATCH_SIZE)
    ]
    # ... of whom every 25th returns: 100 records whose indexes are ~25 apart.
    scattered = crowd[::SCATTER_STRIDE][:BATCH_SIZE]
    scattered_words = len({client.holding(p, REGION).index >> 8 for p in scattered})
    returning_scattered = _record(client, issuer, activity(), scattered, next(claims))
    # 200 returning participants with adjacent indexes in one batch.
    batch_200 = _record(client, issuer, activity(), crowd[:LARGE_BATCH], next(claims))

    region = client.region_info(REGION)
    expected = BATCH_SIZE + len(crowd)
    if region.participant_count != expected:
        raise TransactionFailed(f"region has {region.participant_count} participants, expected {expected}")

    return {
        "record_gas_first_time": _per_record(first_time, BATCH_SIZE),
        "record_gas_returning": _per_record(returning, BATCH_SIZE),
        "record_gas_returning_scattered": _per_record(returning_scattered, len(scattered)),
        "scattered_index_stride": SCATTER_STRIDE,
        "scattered_bitmap_words": scattered_words,
        "record_gas_first_time_batch_128": _per_record(sum(crowd_gas), len(crowd)),
        "record_gas_batch_200_returning": _per_record(batch_200, LARGE_BATCH),
    }


def _anvil_version() -> str:
    try:
        cmd = [str(anvil_binary()), "--version"]
        out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError, ConfigError):
        return "unknown"
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


def run() -> dict[str, object]:
    """Measure on a fresh anvil; returns one flat JSON-able dict (see the module docstring)."""
    started = time.monotonic()
    solc_version, wrappers = _compile_wrappers()
    devnet = AnvilDevnet()
    try:
        devnet.start()
        w3 = devnet.w3
        ours = _ledger_figures(w3)
        oz = _oz_baselines(w3, dev_account(0), wrappers)
    finally:
        devnet.close()

    first_time = float(ours["record_gas_first_time"])
    returning = float(ours["record_gas_returning"])
    scattered = float(ours["record_gas_returning_scattered"])
    return {
        "bench": "gas",
        "batch_size": BATCH_SIZE,
        **ours,
        **oz,
        "returning_vs_erc1155_existing": round(returning / oz["oz_erc1155_mint_existing"], 3),
        "returning_scattered_vs_erc1155_existing": round(scattered / oz["oz_erc1155_mint_existing"], 3),
        "first_time_vs_erc1155_new": round(first_time / oz["oz_erc1155_mint_new"], 3),
        "returning_target": RETURNING_TARGET,
        "first_time_target": FIRST_TIME_TARGET,
        "targets_met": returning <= RETURNING_TARGET and first_time <= FIRST_TIME_TARGET,
        "solc": solc_version,
        "ledger_artifact_solc": load_artifact("TsunagariLedger").solc_version,
        "optimizer_runs": COMPILER_SETTINGS["optimizer"]["runs"],
        "evm_version": COMPILER_SETTINGS["evmVersion"],
        "via_ir": COMPILER_SETTINGS["viaIR"],
        "anvil": _anvil_version(),
        "elapsed_s": round(time.monotonic() - started, 1),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run()))
