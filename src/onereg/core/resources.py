"""Number resources as inclusive integer ranges.

Delegated files hold IPv4 ranges that are not CIDR-aligned (a count of 1,536
addresses is legal), so the primary form is an integer interval; CIDR lists are
derived from it, never the other way round.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from enum import StrEnum

from onereg.core.errors import ResourceParseError


class Afi(StrEnum):
    """Resource family, spelled as the `type` field of delegated files."""

    ASN = "asn"
    IPV4 = "ipv4"
    IPV6 = "ipv6"

    @property
    def bits(self) -> int:
        return 128 if self is Afi.IPV6 else 32

    @property
    def max_value(self) -> int:
        return (1 << self.bits) - 1

    @property
    def is_ip(self) -> bool:
        return self is not Afi.ASN


_FAMILY = {Afi.IPV4: socket.AF_INET, Afi.IPV6: socket.AF_INET6}
# [0-9], not \d: \d also matches other scripts' digits, which int() would quietly accept.
_ASN_RE = re.compile(r"^(?:AS)?([0-9]+)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True, order=True)
class Resource:
    """A contiguous range [start, end] of one family; end is inclusive."""

    afi: Afi
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end <= self.afi.max_value:
            raise ResourceParseError(
                f"{self.afi}:{self.start}-{self.end}", "range out of order or out of bounds"
            )

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def overlaps(self, other: Resource) -> bool:
        return self.afi is other.afi and self.start <= other.end and other.start <= self.end

    def contains(self, other: Resource) -> bool:
        return self.afi is other.afi and self.start <= other.start and other.end <= self.end

    def cidrs(self) -> list[tuple[int, int]]:
        """The minimal list of (network, prefix length) that covers exactly this range."""
        if not self.afi.is_ip:
            raise ValueError("AS numbers have no CIDR form")
        return range_to_cidrs(self.start, self.end, self.afi.bits)

    @property
    def is_cidr(self) -> bool:
        return self.afi.is_ip and len(self.cidrs()) == 1

    def start_text(self) -> str:
        return format_number(self.afi, self.start)

    def __str__(self) -> str:
        if self.afi is Afi.ASN:
            if self.start == self.end:
                return f"AS{self.start}"
            return f"AS{self.start}-AS{self.end}"
        blocks = self.cidrs()
        if len(blocks) == 1:
            net, plen = blocks[0]
            return f"{format_number(self.afi, net)}/{plen}"
        return f"{self.start_text()}-{format_number(self.afi, self.end)}"

    # --- delegated-file form -------------------------------------------------

    @classmethod
    def from_delegated(cls, afi: Afi, start_text: str, value: int) -> Resource:
        """Build from a delegated record.

        `value` is a count (ipv4, asn) or a prefix length (ipv6).
        """
        start = parse_number(afi, start_text)
        if afi is Afi.IPV6:
            if not 0 <= value <= 128:
                raise ResourceParseError(start_text, f"IPv6 prefix length {value} out of 0..128")
            size = 1 << (128 - value)
            if start % size:
                raise ResourceParseError(f"{start_text}/{value}", "host bits set in IPv6 prefix")
        else:
            if value < 1:
                raise ResourceParseError(start_text, f"count {value} must be at least 1")
            size = value
        end = start + size - 1
        if end > afi.max_value:
            raise ResourceParseError(start_text, f"range of {value} runs past the end of {afi}")
        return cls(afi, start, end)

    def delegated_value(self) -> int:
        """The `value` field of a delegated record (count, or prefix length for IPv6)."""
        if self.afi is Afi.IPV6:
            blocks = self.cidrs()
            if len(blocks) != 1:
                raise ValueError(f"{self} is not one IPv6 prefix")
            return blocks[0][1]
        return self.size

    # --- human input ----------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> Resource:
        """Read `193.0.0.1`, `193.0.0.0/21`, `10.0.0.0-10.0.5.255`, `2001:db8::/32`, `AS3333`,
        `AS1-AS6`."""
        raw = text.strip()
        if not raw:
            raise ResourceParseError(text, "empty")
        if "-" in raw:
            return _parse_range(raw)
        if raw.upper().startswith("AS") or raw.isdigit():
            value = _parse_asn(raw)
            return cls(Afi.ASN, value, value)
        return _parse_prefix(raw)


def _parse_asn(text: str) -> int:
    match = _ASN_RE.match(text.strip())
    if match is None:
        raise ResourceParseError(text, "not an AS number (expected AS<digits>)")
    # Length first: int() refuses over 4,300 digits with a bare ValueError, not ours.
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > len(str(Afi.ASN.max_value)):
        raise ResourceParseError(text, "AS number above 4294967295")
    value = int(digits)
    if value > Afi.ASN.max_value:
        raise ResourceParseError(text, "AS number above 4294967295")
    return value


def _parse_range(text: str) -> Resource:
    first, sep, last = text.partition("-")
    if not sep or not first.strip() or not last.strip():
        raise ResourceParseError(text, "a range needs a start and an end")
    a, b = first.strip(), last.strip()
    if a.upper().startswith("AS") or a.isdigit():
        lo, hi = _parse_asn(a), _parse_asn(b)
        afi = Afi.ASN
    else:
        afi = Afi.IPV6 if ":" in a else Afi.IPV4
        lo, hi = parse_number(afi, a), parse_number(afi, b)
    if lo > hi:
        raise ResourceParseError(text, "range end is below its start")
    return Resource(afi, lo, hi)


def _parse_prefix(text: str) -> Resource:
    afi = Afi.IPV6 if ":" in text else Afi.IPV4
    if "/" not in text:
        value = parse_number(afi, text)
        return Resource(afi, value, value)
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ResourceParseError(text, str(exc)) from None
    return Resource(afi, int(net.network_address), int(net.broadcast_address))


def parse_number(afi: Afi, text: str) -> int:
    """The integer value of an address or AS number in its family's text form."""
    if afi is Afi.ASN:
        return _parse_asn(text)
    try:
        # inet_pton is strict (no shorthand like "10.1") and ten times faster than ipaddress,
        # which only runs to explain a failure.
        return int.from_bytes(socket.inet_pton(_FAMILY[afi], text), "big")
    except (OSError, ValueError):
        try:
            version = ipaddress.ip_address(text).version
        except ValueError as exc:
            reason = str(exc)
        else:
            if (version == 6) == (afi is Afi.IPV6):
                # ipaddress takes what inet_pton refuses in the same family: an IPv6 zone.
                reason = f"not a plain {afi} address"
            else:
                reason = f"an IPv{version} address where {afi} is expected"
        raise ResourceParseError(text, reason) from None


def format_number(afi: Afi, value: int) -> str:
    if afi is Afi.ASN:
        return str(value)
    text = socket.inet_ntop(_FAMILY[afi], value.to_bytes(afi.bits // 8, "big"))
    if afi is Afi.IPV6 and "." in text:
        return str(ipaddress.IPv6Address(value))  # RFC 5952 hex form, not glibc's dotted tail
    return text


_TEXT_FORMS = {"ipv4": (socket.AF_INET, 4, 32), "ipv6": (socket.AF_INET6, 16, 128)}


def range_text(afi: str, start: int, end: int) -> str:
    """`str(Resource(...))` without building one or touching enums (`afi` may be an Afi or its
    string): the audit formats tens of thousands of these per run."""
    if afi == "asn":
        return f"AS{start}" if start == end else f"AS{start}-AS{end}"
    family, width, bits = _TEXT_FORMS[afi]
    first = socket.inet_ntop(family, start.to_bytes(width, "big"))
    if "." in first and bits == 128:
        return str(Resource(Afi.IPV6, start, end))  # RFC 5952 form for IPv4-mapped addresses
    size = end - start + 1
    if size & (size - 1) == 0 and start % size == 0:
        return f"{first}/{bits - size.bit_length() + 1}"
    return f"{first}-{format_number(Afi(afi), end)}"


def range_to_cidrs(start: int, end: int, bits: int) -> list[tuple[int, int]]:
    """Split [start, end] into the fewest aligned blocks, largest first from the low end."""
    blocks: list[tuple[int, int]] = []
    while start <= end:
        # largest block aligned at `start` ...
        size = start & -start if start else 1 << bits
        # ... that does not run past `end`
        while size > end - start + 1:
            size >>= 1
        blocks.append((start, bits - size.bit_length() + 1))
        start += size
    return blocks


def cidrs_to_ranges(afi: Afi, blocks: list[tuple[int, int]]) -> list[Resource]:
    """Each (network, length) as a Resource; host bits set are an error."""
    out = []
    for net, plen in blocks:
        if not 0 <= plen <= afi.bits:
            raise ResourceParseError(f"{net}/{plen}", f"prefix length out of 0..{afi.bits}")
        size = 1 << (afi.bits - plen)
        if net % size:
            raise ResourceParseError(f"{format_number(afi, net)}/{plen}", "host bits set")
        out.append(Resource(afi, net, net + size - 1))
    return out
