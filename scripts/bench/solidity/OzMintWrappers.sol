// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

// Benchmark baselines only (scripts/bench/gas.py): the thinnest possible OpenZeppelin 5.x tokens with a
// public mint, compiled at bench time with the product's compiler settings and never deployed anywhere
// but a throwaway devnet. `mint` is deliberately unrestricted: no access-control check is charged to the
// baseline, so the comparison with the ledger's recordBatch (which checks the issuer role) is in the
// baseline's favour.

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

contract BenchERC1155 is ERC1155 {
    constructor() ERC1155("") {}

    function mint(address to, uint256 id, uint256 amount) external {
        _mint(to, id, amount, "");
    }
}

contract BenchERC20 is ERC20 {
    constructor() ERC20("Bench", "BNCH") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

contract BenchERC721 is ERC721 {
    constructor() ERC721("Bench", "BNCH") {}

    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }
}
