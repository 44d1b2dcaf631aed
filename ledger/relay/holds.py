"""Work the relayer leaves alone for a while: a paused region, a region without the issuer role, a
support waiting for an earlier one. Keys are (kind, region or support id); times are monotonic."""

from __future__ import annotations

import time

__all__ = ["Holds", "HOLD_PAUSED_S", "HOLD_CONFIG_S", "HOLD_SHORT_S"]

HOLD_PAUSED_S = 5.0  # a paused region or ledger: ask again soon
HOLD_CONFIG_S = 30.0  # a missing role or region: an operator has to act
HOLD_SHORT_S = 1.0  # waiting for our own earlier work


class Holds:
    def __init__(self) -> None:
        self._until: dict[tuple[str, int], float] = {}

    def held(self, kind: str, key: int) -> bool:
        until = self._until.get((kind, key))
        if until is None:
            return False
        if time.monotonic() >= until:
            del self._until[(kind, key)]
            return False
        return True

    def hold(self, kind: str, key: int, seconds: float) -> None:
        self._until[(kind, key)] = time.monotonic() + seconds
