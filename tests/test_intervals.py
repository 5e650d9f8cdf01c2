"""IntervalSet against a brute-force model: a Python set of ints over a small universe.

The universe is small so that the model can enumerate every point, and ranges are
short and numerous so that overlaps, touching ends and containment all come up.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onereg.core.intervals import IntervalSet

TOP = 200  # universe 0..TOP; queries also probe a little past it

Ranges = list[tuple[int, int]]


@st.composite
def a_range(draw: st.DrawFn, top: int = TOP) -> tuple[int, int]:
    start = draw(st.integers(0, top))
    length = draw(st.integers(0, 15))
    return start, min(top, start + length)


ranges_st = st.lists(a_range(), max_size=14)
point_st = st.integers(0, TOP + 5)
range_st = a_range(TOP + 5)


def model(ranges: Ranges) -> set[int]:
    return {x for s, e in ranges for x in range(s, e + 1)}


def runs(points: set[int]) -> Ranges:
    """The canonical form: maximal runs of consecutive points, in order."""
    out: Ranges = []
    for x in sorted(points):
        if out and out[-1][1] == x - 1:
            out[-1] = (out[-1][0], x)
        else:
            out.append((x, x))
    return out


def check(iv: IntervalSet, points: set[int]) -> None:
    """Same points, and exactly the canonical representation (sorted, disjoint, merged)."""
    assert list(iv) == runs(points)
    assert iv.starts == tuple(s for s, _ in runs(points))
    assert iv.ends == tuple(e for _, e in runs(points))
    assert iv.size == len(points)
    assert len(iv) == len(runs(points))
    assert bool(iv) == bool(points)


# --- construction -------------------------------------------------------------


@given(ranges_st)
def test_from_ranges_matches_model(ranges: Ranges) -> None:
    check(IntervalSet.from_ranges(ranges), model(ranges))


@given(ranges_st, st.randoms(use_true_random=False))
def test_from_ranges_ignores_order_and_splitting(ranges: Ranges, rnd: random.Random) -> None:
    iv = IntervalSet.from_ranges(ranges)
    shuffled = ranges[:]
    rnd.shuffle(shuffled)
    as_points = [(x, x) for x in model(ranges)]
    rnd.shuffle(as_points)
    for other in (IntervalSet.from_ranges(shuffled), IntervalSet.from_ranges(as_points)):
        assert other == iv
        assert hash(other) == hash(iv)
        assert list(other) == list(iv)


def test_adjacent_ranges_merge() -> None:
    iv = IntervalSet.from_ranges([(5, 9), (0, 4), (10, 10), (12, 12)])
    assert list(iv) == [(0, 10), (12, 12)]
    assert len(iv) == 2
    assert iv.size == 12


def test_from_ranges_accepts_a_generator() -> None:
    assert list(IntervalSet.from_ranges((i, i + 1) for i in range(0, 10, 3))) == [
        (0, 1),
        (3, 4),
        (6, 7),
        (9, 10),
    ]


@pytest.mark.parametrize("bad", [[(5, 4)], [(0, 1), (-1, 3)], [(-3, -1)]])
def test_from_ranges_rejects_bad_ranges(bad: Ranges) -> None:
    with pytest.raises(ValueError, match="bad range"):
        IntervalSet.from_ranges(bad)


@given(ranges_st, st.data())
def test_from_sorted_disjoint_merges_touching(ranges: Ranges, data: st.DataObject) -> None:
    points = model(ranges)
    # cut each canonical run into touching pieces: still sorted and disjoint
    starts: list[int] = []
    ends: list[int] = []
    for s, e in runs(points):
        cuts = sorted(data.draw(st.sets(st.integers(s, e - 1), max_size=3))) if e > s else []
        lo = s
        for c in cuts:
            starts.append(lo)
            ends.append(c)
            lo = c + 1
        starts.append(lo)
        ends.append(e)
    iv = IntervalSet.from_sorted_disjoint(starts, ends)
    check(iv, points)
    assert iv == IntervalSet.from_ranges(ranges)


@pytest.mark.parametrize(
    ("starts", "ends", "message"),
    [
        ([0, 1], [5], "2 starts but 1 ends"),
        ([5], [4], "bad interval 0"),
        ([-1], [4], "bad interval 0"),
        ([0, 10], [5, 9], "bad interval 1"),
        ([0, 5], [5, 9], "interval 1 .* not sorted and disjoint"),
        ([10, 0], [12, 2], "interval 1 .* not sorted and disjoint"),
    ],
)
def test_from_sorted_disjoint_rejects(starts: list[int], ends: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IntervalSet.from_sorted_disjoint(starts, ends)


def test_empty() -> None:
    empty = IntervalSet()
    check(empty, set())
    assert empty == IntervalSet.from_ranges([])
    assert empty == IntervalSet.from_sorted_disjoint([], [])
    assert 0 not in empty
    assert empty.covering(0) is None
    assert empty.overlapping(0, 10) == []
    assert not empty.overlaps_range(0, 10)
    assert not empty.contains_range(0, 0)
    assert list(empty.complement_within(3, 7)) == [(3, 7)]
    assert repr(empty) == "IntervalSet([], intervals=0, size=0)"


# --- set algebra --------------------------------------------------------------


@given(ranges_st, ranges_st)
def test_algebra_matches_model(a: Ranges, b: Ranges) -> None:
    ia, ib = IntervalSet.from_ranges(a), IntervalSet.from_ranges(b)
    ma, mb = model(a), model(b)
    check(ia.union(ib), ma | mb)
    check(ia | ib, ma | mb)
    check(ia.intersection(ib), ma & mb)
    check(ia & ib, ma & mb)
    check(ia.difference(ib), ma - mb)
    check(ia - ib, ma - mb)
    check(ia.symmetric_difference(ib), ma ^ mb)
    check(ia ^ ib, ma ^ mb)


@given(ranges_st, ranges_st)
def test_algebra_laws(a: Ranges, b: Ranges) -> None:
    ia, ib = IntervalSet.from_ranges(a), IntervalSet.from_ranges(b)
    assert ia | ib == ib | ia
    assert ia & ib == ib & ia
    assert (ia - ib) | (ia & ib) == ia
    assert (ia - ib) & ib == IntervalSet()
    assert ia | ia == ia
    assert ia & ia == ia
    assert ia - ia == IntervalSet()


@given(ranges_st, range_st)
def test_complement_within(ranges: Ranges, bounds: tuple[int, int]) -> None:
    lo, hi = bounds
    iv = IntervalSet.from_ranges(ranges)
    check(iv.complement_within(lo, hi), set(range(lo, hi + 1)) - model(ranges))


def test_operators_refuse_other_types() -> None:
    iv = IntervalSet.from_ranges([(1, 2)])
    with pytest.raises(TypeError):
        iv | {1}  # type: ignore[operator]
    with pytest.raises(TypeError):
        iv & [(1, 2)]  # type: ignore[operator]
    with pytest.raises(TypeError):
        iv - 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        iv ^ None  # type: ignore[operator]
    assert iv != [(1, 2)]


# --- queries ------------------------------------------------------------------


@given(ranges_st)
def test_point_queries(ranges: Ranges) -> None:
    iv = IntervalSet.from_ranges(ranges)
    points = model(ranges)
    canonical = runs(points)
    for x in range(TOP + 5):
        assert iv.contains_point(x) == (x in points)
        assert (x in iv) == (x in points)
        expected = next(((s, e) for s, e in canonical if s <= x <= e), None)
        assert iv.covering(x) == expected
    assert "1" not in iv
    assert 1.0 not in iv


@given(ranges_st, range_st)
def test_range_queries(ranges: Ranges, query: tuple[int, int]) -> None:
    iv = IntervalSet.from_ranges(ranges)
    points = model(ranges)
    lo, hi = query
    wanted = set(range(lo, hi + 1))
    assert iv.contains_range(lo, hi) == (wanted <= points)
    assert iv.overlaps_range(lo, hi) == bool(wanted & points)
    # whole intervals, not clipped to the query
    assert iv.overlapping(lo, hi) == [(s, e) for s, e in runs(points) if s <= hi and lo <= e]


@pytest.mark.parametrize("method", ["contains_range", "overlaps_range", "overlapping"])
def test_range_queries_reject_reversed_ranges(method: str) -> None:
    iv = IntervalSet.from_ranges([(0, 10)])
    with pytest.raises(ValueError, match="bad range"):
        getattr(iv, method)(5, 4)


def test_complement_within_rejects_reversed_range() -> None:
    with pytest.raises(ValueError, match="bad range"):
        IntervalSet().complement_within(5, 4)


# --- identity and immutability ------------------------------------------------


def test_repr_is_short() -> None:
    iv = IntervalSet.from_ranges([(i * 10, i * 10 + 1) for i in range(1000)])
    assert repr(iv) == "IntervalSet([(0, 1), (10, 11), (20, 21), ...], intervals=1000, size=2000)"
    assert repr(IntervalSet.from_ranges([(3, 4)])) == "IntervalSet([(3, 4)], intervals=1, size=2)"


def test_cannot_be_changed_from_outside() -> None:
    iv = IntervalSet.from_ranges([(0, 4), (10, 12)])
    assert isinstance(iv.starts, tuple)
    assert isinstance(iv.ends, tuple)
    with pytest.raises(AttributeError):
        iv.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        iv.starts = (1,)  # type: ignore[misc]
    # results never share lists with their operands
    source_starts, source_ends = [0, 10], [4, 12]
    built = IntervalSet.from_sorted_disjoint(source_starts, source_ends)
    source_starts[0] = 99
    assert list(built) == [(0, 4), (10, 12)]
    assert {iv: 1}[IntervalSet.from_ranges([(10, 12), (0, 4)])] == 1


def test_large_values() -> None:
    """IPv6-sized values go through the same code; nothing is limited to 64 bits."""
    top = (1 << 128) - 1
    iv = IntervalSet.from_ranges([(top - 5, top), (0, 0), (1 << 127, (1 << 127) + 9)])
    assert iv.size == 6 + 1 + 10
    assert top in iv
    assert iv.covering(top - 2) == (top - 5, top)
    gaps = iv.complement_within(0, top)
    assert list(gaps) == [(1, (1 << 127) - 1), ((1 << 127) + 10, top - 6)]
    assert gaps | iv == IntervalSet.from_ranges([(0, top)])


# --- scale --------------------------------------------------------------------


def test_a_million_intervals() -> None:
    """Exact facts at full scale, with 128-bit values: two interleaved combs."""
    n = 10**6
    base = 0x20010DB8 << 96
    evens = IntervalSet.from_sorted_disjoint(
        range(base, base + 4 * n, 4), range(base + 1, base + 4 * n, 4)
    )
    odd_ranges = [(base + 4 * i + 2, base + 4 * i + 3) for i in range(n)]
    random.Random(7).shuffle(odd_ranges)
    odds = IntervalSet.from_ranges(odd_ranges)

    assert len(evens) == len(odds) == n
    assert evens.size == odds.size == 2 * n
    whole = evens | odds  # every pair of neighbours touches: one interval
    assert list(whole) == [(base, base + 4 * n - 1)]
    assert not evens & odds
    assert evens ^ odds == whole
    assert evens - odds == evens
    assert whole - odds == evens
    assert evens.complement_within(base, base + 4 * n - 1) == odds
    assert evens.covering(base + 4 * 123_456 + 1) == (base + 4 * 123_456, base + 4 * 123_456 + 1)
    assert base + 4 * 999_999 + 2 in odds
    assert evens.overlapping(base + 5, base + 9) == [(base + 4, base + 5), (base + 8, base + 9)]
