"""Fast decoding of raw ``eth_getLogs`` results with ABIs parsed once.

web3's ``process_log`` rebuilds ABI machinery per log and is far too slow for a backfill (see the
index benchmark). Here each event's layout is parsed once into a plan; a log is decoded by slicing
its hex strings: a uint is ``int(word, 16)``, an address the last 40 hex digits, a bool the last
digit, a ``bytes32`` the word itself. Events with dynamic fields (only ``RegionRegistered``'s two
strings) go through ``eth_abi``. Anything that does not fit its plan raises :class:`DecodeError`,
which the runner records as an undecodable log instead of crashing or dropping it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import event_signature_to_log_topic

from ledger.indexer.spec import IndexedContract

__all__ = ["DecodeError", "EventPlan", "EventDecoder", "event_topic"]

_STATIC_SCALARS = ("uint", "int", "address", "bool", "bytes32")


class DecodeError(ValueError):
    """A log that does not match the ABI of the event its first topic names."""


def _type_string(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_type_string(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


def event_topic(event: dict[str, Any]) -> str:
    """``0x``-hex topic0 of an ABI event entry."""
    signature = f"{event['name']}({','.join(_type_string(p) for p in event['inputs'])})"
    return "0x" + bytes(event_signature_to_log_topic(signature)).hex()


def _scalar_kind(abi_type: str) -> str | None:
    if abi_type == "address":
        return "address"
    if abi_type == "bool":
        return "bool"
    if abi_type == "bytes32":
        return "bytes32"
    if abi_type.startswith("uint"):
        return "uint"
    if abi_type.startswith("int"):
        return "int"
    return None


@dataclass(frozen=True)
class EventPlan:
    """How to decode one event: where each input comes from and how to read it."""

    key: str  # "Contract:Event"
    name: str
    topic0: str
    names: tuple[str, ...]
    # per input: (from_topic, position, kind); kind None = dynamic (decoded by eth_abi)
    fields: tuple[tuple[bool, int, str | None], ...]
    topic_count: int
    data_types: tuple[str, ...]
    static_data: bool
    # per input: (name, from_topic, topic index or hex offset in the data, converter); static events only
    readers: tuple[tuple[str, bool, int, Callable[[str], Any]], ...] = ()

    def decode(self, topics: list[str], data: str) -> dict[str, Any]:
        """The event's arguments by name; :class:`DecodeError` when the log does not fit."""
        if len(topics) != self.topic_count:
            raise DecodeError(f"{self.name}: {len(topics)} topics, expected {self.topic_count}")
        body = data[2:] if data.startswith("0x") else data
        if self.static_data:
            if len(body) != 64 * len(self.data_types):
                raise DecodeError(f"{self.name}: {len(body) // 2} data bytes, expected {32 * len(self.data_types)}")
            args: dict[str, Any] = {}
            for name, from_topic, start, read in self.readers:
                word = topics[start][2:] if from_topic else body[start : start + 64]
                if from_topic and len(word) != 64:
                    raise DecodeError(f"{self.name}: malformed topic for {name}")
                args[name] = read(word)
            return args
        try:
            dynamic = abi_decode(list(self.data_types), bytes.fromhex(body))
        except Exception as exc:  # noqa: BLE001 - eth_abi raises several types for bad data
            raise DecodeError(f"{self.name}: {exc}") from None
        args = {}
        for name, (from_topic, position, kind) in zip(self.names, self.fields, strict=True):
            if from_topic:
                word = topics[position][2:]
                if len(word) != 64:
                    raise DecodeError(f"{self.name}: malformed topic for {name}")
                args[name] = _READERS[kind or "bytes32"](word)
                continue
            value: Any = dynamic[position]
            if isinstance(value, bytes):
                value = "0x" + value.hex()
            elif isinstance(value, str) and value.startswith("0x") and len(value) == 42:
                value = value.lower()
            args[name] = value
        return args


def _uint(word: str) -> int:
    return int(word, 16)


def _address(word: str) -> str:
    return "0x" + word[24:].lower()


def _bool(word: str) -> bool:
    return word[63] != "0"


def _bytes32(word: str) -> str:
    return "0x" + word.lower()


def _int_signed(word: str) -> int:
    value = int(word, 16)
    return value - (1 << 256) if value >= 1 << 255 else value


_READERS: dict[str, Callable[[str], Any]] = {
    "uint": _uint,
    "address": _address,
    "bool": _bool,
    "bytes32": _bytes32,
    "int": _int_signed,
}


def _plan(contract: IndexedContract, event: dict[str, Any]) -> EventPlan:
    names: list[str] = []
    fields: list[tuple[bool, int, str | None]] = []
    data_types: list[str] = []
    topic_position = 1
    static = all(_scalar_kind(_type_string(p)) is not None for p in event["inputs"] if not p["indexed"])
    for param in event["inputs"]:
        abi_type = _type_string(param)
        names.append(param["name"])
        if param["indexed"]:
            kind = _scalar_kind(abi_type)
            if kind is None:  # an indexed dynamic value is only its hash
                kind = "bytes32"
            fields.append((True, topic_position, kind))
            topic_position += 1
        else:
            fields.append((False, len(data_types), _scalar_kind(abi_type) if static else None))
            data_types.append(abi_type)
    return EventPlan(
        key=f"{contract.name}:{event['name']}",
        name=event["name"],
        topic0=event_topic(event),
        names=tuple(names),
        fields=tuple(fields),
        topic_count=topic_position,
        data_types=tuple(data_types),
        static_data=static,
        readers=tuple(
            (name, from_topic, position if from_topic else 64 * position, _READERS[kind or "bytes32"])
            for name, (from_topic, position, kind) in zip(names, fields, strict=True)
        ),
    )


class EventDecoder:
    """Decoders for every event of the indexed contracts, by (address, topic0)."""

    def __init__(self, contracts: tuple[IndexedContract, ...]) -> None:
        self.plans: dict[tuple[str, str], EventPlan] = {}
        for contract in contracts:
            for event in contract.events():
                if event.get("anonymous"):
                    continue
                plan = _plan(contract, event)
                self.plans[contract.address, plan.topic0] = plan

    def plan_for(self, address: str, topics: list[str]) -> EventPlan:
        if not topics:
            raise DecodeError("a log without topics (anonymous events are not part of the ABI)")
        plan = self.plans.get((address.lower(), topics[0].lower()))
        if plan is None:
            raise DecodeError(f"unknown topic {topics[0]} for {address}")
        return plan
