"""The HTTP API over real HTTP (uvicorn on 127.0.0.1), over a real index of a real chain."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.app import create_app
from ledger.auth import create_api_key
from ledger.chain.deploy import save_deployment
from ledger.chain.devnet import Devnet, PyEvmDevnet, free_port
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.settings import Settings
from tests.indexer.helpers import make_indexer
from tests.indexer.test_indexer import TATEYAMA, build_history

CHAINS: dict[str, Devnet] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    path: Path = tmp_path_factory.mktemp("api") / "index.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade_to_head(engine)
    devnet = PyEvmDevnet()
    history = build_history(devnet, months=3)
    indexer = make_indexer(devnet, history.deployment, engine)
    indexer.backfill()
    indexer.close()
    with engine.begin() as conn:
        researcher, _ = create_api_key(conn, "researcher", "test researcher")
        operator, _ = create_api_key(conn, "operator", "館山 staff", TATEYAMA)
    save_deployment(path.parent / "deployments", history.deployment)
    settings = Settings(
        db={"url": url},  # type: ignore[arg-type]
        api={"max_body_bytes": 4096},  # type: ignore[arg-type]
        chain={"deployments_dir": path.parent / "deployments"},  # type: ignore[arg-type]
    )
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    people = {"first": history.people[0].address, "researcher": researcher, "operator": operator}
    CHAINS["devnet"] = devnet
    try:
        yield f"http://127.0.0.1:{port}", people
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def test_health_and_index_status(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    with httpx.Client(base_url=base) as http:
        assert http.get("/health").json() == {"ok": True}
        status = http.get("/api/v1/index/status").json()
        assert status["caught_up"] is True and status["undecodable_logs"] == 0


def test_credentials(server: tuple[str, dict[str, str]]) -> None:
    base, keys = server
    with httpx.Client(base_url=base) as http:
        missing = http.get("/api/v1/whoami")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
        assert http.get("/api/v1/whoami", headers={"Authorization": "Bearer nope"}).status_code == 401
        forged = keys["researcher"][:-4] + "AAAA"
        assert http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        me = http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {keys['operator']}"}).json()
        assert (me["role"], me["region"]) == ("operator", TATEYAMA)
        assert http.get("/api/v1/whoami", headers={"X-API-Key": keys["researcher"]}).json()["role"] == "researcher"


def test_region_endpoints_and_their_errors(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    today = date.today()
    span = {"start": str(today - timedelta(days=400)), "end": str(today + timedelta(days=200))}
    with httpx.Client(base_url=base) as http:
        regions = http.get("/api/v1/regions").json()
        assert {r["region"] for r in regions} == {12205, 15202}
        summary = http.get(f"/api/v1/regions/{TATEYAMA}/summary", params=span)
        assert summary.status_code == 200, summary.text
        unknown = http.get("/api/v1/regions/99999/summary", params=span)
        assert unknown.status_code == 404 and "99999" in unknown.json()["error"]["message"]
        bad = http.get(f"/api/v1/regions/{TATEYAMA}/summary", params={"start": "yesterday", "end": span["end"]})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid"
        assert http.get("/api/v1/regions/0/summary", params=span).status_code == 422


def test_people_endpoints(server: tuple[str, dict[str, str]]) -> None:
    base, keys = server
    with httpx.Client(base_url=base) as http:
        ties = http.get(f"/api/v1/people/{keys['first']}/ties").json()
        assert {t["region"] for t in ties} == {12205, 15202}
        assert {(t["code"], t["label"]) for t in ties} == {("12205", "館山市"), ("15202", "長岡市")}
        history = http.get(f"/api/v1/people/{keys['first']}/history")
        assert history.status_code == 200
        assert {(e["code"], e["label"]) for e in history.json()} <= {
            ("12205", "館山市"),
            ("15202", "長岡市"),
        }
        bad = http.get("/api/v1/people/0x1234/ties")
        assert bad.status_code == 422 and "address" in bad.json()["error"]["message"]


def test_oversized_and_wrong_method(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    with httpx.Client(base_url=base) as http:
        big = http.post("/health", content=b"x" * 10_000)
        assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"
        assert http.post("/health", content=b"{}").status_code == 405
        assert http.get("/nope").json()["error"]["code"] == "not_found"


def test_researcher_export_streams_a_verifiable_zip(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    import zipfile

    from ledger.export import verify_export
    from ledger.indexer.rpc import ProviderJsonRpc

    base, keys = server
    with httpx.Client(base_url=base, timeout=60) as http:
        operator = {"Authorization": f"Bearer {keys['operator']}"}  # a region admin: its own region only
        denied = http.get("/api/v1/export", params={"region": 15202}, headers=operator)
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
        assert re.search(r"may export region \d{5} only", denied.json()["error"]["message"])  # five digits
        spelled = http.get("/api/v1/export", params={"region": "1520x"}, headers=operator)
        assert spelled.status_code == 422 and spelled.json()["error"]["code"] == "invalid"
        assert http.get("/api/v1/export").status_code == 401
        bad = http.get("/api/v1/export", params={"format": "xls"}, headers={"X-API-Key": keys["researcher"]})
        assert bad.status_code == 422
        with http.stream(
            "GET", "/api/v1/export", params={"format": "csv"}, headers={"X-API-Key": keys["researcher"]}
        ) as response:
            assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
            archive = tmp_path / "export.zip"
            with archive.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
    folder = tmp_path / "export"
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        z.extractall(folder)
    assert {"manifest.json", "datapackage.json", "README.md"} <= set(names)
    report = verify_export(folder, ProviderJsonRpc(CHAINS["devnet"].w3), salt=None)
    assert report.ok, report.lines()
    assert not report.personal_fields_checked  # the salt stays on the server
