"""How the long-running processes log: one line per event on stderr, as text for a terminal or, with
``log.format = json`` (``TSUNAGARI_LOG__FORMAT=json``), as one JSON object per line for a log collector (Loki,
Cloud Logging, journald's JSON export): ``{"time", "level", "logger", "message", "process"}`` plus
``error`` with the traceback when there is one. Times are UTC ISO 8601 with the zone."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "configure_logging"]


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": os.getpid(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(*, as_json: bool, level: str = "INFO") -> None:
    """Log to stderr at ``level``; the database migrations' own chatter left out."""
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
