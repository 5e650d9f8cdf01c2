"""RFC 9162 Merkle code at its edges: the exact texts of every refusal (a caller logs or returns
them), and the small tree sizes 0, 1, 2, 2^k and 2^k + 1 (issue 12, point 10)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from onereg.core.errors import ProofError
from onereg.ledger.merkle import (
    EMPTY_ROOT,
    MemoryHashStore,
    MerkleTree,
    TreeRangeError,
    consistency_fold,
    leaf_hash,
    node_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)

HASHES = [leaf_hash(bytes([i])) for i in range(17)]


def refused(exc: type[BaseException], text: str, call: Callable[[], Any]) -> None:
    with pytest.raises(exc) as caught:
        call()
    assert str(caught.value) == text


def mth(hashes: list[bytes]) -> bytes:
    """The RFC 9162 section 2.1.1 recursion, written out."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


def short(h: bytes) -> str:
    return h.hex()[:16]


def test_small_sizes() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    tree = MerkleTree(MemoryHashStore(HASHES))
    for n in (0, 1, 2, 3, 4, 5, 8, 9, 16, 17):
        assert root_from_leaves(HASHES[:n]) == mth(HASHES[:n]) == tree.root(n), n
        assert MerkleTree(MemoryHashStore(HASHES[:n])).root() == mth(HASHES[:n])
        for i in range(n):
            proof = tree.inclusion_proof(i, n)
            verify_inclusion(HASHES[i], i, n, proof, mth(HASHES[:n]))
        for m in range(n + 1):
            verify_consistency(m, n, mth(HASHES[:m]), mth(HASHES[:n]), tree.consistency_proof(m, n))
    assert tree.inclusion_proof(0, 1) == []
    assert tree.inclusion_proof(0, 2) == [HASHES[1]]
    assert tree.inclusion_proof(1, 2) == [HASHES[0]]
    assert tree.inclusion_proof(4, 5) == [mth(HASHES[:4])]
    assert tree.inclusion_proof(16, 17) == [mth(HASHES[:16])]
    assert tree.consistency_proof(0, 5) == [] == tree.consistency_proof(5, 5)
    assert tree.consistency_proof(4, 5) == [HASHES[4]]
    assert tree.consistency_proof(1, 2) == [HASHES[1]]
    assert tree.consistency_proof(16, 17) == [HASHES[16]]
    assert tree.consistency_proof(8, 16) == [mth(HASHES[8:16])]
    assert tree.consistency_proof(3, 4) == [HASHES[2], HASHES[3], mth(HASHES[:2])]
    assert tree.subtree_hash(16, 17) == HASHES[16]
    assert tree.subtree_hash(0, 17) == mth(HASHES)
    assert tree.subtree_hash(8, 16) == mth(HASHES[8:16])
    assert tree.subtree_hash(8, 13) == mth(HASHES[8:13])
    assert tree.root() == mth(HASHES) and tree.size() == 17
    # the store
    store = MemoryHashStore()
    assert store.size() == 0
    assert store.extend(HASHES[:2]) == [
        (0, 0, HASHES[0]),
        (0, 1, HASHES[1]),
        (1, 0, mth(HASHES[:2])),
    ]
    assert store.get(1, 0) == mth(HASHES[:2])
    for level, index in ((1, 1), (2, 0), (0, 2), (-1, 0), (0, -1)):
        with pytest.raises(KeyError) as caught:
            store.get(level, index)
        assert caught.value.args == ((level, index),)


def test_range_refusals_are_exact() -> None:
    tree = MerkleTree(MemoryHashStore(HASHES[:8]))
    refused(TreeRangeError, "tree size 9 is outside 0..8 (the log's size)", lambda: tree.root(9))
    refused(TreeRangeError, "tree size -1 is outside 0..8 (the log's size)", lambda: tree.root(-1))
    assert tree.root(8) == mth(HASHES[:8]) and tree.root(0) == EMPTY_ROOT
    refused(TreeRangeError, "empty or negative range [3, 3)", lambda: tree.subtree_hash(3, 3))
    refused(TreeRangeError, "empty or negative range [-1, 2)", lambda: tree.subtree_hash(-1, 2))
    refused(
        TreeRangeError,
        "[2, 5) is not a node of any Merkle tree",
        lambda: tree.subtree_hash(2, 5),
    )
    assert tree.subtree_hash(2, 4) == mth(HASHES[2:4])  # exactly the alignment of 2
    for start, end in ((6, 10), (6, 9), (4, 9), (1, 3)):  # wider than start's alignment
        refused(
            TreeRangeError,
            f"[{start}, {end}) is not a node of any Merkle tree",
            lambda start=start, end=end: tree.subtree_hash(start, end),  # type: ignore[misc]
        )
    assert tree.subtree_hash(6, 8) == mth(HASHES[6:8])
    assert tree.subtree_hash(4, 7) == mth(HASHES[4:7])
    assert tree.subtree_hash(0, 1) == HASHES[0]
    refused(
        TreeRangeError, "leaf index 8 is outside a tree of size 8", lambda: tree.inclusion_proof(8)
    )
    refused(
        TreeRangeError,
        "leaf index -1 is outside a tree of size 3",
        lambda: tree.inclusion_proof(-1, 3),
    )
    refused(
        TreeRangeError,
        "old size 9 is outside 0..8 (the new size)",
        lambda: tree.consistency_proof(9),
    )
    refused(
        TreeRangeError,
        "old size -1 is outside 0..4 (the new size)",
        lambda: tree.consistency_proof(-1, 4),
    )
    refused(
        ValueError,
        "leaf hash 1 is 3 bytes, not 32",
        lambda: root_from_leaves([HASHES[0], b"abc"]),
    )
    refused(ValueError, "leaf hash 0 is 33 bytes, not 32", lambda: root_from_leaves([bytes(33)]))
    refused(ValueError, "leaf hash is 2 bytes, not 32", lambda: MemoryHashStore().append(b"ab"))
    refused(ValueError, "leaf hash is 31 bytes, not 32", lambda: MemoryHashStore([bytes(31)]))


def test_inclusion_refusals_are_exact() -> None:
    tree = MerkleTree(MemoryHashStore(HASHES[:8]))
    root = tree.root()
    proof = tree.inclusion_proof(5)
    verify_inclusion(HASHES[5], 5, 8, proof, root)
    pre = "inclusion proof for leaf 5 in tree size 8"
    cases: list[tuple[Callable[[], None], str]] = [
        (lambda: verify_inclusion(b"a", 5, 8, proof, root), "leaf hash is 1 bytes, not 32"),
        (lambda: verify_inclusion(HASHES[5], 5, 8, proof, b"r"), "root is 1 bytes, not 32"),
        (
            lambda: verify_inclusion(HASHES[5], 5, 8, [proof[0], b"x"], root),
            "inclusion proof hash 1 is 1 bytes, not 32",
        ),
        (
            lambda: verify_inclusion(HASHES[5], 8, 8, proof, root),
            "leaf index 8 is outside a tree of size 8",
        ),
        (
            lambda: verify_inclusion(HASHES[5], -1, 8, proof, root),
            "leaf index -1 is outside a tree of size 8",
        ),
        (
            lambda: verify_inclusion(HASHES[5], 5, 8, [*proof, root], root),
            f"{pre} has too many hashes (4)",
        ),
        (
            lambda: verify_inclusion(HASHES[5], 5, 8, proof[:2], root),
            f"{pre} has too few hashes (2)",
        ),
        (lambda: verify_inclusion(HASHES[5], 5, 8, [], root), f"{pre} has too few hashes (0)"),
        (
            lambda: verify_inclusion(HASHES[0], 0, 1, [HASHES[1]], HASHES[0]),
            "inclusion proof for leaf 0 in tree size 1 has too many hashes (1)",
        ),
    ]
    for call, text in cases:
        refused(ProofError, text, call)
    # leaf 4's hash put at index 5: the path folds it as a right child, then left, then right
    implied = node_hash(proof[2], node_hash(node_hash(proof[0], HASHES[4]), proof[1]))
    refused(
        ProofError,
        f"{pre} leads to root {short(implied)}…, not {short(root)}…",
        lambda: verify_inclusion(HASHES[4], 5, 8, proof, root),
    )


def test_consistency_refusals_are_exact() -> None:
    tree = MerkleTree(MemoryHashStore(HASHES[:8]))
    r3, r8 = tree.root(3), tree.root(8)
    c = tree.consistency_proof(3)
    verify_consistency(3, 8, r3, r8, c)
    what = "consistency proof from size 3 to 8"
    cases: list[tuple[Callable[[], None], str]] = [
        (lambda: verify_consistency(3, 8, b"x", r8, c), "old root is 1 bytes, not 32"),
        (lambda: verify_consistency(3, 8, r3, b"", c), "new root is 0 bytes, not 32"),
        (
            lambda: verify_consistency(3, 8, r3, r8, [c[0], b"1"]),
            "consistency proof hash 1 is 1 bytes, not 32",
        ),
        (
            lambda: verify_consistency(3, 2, r3, r8, c),
            "tree size went from 3 to 2: a log only grows",
        ),
        (
            lambda: verify_consistency(-1, 2, r3, r8, c),
            "tree size went from -1 to 2: a log only grows",
        ),
        (
            lambda: verify_consistency(3, 3, r3, r3, c),
            "consistency proof from size 3 to 3 must be empty, has 4 hashes",
        ),
        (
            lambda: verify_consistency(0, 3, r3, r3, []),
            f"root {short(r3)}… is not the empty tree's root",
        ),
        (
            lambda: verify_consistency(3, 3, r3, r8, []),
            f"two different roots ({short(r3)}…, {short(r8)}…) for the same tree size 3",
        ),
        (lambda: verify_consistency(3, 8, r3, r8, []), f"{what} is empty"),
        (lambda: verify_consistency(3, 8, r3, r8, [*c, r8]), f"{what} has too many hashes (5)"),
        (lambda: verify_consistency(3, 8, r3, r8, c[:-1]), f"{what} has too few hashes (3)"),
        (lambda: consistency_fold(3, 8, []), "consistency proof is empty"),
        (lambda: consistency_fold(3, 8, [], "this"), "this is empty"),
    ]
    for call, text in cases:
        refused(ProofError, text, call)
    with pytest.raises(ProofError) as caught:
        verify_consistency(3, 8, r8, r8, c)
    assert str(caught.value) == f"{what} leads to old root {short(r3)}…, not {short(r8)}…"
    with pytest.raises(ProofError) as caught:
        verify_consistency(3, 8, r3, r3, c)
    assert str(caught.value) == f"{what} leads to new root {short(r8)}…, not {short(r3)}…"
    # the size-0 and equal-size cases pass with the right roots
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 8, EMPTY_ROOT, r8, [])
    verify_consistency(8, 8, r8, r8, [])
    # a power-of-two old size: the proof leaves the old root out, and a wrong one is named
    c4 = tree.consistency_proof(4)
    assert len(c4) == 1
    verify_consistency(4, 8, tree.root(4), r8, c4)
    refused(
        ProofError,
        f"consistency proof from size 4 to 8 leads to new root "
        f"{short(node_hash(r3, c4[0]))}…, not {short(r8)}…",
        lambda: verify_consistency(4, 8, r3, r8, c4),
    )
    fr, sr = consistency_fold(4, 8, [tree.root(4), *c4])
    assert (fr, sr) == (tree.root(4), r8)
    refused(
        ProofError,
        "fold has too many hashes (3)",
        lambda: consistency_fold(1, 2, [HASHES[0], HASHES[1], HASHES[2]], "fold"),
    )
    refused(
        ProofError,
        "fold has too few hashes (1)",
        lambda: consistency_fold(1, 2, [HASHES[0]], "fold"),
    )
