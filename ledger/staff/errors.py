"""Errors of the staff console (a branch of :class:`ledger.errors.TsunagariError`)::

StaffError
├── SignInFailed       wrong login, password or TOTP code (one message for all: no account probing)
├── AccountLocked      too many wrong passwords: locked until a time
├── TooManyAttempts    too many failed sign-ins from one address: wait
├── InviteInvalid      an unknown, used or expired invite link
├── WeakPassword       the password breaks the rule (length, the login inside it)
├── SessionInvalid     no session, or an expired, revoked or disabled one
├── CsrfRejected       a state-changing request without the session's CSRF token
├── Forbidden          the role lacks the permission
├── WrongRegion        another region's data
├── AccountExists      the login is taken
└── UnknownAccount     no such account (in the caller's region)
"""

from __future__ import annotations

from ledger.errors import TsunagariError

__all__ = [
    "StaffError",
    "SignInFailed",
    "AccountLocked",
    "TooManyAttempts",
    "InviteInvalid",
    "WeakPassword",
    "SessionInvalid",
    "CsrfRejected",
    "Forbidden",
    "WrongRegion",
    "AccountExists",
    "UnknownAccount",
]


class StaffError(TsunagariError):
    """A console request that cannot go through; ``code`` is the stable machine-readable name."""

    code = "staff_error"


class SignInFailed(StaffError):
    code = "sign_in_failed"


class AccountLocked(StaffError):
    code = "account_locked"

    def __init__(self, message: str, until: int) -> None:
        super().__init__(message)
        self.until = until


class TooManyAttempts(StaffError):
    code = "too_many_attempts"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InviteInvalid(StaffError):
    code = "invite_invalid"


class WeakPassword(StaffError):
    code = "weak_password"


class SessionInvalid(StaffError):
    code = "session_invalid"


class CsrfRejected(StaffError):
    code = "csrf_rejected"


class Forbidden(StaffError):
    code = "forbidden"


class WrongRegion(StaffError):
    code = "wrong_region"


class AccountExists(StaffError):
    code = "account_exists"


class UnknownAccount(StaffError):
    code = "unknown_account"
