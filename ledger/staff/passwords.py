"""Password hashing (argon2id, argon2-cffi's defaults: RFC 9106's second recommended option,
64 MiB, 3 passes, 4 lanes) and the password rule (NIST SP 800-63B: length over composition).
"""

from __future__ import annotations

from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ledger.staff.errors import WeakPassword

__all__ = ["MIN_LENGTH", "MAX_LENGTH", "check_rule", "hash_password", "verify_password", "needs_rehash", "DUMMY_HASH"]

MIN_LENGTH: Final = 10
MAX_LENGTH: Final = 256
_HASHER: Final = PasswordHasher()
# Verified against when the login is unknown, so that an unknown login costs the same time.
DUMMY_HASH: Final = _HASHER.hash("tsunagari-timing-equaliser")


def check_rule(password: str, login: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password may have at most {MAX_LENGTH} characters")
    if len(set(password)) < 4:
        raise WeakPassword("the password repeats too few characters")
    local = login.split("@", 1)[0].lower()
    if len(local) >= 4 and local in password.lower():
        raise WeakPassword("the password must not contain the sign-in name")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)
