"""Which relayer process may send for an account: a lease row in the database, so a hot standby
can wait beside the active relayer and take over when it dies.

Two relayer processes for one key must never both send: each would number transactions from the
same nonces and they would replace each other's batches (the chain would still record every claim
once — the contract allows one record per (activity, participant) and a batch's sequence number lands
once — but fees, nonces and the outbox's bookkeeping would fight). So a relayer sends only while it
holds the **lease** of its account: one row of ``relay_leases`` with the holder and an expiry.

- :meth:`RelayLease.acquire` takes the lease if it is free or expired, or renews it if this process
  holds it; one conditional ``UPDATE`` decides (SQLite and PostgreSQL alike), so two processes
  racing for an expired lease cannot both win. The expiry is computed from the **database's clock**
  (``clock_timestamp()`` on PostgreSQL; SQLite's is this machine's), so the API, relayer and standby
  hosts need not agree on the time.
- The active relayer renews the lease at the start of every pass and checks it (:meth:`check`)
  before every broadcast. That check uses this process's **monotonic** clock, started *before* the
  renewing statement ran: the lease cannot have expired for others earlier than that instant plus
  the lease time, so a relayer that stops sending ``relay.lease_margin_s`` before then stops
  before any standby can start. (A process frozen between the check and the send for longer than
  the margin could still send once more; the chain's uniqueness keeps even that from recording
  anything twice.)
- A standby (:meth:`acquire` returns False) polls every third of the lease time, so it takes over
  within ``relay.lease_s`` + a third of it after the active process stops renewing (kill -9, a
  lost machine, a network split from the database). A relayer that stops normally releases the
  lease, and the standby takes over at its next poll.
- The lease's ``epoch`` counts hand-overs: a relayer that finds a new epoch after losing the lease
  knows another process sent meanwhile and rebuilds its view of the chain (nonces, flights).

The one owner of the ``relay_leases`` table.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from ledger.db.engine import is_sqlite, write_transaction
from ledger.errors import TsunagariError

__all__ = ["LeaseLost", "LeaseState", "RelayLease", "lease_holder_name", "read_lease"]


class LeaseLost(TsunagariError):
    """This process no longer holds the relayer's lease: it must not send."""


@dataclass(frozen=True)
class LeaseState:
    """The lease of one account as stored."""

    account: str
    holder: str
    epoch: int
    expires_at_ms: int
    acquired_at_ms: int
    now_ms: int  # the database's clock when read

    @property
    def live(self) -> bool:
        return self.expires_at_ms > self.now_ms


def lease_holder_name() -> str:
    """``host:pid:random`` — unique per process, readable in ``tsunagari relay status``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now_ms_sql(engine: Engine) -> str:
    if is_sqlite(engine):
        return "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"


def read_lease(conn: Connection, account: str) -> LeaseState | None:
    """The stored lease of ``account`` (lowercase hex) with the database's clock, or None."""
    now = _now_ms_sql(conn.engine)
    row = conn.execute(
        text(
            f"SELECT account, holder, epoch, expires_at_ms, acquired_at_ms, {now} FROM relay_leases WHERE account = :a"
        ),
        {"a": account.lower()},
    ).first()
    if row is None:
        return None
    return LeaseState(str(row[0]), str(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]))


class RelayLease:
    """The lease of ``account`` for this process (``holder``), ``lease_s`` long."""

    def __init__(
        self, engine: Engine, account: str, *, lease_s: float, margin_s: float, holder: str | None = None
    ) -> None:
        self.engine = engine
        self.account = account.lower()
        self.holder = holder or lease_holder_name()
        self.lease_ms = int(lease_s * 1000)
        self.margin_s = margin_s
        self.lease_s = lease_s
        self.epoch: int | None = None  # the epoch of our current or last tenure
        self._valid_until: float = 0.0  # monotonic: stop sending before this
        now = _now_ms_sql(engine)
        self._take = text(
            "UPDATE relay_leases SET "
            "epoch = CASE WHEN holder = :h THEN epoch ELSE epoch + 1 END, "
            f"acquired_at_ms = CASE WHEN holder = :h THEN acquired_at_ms ELSE {now} END, "
            f"holder = :h, expires_at_ms = {now} + :ttl "
            f"WHERE account = :a AND (holder = :h OR expires_at_ms <= {now}) "
            "RETURNING epoch"
        )
        self._seed = text(
            "INSERT INTO relay_leases (account, holder, epoch, expires_at_ms, acquired_at_ms) "
            "VALUES (:a, '', 0, 0, 0) ON CONFLICT (account) DO NOTHING"
        )

    def acquire(self) -> bool:
        """Take or renew the lease; True when this process holds it now."""
        started = time.monotonic()  # before the statement: the lease ends no earlier than this + lease_s
        with write_transaction(self.engine) as conn:
            conn.execute(self._seed, {"a": self.account})
            row = conn.execute(self._take, {"a": self.account, "h": self.holder, "ttl": self.lease_ms}).first()
        if row is None:
            self._valid_until = 0.0
            return False
        self.epoch = int(row[0])
        self._valid_until = started + self.lease_s - self.margin_s
        return True

    def remaining_s(self) -> float:
        """Seconds this process may still send (0 when it does not hold the lease)."""
        return max(0.0, self._valid_until - time.monotonic())

    @property
    def held(self) -> bool:
        """Still safe to send by this process's clock (no database round trip)."""
        return time.monotonic() < self._valid_until

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless it is still safe to send."""
        if not self.held:
            raise LeaseLost(f"relayer lease of {self.account} not held by {self.holder} (expired or taken over)")

    def release(self) -> None:
        """Give the lease up at once (a normal stop), so a standby need not wait for the expiry."""
        self._valid_until = 0.0
        with write_transaction(self.engine) as conn:
            conn.execute(
                text("UPDATE relay_leases SET expires_at_ms = 0 WHERE account = :a AND holder = :h"),
                {"a": self.account, "h": self.holder},
            )

    def state(self) -> LeaseState | None:
        with self.engine.connect() as conn:
            return read_lease(conn, self.account)
