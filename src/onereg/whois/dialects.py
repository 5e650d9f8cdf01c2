"""Each registry's whois dialect: the words its own port 43 answers in.

Clients parse whois text with per-registry patterns (ipwhois's `RIR_WHOIS`, the ones behind
asyncwhois and scripts written against each registry), so a node that printed RIPE's format
for every registry would be unreadable to them for four registries out of five. Each dialect
keeps what a delegated record knows and lays it out as that registry does, checked against
the real responses in the shared data (`rdap/ipwhois-tests/whois.json`):

* RIPE NCC (and the IANA node): RPSL as whois.ripe.net prints it (`rpsl`);
* AFRINIC: RIPE's RPSL, AFRINIC's `source:`;
* APNIC: RPSL with APNIC's status words (`ALLOCATED PORTABLE`, `ASSIGNED PORTABLE`) and its
  `changed:` line (email and YYYYMMDD) beside `last-modified:`;
* ARIN: `NetRange:`/`CIDR:`/`NetName:`/`NetHandle:`/`NetType:`/`Organization:`/`RegDate:`/
  `Updated:` for networks, `ASNumber:`/`ASName:`/`ASHandle:` for AS numbers, an `OrgName:`/
  `OrgId:`/`Country:` block for the holder, `#` comments;
* LACNIC: `inetnum: 200.57.128/19` (prefixes with LACNIC's short IPv4 form), lower-case
  `status:`, the holder inline as `owner:`/`ownerid:`, dates as YYYYMMDD `created:`/`changed:`.

The query flags, error numbers and referrals are the server's own (RIPE's) in every dialect.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from onereg.core.registries import RegistryId, Status
from onereg.core.resources import Afi, Resource, format_number
from onereg.whois import rpsl
from onereg.whois.rpsl import Attribute, HolderFacts, RecordFacts, RpslObject


class Dialect:
    """RIPE NCC's dialect; the others override what differs."""

    format_name = "RPSL format"
    holder_inline = False  # the holder is printed inside the record (no separate object)

    def __init__(self, style: rpsl.RipeStyle = rpsl.RIPE_STYLE) -> None:
        self.style = style

    def record(self, facts: RecordFacts, filtered: bool = True) -> RpslObject:
        return rpsl.resource_object(facts, filtered, self.style)

    def holder(self, facts: HolderFacts) -> RpslObject:
        return rpsl.organisation_object(facts, self.style)

    def handle_address(self, key: str) -> Resource | None:
        """The first address of the network a registry-specific handle names, if `key` is one."""
        return None

    def comments(self, text: str) -> str:
        """`text` with its comment lines in this dialect's comment style."""
        return text

    def query_line(self, line: str) -> str:
        """The query in RIPE's syntax, which the server parses, for a line in this registry's."""
        return line


# --- APNIC ----------------------------------------------------------------------------------

_APNIC_IP = {
    Status.ALLOCATED.value: "ALLOCATED PORTABLE",
    Status.ASSIGNED.value: "ASSIGNED PORTABLE",
    Status.RESERVED.value: "RESERVED",
    Status.AVAILABLE.value: "AVAILABLE",
}
_APNIC_AUTNUM = {
    Status.ALLOCATED.value: "ALLOCATED PORTABLE",
    Status.ASSIGNED.value: "ASSIGNED",
    Status.RESERVED.value: "RESERVED",
    Status.AVAILABLE.value: "AVAILABLE",
}
APNIC_CHANGED_BY = "hostmaster@apnic.net"


def apnic_dates(created: str | None, last_modified: str | None) -> list[Attribute]:
    """APNIC's `changed: <email> YYYYMMDD` (what it printed for years, and what parsers of
    APNIC text read) for the last change, then the modern `last-modified:`. APNIC prints no
    `created:`; the registration date is in RDAP and in the unfiltered (-B) remarks."""
    out: list[Attribute] = []
    compact = rpsl.compact_day(last_modified)
    if compact:
        out.append(("changed", f"{APNIC_CHANGED_BY} {compact}"))
    if last_modified:
        out.append(("last-modified", rpsl.rpsl_time(last_modified) or last_modified))
    return out


def apnic_holder_dates(created: str | None, last_modified: str | None) -> list[Attribute]:
    """An APNIC organisation: `last-modified:` alone, as APNIC prints it. No `changed:` here,
    since parsers take the last YYYYMMDD after a network as its date of change."""
    return [("last-modified", rpsl.rpsl_time(last_modified) or "")] if last_modified else []


APNIC_STYLE = rpsl.RipeStyle(
    statuses={rpsl.INETNUM: _APNIC_IP, rpsl.INET6NUM: _APNIC_IP, rpsl.AUT_NUM: _APNIC_AUTNUM},
    dates=apnic_dates,
    holder_dates=apnic_holder_dates,
)


# --- ARIN -----------------------------------------------------------------------------------

_ARIN_NET_TYPE = {
    Status.ALLOCATED.value: "Direct Allocation",
    Status.ASSIGNED.value: "Direct Assignment",
    Status.RESERVED.value: "Reserved",
    Status.AVAILABLE.value: "Available",
}


def arin_net_handle(res: Resource) -> str:
    """ARIN's handle shape: `NET-74-125-0-0-1`, `NET6-2001-4860-1` (first address, then a
    serial; a node's records never share a first address, so the serial is always 1)."""
    if res.afi is Afi.IPV4:
        return f"NET-{format_number(res.afi, res.start).replace('.', '-')}-1"
    text = format_number(res.afi, res.start)
    if text.endswith("::") and text != "::":
        text = text[:-2]
    return f"NET6-{text.replace(':', '-').upper()}-1"


def arin_handle_address(key: str) -> Resource | None:
    """The first address a `NET-`/`NET6-` handle names (the inverse of `arin_net_handle`)."""
    upper = key.strip().upper()
    for prefix, afi in (("NET-", Afi.IPV4), ("NET6-", Afi.IPV6)):
        if not upper.startswith(prefix) or len(upper) > 80:
            continue
        body, _, serial = upper[len(prefix) :].rpartition("-")
        if not body or not serial.isdigit():
            return None
        text = body.replace("-", "." if afi is Afi.IPV4 else ":")
        candidates = [text] if afi is Afi.IPV4 else [text, text + "::"]
        for candidate in candidates:
            try:
                number = int(ipaddress.ip_address(candidate.lower()))
            except ValueError:
                continue
            return Resource(afi, number, number)
        return None
    return None


def _arin_range(res: Resource) -> str:
    first, last = format_number(res.afi, res.start), format_number(res.afi, res.end)
    return f"{first} - {last}".upper()


def _cidrs(res: Resource) -> list[str]:
    return [f"{format_number(res.afi, net)}/{plen}" for net, plen in res.cidrs()]


# ARIN's query syntax puts a record type (`n` network, `a` ASN, `o` org, `p` POC, `c` customer,
# `e` or `r` ...) and display flags (`+` details, `-` list, `=` exact, `!` handle, `*` subs) in
# front of the key: ipwhois sends `n + 192.0.2.1` to ARIN, as ARIN's own documentation shows.
_ARIN_PREFIX_WORDS = frozenset("naopcerz") | frozenset("+-=!*~<>")


class ArinDialect(Dialect):
    format_name = "ARIN's whois format"

    def query_line(self, line: str) -> str:
        """ARIN's type letters and display flags dropped (the key says what it is); RIPE's
        flags (`-r`, `--list-versions` ...) are kept as every dialect takes them."""
        words = line.split()
        while len(words) > 1 and words[0] in _ARIN_PREFIX_WORDS:
            words.pop(0)
        return " ".join(words)

    def record(self, facts: RecordFacts, filtered: bool = True) -> RpslObject:
        res = facts.resource
        kind = rpsl.object_type_of(res)
        if res.afi is Afi.ASN:
            attributes = self._asn(facts)
        else:
            attributes = [
                ("NetRange", _arin_range(res)),
                ("CIDR", ", ".join(_cidrs(res))),
                ("NetName", rpsl.record_name(facts)),
                ("NetHandle", arin_net_handle(res)),
                ("NetType", self._net_type(facts)),
            ]
        if facts.holder:
            name = facts.holder_name or facts.holder
            attributes.append(("Organization", f"{name} ({facts.holder})"))
        designation = (facts.attrs or {}).get("designation")
        if designation:
            attributes.append(("Comment", str(designation)))
        if facts.refer_whois:
            attributes.append(("ReferralServer", f"whois://{facts.refer_whois}"))
        attributes += self._dates(facts.created, facts.last_modified)
        if facts.rdap_url:
            attributes.append(("Ref", facts.rdap_url))
        if not filtered:
            attributes += [("Comment", line) for line in facts.provenance]
        return RpslObject(tuple(attributes), kind, rpsl.primary_key(res))

    @staticmethod
    def _asn(facts: RecordFacts) -> list[Attribute]:
        res = facts.resource
        number = str(res.start) if res.start == res.end else f"{res.start} - {res.end}"
        return [
            ("ASNumber", number),
            ("ASName", rpsl.record_name(facts)),
            ("ASHandle", f"AS{res.start}"),
        ]

    @staticmethod
    def _net_type(facts: RecordFacts) -> str:
        attrs = facts.attrs or {}
        if attrs.get("iana_status"):
            return str(attrs["iana_status"])
        return _ARIN_NET_TYPE.get(facts.status, facts.status.title())

    @staticmethod
    def _dates(created: str | None, updated: str | None) -> list[Attribute]:
        out: list[Attribute] = []
        if rpsl.day(created):
            out.append(("RegDate", rpsl.day(created) or ""))
        if rpsl.day(updated):
            out.append(("Updated", rpsl.day(updated) or ""))
        return out

    def holder(self, facts: HolderFacts) -> RpslObject:
        attributes: list[Attribute] = [
            ("OrgName", facts.name or facts.handle),
            ("OrgId", facts.handle),
        ]
        country = rpsl.country_of(facts.cc)
        if country:
            attributes.append(("Country", country))
        attributes += self._dates(facts.created, facts.last_modified)
        if facts.rdap_url:
            attributes.append(("Ref", facts.rdap_url))
        return RpslObject(tuple(attributes), rpsl.ORGANISATION, facts.handle)

    def handle_address(self, key: str) -> Resource | None:
        return arin_handle_address(key)

    def comments(self, text: str) -> str:
        """ARIN comments with `#`; RIPE's numbered `%ERROR:`/`%WARNING:` lines stay as they
        are, since clients match them."""
        lines = text.split("\n")
        for index, line in enumerate(lines):
            if line.startswith("%") and not line.startswith(("%ERROR:", "%WARNING:")):
                lines[index] = "#" + line[1:]
        return "\n".join(lines)


# --- LACNIC ---------------------------------------------------------------------------------

LACNIC_COLUMN = 13  # "responsible: " is LACNIC's widest label


def lacnic_prefix(afi: Afi, network: int, length: int) -> str:
    """LACNIC's prefix form: an IPv4 network keeps only the octets its length reaches
    (`200.57.128/19`, `200/8`); IPv6 is written as usual."""
    text = format_number(afi, network)
    if afi is Afi.IPV4:
        octets = max(1, -(-length // 8))
        text = ".".join(text.split(".")[:octets])
    return f"{text}/{length}"


class LacnicDialect(Dialect):
    format_name = "LACNIC's whois format"
    holder_inline = True

    def record(self, facts: RecordFacts, filtered: bool = True) -> RpslObject:
        res = facts.resource
        kind = rpsl.object_type_of(res)
        if res.afi is Afi.ASN:
            attributes: list[Attribute] = [("aut-num", rpsl.primary_key(res))]
        else:
            prefixes = ", ".join(lacnic_prefix(res.afi, n, p) for n, p in res.cidrs())
            attributes = [("inetnum", prefixes), ("status", self._status(facts))]
        if facts.holder:
            attributes.append(("owner", facts.holder_name or facts.holder))
            attributes.append(("ownerid", facts.holder))
        country = rpsl.country_of(facts.cc)
        if country:
            attributes.append(("country", country))
        if not filtered:
            attributes += [("remarks", line) for line in facts.provenance]
        attributes += self._dates(facts.created, facts.last_modified)
        return RpslObject(tuple(attributes), kind, rpsl.primary_key(res), LACNIC_COLUMN)

    @staticmethod
    def _status(facts: RecordFacts) -> str:
        attrs = facts.attrs or {}
        return str(attrs.get("iana_status") or facts.status).lower()

    @staticmethod
    def _dates(created: str | None, changed: str | None) -> list[Attribute]:
        out: list[Attribute] = []
        if rpsl.compact_day(created):
            out.append(("created", rpsl.compact_day(created) or ""))
        if rpsl.compact_day(changed):
            out.append(("changed", rpsl.compact_day(changed) or ""))
        return out

    def holder(self, facts: HolderFacts) -> RpslObject:
        attributes: list[Attribute] = [
            ("owner", facts.name or facts.handle),
            ("ownerid", facts.handle),
        ]
        country = rpsl.country_of(facts.cc)
        if country:
            attributes.append(("country", country))
        attributes += self._dates(facts.created, facts.last_modified)
        return RpslObject(tuple(attributes), rpsl.ORGANISATION, facts.handle, LACNIC_COLUMN)


RIPE = Dialect()
_BY_REGISTRY: Mapping[RegistryId, Dialect] = {
    RegistryId.APNIC: Dialect(APNIC_STYLE),
    RegistryId.ARIN: ArinDialect(),
    RegistryId.LACNIC: LacnicDialect(),
}


def dialect_of(registry: RegistryId) -> Dialect:
    """The dialect the registry's own whois speaks (RIPE's for IANA, RIPE NCC and AFRINIC)."""
    return _BY_REGISTRY.get(registry, RIPE)
