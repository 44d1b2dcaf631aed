"""The demo's development sign-in: devnet only, one password kept outside the repository, the
same on a second start; the server's operator keys get human labels once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger.demo_console import ensure_dev_sign_in, label_operator_keys
from ledger.errors import ConfigError
from tests.console.world import ChainWorld, chain_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    with chain_world(tmp_path_factory.mktemp("demo-sign-in")) as built:
        yield built


def test_every_demo_region_gets_an_admin_with_the_kept_password(world: ChainWorld, tmp_path: Path) -> None:
    settings = world.settings.model_copy(
        update={"checkin": world.settings.checkin.model_copy(update={"secret_file": tmp_path / "keys" / "kiosk.key"})}
    )
    first = ensure_dev_sign_in(world.engine, settings, 31337)
    assert [login for login, _ in first.logins] == ["platform", "admin-12205", "admin-15202"]
    assert first.password_file == tmp_path / "keys" / "console-dev-password"
    assert first.password_file.stat().st_mode & 0o777 == 0o600
    again = ensure_dev_sign_in(world.engine, settings, 31337)
    assert again.password == first.password
    with world.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM staff_accounts WHERE login LIKE 'admin-%'")).scalar_one() == 2
    client = world.new_client()
    assert world.sign_in(client, "admin-12205", first.password) == 303
    assert client.get("/console/regions/12205").status_code == 200
    assert client.get("/console/regions/15202").status_code == 403
    with pytest.raises(ConfigError):
        ensure_dev_sign_in(world.engine, settings, 1)


def test_operator_keys_are_labelled_once(world: ChainWorld) -> None:
    address = world.chain.issuers(12205)[0]
    label_operator_keys(world.engine, {address.lower(): "中継サーバー"})
    with world.engine.begin() as conn:
        conn.execute(text("UPDATE issuer_labels SET label = '受付タブレット' WHERE region = 12205"))
    label_operator_keys(world.engine, {address: "中継サーバー"})
    with world.engine.connect() as conn:
        labels = dict(
            conn.execute(text("SELECT region, label FROM issuer_labels WHERE address = :a"), {"a": address}).all()
        )
    assert labels == {12205: "受付タブレット", 15202: "中継サーバー"}
