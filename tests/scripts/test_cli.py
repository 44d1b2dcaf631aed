"""The ``tsunagari`` CLI end to end against a real, detached anvil with persistent state."""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.chain.devnet import free_port
from ledger.demo import DEMO_REGIONS, demo_participant
from ledger.settings import get_settings
from scripts.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def record_fields(out: str) -> dict[str, str]:
    """The ``field  value`` table a command prints for one record, as a dict."""
    header, *rows = out.splitlines()
    assert header.split() == ["field", "value"], out
    return dict(row.split(None, 1) if " " in row else (row, "") for row in rows)


def display_width(text: str) -> int:
    """Terminal columns of ``text``: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def assert_for_people(out: str) -> None:
    """Output for people: no Python dicts, lists or reprs, no unix seconds."""
    assert not re.search(r"[{}\[\]']|\bTrue\b|\bFalse\b|\bNone\b|\b1[6-9]\d{8}\b", out), out


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    port = free_port()
    monkeypatch.setenv("TSUNAGARI_DEVNET__DATA_DIR", str(tmp_path / "devnet"))
    monkeypatch.setenv("TSUNAGARI_DEVNET__PORT", str(port))
    monkeypatch.setenv("TSUNAGARI_CHAIN__RPC_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("TSUNAGARI_CHAIN__DEPLOYMENTS_DIR", str(tmp_path / "deployments"))
    monkeypatch.setenv("TSUNAGARI_DEVNET__BLOCK_TIME_S", "0")  # automine keeps the test fast
    monkeypatch.setenv("TSUNAGARI_DB__URL", f"sqlite:///{tmp_path / 'index.db'}")
    monkeypatch.setenv("TSUNAGARI_CHECKIN__SECRET_FILE", str(tmp_path / "kiosk.key"))
    monkeypatch.setenv("TSUNAGARI_DEMO__SEED_YEAR", "false")  # the small first-steps demo keeps these tests fast
    get_settings.cache_clear()
    try:
        yield tmp_path
    finally:
        invoke("devnet", "down")
        get_settings.cache_clear()


def test_demo_brings_up_the_chain_and_survives_a_restart(cli_env: Path) -> None:
    code, out, err = invoke("demo", "--no-serve", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["chain_id"] == 31337
    assert [r["code"] for r in summary["regions"]] == [r.code for r in DEMO_REGIONS]
    tateyama = summary["regions"][0]
    # six people: 3 hours of 海岸清掃 at 1,000 coins an hour and the festival's 300
    assert (tateyama["participants"], tateyama["minted"], tateyama["spent"]) == (6, 6 * (3 * 1000 + 300), 500)
    assert all(r["supply"] == r["minted"] - r["spent"] - r["revoked"] - r["expired"] for r in summary["regions"])
    assert (cli_env / "deployments" / "31337.json").is_file()

    assert summary["indexed_logs"] > 60
    indexed = {r["code"]: r for r in summary["index"]}
    assert indexed[12205]["participants"] == 6 and indexed[12205]["records"] == 12
    code, out, _ = invoke("demo", "--no-serve", "--json")  # idempotent: nothing recorded (or indexed) twice
    again = json.loads(out)
    assert code == 0 and again["indexed_logs"] == 0
    assert {**again, "indexed_logs": summary["indexed_logs"]} == summary

    assert invoke("devnet", "down")[0] == 0
    code, out, _ = invoke("devnet", "status", "--json")
    assert json.loads(out)["up"] is False
    assert invoke("devnet", "up", "--block-time", "0")[0] == 0
    code, out, _ = invoke("region", "info", "12205", "--json")
    assert code == 0 and json.loads(out)["minted"] == 19_800  # the chain came back from its state file


def test_demo_seed_writes_a_year_once(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSUNAGARI_DEMO__SEED_YEAR", "true")
    get_settings.cache_clear()
    code, out, err = invoke("demo", "seed", "--seed", "5", "--people", "30", "--json")
    assert code == 0, err
    summary = json.loads(out)
    seeded = summary["seeded"]
    assert seeded["people"] == 30 and seeded["records"] > 30 and seeded["rejected_claims"] == 0
    assert len(summary["regions"]) == 10 and sum(r["records"] for r in summary["index"]) > 0
    code, out, err = invoke("demo", "--no-serve", "--json")  # the demo finds the year and seeds nothing
    assert code == 0, err
    again = json.loads(out)
    assert again["seeded"] is None and again["indexed_logs"] == 0
    code, out, _ = invoke("demo", "seed", "--json")
    assert code == 0 and json.loads(out)["seeded"] is None


def test_operator_commands_and_their_errors(cli_env: Path) -> None:
    assert invoke("demo", "--no-serve")[0] == 0
    code, out, err = invoke("activity", "register", "--region", "15202", "--kind", "40", "--reward", "70")
    assert code == 0, err
    activity = int(out.split()[1])
    person = demo_participant(99).address
    code, out, err = invoke("record", "--region", "15202", "--activity", str(activity), person)
    assert code == 0, err
    assert "1 records, 70 coins minted" in out
    code, out, _ = invoke("balance", person, "--region", "15202", "--json")
    assert json.loads(out) == {
        "15202": {"spendable": 70, "stored": 70, "expiring": 0, "expires_after_day": 0, "recorded": True}
    }
    code, out, _ = invoke("balance", person, "--region", "15202")  # a table for people, not Python dicts
    assert code == 0 and "{" not in out and "spendable" in out.splitlines()[1]
    assert out.splitlines()[2].split()[:3] == ["15202", "長岡市", "70"]
    code, out, _ = invoke("activity", "info", str(activity))
    fields = record_fields(out)
    assert code == 0 and fields["region"] == "15202 長岡市" and fields["kind"] == "40 ボランティア"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} JST", fields["starts_at"])
    assert fields["closed"] == "no" and fields["metadata_hash"].startswith("0x")

    # an activity paid per hour, designated, and a kiosk that records 3 hours a check-in
    code, out, err = invoke(
        "activity", "register", "--region", "15202", "--kind", "40", "--reward", "1000",
        "--unit", "hour", "--max-units", "8", "--designated", "--starts", str(int(time.time()) + 3600),
    )  # fmt: skip
    assert code == 0, err
    hourly = int(out.split()[1])
    code, out, _ = invoke("activity", "info", str(hourly), "--json")
    info = json.loads(out)
    assert (info["designated"], info["unit"], info["max_units"]) == (True, "hour", 8)
    assert invoke("activity", "designate", str(hourly), "--undo")[0] == 0  # before it starts: allowed
    code, out, _ = invoke("activity", "info", str(hourly), "--json")
    assert json.loads(out)["designated"] is False
    code, out, err = invoke("activity", "kiosk", str(hourly), "--units", "3")
    assert code == 0 and ".3." in out.split("?k=")[1], err
    code, _, err = invoke("activity", "kiosk", str(hourly), "--units", "9")
    assert code == 1 and "1 to 8 hours" in err
    code, _, err = invoke("activity", "kiosk", str(activity), "--units", "2")
    assert code == 1 and "per visit" in err
    code, _, err = invoke(
        "activity", "register", "--region", "15202", "--kind", "40", "--reward", "1", "--unit", "week"
    )  # fmt: skip
    assert code == 1 and "record, hour or day" in err

    code, _, err = invoke("record", "--region", "15202", "--activity", str(activity), person)
    assert code == 1 and "already has a record" in err
    code, _, err = invoke("record", "--region", "12205", "--activity", str(activity), person)
    assert code == 1 and f"activity {activity} is not in region 12205" in err
    code, _, err = invoke("record", "--region", "15202", "--activity", str(activity), "0x1234")
    assert code == 1 and "not an Ethereum address" in err
    code, _, err = invoke("activity", "register", "--region", "15202", "--kind", "99", "--reward", "1")
    assert code == 1 and "99" in err

    code, out, err = invoke(
        "revoke", "--activity", str(activity), "--participant", person, "--reason", "2", "--note", "x"
    )
    assert code == 0, err
    assert "70 coins clawed back" in out
    code, out, _ = invoke("region", "info", "15202", "--json")
    assert json.loads(out)["revoked"] == 70

    code, out, _ = invoke("project", "register", "--region", "15202", "--description", "雪かき応援")
    assert code == 0 and out.startswith("project ")
    assert invoke("region", "pause", "15202")[0] == 0
    code, _, err = invoke("record", "--region", "15202", "--activity", str(activity), demo_participant(98).address)
    assert code == 1 and "paused" in err
    assert invoke("region", "pause", "15202", "--resume")[0] == 0

    code, _, err = invoke("region", "expiry", "15202", "90")  # after its first record: too late
    assert code == 1 and "expiry" in err.lower()
    code, out, err = invoke("region", "revoke-all-issuers", "15202")
    assert code == 0 and "issuer(s) removed" in out, err
    code, _, err = invoke("record", "--region", "15202", "--activity", str(activity), demo_participant(97).address)
    assert code == 1


def test_commands_without_a_chain_fail_with_one_line(cli_env: Path) -> None:
    code, _, err = invoke("region", "info", "12205")
    assert code == 1
    assert err.startswith("error: cannot reach the chain node") and err.count("\n") == 1


def test_region_codes_are_read_in_both_spellings_and_refused_otherwise(cli_env: Path) -> None:
    """01634 and 1634 name the same municipality; six digits (with the check digit), letters or 0 do not."""
    for spelling in ("12205", "012205x", "123456", "0", "abc"):
        code, out, err = invoke("region", "info", spelling)
        if spelling == "12205":
            assert code == 1 and "cannot reach the chain node" in err  # parsed; no chain in this test
        else:
            assert code == 2 and "five digits" in out + err, (spelling, out, err)
    code, _, err = invoke("region", "info", "1634")
    assert code == 1 and "cannot reach the chain node" in err


def test_contracts_check_passes_on_committed_artifacts() -> None:
    code, out, _ = invoke("contracts", "check")
    assert code == 0 and "match" in out


def test_keys_new_writes_an_encrypted_keystore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYSTORE_PASSWORD", "correct horse")
    path = tmp_path / "relayer.json"
    code, out, _ = invoke("keys", "new", str(path))
    assert code == 0 and path.is_file()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    keyfile = json.loads(path.read_text())
    assert "crypto" in keyfile and out.split()[0].lower().endswith(keyfile["address"].lower())
    assert invoke("keys", "new", str(path))[0] == 1  # never overwrites a key


def test_index_backfill_and_status(cli_env: Path) -> None:
    code, out, err = invoke("index", "status")
    assert code == 1 and "no schema yet" in err
    assert invoke("demo", "--no-serve")[0] == 0  # the demo indexes what it recorded
    assert invoke("record", "--region", "12205", "--activity", "1", demo_participant(77).address)[0] == 0
    code, out, err = invoke("index", "backfill")
    assert code == 0, err
    assert out.startswith("indexed 2 logs")  # the new record and its batch
    code, out, _ = invoke("index", "status", "--json")
    status = json.loads(out)
    assert status["dirty_ties"] == status["dirty_days"] == status["undecodable_logs"] == 0
    (checkpoint,) = status["checkpoints"]
    assert checkpoint["lag_blocks"] == 0 and checkpoint["last_error"] is None
    code, out, _ = invoke("index", "backfill")  # nothing new: a no-op
    assert out.startswith("indexed 0 logs")
    assert invoke("devnet", "down")[0] == 0
    code, out, _ = invoke("index", "status")  # the node is down: status still answers from the database
    assert code == 0 and "head: unreachable" in out and "derived work pending: 0 ties, 0 days" in out
    assert status["backlog_cap"] == 10_000


def test_region_dashboard_prints_the_json_dashboard_document(cli_env: Path) -> None:
    """``tsunagari region dashboard`` is ``GET /api/v1/regions/{code}/dashboard``: same default period,
    same figures; explicit days in YYYY-MM-DD only; a table of named figures without ``--json``."""
    import httpx

    from api.app import create_app
    from tests.console.conftest import serving

    assert invoke("demo", "--no-serve")[0] == 0
    code, out, err = invoke("region", "dashboard", "12205", "--json")
    assert code == 0, err
    doc = json.loads(out)
    with serving(create_app(get_settings())) as base:
        answer = httpx.get(f"{base}/api/v1/regions/12205/dashboard", timeout=30)
    assert answer.status_code == 200, answer.text
    expected = answer.json()
    for volatile in ("status",):  # the indexer's live state (lag, heartbeats) may differ between two reads
        doc.pop(volatile, None)
        expected.pop(volatile, None)
    assert doc == expected and doc["summary"]["participants"] == 6
    start, end = doc["start"], doc["end"]
    code, out, _ = invoke("region", "dashboard", "12205", "--start", end, "--end", end, "--json")
    assert code == 0 and (json.loads(out)["start"], json.loads(out)["end"]) == (end, end)
    assert json.loads(out) != doc or start == end
    code, out, _ = invoke("region", "dashboard", "12205")
    assert code == 0 and out.startswith("12205 館山市") and "参加者 participants" in out and "{" not in out
    audit = doc["audit"]  # the same bounded list as the page: how many of how many
    assert f"revocations newest first, {len(audit['revocations']):,} of {audit['revocations_total']:,}" in out
    code, _, err = invoke("region", "dashboard", "12205", "--start", "2026-4-1")
    assert code == 2 and "YYYY-MM-DD" in err
    code, _, err = invoke("region", "dashboard", "01634")
    assert code == 1 and "not registered" in err


def test_export_and_verify_after_the_demo(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke("demo", "--no-serve")[0] == 0
    out = cli_env / "export"
    code, stdout, err = invoke("export", "--out", str(out), "--format", "csv")
    assert code == 0, err
    assert "exported" in stdout and "salt (keep it secret" in err
    salt = err.split("export): ")[1].split()[0]
    assert (out / "manifest.json").is_file() and salt not in (out / "manifest.json").read_text()
    rpc = f"http://127.0.0.1:{get_settings().devnet.port}"
    code, stdout, err = invoke("export", "verify", str(out), "--rpc", rpc)
    assert code == 0, stdout + err
    assert stdout.startswith("OK") and "not checked (no salt given)" in stdout
    monkeypatch.setenv("EXPORT_SALT", salt)
    code, stdout, _ = invoke("export", "verify", str(out), "--rpc", rpc, "--salt-env", "EXPORT_SALT")
    assert code == 0 and "not checked" not in stdout
    contributions = out / "contributions.csv"
    lines = contributions.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace(",100,", ",101,", 1) if ",100," in lines[1] else lines[1] + "x"
    contributions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, stdout, err = invoke("export", "verify", str(out), "--rpc", rpc)
    assert code == 1 and "contributions.csv" in stdout and "FAILED" in err
    code, _, err = invoke("export", "--out", str(out))
    assert code == 1 and "already exists" in err


# Commands with --json whose output is checked by another test (the seeded year, a certificate file).
JSON_CHECKED_ELSEWHERE = {
    "demo seed": "test_demo_seed_writes_a_year_once",
    "certificate verify": "tests/certificate/test_cli.py",
    "db backup": "test_db_backup_restore_and_replay_journal",
    "db restore": "test_db_backup_restore_and_replay_journal",
    "db replay-journal": "test_db_backup_restore_and_replay_journal",
}


def _json_commands() -> set[str]:
    """Every command that offers ``--json`` (walked as tests/test_docs.py walks them)."""
    import typer.main
    from typer._click.core import Context

    from tests.test_docs import _commands as commands_of

    root = typer.main.get_command(app)
    return {
        path.removeprefix("tsunagari ")
        for path, command in commands_of(root, ["tsunagari"], Context(root, info_name="tsunagari"))
        if any("--json" in param.opts for param in command.params)
    }


def test_people_read_tables_and_machines_read_json(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command with ``--json`` prints JSON that parses (unix seconds, five-digit codes) and,
    without it, aligned tables with JST times and municipality names (no Python dicts or reprs)."""
    from api.app import create_app
    from tests.console.conftest import serving

    api_port = free_port()
    monkeypatch.setenv("TSUNAGARI_API__PORT", str(api_port))  # the kiosk link names the served port
    get_settings.cache_clear()
    assert invoke("demo", "--no-serve")[0] == 0
    person = demo_participant(1).address
    assert invoke("api", "key-create", "--role", "operator", "--label", "館山の集計", "--region", "12205")[0] == 0
    code, kiosk, err = invoke("activity", "kiosk", "1")
    assert code == 0, err
    kiosk = kiosk.strip()

    simulate = ["simulate-checkins", kiosk, "--people", "3", "--concurrency", "3", "--wait", "0", "--seed"]
    commands: dict[str, list[str]] = {
        "devnet status": ["devnet", "status"],
        "region info": ["region", "info", "12205"],
        "region dashboard": ["region", "dashboard", "12205"],
        "activity info": ["activity", "info", "1"],
        "balance": ["balance", person],
        "index status": ["index", "status"],
        "api key-list": ["api", "key-list"],
        "certificate eligible": ["certificate", "eligible", "--region", "12205"],
        "simulate-checkins": simulate,  # new phones each run (--seed): the same phone cannot claim twice
        "relay status": ["relay", "status"],
    }
    assert set(commands) | set(JSON_CHECKED_ELSEWHERE) == _json_commands(), "a new --json command needs a check here"
    machine: dict[str, Any] = {}
    people: dict[str, str] = {}
    with serving(create_app(get_settings()), api_port):
        for name, args in commands.items():
            code, out, err = invoke(*args, *(["machines"] if name == "simulate-checkins" else []), "--json")
            assert code == 0, (name, err)
            machine[name] = json.loads(out)
            code, out, err = invoke(*args, *(["people"] if name == "simulate-checkins" else []))
            assert code == 0, (name, err)
            assert_for_people(out)
            people[name] = out

    # machines: unix seconds and five-digit code text
    assert machine["region info"]["region"] == "12205" and machine["activity info"]["region"] == "12205"
    assert isinstance(machine["activity info"]["starts_at"], int)
    assert sorted(machine["balance"]) == ["12205", "12234", "15202", "26100"]  # every region of the ledger
    assert machine["balance"]["12205"]["spendable"] > 0
    (key,) = machine["api key-list"]
    assert key["region"] == "12205" and isinstance(key["created_at"], int)
    assert machine["devnet status"]["up"] is True and machine["index status"]["head"] > 0
    assert machine["simulate-checkins"]["answers"] == {"accepted": 3}
    assert machine["relay status"]["key"] == "relayer" and machine["relay status"]["unfinished_batches"] == 0

    # people: aligned tables, JST times with the zone, codes with names
    assert record_fields(people["devnet status"])["up"] == "yes"
    info = record_fields(people["region info"])
    assert info["region"] == "12205 館山市" and info["paused"] == "no" and "municipality" not in info
    balance = people["balance"].splitlines()
    assert balance[1].split()[:3] == ["region", "spendable", "stored"]
    assert [line.split()[:2] for line in balance[2:]] == [
        ["12205", "館山市"], ["12234", "南房総市"], ["15202", "長岡市"], ["26100", "京都市"]
    ]  # fmt: skip
    # aligned by display width (a CJK character takes two columns): right-aligned numbers end
    # where their header ends
    header_end = display_width(balance[1][: balance[1].index("spendable") + len("spendable")])
    for line in balance[2:]:
        found = re.match(r"\d{5} \S+\s+\S+", line)
        assert found is not None and display_width(found.group(0)) == header_end, balance
    status = people["index status"]
    assert "indexed to block" in status and re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} JST", status)
    keys = people["api key-list"].splitlines()
    assert "12205 館山市" in keys[1] and keys[1].rstrip().endswith("-") and " JST" in keys[1]
    assert "3 phones scanned the kiosk: accepted 3" in people["simulate-checkins"]
    assert people["region dashboard"].startswith("12205 館山市")
    assert people["certificate eligible"].startswith("12205 館山市")


def test_db_backup_restore_and_replay_journal(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's backup commands on the demo's SQLite index: a backup while it is in use, a
    restore into a new database (refused over an existing one without --replace), a journal replay."""
    assert invoke("demo", "--no-serve")[0] == 0
    backup = cli_env / "backups" / "index.db"
    code, out, err = invoke("db", "backup", str(backup), "--json")
    assert code == 0, err
    taken = json.loads(out)
    assert taken["path"] == str(backup) and taken["bytes"] > 0 and taken["revision"] and taken["last_claim_id"] >= 0
    code, _, err = invoke("db", "backup", str(backup))
    assert code == 1 and "exists" in err  # a backup never overwrites one
    code, out, err = invoke("db", "backup", str(cli_env / "again.db"))
    assert code == 0 and record_fields(out)["revision"], err

    monkeypatch.setenv("TSUNAGARI_DB__URL", f"sqlite:///{cli_env / 'restored.db'}")
    get_settings.cache_clear()
    code, out, err = invoke("db", "restore", str(backup), "--json")
    assert code == 0, err
    assert json.loads(out)["last_claim_id"] == taken["last_claim_id"]
    code, _, err = invoke("db", "restore", str(backup))
    assert code == 1 and "--replace" in err
    assert invoke("db", "restore", str(backup), "--replace")[0] == 0

    journal = cli_env / "claims.jsonl"
    entry = {
        "claim_id": taken["last_claim_id"] + 1,
        "activity_id": 1,
        "region": 12205,
        "participant": "0x" + "ab" * 20,
        "request_hash": "0x" + "cd" * 32,
        "slot": 0,
        "units": 1,
        "accepted_at_ms": 1_796_000_000_000,
        "code_hash": None,
    }
    journal.write_text(json.dumps(entry) + "\n" + '{"claim_id": 9', encoding="utf-8")  # a torn last line
    code, out, err = invoke("db", "replay-journal", str(journal), "--json")
    assert code == 0, err
    assert json.loads(out) == {"replayed": 1, "present": 0, "conflicts": [], "codes": 0}
    code, out, err = invoke("db", "replay-journal", str(journal))
    assert code == 0 and record_fields(out)["present"] == "1", out
