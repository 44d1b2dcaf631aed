"""The ledger's behaviour suite: every function, event, error and role boundary, on both backends.

Each test takes the ``world`` fixture (tests/conftest.py), so it runs once on py-evm and once on
anvil, each time from the same snapshot.
"""

from __future__ import annotations

import pytest
from web3 import Web3
from web3.logs import DISCARD

from ledger import errors
from ledger.chain.client import ActivitySpec, RecordInput, pack_record, send_transaction, unpack_record
from ledger.chain.signing import EIP712_NAME, SupportRequest, sign_support, support_typed_data
from ledger.taxonomy import ContributionKind, RewardUnit
from tests.conftest import REGION_A, REGION_B, World


def records(world: World, activity: int, count: int, first_claim: int = 1) -> list[RecordInput]:
    return [RecordInput(p.address, activity, first_claim + i) for i, p in enumerate(world.participants[:count])]


# -- deployment and regions -------------------------------------------------------------------------


def test_deployment_sets_platform_admin_and_eip712_domain(world: World) -> None:
    ledger = world.client.contract.functions
    assert ledger.hasRole(ledger.DEFAULT_ADMIN_ROLE().call(), world.platform.address).call()
    assert not world.client.paused()
    _fields, name, version, chain_id, verifying, _salt, _ext = ledger.eip712Domain().call()
    assert (name, version, chain_id, verifying) == (EIP712_NAME, "2", 31337, world.client.address)
    assert name.isascii() and len(name.encode()) <= 31


def test_register_region_deploys_an_erc20_face_and_appoints_the_admin(world: World) -> None:
    assert world.client.registered_regions() == [REGION_A, REGION_B]
    receipt = send_transaction(
        world.devnet.w3,
        world.platform,
        world.client.contract.functions.registerRegion(26100, "京都コイン", "KYOTO", world.outsider.address),
    )
    (event,) = world.client.events(receipt, "RegionRegistered")
    assert event["region"] == 26100 and event["admin"] == world.outsider.address
    assert (event["name"], event["symbol"]) == ("京都コイン", "KYOTO")
    (granted,) = world.client.events(receipt, "RegionRoleGranted")
    assert granted == {
        "region": 26100,
        "roleKind": 1,
        "account": world.outsider.address,
        "sender": world.platform.address,
    }
    coin = world.client.coin(26100)
    assert coin.address == event["coin"]
    assert coin.functions.name().call() == "京都コイン"
    assert coin.functions.symbol().call() == "KYOTO"
    assert coin.functions.decimals().call() == 0
    assert coin.functions.totalSupply().call() == 0
    assert world.client.is_region_admin(26100, world.outsider.address)
    info = world.client.region_info(26100)
    assert info.registered and not info.paused and not info.transfers_enabled and info.coin == coin.address
    assert world.client.registered_regions() == [REGION_A, REGION_B, 26100]  # from its RegionRegistered logs
    assert world.client.registered_regions(from_block=receipt["blockNumber"]) == [26100]


@pytest.mark.parametrize(
    ("code", "error"),
    [(REGION_A, errors.RegionExists), (0, errors.InvalidRegionCode), (1_000_000, errors.InvalidRegionCode)],
)
def test_register_region_rejects_bad_codes(world: World, code: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        world.client.register_region(world.platform, code, "x", "X", world.outsider.address)


def test_register_region_needs_an_admin_and_the_platform_role(world: World) -> None:
    with pytest.raises(errors.ZeroAddress):
        world.client.register_region(world.platform, 26100, "x", "X", "0x" + "00" * 20)
    with pytest.raises(errors.MissingRole):
        world.client.register_region(world.admin_a, 26100, "x", "X", world.admin_a.address)


# -- roles are scoped per region ----------------------------------------------------------------------


def test_region_admin_can_do_nothing_in_another_region(world: World) -> None:
    now = world.now()
    spec_b = ActivitySpec(REGION_B, ContributionKind.FESTIVAL_EVENT, 10, now, now + 100)
    with pytest.raises(errors.NotRegionAdmin):
        world.client.register_activity(world.admin_a, spec_b)
    with pytest.raises(errors.MissingRole):
        world.client.grant_issuer(world.admin_a, REGION_B, world.admin_a.address)
    with pytest.raises(errors.NotRegionAdmin):
        world.client.close_activity(world.admin_a, world.activity_b)
    with pytest.raises(errors.NotRegionAdmin):
        world.client.register_project(world.admin_a, REGION_B)
    with pytest.raises(errors.NotRegionAdmin):
        world.client.set_region_paused(world.admin_a, REGION_B, True)
    with pytest.raises(errors.NotRegionAdmin):
        world.client.set_transfers_enabled(world.admin_a, REGION_B, True)
    world.client.record_batch(world.issuer_b, REGION_B, records(world, world.activity_b, 1))
    with pytest.raises(errors.NotRegionAdmin):
        world.client.revoke(world.admin_a, world.activity_b, world.participants[0].address, 1)


def test_issuer_can_record_only_in_its_region(world: World) -> None:
    with pytest.raises(errors.NotIssuer):
        world.client.record_batch(world.issuer_a, REGION_B, records(world, world.activity_b, 1))
    with pytest.raises(errors.ActivityRegionMismatch):
        world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_b, 1))
    with pytest.raises(errors.NotIssuer):
        world.client.record_batch(world.admin_a, REGION_A, records(world, world.activity_a, 1))


def test_issuer_grant_and_revoke_emit_region_role_events(world: World) -> None:
    receipt = world.client.grant_issuer(world.admin_a, REGION_A, world.outsider.address)
    assert world.client.events(receipt, "RegionRoleGranted") == [
        {"region": REGION_A, "roleKind": 2, "account": world.outsider.address, "sender": world.admin_a.address}
    ]
    assert world.client.is_issuer(REGION_A, world.outsider.address)
    receipt = world.client.revoke_issuer(world.admin_a, REGION_A, world.outsider.address)
    assert world.client.events(receipt, "RegionRoleRevoked") == [
        {"region": REGION_A, "roleKind": 2, "account": world.outsider.address, "sender": world.admin_a.address}
    ]
    assert not world.client.is_issuer(REGION_A, world.outsider.address)
    with pytest.raises(errors.NotIssuer):
        world.client.record_batch(world.outsider, REGION_A, records(world, world.activity_a, 1))


def test_only_registered_regions_roles_can_be_granted(world: World) -> None:
    ledger = world.client.contract.functions
    unregistered = ledger.regionIssuerRole(26100).call()
    with pytest.raises(errors.UnknownRole):
        send_transaction(world.devnet.w3, world.platform, ledger.grantRole(unregistered, world.outsider.address))
    with pytest.raises(errors.UnknownRole):
        send_transaction(world.devnet.w3, world.platform, ledger.grantRole(b"\x01" * 32, world.outsider.address))


def test_platform_admin_appoints_region_admins(world: World) -> None:
    world.client.grant_region_admin(world.platform, REGION_B, world.outsider.address)
    assert world.client.is_region_admin(REGION_B, world.outsider.address)
    with pytest.raises(errors.MissingRole):
        world.client.grant_region_admin(world.admin_b, REGION_B, world.admin_a.address)


# -- activities ---------------------------------------------------------------------------------------


def test_register_activity_emits_every_field(world: World) -> None:
    now = world.now()
    spec = ActivitySpec(
        REGION_A,
        ContributionKind.VOLUNTEERING,
        1000,
        now + 60,
        now + 7200,
        50,
        b"\x42" * 32,
        designated=True,
        unit=RewardUnit.HOUR,
        max_units=8,
    )
    receipt = send_transaction(
        world.devnet.w3, world.admin_a, world.client.contract.functions.registerActivity(spec.terms())
    )
    (event,) = world.client.events(receipt, "ActivityRegistered")
    activity_id = event["activityId"]
    assert event == {
        "activityId": activity_id,
        "region": REGION_A,
        "kind": 40,
        "designated": True,
        "unit": 1,
        "maxUnits": 8,
        "reward": 1000,
        "startsAt": now + 60,
        "endsAt": now + 7200,
        "capacity": 50,
        "metadataHash": b"\x42" * 32,
        "admin": world.admin_a.address,
    }
    info = world.client.activity(activity_id)
    assert (info.region, info.kind, info.reward, info.capacity, info.recorded, info.closed) == (
        REGION_A,
        40,
        1000,
        50,
        0,
        False,
    )
    assert (info.designated, info.unit, info.max_units, info.ordinal) == (True, RewardUnit.HOUR, 8, 2)
    assert world.client.contract.functions.lastIds().call()[0] == activity_id


@pytest.mark.parametrize("kind", [0, 12, 19, 61, 99, 255])
def test_register_activity_rejects_unknown_kinds(world: World, kind: int) -> None:
    now = world.now()
    terms = (REGION_A, kind, False, 0, 1, 1, now, now + 1, 0, b"\x00" * 32)
    with pytest.raises(errors.InvalidKind):
        send_transaction(world.devnet.w3, world.admin_a, world.client.contract.functions.registerActivity(terms))


def test_every_taxonomy_kind_is_accepted(world: World) -> None:
    for kind in ContributionKind:
        assert world.activity(kind=kind) > 0


def test_register_activity_rejects_bad_window_and_unknown_region(world: World) -> None:
    now = world.now()
    with pytest.raises(errors.InvalidWindow):
        world.client.register_activity(
            world.admin_a, ActivitySpec(REGION_A, ContributionKind.SIGHTSEEING, 1, now, now - 1)
        )
    with pytest.raises(errors.UnknownRegion):
        world.client.register_activity(world.admin_a, ActivitySpec(99999, ContributionKind.SIGHTSEEING, 1, now, now))


def test_close_activity_stops_records(world: World) -> None:
    receipt = world.client.close_activity(world.admin_a, world.activity_a)
    assert world.client.events(receipt, "ActivityClosed") == [
        {"activityId": world.activity_a, "region": REGION_A, "admin": world.admin_a.address}
    ]
    with pytest.raises(errors.ActivityClosed):
        world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 1))
    with pytest.raises(errors.ActivityClosed):
        world.client.close_activity(world.admin_a, world.activity_a)
    with pytest.raises(errors.UnknownActivity):
        world.client.close_activity(world.admin_a, 9999)


# -- recording -----------------------------------------------------------------------------------------


def test_record_batch_mints_and_emits_every_field(world: World) -> None:
    batch = records(world, world.activity_a, 3, first_claim=501)
    result = world.client.record_batch(world.issuer_a, REGION_A, batch)
    assert (result.batch_seq, result.count, result.minted) == (1, 3, 300)
    events = world.client.events(result.receipt, "ContributionRecorded")
    assert events == [{"participant": r.participant, "activityId": world.activity_a, "units": 1} for r in batch]
    assert world.client.events(result.receipt, "BatchRecorded") == [
        {"region": REGION_A, "issuer": world.issuer_a.address, "batchSeq": 1, "count": 3, "minted": 300}
    ]
    for participant in world.participants[:3]:
        assert world.client.balance_of(participant.address, REGION_A) == 100
        assert world.client.coin(REGION_A).functions.balanceOf(participant.address).call() == 100
        holding = world.client.holding(participant.address, REGION_A)
        assert (holding.stored, holding.spendable, holding.expiring, holding.recorded) == (100, 100, 0, True)
        assert world.client.record_of(world.activity_a, participant.address) == (True, False)
        assert world.devnet.w3.eth.get_balance(participant.address) == 0
    assert world.client.activity(world.activity_a).recorded == 3
    info = world.client.region_info(REGION_A)
    assert (info.participant_count, info.minted, info.total_supply) == (3, 300, 300)
    assert world.client.coin(REGION_A).functions.totalSupply().call() == 300
    assert world.client.balance_of(world.participants[0].address, REGION_B) == 0
    assert world.client.next_batch_seq(world.issuer_a.address, REGION_A) == 2


def test_a_returning_participant_accumulates_and_is_counted_once(world: World) -> None:
    second = world.activity(kind=ContributionKind.FESTIVAL_EVENT, reward=30)
    world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 2))
    result = world.client.record_batch(world.issuer_a, REGION_A, records(world, second, 2, first_claim=10))
    assert [e["activityId"] for e in world.client.events(result.receipt, "ContributionRecorded")] == [second] * 2
    assert world.client.holding(world.participants[1].address, REGION_A).stored == 130
    assert world.client.region_info(REGION_A).participant_count == 2


def test_one_record_per_participant_per_activity_is_enforced_on_chain(world: World) -> None:
    world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 2))
    with pytest.raises(errors.DuplicateContribution) as raised:
        world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 1, first_claim=99))
    assert raised.value.args_by_name == {"activityId": world.activity_a, "participant": world.participants[0].address}
    participant = world.participants[5].address
    twice = [RecordInput(participant, world.activity_a, 1), RecordInput(participant, world.activity_a, 2)]
    with pytest.raises(errors.DuplicateContribution):
        world.client.record_batch(world.issuer_a, REGION_A, twice)
    assert world.client.balance_of(participant, REGION_A) == 0  # all or nothing


def test_a_resubmitted_batch_counts_nothing_twice(world: World) -> None:
    batch = records(world, world.activity_a, 3)
    world.client.record_batch(world.issuer_a, REGION_A, batch, batch_seq=1)
    with pytest.raises(errors.BatchAlreadyRecorded) as raised:
        world.client.record_batch(world.issuer_a, REGION_A, batch, batch_seq=1)
    assert raised.value.args_by_name == {"region": REGION_A, "issuer": world.issuer_a.address, "batchSeq": 1}
    with pytest.raises(errors.BatchOutOfOrder):
        world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_b, 1), batch_seq=3)
    assert world.client.region_info(REGION_A).minted == 300
    # Sequences are per issuer and region: region B's issuer starts at 1.
    assert world.client.next_batch_seq(world.issuer_b.address, REGION_B) == 1


def test_batch_input_errors(world: World) -> None:
    with pytest.raises(errors.InvalidBatch):
        world.client.record_batch(world.issuer_a, REGION_A, [])
    zero_participant = world.activity_a << 56 | 1 << 16 | 1  # participant bits all zero
    call = world.client.contract.functions.recordBatch(REGION_A, 1, [zero_participant])
    with pytest.raises(errors.ZeroAddress):
        send_transaction(world.devnet.w3, world.issuer_a, call)
    with pytest.raises(ValueError, match="not an Ethereum address"):
        pack_record(RecordInput("0x1234", world.activity_a, 1))
    with pytest.raises(ValueError, match="40 bits"):
        pack_record(RecordInput(world.outsider.address, 1 << 40, 1))
    with pytest.raises(ValueError, match="units"):
        pack_record(RecordInput(world.outsider.address, 1, 1, 0))
    with pytest.raises(errors.UnknownActivity):
        world.client.record_batch(world.issuer_a, REGION_A, [RecordInput(world.outsider.address, 777, 1)])
    activity_zero = int(world.outsider.address, 16) << 96 | 0 << 56 | 1 << 16 | 1  # id 0 is no activity
    call = world.client.contract.functions.recordBatch(REGION_A, 1, [activity_zero])
    with pytest.raises(errors.UnknownActivity):
        send_transaction(world.devnet.w3, world.issuer_a, call)
    with pytest.raises(errors.UnknownRegion):
        world.client.record_batch(world.issuer_a, 11111, [RecordInput(world.outsider.address, world.activity_a, 1)])


def test_time_window_and_recording_grace(world: World) -> None:
    now = world.now()
    future = world.activity(starts_at=now + 3600, ends_at=now + 7200)
    with pytest.raises(errors.ActivityNotStarted):
        world.client.record_batch(world.issuer_a, REGION_A, records(world, future, 1))
    ended = world.activity(starts_at=now - 3 * 86_400, ends_at=now - 2 * 86_400)
    with pytest.raises(errors.ActivityEnded):
        world.client.record_batch(world.issuer_a, REGION_A, records(world, ended, 1))
    in_grace = world.activity(starts_at=now - 7200, ends_at=now - 3600)  # ended an hour ago: grace is a day
    assert world.client.record_batch(world.issuer_a, REGION_A, records(world, in_grace, 1)).count == 1


def test_capacity_is_enforced_and_batches_are_all_or_nothing(world: World) -> None:
    small = world.activity(capacity=2)
    with pytest.raises(errors.ActivityFull):
        world.client.record_batch(world.issuer_a, REGION_A, records(world, small, 3))
    assert world.client.activity(small).recorded == 0
    world.client.record_batch(world.issuer_a, REGION_A, records(world, small, 2))
    with pytest.raises(errors.ActivityFull):
        world.client.record_batch(world.issuer_a, REGION_A, [RecordInput(world.outsider.address, small, 9)])


def test_mixed_activity_batch_is_sorted_and_counted_per_activity(world: World) -> None:
    second = world.activity(reward=7)
    mixed = [
        RecordInput(world.participants[0].address, second, 1),
        RecordInput(world.participants[0].address, world.activity_a, 2),
        RecordInput(world.participants[1].address, second, 3),
    ]
    result = world.client.record_batch(world.issuer_a, REGION_A, mixed)
    assert result.minted == 114
    assert world.client.activity(world.activity_a).recorded == 1
    assert world.client.activity(second).recorded == 2
    assert world.client.balance_of(world.participants[0].address, REGION_A) == 107


# -- revocation --------------------------------------------------------------------------------------


def test_revoke_claws_back_unspent_coins_and_keeps_history(world: World) -> None:
    participant = world.participants[0]
    world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 1))
    event = world.client.revoke(world.admin_a, world.activity_a, participant.address, 2, b"\x01" * 32)
    assert event == {
        "participant": participant.address,
        "activityId": world.activity_a,
        "region": REGION_A,
        "reason": 2,
        "clawedBack": 100,
        "shortfall": 0,
        "claimId": 1,
        "evidenceHash": b"\x01" * 32,
        "admin": world.admin_a.address,
    }
    assert world.client.record_of(world.activity_a, participant.address) == (True, True)
    assert world.client.holding(participant.address, REGION_A).stored == 0
    info = world.client.region_info(REGION_A)
    assert (info.minted, info.revoked, info.total_supply) == (100, 100, 0)
    with pytest.raises(errors.AlreadyRevoked):
        world.client.revoke(world.admin_a, world.activity_a, participant.address, 2)
    with pytest.raises(errors.DuplicateContribution):  # a revoked record is not re-recorded
        world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 1, first_claim=5))


def test_revoke_after_spending_reports_the_shortfall(world: World) -> None:
    participant = world.participants[0]
    world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 1))
    project = world.client.register_project(world.admin_a, REGION_A)
    request = SupportRequest(participant.address, project, 70, 0, world.now() + 600)
    world.client.support_by_sig(
        world.issuer_a, request, sign_support(participant, request, 31337, world.client.address)
    )
    event = world.client.revoke(world.admin_a, world.activity_a, participant.address, 1)
    assert (event["clawedBack"], event["shortfall"]) == (30, 70)
    info = world.client.region_info(REGION_A)
    assert (info.minted, info.spent, info.revoked, info.total_supply) == (100, 70, 30, 0)


def test_revoke_errors(world: World) -> None:
    participant = world.participants[0].address
    with pytest.raises(errors.RecordNotFound):  # the client finds no record to name
        world.client.revoke(world.admin_a, world.activity_a, participant, 1)
    world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 1))
    for reason in (0, 6):
        with pytest.raises(errors.InvalidReason):
            world.client.revoke(world.admin_a, world.activity_a, participant, reason)
    with pytest.raises(errors.NotRegionAdmin):
        world.client.revoke(world.issuer_a, world.activity_a, participant, 1)
    other = world.participants[1].address  # recorded in the region, not for this activity
    world.client.record_batch(world.issuer_a, REGION_A, [RecordInput(other, world.activity(), 3)])
    with pytest.raises(errors.RecordNotFound):
        world.client.revoke(world.admin_a, world.activity_a, other, 1)
    # The contract itself refuses a record it did not commit to (a forged batch), and an unknown activity.
    location = world.client.find_record(world.activity_a, participant)
    assert location is not None and world.client.verify_record(location)
    ledger = world.client.contract.functions
    forged = [pack_record(RecordInput(world.outsider.address, world.activity_a, 1))]
    with pytest.raises(errors.RecordNotFound):
        send_transaction(
            world.devnet.w3,
            world.admin_a,
            ledger.revoke(location.issuer, location.batch_seq, forged, 0, 1, b"\x00" * 32),
        )
    unknown = [pack_record(RecordInput(world.outsider.address, 4242, 1))]
    with pytest.raises(errors.UnknownActivity):
        send_transaction(world.devnet.w3, world.admin_a, ledger.revoke(location.issuer, 1, unknown, 0, 1, b"\x00" * 32))


# -- projects and support -----------------------------------------------------------------------------


def test_projects_and_direct_support(world: World) -> None:
    receipt = send_transaction(
        world.devnet.w3, world.admin_a, world.client.contract.functions.registerProject(REGION_A, b"\x09" * 32)
    )
    (registered,) = world.client.events(receipt, "ProjectRegistered")
    project = registered["projectId"]
    assert registered == {
        "projectId": project,
        "region": REGION_A,
        "metadataHash": b"\x09" * 32,
        "admin": world.admin_a.address,
    }
    # An operator account supporting directly (it holds ETH, unlike participants).
    world.client.record_batch(world.issuer_a, REGION_A, [RecordInput(world.outsider.address, world.activity_a, 1)])
    receipt = world.client.support(world.outsider, project, 40)
    assert world.client.events(receipt, "ProjectSupported") == [
        {
            "projectId": project,
            "region": REGION_A,
            "supporter": world.outsider.address,
            "amount": 40,
            "relayer": "0x" + "00" * 20,
            "nonce": 2**256 - 1,
        }
    ]
    assert world.client.balance_of(world.outsider.address, REGION_A) == 60
    assert world.client.project(project).raised == 40
    info = world.client.region_info(REGION_A)
    assert (info.spent, info.total_supply) == (40, 60)
    with pytest.raises(errors.InsufficientBalance):
        world.client.support(world.outsider, project, 61)
    with pytest.raises(errors.ZeroAmount):
        world.client.support(world.outsider, project, 0)
    with pytest.raises(errors.UnknownProject):
        world.client.support(world.outsider, 999, 1)
    project_b = world.client.register_project(world.admin_b, REGION_B)
    with pytest.raises(errors.InsufficientBalance):  # region A's coins are no good in region B
        world.client.support(world.outsider, project_b, 1)
    closed = world.client.close_project(world.admin_a, project)
    assert world.client.events(closed, "ProjectClosed") == [
        {"projectId": project, "region": REGION_A, "admin": world.admin_a.address}
    ]
    with pytest.raises(errors.ProjectClosed):
        world.client.support(world.outsider, project, 1)
    with pytest.raises(errors.ProjectClosed):
        world.client.close_project(world.admin_a, project)
    with pytest.raises(errors.NotRegionAdmin):
        world.client.close_project(world.admin_a, project_b)


def test_support_by_signature_needs_no_eth_and_cannot_be_replayed(world: World) -> None:
    participant = world.participants[0]
    world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 1))
    project = world.client.register_project(world.admin_a, REGION_A)
    request = SupportRequest(
        participant.address, project, 25, world.client.nonce(participant.address), world.now() + 600
    )
    signature = sign_support(participant, request, world.client.chain_id, world.client.address)
    receipt = world.client.support_by_sig(world.outsider, request, signature)
    (event,) = world.client.events(receipt, "ProjectSupported")
    assert (event["supporter"], event["amount"], event["relayer"]) == (participant.address, 25, world.outsider.address)
    assert world.devnet.w3.eth.get_balance(participant.address) == 0
    assert world.client.nonce(participant.address) == 1
    with pytest.raises(errors.NonceAlreadyUsed):
        world.client.support_by_sig(world.outsider, request, signature)


def test_support_signature_errors(world: World) -> None:
    participant, stranger = world.participants[0], world.participants[1]
    world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 1))
    project = world.client.register_project(world.admin_a, REGION_A)
    deadline = world.now() + 600
    request = SupportRequest(participant.address, project, 10, 0, deadline)
    by_stranger = sign_support(stranger, request, 31337, world.client.address)
    with pytest.raises(errors.InvalidSignature):
        world.client.support_by_sig(world.outsider, request, by_stranger)
    genuine = sign_support(participant, request, 31337, world.client.address)
    tampered = SupportRequest(participant.address, project, 90, 0, deadline)
    with pytest.raises(errors.InvalidSignature):
        world.client.support_by_sig(world.outsider, tampered, genuine)
    other_chain = sign_support(participant, request, 1, world.client.address)
    with pytest.raises(errors.InvalidSignature):
        world.client.support_by_sig(world.outsider, request, other_chain)
    expired = SupportRequest(participant.address, project, 10, 0, world.now() - 1)
    with pytest.raises(errors.SignatureExpired):
        world.client.support_by_sig(
            world.outsider, expired, sign_support(participant, expired, 31337, world.client.address)
        )
    future_nonce = SupportRequest(participant.address, project, 10, 5, deadline)
    with pytest.raises(errors.NonceAlreadyUsed):
        world.client.support_by_sig(
            world.outsider, future_nonce, sign_support(participant, future_nonce, 31337, world.client.address)
        )
    assert world.client.balance_of(participant.address, REGION_A) == 100


# -- transfers -------------------------------------------------------------------------------------------


def test_coins_are_not_transferable_by_default_and_have_no_allowances(world: World) -> None:
    world.client.record_batch(world.issuer_a, REGION_A, [RecordInput(world.outsider.address, world.activity_a, 1)])
    with pytest.raises(errors.TransfersDisabled):
        world.client.coin_transfer(world.outsider, REGION_A, world.admin_b.address, 1)
    coin = world.client.coin(REGION_A)
    with pytest.raises(errors.AllowancesUnsupported):
        send_transaction(world.devnet.w3, world.outsider, coin.functions.approve(world.admin_b.address, 1))
    with pytest.raises(errors.AllowancesUnsupported):
        send_transaction(
            world.devnet.w3,
            world.outsider,
            coin.functions.transferFrom(world.outsider.address, world.admin_b.address, 1),
        )
    assert coin.functions.allowance(world.outsider.address, world.admin_b.address).call() == 0
    direct = world.client.contract.functions.transferCoin(REGION_A, world.outsider.address, world.admin_b.address, 1)
    with pytest.raises(errors.NotRegionCoin):
        send_transaction(world.devnet.w3, world.outsider, direct)


def test_a_region_may_enable_transfers(world: World) -> None:
    world.client.record_batch(world.issuer_a, REGION_A, [RecordInput(world.outsider.address, world.activity_a, 1)])
    receipt = world.client.set_transfers_enabled(world.admin_a, REGION_A, True)
    assert world.client.events(receipt, "RegionTransfersSet") == [
        {"region": REGION_A, "enabled": True, "account": world.admin_a.address}
    ]
    receipt = world.client.coin_transfer(world.outsider, REGION_A, world.admin_b.address, 30)
    assert world.client.events(receipt, "CoinTransferred") == [
        {"region": REGION_A, "from": world.outsider.address, "to": world.admin_b.address, "amount": 30}
    ]
    transfers = world.client.coin(REGION_A).events.Transfer().process_receipt(receipt, errors=DISCARD)
    assert [(t["args"]["from"], t["args"]["to"], t["args"]["value"]) for t in transfers] == [
        (world.outsider.address, world.admin_b.address, 30)
    ]
    assert world.client.balance_of(world.admin_b.address, REGION_A) == 30
    assert world.client.total_supply(REGION_A) == 100
    with pytest.raises(errors.InsufficientBalance):
        world.client.coin_transfer(world.outsider, REGION_A, world.admin_b.address, 71)
    receipt = world.client.coin_transfer(world.outsider, REGION_A, world.admin_b.address, 0)  # ERC-20: 0 is normal
    assert world.client.events(receipt, "CoinTransferred")[0]["amount"] == 0
    with pytest.raises(errors.ZeroAddress):
        world.client.coin_transfer(world.outsider, REGION_A, "0x" + "00" * 20, 1)


# -- pausing ----------------------------------------------------------------------------------------------


def test_global_pause_stops_every_region(world: World) -> None:
    receipt = world.client.pause(world.platform)
    assert (
        world.client.contract.events.Paused().process_receipt(receipt, errors=DISCARD)[0]["args"]["account"]
        == world.platform.address
    )
    with pytest.raises(errors.Paused):
        world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 1))
    with pytest.raises(errors.Paused):
        world.client.record_batch(world.issuer_b, REGION_B, records(world, world.activity_b, 1))
    with pytest.raises(errors.Paused):
        world.activity()
    with pytest.raises(errors.MissingRole):
        world.client.unpause(world.admin_a)
    world.client.unpause(world.platform)
    assert world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 1)).count == 1


def test_region_pause_is_scoped(world: World) -> None:
    receipt = world.client.set_region_paused(world.admin_a, REGION_A, True)
    assert world.client.events(receipt, "RegionPauseSet") == [
        {"region": REGION_A, "paused": True, "byPlatform": False, "account": world.admin_a.address}
    ]
    with pytest.raises(errors.RegionPaused):
        world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 1))
    with pytest.raises(errors.RegionPaused):
        world.activity()
    assert world.client.record_batch(world.issuer_b, REGION_B, records(world, world.activity_b, 1)).count == 1
    world.client.set_region_paused(world.platform, REGION_A, False)  # the platform may lift it too
    assert world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 1)).count == 1
    with pytest.raises(errors.UnknownRegion):
        world.client.set_region_paused(world.platform, 424242, True)


def test_packed_record_matches_the_contract(world: World) -> None:
    record = RecordInput(world.outsider.address, 123, 456, 7)
    on_chain = world.client.contract.functions.packRecord(world.outsider.address, 123, 456, 7).call()
    assert pack_record(record) == on_chain
    assert Web3.to_checksum_address(hex(on_chain >> 96)[2:].rjust(40, "0")) == world.outsider.address
    assert unpack_record(on_chain) == record


def test_unpausing_a_running_ledger_and_renouncing_roles(world: World) -> None:
    with pytest.raises(errors.NotPaused):
        world.client.unpause(world.platform)
    ledger = world.client.contract.functions
    issuer_role = ledger.regionIssuerRole(REGION_A).call()
    with pytest.raises(errors.BadRenounceConfirmation):  # one can only renounce one's own role
        send_transaction(world.devnet.w3, world.issuer_a, ledger.renounceRole(issuer_role, world.admin_a.address))
    receipt = send_transaction(
        world.devnet.w3, world.issuer_a, ledger.renounceRole(issuer_role, world.issuer_a.address)
    )
    assert world.client.events(receipt, "RegionRoleRevoked") == [
        {"region": REGION_A, "roleKind": 2, "account": world.issuer_a.address, "sender": world.issuer_a.address}
    ]
    with pytest.raises(errors.NotIssuer):
        world.client.record_batch(world.issuer_a, REGION_A, records(world, world.activity_a, 1))


def test_domain_separator_matches_the_python_typed_data(world: World) -> None:
    from eth_account.messages import encode_typed_data

    request = SupportRequest(world.outsider.address, 1, 1, 0, 1)
    message = encode_typed_data(full_message=support_typed_data(request, 31337, world.client.address))
    assert world.client.contract.functions.domainSeparator().call() == bytes(message.header)
