"""Invariant: per region, minted − spent − revoked − expired = coin supply = the sum of every stored
balance, and every holder's spendable coins are what a plain Python model says.

Hypothesis draws sequences of records (with units: hours in region A, days in region B), revocations,
signed supports and days passing (including operations that must fail); region B's coins expire
(``EXPIRY_DAYS``-day periods), so lapses happen whenever a holder is touched in a later period.
After each sequence the chain is compared with the model and the invariant is checked, on both
backends. Each example starts from the same snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger import errors
from ledger.chain.client import RecordInput
from ledger.chain.signing import SupportRequest, sign_support
from ledger.taxonomy import RewardUnit
from tests.conftest import REGION_A, REGION_B, World

PARTICIPANTS = 5
EXPIRY_DAYS = 2
DAY = 86_400


@dataclass(frozen=True)
class Slot:
    region: int
    reward: int  # per unit
    unit: RewardUnit = RewardUnit.RECORD
    max_units: int = 1


# Three activities in region A (one paid per hour), two in region B (one paid per day).
SLOTS = (
    Slot(REGION_A, 100),
    Slot(REGION_A, 30),
    Slot(REGION_A, 7, RewardUnit.HOUR, 4),
    Slot(REGION_B, 100),
    Slot(REGION_B, 20, RewardUnit.DAY, 3),
)


@dataclass
class Holding:
    """A holding as the contract stores it: the coin period it was last written in, and the coins of
    that period (``new``) and of the one before (``old``)."""

    period: int = 0
    new: int = 0
    old: int = 0

    def rolled(self, period: int) -> tuple[Holding, int]:
        """The holding moved into ``period`` and what lapsed (as ``_rollPeriod``)."""
        if period == self.period:
            return self, 0
        if period == self.period + 1:
            return Holding(period, 0, self.new), self.old
        return Holding(period, 0, 0), self.new + self.old

    def take(self, amount: int) -> tuple[Holding, int]:
        """Take up to ``amount``, the older coins first (as ``_take``)."""
        from_old = min(amount, self.old)
        from_new = min(amount - from_old, self.new)
        return Holding(self.period, self.new - from_new, self.old - from_old), from_old + from_new


@dataclass
class Model:
    holdings: dict[tuple[int, int], Holding] = field(default_factory=dict)  # (participant, region)
    recorded: dict[tuple[int, int], int] = field(default_factory=dict)  # (participant, slot) -> units
    revoked: set[tuple[int, int]] = field(default_factory=set)
    minted: dict[int, int] = field(default_factory=lambda: {REGION_A: 0, REGION_B: 0})
    spent: dict[int, int] = field(default_factory=lambda: {REGION_A: 0, REGION_B: 0})
    clawed: dict[int, int] = field(default_factory=lambda: {REGION_A: 0, REGION_B: 0})
    expired: dict[int, int] = field(default_factory=lambda: {REGION_A: 0, REGION_B: 0})

    def settle(self, who: int, region: int, today: int) -> Holding:
        """The holding after the roll a write makes now (lapses counted), as stored."""
        holding = self.holdings.get((who, region), Holding())
        if region == REGION_B:
            holding, lapsed = holding.rolled(today // EXPIRY_DAYS)
            self.expired[region] += lapsed
        return holding

    def spendable(self, who: int, region: int, today: int) -> int:
        holding = self.holdings.get((who, region), Holding())
        if region == REGION_B:
            holding, _ = holding.rolled(today // EXPIRY_DAYS)
        return holding.new + holding.old


operation = st.one_of(
    st.tuples(st.just("record"), st.integers(0, PARTICIPANTS - 1), st.integers(0, len(SLOTS) - 1), st.integers(1, 4)),
    st.tuples(st.just("revoke"), st.integers(0, PARTICIPANTS - 1), st.integers(0, len(SLOTS) - 1), st.just(0)),
    st.tuples(
        st.just("support"), st.integers(0, PARTICIPANTS - 1), st.sampled_from((REGION_A, REGION_B)), st.integers(1, 150)
    ),
    st.tuples(st.just("days"), st.just(0), st.integers(0, 3), st.just(0)),
)


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=14))
# Always run: coins that lapse one period after they became the older coins (region B), spent older
# first, then a lapse of everything two periods on; and units over a cap, then a revocation of hours.
@example(
    operations=[
        ("record", 0, 3, 1),
        ("days", 0, 2, 0),
        ("support", 0, REGION_B, 30),
        ("record", 0, 4, 2),
        ("days", 0, 2, 0),
        ("support", 0, REGION_B, 10),
        ("days", 0, 3, 0),
        ("days", 0, 2, 0),
        ("record", 1, 3, 1),
        ("revoke", 0, 4, 0),
    ]
)
@example(operations=[("record", 2, 2, 4), ("record", 3, 0, 3), ("revoke", 2, 2, 0), ("support", 2, REGION_A, 1)])
def test_supply_equals_minted_minus_spent_minus_revoked_minus_expired(
    world: World, operations: list[tuple[str, int, int, int]]
) -> None:
    snapshot = world.devnet.snapshot()
    try:
        _run(world, operations)
    finally:
        world.devnet.revert(snapshot)


def _run(world: World, operations: list[tuple[str, int, int, int]]) -> None:
    client = world.client
    client.set_coin_expiry(world.admin_b, REGION_B, EXPIRY_DAYS)  # before region B's first record
    long = {"ends_at": world.now() + 400 * DAY}
    activities = [world.activity(s.region, reward=s.reward, unit=s.unit, max_units=s.max_units, **long) for s in SLOTS]
    projects = {
        REGION_A: client.register_project(world.admin_a, REGION_A),
        REGION_B: client.register_project(world.admin_b, REGION_B),
    }
    people = world.participants[:PARTICIPANTS]
    model = Model()
    claim = 0
    for op, who, arg, extra in operations:
        person = people[who]
        touched = {SLOTS[arg].region} if op in ("record", "revoke") else {arg} if op == "support" else set()
        if op == "days":
            if arg:
                world.devnet.set_next_block_timestamp(world.now() + arg * DAY)
                world.devnet.mine()
            continue
        # The next block one second on: the day the model rolls to is the day the transaction lands in.
        moment = world.now() + 1
        world.devnet.set_next_block_timestamp(moment)
        today = (moment + 9 * 3600) // DAY
        if op == "record":
            slot = SLOTS[arg]
            units = extra if slot.unit != RewardUnit.RECORD else 1
            units = min(units, slot.max_units)
            issuer = world.issuer_a if slot.region == REGION_A else world.issuer_b
            claim += 1
            record = RecordInput(person.address, activities[arg], claim, units)
            if (who, arg) in model.recorded:
                try:
                    client.record_batch(issuer, slot.region, [record])
                except errors.DuplicateContribution:
                    continue
                raise AssertionError("a second record for the same activity was accepted")
            if extra > slot.max_units:  # more units than the activity's cap: refused, nothing written
                try:
                    client.record_batch(
                        issuer, slot.region, [RecordInput(person.address, activities[arg], claim, extra)]
                    )
                except errors.InvalidUnits:
                    pass
                else:
                    raise AssertionError(f"{extra} units accepted by an activity capped at {slot.max_units}")
            client.record_batch(issuer, slot.region, [record])
            amount = slot.reward * units
            holding = model.settle(who, slot.region, today)
            model.holdings[who, slot.region] = Holding(holding.period, holding.new + amount, holding.old)
            model.recorded[who, arg] = units
            model.minted[slot.region] += amount
        elif op == "revoke":
            slot = SLOTS[arg]
            admin = world.admin_a if slot.region == REGION_A else world.admin_b
            if (who, arg) not in model.recorded or (who, arg) in model.revoked:
                expected = errors.AlreadyRevoked if (who, arg) in model.revoked else errors.RecordNotFound
                try:
                    client.revoke(admin, activities[arg], person.address, 1)
                except expected:
                    continue
                raise AssertionError(f"revoke should have raised {expected.__name__}")
            event = client.revoke(admin, activities[arg], person.address, 1)
            amount = slot.reward * model.recorded[who, arg]
            holding, clawed = model.settle(who, slot.region, today).take(amount)
            assert (event["clawedBack"], event["shortfall"]) == (clawed, amount - clawed)
            model.holdings[who, slot.region] = holding
            model.revoked.add((who, arg))
            model.clawed[slot.region] += clawed
        else:
            region, amount = arg, extra
            request = SupportRequest(person.address, projects[region], amount, client.nonce(person.address), 2**40)
            signature = sign_support(person, request, client.chain_id, client.address)
            if model.spendable(who, region, today) < amount:
                try:
                    client.support_by_sig(world.outsider, request, signature)
                except errors.InsufficientBalance:
                    continue
                raise AssertionError("support beyond the spendable balance was accepted")
            client.support_by_sig(world.outsider, request, signature)
            holding, taken = model.settle(who, region, today).take(amount)
            assert taken == amount
            model.holdings[who, region] = holding
            model.spent[region] += amount
        # After each operation: the totals of the region it touched and the person's holding there.
        for region in touched:
            info = client.region_info(region)
            assert (info.minted, info.spent, info.revoked, info.expired) == (
                model.minted[region],
                model.spent[region],
                model.clawed[region],
                model.expired[region],
            ), f"after {op} of {who}"
            holding = model.holdings.get((who, region), Holding())
            assert client.holding(person.address, region).stored == holding.new + holding.old

    today = client.today()
    for region in (REGION_A, REGION_B):
        info = client.region_info(region)
        stored = sum(client.holding(p.address, region).stored for p in people)
        assert info.total_supply == info.minted - info.spent - info.revoked - info.expired == stored
        assert client.total_supply(region) == client.coin(region).functions.totalSupply().call() == stored
        assert (info.minted, info.spent, info.revoked, info.expired) == (
            model.minted[region],
            model.spent[region],
            model.clawed[region],
            model.expired[region],
        )
        for index, person in enumerate(people):
            holding = model.holdings.get((index, region), Holding())
            assert client.holding(person.address, region).stored == holding.new + holding.old
            assert client.balance_of(person.address, region) == model.spendable(index, region, today)
        assert client.project(projects[region]).raised == model.spent[region]
