"""Per-export pseudonyms for people's addresses.

``pseudonym = "p_" + hex(sha256(salt ‖ address))[:32]`` where ``address`` is the 20 address bytes
and ``salt`` a secret of at least 16 bytes (32 random bytes unless the operator chooses one). The
salt stays with the exporter; the export carries only a fingerprint of it
(``sha256("tsunagari-export-salt-v1" ‖ salt)``), so ``verify`` can tell a wrong salt from edited
data. Two exports made with different salts give the same person different pseudonyms; an operator
who wants exports to be joinable reuses one salt on purpose.

What this does not protect is in docs/export.md ("What pseudonymisation protects"): with access to
the chain, the provenance columns lead to the log and its raw address.
"""

from __future__ import annotations

import array
import hashlib
import mmap
import secrets
import struct
from collections.abc import Callable

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ledger.export.errors import InvalidExportOptions

__all__ = ["PREFIX", "SCHEME", "SALT_BYTES", "MIN_SALT_BYTES", "new_salt", "salt_fingerprint", "Pseudonymiser"]

PREFIX = "p_"
SCHEME = "prefix + first 32 hex digits of sha256(salt || 20 address bytes)"  # as the manifest names it
SALT_BYTES = 32
MIN_SALT_BYTES = 16
_DIGEST_HEX = 32  # 128 bits: collisions are out of reach for any population of people
_FINGERPRINT_TAG = b"tsunagari-export-salt-v1"
_WIDTH = len(PREFIX) + _DIGEST_HEX  # every pseudonym is this many ASCII bytes
_ADDRESS = 42  # bytes of an address's text, "0x" + 40 hex digits
_ONE_CACHE_LIMIT = 262_144  # ``one`` (verify asks one address at a time): a plain bounded dict
# The directory remembers at most this many people (76 bytes each in its stores, 24-48 in its
# table: ~130 MB at most), then starts over.
_DIRECTORY_LIMIT = 1 << 20
_FIRST_BITS = 20  # 2^20 slots to start with: 12 MB of address space, touched as people arrive
_ROUNDS = 8  # probing rounds run in Arrow; the rare longer runs are finished in Python
_MIX = 0x9E3779B97F4A7C15  # an odd 64-bit multiplier (2^64 / golden ratio)

Hasher = Callable[[list[str]], bytes]  # addresses → their pseudonyms, concatenated


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def salt_fingerprint(salt: bytes) -> str:
    return hashlib.sha256(_FINGERPRINT_TAG + salt).hexdigest()


def _zeros(size: int) -> mmap.mmap:
    """Writable zeroed memory that costs nothing until its pages are touched (an anonymous mapping)."""
    return mmap.mmap(-1, max(size, 1))


def _view(memory: mmap.mmap, kind: pa.DataType, n: int) -> pa.Array:
    """The first ``n`` fixed-width values in ``memory`` as an Arrow array, without a copy."""
    return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(memory)])


def _scalar(value: int, kind: pa.DataType) -> pa.Scalar:
    """An integer as an Arrow scalar of ``kind`` (int32, int64 or uint64). Built from a buffer because
    ``pa.scalar`` — and so any kernel given a Python int — imports pandas on first use (0.7 s)."""
    code = {pa.int32(): "=i", pa.int64(): "=q", pa.uint64(): "=Q"}[kind]  # native order, as Arrow
    return pa.Array.from_buffers(kind, 1, [None, pa.py_buffer(struct.pack(code, value))])[0]


def _int64s(values: list[int]) -> pa.Array:
    """Python ints as an Arrow array. Not ``pa.array(list)``: its first call imports pandas (0.7 s)."""
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(array.array("q", values))])


def _keys(fixed: pa.FixedSizeBinaryArray) -> pa.UInt64Array:
    """A 64-bit key of each 42-byte address: its five 8-byte words of hex digits, each folded in
    with xor and a multiply by an odd constant, so the top bits (the table slot) depend on all."""
    key = None
    mix = _scalar(_MIX, pa.uint64())
    for start in range(2, _ADDRESS, 8):
        piece = pc.binary_slice(fixed, start, start + 8)  # fixed_size_binary[8], packed
        word = pa.Array.from_buffers(pa.uint64(), len(piece), [None, piece.buffers()[1]], offset=piece.offset)
        key = pc.multiply(word if key is None else pc.bit_wise_xor(key, word), mix)
    return key


class _Directory:
    """Every address pseudonymised so far, looked up a whole window at a time in Arrow.

    With ~460,000 people in 5M records nearly every row of a 32k-row window is a different person,
    usually one seen before. A Python dict lookup per row costs ~1 µs on the 2-core machine (once the
    dict outgrows the CPU cache), as much as hashing again: the bounded dict cache this replaces took
    1.6 s of CPU in a 5 s export of 1M rows (plus 0.7 s for the pandas import of ``pa.array(list)``).
    Here each person gets an *id*: their row in two fixed-width stores (address text, pseudonym).
    An open-addressing table (linear probing, at most half full) maps a 64-bit key of the address to
    the id. A window is looked up with a few Arrow kernels over all its rows (gather the slot,
    compare the key, compare the stored address): 0.17 s per 1M rows once everyone is known. Python
    runs only for people not seen before (to hash them, ~2 µs each), for the rare probe runs longer
    than ``_ROUNDS``, and for values that are not 42 bytes or whose key another address holds
    (those get ids kept in ``_odd``).
    """

    def __init__(self) -> None:
        self.count = 0  # ids handed out
        self._capacity = 0
        self._addresses = _zeros(0)
        self._pseudonyms = _zeros(0)
        self._odd: dict[str, int] = {}
        self._arange = _int64s([])
        self._table(_FIRST_BITS)

    def _table(self, bits: int) -> None:
        self._bits = bits
        self._used = 0
        self._key_memory = _zeros(8 << bits)
        self._id_memory = _zeros(4 << bits)  # id + 1; 0 is an empty slot
        self._slot_keys = memoryview(self._key_memory).cast("Q")
        self._slot_ids = memoryview(self._id_memory).cast("I")

    def _grow_table(self) -> None:
        """Twice the slots, every key placed again (in Python: it happens log2(people) times)."""
        ids = _view(self._id_memory, pa.uint32(), 1 << self._bits)
        occupied = pc.indices_nonzero(ids)
        keys = pc.take(_view(self._key_memory, pa.uint64(), 1 << self._bits), occupied).to_pylist()
        values = pc.take(ids, occupied).to_pylist()
        self._table(self._bits + 1)
        shift, mask = 64 - self._bits, (1 << self._bits) - 1
        slot_keys, slot_ids = self._slot_keys, self._slot_ids
        for key, value in zip(keys, values, strict=True):
            slot = key >> shift
            while slot_ids[slot]:
                slot = (slot + 1) & mask
            slot_keys[slot] = key
            slot_ids[slot] = value
        self._used = len(keys)

    def _store(self, texts: bytes | memoryview, pseudonyms: bytes, n: int) -> int:
        """Append ``n`` people (their address texts, or b"" when not 42 bytes, and pseudonyms, each
        concatenated); returns the first one's id."""
        if self.count + n > self._capacity:
            capacity = max(1 << 16, 2 * self._capacity, self.count + n)
            addresses, pseudonyms_ = _zeros(capacity * _ADDRESS), _zeros(capacity * _WIDTH)
            addresses[: self.count * _ADDRESS] = self._addresses[: self.count * _ADDRESS]
            pseudonyms_[: self.count * _WIDTH] = self._pseudonyms[: self.count * _WIDTH]
            self._addresses, self._pseudonyms, self._capacity = addresses, pseudonyms_, capacity
        first = self.count
        if len(texts) == n * _ADDRESS:
            self._addresses[first * _ADDRESS : (first + n) * _ADDRESS] = texts
        self._pseudonyms[first * _WIDTH : (first + n) * _WIDTH] = pseudonyms
        self.count += n
        return first

    def _odd_id(self, address: str, hash_many: Hasher) -> int:
        found = self._odd.get(address)
        if found is None:
            found = self._odd[address] = self._store(address.encode("utf-8"), hash_many([address]), 1)
        return found

    def _place(self, address: str, key: int, hash_many: Hasher) -> int:
        """The id of a 42-byte ``address``: probed for in Python, added when absent."""
        text = address.encode("utf-8")
        mask = (1 << self._bits) - 1
        slot = key >> (64 - self._bits)
        while True:
            entry = self._slot_ids[slot]
            if entry == 0:
                new = self._store(text, hash_many([address]), 1)
                self._insert(slot, key, new)
                return new
            if self._slot_keys[slot] == key:  # each key is in the table once: this address, or another
                start = (entry - 1) * _ADDRESS
                if self._addresses[start : start + _ADDRESS] == text:
                    return entry - 1
                return self._odd_id(address, hash_many)
            slot = (slot + 1) & mask

    def _insert(self, slot: int, key: int, new: int) -> None:
        self._slot_keys[slot] = key
        self._slot_ids[slot] = new + 1
        self._used += 1
        if 2 * self._used > 1 << self._bits:
            self._grow_table()

    def _add(self, addresses: list[str], fixed: pa.FixedSizeBinaryArray, keys: list[int], hash_many: Hasher) -> int:
        """Add people not in the table (distinct addresses, all 42 bytes); returns the first new id.

        Hashed in one call and stored in one copy each; then each key is placed in Python (the one
        loop left per new person, ~0.5 µs). An address whose key another new address took first
        keeps its id in ``_odd``."""
        texts = memoryview(fixed.buffers()[1] or b"")[fixed.offset * _ADDRESS : (fixed.offset + len(fixed)) * _ADDRESS]
        first = self._store(texts, hash_many(addresses), len(addresses))
        while 2 * (self._used + len(keys)) > 1 << self._bits:
            self._grow_table()
        slot_keys, slot_ids = self._slot_keys, self._slot_ids
        shift, mask = 64 - self._bits, (1 << self._bits) - 1
        for i, key in enumerate(keys):
            slot = key >> shift
            while True:
                entry = slot_ids[slot]
                if not entry:
                    slot_keys[slot] = key
                    slot_ids[slot] = first + i + 1
                    self._used += 1
                    break
                if slot_keys[slot] == key:
                    self._odd[addresses[i]] = first + i
                    break
                slot = (slot + 1) & mask
        return first

    def _positions(self, n: int) -> pa.Array:
        if len(self._arange) < n:
            self._arange = _int64s(list(range(max(n, 2 * len(self._arange)))))
        return self._arange.slice(0, n)

    def ids(self, addresses: pa.StringArray, hash_many: Hasher) -> pa.Int64Array:
        """The id of each of ``addresses`` (null for null), adding the people not seen before.

        Rows are looked up as they are, not first made distinct: a window's rows are nearly all
        different people, and ``dictionary_encode`` was a quarter of the time."""
        n = len(addresses)
        regular = pc.equal(pc.binary_length(addresses), _scalar(_ADDRESS, pa.int32()))  # null for null
        if regular.true_count == n:
            where, texts = self._positions(n), addresses
        else:
            where = pc.indices_nonzero(regular).cast(pa.int64())
            texts = pc.take(addresses, where)
        fixed = texts.cast(pa.binary(_ADDRESS))
        keys = _keys(fixed)
        table_keys = _view(self._key_memory, pa.uint64(), 1 << self._bits)
        table_ids = _view(self._id_memory, pa.uint32(), 1 << self._bits)
        stored = _view(self._addresses, pa.binary(_ADDRESS), self.count)
        mask, shift = _scalar((1 << self._bits) - 1, pa.uint64()), _scalar(64 - self._bits, pa.uint64())
        one = _scalar(1, pa.uint64())
        found_at: list[pa.Array] = []  # positions in ``fixed`` …
        found_ids: list[pa.Array] = []  # … and their ids
        absent: list[pa.Array] = []  # positions of addresses not in the table
        other: list[pa.Array] = []  # positions whose key holds another address, or probed too long
        todo = self._positions(len(fixed))
        slots = pc.shift_right(keys, shift)
        for _ in range(_ROUNDS):
            if not len(todo):
                break
            entry = pc.take(table_ids, slots)
            empty = pc.invert(entry.cast(pa.bool_()))
            same = pc.and_(pc.invert(empty), pc.equal(pc.take(table_keys, slots), pc.take(keys, todo)))
            hit = pc.indices_nonzero(same)
            if len(hit):
                ids = pc.subtract(pc.take(entry, hit).cast(pa.int64()), _scalar(1, pa.int64()))
                at = pc.take(todo, hit)
                match = pc.equal(pc.take(stored, ids), pc.take(fixed, at))  # two addresses may share a key
                found_at.append(pc.filter(at, match))
                found_ids.append(pc.filter(ids, match))
                other.append(pc.filter(at, pc.invert(match)))
            absent.append(pc.filter(todo, empty))
            going = pc.indices_nonzero(pc.invert(pc.or_(empty, same)))
            todo = pc.take(todo, going)
            slots = pc.bit_wise_and(pc.add(pc.take(slots, going), one), mask)
        other.append(todo)  # probe runs longer than _ROUNDS
        new_at = pa.concat_arrays([a.cast(pa.int64()) for a in absent])
        found_at.append(new_at)
        found_ids.append(self._add_rows(texts, fixed, keys, new_at, hash_many))
        other_at = pa.concat_arrays([a.cast(pa.int64()) for a in other])
        found_at.append(other_at)
        other_rows = zip(pc.take(texts, other_at).to_pylist(), pc.take(keys, other_at).to_pylist(), strict=True)
        found_ids.append(_int64s([self._place(a, k, hash_many) for a, k in other_rows]))
        at_all = pa.concat_arrays(found_at)
        if len(where) != n:
            at_all = pc.take(where, at_all)
        odd_at = pc.indices_nonzero(pc.and_kleene(pc.invert(regular), pc.is_valid(addresses))).cast(pa.int64())
        odd_ids = [self._odd_id(a, hash_many) for a in pc.take(addresses, odd_at).to_pylist()]
        return pc.scatter(
            pa.concat_arrays([*found_ids, _int64s(odd_ids)]), pa.concat_arrays([at_all, odd_at]), max_index=n - 1
        )

    def _add_rows(
        self,
        texts: pa.StringArray,
        fixed: pa.FixedSizeBinaryArray,
        keys: pa.UInt64Array,
        at: pa.Array,
        hash_many: Hasher,
    ) -> pa.Array:
        """Ids of the rows ``at`` (addresses not in the table, maybe repeated): each distinct one added."""
        addresses = pc.take(texts, at).to_pylist()
        first_of: dict[str, int] = {}
        for i, address in enumerate(addresses):
            first_of.setdefault(address, i)
        if len(first_of) == len(addresses):  # the usual case: no one twice
            distinct, rows = at, None
        else:
            distinct = pc.take(at, _int64s(list(first_of.values())))
            order = {address: j for j, address in enumerate(first_of)}
            rows = _int64s([order[address] for address in addresses])
        first = self._add(list(first_of), pc.take(fixed, distinct), pc.take(keys, distinct).to_pylist(), hash_many)
        ids = pc.add(self._positions(len(first_of)), _scalar(first, pa.int64()))
        return ids if rows is None else pc.take(ids, rows)

    def pseudonyms(self, ids: pa.Array) -> pa.StringArray:
        """The pseudonym of each id (null for a null id)."""
        return pc.take(_view(self._pseudonyms, pa.binary(_WIDTH), self.count), ids).cast(pa.string())


class Pseudonymiser:
    """Maps lowercase ``0x`` addresses to pseudonyms under one salt."""

    def __init__(self, salt: bytes) -> None:
        if not isinstance(salt, bytes) or len(salt) < MIN_SALT_BYTES:
            raise InvalidExportOptions(f"the salt must be at least {MIN_SALT_BYTES} bytes")
        self._base = hashlib.sha256(salt)
        self._cache: dict[str, str] = {}
        self._directory = _Directory()

    def _hashes(self, addresses: list[str]) -> bytes:
        """The pseudonyms of ``addresses``, concatenated (each is ``_WIDTH`` bytes)."""
        base = self._base
        digits = []
        for address in addresses:
            digest = base.copy()
            try:
                digest.update(bytes.fromhex(address[2:] if address.startswith(("0x", "0X")) else address))
            except ValueError:
                # Not an address (an edited or foreign value): hash its text so it still maps to a
                # pseudonym that matches nothing real.
                digest.update(address.encode("utf-8"))
            digits.append(digest.hexdigest()[:_DIGEST_HEX])
        return (PREFIX + PREFIX.join(digits)).encode("ascii") if digits else b""

    def one(self, address: str) -> str:
        cached = self._cache.get(address)
        if cached is None:
            cached = self._hashes([address]).decode("ascii")
            if len(self._cache) >= _ONE_CACHE_LIMIT:
                self._cache.clear()
            self._cache[address] = cached
        return cached

    def array(self, addresses: pa.Array) -> pa.Array:
        """Pseudonymise an Arrow string array, hashing each distinct address once per export
        (per ``_DIRECTORY_LIMIT`` people)."""
        if self._directory.count >= _DIRECTORY_LIMIT:
            self._directory = _Directory()  # start over rather than grow without bound
        if addresses.null_count == len(addresses):
            return pa.nulls(len(addresses), pa.string())
        return self._directory.pseudonyms(self._directory.ids(addresses, self._hashes))
