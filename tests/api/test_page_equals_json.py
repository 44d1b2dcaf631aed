"""Every figure a page shows equals the JSON document of the same period: the region page and
``/api/v1/regions/{code}/dashboard``, the national view and ``/api/v1/national``, for the default
period and for an explicit one. The pages mark each figure with ``data-figure`` (its id in
:data:`ledger.figures.FIGURES`) and ``data-value`` (the raw number, empty when suppressed), so the
test reads the HTML as a tool would. The world (a real anvil chain indexed into SQLite, served by
uvicorn) is the one of tests/api/test_units_figures.py.
"""

# ruff: noqa: F811  (the tests take the imported module-scoped fixture `world` by name)

from __future__ import annotations

import re
from collections import defaultdict
from datetime import timedelta
from typing import Any

import httpx
import pytest

from ledger.figures import FIGURES
from tests.api.test_units_figures import (
    NAGAOKA,
    TATEYAMA,
    World,
    world,  # noqa: F401  (the module's fixture, reused here)
)

pytestmark = pytest.mark.anvil

_FIGURE = re.compile(r'data-figure="([^"]+)" data-value="([^"]*)"')


def _figures(html: str) -> dict[str, list[int | None]]:
    """Every marked figure of a page, in page order, by id (``None`` for a suppressed one)."""
    found: dict[str, list[int | None]] = defaultdict(list)
    for figure_id, value in _FIGURE.findall(html):
        assert figure_id in FIGURES, f"{figure_id} is not in ledger.figures"
        found[figure_id].append(None if value == "" else int(value))
    return found


def _get(world: World, path: str, **params: str) -> httpx.Response:
    with httpx.Client(base_url=world.base) as http:
        response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response


def _periods(world: World) -> list[dict[str, str]]:
    return [{}, {"start": str(world.day - timedelta(days=40)), "end": str(world.day)}]


def _expected_region(document: dict[str, Any]) -> dict[str, list[int | None]]:
    s = document["summary"]
    coins = s["coins"]
    return {
        "participants": [s["participants"]],
        "participants_without_kin": [s["participants_without_kin"]],
        "kin_only": [s["kin_only"]],
        "kankei": [s["kankei"]],
        "kankei_visiting": [s["kankei_visiting"]],
        "kankei_non_visiting": [s["kankei_non_visiting"]],
        "active": [s["active"]],
        "new": [s["new"]],
        "returning": [s["returning"]],
        "coins_issued": [coins["issued"]],
        "coins_spent": [coins["spent"]],
        "coins_clawed_back": [coins["clawed_back"]],
        "supports": [coins["supports"]],
        # the headline's count, then the audit's (the same figure, never suppressed: the audit lists them)
        "revocations": [coins["revocations"], document["audit"]["revocations_total"]],
        "records": [s["records"]],
        "revoked_records": [s["revoked_records"]],
        "help_hours": [document["units"]["help_hours"]["total"]],
        "stay_days": [document["units"]["stay_days"]["total"]],
        "projects": [len(document["projects"])],
        **{f"stage_{x['stage']}": [x["people"]] for x in s["stages"]},
        "project_raised": [p["raised"] for p in document["projects"]],
        "project_supporters": [p["supporters"] for p in document["projects"]],
    }


@pytest.mark.parametrize("region", [TATEYAMA, NAGAOKA])
def test_the_region_page_shows_the_dashboard_document(world: World, region: int) -> None:
    for period in _periods(world):
        document = _get(world, f"/api/v1/regions/{region}/dashboard", **period).json()
        html = _get(world, f"/regions/{region:05d}", lang="ja", **period).text
        shown = _figures(html)
        expected = _expected_region(document)
        assert {key: value for key, value in shown.items() if value} == {
            key: value for key, value in expected.items() if value
        }, period
        assert f'data-start="{document["start"]}" data-end="{document["end"]}"' in html
        assert f'data-as-of="{document["as_of"]}"' in html
        assert document["as_of"] <= str(world.day)  # never a day the index has not reached
        # one definition: the audit's total is the headline's revocations, unless that one is suppressed
        assert document["summary"]["coins"]["revocations"] in (None, document["audit"]["revocations_total"])


def test_the_national_view_shows_the_national_document(world: World) -> None:
    for period in _periods(world):
        document = _get(world, "/api/v1/national", **period).json()
        shown = _figures(_get(world, "/national", lang="ja", **period).text)
        assert shown.get("national_people", []) == [n["people"] for n in document["nodes"]]
        assert shown.get("national_shared", []) == [x["shared"] for x in document["links"]]


def test_a_region_code_without_its_leading_zero_is_redirected(world: World) -> None:
    with httpx.Client(base_url=world.base) as http:
        found = http.get(f"/regions/0{TATEYAMA}")  # six digits: not a JIS code
        assert found.status_code == 404
        assert http.get(f"/regions/{TATEYAMA}").status_code == 200  # already five digits


def _marked(html: str, figure_id: str) -> list[str]:
    return re.findall(rf'data-figure="{figure_id}" data-value="([^"]*)"', html)


@pytest.mark.parametrize("person", [0, 6, 11])
def test_the_person_page_shows_the_ties_and_coins_documents(world: World, person: int) -> None:
    address = world.people[person]
    ties = _get(world, f"/api/v1/people/{address}/ties").json()
    coins = _get(world, f"/api/v1/people/{address}/coins").json()
    html = _get(world, f"/people/{address}", lang="ja").text
    assert ties and coins
    assert _marked(html, "tie_stage") == [t["stage"] for t in ties]
    assert _marked(html, "tie_score") == [f"{t['score']:.1f}" for t in ties]
    assert _marked(html, "coin_balance") == [str(c["balance"]) for c in coins]
