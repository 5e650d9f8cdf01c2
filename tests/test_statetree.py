"""The state tree (Merkle treap): against a dict model and from-scratch rebuilds, its proofs
against tampering, and the byte encoding against the documented rules."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    leaf_bytes,
    leaf_from_bytes,
    leaf_hash,
    verify_absence,
    verify_holding,
)

FAMILIES = ("asn", "ipv4", "ipv6")
# Leaves live in cells of 10 units; a unit is `SCALE[afi]` values, so IPv6 keys are big ints.
SCALE = {"asn": 1, "ipv4": 1 << 20, "ipv6": 1 << 116}
CELLS = 16
HOLDERS = ("", "ORG-A", "ORG-B", "ORG-É")
STATUSES = ("allocated", "assigned", "available")

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_leaf(
    afi: str, cell: int, width: int, holder: str = "ORG-A", status: str = "x"
) -> StateLeaf:
    unit = SCALE[afi]
    return StateLeaf(afi, 10 * cell * unit, (10 * cell + width) * unit + unit - 1, holder, status)


leaf_specs = st.tuples(
    st.sampled_from(FAMILIES),
    st.integers(0, CELLS - 1),
    st.integers(0, 9),
    st.sampled_from(HOLDERS),
    st.sampled_from(STATUSES),
)


@st.composite
def leaf_sets(draw: st.DrawFn, max_size: int = 30) -> list[StateLeaf]:
    """Non-overlapping leaves: at most one per (family, cell), each within its cell."""
    specs = draw(st.lists(leaf_specs, max_size=max_size, unique_by=lambda s: (s[0], s[1])))
    return [make_leaf(*spec) for spec in specs]


@st.composite
def ranges(draw: st.DrawFn) -> tuple[str, int, int]:
    """Ranges around the cells of `make_leaf`, sometimes running to the end of the family."""
    afi = draw(st.sampled_from(FAMILIES))
    unit = SCALE[afi]
    value = st.integers(0, 10 * CELLS + 4).map(lambda cell: cell * unit) | st.integers(
        0, (10 * CELLS + 5) * unit
    )
    first, last = sorted(draw(st.lists(value, min_size=2, max_size=2)))
    if draw(st.booleans()):
        last = Afi(afi).max_value
    return afi, first, last


def intersecting(leaves: Iterable[StateLeaf], afi: str, first: int, last: int) -> bool:
    return any(x.afi == afi and x.start <= last and x.end >= first for x in leaves)


def ordered(leaves: Iterable[StateLeaf]) -> list[StateLeaf]:
    return sorted(leaves, key=StateLeaf.key)


def flip(data: bytes, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


def json_round_trip(data: dict[str, object]) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(json.dumps(data))
    return loaded


def free_ranges(leaves: list[StateLeaf]) -> list[tuple[str, int, int]]:
    """Every maximal gap of every family (before, between and after leaves)."""
    gaps = []
    for afi in FAMILIES:
        cursor = 0
        for leaf in ordered(x for x in leaves if x.afi == afi):
            if leaf.start > cursor:
                gaps.append((afi, cursor, leaf.start - 1))
            cursor = leaf.end + 1
        if cursor <= Afi(afi).max_value:
            gaps.append((afi, cursor, Afi(afi).max_value))
    return gaps


# ------------------------------------------------------------------------------------------
# Encoding and hash rules


def test_leaf_bytes_is_the_documented_layout() -> None:
    leaf = StateLeaf("ipv4", 0xC0000200, 0xC00002FF, "ORG-1", "assigned")
    assert leaf_bytes(leaf).hex() == (
        "01"
        "000000000000000000000000c0000200"
        "000000000000000000000000c00002ff"
        "0005" + b"ORG-1".hex() + "0008" + b"assigned".hex()
    )
    assert leaf_hash(leaf) == hashlib.sha256(b"\x10" + leaf_bytes(leaf)).digest()
    assert hashlib.sha256(b"\x12").digest() == EMPTY_HASH
    assert leaf_from_bytes(leaf_bytes(leaf)) == leaf


def test_root_follows_the_documented_rules() -> None:
    """An independent computation of a 3-leaf root from the written rules alone."""

    def enc(code: int, start: int, end: int, holder: str, status: str) -> bytes:
        h, s = holder.encode(), status.encode()
        return (
            bytes([code])
            + start.to_bytes(16, "big")
            + end.to_bytes(16, "big")
            + len(h).to_bytes(2, "big")
            + h
            + len(s).to_bytes(2, "big")
            + s
        )

    def sha(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    raw = [
        (0, 64496, 64511, "", "reserved"),
        (1, 0xC0000200, 0xC00002FF, "ORG-1", "assigned"),
        (2, 0x20010DB8 << 96, (0x20010DB9 << 96) - 1, "ORG-é", "allocated"),
    ]
    prio = [sha(b"\x13" + enc(*r)[:17]) for r in raw]
    assert prio[1] > prio[2] > prio[0]  # so: ipv4 at the root, asn left, ipv6 right
    empty = sha(b"\x12")
    lh = [sha(b"\x10" + enc(*r)) for r in raw]
    asn = sha(b"\x11" + empty + lh[0] + empty)
    v6 = sha(b"\x11" + empty + lh[2] + empty)
    expected = sha(b"\x11" + asn + lh[1] + v6)

    tree = StateTree(StateLeaf(Afi(FAMILIES[r[0]]), *r[1:]) for r in raw)
    assert tree.root() == expected
    assert tree.root().hex() == "2ebe92c098db10cc2db40437cedb9d5e10d0431136898fffec7474c019a48188"
    assert all(type(leaf.afi) is str for leaf in tree)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes(36),
        b"\x03" + bytes(36),  # unknown family
        b"\x00" + (2).to_bytes(16, "big") + (1).to_bytes(16, "big") + bytes(4),  # start > end
        b"\x00" + bytes(32) + bytes(4) + b"\x00",  # trailing byte
        b"\x00" + bytes(32) + b"\x00\x05ab" + b"\x00\x00",  # holder length too long
        b"\x00" + bytes(32) + b"\x00\x01\xff" + b"\x00\x00",  # not UTF-8
        b"\x00" + bytes(16) + (1 << 32).to_bytes(16, "big") + bytes(4),  # beyond the ASN space
    ],
)
def test_leaf_from_bytes_refuses_malformed_encodings(data: bytes) -> None:
    with pytest.raises(ProofError):
        leaf_from_bytes(data)


@pytest.mark.parametrize(
    ("afi", "start", "end", "holder"),
    [
        ("ipv5", 0, 0, ""),
        ("asn", 2, 1, ""),
        ("asn", -1, 1, ""),
        ("ipv4", 0, 1 << 32, ""),
        ("asn", True, 1, ""),
        ("asn", 0, 1, "x" * 70000),
        ("asn", 0, 1, "\udc80"),
    ],
)
def test_state_leaf_refuses_invalid_values(afi: str, start: int, end: int, holder: str) -> None:
    with pytest.raises(ValueError):
        StateLeaf(afi, start, end, holder, "assigned")


# ------------------------------------------------------------------------------------------
# The tree against models


@SETTINGS
@given(leaf_sets(), st.randoms(use_true_random=False), leaf_sets(max_size=8))
def test_root_depends_only_on_the_set(
    leaves: list[StateLeaf], rnd: random.Random, extra: list[StateLeaf]
) -> None:
    built = StateTree(leaves)
    assert StateTree(reversed(leaves)).root() == built.root()
    assert StateTree().build(ordered(leaves)).root() == built.root()
    incremental = StateTree()
    shuffled = leaves[:]
    rnd.shuffle(shuffled)
    for leaf in shuffled:
        incremental.insert(leaf)
    assert incremental.root() == built.root()
    assert list(incremental) == ordered(leaves)
    # a detour through other leaves and back ends at the same root
    added = [x for x in extra if not intersecting(leaves, x.afi, x.start, x.end)]
    for leaf in added:
        incremental.insert(leaf)
    assert incremental.root() == StateTree(leaves + added).root()
    for leaf in reversed(added):
        incremental.delete(leaf.afi, leaf.start)
    assert incremental.root() == built.root()
    assert len(incremental) == len(leaves)


@SETTINGS
@given(st.data())
def test_changes_match_a_dict_model_and_a_rebuild(data: st.DataObject) -> None:
    tree = StateTree()
    model: dict[tuple[str, int], StateLeaf] = {}
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        op = data.draw(st.sampled_from(["insert", "insert", "delete", "replace"]), label="op")
        leaf = make_leaf(*data.draw(leaf_specs, label="leaf"))
        key = (leaf.afi, leaf.start)
        others = [x for k, x in model.items() if k != key]
        if op == "insert":
            if intersecting(model.values(), leaf.afi, leaf.start, leaf.end):
                with pytest.raises(OverlapError):
                    tree.insert(leaf)
            else:
                tree.insert(leaf)
                model[key] = leaf
        elif op == "delete":
            if key in model:
                assert tree.delete(*key) == model.pop(key)
            else:
                with pytest.raises(KeyError):
                    tree.delete(*key)
        elif key not in model:
            with pytest.raises(KeyError):
                tree.replace(leaf)
        elif intersecting(others, leaf.afi, leaf.start, leaf.end):
            with pytest.raises(OverlapError):
                tree.replace(leaf)
        else:
            assert tree.replace(leaf) == model[key]
            model[key] = leaf
        assert len(tree) == len(model)
        assert list(tree) == ordered(model.values())
        assert tree.get(*key) == model.get(key)
        assert tree.root() == StateTree(model.values()).root()


def test_build_refuses_overlaps_and_duplicates() -> None:
    a = StateLeaf("ipv4", 10, 20, "A", "x")
    with pytest.raises(OverlapError):
        StateTree([a, StateLeaf("ipv4", 20, 30, "B", "x")])
    with pytest.raises(OverlapError):
        StateTree([a, StateLeaf("ipv4", 10, 10, "B", "x")])
    # same numbers in another family do not overlap
    assert len(StateTree([a, StateLeaf("ipv6", 10, 20, "B", "x")])) == 2


@SETTINGS
@given(leaf_sets(max_size=20), st.randoms(use_true_random=False))
def test_shape_does_not_depend_on_the_priority_prefix(
    leaves: list[StateLeaf], rnd: random.Random
) -> None:
    """With no prefix kept every comparison takes the full-digest fallback; same roots."""
    expected = StateTree(leaves).root()
    saved = statetree._PRIORITY_PREFIX
    statetree._PRIORITY_PREFIX = 0
    try:
        assert StateTree(leaves).root() == expected
        tree = StateTree()
        shuffled = leaves[:]
        rnd.shuffle(shuffled)
        for leaf in shuffled:
            tree.insert(leaf)
        assert tree.root() == expected
        for leaf in shuffled[: len(shuffled) // 2]:
            tree.delete(leaf.afi, leaf.start)
        assert tree.root() == StateTree(shuffled[len(shuffled) // 2 :]).root()
    finally:
        statetree._PRIORITY_PREFIX = saved


# ------------------------------------------------------------------------------------------
# Holding proofs


@SETTINGS
@given(leaf_sets(), leaf_sets(max_size=3))
def test_holding_proofs_verify_and_resist_tampering(
    leaves: list[StateLeaf], extra: list[StateLeaf]
) -> None:
    tree = StateTree(leaves)
    root = tree.root()
    others = [x for x in extra if not intersecting(leaves, x.afi, x.start, x.end)]
    other_root = StateTree(leaves + others).root() if others else flip(root)
    for leaf in leaves:
        proof = tree.prove_holding(leaf.afi, leaf.start)
        verify_holding(root, leaf, proof)
        verify_holding(root, leaf, HoldingProof.from_json(json_round_trip(proof.to_json())))
        assert proof.hash_count() == len(proof.path) + 2

        for wrong in (
            StateLeaf(leaf.afi, leaf.start, leaf.end, leaf.holder + "X", leaf.status),
            StateLeaf(leaf.afi, leaf.start, leaf.end, leaf.holder, leaf.status + "X"),
            StateLeaf(leaf.afi, leaf.start, leaf.end - 1, leaf.holder, leaf.status)
            if leaf.end > leaf.start
            else StateLeaf(leaf.afi, leaf.start, leaf.end + 1, leaf.holder, leaf.status),
            *(x for x in leaves if x != leaf),
        ):
            with pytest.raises(ProofError):
                verify_holding(root, wrong, proof)
        with pytest.raises(ProofError, match="root"):
            verify_holding(other_root, leaf, proof)
        for bad in (
            HoldingProof(proof.path, flip(proof.left), proof.right),
            HoldingProof(proof.path, proof.left, flip(proof.right, 255)),
            HoldingProof(proof.path[1:], proof.left, proof.right),
            *(
                HoldingProof(
                    (*proof.path[:i], PathStep(s.leaf, flip(s.sibling, i)), *proof.path[i + 1 :]),
                    proof.left,
                    proof.right,
                )
                for i, s in enumerate(proof.path)
            ),
        ):
            if bad != proof:
                with pytest.raises(ProofError):
                    verify_holding(root, leaf, bad)


def test_holding_proof_errors() -> None:
    leaves = [make_leaf("ipv4", i, 3) for i in range(8)]
    tree = StateTree(leaves)
    with pytest.raises(KeyError):
        tree.prove_holding("ipv4", 1)
    proof = tree.prove_holding(leaves[3].afi, leaves[3].start)
    with pytest.raises(ProofError, match="32 bytes"):
        verify_holding(tree.root()[:31], leaves[3], proof)
    data = proof.to_json()
    for broken in (
        {**data, "format": "onereg-state-absence/1"},
        {**data, "left": "not base64!"},
        {**data, "right": data["left"][:-4]},
        {**data, "path": [{"leaf": "AA==", "sibling": data["left"]}]},
        {**data, "path": "nope"},
        {k: v for k, v in data.items() if k != "right"},
        [data],
    ):
        with pytest.raises(ProofError):
            HoldingProof.from_json(broken)


# ------------------------------------------------------------------------------------------
# Absence proofs


@SETTINGS
@given(leaf_sets(), st.lists(ranges(), min_size=1, max_size=6))
def test_absence_proofs_exactly_for_free_ranges(
    leaves: list[StateLeaf], queries: list[tuple[str, int, int]]
) -> None:
    tree = StateTree(leaves)
    root = tree.root()
    gaps = free_ranges(leaves)
    for afi, first, last in queries + gaps:
        if intersecting(leaves, afi, first, last):
            with pytest.raises(LeafIntersectsError) as caught:
                tree.prove_absence(afi, first, last)
            blocker = caught.value.leaf
            assert blocker in leaves
            assert intersecting([blocker], afi, first, last)
            # no proof made for another range passes for this one
            for gap in gaps:
                with pytest.raises(ProofError):
                    verify_absence(root, afi, first, last, tree.prove_absence(*gap))
            continue
        proof = tree.prove_absence(afi, first, last)
        verify_absence(root, afi, first, last, proof)
        verify_absence(
            root, afi, first, last, AbsenceProof.from_json(json_round_trip(proof.to_json()))
        )
        # a sub-range is free too, and the same path proves it when it ends at `last`
        verify_absence(root, afi, last, last, proof)
        # once something is delegated inside, the old proof fails against the new root
        inside = StateLeaf(afi, last, last, "ORG-NEW", "assigned")
        changed = StateTree([*leaves, inside])
        with pytest.raises(ProofError):
            verify_absence(changed.root(), afi, first, last, proof)
        with pytest.raises(LeafIntersectsError):
            changed.prove_absence(afi, first, last)
        for i, step in enumerate(proof.path):
            bad = AbsenceProof(
                (*proof.path[:i], PathStep(step.leaf, flip(step.sibling, 7)), *proof.path[i + 1 :])
            )
            with pytest.raises(ProofError, match="root"):
                verify_absence(root, afi, first, last, bad)


@SETTINGS
@given(leaf_sets(max_size=25), st.data())
def test_forged_absence_from_non_adjacent_leaves_fails(
    leaves: list[StateLeaf], data: st.DataObject
) -> None:
    """Hiding a leaf M: proofs that make its neighbours look adjacent do not verify."""
    if len(leaves) < 2:
        return
    tree = StateTree(leaves)
    root = tree.root()
    hidden = data.draw(st.sampled_from(leaves))
    afi, first, last = hidden.afi, hidden.start, hidden.end
    # 1. the honest proof from the state without M (there, its neighbours are adjacent)
    without = StateTree(x for x in leaves if x != hidden)
    forged = without.prove_absence(afi, first, last)
    verify_absence(without.root(), afi, first, last, forged)
    with pytest.raises(ProofError):
        verify_absence(root, afi, first, last, forged)
    # 2. paths of the real tree for the gaps on either side of M
    for gap in free_ranges(leaves):
        proof = tree.prove_absence(*gap)
        with pytest.raises(ProofError):
            verify_absence(root, afi, first, last, proof)
    # 3. the real search path for M's range with M cut out of it
    path, node = tree._search(statetree._leaf_key(hidden))
    steps = tree._steps(path, statetree._leaf_key(hidden))
    with pytest.raises(ProofError):
        verify_absence(root, afi, first, last, AbsenceProof(steps))
    assert node


def test_absence_edge_cases() -> None:
    empty = StateTree()
    assert empty.root() == EMPTY_HASH
    assert len(empty) == 0
    assert list(empty) == []
    for afi in FAMILIES:
        proof = empty.prove_absence(afi, 0, Afi(afi).max_value)
        assert proof.path == ()
        verify_absence(EMPTY_HASH, afi, 0, Afi(afi).max_value, proof)

    leaves = [make_leaf("ipv4", i, 4) for i in range(2, 12)]
    tree = StateTree(leaves)
    root = tree.root()
    unit = SCALE["ipv4"]
    before = (0, 20 * unit - 1)
    after = (leaves[-1].end + 1, Afi.IPV4.max_value)
    for first, last in (before, after):
        verify_absence(root, "ipv4", first, last, tree.prove_absence("ipv4", first, last))
    # other families are empty here, whatever their numbers
    for afi in ("asn", "ipv6"):
        verify_absence(root, afi, 0, Afi(afi).max_value, tree.prove_absence(afi, 0, 10**9))
    # boundaries: the first and last value of a leaf are held, one beyond is free
    with pytest.raises(LeafIntersectsError):
        tree.prove_absence("ipv4", 0, leaves[0].start)
    with pytest.raises(LeafIntersectsError):
        tree.prove_absence("ipv4", leaves[0].end, leaves[0].end + 1)
    verify_absence(
        root,
        "ipv4",
        leaves[0].end + 1,
        leaves[1].start - 1,
        tree.prove_absence("ipv4", leaves[0].end + 1, leaves[1].start - 1),
    )
    with pytest.raises(ValueError):
        tree.prove_absence("ipv4", 5, 4)
    with pytest.raises(ValueError):
        tree.prove_absence("ipv4", 0, 1 << 32)
    proof = tree.prove_absence("ipv4", *after)
    with pytest.raises(ProofError, match="first is greater"):
        verify_absence(root, "ipv4", 5, 4, proof)
    with pytest.raises(ProofError):
        verify_absence(root, "ipv7", 5, 6, proof)
    with pytest.raises(ProofError, match="intersects"):
        # the same path, asked for a range reaching back into the last leaf
        verify_absence(root, "ipv4", leaves[-1].end, after[1], proof)
    with pytest.raises(ProofError):
        AbsenceProof.from_json({"format": "onereg-state-absence/1", "path": [{"leaf": "AA=="}]})


# ------------------------------------------------------------------------------------------
# Scale


def test_hundred_thousand_leaves() -> None:
    count = 100_000
    leaves = [
        StateLeaf("ipv4", i * 256, i * 256 + 127, f"ORG-{i % 997}", "assigned")
        for i in range(count)
    ]
    tree = StateTree(leaves)
    root = tree.root()
    assert len(tree) == count
    assert root.hex() == "33f6cdacc0a75e37509208f8b52d28d3efa6b9835589d5c72891e167e1b440d0"
    assert tree.depth() == 41
    assert tree.get("ipv4", 256 * 4242) == leaves[4242]
    assert tree.get("ipv4", 256 * 4242 + 1) is None
    assert tree.get("ipv6", 0) is None

    rnd = random.Random(7)
    picks = rnd.sample(leaves, 50)
    for leaf in picks:
        proof = tree.prove_holding(leaf.afi, leaf.start)
        assert len(proof.path) < tree.depth()
        verify_holding(root, leaf, proof)
        gap = tree.prove_absence("ipv4", leaf.start + 128, leaf.start + 255)
        verify_absence(root, "ipv4", leaf.start + 128, leaf.start + 255, gap)

    for leaf in picks:
        tree.delete(leaf.afi, leaf.start)
    assert len(tree) == count - len(picks)
    for leaf in reversed(picks):
        tree.insert(leaf)
    assert tree.root() == root
    moved = StateLeaf("ipv4", picks[0].start, picks[0].end, "ORG-NEW", "assigned")
    tree.replace(moved)
    assert tree.root() != root
    tree.replace(picks[0])
    assert tree.root() == root

    shuffled = leaves[:]
    rnd.shuffle(shuffled)
    assert StateTree(shuffled).root() == root
