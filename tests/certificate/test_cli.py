"""``tsunagari certificate issue`` and ``verify`` as real processes against anvil: the operator's
unsigned certificate, one signed with the holder's key, a tampered file, and a node that is down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.chain.deploy import save_deployment
from ledger.chain.devnet import free_port
from tests.certificate.world import TATEYAMA, CertificateWorld, certificate_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CertificateWorld, Path]]:
    tmp = tmp_path_factory.mktemp("certificate-cli")
    with certificate_world(tmp) as running:
        save_deployment(tmp / "deployments", running.deployment)
        yield running, tmp


def cli(
    world: tuple[CertificateWorld, Path], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    w, tmp = world
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TSUNAGARI_")},
        "TSUNAGARI_CHAIN__BACKEND": "rpc",
        "TSUNAGARI_CHAIN__RPC_URL": w.rpc_url,
        "TSUNAGARI_CHAIN__DEPLOYMENTS_DIR": str(tmp / "deployments"),
        "TSUNAGARI_DB__URL": str(w.engine.url),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", "certificate", *args],
        check=False,
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp,
        timeout=120,
    )


def test_issue_unsigned_then_signed_and_verify(world: tuple[CertificateWorld, Path]) -> None:
    w, _ = world
    unsigned = cli(world, "issue", w.person.address, "--region", str(TATEYAMA), "--out", "u.json")
    assert unsigned.returncode == 0, unsigned.stderr
    assert "4 records, 指定活動 3件（直近12か月）" in unsigned.stdout and "unsigned" in unsigned.stdout
    refused = cli(world, "verify", "u.json")
    assert refused.returncode == 1 and "PROBLEM unsigned" in refused.stdout
    signed = cli(
        world,
        "issue",
        w.person.address,
        "--region",
        str(TATEYAMA),
        "--out",
        "s.json",
        "--key-env",
        "HOLDER_KEY",
        env={"HOLDER_KEY": w.person.key.hex()},
    )
    assert signed.returncode == 0, signed.stderr
    ok = cli(world, "verify", "s.json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VALID; Premium (ふるさと住民登録" in ok.stdout and "): yes" in ok.stdout
    assert ok.stdout.count(": ok") == 4
    as_json = json.loads(cli(world, "verify", "s.json", "--json").stdout)
    assert as_json["valid"] and as_json["premium"] and as_json["designated_in_window"] == 3
    wrong_key = cli(
        world, "issue", w.person.address, "--region", str(TATEYAMA), "--key-env", "K", env={"K": w.other.key.hex()}
    )
    assert wrong_key.returncode == 1 and "is not" in wrong_key.stderr


def test_verify_names_the_tampered_line(world: tuple[CertificateWorld, Path]) -> None:
    w, tmp = world
    cli(
        world,
        "issue",
        w.person.address,
        "--region",
        str(TATEYAMA),
        "--out",
        "t.json",
        "--key-env",
        "K",
        env={"K": w.person.key.hex()},
    )
    document = json.loads((tmp / "t.json").read_text())
    document["records"][2]["date"] = "2020-01-01"
    (tmp / "t2.json").write_text(json.dumps(document, ensure_ascii=False))
    result = cli(world, "verify", "t2.json")
    assert result.returncode == 1
    assert "line 3 2020-01-01" in result.stdout and "the date differs" in result.stdout
    assert "PROBLEM signature_invalid" in result.stdout and "Premium (ふるさと住民登録" in result.stdout


def test_verify_bad_input(world: tuple[CertificateWorld, Path]) -> None:
    w, tmp = world
    (tmp / "junk.json").write_text("{not json")
    junk = cli(world, "verify", "junk.json")
    assert junk.returncode == 1 and "is not a valid certificate" in junk.stderr
    cli(
        world,
        "issue",
        w.person.address,
        "--region",
        str(TATEYAMA),
        "--out",
        "d.json",
        "--key-env",
        "K",
        env={"K": w.person.key.hex()},
    )
    down = cli(world, "verify", "d.json", "--rpc", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1 and "PROBLEM rpc_unavailable" in down.stdout
    other = cli(world, "verify", "d.json", "--ledger", "0x" + "22" * 20)
    assert other.returncode == 1 and "PROBLEM untrusted_ledger" in other.stdout
    bad_day = cli(world, "issue", w.person.address, "--region", str(TATEYAMA), "--from", "2026-13-01")
    assert bad_day.returncode == 1 and "--from must be a date" in bad_day.stderr


def test_eligible_prints_a_table_and_json(world: tuple[CertificateWorld, Path]) -> None:
    w, _ = world
    shown = cli(world, "eligible", "--region", str(TATEYAMA))
    assert shown.returncode == 0, shown.stderr
    headline, header, *rows = shown.stdout.splitlines()
    assert headline.startswith("12205 館山市 as of ") and "1 eligible" in headline
    assert header.split()[:3] == ["participant", "designated", "activities"]
    (row,) = [r.split() for r in rows if w.person.address.lower() in r.lower()]
    assert row[1] == "3" and len(row[2]) == 10  # three designated activities, eligible until a JST day
    (listed,) = [
        r for r in json.loads(cli(world, "eligible", "--region", str(TATEYAMA), "--json").stdout) if r["eligible"]
    ]
    assert listed["designated"] == 3 and listed["participant"].lower() == w.person.address.lower()
