"""Invariant: per region, coin supply = minted − spent − revoked = the sum of every balance.

Hypothesis draws sequences of records, revocations and signed supports (including ones that must
fail); after each sequence the chain is compared with a plain Python model and the invariant is
checked, on both backends. Each example starts from the same snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import errors
from ledger.chain.client import RecordInput
from ledger.chain.signing import SupportRequest, sign_support
from tests.conftest import REGION_A, REGION_B, World

PARTICIPANTS = 5
REWARDS = (100, 30, 7)  # three activities in region A; a fourth (reward 100) in region B


@dataclass
class Model:
    balances: dict[tuple[int, int], int] = field(default_factory=dict)  # (participant, region)
    recorded: set[tuple[int, int]] = field(default_factory=set)  # (participant, activity slot)
    revoked: set[tuple[int, int]] = field(default_factory=set)
    minted: dict[int, int] = field(default_factory=lambda: {REGION_A: 0, REGION_B: 0})
    spent: dict[int, int] = field(default_factory=lambda: {REGION_A: 0, REGION_B: 0})
    clawed: dict[int, int] = field(default_factory=lambda: {REGION_A: 0, REGION_B: 0})


operation = st.one_of(
    st.tuples(st.just("record"), st.integers(0, PARTICIPANTS - 1), st.integers(0, 3)),
    st.tuples(st.just("revoke"), st.integers(0, PARTICIPANTS - 1), st.integers(0, 3)),
    st.tuples(st.just("support"), st.integers(0, PARTICIPANTS - 1), st.integers(1, 150)),
)


@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=12))
def test_supply_equals_minted_minus_spent_minus_revoked(world: World, operations: list[tuple[str, int, int]]) -> None:
    snapshot = world.devnet.snapshot()
    try:
        _run(world, operations)
    finally:
        world.devnet.revert(snapshot)


def _run(world: World, operations: list[tuple[str, int, int]]) -> None:
    client = world.client
    activities = [world.activity(reward=r) for r in REWARDS] + [world.activity(REGION_B)]
    regions = [REGION_A, REGION_A, REGION_A, REGION_B]
    rewards = [*REWARDS, 100]
    projects = {REGION_A: client.register_project(world.admin_a, REGION_A)}
    people = world.participants[:PARTICIPANTS]
    model = Model()
    claim = 0
    for op, who, arg in operations:
        person = people[who]
        if op == "record":
            slot, region = arg, regions[arg]
            issuer = world.issuer_a if region == REGION_A else world.issuer_b
            claim += 1
            record = RecordInput(person.address, activities[slot], claim)
            if (who, slot) in model.recorded:
                try:
                    client.record_batch(issuer, region, [record])
                except errors.DuplicateContribution:
                    continue
                raise AssertionError("a second record for the same activity was accepted")
            client.record_batch(issuer, region, [record])
            model.recorded.add((who, slot))
            model.balances[who, region] = model.balances.get((who, region), 0) + rewards[slot]
            model.minted[region] += rewards[slot]
        elif op == "revoke":
            slot, region = arg, regions[arg]
            admin = world.admin_a if region == REGION_A else world.admin_b
            if (who, slot) not in model.recorded or (who, slot) in model.revoked:
                expected = errors.AlreadyRevoked if (who, slot) in model.revoked else errors.RecordNotFound
                try:
                    client.revoke(admin, activities[slot], person.address, 1)
                except expected:
                    continue
                raise AssertionError(f"revoke should have raised {expected.__name__}")
            event = client.revoke(admin, activities[slot], person.address, 1)
            clawed = min(model.balances.get((who, region), 0), rewards[slot])
            assert (event["clawedBack"], event["shortfall"]) == (clawed, rewards[slot] - clawed)
            model.revoked.add((who, slot))
            model.balances[who, region] -= clawed
            model.clawed[region] += clawed
        else:
            amount = arg
            request = SupportRequest(person.address, projects[REGION_A], amount, client.nonce(person.address), 2**40)
            signature = sign_support(person, request, client.chain_id, client.address)
            if model.balances.get((who, REGION_A), 0) < amount:
                try:
                    client.support_by_sig(world.outsider, request, signature)
                except errors.InsufficientBalance:
                    continue
                raise AssertionError("support beyond the balance was accepted")
            client.support_by_sig(world.outsider, request, signature)
            model.balances[who, REGION_A] -= amount
            model.spent[REGION_A] += amount

    for region in (REGION_A, REGION_B):
        info = client.region_info(region)
        balances = sum(client.balance_of(p.address, region) for p in people)
        assert info.total_supply == info.minted - info.spent - info.revoked == balances
        assert client.total_supply(region) == client.coin(region).functions.totalSupply().call() == balances
        assert (info.minted, info.spent, info.revoked) == (
            model.minted[region],
            model.spent[region],
            model.clawed[region],
        )
        for index, person in enumerate(people):
            assert client.balance_of(person.address, region) == model.balances.get((index, region), 0)
    assert client.project(projects[REGION_A]).raised == model.spent[REGION_A]
