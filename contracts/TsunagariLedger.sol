// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ICoinLedger, RegionCoin} from "./RegionCoin.sol";

/// @title TsunagariLedger — regional contribution records and community coins
/// @notice One ledger for many regions (municipalities keyed by their JIS X 0402 code). The platform
/// admin registers regions and appoints each region's admin; a region admin appoints that region's
/// issuers, registers activities and projects, revokes wrong records and pauses the region. Issuers
/// record contributions in batches: every record mints the activity's reward in the region's coin to
/// the participant, and a participant can be recorded at most once per activity — enforced here, not
/// only by the server. Participants spend coins only on support (応援) of the region's projects,
/// directly or through an EIP-712 signature relayed by anyone, so they never need ETH.
/// @dev Nothing is ever deleted: a revocation is a new event and a flag, and every role change is an
/// event. See docs/contracts.md for the trust model and docs/decisions/0001-storage-layout.md for the
/// storage layout that keeps a record under 10,000 gas.
contract TsunagariLedger is ICoinLedger, AccessControl, Pausable, EIP712, Nonces {
    // ------------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------------

    /// @dev One storage slot (248 bits). Written once per batch, so its cost is shared by the batch.
    struct Region {
        bool registered;
        bool paused;
        bool transfersEnabled;
        uint32 participantCount; // participants ever recorded here; also the last participant index
        uint96 minted;
        uint96 spent;
    }

    /// @dev One storage slot (256 bits), read once per batch per activity.
    struct Activity {
        uint32 region;
        uint8 kind;
        bool closed;
        uint64 reward;
        uint40 startsAt;
        uint40 endsAt;
        uint32 capacity; // 0 = unlimited
        uint32 recorded; // records ever made (revocations do not free capacity)
    }

    struct Project {
        uint32 region;
        bool closed;
        uint96 raised;
    }

    // ------------------------------------------------------------------------------------------
    // Constants
    // ------------------------------------------------------------------------------------------

    bytes32 public constant REGION_ADMIN = keccak256("tsunagari.region.admin");
    bytes32 public constant REGION_ISSUER = keccak256("tsunagari.region.issuer");

    /// @notice Role kinds in {RegionRoleGranted}/{RegionRoleRevoked}.
    uint8 public constant ROLE_KIND_ADMIN = 1;
    uint8 public constant ROLE_KIND_ISSUER = 2;

    /// @notice Records are accepted until this long after an activity's end, so claims accepted inside
    /// the window are not lost when the relayer or the node is late. The server enforces the exact window.
    uint40 public constant RECORDING_GRACE = 1 days;

    /// @notice Highest revocation reason code: 1 issued in error, 2 not present, 3 duplicate person,
    /// 4 participant's request, 5 other (details off chain, committed by `evidenceHash`).
    uint8 public constant MAX_REVOCATION_REASON = 5;

    /// @dev Kinds are `type * 10 + subkind` (ledger/taxonomy.py); bit k set = kind k is known.
    uint256 private constant _KNOWN_KINDS = (1 << 10) | (1 << 11) | (1 << 20) | (1 << 21) | (1 << 22) | (1 << 30)
        | (1 << 31) | (1 << 32) | (1 << 40) | (1 << 41) | (1 << 50) | (1 << 51) | (1 << 52) | (1 << 60);

    uint256 private constant _MASK48 = (1 << 48) - 1;
    uint64 private constant _NO_ACTIVITY = type(uint64).max;
    uint256 private constant _MASK96 = (1 << 96) - 1;
    uint256 private constant _ONE_RECORD = 1 << 128;
    uint32 private constant _MAX_REGION_CODE = 999_999; // JIS X 0402: 5 digits + optional check digit

    bytes32 public constant SUPPORT_TYPEHASH =
        keccak256("Support(address supporter,uint64 projectId,uint64 amount,uint256 nonce,uint256 deadline)");

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
    /// @param kind A kind code not in the taxonomy.
    error LedgerInvalidKind(uint8 kind);
    /// @param startsAt Window start (unix seconds).
    /// @param endsAt Window end, which must not be before the start.
    error LedgerInvalidWindow(uint40 startsAt, uint40 endsAt);
    /// @param activityId The id that no activity has.
    error LedgerUnknownActivity(uint64 activityId);
    /// @param activityId The closed activity.
    error LedgerActivityClosed(uint64 activityId);
    /// @param activityId The activity. @param startsAt When it opens.
    error LedgerActivityNotStarted(uint64 activityId, uint40 startsAt);
    /// @param activityId The activity. @param endsAt When it ended (recording grace not included).
    error LedgerActivityEnded(uint64 activityId, uint40 endsAt);
    /// @param activityId The full activity. @param capacity Its capacity.
    error LedgerActivityFull(uint64 activityId, uint32 capacity);
    /// @param activityId An activity of another region than the batch's. @param region The batch's region.
    error LedgerActivityRegionMismatch(uint64 activityId, uint32 region);
    /// @param activityId The activity. @param participant Who already has a record for it.
    error LedgerDuplicateContribution(uint64 activityId, address participant);
    /// @param region The batch's region. @param issuer The caller.
    /// @param batchSeq A sequence number this issuer already used in the region (a resubmission).
    error LedgerBatchAlreadyRecorded(uint32 region, address issuer, uint64 batchSeq);
    /// @param region The batch's region. @param issuer The caller. @param expected The next sequence number.
    error LedgerBatchOutOfOrder(uint32 region, address issuer, uint64 expected);
    /// @notice A batch with no records, or ids that do not fit in 48 bits ({packRecord}).
    error LedgerInvalidBatch();
    /// @notice All 2^48 - 1 activity ids are used (ids must stay packable into a record word).
    error LedgerActivityIdsExhausted();
    /// @param role A role that is neither the platform admin role nor a registered region's role.
    error LedgerUnknownRole(bytes32 role);
    /// @notice The zero address where an account is needed.
    error LedgerZeroAddress();
    /// @param activityId The activity. @param participant Who has no record for it.
    error LedgerRecordNotFound(uint64 activityId, address participant);
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
    /// @param holder Whose balance is short. @param region The coin. @param balance What they hold.
    /// @param needed What the call needs.
    error LedgerInsufficientBalance(address holder, uint32 region, uint256 balance, uint256 needed);
    /// @param deadline The signature's deadline, which has passed.
    error LedgerSignatureExpired(uint256 deadline);
    /// @param supporter The address the signature does not belong to.
    error LedgerInvalidSignature(address supporter);
    /// @param region The region whose coin cannot move between people.
    error LedgerTransfersDisabled(uint32 region);
    /// @param region The region. @param caller Not that region's coin contract.
    error LedgerNotRegionCoin(uint32 region, address caller);

    // ------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------

    /// @notice A region was registered with its first admin and its ERC-20 coin contract.
    event RegionRegistered(uint32 indexed region, address indexed admin, address coin, string name, string symbol);
    /// @notice A region was paused or unpaused.
    event RegionPauseSet(uint32 indexed region, bool paused, address indexed account);
    /// @notice A region enabled or disabled coin transfers between people.
    event RegionTransfersSet(uint32 indexed region, bool enabled, address indexed account);
    /// @notice `account` received a region role (`roleKind` 1 admin, 2 issuer) from `sender`.
    event RegionRoleGranted(uint32 indexed region, uint8 roleKind, address indexed account, address indexed sender);
    /// @notice `account` lost a region role (`roleKind` 1 admin, 2 issuer); `sender` removed it.
    event RegionRoleRevoked(uint32 indexed region, uint8 roleKind, address indexed account, address indexed sender);
    /// @notice A region admin registered an activity.
    event ActivityRegistered(
        uint64 indexed activityId,
        uint32 indexed region,
        uint8 kind,
        uint64 reward,
        uint40 startsAt,
        uint40 endsAt,
        uint32 capacity,
        bytes32 metadataHash,
        address admin
    );
    /// @notice A region admin closed an activity; no further records are accepted.
    event ActivityClosed(uint64 indexed activityId, uint32 indexed region, address admin);
    /// @notice A contribution was recorded and `amount` coins of `region` were minted to `participant`.
    /// @dev Only `participant` is indexed: each topic costs 375 gas against 256 for a data word, and this
    /// event is emitted once per record (docs/decisions/0001-storage-layout.md).
    event ContributionRecorded(
        address indexed participant,
        uint64 activityId,
        uint32 region,
        uint8 kind,
        uint64 amount,
        uint64 claimId,
        address issuer
    );
    /// @notice An issuer's batch was recorded (emitted after its records).
    event BatchRecorded(uint32 indexed region, address indexed issuer, uint64 indexed batchSeq, uint32 count, uint256 minted);
    /// @notice A region admin revoked a record. `clawedBack` coins were burned from the participant; the
    /// `shortfall` had already been spent on support and stays spent.
    event ContributionRevoked(
        address indexed participant,
        uint64 indexed activityId,
        uint32 indexed region,
        uint8 reason,
        uint64 clawedBack,
        uint64 shortfall,
        bytes32 evidenceHash,
        address admin
    );
    /// @notice A region admin registered a project that participants can support.
    event ProjectRegistered(uint64 indexed projectId, uint32 indexed region, bytes32 metadataHash, address admin);
    /// @notice A region admin closed a project.
    event ProjectClosed(uint64 indexed projectId, uint32 indexed region, address admin);
    /// @notice `supporter` spent `amount` coins on a project; `relayer` is zero when they sent it themselves.
    event ProjectSupported(
        uint64 indexed projectId, uint32 indexed region, address indexed supporter, uint64 amount, address relayer
    );
    /// @notice Coins moved between people in a region that allows it.
    event CoinTransferred(uint32 indexed region, address indexed from, address indexed to, uint256 amount);

    // ------------------------------------------------------------------------------------------
    // Storage
    // ------------------------------------------------------------------------------------------

    mapping(uint32 region => Region) private _regions;
    mapping(uint32 region => address) private _coins;
    mapping(uint32 region => uint256) private _revoked;
    mapping(bytes32 role => uint256) private _roleScopes; // region << 8 | roleKind, 0 = not a region role
    mapping(uint64 activityId => Activity) private _activities;
    mapping(uint64 activityId => bytes32) private _activityMetadata;
    mapping(uint64 projectId => Project) private _projects;
    mapping(uint64 projectId => bytes32) private _projectMetadata;
    /// @dev One word per (holder, region), key = holder << 32 | region (one keccak instead of two):
    ///   bits   0..95  spendable coin balance
    ///   bits  96..127 the holder's 1-based participant index in the region (0 = never recorded);
    ///                 it addresses the per-activity record bitmaps below
    ///   bits 128..159 number of live (unrevoked) records
    /// Kept as a raw word, not a struct, so a record reads and writes it exactly once: a returning
    /// participant costs one cold slot update (5,000 gas) instead of a new slot (22,100).
    mapping(uint256 key => uint256 word) private _holdings;
    /// @dev key = activityId << 32 | (participant index >> 8); bit (index & 255) set = has a record.
    /// Participants first recorded together get neighbouring indexes, so a batch touches few words.
    mapping(uint256 key => uint256) private _recordBits;
    /// @dev Same keys as `_recordBits`; bit set = that record was revoked.
    mapping(uint256 key => uint256) private _revokedBits;
    /// @dev key = issuer << 32 | region => sequence number of that issuer's last batch in the region.
    /// A batch must carry the next number, so a resubmitted batch is refused whole and a relayer can
    /// tell from the chain alone which of its batches landed. Costs one slot update per batch.
    mapping(uint256 key => uint64) private _batchSeqs;
    uint64 private _lastActivityId;
    uint64 private _lastProjectId;

    // ------------------------------------------------------------------------------------------
    // Construction and platform administration
    // ------------------------------------------------------------------------------------------

    /// @param platformAdmin The account (ideally a multisig of the regions) that registers regions.
    constructor(address platformAdmin) EIP712("TsunagariLedger", "1") {
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

    /// @notice Pause or unpause one region. Its admin or the platform admin may do this.
    function setRegionPaused(uint32 region, bool paused_) external {
        _requireRegistered(region);
        if (!hasRole(regionAdminRole(region), msg.sender) && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert LedgerNotRegionAdmin(region, msg.sender);
        }
        _regions[region].paused = paused_;
        emit RegionPauseSet(region, paused_, msg.sender);
    }

    /// @notice Allow or forbid coin transfers between people in a region (off by default).
    function setTransfersEnabled(uint32 region, bool enabled) external {
        _requireRegionAdmin(region);
        _regions[region].transfersEnabled = enabled;
        emit RegionTransfersSet(region, enabled, msg.sender);
    }

    /// @notice Register an activity in `region`.
    /// @param kind Contribution kind (ledger/taxonomy.py): the tens digit is the MLIT type.
    /// @param reward Coins minted per record. @param startsAt Window start. @param endsAt Window end.
    /// @param capacity Maximum records, 0 for no limit. @param metadataHash Hash of the off-chain description.
    function registerActivity(
        uint32 region,
        uint8 kind,
        uint64 reward,
        uint40 startsAt,
        uint40 endsAt,
        uint32 capacity,
        bytes32 metadataHash
    ) external whenNotPaused returns (uint64 activityId) {
        _requireActiveRegion(region);
        _requireRegionAdmin(region);
        if ((_KNOWN_KINDS >> kind) & 1 == 0) revert LedgerInvalidKind(kind);
        if (endsAt < startsAt) revert LedgerInvalidWindow(startsAt, endsAt);
        if (_lastActivityId >= _MASK48) revert LedgerActivityIdsExhausted();
        activityId = ++_lastActivityId;
        _activities[activityId] = Activity({
            region: region,
            kind: kind,
            closed: false,
            reward: reward,
            startsAt: startsAt,
            endsAt: endsAt,
            capacity: capacity,
            recorded: 0
        });
        _activityMetadata[activityId] = metadataHash;
        emit ActivityRegistered(activityId, region, kind, reward, startsAt, endsAt, capacity, metadataHash, msg.sender);
    }

    /// @notice Close an activity: no further records. Existing records stay.
    function closeActivity(uint64 activityId) external {
        Activity storage activity = _activities[activityId];
        uint32 region = activity.region;
        if (region == 0) revert LedgerUnknownActivity(activityId);
        _requireRegionAdmin(region);
        if (activity.closed) revert LedgerActivityClosed(activityId);
        activity.closed = true;
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

    /// @notice Record a batch of contributions in `region` and mint each activity's reward.
    /// @dev All or nothing. Each issuer numbers its batches in a region 1, 2, 3, ... ({nextBatchSeq}):
    /// a resubmitted batch reverts with {LedgerBatchAlreadyRecorded} and counts nothing twice, and a
    /// participant already recorded for an activity reverts with {LedgerDuplicateContribution}.
    /// Records are accepted from an activity's start until `RECORDING_GRACE` after its end.
    /// @param region The region of every activity in the batch; the caller must be its issuer.
    /// @param batchSeq The caller's next batch sequence number in this region.
    /// @param records One word per record: `participant << 96 | activityId << 48 | claimId` (see
    /// {packRecord}). Packing halves the calldata of a struct array and skips its decoding (~540 gas
    /// a record measured). Ordering the records by activity keeps each activity's slot read once.
    function recordBatch(uint32 region, uint64 batchSeq, uint256[] calldata records) external whenNotPaused {
        Region memory r = _regions[region];
        if (!r.registered) revert LedgerUnknownRegion(region);
        if (r.paused) revert LedgerRegionPaused(region);
        if (!hasRole(regionIssuerRole(region), msg.sender)) revert LedgerNotIssuer(region, msg.sender);
        uint256 count = records.length;
        if (count == 0) revert LedgerInvalidBatch();
        uint256 seqKey = _accountKey(msg.sender, region);
        uint64 lastSeq = _batchSeqs[seqKey];
        if (batchSeq <= lastSeq) revert LedgerBatchAlreadyRecorded(region, msg.sender, batchSeq);
        if (batchSeq != lastSeq + 1) revert LedgerBatchOutOfOrder(region, msg.sender, lastSeq + 1);
        _batchSeqs[seqKey] = batchSeq;

        uint64 currentId = _NO_ACTIVITY; // a real id is < 2^48, so the first record always loads
        Activity memory activity;
        uint256 minted;
        for (uint256 i; i < count; ++i) {
            uint256 packed = records[i];
            uint64 activityId = uint64((packed >> 48) & _MASK48);
            if (activityId != currentId) {
                if (currentId != _NO_ACTIVITY) _activities[currentId].recorded = activity.recorded;
                activity = _loadRecordableActivity(activityId, region);
                currentId = activityId;
            }
            if (activity.capacity != 0 && activity.recorded >= activity.capacity) {
                revert LedgerActivityFull(activityId, activity.capacity);
            }
            unchecked {
                ++activity.recorded;
            }

            address participant = address(uint160(packed >> 96));
            if (participant == address(0)) revert LedgerZeroAddress();
            uint256 holdingKey = _accountKey(participant, region);
            uint256 word = _holdings[holdingKey];
            uint32 index = uint32(word >> 96);
            if (index == 0) {
                index = ++r.participantCount;
                word |= uint256(index) << 96;
            }
            uint256 bitsKey = _bitsKey(activityId, index);
            uint256 mask = 1 << (index & 255);
            uint256 bits = _recordBits[bitsKey];
            if (bits & mask != 0) revert LedgerDuplicateContribution(activityId, participant);
            _recordBits[bitsKey] = bits | mask;
            unchecked {
                // Cannot carry: a balance is at most the region's minted total (uint96, checked below),
                // and 2^32 records of one person would be needed to overflow the record count.
                word = word + activity.reward + _ONE_RECORD;
                minted += activity.reward;
            }
            _holdings[holdingKey] = word;
            emit ContributionRecorded(
                participant, activityId, region, activity.kind, activity.reward, uint64(packed & _MASK48), msg.sender
            );
        }
        _activities[currentId].recorded = activity.recorded;
        r.minted += uint96(minted);
        _regions[region] = r;
        emit BatchRecorded(region, msg.sender, batchSeq, uint32(count), minted);
    }

    /// @notice Revoke a wrong record. The record stays in history (its event and a revoked flag); the
    /// reward is burned from the participant's balance as far as it is unspent, and the rest is reported
    /// as `shortfall`. A revoked record cannot be recorded again for the same activity.
    /// @param reason 1 issued in error, 2 not present, 3 duplicate person, 4 participant's request, 5 other.
    /// @param evidenceHash Hash of the off-chain explanation (never personal data on chain).
    function revoke(uint64 activityId, address participant, uint8 reason, bytes32 evidenceHash)
        external
        whenNotPaused
    {
        Activity memory activity = _activities[activityId];
        uint32 region = activity.region;
        if (region == 0) revert LedgerUnknownActivity(activityId);
        _requireRegionAdmin(region);
        if (reason == 0 || reason > MAX_REVOCATION_REASON) revert LedgerInvalidReason(reason);
        uint256 holdingKey = _accountKey(participant, region);
        uint256 word = _holdings[holdingKey];
        uint32 index = uint32(word >> 96);
        uint256 bitsKey = _bitsKey(activityId, index);
        uint256 mask = 1 << (index & 255);
        if (index == 0 || _recordBits[bitsKey] & mask == 0) revert LedgerRecordNotFound(activityId, participant);
        uint256 revokedBits = _revokedBits[bitsKey];
        if (revokedBits & mask != 0) revert LedgerAlreadyRevoked(activityId, participant);
        _revokedBits[bitsKey] = revokedBits | mask;

        uint256 balance = word & _MASK96;
        uint64 clawedBack = balance < activity.reward ? uint64(balance) : activity.reward;
        _holdings[holdingKey] = word - clawedBack - _ONE_RECORD; // a live record exists, so records >= 1
        _revoked[region] += clawedBack;
        emit ContributionRevoked(
            participant, activityId, region, reason, clawedBack, activity.reward - clawedBack, evidenceHash, msg.sender
        );
    }

    // ------------------------------------------------------------------------------------------
    // Spending coins
    // ------------------------------------------------------------------------------------------

    /// @notice Spend `amount` of your coins of the project's region on supporting it.
    function support(uint64 projectId, uint64 amount) external whenNotPaused {
        _support(msg.sender, projectId, amount, address(0));
    }

    /// @notice Spend a supporter's coins with their EIP-712 `Support` signature; anyone may submit it,
    /// so the supporter needs no ETH. Works for EOAs and ERC-1271 contract wallets.
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
        _support(supporter, projectId, amount, msg.sender);
    }

    /// @inheritdoc ICoinLedger
    /// @dev Only the region's {RegionCoin} may call this, on behalf of its `msg.sender`.
    function transferCoin(uint32 region, address from, address to, uint256 amount) external whenNotPaused {
        if (msg.sender != _coins[region] || msg.sender == address(0)) revert LedgerNotRegionCoin(region, msg.sender);
        Region memory r = _regions[region];
        if (r.paused) revert LedgerRegionPaused(region);
        if (!r.transfersEnabled) revert LedgerTransfersDisabled(region);
        if (to == address(0)) revert LedgerZeroAddress();
        uint256 fromKey = _accountKey(from, region);
        uint256 fromWord = _holdings[fromKey];
        if (fromWord & _MASK96 < amount) revert LedgerInsufficientBalance(from, region, fromWord & _MASK96, amount);
        _holdings[fromKey] = fromWord - amount;
        _holdings[_accountKey(to, region)] += amount; // bounded by the region's minted total
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

    /// @notice Spendable coins of `holder` in `region` (also `RegionCoin.balanceOf`).
    function balanceOf(address holder, uint32 region) external view returns (uint256) {
        return _holdings[_accountKey(holder, region)] & _MASK96;
    }

    /// @notice Coins of `region` in circulation: minted − spent on support − revoked.
    function totalSupply(uint32 region) external view returns (uint256) {
        Region memory r = _regions[region];
        return uint256(r.minted) - r.spent - _revoked[region];
    }

    /// @notice A participant's holding in a region: balance, index (0 = never recorded) and live records.
    function holdingOf(address holder, uint32 region)
        external
        view
        returns (uint256 balance, uint32 index, uint32 records)
    {
        uint256 word = _holdings[_accountKey(holder, region)];
        return (word & _MASK96, uint32(word >> 96), uint32(word >> 128));
    }

    /// @notice A region's state and lifetime coin totals (minted, spent on support, revoked) and its coin.
    function regionInfo(uint32 region) external view returns (Region memory info, uint256 revoked, address coin) {
        return (_regions[region], _revoked[region], _coins[region]);
    }

    /// @notice The ERC-20 contract of a region's coin (zero if the region is unknown).
    function coinOf(uint32 region) external view returns (address) {
        return _coins[region];
    }

    /// @notice An activity as registered, with the number of records made so far.
    function activityInfo(uint64 activityId) external view returns (Activity memory activity, bytes32 metadataHash) {
        return (_activities[activityId], _activityMetadata[activityId]);
    }

    /// @notice A project and the coins it has raised.
    function projectInfo(uint64 projectId) external view returns (Project memory project, bytes32 metadataHash) {
        return (_projects[projectId], _projectMetadata[projectId]);
    }

    /// @notice Whether `participant` has a record for `activityId`, and whether it was revoked.
    function recordOf(uint64 activityId, address participant) external view returns (bool recorded, bool revoked) {
        uint32 region = _activities[activityId].region;
        uint32 index = uint32(_holdings[_accountKey(participant, region)] >> 96);
        if (region == 0 || index == 0) return (false, false);
        uint256 key = _bitsKey(activityId, index);
        uint256 mask = 1 << (index & 255);
        return (_recordBits[key] & mask != 0, _revokedBits[key] & mask != 0);
    }

    /// @notice Pack one record for {recordBatch}. Ids above 2^48 - 1 cannot be packed.
    function packRecord(address participant, uint64 activityId, uint64 claimId) external pure returns (uint256) {
        if (activityId > _MASK48 || claimId > _MASK48) revert LedgerInvalidBatch();
        return (uint256(uint160(participant)) << 96) | (uint256(activityId) << 48) | claimId;
    }

    /// @notice The sequence number `issuer` must give its next batch in `region` (1 for the first).
    function nextBatchSeq(address issuer, uint32 region) external view returns (uint64) {
        return _batchSeqs[_accountKey(issuer, region)] + 1;
    }

    /// @notice Ids of the last registered activity and project (ids start at 1).
    function lastIds() external view returns (uint64 activityId, uint64 projectId) {
        return (_lastActivityId, _lastProjectId);
    }

    /// @notice The EIP-712 domain separator for `Support` signatures.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    function _support(address supporter, uint64 projectId, uint64 amount, address relayer) private {
        Project memory project = _projects[projectId];
        uint32 region = project.region;
        if (region == 0) revert LedgerUnknownProject(projectId);
        if (project.closed) revert LedgerProjectClosed(projectId);
        Region memory r = _regions[region];
        if (r.paused) revert LedgerRegionPaused(region);
        if (amount == 0) revert LedgerZeroAmount();
        uint256 holdingKey = _accountKey(supporter, region);
        uint256 word = _holdings[holdingKey];
        if (word & _MASK96 < amount) revert LedgerInsufficientBalance(supporter, region, word & _MASK96, amount);
        _holdings[holdingKey] = word - amount;
        r.spent += amount;
        _regions[region] = r;
        _projects[projectId].raised = project.raised + amount;
        emit ProjectSupported(projectId, region, supporter, amount, relayer);
    }

    function _loadRecordableActivity(uint64 activityId, uint32 region) private view returns (Activity memory a) {
        a = _activities[activityId];
        if (a.region == 0) revert LedgerUnknownActivity(activityId);
        if (a.region != region) revert LedgerActivityRegionMismatch(activityId, region);
        if (a.closed) revert LedgerActivityClosed(activityId);
        if (block.timestamp < a.startsAt) revert LedgerActivityNotStarted(activityId, a.startsAt);
        if (block.timestamp > uint256(a.endsAt) + RECORDING_GRACE) revert LedgerActivityEnded(activityId, a.endsAt);
    }

    function _requireRegistered(uint32 region) private view {
        if (!_regions[region].registered) revert LedgerUnknownRegion(region);
    }

    function _requireActiveRegion(uint32 region) private view {
        Region memory r = _regions[region];
        if (!r.registered) revert LedgerUnknownRegion(region);
        if (r.paused) revert LedgerRegionPaused(region);
    }

    function _requireRegionAdmin(uint32 region) private view {
        if (!hasRole(regionAdminRole(region), msg.sender)) revert LedgerNotRegionAdmin(region, msg.sender);
    }

    function _accountKey(address holder, uint32 region) private pure returns (uint256) {
        return (uint256(uint160(holder)) << 32) | region;
    }

    function _bitsKey(uint64 activityId, uint32 index) private pure returns (uint256) {
        return (uint256(activityId) << 32) | (index >> 8);
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
