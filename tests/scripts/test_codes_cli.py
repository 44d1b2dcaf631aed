"""``tsunagari codes`` and ``tsunagari presence`` against the console's test world (a py-evm chain,
its index in a real SQLite file, the app over real HTTP): the CLI reads the index and the
deployments file (its chain node is down here, as it may be in production), generates codes the
served app redeems, writes the CSV again, voids the batch, and records a check-in."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import text
from typer.testing import CliRunner

from api.deps import checkin_of
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec
from ledger.chain.devnet import free_port
from ledger.checkin.codes import normalise_code
from ledger.checkin.metadata import store_metadata
from ledger.db.engine import write_transaction
from ledger.settings import get_settings
from ledger.staff import audit
from ledger.taxonomy import ContributionKind, RewardUnit
from ledger.ties import JST
from scripts.cli import app
from tests.console.world import TATEYAMA, ChainWorld, chain_world
from tests.stack import sign_claim

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    with chain_world(tmp_path_factory.mktemp("codes-cli")) as w:
        yield w


@pytest.fixture
def cli(world: ChainWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChainWorld]:
    """The CLI configured for ``world``'s database, deployments and check-in key (node down)."""
    monkeypatch.setenv("TSUNAGARI_DB__URL", world.settings.db.url)
    monkeypatch.setenv("TSUNAGARI_CHAIN__DEPLOYMENTS_DIR", str(world.settings.chain.deployments_dir))
    monkeypatch.setenv("TSUNAGARI_CHAIN__RPC_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("TSUNAGARI_CHAIN__REQUEST_TIMEOUT_S", "1")
    secret = world.settings.checkin.secret
    assert secret is not None
    monkeypatch.setenv("TSUNAGARI_CHECKIN__SECRET", secret.get_secret_value())
    monkeypatch.setenv("TSUNAGARI_CHECKIN__PUBLIC_URL", world.base_url)
    get_settings.cache_clear()
    try:
        yield world
    finally:
        get_settings.cache_clear()


def register(world: ChainWorld, name: str, unit: RewardUnit = RewardUnit.RECORD, max_units: int = 1) -> int:
    with write_transaction(world.engine) as conn:
        metadata = store_metadata(conn, name, "", "")
    now = int(time.time())
    spec = ActivitySpec(
        TATEYAMA,
        ContributionKind.FURUSATO_NOZEI if unit == RewardUnit.RECORD else ContributionKind.VOLUNTEERING,
        500,
        now - 3600,
        now + 60 * 86_400,
        metadata_hash=bytes.fromhex(metadata[2:]),
        unit=unit,
        max_units=max_units,
    )
    activity = world.chain.register_activity(dev_account(2), spec)
    world.index()
    return activity


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))


def redeem(world: ChainWorld, code: str, activity_id: int) -> tuple[int, str]:
    service = checkin_of(world.app)
    body = sign_claim(Account.create(), service.signing, normalise_code(code), activity_id)  # type: ignore[arg-type]
    answer = world.new_client().post("/api/v1/claims", json=body)
    return answer.status_code, answer.json().get("error", {}).get("code", "")


def test_generate_csv_and_void_round_trip(cli: ChainWorld, tmp_path: Path) -> None:
    activity_id = register(cli, "ふるさと納税 お礼（CLI）")
    expires = (datetime.now(JST) + timedelta(days=20)).date().isoformat()
    first = tmp_path / "letters.csv"
    code, out, err = invoke(
        "codes", "generate", str(activity_id), "--count", "3", "--expires", expires,
        "--label", "2026年12月 お礼状", "--out", str(first),
    )  # fmt: skip
    assert code == 0, err
    assert "3 codes for activity" in out and "JST" in out and str(first) in out
    batch_id = int(out.split()[1].rstrip(":"))
    rows = rows_of(first)
    assert len(rows) == 3 and {r["state"] for r in rows} == {"issued"}
    assert all(r["url"].startswith(f"{cli.base_url}/c/") for r in rows)
    assert {r["expires_at_jst"][:10] for r in rows} <= {expires}

    assert redeem(cli, rows[0]["code"], activity_id) == (202, "")  # the served app takes the CLI's codes
    code, out, _ = invoke("codes", "list", str(activity_id))
    header, *batches = out.splitlines()
    assert code == 0 and header.split()[:7] == ["batch", "made", "codes", "unused", "used", "void", "expired"]
    (row,) = [line.split() for line in batches if line.split()[0] == str(batch_id)]
    assert row[3:9] == ["JST", "3", "2", "1", "0", "0"] and row[-2:] == ["2026年12月", "お礼状"]

    again = tmp_path / "again.csv"
    code, out, err = invoke("codes", "csv", str(batch_id), "--out", str(again))
    assert code == 0, err
    assert [r["code"] for r in rows_of(again)] == [r["code"] for r in rows]
    assert [r["state"] for r in rows_of(again)] == ["redeemed", "issued", "issued"]

    code, out, err = invoke("codes", "void", str(batch_id))
    assert code == 0 and "2 codes voided" in out, err
    assert redeem(cli, rows[1]["code"], activity_id) == (410, "code_voided")
    with cli.engine.connect() as conn:
        done = [
            (e.action, e.actor)
            for e in audit.entries(conn, TATEYAMA, limit=100)
            if e.target == f"code-batch:{batch_id}"
        ]
    assert {("codes.generate", "cli"), ("codes.csv", "cli"), ("codes.void", "cli")} <= set(done)

    # Mistakes are one line on stderr and exit 1.
    code, _, err = invoke("codes", "generate", "999999", "--count", "1", "--expires", expires)
    assert code == 1 and "unknown_activity" in err
    code, _, err = invoke("codes", "generate", str(activity_id), "--count", "1", "--expires", "2020-01-01")
    assert code == 1 and "future" in err
    code, _, err = invoke("codes", "generate", str(activity_id), "--count", "1", "--expires", "tomorrow")
    assert code == 1 and "2026-12-31" in err
    code, _, err = invoke("codes", "void", "999999")
    assert code == 1 and "no batch of codes" in err


def test_presence_list_close_and_rule(cli: ChainWorld) -> None:
    activity_id = register(cli, "草刈り（時間）", RewardUnit.HOUR, 8)
    service = checkin_of(cli.app)
    person = Account.create()
    token = service.tokens.issue(TATEYAMA, activity_id, service.tokens.slot_at(time.time()), 0)
    body = {**sign_claim(person, service.signing, token, activity_id), "intent": "arrive"}  # type: ignore[arg-type]
    assert cli.new_client().post("/api/v1/claims", json=body).status_code == 202
    with cli.engine.connect() as conn:
        session = int(
            conn.execute(
                text("SELECT session_id FROM presence_sessions WHERE participant = :p"), {"p": person.address.lower()}
            ).scalar_one()
        )

    code, out, err = invoke("presence", "list", str(activity_id))
    assert code == 0, err
    assert "present: 1" in out and person.address.lower() in out and "JST" in out
    code, _, err = invoke("presence", "close", str(session), "--units", "30")
    assert code == 1 and "invalid_units" in err
    code, out, err = invoke("presence", "close", str(session), "--units", "2")
    assert code == 0 and "recorded: 2 unit(s)" in out, err
    with cli.engine.connect() as conn:
        units = conn.execute(text("SELECT units FROM claims WHERE activity_id = :a"), {"a": activity_id}).scalar_one()
    assert units == 2

    code, out, err = invoke("presence", "rule", str(activity_id), "--cap", "4", "--rounding", "nearest")
    assert code == 0 and "rounding nearest" in out and "cap 4" in out, err
    code, _, err = invoke("presence", "rule", str(activity_id), "--cap", "30")
    assert code == 1 and "cap" in err
