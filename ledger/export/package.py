"""The export's descriptive files: ``datapackage.json``, ``README.md`` and ``manifest.json``.

All three are generated from :data:`ledger.export.schema.TABLES` and the written files' records, so
the data dictionary always describes exactly the columns in the files.

- ``datapackage.json`` is a Frictionless Data Package (v1 layout, custom properties allowed): one
  resource per table with its path(s), format, size, sha256 (single-file tables) and table schema
  — every field's type, ``unit`` (a custom property), description and whether it is ``personal``.
- ``README.md`` is the human-readable data dictionary.
- ``manifest.json`` is what ``verify`` checks: chain, contracts, ABI hash, block range with both
  end blocks' hashes, export time, options, row counts and the sha256 of every other file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ledger.export.schema import TABLES, ExportField, ExportTable
from ledger.export.writers import MEDIA_TYPES, FileRecord
from ledger.figures import FIGURES
from ledger.municipalities import jis_code, municipality_name, parse_jis_code
from ledger.ties import DEFAULT_PARAMS

__all__ = ["MANIFEST", "DATAPACKAGE", "README", "FORMAT_NAME", "FORMAT_VERSION", "datapackage", "readme", "manifest"]

MANIFEST = "manifest.json"
DATAPACKAGE = "datapackage.json"
README = "README.md"
FORMAT_NAME = "tsunagari-ledger-export"
FORMAT_VERSION = 1
_PARTITIONED = " (one file per JST month for the large event tables)"
_LICENSE = {
    "name": "LicenseRef-to-be-set",
    "title": "Licence to be set by the data provider before publication (this placeholder grants nothing)",
}


def _field_descriptor(f: ExportField, pseudonymised: bool) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"name": f.name, "type": f.type, "description": f.description}
    if f.type == "date":
        descriptor["format"] = "default"  # ISO 8601 YYYY-MM-DD
    if f.unit:
        descriptor["unit"] = f.unit
    if not f.nullable:
        descriptor["constraints"] = {"required": True}
    if f.personal:
        descriptor["personal"] = True
        descriptor["pseudonymised"] = pseudonymised
    return descriptor


def _resource(
    t: ExportTable, files: Sequence[FileRecord], fmt: str, pseudonymised: bool, manifest_tables: Mapping[str, Any]
) -> dict[str, Any]:
    paths = [f.path for f in files]
    resource: dict[str, Any] = {
        "name": t.name,
        "title": t.title,
        "description": t.description,
        "path": paths if any("/" in p for p in paths) else paths[0],
        "format": fmt,
        "mediatype": MEDIA_TYPES[fmt],
        "encoding": "utf-8",
        "bytes": sum(f.bytes for f in files),
        "schema": {
            "fields": [_field_descriptor(f, pseudonymised) for f in t.fields],
            "primaryKey": list(t.key),
            "missingValues": [""],
        },
        "kind": t.kind,
        "rows": manifest_tables[t.name]["rows"],
    }
    if fmt == "csv":
        resource["profile"] = "tabular-data-resource"
        resource["dialect"] = {"delimiter": ",", "quoteChar": '"', "doubleQuote": True, "header": True}
    if len(files) == 1:
        resource["hash"] = f"sha256:{files[0].sha256}"
    return resource


def datapackage(manifest_body: Mapping[str, Any], files_by_table: Mapping[str, Sequence[FileRecord]]) -> dict[str, Any]:
    """The Frictionless descriptor of an export (``manifest_body`` has everything but the file list)."""
    chain = manifest_body["chain"]
    span = manifest_body["range"]
    options = manifest_body["options"]
    contract = chain["contracts"][0]
    return {
        "profile": "tabular-data-package" if options["format"] == "csv" else "data-package",
        "name": f"tsunagari-ledger-{chain['chain_id']}-{span['from_block']}-{span['to_block']}",
        "title": f"Tsunagari Ledger export: chain {chain['chain_id']}, blocks {span['from_block']}–{span['to_block']}",
        "description": "Contributions, revocations, supports and coin movements recorded on the Tsunagari Ledger, "
        "with per person × region ties and per region aggregates (関係人口). See README.md for the data "
        "dictionary and manifest.json for hashes and the exact chain range.",
        "created": manifest_body["exported_at"],
        "licenses": [_LICENSE],
        "keywords": ["関係人口", "relationship population", "regional community coins", "blockchain", "provenance"],
        "sources": [
            {
                "title": f"{c['name']} at {c['address']} on EIP-155 chain {chain['chain_id']}, blocks "
                f"{span['from_block']} ({span['from_block_hash']}) to {span['to_block']} ({span['to_block_hash']})",
                "path": f"eip155:{chain['chain_id']}:{c['address']}",
            }
            for c in chain["contracts"]
        ],
        "contributors": [
            {"title": f"{manifest_body['tool']['name']} {manifest_body['tool']['version']}", "role": "author"}
        ],
        "x-tsunagari": {"ledger": contract["address"], "abi_sha256": contract["abi_sha256"]},
        "resources": [
            _resource(TABLES[name], files, options["format"], options["pseudonymised"], manifest_body["tables"])
            for name, files in files_by_table.items()
        ],
    }


def _region_names(codes: Sequence[Any]) -> list[str]:
    """``01634 上士幌町`` for each code (five-digit text; the municipality's name when known)."""
    names = []
    for code in codes:
        number = parse_jis_code(code)
        name = municipality_name(number)
        names.append(f"{jis_code(number)} {name}" if name else jis_code(number))
    return names


def _md(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def readme(manifest_body: Mapping[str, Any], files_by_table: Mapping[str, Sequence[FileRecord]]) -> str:
    """The human-readable data dictionary of an export."""
    chain = manifest_body["chain"]
    span = manifest_body["range"]
    options = manifest_body["options"]
    index = manifest_body["index"]
    pseudonymised = options["pseudonymised"]
    lines = [
        f"# Tsunagari Ledger export — chain {chain['chain_id']}, blocks {span['from_block']}–{span['to_block']}",
        "",
        "Records of 関係人口 (people's continuing ties with regions) from the Tsunagari Ledger: every contribution, "
        "revocation, coin movement and support in the block range, with the chain position of every row, plus "
        "per person × region ties and per region aggregates. Generated by "
        f"{manifest_body['tool']['name']} {manifest_body['tool']['version']} at {manifest_body['exported_at']}.",
        "",
        "## Coverage",
        "",
        "| | |",
        "|---|---|",
        f"| Chain | EIP-155 chain id {chain['chain_id']} |",
    ]
    for c in chain["contracts"]:
        lines.append(
            f"| Contract | {c['name']} `{c['address']}` "
            f"(from block {c['start_block']}, ABI sha256 `{c['abi_sha256']}`) |"
        )
    lines += [
        f"| First block | {span['from_block']} `{span['from_block_hash']}` "
        f"(unix time {span['from_block_timestamp']}) |",
        f"| Last block | {span['to_block']} `{span['to_block_hash']}` (unix time {span['to_block_timestamp']}) |",
    ]
    if span.get("from_date") or span.get("to_date"):
        lines.append(f"| Dates asked (JST) | {span.get('from_date') or '…'} to {span.get('to_date') or '…'} |")
    lines += [
        f"| Index head at export | block {index['head_block']} `{index['head_block_hash']}` |",
        f"| Regions | {', '.join(_region_names(options['regions'])) if options['regions'] else 'all'} |",
        f"| Format | {options['format']}{_PARTITIONED if options['partition_by_month'] else ''} |",
        f"| Small-cell threshold k | {options['k']} |",
        f"| Person ids | {'pseudonymised (salted sha256, prefix `p_`)' if pseudonymised else 'raw addresses'} |",
        "",
        "Event tables hold the logs of the block range; regions, activities and projects hold every registration "
        "up to the last block, so each event row can be looked up. Ties are the index's, computed as of the end "
        "of the JST day of the index head (column `as_of`); aggregates cover the JST days from the first to the "
        "last block.",
        "",
        "## Person ids and privacy",
        "",
    ]
    if pseudonymised:
        lines += [
            "Columns marked *personal* hold `p_` + 32 hex digits: the first 128 bits of sha256(salt ‖ address). The "
            "salt is kept by the exporter and is not in this folder; another export made with another salt gives the "
            "same person another id, so exports cannot be joined on people unless the operator used one salt for "
            "both. Issuers, admins and relayers are institutions' keys and are not pseudonymised.",
            "",
            "**What this does not protect.** Every event row names its log (chain id, contract, block, transaction, "
            "log index). Anyone who can read the chain can look the log up and read the person's address: "
            "pseudonyms only keep addresses out of the files and stop joins across exports. Rare combinations (a "
            "small region, an unusual kind, an exact time) can single people out; do not publish row-level tables "
            "of small regions. Aggregate tables suppress cells below k; row-level tables cannot.",
        ]
    else:
        lines += [
            "Columns marked *personal* hold participants' raw addresses (the operator chose a raw export). Treat "
            "this folder as personal data: an address links to everything it did on chain.",
        ]
    lines += [
        "",
        "## Tables",
        "",
        "| Table | Kind | Rows | Files |",
        "|---|---|---|---|",
    ]
    for name, files in files_by_table.items():
        t = TABLES[name]
        paths = ", ".join(f"`{f.path}`" for f in files[:3]) + (f" … ({len(files)} files)" if len(files) > 3 else "")
        lines.append(f"| `{name}` | {t.kind} | {manifest_body['tables'][name]['rows']} | {paths} |")
    for name in files_by_table:
        t = TABLES[name]
        lines += [
            "",
            f"### `{name}` — {t.title}",
            "",
            t.description,
            "",
            f"Key: {', '.join(f'`{k}`' for k in t.key)}.",
            "",
            "| Field | Type | Unit | Description |",
            "|---|---|---|---|",
        ]
        for f in t.fields:
            notes = []
            if f.personal:
                notes.append("*personal*" + (", pseudonymised" if pseudonymised else ", raw"))
            if f.nullable:
                notes.append("may be empty")
            suffix = f" ({'; '.join(notes)})" if notes else ""
            lines.append(f"| `{f.name}` | {f.type} | {_md(f.unit or '')} | {_md(f.description)}{suffix} |")
    lines += [
        "",
        "## Figures",
        "",
        "What each figure of the dashboards, the JSON API and this data means, as `ledger/figures.py` defines it "
        "(also the table `figures`, when exported). Recompute a figure from the tables above with its definition.",
        "",
        "| Id | Label | Definition |",
        "|---|---|---|",
    ]
    for figure in FIGURES.values():
        labels = f"{_md(figure.label_ja)} / {_md(figure.label_en)}"
        lines.append(f"| `{figure.id}` | {labels} | {_md(figure.definition_ja)}<br>{_md(figure.definition_en)} |")
    lines += [
        "",
        "## Ties model parameters",
        "",
        "The constants the ties table was computed with (`ledger/ties.py` TieParams, argued in docs/ties.md; "
        "also the table `tie_parameters`, when exported).",
        "",
        "| Parameter | Value |",
        "|---|---|",
    ]
    for parameter in dataclasses.fields(DEFAULT_PARAMS):
        lines.append(f"| `{parameter.name}` | {getattr(DEFAULT_PARAMS, parameter.name)} |")
    lines += [
        "",
        "## Conventions",
        "",
        "- Addresses and hashes are lowercase `0x` hex. Coin amounts are whole coins (no decimals).",
        "- `day` is the JST (UTC+9) calendar day of the block; `block_timestamp` and other times are unix "
        "seconds (UTC).",
        "- CSV: UTF-8, a header row, strings quoted, an empty field is a missing value, booleans `true`/`false`.",
        "",
        "## Checking this export",
        "",
        "`manifest.json` lists the sha256 of every file. With access to the chain, "
        "`tsunagari export verify FOLDER --rpc URL` re-reads the logs of the range and reports any row that is not "
        "on chain, any log that is missing, and any file that changed (with the exporter's salt, in hex in the "
        "environment variable named by `--salt-env`, it checks person ids too).",
        "",
        "## Licence",
        "",
        f"{_LICENSE['title']}.",
        "",
    ]
    return "\n".join(lines)


def manifest(body: Mapping[str, Any], files: Sequence[FileRecord]) -> dict[str, Any]:
    """``body`` plus the hash, size and rows of every file."""
    listed: dict[str, Any] = {}
    for f in files:
        entry: dict[str, Any] = {"sha256": f.sha256, "bytes": f.bytes}
        if f.table is not None:
            entry["table"] = f.table
            entry["rows"] = f.rows
        if f.month is not None:
            entry["month"] = f.month
        listed[f.path] = entry
    return {**body, "files": listed}
