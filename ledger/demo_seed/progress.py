"""Where the demo year's seed stands, in one small JSON file beside the devnet's state.

The seed runs in a child process while the demo already serves (``tsunagari demo``); the terminal's
progress bar and the pages' banner (「デモデータを準備中: 40 %」) both read this file, and the next
``tsunagari demo`` reads it to tell a finished year from an interrupted one.

The file lives in the devnet's data directory (``<devnet.data_dir>/demo-seed.json``) because it
describes that chain: it names the chain's genesis block hash and the ledger, so a file left over
from another chain (the state file was removed by hand) is recognised and ignored.

States::

    seeding ──(every simulated day: days_done += 1)──► seeding
       │                    │                   │
       ▼                    ▼                   ▼
     done              interrupted            failed
  (the year is      (Ctrl-C: the next      (an error: its message is kept;
   on chain)         start seeds again)     the next start seeds again)

Only ``done`` means the demo year is on chain. Anything else found at start-up means a partial
year: the demo starts it again on a fresh devnet instead of showing it as finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path

__all__ = ["SeedPhase", "SeedProgress", "progress_path", "read_progress", "write_progress", "clear_progress"]

FILE_NAME = "demo-seed.json"
STALE_AFTER_S = 120.0  # a "seeding" file not touched for this long belongs to a seed that was killed


class SeedPhase(StrEnum):
    SEEDING = "seeding"
    DONE = "done"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


@dataclass(frozen=True)
class SeedProgress:
    """One snapshot of the seed (times are unix seconds)."""

    phase: SeedPhase
    genesis_hash: str  # the chain this is about (block 0's hash)
    ledger: str
    days: int  # simulated days to play
    days_done: int = 0
    people: int = 0
    seed: int = 0
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    message: str = ""  # why it failed, or the one-line summary once done

    @property
    def percent(self) -> int:
        """Whole per cent of the simulated days played (100 only when done)."""
        if self.phase is SeedPhase.DONE:
            return 100
        if self.days <= 0:
            return 0
        return min(99, self.days_done * 100 // self.days)

    @property
    def elapsed_s(self) -> float:
        return (self.finished_at or self.updated_at) - self.started_at

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace so far (None before the first days give a pace)."""
        if self.phase is not SeedPhase.SEEDING or self.days_done < 3:
            return None
        return self.elapsed_s / self.days_done * (self.days - self.days_done)

    def is_live(self, now: float | None = None) -> bool:
        """Seeding now: ``seeding`` and touched recently (a killed seed does not stay "seeding")."""
        now = time.time() if now is None else now
        return self.phase is SeedPhase.SEEDING and now - self.updated_at < STALE_AFTER_S

    def advanced(self, days_done: int) -> SeedProgress:
        return replace(self, days_done=days_done, updated_at=time.time())

    def finished(self, phase: SeedPhase, message: str = "") -> SeedProgress:
        now = time.time()
        done = self.days if phase is SeedPhase.DONE else self.days_done
        return replace(self, phase=phase, days_done=done, message=message, updated_at=now, finished_at=now)


def progress_path(data_dir: Path) -> Path:
    """The progress file of the devnet whose data directory is ``data_dir``."""
    return data_dir / FILE_NAME


def read_progress(path: Path) -> SeedProgress | None:
    """The last snapshot written to ``path``; None when there is none (or it cannot be read)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        document["phase"] = SeedPhase(document["phase"])
        return SeedProgress(**document)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_progress(path: Path, progress: SeedProgress) -> None:
    """Replace the snapshot atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(asdict(progress), ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)


def clear_progress(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
