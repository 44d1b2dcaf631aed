"""Loading the committed contract artifacts (``contracts/build/*.json``); run time never compiles."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ledger.errors import BuildError

__all__ = ["Artifact", "BUILD_DIR", "load_artifact", "abi_sha256"]

BUILD_DIR = Path(__file__).resolve().parents[2] / "contracts" / "build"


@dataclass(frozen=True)
class Artifact:
    """ABI and bytecode of one compiled contract, with how it was built."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    solc_version: str
    input_sha256: str


@cache
def load_artifact(name: str) -> Artifact:
    """The committed artifact of contract ``name``; :class:`BuildError` if it is missing."""
    path = BUILD_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BuildError(f"{path} is missing: run `tsunagari contracts compile`") from None
    return Artifact(
        name=data["contractName"],
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
        solc_version=data["compiler"]["solc"],
        input_sha256=data["inputSha256"],
    )


def abi_sha256(name: str) -> str:
    """sha256 of the canonical JSON of a contract's ABI (recorded in deployments and exports)."""
    abi = load_artifact(name).abi
    return hashlib.sha256(json.dumps(abi, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
