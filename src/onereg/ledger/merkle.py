"""RFC 9162 Merkle tree hashing, proofs and their verification for a node's transparency log.

The hashing is fixed by the RFC (and by C2SP tlog-tiles, which reuses it) so that any third
party's verifier accepts our proofs: a leaf is SHA-256(0x00 || entry), an interior node
SHA-256(0x01 || left || right), the empty tree SHA-256(""). The two prefixes keep a leaf from
ever being passed off as an interior node (second-preimage resistance).

Proof generation never needs the leaves themselves, only hashes of *perfect* subtrees (2^l
leaves starting at a multiple of 2^l). Those never change once complete, so a store can save
each one exactly once as the log grows; they are also exactly what tlog-tiles publish. Every
hash of a subtree that is still growing (the right edge of the tree at some past size) is
assembled on demand from O(log n) perfect ones, which is what lets a log of any size answer
for any past size without holding its leaves in memory.

Verification follows the RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms literally (they are what
other implementations use, so a proof we accept is one they accept) and raises ProofError
saying which check failed, because a caller that logs or returns a rejection needs the reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from onereg.core.errors import OneregError, ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class TreeRangeError(OneregError, ValueError):
    """A proof or root was asked for an index or tree size the tree does not (yet) have."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The RFC's k: the largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Join perfect subtrees of strictly decreasing size, left to right, into one MTH.

    MTH splits at the largest power of two below n, so a range whose size has binary digits
    2^a > 2^b > ... is hash(P_a, hash(P_b, ...)): a right fold.
    """
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) (RFC 9162 §2.1.1) from all leaf hashes.

    Computed bottom-up with a stack of perfect subtrees (a compact range) rather than by the
    recursive definition: O(n) hashing and O(log n) memory, no slicing of a large list.
    Meant for tests and for small trees; a growing log uses a HashStore.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    stack: list[bytes] = []
    for count, h in enumerate(leaf_hashes, start=1):
        if len(h) != HASH_SIZE:
            raise ValueError(f"leaf hash {count - 1} is {len(h)} bytes, not {HASH_SIZE}")
        stack.append(h)
        # Every trailing zero bit of count is a pair of equal-sized subtrees to merge.
        c = count
        while c & 1 == 0:
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)
            c >>= 1
    return _fold(stack)


class HashStore(Protocol):
    """Hashes of the perfect subtrees of a growing log, the only state proofs need.

    get(level, index) is the MTH of leaves [index * 2^level, (index + 1) * 2^level); level 0
    holds the leaf hashes. It exists once that range is complete and never changes afterwards,
    so a persistent store writes each row once. get raises LookupError (e.g. KeyError) for a
    subtree that is not complete. size() is the number of leaves.
    """

    def get(self, level: int, index: int) -> bytes: ...

    def size(self) -> int: ...


class MemoryHashStore:
    """A HashStore kept in memory, and the reference for what a persistent store must save.

    Each level is one bytearray of concatenated 32-byte hashes: 2n hashes cost 64n bytes,
    less than half of what as many bytes objects in a list would.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        for h in leaf_hashes:
            self.append(h)

    def size(self) -> int:
        return self._size

    def get(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0 or level >= len(self._levels):
            raise KeyError((level, index))
        row = self._levels[level]
        start = index * HASH_SIZE
        if start + HASH_SIZE > len(row):
            raise KeyError((level, index))
        return bytes(row[start : start + HASH_SIZE])

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf; return every (level, index, hash) it completed, leaf first.

        Those rows are exactly what a persistent store must add to stay in step, so a writer
        can mirror this store without recomputing anything. Amortised O(1): a leaf completes
        one subtree per trailing one bit of the old size.
        """
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
        levels = self._levels
        levels[0] += leaf_hash
        count = self._size = self._size + 1  # number of hashes at the current level
        new = [(0, count - 1, leaf_hash)]
        level = 0
        h = leaf_hash
        sha256 = hashlib.sha256
        while count & 1 == 0:
            h = sha256(_NODE_PREFIX + levels[level][-2 * HASH_SIZE : -HASH_SIZE] + h).digest()
            level += 1
            count >>= 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += h
            new.append((level, count - 1, h))
        return new

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[tuple[int, int, bytes]]:
        """Append many leaves; return all rows they completed, in append order."""
        rows: list[tuple[int, int, bytes]] = []
        for h in leaf_hashes:
            rows.extend(self.append(h))
        return rows


class MerkleTree:
    """Roots and proofs at any size up to the store's, from perfect-subtree hashes only.

    Each root or proof reads O(log n) hashes: walking down the RFC recursion, every sibling
    is a perfect subtree except at most one on the right edge, which is folded from O(log n)
    perfect subtrees. So the cost does not depend on how many leaves the store holds.
    """

    def __init__(self, store: HashStore) -> None:
        self.store = store

    def size(self) -> int:
        return self.store.size()

    def _size_or_current(self, size: int | None) -> int:
        current = self.store.size()
        if size is None:
            return current
        if size < 0 or size > current:
            raise TreeRangeError(f"tree size {size} is outside 0..{current} (the log's size)")
        return size

    def subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a node of some tree: end - start must not exceed the
        alignment of start (the largest power of two dividing it), as for every node that
        the RFC recursion visits. Such a range splits into aligned perfect subtrees of
        strictly decreasing size, and their right fold is its MTH.
        """
        if not 0 <= start < end:
            raise TreeRangeError(f"empty or negative range [{start}, {end})")
        if start and end - start > (start & -start):
            raise TreeRangeError(f"[{start}, {end}) is not a node of any Merkle tree")
        parts: list[bytes] = []
        a = start
        while a < end:
            level = (end - a).bit_length() - 1
            if a:
                level = min(level, (a & -a).bit_length() - 1)
            parts.append(self.store.get(level, a >> level))
            a += 1 << level
        return _fold(parts)

    def root(self, size: int | None = None) -> bytes:
        n = self._size_or_current(size)
        return EMPTY_ROOT if n == 0 else self.subtree_hash(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) (RFC 9162 §2.1.3.1), the sibling nearest the leaf first."""
        n = self._size_or_current(size)
        if not 0 <= index < n:
            raise TreeRangeError(f"leaf index {index} is outside a tree of size {n}")
        proof: list[bytes] = []
        a, b = 0, n
        while b - a > 1:
            k = _split(b - a)
            if index < a + k:
                proof.append(self.subtree_hash(a + k, b))
                b = a + k
            else:
                proof.append(self.subtree_hash(a, a + k))
                a += k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1), deepest node first.

        Empty when old_size is 0 or equal to new_size: the RFC defines the proof only for
        0 < m < n, and the verifier here treats those two cases without one.
        """
        n = self._size_or_current(new_size)
        if not 0 <= old_size <= n:
            raise TreeRangeError(f"old size {old_size} is outside 0..{n} (the new size)")
        if old_size in (0, n):
            return []
        proof: list[bytes] = []
        a, b = 0, n
        whole_old_tree = True  # the RFC's flag b: still on the path of MTH(D[0:old_size])
        while b != old_size:
            k = _split(b - a)
            if old_size <= a + k:
                proof.append(self.subtree_hash(a + k, b))
                b = a + k
            else:
                proof.append(self.subtree_hash(a, a + k))
                a += k
                whole_old_tree = False
        if not whole_old_tree:
            proof.append(self.subtree_hash(a, b))
        proof.reverse()
        return proof


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def _short(h: bytes) -> str:
    return h.hex()[:16]


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf_hash is leaf `index` of the tree of `size` leaves whose root is `root`.

    RFC 9162 §2.1.3.2. Raises ProofError; returns None on success.
    """
    _check_hash("leaf hash", leaf_hash)
    _check_hash("root", root)
    for i, p in enumerate(proof):
        _check_hash(f"inclusion proof hash {i}", p)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError(
                f"inclusion proof for leaf {index} in tree size {size} has too many hashes"
                f" ({len(proof)})"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"inclusion proof for leaf {index} in tree size {size} has too few hashes"
            f" ({len(proof)})"
        )
    if r != root:
        raise ProofError(
            f"inclusion proof for leaf {index} in tree size {size} leads to root"
            f" {_short(r)}…, not {_short(root)}…"
        )


def consistency_fold(
    old_size: int, new_size: int, path: Sequence[bytes], what: str = "consistency proof"
) -> tuple[bytes, bytes]:
    """(old root, new root) that a consistency path implies, RFC 9162 section 2.1.4.2 steps 3-6.

    `path` starts with the hash of the old tree's last perfect subtree (the one the RFC leaves
    out when old_size is a power of two). Split out because the same fold proves a split view:
    a path that leads to the new root but not to a signed old root is evidence.
    """
    if not path:
        raise ProofError(f"{what} is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"{what} has too many hashes ({len(path)})")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"{what} has too few hashes ({len(path)})")
    return fr, sr


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of new_size leaves (new_root) extends the one of old_size (old_root).

    RFC 9162 §2.1.4.2 for 0 < old_size < new_size. Outside that range there is nothing to
    prove, so the proof must be empty and the roots must agree with the sizes: equal sizes
    need equal roots, and size 0 needs the empty-tree root (stricter than some verifiers,
    which accept any old root for size 0; a wrong claim about the empty tree is still wrong).
    """
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    for i, p in enumerate(proof):
        _check_hash(f"consistency proof hash {i}", p)
    if old_size < 0 or new_size < old_size:
        raise ProofError(f"tree size went from {old_size} to {new_size}: a log only grows")
    what = f"consistency proof from size {old_size} to {new_size}"
    if old_size == new_size or old_size == 0:
        if proof:
            raise ProofError(f"{what} must be empty, has {len(proof)} hashes")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError(f"root {_short(old_root)}… is not the empty tree's root")
        if old_size == new_size and old_root != new_root:
            raise ProofError(
                f"two different roots ({_short(old_root)}…, {_short(new_root)}…)"
                f" for the same tree size {old_size}"
            )
        return
    if not proof:
        raise ProofError(f"{what} is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # The old tree is a perfect subtree of the new one, so the proof leaves it out.
        path.insert(0, old_root)
    fr, sr = consistency_fold(old_size, new_size, path, what)
    if fr != old_root:
        raise ProofError(f"{what} leads to old root {_short(fr)}…, not {_short(old_root)}…")
    if sr != new_root:
        raise ProofError(f"{what} leads to new root {_short(sr)}…, not {_short(new_root)}…")
