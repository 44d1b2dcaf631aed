"""A lean JSON-RPC client for the indexer: raw JSON in, raw JSON out, batch calls.

The indexer needs three calls — ``eth_blockNumber``, ``eth_getLogs`` and ``eth_getBlockByNumber``
— and needs them fast and with honest errors: transport failures become
:class:`ledger.errors.ChainUnavailable` (the runner retries with backoff and reports lag), a node's
"too many results / range too large" answer becomes :class:`RangeTooLarge` (the runner halves the
range), any other JSON-RPC error :class:`RpcError`. Over HTTP it uses one keep-alive ``httpx``
client and ``orjson``; for the in-process py-evm chain it goes through the web3 provider.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import orjson

from ledger.errors import ChainUnavailable, TsunagariError

if TYPE_CHECKING:  # web3 is imported by the in-process chain's callers, not on an HTTP indexer's start
    from web3 import Web3

__all__ = ["RpcError", "RangeTooLarge", "JsonRpc", "HttpJsonRpc", "ProviderJsonRpc", "json_rpc_for", "quantity"]

_RANGE_ERRORS = re.compile(
    r"too many|more than \d+ (results|logs)|range|limit exceeded|response size|exceed|query timeout|too large",
    re.IGNORECASE,
)


def quantity(value: Any) -> int:
    """A JSON-RPC QUANTITY (``"0x1a"``) as an int; ints pass through (the in-process chain)."""
    return int(value, 16) if isinstance(value, str) else int(value)


class RpcError(TsunagariError):
    """The node answered a call with a JSON-RPC error."""

    def __init__(self, method: str, error: Any) -> None:
        self.method = method
        self.error = error
        message = error.get("message", error) if isinstance(error, dict) else error
        super().__init__(f"{method}: {message}")


class RangeTooLarge(RpcError):
    """The node refused an ``eth_getLogs`` range as too large or too many results."""


def _raise_for(method: str, error: Any) -> None:
    text = str(error.get("message", "")) if isinstance(error, dict) else str(error)
    if method == "eth_getLogs" and _RANGE_ERRORS.search(text):
        raise RangeTooLarge(method, error)
    raise RpcError(method, error)


class JsonRpc(Protocol):
    def call(self, method: str, params: list[Any]) -> Any: ...

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]: ...

    def close(self) -> None: ...


class HttpJsonRpc:
    """JSON-RPC over HTTP with keep-alive and orjson."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self._client = httpx.Client(timeout=timeout_s, headers={"Content-Type": "application/json"})
        self._id = 0
        self.batching = True  # switched off for good when the node refuses batch requests

    def _post(self, payload: Any) -> Any:
        try:
            response = self._client.post(self.url, content=orjson.dumps(payload))
        except httpx.HTTPError as exc:
            raise ChainUnavailable(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ChainUnavailable(f"{self.url} answered HTTP {response.status_code}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise ChainUnavailable(f"{self.url} sent malformed JSON (HTTP {response.status_code})") from exc

    def call(self, method: str, params: list[Any]) -> Any:
        self._id += 1  # ids only need to be unique within one request
        answer = self._post({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        if not isinstance(answer, dict):
            raise ChainUnavailable(f"{self.url} sent an unexpected answer to {method}")
        if "error" in answer:
            _raise_for(method, answer["error"])
        return answer.get("result")

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        if not calls:
            return []
        if not self.batching:
            return [self.call(method, params) for method, params in calls]
        first = self._id + 1
        self._id += len(calls)
        payload = [
            {"jsonrpc": "2.0", "id": first + i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls)
        ]
        answers = self._post(payload)
        if not isinstance(answers, list):  # a node without batch support answers with one error object
            self.batching = False
            return [self.call(method, params) for method, params in calls]
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results = []
        for i, (method, _params) in enumerate(calls):
            answer = by_id.get(first + i)
            if answer is None:
                raise ChainUnavailable(f"{self.url} left call {method} of a batch unanswered")
            if "error" in answer:
                _raise_for(method, answer["error"])
            results.append(answer.get("result"))
        return results

    def close(self) -> None:
        self._client.close()


def _plain(value: Any) -> Any:
    """web3's in-process answers use HexBytes/AttributeDict; the indexer wants JSON-RPC shapes."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return hex(value)
    return value


class ProviderJsonRpc:
    """The indexer's three calls against an in-process web3 (the py-evm chain).

    eth-tester's provider takes web3-formatted parameters, not raw JSON-RPC ones, so the calls go
    through ``w3.eth`` and the answers are turned back into JSON-RPC shapes.
    """

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def call(self, method: str, params: list[Any]) -> Any:
        eth = self.w3.eth
        if method == "eth_blockNumber":
            return hex(eth.block_number)
        if method == "eth_getBlockByNumber":
            try:
                return _plain(eth.get_block(int(params[0], 16)))
            except Exception:  # noqa: BLE001 - eth-tester raises its own BlockNotFound
                return None
        if method == "eth_getLogs":
            from web3 import Web3

            query = params[0]
            addresses = query["address"] if isinstance(query["address"], list) else [query["address"]]
            found = eth.get_logs(
                {
                    "fromBlock": int(query["fromBlock"], 16),
                    "toBlock": int(query["toBlock"], 16),
                    "address": [Web3.to_checksum_address(a) for a in addresses],
                }
            )
            return [_plain(entry) for entry in found]
        raise RpcError(method, "not supported by the in-process chain")

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        return [self.call(method, params) for method, params in calls]

    def close(self) -> None:
        """Nothing to release."""


def json_rpc_for(w3: Web3, rpc_url: str | None, timeout_s: float = 10.0) -> JsonRpc:
    """HTTP when there is a URL, else through ``w3``'s provider."""
    if rpc_url:
        return HttpJsonRpc(rpc_url, timeout_s)
    return ProviderJsonRpc(w3)
