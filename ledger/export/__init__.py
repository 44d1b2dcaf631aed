"""The researcher export: the ledger as a dataset (CSV, Parquet or JSON Lines) that anyone with the
chain can verify.

Public API (the CLI and the HTTP endpoint are thin layers over these)::

    options = ExportOptions(format="parquet", from_date=date(2025, 4, 1), to_date=date(2025, 6, 30))
    result = export_dataset(engine, deployment, options, Path("export-2025q2"))
    result.salt_hex      # the secret behind the person ids: keep it, it is not in the export
    stream = stream_export_zip(engine, deployment, options)   # the same export as ZIP bytes
    report = verify_export(Path("export-2025q2"), rpc, salt=bytes.fromhex(result.salt_hex))
    report.ok, report.discrepancies

Modules: :mod:`~ledger.export.schema` (tables and fields, the single source of the data
dictionary), :mod:`~ledger.export.source` (reading the index), :mod:`~ledger.export.writers`
(formats, hashing, folder and ZIP targets), :mod:`~ledger.export.package` (datapackage, README,
manifest), :mod:`~ledger.export.dataset` (options and the two ways out),
:mod:`~ledger.export.verify` (the check against the chain), :mod:`~ledger.export.pseudonym`,
:mod:`~ledger.export.errors`. See docs/export.md.
"""

from __future__ import annotations

from ledger.export.dataset import (
    DEFAULT_CHUNK_ROWS,
    ExportOptions,
    ExportPlan,
    ExportResult,
    ZipStream,
    chain_info,
    export_dataset,
    plan_export,
    stream_export_zip,
)
from ledger.export.errors import (
    ExportError,
    ExportExists,
    IndexNotReady,
    InvalidExportOptions,
    NotAnExport,
    RangeBeyondHead,
)
from ledger.export.pseudonym import Pseudonymiser, new_salt, salt_fingerprint
from ledger.export.schema import DEFAULT_TABLES, TABLE_NAMES, TABLES, ExportField, ExportTable
from ledger.export.source import ChainInfo, ContractInfo
from ledger.export.verify import Discrepancy, VerifyReport, read_manifest, verify_export
from ledger.export.writers import FORMATS, Format

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "DEFAULT_TABLES",
    "FORMATS",
    "TABLES",
    "TABLE_NAMES",
    "ChainInfo",
    "ContractInfo",
    "Discrepancy",
    "ExportError",
    "ExportExists",
    "ExportField",
    "ExportOptions",
    "ExportPlan",
    "ExportResult",
    "ExportTable",
    "Format",
    "IndexNotReady",
    "InvalidExportOptions",
    "NotAnExport",
    "Pseudonymiser",
    "RangeBeyondHead",
    "VerifyReport",
    "ZipStream",
    "chain_info",
    "export_dataset",
    "new_salt",
    "plan_export",
    "read_manifest",
    "salt_fingerprint",
    "stream_export_zip",
    "verify_export",
]
