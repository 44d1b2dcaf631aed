"""The claim journal: every claim the outbox accepts, also appended to a file, so that a database
restored from a backup gets back the claims acknowledged after that backup.

A backup (``tsunagari db backup``) is a moment; phones keep checking in after it. If the database
is later lost and restored from that backup, the claims accepted in between would be gone although
each phone was told 「受け付けました」. Phones cannot simply send them again: a kiosk code is valid for
30 s, so the server would (rightly) refuse the old signature. So the API writes each accepted claim
to this journal as one JSON line, and after a restore the operator replays the journal
(``tsunagari db replay-journal``) before starting the API: every claim missing from the restored
database comes back **with its original id** (phones follow their claim by id) and its original
time; a claim already there is left alone; nothing is inserted twice (the outbox's unique keys).
A single-use claim code redeemed after the backup is marked redeemed again, so it cannot be used a
second time. Claims the relayer already put on chain come back as ``accepted`` and are confirmed
from the chain's record on the next pass (the relayer finds their records and adopts the receipts).

How it is written: the outbox's insert functions note each new claim on the connection
(:func:`note_claims`); when that transaction commits, one ``write`` appends the lines (the file is
opened with ``O_APPEND``, so several API processes on one machine may share it); a rolled-back
transaction writes nothing. The write happens as the commit is issued, so a database that then
fails to commit can leave a line for a claim it never stored: replaying it records a scan the
participant really made and signed, which the phone would have resent anyway. Lines are flushed to
the operating system, not synced to disk (a sync per check-in would cost more than the insert):
keep the journal on another disk than the database, and ship it with the backups.

What the journal does not hold: presence check-ins still open at the restore (a participant who
arrived after the backup scans the kiosk again when leaving), console edits, and supports (a
signed support is relayed from its signature; a phone resends it, and a repeat is refused by its
nonce). Those are listed in docs/operations.md.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event

from ledger.errors import InvalidInput

__all__ = [
    "JournalEntry",
    "ReplayResult",
    "install_journal",
    "note_claims",
    "note_code",
    "read_journal",
    "replay_journal",
]

_PENDING = "tsunagari.claim_journal"


@dataclass(frozen=True)
class JournalEntry:
    """One accepted claim as journaled."""

    claim_id: int
    activity_id: int
    region: int
    participant: str
    request_hash: str
    slot: int
    units: int
    accepted_at_ms: int
    code_hash: str | None = None

    def line(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"), sort_keys=True)


def note_claims(conn: Connection, entries: Iterable[JournalEntry]) -> None:
    """Remember claims inserted on ``conn``: journaled when its transaction commits (if a journal is
    installed on the engine; otherwise nothing)."""
    pending = conn.info.get(_PENDING)
    if pending is not None:
        pending.extend(entries)


def note_code(conn: Connection, claim_id: int, code_hash: str) -> None:
    """The claim ``claim_id`` redeemed the single-use code ``code_hash``."""
    pending = conn.info.get(_PENDING)
    if pending is None:
        return
    for i, entry in enumerate(pending):
        if entry.claim_id == claim_id:
            pending[i] = JournalEntry(**{**entry.__dict__, "code_hash": code_hash})


class _Writer:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, entries: list[JournalEntry]) -> None:
        data = "".join(e.line() + "\n" for e in entries).encode()
        with self._lock:
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])


def install_journal(engine: Engine, path: Path) -> None:
    """Journal every claim the outbox inserts through ``engine`` to ``path`` (see the module doc)."""
    writer = _Writer(path)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.info[_PENDING] = []

    @event.listens_for(engine, "commit")
    def _commit(conn: Connection) -> None:
        pending = conn.info.pop(_PENDING, None)
        if pending:
            writer.write(pending)

    @event.listens_for(engine, "rollback")
    def _rollback(conn: Connection) -> None:
        conn.info.pop(_PENDING, None)


def read_journal(path: Path) -> Iterator[JournalEntry]:
    """The entries of a journal file, in order; a torn last line (a crash mid-write) is skipped."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.endswith("\n"):
                return  # the last write was cut short: that claim was never acknowledged
            try:
                yield JournalEntry(**json.loads(line))
            except (ValueError, TypeError) as exc:
                raise InvalidInput(f"{path}:{number}: not a journal line ({exc})") from None


@dataclass
class ReplayResult:
    """What a replay did."""

    replayed: int = 0  # claims the database did not have, inserted with their ids
    present: int = 0  # claims already there (same id and request)
    conflicts: list[str] | None = None  # ids the database holds with another request (never overwritten)
    codes: int = 0  # single-use codes marked redeemed again

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "conflicts": self.conflicts or []}


def replay_journal(engine: Engine, paths: Iterable[Path]) -> ReplayResult:
    """Put back every journaled claim ``engine``'s database lacks (run before the API starts)."""
    from ledger.checkin.codes import mark_redeemed
    from ledger.db.engine import write_transaction
    from ledger.relay.outbox import NewClaim, claim_request, continue_claim_ids, restore_claim

    result = ReplayResult(conflicts=[])
    assert result.conflicts is not None
    with write_transaction(engine) as conn:
        for path in paths:
            for e in read_journal(path):
                held = claim_request(conn, e.claim_id)
                if held is not None:
                    if held == e.request_hash:
                        result.present += 1
                    else:
                        result.conflicts.append(str(e.claim_id))
                    continue
                claim = NewClaim(e.activity_id, e.region, e.participant, e.request_hash, e.slot, e.units)
                if not restore_claim(conn, e.claim_id, claim, e.accepted_at_ms):
                    result.conflicts.append(str(e.claim_id))  # its request or person holds another id
                    continue
                result.replayed += 1
                if e.code_hash is not None:
                    result.codes += mark_redeemed(conn, e.code_hash, e.participant, e.claim_id, e.accepted_at_ms)
        continue_claim_ids(conn)
    return result
