"""The demo seed's progress file (``ledger.demo_seed.progress``): what the terminal, the pages and the
next start read."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ledger.demo_seed.progress import (
    SeedPhase,
    SeedProgress,
    clear_progress,
    progress_path,
    read_progress,
    write_progress,
)
from scripts.demo_cli import progress_line


def _seeding(**changes: object) -> SeedProgress:
    start = SeedProgress(SeedPhase.SEEDING, "0x" + "ab" * 32, "0x" + "11" * 20, days=364, started_at=1000.0)
    return replace(start, **{"updated_at": 1000.0, **changes})  # type: ignore[arg-type]


def test_percent_and_time_left_follow_the_days_played() -> None:
    assert _seeding().percent == 0 and _seeding().eta_s is None
    halfway = _seeding(days_done=182, updated_at=1300.0)
    assert halfway.percent == 50
    assert halfway.eta_s == 300.0  # 300 s for 182 days: as long again for the other 182
    assert _seeding(days_done=364, updated_at=1600.0).percent == 99  # 100 % only once it says done
    done = _seeding(days_done=362).finished(SeedPhase.DONE, "2789 records")
    assert done.percent == 100 and done.days_done == 364 and done.eta_s is None and done.finished_at is not None
    interrupted = _seeding(days_done=42).finished(SeedPhase.INTERRUPTED)
    assert interrupted.percent == 11 and interrupted.days_done == 42


def test_only_a_recently_touched_seeding_file_is_live() -> None:
    assert _seeding().is_live(now=1010.0)
    assert not _seeding().is_live(now=1000.0 + 3600)  # a seed killed an hour ago
    assert not _seeding().finished(SeedPhase.DONE).is_live()


def test_the_file_round_trips_and_a_broken_one_reads_as_none(tmp_path: Path) -> None:
    path = progress_path(tmp_path / "devnet")
    assert read_progress(path) is None
    progress = _seeding(days_done=7, people=30, seed=5)
    write_progress(path, progress)
    assert read_progress(path) == progress
    assert [p.name for p in path.parent.iterdir()] == ["demo-seed.json"]  # no partial file left behind
    path.write_text('{"phase": "seeding"', encoding="utf-8")  # cut short
    assert read_progress(path) is None
    path.write_text('{"phase": "resting", "genesis_hash": "", "ledger": "", "days": 1}', encoding="utf-8")
    assert read_progress(path) is None
    clear_progress(path)
    clear_progress(path)
    assert not path.exists()


def test_the_terminal_line() -> None:
    assert progress_line(40, 146, 364, 312.0) == (
        "demo year [#########...............]  40 %  146/364 days  about 5 min 12 s left"
    )
    assert progress_line(100, 364, 364, None) == "demo year [########################] 100 %  364/364 days"
