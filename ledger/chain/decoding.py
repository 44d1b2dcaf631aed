"""Fast decoding of raw logs (``eth_getLogs`` results, receipts) with ABIs parsed once.

Used by the indexer (every log of a backfill), the relayer (the ``ContributionRecorded`` logs of
its receipts) and the export's verify.

web3's ``process_log`` rebuilds ABI machinery per log and is far too slow for a backfill (see the
index benchmark). Here each event's layout is parsed once into a plan. An event whose data is
fixed-size words only (all but one) gets a decoder function generated from its layout: one
``bytes.fromhex`` of the data field, then a uint is ``int.from_bytes`` of its 32-byte slice, an
address the slice's last 20 bytes in hex, a bool its last byte, a ``bytes32`` the slice in hex; topics
are read from their hex strings. Events with dynamic fields (only ``RegionRegistered``'s two
strings) go through ``eth_abi``. Anything that does not fit its plan raises :class:`DecodeError`,
which the runner records as an undecodable log instead of crashing or dropping it.

Start-up matters too (``tsunagari index backfill`` is a process, issue 19): the topics are hashed
with ``sha3`` (safe-pysha3's C keccak, ~10 ms to import) rather than through ``eth_utils``, and
``eth_abi`` (~0.3 s) is imported the first time a dynamic event is decoded, not with this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sha3

from ledger.errors import TsunagariError

__all__ = ["ContractAbi", "DecodeError", "EventPlan", "EventDecoder", "event_topic"]

_STATIC_SCALARS = ("uint", "int", "address", "bool", "bytes32")


@dataclass(frozen=True)
class ContractAbi:
    """A contract whose logs are decoded: its name (the "Contract" of ``"Contract:Event"`` keys), its
    lowercase address and its ABI."""

    name: str
    address: str
    abi: tuple[dict[str, Any], ...]

    def events(self) -> list[dict[str, Any]]:
        return [item for item in self.abi if item["type"] == "event"]


class DecodeError(TsunagariError, ValueError):
    """A log that does not match the ABI of the event its first topic names."""


def _type_string(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_type_string(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


def event_topic(event: dict[str, Any]) -> str:
    """``0x``-hex topic0 of an ABI event entry."""
    signature = f"{event['name']}({','.join(_type_string(p) for p in event['inputs'])})"
    return "0x" + str(sha3.keccak_256(signature.encode("ascii")).hexdigest())


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
    # static events only: a function compiled once from the layout (see _compile_static)
    static_decoder: Callable[[list[str], str], dict[str, Any]] | None = None

    def decode(self, topics: list[str], data: str) -> dict[str, Any]:
        """The event's arguments by name; :class:`DecodeError` when the log does not fit."""
        if self.static_decoder is not None:
            return self.static_decoder(topics, data)
        if len(topics) != self.topic_count:
            raise DecodeError(f"{self.name}: {len(topics)} topics, expected {self.topic_count}")
        body = data[2:] if data.startswith("0x") else data
        from eth_abi.abi import decode as abi_decode  # only dynamic events need it (see the docstring)

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

# How a static decoder reads one 32-byte word: from a topic (a "0x" + 64 hex digits string) or from
# ``raw``, the bytes of the whole data field (one ``bytes.fromhex`` per log). ``int(hex, 16)`` on a
# 64-digit string costs about four times ``int.from_bytes`` on the 32 bytes, so both go through bytes.
_TOPIC_EXPRESSIONS = {
    "uint": "_from_bytes(_fromhex(t{i}[2:]), 'big')",
    "int": "_from_bytes(_fromhex(t{i}[2:]), 'big', signed=True)",
    "address": "'0x' + t{i}[26:].lower()",
    "bool": "t{i}[65] != '0'",
    "bytes32": "'0x' + t{i}[2:].lower()",
}
_DATA_EXPRESSIONS = {
    "uint": "_from_bytes(raw[{o}:{e}], 'big')",
    "int": "_from_bytes(raw[{o}:{e}], 'big', signed=True)",
    "address": "'0x' + raw[{a}:{e}].hex()",
    "bool": "raw[{last}] != 0",
    "bytes32": "'0x' + raw[{o}:{e}].hex()",
}


def _compile_static(
    name: str, names: tuple[str, ...], fields: tuple[tuple[bool, int, str | None], ...], topic_count: int, words: int
) -> Callable[[list[str], str], dict[str, Any]]:
    """A decoder for an event whose data is fixed-size words only, generated once as Python source:
    the checks and the reads of every field inline, no per-field calls (the backfill's hot path).

    It raises :class:`DecodeError` with the same reasons as the general path: a wrong topic count,
    a wrong data length, a malformed topic or data that is not hex.
    """
    lines = [
        "def decode(topics, data):",
        f"    if len(topics) != {topic_count}:",
        f"        raise DecodeError(f'{{NAME}}: {{len(topics)}} topics, expected {topic_count}')",
        "    body = data[2:] if data.startswith('0x') else data",
        f"    if len(body) != {64 * words}:",
        f"        raise DecodeError(f'{{NAME}}: {{len(body) // 2}} data bytes, expected {32 * words}')",
    ]
    for i in range(1, topic_count):
        lines.append(f"    t{i} = topics[{i}]")
    entries = []
    for arg, (from_topic, position, kind) in zip(names, fields, strict=True):
        if from_topic:
            lines.append(f"    if len(t{position}) != 66:")
            lines.append(f"        raise DecodeError({f'{name}: malformed topic for {arg}'!r})")
            expression = _TOPIC_EXPRESSIONS[kind or "bytes32"].format(i=position)
        else:
            o = 32 * position
            expression = _DATA_EXPRESSIONS[kind or "bytes32"].format(o=o, e=o + 32, a=o + 12, last=o + 31)
        entries.append(f"{arg!r}: {expression}")
    lines += [
        "    try:",
        "        raw = _fromhex(body)",
        f"        if len(raw) != {32 * words}:",  # fromhex skips whitespace
        "            raise ValueError",
        "        return {" + ", ".join(entries) + "}",
        "    except ValueError:",
        f"        raise DecodeError({f'{name}: data or topics are not hex'!r}) from None",
    ]
    namespace: dict[str, Any] = {
        "NAME": name,
        "DecodeError": DecodeError,
        "_fromhex": bytes.fromhex,
        "_from_bytes": int.from_bytes,
    }
    # The source holds only names from the ABI (as literals) and offsets: nothing from the chain.
    exec(compile("\n".join(lines), f"<decoder {name}>", "exec"), namespace)
    decode: Callable[[list[str], str], dict[str, Any]] = namespace["decode"]
    return decode


def _plan(contract: ContractAbi, event: dict[str, Any]) -> EventPlan:
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
    plan = EventPlan(
        key=f"{contract.name}:{event['name']}",
        name=event["name"],
        topic0=event_topic(event),
        names=tuple(names),
        fields=tuple(fields),
        topic_count=topic_position,
        data_types=tuple(data_types),
        static_data=static,
    )
    if not static:
        return plan
    return replace(
        plan, static_decoder=_compile_static(plan.name, plan.names, plan.fields, topic_position, len(data_types))
    )


class EventDecoder:
    """Decoders for every event of ``contracts``, by (address, topic0)."""

    def __init__(self, contracts: Sequence[ContractAbi]) -> None:
        self.plans: dict[tuple[str, str], EventPlan] = {}
        for contract in contracts:
            for event in contract.events():
                if event.get("anonymous"):
                    continue
                plan = _plan(contract, event)
                self.plans[contract.address, plan.topic0] = plan
        # The plans by (address, topic0) as the node spelled them: skips two lower() per log.
        self._spelled: dict[tuple[str, str], EventPlan] = {}

    def plan_for(self, address: str, topics: list[str]) -> EventPlan:
        if not topics:
            raise DecodeError("a log without topics (anonymous events are not part of the ABI)")
        spelled = (address, topics[0])
        plan = self._spelled.get(spelled)
        if plan is not None:
            return plan
        plan = self.plans.get((address.lower(), topics[0].lower()))
        if plan is None:
            raise DecodeError(f"unknown topic {topics[0]} for {address}")
        if len(self._spelled) < 4 * len(self.plans):  # bounded, whatever case mix a node sends
            self._spelled[spelled] = plan
        return plan
