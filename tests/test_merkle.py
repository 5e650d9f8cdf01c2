"""RFC 9162 Merkle hashing, proof generation over a HashStore, and proof verification.

Known-answer vectors are copied by hand from an independent implementation, Go's
transparency-dev/merkle (Apache-2.0):

* hasher vectors: rfc6962/rfc6962_test.go at commit 78493b07ef9b552e3379abf9e23d4da26fbe797c
  (TestRFC6962Hasher);
* leaves, roots at sizes 1..8, inclusion and consistency proofs, and the corruptions that must
  be rejected: proof/verify_test.go at commit 02194e9afb6c1d95b5381350007963aa70fff472
  (`leaves`, `roots`, `inclusionProofs`, `consistencyProofs`, corruptInclusionProof,
  corruptConsistencyProof, TestVerifyInclusion, TestVerifyConsistency); the same vectors are
  the RFC 6962 test vectors of Google's certificate-transparency C++ code;
* which tree nodes make up a proof (node IDs as (level, index), with "rehash" ranges that the
  verifier sees as one ephemeral node): proof/proof_test.go at commit
  02a3e2029520f515596d5238c54fb0ac9e19bff4 (TestInclusion, TestConsistency, TestRehash).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onereg.core.errors import ProofError
from onereg.ledger.merkle import (
    EMPTY_ROOT,
    MemoryHashStore,
    MerkleTree,
    TreeRangeError,
    leaf_hash,
    node_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)


def dh(text: str) -> bytes:
    return bytes.fromhex(text)


# --- rfc6962/rfc6962_test.go -------------------------------------------------------------------


def test_hasher_vectors() -> None:
    assert dh("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == EMPTY_ROOT
    assert leaf_hash(b"") == dh("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"L123456") == dh(
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456") == dh(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_domain_separation() -> None:
    h1, h2 = leaf_hash(b"Hello"), leaf_hash(b"World")
    assert h1 != h2
    assert node_hash(h1, h2) != leaf_hash(h1 + h2)
    assert node_hash(h1, h2) != node_hash(h2, h1)


# --- proof/verify_test.go ----------------------------------------------------------------------

LEAVES = [
    dh(""),
    dh("00"),
    dh("10"),
    dh("2021"),
    dh("3031"),
    dh("40414243"),
    dh("5051525354555657"),
    dh("606162636465666768696a6b6c6d6e6f"),
]
# ROOTS[n - 1] is the root of the tree of the first n LEAVES.
ROOTS = [
    dh("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    dh("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    dh("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    dh("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    dh("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    dh("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    dh("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# (leaf number counted from 1 as in the Go source, tree size, proof)
INCLUSION_PROOFS: list[tuple[int, int, list[bytes]]] = [
    (1, 1, []),
    (
        1,
        8,
        [
            dh("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            dh("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            dh("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            dh("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [dh("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            dh("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            dh("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CONSISTENCY_PROOFS: list[tuple[int, int, list[bytes]]] = [
    (1, 1, []),
    (
        1,
        8,
        [
            dh("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            dh("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            dh("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            dh("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            dh("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            dh("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            dh("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
SOME_HASH = dh("abacaba000000000000000000000000000000000000000000060061e00123456")


@pytest.fixture(scope="module")
def vector_tree() -> MerkleTree:
    return MerkleTree(MemoryHashStore(leaf_hash(d) for d in LEAVES))


def test_roots_at_every_size(vector_tree: MerkleTree) -> None:
    hashes = [leaf_hash(d) for d in LEAVES]
    assert vector_tree.root(0) == EMPTY_ROOT == root_from_leaves([])
    for n, want in enumerate(ROOTS, start=1):
        assert root_from_leaves(hashes[:n]) == want
        assert vector_tree.root(n) == want
        assert MerkleTree(MemoryHashStore(hashes[:n])).root() == want


def _fails(call: object, *args: object) -> bool:
    assert callable(call)
    try:
        call(*args)
    except ProofError:
        return True
    return False


def _corrupt_inclusion(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[str, tuple[bytes, int, int, list[bytes], bytes]]]:
    """corruptInclusionProof from verify_test.go: every probe must fail."""
    probes = [
        ("index - 1", (leaf, index - 1, size, proof, root)),
        ("index + 1", (leaf, index + 1, size, proof, root)),
        ("index ^ 2", (leaf, index ^ 2, size, proof, root)),
        ("size * 2", (leaf, index, size * 2, proof, root)),
        ("size / 2", (leaf, index, size // 2, proof, root)),
        ("wrong leaf", (b"WrongLeaf", index, size, proof, root)),
        ("empty root", (leaf, index, size, proof, EMPTY_ROOT)),
        ("random root", (leaf, index, size, proof, SOME_HASH)),
        ("trailing garbage", (leaf, index, size, [*proof, b""], root)),
        ("trailing root", (leaf, index, size, [*proof, root], root)),
        ("preceding garbage", (leaf, index, size, [b"", *proof], root)),
        ("preceding root", (leaf, index, size, [root, *proof], root)),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 8]) + wrong[i][1:]
        probes.append((f"modified proof[{i}] bit 3", (leaf, index, size, wrong, root)))
    if proof:
        probes.append(("removed component", (leaf, index, size, proof[:-1], root)))
    if len(proof) > 1:
        probes.append(
            ("inserted component", (leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root))
        )
    return probes


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION_PROOFS)
def test_inclusion_vectors(
    vector_tree: MerkleTree, leaf: int, size: int, proof: list[bytes]
) -> None:
    index = leaf - 1
    root = ROOTS[size - 1]
    lh = leaf_hash(LEAVES[index])
    assert vector_tree.inclusion_proof(index, size) == proof
    verify_inclusion(lh, index, size, proof, root)
    accepted = [
        desc
        for desc, args in _corrupt_inclusion(index, size, proof, root, lh)
        if not _fails(verify_inclusion, *args)
    ]
    assert accepted == []


def _corrupt_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> list[tuple[str, tuple[int, int, bytes, bytes, list[bytes]]]]:
    """corruptConsistencyProof from verify_test.go: every probe must fail."""
    probes = [
        ("size1 - 1", (size1 - 1, size2, root1, root2, proof)),
        ("size1 + 1", (size1 + 1, size2, root1, root2, proof)),
        ("size1 ^ 2", (size1 ^ 2, size2, root1, root2, proof)),
        ("size2 * 2", (size1, size2 * 2, root1, root2, proof)),
        ("size2 / 2", (size1, size2 // 2, root1, root2, proof)),
        ("wrong root1", (size1, size2, b"WrongRoot", root2, proof)),
        ("wrong root2", (size1, size2, root1, b"WrongRoot", proof)),
        ("swapped roots", (size1, size2, root2, root1, proof)),
        ("empty proof", (size1, size2, root1, root2, [])),
        ("trailing garbage", (size1, size2, root1, root2, [*proof, b""])),
        ("trailing root1", (size1, size2, root1, root2, [*proof, root1])),
        ("trailing root2", (size1, size2, root1, root2, [*proof, root2])),
        ("preceding garbage", (size1, size2, root1, root2, [b"", *proof])),
        ("preceding root1", (size1, size2, root1, root2, [root1, *proof])),
        ("preceding root2", (size1, size2, root1, root2, [root2, *proof])),
        ("preceding proof[0]", (size1, size2, root1, root2, [proof[0], *proof])),
        ("truncated proof", (size1, size2, root1, root2, proof[:-1])),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 16]) + wrong[i][1:]
        probes.append((f"modified proof[{i}] bit 4", (size1, size2, root1, root2, wrong)))
    return probes


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY_PROOFS)
def test_consistency_vectors(
    vector_tree: MerkleTree, size1: int, size2: int, proof: list[bytes]
) -> None:
    root1, root2 = ROOTS[size1 - 1], ROOTS[size2 - 1]
    assert vector_tree.consistency_proof(size1, size2) == proof
    verify_consistency(size1, size2, root1, root2, proof)
    if not proof:
        return
    accepted = [
        desc
        for desc, args in _corrupt_consistency(size1, size2, root1, root2, proof)
        if not _fails(verify_consistency, *args)
    ]
    assert accepted == []


def test_verify_inclusion_edge_cases() -> None:
    """TestVerifyInclusionSingleEntry and TestVerifyInclusion (the parameter probes)."""
    h = leaf_hash(b"data")
    verify_inclusion(h, 0, 1, [], h)  # a one-leaf tree's root is its leaf hash
    for leaf, root in [(h, b""), (b"", h), (b"", b"")]:
        assert _fails(verify_inclusion, leaf, 0, 1, [], root)
    for index, size in [(0, 0), (0, 1), (1, 0), (2, 1)]:
        assert _fails(verify_inclusion, SOME_HASH, index, size, [], b"")
        assert _fails(verify_inclusion, b"", index, size, [], EMPTY_ROOT)
        assert _fails(verify_inclusion, SOME_HASH, index, size, [], EMPTY_ROOT)
    assert _fails(verify_inclusion, h, -1, 1, [], h)


def test_verify_consistency_edge_cases() -> None:
    """TestVerifyConsistency's fixed cases. Two are stricter here: size 0 needs the empty
    root (the Go code accepts any old root for size 0, and any equal pair for 0 -> 0).
    """
    r1, r2 = ROOTS[0], ROOTS[1]
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 1, EMPTY_ROOT, r1, [])
    verify_consistency(1, 1, r2, r2, [])
    for size1, size2, root1, root2, proof in [
        (0, 0, r1, r2, []),
        (1, 1, r1, r2, []),
        (1, 0, r1, r2, []),  # time travel to the past
        (2, 1, r1, r2, []),
        (1, 2, r1, r2, []),  # empty proof
        (0, 0, EMPTY_ROOT, r2, []),
        (1, 1, EMPTY_ROOT, r2, []),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),  # roots match but proof not empty
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
        (0, 1, r1, r1, []),  # stricter: r1 is not the empty tree's root
        (-1, 1, EMPTY_ROOT, r1, []),
    ]:
        assert _fails(verify_consistency, size1, size2, root1, root2, proof)


def test_error_messages_say_what_failed() -> None:
    hashes = [leaf_hash(d) for d in LEAVES]
    tree = MerkleTree(MemoryHashStore(hashes))
    proof = tree.inclusion_proof(5, 8)
    with pytest.raises(ProofError, match="leaf 5 in tree size 8 leads to root"):
        verify_inclusion(hashes[4], 5, 8, proof, ROOTS[7])
    with pytest.raises(ProofError, match="too many hashes"):
        verify_inclusion(hashes[5], 5, 8, [*proof, SOME_HASH], ROOTS[7])
    with pytest.raises(ProofError, match="too few hashes"):
        verify_inclusion(hashes[5], 5, 8, proof[:-1], ROOTS[7])
    with pytest.raises(ProofError, match="is 3 bytes, not 32"):
        verify_inclusion(hashes[5], 5, 8, [b"abc"], ROOTS[7])
    cproof = tree.consistency_proof(3, 7)
    with pytest.raises(ProofError, match="from size 3 to 7 leads to old root"):
        verify_consistency(3, 7, ROOTS[3], ROOTS[6], cproof)
    with pytest.raises(ProofError, match="leads to new root"):
        verify_consistency(3, 7, ROOTS[2], ROOTS[5], cproof)
    with pytest.raises(ProofError, match="a log only grows"):
        verify_consistency(7, 3, ROOTS[6], ROOTS[2], cproof)


# --- proof/proof_test.go: which nodes make up a proof ------------------------------------------

Node = tuple[int, int]  # (level, index)


def _expected(
    store: MemoryHashStore, ids: list[Node], rehash: tuple[int, int] | None
) -> list[bytes]:
    """Hashes of the listed nodes; a rehash range [begin, end) becomes one ephemeral node,
    hashed as in TestRehash: h = ids[begin]; h = node_hash(next, h) for each next.
    """
    hashes = [store.get(level, index) for level, index in ids]
    if rehash is None:
        return hashes
    begin, end = rehash
    h = hashes[begin]
    for nxt in hashes[begin + 1 : end]:
        h = node_hash(nxt, h)
    return [*hashes[:begin], h, *hashes[end:]]


INCLUSION_NODES: list[tuple[int, int, list[Node], tuple[int, int] | None]] = [
    (1, 0, [], None),
    (2, 0, [(0, 1)], None),
    (2, 1, [(0, 0)], None),
    (3, 1, [(0, 0), (0, 2)], None),
    (7, 0, [(0, 1), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (7, 1, [(0, 0), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (7, 2, [(0, 3), (1, 0), (0, 6), (1, 2)], (2, 4)),
    (7, 3, [(0, 2), (1, 0), (0, 6), (1, 2)], (2, 4)),
    (7, 4, [(0, 5), (0, 6), (2, 0)], None),
    (7, 5, [(0, 4), (0, 6), (2, 0)], None),
    (7, 6, [(1, 2), (2, 0)], None),
    (4, 2, [(0, 3), (1, 0)], None),
    (5, 3, [(0, 2), (1, 0), (0, 4)], None),
    (6, 3, [(0, 2), (1, 0), (1, 2)], None),
    (6, 4, [(0, 5), (2, 0)], None),
    (15, 10, [(0, 11), (1, 4), (0, 14), (1, 6), (3, 0)], (2, 4)),
    (31, 24, [(0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)], (2, 4)),
    (95, 81, [(0, 80), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)], (3, 6)),
]
CONSISTENCY_NODES: list[tuple[int, int, list[Node], tuple[int, int] | None]] = [
    (1, 2, [(0, 1)], None),
    (1, 4, [(0, 1), (1, 1)], None),
    (1, 6, [(0, 1), (1, 1), (1, 2)], None),
    (2, 3, [(0, 2)], None),
    (2, 8, [(1, 1), (2, 1)], None),
    (3, 7, [(0, 2), (0, 3), (1, 0), (0, 6), (1, 2)], (3, 5)),
    (4, 7, [(0, 6), (1, 2)], (0, 2)),
    (5, 7, [(0, 4), (0, 5), (0, 6), (2, 0)], None),
    (6, 7, [(1, 2), (0, 6), (2, 0)], None),
    (7, 8, [(0, 6), (0, 7), (1, 2), (2, 0)], None),
    (1, 1, [], None),
    (2, 2, [], None),
    (3, 3, [], None),
    (4, 4, [], None),
    (5, 5, [], None),
    (7, 7, [], None),
    (8, 8, [], None),
    (2, 4, [(1, 1)], None),
    (3, 5, [(0, 2), (0, 3), (1, 0), (0, 4)], None),
    (3, 6, [(0, 2), (0, 3), (1, 0), (1, 2)], None),
    (4, 6, [(1, 2)], None),
    (1, 7, [(0, 1), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (10, 15, [(1, 4), (1, 5), (0, 14), (1, 6), (3, 0)], (2, 4)),
    (24, 31, [(3, 2), (0, 30), (1, 14), (2, 6), (4, 0)], (1, 4)),
    (
        81,
        95,
        [(0, 80), (0, 81), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)],
        (4, 7),
    ),
]


@pytest.fixture(scope="module")
def store_100() -> MemoryHashStore:
    return MemoryHashStore(leaf_hash(i.to_bytes(4, "big")) for i in range(100))


@pytest.mark.parametrize(("size", "index", "ids", "rehash"), INCLUSION_NODES)
def test_inclusion_nodes(
    store_100: MemoryHashStore,
    size: int,
    index: int,
    ids: list[Node],
    rehash: tuple[int, int] | None,
) -> None:
    assert MerkleTree(store_100).inclusion_proof(index, size) == _expected(store_100, ids, rehash)


@pytest.mark.parametrize(("size1", "size2", "ids", "rehash"), CONSISTENCY_NODES)
def test_consistency_nodes(
    store_100: MemoryHashStore,
    size1: int,
    size2: int,
    ids: list[Node],
    rehash: tuple[int, int] | None,
) -> None:
    tree = MerkleTree(store_100)
    assert tree.consistency_proof(size1, size2) == _expected(store_100, ids, rehash)


def test_bad_proof_requests(store_100: MemoryHashStore) -> None:
    """TestInclusion/TestConsistency error rows, plus sizes beyond the store."""
    tree = MerkleTree(store_100)
    for index, size in [(0, 0), (1, 0), (2, 1), (3, 0), (8, 7), (-1, 5), (0, 101)]:
        with pytest.raises(TreeRangeError):
            tree.inclusion_proof(index, size)
    for size1, size2 in [(5, 0), (9, 8), (-1, 4), (1, 101)]:
        with pytest.raises(TreeRangeError):
            tree.consistency_proof(size1, size2)
    with pytest.raises(TreeRangeError):
        tree.root(101)
    with pytest.raises(TreeRangeError, match="not a node"):
        tree.subtree_hash(2, 5)


# --- the store ---------------------------------------------------------------------------------


def test_append_reports_exactly_the_completed_subtrees() -> None:
    store = MemoryHashStore()
    rows: dict[tuple[int, int], bytes] = {}
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(300)]
    for n, h in enumerate(hashes, start=1):
        new = store.append(h)
        assert new[0] == (0, n - 1, h)
        for level, index, value in new:
            assert (level, index) not in rows
            assert (index + 1) << level == n  # it is complete now and was not before
            rows[(level, index)] = value
    # Every perfect subtree of the final tree was reported once, with its MTH.
    for level in range(9):
        for index in range(300 >> level):
            start = index << level
            want = root_from_leaves(hashes[start : start + (1 << level)])
            assert rows.pop((level, index)) == want == store.get(level, index)
    assert rows == {}
    with pytest.raises(KeyError):
        store.get(0, 300)
    with pytest.raises(KeyError):
        store.get(2, 75)
    with pytest.raises(KeyError):
        store.get(9, 0)
    with pytest.raises(ValueError):
        store.append(b"short")


class _RowStore:
    """A store that holds only the rows append() reported, as a database would."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, int], bytes] = {}
        self.n = 0

    def get(self, level: int, index: int) -> bytes:
        return self.rows[(level, index)]

    def size(self) -> int:
        return self.n


def test_tree_over_saved_rows_matches_memory_store() -> None:
    memory, saved = MemoryHashStore(), _RowStore()
    for i in range(1000):
        for level, index, h in memory.append(leaf_hash(str(i).encode())):
            saved.rows[(level, index)] = h
        saved.n += 1
    a, b = MerkleTree(memory), MerkleTree(saved)
    for n in (1, 2, 3, 255, 256, 257, 999, 1000):
        assert a.root(n) == b.root(n)
        assert a.inclusion_proof(n - 1, n) == b.inclusion_proof(n - 1, n)
        assert a.consistency_proof(n // 3, n) == b.consistency_proof(n // 3, n)


# --- an independent reference: the RFC's recursive definitions over a list of leaves -----------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(_mth(d[:k]), _mth(d[k:]))


def _path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*_path(m, d[:k]), _mth(d[k:])]
    return [*_path(m - k, d[k:]), _mth(d[:k])]


def _subproof(m: int, d: Sequence[bytes], whole: bool) -> list[bytes]:
    if m == len(d):
        return [] if whole else [_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*_subproof(m, d[:k], whole), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


def test_against_rfc_recursion_exhaustively_up_to_40() -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(40)]
    tree = MerkleTree(MemoryHashStore(hashes))
    for n in range(1, 41):
        root = _mth(hashes[:n])
        assert tree.root(n) == root
        for i in range(n):
            proof = tree.inclusion_proof(i, n)
            assert proof == _path(i, hashes[:n])
            verify_inclusion(hashes[i], i, n, proof, root)
        for m in range(1, n):
            cproof = tree.consistency_proof(m, n)
            assert cproof == _subproof(m, hashes[:n], True)
            verify_consistency(m, n, tree.root(m), root, cproof)


# --- properties over random trees of a few thousand leaves -------------------------------------

BIG = 3000
BIG_HASHES = [leaf_hash(b"entry %d" % i) for i in range(BIG)]
BIG_TREE = MerkleTree(MemoryHashStore(BIG_HASHES))


def _shape(index: int, size: int) -> list[bool]:
    """For each level on the leaf's path, top down: is the leaf in the left subtree?"""
    shape = []
    a, b = 0, size
    while b - a > 1:
        k = _k(b - a)
        shape.append(index < a + k)
        if index < a + k:
            b = a + k
        else:
            a += k
    return shape


def _flip(proof: list[bytes], which: int, bit: int) -> list[bytes]:
    wrong = list(proof)
    h = bytearray(wrong[which])
    h[bit // 8] ^= 1 << (bit % 8)
    wrong[which] = bytes(h)
    return wrong


@settings(max_examples=150, deadline=None)
@given(data=st.data(), size=st.integers(1, BIG))
def test_inclusion_property(data: st.DataObject, size: int) -> None:
    index = data.draw(st.integers(0, size - 1))
    root = BIG_TREE.root(size)
    proof = BIG_TREE.inclusion_proof(index, size)
    assert len(proof) <= (size - 1).bit_length()
    verify_inclusion(BIG_HASHES[index], index, size, proof, root)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        assert _fails(
            verify_inclusion, BIG_HASHES[index], index, size, _flip(proof, which, bit), root
        )
    if size > 1:
        # Another leaf of the same tree has another path, so the same proof cannot fit it.
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
        assert _fails(verify_inclusion, BIG_HASHES[index], other, size, proof, root)
    # A wrong size is accepted exactly when the leaf's path has the same shape in both trees
    # (e.g. leaf 0 in sizes 5 and 6): then the computation is identical. It is the root,
    # signed together with its size in a checkpoint, that binds a proof to one tree.
    wrong_size = data.draw(st.integers(index + 1, 2 * BIG).filter(lambda s: s != size))
    same_shape = _shape(index, wrong_size) == _shape(index, size)
    accepted = not _fails(verify_inclusion, BIG_HASHES[index], index, wrong_size, proof, root)
    assert accepted == same_shape
    assert _fails(verify_inclusion, BIG_HASHES[index], index, size * 2, proof, root)
    assert _fails(verify_inclusion, BIG_HASHES[index], index, index, proof, root)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), new_size=st.integers(1, BIG))
def test_consistency_property(data: st.DataObject, new_size: int) -> None:
    old_size = data.draw(st.integers(0, new_size))
    old_root, new_root = BIG_TREE.root(old_size), BIG_TREE.root(new_size)
    assert old_root == root_from_leaves(BIG_HASHES[:old_size])
    assert new_root == root_from_leaves(BIG_HASHES[:new_size])
    proof = BIG_TREE.consistency_proof(old_size, new_size)
    verify_consistency(old_size, new_size, old_root, new_root, proof)
    if not proof:
        assert old_size in (0, new_size)
        return
    assert len(proof) <= (new_size - 1).bit_length() + 1
    which = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    flipped = _flip(proof, which, bit)
    assert _fails(verify_consistency, old_size, new_size, old_root, new_root, flipped)
    for wrong_old in (old_size - 1, old_size + 1, old_size ^ 2):
        if wrong_old != old_size:
            assert _fails(verify_consistency, wrong_old, new_size, old_root, new_root, proof)
    # Doubling the new size doubles every path, so it must fail. Other wrong new sizes may be
    # accepted (e.g. 1 -> 3 verifies as 1 -> 4): the new root, signed with its size, is bound.
    assert _fails(verify_consistency, old_size, new_size * 2, old_root, new_root, proof)
    assert _fails(verify_consistency, old_size, new_size, new_root, old_root, proof)
    assert _fails(verify_consistency, old_size, new_size, old_root, new_root, proof[:-1])
    assert _fails(verify_consistency, old_size, new_size, old_root, new_root, [*proof, new_root])


def test_wrong_old_size_never_verifies() -> None:
    """The old root pins the old size: no other old size accepts a proof, exhaustively."""
    tree = MerkleTree(MemoryHashStore(BIG_HASHES[:48]))
    roots = [tree.root(n) for n in range(49)]
    for n in range(2, 49):
        for m in range(1, n):
            proof = tree.consistency_proof(m, n)
            for wrong in range(n + 1):
                if wrong != m:
                    assert _fails(verify_consistency, wrong, n, roots[m], roots[n], proof)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, BIG), min_size=2, max_size=5))
def test_consistency_chains(sizes: list[int]) -> None:
    """A witness that follows the log through several checkpoints accepts every step."""
    sizes.sort()
    for old, new in itertools.pairwise(sizes):
        verify_consistency(
            old, new, BIG_TREE.root(old), BIG_TREE.root(new), BIG_TREE.consistency_proof(old, new)
        )
