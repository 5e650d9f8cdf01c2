"""Readers of IANA's XML number registries, the root of authority of the IANA node.

IANA publishes what it gave to whom (the /8s, the IPv6 unicast blocks, the AS
number blocks) and, separately, which ranges protocols reserve for special
purposes. The first kind partitions each family's space and becomes the IANA
node's records; the second overlaps it and is kept apart.

The XML is read with ElementTree elements built from expat events, because
ElementTree alone forgets line numbers and every record and error here must say
where in the file it came from.
"""

from __future__ import annotations

import datetime
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.parsers import expat

from onereg.core.errors import ResourceParseError, SourceFormatError
from onereg.core.registries import RegistryId, Status
from onereg.core.resources import Afi, Resource

NAMESPACE = "http://www.iana.org/assignments"

IPV4_SPACE = "ipv4-address-space.xml"
IPV6_UNICAST = "ipv6-unicast-address-assignments.xml"
IPV6_SPACE = "ipv6-address-space.xml"
AS_NUMBERS = "as-numbers.xml"
IPV4_SPECIAL = "iana-ipv4-special-registry.xml"
IPV6_SPECIAL = "iana-ipv6-special-registry.xml"
AS_SPECIAL = "iana-as-numbers-special-registry.xml"
SPACE_FILES = (AS_NUMBERS, IPV4_SPACE, IPV6_UNICAST, IPV6_SPACE)
SPECIAL_FILES = (AS_SPECIAL, IPV4_SPECIAL, IPV6_SPECIAL)

HOLDER_IETF = "ietf"
HOLDER_IANA = RegistryId.IANA.value

# RFC 4291: IANA hands out unicast space only from 2000::/3.
GLOBAL_UNICAST = Resource(Afi.IPV6, 0x2000 << 112, (0x4000 << 112) - 1)

# A LEGACY /8 registered to an early holder ("Ford Motor Company") is administered
# by the RIR whose whois server IANA lists; delegated-iana-extended maps it the same way.
_WHOIS_REGISTRY = {
    "whois.afrinic.net": RegistryId.AFRINIC,
    "whois.apnic.net": RegistryId.APNIC,
    "whois.arin.net": RegistryId.ARIN,
    "whois.lacnic.net": RegistryId.LACNIC,
    "whois.ripe.net": RegistryId.RIPENCC,
}

_FOOTNOTE_RE = re.compile(r"\s*\[\d+\]")
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
_SLASH8_RE = re.compile(r"^(\d{1,3})/8$")
_ASN_RANGE_RE = re.compile(r"^(\d+)(?:\s*-\s*(\d+))?$")
_BOOLEANS = {"true": True, "false": False, "": None, "n/a": None}


@dataclass(frozen=True, slots=True)
class IanaBlock:
    """One range of IANA's own table, mapped to the vocabulary of delegated files.

    `status` and `holder` say what IANA's delegated-iana-extended file would say:
    space given to an RIR (including LEGACY space an RIR administers) is allocated
    with that RIR as holder; space reserved by protocol is reserved by "ietf";
    IANA's own blocks have holder "iana"; IANA's free pool is available with no
    holder. `iana_status` and `designation` keep IANA's own words so nothing is lost.

    `date` is yyyymmdd like delegated files. IANA often gives only yyyy-mm; the
    missing day is then written as 01, so "1981-09" becomes "19810901".
    """

    resource: Resource
    status: Status
    holder: str
    iana_status: str
    designation: str
    date: str
    whois: str
    rdap: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class SpecialPurposeBlock:
    """A range a protocol reserves (RFC 6890 registries); overlaps IanaBlocks on purpose.

    The booleans are None when IANA leaves the cell empty (deprecated entries)
    or writes N/A. `rfc` lists every RFC IANA cites, comma-separated.
    `allocation_date` is yyyymmdd with the day padded as in IanaBlock.
    """

    resource: Resource
    name: str
    rfc: str
    allocation_date: str
    globally_reachable: bool | None
    reserved_by_protocol: bool | None
    source: str


@dataclass(frozen=True, slots=True)
class IanaSources:
    """Everything the IANA node imports, plus each file's `<updated>` date (yyyymmdd)."""

    blocks: list[IanaBlock]
    specials: list[SpecialPurposeBlock]
    updated: dict[str, str] = field(default_factory=dict)


# --- XML with line numbers ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Doc:
    path: Path
    root: ET.Element
    lines: dict[ET.Element, int]

    def source(self, elem: ET.Element) -> str:
        return f"{self.path.name}:{self.lines.get(elem, 0)}"

    def error(
        self, elem: ET.Element, reason: str, fld: str | None = None, value: str | None = None
    ) -> SourceFormatError:
        return SourceFormatError(str(self.path), self.lines.get(elem), reason, fld, value)

    def records(self) -> Iterator[ET.Element]:
        return self.root.iter(_q("record"))


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _expat_name(name: str) -> str:
    uri, sep, local = name.rpartition("}")
    return f"{{{uri}}}{local}" if sep else local


def _read_xml(path: Path) -> _Doc:
    """Build the tree from expat events, noting the line each element starts on."""
    builder = ET.TreeBuilder()
    lines: dict[ET.Element, int] = {}
    parser = expat.ParserCreate(namespace_separator="}")

    def start(tag: str, attrs: dict[str, str]) -> None:
        elem = builder.start(_expat_name(tag), {_expat_name(k): v for k, v in attrs.items()})
        lines[elem] = parser.CurrentLineNumber

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: builder.end(_expat_name(tag))
    parser.CharacterDataHandler = builder.data
    try:
        with path.open("rb") as handle:
            parser.ParseFile(handle)
    except OSError as exc:
        raise SourceFormatError(str(path), None, f"cannot read IANA registry: {exc}") from None
    except expat.ExpatError as exc:
        reason = f"not well-formed XML: {expat.ErrorString(exc.code)}"
        raise SourceFormatError(str(path), exc.lineno, reason) from None
    except (LookupError, ValueError) as exc:  # an encoding expat cannot read: unknown, UTF-7
        raise SourceFormatError(str(path), 1, f"not readable XML: {exc}") from None
    root = builder.close()
    if root.tag != _q("registry"):
        raise SourceFormatError(str(path), 1, "not an IANA registry", "root", root.tag)
    return _Doc(path, root, lines)


def _text(elem: ET.Element | None) -> str:
    """A cell as IANA's text rendering shows it: RFC links as 'RFC1234', footnote marks gone."""
    if elem is None:
        return ""
    parts = [elem.text or ""]
    for child in elem:
        if child.tag == _q("xref") and child.get("type") == "rfc":
            parts.append(child.get("data", "").upper())
        parts.append(child.tail or "")
    return _FOOTNOTE_RE.sub("", " ".join("".join(parts).split())).strip()


def _cell(rec: ET.Element, name: str) -> str:
    return _text(rec.find(_q(name)))


def _rdap(rec: ET.Element) -> tuple[str, ...]:
    return tuple(_text(s) for s in rec.iterfind(f"{_q('rdap')}/{_q('server')}"))


def _rfcs(rec: ET.Element) -> str:
    found = [x.get("data", "") for x in rec.iter(_q("xref")) if x.get("type") == "rfc"]
    return ",".join(dict.fromkeys(found))


# --- field readers ------------------------------------------------------------------------


def iana_date(text: str) -> str:
    """yyyy-mm or yyyy-mm-dd as yyyymmdd (day 01 when missing); "" stays ""."""
    if not text:
        return ""
    match = _DATE_RE.match(text)
    if match is None:
        raise ValueError("expected yyyy-mm or yyyy-mm-dd")
    year, month, day = (int(g) if g else 1 for g in match.groups())
    return datetime.date(year, month, day).strftime("%Y%m%d")


def _date(doc: _Doc, rec: ET.Element, name: str = "date") -> str:
    """IPv6 registries put the date in an attribute, the others in a child element."""
    text = rec.get(name) or _cell(rec, name)
    try:
        return iana_date(text)
    except ValueError as exc:
        raise doc.error(rec, f"bad date: {exc}", name, text) from None


def _guard(
    doc: _Doc, rec: ET.Element, fld: str, text: str, read: Callable[[str], Resource]
) -> Resource:
    try:
        return read(text)
    except (ResourceParseError, ValueError) as exc:
        raise doc.error(rec, f"bad {fld}: {exc}", fld, text) from None


def _slash8(text: str) -> Resource:
    match = _SLASH8_RE.match(text)
    if match is None or int(match.group(1)) > 255:
        raise ValueError("expected a /8 written as NNN/8")
    start = int(match.group(1)) << 24
    return Resource(Afi.IPV4, start, start + (1 << 24) - 1)


def _ipv6_prefix(text: str) -> Resource:
    resource = Resource.parse(text)
    if resource.afi is not Afi.IPV6 or "/" not in text:
        raise ValueError("expected an IPv6 prefix")
    return resource


def _asn_range(text: str) -> Resource:
    match = _ASN_RANGE_RE.match(text)
    if match is None:
        raise ValueError("expected N or N-M")
    first, last = match.group(1), match.group(2) or match.group(1)
    return Resource(Afi.ASN, int(first), int(last))


def _block(
    doc: _Doc, rec: ET.Element, resource: Resource, kind: tuple[Status, str, str]
) -> IanaBlock:
    status, holder, iana_status = kind
    designation = _cell(rec, "designation") or _cell(rec, "description")
    return IanaBlock(
        resource=resource,
        status=status,
        holder=holder,
        iana_status=iana_status,
        designation=designation,
        date=_date(doc, rec),
        whois=_cell(rec, "whois"),
        rdap=_rdap(rec),
        source=doc.source(rec),
    )


# --- partition: more specific wins, then check --------------------------------------------


@dataclass(slots=True)
class _Open:
    """A record whose range is still open while its nested records are walked."""

    block: IanaBlock
    cursor: int  # first value of the range not yet emitted nor given to a nested record


def _emit(block: IanaBlock, lo: int, hi: int, out: list[IanaBlock]) -> None:
    if lo <= hi:
        out.append(replace(block, resource=Resource(block.resource.afi, lo, hi)))


def _close_until(stack: list[_Open], start: int, out: list[IanaBlock]) -> None:
    while stack and stack[-1].block.resource.end < start:
        done = stack.pop()
        _emit(done.block, done.cursor, done.block.resource.end, out)
        if stack:
            stack[-1].cursor = done.block.resource.end + 1


def _nest(outer: IanaBlock, inner: IanaBlock) -> None:
    if inner.resource == outer.resource:
        reason = f"{outer.source} and {inner.source} both register {outer.resource}"
    elif inner.resource.end > outer.resource.end:
        reason = (
            f"{outer.source} ({outer.resource}) partly overlaps {inner.source} ({inner.resource})"
        )
    else:
        return
    raise _block_error(inner, reason)


def most_specific(blocks: Sequence[IanaBlock]) -> list[IanaBlock]:
    """Resolve nesting: where one record contains others, the contained ones win.

    IANA nests tables (2000::/3 in ipv6-address-space holds the unicast
    assignments), so a container keeps only the parts no more specific record
    covers, cut into pieces that carry the container's fields. Partial overlaps
    and duplicates have no such reading and are errors naming both records.
    """
    out: list[IanaBlock] = []
    stack: list[_Open] = []
    for block in sorted(blocks, key=lambda b: (b.resource.afi, b.resource.start, -b.resource.end)):
        _close_until(stack, block.resource.start, out)
        if stack:
            outer = stack[-1]
            _nest(outer.block, block)
            _emit(outer.block, outer.cursor, block.resource.start - 1, out)
        stack.append(_Open(block, block.resource.start))
    _close_until(stack, Afi.IPV6.max_value + 1, out)
    return sorted(out, key=lambda b: (b.resource.afi, b.resource.start))


def _block_error(block: IanaBlock, reason: str) -> SourceFormatError:
    name, _, line = block.source.rpartition(":")
    return SourceFormatError(name, int(line) if line.isdigit() else None, reason)


def check_partition(blocks: Sequence[IanaBlock], afi: Afi) -> None:
    """Blocks must be sorted, disjoint and cover all of `afi`: the IANA node's records tile it."""
    if not blocks:
        raise SourceFormatError("<iana>", None, f"no {afi} blocks")
    expected = 0
    previous: IanaBlock | None = None
    for block in blocks:
        _check_next(previous, block, afi, expected)
        expected, previous = block.resource.end + 1, block
    if expected != afi.max_value + 1:
        assert previous is not None
        raise _block_error(previous, f"{afi} space after {previous.resource} is not covered")


def _check_next(previous: IanaBlock | None, block: IanaBlock, afi: Afi, expected: int) -> None:
    res = block.resource
    where = f"{previous.source} ({previous.resource}) and " if previous else ""
    if res.afi is not afi:
        raise _block_error(block, f"{block.source} is {res.afi}, expected {afi}")
    if res.start < expected:
        raise _block_error(block, f"{where}{block.source} ({res}) overlap or are out of order")
    if res.start > expected:
        raise _block_error(block, f"{where}{block.source} ({res}) leave a gap before it")


def _partition(blocks: Sequence[IanaBlock], afi: Afi) -> list[IanaBlock]:
    result = most_specific(blocks)
    check_partition(result, afi)
    return result


# --- IPv4 ---------------------------------------------------------------------------------


def _rir_of(rec: ET.Element) -> RegistryId | None:
    """The administering RIR: named in the designation, else the whois server IANA lists."""
    named = RegistryId.from_designation(_cell(rec, "designation"))
    return named or _WHOIS_REGISTRY.get(_cell(rec, "whois").lower())


def _ipv4_kind(doc: _Doc, rec: ET.Element) -> tuple[Status, str, str]:
    word = _cell(rec, "status").upper()
    if word in ("ALLOCATED", "LEGACY"):
        rir = _rir_of(rec)
        if rir is None:
            raise doc.error(
                rec, "no RIR administers this /8", "designation", _cell(rec, "designation")
            )
        return Status.ALLOCATED, rir.value, word
    if word == "RESERVED":
        return Status.RESERVED, HOLDER_IETF, word
    if word == "UNALLOCATED":
        return Status.AVAILABLE, "", word
    raise doc.error(rec, "unknown IANA status", "status", word)


def parse_ipv4_address_space(path: Path) -> list[IanaBlock]:
    """The 256 /8s of ipv4-address-space.xml, one IanaBlock each."""
    doc = _read_xml(path)
    blocks = []
    for rec in doc.records():
        resource = _guard(doc, rec, "prefix", _cell(rec, "prefix"), _slash8)
        blocks.append(_block(doc, rec, resource, _ipv4_kind(doc, rec)))
    return _partition(blocks, Afi.IPV4)


# --- IPv6 ---------------------------------------------------------------------------------


def _ipv6_unicast_kind(doc: _Doc, rec: ET.Element) -> tuple[Status, str, str]:
    """Map a unicast row to delegated-file terms.

    RIR blocks are allocated; rows described "IANA" (2001::/23, the 2d00::/8 to
    3ffe::/16 reserve) keep holder iana; protocol rows (6to4, documentation) are
    reserved by the IETF, which is how delegated-iana-extended shows 2002::/16.
    """
    word, desc = _cell(rec, "status").upper(), _cell(rec, "description")
    rir = RegistryId.from_designation(desc)
    holder = rir.value if rir else HOLDER_IANA if desc.upper() == "IANA" else HOLDER_IETF
    if word == "ALLOCATED":
        status = Status.RESERVED if holder == HOLDER_IETF else Status.ALLOCATED
        return status, holder, word
    if word == "RESERVED":
        return Status.RESERVED, holder, word
    if word == "UNALLOCATED":
        return Status.AVAILABLE, "", word
    raise doc.error(rec, "unknown IANA status", "status", word)


def _ipv6_unicast(path: Path) -> list[IanaBlock]:
    doc = _read_xml(path)
    blocks = []
    for rec in doc.records():
        resource = _guard(doc, rec, "prefix", _cell(rec, "prefix"), _ipv6_prefix)
        if not GLOBAL_UNICAST.contains(resource):
            raise doc.error(rec, "unicast assignment outside 2000::/3", "prefix", str(resource))
        blocks.append(_block(doc, rec, resource, _ipv6_unicast_kind(doc, rec)))
    return blocks


def _ipv6_space(path: Path) -> list[IanaBlock]:
    """2000::/3 becomes IANA's free pool (status word UNALLOCATED, as IANA's ASN table says);
    every other top-level block is reserved by the IETF (status word RESERVED)."""
    doc = _read_xml(path)
    blocks = []
    for rec in doc.records():
        resource = _guard(doc, rec, "prefix", _cell(rec, "prefix"), _ipv6_prefix)
        pool = resource == GLOBAL_UNICAST
        kind = (
            (Status.AVAILABLE, "", "UNALLOCATED")
            if pool
            else (Status.RESERVED, HOLDER_IETF, "RESERVED")
        )
        blocks.append(_block(doc, rec, resource, kind))
    if not any(b.resource == GLOBAL_UNICAST for b in blocks):
        raise SourceFormatError(str(path), None, "no 2000::/3 record", "prefix", "2000::/3")
    return blocks


def parse_ipv6_space(unicast_path: Path, space_path: Path) -> list[IanaBlock]:
    """All of IPv6: unicast assignments, the rest of 2000::/3 as IANA's pool, and the IETF's
    reserved blocks. Unicast records sit inside the 2000::/3 record and win over it.

    The pool left between assignments is cut into prefixes, because an IPv6 record
    of a delegated file is one prefix; every other block already is one.
    """
    merged = most_specific(_ipv6_space(space_path) + _ipv6_unicast(unicast_path))
    blocks = [piece for block in merged for piece in _as_prefixes(block)]
    check_partition(blocks, Afi.IPV6)
    return blocks


def _as_prefixes(block: IanaBlock) -> list[IanaBlock]:
    afi = block.resource.afi
    return [
        replace(block, resource=Resource(afi, net, net + (1 << (afi.bits - plen)) - 1))
        for net, plen in block.resource.cidrs()
    ]


# --- AS numbers ---------------------------------------------------------------------------


def _asn_kind(doc: _Doc, rec: ET.Element) -> tuple[Status, str, str] | None:
    """None for the 32-bit table's pointer to the 16-bit table, which carries no data."""
    desc = _cell(rec, "description")
    if desc.startswith("Assigned by"):
        rir = RegistryId.from_designation(desc)
        if rir is None:
            raise doc.error(rec, "assigned to no known RIR", "description", desc)
        return Status.ALLOCATED, rir.value, "ASSIGNED"
    if desc == "Unallocated":
        return Status.AVAILABLE, "", "UNALLOCATED"
    if desc.startswith("Reserved") or desc == "AS_TRANS":
        return Status.RESERVED, HOLDER_IETF, "RESERVED"
    if desc.startswith("See Sub-registry"):
        return None
    raise doc.error(rec, "unknown AS number description", "description", desc)


def parse_as_numbers(path: Path) -> list[IanaBlock]:
    """Both tables of as-numbers.xml as one partition of 0..4294967295.

    The 32-bit table repeats 0-65535 as "See Sub-registry 16-bit AS numbers";
    that pointer is dropped, so the 16-bit records must cover 0-65535 themselves
    (a gap is an error). Any other nesting is resolved by most_specific: the
    smaller record wins. In the 2026-06-01 file that pointer is the only overlap.
    """
    doc = _read_xml(path)
    blocks = []
    for rec in doc.records():
        resource = _guard(doc, rec, "number", _cell(rec, "number"), _asn_range)
        kind = _asn_kind(doc, rec)
        if kind is not None:
            blocks.append(_block(doc, rec, resource, kind))
    return _partition(blocks, Afi.ASN)


# --- special-purpose registries -----------------------------------------------------------


def _flag(doc: _Doc, rec: ET.Element, name: str) -> bool | None:
    text = _cell(rec, name)
    if text.lower() not in _BOOLEANS:
        raise doc.error(rec, "expected True, False, N/A or empty", name, text)
    return _BOOLEANS[text.lower()]


def _special_ip(doc: _Doc, rec: ET.Element) -> list[SpecialPurposeBlock]:
    """One block per prefix: a cell may list several ("192.0.0.170/32, 192.0.0.171/32")."""
    cell = _cell(rec, "address")
    prefixes = [p.strip() for p in cell.split(",")]
    if not all(prefixes):
        raise doc.error(rec, "empty prefix in address list", "address", cell)
    return [
        SpecialPurposeBlock(
            resource=_guard(doc, rec, "address", text, Resource.parse),
            name=_cell(rec, "name"),
            rfc=_rfcs(rec),
            allocation_date=_date(doc, rec, "allocation"),
            globally_reachable=_flag(doc, rec, "global"),
            reserved_by_protocol=_flag(doc, rec, "reserved"),
            source=doc.source(rec),
        )
        for text in prefixes
    ]


def _parse_special_ip(path: Path, afi: Afi) -> list[SpecialPurposeBlock]:
    doc = _read_xml(path)
    out = [block for rec in doc.records() for block in _special_ip(doc, rec)]
    for block in out:
        if block.resource.afi is not afi:
            raise _special_error(path, block, f"expected an {afi} prefix")
    return out


def _special_error(path: Path, block: SpecialPurposeBlock, reason: str) -> SourceFormatError:
    line = block.source.rpartition(":")[2]
    return SourceFormatError(str(path), int(line), reason, "address", str(block.resource))


def parse_ipv4_special(path: Path) -> list[SpecialPurposeBlock]:
    """iana-ipv4-special-registry.xml in file order."""
    return _parse_special_ip(path, Afi.IPV4)


def parse_ipv6_special(path: Path) -> list[SpecialPurposeBlock]:
    """iana-ipv6-special-registry.xml in file order."""
    return _parse_special_ip(path, Afi.IPV6)


def parse_as_special(path: Path) -> list[SpecialPurposeBlock]:
    """iana-as-numbers-special-registry.xml; it has no reachability columns, so those are None."""
    doc = _read_xml(path)
    return [
        SpecialPurposeBlock(
            resource=_guard(doc, rec, "value", _cell(rec, "value"), _asn_range),
            name=_cell(rec, "name"),
            rfc=_rfcs(rec),
            allocation_date=_date(doc, rec),
            globally_reachable=None,
            reserved_by_protocol=None,
            source=doc.source(rec),
        )
        for rec in doc.records()
    ]


# --- whole directory ----------------------------------------------------------------------


def registry_updated(path: Path) -> str:
    """The registry's `<updated>` date as yyyymmdd, comparable with delegated-file dates."""
    doc = _read_xml(path)
    elem = doc.root.find(_q("updated"))
    if elem is None:
        raise SourceFormatError(str(path), None, "no <updated> date", "updated", "")
    return _updated(doc, elem)


def _updated(doc: _Doc, elem: ET.Element) -> str:
    text = _text(elem)
    try:
        value = iana_date(text)
    except ValueError as exc:
        raise doc.error(elem, f"bad date: {exc}", "updated", text) from None
    if not value:
        raise doc.error(elem, "empty <updated> date", "updated", text)
    return value


def load_iana_sources(directory: Path) -> IanaSources:
    """Read a directory laid out like IANA's assignments (file names unchanged).

    Seven files: the IPv4 and AS number tables, the two IPv6 tables (the unicast
    table alone does not cover IPv6) and the three special-purpose registries.
    `updated` has the `<updated>` date of each of them.
    """
    blocks = [
        *parse_as_numbers(directory / AS_NUMBERS),
        *parse_ipv4_address_space(directory / IPV4_SPACE),
        *parse_ipv6_space(directory / IPV6_UNICAST, directory / IPV6_SPACE),
    ]
    specials = [
        *parse_as_special(directory / AS_SPECIAL),
        *parse_ipv4_special(directory / IPV4_SPECIAL),
        *parse_ipv6_special(directory / IPV6_SPECIAL),
    ]
    specials.sort(key=lambda s: s.resource)
    updated = {name: registry_updated(directory / name) for name in SPACE_FILES + SPECIAL_FILES}
    return IanaSources(blocks=blocks, specials=specials, updated=updated)
