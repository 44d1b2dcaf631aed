"""docs/export.md is checked: its runnable examples run against real exports, and every table and
field of the export is in its data dictionary.

Runnable blocks are the fenced blocks right after a ``<!-- runnable -->`` line. Python blocks run
in order in one namespace (each continues the one before), in a folder holding the exports the
page names; R blocks run with ``Rscript`` when it is installed.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.export import TABLES, ExportOptions, export_dataset
from ledger.export.schema import PROVENANCE
from tests.export.conftest import Indexed

DOC = Path(__file__).resolve().parents[2] / "docs" / "export.md"
_BLOCK = re.compile(r"<!-- runnable -->\n```(\w+)\n(.*?)\n```", re.S)


def runnable_blocks(language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(DOC.read_text(encoding="utf-8")) if lang == language]


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


@pytest.fixture(scope="module")
def exports(anvil_indexed: Indexed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    deployment = anvil_indexed.history.deployment
    for name, options in (
        ("my-export", ExportOptions(format="parquet")),
        ("my-export-csv", ExportOptions(format="csv")),
        ("my-export-monthly", ExportOptions(format="parquet", partition_by_month=True)),
    ):
        export_dataset(anvil_indexed.engine, deployment, options, folder / name)
    return folder


def test_the_python_examples_run(exports: Path) -> None:
    blocks = runnable_blocks("python")
    assert len(blocks) >= 3 and any("pandas" in b for b in blocks) and any("duckdb" in b for b in blocks)
    namespace: dict[str, object] = {"__name__": "docs_export_examples"}
    with inside(exports), contextlib.redirect_stdout(io.StringIO()):
        for number, block in enumerate(blocks, start=1):
            try:
                exec(compile(block, f"docs/export.md python block {number}", "exec"), namespace)
            except Exception as exc:  # re-raised with the block that failed
                raise AssertionError(f"docs/export.md python block {number} failed: {exc!r}\n{block}") from exc


def test_the_r_examples_run(exports: Path) -> None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript is not installed (apt-get install r-base-core)")
    for number, block in enumerate(runnable_blocks("r"), start=1):
        done = subprocess.run(
            [rscript, "-e", block], cwd=exports, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"docs/export.md R block {number} failed:\n{done.stderr}"


def dictionary() -> str:
    """The data dictionary section of docs/export.md as ledger/export/schema.py defines it."""
    prov = {f.name for f in PROVENANCE}
    out = ["## The data dictionary", "", ""]
    first_events = True
    for name, t in TABLES.items():
        has_prov = t.fields[: len(PROVENANCE)] == PROVENANCE
        desc = f"{t.kind.capitalize()}. {t.description}" + (" Provenance columns first." if has_prov else "")
        key = f"Key: {', '.join(f'`{k}`' for k in t.key)}." + (
            " Partitioned by month when asked." if t.partitionable else ""
        )
        out += [f"### `{name}`", "", desc, key, "", "| Field | Type | Unit | Description |", "|---|---|---|---|"]
        for f in t.fields:
            if has_prov and f.name in prov and not first_events:
                continue
            notes = ""
            if f.personal:
                notes += " (*personal*)"
            if f.nullable:
                notes += " (may be empty)"
            out.append(f"| `{f.name}` | {f.type} | {f.unit or ''} | {f.description}{notes} |")
        if has_prov:
            first_events = False
        out.append("")
    return "\n".join(out)


def test_the_data_dictionary_is_the_schema() -> None:
    """docs/export.md's data dictionary says exactly what the code writes: every table, field, type,
    unit and description (regenerate the section with this function when the schema changes)."""
    text = DOC.read_text(encoding="utf-8")
    assert text[text.index("## The data dictionary") :] == dictionary()
