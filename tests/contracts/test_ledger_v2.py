"""Ledger v2's behaviour suite, on both backends (the ``world`` fixture): designated 担い手活動,
rewards by units, coin expiry, the holding word's duplicate guard (entries and spills), revocation
with proof, the held-out review's fixes (separate pauses, revoking every issuer, recipients that
would lock coins, nonce cancellation) and the fast path's agreement with the reference path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from ledger import errors
from ledger.chain.artifacts import load_artifact
from ledger.chain.client import ActivitySpec, RecordInput, pack_record, send_transaction
from ledger.chain.decoding import event_topic
from ledger.chain.signing import CancelRequest, SupportRequest, sign_cancel, sign_support
from ledger.taxonomy import ContributionKind, RewardUnit
from tests.conftest import REGION_A, REGION_B, World

DAY = 86_400


def advance(world: World, seconds: int) -> None:
    world.devnet.set_next_block_timestamp(world.now() + seconds)
    world.devnet.mine()


def person(n: int) -> str:
    return str(Account.from_key(keccak(text=f"v2-person-{n}")).address)


# -- designated 担い手活動 ----------------------------------------------------------------------------


def test_an_activity_is_designated_at_registration_and_may_change_only_before_it_starts(world: World) -> None:
    now = world.now()
    later = world.activity(starts_at=now + 3600, ends_at=now + 7200, designated=True)
    assert world.client.activity(later).designated
    receipt = world.client.set_activity_designated(world.admin_a, later, False)
    assert world.client.events(receipt, "ActivityDesignationSet") == [
        {"activityId": later, "region": REGION_A, "designated": False, "admin": world.admin_a.address}
    ]
    assert not world.client.activity(later).designated
    world.client.set_activity_designated(world.admin_a, later, True)
    with pytest.raises(errors.NotRegionAdmin):
        world.client.set_activity_designated(world.admin_b, later, False)
    with pytest.raises(errors.NotRegionAdmin):
        world.client.set_activity_designated(world.issuer_a, later, False)
    with pytest.raises(errors.ActivityStarted):  # activity_a opened an hour ago: its designation is fixed
        world.client.set_activity_designated(world.admin_a, world.activity_a, True)
    with pytest.raises(errors.UnknownActivity):
        world.client.set_activity_designated(world.admin_a, 9999, True)
    advance(world, 3601)
    with pytest.raises(errors.ActivityStarted):
        world.client.set_activity_designated(world.admin_a, later, False)
    # Every record of the activity is therefore of a designated activity.
    assert world.client.record_batch(world.issuer_a, REGION_A, [RecordInput(person(1), later, 1)]).count == 1
    assert world.client.activity(later).designated


# -- rewards by units ------------------------------------------------------------------------------------


def test_a_record_carries_units_and_mints_the_reward_per_unit(world: World) -> None:
    volunteering = world.activity(kind=ContributionKind.VOLUNTEERING, reward=1000, unit=RewardUnit.HOUR, max_units=8)
    records = [RecordInput(person(1), volunteering, 1, 3), RecordInput(person(2), volunteering, 2, 8)]
    result = world.client.record_batch(world.issuer_a, REGION_A, records)
    assert result.minted == 11_000
    assert world.client.events(result.receipt, "ContributionRecorded") == [
        {"participant": person(1), "activityId": volunteering, "units": 3},
        {"participant": person(2), "activityId": volunteering, "units": 8},
    ]
    assert world.client.balance_of(person(1), REGION_A) == 3000
    assert world.client.balance_of(person(2), REGION_A) == 8000
    with pytest.raises(errors.InvalidUnits) as raised:
        world.client.record_batch(world.issuer_a, REGION_A, [RecordInput(person(3), volunteering, 3, 9)])
    assert raised.value.args_by_name == {"activityId": volunteering, "units": 9, "maxUnits": 8}
    zero_units = pack_record(RecordInput(person(3), volunteering, 3, 1)) - 1  # the client refuses to pack 0
    call = world.client.contract.functions.recordBatch(REGION_A, 2, [zero_units])
    with pytest.raises(errors.InvalidUnits):
        send_transaction(world.devnet.w3, world.issuer_a, call)
    with pytest.raises(errors.InvalidUnits):  # a per-record activity takes exactly one unit
        world.client.record_batch(world.issuer_a, REGION_A, [RecordInput(person(3), world.activity_a, 4, 2)])


@pytest.mark.parametrize(("unit", "max_units"), [(RewardUnit.RECORD, 2), (RewardUnit.HOUR, 0), (3, 1)])
def test_unit_terms_are_checked_at_registration(world: World, unit: int, max_units: int) -> None:
    now = world.now()
    terms = (REGION_A, 40, False, unit, max_units, 100, now, now + 100, 0, b"\x00" * 32)
    with pytest.raises(errors.InvalidUnitTerms):
        send_transaction(world.devnet.w3, world.admin_a, world.client.contract.functions.registerActivity(terms))


def test_a_stay_is_rewarded_per_day(world: World) -> None:
    telework = world.activity(kind=ContributionKind.TELEWORK, reward=500, unit=RewardUnit.DAY, max_units=31)
    world.client.record_batch(world.issuer_a, REGION_A, [RecordInput(person(4), telework, 1, 6)])
    assert world.client.balance_of(person(4), REGION_A) == 3000


# -- coin expiry ------------------------------------------------------------------------------------------


def test_coins_expire_at_the_end_of_the_period_after_the_one_they_were_earned_in(world: World) -> None:
    client = world.client
    receipt = client.set_coin_expiry(world.admin_b, REGION_B, 30)
    assert client.events(receipt, "RegionExpirySet") == [
        {"region": REGION_B, "expiryDays": 30, "account": world.admin_b.address}
    ]
    long_b = world.activity(REGION_B, ends_at=world.now() + 400 * DAY)
    holder = person(5)
    client.record_batch(world.issuer_b, REGION_B, [RecordInput(holder, long_b, 1)])
    today = client.today()
    period = today // 30
    holding = client.holding(holder, REGION_B)
    assert (holding.stored, holding.spendable, holding.expiring) == (100, 100, 100)
    assert holding.expires_after_day == (period + 2) * 30 - 1  # kept through the next period
    with pytest.raises(errors.ExpiryLocked):  # coins exist: the rule cannot change any more
        client.set_coin_expiry(world.admin_b, REGION_B, 90)
    with pytest.raises(errors.NotRegionAdmin):
        client.set_coin_expiry(world.admin_a, REGION_B, 90)

    advance(world, ((period + 1) * 30 - today) * DAY)  # into the next period: still spendable
    assert client.balance_of(holder, REGION_B) == 100
    holding = client.holding(holder, REGION_B)
    assert (holding.expiring, holding.expires_after_day) == (100, (period + 2) * 30 - 1)

    advance(world, 30 * DAY)  # two periods on: they lapsed
    assert client.balance_of(holder, REGION_B) == 0
    assert client.holding(holder, REGION_B).stored == 100  # until the holding is touched
    project = client.register_project(world.admin_b, REGION_B)
    request = SupportRequest(holder, project, 1, 0, world.now() + 600)
    holder_key = Account.from_key(keccak(text="v2-person-5"))
    with pytest.raises(errors.InsufficientBalance):
        client.support_by_sig(world.outsider, request, sign_support(holder_key, request, 31337, client.address))
    # The next record counts the lapse (an event, the region's total) and starts afresh.
    second = world.activity(REGION_B, ends_at=world.now() + 400 * DAY)
    result = client.record_batch(world.issuer_b, REGION_B, [RecordInput(holder, second, 2)])
    assert client.events(result.receipt, "CoinsExpired") == [{"region": REGION_B, "holder": holder, "amount": 100}]
    info = client.region_info(REGION_B)
    assert (info.expiry_days, info.minted, info.expired, info.total_supply) == (30, 200, 100, 100)
    assert client.holding(holder, REGION_B).stored == client.balance_of(holder, REGION_B) == 100


def test_spending_takes_the_older_coins_first(world: World) -> None:
    client = world.client
    client.set_coin_expiry(world.admin_b, REGION_B, 30)
    long_b = world.activity(REGION_B, ends_at=world.now() + 400 * DAY)
    holder = Account.from_key(keccak(text="v2-spender"))
    client.record_batch(world.issuer_b, REGION_B, [RecordInput(holder.address, long_b, 1)])
    today = client.today()
    advance(world, ((today // 30 + 1) * 30 - today) * DAY)
    second = world.activity(REGION_B, ends_at=world.now() + 400 * DAY)
    client.record_batch(world.issuer_b, REGION_B, [RecordInput(holder.address, second, 2)])
    project = client.register_project(world.admin_b, REGION_B)
    request = SupportRequest(holder.address, project, 120, 0, world.now() + 600)
    client.support_by_sig(world.outsider, request, sign_support(holder, request, 31337, client.address))
    advance(world, 30 * DAY)  # the older period lapses: nothing of it was left
    assert client.balance_of(holder.address, REGION_B) == 80


# -- the duplicate guard ------------------------------------------------------------------------------------


def test_four_open_activities_at_once_spill_an_entry_and_duplicates_are_still_refused(world: World) -> None:
    client = world.client
    open_ = [world.activity(ends_at=world.now() + (10 + i) * DAY) for i in range(5)]
    who = person(6)
    for claim, activity in enumerate(open_, start=1):
        client.record_batch(world.issuer_a, REGION_A, [RecordInput(who, activity, claim)])
    for activity in open_:  # three in the holding word, two spilled: all guarded
        assert client.record_of(activity, who) == (True, False)
        with pytest.raises(errors.DuplicateContribution):
            client.record_batch(world.issuer_a, REGION_A, [RecordInput(who, activity, 99)])
    assert client.holding(who, REGION_A).stored == 500


def test_an_entry_is_reused_once_its_activity_no_longer_takes_records(world: World) -> None:
    client = world.client
    who = person(7)
    short = [world.activity(ends_at=world.now() + 3600) for _ in range(3)]
    for claim, activity in enumerate(short, start=1):
        client.record_batch(world.issuer_a, REGION_A, [RecordInput(who, activity, claim)])
    advance(world, 3 * DAY)  # past the end and the day of grace
    for activity in short:
        with pytest.raises(errors.ActivityEnded):
            client.record_batch(world.issuer_a, REGION_A, [RecordInput(who, activity, 50)])
    fresh = [world.activity(ends_at=world.now() + 5 * DAY) for _ in range(3)]
    result = client.record_batch(world.issuer_a, REGION_A, [RecordInput(who, a, 60 + i) for i, a in enumerate(fresh)])
    assert result.count == 3


def test_the_fast_path_and_the_reference_path_agree(world: World) -> None:
    """The same records through the fast path (region A) and through the reference path (region B,
    whose coins expire, takes it for every record) leave the same balances, counts and logs."""
    client = world.client
    client.set_coin_expiry(world.admin_b, REGION_B, 365)
    people = [person(100 + i) for i in range(12)]
    results = {}
    for region, issuer in ((REGION_A, world.issuer_a), (REGION_B, world.issuer_b)):
        first = world.activity(region, reward=7, unit=RewardUnit.HOUR, max_units=5)
        second = world.activity(region, reward=11, capacity=20)
        batch = [RecordInput(p, first, i + 1, 1 + i % 5) for i, p in enumerate(people)]
        batch += [RecordInput(p, second, 100 + i) for i, p in enumerate(people[:6])]
        result = client.record_batch(issuer, region, batch)
        logs = [(e["participant"], e["units"]) for e in client.events(result.receipt, "ContributionRecorded")]
        balances = [client.balance_of(p, region) for p in people]
        info = client.region_info(region)
        results[region] = (result.minted, logs, balances, info.participant_count, client.activity(second).recorded)
        with pytest.raises(errors.DuplicateContribution):
            client.record_batch(issuer, region, [RecordInput(people[3], second, 999)])
    assert results[REGION_A] == results[REGION_B]


def test_the_fast_path_event_topic_is_the_declared_event() -> None:
    """The fast path emits ``ContributionRecorded`` with a hand-written topic: it must be the event's."""
    (event,) = [i for i in load_artifact("TsunagariLedger").abi if i.get("name") == "ContributionRecorded"]
    source = (Path(__file__).resolve().parents[2] / "contracts" / "TsunagariLedger.sol").read_text(encoding="utf-8")
    assert f"log2(m, 0x40, {event_topic(event)}," in source


# -- revocation with proof ------------------------------------------------------------------------------------


def test_a_record_is_revoked_with_its_batch_as_proof_long_after_its_activity(world: World) -> None:
    client = world.client
    who = person(8)
    brief = world.activity(ends_at=world.now() + 3600)
    client.record_batch(world.issuer_a, REGION_A, [RecordInput(person(9), brief, 1), RecordInput(who, brief, 2)])
    advance(world, 40 * DAY)  # the duplicate guard has long forgotten it; the commitment has not
    location = client.find_record(brief, who)
    assert location is not None and location.position == 1 and client.verify_record(location)
    event = client.revoke(world.admin_a, brief, who, 1, tx_hash=location.tx_hash)
    assert (event["clawedBack"], event["claimId"]) == (100, 2)
    assert client.record_of(brief, who)[1]
    with pytest.raises(errors.AlreadyRevoked):
        client.revoke(world.admin_a, brief, who, 1)


# -- the review's fixes --------------------------------------------------------------------------------------


def test_a_platform_pause_is_not_lifted_by_the_region_admin(world: World) -> None:
    client = world.client
    receipt = client.set_region_paused(world.platform, REGION_A, True)
    assert client.events(receipt, "RegionPauseSet") == [
        {"region": REGION_A, "paused": True, "byPlatform": True, "account": world.platform.address}
    ]
    with pytest.raises(errors.PausedByPlatform):
        client.set_region_paused(world.admin_a, REGION_A, False)
    info = client.region_info(REGION_A)
    assert (info.platform_paused, info.admin_paused, info.paused) == (True, False, True)
    client.set_region_paused(world.admin_a, REGION_A, True)  # the admin may add its own pause
    client.set_region_paused(world.platform, REGION_A, False)  # the platform's unpause lifts both
    assert not client.region_info(REGION_A).paused
    client.set_region_paused(world.admin_a, REGION_A, True)
    client.set_region_paused(world.admin_a, REGION_A, False)
    assert not client.region_info(REGION_A).paused


def test_every_issuer_of_a_region_is_revoked_in_one_call(world: World) -> None:
    client = world.client
    for account in (world.outsider, world.admin_b):
        client.grant_issuer(world.admin_a, REGION_A, account.address)
    assert set(client.issuers(REGION_A)) == {world.issuer_a.address, world.outsider.address, world.admin_b.address}
    # Removing the admin who appointed them leaves them in place: issuers belong to the region.
    client.grant_region_admin(world.platform, REGION_A, world.admin_b.address)
    role = client.contract.functions.regionAdminRole(REGION_A).call()
    send_transaction(world.devnet.w3, world.platform, client.contract.functions.revokeRole(role, world.admin_a.address))
    assert client.is_issuer(REGION_A, world.outsider.address)
    with pytest.raises(errors.NotRegionAdmin):
        client.revoke_all_issuers(world.admin_a, REGION_A)
    receipt = client.revoke_all_issuers(world.platform, REGION_A)
    revoked = {e["account"] for e in client.events(receipt, "RegionRoleRevoked")}
    assert revoked == {world.issuer_a.address, world.outsider.address, world.admin_b.address}
    assert client.issuers(REGION_A) == [] and client.issuers(REGION_B) == [world.issuer_b.address]
    client.grant_issuer(world.admin_b, REGION_A, world.issuer_a.address)
    client.revoke_all_issuers(world.admin_b, REGION_A)  # a region admin may do it too
    assert client.issuers(REGION_A) == []


def test_coins_cannot_be_sent_where_they_would_be_locked(world: World) -> None:
    client = world.client
    client.record_batch(world.issuer_a, REGION_A, [RecordInput(world.outsider.address, world.activity_a, 1)])
    client.set_transfers_enabled(world.admin_a, REGION_A, True)
    for locked in (client.address, client.coin_of(REGION_A), client.coin_of(REGION_B)):
        with pytest.raises(errors.InvalidRecipient):
            client.coin_transfer(world.outsider, REGION_A, locked, 1)
    assert client.total_supply(REGION_A) == client.balance_of(world.outsider.address, REGION_A) == 100


def test_a_supporter_cancels_a_signed_support_before_it_is_used(world: World) -> None:
    client = world.client
    supporter = Account.from_key(keccak(text="v2-canceller"))
    client.record_batch(world.issuer_a, REGION_A, [RecordInput(supporter.address, world.activity_a, 1)])
    project = client.register_project(world.admin_a, REGION_A)
    handed_out = SupportRequest(supporter.address, project, 50, 0, world.now() + 600)
    signature = sign_support(supporter, handed_out, 31337, client.address)
    cancel = CancelRequest(supporter.address, 0, world.now() + 600)
    forged = sign_cancel(world.outsider, cancel, 31337, client.address)
    with pytest.raises(errors.InvalidSignature):
        client.cancel_nonce_by_sig(world.outsider, cancel, forged)
    late = CancelRequest(supporter.address, 0, world.now() - 1)
    with pytest.raises(errors.SignatureExpired):
        client.cancel_nonce_by_sig(world.outsider, late, sign_cancel(supporter, late, 31337, client.address))
    receipt = client.cancel_nonce_by_sig(world.outsider, cancel, sign_cancel(supporter, cancel, 31337, client.address))
    assert client.events(receipt, "SupportNonceCancelled") == [{"supporter": supporter.address, "nonce": 0}]
    with pytest.raises(errors.NonceAlreadyUsed):
        client.support_by_sig(world.outsider, handed_out, signature)
    assert client.balance_of(supporter.address, REGION_A) == 100
    # An account with ETH cancels its own next nonce directly.
    assert client.cancel_nonce(world.outsider) == 0
    assert client.nonce(world.outsider.address) == 1


def test_a_support_records_its_signature_nonce(world: World) -> None:
    client = world.client
    supporter = Account.from_key(keccak(text="v2-nonce"))
    client.record_batch(world.issuer_a, REGION_A, [RecordInput(supporter.address, world.activity_a, 1)])
    project = client.register_project(world.admin_a, REGION_A)
    request = SupportRequest(supporter.address, project, 5, 0, world.now() + 600)
    receipt = client.support_by_sig(world.outsider, request, sign_support(supporter, request, 31337, client.address))
    (event,) = client.events(receipt, "ProjectSupported")
    assert (event["nonce"], event["relayer"]) == (0, world.outsider.address)


def test_the_access_list_keys_are_the_holding_slots(world: World) -> None:
    """The relayer's EIP-2930 access list names exactly the storage slots the records write."""
    from ledger.chain.client import holding_storage_keys

    client = world.client
    records = [RecordInput(person(200 + i), world.activity_a, i + 1) for i in range(3)]
    keys = holding_storage_keys(client.holdings_slot(), REGION_A, records)
    client.record_batch(world.issuer_a, REGION_A, records)
    for key, record in zip(keys, records, strict=True):
        word = int.from_bytes(bytes(world.devnet.w3.eth.get_storage_at(client.address, int(key, 16))), "big")
        assert word & ((1 << 40) - 1) == 100 and client.holding(record.participant, REGION_A).stored == 100


def test_unknown_holders_and_activities_read_as_empty(world: World) -> None:
    assert world.client.record_of(4242, person(1)) == (False, False)
    holding = world.client.holding(person(999), REGION_A)
    assert (holding.stored, holding.spendable, holding.recorded) == (0, 0, False)
    assert pack_record(RecordInput(person(1), 1, 2, 3)) & 0xFFFF == 3


def test_activity_spec_defaults_to_one_unit_per_record() -> None:
    spec = ActivitySpec(REGION_A, ContributionKind.SIGHTSEEING, 10, 0, 1)
    assert spec.terms()[2:5] == (False, 0, 1)
