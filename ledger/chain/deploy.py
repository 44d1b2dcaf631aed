"""Deploying the ledger and the deployments file (one ``<chain id>.json`` per chain).

The deployments file is the single place that says where the ledger of a chain lives and from which
block its history starts (the indexer's start block). Addresses never go into settings.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.chain.artifacts import abi_sha256, load_artifact
from ledger.errors import DeploymentNotFound, TransactionFailed

if TYPE_CHECKING:  # reading the deployments file needs neither (the indexer's start, issue 19)
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

__all__ = ["Deployment", "deploy_ledger", "deployment_path", "load_deployment", "save_deployment"]


@dataclass(frozen=True)
class Deployment:
    """Where one chain's ledger is."""

    chain_id: int
    ledger: str
    deploy_block: int
    deploy_block_hash: str
    deploy_tx: str
    platform_admin: str
    abi_sha256: str
    solc_version: str
    deployed_at: int


def deployment_path(deployments_dir: Path, chain_id: int) -> Path:
    return deployments_dir / f"{chain_id}.json"


def save_deployment(deployments_dir: Path, deployment: Deployment) -> Path:
    """Write the deployments file atomically (a crash never leaves half a file)."""
    path = deployment_path(deployments_dir, deployment.chain_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(deployment), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_deployment(deployments_dir: Path, chain_id: int) -> Deployment:
    """The deployment of ``chain_id``; :class:`DeploymentNotFound` when there is none."""
    path = deployment_path(deployments_dir, chain_id)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeploymentNotFound(
            f"no ledger deployed on chain {chain_id} ({path} missing): run `tsunagari deploy`"
        ) from None
    return Deployment(**data)


def local_deployment(deployments_dir: Path, chain_id: int | None = None) -> Deployment:
    """The deployment of ``chain_id``, or, with none given, the only one in ``deployments_dir``;
    :class:`DeploymentNotFound` when there is none, or several and no chain id to choose."""
    if chain_id is not None:
        return load_deployment(deployments_dir, chain_id)
    files = sorted(deployments_dir.glob("*.json")) if deployments_dir.is_dir() else []
    chain_ids = [int(f.stem) for f in files if f.stem.isdigit()]
    if len(chain_ids) != 1:
        raise DeploymentNotFound(f"{len(chain_ids)} deployments in {deployments_dir}: name the chain id")
    return load_deployment(deployments_dir, chain_ids[0])


def deploy_ledger(w3: Web3, deployer: LocalAccount, platform_admin: str | None = None) -> Deployment:
    """Deploy :sol:`TsunagariLedger` with ``platform_admin`` (default: the deployer) as platform admin."""
    from ledger.chain.client import checksum

    artifact = load_artifact("TsunagariLedger")
    admin = checksum(platform_admin or deployer.address)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx = factory.constructor(admin).build_transaction(
        {"from": deployer.address, "nonce": w3.eth.get_transaction_count(deployer.address, "pending")}
    )
    signed = deployer.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=0.1)
    if receipt["status"] != 1 or receipt["contractAddress"] is None:
        raise TransactionFailed(f"deploying the ledger failed in transaction 0x{bytes(tx_hash).hex()}")
    block = w3.eth.get_block(receipt["blockNumber"])
    return Deployment(
        chain_id=int(w3.eth.chain_id),
        ledger=checksum(str(receipt["contractAddress"])),
        deploy_block=int(receipt["blockNumber"]),
        deploy_block_hash="0x" + bytes(block["hash"]).hex(),
        deploy_tx="0x" + bytes(tx_hash).hex(),
        platform_admin=admin,
        abi_sha256=abi_sha256("TsunagariLedger"),
        solc_version=artifact.solc_version,
        deployed_at=int(time.time()),
    )
