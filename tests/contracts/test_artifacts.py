"""The committed artifacts match the sources, and run time never compiles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.chain.artifacts import BUILD_DIR, load_artifact
from ledger.chain.compiler import (
    COMPILER_SETTINGS,
    PRODUCT_CONTRACTS,
    SOLC_VERSION,
    compile_product_contracts,
    input_sha256,
    product_sources,
    standard_json_input,
)

ROOT = Path(__file__).resolve().parents[2]


def test_artifacts_were_built_from_the_current_sources() -> None:
    """Fails when a .sol file (ours or OpenZeppelin's) or a setting changed without recompiling."""
    expected = input_sha256(standard_json_input(product_sources()))
    for name in PRODUCT_CONTRACTS:
        artifact = load_artifact(name)
        assert artifact.input_sha256 == expected, (
            f"{name}: run `tsunagari contracts compile` and commit contracts/build"
        )
        assert artifact.solc_version == SOLC_VERSION


def test_artifacts_record_how_they_were_built() -> None:
    for name in PRODUCT_CONTRACTS:
        data = json.loads((BUILD_DIR / f"{name}.json").read_text(encoding="utf-8"))
        assert data["compiler"] == {"solc": SOLC_VERSION, "settings": COMPILER_SETTINGS}
        assert data["sourceName"] == f"contracts/{name}.sol"
        assert data["bytecode"].startswith("0x") and len(data["bytecode"]) > 1000


def test_a_changed_source_changes_the_input_hash(tmp_path: Path) -> None:
    (tmp_path / "contracts").mkdir()
    for unit in product_sources():
        (tmp_path / unit).write_text((ROOT / unit).read_text(encoding="utf-8"), encoding="utf-8")
    original = input_sha256(standard_json_input(product_sources(tmp_path), root=tmp_path))
    ledger_source = tmp_path / "contracts" / "TsunagariLedger.sol"
    ledger_source.write_text(ledger_source.read_text(encoding="utf-8") + "\n// changed\n", encoding="utf-8")
    assert input_sha256(standard_json_input(product_sources(tmp_path), root=tmp_path)) != original


@pytest.mark.slow
def test_recompiling_reproduces_the_committed_bytecode() -> None:
    result = compile_product_contracts()
    for name in PRODUCT_CONTRACTS:
        compiled = result.output["contracts"][f"contracts/{name}.sol"][name]
        artifact = load_artifact(name)
        assert "0x" + compiled["evm"]["bytecode"]["object"] == artifact.bytecode
        assert compiled["abi"] == artifact.abi


def test_run_time_code_never_loads_the_compiler() -> None:
    code = (
        "import sys, ledger.chain.client, ledger.chain.deploy, ledger.chain.devnet, ledger.chain.reverts;"
        "assert 'solcx' not in sys.modules and 'ledger.chain.compiler' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_every_custom_error_has_a_typed_python_exception() -> None:
    from ledger.errors import CONTRACT_ERRORS

    names = {i["name"] for c in PRODUCT_CONTRACTS for i in load_artifact(c).abi if i["type"] == "error"}
    assert names == set(CONTRACT_ERRORS)
