"""The demo's development sign-in to the staff console (devnet, chain id 31337, only).

One platform operator (``platform``) and one admin per indexed region (``admin-<code>``, e.g.
``admin-15202``) share one random password, made on first start and kept in
``<checkin.secret_file's folder>/console-dev-password`` (mode 600), so a second start signs in the
same way. Nothing of it is in the repository; on any other chain this refuses.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from eth_utils.address import to_checksum_address
from sqlalchemy import Engine, text

from ledger.db.engine import write_transaction
from ledger.errors import ConfigError
from ledger.queries import list_regions
from ledger.settings import Settings
from ledger.staff import accounts
from ledger.staff.passwords import hash_password
from ledger.staff.roles import Actor

__all__ = ["DevSignIn", "ensure_dev_sign_in", "label_operator_keys", "DEVNET_CHAIN_ID"]

DEVNET_CHAIN_ID = 31337


@dataclass(frozen=True)
class DevSignIn:
    password: str
    password_file: Path
    logins: list[tuple[str, int | None]]  # (login, region or None for the platform account)


def _password(path: Path) -> str:
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = "-".join(secrets.token_hex(3) for _ in range(3))  # 9 random bytes, easy to type
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def ensure_dev_sign_in(engine: Engine, settings: Settings, chain_id: int) -> DevSignIn:
    """Create (once) the demo's console accounts with the development password."""
    if chain_id != DEVNET_CHAIN_ID:
        raise ConfigError("the development sign-in exists on the devnet (chain id 31337) only")
    path = settings.checkin.secret_file.parent / "console-dev-password"
    password = _password(path)
    digest = hash_password(password)
    logins: list[tuple[str, int | None]] = [("platform", None)]
    with write_transaction(engine) as conn:
        regions = [r.region for r in list_regions(conn)]
        logins += [(f"admin-{r:05d}", r) for r in regions]
        for login, region in logins:
            exists = conn.execute(text("SELECT 1 FROM staff_accounts WHERE login = :l"), {"l": login}).first()
            if exists is not None:
                continue
            invite = accounts.create_account(
                conn,
                Actor.cli("demo"),
                login=login,
                display_name="デモ運営" if region is None else f"デモ管理者 {region:05d}",
                role="platform" if region is None else "admin",
                region=region,
                settings=settings.console,
            )
            conn.execute(
                text("UPDATE staff_accounts SET password_hash = :p WHERE account_id = :i"),
                {"p": digest, "i": invite.account_id},
            )
            conn.execute(
                text("UPDATE staff_invites SET used_at = created_at WHERE account_id = :i"), {"i": invite.account_id}
            )
    return DevSignIn(password, path, logins)


def label_operator_keys(engine: Engine, labels: dict[str, str]) -> None:
    """Give the server's operator addresses a human label in every region (once; a label staff
    changed in the console stays), so the audit names them instead of showing hex."""
    now = int(time.time())
    with write_transaction(engine) as conn:
        regions = [r.region for r in list_regions(conn)]
        for region in regions:
            for address, label in labels.items():
                conn.execute(
                    text(
                        "INSERT INTO issuer_labels (region, address, label, updated_at) VALUES (:r, :a, :l, :t) "
                        "ON CONFLICT DO NOTHING"
                    ),
                    {"r": region, "a": to_checksum_address(address), "l": label, "t": now},
                )
