"""How the long-running loops are doing: the one owner of the ``service_health`` table.

The indexer (``tsunagari index run`` or a thread of ``tsunagari serve``) and the relayer never exit
on a transient error (a locked database, a node that is down or forgot blocks): they retry with
backoff. A loop that keeps failing must still be visible, so each one reports here:

- :meth:`HealthReporter.beat` after a pass of work (written at most every ``interval_s``, so a busy
  loop adds one small write every few seconds, not one per pass);
- :meth:`HealthReporter.failed` when a pass failed (written at most once a second), with the error
  as one line.

:func:`service_health` reads the rows for ``tsunagari index status``, ``/api/v1/index/status`` and
monitoring. Writing the report must never take the loop down: a failure to write it is logged and
dropped (the next beat writes again).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ledger.db.engine import write_transaction

__all__ = ["HealthReporter", "ServiceState", "service_health"]

log = logging.getLogger("ledger.health")

_UPSERT = text(
    "INSERT INTO service_health (service, pid, started_at, seen_at, progress_at, errors, last_error, last_error_at) "
    "VALUES (:s, :pid, :start, :now, :progress, :errors, :error, :error_at) "
    "ON CONFLICT (service) DO UPDATE SET pid = excluded.pid, started_at = excluded.started_at, "
    "seen_at = excluded.seen_at, progress_at = COALESCE(excluded.progress_at, service_health.progress_at), "
    "errors = excluded.errors, last_error = COALESCE(excluded.last_error, service_health.last_error), "
    "last_error_at = COALESCE(excluded.last_error_at, service_health.last_error_at)"
)


@dataclass(frozen=True)
class ServiceState:
    """One loop as last reported."""

    service: str
    pid: int
    started_at: int
    seen_at: int
    progress_at: int | None
    errors: int
    last_error: str | None
    last_error_at: int | None

    def silent_for(self, now: int | None = None) -> int:
        """Seconds since the loop last reported anything."""
        return max(0, (int(time.time()) if now is None else now) - self.seen_at)


class HealthReporter:
    """Reports one loop (``service``) of this process."""

    def __init__(self, engine: Engine, service: str, *, interval_s: float = 5.0) -> None:
        self.engine = engine
        self.service = service
        self.interval_s = interval_s
        self.started_at = int(time.time())
        self.errors = 0
        self._written_at = 0.0
        self._error_written_at = 0.0
        self._progress_at: int | None = None

    def beat(self, *, progressed: bool = True) -> None:
        """The loop is alive (and, with ``progressed``, got work done)."""
        if progressed:
            self._progress_at = int(time.time())
        if time.monotonic() - self._written_at >= self.interval_s:
            self._write(None)

    def failed(self, error: BaseException | str) -> None:
        """A pass failed and will be retried."""
        self.errors += 1
        if time.monotonic() - self._error_written_at >= 1.0:
            message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
            self._write(" ".join(message.split())[:1000])
            self._error_written_at = time.monotonic()

    def _write(self, error: str | None) -> None:
        now = int(time.time())
        params = {
            "s": self.service,
            "pid": os.getpid(),
            "start": self.started_at,
            "now": now,
            "progress": self._progress_at,
            "errors": self.errors,
            "error": error,
            "error_at": now if error is not None else None,
        }
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(_UPSERT, params)
        except SQLAlchemyError as exc:
            log.warning("could not report %s health: %s", self.service, exc)
            return
        self._written_at = time.monotonic()


def service_health(conn: Connection) -> list[ServiceState]:
    """Every loop's last report, by name."""
    rows = conn.execute(
        text(
            "SELECT service, pid, started_at, seen_at, progress_at, errors, last_error, last_error_at "
            "FROM service_health ORDER BY service"
        )
    )
    return [
        ServiceState(
            service=str(r[0]),
            pid=int(r[1]),
            started_at=int(r[2]),
            seen_at=int(r[3]),
            progress_at=None if r[4] is None else int(r[4]),
            errors=int(r[5]),
            last_error=r[6],
            last_error_at=None if r[7] is None else int(r[7]),
        )
        for r in rows
    ]
