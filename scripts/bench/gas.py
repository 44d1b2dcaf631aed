"""Gas benchmark: what one contribution record costs on chain, against OpenZeppelin mints in the same run.

Everything runs on one fresh anvil (Prague, automine, no state file) that this module starts and stops.

**Our figures.** The product ledger is deployed from the committed artifacts (``contracts/build``) and
driven through :class:`ledger.chain.client.LedgerClient` exactly as the relayer does. A figure is the
``gasUsed`` of one ``recordBatch`` receipt divided by the number of records in it, so the 21,000 base
fee, the calldata, the issuer-role check, the batch-sequence write, the batch commitment and the
``BatchRecorded`` event are all included, amortised over the batch. Each record mints the reward and
enforces one record per person per activity on chain (docs/decisions/0001-storage-layout.md).

The region first gets **10,000 participants** (batches of 250 for an activity that then ends; two
days pass, so it no longer accepts records). Then, in batches of 100:

Every figure but the worst is the mean of two consecutive batches of 100 (two batches share one
commitment slot: one of them writes it new, the other updates it), so it is what a relayer pays per
record over time; ``record_gas_returning_random_parities`` shows the two; the worst case is the
dearer batch.

- ``record_gas_returning_random``: 100 of those 10,000 drawn at random (seeded), one activity.
- ``record_gas_first_time``: 100 participants never seen in the region, one activity.
- ``record_gas_mixed_5_activities`` / ``record_gas_first_time_mixed_5_activities``: the same two
  cases with the batch's records spread over 5 activities (20 each), as a relayer batch of a busy
  day looks; ``mixed_vs_one_activity`` is the returning ratio (target ≤ 1.2).
- ``record_gas_returning_by_hour``: returning participants of an activity rewarded per hour (3 h).
- ``record_gas_returning_expiry_region``: returning participants in a region whose coins expire
  (every record there takes the reference path, which also rolls the holding's coin period).
- ``record_gas_worst``: the most expensive record we can construct, bounded by the design: in a
  region whose coins expire, 100 returning participants who already hold records of three
  activities that are all still open (so each new record spills one entry to its own storage slot,
  with the spill check active), whose coins all lapse at this record (a ``CoinsExpired`` event each),
  every record for a different activity (each loads and writes its own activity slot).

``targets_met`` checks the issue's goals: returning-random ≤ 10,000, first-time ≤ 26,000, mixed
within 1.2× of the one-activity figures.

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

import random
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
from ledger.taxonomy import ContributionKind, RewardUnit

__all__ = ["run", "BATCH_SIZE", "RETURNING_TARGET", "FIRST_TIME_TARGET", "MIXED_RATIO_TARGET"]

BATCH_SIZE = 100
RETURNING_TARGET = 10_000  # gas per record, returning participant drawn at random, batch of 100
FIRST_TIME_TARGET = 26_000  # same, first-time participant
MIXED_RATIO_TARGET = 1.2  # a batch over 5 activities against one activity

REGION = 12205
EXPIRY_REGION = 12234  # coins expire after 30-day periods
EXPIRY_DAYS = 30
REWARD = 100
POPULATION = 10_000  # the region's participants before the measured batches
POPULATION_BATCH = 250
DAY = 86_400

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


def _record(
    client: LedgerClient, issuer: LocalAccount, region: int, records: Sequence[RecordInput], reward_total: int
) -> int:
    """Record ``records`` in one batch; returns the receipt's gasUsed."""
    result = client.record_batch(issuer, region, records)
    if result.count != len(records) or result.minted != reward_total:
        raise TransactionFailed(f"batch recorded {result.count} records minting {result.minted}, expected more")
    return int(result.receipt["gasUsed"])


class _Bench:
    """The bench region on one anvil, and a clock that can be moved forward."""

    def __init__(self, w3: Web3, devnet: AnvilDevnet) -> None:
        self.w3 = w3
        self.devnet = devnet
        admin, self.issuer, self.region_admin = dev_account(0), dev_account(1), dev_account(2)
        self.client = LedgerClient(w3, deploy_ledger(w3, admin).ledger, poll_s=0.02)
        for region in (REGION, EXPIRY_REGION):
            self.client.register_region(admin, region, f"Bench {region}", f"B{region}", self.region_admin.address)
            self.client.grant_issuer(self.region_admin, region, self.issuer.address)
        self.client.set_coin_expiry(self.region_admin, EXPIRY_REGION, EXPIRY_DAYS)
        self.claims = iter(range(1, 1 << 39))

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        self.devnet.set_next_block_timestamp(self.now() + seconds)
        self.devnet.mine()

    def activity(
        self, days: int = 30, unit: RewardUnit = RewardUnit.RECORD, max_units: int = 1, region: int = REGION
    ) -> int:
        now = self.now()
        spec = ActivitySpec(
            region=region,
            kind=ContributionKind.FARMING_EXPERIENCE,
            reward=REWARD,
            starts_at=now - 3600,
            ends_at=now + days * DAY,
            unit=unit,
            max_units=max_units,
        )
        return self.client.register_activity(self.region_admin, spec)

    def record(self, pairs: Sequence[tuple[str, int]], units: int = 1, region: int = REGION) -> float:
        """Record (participant, activity) pairs in one batch; gas per record."""
        records = [RecordInput(p, a, next(self.claims), units) for p, a in pairs]
        gas = _record(self.client, self.issuer, region, records, REWARD * units * len(records))
        return _per_record(gas, len(records))

    def record_two(self, pairs: Sequence[tuple[str, int]], units: int = 1, region: int = REGION) -> tuple[float, float]:
        """Record ``pairs`` as two consecutive batches (half each); gas per record of each.

        Two batches share one commitment slot, so one of any two consecutive batches writes a new
        slot (22,100) and the other updates it (5,000): a figure is the mean of the two (what a
        relayer pays per record over time), the worst case the dearer of the two."""
        half = len(pairs) // 2
        return self.record(pairs[:half], units, region), self.record(pairs[half:], units, region)


def _mean(pair: tuple[float, float]) -> float:
    return round((pair[0] + pair[1]) / 2, 1)


def _ledger_figures(w3: Web3, devnet: AnvilDevnet) -> dict[str, Any]:
    bench = _Bench(w3, devnet)
    rng = random.Random(2026)

    # The region's 10,000 participants, recorded for an activity that ends soon after.
    population = [_participant(i) for i in range(POPULATION)]
    past = bench.activity(days=0)
    for k in range(0, POPULATION, POPULATION_BATCH):
        bench.record([(p, past) for p in population[k : k + POPULATION_BATCH]])
    bench.advance(2 * DAY)  # past the activity's end and its recording grace

    two = 2 * BATCH_SIZE
    fresh = (_participant(POPULATION + i) for i in range(20 * BATCH_SIZE))
    festival = bench.activity()
    returning_random = bench.record_two([(p, festival) for p in rng.sample(population, two)])
    first_time = bench.record_two([(next(fresh), festival) for _ in range(two)])
    day = [bench.activity() for _ in range(5)]
    # 20 records of each activity in each batch of 100
    mixed = bench.record_two([(p, day[(i % 100) // 20]) for i, p in enumerate(rng.sample(population, two))])
    first_time_mixed = bench.record_two([(next(fresh), day[(i % 100) // 20]) for i in range(two)])
    volunteering = bench.activity(unit=RewardUnit.HOUR, max_units=8)
    by_hour = bench.record_two([(p, volunteering) for p in rng.sample(population, two)], units=3)

    # A region whose coins expire: its 200 participants return (their records take the reference path).
    expiring_people = [next(fresh) for _ in range(two)]
    first_visit, market = bench.activity(region=EXPIRY_REGION), bench.activity(region=EXPIRY_REGION)
    bench.record_two([(p, first_visit) for p in expiring_people], region=EXPIRY_REGION)
    returning_expiry = bench.record_two([(p, market) for p in expiring_people], region=EXPIRY_REGION)

    # The worst case: those people's holding words already carry three open activities, a fourth
    # record spilled one entry (the spill check is on); two coin periods pass, so all their coins lapse
    # at the next record; and each record is of a new activity (its own activity slot, a new spill).
    for activity in [bench.activity(days=200, region=EXPIRY_REGION) for _ in range(3)]:
        bench.record_two([(p, activity) for p in expiring_people], region=EXPIRY_REGION)
    bench.advance(2 * EXPIRY_DAYS * DAY)
    worst_pairs = [(p, bench.activity(days=200, region=EXPIRY_REGION)) for p in expiring_people]
    worst = bench.record_two(worst_pairs, region=EXPIRY_REGION)

    region = bench.client.region_info(REGION)
    expected = POPULATION + 2 * two
    if region.participant_count != expected:
        raise TransactionFailed(f"region has {region.participant_count} participants, expected {expected}")
    lapsed = bench.client.region_info(EXPIRY_REGION).expired
    if lapsed != 5 * REWARD * two:
        raise TransactionFailed(f"the worst case lapsed {lapsed} coins, expected {5 * REWARD * two}")
    return {
        "population": POPULATION,
        "record_gas_returning_random": _mean(returning_random),
        "record_gas_first_time": _mean(first_time),
        "record_gas_mixed_5_activities": _mean(mixed),
        "record_gas_first_time_mixed_5_activities": _mean(first_time_mixed),
        "record_gas_returning_by_hour": _mean(by_hour),
        "record_gas_returning_expiry_region": _mean(returning_expiry),
        "record_gas_worst": max(worst),
        # the two batch parities of the headline case: a new commitment slot, or an update of it
        "record_gas_returning_random_parities": sorted(returning_random),
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
        ours = _ledger_figures(w3, devnet)
        oz = _oz_baselines(w3, dev_account(0), wrappers)
    finally:
        devnet.close()

    returning = float(ours["record_gas_returning_random"])
    first_time = float(ours["record_gas_first_time"])
    mixed_ratio = float(ours["record_gas_mixed_5_activities"]) / returning
    first_time_mixed_ratio = float(ours["record_gas_first_time_mixed_5_activities"]) / first_time
    return {
        "bench": "gas",
        "batch_size": BATCH_SIZE,
        **ours,
        "mixed_vs_one_activity": round(mixed_ratio, 3),
        "first_time_mixed_vs_one_activity": round(first_time_mixed_ratio, 3),
        **oz,
        "returning_vs_erc1155_existing": round(returning / oz["oz_erc1155_mint_existing"], 3),
        "first_time_vs_erc1155_new": round(first_time / oz["oz_erc1155_mint_new"], 3),
        "returning_target": RETURNING_TARGET,
        "first_time_target": FIRST_TIME_TARGET,
        "mixed_ratio_target": MIXED_RATIO_TARGET,
        "targets_met": returning <= RETURNING_TARGET
        and first_time <= FIRST_TIME_TARGET
        and mixed_ratio <= MIXED_RATIO_TARGET
        and first_time_mixed_ratio <= MIXED_RATIO_TARGET,
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
