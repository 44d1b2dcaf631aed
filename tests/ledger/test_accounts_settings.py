"""Operator keys and settings: the dev mnemonic stays on chain 31337."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from pydantic import SecretStr

from ledger.chain.accounts import DEV_ROLES, dev_account, load_keystore, operator_account, write_keystore
from ledger.errors import ConfigError
from ledger.settings import DEV_MNEMONIC, ChainSettings, Settings


def test_dev_accounts_match_anvils_well_known_first_account() -> None:
    assert dev_account(0).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.mark.parametrize("chain_id", [1, 137, 81, 1337, 11155111])
def test_dev_keys_are_refused_off_the_devnet(chain_id: int) -> None:
    with pytest.raises(ConfigError, match="public"):
        dev_account(0, chain_id)
    explicit = ChainSettings(mnemonic=SecretStr(DEV_MNEMONIC))
    with pytest.raises(ConfigError, match="public"):
        operator_account("relayer", chain_id, explicit)
    with pytest.raises(ConfigError, match="keystore"):
        operator_account("relayer", chain_id, ChainSettings())


def test_devnet_operators_are_named_roles() -> None:
    for name, index in DEV_ROLES.items():
        assert operator_account(name, 31337, ChainSettings()).address == dev_account(index).address
    with pytest.raises(ConfigError, match="unknown operator"):
        operator_account("mallory", 31337, ChainSettings())


def test_keystore_round_trip_and_errors(tmp_path: Path) -> None:
    account = Account.create()
    write_keystore(tmp_path / "relayer.json", account, "s3cret")
    settings = ChainSettings(keystore_dir=tmp_path, keystore_password=SecretStr("s3cret"))
    assert operator_account("relayer", 81, settings).address == account.address
    with pytest.raises(ConfigError, match="wrong password"):
        load_keystore(tmp_path / "relayer.json", "nope")
    with pytest.raises(ConfigError, match="does not exist"):
        operator_account("platform-admin", 81, settings)
    with pytest.raises(ConfigError, match="keystore_password"):
        operator_account("relayer", 81, ChainSettings(keystore_dir=tmp_path))


def test_settings_read_nested_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSUNAGARI_CHAIN__RPC_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("TSUNAGARI_CHAIN__CONFIRMATIONS", "12")
    monkeypatch.setenv("TSUNAGARI_DEVNET__BLOCK_TIME_S", "1")
    settings = Settings()
    assert settings.chain.rpc_url == "http://127.0.0.1:9999"
    assert settings.chain.confirmations == 12
    assert settings.devnet.block_time_s == 1.0
    monkeypatch.setenv("TSUNAGARI_CHAIN__CONFIRMATIONS", "-1")
    with pytest.raises(ValueError, match="confirmations"):
        Settings()
