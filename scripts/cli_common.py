"""What the ``tsunagari`` area modules share: the one place where ``ledger`` errors become one line
on stderr and exit code 1, the settings and chain of this run, the ``--as`` and ``--json`` options,
and the two ways of printing a result (``--json`` for machines, aligned tables for people).

The areas (one module each, assembled by :mod:`scripts.cli`): devnet_cli, contracts_cli (with
``deploy``), region_cli, activity_cli, chain_cli (``record``, ``revoke``, ``balance``,
``support``, ``support-cancel``), project_cli, keys_cli, db_cli, index_cli, export_cli, serve_cli
(``serve``, ``simulate-checkins``, ``relay``), api_cli; and, split out before, staff_cli,
certificate_cli, codes_cli, with the shared formatting of format_cli.

Decisions on the output (issue 17):

- A single record (``devnet status``, ``region info``, ``activity info``) is printed as a
  ``field  value`` table whose field names are the ``--json`` keys: one vocabulary for people and
  scripts, and the docs explain each field once. Values as :func:`shown` gives them: yes/no, ``-``
  for nothing, JST for ``*_at``, ``12205 館山市`` for a region.
- ``--json`` always writes a region as its five-digit text (``activity info`` wrote a number
  before; it was the one command that did).
- Commands of the root that belong to an area (``deploy``, ``record`` …) live in that area's
  module on a Typer of their own and are added to the root's own commands by :mod:`scripts.cli`,
  so ``tsunagari --help`` lists them as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

import typer

from ledger.errors import TsunagariError
from ledger.settings import get_settings
from scripts.format_cli import region_text, table, when

__all__ = [
    "AsOption",
    "JsonFlag",
    "chain",
    "emit",
    "fail",
    "guarded",
    "indexed_engine",
    "log_to_terminal",
    "managed",
    "record_table",
    "rows_table",
    "shown",
    "until_chain",
]

T = TypeVar("T")

AsOption = Annotated[str, typer.Option("--as", help="operator key to sign with: platform-admin, relayer, region-admin")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON")]


def fail(message: str) -> None:
    """End the command: ``error: message`` on stderr, exit code 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def guarded(action: Callable[[], T]) -> T:
    """``action()``, with a ledger error or an input mistake turned into :func:`fail`."""
    try:
        return action()
    except TsunagariError as exc:
        fail(str(exc))
    except ValueError as exc:  # bad addresses and similar input mistakes
        fail(str(exc))
    raise AssertionError("unreachable")


def chain() -> Any:
    """The chain of this run (:class:`ledger.chain.context.ChainContext`), or one line and exit 1."""
    from ledger.chain.context import open_chain

    return guarded(lambda: open_chain(get_settings()))


def managed() -> Any:
    """The local anvil devnet of the settings (:class:`ledger.chain.devnet.ManagedDevnet`)."""
    from ledger.chain.devnet import ManagedDevnet

    s = get_settings().devnet
    return ManagedDevnet(s.data_dir, host=s.host, port=s.port, block_time_s=s.block_time_s)


def indexed_engine() -> Any:
    """The index database's engine, or one line and exit 1 when it cannot be read or has no schema
    yet (commands that only read the index; dispose of the engine when done)."""
    from ledger.db.engine import current_revision, make_engine

    url = get_settings().db.url
    engine = make_engine(url)
    try:
        migrated = current_revision(engine) is not None
    except Exception as exc:  # noqa: BLE001 - any database problem is one line for the operator
        engine.dispose()
        fail(f"cannot read the index at {url}: {exc}")
    if not migrated:
        engine.dispose()
        fail("the database has no schema yet: run `tsunagari db upgrade` or `tsunagari index backfill`")
    return engine


def until_chain(stop: Any, build: Callable[[], T], who: str) -> T | None:
    """``build()`` what needs the chain node, for a long-running loop that may start while the node
    is down (a node restarting, a supervisor starting everything at once): instead of exiting,
    say so in one line and try again after 1, 2, 4 … 10 s, until it works or ``stop`` is set
    (then None). Any other error still ends the command with its one-line message."""
    from ledger.errors import ChainUnavailable

    delay = 1.0
    while True:
        try:
            return build()
        except ChainUnavailable as exc:
            typer.echo(f"{who}: waiting for the chain node ({exc}); trying again in {delay:.0f} s", err=True)
        except TsunagariError as exc:
            fail(str(exc))
        if stop.wait(delay):
            return None
        delay = min(delay * 2, 10.0)


def log_to_terminal() -> None:
    """Log lines of a long-running command (INFO, with the time) on stderr; the database
    migrations' own chatter ("Context impl SQLiteImpl.") left out."""
    from ledger.logs import configure_logging

    settings = get_settings().log
    configure_logging(as_json=settings.format == "json", level=settings.level)


def shown(key: str, value: Any) -> str:
    """A value as a person reads it: a moment (``*_at``) in JST with its zone, a region with its
    name, yes/no for a flag, ``-`` for nothing, bytes as 0x-hex; never a Python repr."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if key.endswith("_at") and isinstance(value, int):
        return when(value)
    if key == "region" and isinstance(value, int) and value > 0:
        return region_text(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {shown(str(k), v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(shown(key, v) for v in value) or "-"
    return str(value)


def record_table(data: Mapping[str, Any]) -> str:
    """One record as a two-column table of its fields, values as :func:`shown` prints them."""
    rows = [(key, shown(key, value)) for key, value in data.items()]
    return table(("field", "value"), rows)


def rows_table(header: Sequence[str], rows: Sequence[Mapping[str, Any]], numeric: Sequence[bool] | None = None) -> str:
    """Records with the same fields as one table, one row each (``header`` names the fields in order)."""
    return table(header, [[shown(key, row[key]) for key in header] for row in rows], numeric)


def emit(data: Any, as_json: bool) -> None:
    """``data`` as one line of JSON (``--json``: unix seconds, five-digit code text) or, for
    people, a record as a table of its fields."""
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, default=str))
    elif isinstance(data, Mapping):
        typer.echo(record_table(data))
    else:
        typer.echo(shown("", data))
