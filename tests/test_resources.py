"""onereg.core.resources: ranges, CIDR splitting, delegated records and human input.

CIDR splitting is checked against the standard library's
`ipaddress.summarize_address_range`, an independent implementation of the same
minimal cover, over random ranges of both address families.
"""

from __future__ import annotations

import ipaddress
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onereg.core.errors import ResourceParseError
from onereg.core.resources import Afi, Resource, cidrs_to_ranges, range_to_cidrs

V4_MAX = (1 << 32) - 1
V6_MAX = (1 << 128) - 1


def v4(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def v6(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


@st.composite
def bounds(draw: st.DrawFn, afi: Afi) -> tuple[int, int]:
    """A range of `afi`, often starting or ending on a block boundary, as real ranges do."""
    top = afi.max_value

    def value() -> int:
        plen = draw(st.integers(0, afi.bits))
        aligned = draw(st.integers(0, top)) >> (afi.bits - plen) << (afi.bits - plen)
        nudge = draw(st.sampled_from([0, 0, 0, 1, -1]))
        return min(top, max(0, aligned + nudge))

    a = draw(st.one_of(st.integers(0, top), st.builds(value), st.sampled_from([0, top])))
    b = draw(st.one_of(st.integers(0, top), st.builds(value), st.sampled_from([0, top])))
    return min(a, b), max(a, b)


@st.composite
def resources(draw: st.DrawFn) -> Resource:
    afi = draw(st.sampled_from(list(Afi)))
    start, end = draw(bounds(afi))
    return Resource(afi, start, end)


# --- range_to_cidrs -----------------------------------------------------------


def check_cover(start: int, end: int, bits: int, blocks: list[tuple[int, int]]) -> None:
    """Blocks are aligned, in order, non-overlapping, and cover exactly [start, end]."""
    at = start
    for net, plen in blocks:
        assert 0 <= plen <= bits
        size = 1 << (bits - plen)
        assert net % size == 0, f"{net}/{plen} not aligned"
        assert net == at, "gap or overlap"
        at = net + size
    assert at == end + 1


@given(bounds(Afi.IPV4))
def test_range_to_cidrs_ipv4_matches_stdlib(rng: tuple[int, int]) -> None:
    start, end = rng
    blocks = range_to_cidrs(start, end, 32)
    check_cover(start, end, 32, blocks)
    expected = ipaddress.summarize_address_range(
        ipaddress.IPv4Address(start), ipaddress.IPv4Address(end)
    )
    assert blocks == [(int(n.network_address), n.prefixlen) for n in expected]


@given(bounds(Afi.IPV6))
def test_range_to_cidrs_ipv6_matches_stdlib(rng: tuple[int, int]) -> None:
    start, end = rng
    blocks = range_to_cidrs(start, end, 128)
    check_cover(start, end, 128, blocks)
    expected = ipaddress.summarize_address_range(
        ipaddress.IPv6Address(start), ipaddress.IPv6Address(end)
    )
    assert blocks == [(int(n.network_address), n.prefixlen) for n in expected]


@pytest.mark.parametrize(
    ("start", "end", "bits", "blocks"),
    [
        (0, V4_MAX, 32, [(0, 0)]),
        (0, V6_MAX, 128, [(0, 0)]),
        (V4_MAX, V4_MAX, 32, [(V4_MAX, 32)]),
        (v4("10.0.0.0"), v4("10.0.5.255"), 32, [(v4("10.0.0.0"), 22), (v4("10.0.4.0"), 23)]),
        (v4("10.0.0.1"), v4("10.0.0.6"), 32, [(v4("10.0.0.1"), 32), (v4("10.0.0.2"), 31),
                                              (v4("10.0.0.4"), 31), (v4("10.0.0.6"), 32)]),
    ],
)  # fmt: skip
def test_range_to_cidrs_examples(
    start: int, end: int, bits: int, blocks: list[tuple[int, int]]
) -> None:
    assert range_to_cidrs(start, end, bits) == blocks


@given(resources().filter(lambda r: r.afi.is_ip))
def test_cidrs_round_trip(r: Resource) -> None:
    pieces = cidrs_to_ranges(r.afi, r.cidrs())
    assert pieces[0].start == r.start
    assert pieces[-1].end == r.end
    assert all(a.end + 1 == b.start for a, b in pairwise(pieces))
    assert all(p.is_cidr for p in pieces)
    assert r.is_cidr == (len(pieces) == 1)


def test_cidrs_to_ranges_errors() -> None:
    with pytest.raises(ResourceParseError, match=r"'10\.0\.0\.1/8'.*host bits set"):
        cidrs_to_ranges(Afi.IPV4, [(v4("10.0.0.1"), 8)])
    with pytest.raises(ResourceParseError, match=r"prefix length out of 0\.\.32"):
        cidrs_to_ranges(Afi.IPV4, [(0, 33)])
    with pytest.raises(ResourceParseError, match=r"prefix length out of 0\.\.128"):
        cidrs_to_ranges(Afi.IPV6, [(0, -1)])
    assert cidrs_to_ranges(Afi.IPV6, [(0, 0)]) == [Resource(Afi.IPV6, 0, V6_MAX)]


# --- Resource itself ----------------------------------------------------------


@pytest.mark.parametrize(
    ("afi", "start", "end"),
    [(Afi.ASN, 5, 4), (Afi.ASN, -1, 4), (Afi.ASN, 0, 1 << 32), (Afi.IPV4, 0, 1 << 32),
     (Afi.IPV6, 0, 1 << 128)],
)  # fmt: skip
def test_resource_rejects_bad_bounds(afi: Afi, start: int, end: int) -> None:
    with pytest.raises(ResourceParseError, match="out of order or out of bounds"):
        Resource(afi, start, end)


def test_resource_relations() -> None:
    big = Resource(Afi.IPV4, v4("10.0.0.0"), v4("10.255.255.255"))
    small = Resource(Afi.IPV4, v4("10.1.0.0"), v4("10.1.255.255"))
    same_numbers_as_asn = Resource(Afi.ASN, big.start, big.end)
    assert big.contains(small) and not small.contains(big)
    assert big.overlaps(small) and small.overlaps(big)
    assert not big.overlaps(same_numbers_as_asn)
    assert not big.contains(same_numbers_as_asn)
    assert big.size == 1 << 24
    with pytest.raises(ValueError, match="no CIDR form"):
        Resource(Afi.ASN, 1, 1).cidrs()
    assert not Resource(Afi.ASN, 0, 0).is_cidr


# --- delegated records --------------------------------------------------------


def test_from_delegated_ipv4_count_need_not_be_a_power_of_two() -> None:
    r = Resource.from_delegated(Afi.IPV4, "10.0.0.0", 1536)
    assert (r.start, r.end) == (v4("10.0.0.0"), v4("10.0.5.255"))
    assert r.size == 1536
    assert not r.is_cidr
    assert r.cidrs() == [(v4("10.0.0.0"), 22), (v4("10.0.4.0"), 23)]
    assert r.delegated_value() == 1536
    assert str(r) == "10.0.0.0-10.0.5.255"
    # a count need not start aligned either
    odd = Resource.from_delegated(Afi.IPV4, "193.0.0.7", 3)
    assert (odd.start, odd.end) == (v4("193.0.0.7"), v4("193.0.0.9"))


@pytest.mark.parametrize(
    ("start_text", "plen", "last"),
    [
        ("2001:db8::", 32, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("2001:db8:1234::", 48, "2001:db8:1234:ffff:ffff:ffff:ffff:ffff"),
        ("2001:db8::1", 128, "2001:db8::1"),
        ("::", 0, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ],
)
def test_from_delegated_ipv6_value_is_a_prefix_length(
    start_text: str, plen: int, last: str
) -> None:
    r = Resource.from_delegated(Afi.IPV6, start_text, plen)
    assert (r.start, r.end) == (v6(start_text), v6(last))
    assert r.is_cidr
    assert r.delegated_value() == plen
    assert str(r) == f"{start_text}/{plen}"


def test_from_delegated_asn_value_is_a_count() -> None:
    one = Resource.from_delegated(Afi.ASN, "3333", 1)
    assert (one.start, one.end) == (3333, 3333)
    block = Resource.from_delegated(Afi.ASN, "64512", 1024)
    assert (block.start, block.end) == (64512, 65535)
    assert block.delegated_value() == 1024
    assert str(block) == "AS64512-AS65535"
    top = Resource.from_delegated(Afi.ASN, "4294967295", 1)
    assert top.end == Afi.ASN.max_value


@pytest.mark.parametrize(
    ("afi", "start_text", "value", "message"),
    [
        (Afi.IPV6, "2001:db8::1", 32, r"'2001:db8::1/32'.*host bits set"),
        (Afi.IPV6, "2001:db8:8000::", 31, r"'2001:db8:8000::/31'.*host bits set"),
        (Afi.IPV6, "::", 129, r"'::'.*prefix length 129 out of 0\.\.128"),
        (Afi.IPV6, "::", -1, r"'::'.*prefix length -1"),
        (Afi.IPV4, "10.0.0.0", 0, r"'10\.0\.0\.0'.*count 0 must be at least 1"),
        (Afi.ASN, "3333", 0, r"'3333'.*count 0 must be at least 1"),
        (Afi.IPV4, "10.0.0.0", -5, r"count -5"),
        (Afi.IPV4, "255.255.255.0", 257, r"'255\.255\.255\.0'.*past the end of ipv4"),
        (Afi.IPV4, "0.0.0.1", 1 << 32, r"past the end of ipv4"),
        (Afi.ASN, "4294967295", 2, r"'4294967295'.*past the end of asn"),
        (Afi.IPV4, "10.0.0", 256, r"'10\.0\.0'"),
        (Afi.IPV4, "2001:db8::", 256, r"'2001:db8::'"),
        (Afi.IPV6, "10.0.0.0", 32, r"'10\.0\.0\.0'"),
        (Afi.ASN, "AS", 1, r"'AS'"),
    ],
)
def test_from_delegated_errors(afi: Afi, start_text: str, value: int, message: str) -> None:
    with pytest.raises(ResourceParseError, match=message):
        Resource.from_delegated(afi, start_text, value)


@given(resources())
def test_delegated_round_trip(r: Resource) -> None:
    if r.afi is Afi.IPV6 and not r.is_cidr:
        with pytest.raises(ValueError, match="not one IPv6 prefix"):
            r.delegated_value()
        return
    again = Resource.from_delegated(r.afi, r.start_text(), r.delegated_value())
    assert again == r


# --- human input --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "afi", "first", "last", "shown"),
    [
        ("193.0.0.1", Afi.IPV4, "193.0.0.1", "193.0.0.1", "193.0.0.1/32"),
        ("193.0.0.0/21", Afi.IPV4, "193.0.0.0", "193.0.7.255", "193.0.0.0/21"),
        ("10.0.0.0-10.0.5.255", Afi.IPV4, "10.0.0.0", "10.0.5.255", "10.0.0.0-10.0.5.255"),
        (" 10.0.0.0 - 10.0.0.255 ", Afi.IPV4, "10.0.0.0", "10.0.0.255", "10.0.0.0/24"),
        ("0.0.0.0/0", Afi.IPV4, "0.0.0.0", "255.255.255.255", "0.0.0.0/0"),
        ("2001:db8::/32", Afi.IPV6, "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
         "2001:db8::/32"),
        ("2001:DB8::1", Afi.IPV6, "2001:db8::1", "2001:db8::1", "2001:db8::1/128"),
        ("2001:db8::1-2001:db8::ff", Afi.IPV6, "2001:db8::1", "2001:db8::ff",
         "2001:db8::1-2001:db8::ff"),
    ],
)  # fmt: skip
def test_parse_addresses(text: str, afi: Afi, first: str, last: str, shown: str) -> None:
    to_int = v6 if afi is Afi.IPV6 else v4
    r = Resource.parse(text)
    assert r == Resource(afi, to_int(first), to_int(last))
    assert str(r) == shown


@pytest.mark.parametrize(
    ("text", "start", "end", "shown"),
    [
        ("AS3333", 3333, 3333, "AS3333"),
        ("as3333", 3333, 3333, "AS3333"),
        ("3333", 3333, 3333, "AS3333"),
        ("AS0", 0, 0, "AS0"),
        ("AS4294967295", 4294967295, 4294967295, "AS4294967295"),
        ("AS1-AS6", 1, 6, "AS1-AS6"),
        ("as1 - 6", 1, 6, "AS1-AS6"),
        ("7-7", 7, 7, "AS7"),
    ],
)
def test_parse_as_numbers(text: str, start: int, end: int, shown: str) -> None:
    r = Resource.parse(text)
    assert r == Resource(Afi.ASN, start, end)
    assert str(r) == shown


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("AS", "not an AS number"),
        ("1.2.3", ""),
        ("10.0.0.1/8", "host bits set"),
        ("AS99999999999", "above 4294967295"),
        ("AS4294967296", "above 4294967295"),
        ("5-3", "range end is below its start"),
        ("10.0.0.5-10.0.0.1", "range end is below its start"),
        ("", "empty"),
        ("   ", "empty"),
        ("AS1-", "needs a start and an end"),
        ("-AS1", "needs a start and an end"),
        ("10.0.0.0/33", ""),
        ("2001:db8::/129", ""),
        ("AS 3333", "not an AS number"),
        ("AS-3", "not an AS number"),
        ("AS" + "9" * 5000, "above 4294967295"),  # must not leak int()'s digit-limit error
        ("٣٣٣٣", "not an AS number"),  # non-ASCII digits are not an AS number
        ("AS٣", "not an AS number"),
        ("potato", ""),
    ],
)
def test_parse_rejects(text: str, reason: str) -> None:
    with pytest.raises(ResourceParseError) as caught:
        Resource.parse(text)
    message = str(caught.value)
    assert reason in message
    # the message names the input (or, for a range, the half that is wrong)
    named = caught.value.text
    assert named in text or text.strip() in named
    assert repr(named) in message


def test_parse_range_names_the_bad_half() -> None:
    with pytest.raises(ResourceParseError, match=r"'2001:db8::'.*ipv4"):
        Resource.parse("10.0.0.0-2001:db8::")


def test_parse_address_of_other_family_says_which() -> None:
    with pytest.raises(ResourceParseError, match=r"'::1'.*IPv6 address where ipv4"):
        Resource.from_delegated(Afi.IPV4, "::1", 1)
    with pytest.raises(ResourceParseError, match=r"'10\.0\.0\.1'.*IPv4 address where ipv6"):
        Resource.from_delegated(Afi.IPV6, "10.0.0.1", 128)


def test_parse_rejects_ipv6_zone_without_misnaming_the_family() -> None:
    with pytest.raises(ResourceParseError) as caught:
        Resource.parse("fe80::1%eth0")
    assert "'fe80::1%eth0'" in str(caught.value)
    assert "IPv4" not in str(caught.value)


@given(resources())
def test_str_parses_back(r: Resource) -> None:
    assert Resource.parse(str(r)) == r


def test_str_forms() -> None:
    assert str(Resource(Afi.ASN, 3333, 3333)) == "AS3333"
    assert str(Resource(Afi.ASN, 1, 6)) == "AS1-AS6"
    assert str(Resource(Afi.IPV4, v4("193.0.0.1"), v4("193.0.0.1"))) == "193.0.0.1/32"
    assert str(Resource(Afi.IPV4, v4("193.0.0.0"), v4("193.0.7.255"))) == "193.0.0.0/21"
    assert str(Resource(Afi.IPV4, v4("10.0.0.0"), v4("10.0.5.255"))) == "10.0.0.0-10.0.5.255"
    assert str(Resource(Afi.IPV6, 0, V6_MAX)) == "::/0"
    assert str(Resource(Afi.IPV6, v6("2001:db8::"), v6("2001:db8::2"))) == "2001:db8::-2001:db8::2"
    assert Resource(Afi.IPV4, v4("10.0.0.0"), v4("10.0.0.0")).start_text() == "10.0.0.0"
    assert Resource(Afi.ASN, 3333, 3333).start_text() == "3333"
