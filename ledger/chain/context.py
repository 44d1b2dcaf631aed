"""Opening the configured chain: a connected Web3, its chain id, the deployment and the operators.

This is the one place that turns :class:`ledger.settings.Settings` into live chain objects, so the
CLI, the API and the background workers all connect the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger.chain.accounts import operator_account
from ledger.chain.client import LedgerClient
from ledger.chain.deploy import Deployment, load_deployment
from ledger.chain.devnet import PyEvmDevnet, connect_rpc
from ledger.errors import ChainUnavailable, ConfigError
from ledger.settings import Settings

__all__ = ["ChainContext", "open_chain"]


@dataclass
class ChainContext:
    """A connected chain and what we know about it."""

    settings: Settings
    w3: Web3
    chain_id: int
    devnet: PyEvmDevnet | None = None  # set for the in-process backend

    def operator(self, name: str) -> LocalAccount:
        """The key of operator ``name`` (platform-admin, relayer, region-admin)."""
        return operator_account(name, self.chain_id, self.settings.chain)

    def use_deployment(self, deployment: Deployment) -> None:
        """Switch to ``deployment`` (after deploying in this process)."""
        self.__dict__["deployment"] = deployment
        self.__dict__.pop("client", None)

    @cached_property
    def deployment(self) -> Deployment:
        return load_deployment(self.settings.chain.deployments_dir, self.chain_id)

    @cached_property
    def client(self) -> LedgerClient:
        return LedgerClient(
            self.w3,
            self.deployment.ledger,
            poll_s=self.settings.chain.poll_interval_s,
            timeout_s=max(self.settings.chain.request_timeout_s * 12, 60.0),
        )


def open_chain(settings: Settings) -> ChainContext:
    """Connect as configured; :class:`ChainUnavailable` when the node does not answer."""
    chain = settings.chain
    devnet: PyEvmDevnet | None = None
    if chain.backend == "pyevm":
        devnet = PyEvmDevnet(accounts=settings.devnet.accounts)
        w3 = devnet.w3
    else:
        w3 = connect_rpc(chain.rpc_url, chain.request_timeout_s)
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:
        raise ChainUnavailable(f"cannot reach the chain node at {chain.rpc_url}: {exc}") from exc
    if chain.expected_chain_id is not None and chain_id != chain.expected_chain_id:
        raise ConfigError(
            f"{chain.rpc_url} is chain {chain_id}, but chain.expected_chain_id is {chain.expected_chain_id}"
        )
    return ChainContext(settings=settings, w3=w3, chain_id=chain_id, devnet=devnet)
