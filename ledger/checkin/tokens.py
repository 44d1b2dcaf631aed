"""Kiosk tokens: what the rotating QR code carries, and the kiosk session an operator opens.

**QR token** (``docs/checkin.md`` has the full format): 28 bytes, base64url without padding (38
characters, so the QR code stays small and easy to scan)::

    version (1) | region (4) | activity id (6) | slot (5) | mac (12)

``slot`` is ``floor(unix_time / rotation_s)``: the kiosk shows the token of the current slot and
replaces it when the slot changes. ``mac`` is the first 12 bytes (96 bits) of
``HMAC-SHA256(key, "tsunagari/kiosk-token/v1" | chain id (8) | ledger address (20) | the 16 bytes
before the mac)``, so a token is bound to one deployment, one region and one activity, and cannot be
forged without the server's key; 96 bits leave an online forger no chance. A token is valid from
its slot's start (less a small clock skew) until ``grace_s`` after the slot ended: a phone that
scanned the code just before it rotated still gets in.

**Kiosk session**: the kiosk page's URL carries ``ks1.<activity id>.<expires>.<mac>`` with
``mac = HMAC-SHA256(key, "tsunagari/kiosk-session/v1" | chain id | ledger | activity | expires)``,
so a tablet at the venue needs no operator API key, only a URL that works for one activity until
it expires.

The key is ``checkin.secret`` or, when unset, 32 random bytes generated once into
``checkin.secret_file`` (mode 600) and shared by every API process using that folder.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ledger.checkin.errors import CheckinRejected
from ledger.settings import CheckinSettings

__all__ = [
    "TOKEN_VERSION",
    "CLOCK_SKEW_S",
    "TokenPayload",
    "KioskTokens",
    "load_secret",
]

TOKEN_VERSION = 1
CLOCK_SKEW_S = 5  # a token is accepted this long before its slot starts (server clocks differ a little)
_MAC_BYTES = 12
_BODY_BYTES = 1 + 4 + 6 + 5
_TOKEN_BYTES = _BODY_BYTES + _MAC_BYTES
_TOKEN_LABEL = b"tsunagari/kiosk-token/v1"
_SESSION_LABEL = b"tsunagari/kiosk-session/v1"
_SESSION_PREFIX = "ks1"


@dataclass(frozen=True)
class TokenPayload:
    """What a valid QR token says."""

    region: int
    activity_id: int
    slot: int
    expires_at: int  # unix seconds after which the token is refused


def load_secret(settings: CheckinSettings) -> bytes:
    """The HMAC key: the configured secret, else the key file (created on first use, mode 600)."""
    if settings.secret is not None and settings.secret.get_secret_value():
        return settings.secret.get_secret_value().encode()
    path: Path = settings.secret_file
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    except ValueError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_bytes(32)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(fresh.hex())
    try:
        os.link(temp, path)  # atomic and refuses to overwrite: two processes starting at once agree
    except FileExistsError:
        temp.unlink()
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    temp.unlink()
    return fresh


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KioskTokens:
    """Issues and checks QR tokens and kiosk sessions for one deployment (chain id + ledger)."""

    def __init__(self, key: bytes, chain_id: int, ledger: str, *, rotation_s: int = 30, grace_s: int = 30) -> None:
        if len(key) < 16:
            raise ValueError("the kiosk key must be at least 16 bytes")
        self._key = key
        self._context = chain_id.to_bytes(8, "big") + bytes.fromhex(ledger.removeprefix("0x"))
        self.rotation_s = rotation_s
        self.grace_s = grace_s

    # -- QR tokens ---------------------------------------------------------------------------------

    def slot_at(self, now: float) -> int:
        return int(now) // self.rotation_s

    def rotates_at(self, slot: int) -> int:
        """When ``slot``'s code is replaced on the kiosk."""
        return (slot + 1) * self.rotation_s

    def _mac(self, label: bytes, body: bytes) -> bytes:
        return hmac.new(self._key, label + self._context + body, hashlib.sha256).digest()

    def issue(self, region: int, activity_id: int, slot: int) -> str:
        body = (
            TOKEN_VERSION.to_bytes(1, "big")
            + region.to_bytes(4, "big")
            + activity_id.to_bytes(6, "big")
            + slot.to_bytes(5, "big")
        )
        return _b64(body + self._mac(_TOKEN_LABEL, body)[:_MAC_BYTES])

    def verify(self, token: str, now: float) -> TokenPayload:
        """The token's payload; :class:`CheckinRejected` (``token_*`` codes) when it is not valid now."""
        if not isinstance(token, str) or len(token) != 38 or not token.isascii():
            raise CheckinRejected("token_malformed", "this is not a Tsunagari check-in code")
        try:
            raw = _unb64(token)
        except (binascii.Error, ValueError):
            raise CheckinRejected("token_malformed", "this is not a Tsunagari check-in code") from None
        if len(raw) != _TOKEN_BYTES or raw[0] != TOKEN_VERSION:
            raise CheckinRejected("token_malformed", "unknown check-in code version")
        body, mac = raw[:_BODY_BYTES], raw[_BODY_BYTES:]
        if not hmac.compare_digest(mac, self._mac(_TOKEN_LABEL, body)[:_MAC_BYTES]):
            raise CheckinRejected("token_forged", "this check-in code was not issued by this server")
        region = int.from_bytes(body[1:5], "big")
        activity_id = int.from_bytes(body[5:11], "big")
        slot = int.from_bytes(body[11:16], "big")
        starts = slot * self.rotation_s
        expires = starts + self.rotation_s + self.grace_s
        if now < starts - CLOCK_SKEW_S:
            raise CheckinRejected("token_forged", "this check-in code is from the future")
        if now >= expires:
            raise CheckinRejected("token_expired", "this check-in code has expired: scan the screen again")
        return TokenPayload(region=region, activity_id=activity_id, slot=slot, expires_at=expires)

    # -- kiosk sessions ----------------------------------------------------------------------------

    def open_session(self, activity_id: int, expires_at: int) -> str:
        body = activity_id.to_bytes(8, "big") + expires_at.to_bytes(8, "big")
        return f"{_SESSION_PREFIX}.{activity_id}.{expires_at}.{_b64(self._mac(_SESSION_LABEL, body)[:16])}"

    def check_session(self, session: str, activity_id: int, now: float) -> int:
        """The session's expiry; :class:`CheckinRejected` ``kiosk_session_invalid`` otherwise."""
        parts = session.split(".") if isinstance(session, str) else []
        invalid = CheckinRejected("kiosk_session_invalid", "this kiosk link is not valid: open the kiosk again")
        if len(parts) != 4 or parts[0] != _SESSION_PREFIX or not parts[1].isdigit() or not parts[2].isdigit():
            raise invalid
        session_activity, expires = int(parts[1]), int(parts[2])
        if session_activity != activity_id or expires >= 1 << 63:
            raise invalid
        body = session_activity.to_bytes(8, "big") + expires.to_bytes(8, "big")
        try:
            mac = _unb64(parts[3])
        except (binascii.Error, ValueError):
            raise invalid from None
        if not hmac.compare_digest(mac, self._mac(_SESSION_LABEL, body)[:16]):
            raise invalid
        if now >= expires:
            raise CheckinRejected("kiosk_session_invalid", "this kiosk link has expired: open the kiosk again")
        return expires
