"""Sets of non-negative integers held as sorted, disjoint, inclusive intervals.

Why this is hand-written: a registry holds on the order of a million ranges per
family, and the interval libraries on offer (portion, intervaltree) keep one Python
object per interval, plus tree nodes, so building or combining sets of that size
costs many seconds and hundreds of megabytes.  numpy would make flat arrays cheap,
but its integers stop at 64 bits and IPv6 needs 128.  So a set here is just two flat
lists of Python ints, and every bulk operation is a few whole-list passes (sort,
map, compress) that run inside the interpreter's C code rather than a Python loop
per interval.

Why the bulk operations may sort starts and ends *separately*: which points a family
of intervals covers depends only on the multiset of its starts and the multiset of
its ends (x is covered by exactly ``#{start <= x} - #{end < x}`` intervals).
Pairing the i-th smallest start with the i-th smallest end therefore covers the
same points with the same multiplicity, and once the ends are sorted, ``ends[i-1]``
is the furthest any interval before i reaches.  Merging then needs one comparison
per position instead of a running maximum, and that comparison vectorises.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, chain, compress, islice, repeat
from operator import eq, gt, itemgetter, le, not_, or_
from typing import Final, Self, final

_succ = (1).__add__
_pred = (-1).__add__
_REPR_ITEMS: Final = 3


def _fresh(values: Iterable[int]) -> list[int]:
    """New int objects equal to `values`, allocated in order (see `from_ranges`).

    ``x | 0`` builds a new object (bar the few cached small ints) and, unlike a bound
    ``(0).__or__``, raises TypeError for a non-int instead of yielding NotImplemented.
    """
    return list(map(or_, values, repeat(0)))


def _check_range(start: int, end: int) -> None:
    if not 0 <= start <= end:
        raise ValueError(f"bad range [{start}, {end}]: need 0 <= start <= end")


def _coalesce(starts: list[int], ends: list[int]) -> tuple[list[int], list[int]]:
    """Merge overlapping and adjacent runs of rank-paired lists (see module docstring).

    Both lists must be sorted with starts[i] <= ends[i].  A new run opens at i exactly
    when starts[i] > ends[i-1] + 1, so the whole merge is one C-level comparison pass
    and two compress passes; the common no-merge case returns the inputs untouched.
    """
    if len(starts) <= 1:
        return starts, ends
    opens = list(map(gt, islice(starts, 1, None), map(_succ, ends)))
    if all(opens):
        return starts, ends
    new_starts = [starts[0]]
    new_starts.extend(compress(islice(starts, 1, None), opens))
    new_ends = list(compress(ends, opens))
    new_ends.append(ends[-1])
    return new_starts, new_ends


def _intersect(
    a_starts: list[int], a_ends: list[int], b_starts: list[int], b_ends: list[int]
) -> tuple[list[int], list[int]]:
    """Points covered twice when two normalised sets are laid over each other.

    Depth never exceeds 2, so after rank-pairing the doubly covered points are exactly
    the non-empty pieces [starts[i], ends[i-1]], already sorted and disjoint.  They
    cannot touch either: two touching pieces would need an interval of one input to
    end at x and another of the same input to start at x + 1, which normalised
    inputs never have.  So no merge pass is needed.
    """
    starts = a_starts + b_starts
    starts.sort()  # two sorted runs: timsort merges them in linear time
    ends = a_ends + b_ends
    ends.sort()
    double = list(map(le, islice(starts, 1, None), ends))
    return list(compress(islice(starts, 1, None), double)), list(compress(ends, double))


def _boundaries(starts: list[int], ends: list[int]) -> list[int]:
    """Half-open boundaries of a normalised set: start, end + 1, start, end + 1, ..."""
    marks = [0] * (2 * len(starts))
    marks[0::2] = starts
    marks[1::2] = map(_succ, ends)
    return marks


def _gaps(starts: list[int], ends: list[int], lo: int, hi: int) -> tuple[list[int], list[int]]:
    """The complement within [lo, hi] of a non-empty normalised set that overlaps it.

    Only the first and last gap can be empty (the set may reach past lo or hi);
    inner gaps are non-empty because a normalised set never has touching intervals.
    """
    gap_starts = [lo]
    gap_starts.extend(map(_succ, ends))
    gap_ends = list(map(_pred, starts))
    gap_ends.append(hi)
    if ends[-1] >= hi:
        del gap_starts[-1], gap_ends[-1]
    if starts[0] <= lo:
        del gap_starts[0], gap_ends[0]
    return gap_starts, gap_ends


@final
class IntervalSet:
    """An immutable set of non-negative ints, as sorted disjoint inclusive intervals.

    Adjacent intervals are always merged, so two equal sets have identical lists and
    equality, hashing and ``len`` (the number of intervals) mean the same thing for
    every way of building a set.  The class knows nothing of address families, so
    one set holds one family; callers keep IPv4, IPv6 and AS numbers apart.
    """

    __slots__ = ("_ends", "_starts")

    _starts: list[int]
    _ends: list[int]

    def __init__(self) -> None:
        self._starts = []
        self._ends = []

    # --- construction -------------------------------------------------------------

    @classmethod
    def _trusted(cls, starts: list[int], ends: list[int]) -> Self:
        """Wrap lists already known to be normalised; they must not be shared."""
        new = cls.__new__(cls)
        new._starts = starts
        new._ends = ends
        return new

    @classmethod
    def from_ranges(cls, ranges: Iterable[tuple[int, int]]) -> Self:
        """Build from inclusive (start, end) pairs in any order, overlaps allowed.

        One sort, by start, does all the ordering: a running maximum of the ends then
        gives each interval the furthest reach of everything before it, which leaves
        the covered points unchanged and makes the ends sorted as `_coalesce` needs.
        (Sorting the ends separately would be a second sort, the most costly step.)
        """
        pairs = list(ranges)
        if not pairs:
            return cls()
        first, second = itemgetter(0), itemgetter(1)
        pairs.sort(key=first)
        # After sorting random input, consecutive items point all over the heap and
        # every pass over them is bound by cache misses (measured 3-4x slower at 10^6
        # intervals).  So the sorted pairs are read exactly once per field, into new
        # ints allocated in sorted order; the checks, the merge, and every operation
        # on the finished set then walk memory roughly in order.
        starts = _fresh(map(first, pairs))
        ends = _fresh(map(second, pairs))
        if starts[0] < 0 or any(map(gt, starts, ends)):
            bad = next(p for p in pairs if not 0 <= p[0] <= p[1])
            raise ValueError(f"bad range {bad!r}: need 0 <= start <= end")
        return cls._trusted(*_coalesce(starts, list(accumulate(ends, max))))

    @classmethod
    def from_sorted_disjoint(cls, starts: Sequence[int], ends: Sequence[int]) -> Self:
        """Build from parallel lists that are already sorted and non-overlapping.

        Touching intervals are accepted and merged.  The input is checked (in C-level
        passes, far cheaper than sorting) because a wrong order would silently break
        every later bisect.
        """
        new_starts = list(starts)
        new_ends = list(ends)
        if len(new_starts) != len(new_ends):
            raise ValueError(f"{len(new_starts)} starts but {len(new_ends)} ends")
        if not new_starts:
            return cls()
        if new_starts[0] < 0 or any(map(gt, new_starts, new_ends)):
            i = next(i for i, s in enumerate(new_starts) if not 0 <= s <= new_ends[i])
            raise ValueError(f"bad interval {i} [{new_starts[i]}, {new_ends[i]}]")
        if any(map(le, islice(new_starts, 1, None), new_ends)):
            i = next(i for i in range(1, len(new_starts)) if new_starts[i] <= new_ends[i - 1])
            raise ValueError(
                f"interval {i} [{new_starts[i]}, {new_ends[i]}] is not after "
                f"[{new_starts[i - 1]}, {new_ends[i - 1]}]: input not sorted and disjoint"
            )
        return cls._trusted(*_coalesce(new_starts, new_ends))

    # --- set algebra (each a few linear passes) -----------------------------------

    def union(self, other: IntervalSet) -> IntervalSet:
        if not other:
            return self
        if not self:
            return other
        starts = self._starts + other._starts
        starts.sort()
        ends = self._ends + other._ends
        ends.sort()
        return IntervalSet._trusted(*_coalesce(starts, ends))

    def intersection(self, other: IntervalSet) -> IntervalSet:
        if not self or not other:
            return IntervalSet()
        # Only the parts of each set within the other's bounds can meet.
        a_starts, a_ends = self._window(other._starts[0], other._ends[-1])
        b_starts, b_ends = other._window(self._starts[0], self._ends[-1])
        if not a_starts or not b_starts:
            return IntervalSet()
        return IntervalSet._trusted(*_intersect(a_starts, a_ends, b_starts, b_ends))

    def difference(self, other: IntervalSet) -> IntervalSet:
        if not self or not other:
            return self
        lo, hi = self._starts[0], self._ends[-1]
        b_starts, b_ends = other._window(lo, hi)
        if not b_starts:
            return self
        gap_starts, gap_ends = _gaps(b_starts, b_ends, lo, hi)
        return IntervalSet._trusted(*_intersect(self._starts, self._ends, gap_starts, gap_ends))

    def symmetric_difference(self, other: IntervalSet) -> IntervalSet:
        """Points in exactly one of the two sets.

        Done on half-open boundaries (each start, each end + 1) rather than as
        (a - b) | (b - a), which would cost three operations: a point is in a set iff
        an odd number of its boundaries lie at or below it, so the boundaries of the
        result are those of both inputs with every value that occurs twice removed.
        """
        if not other:
            return self
        if not self:
            return other
        marks = _boundaries(self._starts, self._ends) + _boundaries(other._starts, other._ends)
        marks.sort()  # two sorted runs
        # Each input's boundaries strictly increase, so a value occurs at most twice.
        twice = list(map(eq, marks, islice(marks, 1, None)))
        cancelled = map(or_, chain((False,), twice), chain(twice, (False,)))
        kept = list(compress(marks, map(not_, cancelled)))
        return IntervalSet._trusted(kept[0::2], list(map(_pred, islice(kept, 1, None, 2))))

    def complement_within(self, start: int, end: int) -> IntervalSet:
        """The integers of [start, end] that are not in the set."""
        _check_range(start, end)
        starts, ends = self._window(start, end)
        if not starts:
            return IntervalSet._trusted([start], [end])
        return IntervalSet._trusted(*_gaps(starts, ends, start, end))

    # The operators check their operand at run time too, so that a stray list or
    # builtin set raises TypeError instead of failing somewhere inside a merge.

    def __or__(self, other: IntervalSet) -> IntervalSet:
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return self.union(other)

    def __and__(self, other: IntervalSet) -> IntervalSet:
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return self.intersection(other)

    def __sub__(self, other: IntervalSet) -> IntervalSet:
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return self.difference(other)

    def __xor__(self, other: IntervalSet) -> IntervalSet:
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return self.symmetric_difference(other)

    # --- queries (bisect, O(log n)) -----------------------------------------------

    def _window(self, start: int, end: int) -> tuple[list[int], list[int]]:
        """Copies of the intervals that meet [start, end], unclipped."""
        first = bisect_left(self._ends, start)
        stop = bisect_right(self._starts, end, first)
        return self._starts[first:stop], self._ends[first:stop]

    def contains_point(self, x: int) -> bool:
        i = bisect_right(self._starts, x) - 1
        return i >= 0 and x <= self._ends[i]

    def contains_range(self, start: int, end: int) -> bool:
        """Whether every integer of [start, end] is in the set.

        Touching intervals are always merged, so a range inside the set lies inside
        a single interval and one bisect decides.
        """
        _check_range(start, end)
        i = bisect_right(self._starts, start) - 1
        return i >= 0 and end <= self._ends[i]

    def overlaps_range(self, start: int, end: int) -> bool:
        """Whether any integer of [start, end] is in the set."""
        _check_range(start, end)
        i = bisect_left(self._ends, start)
        return i < len(self._starts) and self._starts[i] <= end

    def overlapping(self, start: int, end: int) -> list[tuple[int, int]]:
        """The set's intervals that meet [start, end], whole rather than clipped.

        Unclipped, because callers use this to find which stored ranges a request
        collides with, and need those ranges as they are.
        """
        _check_range(start, end)
        starts, ends = self._window(start, end)
        return list(zip(starts, ends, strict=True))

    def covering(self, x: int) -> tuple[int, int] | None:
        """The interval that holds x, or None."""
        i = bisect_right(self._starts, x) - 1
        if i >= 0 and x <= self._ends[i]:
            return self._starts[i], self._ends[i]
        return None

    def __contains__(self, x: object) -> bool:
        return isinstance(x, int) and self.contains_point(x)

    # --- size, iteration, identity ------------------------------------------------

    @property
    def size(self) -> int:
        """How many integers the set holds (not how many intervals: see ``len``)."""
        return sum(self._ends) - sum(self._starts) + len(self._starts)

    @property
    def starts(self) -> tuple[int, ...]:
        """A copy, so the internal list cannot be changed from outside."""
        return tuple(self._starts)

    @property
    def ends(self) -> tuple[int, ...]:
        """A copy, so the internal list cannot be changed from outside."""
        return tuple(self._ends)

    def __len__(self) -> int:
        return len(self._starts)

    def __bool__(self) -> bool:
        return bool(self._starts)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self._starts, self._ends, strict=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return self._starts == other._starts and self._ends == other._ends

    def __hash__(self) -> int:
        return hash((tuple(self._starts), tuple(self._ends)))

    def __repr__(self) -> str:
        shown = ", ".join(f"({s}, {e})" for s, e in islice(self, _REPR_ITEMS))
        more = ", ..." if len(self._starts) > _REPR_ITEMS else ""
        return f"IntervalSet([{shown}{more}], intervals={len(self)}, size={self.size})"
