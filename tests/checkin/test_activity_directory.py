"""The activity directory's cache: stale entries served while one refresh runs, one shared load for
concurrent callers, closures kept. A real (empty) SQLite index, so every load reaches the chain
reader, which here counts its calls and can be held."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ledger.checkin.activities import ActivityDirectory, ChainActivity
from ledger.checkin.errors import CheckinRejected
from ledger.db.engine import make_engine, upgrade_to_head

CHAIN = 31337
ACTIVITY = 7


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Reader:
    """Stands in for the chain: answers an open activity (or a closed one), counts reads, can block."""

    def __init__(self) -> None:
        self.calls = 0
        self.closed = False
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail = False
        self._lock = threading.Lock()

    def __call__(self, activity_id: int) -> ChainActivity | None:
        with self._lock:
            self.calls += 1
        self.entered.set()
        assert self.gate.wait(10)
        if self.fail:
            raise ConnectionError("node down")
        if activity_id != ACTIVITY:
            return None
        return ChainActivity(12205, 20, 100, 0, 2**40, 0, self.closed, "0x" + "00" * 32, False, 0, 1)


@pytest.fixture
def directory(tmp_path: Path) -> tuple[ActivityDirectory, Reader, Clock]:
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    upgrade_to_head(engine)
    reader, clock = Reader(), Clock()
    return ActivityDirectory(engine, CHAIN, reader, ttl_s=2.0, max_stale_s=10.0, clock=clock), reader, clock


def _wait_for(condition: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def test_a_fresh_entry_is_served_from_memory(directory: tuple[ActivityDirectory, Reader, Clock]) -> None:
    d, reader, clock = directory
    assert not d.is_fresh(ACTIVITY)
    assert d.get(ACTIVITY).region == 12205
    clock.now += 1.9
    assert d.is_fresh(ACTIVITY)
    d.get(ACTIVITY)
    assert reader.calls == 1


def test_an_expired_entry_is_served_while_one_refresh_runs(directory: tuple[ActivityDirectory, Reader, Clock]) -> None:
    d, reader, clock = directory
    d.get(ACTIVITY)
    clock.now += 3  # past ttl_s, within max_stale_s
    reader.gate.clear()  # the refresh will hang on the "chain"
    reader.entered.clear()
    assert d.is_fresh(ACTIVITY)  # no caller needs to wait for I/O
    for _ in range(50):  # a burst: every one answered from memory, one refresh started
        assert d.get(ACTIVITY).closed is False
    assert reader.entered.wait(5)
    assert reader.calls == 2
    reader.closed = True  # closed on chain meanwhile: the refresh brings it in
    reader.gate.set()
    _wait_for(lambda: d.get(ACTIVITY).closed)
    assert reader.calls == 2


def test_concurrent_callers_share_one_load(directory: tuple[ActivityDirectory, Reader, Clock]) -> None:
    d, reader, _ = directory
    reader.gate.clear()
    results: list[int] = []

    def call() -> None:
        results.append(d.get(ACTIVITY).region)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    assert reader.entered.wait(5)
    time.sleep(0.1)  # let the others arrive and wait
    reader.gate.set()
    for t in threads:
        t.join(10)
    assert results == [12205] * 20
    assert reader.calls == 1


def test_past_max_stale_the_caller_waits_for_a_load(directory: tuple[ActivityDirectory, Reader, Clock]) -> None:
    d, reader, clock = directory
    d.get(ACTIVITY)
    clock.now += 11
    assert not d.is_fresh(ACTIVITY)
    reader.closed = True
    assert d.get(ACTIVITY).closed is True  # loaded in the caller, not served stale
    assert reader.calls == 2


def test_a_failed_refresh_keeps_the_stale_entry_until_max_stale(
    directory: tuple[ActivityDirectory, Reader, Clock],
) -> None:
    d, reader, clock = directory
    d.get(ACTIVITY)
    reader.fail = True
    clock.now += 3
    assert d.get(ACTIVITY).region == 12205  # stale, refresh fails in the background
    _wait_for(lambda: reader.calls == 2)
    clock.now += 8  # past max_stale_s: the caller's own load fails loudly
    with pytest.raises(ConnectionError):
        d.get(ACTIVITY)


def test_a_closure_made_here_survives_a_refresh_that_has_not_seen_it(
    directory: tuple[ActivityDirectory, Reader, Clock],
) -> None:
    d, reader, clock = directory
    d.get(ACTIVITY)
    d.mark_closed(ACTIVITY)
    assert d.get(ACTIVITY).closed
    clock.now += 3  # a refresh reads the not-yet-closed chain/index state
    d.get(ACTIVITY)
    _wait_for(lambda: reader.calls == 2)
    _wait_for(lambda: ACTIVITY not in d._loading)
    assert d.get(ACTIVITY).closed


def test_an_unknown_activity_is_rejected_and_not_cached(directory: tuple[ActivityDirectory, Reader, Clock]) -> None:
    d, reader, _ = directory
    for _ in range(2):
        with pytest.raises(CheckinRejected) as info:
            d.get(99)
        assert info.value.code == "unknown_activity"
    assert reader.calls == 2
