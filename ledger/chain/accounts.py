"""Operator keys: the dev mnemonic on chain 31337 only, otherwise encrypted eth-account keystores.

Operators are named by role. On the devnet each name is an index of the dev mnemonic
(:data:`DEV_ROLES`); on any other chain ``<keystore_dir>/<name>.json`` is decrypted with the
configured password. No private key is ever read from the repository or written to chain.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.errors import ConfigError
from ledger.settings import DEV_MNEMONIC, DEVNET_CHAIN_ID, ChainSettings

__all__ = ["DEV_ROLES", "dev_account", "operator_account", "load_keystore", "write_keystore"]

Account.enable_unaudited_hdwallet_features()

# Which dev-mnemonic index plays which operator role on the devnet.
DEV_ROLES: dict[str, int] = {
    "platform-admin": 0,  # deploys the ledger and registers regions
    "relayer": 1,  # issuer in every demo region: submits batches and relays support signatures
    "region-admin": 2,  # admin of the demo regions
    "relayer-2": 3,  # the relayer's next key, for rehearsing a key rotation on the devnet
}


@lru_cache(maxsize=64)
def _derive(mnemonic: str, index: int) -> LocalAccount:
    account: LocalAccount = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
    return account


def dev_account(index: int, chain_id: int = DEVNET_CHAIN_ID) -> LocalAccount:
    """Account ``index`` of the public dev mnemonic; refused on any chain but 31337."""
    if chain_id != DEVNET_CHAIN_ID:
        raise ConfigError(f"the dev mnemonic's keys are public: refused on chain {chain_id} (only {DEVNET_CHAIN_ID})")
    return _derive(DEV_MNEMONIC, index)


def load_keystore(path: Path, password: str) -> LocalAccount:
    """Decrypt an eth-account keystore file."""
    try:
        keyfile = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"keystore {path} does not exist") from None
    except ValueError:
        raise ConfigError(f"keystore {path} is not JSON") from None
    try:
        key = Account.decrypt(keyfile, password)
    except ValueError:
        raise ConfigError(f"wrong password for keystore {path}") from None
    account: LocalAccount = Account.from_key(key)
    return account


def write_keystore(path: Path, account: LocalAccount, password: str) -> Path:
    """Encrypt ``account`` into a keystore file readable only by its owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(Account.encrypt(account.key, password)), encoding="utf-8")
    path.chmod(0o600)
    return path


def operator_account(name: str, chain_id: int, settings: ChainSettings) -> LocalAccount:
    """The key of operator ``name`` (see :data:`DEV_ROLES`) for ``chain_id``."""
    mnemonic = settings.mnemonic.get_secret_value() if settings.mnemonic else None
    if mnemonic is not None:
        if mnemonic.strip() == DEV_MNEMONIC and chain_id != DEVNET_CHAIN_ID:
            raise ConfigError(f"the dev mnemonic is public: refused on chain {chain_id}")
        if name not in DEV_ROLES:
            raise ConfigError(f"unknown operator {name!r}; known: {', '.join(DEV_ROLES)}")
        return _derive(mnemonic.strip(), DEV_ROLES[name])
    if settings.keystore_dir is not None:
        if settings.keystore_password is None:
            raise ConfigError("chain.keystore_password is required with chain.keystore_dir")
        return load_keystore(settings.keystore_dir / f"{name}.json", settings.keystore_password.get_secret_value())
    if chain_id == DEVNET_CHAIN_ID:
        if name not in DEV_ROLES:
            raise ConfigError(f"unknown operator {name!r}; known: {', '.join(DEV_ROLES)}")
        return dev_account(DEV_ROLES[name], chain_id)
    raise ConfigError(f"chain {chain_id} needs operator keys: set chain.keystore_dir and chain.keystore_password")
