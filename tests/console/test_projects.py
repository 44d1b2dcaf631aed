"""The console's support projects over real HTTP, a real SQLite index and a py-evm chain: create
with an image, the indexer names it everywhere, supporters and coins for staff, edit, goal, close;
image limits; region isolation, roles, CSRF and escaping."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from ledger.console.pending import CHECKERS, PendingAction
from ledger.staff import audit
from tests.console.conftest import csrf_of
from tests.console.world import DATABASES, NAGAOKA, TATEYAMA, A, B, ChainWorld, chain_world, png

MIB = 1024 * 1024


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    with chain_world(tmp_path_factory.mktemp("projects"), db=request.param) as found:
        yield found


def _create(world: ChainWorld, client: httpx.Client, name: str, goal: str = "", image: bytes | None = None) -> int:
    page = client.get(f"{A}/projects/new")
    assert page.status_code == 200
    # A browser sends the file field even when no file was chosen: an empty part without a name.
    files = {"image": ("photo.png", image, "image/png") if image is not None else ("", b"", "application/octet-stream")}
    answer = client.post(
        f"{A}/projects",
        data={"csrf_token": csrf_of(page.text), "name": name, "description": "棚田を守る", "goal": goal},
        files=files,
    )
    assert answer.status_code == 303, answer.text
    match = re.fullmatch(rf"{A}/projects/(\d+)\?done=project_created", answer.headers["location"])
    assert match, answer.headers["location"]
    return int(match.group(1))


def admin_list(client: httpx.Client) -> list[dict[str, object]]:
    answer = client.get(f"/api/v1/regions/{TATEYAMA}/projects/details")
    assert answer.status_code == 200
    result: list[dict[str, object]] = answer.json()
    return result


def test_a_project_from_creation_to_close(world: ChainWorld) -> None:
    admin = world.admin("aki")
    image = png(2000)
    name = "<script>alert(1)</script>棚田オーナー"
    project_id = _create(world, admin, name, goal="100", image=image)

    # Before the indexer has read it, its page already reads it from the chain.
    early = admin.get(f"{A}/projects/{project_id}")
    assert early.status_code == 200 and "棚田オーナー" in early.text

    world.index()
    listing = admin.get(f"{A}/projects")
    assert listing.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;棚田オーナー" in listing.text
    assert "<script>alert(1)" not in listing.text
    assert "受付中" in listing.text

    served = httpx.get(f"{world.base_url}/projects/{project_id}/image")
    assert served.status_code == 200 and served.content == image
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "max-age" in served.headers["cache-control"]
    again = httpx.get(
        f"{world.base_url}/projects/{project_id}/image", headers={"If-None-Match": served.headers["etag"]}
    )
    assert again.status_code == 304

    public = httpx.get(f"{world.base_url}/regions/{TATEYAMA}")
    assert public.status_code == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;棚田オーナー" in public.text
    assert f"プロジェクト #{project_id}" not in public.text

    # Two people support it: staff see the exact numbers.
    world.support(1, project_id, 30)
    world.support(2, project_id, 20)
    world.index()
    detail = admin.get(f"{A}/projects/{project_id}")
    assert detail.status_code == 200
    tiles = re.findall(r'<span class="tile-value">([^<]+)</span>', detail.text)
    assert tiles[:3] == ["2", "50", "100"]
    assert re.search(r'<progress id="goal-progress" class="goal" max="100" value="50"', detail.text)
    assert 'style="' not in detail.text
    data = admin.get(f"/api/v1/projects/{project_id}").json()
    assert (data["supporters"], data["raised"], data["goal"], data["progress"]) == (2, 50, 100, 0.5)

    # Edit the text: a new hash on chain, the new name everywhere.
    csrf = csrf_of(detail.text)
    edited = admin.post(
        f"{A}/projects/{project_id}/text", data={"csrf_token": csrf, "name": "棚田オーナー制度", "description": "新"}
    )
    assert edited.status_code == 303 and edited.headers["location"].endswith("done=project_edited")
    world.index()
    assert "棚田オーナー制度" in admin.get(f"{A}/projects").text
    public = httpx.get(f"{world.base_url}/regions/{TATEYAMA}").text
    assert "棚田オーナー制度" in public and "alert(1)" not in public
    person = httpx.get(f"{world.base_url}/people/{world.history.people[1].address}").text
    assert "棚田オーナー制度" in person

    # The goal (local) and the image removed.
    goal = admin.post(f"{A}/projects/{project_id}/goal", data={"csrf_token": csrf, "goal": "40"})
    assert goal.status_code == 303
    assert admin.get(f"/api/v1/projects/{project_id}").json()["progress"] == 1.0
    bad_goal = admin.post(f"{A}/projects/{project_id}/goal", data={"csrf_token": csrf, "goal": "-5"})
    assert bad_goal.status_code == 422 and "目標は0以上の整数" in bad_goal.text

    # Close (confirmed in the browser): no further support.
    closed = admin.post(f"{A}/projects/{project_id}/close", data={"csrf_token": csrf})
    assert closed.status_code == 303 and closed.headers["location"].endswith("done=project_closed")
    world.index()
    assert "終了" in admin.get(f"{A}/projects").text
    assert admin.get(f"/api/v1/projects/{project_id}").json()["closed"] is True
    twice = admin.post(f"{A}/projects/{project_id}/close", data={"csrf_token": csrf})
    assert twice.status_code == 409

    with world.engine.connect() as conn:
        entries = audit.entries(conn, TATEYAMA, action_prefix="project.")
        pending = conn.execute(
            text("SELECT kind, status FROM pending_actions WHERE region = :r ORDER BY action_id"), {"r": TATEYAMA}
        ).all()
    actions = [(e.action, e.outcome) for e in reversed(entries)]
    assert actions[:4] == [
        ("project.create", "ok"),
        ("project.edit", "ok"),
        ("project.goal", "ok"),
        ("project.close", "ok"),
    ]
    assert actions[-1] == ("project.close", "failed")
    assert [tuple(p) for p in pending][:3] == [
        ("project.create", "done"),
        ("project.edit", "done"),
        ("project.close", "done"),
    ]


def test_the_checker_finds_a_created_project_in_the_index(world: ChainWorld) -> None:
    api = httpx.Client(base_url=world.base_url, headers=world.bearer("a"))
    with api:
        made = api.post(f"/api/v1/regions/{TATEYAMA}/projects", json={"name": "温泉の応援", "goal": 10})
    assert made.status_code == 201, made.text
    world.index()
    now = int(time.time())
    action = PendingAction(
        0, TATEYAMA, "project.create", {"goal": 10}, made.json()["metadata_hash"], "sending", None, None, "k", now, now
    )
    with world.engine.begin() as conn:
        assert CHECKERS["project.create"](conn, action) == {
            "project_id": made.json()["project_id"],
            "metadata_hash": made.json()["metadata_hash"],
        }


def test_images_are_png_or_jpeg_up_to_one_mebibyte(world: ChainWorld) -> None:
    admin = world.admin("yui")
    project_id = _create(world, admin, "画像の確認")
    page = admin.get(f"{A}/projects/{project_id}")
    csrf = csrf_of(page.text)

    def upload(data: bytes, filename: str = "a.png") -> httpx.Response:
        return admin.post(
            f"{A}/projects/{project_id}/image",
            data={"csrf_token": csrf},
            files={"image": (filename, data, "image/png")},
        )

    too_big = png(MIB + 1 - len(png()))
    assert len(too_big) == MIB + 1
    refused = upload(too_big)
    assert refused.status_code == 413 and "1MB" in refused.text
    exact = png(MIB - len(png()))
    assert len(exact) == MIB
    assert upload(exact).status_code == 303
    html = upload(b"<html><script>alert(1)</script></html>", "evil.png")
    assert html.status_code == 422 and "PNGまたはJPEG" in html.text
    svg = upload(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "evil.png")
    assert svg.status_code == 422
    assert httpx.get(f"{world.base_url}/projects/{project_id}/image").content == exact

    # The JSON endpoint: the body is the file.
    with httpx.Client(base_url=world.base_url, headers=world.bearer("a")) as api:
        jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 100
        put = api.put(f"/api/v1/projects/{project_id}/image", content=jpeg, headers={"Content-Type": "image/jpeg"})
        assert put.status_code == 200 and put.json()["image_url"] == f"/projects/{project_id}/image"
        assert httpx.get(f"{world.base_url}/projects/{project_id}/image").headers["content-type"] == "image/jpeg"
        assert api.put(f"/api/v1/projects/{project_id}/image", content=too_big).status_code == 413
        assert api.put(f"/api/v1/projects/{project_id}/image", content=b"<svg/>").status_code == 422
        # Beyond the route's allowance the body limit answers before the route runs.
        huge = api.put(f"/api/v1/projects/{project_id}/image", content=b"\x89PNG\r\n\x1a\n" + b"0" * (2 * MIB))
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"
        # Every other route keeps the app's limit (64 KiB).
        other = api.patch(f"/api/v1/projects/{project_id}", content=b"{" + b" " * 70_000 + b"}")
        assert other.status_code == 413
        removed = api.delete(f"/api/v1/projects/{project_id}/image")
        assert removed.status_code == 200 and removed.json()["image_url"] is None
    assert httpx.get(f"{world.base_url}/projects/{project_id}/image").status_code == 404


def test_projects_of_one_region_are_closed_to_another(world: ChainWorld) -> None:
    owner = world.admin("sora")
    project_id = _create(world, owner, "館山のプロジェクト")
    world.index()
    other = world.admin("nagi", NAGAOKA)
    csrf = csrf_of(other.get(B).text)
    assert other.get(f"{A}/projects").status_code == 403
    assert other.get(f"{A}/projects/new").status_code == 403
    assert other.get(f"{A}/projects/{project_id}").status_code == 403
    assert other.get(f"{B}/projects/{project_id}").status_code == 404  # A's project under B's URL
    form = {"csrf_token": csrf, "name": "乗っ取り", "goal": "1"}
    for path in ("", f"/{project_id}/text", f"/{project_id}/goal", f"/{project_id}/close"):
        assert other.post(f"{A}/projects{path}", data=form).status_code == 403, path
        if path:
            assert other.post(f"{B}/projects{path}", data=form).status_code == 404, path
    image = other.post(
        f"{A}/projects/{project_id}/image", data={"csrf_token": csrf}, files={"image": ("a.png", png(), "image/png")}
    )
    assert image.status_code == 403

    headers = world.json(other)
    assert other.get(f"/api/v1/regions/{TATEYAMA}/projects/details").status_code == 403
    assert admin_list(owner)[0]["name"] == "館山のプロジェクト"
    assert other.get(f"/api/v1/projects/{project_id}").status_code == 403
    assert other.post(f"/api/v1/regions/{TATEYAMA}/projects", json={"name": "x"}, headers=headers).status_code == 403
    assert other.patch(f"/api/v1/projects/{project_id}", json={"goal": 5}, headers=headers).status_code == 403
    assert other.post(f"/api/v1/projects/{project_id}/close", headers=headers).status_code == 403
    put = other.put(f"/api/v1/projects/{project_id}/image", content=png(), headers=headers)
    assert put.status_code == 403
    assert other.delete(f"/api/v1/projects/{project_id}/image", headers=headers).status_code == 403
    with httpx.Client(base_url=world.base_url, headers=world.bearer("b")) as key_b:
        assert key_b.get(f"/api/v1/projects/{project_id}").status_code == 403
        assert key_b.patch(f"/api/v1/projects/{project_id}", json={"goal": 5}).status_code == 403
    with httpx.Client(base_url=world.base_url, headers=world.bearer("a")) as key_a:
        assert key_a.get(f"/api/v1/projects/{project_id}").json()["name"] == "館山のプロジェクト"
        assert key_a.get(f"/api/v1/projects/{10**6}").status_code == 404
    assert owner.get(f"{A}/projects/{10**6}").status_code == 404


def test_viewers_read_and_csrf_is_required(world: ChainWorld) -> None:
    admin = world.admin("hana")
    project_id = _create(world, admin, "閲覧の確認")
    world.index()
    viewer = world.admin("miru", role="viewer")
    listing = viewer.get(f"{A}/projects")
    assert listing.status_code == 200 and "閲覧の確認" in listing.text and "/projects/new" not in listing.text
    detail = viewer.get(f"{A}/projects/{project_id}")
    assert detail.status_code == 200 and f"/projects/{project_id}/close" not in detail.text
    csrf = csrf_of(detail.text)
    assert viewer.get(f"{A}/projects/new").status_code == 403
    form = {"csrf_token": csrf, "name": "x", "goal": "1"}
    for path in ("", f"/{project_id}/text", f"/{project_id}/goal", f"/{project_id}/close", f"/{project_id}/image"):
        assert viewer.post(f"{A}/projects{path}", data=form).status_code == 403, path
    headers = world.json(viewer)
    assert viewer.get(f"/api/v1/projects/{project_id}").status_code == 200
    assert viewer.patch(f"/api/v1/projects/{project_id}", json={"goal": 5}, headers=headers).status_code == 403
    assert viewer.post(f"/api/v1/projects/{project_id}/close", headers=headers).status_code == 403

    # Without the CSRF token: refused, for the form and for the JSON endpoint with the cookie.
    assert admin.post(f"{A}/projects/{project_id}/goal", data={"goal": "7"}).status_code == 403
    assert admin.patch(f"/api/v1/projects/{project_id}", json={"goal": 7}).status_code == 403
    assert admin.get(f"/api/v1/projects/{project_id}").json()["goal"] == 0
