"""The OpenAPI document against real answers: every JSON operation that the region 館山市 and its first
participant make meaningful is called with real values (which a fuzzer rarely guesses) and its answer
checked against the document; and the exact behaviours the document promises: strict days, one code
for malformed bodies, five-digit region codes with a redirect, the dashboard's default period on the
summary, and every error status of every operation described with the one Problem shape."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from api.app import create_app
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.settings import Settings
from tests.api.test_api import server
from tests.indexer.test_indexer import TATEYAMA

__all__ = ["server"]

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
REGION = f"{TATEYAMA:05d}"


def _schema(base: str) -> Any:
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", config=SchemathesisConfig())
    schema.config.base_url = base
    return schema


def test_every_error_is_documented_with_the_problem_shape(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    document = httpx.get(f"{base}/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    problem = document["components"]["schemas"]["Problem"]
    assert problem["required"] == ["error"]
    operations = 0
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            operations += 1
            responses = operation["responses"]
            assert "413" in responses, (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, status)
            if "{region}" in path and method == "get":
                assert "308" in responses, path
            if any(p["in"] == "query" and "date" in str(p["schema"]) for p in operation.get("parameters", [])):
                assert "422" in responses, (method, path)
    assert operations >= 60


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/regions", {}),
        (f"/api/v1/regions/{REGION}/summary", {}),
        (f"/api/v1/regions/{REGION}/summary", {"start": "2020-01-01", "end": "2030-12-31"}),
        (f"/api/v1/regions/{REGION}/monthly", {}),
        (f"/api/v1/regions/{REGION}/dashboard", {}),
        (f"/api/v1/regions/{REGION}/dashboard", {"start": "2020-01-01", "end": "2030-12-31"}),
        (f"/api/v1/regions/{REGION}/cohorts", {}),
        (f"/api/v1/regions/{REGION}/returning", {}),
        (f"/api/v1/regions/{REGION}/returning", {"by": "activity"}),
        (f"/api/v1/regions/{REGION}/coins", {}),
        (f"/api/v1/regions/{REGION}/audit", {}),
        (f"/api/v1/regions/{REGION}/overlap", {}),
        (f"/api/v1/regions/{REGION}/projects", {}),
        (f"/api/v1/regions/{REGION}/dashboard", {"start": "2000-01-01", "end": "2999-12-31"}),
        (f"/api/v1/regions/{REGION}/summary", {"start": "2000-01-01", "end": "2999-12-31"}),
        (f"/api/v1/regions/{REGION}/monthly", {"start": "2999-12-31", "end": "2999-12-31"}),
        (f"/api/v1/regions/{REGION}/cohorts", {"end": "2000-01-01"}),
        ("/api/v1/national", {}),
        ("/api/v1/national", {"start": "2000-01-01", "end": "2999-12-31"}),
        ("/api/v1/national", {"kind": 10}),
        ("/api/v1/people/{address}/ties", {}),
        ("/api/v1/people/{address}/history", {}),
        ("/api/v1/people/{address}/coins", {}),
        ("/api/v1/people/{address}/supports", {}),
        ("/api/v1/index/status", {}),
    ],
)
def test_real_answers_fit_the_document(server: tuple[str, dict[str, str]], path: str, query: dict[str, Any]) -> None:
    base, people = server
    schema = _schema(base)
    template = path.replace(REGION, "{region}")
    operation = schema[template]["GET"]
    parameters = {"region": REGION} if "{region}" in template else {}
    if "{address}" in template:
        parameters["address"] = people["first"]
    case = operation.Case(path_parameters=parameters, query=query)
    response = case.call_and_validate(base_url=base, checks=CHECKS)
    assert response.status_code == 200, response.text


def test_operator_answers_fit_the_document(server: tuple[str, dict[str, str]]) -> None:
    base, keys = server
    schema = _schema(base)
    headers = {"Authorization": f"Bearer {keys['operator']}"}
    for template in (
        "/api/v1/regions/{region}/activities",
        "/api/v1/regions/{region}/staff",
        "/api/v1/regions/{region}/audit/records",
        "/api/v1/regions/{region}/audit/actions",
        "/api/v1/regions/{region}/pending-actions",
    ):
        operation = schema[template]["GET"]
        case = operation.Case(path_parameters={"region": REGION}, headers=headers)
        case.call_and_validate(base_url=base, checks=CHECKS)


@pytest.mark.parametrize(
    "query",
    [
        {"start": "0"},
        {"start": "20240101"},
        {"end": "1700000000"},
        {"start": "2024-01-01T00:00:00"},
        {"start": "2024-1-1"},
        {"start": "2024-02-30"},
        {"start": "2025-01-01", "end": "2024-01-01"},
        {"start": "0001-01-01"},
        {"end": "9999-12-31"},
        {"start": "1999-12-31"},
    ],
)
def test_a_day_is_written_yyyy_mm_dd_only(server: tuple[str, dict[str, str]], query: dict[str, str]) -> None:
    base, _ = server
    with httpx.Client(base_url=base) as http:
        for path in ("/api/v1/national", f"/api/v1/regions/{REGION}/summary", f"/api/v1/regions/{REGION}/dashboard"):
            answer = http.get(path, params=query)
            assert answer.status_code == 422, (path, query, answer.text)
            assert answer.json()["error"]["code"] == "invalid"


def test_malformed_bodies_are_one_code(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    base, _ = server
    json_headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=base) as http:
        for body in (b"\xff\xfe{", b"{not json", b"[]", b'{"activity_id": "\xe9"}'):
            answer = http.post("/api/v1/claims", content=body, headers=json_headers)
            assert answer.status_code == 422, (body[:20], answer.text)
            assert answer.json()["error"]["code"] == "invalid"
    # An integer of more than 4,300 digits does not fit the test server's 4 KiB body limit: this app
    # takes 64 KiB (its own empty index; the body is refused before any route reads the database).
    url = f"sqlite:///{tmp_path / 'index.db'}"
    upgrade_to_head(make_engine(url))
    app = create_app(Settings(db={"url": url}, api={"max_body_bytes": 65536}))

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger") as client:
            return await client.post(
                "/api/v1/claims", content=b'{"activity_id": ' + b"9" * 5000 + b"}", headers=json_headers
            )

    answer = asyncio.run(post())
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid"


def test_region_codes_have_five_digits_and_short_ones_redirect(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    with httpx.Client(base_url=base) as http:
        short = http.get("/api/v1/regions/1634/dashboard", params={"start": "2026-01-01"})
        assert short.status_code == 308
        assert short.headers["location"].endswith("/api/v1/regions/01634/dashboard?start=2026-01-01")
        assert http.get("/api/v1/regions/01634/dashboard").status_code == 404  # canonical, not registered
        # A short code whose query cannot be served anyway is refused, not redirected.
        assert http.get("/api/v1/regions/1634/dashboard", params={"start": "0"}).status_code == 422
        for bad in ("0", "00000", "123456", "12a05"):
            answer = http.get(f"/api/v1/regions/{bad}/summary")
            assert answer.status_code == 422, bad
            assert answer.json()["error"]["code"] == "invalid"
        assert http.get(f"/api/v1/regions/{REGION}/summary").status_code == 200


def test_the_summary_takes_the_dashboard_default_period(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    with httpx.Client(base_url=base) as http:
        dashboard = http.get(f"/api/v1/regions/{REGION}/dashboard").json()
        summary = http.get(f"/api/v1/regions/{REGION}/summary").json()
        explicit = http.get(
            f"/api/v1/regions/{REGION}/summary", params={"start": dashboard["start"], "end": dashboard["end"]}
        ).json()
    assert summary == explicit


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/export", {"from_block": str(10**30)}),
        ("/api/v1/export", {"to_block": str(2**63)}),
        ("/api/v1/export", {"from_block": "5", "to_block": "1"}),
        ("/api/v1/export", {"region": "1634"}),
        ("/api/v1/export", {"region": str(10**30)}),
        ("/api/v1/national", {"kind": str(2**70)}),
        ("/api/v1/national", {"mlit_type": "-1"}),
        (f"/api/v1/regions/{REGION}/returning", {"by": "activity", "limit": "100"}),
        ("/api/v1/people/{address}/history", {"limit": "500"}),
        ("/api/v1/claims/9223372036854775807", {}),
        ("/api/v1/supports/9223372036854775807", {}),
    ],
)
def test_boundaries_are_refused_or_served(server: tuple[str, dict[str, str]], path: str, query: dict[str, str]) -> None:
    base, keys = server
    headers = {"Authorization": f"Bearer {keys['researcher']}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        answer = http.get(path.replace("{address}", keys["first"]), params=query)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert set(answer.json()["error"]) >= {"code", "message"}
