"""``python -m scripts.analyse [--root DIR]``: Slither over ``contracts/*.sol``, findings as JSON on stdout.

Runs with ``.venv-analysis/bin/python`` (``./run analyse``), never with the project's ``.venv``:
slither-analyzer pins web3 < 8, so it has a venv of its own, installed by ``./run setup`` from
``requirements-analysis.lock`` (docs/decisions/0003-static-analysis.md).

The compiler input is the build's own (:func:`ledger.chain.compiler.standard_json_input`: the same
sources, OpenZeppelin from the pinned ``hardhat-free-devnet/node_modules``, the same optimizer,
``evmVersion`` and ``viaIR``) with one change: ``outputSelection`` asks for the AST only, which is all
Slither reads, so solc skips code generation (half the run time, the same findings). The compiler is
the solcjs shim ``hardhat-free-devnet/solc-shim.js``, handed to crytic-compile as its ``solc``.

Each finding is one JSON object: ``impact``, ``confidence``, ``detector``; ``file`` and ``lines`` (first
and last) of the flagged statement, or of the first element when none is a statement; ``files`` of all
its elements (``contracts/...`` for ours, ``node_modules/@openzeppelin/...`` for OpenZeppelin's);
``description`` as Slither prints it; and ``summary``, the description without source locations, which
stays put when lines move. This program judges nothing: ``tests/contracts/test_static_analysis.py``
decides which findings fail the build.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import inspect
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

from ledger.chain.compiler import COMPILER_SETTINGS, SOLC_VERSION, product_sources, standard_json_input
from ledger.errors import BuildError

__all__ = ["analyse", "main"]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEVNET_DIR = REPO_ROOT / "hardhat-free-devnet"
SOLC_SHIM = DEVNET_DIR / "solc-shim.js"
# Slither parses the AST only; every other setting is the build's (see the module docstring).
ANALYSIS_SETTINGS: dict[str, Any] = {**COMPILER_SETTINGS, "outputSelection": {"*": {"": ["ast"]}}}
IMPACT_ORDER = ("High", "Medium", "Low", "Informational", "Optimization")

# " (contracts/TsunagariLedger.sol#642-708)": a source location inside a Slither description
_LOCATION_RE = re.compile(r" \([^()\s]+#\d+(?:-\d+)?\)")


def _detector_classes() -> list[type[Any]]:
    """Every detector Slither ships, as its own command line registers them."""
    from slither.detectors import all_detectors  # type: ignore[import-not-found]  # only in .venv-analysis
    from slither.detectors.abstract_detector import AbstractDetector  # type: ignore[import-not-found]

    return [
        cls
        for _, cls in inspect.getmembers(all_detectors, inspect.isclass)
        if issubclass(cls, AbstractDetector) and cls is not AbstractDetector
    ]


def _finding(result: dict[str, Any]) -> dict[str, Any]:
    located = [e for e in result["elements"] if e.get("source_mapping")]
    files = sorted({e["source_mapping"]["filename_short"] for e in located})
    # where to look: the flagged statement if there is one, else the first element (a function, a variable)
    primary = next((e for e in located if e["type"] == "node"), located[0] if located else None)
    where = primary["source_mapping"] if primary else {}
    lines = where.get("lines") or []
    return {
        "impact": result["impact"],
        "confidence": result["confidence"],
        "detector": result["check"],
        "file": where.get("filename_short"),
        "lines": [lines[0], lines[-1]] if lines else [],
        "files": files,
        "description": result["description"].strip(),
        "summary": " ".join(_LOCATION_RE.sub("", result["description"]).split()),
    }


def analyse(root: Path = REPO_ROOT, solc: Path = SOLC_SHIM) -> list[dict[str, Any]]:
    """Slither's findings on ``root/contracts/*.sol``, most severe first.

    ``root`` is this repository or any folder laid out like it (a test's fixture contracts);
    OpenZeppelin imports always come from this repository's pinned ``node_modules``.
    """
    from crytic_compile import CryticCompile  # type: ignore[import-not-found]  # only in .venv-analysis
    from crytic_compile.platform.solc_standard_json import SolcStandardJson  # type: ignore[import-not-found]
    from slither import Slither  # type: ignore[import-not-found]

    root = root.resolve()
    units = product_sources(root)
    if not units:
        raise BuildError(f"no contracts/*.sol under {root}")
    standard_input = standard_json_input(units, root=root, settings=copy.deepcopy(ANALYSIS_SETTINGS))
    # crytic-compile finds each compiled unit on disk to name it: ours relative to the process's
    # working directory (`contracts/...`), OpenZeppelin's under `<solc_working_dir>/node_modules`.
    with contextlib.chdir(root):
        compiled = CryticCompile(
            SolcStandardJson(standard_input),
            solc=str(solc),
            solc_working_dir=str(DEVNET_DIR),
            solc_disable_warnings=True,
        )
        versions = {unit.compiler_version.version for unit in compiled.compilation_units.values()}
        if versions != {SOLC_VERSION}:
            raise BuildError(f"{solc} is solc {', '.join(sorted(versions))}; the build uses {SOLC_VERSION}")
        slither = Slither(compiled)
        for detector in _detector_classes():
            slither.register_detector(detector)
        results: list[list[dict[str, Any]]] = slither.run_detectors()
    findings = [_finding(r) for per_detector in results for r in per_detector]
    return sorted(
        findings,
        key=lambda f: (IMPACT_ORDER.index(f["impact"]), f["detector"], f["file"] or "", f["lines"], f["summary"]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.analyse", description="Slither over contracts/*.sol; every finding as JSON on stdout."
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="folder with contracts/*.sol (default: this repo)")
    parser.add_argument("--solc", type=Path, default=SOLC_SHIM, help="solc binary (default: the solcjs shim)")
    args = parser.parse_args(argv)
    # Slither and crytic-compile log progress and solc's output; stdout stays the JSON document.
    logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
    try:
        findings = analyse(args.root, args.solc)
    except Exception as exc:  # noqa: BLE001 - the edge: any failure is one line and exit code 1
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(findings, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
