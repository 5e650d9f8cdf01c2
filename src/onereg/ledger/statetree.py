"""State root of a registry node: a Merkle treap over its current delegations.

Every signed checkpoint of a node's log also commits to the node's current state, the set of
its delegations. Each delegation is a leaf ``(afi, start, end) -> (holder, status)``; ranges of
one family never overlap, and leaves are ordered by the key ``(afi, start)`` with the family
order asn < ipv4 < ipv6. From the root alone a verifier can check, with O(log n) hashes,

* that a leaf is currently held (`verify_holding`), and
* that no leaf of family f intersects a range [a, b] (`verify_absence`).

Why a treap
-----------
The root must be a function of the *set* of leaves, because an independent verifier replays
the log into its own state and must reach the same root whatever order of changes it saw.
That rules out balanced search trees whose shape depends on history (AVL, red-black) and the
append-ordered log tree of RFC 9162. A Merkle tree over the sorted leaves has a set-determined
shape, but one insertion shifts every later position and rehashes O(n) nodes. A sparse Merkle
tree keyed by a hash of the key is history independent and cheap to update, but hashing the
key destroys the order, so it cannot show that a whole *range* is free. A treap keeps both
properties: it is a binary search tree on the key that is also a max-heap on a priority
derived from the key alone, so for a given set exactly one tree exists (history
independence), its expected depth is about 2 ln n (28 at 10^6 leaves, against 20 for a
perfect tree), and one insert, delete or replace rehashes only the O(log n) nodes on one or
two root paths. Proofs are plain search paths, so a verifier needs nothing but a hash
function and the key order. (A Merkle B-tree with hash-chosen levels is also history
independent and shallower, but each level's proof carries all siblings of a wide node and
the code is much longer; binary treap proofs are smaller.)

Priorities are public (a hash of the key), so the registry could, in principle, choose its
delegations so that the tree becomes deep; that only makes its own proofs longer and is
visible to anyone.

Byte encoding and hash rules (normative)
----------------------------------------
All integers are unsigned big-endian. SHA-256 is the only hash. The one-byte domain tags
0x10-0x13 differ from RFC 9162's 0x00 (leaf) and 0x01 (node) so that a state-tree hash can
never be taken for a log-tree hash or the other way round.

``leaf_bytes``, the canonical encoding of a leaf::

    family   1 byte    0x00 asn, 0x01 ipv4, 0x02 ipv6
    start   16 bytes
    end     16 bytes
    hlen     2 bytes   length of holder in bytes (holder is empty for pool space)
    holder  hlen bytes UTF-8, not normalised
    slen     2 bytes   length of status in bytes
    status  slen bytes UTF-8, not normalised

Binary rather than JSON because IPv6 bounds need 128-bit integers, which JSON numbers do not
carry portably; fixed widths and length prefixes make the encoding unambiguous. The first 17
bytes (family and start) are the *key bytes*; comparing key bytes as byte strings is the key
order.

* ``leaf_hash = SHA-256(0x10 || leaf_bytes)``
* ``node_hash = SHA-256(0x11 || left_hash || leaf_hash || right_hash)``, where a missing child
  has ``EMPTY_HASH``
* ``EMPTY_HASH = SHA-256(0x12)``; it is also the root of the empty state
* ``priority = SHA-256(0x13 || key_bytes)``, compared as a 256-bit unsigned number (byte
  string order); a node's priority is greater than its children's.
* the root is the node hash of the tree's root node.

The tree is a binary search tree: every key in a node's left subtree is smaller than the
node's key, every key in the right subtree greater.

Proofs
------
A proof is the search path from the root for a query key: for every node passed, its leaf and
the hash of the child *not* taken. The verifier recomputes the hashes bottom-up, taking the
direction at each node from comparing the query key with the node's key, and compares the
result with the root.

* Holding of leaf L: the search path for L's key, plus the hashes of L's two children.
  Because directions come from the keys, only the leaf found by searching for a key can be
  shown as holding it.
* Absence of [a, b] in family f: the search path for the key (f, b), ending at an empty
  subtree (no leaf starts at (f, b)). The greatest key on the path below (f, b) is, in a
  search tree, the predecessor P of (f, b); the range is free iff there is no P, or P is of
  another family, or P.end < a (leaves of f before P end before P starts). The smallest key on
  the path above (f, b) is the successor; the path shows that P and it are adjacent, i.e.
  that nothing lies between them.

What a proof cannot show is that the committed tree is well formed (sorted, non-overlapping,
heap-ordered); that is established by the verifiers that replay the log and compare roots.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from onereg.core.errors import OneregError, OverlapError, ProofError
from onereg.core.resources import Afi

LEAF_TAG = b"\x10"
NODE_TAG = b"\x11"
EMPTY_TAG = b"\x12"
PRIORITY_TAG = b"\x13"
HASH_SIZE = 32
EMPTY_HASH = hashlib.sha256(EMPTY_TAG).digest()

AFI_CODES: dict[str, int] = {"asn": 0, "ipv4": 1, "ipv6": 2}
"""Family byte of the encoding; its numeric order is the family order of keys."""
_AFI_NAMES = ("asn", "ipv4", "ipv6")
_AFI_BYTE = {name: bytes((code,)) for name, code in AFI_CODES.items()}
_MAX_VALUE: dict[str, int] = {afi.value: afi.max_value for afi in Afi}
_KEY_BYTES = 17
_START_BITS = 128
_TEXT_MAX = 0xFFFF

HOLDING_FORMAT = "onereg-state-holding/1"
ABSENCE_FORMAT = "onereg-state-absence/1"

# Bytes of the priority kept in memory per node; ties of this prefix fall back to the full
# digest, so the shape never depends on it. Tests shrink it to 0 to exercise the fallback.
_PRIORITY_PREFIX = 8

_sha256 = hashlib.sha256


class LeafIntersectsError(OneregError, ValueError):
    """A range asked to be proven free is (partly) covered by a current leaf."""

    def __init__(self, afi: str, first: int, last: int, leaf: StateLeaf) -> None:
        super().__init__(
            f"range {afi} {first}-{last} is not free: it intersects {describe_leaf(leaf)}"
        )
        self.leaf = leaf


@dataclass(frozen=True, slots=True)
class StateLeaf:
    """One current delegation of a node: the range and who holds it with which status.

    Validated on construction, so every leaf can be encoded and a tree never holds a value
    that another implementation would reject.
    """

    afi: str
    start: int
    end: int
    holder: str
    status: str

    def __post_init__(self) -> None:
        top = _MAX_VALUE.get(self.afi)
        if top is None:
            raise ValueError(f"state leaf: unknown family {self.afi!r} (asn, ipv4 or ipv6)")
        if type(self.afi) is not str:  # an Afi member: keep the plain string
            object.__setattr__(self, "afi", _AFI_NAMES[AFI_CODES[self.afi]])
        start, end = self.start, self.end
        if type(start) is not int or type(end) is not int or not 0 <= start <= end <= top:
            raise ValueError(
                f"state leaf: {self.afi} {start!r}-{end!r} is not a range within 0-{top}"
            )
        for name, text in (("holder", self.holder), ("status", self.status)):
            if not isinstance(text, str):
                raise ValueError(f"state leaf: {name} must be a string, not {text!r}")
            if text.isascii():
                size = len(text)
            else:
                try:
                    size = len(text.encode())
                except UnicodeEncodeError as exc:
                    raise ValueError(f"state leaf: {name} {text!r} is not valid UTF-8") from exc
            if size > _TEXT_MAX:
                raise ValueError(f"state leaf: {name} is longer than {_TEXT_MAX} bytes")

    def key(self) -> tuple[int, int]:
        """The order of leaves: (family code, start)."""
        return AFI_CODES[self.afi], self.start


def describe_leaf(leaf: StateLeaf) -> str:
    """Human-readable form used in error messages."""
    held = f"held by {leaf.holder!r}" if leaf.holder else "pool space"
    return f"leaf {leaf.afi} {leaf.start}-{leaf.end} {held} ({leaf.status})"


def leaf_bytes(leaf: StateLeaf) -> bytes:
    """The canonical encoding of a leaf (see the module docstring for the layout)."""
    holder = leaf.holder.encode()
    status = leaf.status.encode()
    return b"".join(
        (
            _AFI_BYTE[leaf.afi],
            leaf.start.to_bytes(16, "big"),
            leaf.end.to_bytes(16, "big"),
            len(holder).to_bytes(2, "big"),
            holder,
            len(status).to_bytes(2, "big"),
            status,
        )
    )


def leaf_from_bytes(data: bytes) -> StateLeaf:
    """Decode `leaf_bytes` strictly: any other byte string is refused with ProofError.

    Strict so that decoding and re-encoding gives back exactly the bytes that were hashed.
    """
    if len(data) < 37:
        raise ProofError(f"state leaf encoding is {len(data)} bytes, shorter than 37")
    if data[0] >= len(_AFI_NAMES):
        raise ProofError(f"state leaf encoding has unknown family byte {data[0]:#04x}")
    afi = _AFI_NAMES[data[0]]
    start = int.from_bytes(data[1:17], "big")
    end = int.from_bytes(data[17:33], "big")
    hlen = int.from_bytes(data[33:35], "big")
    spos = 35 + hlen
    if len(data) < spos + 2:
        raise ProofError("state leaf encoding is truncated in the holder")
    slen = int.from_bytes(data[spos : spos + 2], "big")
    if len(data) != spos + 2 + slen:
        raise ProofError(
            f"state leaf encoding is {len(data)} bytes, the lengths say {spos + 2 + slen}"
        )
    try:
        holder = data[35:spos].decode()
        status = data[spos + 2 :].decode()
        return StateLeaf(afi, start, end, holder, status)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        raise ProofError(f"state leaf encoding is not a valid leaf: {exc}") from exc


def leaf_hash(leaf: StateLeaf) -> bytes:
    """SHA-256(0x10 || leaf_bytes)."""
    return _sha256(LEAF_TAG + leaf_bytes(leaf)).digest()


def node_hash(left: bytes, leaf_digest: bytes, right: bytes) -> bytes:
    """SHA-256(0x11 || left || leaf_hash || right)."""
    return _sha256(NODE_TAG + left + leaf_digest + right).digest()


def priority(afi: str, start: int) -> bytes:
    """SHA-256(0x13 || key bytes): the heap order that fixes the tree's shape."""
    return _full_priority((AFI_CODES[afi] << _START_BITS) | start)


def _full_priority(key: int) -> bytes:
    return _sha256(PRIORITY_TAG + key.to_bytes(_KEY_BYTES, "big")).digest()


def _leaf_key(leaf: StateLeaf) -> int:
    """Keys as one integer (family << 128 | start): compares like the 17 key bytes, fast."""
    return (AFI_CODES[leaf.afi] << _START_BITS) | leaf.start


def _query_key(afi: str, value: int, what: str) -> int:
    code = AFI_CODES.get(afi)
    if code is None or type(value) is not int or not 0 <= value <= _MAX_VALUE[afi]:
        raise ValueError(f"{what}: {afi!r} {value!r} is not a value of a known family")
    return (code << _START_BITS) | value


# --------------------------------------------------------------------------------------------
# Proofs


@dataclass(frozen=True, slots=True)
class PathStep:
    """One node passed on a search path: its leaf and the hash of the child not taken."""

    leaf: StateLeaf
    sibling: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise ProofError(f"{what} must be a base64 string, not {type(value).__name__}")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProofError(f"{what} is not valid base64: {exc}") from exc
    if size is not None and len(data) != size:
        raise ProofError(f"{what} is {len(data)} bytes, expected {size}")
    return data


def _path_to_json(path: tuple[PathStep, ...]) -> list[dict[str, str]]:
    return [{"leaf": _b64(leaf_bytes(s.leaf)), "sibling": _b64(s.sibling)} for s in path]


def _path_from_json(data: Any, what: str) -> tuple[PathStep, ...]:
    if not isinstance(data, list):
        raise ProofError(f"{what}: 'path' must be a list")
    steps = []
    for depth, item in enumerate(data):
        if not isinstance(item, dict) or set(item) != {"leaf", "sibling"}:
            raise ProofError(f"{what}: path step {depth} must have exactly 'leaf' and 'sibling'")
        leaf = leaf_from_bytes(_unb64(item["leaf"], f"{what}: path step {depth} leaf"))
        sibling = _unb64(item["sibling"], f"{what}: path step {depth} sibling", HASH_SIZE)
        steps.append(PathStep(leaf, sibling))
    return tuple(steps)


def _check_format(data: Any, expected: str, keys: set[str]) -> None:
    if not isinstance(data, dict):
        raise ProofError(f"{expected}: a proof must be a JSON object")
    if data.get("format") != expected:
        raise ProofError(f"proof format is {data.get('format')!r}, expected {expected!r}")
    if set(data) != keys:
        raise ProofError(f"{expected}: fields are {sorted(data)}, expected {sorted(keys)}")


@dataclass(frozen=True, slots=True)
class HoldingProof:
    """The search path to a leaf (root first) and the hashes of the leaf's two children."""

    path: tuple[PathStep, ...]
    left: bytes
    right: bytes

    def hash_count(self) -> int:
        return 2 + len(self.path)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict; leaves as base64 `leaf_bytes`, hashes as base64."""
        return {
            "format": HOLDING_FORMAT,
            "path": _path_to_json(self.path),
            "left": _b64(self.left),
            "right": _b64(self.right),
        }

    @classmethod
    def from_json(cls, data: Any) -> HoldingProof:
        """Read `to_json` output; anything malformed raises ProofError."""
        _check_format(data, HOLDING_FORMAT, {"format", "path", "left", "right"})
        return cls(
            _path_from_json(data["path"], HOLDING_FORMAT),
            _unb64(data["left"], f"{HOLDING_FORMAT}: left", HASH_SIZE),
            _unb64(data["right"], f"{HOLDING_FORMAT}: right", HASH_SIZE),
        )


@dataclass(frozen=True, slots=True)
class AbsenceProof:
    """The search path (root first) for the key (family, last) down to an empty subtree."""

    path: tuple[PathStep, ...]

    def hash_count(self) -> int:
        return len(self.path)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict; leaves as base64 `leaf_bytes`, hashes as base64."""
        return {"format": ABSENCE_FORMAT, "path": _path_to_json(self.path)}

    @classmethod
    def from_json(cls, data: Any) -> AbsenceProof:
        """Read `to_json` output; anything malformed raises ProofError."""
        _check_format(data, ABSENCE_FORMAT, {"format", "path"})
        return cls(_path_from_json(data["path"], ABSENCE_FORMAT))


def _check_hash(value: Any, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes")


def _climb(query: int, bottom: bytes, path: tuple[PathStep, ...], what: str) -> bytes:
    """Hash from the bottom of a search path for `query` up to the root it implies."""
    digest = bottom
    for depth in range(len(path) - 1, -1, -1):
        step = path[depth]
        _check_hash(step.sibling, f"{what}: path step {depth} sibling")
        key = _leaf_key(step.leaf)
        own = leaf_hash(step.leaf)
        if query < key:
            digest = node_hash(digest, own, step.sibling)
        elif query > key:
            digest = node_hash(step.sibling, own, digest)
        else:
            raise ProofError(
                f"{what}: path step {depth} ({describe_leaf(step.leaf)}) has the searched key"
            )
    return digest


def _mismatch(what: str, computed: bytes, root: bytes) -> ProofError:
    return ProofError(
        f"{what}: the path leads to root {computed.hex()[:16]}…, not the given root "
        f"{root.hex()[:16]}… (a leaf, a hash or the root differs)"
    )


def verify_holding(root: bytes, leaf: StateLeaf, proof: HoldingProof) -> None:
    """Check that `leaf` is current under `root`; raises ProofError saying what failed."""
    what = f"holding proof of {describe_leaf(leaf)}"
    _check_hash(root, f"{what}: root")
    _check_hash(proof.left, f"{what}: left child hash")
    _check_hash(proof.right, f"{what}: right child hash")
    bottom = node_hash(proof.left, leaf_hash(leaf), proof.right)
    computed = _climb(_leaf_key(leaf), bottom, proof.path, what)
    if computed != root:
        raise _mismatch(what, computed, root)


def verify_absence(root: bytes, afi: str, first: int, last: int, proof: AbsenceProof) -> None:
    """Check that no leaf of `afi` intersects [first, last] under `root`; ProofError if not."""
    what = f"absence proof of {afi} {first}-{last}"
    _check_hash(root, f"{what}: root")
    try:
        low = _query_key(afi, first, what)
        query = _query_key(afi, last, what)
    except ValueError as exc:
        raise ProofError(str(exc)) from exc
    if low > query:
        raise ProofError(f"{what}: first is greater than last")
    computed = _climb(query, EMPTY_HASH, proof.path, what)
    if computed != root:
        raise _mismatch(what, computed, root)
    below = [step.leaf for step in proof.path if _leaf_key(step.leaf) < query]
    if below:
        pred = max(below, key=_leaf_key)
        if pred.afi == afi and pred.end >= first:
            raise ProofError(f"{what}: {describe_leaf(pred)} intersects the range")


# --------------------------------------------------------------------------------------------
# The tree


class StateTree:
    """A node's current delegations with an incrementally maintained Merkle treap root.

    Storage is flat, indexed by node number (0 is the empty tree): keys and leaves in lists,
    children and a 64-bit priority prefix in typed arrays, leaf and node hashes packed into
    two bytearrays (32 bytes per node). That is about 150 bytes per node plus the leaves
    themselves, instead of ~400 for one object per node with its own bytes objects.
    """

    __slots__ = ("_free", "_h", "_keys", "_leaves", "_left", "_lh", "_prio", "_right", "_root")

    def __init__(self, leaves: Iterable[StateLeaf] = ()) -> None:
        self._keys: list[int] = [0]
        self._leaves: list[StateLeaf | None] = [None]
        self._left: array[int] = array("q", [0])
        self._right: array[int] = array("q", [0])
        self._prio: array[int] = array("Q", [0])
        self._lh = bytearray(HASH_SIZE)
        self._h = bytearray(EMPTY_HASH)
        self._root = 0
        self._free: list[int] = []
        self.build(leaves)

    # -- bulk build ---------------------------------------------------------------------------

    def build(self, leaves: Iterable[StateLeaf]) -> StateTree:
        """Replace the content by `leaves` (any order) in O(n) hashing; returns self.

        Sorted input is taken as is (it is checked); otherwise it is sorted first. The treap
        is built in one left-to-right pass with a stack holding its right spine (the linear
        Cartesian-tree construction), and each node is hashed when it leaves the stack, which
        is exactly when its subtree is complete. Overlapping or duplicate leaves raise
        OverlapError before anything is changed.
        """
        items = list(leaves)
        keys = [0, *map(_leaf_key, items)]
        count = len(items)
        if any(keys[i] >= keys[i + 1] for i in range(1, count)):
            order = sorted(range(count), key=lambda i: keys[i + 1])
            items = [items[i] for i in order]
            keys = [0, *map(_leaf_key, items)]
            del order
        for i in range(1, count):
            prev, leaf = items[i - 1], items[i]
            if keys[i] >> _START_BITS == keys[i + 1] >> _START_BITS and prev.end >= leaf.start:
                raise OverlapError(describe_leaf(prev), describe_leaf(leaf))

        # Everything is written straight into the final packed arrays: no per-node object
        # outlives its iteration, which keeps the peak low and the heap unfragmented.
        sha = _sha256
        width = _PRIORITY_PREFIX
        lh = bytearray((count + 1) * HASH_SIZE)
        prios: array[int] = array("Q", bytes(8 * (count + 1)))
        at = 0
        for i, leaf in enumerate(items, 1):
            encoded = leaf_bytes(leaf)
            at += HASH_SIZE
            lh[at : at + HASH_SIZE] = sha(LEAF_TAG + encoded).digest()
            prios[i] = int.from_bytes(
                sha(PRIORITY_TAG + encoded[:_KEY_BYTES]).digest()[:width], "big"
            )

        left: array[int] = array("q", bytes(8 * (count + 1)))
        right: array[int] = array("q", bytes(8 * (count + 1)))
        h = bytearray(EMPTY_HASH) * (count + 1)
        size = HASH_SIZE

        def seal(node: int) -> None:
            at = node * size
            lo = left[node] * size
            ro = right[node] * size
            h[at : at + size] = sha(
                NODE_TAG + h[lo : lo + size] + lh[at : at + size] + h[ro : ro + size]
            ).digest()

        stack: list[int] = []
        for x in range(1, count + 1):
            px = prios[x]
            last = 0
            while stack:
                top = stack[-1]
                pt = prios[top]
                if pt > px or (pt == px and _full_priority(keys[top]) > _full_priority(keys[x])):
                    break
                stack.pop()
                seal(top)
                last = top
            left[x] = last
            if stack:
                right[stack[-1]] = x
            stack.append(x)
        root = 0
        while stack:
            root = stack.pop()
            seal(root)

        self._keys = keys
        self._leaves = [None, *items]
        self._left = left
        self._right = right
        self._prio = prios
        self._lh = lh
        self._h = h
        self._root = root
        self._free = []
        return self

    # -- reading ------------------------------------------------------------------------------

    def root(self) -> bytes:
        """The state root: the hash of the root node, EMPTY_HASH for no leaves."""
        at = self._root * HASH_SIZE
        return bytes(self._h[at : at + HASH_SIZE])

    def __len__(self) -> int:
        return len(self._keys) - 1 - len(self._free)

    def get(self, afi: str, start: int) -> StateLeaf | None:
        """The leaf that starts at `start` in `afi`, or None."""
        key = _query_key(afi, start, "state lookup")
        keys, left, right = self._keys, self._left, self._right
        node = self._root
        while node:
            here = keys[node]
            if key == here:
                return self._leaves[node]
            node = left[node] if key < here else right[node]
        return None

    def __iter__(self) -> Iterator[StateLeaf]:
        """Leaves in key order (an in-order walk)."""
        left, right, leaves = self._left, self._right, self._leaves
        stack: list[int] = []
        node = self._root
        while stack or node:
            while node:
                stack.append(node)
                node = left[node]
            node = stack.pop()
            leaf = leaves[node]
            assert leaf is not None
            yield leaf
            node = right[node]

    def depth(self) -> int:
        """Number of nodes on the longest root path (0 for the empty tree)."""
        deepest = 0
        stack = [(self._root, 1)] if self._root else []
        left, right = self._left, self._right
        while stack:
            node, level = stack.pop()
            deepest = max(deepest, level)
            for child in (left[node], right[node]):
                if child:
                    stack.append((child, level + 1))
        return deepest

    # -- internals ----------------------------------------------------------------------------

    def _search(self, key: int) -> tuple[list[int], int]:
        """The nodes passed while searching `key` (root first) and the node holding it or 0."""
        keys, left, right = self._keys, self._left, self._right
        path: list[int] = []
        node = self._root
        while node:
            here = keys[node]
            if key == here:
                return path, node
            path.append(node)
            node = left[node] if key < here else right[node]
        return path, 0

    def _leaf(self, node: int) -> StateLeaf:
        leaf = self._leaves[node]
        assert leaf is not None
        return leaf

    def _hash_of(self, node: int) -> bytes:
        at = node * HASH_SIZE
        return bytes(self._h[at : at + HASH_SIZE])

    def _rehash(self, node: int) -> None:
        h = self._h
        at = node * HASH_SIZE
        lo = self._left[node] * HASH_SIZE
        ro = self._right[node] * HASH_SIZE
        h[at : at + HASH_SIZE] = _sha256(
            NODE_TAG
            + h[lo : lo + HASH_SIZE]
            + self._lh[at : at + HASH_SIZE]
            + h[ro : ro + HASH_SIZE]
        ).digest()

    def _above(self, a: int, b: int) -> bool:
        """True if node a has the greater priority (belongs above b)."""
        pa, pb = self._prio[a], self._prio[b]
        if pa != pb:
            return pa > pb
        return _full_priority(self._keys[a]) > _full_priority(self._keys[b])

    def _attach(self, parent: int, to_left: bool, child: int) -> None:
        """Set a child link; parent 0 means the root."""
        if not parent:
            self._root = child
        elif to_left:
            self._left[parent] = child
        else:
            self._right[parent] = child

    def _alloc(self, key: int, leaf: StateLeaf) -> int:
        digest = leaf_hash(leaf)
        prio = int.from_bytes(_full_priority(key)[:_PRIORITY_PREFIX], "big")
        if self._free:
            node = self._free.pop()
            self._keys[node] = key
            self._leaves[node] = leaf
            self._left[node] = self._right[node] = 0
            self._prio[node] = prio
            at = node * HASH_SIZE
            self._lh[at : at + HASH_SIZE] = digest
            return node
        node = len(self._keys)
        self._keys.append(key)
        self._leaves.append(leaf)
        self._left.append(0)
        self._right.append(0)
        self._prio.append(prio)
        self._lh += digest
        self._h += EMPTY_HASH
        return node

    def _release(self, node: int) -> None:
        self._keys[node] = 0
        self._leaves[node] = None
        self._left[node] = self._right[node] = 0
        self._prio[node] = 0
        self._free.append(node)

    def _successor_on(self, path: list[int], node: int, key: int) -> int:
        """Smallest key greater than `key`, given the search path to `node` (which holds it)."""
        child = self._right[node]
        if child:
            while self._left[child]:
                child = self._left[child]
            return child
        keys = self._keys
        for above in reversed(path):
            if keys[above] > key:
                return above
        return 0

    # -- changes ------------------------------------------------------------------------------

    def insert(self, leaf: StateLeaf) -> None:
        """Add a leaf; OverlapError if it intersects a current leaf of its family.

        The new node goes where its priority puts it on the search path; the subtree it
        displaces is split by the key along that same path. Only path nodes are rehashed.
        """
        key = _leaf_key(leaf)
        path, found = self._search(key)
        if found:
            raise OverlapError(describe_leaf(leaf), describe_leaf(self._leaf(found)))
        keys = self._keys
        family = key >> _START_BITS
        pred = succ = 0
        for node in path:
            if keys[node] < key:
                pred = node
            else:
                succ = node
        if pred and keys[pred] >> _START_BITS == family and self._leaf(pred).end >= leaf.start:
            raise OverlapError(describe_leaf(leaf), describe_leaf(self._leaf(pred)))
        if succ and keys[succ] >> _START_BITS == family and self._leaf(succ).start <= leaf.end:
            raise OverlapError(describe_leaf(leaf), describe_leaf(self._leaf(succ)))

        new = self._alloc(key, leaf)
        cut = 0
        while cut < len(path) and self._above(path[cut], new):
            cut += 1
        # Split the subtree rooted at path[cut] by `key`: smaller nodes chain down the new
        # node's left side (each taking the next as right child), greater ones its right.
        low_parent, low_left = new, True
        high_parent, high_left = new, False
        for node in path[cut:]:
            if keys[node] < key:
                self._attach(low_parent, low_left, node)
                low_parent, low_left = node, False
            else:
                self._attach(high_parent, high_left, node)
                high_parent, high_left = node, True
        self._attach(low_parent, low_left, 0)
        self._attach(high_parent, high_left, 0)
        if cut:
            parent = path[cut - 1]
            self._attach(parent, key < keys[parent], new)
        else:
            self._root = new
        for node in reversed(path[cut:]):
            self._rehash(node)
        self._rehash(new)
        for node in reversed(path[:cut]):
            self._rehash(node)

    def delete(self, afi: str, start: int) -> StateLeaf:
        """Remove the leaf starting at (afi, start) and return it; KeyError if there is none.

        The node's two subtrees are merged along their facing spines by priority, which is
        the unique treap of the remaining set; only merged and ancestor nodes are rehashed.
        """
        key = _query_key(afi, start, "state delete")
        path, node = self._search(key)
        if not node:
            raise KeyError(f"no state leaf starts at {afi} {start}")
        leaf = self._leaf(node)
        parent = path[-1] if path else 0
        parent_left = bool(parent) and key < self._keys[parent]
        low, high = self._left[node], self._right[node]
        merged: list[int] = []
        while low and high:
            if self._above(low, high):
                self._attach(parent, parent_left, low)
                merged.append(low)
                parent, parent_left = low, False
                low = self._right[low]
            else:
                self._attach(parent, parent_left, high)
                merged.append(high)
                parent, parent_left = high, True
                high = self._left[high]
        self._attach(parent, parent_left, low or high)
        self._release(node)
        for changed in reversed(merged):
            self._rehash(changed)
        for changed in reversed(path):
            self._rehash(changed)
        return leaf

    def replace(self, leaf: StateLeaf) -> StateLeaf:
        """Swap the leaf with the same (afi, start) for `leaf`; returns the old one.

        The key, hence the priority and the shape, is unchanged, so only the root path is
        rehashed. The end may change; growing into the next leaf raises OverlapError.
        KeyError if no leaf starts there.
        """
        key = _leaf_key(leaf)
        path, node = self._search(key)
        if not node:
            raise KeyError(f"no state leaf starts at {leaf.afi} {leaf.start}")
        old = self._leaf(node)
        if leaf.end > old.end:
            succ = self._successor_on(path, node, key)
            if (
                succ
                and self._keys[succ] >> _START_BITS == key >> _START_BITS
                and self._leaf(succ).start <= leaf.end
            ):
                raise OverlapError(describe_leaf(leaf), describe_leaf(self._leaf(succ)))
        self._leaves[node] = leaf
        at = node * HASH_SIZE
        self._lh[at : at + HASH_SIZE] = leaf_hash(leaf)
        self._rehash(node)
        for changed in reversed(path):
            self._rehash(changed)
        return old

    # -- proofs -------------------------------------------------------------------------------

    def _steps(self, path: list[int], key: int) -> tuple[PathStep, ...]:
        keys, left, right = self._keys, self._left, self._right
        return tuple(
            PathStep(
                self._leaf(node),
                self._hash_of(right[node] if key < keys[node] else left[node]),
            )
            for node in path
        )

    def prove_holding(self, afi: str, start: int) -> HoldingProof:
        """Proof that the leaf starting at (afi, start) is current; KeyError if none."""
        key = _query_key(afi, start, "holding proof")
        path, node = self._search(key)
        if not node:
            raise KeyError(f"no state leaf starts at {afi} {start}")
        return HoldingProof(
            self._steps(path, key),
            self._hash_of(self._left[node]),
            self._hash_of(self._right[node]),
        )

    def prove_absence(self, afi: str, first: int, last: int) -> AbsenceProof:
        """Proof that no leaf of `afi` intersects [first, last].

        Raises LeafIntersectsError (naming a leaf) if one does, ValueError for a bad range.
        """
        low = _query_key(afi, first, "absence proof")
        key = _query_key(afi, last, "absence proof")
        if low > key:
            raise ValueError(f"absence proof: {afi} {first}-{last} has first > last")
        path, node = self._search(key)
        if node:
            raise LeafIntersectsError(afi, first, last, self._leaf(node))
        keys = self._keys
        below = [n for n in path if keys[n] < key]
        if below:
            pred = self._leaf(below[-1])
            if pred.afi == afi and pred.end >= first:
                raise LeafIntersectsError(afi, first, last, pred)
        return AbsenceProof(self._steps(path, key))
