"""Faults benchmark: nothing lost, nothing duplicated, nothing stuck while the stack is broken.

The whole stack runs as separate processes on one SQLite file (``scripts/devstack.py``: anvil with
1 s blocks and a state file, ``tsunagari api serve``, ``tsunagari relay``, ``tsunagari index
run``). 600 distinct phones scan the kiosk at 10 a second; each keeps its signed claim and resends
it until the server acknowledges it (``scripts.simulate.paced_checkins``). Meanwhile, on a fixed
schedule:

1. anvil is killed with SIGKILL and restarted from its state file;
2. anvil is killed again and restarted from a copy of its state file taken 3 s earlier (it has
   certainly lost blocks that the relayer saw confirmed and the indexer indexed);
3. the relayer is killed with SIGKILL and restarted;
4. the indexer is killed with SIGKILL and restarted;
5. anvil is killed a third time and restarted from its state file.

When the phones are done the stack gets a bounded drain (``DRAIN_S``). Printed:

- ``acknowledged``: claims a phone was told about (202, or a replay answer with its id);
- ``on_chain``: of those, how many have a ``ContributionRecorded`` log (read from the chain);
- ``lost``: acknowledged but not on chain; ``duplicated``: claim ids with more than one log;
- ``stuck``: acknowledged claims not ``indexed`` (on chain and in the index) when the drain ends;
- ``indexer_exits`` / ``relayer_exits``: times that process exited on its own (any exit is a failure:
  the loops must retry every error);
- ``recovery_s``: per fault, seconds from the restart until every claim acknowledged before the
  fault is indexed; ``max_recovery_s`` the largest;
- ``batches_sent_again``: batches the relayer had seen confirmed that left the chain with a lost
  block and were sent again (shows the node really lost blocks).

The machine's load average is printed before and after (``load``): the figures are only worth
comparing on a quiet machine.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger.relay.outbox import Outbox
from scripts.devstack import DevStack, running_stack
from scripts.simulate import PacedResult, paced_checkins

PHONES = 600
PER_S = 10.0
DRAIN_S = 180.0


def _log(message: str) -> None:
    print(f"[faults] {message}", file=sys.stderr, flush=True)


class _Watch:
    """Samples the outbox every 0.5 s: when each fault's earlier claims were all indexed, and
    whether a process the bench did not kill exited."""

    def __init__(self, stack: DevStack) -> None:
        self.stack = stack
        self.outbox = Outbox(stack.engine)
        self.faults: list[dict[str, Any]] = []
        self.exits = {"index": 0, "relay": 0}
        self.expected_down: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def fault(self, name: str, action: Callable[[], None]) -> None:
        before = set(self.outbox.claims_by_id())
        action()
        self.faults.append({"fault": name, "restarted_at": time.monotonic(), "claims": before, "recovered_at": None})
        _log(f"{name}: {len(before)} claims accepted before it")

    def kill_process(self, name: str, down_s: float) -> None:
        self.expected_down.add(name)
        self.stack.kill(name)
        time.sleep(down_s)
        self.stack.start(name)
        self.expected_down.discard(name)

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            for name in self.exits:
                service = self.stack.services[name]
                if (
                    name not in self.expected_down
                    and service.process is not None
                    and service.process.poll() is not None
                ):
                    self.exits[name] += 1
                    _log(f"`{name}` exited on its own (code {service.process.returncode}); restarting it")
                    service.process = None
                    self.stack.start(name)
            pending = [f for f in self.faults if f["recovered_at"] is None]
            if not pending:
                continue
            try:
                progress = self.outbox.progress()
            except Exception as exc:  # noqa: BLE001 - a busy database is retried at the next sample
                _log(f"sampling failed: {exc}")
                continue
            for fault in pending:
                if all(progress.get(i) in ("indexed", "rejected") for i in fault["claims"]):
                    fault["recovered_at"] = time.monotonic()


def _seconds(fault: dict[str, Any]) -> float | None:
    return None if fault["recovered_at"] is None else round(fault["recovered_at"] - fault["restarted_at"], 1)


def _phones(kiosk: str, out: dict[str, PacedResult]) -> None:
    out["result"] = paced_checkins(kiosk, PHONES, per_s=PER_S, seed="bench-faults", give_up_s=240)


def run() -> dict[str, Any]:
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="tsunagari-bench-faults-") as tmp,
        running_stack(Path(tmp) / "stack", settings={"TSUNAGARI_RELAY__BUMP_AFTER_S": "5"}) as stack,
    ):
        watch = _Watch(stack)
        watch.thread.start()
        phones: dict[str, PacedResult] = {}
        feeder = threading.Thread(target=_phones, args=(stack.kiosk_url(), phones))
        started = time.monotonic()
        feeder.start()

        def at(second: float) -> None:
            time.sleep(max(0.0, started + second - time.monotonic()))

        at(8)
        watch.fault("anvil SIGKILL", stack.kill_anvil)
        at(16)
        older = stack.copy_anvil_state()
        at(19)
        watch.fault("anvil SIGKILL, restarted 3 s back", lambda: stack.kill_anvil(restore=older))
        at(28)
        watch.fault("relayer SIGKILL", lambda: watch.kill_process("relay", 2.0))
        at(38)
        watch.fault("indexer SIGKILL", lambda: watch.kill_process("index", 2.0))
        at(48)
        watch.fault("anvil SIGKILL", stack.kill_anvil)
        feeder.join()
        result = phones["result"]
        _log(f"phones done in {time.monotonic() - started:.0f} s: {len(result.acknowledged)} acknowledged")
        acknowledged = set(result.acknowledged.values())
        drain_until = time.monotonic() + DRAIN_S
        progress: dict[int, str] = {}
        while time.monotonic() < drain_until:
            progress = Outbox(stack.engine).progress()
            if all(progress.get(i) == "indexed" for i in acknowledged) and all(f["recovered_at"] for f in watch.faults):
                break
            time.sleep(1.0)
        watch.stop.set()
        watch.thread.join(timeout=5)
        on_chain = stack.on_chain()
        recovery = {
            f"{i + 1}. {f['fault']}": None
            if f["recovered_at"] is None
            else round(f["recovered_at"] - f["restarted_at"], 1)
            for i, f in enumerate(watch.faults)
        }
        known = [v for v in recovery.values() if v is not None]
        return {
            "bench": "faults",
            "phones": PHONES,
            "claims_per_s": PER_S,
            "acknowledged": len(acknowledged),
            "refused": len(result.refused),
            "on_chain": len(acknowledged & set(on_chain)),
            "lost": len(acknowledged - set(on_chain)),
            "duplicated": sum(1 for n in on_chain.values() if n > 1),
            "stuck": sum(1 for i in acknowledged if progress.get(i) != "indexed"),
            "indexer_exits": watch.exits["index"],
            "relayer_exits": watch.exits["relay"],
            "max_recovery_s": max(known) if len(known) == len(recovery) else None,
            "recovery_s": recovery,
            "phone_retries": result.retries,
            # batches that were confirmed, then left the chain with a lost block and were sent again
            "batches_sent_again": stack.services["relay"].log.read_text(errors="replace").count("left the chain"),
            "load": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]},
        }
