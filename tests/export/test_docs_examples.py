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


def test_every_table_and_field_is_in_the_data_dictionary() -> None:
    text = DOC.read_text(encoding="utf-8")
    dictionary = text[text.index("## The data dictionary") :]
    provenance = {f.name for f in PROVENANCE}
    problems = []
    for name, table in TABLES.items():
        start = dictionary.find(f"### `{name}`")
        if start < 0:
            problems.append(f"table {name}")
            continue
        end = dictionary.find("\n### ", start + 1)
        section = dictionary[start : end if end > 0 else None]
        # The provenance columns are listed once (under contributions) and named by the others.
        shared = provenance if "Provenance columns first" in section else set()
        problems += [
            f"{name}.{f.name}" for f in table.fields if f"| `{f.name}` |" not in section and f.name not in shared
        ]
    assert not problems, f"document in docs/export.md: {problems}"
