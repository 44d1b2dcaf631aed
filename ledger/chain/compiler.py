"""Build-time compilation of ``contracts/*.sol`` through py-solc-x (never imported at run time).

The standard-JSON input is assembled here with every source's content embedded (our contracts and
the OpenZeppelin files they import, read from the pinned ``hardhat-free-devnet/node_modules``), so
the input is self-contained: its sha256 identifies exactly what was compiled, and a native solc and
the solcjs shim receive the same bytes.

Compiler choice, in order: ``TSUNAGARI_SOLC`` (a path), a native ``solc`` on PATH or installed by
``solcx.install_solc`` whose version matches :data:`SOLC_VERSION`, then the node shim
``hardhat-free-devnet/solc-shim.js`` over the pinned npm ``solc`` (see its header for why a shim).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.errors import BuildError

__all__ = [
    "SOLC_VERSION",
    "COMPILER_SETTINGS",
    "PRODUCT_CONTRACTS",
    "CompileResult",
    "standard_json_input",
    "input_sha256",
    "find_solc",
    "compile_standard_json",
    "compile_product_contracts",
    "write_artifacts",
]

SOLC_VERSION = "0.8.37"
# prague: the newest fork that both anvil and py-evm (PragueVM) execute.
COMPILER_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "prague",
    "viaIR": True,
    "metadata": {"bytecodeHash": "none"},
    "outputSelection": {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "evm.methodIdentifiers"]}
    },
}
PRODUCT_CONTRACTS = ("TsunagariLedger", "RegionCoin")

_IMPORT_RE = re.compile(r'^\s*import\s+(?:[^"\']*?\s+from\s+)?["\']([^"\']+)["\']\s*;', re.MULTILINE)


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def _node_modules() -> Path:
    return _repo_root() / "hardhat-free-devnet" / "node_modules"


@dataclass(frozen=True)
class CompileResult:
    """A compiler's output for one standard-JSON input."""

    solc_version: str
    input_sha256: str
    output: dict[str, Any]


def _resolve_unit(importer: str, target: str) -> str:
    if target.startswith("."):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), target))
    return target


def _read_unit(unit: str, root: Path) -> str:
    local = root / unit
    if local.is_file():
        return local.read_text(encoding="utf-8")
    package = _node_modules() / unit
    if package.is_file():
        return package.read_text(encoding="utf-8")
    raise BuildError(f"cannot resolve import {unit!r}: run `npm ci` in hardhat-free-devnet/ first")


def standard_json_input(
    entry_units: list[str], root: Path | None = None, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The self-contained standard-JSON input for ``entry_units`` (paths relative to ``root``)."""
    root = root or _repo_root()
    sources: dict[str, dict[str, str]] = {}
    pending = list(entry_units)
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        content = _read_unit(unit, root)
        sources[unit] = {"content": content}
        pending.extend(_resolve_unit(unit, target) for target in _IMPORT_RE.findall(content))
    return {
        "language": "Solidity",
        "sources": dict(sorted(sources.items())),
        "settings": settings if settings is not None else COMPILER_SETTINGS,
    }


def input_sha256(standard_input: dict[str, Any]) -> str:
    """sha256 of the canonical JSON form of a standard-JSON input."""
    canonical = json.dumps(standard_input, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def find_solc() -> Path:
    """The compiler to hand py-solc-x as ``solc_binary`` (see the module docstring for the order)."""
    import solcx
    from solcx.wrapper import get_solc_version

    explicit = os.environ.get("TSUNAGARI_SOLC")
    if explicit:
        return Path(explicit)
    candidates: list[Path] = []
    on_path = shutil.which("solc")
    if on_path:
        candidates.append(Path(on_path))
    with contextlib.suppress(Exception):  # not installed by solcx is the common case
        candidates.append(Path(solcx.install.get_executable(SOLC_VERSION)))
    for candidate in candidates:
        try:
            if str(get_solc_version(candidate)) == SOLC_VERSION:
                return candidate
        except Exception:  # noqa: BLE001 - a broken binary just is not a candidate
            continue
    shim = _repo_root() / "hardhat-free-devnet" / "solc-shim.js"
    if not (_node_modules() / "solc").is_dir():
        raise BuildError("no solc found: install solc or run `npm ci` in hardhat-free-devnet/")
    return shim


def compile_standard_json(standard_input: dict[str, Any], solc_binary: Path | None = None) -> CompileResult:
    """Compile through py-solc-x; raises :class:`BuildError` listing the compiler's errors."""
    import solcx
    from solcx.wrapper import get_solc_version

    binary = solc_binary or find_solc()
    version = str(get_solc_version(binary))
    if version != SOLC_VERSION:
        raise BuildError(f"{binary} is solc {version}; the artifacts are built with {SOLC_VERSION}")
    try:
        output: dict[str, Any] = solcx.compile_standard(
            standard_input, solc_binary=binary, base_path=str(_repo_root()), allow_paths=[str(_node_modules())]
        )
    except solcx.exceptions.SolcError as exc:
        try:
            output = json.loads(exc.stdout_data or "")
        except ValueError:
            raise BuildError(f"{binary} failed: {exc.message} {exc.stderr_data}") from None
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise BuildError("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    return CompileResult(solc_version=version, input_sha256=input_sha256(standard_input), output=output)


def product_sources(root: Path | None = None) -> list[str]:
    """The product contract sources, as unit names (``contracts/X.sol``)."""
    root = root or _repo_root()
    return sorted(f"contracts/{p.name}" for p in (root / "contracts").glob("*.sol"))


def compile_product_contracts(solc_binary: Path | None = None) -> CompileResult:
    """Compile everything in ``contracts/``."""
    return compile_standard_json(standard_json_input(product_sources()), solc_binary)


def write_artifacts(result: CompileResult, build_dir: Path | None = None) -> list[Path]:
    """Write one JSON artifact per product contract into ``contracts/build``."""
    build_dir = build_dir or _repo_root() / "contracts" / "build"
    build_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for unit, contracts in sorted(result.output["contracts"].items()):
        for name, data in sorted(contracts.items()):
            if name not in PRODUCT_CONTRACTS or not unit.startswith("contracts/"):
                continue
            artifact = {
                "contractName": name,
                "sourceName": unit,
                "abi": data["abi"],
                "bytecode": "0x" + data["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
                "methodIdentifiers": data["evm"]["methodIdentifiers"],
                "compiler": {"solc": result.solc_version, "settings": COMPILER_SETTINGS},
                "inputSha256": result.input_sha256,
            }
            path = build_dir / f"{name}.json"
            path.write_text(json.dumps(artifact, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(path)
    return written
