"""The state tree's edges: exact refusal texts, boundary values of the leaf encoding and of
overlaps, and small trees whose shape is known (issue 12, point 10: mutation testing)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from onereg.core.errors import OverlapError, ProofError
from onereg.core.resources import Afi
from onereg.ledger import statetree
from onereg.ledger.statetree import (
    EMPTY_HASH,
    AbsenceProof,
    HoldingProof,
    LeafIntersectsError,
    PathStep,
    StateLeaf,
    StateTree,
    describe_leaf,
    leaf_bytes,
    leaf_from_bytes,
    leaf_hash,
    node_hash,
    priority,
    verify_absence,
    verify_holding,
)


def refused(exc: type[BaseException], text: str, call: Callable[[], Any]) -> None:
    """`call` raises `exc` with exactly `text` (KeyError's argument for a KeyError)."""
    with pytest.raises(exc) as caught:
        call()
    got = caught.value.args[0] if isinstance(caught.value, KeyError) else str(caught.value)
    assert got == text


def encoded(code: int, start: int, end: int, holder: bytes = b"", status: bytes = b"") -> bytes:
    return (
        bytes([code])
        + start.to_bytes(16, "big")
        + end.to_bytes(16, "big")
        + len(holder).to_bytes(2, "big")
        + holder
        + len(status).to_bytes(2, "big")
        + status
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ------------------------------------------------------------------------------------------
# Leaves


def test_state_leaf_refusals_are_exact() -> None:
    refused(
        ValueError,
        "state leaf: unknown family 'ipv5' (asn, ipv4 or ipv6)",
        lambda: StateLeaf("ipv5", 0, 0, "", "x"),
    )
    refused(
        ValueError,
        f"state leaf: ipv4 0-{1 << 32} is not a range within 0-{(1 << 32) - 1}",
        lambda: StateLeaf("ipv4", 0, 1 << 32, "", "x"),
    )
    refused(
        ValueError,
        "state leaf: asn 2-1 is not a range within 0-4294967295",
        lambda: StateLeaf("asn", 2, 1, "", "x"),
    )
    refused(
        ValueError,
        "state leaf: asn -1-1 is not a range within 0-4294967295",
        lambda: StateLeaf("asn", -1, 1, "", "x"),
    )
    refused(
        ValueError,
        "state leaf: asn 0-True is not a range within 0-4294967295",
        lambda: StateLeaf("asn", 0, True, "", "x"),
    )
    refused(
        ValueError,
        "state leaf: status must be a string, not 3",
        lambda: StateLeaf("asn", 0, 1, "a", 3),  # type: ignore[arg-type]
    )
    refused(
        ValueError,
        "state leaf: holder must be a string, not None",
        lambda: StateLeaf("asn", 0, 1, None, "x"),  # type: ignore[arg-type]
    )
    refused(
        ValueError,
        "state leaf: holder '\\udc80' is not valid UTF-8",
        lambda: StateLeaf("asn", 0, 1, "\udc80", "x"),
    )
    refused(
        ValueError,
        "state leaf: status is longer than 65535 bytes",
        lambda: StateLeaf("asn", 0, 1, "", "x" * 65536),
    )


def test_state_leaf_boundaries() -> None:
    for afi in Afi:
        top = afi.max_value
        leaf = StateLeaf(afi, top, top, "", "")  # type: ignore[arg-type]
        assert leaf.afi == afi.value and type(leaf.afi) is str
        assert leaf_from_bytes(leaf_bytes(leaf)) == leaf
        with pytest.raises(ValueError):
            StateLeaf(afi.value, top, top + 1, "", "")
    assert StateLeaf("asn", 0, 0, "", "").key() == (0, 0)
    assert StateLeaf("ipv6", 5, 9, "", "").key() == (2, 5)
    # The text limit counts UTF-8 bytes, ASCII or not.
    assert len(leaf_bytes(StateLeaf("asn", 0, 1, "x" * 65535, ""))) == 37 + 65535
    assert len(leaf_bytes(StateLeaf("asn", 0, 1, "é" * 32767 + "x", ""))) == 37 + 65535
    refused(
        ValueError,
        "state leaf: holder is longer than 65535 bytes",
        lambda: StateLeaf("asn", 0, 1, "é" * 32768, ""),
    )
    refused(
        ValueError,
        "state leaf: holder is longer than 65535 bytes",
        lambda: StateLeaf("asn", 0, 1, "x" * 65536, ""),
    )


def test_describe_leaf() -> None:
    assert describe_leaf(StateLeaf("ipv4", 1, 2, "ORG-A", "assigned")) == (
        "leaf ipv4 1-2 held by 'ORG-A' (assigned)"
    )
    assert describe_leaf(StateLeaf("asn", 3, 3, "", "available")) == (
        "leaf asn 3-3 pool space (available)"
    )


def test_leaf_from_bytes_refusals_are_exact() -> None:
    assert leaf_from_bytes(encoded(0, 0, 0)) == StateLeaf("asn", 0, 0, "", "")
    assert leaf_from_bytes(encoded(2, 1, 2, b"h", b"st")) == StateLeaf("ipv6", 1, 2, "h", "st")
    refused(
        ProofError,
        "state leaf encoding is 36 bytes, shorter than 37",
        lambda: leaf_from_bytes(encoded(0, 0, 0)[:36]),
    )
    refused(
        ProofError,
        "state leaf encoding has unknown family byte 0x03",
        lambda: leaf_from_bytes(encoded(3, 0, 0)),
    )
    refused(
        ProofError,
        "state leaf encoding has unknown family byte 0xff",
        lambda: leaf_from_bytes(encoded(255, 0, 0)),
    )
    # a holder length that runs into the status length (36 bytes + the two of slen missing)
    refused(
        ProofError,
        "state leaf encoding is truncated in the holder",
        lambda: leaf_from_bytes(encoded(0, 0, 0)[:33] + b"\x00\x01\x00\x00"),
    )
    refused(
        ProofError,
        "state leaf encoding is truncated in the holder",
        lambda: leaf_from_bytes(encoded(0, 0, 0)[:33] + b"\x00\x02\x00\x00"),
    )
    assert leaf_from_bytes(encoded(0, 0, 0)[:33] + b"\x00\x01A\x00\x00").holder == "A"
    # both bytes of each length count (a holder of 256 bytes or more)
    for size in (255, 256, 65535):
        long = StateLeaf("ipv6", 1, 2, "h" * size, "s" * (size // 2))
        assert leaf_from_bytes(leaf_bytes(long)) == long
        assert leaf_bytes(long)[33:35] == size.to_bytes(2, "big")
    refused(
        ProofError,
        "state leaf encoding is 38 bytes, the lengths say 37",
        lambda: leaf_from_bytes(encoded(0, 0, 0) + b"\x00"),
    )
    refused(
        ProofError,
        "state leaf encoding is 38 bytes, the lengths say 39",
        lambda: leaf_from_bytes(encoded(0, 0, 0, b"", b"ab")[:-1]),
    )
    with pytest.raises(ProofError, match=r"^state leaf encoding is not a valid leaf: 'utf-8'"):
        leaf_from_bytes(encoded(0, 0, 0, b"", b"\xff"))
    refused(
        ProofError,
        "state leaf encoding is not a valid leaf: "
        "state leaf: asn 2-1 is not a range within 0-4294967295",
        lambda: leaf_from_bytes(encoded(0, 2, 1)),
    )


def test_hash_rules() -> None:
    leaf = StateLeaf("ipv4", 7, 9, "A", "x")
    assert leaf_hash(leaf) == hashlib.sha256(b"\x10" + leaf_bytes(leaf)).digest()
    a, b, c = bytes(32), bytes([1]) * 32, bytes([2]) * 32
    assert node_hash(a, b, c) == hashlib.sha256(b"\x11" + a + b + c).digest()
    assert priority("ipv4", 7) == hashlib.sha256(b"\x13" + leaf_bytes(leaf)[:17]).digest()
    assert priority("ipv6", 0) == hashlib.sha256(b"\x13\x02" + bytes(16)).digest()


# ------------------------------------------------------------------------------------------
# Small trees


def _two() -> tuple[StateLeaf, StateLeaf]:
    return StateLeaf("ipv4", 10, 19, "A", "x"), StateLeaf("ipv4", 30, 39, "", "available")


def test_one_and_two_leaf_trees() -> None:
    a, b = _two()
    one = StateTree([a])
    assert one.root() == node_hash(EMPTY_HASH, leaf_hash(a), EMPTY_HASH)
    assert len(one) == 1 and one.depth() == 1 and list(one) == [a]
    assert one.get("ipv4", 10) == a
    assert one.get("ipv4", 11) is None and one.get("ipv6", 10) is None
    proof = one.prove_holding("ipv4", 10)
    assert proof == HoldingProof((), EMPTY_HASH, EMPTY_HASH)
    assert proof.hash_count() == 2
    assert proof.to_json() == {
        "format": "onereg-state-holding/1",
        "path": [],
        "left": b64(EMPTY_HASH),
        "right": b64(EMPTY_HASH),
    }

    two = StateTree([b, a])
    assert len(two) == 2 and two.depth() == 2 and list(two) == [a, b]
    top, low = (a, b) if priority("ipv4", 10) > priority("ipv4", 30) else (b, a)
    below = node_hash(EMPTY_HASH, leaf_hash(low), EMPTY_HASH)
    if top == a:
        assert two.root() == node_hash(EMPTY_HASH, leaf_hash(a), below)
    else:
        assert two.root() == node_hash(below, leaf_hash(b), EMPTY_HASH)
    # the absence proof of the gap passes both leaves, each with the child not taken
    gap = two.prove_absence("ipv4", 20, 29)
    assert gap.hash_count() == 2 == len(gap.path)
    assert [s.leaf for s in gap.path] == [top, low]
    assert gap.path[0].sibling == EMPTY_HASH and gap.path[1].sibling == EMPTY_HASH
    assert gap.to_json() == {
        "format": "onereg-state-absence/1",
        "path": [{"leaf": b64(leaf_bytes(x)), "sibling": b64(EMPTY_HASH)} for x in (top, low)],
    }
    verify_absence(two.root(), "ipv4", 20, 29, gap)
    # deleting either leaf gives the one-leaf tree of the other
    for gone, kept in ((a, b), (b, a)):
        tree = StateTree([a, b])
        assert tree.delete(gone.afi, gone.start) == gone
        assert tree.root() == StateTree([kept]).root()
        assert len(tree) == 1 and tree.depth() == 1
        assert tree.delete(kept.afi, kept.start) == kept
        assert tree.root() == EMPTY_HASH and len(tree) == 0 and tree.depth() == 0
        # freed nodes are reused
        tree.insert(gone)
        tree.insert(kept)
        assert tree.root() == two.root() and len(tree) == 2


def test_tree_refusals_are_exact() -> None:
    a, b = _two()
    tree = StateTree([a, b])
    refused(KeyError, "no state leaf starts at ipv4 11", lambda: tree.delete("ipv4", 11))
    refused(
        KeyError,
        "no state leaf starts at ipv4 11",
        lambda: tree.replace(StateLeaf("ipv4", 11, 12, "", "x")),
    )
    refused(KeyError, "no state leaf starts at ipv6 10", lambda: tree.prove_holding("ipv6", 10))
    refused(
        LeafIntersectsError,
        "range ipv4 15-35 is not free: it intersects leaf ipv4 30-39 pool space (available)",
        lambda: tree.prove_absence("ipv4", 15, 35),
    )
    refused(
        LeafIntersectsError,
        "range ipv4 19-25 is not free: it intersects leaf ipv4 10-19 held by 'A' (x)",
        lambda: tree.prove_absence("ipv4", 19, 25),
    )
    refused(
        LeafIntersectsError,
        "range ipv4 5-10 is not free: it intersects leaf ipv4 10-19 held by 'A' (x)",
        lambda: tree.prove_absence("ipv4", 5, 10),
    )
    refused(
        ValueError,
        "absence proof: ipv4 5-4 has first > last",
        lambda: tree.prove_absence("ipv4", 5, 4),
    )
    refused(
        ValueError,
        "state lookup: 'ipv7' 1 is not a value of a known family",
        lambda: tree.get("ipv7", 1),
    )
    refused(
        ValueError,
        "absence proof: 'ipv4' -1 is not a value of a known family",
        lambda: tree.prove_absence("ipv4", -1, 4),
    )
    refused(
        ValueError,
        f"absence proof: 'ipv4' {1 << 32} is not a value of a known family",
        lambda: tree.prove_absence("ipv4", 0, 1 << 32),
    )
    refused(
        ValueError,
        "state delete: 'asn' True is not a value of a known family",
        lambda: tree.delete("asn", True),  # type: ignore[arg-type]
    )
    refused(
        ValueError,
        "holding proof: 'asn' 4294967296 is not a value of a known family",
        lambda: tree.prove_holding("asn", 1 << 32),
    )
    assert tree.get("ipv4", (1 << 32) - 1) is None


def test_overlap_boundaries_on_insert_and_replace() -> None:
    a, b = _two()  # ipv4 10-19 and 30-39
    for start, end in ((5, 10), (19, 25), (25, 30), (39, 45), (0, 100), (12, 14)):
        tree = StateTree([a, b])
        with pytest.raises(OverlapError):
            tree.insert(StateLeaf("ipv4", start, end, "N", "x"))
        assert tree.root() == StateTree([a, b]).root()
    # the refusal names the new leaf and the one it meets: the same start, before or after
    for new, met in (
        (StateLeaf("ipv4", 10, 12, "N", "x"), a),
        (StateLeaf("ipv4", 5, 10, "N", "x"), a),
        (StateLeaf("ipv4", 19, 25, "N", "x"), a),
        (StateLeaf("ipv4", 25, 30, "N", "x"), b),
        (StateLeaf("ipv4", 30, 30, "N", "x"), b),
    ):
        refused(
            OverlapError,
            f"overlap refused: {describe_leaf(new)} overlaps {describe_leaf(met)}",
            lambda new=new: StateTree([a, b]).insert(new),  # type: ignore[misc]
        )
    for start, end in ((0, 9), (20, 29), (40, 40), (20, 20), (29, 29)):
        tree = StateTree([a, b])
        new = StateLeaf("ipv4", start, end, "N", "x")
        tree.insert(new)
        assert tree.root() == StateTree([a, b, new]).root()
    # the same numbers in the other families are no overlap
    for afi in ("asn", "ipv6"):
        tree = StateTree([a, b])
        tree.insert(StateLeaf(afi, 10, 39, "N", "x"))
        assert len(tree) == 3
        assert StateTree([a, b, StateLeaf(afi, 10, 39, "N", "x")]).root() == tree.root()
    # replace may grow up to the next leaf, not into it, in either tree shape
    for leaves in ([a, b], [a, b, StateLeaf("ipv4", 50, 59, "C", "x")]):
        for grown, clash in ((29, False), (30, True), (39, True)):
            tree = StateTree(leaves)
            new = StateLeaf("ipv4", 10, grown, "A", "x")
            if clash:
                refused(
                    OverlapError,
                    str(OverlapError(describe_leaf(new), describe_leaf(b))),
                    lambda tree=tree, new=new: tree.replace(new),  # type: ignore[misc]
                )
                assert tree.root() == StateTree(leaves).root()
            else:
                assert tree.replace(new) == a
                assert tree.root() == StateTree([new, *leaves[1:]]).root()
    # the last leaf may grow to the end of its family; the next family does not clash
    for extra in ([], [StateLeaf("ipv6", 0, 5, "", "x")]):
        tree = StateTree([a, b, *extra])
        top = StateLeaf("ipv4", 30, (1 << 32) - 1, "", "available")
        assert tree.replace(top) == b
        assert tree.root() == StateTree([a, top, *extra]).root()
        # shrinking never clashes
        assert tree.replace(StateLeaf("ipv4", 10, 10, "A", "x")) == a


def test_replace_checks_the_successor_found_above_or_below() -> None:
    """The successor is the leftmost node of the right subtree, or an ancestor."""
    leaves = [StateLeaf("ipv4", 10 * i, 10 * i + 4, f"H{i}", "x") for i in range(40)]
    for i in range(39):
        tree = StateTree(leaves)
        fits = StateLeaf("ipv4", 10 * i, 10 * i + 9, "G", "x")
        assert tree.replace(fits) == leaves[i]
        assert tree.root() == StateTree([*leaves[:i], fits, *leaves[i + 1 :]]).root()
        tree = StateTree(leaves)
        with pytest.raises(OverlapError):
            tree.replace(StateLeaf("ipv4", 10 * i, 10 * i + 10, "G", "x"))
        assert tree.root() == StateTree(leaves).root()
        assert list(tree) == leaves


def test_build_refuses_unsorted_overlaps() -> None:
    a, b = _two()
    for bad in (
        [b, a, StateLeaf("ipv4", 19, 19, "", "x")],
        [b, StateLeaf("ipv4", 39, 40, "", "x"), a],
        [a, b, StateLeaf("ipv4", 30, 30, "", "x")],  # a duplicate start, sorted input
    ):
        with pytest.raises(OverlapError):
            StateTree(bad)
    # the refusal names the two leaves in key order, whatever order they came in
    late = StateLeaf("ipv4", 19, 25, "L", "x")
    for order in ([a, late, b], [late, b, a]):
        refused(
            OverlapError,
            f"overlap refused: {describe_leaf(a)} overlaps {describe_leaf(late)}",
            lambda order=order: StateTree(order),  # type: ignore[misc]
        )
    # adjacent leaves and one-value leaves are fine, sorted or not
    fine = [a, StateLeaf("ipv4", 20, 20, "", "x"), StateLeaf("ipv4", 21, 29, "", "x"), b]
    assert list(StateTree(fine)) == fine
    assert list(StateTree(reversed(fine))) == fine
    assert StateTree(reversed(fine)).root() == StateTree(fine).root()
    # a tree that is rebuilt drops what it held before
    tree = StateTree(fine)
    assert tree.build([a]).root() == StateTree([a]).root()
    assert len(tree) == 1 and list(tree) == [a]


def test_depth_and_priority_order() -> None:
    leaves = [StateLeaf("asn", i, i, "", "x") for i in range(64)]
    tree = StateTree(leaves)
    # the root is the leaf of the greatest priority; every child has a smaller one
    prio = {leaf.start: priority("asn", leaf.start) for leaf in leaves}
    root_leaf = max(leaves, key=lambda x: prio[x.start])
    proof = tree.prove_holding("asn", root_leaf.start)
    assert proof.path == ()
    for leaf in leaves:
        path = tree.prove_holding("asn", leaf.start).path
        chain = [prio[s.leaf.start] for s in path] + [prio[leaf.start]]
        assert chain == sorted(chain, reverse=True)
    assert tree.depth() == 1 + max(len(tree.prove_holding("asn", x.start).path) for x in leaves)


# ------------------------------------------------------------------------------------------
# Proofs: texts and JSON


def test_verify_refusals_are_exact() -> None:
    a, b = _two()
    tree = StateTree([a, b])
    root = tree.root()
    what_a = "holding proof of leaf ipv4 10-19 held by 'A' (x)"
    proof = tree.prove_holding("ipv4", 10)
    verify_holding(root, a, proof)
    refused(ProofError, f"{what_a}: root must be 32 bytes", lambda: verify_holding(b"", a, proof))
    refused(
        ProofError,
        f"{what_a}: left child hash must be 32 bytes",
        lambda: verify_holding(root, a, HoldingProof(proof.path, bytes(31), proof.right)),
    )
    refused(
        ProofError,
        f"{what_a}: right child hash must be 32 bytes",
        lambda: verify_holding(root, a, HoldingProof(proof.path, proof.left, bytes(33))),
    )
    refused(
        ProofError,
        f"{what_a}: right child hash must be 32 bytes",
        lambda: verify_holding(root, a, HoldingProof(proof.path, proof.left, "x" * 32)),  # type: ignore[arg-type]
    )
    other = StateTree([b])
    bproof = other.prove_holding("ipv4", 30)
    refused(
        ProofError,
        "holding proof of leaf ipv4 30-39 pool space (available): the path leads to root "
        f"{other.root().hex()[:16]}…, not the given root {root.hex()[:16]}… "
        "(a leaf, a hash or the root differs)",
        lambda: verify_holding(root, b, bproof),
    )
    # a step carrying the searched leaf itself
    refused(
        ProofError,
        f"{what_a}: path step 0 (leaf ipv4 10-19 held by 'A' (x)) has the searched key",
        lambda: verify_holding(
            root, a, HoldingProof((PathStep(a, EMPTY_HASH),), proof.left, proof.right)
        ),
    )
    step = PathStep(b, bytes(31))
    refused(
        ProofError,
        f"{what_a}: path step 1 sibling must be 32 bytes",
        lambda: verify_holding(
            root, a, HoldingProof((PathStep(b, EMPTY_HASH), step), EMPTY_HASH, EMPTY_HASH)
        ),
    )

    gap = tree.prove_absence("ipv4", 20, 29)
    what = "absence proof of ipv4 20-29"
    refused(
        ProofError,
        f"{what}: root must be 32 bytes",
        lambda: verify_absence(b"x", "ipv4", 20, 29, gap),
    )
    refused(
        ProofError,
        f"absence proof of ipv4 20-{1 << 32}: 'ipv4' {1 << 32} is not a value of a known family",
        lambda: verify_absence(root, "ipv4", 20, 1 << 32, gap),
    )
    refused(
        ProofError,
        "absence proof of ipv4 -1-29: 'ipv4' -1 is not a value of a known family",
        lambda: verify_absence(root, "ipv4", -1, 29, gap),
    )
    refused(
        ProofError,
        "absence proof of ipv4 29-20: first is greater than last",
        lambda: verify_absence(root, "ipv4", 29, 20, gap),
    )
    verify_absence(root, "ipv4", 29, 29, gap)  # first == last is a range
    other_gap = StateTree([a]).prove_absence("ipv4", 20, 29)
    refused(
        ProofError,
        f"{what}: the path leads to root {StateTree([a]).root().hex()[:16]}…, not the given "
        f"root {root.hex()[:16]}… (a leaf, a hash or the root differs)",
        lambda: verify_absence(root, "ipv4", 20, 29, other_gap),
    )
    refused(
        ProofError,
        f"{what}: path step 1 sibling must be 32 bytes",
        lambda: verify_absence(
            root, "ipv4", 20, 29, AbsenceProof((gap.path[0], PathStep(gap.path[1].leaf, b"")))
        ),
    )
    refused(
        ProofError,
        "absence proof of ipv4 20-30: path step 0 (leaf ipv4 30-39 pool space (available)) "
        "has the searched key",
        lambda: verify_absence(root, "ipv4", 20, 30, AbsenceProof((PathStep(b, EMPTY_HASH),))),
    )
    verify_absence(root, "ipv4", 20, 20, tree.prove_absence("ipv4", 20, 20))
    refused(
        ProofError,
        "absence proof of ipv4 19-29: leaf ipv4 10-19 held by 'A' (x) intersects the range",
        lambda: verify_absence(root, "ipv4", 19, 29, gap),
    )
    # the predecessor of another family never intersects
    v6 = StateTree([StateLeaf("asn", 0, 100, "", "x")])
    verify_absence(v6.root(), "ipv4", 0, 5, v6.prove_absence("ipv4", 0, 5))
    # the predecessor is the greatest key below the query, wherever it sits on the path
    many = [StateLeaf("ipv4", 10 * i, 10 * i + 4, "", "x") for i in range(32)]
    big = StateTree(many)
    for i in range(32):
        first, last = 10 * i + 5, 10 * i + 9
        proof_i = big.prove_absence("ipv4", first, last)
        verify_absence(big.root(), "ipv4", first, last, proof_i)
        refused(
            ProofError,
            f"absence proof of ipv4 {first - 1}-{last}: leaf ipv4 {10 * i}-{first - 1} "
            "pool space (x) intersects the range",
            lambda first=first, last=last, proof_i=proof_i: verify_absence(  # type: ignore[misc]
                big.root(), "ipv4", first - 1, last, proof_i
            ),
        )


def test_proof_json_refusals_are_exact() -> None:
    a, b = _two()
    tree = StateTree([a, b])
    holding = tree.prove_holding("ipv4", 30).to_json()
    assert HoldingProof.from_json(holding) == tree.prove_holding("ipv4", 30)
    h = "onereg-state-holding/1"
    cases: list[tuple[Any, str]] = [
        ([holding], f"{h}: a proof must be a JSON object"),
        ({**holding, "format": "x"}, f"proof format is 'x', expected '{h}'"),
        (
            {k: v for k, v in holding.items() if k != "format"},
            f"proof format is None, expected '{h}'",
        ),
        (
            {**holding, "more": 1},
            f"{h}: fields are ['format', 'left', 'more', 'path', 'right'], "
            "expected ['format', 'left', 'path', 'right']",
        ),
        ({**holding, "path": {}}, f"{h}: 'path' must be a list"),
        (
            {**holding, "path": [{"leaf": "AA=="}]},
            f"{h}: path step 0 must have exactly 'leaf' and 'sibling'",
        ),
        (
            {**holding, "path": [["leaf", "sibling"]]},
            f"{h}: path step 0 must have exactly 'leaf' and 'sibling'",
        ),
        (
            {**holding, "path": [{"leaf": 5, "sibling": holding["left"]}]},
            f"{h}: path step 0 leaf must be a base64 string, not int",
        ),
        (
            {**holding, "path": [{"leaf": b64(leaf_bytes(a)), "sibling": b64(bytes(31))}]},
            f"{h}: path step 0 sibling is 31 bytes, expected 32",
        ),
        (
            {**holding, "path": [{"leaf": "AA==", "sibling": holding["left"]}]},
            "state leaf encoding is 1 bytes, shorter than 37",
        ),
        ({**holding, "left": None}, f"{h}: left must be a base64 string, not NoneType"),
        ({**holding, "right": b64(bytes(33))}, f"{h}: right is 33 bytes, expected 32"),
        ({**holding, "left": b64(bytes(31))}, f"{h}: left is 31 bytes, expected 32"),
    ]
    for data, text in cases:
        refused(ProofError, text, lambda data=data: HoldingProof.from_json(data))  # type: ignore[misc]
    step = {"leaf": b64(leaf_bytes(a)), "sibling": holding["left"]}
    two_steps = {**holding, "path": [step, step]}
    with pytest.raises(ProofError) as caught:
        HoldingProof.from_json({**two_steps, "path": [step, {**step, "sibling": 1}]})
    assert str(caught.value) == f"{h}: path step 1 sibling must be a base64 string, not int"
    assert len(HoldingProof.from_json(two_steps).path) == 2

    absence = tree.prove_absence("ipv4", 20, 29).to_json()
    assert AbsenceProof.from_json(absence) == tree.prove_absence("ipv4", 20, 29)
    x = "onereg-state-absence/1"
    refused(
        ProofError,
        f"{x}: fields are ['format', 'left', 'path'], expected ['format', 'path']",
        lambda: AbsenceProof.from_json({**absence, "left": ""}),
    )
    refused(
        ProofError,
        f"proof format is '{h}', expected '{x}'",
        lambda: AbsenceProof.from_json(holding),
    )
    refused(ProofError, f"{x}: a proof must be a JSON object", lambda: AbsenceProof.from_json(None))
    refused(
        ProofError,
        f"{x}: 'path' must be a list",
        lambda: AbsenceProof.from_json({**absence, "path": "p"}),
    )
    # base64 is strict: characters outside the alphabet are refused, not skipped
    for bad in ("A", "!" + holding["left"][1:], "!" + holding["left"], holding["left"] + "\n"):
        with pytest.raises(ProofError, match=f"^{h}: left is not valid base64: [A-Z]"):
            HoldingProof.from_json({**holding, "left": bad})


def test_priority_prefix_ties_use_the_full_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    leaves = [StateLeaf("ipv6", i << 100, (i << 100) + 1, "", "x") for i in range(24)]
    expected = StateTree(leaves)
    monkeypatch.setattr(statetree, "_PRIORITY_PREFIX", 0)
    built = StateTree(leaves)
    assert built.root() == expected.root()
    grown = StateTree()
    for leaf in reversed(leaves):
        grown.insert(leaf)
    assert grown.root() == expected.root()
    for leaf in leaves[::2]:
        grown.delete(leaf.afi, leaf.start)
    assert grown.root() == StateTree(leaves[1::2]).root()
