"""Demo benchmark: how long a newcomer waits after ``./run demo`` on an installed checkout.

With no demo state (a temporary devnet directory, deployments directory, SQLite file and kiosk
secret, given to ``tsunagari demo`` through ``TSUNAGARI_*`` variables on free ports):

- ``serving_s``: from starting ``tsunagari demo`` to its kiosk URL answering HTTP 200 (the chain
  started a year ago, the ledger deployed, the regions and live activities registered, the server up);
- ``seeded_s``: from the same start to the demo year's seed finishing (``demo-seed.json`` says
  ``done``), while the demo serves;
- ``restart_serving_s``: Ctrl-C, then ``tsunagari demo`` again with the state kept, to the kiosk
  URL answering.

``people`` is the seeded year's participants (``demo.people``, 4,000 unless ``TSUNAGARI_DEMO__PEOPLE``
is set in the environment). ``loadavg_before`` / ``loadavg_after``: ``/proc/loadavg``'s first figure
(the machine is shared; a loaded machine seeds more slowly).

Targets (issue 17): ``serving_s`` ≤ 60, ``restart_serving_s`` ≤ 10.

Run: ``make bench BENCH=demo`` or ``python -m scripts.bench demo``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ledger.settings import get_settings
from scripts.devstack import demo_environment, start_demo

_KIOSK = re.compile(r"(http://\S+/kiosk/\d+\?k=\S+)")


def _loadavg() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _wait_serving(demo: subprocess.Popen[bytes], log: Path, started: float, timeout_s: float) -> float:
    """Seconds from ``started`` until the printed kiosk URL answers 200."""
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        if demo.poll() is not None:
            raise RuntimeError(f"the demo exited early:\n{log.read_text(errors='replace')}")
        found = _KIOSK.search(log.read_text(errors="replace"))
        if found is not None:
            try:
                if httpx.get(found.group(1), timeout=5).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"the demo did not serve within {timeout_s:.0f} s:\n{log.read_text(errors='replace')}")


def _phase(progress: Path) -> str:
    try:
        return str(json.loads(progress.read_text(encoding="utf-8"))["phase"])
    except (OSError, ValueError, KeyError):
        return ""


def _stop(demo: subprocess.Popen[bytes]) -> None:
    demo.send_signal(signal.SIGINT)
    try:
        demo.wait(timeout=60)
    except subprocess.TimeoutExpired:
        demo.kill()
        demo.wait()


def run() -> dict[str, Any]:
    people = int(os.environ.get("TSUNAGARI_DEMO__PEOPLE") or get_settings().demo.people)
    with tempfile.TemporaryDirectory(prefix="tsunagari-bench-demo-") as tmp:
        work = Path(tmp)
        env = demo_environment(work, people)
        progress = work / "devnet" / "demo-seed.json"
        load_before = _loadavg()
        first_log, second_log = work / "demo.log", work / "demo-restart.log"
        try:
            with open(first_log, "wb") as out:
                started = time.monotonic()
                demo = start_demo(env, work, out)
                try:
                    serving_s = _wait_serving(demo, first_log, started, 300)
                    print(f"[bench] demo serving after {serving_s:.1f} s; seeding", file=sys.stderr, flush=True)
                    while _phase(progress) in ("", "seeding"):
                        if demo.poll() is not None:
                            raise RuntimeError(f"the demo exited:\n{first_log.read_text(errors='replace')}")
                        time.sleep(0.5)
                    seeded_s = time.monotonic() - started
                    if _phase(progress) != "done":
                        said = first_log.read_text(errors="replace")
                        raise RuntimeError(f"the seed ended {_phase(progress)}:\n{said}")
                finally:
                    _stop(demo)
            with open(second_log, "wb") as out:
                started = time.monotonic()
                demo = start_demo(env, work, out)
                try:
                    restart_serving_s = _wait_serving(demo, second_log, started, 120)
                finally:
                    _stop(demo)
        finally:
            subprocess.run(
                [sys.executable, "-m", "scripts.cli", "devnet", "down"],
                cwd=work,
                env=env,
                check=False,
                capture_output=True,
            )
        return {
            "bench": "demo",
            "serving_s": round(serving_s, 1),
            "seeded_s": round(seeded_s, 1),
            "restart_serving_s": round(restart_serving_s, 1),
            "people": people,
            "loadavg_before": load_before,
            "loadavg_after": _loadavg(),
        }
