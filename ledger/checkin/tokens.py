"""Kiosk tokens: what the rotating QR code carries, and the kiosk session an operator opens.

**QR token** (``docs/checkin.md`` has the full format): 28 bytes, base64url without padding (38
characters, so the QR code stays small and easy to scan)::

    version (1) = 2 | region (4) | activity id (5) | units (2) | slot (4) | mac (12)

``units`` is what a check-in with this code records (hours of help, days of a stay; 1 for a visit or
an event): the staff choose it when they open the kiosk of an activity rewarded per hour or day, up
to the activity's on-chain cap. Version 1 (activity id 6 bytes, slot 5, no units) belonged to ledger
v1 and is refused: a v2 ledger is a new deployment, so no v1 code can be valid for it anyway.
``slot`` is ``floor(unix_time / rotation_s)`` (4 bytes: until the year 6000 at 30 s): the kiosk
shows the token of the current slot and replaces it when the slot changes. ``mac`` is the first 12
bytes (96 bits) of ``HMAC-SHA256(key, "tsunagari/kiosk-token/v1" | chain id (8) | ledger address
(20) | the 16 bytes before the mac)``, so a token is bound to one deployment, one region, one
activity and one unit count, and cannot be forged without the server's key; 96 bits leave an
online forger no chance. A token is valid from
its slot's start (less a small clock skew) until ``grace_s`` after the slot ended: a phone that
scanned the code just before it rotated still gets in.

**Kiosk session**: the kiosk page's URL carries ``ks2.<activity id>.<units>.<expires>.<mac>`` with
``mac = HMAC-SHA256(key, "tsunagari/kiosk-session/v2" | chain id | ledger | activity | units |
expires)``, so a tablet at the venue needs no operator API key, only a URL that works for one
activity (and one unit count) until it expires.

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
    "KioskSession",
    "KioskTokens",
    "MAX_TOKEN_UNITS",
    "load_secret",
]

TOKEN_VERSION = 2
CLOCK_SKEW_S = 5  # a token is accepted this long before its slot starts (server clocks differ a little)
_MAC_BYTES = 12
_BODY_BYTES = 1 + 4 + 5 + 2 + 4
_TOKEN_BYTES = _BODY_BYTES + _MAC_BYTES
_TOKEN_LABEL = b"tsunagari/kiosk-token/v1"
_SESSION_LABEL = b"tsunagari/kiosk-session/v2"
_SESSION_PREFIX = "ks2"
MAX_TOKEN_UNITS = 2**16 - 1  # the contract's uint16 units
MAX_TOKEN_ACTIVITY = 2**40 - 1  # the contract's 40-bit activity ids


@dataclass(frozen=True)
class TokenPayload:
    """What a valid QR token says."""

    region: int
    activity_id: int
    slot: int
    expires_at: int  # unix seconds after which the token is refused
    units: int = 1  # hours or days a check-in with this code records (1 for a visit; 0: arrival/departure)
    code: str | None = None  # the canonical single-use claim code, when the "token" was one (codes.py)


@dataclass(frozen=True)
class KioskSession:
    """What a valid kiosk link says: the activity, the units its codes record, and its expiry."""

    activity_id: int
    units: int
    expires_at: int


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

    def issue(self, region: int, activity_id: int, slot: int, units: int = 1) -> str:
        if not 0 <= units <= MAX_TOKEN_UNITS:
            raise ValueError(f"units must be 0..{MAX_TOKEN_UNITS}, not {units}")
        body = (
            TOKEN_VERSION.to_bytes(1, "big")
            + region.to_bytes(4, "big")
            + activity_id.to_bytes(5, "big")
            + units.to_bytes(2, "big")
            + slot.to_bytes(4, "big")
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
        if _b64(raw) != token:  # the spare bits of the last character were changed: not a code this server made
            raise CheckinRejected("token_forged", "this check-in code was not issued by this server")
        body, mac = raw[:_BODY_BYTES], raw[_BODY_BYTES:]
        if not hmac.compare_digest(mac, self._mac(_TOKEN_LABEL, body)[:_MAC_BYTES]):
            raise CheckinRejected("token_forged", "this check-in code was not issued by this server")
        region = int.from_bytes(body[1:5], "big")
        activity_id = int.from_bytes(body[5:10], "big")
        units = int.from_bytes(body[10:12], "big")
        slot = int.from_bytes(body[12:16], "big")
        starts = slot * self.rotation_s
        expires = starts + self.rotation_s + self.grace_s
        if now < starts - CLOCK_SKEW_S:
            raise CheckinRejected("token_forged", "this check-in code is from the future")
        if now >= expires:
            raise CheckinRejected("token_expired", "this check-in code has expired: scan the screen again")
        return TokenPayload(region=region, activity_id=activity_id, slot=slot, expires_at=expires, units=units)

    # -- kiosk sessions ----------------------------------------------------------------------------

    def open_session(self, activity_id: int, expires_at: int, units: int = 1) -> str:
        if not 0 <= units <= MAX_TOKEN_UNITS:
            raise ValueError(f"units must be 0..{MAX_TOKEN_UNITS}, not {units}")
        body = activity_id.to_bytes(8, "big") + units.to_bytes(2, "big") + expires_at.to_bytes(8, "big")
        mac = _b64(self._mac(_SESSION_LABEL, body)[:16])
        return f"{_SESSION_PREFIX}.{activity_id}.{units}.{expires_at}.{mac}"

    def check_session(self, session: str, activity_id: int, now: float) -> KioskSession:
        """The session's unit count and expiry; :class:`CheckinRejected` ``kiosk_session_invalid`` otherwise."""
        parts = session.split(".") if isinstance(session, str) else []
        invalid = CheckinRejected("kiosk_session_invalid", "this kiosk link is not valid: open the kiosk again")
        if len(parts) != 5 or parts[0] != _SESSION_PREFIX or not all(p.isdigit() and len(p) < 20 for p in parts[1:4]):
            raise invalid
        session_activity, units, expires = int(parts[1]), int(parts[2]), int(parts[3])
        if session_activity != activity_id or expires >= 1 << 63 or not 0 <= units <= MAX_TOKEN_UNITS:
            raise invalid
        body = session_activity.to_bytes(8, "big") + units.to_bytes(2, "big") + expires.to_bytes(8, "big")
        try:
            mac = _unb64(parts[4])
        except (binascii.Error, ValueError):
            raise invalid from None
        if not hmac.compare_digest(mac, self._mac(_SESSION_LABEL, body)[:16]):
            raise invalid
        if now >= expires:
            raise CheckinRejected("kiosk_session_invalid", "this kiosk link has expired: open the kiosk again")
        return KioskSession(activity_id=session_activity, units=units, expires_at=expires)
