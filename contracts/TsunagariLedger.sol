// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AccessControlEnumerable} from "@openzeppelin/contracts/access/extensions/AccessControlEnumerable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ICoinLedger, RegionCoin} from "./RegionCoin.sol";

/// @title TsunagariLedger — regional contribution records and community coins (v2)
/// @notice One ledger for many regions (municipalities keyed by their JIS X 0402 code). The platform
/// admin registers regions and appoints each region's admin; a region admin appoints that region's
/// issuers, registers activities (optionally designated 担い手活動, optionally rewarded per hour or
/// day) and projects, revokes wrong records and pauses the region. Issuers record contributions in
/// batches: every record mints the activity's reward in the region's coin to the participant, and a
/// participant can be recorded at most once per activity — enforced here, not only by the server.
/// Coins can expire (a region setting). Participants spend coins only on support (応援) of the
/// region's projects, directly or through an EIP-712 signature relayed by anyone, so they never need
/// ETH; a signature not yet used can be cancelled.
/// @dev Nothing is ever deleted: a revocation is a new event and a flag, and every role change is an
/// event. See docs/contracts.md for the trust model and docs/decisions/0001-storage-layout.md for the
/// storage layout that keeps a record of a returning participant under 10,000 gas.
contract TsunagariLedger is ICoinLedger, AccessControlEnumerable, Pausable, EIP712, Nonces {
    // ------------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------------

    /// @dev One storage slot (256 bits), read and written once per batch.
    struct Region {
        bool registered;
        bool adminPaused; // set and lifted by the region's admins
        bool platformPaused; // set and lifted by the platform admin only
        bool transfersEnabled;
        uint16 expiryDays; // 0 = coins never expire
        uint32 participantCount; // participants ever recorded here
        uint24 activityCount; // activities registered here; each gets the next ordinal
        uint72 minted;
        uint72 spent;
    }

    /// @dev Lifetime totals that change rarely (a revocation, coins lapsing), kept out of the batch slot.
    struct RegionTotals {
        uint128 revoked;
        uint128 expired;
    }

    /// @dev One storage slot (256 bits), read once per batch per activity and written back with the
    /// new `recorded` count.
    struct Activity {
        uint32 region;
        uint8 kind;
        uint8 flags; // bit 0 closed, bit 1 designated; bits 2..3 the unit (UNIT_RECORD, UNIT_HOUR, UNIT_DAY)
        uint16 maxUnits; // most units one record may carry (1 for UNIT_RECORD)
        uint24 ordinal; // 1-based position among its region's activities (the holding word's record entries)
        uint32 startsAt;
        uint32 endsAt;
        uint32 capacity; // 0 = unlimited
        uint32 recorded; // records ever made (revocations do not free capacity)
        uint40 reward; // coins per unit
    }

    struct Project {
        uint32 region;
        bool closed;
        uint96 raised;
    }

    /// @dev What {recordBatch} keeps while it walks a batch: the region, today and the coin period;
    /// the activity of the current run of records (its terms, its record count and its record entry
    /// `ordinal | last recordable day << 24`); and the batch's totals.
    struct Run {
        uint32 region;
        uint256 day;
        uint256 period;
        uint64 id;
        uint32 capacity;
        uint256 recorded;
        uint16 maxUnits;
        uint256 reward;
        uint256 entry;
        uint256 minted;
        uint256 expired;
        uint256 newcomers;
    }

    /// @notice What an activity registration says (one struct keeps the ABI readable).
    struct ActivityTerms {
        uint32 region;
        uint8 kind;
        bool designated; // a 担い手活動 designated by the municipality (ふるさと住民登録)
        uint8 unit; // UNIT_RECORD: one reward per record; UNIT_HOUR / UNIT_DAY: reward per hour / day
        uint16 maxUnits; // cap on the units of one record (1 for UNIT_RECORD)
        uint40 reward; // coins per unit
        uint40 startsAt;
        uint40 endsAt;
        uint32 capacity; // 0 = unlimited
        bytes32 metadataHash; // hash of the off-chain name and description
    }

    // ------------------------------------------------------------------------------------------
    // Constants
    // ------------------------------------------------------------------------------------------

    bytes32 public constant REGION_ADMIN = keccak256("tsunagari.region.admin");
    bytes32 public constant REGION_ISSUER = keccak256("tsunagari.region.issuer");

    /// @notice Role kinds in {RegionRoleGranted}/{RegionRoleRevoked}.
    uint8 public constant ROLE_KIND_ADMIN = 1;
    uint8 public constant ROLE_KIND_ISSUER = 2;

    /// @notice Units an activity rewards: per record (a visit, an event), per hour (help), per day (a stay).
    uint8 public constant UNIT_RECORD = 0;
    uint8 public constant UNIT_HOUR = 1;
    uint8 public constant UNIT_DAY = 2;

    /// @notice Records are accepted until this long after an activity's end, so claims accepted inside
    /// the window are not lost when the relayer or the node is late. The server enforces the exact window.
    uint40 public constant RECORDING_GRACE = 1 days;

    /// @notice Highest revocation reason code: 1 issued in error, 2 not present, 3 duplicate person,
    /// 4 participant's request, 5 other (details off chain, committed by `evidenceHash`).
    uint8 public constant MAX_REVOCATION_REASON = 5;

    /// @notice Most records in one batch (the relayer sends at most 500).
    uint256 public constant MAX_BATCH = 1000;

    /// @notice Marks a support spent directly (no signature, so no nonce) in {ProjectSupported}.
    uint256 public constant NO_NONCE = type(uint256).max;

    bytes32 public constant SUPPORT_TYPEHASH =
        keccak256("Support(address supporter,uint64 projectId,uint64 amount,uint256 nonce,uint256 deadline)");
    bytes32 public constant CANCEL_TYPEHASH = keccak256("CancelSupport(address supporter,uint256 nonce,uint256 deadline)");

    /// @dev Kinds are `type * 10 + subkind` (ledger/taxonomy.py); bit k set = kind k is known.
    uint256 private constant _KNOWN_KINDS = (1 << 10) | (1 << 11) | (1 << 20) | (1 << 21) | (1 << 22) | (1 << 30)
        | (1 << 31) | (1 << 32) | (1 << 40) | (1 << 41) | (1 << 50) | (1 << 51) | (1 << 52) | (1 << 60);

    uint32 private constant _MAX_REGION_CODE = 999_999; // JIS X 0402: 5 digits + optional check digit
    uint64 private constant _MAX_ID = (1 << 40) - 1; // activity and claim ids fit 40 bits in a record word
    uint64 private constant _NO_ACTIVITY = type(uint64).max;
    uint256 private constant _JST_OFFSET = 9 hours; // days and coin periods follow the Japanese calendar day

    uint8 private constant _CLOSED = 1;
    uint8 private constant _DESIGNATED = 2;

    // The holding word of a (holder, region); see docs/decisions/0001-storage-layout.md.
    uint256 private constant _MASK16 = (1 << 16) - 1;
    uint256 private constant _MASK24 = (1 << 24) - 1;
    uint256 private constant _MASK40 = (1 << 40) - 1;
    uint256 private constant _BUCKET1 = 40; // bits 40..79: coins of the previous period
    uint256 private constant _PERIOD = 80; // bits 80..95: the period bucket 0 belongs to
    uint256 private constant _KNOWN = 1 << 96; // bit 96: recorded at least once in the region
    uint256 private constant _SPILL = 97; // bits 97..112: last day a spilled entry may still be a duplicate
    uint256 private constant _ENTRIES = 113; // bits 113..232: three record entries of 40 bits
    uint256 private constant _BALANCES = (1 << 80) - 1;

    // ------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------

    /// @param region The region code that is not registered.
    error LedgerUnknownRegion(uint32 region);
    /// @param region The region code that is already registered.
    error LedgerRegionExists(uint32 region);
    /// @param region A code that is 0 or above 999999.
    error LedgerInvalidRegionCode(uint32 region);
    /// @param region The region whose admin role the caller lacks.
    /// @param account The caller.
    error LedgerNotRegionAdmin(uint32 region, address account);
    /// @param region The region whose issuer role the caller lacks.
    /// @param account The caller.
    error LedgerNotIssuer(uint32 region, address account);
    /// @param region The paused region.
    error LedgerRegionPaused(uint32 region);
    /// @param region The region whose pause the platform admin set: only the platform admin lifts it.
    error LedgerPausedByPlatform(uint32 region);
    /// @param kind A kind code not in the taxonomy.
    error LedgerInvalidKind(uint8 kind);
    /// @param startsAt Window start (unix seconds).
    /// @param endsAt Window end, which must not be before the start (nor after 2106).
    error LedgerInvalidWindow(uint40 startsAt, uint40 endsAt);
    /// @param unit A unit other than UNIT_RECORD, UNIT_HOUR and UNIT_DAY, or a cap that does not fit it.
    /// @param maxUnits The cap given (1 for UNIT_RECORD, 1 or more otherwise).
    error LedgerInvalidUnitTerms(uint8 unit, uint16 maxUnits);
    /// @param activityId The id that no activity has.
    error LedgerUnknownActivity(uint64 activityId);
    /// @param activityId The closed activity.
    error LedgerActivityClosed(uint64 activityId);
    /// @param activityId The activity. @param startsAt When it opens.
    error LedgerActivityNotStarted(uint64 activityId, uint40 startsAt);
    /// @param activityId The activity. @param endsAt When it ended (recording grace not included).
    error LedgerActivityEnded(uint64 activityId, uint40 endsAt);
    /// @param activityId The activity whose designation can no longer change. @param startsAt When it started.
    error LedgerActivityStarted(uint64 activityId, uint40 startsAt);
    /// @param activityId The full activity. @param capacity Its capacity.
    error LedgerActivityFull(uint64 activityId, uint32 capacity);
    /// @param activityId An activity of another region than the batch's. @param region The batch's region.
    error LedgerActivityRegionMismatch(uint64 activityId, uint32 region);
    /// @param activityId The activity. @param units The record's units. @param maxUnits The activity's cap.
    error LedgerInvalidUnits(uint64 activityId, uint16 units, uint16 maxUnits);
    /// @param activityId The activity. @param participant Who already has a record for it.
    error LedgerDuplicateContribution(uint64 activityId, address participant);
    /// @param region The batch's region. @param issuer The caller.
    /// @param batchSeq A sequence number this issuer already used in the region (a resubmission).
    error LedgerBatchAlreadyRecorded(uint32 region, address issuer, uint64 batchSeq);
    /// @param region The batch's region. @param issuer The caller. @param expected The next sequence number.
    error LedgerBatchOutOfOrder(uint32 region, address issuer, uint64 expected);
    /// @notice A batch with no records or more than MAX_BATCH, or ids that do not fit in 40 bits ({packRecord}).
    error LedgerInvalidBatch();
    /// @notice The ids an activity or record needs are used up (activity ids and a region's
    /// activity ordinals must stay packable).
    error LedgerActivityIdsExhausted();
    /// @param role A role that is neither the platform admin role nor a registered region's role.
    error LedgerUnknownRole(bytes32 role);
    /// @notice The zero address where an account is needed.
    error LedgerZeroAddress();
    /// @param region The region. @param issuer The issuer. @param batchSeq The batch the caller named,
    /// whose records do not hash to what was recorded (or that was never recorded).
    error LedgerRecordNotFound(uint32 region, address issuer, uint64 batchSeq);
    /// @param activityId The activity. @param participant Whose record is already revoked.
    error LedgerAlreadyRevoked(uint64 activityId, address participant);
    /// @param reason A reason code outside 1..MAX_REVOCATION_REASON.
    error LedgerInvalidReason(uint8 reason);
    /// @param projectId The id that no project has.
    error LedgerUnknownProject(uint64 projectId);
    /// @param projectId The closed project.
    error LedgerProjectClosed(uint64 projectId);
    /// @notice A support or transfer of zero coins.
    error LedgerZeroAmount();
    /// @param holder Whose balance is short. @param region The coin. @param balance What they can spend.
    /// @param needed What the call needs.
    error LedgerInsufficientBalance(address holder, uint32 region, uint256 balance, uint256 needed);
    /// @param holder Whose balance would not fit its 40-bit field. @param region The coin.
    error LedgerBalanceOverflow(address holder, uint32 region);
    /// @param deadline The signature's deadline, which has passed.
    error LedgerSignatureExpired(uint256 deadline);
    /// @param supporter The address the signature does not belong to.
    error LedgerInvalidSignature(address supporter);
    /// @param region The region whose coin cannot move between people.
    error LedgerTransfersDisabled(uint32 region);
    /// @param region The region. @param caller Not that region's coin contract.
    error LedgerNotRegionCoin(uint32 region, address caller);
    /// @param to The ledger or a coin contract: coins sent there could never move again.
    error LedgerInvalidRecipient(address to);
    /// @param region The region whose coins were already minted: the expiry rule cannot change any more.
    error LedgerExpiryLocked(uint32 region);

    // ------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------

    /// @notice A region was registered with its first admin and its ERC-20 coin contract.
    event RegionRegistered(uint32 indexed region, address indexed admin, address coin, string name, string symbol);
    /// @notice A region was paused or unpaused; `byPlatform` when the platform admin did it (a
    /// platform pause is lifted only by the platform admin).
    event RegionPauseSet(uint32 indexed region, bool paused, bool byPlatform, address indexed account);
    /// @notice A region enabled or disabled coin transfers between people.
    event RegionTransfersSet(uint32 indexed region, bool enabled, address indexed account);
    /// @notice A region set how long its coins stay spendable (0 = forever), before its first mint.
    event RegionExpirySet(uint32 indexed region, uint16 expiryDays, address indexed account);
    /// @notice `account` received a region role (`roleKind` 1 admin, 2 issuer) from `sender`.
    event RegionRoleGranted(uint32 indexed region, uint8 roleKind, address indexed account, address indexed sender);
    /// @notice `account` lost a region role (`roleKind` 1 admin, 2 issuer); `sender` removed it.
    event RegionRoleRevoked(uint32 indexed region, uint8 roleKind, address indexed account, address indexed sender);
    /// @notice A region admin registered an activity.
    event ActivityRegistered(
        uint64 indexed activityId,
        uint32 indexed region,
        uint8 kind,
        bool designated,
        uint8 unit,
        uint16 maxUnits,
        uint64 reward,
        uint40 startsAt,
        uint40 endsAt,
        uint32 capacity,
        bytes32 metadataHash,
        address admin
    );
    /// @notice A region admin changed whether an activity is a designated 担い手活動 (only before it starts).
    event ActivityDesignationSet(uint64 indexed activityId, uint32 indexed region, bool designated, address admin);
    /// @notice A region admin closed an activity; no further records are accepted.
    event ActivityClosed(uint64 indexed activityId, uint32 indexed region, address admin);
    /// @notice A region admin replaced the hash of an activity's off-chain text (its name, description
    /// and venue): from this event on, `metadataHash` is the text the activity shows.
    event ActivityMetadataChanged(uint64 indexed activityId, uint32 indexed region, bytes32 metadataHash, address admin);
    /// @notice `participant` took part in an activity for `units` of its reward unit (1 for a visit or an
    /// event; hours of help; days of a stay), and `units` × the activity's reward per unit were minted
    /// to them. The activity's region, kind, unit, reward and designation are in its
    /// {ActivityRegistered} (and {ActivityDesignationSet}, only before it starts); the issuer and the
    /// batch's total minted are in the {BatchRecorded} that follows the records in the same
    /// transaction, whose input holds the packed records with the operator's claim ids ({verifyRecord}).
    /// @dev Only `participant` is indexed and nothing the activity or the batch already says is
    /// repeated: each topic costs 375 gas and each data word 256, once per record
    /// (docs/decisions/0001-storage-layout.md). Emitted in assembly by the fast path of
    /// {recordBatch}; the field order here is the order of the words there.
    event ContributionRecorded(address indexed participant, uint64 activityId, uint16 units);
    /// @notice An issuer's batch was recorded (emitted after its records).
    event BatchRecorded(uint32 indexed region, address indexed issuer, uint64 indexed batchSeq, uint32 count, uint256 minted);
    /// @notice A region admin revoked a record. `clawedBack` coins were burned from the participant; the
    /// `shortfall` had already been spent (or had lapsed) and stays so.
    event ContributionRevoked(
        address indexed participant,
        uint64 indexed activityId,
        uint32 indexed region,
        uint8 reason,
        uint64 clawedBack,
        uint64 shortfall,
        uint64 claimId,
        bytes32 evidenceHash,
        address admin
    );
    /// @notice Coins of `holder` lapsed under the region's expiry rule (counted when the holding is next touched).
    event CoinsExpired(uint32 indexed region, address indexed holder, uint64 amount);
    /// @notice A region admin registered a project that participants can support.
    event ProjectRegistered(uint64 indexed projectId, uint32 indexed region, bytes32 metadataHash, address admin);
    /// @notice A region admin closed a project.
    event ProjectClosed(uint64 indexed projectId, uint32 indexed region, address admin);
    /// @notice A region admin replaced the hash of a project's off-chain text (its name, description and
    /// venue): from this event on, `metadataHash` is the text the project shows.
    event ProjectMetadataChanged(uint64 indexed projectId, uint32 indexed region, bytes32 metadataHash, address admin);
    /// @notice `supporter` spent `amount` coins on a project; `relayer` is zero and `nonce` is NO_NONCE
    /// when they sent it themselves, else the relayer and the signature's nonce.
    event ProjectSupported(
        uint64 indexed projectId, uint32 indexed region, address indexed supporter, uint64 amount, address relayer, uint256 nonce
    );
    /// @notice `supporter` cancelled signature nonce `nonce` before it was used (directly or by signature).
    event SupportNonceCancelled(address indexed supporter, uint256 nonce);
    /// @notice Coins moved between people in a region that allows it.
    event CoinTransferred(uint32 indexed region, address indexed from, address indexed to, uint256 amount);

    // ------------------------------------------------------------------------------------------
    // Storage
    // ------------------------------------------------------------------------------------------

    mapping(uint32 region => Region) private _regions;
    mapping(uint32 region => RegionTotals) private _totals;
    mapping(uint32 region => address) private _coins;
    mapping(address coin => uint32 region) private _coinRegions;
    mapping(bytes32 role => uint256) private _roleScopes; // region << 8 | roleKind, 0 = not a region role
    mapping(uint64 activityId => Activity) private _activities;
    mapping(uint64 activityId => bytes32) private _activityMetadata;
    mapping(uint64 projectId => Project) private _projects;
    mapping(uint64 projectId => bytes32) private _projectMetadata;
    /// @dev One word per (holder, region), key = holder << 32 | region (one keccak instead of two):
    ///   bits   0..39   coins of the current period (all coins, in a region whose coins never expire)
    ///   bits  40..79   coins of the previous period (they lapse when the current period ends)
    ///   bits  80..95   the current period's number (JST day / expiryDays)
    ///   bit   96       recorded at least once in the region
    ///   bits  97..112  spill horizon: the last JST day a spilled entry may still be a duplicate
    ///   bits 113..232  three record entries, 40 bits each: the activity's ordinal in the region (24)
    ///                  and the last JST day it accepts records (16); 0 = empty
    /// A record reads and writes this word exactly once: one-record-per-activity is checked against
    /// the entries of the activities the holder may still be recorded for, so a returning participant
    /// costs one cold slot update (5,000 gas) and nothing else in storage.
    mapping(uint256 key => uint256 word) private _holdings;
    /// @dev Entries that did not fit in a holding word: key = holder << 96 | region << 64 | ordinal.
    mapping(uint256 key => bool) private _spilled;
    /// @dev Revoked records: key = participant << 96 | activityId.
    mapping(uint256 key => bool) private _revokedRecords;
    /// @dev key = issuer << 32 | region => sequence number of that issuer's last batch in the region.
    mapping(uint256 key => uint64) private _batchSeqs;
    /// @dev Commitments to recorded batches, two per word: key = issuer << 96 | region << 64 | batchSeq >> 1,
    /// the high 128 bits for odd sequence numbers, the low for even. A commitment is the first 16
    /// bytes of keccak256 of the batch's packed records, so a revocation can prove its record exists.
    mapping(uint256 key => uint256) private _batchRoots;
    uint64 private _lastActivityId;
    uint64 private _lastProjectId;

    // ------------------------------------------------------------------------------------------
    // Construction and platform administration
    // ------------------------------------------------------------------------------------------

    /// @param platformAdmin The account (ideally a multisig of the regions) that registers regions.
    constructor(address platformAdmin) EIP712("TsunagariLedger", "2") {
        if (platformAdmin == address(0)) revert LedgerZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, platformAdmin);
    }

    /// @notice Register a region, deploy its ERC-20 coin and appoint its first admin.
    /// @param region JIS X 0402 municipality code (e.g. 12205 for 館山市).
    /// @param name Coin name shown by wallets. @param symbol Coin symbol. @param admin First region admin.
    function registerRegion(uint32 region, string calldata name, string calldata symbol, address admin)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        returns (address coin)
    {
        if (region == 0 || region > _MAX_REGION_CODE) revert LedgerInvalidRegionCode(region);
        if (_regions[region].registered) revert LedgerRegionExists(region);
        if (admin == address(0)) revert LedgerZeroAddress();
        _regions[region].registered = true;
        bytes32 adminRole = regionAdminRole(region);
        bytes32 issuerRole = regionIssuerRole(region);
        _roleScopes[adminRole] = (uint256(region) << 8) | ROLE_KIND_ADMIN;
        _roleScopes[issuerRole] = (uint256(region) << 8) | ROLE_KIND_ISSUER;
        _setRoleAdmin(issuerRole, adminRole); // the platform appoints region admins, they appoint issuers
        coin = address(new RegionCoin(this, region, name, symbol));
        _coins[region] = coin;
        _coinRegions[coin] = region;
        emit RegionRegistered(region, admin, coin, name, symbol);
        _grantRole(adminRole, admin);
    }

    /// @notice Pause every state change of every region (platform admin only).
    function pause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _pause();
    }

    /// @notice Lift the global pause (platform admin only).
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------------------------------
    // Region administration
    // ------------------------------------------------------------------------------------------

    /// @notice Pause or unpause one region. The platform admin's pause and the region admins' pause
    /// are separate: the region is paused while either is set. A region admin cannot lift the
    /// platform's pause ({LedgerPausedByPlatform}); the platform admin's unpause lifts both.
    function setRegionPaused(uint32 region, bool paused_) external {
        _requireRegistered(region);
        Region storage r = _regions[region];
        bool byPlatform = hasRole(DEFAULT_ADMIN_ROLE, msg.sender);
        if (byPlatform) {
            r.platformPaused = paused_;
            if (!paused_) r.adminPaused = false;
        } else {
            _requireRegionAdmin(region);
            if (!paused_ && r.platformPaused) revert LedgerPausedByPlatform(region);
            r.adminPaused = paused_;
        }
        emit RegionPauseSet(region, paused_, byPlatform, msg.sender);
    }

    /// @notice Allow or forbid coin transfers between people in a region (off by default).
    function setTransfersEnabled(uint32 region, bool enabled) external {
        _requireRegionAdmin(region);
        _regions[region].transfersEnabled = enabled;
        emit RegionTransfersSet(region, enabled, msg.sender);
    }

    /// @notice Make the region's coins expire (まちのコイン uses 90 or 180 days): coins earned in one
    /// period of `expiryDays` JST days stay spendable until the end of the next period, so each coin
    /// lives between `expiryDays` and twice that. 0 = never. Only before the region's first mint.
    function setCoinExpiry(uint32 region, uint16 expiryDays) external {
        _requireRegionAdmin(region);
        Region storage r = _regions[region];
        if (r.minted != 0) revert LedgerExpiryLocked(region);
        r.expiryDays = expiryDays;
        emit RegionExpirySet(region, expiryDays, msg.sender);
    }

    /// @notice Remove every issuer of a region in one call (a compromised admin's appointees, a
    /// relayer key retired). The platform admin or a region admin may do this. Issuers belong to the
    /// region, not to the admin who appointed them: removing an admin leaves them in place.
    function revokeAllIssuers(uint32 region) external {
        _requireRegistered(region);
        if (!hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) _requireRegionAdmin(region);
        bytes32 role = regionIssuerRole(region);
        for (uint256 i = getRoleMemberCount(role); i > 0; --i) {
            _revokeRole(role, getRoleMember(role, i - 1));
        }
    }

    /// @notice Register an activity. See {ActivityTerms}: a designated 担い手活動 stays designated (or
    /// not) from its start on; an activity rewarded per hour or day caps the units of one record.
    function registerActivity(ActivityTerms calldata terms) external whenNotPaused returns (uint64 activityId) {
        uint32 region = terms.region;
        _requireActiveRegion(region);
        _requireRegionAdmin(region);
        if ((_KNOWN_KINDS >> terms.kind) & 1 == 0) revert LedgerInvalidKind(terms.kind);
        if (terms.endsAt < terms.startsAt || terms.endsAt > type(uint32).max) {
            revert LedgerInvalidWindow(terms.startsAt, terms.endsAt);
        }
        if (terms.unit > UNIT_DAY || terms.maxUnits == 0 || (terms.unit == UNIT_RECORD && terms.maxUnits != 1)) {
            revert LedgerInvalidUnitTerms(terms.unit, terms.maxUnits);
        }
        Region storage r = _regions[region];
        if (_lastActivityId >= _MAX_ID || r.activityCount >= _MASK24) revert LedgerActivityIdsExhausted();
        activityId = ++_lastActivityId;
        uint24 ordinal = ++r.activityCount;
        _activities[activityId] = Activity({
            region: region,
            kind: terms.kind,
            flags: (terms.designated ? _DESIGNATED : 0) | (terms.unit << 2),
            maxUnits: terms.maxUnits,
            ordinal: ordinal,
            startsAt: uint32(terms.startsAt),
            endsAt: uint32(terms.endsAt),
            capacity: terms.capacity,
            recorded: 0,
            reward: terms.reward
        });
        _activityMetadata[activityId] = terms.metadataHash;
        emit ActivityRegistered(
            activityId,
            region,
            terms.kind,
            terms.designated,
            terms.unit,
            terms.maxUnits,
            terms.reward,
            terms.startsAt,
            terms.endsAt,
            terms.capacity,
            terms.metadataHash,
            msg.sender
        );
    }

    /// @notice Designate an activity as a 担い手活動 (or undo it). Only before it starts, so every
    /// record of an activity was made under the designation the chain shows for it.
    function setActivityDesignated(uint64 activityId, bool designated) external {
        Activity storage activity = _activities[activityId];
        uint32 region = activity.region;
        if (region == 0) revert LedgerUnknownActivity(activityId);
        _requireRegionAdmin(region);
        if (block.timestamp >= activity.startsAt) revert LedgerActivityStarted(activityId, activity.startsAt);
        activity.flags = designated ? activity.flags | _DESIGNATED : activity.flags & ~_DESIGNATED;
        emit ActivityDesignationSet(activityId, region, designated, msg.sender);
    }

    /// @notice Commit an activity to new off-chain text (a typo fixed, a description updated): only its
    /// metadata hash changes, never its terms or its records. A region admin of the activity's region
    /// may do it at any time, also after the activity closed and during pauses.
    /// @param activityId The activity. @param metadataHash keccak256 of the new text (ledger/checkin/metadata.py).
    function setActivityMetadata(uint64 activityId, bytes32 metadataHash) external {
        uint32 region = _activities[activityId].region;
        if (region == 0) revert LedgerUnknownActivity(activityId);
        _requireRegionAdmin(region);
        _activityMetadata[activityId] = metadataHash;
        emit ActivityMetadataChanged(activityId, region, metadataHash, msg.sender);
    }

    /// @notice Close an activity: no further records. Existing records stay.
    function closeActivity(uint64 activityId) external {
        Activity storage activity = _activities[activityId];
        uint32 region = activity.region;
        if (region == 0) revert LedgerUnknownActivity(activityId);
        _requireRegionAdmin(region);
        if (activity.flags & _CLOSED != 0) revert LedgerActivityClosed(activityId);
        activity.flags |= _CLOSED;
        emit ActivityClosed(activityId, region, msg.sender);
    }

    /// @notice Register a project in `region` that participants can support with the region's coin.
    function registerProject(uint32 region, bytes32 metadataHash) external whenNotPaused returns (uint64 projectId) {
        _requireActiveRegion(region);
        _requireRegionAdmin(region);
        projectId = ++_lastProjectId;
        _projects[projectId] = Project({region: region, closed: false, raised: 0});
        _projectMetadata[projectId] = metadataHash;
        emit ProjectRegistered(projectId, region, metadataHash, msg.sender);
    }

    /// @notice Commit a project to new off-chain text (a typo fixed, a description updated): only its
    /// metadata hash changes. A region admin of the project's region may do it at any time, also after
    /// the project closed and during pauses.
    /// @param projectId The project. @param metadataHash keccak256 of the new text (ledger/checkin/metadata.py).
    function setProjectMetadata(uint64 projectId, bytes32 metadataHash) external {
        uint32 region = _projects[projectId].region;
        if (region == 0) revert LedgerUnknownProject(projectId);
        _requireRegionAdmin(region);
        _projectMetadata[projectId] = metadataHash;
        emit ProjectMetadataChanged(projectId, region, metadataHash, msg.sender);
    }

    /// @notice Close a project: no further support.
    function closeProject(uint64 projectId) external {
        Project storage project = _projects[projectId];
        uint32 region = project.region;
        if (region == 0) revert LedgerUnknownProject(projectId);
        _requireRegionAdmin(region);
        if (project.closed) revert LedgerProjectClosed(projectId);
        project.closed = true;
        emit ProjectClosed(projectId, region, msg.sender);
    }

    // ------------------------------------------------------------------------------------------
    // Recording and revoking contributions
    // ------------------------------------------------------------------------------------------

    /// @notice Record a batch of contributions in `region` and mint each record's reward.
    /// @dev All or nothing. Each issuer numbers its batches in a region 1, 2, 3, ... ({nextBatchSeq}):
    /// a resubmitted batch reverts with {LedgerBatchAlreadyRecorded} and counts nothing twice, and a
    /// participant already recorded for an activity reverts with {LedgerDuplicateContribution}.
    /// Records are accepted from an activity's start until `RECORDING_GRACE` after its end. The batch's
    /// packed records are committed to ({verifyRecord}), so a record can later be proven and revoked.
    /// @param region The region of every activity in the batch; the caller must be its issuer.
    /// @param batchSeq The caller's next batch sequence number in this region.
    /// @param records One word per record: `participant << 96 | activityId << 56 | claimId << 16 | units`
    /// (see {packRecord}). Ordering the records by activity keeps each activity's slot read once.
    function recordBatch(uint32 region, uint64 batchSeq, uint256[] calldata records) external whenNotPaused {
        Region memory r = _regions[region];
        if (!r.registered) revert LedgerUnknownRegion(region);
        if (r.adminPaused || r.platformPaused) revert LedgerRegionPaused(region);
        if (!hasRole(regionIssuerRole(region), msg.sender)) revert LedgerNotIssuer(region, msg.sender);
        uint256 count = records.length;
        if (count == 0 || count > MAX_BATCH) revert LedgerInvalidBatch();
        _useBatchSeq(region, batchSeq);
        _commitBatch(region, batchSeq, records);

        Run memory run;
        run.region = region;
        run.day = _today();
        run.id = _NO_ACTIVITY;
        if (r.expiryDays != 0) run.period = run.day / r.expiryDays;
        uint256 i;
        while (i < count) {
            // The fast path records what it can; the record it stops at (a new activity, a rare case,
            // an error) is recorded (or refused) by the reference path, then the fast path resumes.
            if (r.expiryDays == 0) i = _recordFast(run, records, i);
            if (i < count) {
                _recordOne(run, records[i], r.expiryDays);
                unchecked {
                    ++i;
                }
            }
        }
        _activities[run.id].recorded = uint32(run.recorded);
        r.participantCount += uint32(run.newcomers);
        r.minted += uint72(run.minted); // checked: reverts past 2^72 - 1 coins in one region
        _regions[region] = r;
        if (run.expired != 0) _totals[region].expired += uint128(run.expired);
        emit BatchRecorded(region, msg.sender, batchSeq, uint32(count), run.minted);
    }

    /// @dev The reference path: one record, every check with its error, every case. {_recordFast}
    /// must leave exactly the same state and logs for the records it takes.
    function _recordOne(Run memory run, uint256 packed, uint16 expiryDays) private {
        uint64 activityId = uint64((packed >> 56) & _MASK40);
        if (activityId != run.id) _switchActivity(run, activityId);
        if (run.capacity != 0 && run.recorded >= run.capacity) revert LedgerActivityFull(activityId, run.capacity);
        uint16 units = uint16(packed);
        if (units == 0 || units > run.maxUnits) revert LedgerInvalidUnits(activityId, units, run.maxUnits);
        address participant = address(uint160(packed >> 96));
        if (participant == address(0)) revert LedgerZeroAddress();
        uint256 amount = run.reward * units; // < 2^56
        ++run.recorded; // < 2^32: bounded by `capacity`, or by MAX_BATCH per batch

        uint256 holdingKey = _accountKey(participant, run.region);
        uint256 word = _holdings[holdingKey];
        if (word & _KNOWN == 0) {
            word |= _KNOWN;
            ++run.newcomers;
        }
        if (expiryDays != 0) {
            uint256 lapsed;
            (word, lapsed) = _rollPeriod(word, run.period);
            if (lapsed != 0) {
                run.expired += lapsed;
                emit CoinsExpired(run.region, participant, uint64(lapsed));
            }
        }
        word = _noteRecord(word, run, participant, activityId);
        uint256 coins = (word & _MASK40) + amount;
        if (coins > _MASK40) revert LedgerBalanceOverflow(participant, run.region);
        _holdings[holdingKey] = (word & ~_MASK40) | coins;
        run.minted += amount;
        emit ContributionRecorded(participant, activityId, units);
    }

    /// @dev The fast path, from record `i` on, for as long as each record is of the current activity
    /// and takes no branch of the reference path but the common one: capacity left, units in range, a
    /// participant, no duplicate in the holding word's entries, the spill horizon passed, a free
    /// entry, a balance that fits. It stops (changing nothing for that record) at the first record
    /// that is anything else and returns its index. Hand-written because it runs once per record and
    /// the budget is 10,000 gas a record, of which the holding write and the event take 7,000
    /// (docs/decisions/0001-storage-layout.md); it reads and writes `run` by its memory layout.
    function _recordFast(Run memory run, uint256[] calldata records, uint256 i) private returns (uint256) {
        uint256 capacity = run.capacity;
        // records this activity can still take (capacity 0 = unlimited)
        uint256 room = capacity == 0 ? type(uint256).max : capacity - run.recorded;
        // the few values the loop needs, packed so they stay on the stack:
        // maxUnits | reward << 16, and the record entry | today << 40
        uint256 limits = run.maxUnits | (run.reward << 16);
        uint256 entryDay = run.entry | (run.day << 40);
        uint256 tally; // coins minted | newcomers << 128
        uint256 region = run.region;
        uint256 id = run.id;
        uint256 start;
        uint256 ptr;
        assembly ("memory-safe") {
            start := add(records.offset, shl(5, i))
            let end := add(records.offset, shl(5, records.length))
            mstore(0x20, _holdings.slot)
            for { ptr := start } lt(ptr, end) { ptr := add(ptr, 0x20) } {
                let packed := calldataload(ptr)
                if iszero(eq(and(shr(56, packed), 0xffffffffff), id)) { break }
                if iszero(room) { break }
                let units := and(packed, 0xffff)
                if or(iszero(units), gt(units, and(limits, 0xffff))) { break }
                if iszero(shr(96, packed)) { break }
                // the holding word: _holdings[participant << 32 | region]
                mstore(0x00, or(shl(32, shr(96, packed)), region))
                let slot := keccak256(0x00, 0x40)
                let word := sload(slot)
                // entries at bits 113, 153, 193: ordinal (24 bits) | last recordable day (16 bits)
                let ordinal := and(entryDay, 0xffffff)
                if eq(and(shr(113, word), 0xffffff), ordinal) { break }
                if eq(and(shr(153, word), 0xffffff), ordinal) { break }
                if eq(and(shr(193, word), 0xffffff), ordinal) { break }
                let day := shr(40, entryDay)
                if iszero(lt(and(shr(97, word), 0xffff), day)) { break } // spill horizon not passed
                let shift := 113
                if iszero(lt(and(shr(137, word), 0xffff), day)) {
                    shift := 153
                    if iszero(lt(and(shr(177, word), 0xffff), day)) {
                        shift := 193
                        if iszero(lt(and(shr(217, word), 0xffff), day)) { break } // no free entry
                    }
                }
                let amount := mul(shr(16, limits), units)
                let coins := add(and(word, 0xffffffffff), amount)
                if gt(coins, 0xffffffffff) { break }
                // bit 96: known in the region
                tally := add(tally, add(amount, shl(128, iszero(and(word, shl(96, 1))))))
                word := or(and(word, not(or(shl(shift, 0xffffffffff), 0xffffffffff))), shl(96, 1))
                sstore(slot, or(or(word, shl(shift, and(entryDay, 0xffffffffff))), coins))
                // ContributionRecorded(participant indexed, activityId, units); the topic is
                // keccak256("ContributionRecorded(address,uint64,uint16)") (a test checks it)
                let m := mload(0x40)
                mstore(m, id)
                mstore(add(m, 0x20), units)
                log2(m, 0x40, 0x78832a85ffac4eb8c5ddf75cf092f7ecdd517589507bfd8b220b86b293864c9d, shr(96, packed))
                room := sub(room, 1)
            }
        }
        unchecked {
            uint256 taken = (ptr - start) >> 5;
            run.recorded += taken;
            run.minted += tally & type(uint128).max;
            run.newcomers += tally >> 128;
            return i + taken;
        }
    }

    /// @notice Revoke a wrong record. The record stays in history (its event and a revoked flag); the
    /// reward is burned from the participant's coins as far as they are unspent, and the rest is
    /// reported as `shortfall`. A revoked record cannot be recorded again for the same activity.
    /// @dev The record is named by the batch that recorded it: the batch's records exactly as sent
    /// (the `recordBatch` transaction's input) and the position of the record among them; they must
    /// hash to the batch's commitment, so only a record that exists can be revoked.
    /// @param issuer The batch's issuer. @param batchSeq Its sequence number in the activity's region.
    /// @param batchRecords The batch's packed records. @param position The record's index in them.
    /// @param reason 1 issued in error, 2 not present, 3 duplicate person, 4 participant's request, 5 other.
    /// @param evidenceHash Hash of the off-chain explanation (never personal data on chain).
    function revoke(
        address issuer,
        uint64 batchSeq,
        uint256[] calldata batchRecords,
        uint256 position,
        uint8 reason,
        bytes32 evidenceHash
    ) external whenNotPaused {
        if (position >= batchRecords.length) revert LedgerInvalidBatch();
        uint256 packed = batchRecords[position];
        uint64 activityId = uint64((packed >> 56) & _MASK40);
        Activity memory activity = _activities[activityId];
        uint32 region = activity.region;
        if (region == 0) revert LedgerUnknownActivity(activityId);
        _requireRegionAdmin(region);
        if (reason == 0 || reason > MAX_REVOCATION_REASON) revert LedgerInvalidReason(reason);
        if (!verifyRecord(region, issuer, batchSeq, batchRecords)) revert LedgerRecordNotFound(region, issuer, batchSeq);
        address participant = address(uint160(packed >> 96));
        uint256 revokedKey = (uint256(uint160(participant)) << 96) | activityId;
        if (_revokedRecords[revokedKey]) revert LedgerAlreadyRevoked(activityId, participant);
        _revokedRecords[revokedKey] = true;

        uint256 amount = uint256(activity.reward) * uint16(packed);
        uint256 holdingKey = _accountKey(participant, region);
        uint256 word = _holdings[holdingKey];
        Region memory r = _regions[region];
        if (r.expiryDays != 0) {
            uint256 lapsed;
            (word, lapsed) = _rollPeriod(word, _today() / r.expiryDays);
            if (lapsed != 0) {
                _totals[region].expired += uint128(lapsed);
                emit CoinsExpired(region, participant, uint64(lapsed));
            }
        }
        uint256 clawedBack;
        (word, clawedBack) = _take(word, amount);
        _holdings[holdingKey] = word;
        _totals[region].revoked += uint128(clawedBack);
        emit ContributionRevoked(
            participant,
            activityId,
            region,
            reason,
            uint64(clawedBack),
            uint64(amount - clawedBack),
            uint64((packed >> 16) & _MASK40),
            evidenceHash,
            msg.sender
        );
    }

    // ------------------------------------------------------------------------------------------
    // Spending coins
    // ------------------------------------------------------------------------------------------

    /// @notice Spend `amount` of your coins of the project's region on supporting it.
    function support(uint64 projectId, uint64 amount) external whenNotPaused {
        _support(msg.sender, projectId, amount, address(0), NO_NONCE);
    }

    /// @notice Spend a supporter's coins with their EIP-712 `Support` signature; anyone may submit it,
    /// so the supporter needs no ETH. Works for EOAs and ERC-1271 contract wallets. A front-runner
    /// who submits the same signature first only spends the coins exactly as signed (same project,
    /// amount and nonce); the slower transaction then reverts.
    /// @param nonce Must equal `nonces(supporter)`; it is used up, so the signature cannot be replayed.
    /// @param deadline Unix time after which the signature is void.
    function supportBySig(
        address supporter,
        uint64 projectId,
        uint64 amount,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external whenNotPaused {
        if (block.timestamp > deadline) revert LedgerSignatureExpired(deadline);
        bytes32 digest =
            _hashTypedDataV4(keccak256(abi.encode(SUPPORT_TYPEHASH, supporter, projectId, amount, nonce, deadline)));
        if (!SignatureChecker.isValidSignatureNow(supporter, digest, signature)) {
            revert LedgerInvalidSignature(supporter);
        }
        _useCheckedNonce(supporter, nonce);
        _support(supporter, projectId, amount, msg.sender, nonce);
    }

    /// @notice Cancel your next signature nonce, so a signed support you handed out but no longer want
    /// can never be used (call it from the signing account; {cancelNonceBySig} needs no ETH).
    function cancelNonce() external {
        emit SupportNonceCancelled(msg.sender, _useNonce(msg.sender));
    }

    /// @notice Cancel `supporter`'s nonce `nonce` with their EIP-712 `CancelSupport` signature,
    /// submitted by anyone (the relayer), so a supporter without ETH can withdraw a signed support.
    function cancelNonceBySig(address supporter, uint256 nonce, uint256 deadline, bytes calldata signature) external {
        if (block.timestamp > deadline) revert LedgerSignatureExpired(deadline);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CANCEL_TYPEHASH, supporter, nonce, deadline)));
        if (!SignatureChecker.isValidSignatureNow(supporter, digest, signature)) {
            revert LedgerInvalidSignature(supporter);
        }
        _useCheckedNonce(supporter, nonce);
        emit SupportNonceCancelled(supporter, nonce);
    }

    /// @inheritdoc ICoinLedger
    /// @dev Only the region's {RegionCoin} may call this, on behalf of its `msg.sender`. Coins cannot be
    /// sent to the ledger or to a coin contract (they could never move again). Expiry applies to both
    /// holdings first; the recipient's coins count as earned now.
    function transferCoin(uint32 region, address from, address to, uint256 amount) external whenNotPaused {
        if (msg.sender != _coins[region] || msg.sender == address(0)) revert LedgerNotRegionCoin(region, msg.sender);
        Region memory r = _regions[region];
        if (r.adminPaused || r.platformPaused) revert LedgerRegionPaused(region);
        if (!r.transfersEnabled) revert LedgerTransfersDisabled(region);
        if (to == address(0)) revert LedgerZeroAddress();
        if (to == address(this) || _coinRegions[to] != 0) revert LedgerInvalidRecipient(to);
        uint256 fromKey = _accountKey(from, region);
        uint256 fromWord = _settled(_holdings[fromKey], from, region, r.expiryDays);
        if (_spendable(fromWord) < amount) revert LedgerInsufficientBalance(from, region, _spendable(fromWord), amount);
        (fromWord,) = _take(fromWord, amount);
        _holdings[fromKey] = fromWord;
        uint256 toKey = _accountKey(to, region);
        uint256 toWord = _settled(_holdings[toKey], to, region, r.expiryDays);
        uint256 balance = (toWord & _MASK40) + amount;
        if (balance > _MASK40) revert LedgerBalanceOverflow(to, region);
        _holdings[toKey] = (toWord & ~_MASK40) | balance;
        emit CoinTransferred(region, from, to, amount);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice The role id of `region`'s admins.
    function regionAdminRole(uint32 region) public pure returns (bytes32) {
        return keccak256(abi.encode(REGION_ADMIN, region));
    }

    /// @notice The role id of `region`'s issuers.
    function regionIssuerRole(uint32 region) public pure returns (bytes32) {
        return keccak256(abi.encode(REGION_ISSUER, region));
    }

    /// @notice Coins `holder` can spend in `region` now (expired coins excluded; also `RegionCoin.balanceOf`).
    function balanceOf(address holder, uint32 region) external view returns (uint256) {
        return _spendable(_project(_holdings[_accountKey(holder, region)], _regions[region].expiryDays));
    }

    /// @notice Coins of `region` in circulation: minted − spent on support − revoked − expired. Coins
    /// that lapsed but whose holder was not touched since count until then (see {holdingOf}).
    function totalSupply(uint32 region) external view returns (uint256) {
        Region memory r = _regions[region];
        RegionTotals memory t = _totals[region];
        return uint256(r.minted) - r.spent - t.revoked - t.expired;
    }

    /// @notice A participant's holding in a region.
    /// @return stored Coins held as last written (the supply invariant's balance).
    /// @return spendable Coins spendable now.
    /// @return expiring Of those, the coins that lapse first, at the end of `expiresAfterDay`.
    /// @return expiresAfterDay A JST day number (days since 1970-01-01 in Japan); 0 when nothing expires.
    /// @return recorded Whether the holder was ever recorded in the region.
    function holdingOf(address holder, uint32 region)
        external
        view
        returns (uint256 stored, uint256 spendable, uint256 expiring, uint256 expiresAfterDay, bool recorded)
    {
        uint256 word = _holdings[_accountKey(holder, region)];
        uint16 expiryDays = _regions[region].expiryDays;
        uint256 current = _project(word, expiryDays);
        stored = (word & _MASK40) + ((word >> _BUCKET1) & _MASK40);
        spendable = _spendable(current);
        if (expiryDays != 0 && spendable != 0) {
            uint256 period = _today() / expiryDays;
            expiring = (current >> _BUCKET1) & _MASK40;
            expiresAfterDay = expiring != 0 ? (period + 1) * expiryDays - 1 : (period + 2) * expiryDays - 1;
            if (expiring == 0) expiring = current & _MASK40;
        }
        recorded = word & _KNOWN != 0;
    }

    /// @notice A region's state, its lifetime coin totals and its coin contract.
    function regionInfo(uint32 region) external view returns (Region memory info, RegionTotals memory totals, address coin) {
        return (_regions[region], _totals[region], _coins[region]);
    }

    /// @notice The ERC-20 contract of a region's coin (zero if the region is unknown).
    function coinOf(uint32 region) external view returns (address) {
        return _coins[region];
    }

    /// @notice An activity as registered, with the number of records made so far, and the hash of its
    /// current text (the registration's, or the last {setActivityMetadata}'s).
    function activityInfo(uint64 activityId) external view returns (Activity memory activity, bytes32 metadataHash) {
        return (_activities[activityId], _activityMetadata[activityId]);
    }

    /// @notice A project and the coins it has raised, and the hash of its current text (the
    /// registration's, or the last {setProjectMetadata}'s).
    function projectInfo(uint64 projectId) external view returns (Project memory project, bytes32 metadataHash) {
        return (_projects[projectId], _projectMetadata[projectId]);
    }

    /// @notice Whether a new record of `participant` for `activityId` would be refused as a duplicate,
    /// and whether their record for it was revoked. The duplicate guard is kept while the activity
    /// accepts records; afterwards a record's proof is its log and {verifyRecord}.
    function recordOf(uint64 activityId, address participant) external view returns (bool recorded, bool revoked) {
        Activity memory a = _activities[activityId];
        revoked = _revokedRecords[(uint256(uint160(participant)) << 96) | activityId];
        if (a.region == 0) return (false, revoked);
        uint256 word = _holdings[_accountKey(participant, a.region)];
        for (uint256 shift = _ENTRIES; shift < _ENTRIES + 120; shift += 40) {
            if ((word >> shift) & _MASK24 == a.ordinal) return (true, revoked);
        }
        uint256 spillKey = (uint256(uint160(participant)) << 96) | (uint256(a.region) << 64) | a.ordinal;
        recorded = _spilled[spillKey];
    }

    /// @notice Whether `batchRecords` are exactly the records of batch `batchSeq` of `issuer` in `region`.
    function verifyRecord(uint32 region, address issuer, uint64 batchSeq, uint256[] calldata batchRecords)
        public
        view
        returns (bool)
    {
        if (batchSeq == 0 || batchSeq > _batchSeqs[_accountKey(issuer, region)]) return false;
        uint256 word = _batchRoots[_rootKey(issuer, region, batchSeq)];
        uint256 stored = batchSeq & 1 == 1 ? word >> 128 : word & type(uint128).max;
        return stored == _commitment(batchRecords);
    }

    /// @notice Pack one record for {recordBatch}. Ids above 2^40 - 1 cannot be packed; units are 1..65535.
    function packRecord(address participant, uint64 activityId, uint64 claimId, uint16 units)
        external
        pure
        returns (uint256)
    {
        if (activityId > _MAX_ID || claimId > _MAX_ID) revert LedgerInvalidBatch();
        return (uint256(uint160(participant)) << 96) | (uint256(activityId) << 56) | (uint256(claimId) << 16) | units;
    }

    /// @notice The sequence number `issuer` must give its next batch in `region` (1 for the first).
    function nextBatchSeq(address issuer, uint32 region) external view returns (uint64) {
        return _batchSeqs[_accountKey(issuer, region)] + 1;
    }

    /// @notice Ids of the last registered activity and project (ids start at 1).
    function lastIds() external view returns (uint64 activityId, uint64 projectId) {
        return (_lastActivityId, _lastProjectId);
    }

    /// @notice The storage slot of the holdings mapping: a relayer puts `keccak256(abi.encode(holder <<
    /// 32 | region, holdingsSlot()))` of each record in its transaction's access list (EIP-2930): a
    /// listed key costs 1,900 and makes the first access warm (100 instead of 2,100), a net 100 gas
    /// per holding, less 2,400 per transaction for listing the ledger's address (about 76 gas a
    /// record in a batch of 100).
    function holdingsSlot() external pure returns (uint256 slot) {
        assembly ("memory-safe") {
            slot := _holdings.slot
        }
    }

    /// @notice The JST calendar day number (days since 1970-01-01 in Japan) of the current block.
    function today() external view returns (uint256) {
        return _today();
    }

    /// @notice The EIP-712 domain separator for `Support` and `CancelSupport` signatures.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------------------------------
    // Internals: batches
    // ------------------------------------------------------------------------------------------

    /// @dev Write back the finished activity's record count and load the next one (records are
    /// sorted by activity, so this runs once per activity of the batch).
    function _switchActivity(Run memory run, uint64 activityId) private {
        if (run.id != _NO_ACTIVITY) _activities[run.id].recorded = uint32(run.recorded);
        Activity memory activity = _loadRecordableActivity(activityId, run.region);
        run.id = activityId;
        run.capacity = activity.capacity;
        run.recorded = activity.recorded;
        run.maxUnits = activity.maxUnits;
        run.reward = activity.reward;
        run.entry = activity.ordinal | (_dayOf(uint256(activity.endsAt) + RECORDING_GRACE) << 24);
    }

    function _useBatchSeq(uint32 region, uint64 batchSeq) private {
        uint256 seqKey = _accountKey(msg.sender, region);
        uint64 lastSeq = _batchSeqs[seqKey];
        if (batchSeq <= lastSeq) revert LedgerBatchAlreadyRecorded(region, msg.sender, batchSeq);
        if (batchSeq != lastSeq + 1) revert LedgerBatchOutOfOrder(region, msg.sender, lastSeq + 1);
        _batchSeqs[seqKey] = batchSeq;
    }

    /// @dev Two 128-bit commitments share a word, so a batch pays a new slot every other time.
    function _commitBatch(uint32 region, uint64 batchSeq, uint256[] calldata records) private {
        uint256 key = _rootKey(msg.sender, region, batchSeq);
        uint256 commitment = _commitment(records);
        if (batchSeq & 1 == 1) {
            _batchRoots[key] = (_batchRoots[key] & type(uint128).max) | (commitment << 128);
        } else {
            _batchRoots[key] = (_batchRoots[key] & ~uint256(type(uint128).max)) | commitment;
        }
    }

    function _commitment(uint256[] calldata records) private pure returns (uint256) {
        return uint256(keccak256(abi.encodePacked(records))) >> 128;
    }

    function _rootKey(address issuer, uint32 region, uint64 batchSeq) private pure returns (uint256) {
        return (uint256(uint160(issuer)) << 96) | (uint256(region) << 64) | (batchSeq >> 1);
    }

    // ------------------------------------------------------------------------------------------
    // Internals: the holding word
    // ------------------------------------------------------------------------------------------

    /// @dev Refuse a duplicate (the activity in one of the word's entries, or spilled while the spill
    /// horizon lasts), then note the record in the first free entry: an empty one, or one whose
    /// activity no longer accepts records; with none free, {_spill} frees one.
    function _noteRecord(uint256 word, Run memory run, address participant, uint64 activityId)
        private
        returns (uint256)
    {
        uint256 ordinal = run.entry & _MASK24;
        uint256 e0 = (word >> _ENTRIES) & _MASK40;
        uint256 e1 = (word >> (_ENTRIES + 40)) & _MASK40;
        uint256 e2 = (word >> (_ENTRIES + 80)) & _MASK40;
        uint256 spillKey = (uint256(uint160(participant)) << 96) | (uint256(run.region) << 64) | ordinal;
        if (
            e0 & _MASK24 == ordinal || e1 & _MASK24 == ordinal || e2 & _MASK24 == ordinal
                || ((word >> _SPILL) & _MASK16 >= run.day && _spilled[spillKey])
        ) revert LedgerDuplicateContribution(activityId, participant);
        uint256 shift;
        if (e0 >> 24 < run.day) {
            shift = _ENTRIES;
        } else if (e1 >> 24 < run.day) {
            shift = _ENTRIES + 40;
        } else if (e2 >> 24 < run.day) {
            shift = _ENTRIES + 80;
        } else {
            (word, shift) = _spill(word, run, participant);
        }
        return (word & ~(_MASK40 << shift)) | (run.entry << shift);
    }

    /// @dev No record entry is free (three activities of the region still open): move the one whose
    /// activity closes first to `_spilled` and extend the spill horizon to its last recordable day, so
    /// {_noteRecord} checks `_spilled` until then. Returns the word and the freed entry's position.
    function _spill(uint256 word, Run memory run, address participant) private returns (uint256, uint256 shift) {
        uint256 e0 = (word >> _ENTRIES) & _MASK40;
        uint256 e1 = (word >> (_ENTRIES + 40)) & _MASK40;
        uint256 e2 = (word >> (_ENTRIES + 80)) & _MASK40;
        uint256 victim = e0;
        shift = _ENTRIES;
        if (e1 >> 24 < victim >> 24) (victim, shift) = (e1, _ENTRIES + 40);
        if (e2 >> 24 < victim >> 24) (victim, shift) = (e2, _ENTRIES + 80);
        _spilled[(uint256(uint160(participant)) << 96) | (uint256(run.region) << 64) | (victim & _MASK24)] = true;
        uint256 until = victim >> 24;
        if (until > (word >> _SPILL) & _MASK16) word = (word & ~(_MASK16 << _SPILL)) | (until << _SPILL);
        return (word, shift);
    }

    /// @dev Move the word into `period`: the previous period's coins lapse, the current ones become the
    /// previous; two periods or more later, everything has lapsed. Returns the new word and what lapsed.
    function _rollPeriod(uint256 word, uint256 period) private pure returns (uint256, uint256) {
        uint256 held = (word >> _PERIOD) & _MASK16;
        if (held == period) return (word, 0);
        uint256 bucket0 = word & _MASK40;
        uint256 bucket1 = (word >> _BUCKET1) & _MASK40;
        uint256 lapsed;
        if (held + 1 == period) {
            lapsed = bucket1;
            bucket1 = bucket0;
        } else {
            lapsed = bucket0 + bucket1; // (a holder never seen has nothing to lapse)
            bucket1 = 0;
        }
        word = (word & ~(uint256(type(uint96).max))) | (period << _PERIOD) | (bucket1 << _BUCKET1);
        return (word, lapsed);
    }

    /// @dev The word as it would be after a roll into today's period (views: nothing is written).
    function _project(uint256 word, uint16 expiryDays) private view returns (uint256) {
        if (expiryDays == 0) return word;
        (uint256 rolled,) = _rollPeriod(word, _today() / expiryDays);
        return rolled;
    }

    /// @dev Roll a holding being changed (support, transfer) and count what lapsed.
    function _settled(uint256 word, address holder, uint32 region, uint16 expiryDays) private returns (uint256) {
        if (expiryDays == 0) return word;
        (uint256 rolled, uint256 lapsed) = _rollPeriod(word, _today() / expiryDays);
        if (lapsed != 0) {
            _totals[region].expired += uint128(lapsed);
            emit CoinsExpired(region, holder, uint64(lapsed));
        }
        return rolled;
    }

    function _spendable(uint256 word) private pure returns (uint256) {
        return (word & _MASK40) + ((word >> _BUCKET1) & _MASK40);
    }

    /// @dev Take up to `amount` coins, the previous period's first (they lapse sooner).
    function _take(uint256 word, uint256 amount) private pure returns (uint256, uint256 taken) {
        uint256 bucket1 = (word >> _BUCKET1) & _MASK40;
        uint256 bucket0 = word & _MASK40;
        uint256 fromOld = amount < bucket1 ? amount : bucket1;
        uint256 fromNew = amount - fromOld < bucket0 ? amount - fromOld : bucket0;
        taken = fromOld + fromNew;
        word = (word & ~_BALANCES) | ((bucket1 - fromOld) << _BUCKET1) | (bucket0 - fromNew);
        return (word, taken);
    }

    function _today() private view returns (uint256) {
        return _dayOf(block.timestamp);
    }

    function _dayOf(uint256 timestamp) private pure returns (uint256) {
        return (timestamp + _JST_OFFSET) / 1 days;
    }

    // ------------------------------------------------------------------------------------------
    // Internals: the rest
    // ------------------------------------------------------------------------------------------

    function _support(address supporter, uint64 projectId, uint64 amount, address relayer, uint256 nonce) private {
        Project memory project = _projects[projectId];
        uint32 region = project.region;
        if (region == 0) revert LedgerUnknownProject(projectId);
        if (project.closed) revert LedgerProjectClosed(projectId);
        Region memory r = _regions[region];
        if (r.adminPaused || r.platformPaused) revert LedgerRegionPaused(region);
        if (amount == 0) revert LedgerZeroAmount();
        uint256 holdingKey = _accountKey(supporter, region);
        uint256 word = _settled(_holdings[holdingKey], supporter, region, r.expiryDays);
        uint256 spendable = _spendable(word);
        if (spendable < amount) revert LedgerInsufficientBalance(supporter, region, spendable, amount);
        (word,) = _take(word, amount);
        _holdings[holdingKey] = word;
        r.spent += amount;
        _regions[region] = r;
        _projects[projectId].raised = project.raised + amount;
        emit ProjectSupported(projectId, region, supporter, amount, relayer, nonce);
    }

    function _loadRecordableActivity(uint64 activityId, uint32 region) private view returns (Activity memory a) {
        a = _activities[activityId];
        if (a.region == 0) revert LedgerUnknownActivity(activityId);
        if (a.region != region) revert LedgerActivityRegionMismatch(activityId, region);
        if (a.flags & _CLOSED != 0) revert LedgerActivityClosed(activityId);
        if (block.timestamp < a.startsAt) revert LedgerActivityNotStarted(activityId, a.startsAt);
        if (block.timestamp > uint256(a.endsAt) + RECORDING_GRACE) revert LedgerActivityEnded(activityId, a.endsAt);
    }

    function _requireRegistered(uint32 region) private view {
        if (!_regions[region].registered) revert LedgerUnknownRegion(region);
    }

    function _requireActiveRegion(uint32 region) private view {
        Region memory r = _regions[region];
        if (!r.registered) revert LedgerUnknownRegion(region);
        if (r.adminPaused || r.platformPaused) revert LedgerRegionPaused(region);
    }

    function _requireRegionAdmin(uint32 region) private view {
        if (!hasRole(regionAdminRole(region), msg.sender)) revert LedgerNotRegionAdmin(region, msg.sender);
    }

    function _accountKey(address holder, uint32 region) private pure returns (uint256) {
        return (uint256(uint160(holder)) << 32) | region;
    }

    /// @dev Only the platform admin role and registered regions' roles exist: granting any other role
    /// (e.g. a region's role before the region is registered) reverts. Adds a {RegionRoleGranted}
    /// event naming the region to AccessControl's `RoleGranted`.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        uint256 scope = _roleScopes[role];
        if (scope == 0 && role != DEFAULT_ADMIN_ROLE) revert LedgerUnknownRole(role);
        granted = super._grantRole(role, account);
        if (granted && scope != 0) emit RegionRoleGranted(uint32(scope >> 8), uint8(scope), account, _msgSender());
    }

    /// @dev Adds a {RegionRoleRevoked} event naming the region to AccessControl's `RoleRevoked`.
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        uint256 scope = _roleScopes[role];
        if (revoked && scope != 0) emit RegionRoleRevoked(uint32(scope >> 8), uint8(scope), account, _msgSender());
    }
}
