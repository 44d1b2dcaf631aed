"""The export's exceptions: all :class:`ledger.errors.TsunagariError`, so the CLI and the API map them
to one line / one JSON error like every other error of ``ledger``.

::

    TsunagariError
    └── ExportError            an export cannot be made or read as asked
        ├── InvalidExportOptions   a format, table, range, region or salt that cannot work
        ├── RangeBeyondHead        the range ends past the indexed head (the message names the head)
        ├── IndexNotReady          the database holds no index of this chain and contract
        ├── ExportExists           the output folder exists and is not empty
        └── NotAnExport            verify was pointed at a folder that is not an export
"""

from __future__ import annotations

from ledger.errors import TsunagariError

__all__ = [
    "ExportError",
    "InvalidExportOptions",
    "RangeBeyondHead",
    "IndexNotReady",
    "ExportExists",
    "NotAnExport",
]


class ExportError(TsunagariError):
    """An export cannot be made, or a folder cannot be read as one."""


class InvalidExportOptions(ExportError):
    """The options cannot work: unknown format or table, an empty or inverted range, a bad salt."""


class RangeBeyondHead(ExportError):
    """The requested range ends after the last block the index holds completely."""

    def __init__(self, requested: int, head: int, requested_label: str = "", head_day: str = "") -> None:
        self.requested = requested
        self.head = head
        if requested_label:
            message = (
                f"{requested_label} is beyond the indexed head, block {head} of {head_day} (JST): index further "
                "(`tsunagari index backfill`) or end the range on that day or earlier"
            )
        else:
            message = (
                f"block {requested} is beyond the indexed head {head}: index further "
                f"(`tsunagari index backfill`) or end the range at block {head} or earlier"
            )
        super().__init__(message)


class IndexNotReady(ExportError):
    """No checkpoint for this chain and contract: nothing has been indexed yet."""


class ExportExists(ExportError):
    """The output folder already exists and is not empty (an export never overwrites one)."""


class NotAnExport(ExportError):
    """The folder given to verify is missing, or holds no readable export manifest."""
