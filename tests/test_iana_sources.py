"""IANA registry and NRO list readers, on the real files and on small broken ones."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from onereg.core.errors import SourceFormatError
from onereg.core.registries import RegistryId, Status
from onereg.core.resources import Afi, Resource
from onereg.registry.sources.iana import (
    IanaBlock,
    IanaSources,
    SpecialPurposeBlock,
    check_partition,
    iana_date,
    load_iana_sources,
    most_specific,
    parse_as_numbers,
    parse_as_special,
    parse_ipv4_address_space,
    parse_ipv4_special,
    parse_ipv6_space,
    parse_ipv6_special,
    registry_updated,
)
from onereg.registry.sources.nro_lists import parse_allowed_overlaps, parse_erx_transfers

# --- real files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iana(shared_data: Path) -> IanaSources:
    return load_iana_sources(shared_data / "iana")


def _family(sources: IanaSources, afi: Afi) -> list[IanaBlock]:
    return [b for b in sources.blocks if b.resource.afi is afi]


def _at(blocks: list[IanaBlock], text: str) -> IanaBlock:
    wanted = Resource.parse(text)
    (found,) = [b for b in blocks if b.resource.contains(wanted)]
    return found


@pytest.mark.realdata
def test_ipv4_has_256_slash8_with_iana_status_counts(iana: IanaSources) -> None:
    v4 = _family(iana, Afi.IPV4)
    assert len(v4) == 256
    assert all(b.resource.size == 1 << 24 for b in v4)
    assert Counter(b.iana_status for b in v4) == {"ALLOCATED": 129, "LEGACY": 92, "RESERVED": 35}
    assert Counter(b.status for b in v4) == {Status.ALLOCATED: 221, Status.RESERVED: 35}


@pytest.mark.realdata
def test_ipv4_holders(iana: IanaSources) -> None:
    v4 = _family(iana, Afi.IPV4)
    ripe = _at(v4, "193.0.0.0/8")
    assert (ripe.holder, ripe.iana_status, ripe.whois) == ("ripencc", "ALLOCATED", "whois.ripe.net")
    legacy = _at(v4, "3.0.0.0/8")
    assert (legacy.status, legacy.holder, legacy.iana_status) == ("allocated", "arin", "LEGACY")
    assert legacy.designation == "Administered by ARIN"
    assert legacy.date == "19940501"  # IANA writes 1994-05
    assert legacy.source == "ipv4-address-space.xml:44"
    assert legacy.rdap == ("https://rdap.arin.net/registry", "http://rdap.arin.net/registry")
    # an early holder's /8: the RIR comes from the whois server IANA lists
    assert _at(v4, "6.0.0.0/8").holder == "arin"
    assert _at(v4, "53.0.0.0/8").designation == "Daimler AG"
    assert _at(v4, "53.0.0.0/8").holder == "ripencc"
    assert (_at(v4, "10.0.0.0/8").status, _at(v4, "10.0.0.0/8").holder) == ("reserved", "ietf")
    assert Counter(b.holder for b in v4) == {
        "arin": 111,
        "apnic": 51,
        "ripencc": 43,
        "ietf": 35,
        "lacnic": 10,
        "afrinic": 6,
    }


@pytest.mark.realdata
def test_ipv6_covers_the_space(iana: IanaSources) -> None:
    v6 = _family(iana, Afi.IPV6)
    assert len(v6) == 131
    assert all(b.resource.is_cidr for b in v6)
    rir = _at(v6, "2001:600::/23")
    assert (rir.resource, rir.holder, rir.status) == (
        Resource.parse("2001:600::/23"),
        "ripencc",
        "allocated",
    )
    iana_own = _at(v6, "2001::/23")
    assert (iana_own.holder, iana_own.status) == ("iana", "allocated")
    six_to_four = _at(v6, "2002::/16")
    assert (six_to_four.status, six_to_four.holder, six_to_four.iana_status) == (
        "reserved",
        "ietf",
        "ALLOCATED",
    )
    assert (_at(v6, "2d00::/8").status, _at(v6, "2d00::/8").holder) == ("reserved", "iana")
    pool = _at(v6, "2001:1000::/23")
    assert (pool.resource, pool.status, pool.holder) == (
        Resource.parse("2001:1000::/23"),
        "available",
        "",
    )
    assert pool.source.startswith("ipv6-address-space.xml:")
    assert (_at(v6, "ff00::/8").status, _at(v6, "ff00::/8").holder) == ("reserved", "ietf")
    assert Counter(b.status for b in v6) == {
        Status.AVAILABLE: 61,
        Status.RESERVED: 35,
        Status.ALLOCATED: 35,
    }


@pytest.mark.realdata
def test_asn_blocks(iana: IanaSources) -> None:
    asn = _family(iana, Afi.ASN)
    assert len(asn) == 173
    assert _at(asn, "AS3333").holder == "ripencc"
    zero = _at(asn, "AS0")
    assert (zero.resource, zero.status, zero.holder) == (Resource.parse("AS0"), "reserved", "ietf")
    assert _at(asn, "AS23456").designation == "AS_TRANS"
    assert _at(asn, "AS1").resource == Resource.parse("AS1-AS1876")
    assert _at(asn, "AS1").whois == "whois.arin.net"
    assert _at(asn, "AS65552").resource == Resource.parse("AS65552-AS131071")
    assert _at(asn, "AS404381").status == "available"
    # the 32-bit table's "0-65535 See Sub-registry" pointer leaves no block of its own
    assert not [b for b in asn if b.designation.startswith("See Sub-registry")]
    assert Counter(b.status for b in asn) == {
        Status.ALLOCATED: 159,
        Status.RESERVED: 9,
        Status.AVAILABLE: 5,
    }


@pytest.mark.realdata
def test_every_family_is_partitioned(iana: IanaSources) -> None:
    assert [b.resource.afi for b in iana.blocks] == sorted(b.resource.afi for b in iana.blocks)
    for afi in Afi:
        check_partition(_family(iana, afi), afi)
        assert sum(b.resource.size for b in _family(iana, afi)) == afi.max_value + 1


@pytest.mark.realdata
def test_single_file_parsers_agree_with_loader(shared_data: Path, iana: IanaSources) -> None:
    d = shared_data / "iana"
    assert parse_ipv4_address_space(d / "ipv4-address-space.xml") == _family(iana, Afi.IPV4)
    assert parse_as_numbers(d / "as-numbers.xml") == _family(iana, Afi.ASN)
    v6 = parse_ipv6_space(d / "ipv6-unicast-address-assignments.xml", d / "ipv6-address-space.xml")
    assert v6 == _family(iana, Afi.IPV6)


def _special(iana: IanaSources, text: str) -> SpecialPurposeBlock:
    (found,) = [s for s in iana.specials if s.resource == Resource.parse(text)]
    return found


@pytest.mark.realdata
def test_special_purpose_blocks(iana: IanaSources) -> None:
    private = _special(iana, "10.0.0.0/8")
    assert (private.name, private.rfc, private.allocation_date) == (
        "Private-Use",
        "rfc1918",
        "19960201",
    )
    assert (private.globally_reachable, private.reserved_by_protocol) == (False, False)
    doc6 = _special(iana, "2001:db8::/32")
    assert (doc6.name, doc6.rfc) == ("Documentation", "rfc3849")
    doc_asn = _special(iana, "AS64496-AS64511")
    assert doc_asn.rfc == "rfc5398"
    assert doc_asn.name == "For documentation and sample code; reserved by RFC5398"
    assert doc_asn.globally_reachable is None
    # footnote mark in the address cell, and a cell with two prefixes
    assert _special(iana, "192.0.0.0/24").name == "IETF Protocol Assignments"
    nat64 = [s for s in iana.specials if s.name == "NAT64/DNS64 Discovery"]
    assert [str(s.resource) for s in nat64] == ["192.0.0.170/32", "192.0.0.171/32"]
    assert nat64[0].rfc == "rfc8880,rfc7050"
    assert _special(iana, "2001::/32").globally_reachable is None  # IANA writes N/A
    assert _special(iana, "192.88.99.0/24").reserved_by_protocol is None  # deprecated, empty
    assert Counter(s.resource.afi for s in iana.specials) == {
        Afi.IPV4: 26,
        Afi.IPV6: 25,
        Afi.ASN: 9,
    }
    # separate from the partition: 192.0.2.0/24 sits in a LEGACY /8
    assert _at(_family(iana, Afi.IPV4), "192.0.2.0/24").iana_status == "LEGACY"


@pytest.mark.realdata
def test_special_parsers_read_file_order(shared_data: Path) -> None:
    d = shared_data / "iana"
    assert str(parse_ipv4_special(d / "iana-ipv4-special-registry.xml")[0].resource) == "0.0.0.0/8"
    assert str(parse_ipv6_special(d / "iana-ipv6-special-registry.xml")[0].resource) == "::1/128"
    assert str(parse_as_special(d / "iana-as-numbers-special-registry.xml")[1].resource) == "AS112"


@pytest.mark.realdata
def test_updated_dates(iana: IanaSources, shared_data: Path) -> None:
    assert iana.updated == {
        "as-numbers.xml": "20260601",
        "ipv4-address-space.xml": "20251010",
        "ipv6-unicast-address-assignments.xml": "20251010",
        "ipv6-address-space.xml": "20251023",
        "iana-as-numbers-special-registry.xml": "20150807",
        "iana-ipv4-special-registry.xml": "20251009",
        "iana-ipv6-special-registry.xml": "20251009",
    }
    assert registry_updated(shared_data / "iana" / "ipv4-address-space.xml") > "20181013"


@pytest.mark.realdata
def test_erx_transfers(shared_data: Path) -> None:
    path = shared_data / "transfers" / "RIPE-NCC-nro-stats" / "erx-xfr.txt"
    transfers = parse_erx_transfers(path)
    # 3,376 lines = 3 section headings + 3,373 records; the destination counts are of records
    assert len(path.read_text().splitlines()) == 3376
    assert len(transfers) == 3373
    assert Counter(t.new_registry for t in transfers) == {
        RegistryId.ARIN: 3016,
        RegistryId.RIPENCC: 95,
        RegistryId.AFRINIC: 92,
        RegistryId.APNIC: 89,
        RegistryId.LACNIC: 81,
    }
    assert Counter(t.section for t in transfers) == {
        "RIPE to afrinic": 19,
        "APNIC to ARIN": 2,
        "ERX NRO reblance": 3352,
    }
    first = transfers[0]
    assert (str(first.resource), first.new_registry, first.source) == (
        "62.12.96.0/19",
        RegistryId.AFRINIC,
        "erx-xfr.txt:2",
    )


@pytest.mark.realdata
def test_allowed_overlaps(shared_data: Path) -> None:
    rows = parse_allowed_overlaps(
        shared_data / "delegated" / "2019-09-samples" / "allowedlist.main"
    )
    assert len(rows) == 12
    assert {r.registry for r in rows} == {RegistryId.IANA}
    assert {r.holder for r in rows} == {"ietf"}
    assert rows[4].resource == Resource.parse("2001:db8::/32")  # written 2001:0db8::
    assert rows[4].source == "allowedlist.main:5"
    assert len({r.resource for r in rows}) == 7
    assert Resource.parse("AS112") in {r.resource for r in rows}
    assert rows[-1].resource == Resource.parse("2001::/23")


# --- synthetic files ----------------------------------------------------------------------

_HEAD = '<?xml version="1.0"?>\n<registry xmlns="http://www.iana.org/assignments" id="t">\n'


def _xml(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(_HEAD + "<updated>2025-01-02</updated>\n" + body + "</registry>\n")
    return path


def _v4_record(prefix: str, status: str = "RESERVED", date: str = "1981-09") -> str:
    return (
        f"<record>\n<prefix>{prefix}</prefix>\n<designation>Future use</designation>\n"
        f"<date>{date}</date>\n<status>{status}</status>\n</record>\n"
    )


def _asn_record(number: str, description: str) -> str:
    return (
        f"<record>\n<number>{number}</number>\n"
        f"<description>{description}</description>\n</record>\n"
    )


def test_iana_date_pads_the_day() -> None:
    assert iana_date("1981-09") == "19810901"
    assert iana_date("2008-12-03") == "20081203"
    assert iana_date("") == ""
    with pytest.raises(ValueError):
        iana_date("2008-13")


def test_malformed_prefix_names_file_line_and_value(tmp_path: Path) -> None:
    path = _xml(tmp_path, "v4.xml", _v4_record("000/8") + _v4_record("1.0/8"))
    with pytest.raises(SourceFormatError) as info:
        parse_ipv4_address_space(path)
    err = info.value
    assert (err.path, err.line, err.field, err.value) == (str(path), 10, "prefix", "1.0/8")
    assert f"{path}:10" in str(err)


def test_ipv4_gap_names_both_records(tmp_path: Path) -> None:
    body = "".join(_v4_record(f"{n:03d}/8") for n in range(256) if n != 7)
    with pytest.raises(SourceFormatError) as info:
        parse_ipv4_address_space(_xml(tmp_path, "v4.xml", body))
    assert "v4.xml:40" in str(info.value) and "v4.xml:46" in str(info.value)
    assert "gap" in info.value.reason


def test_duplicate_slash8_names_both_records(tmp_path: Path) -> None:
    body = "".join(_v4_record(f"{n:03d}/8") for n in range(256)) + _v4_record("005/8")
    with pytest.raises(SourceFormatError) as info:
        parse_ipv4_address_space(_xml(tmp_path, "v4.xml", body))
    assert "v4.xml:34 and v4.xml:1540 both register 5.0.0.0/8" in str(info.value)
    assert info.value.line == 1540


def test_unknown_status_and_bad_date(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError) as info:
        parse_ipv4_address_space(_xml(tmp_path, "a.xml", _v4_record("000/8", status="FROZEN")))
    assert (info.value.field, info.value.value) == ("status", "FROZEN")
    with pytest.raises(SourceFormatError) as info:
        parse_ipv4_address_space(_xml(tmp_path, "b.xml", _v4_record("000/8", date="1981-13")))
    assert (info.value.field, info.value.value, info.value.line) == ("date", "1981-13", 4)


def test_not_well_formed_xml(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text(_HEAD + "<record>\n<prefix>000/8</prefx>\n</record>\n</registry>\n")
    with pytest.raises(SourceFormatError) as info:
        parse_ipv4_address_space(path)
    assert info.value.line == 4


def test_asn_pointer_is_replaced_by_the_16_bit_table(tmp_path: Path) -> None:
    body = (
        _asn_record("0-65535", "See Sub-registry 16-bit AS numbers")
        + _asn_record("0", "Reserved")
        + _asn_record("1-65535", "Assigned by RIPE NCC")
        + _asn_record("65536-4294967295", "Unallocated")
    )
    blocks = parse_as_numbers(_xml(tmp_path, "as.xml", body))
    assert [(str(b.resource), b.status, b.holder) for b in blocks] == [
        ("AS0", "reserved", "ietf"),
        ("AS1-AS65535", "allocated", "ripencc"),
        ("AS65536-AS4294967295", "available", ""),
    ]


def test_asn_pointer_not_covered_is_a_gap(tmp_path: Path) -> None:
    body = (
        _asn_record("0-65535", "See Sub-registry 16-bit AS numbers")
        + _asn_record("0-100", "Reserved")
        + _asn_record("65536-4294967295", "Unallocated")
    )
    with pytest.raises(SourceFormatError, match="gap"):
        parse_as_numbers(_xml(tmp_path, "as.xml", body))


def test_asn_partial_overlap_names_both_records(tmp_path: Path) -> None:
    body = (
        _asn_record("0-70000", "Reserved")
        + _asn_record("64198-131071", "Assigned by ARIN")
        + _asn_record("131072-4294967295", "Unallocated")
    )
    with pytest.raises(SourceFormatError) as info:
        parse_as_numbers(_xml(tmp_path, "as.xml", body))
    assert "as.xml:4" in str(info.value) and "as.xml:8" in str(info.value)
    assert "partly overlaps" in str(info.value)


def test_asn_bad_number_and_description(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError) as info:
        parse_as_numbers(_xml(tmp_path, "a.xml", _asn_record("1_000", "Reserved")))
    assert (info.value.field, info.value.value) == ("number", "1_000")
    with pytest.raises(SourceFormatError) as info:
        parse_as_numbers(_xml(tmp_path, "b.xml", _asn_record("0-4294967295", "Sold")))
    assert (info.value.field, info.value.value) == ("description", "Sold")


def _block(text: str, source: str) -> IanaBlock:
    return IanaBlock(Resource.parse(text), Status.RESERVED, "ietf", "", "", "", "", (), source)


def test_most_specific_cuts_the_container() -> None:
    blocks = most_specific(
        [_block("AS0-AS99", "f:1"), _block("AS10-AS19", "f:2"), _block("AS50", "f:3")]
    )
    assert [(str(b.resource), b.source) for b in blocks] == [
        ("AS0-AS9", "f:1"),
        ("AS10-AS19", "f:2"),
        ("AS20-AS49", "f:1"),
        ("AS50", "f:3"),
        ("AS51-AS99", "f:1"),
    ]


def test_check_partition_rejects_short_cover() -> None:
    with pytest.raises(SourceFormatError, match="not covered"):
        check_partition([_block("AS0-AS99", "f:1")], Afi.ASN)


def _v6(prefix: str, description: str, status: str = "") -> str:
    status_xml = f"<status>{status}</status>" if status else ""
    return (
        f'<record date="1999-07-01">\n<prefix>{prefix}</prefix>\n'
        f"<description>{description}</description>\n{status_xml}</record>\n"
    )


def test_ipv6_pool_is_what_no_assignment_covers(tmp_path: Path) -> None:
    space = _xml(
        tmp_path,
        "space.xml",
        _v6("::/3", "Reserved by IETF")
        + _v6("2000::/3", "Global Unicast")
        + _v6("4000::/2", "Reserved by IETF")
        + _v6("8000::/1", "Reserved by IETF"),
    )
    unicast = _xml(tmp_path, "unicast.xml", _v6("2400::/12", "APNIC", "ALLOCATED"))
    blocks = parse_ipv6_space(unicast, space)
    apnic = [b for b in blocks if b.holder == "apnic"]
    assert [str(b.resource) for b in apnic] == ["2400::/12"]
    assert apnic[0].date == "19990701"
    pool = [str(b.resource) for b in blocks if b.status is Status.AVAILABLE]
    assert pool == [
        "2000::/6",
        "2410::/12",
        "2420::/11",
        "2440::/10",
        "2480::/9",
        "2500::/8",
        "2600::/7",
        "2800::/5",
        "3000::/4",
    ]


def test_ipv6_unicast_outside_global_unicast(tmp_path: Path) -> None:
    space = _xml(tmp_path, "space.xml", _v6("::/0", "x") + _v6("2000::/3", "Global Unicast"))
    unicast = _xml(tmp_path, "unicast.xml", _v6("4000::/12", "APNIC", "ALLOCATED"))
    with pytest.raises(SourceFormatError) as info:
        parse_ipv6_space(unicast, space)
    assert (info.value.line, info.value.field, info.value.value) == (4, "prefix", "4000::/12")


def _special_record(address: str, reachable: str = "False") -> str:
    return (
        f"<record>\n<address>{address}</address>\n<name>Test</name>\n"
        '<spec><xref type="rfc" data="rfc5737"/></spec>\n<allocation>2010-01</allocation>\n'
        f"<global>{reachable}</global>\n<reserved>False</reserved>\n</record>\n"
    )


def test_special_address_lists_and_footnotes(tmp_path: Path) -> None:
    body = _special_record('192.0.2.0/24 <xref type="note" data="1"/>') + _special_record(
        "198.51.100.0/24 [2], 203.0.113.0/24", reachable="N/A"
    )
    blocks = parse_ipv4_special(_xml(tmp_path, "sp.xml", body))
    assert [str(b.resource) for b in blocks] == [
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
    ]
    assert [b.globally_reachable for b in blocks] == [False, None, None]
    assert blocks[1].source == blocks[2].source == "sp.xml:12"


def test_special_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError) as info:
        parse_ipv4_special(_xml(tmp_path, "a.xml", _special_record("192.0.2.0/33")))
    assert (info.value.line, info.value.field, info.value.value) == (4, "address", "192.0.2.0/33")
    with pytest.raises(SourceFormatError) as info:
        parse_ipv4_special(
            _xml(tmp_path, "b.xml", _special_record("192.0.2.0/24", reachable="Maybe"))
        )
    assert (info.value.field, info.value.value) == ("global", "Maybe")
    with pytest.raises(SourceFormatError, match="expected an ipv4 prefix"):
        parse_ipv4_special(_xml(tmp_path, "c.xml", _special_record("2001:db8::/32")))


def test_registry_updated_missing(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_text(_HEAD + "</registry>\n")
    with pytest.raises(SourceFormatError, match="no <updated>"):
        registry_updated(path)
    assert registry_updated(_xml(tmp_path, "s.xml", "")) == "20250102"


def test_erx_malformed_lines(tmp_path: Path) -> None:
    path = tmp_path / "erx.txt"
    cases = {
        "10.0.0.0 24 256 10.0.0.255 arin\n10.0.1.0 24 512 10.0.2.255 arin\n": (2, "count", "512"),
        "10.0.0.0 24 256 10.0.1.255 arin\n": (1, "end", "10.0.1.255"),
        "10.0.0.1 24 256 10.0.1.0 arin\n": (1, "prefixlen", "24"),
        "10.0.0.x 24 256 10.0.0.255 arin\n": (1, "start", "10.0.0.x"),
        "10.0.0.0 24 256 10.0.0.255 ripe\n": (1, "new-rir", "ripe"),
        "10.0.0.0 24 256 arin\n": (1, "line", "10.0.0.0 24 256 arin"),
    }
    for text, (line, fld, value) in cases.items():
        path.write_text(text)
        with pytest.raises(SourceFormatError) as info:
            parse_erx_transfers(path)
        assert (info.value.line, info.value.field, info.value.value) == (line, fld, value)
        assert f"{path}:{line}" in str(info.value)


def test_erx_sections(tmp_path: Path) -> None:
    path = tmp_path / "erx.txt"
    path.write_text("# A to B\n\n10.0.0.0 8 16777216 10.255.255.255 RIPENCC\n")
    (only,) = parse_erx_transfers(path)
    assert (only.section, only.new_registry, only.source) == (
        "A to B",
        RegistryId.RIPENCC,
        "erx.txt:3",
    )


def test_allowed_overlaps_malformed(tmp_path: Path) -> None:
    path = tmp_path / "allowed"
    path.write_text("iana|ZZ|ipv5|1.2.3.0|256|20150501|reserved|ietf|iana\n")
    with pytest.raises(SourceFormatError) as info:
        parse_allowed_overlaps(path)
    assert (info.value.line, info.value.field, info.value.value) == (1, "type", "ipv5")
    path.write_text("\niana|ZZ|ipv6|2001:db8::1|32|20040701|reserved|ietf|iana\n")
    with pytest.raises(SourceFormatError) as info:
        parse_allowed_overlaps(path)
    assert (info.value.line, info.value.field) == (2, "start")
    path.write_text("iana|ZZ|asn|112|1\n")
    with pytest.raises(SourceFormatError, match="at least 8"):
        parse_allowed_overlaps(path)
