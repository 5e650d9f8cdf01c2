"""RFC 3779 resource sets as the relying party compares them: containment of a prefix (whole, not
in part), the excess over an issuer in every family (AS numbers too), and ``inherit``."""

from __future__ import annotations

import ipaddress

import pytest

from onereg.core.intervals import IntervalSet
from onereg.core.resources import Afi
from onereg.rpki.resources import INHERIT, ResourceSet


def v4(text: str) -> tuple[int, int]:
    net = ipaddress.IPv4Network(text)
    return int(net.network_address), int(net.broadcast_address)


def v6(text: str) -> tuple[int, int]:
    net = ipaddress.IPv6Network(text)
    return int(net.network_address), int(net.broadcast_address)


def ips(*ranges: tuple[int, int]) -> IntervalSet:
    return IntervalSet.from_ranges(ranges)


EE = ResourceSet(
    asn=ips((64496, 64511)),
    ipv4=ips(v4("192.0.2.0/24")),
    ipv6=ips(v6("2001:db8::/32")),
)


# --- covers_prefix -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("afi", "span"),
    [
        (Afi.IPV4, v4("192.0.2.0/24")),
        (Afi.IPV4, v4("192.0.2.0/32")),
        (Afi.IPV4, v4("192.0.2.255/32")),
        (Afi.IPV6, v6("2001:db8:ffff::/48")),
        (Afi.ASN, (64511, 64511)),
    ],
)
def test_a_prefix_wholly_inside_is_covered(afi: Afi, span: tuple[int, int]) -> None:
    assert EE.covers_prefix(afi, *span)


@pytest.mark.parametrize(
    ("afi", "span"),
    [
        (Afi.IPV4, v4("192.0.2.0/23")),  # starts inside, ends outside
        (Afi.IPV4, v4("192.0.0.0/22")),  # starts outside, ends inside... and around
        (Afi.IPV4, (v4("192.0.2.0/24")[0] - 1, v4("192.0.2.0/24")[1])),  # one address before
        (Afi.IPV4, (v4("192.0.2.0/24")[0], v4("192.0.2.0/24")[1] + 1)),  # one address after
        (Afi.IPV6, v6("2001:db8::/31")),
        (Afi.ASN, (64511, 64512)),
        (Afi.ASN, (64495, 64496)),
    ],
)
def test_a_prefix_only_partly_inside_is_not_covered(afi: Afi, span: tuple[int, int]) -> None:
    assert not EE.covers_prefix(afi, *span)


def test_a_prefix_outside_or_in_an_inherit_family_is_not_covered() -> None:
    assert not EE.covers_prefix(Afi.IPV4, *v4("198.51.100.0/24"))
    inheriting = ResourceSet(ipv4=INHERIT)
    assert not inheriting.covers_prefix(Afi.IPV4, *v4("192.0.2.0/24"))


# --- excess_over -------------------------------------------------------------------------------


def test_nothing_in_excess_when_contained() -> None:
    assert EE.excess_over(EE) == []
    assert ResourceSet(ipv4=ips(v4("192.0.2.0/25"))).excess_over(EE) == []


def test_as_numbers_beyond_the_issuer_are_excess() -> None:
    child = ResourceSet(asn=ips((64500, 64520)))
    assert child.excess_over(EE) == ["AS64512-AS64520"]
    assert ResourceSet(asn=ips((64495, 64495))).excess_over(EE) == ["AS64495"]


def test_excess_is_named_in_every_family_in_order() -> None:
    child = ResourceSet(
        asn=ips((1, 1)),
        ipv4=ips(v4("192.0.2.0/23")),
        ipv6=ips(v6("2001:db9::/32")),
    )
    assert child.excess_over(EE) == ["AS1", "192.0.3.0/24", "2001:db9::/32"]


def test_an_issuer_family_left_inherit_counts_as_holding_nothing() -> None:
    child = ResourceSet(ipv4=ips(v4("192.0.2.0/24")))
    assert child.excess_over(ResourceSet(ipv4=INHERIT)) == ["192.0.2.0/24"]


def test_an_inherit_family_is_never_excess() -> None:
    child = ResourceSet(asn=INHERIT, ipv4=INHERIT, ipv6=INHERIT)
    assert child.excess_over(ResourceSet()) == []


# --- inherit, resolve, emptiness, text ---------------------------------------------------------


def test_resolve_takes_only_the_inherited_families_from_the_issuer() -> None:
    child = ResourceSet(asn=INHERIT, ipv4=ips(v4("192.0.2.0/25")), ipv6=INHERIT)
    resolved = child.resolve(EE)
    assert resolved == ResourceSet(EE.asn, ips(v4("192.0.2.0/25")), EE.ipv6)
    assert not resolved.inherits and child.inherits


def test_inherits_in_any_one_family() -> None:
    assert not EE.inherits
    for afi in ("asn", "ipv4", "ipv6"):
        assert ResourceSet(**{afi: INHERIT}).inherits  # type: ignore[arg-type]


def test_emptiness() -> None:
    assert ResourceSet().is_empty
    assert not ResourceSet(ipv6=INHERIT).is_empty
    assert not ResourceSet(asn=ips((1, 1))).is_empty
    assert not EE.is_empty


def test_get_returns_each_family() -> None:
    assert EE.get(Afi.ASN) is EE.asn
    assert EE.get(Afi.IPV4) is EE.ipv4
    assert EE.get(Afi.IPV6) is EE.ipv6


def test_text_lists_every_range_and_inherit_in_family_order() -> None:
    rs = ResourceSet(asn=ips((1, 1), (5, 9)), ipv4=INHERIT, ipv6=ips(v6("2001:db8::/32")))
    assert rs.text() == ["asn: AS1", "asn: AS5-AS9", "ipv4: inherit", "ipv6: 2001:db8::/32"]
