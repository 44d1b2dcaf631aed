"""Docs that are checked: settings, CLI commands and options, contract events and errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer.main
from typer._click.core import Context

from ledger.chain.artifacts import load_artifact
from ledger.settings import Settings
from scripts.cli import app

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = Path(__file__).resolve().parents[1] / "README.md"


def _settings_variables() -> Iterator[str]:
    for group, field in Settings.model_fields.items():
        assert field.default_factory is not None
        model = field.default_factory().__class__  # type: ignore[call-arg]
        for name in model.model_fields:
            yield f"TSUNAGARI_{group.upper()}__{name.upper()}"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "settings.md").read_text(encoding="utf-8")
    missing = [v for v in _settings_variables() if f"`{v}`" not in text]
    assert not missing, f"add to docs/settings.md: {missing}"


def _commands(command: Any, path: list[str], ctx: Context) -> Iterator[tuple[str, Any]]:
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from _commands(sub, [*path, name], Context(sub, parent=ctx, info_name=name))
    else:
        yield " ".join(path), command


def test_every_cli_command_and_option_is_documented() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    root = typer.main.get_command(app)
    problems = []
    for path, command in _commands(root, ["tsunagari"], Context(root, info_name="tsunagari")):
        if f"`{path}" not in text:
            problems.append(f"command {path}")
        for param in command.params:
            for option in param.opts:
                if option.startswith("--") and option not in text:
                    problems.append(f"{path} {option}")
    assert not problems, f"add to docs/cli.md: {problems}"


def _contract_doc_sections() -> dict[str, str]:
    text = (DOCS / "contracts.md").read_text(encoding="utf-8")
    sections: dict[str, str] = {}
    for match in re.finditer(r"^### `?(\w+)`?[^\n]*\n(.*?)(?=^#{1,3} |\Z)", text, re.M | re.S):
        sections[match.group(1)] = match.group(2)
    return sections


def test_every_event_and_field_is_documented() -> None:
    sections = _contract_doc_sections()
    problems = []
    for contract in ("TsunagariLedger", "RegionCoin"):
        for item in load_artifact(contract).abi:
            if item["type"] != "event":
                continue
            section = sections.get(item["name"])
            if section is None:
                problems.append(f"event {item['name']}")
                continue
            problems += [f"{item['name']}.{p['name']}" for p in item["inputs"] if p["name"] not in section]
    assert not problems, f"document in docs/contracts.md: {problems}"


def test_every_custom_error_is_documented() -> None:
    text = (DOCS / "contracts.md").read_text(encoding="utf-8")
    errors = {
        i["name"] for c in ("TsunagariLedger", "RegionCoin") for i in load_artifact(c).abi if i["type"] == "error"
    }
    missing = sorted(e for e in errors if e not in text)
    assert not missing, f"document in docs/contracts.md: {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"```(?:sh|bash)?\n(.*?)```", text, re.S)
    assert first_block is not None
    assert first_block.group(1).split() == ["./run", "demo", "./run", "test"]


def _sections(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    return {
        m.group(1): m.group(2) for m in re.finditer(r"^### `?(\w+)`?[^\n]*\n(.*?)(?=^#{1,3} |\Z)", text, re.M | re.S)
    }


def test_every_indexed_event_and_table_column_is_documented() -> None:
    from sqlmodel import SQLModel

    import ledger.db.models  # noqa: F401 - registers the tables
    from ledger.indexer.handlers import EVENT_TABLE, HANDLERS

    sections = _sections(DOCS / "events.md")
    problems = []
    for item in load_artifact("TsunagariLedger").abi:
        if item["type"] != "event":
            continue
        assert f"TsunagariLedger:{item['name']}" in HANDLERS, f"no handler for {item['name']}"
        section = sections.get(item["name"])
        if section is None or f"`{EVENT_TABLE[item['name']]}`" not in section:
            problems.append(f"event {item['name']} (and its table {EVENT_TABLE[item['name']]})")
    for table in SQLModel.metadata.sorted_tables:
        section = sections.get(table.name)
        if section is None:
            problems.append(f"table {table.name}")
            continue
        problems += [f"{table.name}.{c.name}" for c in table.columns if f"`{c.name}`" not in section]
    assert not problems, f"document in docs/events.md: {problems}"


def _resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The click command that ``tsunagari WORDS…`` names, and the words after it."""
    command: Any = typer.main.get_command(app)
    ctx = Context(command, info_name="tsunagari")
    rest = list(words)
    while rest and hasattr(command, "get_command"):
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            break
        command, ctx, rest = sub, Context(sub, parent=ctx, info_name=rest[0]), rest[1:]
    return command, rest


def test_every_command_of_the_operations_runbook_exists() -> None:
    """docs/operations.md: each `tsunagari …` it shows (in code blocks and in backticks) names a
    real command, and each --option it passes is one of that command's."""
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    lines = re.findall(r"^tsunagari [^\n#]*", text, re.MULTILINE) + re.findall(r"`(tsunagari [^`]*)`", text)
    assert len(lines) >= 15
    problems = []
    for line in lines:
        words = line.split()[1:]
        command, rest = _resolve(words)
        if hasattr(command, "get_command") and command.name == "tsunagari":
            problems.append(f"no command: {line}")
            continue
        known = {option for param in command.params for option in (*param.opts, *param.secondary_opts)}
        for word in rest:
            option = word.split("=", 1)[0]
            if option.startswith("--") and option not in known:
                problems.append(f"{line}: no option {option}")
    assert not problems, problems
