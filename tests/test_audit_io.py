"""The audit's input and output at their edges: the NRO combined file line by line (REFERENCE.md
2.2) from a view built in memory, and the view read from tiny nodes (a few records each): every
column, the cache reused while the log head is unchanged and rebuilt when it moves, and a cache
that is stale, tampered with, of another shape or under a key others could write ignored."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import shutil
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

import onereg.audit.view as view_module
from onereg.audit.nro import export_nro
from onereg.audit.view import (
    AFIS,
    CACHE_VERSION,
    Family,
    FederationView,
    Recorded,
    RegistryView,
    Special,
    load_view,
)
from onereg.core.registries import RegistryId
from onereg.federation.authority import AuthorityBlock, AuthorityMap
from onereg.federation.importer import import_delegated_file, import_iana
from onereg.federation.layout import DataDir

AFRINIC, RIPE = RegistryId.AFRINIC, RegistryId.RIPENCC


def v4(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def v6(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


# --- the NRO combined file, from a view built in memory ------------------------------------------

TODAY = "20261128"


def _block(afi: str, first: int, last: int, holder: str, status: str, date: str) -> AuthorityBlock:
    return AuthorityBlock(afi, first, last, holder, status, status, date, "test")


def _family(rows: list[tuple[int, int, str, str | None, str, str]]) -> Family:
    fam = Family()
    for start, end, status, holder, cc, date in rows:
        fam.starts.append(start)
        fam.ends.append(end)
        fam.statuses.append(status)
        fam.holders.append(holder)
        fam.ccs.append(cc)
        fam.dates.append(date)
    return fam


def _nro_view() -> FederationView:
    blocks = [
        _block("asn", 0, 0, "ietf", "reserved", "20000101"),
        _block("asn", 36864, 37887, "afrinic", "allocated", "20050801"),
        _block("ipv4", v4("0.0.0.0"), v4("0.255.255.255"), "", "available", ""),
        _block("ipv4", v4("10.0.0.0"), v4("10.255.255.255"), "ietf", "reserved", "19950601"),
        _block("ipv4", v4("41.0.0.0"), v4("41.255.255.255"), "afrinic", "allocated", "20050405"),
        _block("ipv4", v4("42.0.0.0"), v4("42.255.255.255"), "afrinic", "allocated", "20100701"),
        _block("ipv4", v4("62.0.0.0"), v4("62.255.255.255"), "ripencc", "allocated", "19970401"),
        _block(
            "ipv6",
            v6("2001:db8::"),
            v6("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
            "ietf",
            "reserved",
            "20040701",
        ),
        _block(
            "ipv6",
            v6("2c0f:f000::"),
            v6("2c0f:f001:ffff:ffff:ffff:ffff:ffff:ffff"),
            "afrinic",
            "allocated",
            "20061003",
        ),
        _block(
            "ipv6", v6("4000::"), v6("7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "", "available", ""
        ),
    ]
    afrinic = {
        "asn": _family(
            [
                (36864, 36865, "assigned", "A7", "ZA", "20100101"),
                (37000, 37000, "allocated", "A8", "MU", "20110101"),
            ]
        ),
        "ipv4": _family(
            [
                (v4("10.1.0.0"), v4("10.1.0.255"), "allocated", "A0", "ZA", "20100101"),  # kept
                (v4("41.0.0.0"), v4("41.0.255.255"), "allocated", "A1", "ZA", "20050101"),
                (v4("41.1.0.0"), v4("41.1.0.255"), "reserved", None, "", ""),
                (v4("41.2.0.0"), v4("41.2.0.255"), "available", None, "", ""),
                (v4("41.10.0.0"), v4("41.10.0.255"), "assigned", None, "KE", "20100102"),
            ]
        ),
        "ipv6": _family(
            [  # three /34s: a /33 and a /34 in the file
                (
                    v6("2c0f:f000::"),
                    v6("2c0f:f000:bfff:ffff:ffff:ffff:ffff:ffff"),
                    "allocated",
                    "A6",
                    "ZA",
                    "20100103",
                ),
            ]
        ),
    }
    ripe = {
        "asn": Family(),
        "ipv4": _family(
            [
                (v4("41.200.0.0"), v4("41.200.0.255"), "allocated", "R1", "DE", "20120101"),
                (v4("62.0.0.0"), v4("62.0.255.255"), "allocated", "R2", "NL", "19970402"),
            ]
        ),
        "ipv6": Family(),
    }
    rirs = {
        AFRINIC: RegistryView(AFRINIC, afrinic, "20261127", "f", 3, {}),
        RIPE: RegistryView(RIPE, ripe, "20261127", "f", 2, {}),
    }
    return FederationView(rirs, AuthorityMap(blocks), [], {})


NRO_LINES = [
    "2|nro|20261128|25|19821213|20261128|+0000",
    "nro|*|asn|*|5|summary",
    "nro|*|ipv4|*|14|summary",
    "nro|*|ipv6|*|6|summary",
    "iana|ZZ|asn|0|1|20000101|reserved|ietf|iana",
    "afrinic|ZA|asn|36864|2|20100101|assigned|A7|e-stats",
    "afrinic|ZZ|asn|36866|134|20261128|available|afrinic|e-stats",
    "afrinic|MU|asn|37000|1|20110101|assigned|A8|e-stats",
    "afrinic|ZZ|asn|37001|887|20261128|available|afrinic|e-stats",
    "iana|ZZ|ipv4|0.0.0.0|16777216|00000000|ianapool|iana|iana",
    "iana|ZZ|ipv4|10.0.0.0|16777216|19950601|reserved|ietf|iana",
    "afrinic|ZA|ipv4|41.0.0.0|65536|20050101|assigned|A1|e-stats",
    "afrinic|ZZ|ipv4|41.1.0.0|256|20261128|reserved|afrinic|e-stats",
    "afrinic|ZZ|ipv4|41.1.1.0|65280|20261128|available|afrinic|e-stats",
    "afrinic|ZZ|ipv4|41.2.0.0|256|20261128|available|afrinic|e-stats",
    "afrinic|ZZ|ipv4|41.2.1.0|524032|20261128|available|afrinic|e-stats",
    "afrinic|KE|ipv4|41.10.0.0|256|20100102|assigned||e-stats",
    "afrinic|ZZ|ipv4|41.10.1.0|12451584|20261128|available|afrinic|e-stats",
    "ripencc|DE|ipv4|41.200.0.0|256|20120101|assigned|R1|e-stats",
    "afrinic|ZZ|ipv4|41.200.1.0|3669760|20261128|available|afrinic|e-stats",
    "afrinic|ZZ|ipv4|42.0.0.0|16777216|20261128|available|afrinic|e-stats",
    "ripencc|NL|ipv4|62.0.0.0|65536|19970402|assigned|R2|e-stats",
    "ripencc|ZZ|ipv4|62.1.0.0|16711680|20261128|available|ripencc|e-stats",
    "iana|ZZ|ipv6|2001:db8::|32|20040701|reserved|ietf|iana",
    "afrinic|ZA|ipv6|2c0f:f000::|33|20100103|assigned|A6|e-stats",
    "afrinic|ZA|ipv6|2c0f:f000:8000::|34|20100103|assigned|A6|e-stats",
    "afrinic|ZZ|ipv6|2c0f:f000:c000::|34|20261128|available|afrinic|e-stats",
    "afrinic|ZZ|ipv6|2c0f:f001::|32|20261128|available|afrinic|e-stats",
    "iana|ZZ|ipv6|4000::|2|00000000|ianapool|iana|iana",
]


def test_the_nro_file_line_by_line() -> None:
    """Header and the three summaries, then records by type and start: RIR records normalised
    (allocated -> assigned; reserved and available get ZZ, today and the RIR's name), a record in
    space IANA kept dropped for IANA's own row, IANA's pool as `ianapool`, space IANA gave that
    nobody lists as the RIR's `available` (cut along IANA's blocks, another RIR's record inside
    left out), IPv4 as address counts, IPv6 as CIDR prefixes."""
    assert list(export_nro(_nro_view(), today=TODAY)) == NRO_LINES


def test_a_record_partly_in_space_iana_kept_keeps_the_rest() -> None:
    """IANA wins where it kept the space (REFERENCE.md 2.2); the rest of the record stays the
    RIR's, on both sides of IANA's block (before the fix the whole record was dropped)."""
    kept = [
        _block("ipv4", v4("10.0.0.0"), v4("10.255.255.255"), "ietf", "reserved", "19950601"),
        _block("ipv6", v6("2001:db8::"), v6("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), "ietf",
               "reserved", "20040701"),
    ]  # fmt: skip
    families = {
        "asn": Family(),
        "ipv4": _family(
            [(v4("9.255.255.0"), v4("11.0.0.255"), "allocated", "A9", "ZA", "20100101")]
        ),
        "ipv6": _family(
            [
                (
                    v6("2001:db8::"),
                    v6("2001:db9:ffff:ffff:ffff:ffff:ffff:ffff"),
                    "reserved",
                    None,
                    "",
                    "",
                )
            ]
        ),
    }
    rirs = {AFRINIC: RegistryView(AFRINIC, families, "20261127", "f", 1, {})}
    lines = list(export_nro(FederationView(rirs, AuthorityMap(kept), [], {}), today=TODAY))
    assert lines[1:] == [
        "nro|*|asn|*|0|summary",
        "nro|*|ipv4|*|3|summary",
        "nro|*|ipv6|*|2|summary",
        "afrinic|ZA|ipv4|9.255.255.0|256|20100101|assigned|A9|e-stats",
        "iana|ZZ|ipv4|10.0.0.0|16777216|19950601|reserved|ietf|iana",
        "afrinic|ZA|ipv4|11.0.0.0|256|20100101|assigned|A9|e-stats",
        "iana|ZZ|ipv6|2001:db8::|32|20040701|reserved|ietf|iana",
        "afrinic|ZZ|ipv6|2001:db9::|32|20261128|reserved|afrinic|e-stats",
    ]


def test_the_nro_file_matches_the_published_field_layout(shared_data: Path) -> None:
    """Nine fields per record and the extension words of the published combined files; the
    record count in the header is the number of records."""
    lines = list(export_nro(_nro_view(), today=TODAY))
    header = lines[0].split("|")
    assert len(header) == 7 and header[3] == str(len(lines) - 4)
    for line in lines[4:]:
        fields = line.split("|")
        assert len(fields) == 9 and fields[8] in ("e-stats", "iana")
        assert fields[6] in ("assigned", "available", "reserved", "ianapool")
        assert len(fields[5]) == 8 and fields[5].isdigit()
    # IANA's own published file uses the same registry, cc and type columns.
    published = (shared_data / "iana" / "delegated-iana-extended.txt").read_text().splitlines()
    ietf = next(x for x in published if x.startswith("iana|ZZ|ipv4|10.0.0.0|"))
    assert ietf.split("|")[:5] == lines[10].split("|")[:5]


def test_the_nro_file_is_dated_today_in_utc_by_default() -> None:
    before = datetime.now(UTC).strftime("%Y%m%d")
    lines = list(export_nro(_nro_view()))
    after = datetime.now(UTC).strftime("%Y%m%d")
    day = lines[0].split("|")[2]
    assert day in (before, after)
    assert lines[0] == f"2|nro|{day}|25|19821213|{day}|+0000"
    assert f"afrinic|ZZ|asn|36866|134|{day}|available|afrinic|e-stats" in lines


def test_the_default_day_is_utcs_not_the_local_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a zone whose date differs from UTC's right now, the file still carries UTC's date."""
    now = datetime.now(UTC)
    # UTC+14 is a day ahead from 10:00 UTC on, UTC-12 a day behind until 12:00 UTC (POSIX
    # zone strings: no tz database needed).
    zone = "<+14>-14" if now.hour >= 10 else "<-12>+12"
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        local = datetime.now().strftime("%Y%m%d")
        lines = list(export_nro(FederationView({}, AuthorityMap([]), [], {})))
        after = datetime.now(UTC).strftime("%Y%m%d")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert local not in (now.strftime("%Y%m%d"), after)  # the zone does differ
    assert lines[0].split("|")[2] in (now.strftime("%Y%m%d"), after)


def test_an_empty_federation_gives_a_header_and_three_empty_summaries() -> None:
    empty = FederationView({}, AuthorityMap([]), [], {})
    assert list(export_nro(empty, today=TODAY)) == [
        "2|nro|20261128|0|19821213|20261128|+0000",
        "nro|*|asn|*|0|summary",
        "nro|*|ipv4|*|0|summary",
        "nro|*|ipv6|*|0|summary",
    ]


# --- the view, read from tiny nodes --------------------------------------------------------------

RECORDS = [
    "afrinic|ZA|asn|36864|2|20100101|assigned|H1",
    "afrinic|MU|asn|36870|3|20100105|assigned|H2",
    "afrinic|ZA|ipv4|41.0.0.0|1024|20100102|allocated|H1",
    "afrinic|KE|ipv4|41.0.4.0|256|20100103|assigned|H2",
    "afrinic|ZZ|ipv4|41.0.5.0|256||available|",
    "afrinic|ZA|ipv6|2c0f:f000::|32|20100104|allocated|H2",
]


def _file(directory: Path, lines: list[str], name: str = "a", registry: str = "afrinic") -> Path:
    path = directory / name / f"delegated-{registry}-extended-latest"
    path.parent.mkdir(parents=True)
    head = f"2.3|{registry}|20200102|{len(lines)}|19700101|20200101|+0000"
    path.write_text("\n".join([head, *lines]) + "\n")
    return path


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    """An AFRINIC node of five records (no IANA node)."""
    data = DataDir(tmp_path / "data")
    import_delegated_file(data, _file(tmp_path, RECORDS), None)
    return data


def test_the_view_has_every_column_of_every_record(data: DataDir) -> None:
    view = load_view(data, details=True)
    assert list(view.rirs) == [AFRINIC]
    rv = view.rirs[AFRINIC]
    assert rv.registry is AFRINIC and rv.records == 6 and rv.holders == 2
    assert rv.as_of == "20200101"  # the end date of the file, not its serial
    assert rv.source == "delegated-afrinic-extended-latest"
    assert rv.cross == []
    fams = rv.families
    assert list(fams) == list(AFIS)
    assert (fams["asn"].starts, fams["asn"].ends) == ([36864, 36870], [36865, 36872])
    ipv4 = fams["ipv4"]
    assert ipv4.starts == [v4("41.0.0.0"), v4("41.0.4.0"), v4("41.0.5.0")]
    assert ipv4.ends == [v4("41.0.3.255"), v4("41.0.4.255"), v4("41.0.5.255")]
    assert ipv4.statuses == ["allocated", "assigned", "available"]
    assert ipv4.holders == ["H1", "H2", None]
    assert ipv4.ccs == ["ZA", "KE", "ZZ"]
    assert ipv4.dates[:2] == ["20100102", "20100103"]
    assert fams["ipv6"].starts == [v6("2c0f:f000::")]
    assert fams["ipv6"].ends == [v6("2c0f:f000:ffff:ffff:ffff:ffff:ffff:ffff")]
    assert (fams["ipv6"].ccs, fams["ipv6"].dates) == (["ZA"], ["20100104"])
    assert rv.totals == {
        "asn": {"assigned": 5},  # two records: 2 + 3 AS numbers
        "ipv4": {"allocated": 1024, "assigned": 256, "available": 256},
        "ipv6": {"allocated": 1 << 96},
    }
    assert rv.label("ipv4", 1) == "afrinic 41.0.4.0/24 assigned (H2)"
    assert rv.label("ipv4", 2) == "afrinic 41.0.5.0/24 available (registry pool)"
    # no IANA node: no authority, no special-purpose blocks, no dates of IANA's registries
    assert not view.authority and view.specials == [] and view.iana_updated == {}


def test_a_node_with_no_file_imported_has_no_date_or_source(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    data.open_for_write(AFRINIC, create=True).close()
    rv = load_view(data).rirs[AFRINIC]
    assert (rv.as_of, rv.source, rv.records, rv.holders, rv.totals) == ("", "", 0, 0, {})


def test_without_details_there_are_no_countries_or_dates(data: DataDir) -> None:
    plain = load_view(data).rirs[AFRINIC].families
    assert all(fam.ccs == [] and fam.dates == [] for fam in plain.values())
    assert plain["ipv4"].holders == ["H1", "H2", None]
    # the cache of the plain view is not taken for a detailed one, nor the other way round
    detailed = load_view(data, details=True).rirs[AFRINIC].families
    assert detailed["ipv4"].ccs == ["ZA", "KE", "ZZ"]
    again = load_view(data).rirs[AFRINIC].families
    assert again["ipv4"].ccs == []


def _no_sqlite_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("read from SQLite, not from the cache")

    for name in ("_families", "_recorded", "_as_of"):
        monkeypatch.setattr(view_module, name, refuse)


@pytest.mark.parametrize("details", [False, True])
def test_an_unchanged_node_is_read_from_the_cache_exactly(
    data: DataDir, monkeypatch: pytest.MonkeyPatch, details: bool
) -> None:
    first = load_view(data, details=details).rirs[AFRINIC]
    _no_sqlite_reads(monkeypatch)
    cached = load_view(data, details=details).rirs[AFRINIC]
    assert cached == first
    assert cached.families["ipv6"].starts == [v6("2c0f:f000::")]  # beyond 64 bits, exact
    assert cached.totals["ipv6"] == {"allocated": 1 << 96}
    assert cached.as_of == "20200101" and cached.holders == 2


def test_the_cache_keeps_small_numbers_as_json_numbers_and_ipv6_as_hex(data: DataDir) -> None:
    load_view(data)
    raw = (data.root / "cache" / "afrinic.audit.json").read_bytes()
    body = orjson.loads(raw.partition(b"\n")[2])
    assert body["families"]["ipv4"]["starts"] == {
        "int": [v4("41.0.0.0"), v4("41.0.4.0"), v4("41.0.5.0")]
    }
    assert body["families"]["asn"]["ends"] == {"int": [36865, 36872]}
    assert body["families"]["ipv6"]["starts"] == {"hex": [hex(v6("2c0f:f000::"))]}


def test_a_node_that_moved_is_read_again(data: DataDir, tmp_path: Path) -> None:
    assert load_view(data).rirs[AFRINIC].records == 6
    import_delegated_file(data, _file(tmp_path, [RECORDS[0], RECORDS[2]], name="b"), None)
    moved = load_view(data).rirs[AFRINIC]
    assert moved.records == 2 and moved.totals == {
        "asn": {"assigned": 2},
        "ipv4": {"allocated": 1024},
    }
    assert load_view(data).rirs[AFRINIC] == moved  # and that is cached in turn


def _key(data: DataDir) -> bytes:
    return (data.root / "cache" / "audit.key").read_bytes()


def _sign(data: DataDir, header: dict[str, object], body: bytes, key: bytes | None = None) -> None:
    """Write a cache file as `_write_cache` would, under the real key (or `key`)."""
    text = orjson.dumps(header, option=orjson.OPT_SORT_KEYS)
    mac = hmac.new(key or _key(data), text + b"\n" + body, hashlib.sha256).hexdigest()
    signed = orjson.dumps({**header, "mac": mac}, option=orjson.OPT_SORT_KEYS)
    (data.root / "cache" / "afrinic.audit.json").write_bytes(signed + b"\n" + body)


def _cached(data: DataDir) -> tuple[dict[str, object], bytes]:
    raw = (data.root / "cache" / "afrinic.audit.json").read_bytes()
    header, _, body = raw.partition(b"\n")
    doc = orjson.loads(header)
    del doc["mac"]
    return doc, body


def test_a_validly_signed_cache_is_used_and_its_content_trusted(data: DataDir) -> None:
    """The control for the refusals below: the same forgery with the right header is taken."""
    load_view(data)
    header, body = _cached(data)
    _sign(data, header, body.replace(b'"H2"', b'"H9"'))
    assert load_view(data).rirs[AFRINIC].families["ipv4"].holders == ["H1", "H9", None]


@pytest.mark.parametrize(
    "change",
    [
        {"version": CACHE_VERSION - 1},
        {"registry": "ripencc"},
        {"size": 1},
        {"head": "00" * 32},
        {"details": True},
        {"extra": 1},
    ],
)
def test_a_signed_cache_of_another_head_version_or_registry_is_ignored(
    data: DataDir, change: dict[str, object]
) -> None:
    load_view(data)
    header, body = _cached(data)
    _sign(data, {**header, **change}, body.replace(b'"H2"', b'"H9"'))
    assert load_view(data).rirs[AFRINIC].families["ipv4"].holders == ["H1", "H2", None]


def test_the_cache_header_names_the_head_it_was_made_from(data: DataDir) -> None:
    load_view(data)
    header, _ = _cached(data)
    with data.read(AFRINIC) as node:
        size, head = node.head()
    assert header == {
        "version": CACHE_VERSION,
        "size": size,
        "head": head.hex(),
        "details": False,
        "registry": "afrinic",
    }


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw.replace(b'"H2"', b'"H9"'),  # content changed under the same MAC
        lambda raw: raw[:-5],  # truncated body
        lambda raw: b"not json\n" + raw.partition(b"\n")[2],
        lambda raw: b"[1, 2]\n" + raw.partition(b"\n")[2],  # a header that is no object
        lambda raw: b"",
        lambda raw: raw.partition(b"\n")[0],  # no body
    ],
)
def test_a_damaged_cache_is_ignored_and_replaced(data: DataDir, damage: object) -> None:
    load_view(data)
    path = data.root / "cache" / "afrinic.audit.json"
    good = path.read_bytes()
    path.write_bytes(damage(good))  # type: ignore[operator]
    assert load_view(data).rirs[AFRINIC].families["ipv4"].holders == ["H1", "H2", None]
    assert path.read_bytes() == good  # written again from SQLite


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b"[]",
        b'{"families": [], "totals": {}, "cross": [], "as_of": "", "source": "", "holders": 0}',
        b'{"families": {}, "totals": [], "cross": [], "as_of": "", "source": "", "holders": 0}',
        b'{"families": {}, "totals": {}, "cross": {}, "as_of": "", "source": "", "holders": 0}',
        b'{"families": {"ipv4": {"starts": {"int": [1, 2]}, "ends": {"int": [1]}, "statuses":'
        b' [], "holders": [], "ccs": [], "dates": []}}, "totals": {}, "cross": [], "as_of": "",'
        b' "source": "", "holders": 0}',
        b'{"families": {"ipv4": {"starts": {"int": [1]}, "ends": {"int": [1]}, "statuses":'
        b' [], "holders": [], "ccs": [], "dates": []}}, "totals": {}, "cross": [], "as_of": "",'
        b' "source": "", "holders": 0}',
        b'{"families": {}, "totals": {}, "cross": [], "as_of": "", "source": "", "holders": "x"}',
        b'{"families": {}, "totals": {"ipv4": {"allocated": "zz"}}, "cross": [], "as_of": "",'
        b' "source": "", "holders": 0}',
    ],
)
def test_a_signed_cache_of_the_wrong_shape_is_ignored(data: DataDir, body: bytes) -> None:
    """Signed with our key and the right header, yet not a view: read from SQLite instead."""
    load_view(data)
    header, _ = _cached(data)
    _sign(data, header, body)
    assert load_view(data).rirs[AFRINIC].records == 6


def test_a_well_formed_signed_cache_is_read_column_by_column(data: DataDir) -> None:
    load_view(data)
    header, _ = _cached(data)
    body = {
        "families": {
            "ipv4": {
                "starts": {"int": [1, 5]},
                "ends": {"int": [2, 6]},
                "statuses": ["allocated", "assigned"],
                "holders": ["X", None],
                "ccs": ["NL", "DE"],
                "dates": ["20000101", "20000102"],
            },
            "ipv6": {
                "starts": {"hex": ["0x10"]},
                "ends": {"hex": ["0xff"]},
                "statuses": ["allocated"],
                "holders": ["Y"],
                "ccs": [],
                "dates": [],
            },
        },
        "as_of": "20010101",
        "source": "somewhere",
        "holders": 7,
        "totals": {"ipv4": {"allocated": "0x2", "assigned": "0x10"}},
        "cross": [["ipv4", "0x1", "0x2", "ripencc", "legacy"]],
    }
    _sign(data, header, orjson.dumps(body))
    got = load_view(data).rirs[AFRINIC]
    assert got == RegistryView(
        AFRINIC,
        {
            "ipv4": _family(
                [
                    (1, 2, "allocated", "X", "NL", "20000101"),
                    (5, 6, "assigned", None, "DE", "20000102"),
                ]
            ),
            "ipv6": Family([16], [255], ["allocated"], ["Y"], [], []),
        },
        "20010101",
        "somewhere",
        7,
        {"ipv4": {"allocated": 2, "assigned": 16}},
        [Recorded("ipv4", 1, 2, "ripencc", "legacy")],
    )


def test_a_header_without_its_mac_is_ignored(data: DataDir) -> None:
    load_view(data)
    header, body = _cached(data)
    path = data.root / "cache" / "afrinic.audit.json"
    path.write_bytes(orjson.dumps(header) + b"\n" + body.replace(b'"H2"', b'"H9"'))
    assert _holders(data) == ["H1", "H2", None]


def test_the_mac_covers_the_header_whatever_the_order_of_its_keys(
    data: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MAC is over the canonical (sorted) header, so the same header written in another
    key order is the same header."""
    first = load_view(data).rirs[AFRINIC]
    path = data.root / "cache" / "afrinic.audit.json"
    line, _, body = path.read_bytes().partition(b"\n")
    doc = orjson.loads(line)
    reordered = orjson.dumps(dict(reversed(list(doc.items()))))
    assert reordered != line
    path.write_bytes(reordered + b"\n" + body)
    _no_sqlite_reads(monkeypatch)
    assert load_view(data).rirs[AFRINIC] == first


def test_a_cache_folder_others_may_enter_but_not_write_is_trusted(
    data: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_view(data).rirs[AFRINIC]
    os.chmod(data.root / "cache", 0o755)
    _no_sqlite_reads(monkeypatch)
    assert load_view(data).rirs[AFRINIC] == first


def test_a_leftover_partial_file_is_overwritten_not_appended_to(
    data: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = data.root / "cache"
    cache.mkdir(mode=0o700)
    (cache / f"afrinic.audit.json.{os.getpid()}.tmp").write_bytes(b"x" * 100_000)
    first = load_view(data).rirs[AFRINIC]
    _no_sqlite_reads(monkeypatch)
    assert load_view(data).rirs[AFRINIC] == first


def test_a_symlink_planted_at_the_partial_files_name_is_not_followed(
    data: DataDir, tmp_path: Path
) -> None:
    cache = data.root / "cache"
    cache.mkdir(mode=0o700)
    target = tmp_path / "victim"
    target.write_bytes(b"precious")
    (cache / f"afrinic.audit.json.{os.getpid()}.tmp").symlink_to(target)
    assert _holders(data) == ["H1", "H2", None]  # the audit goes on without its cache
    assert target.read_bytes() == b"precious"
    assert not (cache / "afrinic.audit.json").exists()


def test_the_key_is_made_once_private_and_32_bytes(data: DataDir) -> None:
    load_view(data)
    path = data.root / "cache" / "audit.key"
    key = path.read_bytes()
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    (data.root / "cache" / "afrinic.audit.json").unlink()
    load_view(data)
    assert path.read_bytes() == key
    assert (data.root / "cache" / "afrinic.audit.json").exists()
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")


def _forge(data: DataDir) -> None:
    """A cache signed with the current key file's content that says H9."""
    header, body = _cached(data)
    _sign(data, header, body.replace(b'"H2"', b'"H9"'), key=_key(data))


def _holders(data: DataDir) -> list[str | None]:
    return load_view(data).rirs[AFRINIC].families["ipv4"].holders


@pytest.mark.parametrize(
    "weaken",
    [
        lambda cache: os.chmod(cache / "audit.key", 0o640),  # the group can read the key
        lambda cache: os.chmod(cache / "audit.key", 0o604),
        lambda cache: os.chmod(cache, 0o720),  # the group can write the folder
        lambda cache: os.chmod(cache, 0o702),
        pytest.param(
            lambda cache: os.chown(cache / "audit.key", 4321, -1),  # someone else's key
            marks=ROOT_ONLY,
        ),
        pytest.param(lambda cache: os.chown(cache, 4321, -1), marks=ROOT_ONLY),  # their folder
        lambda cache: (cache / "audit.key").write_bytes(b"k" * 31),  # not a key we made
        lambda cache: (cache / "audit.key").write_bytes(b"k" * 33),
    ],
)
def test_a_cache_under_a_key_others_could_know_is_ignored(data: DataDir, weaken: object) -> None:
    load_view(data)
    cache = data.root / "cache"
    weaken(cache)  # type: ignore[operator]
    _forge(data)
    planted = (cache / "afrinic.audit.json").read_bytes()
    assert _holders(data) == ["H1", "H2", None]
    # and no cache is written under that key (nor a new key made beside it)
    assert (cache / "afrinic.audit.json").read_bytes() == planted
    assert sorted(p.name for p in cache.iterdir()) == ["afrinic.audit.json", "audit.key"]


def test_a_key_file_that_is_a_symlink_is_not_followed(data: DataDir, tmp_path: Path) -> None:
    load_view(data)
    cache = data.root / "cache"
    elsewhere = tmp_path / "key"
    elsewhere.write_bytes(_key(data))
    os.chmod(elsewhere, 0o600)
    (cache / "audit.key").unlink()
    (cache / "audit.key").symlink_to(elsewhere)
    _forge(data)
    assert _holders(data) == ["H1", "H2", None]


def test_a_missing_key_is_made_again_and_old_cache_files_are_not_trusted(data: DataDir) -> None:
    load_view(data)
    cache = data.root / "cache"
    _forge(data)
    (cache / "audit.key").unlink()
    assert _holders(data) == ["H1", "H2", None]  # no key when reading: nothing is trusted
    key = _key(data)  # made when the view was written
    assert len(key) == 32
    assert _holders(data) == ["H1", "H2", None]


def test_a_key_made_by_a_concurrent_audit_is_the_one_used(
    data: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another audit creates the key between our look and our create: we sign with theirs."""
    theirs = b"t" * 32
    real = os.urandom

    def racing(n: int) -> bytes:
        key = data.root / "cache" / "audit.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, theirs)
        os.close(fd)
        return real(n)

    monkeypatch.setattr(os, "urandom", racing)
    first = load_view(data).rirs[AFRINIC]
    monkeypatch.setattr(os, "urandom", real)
    assert _key(data) == theirs
    _no_sqlite_reads(monkeypatch)
    assert load_view(data).rirs[AFRINIC] == first  # the cache verifies under their key


def test_an_unwritable_cache_does_not_stop_the_audit(data: DataDir) -> None:
    cache = data.root / "cache"
    cache.mkdir(mode=0o700)
    (cache / "afrinic.audit.json").mkdir()  # the file's name is taken by a folder
    assert _holders(data) == ["H1", "H2", None]
    assert _holders(data) == ["H1", "H2", None]


def test_the_audit_runs_with_the_collector_paused(
    data: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    seen: list[bool] = []
    real = view_module._registry_view

    def spy(*args: object) -> RegistryView:
        seen.append(gc.isenabled())
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(view_module, "_registry_view", spy)
    assert gc.isenabled()
    load_view(data)
    assert seen == [False] and gc.isenabled()


def test_an_iana_node_with_nothing_imported_gives_an_empty_authority(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    data.open_for_write(RegistryId.IANA, create=True).close()
    view = load_view(data)
    assert view.rirs == {} and not view.authority
    assert (view.specials, view.iana_updated) == ([], {})


# --- with IANA's real registries ------------------------------------------------------------------


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """IANA's registries (read in place), an AFRINIC and a RIPE NCC node of a few records."""
    root = tmp_path_factory.mktemp("fed")
    data = DataDir(root / "data")
    import_iana(data, shared_data / "iana")
    import_delegated_file(data, _file(root, [RECORDS[0], RECORDS[2]]), None)
    ripe = [
        "ripencc|DE|ipv4|41.1.0.0|256|20100101|allocated|R1",  # in AFRINIC's 41/8
        "ripencc|NL|ipv4|193.0.0.0|256|20100101|allocated|R2",
    ]
    import_delegated_file(data, _file(root, ripe, name="r", registry="ripencc"), None)
    return root / "data"


def _copy(federation: Path, tmp_path: Path) -> DataDir:
    """A fresh copy, so that no test sees another's cache."""
    shutil.copytree(federation, tmp_path / "data", ignore=shutil.ignore_patterns("cache"))
    return DataDir(tmp_path / "data")


def test_cross_holdings_specials_and_ianas_dates_are_in_the_view(
    federation: Path, tmp_path: Path, shared_data: Path
) -> None:
    data = _copy(federation, tmp_path)
    view = load_view(data)
    assert list(view.rirs) == [AFRINIC, RIPE]  # the order of RIRS, absent nodes left out
    assert view.rirs[RIPE].cross == [
        Recorded("ipv4", v4("41.1.0.0"), v4("41.1.0.255"), "afrinic", "inter-rir")
    ]
    assert view.rirs[AFRINIC].cross == []
    private = Special("ipv4", v4("10.0.0.0"), v4("10.255.255.255"), "Private-Use", "rfc1918")
    assert private in view.specials
    assert view.specials == sorted(view.specials, key=lambda s: (s.afi, s.start))
    assert all(s.rfc for s in view.specials)
    assert view.iana_updated["as-numbers.xml"] == "20260601"
    assert view.iana_updated["iana-ipv4-special-registry.xml"] == "20251009"
    block = view.authority.pieces("ipv4", v4("41.0.0.0"), v4("41.0.0.0"))[0].block
    assert block.holder == "afrinic"
    cached = load_view(data)
    assert cached.rirs == view.rirs and cached.specials == view.specials
