"""Per-export pseudonyms for people's addresses.

``pseudonym = "p_" + hex(sha256(salt ‖ address))[:32]`` where ``address`` is the 20 address bytes
and ``salt`` a secret of at least 16 bytes (32 random bytes unless the operator chooses one). The
salt stays with the exporter; the export carries only a fingerprint of it
(``sha256("tsunagari-export-salt-v1" ‖ salt)``), so ``verify`` can tell a wrong salt from edited
data. Two exports made with different salts give the same person different pseudonyms; an operator
who wants exports to be joinable reuses one salt on purpose.

What this does not protect is in docs/export.md ("What pseudonymisation protects"): with access to
the chain, the provenance columns lead to the log and its raw address.
"""

from __future__ import annotations

import hashlib
import secrets

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ledger.export.errors import InvalidExportOptions

__all__ = ["PREFIX", "SALT_BYTES", "MIN_SALT_BYTES", "new_salt", "salt_fingerprint", "Pseudonymiser"]

PREFIX = "p_"
SALT_BYTES = 32
MIN_SALT_BYTES = 16
_DIGEST_HEX = 32  # 128 bits: collisions are out of reach for any population of people
_FINGERPRINT_TAG = b"tsunagari-export-salt-v1"
_CACHE_LIMIT = 262_144  # bounded, so memory does not grow with the number of people


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def salt_fingerprint(salt: bytes) -> str:
    return hashlib.sha256(_FINGERPRINT_TAG + salt).hexdigest()


class Pseudonymiser:
    """Maps lowercase ``0x`` addresses to pseudonyms under one salt (a bounded cache keeps it fast)."""

    def __init__(self, salt: bytes) -> None:
        if not isinstance(salt, bytes) or len(salt) < MIN_SALT_BYTES:
            raise InvalidExportOptions(f"the salt must be at least {MIN_SALT_BYTES} bytes")
        self._base = hashlib.sha256(salt)
        self._cache: dict[str, str] = {}

    def one(self, address: str) -> str:
        cached = self._cache.get(address)
        if cached is not None:
            return cached
        digest = self._base.copy()
        try:
            digest.update(bytes.fromhex(address[2:] if address.startswith(("0x", "0X")) else address))
        except ValueError:
            # Not an address (an edited or foreign value): hash its text so it still maps to a
            # pseudonym that matches nothing real.
            digest.update(address.encode("utf-8"))
        value = PREFIX + digest.hexdigest()[:_DIGEST_HEX]
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[address] = value
        return value

    def array(self, addresses: pa.Array) -> pa.Array:
        """Pseudonymise an Arrow string array, hashing each distinct address once."""
        encoded = addresses.dictionary_encode()
        uniques = encoded.dictionary.to_pylist()
        get = self._cache.get
        mapped = [get(a) for a in uniques]
        one = self.one
        for i, value in enumerate(mapped):
            if value is None and uniques[i] is not None:
                mapped[i] = one(uniques[i])
        return pc.take(pa.array(mapped, pa.string()), encoded.indices)
