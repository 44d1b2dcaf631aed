"""What to index: which contracts, which of their events, from which block.

The spec is data, not code: the runner reads it, the decoder pre-parses the ABIs it names, and the
handlers (``ledger.indexer.handlers``) are looked up by ``"Contract:Event"``. A test checks that
every event of every indexed ABI has a handler and is documented in ``docs/events.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger.chain.artifacts import load_artifact
from ledger.chain.decoding import ContractAbi

if TYPE_CHECKING:
    from ledger.chain.deploy import Deployment

__all__ = ["IndexedContract", "IndexSpec", "spec_for_deployment"]


@dataclass(frozen=True)
class IndexedContract(ContractAbi):
    """One contract to index (its name is the artifact name, the "Contract" part of handler keys)."""

    start_block: int = 0


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
