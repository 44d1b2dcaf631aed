// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";

/// @notice What a {RegionCoin} needs from the ledger that holds its balances.
interface ICoinLedger {
    function balanceOf(address holder, uint32 region) external view returns (uint256);
    function totalSupply(uint32 region) external view returns (uint256);
    function transferCoin(uint32 region, address from, address to, uint256 amount) external;
}

/// @title RegionCoin — the ERC-20 face of one region's community coin
/// @notice Balances live in {TsunagariLedger}; this contract lets wallets and explorers read them
/// through the standard ERC-20 interface (`balanceOf`, `totalSupply`, `name`, `symbol`, `decimals`).
/// Coins are whole units (`decimals() == 0`), cannot be bought or cashed, and by default cannot be
/// transferred between people: `transfer` reverts with the ledger's `LedgerTransfersDisabled` unless
/// the region admin has enabled transfers. Allowances are not supported at all, so a coin can never be
/// moved by a third party; spending on support goes through the ledger.
/// @dev Mints and burns are recorded by the ledger's own events (`ContributionRecorded`,
/// `ContributionRevoked`, `ProjectSupported`), not by ERC-20 `Transfer` events: ERC-20 says a mint
/// SHOULD (not MUST) emit one, and leaving it out saves ~1,750 gas per record (see
/// docs/decisions/0001-storage-layout.md).
contract RegionCoin is IERC20, IERC20Metadata {
    /// @notice `approve` and `transferFrom` are not part of a region coin.
    error RegionCoinAllowancesUnsupported();

    ICoinLedger public immutable ledger;
    uint32 public immutable region;
    string private _name;
    string private _symbol;

    constructor(ICoinLedger ledger_, uint32 region_, string memory name_, string memory symbol_) {
        ledger = ledger_;
        region = region_;
        _name = name_;
        _symbol = symbol_;
    }

    /// @inheritdoc IERC20Metadata
    function name() external view returns (string memory) {
        return _name;
    }

    /// @inheritdoc IERC20Metadata
    function symbol() external view returns (string memory) {
        return _symbol;
    }

    /// @inheritdoc IERC20Metadata
    function decimals() external pure returns (uint8) {
        return 0;
    }

    /// @inheritdoc IERC20
    function totalSupply() external view returns (uint256) {
        return ledger.totalSupply(region);
    }

    /// @inheritdoc IERC20
    function balanceOf(address account) external view returns (uint256) {
        return ledger.balanceOf(account, region);
    }

    /// @inheritdoc IERC20
    /// @dev Reverts `LedgerTransfersDisabled(region)` unless the region enabled transfers.
    function transfer(address to, uint256 value) external returns (bool) {
        ledger.transferCoin(region, msg.sender, to, value);
        emit Transfer(msg.sender, to, value);
        return true;
    }

    /// @inheritdoc IERC20
    function allowance(address, address) external pure returns (uint256) {
        return 0;
    }

    /// @inheritdoc IERC20
    function approve(address, uint256) external pure returns (bool) {
        revert RegionCoinAllowancesUnsupported();
    }

    /// @inheritdoc IERC20
    function transferFrom(address, address, uint256) external pure returns (bool) {
        revert RegionCoinAllowancesUnsupported();
    }
}
