"""The core's small pieces an operator sees: error messages that name what and where, registry
names and statuses, the collector pause that must leave the collector as it found it, and
resources at their edges (a shared end, range text, exact parse errors)."""

from __future__ import annotations

import gc
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onereg.core.errors import (
    OneregError,
    OverlapError,
    ResourceParseError,
    SignatureError,
    SourceFormatError,
    UnknownKeyError,
)
from onereg.core.gc import collector_paused
from onereg.core.intervals import IntervalSet
from onereg.core.registries import ALL_REGISTRIES, RIRS, RegistryId, Status, holder_label
from onereg.core.resources import (
    Afi,
    Resource,
    cidrs_to_ranges,
    format_number,
    parse_number,
    range_text,
)


def test_resource_parse_error_names_the_text_and_the_reason() -> None:
    err = ResourceParseError("10.0.0.0/33", "prefix length out of 0..32")
    assert str(err) == "cannot read resource '10.0.0.0/33': prefix length out of 0..32"
    assert (err.text, err.reason) == ("10.0.0.0/33", "prefix length out of 0..32")
    assert isinstance(err, ValueError) and isinstance(err, OneregError)


def test_source_format_error_names_file_line_field_and_value() -> None:
    err = SourceFormatError("delegated-x", 12, "bad count", "value", "abc")
    assert str(err) == "delegated-x:12: bad count (field value='abc')"
    assert (err.path, err.line, err.field, err.value, err.reason) == (
        "delegated-x",
        12,
        "value",
        "abc",
        "bad count",
    )


def test_source_format_error_without_line_or_field() -> None:
    assert str(SourceFormatError("f.xml", None, "not XML")) == "f.xml: not XML"
    assert str(SourceFormatError("f", 0, "empty")) == "f:0: empty"
    assert str(SourceFormatError("f", 3, "bad", "cc", None)) == "f:3: bad (field cc=None)"


def test_overlap_error_names_both_records() -> None:
    err = OverlapError("A 10.0.0.0/24", "B 10.0.0.128/25")
    assert str(err) == "overlap refused: A 10.0.0.0/24 overlaps B 10.0.0.128/25"
    assert (err.first, err.second) == ("A 10.0.0.0/24", "B 10.0.0.128/25")


def test_signature_errors_keep_the_key() -> None:
    err = UnknownKeyError("no known signer", "log+abcd1234")
    assert str(err) == "no known signer" and err.key == "log+abcd1234"
    assert isinstance(err, SignatureError)
    assert SignatureError("x").key is None


def test_collector_paused_disables_and_restores() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collector_paused_restores_after_an_error() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_collector_paused_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_registry_display_names() -> None:
    assert [r.display_name for r in ALL_REGISTRIES] == [
        "IANA",
        "AFRINIC",
        "APNIC",
        "ARIN",
        "LACNIC",
        "RIPE NCC",
    ]
    assert RegistryId.IANA not in RIRS and len(RIRS) == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RIPE NCC", RegistryId.RIPENCC),
        ("Administered by ARIN", RegistryId.ARIN),
        ("afrinic", RegistryId.AFRINIC),
        ("APNIC", RegistryId.APNIC),
        ("LACNIC", RegistryId.LACNIC),
        ("IANA", None),  # IANA is never an RIR designation
        ("Reserved", None),
    ],
)
def test_registry_from_designation(text: str, expected: RegistryId | None) -> None:
    assert RegistryId.from_designation(text) is expected


def test_only_allocated_and_assigned_are_held() -> None:
    assert [s.value for s in Status if s.is_held] == ["allocated", "assigned"]


@pytest.mark.parametrize(
    ("holder", "status", "expected"),
    [
        ("ORG-1", "allocated", "ORG-1"),
        ("ORG-1", "available", "ORG-1"),
        (None, "available", "registry pool"),
        ("", "reserved", "registry pool"),
        (None, "assigned", "holder not published"),
        (None, "allocated", "holder not published"),
    ],
)
def test_holder_label(holder: str | None, status: str, expected: str) -> None:
    assert holder_label(holder, status) == expected


# --- Resource boundaries and range text --------------------------------------------------------


def test_resources_sharing_one_number_overlap_and_touching_ones_do_not() -> None:
    a = Resource(Afi.IPV4, 100, 200)
    assert a.overlaps(Resource(Afi.IPV4, 200, 300)) and Resource(Afi.IPV4, 200, 300).overlaps(a)
    assert a.overlaps(Resource(Afi.IPV4, 0, 100)) and Resource(Afi.IPV4, 0, 100).overlaps(a)
    assert not a.overlaps(Resource(Afi.IPV4, 201, 300))
    assert not a.overlaps(Resource(Afi.IPV4, 0, 99))
    assert a.overlaps(Resource(Afi.IPV4, 150, 150))
    assert not a.overlaps(Resource(Afi.ASN, 100, 200))  # another family


def test_a_resource_contains_itself_and_ranges_sharing_an_end() -> None:
    a = Resource(Afi.ASN, 100, 200)
    assert a.contains(a)
    assert a.contains(Resource(Afi.ASN, 100, 150)) and a.contains(Resource(Afi.ASN, 150, 200))
    assert not a.contains(Resource(Afi.ASN, 99, 150))
    assert not a.contains(Resource(Afi.ASN, 150, 201))
    assert not a.contains(Resource(Afi.IPV4, 100, 200))


def test_interval_set_repr_shows_three_intervals_then_an_ellipsis() -> None:
    three = IntervalSet.from_ranges([(0, 0), (2, 2), (4, 4)])
    assert repr(three) == "IntervalSet([(0, 0), (2, 2), (4, 4)], intervals=3, size=3)"
    four = IntervalSet.from_ranges([(0, 0), (2, 2), (4, 4), (6, 7)])
    assert repr(four) == "IntervalSet([(0, 0), (2, 2), (4, 4), ...], intervals=4, size=5)"


@pytest.mark.parametrize(
    ("afi", "start", "end", "text"),
    [
        ("asn", 64496, 64496, "AS64496"),
        ("asn", 64496, 64511, "AS64496-AS64511"),
        ("ipv4", 0, 2**32 - 1, "0.0.0.0/0"),
        ("ipv4", 3221225984, 3221226239, "192.0.2.0/24"),
        ("ipv4", 3221225984, 3221225984, "192.0.2.0/32"),
        ("ipv4", 3221225984, 3221226240, "192.0.2.0-192.0.3.0"),  # 257 addresses
        ("ipv4", 3221225985, 3221225986, "192.0.2.1-192.0.2.2"),  # two, not aligned
        ("ipv4", 3221225984, 3221225984 + 1535, "192.0.2.0-192.0.7.255"),  # 1,536
        ("ipv6", 0x20010DB8 << 96, (0x20010DB8 << 96) + 2**96 - 1, "2001:db8::/32"),
        ("ipv6", 0, 2**128 - 1, "::/0"),
        ("ipv6", 1, 2, "::1-::2"),
        ("ipv6", 0xFFFF_C000_0201, 0xFFFF_C000_0201, "::ffff:c000:201/128"),  # IPv4-mapped
        ("ipv6", 0xFFFF_C000_0200, 0xFFFF_C000_02FF, "::ffff:c000:200/120"),
    ],
)
def test_range_text(afi: str, start: int, end: int, text: str) -> None:
    assert range_text(afi, start, end) == text


@given(st.sampled_from([Afi.ASN, Afi.IPV4, Afi.IPV6]), st.data())
def test_range_text_is_the_resources_own_text(afi: Afi, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, afi.max_value))
    end = data.draw(
        st.integers(
            start, min(afi.max_value, start + data.draw(st.sampled_from([0, 1, 255, 2**20])))
        )
    )
    assert range_text(afi.value, start, end) == str(Resource(afi, start, end))


def _reason(call: Callable[[], object]) -> tuple[str, str]:
    with pytest.raises(ResourceParseError) as caught:
        call()
    return caught.value.text, caught.value.reason


def test_resource_parse_errors_name_the_text_and_the_exact_reason() -> None:
    assert _reason(lambda: Resource.parse("  ")) == ("  ", "empty")
    assert _reason(lambda: Resource.parse("ASx")) == (
        "ASx",
        "not an AS number (expected AS<digits>)",
    )
    assert _reason(lambda: Resource.parse("AS4294967296")) == (
        "AS4294967296",
        "AS number above 4294967295",
    )
    assert _reason(lambda: Resource.parse("AS99999999999")) == (
        "AS99999999999",
        "AS number above 4294967295",
    )
    assert _reason(lambda: Resource.parse("AS5-")) == ("AS5-", "a range needs a start and an end")
    assert _reason(lambda: Resource.parse("AS5-AS4")) == ("AS5-AS4", "range end is below its start")
    assert _reason(lambda: Resource.from_delegated(Afi.IPV6, "2001:db8::1", 64)) == (
        "2001:db8::1/64",
        "host bits set in IPv6 prefix",
    )
    assert _reason(lambda: cidrs_to_ranges(Afi.IPV4, [(1, 24)])) == ("0.0.0.1/24", "host bits set")
    assert _reason(lambda: cidrs_to_ranges(Afi.IPV4, [(0, 33)])) == (
        "0/33",
        "prefix length out of 0..32",
    )


def test_as_numbers_with_leading_zeros_are_read() -> None:
    assert Resource.parse("AS000000000000064496") == Resource(Afi.ASN, 64496, 64496)
    assert Resource.parse("AS0000") == Resource(Afi.ASN, 0, 0)
    assert Resource.parse("AS0004294967295").end == 4294967295


def test_format_number_writes_ipv4_mapped_ipv6_in_hex() -> None:
    assert format_number(Afi.IPV6, 0xFFFF_C000_0201) == "::ffff:c000:201"
    assert format_number(Afi.IPV6, 0x20010DB8 << 96) == "2001:db8::"
    assert format_number(Afi.IPV4, 0xC0000201) == "192.0.2.1"
    assert format_number(Afi.ASN, 64496) == "64496"


def test_interval_set_constructors_name_the_first_bad_interval() -> None:
    with pytest.raises(ValueError, match=r"^bad range \(3, 2\): need 0 <= start <= end$"):
        IntervalSet.from_ranges([(0, 0), (5, 5), (3, 2)])
    with pytest.raises(ValueError, match=r"^bad interval 2 \[9, 8\]$"):
        IntervalSet.from_sorted_disjoint([0, 5, 9], [0, 5, 8])
    with pytest.raises(ValueError) as caught:
        IntervalSet.from_sorted_disjoint([0, 10, 15], [5, 20, 30])
    assert str(caught.value) == (
        "interval 2 [15, 30] is not after [10, 20]: input not sorted and disjoint"
    )


def test_interval_sets_differing_only_in_an_end_are_not_equal() -> None:
    assert IntervalSet.from_ranges([(0, 5)]) != IntervalSet.from_ranges([(0, 6)])
    assert IntervalSet.from_ranges([(1, 5)]) != IntervalSet.from_ranges([(0, 5)])
    assert IntervalSet.from_ranges([(0, 5)]) == IntervalSet.from_ranges([(0, 2), (3, 5)])


@pytest.mark.parametrize(
    ("afi", "text", "reason"),
    [
        (Afi.IPV4, "10.1", "'10.1' does not appear to be an IPv4 or IPv6 address"),
        (Afi.IPV6, "fe80::1%eth0", "not a plain ipv6 address"),
        (Afi.IPV4, "2001:db8::1", "an IPv6 address where ipv4 is expected"),
        (Afi.IPV6, "10.0.0.1", "an IPv4 address where ipv6 is expected"),
    ],
)
def test_parse_number_says_why_an_address_is_refused(afi: Afi, text: str, reason: str) -> None:
    assert _reason(lambda: parse_number(afi, text)) == (text, reason)


def test_a_resource_out_of_order_or_an_asn_prefix_is_refused_by_name() -> None:
    assert _reason(lambda: Resource(Afi.IPV4, 5, 4)) == (
        "ipv4:5-4",
        "range out of order or out of bounds",
    )
    with pytest.raises(ValueError, match=r"^AS numbers have no CIDR form$"):
        Resource(Afi.ASN, 1, 2).cidrs()
