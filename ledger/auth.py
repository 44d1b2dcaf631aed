"""Operator and researcher credentials: API keys stored hashed, each with a role and a region scope.

A key is ``tsk_<id>_<secret>``: ``id`` finds the row, ``secret`` (32 random bytes, URL-safe) is
checked against its stored sha256. A fast hash is enough here because the secret has 256 bits of
entropy (nothing to brute-force, unlike a password); the comparison is constant-time. The plain
key is shown once, when it is created, and never stored.

Roles: ``operator`` (region staff: scoped to one region), ``researcher`` (reads exports of every
region, or of one), ``platform`` (the consortium's operators: every region).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, text

from ledger.errors import InvalidInput, TsunagariError

__all__ = [
    "ROLES",
    "Role",
    "Credential",
    "AuthError",
    "create_api_key",
    "authenticate",
    "revoke_api_key",
    "list_api_keys",
]

Role = Literal["operator", "researcher", "platform"]
ROLES: tuple[Role, ...] = ("operator", "researcher", "platform")
_PREFIX = "tsk"


class AuthError(TsunagariError):
    """A missing, malformed, unknown or revoked credential."""


@dataclass(frozen=True)
class Credential:
    """Who is calling: a key's id, label, role and region scope (None = every region)."""

    key_id: str
    label: str
    role: Role
    region: int | None

    def may_access_region(self, region: int) -> bool:
        return self.region is None or self.region == region


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(conn: Connection, role: Role, label: str, region: int | None = None) -> tuple[str, Credential]:
    """Store a new key; returns the plain key (show it once) and its credential."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if role == "operator" and region is None:
        raise InvalidInput("an operator key must be scoped to a region")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        text(
            "INSERT INTO api_keys (key_id, secret_sha256, label, role, region, created_at, revoked_at) "
            "VALUES (:i, :h, :l, :r, :g, :t, NULL)"
        ),
        {"i": key_id, "h": _digest(secret), "l": label, "r": role, "g": region, "t": int(time.time())},
    )
    return f"{_PREFIX}_{key_id}_{secret}", Credential(key_id, label, role, region)


def authenticate(conn: Connection, key: str) -> Credential:
    """The credential of ``key``; :class:`AuthError` when it is not a live key."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or not parts[2]:
        raise AuthError("malformed API key")
    row = conn.execute(
        text("SELECT secret_sha256, label, role, region, revoked_at FROM api_keys WHERE key_id = :i"), {"i": parts[1]}
    ).first()
    if row is None or not hmac.compare_digest(str(row[0]), _digest(parts[2])):
        raise AuthError("unknown API key")
    if row[4] is not None:
        raise AuthError("this API key was revoked")
    return Credential(parts[1], str(row[1]), row[2], None if row[3] is None else int(row[3]))


def revoke_api_key(conn: Connection, key_id: str) -> bool:
    result = conn.execute(
        text("UPDATE api_keys SET revoked_at = :t WHERE key_id = :i AND revoked_at IS NULL"),
        {"t": int(time.time()), "i": key_id},
    )
    return bool(result.rowcount)


def list_api_keys(conn: Connection) -> list[tuple[Credential, int, int | None]]:
    """Every key (never its secret): credential, created_at, revoked_at."""
    return [
        (Credential(str(r[0]), str(r[1]), r[2], None if r[3] is None else int(r[3])), int(r[4]), r[5])
        for r in conn.execute(
            text("SELECT key_id, label, role, region, created_at, revoked_at FROM api_keys ORDER BY created_at")
        )
    ]
