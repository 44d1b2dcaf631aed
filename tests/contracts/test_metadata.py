"""Edits of an activity's and a project's text on chain (``setActivityMetadata``,
``setProjectMetadata``), on both backends (the ``world`` fixture, reverted after each test): only a
region admin of the activity's or project's own region may change the hash, an unknown id reverts,
the change is an event, and ``activityInfo`` / ``projectInfo`` return the new hash. Nothing else of
the activity or project changes.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_utils.crypto import keccak

from ledger import errors
from ledger.chain.client import RecordInput
from ledger.checkin.metadata import metadata_document
from tests.conftest import REGION_A, REGION_B, World


def text_hash(name: str) -> bytes:
    return bytes.fromhex(metadata_document(name, "説明", "会場")[1][2:])


def test_a_region_admin_changes_an_activitys_text(world: World) -> None:
    client = world.client
    first, second = text_hash("棚田の田植え"), text_hash("棚田の田植え体験")
    activity = world.activity(metadata_hash=first)
    client.record_batch(world.issuer_a, REGION_A, [RecordInput(world.participants[0].address, activity, 1)])
    before = client.activity(activity)
    assert before.metadata_hash == first

    receipt = client.set_activity_metadata(world.admin_a, activity, second)
    assert client.events(receipt, "ActivityMetadataChanged") == [
        {"activityId": activity, "region": REGION_A, "metadataHash": second, "admin": world.admin_a.address}
    ]
    after = client.activity(activity)
    assert after == replace(before, metadata_hash=second)  # the terms and the record count stay

    client.set_activity_metadata(world.admin_a, activity, first)  # and back: the last change counts
    assert client.activity(activity).metadata_hash == first


def test_only_the_activitys_region_admin_changes_its_text(world: World) -> None:
    client, activity, new = world.client, world.activity_a, text_hash("新しい名前")
    for other in (world.admin_b, world.issuer_a, world.platform, world.outsider):
        with pytest.raises(errors.NotRegionAdmin) as raised:
            client.set_activity_metadata(other, activity, new)
        assert raised.value.args_by_name == {"region": REGION_A, "account": other.address}
    with pytest.raises(errors.NotRegionAdmin):  # nor the other way round
        client.set_activity_metadata(world.admin_a, world.activity_b, new)
    assert client.activity(activity).metadata_hash == b"\x00" * 32
    for unknown in (0, 9999):
        with pytest.raises(errors.UnknownActivity) as missing:
            client.set_activity_metadata(world.admin_a, unknown, new)
        assert missing.value.args_by_name == {"activityId": unknown}


def test_an_activitys_text_can_be_fixed_after_it_closed_and_during_pauses(world: World) -> None:
    client, activity = world.client, world.activity_a
    client.close_activity(world.admin_a, activity)
    client.set_region_paused(world.platform, REGION_A, True)
    client.pause(world.platform)
    client.set_activity_metadata(world.admin_a, activity, text_hash("中止"))
    assert client.activity(activity).metadata_hash == text_hash("中止")
    assert client.activity(activity).closed


def test_a_region_admin_changes_a_projects_text(world: World) -> None:
    client = world.client
    first, second = text_hash("棚田オーナー制度"), text_hash("棚田オーナー制度（2027年）")
    project = client.register_project(world.admin_b, REGION_B, first)
    before = client.project(project)
    assert before.metadata_hash == first

    receipt = client.set_project_metadata(world.admin_b, project, second)
    assert client.events(receipt, "ProjectMetadataChanged") == [
        {"projectId": project, "region": REGION_B, "metadataHash": second, "admin": world.admin_b.address}
    ]
    assert client.project(project) == replace(before, metadata_hash=second)

    for other in (world.admin_a, world.issuer_b, world.platform, world.outsider):
        with pytest.raises(errors.NotRegionAdmin) as raised:
            client.set_project_metadata(other, project, first)
        assert raised.value.args_by_name == {"region": REGION_B, "account": other.address}
    for unknown in (0, project + 1):
        with pytest.raises(errors.UnknownProject) as missing:
            client.set_project_metadata(world.admin_b, unknown, first)
        assert missing.value.args_by_name == {"projectId": unknown}

    client.close_project(world.admin_b, project)  # a closed project's text can still be fixed
    client.set_project_metadata(world.admin_b, project, keccak(text="raw"))
    info = client.project(project)
    assert (info.metadata_hash, info.closed) == (keccak(text="raw"), True)
