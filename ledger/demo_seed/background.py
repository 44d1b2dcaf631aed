"""The demo year's seed in a child process, so the demo serves while it runs (``tsunagari demo``).

Why a child process and not a thread: the seed is CPU-bound Python (signing, the intake's checks,
the relayer's bookkeeping) for minutes; in a thread it would share the GIL with the API and make
every page wait, and the API would slow the seed. A process uses another core, and a crash or a
Ctrl-C in it leaves the serving process alone. The two meet only through the chain, the database
(SQLite in WAL mode with a busy timeout, as the API, relayer and indexer already share it) and the
progress file (:mod:`ledger.demo_seed.progress`).

The child's log records (the relayer's notes on a chain whose clock jumps a day at a time) go to
``<devnet.data_dir>/demo-seed.log``, not to the terminal that shows the demo's URLs and progress.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from multiprocessing.process import BaseProcess
from pathlib import Path

from ledger.demo_seed.progress import SeedPhase, SeedProgress, read_progress, write_progress
from ledger.settings import Settings

__all__ = ["start_seed_process", "initial_progress", "seed_log_path", "warnings_in_log"]


def seed_log_path(data_dir: Path) -> Path:
    return data_dir / "demo-seed.log"


def warnings_in_log(data_dir: Path) -> int:
    """How many warnings (and errors) the last seed logged."""
    try:
        text = seed_log_path(data_dir).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if " WARNING " in line or " ERROR " in line)


def start_seed_process(settings: Settings, progress_file: Path, *, seed: int, people: int) -> BaseProcess:
    """Start the seed in a new process (spawned: no state of this one is inherited); it plays the
    year on the chain and database ``settings`` name and keeps ``progress_file`` up to date. The
    caller writes the first ``seeding`` snapshot before, so the pages show the banner at once."""
    context = multiprocessing.get_context("spawn")
    process = context.Process(
        target=_seed_main,
        args=(settings, progress_file, seed, people),
        name="demo-seed",
        daemon=False,
    )
    process.start()
    return process


def _seed_main(settings: Settings, progress_file: Path, seed: int, people: int) -> None:
    """The child: seed, record every day in the progress file, end in done, interrupted or failed."""
    # Ctrl-C in a terminal reaches this process and the demo's; the demo may then interrupt it
    # again. The handler only notes the request: the seed stops at the end of the day it is
    # playing (well under a second), from ordinary code. Raising KeyboardInterrupt in the handler
    # itself could land inside a finaliser (``__del__``), where Python prints a traceback and
    # drops the exception, and the seed would run on; a second Ctrl-C must not cut short the
    # last steps either (moving the chain's clock to now, writing "interrupted").
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda _signum, _frame: stop.set())
    from ledger.chain.context import open_chain
    from ledger.db.engine import make_engine
    from ledger.demo_seed.run import seed_year

    handler = logging.FileHandler(seed_log_path(progress_file.parent), mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    log = logging.getLogger("tsunagari.demo_seed")

    first = read_progress(progress_file)
    if first is None:  # the caller writes one; without it nothing can report
        raise SystemExit(2)
    progress: SeedProgress = first

    def on_day(done: int, days: int) -> None:
        nonlocal progress
        progress = progress.advanced(done)
        write_progress(progress_file, progress)
        if stop.is_set():
            raise KeyboardInterrupt

    try:
        ctx = open_chain(settings)
        engine = make_engine(settings.db.url)
        if stop.is_set():  # Ctrl-C while the chain and database were opened
            raise KeyboardInterrupt
        result = seed_year(ctx, engine, seed=seed, people=people, log=log.info, on_day=on_day, reset_database=False)
    except KeyboardInterrupt:
        write_progress(progress_file, progress.finished(SeedPhase.INTERRUPTED, "stopped by Ctrl-C"))
        return
    except Exception as exc:
        log.exception("the demo year's seed failed")
        write_progress(progress_file, progress.finished(SeedPhase.FAILED, f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from None
    summary = (
        f"{result.first_day.isoformat()} – {result.last_day.isoformat()}: {result.people} people, "
        f"{result.records} records, {result.revocations} revocations, {result.supports} supports, "
        f"{result.activities} activities"
    )
    log.info("seeded %s in %.0f s", summary, result.wall_s)
    write_progress(progress_file, progress.finished(SeedPhase.DONE, summary))


def initial_progress(genesis_hash: str, ledger: str, *, days: int, seed: int, people: int) -> SeedProgress:
    return SeedProgress(SeedPhase.SEEDING, genesis_hash, ledger.lower(), days, 0, people, seed)
