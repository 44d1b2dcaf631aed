"""The dashboard, national and participant JSON endpoints over real HTTP (uvicorn on 127.0.0.1),
over a real index of a real chain: the numbers are the query layer's, small cells are suppressed,
and unknown regions / malformed parameters get the one error shape."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.encoders import jsonable_encoder
from sqlalchemy import Engine, text

from api.app import create_app
from ledger import queries
from ledger.chain.accounts import dev_account
from ledger.chain.devnet import PyEvmDevnet, free_port
from ledger.db.engine import make_engine, upgrade_to_head, write_transaction
from ledger.settings import Settings
from tests.indexer.helpers import make_indexer
from tests.indexer.test_indexer import NAGAOKA, TATEYAMA, build_history

KYOTO = 26100  # registered, never used: the empty state
K = 5
# Every count of people or records a public document carries (shares and coins are checked apart).
COUNT_KEYS = {
    "participants", "kankei", "kankei_visiting", "kankei_non_visiting", "people", "active", "new", "returning",
    "records", "revoked_records", "size", "shared", "returned", "supporters",
}  # fmt: skip


@dataclass
class Server:
    base: str
    engine: Engine
    people: list[str]
    span: dict[str, str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path: Path = tmp_path_factory.mktemp("dashboard") / "index.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade_to_head(engine)
    devnet = PyEvmDevnet()
    history = build_history(devnet, months=3)
    history.client.register_region(dev_account(0), KYOTO, "coin 26100", "C26100", dev_account(2).address)
    indexer = make_indexer(devnet, history.deployment, engine)
    indexer.backfill()
    indexer.close()
    port = free_port()
    app = create_app(Settings(db={"url": url}))
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    first = date.fromtimestamp(history.start) - timedelta(days=40)
    span = {"start": str(first), "end": str(first + timedelta(days=200))}
    try:
        yield Server(f"http://127.0.0.1:{port}", engine, [p.address for p in history.people], span)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def _json(value: Any) -> Any:
    """``value`` as it reads after a JSON round trip (mapping keys become strings)."""
    return json.loads(json.dumps(jsonable_encoder(value)))


def _counts(document: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) of a count field anywhere in a JSON document."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key in COUNT_KEYS and not isinstance(value, (dict, list)):
                yield f"{path}.{key}", value
            yield from _counts(value, f"{path}.{key}")
    elif isinstance(document, list):
        for i, value in enumerate(document):
            yield from _counts(value, f"{path}[{i}]")


def test_dashboard_is_the_query_layers_document(server: Server) -> None:
    with httpx.Client(base_url=server.base) as http:
        response = http.get(f"/api/v1/regions/{TATEYAMA}/dashboard", params=server.span)
    assert response.status_code == 200, response.text
    body = response.json()
    with server.engine.connect() as conn:
        expected = queries.region_dashboard(
            conn, TATEYAMA, date.fromisoformat(server.span["start"]), date.fromisoformat(server.span["end"]), k=K
        )
    assert body == _json(expected)
    assert body["k"] == K and body["region"]["region"] == TATEYAMA
    assert set(body["definitions"]) == set(queries.FIGURE_DEFINITIONS)
    assert all(d["ja"] and d["en"] for d in body["definitions"].values())
    # six people in 館山: shown; the funnel adds up to the participants
    summary = body["summary"]
    assert summary["participants"] == 6
    assert sum(s["people"] or 0 for s in summary["stages"]) == 6
    assert body["monthly"] and body["monthly"][-1]["month"] == summary["as_of_month"]
    assert body["national"]["respondents"] == 118_963
    coins = summary["coins"]
    assert coins["issued"] > 0 and coins["gift_rate"] == pytest.approx(coins["spent"] / coins["issued"])


def test_every_public_count_is_suppressed_below_k(server: Server) -> None:
    with httpx.Client(base_url=server.base) as http:
        documents = {
            region: http.get(f"/api/v1/regions/{region}/dashboard", params=server.span).json()
            for region in (TATEYAMA, NAGAOKA)
        }
        documents[0] = http.get("/api/v1/national", params=server.span).json()
        documents[1] = http.get(f"/api/v1/regions/{TATEYAMA}/projects", params={"include_closed": True}).json()
    # The issuer audit is about issuers (who recorded and revoked what) and names no participant, so its
    # counts are shown as they are: hiding an issuer's single revocation would defeat the audit.
    small = [
        (region, p, v)
        for region, d in documents.items()
        for p, v in _counts(d)
        if v is not None and 0 < v < K and not p.startswith(".audit.")
    ]
    assert small == []
    # ... and there was something to suppress: 長岡 has three people, the one project one supporter
    with server.engine.connect() as conn:
        start, end = date.fromisoformat(server.span["start"]), date.fromisoformat(server.span["end"])
        raw = queries.region_summary(conn, NAGAOKA, start, end, k=None)
        assert raw.participants == 3
        assert [p.supporters for p in queries.region_projects(conn, TATEYAMA)] == [1]
    assert documents[NAGAOKA]["summary"]["participants"] is None
    assert documents[1][0]["supporters"] is None and documents[1][0]["raised"] is None
    # the public audit names issuers, never participants
    revocations = documents[NAGAOKA]["audit"]["revocations"]  # build_history revokes a 長岡 record
    assert revocations and all(r["participant"] is None and r["reason_ja"] for r in revocations)


def test_parts_match_the_dashboard(server: Server) -> None:
    with httpx.Client(base_url=server.base) as http:
        whole = http.get(f"/api/v1/regions/{TATEYAMA}/dashboard", params=server.span).json()
        part = {
            name: http.get(f"/api/v1/regions/{TATEYAMA}/{name}", params=server.span)
            for name in ("cohorts", "returning", "coins", "audit", "overlap")
        }
        by_activity = http.get(f"/api/v1/regions/{TATEYAMA}/returning", params={**server.span, "by": "activity"})
    assert all(r.status_code == 200 for r in part.values()), {n: r.text for n, r in part.items()}
    assert part["cohorts"].json() == whole["cohorts"]
    assert part["returning"].json() == whole["returning_kinds"]
    assert part["coins"].json() == whole["summary"]["coins"]
    assert part["audit"].json() == whole["audit"]
    assert part["overlap"].json() == whole["overlap"]
    assert by_activity.status_code == 200 and isinstance(by_activity.json(), list)


def test_default_period_is_twelve_months_to_the_head(server: Server) -> None:
    with httpx.Client(base_url=server.base) as http:
        body = http.get(f"/api/v1/regions/{TATEYAMA}/dashboard").json()
    with server.engine.connect() as conn:
        start, end = queries.default_range(conn)
    assert (body["start"], body["end"]) == (str(start), str(end))
    assert start.day == 1 and (end.year - start.year) * 12 + end.month - start.month == 11
    assert len(body["monthly"]) == 12


def test_a_region_without_data_has_an_empty_dashboard(server: Server) -> None:
    with httpx.Client(base_url=server.base) as http:
        response = http.get(f"/api/v1/regions/{KYOTO}/dashboard", params=server.span)
        projects = http.get(f"/api/v1/regions/{KYOTO}/projects")
    assert response.status_code == 200, response.text
    body = response.json()
    summary = body["summary"]
    assert (summary["participants"], summary["kankei"], summary["active"], summary["records"]) == (0, 0, 0, 0)
    assert all(s["people"] == 0 for s in summary["stages"])
    assert body["cohorts"] == [] and body["returning_kinds"] == [] and body["overlap"]["others"] == []
    assert body["audit"]["issuers"] == [] and body["audit"]["revocations"] == []
    assert all(m["active"] == 0 for m in body["monthly"])
    assert projects.status_code == 200 and projects.json() == []


def test_rollups_equal_a_recount(server: Server) -> None:
    """The trigger-kept rollups hold what a from-scratch count of the derived tables gives."""
    recounts = {
        "SELECT region, month, stage, kankei, category, visit_band, active, is_new, people "
        "FROM region_month_people WHERE people <> 0": (
            "SELECT region, month, stage, kankei, COALESCE(category, ''), visit_band, active, "
            "(active AND first_month = month), COUNT(*) FROM tie_months "
            "GROUP BY region, month, stage, kankei, COALESCE(category, ''), visit_band, active, "
            "(active AND first_month = month)"
        ),
        "SELECT region, month, first_month, last_active_month, people FROM region_month_cohorts WHERE people <> 0": (
            "SELECT region, month, first_month, last_active_month, COUNT(*) FROM tie_months "
            "GROUP BY region, month, first_month, last_active_month"
        ),
        "SELECT month, region, other, last_active_month, people FROM region_pair_months WHERE people <> 0": (
            "SELECT a.month, a.region, b.region, MIN(a.last_active_month, b.last_active_month), COUNT(*) "
            "FROM tie_months a JOIN tie_months b ON b.participant = a.participant AND b.month = a.month "
            "AND b.region <> a.region GROUP BY 1, 2, 3, 4"
        ),
        "SELECT region, month, kind, records, revoked_records, coins_issued FROM region_month_kinds": (
            "SELECT region, day / 100, kind, SUM(records), SUM(revoked_records), SUM(coins_issued) "
            "FROM region_daily GROUP BY 1, 2, 3"
        ),
    }
    with server.engine.connect() as conn:
        for rollup, recount in recounts.items():
            kept = sorted(tuple(r) for r in conn.execute(text(rollup)))
            assert kept and kept == sorted(tuple(r) for r in conn.execute(text(recount))), rollup
        stays = int(conn.execute(text("SELECT SUM(stays) FROM region_daily_stays")).scalar() or 0)
        last_days = int(conn.execute(text("SELECT COUNT(*) FROM ties WHERE last_at > 0")).scalar() or 0)
    assert stays >= last_days > 0  # every tie with a live record has at least one record on its last day


def test_national_graph(server: Server) -> None:
    with httpx.Client(base_url=server.base) as http:
        graph = http.get("/api/v1/national", params=server.span)
        by_kind = http.get("/api/v1/national", params={**server.span, "kind": 20})
        by_type = http.get("/api/v1/national", params={**server.span, "mlit_type": 2})
    assert graph.status_code == by_kind.status_code == by_type.status_code == 200
    start, end = date.fromisoformat(server.span["start"]), date.fromisoformat(server.span["end"])
    with server.engine.connect() as conn:
        assert graph.json() == _json(queries.national_graph(conn, start, end, k=K))
        assert by_kind.json() == _json(queries.national_graph(conn, start, end, kind=20, k=K))
        raw = queries.national_graph(conn, start, end, k=None)
    assert {n.region: n.people for n in raw.nodes} == {TATEYAMA: 6, NAGAOKA: 3}
    assert [link.shared for link in raw.links] == [3]
    nodes = {n["region"]: n["people"] for n in graph.json()["nodes"]}
    assert nodes == {TATEYAMA: 6, NAGAOKA: None} and graph.json()["links"] == []  # 3 < k


def test_person_coins_and_supports(server: Server) -> None:
    supporter = server.people[1]
    with httpx.Client(base_url=server.base) as http:
        coins = http.get(f"/api/v1/people/{supporter.lower()}/coins")
        supports = http.get(f"/api/v1/people/{supporter}/supports")
        nothing = http.get(f"/api/v1/people/0x{'ab' * 20}/supports")
    assert coins.status_code == supports.status_code == nothing.status_code == 200
    with server.engine.connect() as conn:
        assert coins.json() == _json(queries.person_coins(conn, supporter))
    given = supports.json()
    assert [(s["region"], s["amount"], s["supports"]) for s in given] == [(TATEYAMA, 50, 1)]
    assert [(s["code"], s["label"]) for s in given] == [("12205", "館山市")]
    assert all(c["code"] == f"{c['region']:05d}" and c["label"] for c in coins.json())
    assert nothing.json() == []


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/v1/regions/99999/dashboard", {}, 404),
        ("/api/v1/regions/99999/cohorts", {}, 404),
        ("/api/v1/regions/99999/projects", {}, 404),
        (f"/api/v1/regions/{TATEYAMA}/dashboard", {"start": "2025-02-30"}, 422),
        (f"/api/v1/regions/{TATEYAMA}/dashboard", {"end": "yesterday"}, 422),
        (f"/api/v1/regions/{TATEYAMA}/dashboard", {"start": "2025-06-01", "end": "2025-05-01"}, 422),
        (f"/api/v1/regions/{TATEYAMA}/returning", {"by": "person"}, 422),
        ("/api/v1/regions/0/dashboard", {}, 422),
        ("/api/v1/regions/abc/overlap", {}, 422),
        ("/api/v1/national", {"kind": 99}, 422),
        ("/api/v1/national", {"mlit_type": 9}, 422),
        ("/api/v1/national", {"kind": 20, "mlit_type": 2}, 422),
        ("/api/v1/people/0x1234/coins", {}, 422),
        ("/api/v1/people/nobody/supports", {}, 422),
    ],
)
def test_errors_have_the_one_shape(server: Server, path: str, params: dict[str, str], status: int) -> None:
    with httpx.Client(base_url=server.base) as http:
        response = http.get(path, params=params)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == ("not_found" if status == 404 else "invalid") and error["message"]
    if status == 404:
        assert "99999" in error["message"] and "/api/v1/regions" in error["message"]


def test_openapi_documents_the_endpoints(server: Server) -> None:
    with httpx.Client(base_url=server.base) as http:
        spec = http.get("/openapi.json").json()
    for path in (
        "/api/v1/regions/{region}/dashboard",
        "/api/v1/regions/{region}/cohorts",
        "/api/v1/regions/{region}/returning",
        "/api/v1/regions/{region}/coins",
        "/api/v1/regions/{region}/audit",
        "/api/v1/regions/{region}/overlap",
        "/api/v1/regions/{region}/projects",
        "/api/v1/national",
        "/api/v1/people/{address}/coins",
        "/api/v1/people/{address}/supports",
    ):
        operation = spec["paths"][path]["get"]
        assert operation["summary"]
        assert all(p.get("description") for p in operation.get("parameters", [])), path


def test_the_revocation_list_is_bounded_and_pages(server: Server) -> None:
    """The dashboard lists the newest revocations and says how many there are; the audit endpoint
    pages through them; the page says "N of M" and links to the rest."""
    with httpx.Client(base_url=server.base) as http:
        whole = http.get(f"/api/v1/regions/{NAGAOKA}/dashboard", params=server.span).json()["audit"]
        none = http.get(f"/api/v1/regions/{NAGAOKA}/audit", params={**server.span, "revocations_limit": 0}).json()
        past = http.get(f"/api/v1/regions/{NAGAOKA}/audit", params={**server.span, "revocations_offset": 1}).json()
        too_many = http.get(f"/api/v1/regions/{NAGAOKA}/audit", params={"revocations_limit": 100_000})
        html = http.get(f"/regions/{NAGAOKA:05d}", params={**server.span, "lang": "ja"}).text
    assert (whole["revocations_total"], whole["revocations_offset"], len(whole["revocations"])) == (1, 0, 1)
    assert (none["revocations"], none["revocations_total"]) == ([], 1)
    assert (past["revocations"], past["revocations_total"], past["revocations_offset"]) == ([], 1, 1)
    assert too_many.status_code == 422 and too_many.json()["error"]
    assert 'id="audit-revocations-shown" data-shown="1" data-offset="0"' in html
    assert "新しい順に 1 件を表示" in html and "revocations_offset=" not in html  # nothing more to offer


def test_the_backlog_is_counted_up_to_the_cap(server: Server) -> None:
    """A backlog of more than BACKLOG_CAP dirty ties reads 「1万件以上」 on the page and the cap in the
    JSON documents; a small one is exact."""
    cap = queries.BACKLOG_CAP
    rows = [{"p": f"0x{i:040x}", "r": TATEYAMA} for i in range(cap + 5)]
    with write_transaction(server.engine) as conn:
        conn.execute(text("INSERT INTO dirty_ties (participant, region) VALUES (:p, :r)"), rows)
        conn.execute(text("INSERT INTO dirty_days (region, day) VALUES (:r, 20000101)"), {"r": TATEYAMA})
    try:
        with httpx.Client(base_url=server.base) as http:
            dashboard = http.get(f"/api/v1/regions/{TATEYAMA}/dashboard", params=server.span).json()
            status = http.get("/api/v1/index/status").json()
            html = http.get(f"/regions/{TATEYAMA:05d}", params={**server.span, "lang": "ja"}).text
            english = http.get(f"/regions/{TATEYAMA:05d}", params={**server.span, "lang": "en"}).text
        for document in (dashboard["index"], status):
            assert (document["dirty_ties"], document["dirty_days"], document["backlog_cap"]) == (cap, 1, cap)
        assert dashboard["caught_up"] is False and status["caught_up"] is False
        assert f'data-dirty-ties="{cap}" data-dirty-days="1"' in html
        assert "つながり 1万件以上・日別集計 1件" in html
        assert "10,000 or more ties, 1 region-days" in english
    finally:
        with write_transaction(server.engine) as conn:
            conn.execute(text("DELETE FROM dirty_ties"))
            conn.execute(text("DELETE FROM dirty_days"))
    with httpx.Client(base_url=server.base) as http:
        html = http.get(f"/regions/{TATEYAMA:05d}", params=server.span).text
    assert 'id="derived-pending"' not in html
