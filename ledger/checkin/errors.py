"""Why a check-in was refused: one stable code per cause (the API maps codes to HTTP statuses).

Codes: ``token_malformed``, ``token_forged``, ``token_expired``, ``token_wrong_activity``,
``token_wrong_region``, ``bad_address``, ``bad_signature``, ``unknown_activity``,
``activity_closed``, ``activity_not_started``, ``activity_ended``, ``activity_full``,
``already_claimed``, ``replayed_request``, ``rate_limited``, ``kiosk_session_invalid``,
``unknown_claim``, ``invalid_units`` (a kiosk opened for more hours or days than the activity's cap,
or for several units of an activity rewarded per visit, or a staff correction out of range).

Single-use codes (:mod:`.codes`): ``code_unknown``, ``code_mistyped``, ``code_used``,
``code_voided``, ``code_expired``. Check-in and check-out (:mod:`.presence`): ``not_checked_in``
(a check-out without a check-in), ``already_checked_in``, ``checkin_expired`` (too late to check
out yourself), ``overlapping_stay``.
"""

from __future__ import annotations

from ledger.errors import TsunagariError

__all__ = ["CheckinRejected", "REJECTION_CODES"]

REJECTION_CODES = frozenset(
    {
        "token_malformed",
        "token_forged",
        "token_expired",
        "token_wrong_activity",
        "token_wrong_region",
        "bad_address",
        "bad_signature",
        "unknown_activity",
        "activity_closed",
        "activity_not_started",
        "activity_ended",
        "activity_full",
        "already_claimed",
        "replayed_request",
        "rate_limited",
        "kiosk_session_invalid",
        "unknown_claim",
        "invalid_units",
        "code_unknown",
        "code_mistyped",
        "code_used",
        "code_voided",
        "code_expired",
        "not_checked_in",
        "already_checked_in",
        "checkin_expired",
        "overlapping_stay",
    }
)


class CheckinRejected(TsunagariError):
    """A claim (or kiosk request) refused for a reason the participant can be told."""

    def __init__(
        self, code: str, message: str, *, claim_id: int | None = None, retry_after_s: float | None = None
    ) -> None:
        if code not in REJECTION_CODES:
            raise ValueError(f"unknown rejection code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.claim_id = claim_id
        self.retry_after_s = retry_after_s
