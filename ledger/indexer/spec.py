"""What to index: which contracts, which of their events, from which block.

The spec is data, not code: the runner reads it, the decoder pre-parses the ABIs it names, and the
handlers (``ledger.indexer.handlers``) are looked up by ``"Contract:Event"``. A test checks that
every event of every indexed ABI has a handler and is documented in ``docs/events.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.chain.artifacts import load_artifact
from ledger.chain.deploy import Deployment

__all__ = ["IndexedContract", "IndexSpec", "spec_for_deployment"]


@dataclass(frozen=True)
class IndexedContract:
    """One contract to index."""

    name: str  # the artifact name, also the "Contract" part of handler keys
    address: str  # lowercase hex
    start_block: int
    abi: tuple[dict[str, Any], ...]

    def events(self) -> list[dict[str, Any]]:
        return [item for item in self.abi if item["type"] == "event"]


@dataclass(frozen=True)
class IndexSpec:
    """Everything the runner needs to know about what to index on one chain."""

    chain_id: int
    contracts: tuple[IndexedContract, ...]

    @property
    def start_block(self) -> int:
        return min(c.start_block for c in self.contracts)

    @property
    def addresses(self) -> list[str]:
        return [c.address for c in self.contracts]


def spec_for_deployment(deployment: Deployment) -> IndexSpec:
    """The ledger of ``deployment``, from the block it was deployed in.

    The per-region ``RegionCoin`` contracts are not indexed separately: every balance change they
    cause is also a ledger event (``CoinTransferred``), so the ledger's log stream is complete.
    """
    ledger = IndexedContract(
        name="TsunagariLedger",
        address=deployment.ledger.lower(),
        start_block=deployment.deploy_block,
        abi=tuple(load_artifact("TsunagariLedger").abi),
    )
    return IndexSpec(chain_id=deployment.chain_id, contracts=(ledger,))
