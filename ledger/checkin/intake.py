"""Claim intake: check a scanned claim, then write it to the durable outbox before anyone is told
"受け付けました".

Checks, cheapest first, each with its own code (:mod:`ledger.checkin.errors`): the caller's IP rate,
the kiosk token (format, MAC, slot and grace window), the participant's address, the activity the
token names (exists, same region, open now), the participant's EIP-712 signature over the token
(so nobody claims into an address they do not control), the participant's rate. Then, in ONE write
transaction: the activity's capacity, one claim per participant per activity (a unique key), and the
insert. Only after that transaction commits does the caller get its claim id.

Concurrent claims are committed together (:class:`GroupCommit`): while one transaction is being
written, the next claims queue and go into the following one. That keeps SQLite's single writer
busy with few, larger transactions instead of one fsync-and-lock round per claim; each claim is
still answered only after the transaction holding it committed.

On PostgreSQL a batch of plain kiosk claims (no code, no presence scan, no activity with a
capacity: the festival's flood) is one statement in autocommit, ``INSERT … ON CONFLICT DO NOTHING
RETURNING``: the unique keys decide, the statement commits by itself, and only the claims it did not
insert (a replay, a second scan) are looked up afterwards. That is one round trip per batch where
the transaction took five (BEGIN, two lookups, the insert, COMMIT): per claim, half the database's
and half the API process's CPU at the batch sizes a burst makes (decision 0014).

Two other kinds of claim go through the same checks and the same transaction:

- a **single-use claim code** (:mod:`.codes`) in place of the kiosk token: looked up by its hash
  (wrong guesses from one address are rate-limited apart), and taken in the claim's transaction
  with a conditional update, so it works once however requests race;
- a claim with a **presence** kiosk's token (units 0): an arrival or a departure at an activity
  rewarded per hour or day (:mod:`.presence`); only a departure (or staff) puts a claim in the
  outbox, with the units the activity's rule measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ledger.checkin import codes, presence
from ledger.checkin.activities import ActivityDirectory, ActivityView, activity_state, check_units
from ledger.checkin.codes import CodeMaker
from ledger.checkin.errors import CheckinRejected
from ledger.checkin.presence import PresenceAnswer
from ledger.checkin.signing import ClaimSigning, normalise_address
from ledger.checkin.tokens import KioskTokens, TokenPayload
from ledger.db.engine import is_sqlite, write_transaction_on
from ledger.metrics import CLAIMS_ACCEPTED
from ledger.relay.outbox import (
    NewClaim,
    claim_id_by_participant,
    claim_id_by_request,
    insert_claim,
    insert_claims,
    insert_new_claims,
    known_participants,
    known_requests,
    live_claims,
)

__all__ = [
    "Answer",
    "is_kiosk_token",
    "ClaimRequest",
    "PreparedClaim",
    "AcceptedClaim",
    "RateLimiter",
    "ClaimIntake",
    "GroupCommit",
]


@dataclass(frozen=True)
class ClaimRequest:
    """What the claim page posts."""

    token: str
    participant: str
    requested_at: int
    signature: str
    activity_id: int | None = None  # optional: the activity the page believes it is claiming
    intent: str | None = None  # presence kiosks: "arrive" or "depart" (None: the participant's state decides)


@dataclass(frozen=True)
class PreparedClaim:
    """A claim whose token, signature and activity checked out; not yet in the outbox."""

    activity: ActivityView
    participant: str
    request_hash: str
    slot: int
    units: int = 1  # hours or days, from the token (1 for an activity rewarded per visit; 0: presence)
    code_hash: str | None = None  # a single-use claim code's hash, when the claim redeems one
    intent: str | None = None  # presence: arrive / depart / None
    at: float = 0.0  # the intake's clock when checked (a presence scan's time)

    @property
    def presence(self) -> bool:
        return self.units == 0


@dataclass(frozen=True)
class AcceptedClaim:
    claim_id: int
    activity_id: int
    region: int
    participant: str
    accepted_at_ms: int
    units: int = 1


Answer = AcceptedClaim | PresenceAnswer | CheckinRejected


def is_kiosk_token(token: str) -> bool:
    """A rotating kiosk token (38 characters) rather than a single-use claim code."""
    return isinstance(token, str) and len(token) == 38


class RateLimiter:
    """Token buckets per key: ``per_minute`` requests a minute, bursts up to the same number."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Take one token; None when allowed, else the seconds until one is available."""
        if self.per_minute <= 0:
            return None
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * self._rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self._rate
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget idle keys (full buckets) so memory stays bounded
                full = [k for k, (t, seen) in self._buckets.items() if t + (now - seen) * self._rate >= self.per_minute]
                for k in full:
                    del self._buckets[k]
            return None

    def waiting(self, key: str) -> float | None:
        """The seconds until ``key`` may try again, without taking a token (None: it may now)."""
        if self.per_minute <= 0:
            return None
        with self._lock:
            entry = self._buckets.get(key)
        if entry is None:
            return None
        tokens = min(float(self.per_minute), entry[0] + (self._clock() - entry[1]) * self._rate)
        return None if tokens >= 1.0 else (1.0 - tokens) / self._rate


class ClaimIntake:
    """Checks and commits claims for one deployment."""

    def __init__(
        self,
        engine: Engine,
        tokens: KioskTokens,
        signing: ClaimSigning,
        directory: ActivityDirectory,
        *,
        ip_limiter: RateLimiter | None = None,
        participant_limiter: RateLimiter | None = None,
        code_limiter: RateLimiter | None = None,
        codes: CodeMaker | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.tokens = tokens
        self.signing = signing
        self.directory = directory
        self.ip_limiter = ip_limiter or RateLimiter(0)
        self.participant_limiter = participant_limiter or RateLimiter(0)
        self.code_limiter = code_limiter or RateLimiter(0)  # wrong claim codes per network address
        self.codes = codes
        self.clock = clock

    # -- reading a token ----------------------------------------------------------------------------

    def resolve(self, token: str, client: str = "unknown") -> tuple[TokenPayload, ActivityView]:
        """The token's (or claim code's) payload and activity (what the claim page shows before
        signing). A claim code may be typed loosely: ``payload.code`` is its canonical form."""
        if not is_kiosk_token(token):
            return self._resolve_code(token, client)
        payload = self.tokens.verify(token, self.clock())
        activity = self.directory.get(payload.activity_id)
        if activity.region != payload.region:
            raise CheckinRejected("token_wrong_region", "this check-in code belongs to another region")
        return payload, activity

    def _resolve_code(self, raw: str, client: str) -> tuple[TokenPayload, ActivityView]:
        if self.codes is None:
            raise CheckinRejected("token_malformed", "this is not a Tsunagari check-in code")
        key = f"code:{client}"
        wait = self.code_limiter.waiting(key)
        if wait is not None:
            raise CheckinRejected(
                "rate_limited", "too many wrong codes from this network: wait a moment", retry_after_s=wait
            )
        try:
            code = codes.normalise_code(raw)
            with self.engine.connect() as conn:
                row = codes.lookup(conn, self.codes.hash(code))
            if row is None:
                raise CheckinRejected("code_unknown", "there is no such claim code: check it against the letter")
        except CheckinRejected as exc:
            self.code_limiter.hit(key)
            raise exc from None
        problem = codes.code_rejection(row, self.clock())
        if problem is not None and problem.code != "code_used":
            raise problem
        activity = self.directory.get(row.activity_id)
        if activity.region != row.region:
            raise CheckinRejected("token_wrong_region", "this claim code belongs to another region")
        payload = TokenPayload(
            region=row.region,
            activity_id=row.activity_id,
            slot=0,
            expires_at=row.expires_at,
            units=row.units,
            code=code,
        )
        return payload, activity

    def code_state(self, code: str) -> codes.CodeRow | None:
        """The stored state of a canonical claim code (the claim page's "already used" answer)."""
        if self.codes is None:
            return None
        with self.engine.connect() as conn:
            return codes.lookup(conn, self.codes.hash(code))

    def needs_io(self, token: str) -> bool:
        """Whether :meth:`prepare` may block on the database or the chain (an activity not in memory,
        or a claim code to look up).

        The API prepares on the event loop when it will not, and in a worker thread when it may."""
        if not is_kiosk_token(token):
            return True
        try:
            payload = self.tokens.verify(token, self.clock())
        except CheckinRejected:
            return False
        return not self.directory.is_fresh(payload.activity_id)

    # -- checks without the database ----------------------------------------------------------------

    def prepare(self, request: ClaimRequest, client: str) -> PreparedClaim:
        """Every check that needs no write; :class:`CheckinRejected` names the first that fails."""
        wait = self.ip_limiter.hit(f"ip:{client}")
        if wait is not None:
            raise CheckinRejected(
                "rate_limited", "too many check-ins from this network: wait a moment", retry_after_s=wait
            )
        payload, activity = self.resolve(request.token, client)
        if payload.code is not None and payload.code != request.token:
            raise CheckinRejected("token_malformed", "sign the claim code in its canonical form (16 characters)")
        if request.activity_id is not None and request.activity_id != payload.activity_id:
            raise CheckinRejected(
                "token_wrong_activity",
                f"this check-in code is for activity {payload.activity_id}, not {request.activity_id}",
            )
        participant = normalise_address(request.participant)
        digest = self.signing.digest(payload.activity_id, request.token, participant, request.requested_at)
        if self.signing.recover(digest, request.signature) != participant:
            raise CheckinRejected("bad_signature", "the signature was not made by the participant's key")
        wait = self.participant_limiter.hit(f"p:{participant}")
        if wait is not None:
            raise CheckinRejected(
                "rate_limited", "too many attempts for this address: wait a moment", retry_after_s=wait
            )
        now = self.clock()
        state = activity_state(activity, now, 0)
        if state != "open":
            raise _state_rejection(activity, state)
        code_hash = None
        if payload.code is not None:
            assert self.codes is not None
            code_hash = self.codes.hash(payload.code)
            with self.engine.connect() as conn:
                problem = codes.code_rejection(codes.lookup(conn, code_hash), now, participant)
            if problem is not None and problem.code != "already_claimed":  # a repeat is answered by commit()
                raise problem
        units = check_units(activity, payload.units)  # a code minted by this server: only a bug fails here
        intent = request.intent if request.intent in (presence.ARRIVE, presence.DEPART) else None
        return PreparedClaim(
            activity=activity,
            participant=participant,
            request_hash="0x" + digest.hex(),
            slot=payload.slot,
            units=units,
            code_hash=code_hash,
            intent=intent,
            at=now,
        )

    # -- the outbox --------------------------------------------------------------------------------

    def commit(self, claims: Sequence[PreparedClaim], connection: Connection | None = None) -> list[Answer]:
        """Insert ``claims`` in one transaction (on ``connection`` when given, else one from the
        engine's pool); one result per claim, in order.

        Set-based: one lookup of the requests and people already in the outbox, one multi-row
        insert, one read of the new ids. SQLite's ``BEGIN IMMEDIATE`` makes the lookup and the
        insert atomic; on PostgreSQL a concurrent worker can still win a unique key in between, and
        then the batch is redone row by row with ``ON CONFLICT DO NOTHING``. The rows and their SQL
        belong to ``ledger.relay.outbox``; this decides what each claim's answer is.
        """
        if not claims:
            return []
        if connection is None:
            with self.engine.connect() as held:
                return self.commit(claims, held)
        now = self.clock()
        now_ms = int(now * 1000)
        if not is_sqlite(self.engine) and all(_plain(c) for c in claims):
            answers = self._commit_in_one_statement(connection, claims, now, now_ms)
        else:
            answers = self._commit_in_a_transaction(connection, claims, now, now_ms)
        CLAIMS_ACCEPTED.inc(sum(isinstance(a, AcceptedClaim) for a in answers))  # committed: in the outbox
        return answers

    def _commit_in_a_transaction(
        self, connection: Connection, claims: Sequence[PreparedClaim], now: float, now_ms: int
    ) -> list[Answer]:
        """Every other batch: one write transaction (lookups, code, capacity, insert); on a unique
        key won meanwhile by another process, redone row by row."""
        try:
            with write_transaction_on(connection) as conn:
                return self._commit_all(conn, claims, now, now_ms)
        except IntegrityError:
            with write_transaction_on(connection) as conn:
                live = _capacities(conn, claims)
                return [
                    self._presence(conn, claim, now) if claim.presence else self._insert(conn, claim, live, now_ms)
                    for claim in claims
                ]

    def _commit_in_one_statement(
        self, connection: Connection, claims: Sequence[PreparedClaim], now: float, now_ms: int
    ) -> list[Answer]:
        """PostgreSQL, plain kiosk claims only (see the module doc): the first claim of each request
        and person in the batch is inserted by one autocommitted statement; every other claim is
        answered from what the outbox then holds, with the rules of :meth:`_commit_set` (a known
        request is a replay, a known person a second scan)."""
        firsts: list[PreparedClaim] = []
        requests: set[str] = set()
        people: set[tuple[int, str]] = set()
        for claim in claims:
            person = (claim.activity.activity_id, claim.participant)
            if claim.request_hash not in requests and person not in people:
                requests.add(claim.request_hash)
                people.add(person)
                firsts.append(claim)
        auto = connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            with auto.begin():  # SQLAlchemy's begin and commit (the journal's events); no BEGIN is sent
                ids = insert_new_claims(auto, [_new(c) for c in firsts], now_ms)
            inserted = {id(c) for c in firsts if c.request_hash in ids}
            rest = [c for c in claims if id(c) not in inserted]
            known: dict[str, int] = {}
            known_people: dict[tuple[int, str], int] = {}
            if rest:
                with auto.begin():
                    known = known_requests(auto, (c.request_hash for c in rest))
                    for activity_id in sorted({c.activity.activity_id for c in rest}):
                        found = known_participants(auto, activity_id, (c.participant for c in rest))
                        known_people.update(((activity_id, p), i) for p, i in found.items())
        finally:
            connection.execution_options(isolation_level=connection.default_isolation_level)
        answers: list[Answer | None] = []
        for claim in claims:
            person = (claim.activity.activity_id, claim.participant)
            if id(claim) in inserted:
                answers.append(_accepted(claim, ids[claim.request_hash], now_ms))
            elif claim.request_hash in known:
                answers.append(_replayed(known[claim.request_hash]))
            elif person in known_people:
                answers.append(_already(known_people[person]))
            else:
                answers.append(None)  # not inserted, yet not found: never expected; decided in a transaction
        if any(a is None for a in answers):
            undecided = [c for c, a in zip(claims, answers, strict=True) if a is None]
            with write_transaction_on(connection) as conn:
                decided = iter(self._commit_set(conn, undecided, now_ms, now, {}))
            return [a if a is not None else next(decided) for a in answers]
        return [a for a in answers if a is not None]

    def _commit_all(self, conn: Connection, claims: Sequence[PreparedClaim], now: float, now_ms: int) -> list[Answer]:
        """Kiosk and code claims set-based, presence scans one by one, answers in order. Every
        capacity the batch touches is counted first, in ascending activity order (``_capacities``)."""
        live = _capacities(conn, claims)
        if not any(c.presence for c in claims):
            return list(self._commit_set(conn, claims, now_ms, now, live))
        plain = [c for c in claims if not c.presence]
        answers = iter(self._commit_set(conn, plain, now_ms, now, live))
        return [self._presence(conn, c, now) if c.presence else next(answers) for c in claims]

    def _presence(self, conn: Connection, claim: PreparedClaim, now: float) -> PresenceAnswer | CheckinRejected:
        try:
            return presence.scan(
                conn, claim.activity, claim.participant, claim.request_hash, claim.intent, claim.at or now
            )
        except CheckinRejected as rejected:
            return rejected

    def _commit_set(
        self, conn: Connection, claims: Sequence[PreparedClaim], now_ms: int, now: float, live: dict[int, int]
    ) -> list[AcceptedClaim | CheckinRejected]:
        if not claims:
            return []
        known = known_requests(conn, (c.request_hash for c in claims))
        known_people: dict[tuple[int, str], int] = {}
        for activity_id in {c.activity.activity_id for c in claims}:
            people = [c.participant for c in claims if c.activity.activity_id == activity_id]
            for participant, claim_id in known_participants(conn, activity_id, people).items():
                known_people[(activity_id, participant)] = claim_id
        fresh: list[PreparedClaim] = []
        first_by_request: dict[str, PreparedClaim] = {}
        first_by_person: dict[tuple[int, str], PreparedClaim] = {}
        plan: list[CheckinRejected | PreparedClaim] = []
        for claim in claims:
            activity = claim.activity
            person = (activity.activity_id, claim.participant)
            if claim.request_hash in known:
                plan.append(_replayed(known[claim.request_hash]))
            elif person in known_people:
                plan.append(_already(known_people[person]))
            elif claim.request_hash in first_by_request or person in first_by_person:
                plan.append(claim)  # a repeat within this batch: answered with the first one's id
            else:
                if activity.capacity and live[activity.activity_id] >= activity.capacity:
                    plan.append(_state_rejection(activity, "full"))
                    continue
                if claim.code_hash is not None:
                    taken = self._take_code(conn, claim, now)
                    if taken is not None:
                        plan.append(taken)
                        continue
                if activity.capacity:
                    live[activity.activity_id] += 1
                first_by_request[claim.request_hash] = claim
                first_by_person[person] = claim
                fresh.append(claim)
                plan.append(claim)
        ids = insert_claims(conn, [_new(c) for c in fresh], now_ms)
        for claim in fresh:
            if claim.code_hash is not None:
                codes.attach_claim(conn, claim.code_hash, ids[claim.request_hash])
        results: list[AcceptedClaim | CheckinRejected] = []
        for item in plan:
            if isinstance(item, CheckinRejected):
                results.append(item)
                continue
            person = (item.activity.activity_id, item.participant)
            first = first_by_request.get(item.request_hash)
            if first is item:
                results.append(_accepted(item, ids[item.request_hash], now_ms))
            elif first is not None:
                results.append(_replayed(ids[first.request_hash]))
            else:
                results.append(_already(ids[first_by_person[person].request_hash]))
        return results

    def _insert(
        self, conn: Connection, claim: PreparedClaim, live: dict[int, int], now_ms: int
    ) -> AcceptedClaim | CheckinRejected:
        activity = claim.activity
        if activity.capacity and live[activity.activity_id] >= activity.capacity:
            return _state_rejection(activity, "full")
        replay = claim_id_by_request(conn, claim.request_hash)
        if replay is not None:
            return _replayed(replay)
        earlier = claim_id_by_participant(conn, activity.activity_id, claim.participant)
        if earlier is not None:
            return _already(earlier)
        if claim.code_hash is not None:
            taken = self._take_code(conn, claim, now_ms / 1000)
            if taken is not None:
                return taken
        claim_id = insert_claim(conn, _new(claim), now_ms)
        if claim_id is None:
            replay = claim_id_by_request(conn, claim.request_hash)
            if replay is not None:
                return _replayed(replay)
            return _already(claim_id_by_participant(conn, activity.activity_id, claim.participant))
        if claim.code_hash is not None:
            codes.attach_claim(conn, claim.code_hash, claim_id)
        if activity.capacity:
            live[activity.activity_id] += 1
        return _accepted(claim, claim_id, now_ms)

    @staticmethod
    def _take_code(conn: Connection, claim: PreparedClaim, now: float) -> CheckinRejected | None:
        """Redeem the claim's code in this transaction; the reason when someone else got there first."""
        assert claim.code_hash is not None
        if codes.redeem(conn, claim.code_hash, claim.participant, now=now):
            return None
        row = codes.lookup(conn, claim.code_hash)
        problem = codes.code_rejection(row, now, claim.participant)
        return problem or CheckinRejected("code_used", "this claim code has already been used")

    def accept(self, request: ClaimRequest, client: str) -> AcceptedClaim | PresenceAnswer:
        """Check and commit one claim (the synchronous path: CLI, tests, the demo seed)."""
        result = self.commit([self.prepare(request, client)])[0]
        if isinstance(result, CheckinRejected):
            raise result
        return result


def _capacities(conn: Connection, claims: Sequence[PreparedClaim]) -> dict[int, int]:
    """The live claims of every activity with a capacity among ``claims``, counted (and, on
    PostgreSQL, locked: ``live_claims``) in ascending id order before anything is inserted."""
    capped = sorted({c.activity.activity_id for c in claims if c.activity.capacity})
    return {activity_id: live_claims(conn, activity_id) for activity_id in capped}


def _plain(claim: PreparedClaim) -> bool:
    """A kiosk claim that only the outbox's unique keys decide: no code, no presence, no capacity."""
    return not claim.presence and claim.code_hash is None and not claim.activity.capacity


def _accepted(claim: PreparedClaim, claim_id: int, now_ms: int) -> AcceptedClaim:
    return AcceptedClaim(
        claim_id=claim_id,
        activity_id=claim.activity.activity_id,
        region=claim.activity.region,
        participant=claim.participant,
        accepted_at_ms=now_ms,
        units=claim.units,
    )


def _new(claim: PreparedClaim) -> NewClaim:
    return NewClaim(
        activity_id=claim.activity.activity_id,
        region=claim.activity.region,
        participant=claim.participant,
        request_hash=claim.request_hash,
        slot=claim.slot,
        units=claim.units,
    )


def _replayed(claim_id: int) -> CheckinRejected:
    return CheckinRejected("replayed_request", "this exact request was already received", claim_id=claim_id)


def _already(claim_id: int | None) -> CheckinRejected:
    return CheckinRejected("already_claimed", "you have already checked in to this activity", claim_id=claim_id)


def _state_rejection(activity: ActivityView, state: str) -> CheckinRejected:
    messages = {
        "closed": (f"activity {activity.activity_id} is closed", "activity_closed"),
        "not_started": (f"activity {activity.activity_id} has not started yet", "activity_not_started"),
        "ended": (f"activity {activity.activity_id} has ended", "activity_ended"),
        "full": (f"activity {activity.activity_id} is full ({activity.capacity} people)", "activity_full"),
    }
    message, code = messages[state]
    return CheckinRejected(code, message)


class GroupCommit:
    """Commits concurrently submitted claims together, one transaction at a time.

    It holds one connection of its own for its lifetime. On SQLite it commits on the event loop (see
    below), so it must never wait for the engine's pool: request handlers hold pooled connections
    until the event loop finishes their responses, and a loop blocked on the pool would wait for
    them forever (this deadlocked the API for the pool's 30 s timeout under a burst of 16 phones).
    """

    def __init__(self, intake: ClaimIntake, *, max_wait_ms: int = 5, max_batch: int = 256) -> None:
        self.intake = intake
        # SQLite commits in well under a millisecond (WAL, no fsync per commit): doing it on the
        # event loop avoids a thread hop and GIL hand-offs that showed as tail latency (claims
        # bench: p99 308 → 212 ms). A PostgreSQL commit is a network round trip: off the loop.
        self.inline = is_sqlite(intake.engine)
        self._connection: Connection | None = None
        self.max_wait_s = max_wait_ms / 1000
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[PreparedClaim, asyncio.Future[AcceptedClaim | PresenceAnswer]]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def submit(self, claim: PreparedClaim) -> AcceptedClaim | PresenceAnswer:
        if self._queue is None or self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run(self._queue))
        future: asyncio.Future[AcceptedClaim | PresenceAnswer] = asyncio.get_running_loop().create_future()
        await self._queue.put((claim, future))
        return await future

    async def _run(
        self, queue: asyncio.Queue[tuple[PreparedClaim, asyncio.Future[AcceptedClaim | PresenceAnswer]]]
    ) -> None:
        while True:
            batch = [await queue.get()]
            if self.max_wait_s > 0 and queue.empty():
                await asyncio.sleep(self.max_wait_s)
            while not queue.empty() and len(batch) < self.max_batch:
                batch.append(queue.get_nowait())
            try:
                claims = [claim for claim, _ in batch]
                if self._connection is None:  # checked out off the loop, once
                    self._connection = await asyncio.to_thread(self.intake.engine.connect)
                if self.inline:
                    results = self.intake.commit(claims, self._connection)
                else:
                    results = await asyncio.to_thread(self.intake.commit, claims, self._connection)
            except Exception as exc:  # noqa: BLE001 - the database failed: every waiting claim hears it
                self._drop_connection()  # a broken connection is replaced on the next batch
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, CheckinRejected):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._drop_connection()
