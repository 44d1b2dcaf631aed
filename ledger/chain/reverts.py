"""Turning a revert, however the node reported it, into a typed :class:`ledger.errors.ContractError`.

anvil reports custom errors through web3 as ``ContractCustomError`` with the ABI-encoded data;
py-evm (eth-tester) raises ``TransactionFailed`` whose message carries the same bytes. Both are
decoded with the selectors of our contracts' ABIs.
"""

from __future__ import annotations

import ast
from functools import cache
from typing import Any

from eth_abi.abi import decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from web3.exceptions import ContractLogicError

from ledger.chain.artifacts import load_artifact
from ledger.errors import CONTRACT_ERRORS, ContractError, TransactionFailed

__all__ = ["revert_data", "decode_revert", "translate_revert"]

_ABI_CONTRACTS = ("TsunagariLedger", "RegionCoin")


def _type_string(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_type_string(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


@cache
def _error_table() -> dict[bytes, tuple[str, list[str], list[str]]]:
    table: dict[bytes, tuple[str, list[str], list[str]]] = {}
    for contract in _ABI_CONTRACTS:
        for item in load_artifact(contract).abi:
            if item["type"] != "error":
                continue
            types = [_type_string(p) for p in item["inputs"]]
            selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
            table[selector] = (item["name"], [p["name"] for p in item["inputs"]], types)
    return table


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data carried by a web3 or eth-tester exception, if any."""
    if isinstance(exc, ContractLogicError):
        data = exc.data
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        return None
    if type(exc).__name__ == "TransactionFailed" and exc.args:
        message = str(exc.args[0])
        prefix = "execution reverted: "
        if message.startswith(prefix):
            literal = message[len(prefix) :]
            try:
                value = ast.literal_eval(literal)
            except (ValueError, SyntaxError):
                return None
            return value if isinstance(value, bytes) else None
    return None


def _normalise(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return value


def decode_revert(data: bytes) -> ContractError | None:
    """The typed error for revert ``data``, or None when the selector is not one of ours."""
    if len(data) < 4:
        return None
    entry = _error_table().get(data[:4])
    if entry is None:
        return None
    name, names, types = entry
    values = decode(types, data[4:])
    args = {n: _normalise(v) for n, v in zip(names, values, strict=True)}
    cls = CONTRACT_ERRORS.get(name, ContractError)
    return cls(name, args)


def translate_revert(exc: BaseException) -> BaseException:
    """``exc`` as a ledger error when it is a revert we understand, else ``exc`` unchanged."""
    data = revert_data(exc)
    if data is not None:
        decoded = decode_revert(data)
        if decoded is not None:
            return decoded
        return TransactionFailed(f"reverted with unknown data 0x{data.hex()}")
    if isinstance(exc, ContractLogicError):
        return TransactionFailed(str(exc.message or exc))
    return exc
