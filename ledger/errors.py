"""The one exception tree of ``ledger``; ``api/`` and the CLI translate it at their edges.

::

    TsunagariError
    ├── InvalidInput           a caller's value that cannot be used (also a ``ValueError``): 422 ``invalid``
    │   ├── JisCodeError (ledger.municipalities), NotPresenceActivity (ledger.console.presence),
    │   │   CodeInputInvalid (ledger.console.codes)
    │   └── ImageTooLarge (ledger.console.projects): 413 ``too_large``
    ├── ConfigError            settings that cannot work (devnet key on a real chain, missing keystore)
    ├── BuildError             compiling contracts failed or the artifacts are missing/stale
    ├── ChainUnavailable       the JSON-RPC node cannot be reached or keeps failing
    ├── DeploymentNotFound     no deployments file for this chain id
    ├── TransactionFailed      a transaction was mined but reverted without a known error
    └── ContractError          a known custom error of our contracts (one subclass per error)
        ├── UnknownRegion, RegionExists, InvalidRegionCode, NotRegionAdmin, NotIssuer, RegionPaused
        ├── InvalidKind, InvalidWindow, UnknownActivity, ActivityClosed, ActivityNotStarted,
        │   ActivityEnded, ActivityFull, ActivityRegionMismatch, DuplicateContribution
        ├── ActivityIdsExhausted, UnknownRole, BatchAlreadyRecorded, BatchOutOfOrder, InvalidBatch,
        │   ZeroAddress, RecordNotFound, AlreadyRevoked,
        │   InvalidReason, UnknownProject, ProjectClosed, ZeroAmount, InsufficientBalance
        ├── SignatureExpired, InvalidSignature, NonceAlreadyUsed, TransfersDisabled,
        │   NotRegionCoin, AllowancesUnsupported, Paused, NotPaused, MissingRole,
        │   BadRenounceConfirmation, StringTooLong, InvalidShortString
        ├── PausedByPlatform, InvalidUnitTerms, ActivityStarted, InvalidUnits, BalanceOverflow,
        │   InvalidRecipient, ExpiryLocked (contract v2)
        └── (any other custom error decodes to ContractError itself)

Each area keeps its own errors beside its code, all under this root (``tests/ledger/test_error_tree``
walks every module of ``ledger`` and checks it; a class whose name starts with ``_`` is a signal
caught inside its own module and is exempt)::

    TsunagariError
    ├── AuthError (ledger.auth)                         API keys
    ├── StaffError (ledger.staff.errors)                the console: sign-in, sessions, roles
    │   └── ProjectNotFound, BatchNotFound (ledger.console)
    ├── CheckinRejected (ledger.checkin.errors)         a refused claim, with its code
    ├── CertificateFormatError, CertificateRequestError, ListingRefused (ledger.certificate)
    ├── ExportError (ledger.export.errors)              export and verify
    ├── RpcError → RangeTooLarge (ledger.indexer.rpc), ReorgTooDeep (ledger.indexer.runner),
    │   MissingActivity (ledger.indexer.handlers)
    ├── DecodeError (ledger.chain.decoding)             a log or revert that does not decode
    ├── SupportRefused (ledger.relay.support_intake), Moved, SeqTaken (ledger.relay.outbox)
    └── SeedFailed (ledger.demo_seed.run)

HTTP statuses are given to these only in ``api/errors.py``; the CLI turns any of them into one line
and exit code 1. A plain ``ValueError`` from ``ledger`` is a programming error (a 500), never a 422.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

__all__ = [
    "error_code",
    "TsunagariError",
    "InvalidInput",
    "ConfigError",
    "BuildError",
    "ChainUnavailable",
    "DeploymentNotFound",
    "TransactionFailed",
    "ContractError",
    "CONTRACT_ERRORS",
    "UnknownRegion",
    "RegionExists",
    "InvalidRegionCode",
    "NotRegionAdmin",
    "NotIssuer",
    "RegionPaused",
    "InvalidKind",
    "InvalidWindow",
    "UnknownActivity",
    "ActivityClosed",
    "ActivityNotStarted",
    "ActivityEnded",
    "ActivityFull",
    "ActivityRegionMismatch",
    "BatchAlreadyRecorded",
    "InvalidBatch",
    "ZeroAddress",
    "RecordNotFound",
    "AlreadyRevoked",
    "InvalidReason",
    "UnknownProject",
    "ProjectClosed",
    "ZeroAmount",
    "SignatureExpired",
    "DuplicateContribution",
    "ActivityIdsExhausted",
    "UnknownRole",
    "BatchOutOfOrder",
    "InsufficientBalance",
    "InvalidSignature",
    "NonceAlreadyUsed",
    "TransfersDisabled",
    "NotRegionCoin",
    "AllowancesUnsupported",
    "Paused",
    "MissingRole",
    "NotPaused",
    "BadRenounceConfirmation",
    "StringTooLong",
    "InvalidShortString",
    "PausedByPlatform",
    "InvalidUnitTerms",
    "ActivityStarted",
    "InvalidUnits",
    "BalanceOverflow",
    "InvalidRecipient",
    "ExpiryLocked",
]


def error_code(error: BaseException) -> str:
    """A stable snake_case code for an error, as the outbox and the API show it:
    ``ActivityClosed`` → ``activity_closed``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


class TsunagariError(Exception):
    """Root of every error ``ledger`` raises on purpose."""


class InvalidInput(TsunagariError, ValueError):
    """A value given by a caller (a person, staff, a request) that cannot be used as given.

    Also a ``ValueError``, so code that validated with ``except ValueError`` keeps working; the API
    answers it with 422 ``invalid`` and the message, the CLI with the message on one line.
    """


class ConfigError(TsunagariError):
    """The settings cannot work as given."""


class BuildError(TsunagariError):
    """Compiling failed, or committed artifacts are missing or do not match the sources."""


class ChainUnavailable(TsunagariError):
    """The chain node cannot be reached (or keeps failing) after retries."""


class DeploymentNotFound(TsunagariError):
    """No deployment of the ledger is known for the connected chain."""


class TransactionFailed(TsunagariError):
    """A transaction reverted without a custom error we know."""


class ContractError(TsunagariError):
    """A custom error raised by our contracts, decoded with its arguments.

    ``solidity_name`` is the error's name in Solidity, ``args`` its decoded arguments by name.
    """

    solidity_name: ClassVar[str] = ""
    template: ClassVar[str] = "{name}({args})"

    def __init__(self, name: str, args: dict[str, Any]) -> None:
        self.name = name
        self.args_by_name = args
        super().__init__(self._message())

    def _message(self) -> str:
        try:
            return self.template.format(name=self.name, args=self.args_by_name, **self.args_by_name)
        except (KeyError, IndexError):
            return f"{self.name}({self.args_by_name})"


class UnknownRegion(ContractError):
    """LedgerUnknownRegion."""

    solidity_name = "LedgerUnknownRegion"
    template = "region {region} is not registered"


class RegionExists(ContractError):
    """LedgerRegionExists."""

    solidity_name = "LedgerRegionExists"
    template = "region {region} is already registered"


class InvalidRegionCode(ContractError):
    """LedgerInvalidRegionCode."""

    solidity_name = "LedgerInvalidRegionCode"
    template = "{region} is not a JIS municipality code (1..999999)"


class NotRegionAdmin(ContractError):
    """LedgerNotRegionAdmin."""

    solidity_name = "LedgerNotRegionAdmin"
    template = "{account} is not an admin of region {region}"


class NotIssuer(ContractError):
    """LedgerNotIssuer."""

    solidity_name = "LedgerNotIssuer"
    template = "{account} is not an issuer of region {region}"


class RegionPaused(ContractError):
    """LedgerRegionPaused."""

    solidity_name = "LedgerRegionPaused"
    template = "region {region} is paused"


class InvalidKind(ContractError):
    """LedgerInvalidKind."""

    solidity_name = "LedgerInvalidKind"
    template = "{kind} is not a known contribution kind"


class InvalidWindow(ContractError):
    """LedgerInvalidWindow."""

    solidity_name = "LedgerInvalidWindow"
    template = "the window ends ({endsAt}) before it starts ({startsAt})"


class UnknownActivity(ContractError):
    """LedgerUnknownActivity."""

    solidity_name = "LedgerUnknownActivity"
    template = "activity {activityId} does not exist"


class ActivityClosed(ContractError):
    """LedgerActivityClosed."""

    solidity_name = "LedgerActivityClosed"
    template = "activity {activityId} is closed"


class ActivityNotStarted(ContractError):
    """LedgerActivityNotStarted."""

    solidity_name = "LedgerActivityNotStarted"
    template = "activity {activityId} opens at {startsAt}"


class ActivityEnded(ContractError):
    """LedgerActivityEnded."""

    solidity_name = "LedgerActivityEnded"
    template = "activity {activityId} ended at {endsAt}"


class ActivityFull(ContractError):
    """LedgerActivityFull."""

    solidity_name = "LedgerActivityFull"
    template = "activity {activityId} is full (capacity {capacity})"


class ActivityRegionMismatch(ContractError):
    """LedgerActivityRegionMismatch."""

    solidity_name = "LedgerActivityRegionMismatch"
    template = "activity {activityId} is not in region {region}"


class BatchAlreadyRecorded(ContractError):
    """LedgerBatchAlreadyRecorded."""

    solidity_name = "LedgerBatchAlreadyRecorded"
    template = "{issuer} already recorded batch {batchSeq} in region {region}"


class InvalidBatch(ContractError):
    """LedgerInvalidBatch."""

    solidity_name = "LedgerInvalidBatch"
    template = "a batch needs 1 to 1000 records, with ids below 2^40"


class ZeroAddress(ContractError):
    """LedgerZeroAddress."""

    solidity_name = "LedgerZeroAddress"
    template = "the zero address is not allowed here"


class RecordNotFound(ContractError):
    """LedgerRecordNotFound."""

    solidity_name = "LedgerRecordNotFound"
    template = "batch {batchSeq} of {issuer} in region {region} does not hold these records"


class AlreadyRevoked(ContractError):
    """LedgerAlreadyRevoked."""

    solidity_name = "LedgerAlreadyRevoked"
    template = "the record of {participant} for activity {activityId} is revoked"


class InvalidReason(ContractError):
    """LedgerInvalidReason."""

    solidity_name = "LedgerInvalidReason"
    template = "{reason} is not a revocation reason (1..5)"


class UnknownProject(ContractError):
    """LedgerUnknownProject."""

    solidity_name = "LedgerUnknownProject"
    template = "project {projectId} does not exist"


class ProjectClosed(ContractError):
    """LedgerProjectClosed."""

    solidity_name = "LedgerProjectClosed"
    template = "project {projectId} is closed"


class ZeroAmount(ContractError):
    """LedgerZeroAmount."""

    solidity_name = "LedgerZeroAmount"
    template = "the amount must be positive"


class ActivityIdsExhausted(ContractError):
    """LedgerActivityIdsExhausted."""

    solidity_name = "LedgerActivityIdsExhausted"
    template = "no activity ids are left"


class UnknownRole(ContractError):
    """LedgerUnknownRole."""

    solidity_name = "LedgerUnknownRole"
    template = "role {role} belongs to no registered region"


class DuplicateContribution(ContractError):
    """LedgerDuplicateContribution."""

    solidity_name = "LedgerDuplicateContribution"
    template = "{participant} already has a record for activity {activityId}"


class BatchOutOfOrder(ContractError):
    """LedgerBatchOutOfOrder."""

    solidity_name = "LedgerBatchOutOfOrder"
    template = "{issuer}'s next batch in region {region} must be number {expected}"


class InsufficientBalance(ContractError):
    """LedgerInsufficientBalance."""

    solidity_name = "LedgerInsufficientBalance"
    template = "{holder} holds {balance} coins of region {region}, {needed} needed"


class SignatureExpired(ContractError):
    """LedgerSignatureExpired."""

    solidity_name = "LedgerSignatureExpired"
    template = "the signature expired at {deadline}"


class InvalidSignature(ContractError):
    """LedgerInvalidSignature."""

    solidity_name = "LedgerInvalidSignature"
    template = "the signature is not {supporter}'s"


class NonceAlreadyUsed(ContractError):
    """InvalidAccountNonce."""

    solidity_name = "InvalidAccountNonce"
    template = "nonce is not {currentNonce}, the next one for {account}"


class TransfersDisabled(ContractError):
    """LedgerTransfersDisabled."""

    solidity_name = "LedgerTransfersDisabled"
    template = "coins of region {region} cannot be transferred"


class NotRegionCoin(ContractError):
    """LedgerNotRegionCoin."""

    solidity_name = "LedgerNotRegionCoin"
    template = "{caller} is not the coin of region {region}"


class AllowancesUnsupported(ContractError):
    """RegionCoinAllowancesUnsupported."""

    solidity_name = "RegionCoinAllowancesUnsupported"
    template = "region coins have no allowances"


class Paused(ContractError):
    """EnforcedPause."""

    solidity_name = "EnforcedPause"
    template = "the ledger is paused"


class MissingRole(ContractError):
    """AccessControlUnauthorizedAccount."""

    solidity_name = "AccessControlUnauthorizedAccount"
    template = "{account} lacks role {neededRole}"


class NotPaused(ContractError):
    """ExpectedPause."""

    solidity_name = "ExpectedPause"
    template = "the ledger is not paused"


class BadRenounceConfirmation(ContractError):
    """AccessControlBadConfirmation."""

    solidity_name = "AccessControlBadConfirmation"
    template = "an account can only renounce its own roles"


class StringTooLong(ContractError):
    """StringTooLong (OpenZeppelin ShortStrings)."""

    solidity_name = "StringTooLong"
    template = "string too long: {str}"


class InvalidShortString(ContractError):
    """InvalidShortString (OpenZeppelin ShortStrings)."""

    solidity_name = "InvalidShortString"
    template = "invalid short string"


class PausedByPlatform(ContractError):
    """LedgerPausedByPlatform."""

    solidity_name = "LedgerPausedByPlatform"
    template = "region {region} was paused by the platform admin, who alone can lift it"


class InvalidUnitTerms(ContractError):
    """LedgerInvalidUnitTerms."""

    solidity_name = "LedgerInvalidUnitTerms"
    template = "unit {unit} with at most {maxUnits} units per record is not a valid reward rule"


class ActivityStarted(ContractError):
    """LedgerActivityStarted."""

    solidity_name = "LedgerActivityStarted"
    template = "activity {activityId} started at {startsAt}: its designation is fixed"


class InvalidUnits(ContractError):
    """LedgerInvalidUnits."""

    solidity_name = "LedgerInvalidUnits"
    template = "{units} units is outside 1..{maxUnits} for activity {activityId}"


class BalanceOverflow(ContractError):
    """LedgerBalanceOverflow."""

    solidity_name = "LedgerBalanceOverflow"
    template = "the coins of {holder} in region {region} would exceed 2^40"


class InvalidRecipient(ContractError):
    """LedgerInvalidRecipient."""

    solidity_name = "LedgerInvalidRecipient"
    template = "coins cannot be sent to {to} (the ledger or a coin contract)"


class ExpiryLocked(ContractError):
    """LedgerExpiryLocked."""

    solidity_name = "LedgerExpiryLocked"
    template = "region {region} has minted coins: its expiry rule can no longer change"


CONTRACT_ERRORS: dict[str, type[ContractError]] = {cls.solidity_name: cls for cls in ContractError.__subclasses__()}
