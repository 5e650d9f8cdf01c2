"""The RTR cache's deltas across several serials: what a router at any serial the history still
covers is sent must take it exactly to the current set, with no VRP announced twice, none
withdrawn that it never had, and none kept that came and went in between."""

from __future__ import annotations

import ipaddress

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from onereg.rpki.rov_index import vrps_from_tuples
from onereg.rtr import pdu as P
from onereg.rtr.state import (
    Delta,
    RtrCache,
    VrpKeys,
    _compose,
    _member,
    _sorted_unique,
    empty_keys,
    key_of,
    serial_newer,
    to_keys,
)

Vrp3 = tuple[int, str, int]

A: Vrp3 = (64496, "203.0.113.0/24", 24)
B: Vrp3 = (64497, "198.51.100.0/24", 26)
C6: Vrp3 = (64498, "2001:db8::/32", 48)
D6: Vrp3 = (64499, "2001:db8:1::/48", 48)


def _apply(base: set[Vrp3], buf: bytes | None) -> set[Vrp3]:
    """A strict router: announcing what it has or withdrawing what it lacks is an error."""
    assert buf is not None, "the cache answered Cache Reset"
    out = set(base)
    for pdu in P.decode_all(buf):
        assert isinstance(pdu, P.Ipv4Prefix | P.Ipv6Prefix)
        net = (
            ipaddress.IPv4Network((pdu.prefix, pdu.prefix_len))
            if isinstance(pdu, P.Ipv4Prefix)
            else ipaddress.IPv6Network((pdu.prefix, pdu.prefix_len))
        )
        item = (pdu.asn, str(net), pdu.max_len)
        if pdu.flags & 1:
            assert item not in out, f"{item} announced but the router has it"
            out.add(item)
        else:
            assert item in out, f"{item} withdrawn but the router never had it"
            out.remove(item)
    return out


def _pdus(buf: bytes | None) -> list[tuple[str, int]]:
    assert buf is not None
    return [
        ("announce" if p.flags & 1 else "withdraw", p.asn)
        for p in P.decode_all(buf)
        if isinstance(p, P.Ipv4Prefix | P.Ipv6Prefix)
    ]


def test_a_vrp_announced_then_withdrawn_is_not_in_the_delta_from_before_it() -> None:
    cache = RtrCache()
    cache.update([B])
    assert cache.apply(announce=[A]) == 1
    assert cache.apply(withdraw=[A]) == 2
    serial, buf = cache.delta_buffer(0, 1)
    assert serial == 2 and buf == b""
    assert _pdus(cache.delta_buffer(1, 1)[1]) == [("withdraw", 64496)]


def test_an_ipv6_vrp_announced_then_withdrawn_is_not_in_the_delta_from_before_it() -> None:
    cache = RtrCache()
    cache.update([A])
    cache.apply(announce=[C6])
    cache.apply(announce=[D6])
    cache.apply(withdraw=[C6])
    assert _pdus(cache.delta_buffer(0, 1)[1]) == [("announce", 64499)]
    assert _apply({A}, cache.delta_buffer(0, 1)[1]) == {A, D6}


def test_a_vrp_withdrawn_then_announced_again_nets_to_nothing() -> None:
    cache = RtrCache()
    cache.update([A, B])
    cache.apply(withdraw=[A])
    cache.apply(announce=[A])
    assert cache.delta_buffer(0, 1)[1] == b""
    assert _pdus(cache.delta_buffer(1, 1)[1]) == [("announce", 64496)]


def test_announce_withdraw_announce_across_three_serials_announces_once() -> None:
    cache = RtrCache()
    cache.update([B])
    cache.update([A, B])
    cache.update([B])
    cache.update([A, B, C6])
    assert sorted(_pdus(cache.delta_buffer(0, 1)[1])) == [("announce", 64496), ("announce", 64498)]
    assert _apply({A, B}, cache.delta_buffer(1, 1)[1]) == {A, B, C6}
    assert _apply({B}, cache.delta_buffer(2, 1)[1]) == {A, B, C6}


def test_withdrawals_come_before_announcements_in_a_delta() -> None:
    cache = RtrCache()
    cache.update([A, C6])
    cache.update([B, D6])
    kinds = [kind for kind, _ in _pdus(cache.delta_buffer(0, 1)[1])]
    assert kinds == ["withdraw", "withdraw", "announce", "announce"]


def test_compose_follows_the_documented_formula() -> None:
    a, b, c, d = (key_of(4, n << 8, 24, 24, 1) for n in range(4))
    arr = lambda *k: np.array(list(k), dtype="S11")  # noqa: E731
    # first change: +a -b; second: -a +b +c -d  =>  net: +c -d (a and b cancel out)
    ann, wd = _compose(arr(a), arr(b), arr(b, c), arr(a, d))
    assert sorted(ann.tolist()) == [c] and sorted(wd.tolist()) == [d]
    # nothing then something: the something
    ann, wd = _compose(empty_keys(4), empty_keys(4), arr(a), arr(b))
    assert ann.tolist() == [a] and wd.tolist() == [b]


def test_member_reports_which_needles_are_in_a_sorted_haystack() -> None:
    hay = np.array([b"b", b"d", b"f"], dtype="S1")
    needles = np.array([b"a", b"b", b"c", b"f", b"g"], dtype="S1")
    assert _member(hay, needles).tolist() == [False, True, False, True, False]
    assert _member(hay[:0], needles).tolist() == [False] * 5
    assert _member(hay, needles[:0]).tolist() == []


def test_sorted_unique_sorts_and_drops_duplicates() -> None:
    keys = np.array([b"c", b"a", b"c", b"b", b"a"], dtype="S1")
    assert _sorted_unique(keys).tolist() == [b"a", b"b", b"c"]
    one = np.array([b"z"], dtype="S1")
    assert _sorted_unique(one).tolist() == [b"z"]


def test_serial_newer_follows_rfc_1982() -> None:
    assert serial_newer(1, 0) and not serial_newer(0, 1) and not serial_newer(5, 5)
    assert serial_newer(0, 0xFFFFFFFF)  # wrapped
    assert serial_newer((1 << 31) - 1, 0) and not serial_newer(1 << 31, 0)


def test_vrp_keys_from_buffers_are_sorted_and_unique_per_family() -> None:
    k1, k2 = key_of(4, 2 << 24, 8, 8, 1), key_of(4, 1 << 24, 8, 8, 1)
    k6 = key_of(6, 0x20010DB8 << 96, 32, 48, 7)
    keys = VrpKeys.from_buffers(k1 + k2 + k1, k6 + k6)
    assert keys.v4.tolist() == [k2, k1] and keys.v6.tolist() == [k6]
    assert len(keys) == 3
    cache = RtrCache()
    cache.update(keys)
    assert sorted(cache.vrps()) == [
        (1, "1.0.0.0/8", 8),
        (1, "2.0.0.0/8", 8),
        (7, "2001:db8::/32", 48),
    ]
    assert len(cache) == 3


def test_column_sets_of_several_vrps_per_family_give_the_same_cache() -> None:
    rows = [
        A,
        B,
        C6,
        D6,
        (64500, "10.0.0.0/8", 24),
        (64501, "2001:db8:2::/48", 64),
        (64502, "2001:db8:0:0:1::/80", 96),  # bits in the low 64
    ]
    from_columns, from_tuples = RtrCache(), RtrCache()
    from_columns.update(vrps_from_tuples(rows))
    from_tuples.update(rows)
    assert sorted(from_columns.vrps()) == sorted(from_tuples.vrps()) == sorted(rows)
    assert from_columns.full_buffer(1) == from_tuples.full_buffer(1)


def test_ipv6_keys_with_a_low_address_decode_as_ipv6() -> None:
    cache = RtrCache()
    cache.update([(1, "::/8", 8), (2, "::1/128", 128), (3, "0.0.0.0/8", 8)])
    assert sorted(cache.vrps()) == [(1, "::/8", 8), (2, "::1/128", 128), (3, "0.0.0.0/8", 8)]


def test_apply_as_the_first_change_sets_the_announced_vrps_at_serial_zero() -> None:
    cache = RtrCache()
    assert cache.apply(announce=[A, C6], withdraw=[B]) == 0
    assert sorted(cache.vrps()) == sorted([A, C6])
    assert cache.history == []


def test_buffers_before_any_set_raise_a_named_lookup_error() -> None:
    cache = RtrCache()
    for call in (lambda: cache.full_buffer(1), lambda: cache.delta_buffer(0, 1)):
        try:
            call()
        except LookupError as exc:
            assert str(exc) == "no VRP set yet"
        else:
            raise AssertionError("a buffer without a set")


def test_buffers_asked_twice_are_the_same_and_reset_stays_reset() -> None:
    cache = RtrCache()
    cache.update([A])
    cache.apply(announce=[B])
    first = cache.full_buffer(1)
    assert cache.full_buffer(1) == first and first[1]
    assert cache.full_buffer(1)[1] is first[1]  # built once per serial and version
    assert cache.full_buffer(0)[1] != first[1]  # the version byte differs
    delta = cache.delta_buffer(0, 1)
    assert cache.delta_buffer(0, 1) == delta and delta[1]
    assert cache.delta_buffer(42, 1) == (1, None)
    assert cache.delta_buffer(42, 1) == (1, None)


def test_warm_builds_the_full_and_newest_delta_buffers() -> None:
    cache = RtrCache()
    cache.warm()  # no set yet: nothing to build, no error
    cache.update([A])
    cache.warm((0, 1))
    assert set(cache._full) == {0, 1} and cache._deltas == {}
    cache.apply(announce=[B])
    cache.warm()
    assert set(cache._full) == {P.MAX_VERSION} and set(cache._deltas) == {(0, P.MAX_VERSION)}
    assert _pdus(cache._deltas[(0, P.MAX_VERSION)]) == [("announce", 64497)]
    cache.apply(announce=[C6])
    cache.warm()
    assert set(cache._deltas) == {(1, P.MAX_VERSION)}
    assert _pdus(cache._deltas[(1, P.MAX_VERSION)]) == [("announce", 64498)]


def test_to_keys_splits_families() -> None:
    v4, v6 = to_keys([A, C6, B])
    assert (len(v4), len(v6)) == (2, 1)


def test_a_prepared_update_from_an_older_serial_is_refused() -> None:
    cache = RtrCache()
    cache.update([A])
    stale = cache.prepare([A, B])
    cache.update([B])
    try:
        cache.commit(stale)
    except RuntimeError as exc:
        assert str(exc) == "the cache changed since this update was prepared"
    else:
        raise AssertionError("a stale prepared update was installed")


def test_listeners_hear_each_new_serial_and_not_a_no_op() -> None:
    heard: list[int] = []
    cache = RtrCache()
    cache.add_listener(heard.append)
    cache.update([A])
    cache.update([A])
    cache.apply(announce=[B])
    cache.remove_listener(heard.append)
    cache.remove_listener(heard.append)  # twice is harmless
    cache.apply(withdraw=[B])
    assert heard == [0, 1]


def test_oldest_serial_and_delta_len() -> None:
    cache = RtrCache()
    assert cache.oldest_serial() is None
    cache.update([A])
    assert cache.oldest_serial() == 0
    cache.apply(announce=[B, C6], withdraw=[A])
    assert cache.oldest_serial() == 0
    assert len(cache.history[0]) == 3 and isinstance(cache.history[0], Delta)


POOL: list[Vrp3] = [(64496 + i, f"10.{i}.0.0/16", 16 + (i % 3)) for i in range(5)] + [
    (65000 + i, f"2001:db8:{i + 1}::/48", 48) for i in range(3)
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sets(st.sampled_from(POOL)), min_size=1, max_size=6))
def test_every_covered_serial_reaches_the_current_set_exactly(sets: list[set[Vrp3]]) -> None:
    cache = RtrCache()
    states: dict[int, set[Vrp3]] = {}
    for vrps in sets:
        serial = cache.update(sorted(vrps))
        if serial is not None:
            states[serial] = set(vrps)
    assert cache.serial is not None
    current = states[cache.serial]
    assert set(cache.vrps()) == current
    for serial, state in states.items():
        _, buf = cache.delta_buffer(serial, 1)
        assert _apply(state, buf) == current


def test_a_new_cache_is_empty_with_a_16_bit_session_id() -> None:
    cache = RtrCache()
    assert len(cache) == 0 and cache.vrps() == [] and not cache.ready
    assert cache.serial is None and cache.oldest_serial() is None
    assert all(0 <= RtrCache().session_id < 1 << 16 for _ in range(64))
    assert RtrCache(session_id=0).session_id == 0
    assert RtrCache(session_id=513).session_id == 513


def test_the_default_history_keeps_64_deltas() -> None:
    cache = RtrCache()
    cache.update([A])
    for i in range(65):
        cache.apply(announce=[(65000 + i, "10.0.0.0/8", 8)])
    assert cache.serial == 65 and cache.oldest_serial() == 1
    assert cache.delta_buffer(0, 1)[1] is None and cache.delta_buffer(1, 1)[1] is not None


def _alternate(cache: RtrCache, n: int) -> None:
    """n deltas of one VRP each: B comes and goes (from serial 0 without B, so B is there at
    odd serials)."""
    b = VrpKeys(*to_keys([B]))
    for _ in range(n):
        if cache.serial is not None and cache.serial % 2:
            cache.apply(withdraw=b)
        else:
            cache.apply(announce=b)


def test_a_history_of_exactly_1024_changes_is_kept_and_one_more_drops_the_oldest() -> None:
    cache = RtrCache(max_history=5000)
    cache.update([A])
    _alternate(cache, 1024)
    assert len(cache.history) == 1024 and cache.delta_buffer(0, 1)[1] is not None
    _alternate(cache, 1)
    assert len(cache.history) == 1024
    assert cache.delta_buffer(0, 1)[1] is None and cache.delta_buffer(1, 1)[1] is not None


def test_trimming_drops_as_many_old_deltas_as_it_takes() -> None:
    cache = RtrCache(max_history=5000)
    cache.update([A])
    _alternate(cache, 1024)  # 1024 changes of one VRP, the limit
    cache.apply(announce=[B, C6])  # serial 1024 lacks B: two more changes, 1026
    assert sum(len(d) for d in cache.history) == 1024
    assert cache.oldest_serial() == 2
    assert cache.delta_buffer(1, 1)[1] is None and cache.delta_buffer(2, 1)[1] is not None
