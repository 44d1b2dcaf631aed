"""Slither finds no High or Medium issue in our contracts, but for the false positives accepted below.

Slither lives in ``.venv-analysis`` (it pins web3 < 8; docs/decisions/0003-static-analysis.md), so the
analysis runs there as ``python -m scripts.analyse`` and hands its findings back as JSON. A finding is
ours when any of its elements lies outside ``node_modules/@openzeppelin``; OpenZeppelin's own findings
are theirs to judge. Each accepted finding is keyed by its detector and its location-free summary (so
moving lines keeps it accepted, changing the flagged code does not) and carries the reason it is a
false positive; an accepted finding that Slither no longer reports must leave the list.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANALYSIS_PYTHON = ROOT / ".venv-analysis" / "bin" / "python"
GATING_IMPACTS = ("High", "Medium")
OPENZEPPELIN = "node_modules/@openzeppelin/"

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Accepted:
    """A finding judged a false positive: Slither's detector, its summary, and why."""

    detector: str
    summary: str
    reason: str


_BY_TIMESTAMP = (
    "incorrect-equality flags every `==` on a value its taint analysis reaches from block.timestamp "
    "(here `_today()`, the JST day number, through `run.day`, `run.entry` or a coin period); "
)
_FAST = "TsunagariLedger._recordFast(TsunagariLedger.Run,uint256[],uint256)"
_ROLL = "TsunagariLedger._rollPeriod(uint256,uint256)"
_EQUALITY = "uses a dangerous strict equality: -"

# Judged on contracts/TsunagariLedger.sol as of contract v2 (the contract's owner confirms or fixes;
# this list only records the judgement).
ACCEPTED = (
    Accepted(
        "incorrect-shift",
        f"{_FAST} contains an incorrect shift operation: word__recordFast_asm_0 = word__recordFast_asm_0 "
        "& ~ 0xffffffffff << shift__recordFast_asm_0 | 0xffffffffff | 1 << 96",
        "`shl(shift, 0xffffffffff)` moves the 40-bit entry mask to the chosen record entry (bit 113, 153 "
        "or 193) to clear it, as `_MASK40 << shift` does in the reference path `_noteRecord`; the "
        "detector takes any constant shifted by a variable amount for swapped `shl` arguments.",
    ),
    Accepted(
        "incorrect-equality",
        f"{_FAST} {_EQUALITY} ! packed__recordFast_asm_0 >> 56 & 0xffffffffff == id",
        _BY_TIMESTAMP + "this compares a record's activity id with the batch's current one: an identity.",
    ),
    Accepted(
        "incorrect-equality",
        f"{_FAST} {_EQUALITY} capacity == 0",
        _BY_TIMESTAMP + "capacity 0 is the 'unlimited' sentinel.",
    ),
    Accepted(
        "incorrect-equality",
        f"{_FAST} {_EQUALITY} word__recordFast_asm_0 >> 113 & 0xffffff == ordinal__recordFast_asm_0",
        _BY_TIMESTAMP + "the duplicate check: the activity ordinal in the first entry must match exactly.",
    ),
    Accepted(
        "incorrect-equality",
        f"{_FAST} {_EQUALITY} word__recordFast_asm_0 >> 153 & 0xffffff == ordinal__recordFast_asm_0",
        _BY_TIMESTAMP + "the duplicate check: the activity ordinal in the second entry must match exactly.",
    ),
    Accepted(
        "incorrect-equality",
        f"{_FAST} {_EQUALITY} word__recordFast_asm_0 >> 193 & 0xffffff == ordinal__recordFast_asm_0",
        _BY_TIMESTAMP + "the duplicate check: the activity ordinal in the third entry must match exactly.",
    ),
    Accepted(
        "incorrect-equality",
        f"TsunagariLedger._noteRecord(uint256,TsunagariLedger.Run,address,uint64) {_EQUALITY} "
        "e0 & _MASK24 == ordinal || e1 & _MASK24 == ordinal || e2 & _MASK24 == ordinal "
        "|| ((word >> _SPILL) & _MASK16 >= run.day && _spilled[spillKey])",
        _BY_TIMESTAMP + "the reference path's duplicate check compares activity ordinals, which must match.",
    ),
    Accepted(
        "incorrect-equality",
        f"{_ROLL} {_EQUALITY} held == period",
        _BY_TIMESTAMP + "whole coin periods (day / expiryDays): the holding is already in the current period.",
    ),
    Accepted(
        "incorrect-equality",
        f"{_ROLL} {_EQUALITY} held + 1 == period",
        _BY_TIMESTAMP + "whole coin periods: the holding was last moved in the period before the current one.",
    ),
    Accepted(
        "incorrect-equality",
        f"TsunagariLedger._settled(uint256,address,uint32,uint16) {_EQUALITY} expiryDays == 0",
        _BY_TIMESTAMP + "expiryDays 0 is the region setting 'coins never expire'.",
    ),
    Accepted(
        "incorrect-equality",
        f"TsunagariLedger.holdingOf(address,uint32) {_EQUALITY} expiring == 0",
        _BY_TIMESTAMP + "a view choosing which coin bucket to report as lapsing first when the older is empty.",
    ),
    Accepted(
        "uninitialized-local",
        "TsunagariLedger.recordBatch(uint32,uint64,uint256[]).run is a local variable never initialized",
        "`Run memory run;` is allocated zeroed by Solidity; recordBatch then sets region, day, id and "
        "period, and the counters start at zero on purpose. The detector counts the write "
        "`run.region = ...` as a read of the uninitialised `run`.",
    ),
)
_ACCEPTED_KEYS = {(a.detector, a.summary) for a in ACCEPTED}


def run_analysis(root: Path) -> list[dict[str, Any]]:
    """Every Slither finding on ``root/contracts/*.sol``, from ``scripts/analyse.py`` in .venv-analysis."""
    if not ANALYSIS_PYTHON.exists():
        pytest.fail(f"{ANALYSIS_PYTHON} is missing: run `./run setup` (it installs requirements-analysis.lock)")
    done = subprocess.run(
        [str(ANALYSIS_PYTHON), "-m", "scripts.analyse", "--root", str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"the analysis failed:\n{done.stderr[-4000:]}"
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings


def ours(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The High and Medium findings with an element outside OpenZeppelin."""
    return [
        f
        for f in findings
        if f["impact"] in GATING_IMPACTS and any(not path.startswith(OPENZEPPELIN) for path in f["files"])
    ]


def not_accepted(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in ours(findings) if (f["detector"], f["summary"]) not in _ACCEPTED_KEYS]


def _listing(findings: list[dict[str, Any]]) -> str:
    def where(f: dict[str, Any]) -> str:
        return f"{f['file']}#" + "-".join(str(line) for line in sorted(set(f["lines"])))

    return "\n".join(f"  {f['impact']} {f['detector']} at {where(f)}: {f['summary']}" for f in findings)


@pytest.fixture(scope="module")
def findings() -> list[dict[str, Any]]:
    return run_analysis(ROOT)


def test_no_high_or_medium_finding_in_our_contracts(findings: list[dict[str, Any]]) -> None:
    unexpected = not_accepted(findings)
    assert not unexpected, (
        "Slither reports (fix the contract, or add a judged false positive to ACCEPTED with its reason):\n"
        + _listing(unexpected)
    )


def test_every_accepted_false_positive_is_still_reported(findings: list[dict[str, Any]]) -> None:
    reported = {(f["detector"], f["summary"]) for f in ours(findings)}
    stale = [a.summary for a in ACCEPTED if (a.detector, a.summary) not in reported]
    assert not stale, f"no longer reported, remove from ACCEPTED: {stale}"


FIXTURE_CONTRACT = textwrap.dedent(
    """\
    // SPDX-License-Identifier: MIT
    pragma solidity ^0.8.24;

    import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

    /// Deliberately broken: anyone can make it run any code in its own storage.
    contract Forwarder {
        uint256 public total;

        function forward(address target, bytes calldata data) external returns (bytes memory) {
            (bool ok, bytes memory result) = target.delegatecall(data);
            require(ok, "call failed");
            return result;
        }

        function share(uint256 amount, uint256 parts) external view returns (uint256) {
            return Math.mulDiv(amount, total, parts);
        }
    }
    """
)


def test_a_real_finding_fails_the_check_and_openzeppelin_findings_do_not(tmp_path: Path) -> None:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "Forwarder.sol").write_text(FIXTURE_CONTRACT, encoding="utf-8")
    findings = run_analysis(tmp_path)

    unexpected = not_accepted(findings)
    assert "controlled-delegatecall" in {f["detector"] for f in unexpected}, _listing(findings)
    assert {f["file"] for f in unexpected} == {"contracts/Forwarder.sol"}
    # The fixture pulls in OpenZeppelin's Math, on which Slither reports High and Medium findings:
    # they are in the output and out of the check.
    gated = ours(findings)
    openzeppelin = [f for f in findings if f["impact"] in GATING_IMPACTS and f not in gated]
    assert openzeppelin and all(path.startswith(OPENZEPPELIN) for f in openzeppelin for path in f["files"])
