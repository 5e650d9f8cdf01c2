"""Route origin validation (RFC 6811): the cases by hand, the fast path against a naive
transcription, and the readers on the real BGP and VRP files in ../shared/data."""

from __future__ import annotations

import gzip
import io
import ipaddress
import json
import re
import signal
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onereg.rpki.routes import (
    RovInputError,
    origin_of_path,
    read_bgpdump,
    read_mrt,
    read_prefix_origin,
    read_routes,
    read_vrps,
    read_vrps_csv,
    read_vrps_json,
    sniff_route_format,
)
from onereg.rpki.rov import (
    RovResult,
    RovRow,
    State,
    rov_command,
    summary_rows,
    validate_reference,
    validate_routes,
    write_csv,
    write_csv_columns,
    write_json,
    write_json_columns,
)
from onereg.rpki.rov_index import (
    ORIGIN_NONE,
    CoverIndex,
    PrefixColumns,
    PrefixError,
    VrpTuple,
    ipv4_cover_pairs,
    parse_asn,
    parse_prefix,
    routes_from_tuples,
    vrps_from_tuples,
)

Route = tuple[str, int | None]


def one(vrps: list[VrpTuple], route: Route) -> RovRow:
    rows = list(validate_routes(vrps, [route]).rows())
    assert len(rows) == 1
    return rows[0]


# --- RFC 6811 by hand -------------------------------------------------------------------------

VRP_24 = (64496, "192.0.2.0/24", 24)
VRP_16_20 = (64496, "10.0.0.0/16", 20)


def test_valid_exact() -> None:
    row = one([VRP_24], ("192.0.2.0/24", 64496))
    assert (row.state, row.reason, row.vrps) == (State.VALID, "", (VRP_24,))


def test_valid_more_specific_within_max_length() -> None:
    row = one([VRP_16_20], ("10.0.16.0/20", 64496))
    assert row.state is State.VALID


def test_invalid_origin() -> None:
    row = one([VRP_24], ("192.0.2.0/24", 64497))
    assert (row.state, row.reason, row.vrps) == (State.INVALID, "as", (VRP_24,))


def test_invalid_too_specific() -> None:
    row = one([VRP_16_20], ("10.0.1.0/24", 64496))
    assert (row.state, row.reason) == (State.INVALID, "length")


def test_not_found_outside_and_less_specific() -> None:
    # A VRP more specific than the route does not cover it (RFC 6811 "covered" is one-way).
    assert one([VRP_24], ("192.0.3.0/24", 64496)).state is State.NOT_FOUND
    row = one([VRP_24], ("192.0.0.0/22", 64496))
    assert (row.state, row.vrps) == (State.NOT_FOUND, ())


def test_multiple_covering_one_matches_is_valid() -> None:
    vrps = [
        (64497, "10.0.0.0/8", 8),  # covers, wrong AS
        (64496, "10.0.0.0/16", 16),  # covers, right AS, too short
        (64496, "10.0.0.0/20", 24),  # matches
        (64498, "10.0.0.0/24", 24),  # covers, wrong AS
    ]
    row = one(vrps, ("10.0.0.0/24", 64496))
    assert (row.state, row.vrps) == (State.VALID, ((64496, "10.0.0.0/20", 24),))


def test_multiple_covering_none_matches_lists_all() -> None:
    vrps = [(64497, "10.0.0.0/8", 8), (64496, "10.0.0.0/16", 16), (64498, "10.0.0.0/24", 32)]
    row = one(vrps, ("10.0.0.0/24", 64496))
    assert row.state is State.INVALID
    assert row.reason == "length"  # the origin's own VRP exists but is too short
    assert set(row.vrps) == set(vrps)


def test_same_prefix_two_origins() -> None:
    vrps = [(64496, "192.0.2.0/24", 24), (64497, "192.0.2.0/24", 24)]
    assert one(vrps, ("192.0.2.0/24", 64497)).state is State.VALID
    assert one(vrps, ("192.0.2.0/24", 64498)).state is State.INVALID


def test_as0_never_validates() -> None:
    as0 = (0, "192.0.2.0/24", 32)
    row = one([as0], ("192.0.2.0/25", 0))
    assert (row.state, row.reason, row.vrps) == (State.INVALID, "as", (as0,))
    assert one([as0, (64496, "192.0.2.0/24", 24)], ("192.0.2.0/24", 64496)).state is State.VALID


def test_origin_none_is_invalid_when_covered() -> None:
    assert one([VRP_24], ("192.0.2.0/24", None)).state is State.INVALID
    assert one([VRP_24], ("198.51.100.0/24", None)).state is State.NOT_FOUND


def test_ipv6_and_families_do_not_mix() -> None:
    vrps = [(64496, "2001:db8::/32", 48), (64497, "::/0", 0), (64498, "0.0.0.0/0", 0)]
    assert one(vrps, ("2001:db8:1::/48", 64496)).state is State.VALID
    assert one(vrps, ("2001:db8:1::/49", 64496)).reason == "length"
    row = one(vrps, ("2001:db9::/32", 64496))
    assert row.state is State.INVALID and row.vrps == ((64497, "::/0", 0),)
    assert one([vrps[0]], ("32.1.13.184/32", 64496)).state is State.NOT_FOUND


def test_ipv6_longer_than_64_bits() -> None:
    vrp = (64496, "2001:db8::1:0/112", 128)
    assert one([vrp], ("2001:db8::1:5/128", 64496)).state is State.VALID
    assert one([vrp], ("2001:db8::2:5/128", 64496)).state is State.NOT_FOUND
    assert one([vrp], ("2001:db8::1:0/112", 64497)).state is State.INVALID


def test_default_route_and_host_route() -> None:
    vrps = [(64496, "0.0.0.0/0", 32)]
    assert one(vrps, ("0.0.0.0/0", 64496)).state is State.VALID
    assert one(vrps, ("203.0.113.7/32", 64496)).state is State.VALID


def test_summary_and_outputs() -> None:
    vrps = [VRP_24, VRP_16_20, (64496, "2001:db8::/32", 32)]
    routes: list[Route] = [
        ("192.0.2.0/24", 64496),
        ("192.0.2.0/24", 64497),
        ("10.0.0.0/24", 64496),
        ("198.51.100.0/24", 64496),
        ("2001:db8::/32", 64496),
    ]
    result = validate_routes(vrps, routes)
    summary = result.summary()
    assert summary["ipv4"] == {
        "routes": 4,
        "valid": 1,
        "invalid": 2,
        "invalid_as": 1,
        "invalid_length": 1,
        "not_found": 1,
    }
    assert summary["ipv6"]["valid"] == 1 and summary["total"]["routes"] == 5
    table = summary_rows(result)
    assert table[0][0] == "family" and [r[0] for r in table[1:]] == ["ipv4", "ipv6", "total"]
    text = io.StringIO()
    assert write_csv(result.rows(), text) == 5
    lines = text.getvalue().splitlines()
    assert lines[0] == "prefix,origin,state,reason,vrps"
    assert lines[1] == "192.0.2.0/24,64496,valid,,AS64496:192.0.2.0/24-24"
    assert lines[3] == "10.0.0.0/24,64496,invalid,length,AS64496:10.0.0.0/16-20"
    raw = io.BytesIO()
    write_json(result, raw)
    doc = json.loads(raw.getvalue())
    assert doc["summary"]["total"]["routes"] == 5
    assert doc["routes"][1] == {
        "prefix": "192.0.2.0/24",
        "origin": 64497,
        "state": "invalid",
        "reason": "as",
        "vrps": [{"asn": 64496, "prefix": "192.0.2.0/24", "max_length": 24}],
    }


# --- the fast path against the naive reference -------------------------------------------------


@st.composite
def prefixes(draw: st.DrawFn, v6: bool) -> str:
    """Prefixes packed into a small space (2001:db8::/32, 10.0.0.0/7) so that VRPs
    and routes overlap often, with lengths on both sides of 64 for IPv6."""
    if v6:
        length = draw(st.sampled_from([0, 16, 29, 30, 32, 33, 48, 63, 64, 65, 96, 127, 128]))
        value = (0x20010DB8 << 96) | draw(st.integers(0, 7)) << 93 | draw(st.integers(0, 3)) << 62
        value |= draw(st.integers(0, 3)) << 30 | draw(st.integers(0, 1))
        return str(ipaddress.IPv6Network((value, 128)).supernet(new_prefix=length))
    length = draw(st.integers(0, 32))
    value = (10 << 24) | draw(st.integers(0, 1)) << 24 | draw(st.integers(0, 15)) << 12
    value |= draw(st.integers(0, 3)) << 6 | draw(st.integers(0, 1))
    return str(ipaddress.IPv4Network((value, 32)).supernet(new_prefix=length))


asns = st.sampled_from([0, 64496, 64497, 4_200_000_000])
route_asns = st.sampled_from([64496, 64497, 4_200_000_000])


@st.composite
def vrp_strategy(draw: st.DrawFn) -> VrpTuple:
    prefix = draw(st.booleans().flatmap(lambda v6: prefixes(v6)))
    length = int(prefix.split("/")[1])
    bits = 128 if ":" in prefix else 32
    maxlen = st.one_of(st.just(bits), st.integers(length, min(bits, length + 8)))
    return draw(asns), prefix, draw(maxlen)


@st.composite
def route_strategy(draw: st.DrawFn) -> Route:
    prefix = draw(st.booleans().flatmap(lambda v6: prefixes(v6)))
    return prefix, draw(st.one_of(st.none(), route_asns, route_asns, route_asns))


@given(
    st.lists(vrp_strategy(), max_size=30),
    st.lists(route_strategy(), min_size=1, max_size=30),
)
def test_fast_path_agrees_with_reference(vrps: list[VrpTuple], routes: list[Route]) -> None:
    ordered = [r for r in routes if ":" not in r[0]] + [r for r in routes if ":" in r[0]]
    expected = validate_reference(vrps, ordered)
    got = list(validate_routes(vrps, ordered).rows())
    assert [(r.prefix, r.origin) for r in got] == ordered
    assert [(r.state, r.reason, frozenset(r.vrps)) for r in got] == expected


def _pairs(found: tuple[object, object]) -> list[tuple[int, int]]:
    routes, vrps = found
    return sorted(zip(routes.tolist(), vrps.tolist(), strict=True))  # type: ignore[attr-defined]


def _same_ipv4_pairs(vrps: PrefixColumns, routes: PrefixColumns) -> int:
    """The VRP-side search finds exactly the pairs of the per-length index, and so does it
    on the routes in reverse order (the unsorted path)."""
    expected = _pairs(CoverIndex(vrps).cover_pairs(routes))
    assert _pairs(ipv4_cover_pairs(vrps, routes)) == expected
    last = len(routes) - 1
    backwards = PrefixColumns(
        4, *(getattr(routes, name)[::-1] for name in ("hi", "lo", "length", "extra", "asn"))
    )
    assert _pairs(ipv4_cover_pairs(vrps, backwards)) == sorted((last - r, v) for r, v in expected)
    return len(expected)


@given(
    st.lists(vrp_strategy(), max_size=30),
    st.lists(route_strategy(), min_size=1, max_size=30),
)
def test_ipv4_pairs_from_the_vrp_side_are_those_of_the_index(
    vrps: list[VrpTuple], routes: list[Route]
) -> None:
    _same_ipv4_pairs(vrps_from_tuples(vrps).v4, routes_from_tuples(routes).v4)


def _csv_by_rows(result: RovResult, only: frozenset[State]) -> str:
    """The reference CSV: the row objects through the csv module."""
    text = io.StringIO()
    write_csv((r for r in result.rows() if not only or r.state in only), text)
    return text.getvalue()


@given(
    st.lists(vrp_strategy(), max_size=30),
    st.lists(route_strategy(), min_size=1, max_size=30),
    st.frozensets(st.sampled_from(list(State))),
)
def test_csv_and_json_from_columns_are_those_of_the_rows(
    vrps: list[VrpTuple], routes: list[Route], only: frozenset[State]
) -> None:
    ordered = [r for r in routes if ":" not in r[0]] + [r for r in routes if ":" in r[0]]
    result = validate_routes(vrps, ordered)
    fast = io.StringIO()
    written = write_csv_columns(result, fast, only)
    expected = _csv_by_rows(result, only)
    assert fast.getvalue() == expected
    assert written == expected.count("\n") - 1
    fast_json = io.BytesIO()
    written = write_json_columns(result, fast_json, only)
    reference = io.BytesIO()
    rows = [r for r in result.rows() if not only or r.state in only]
    assert written == write_json(result, reference, rows) == len(rows)
    assert fast_json.getvalue() == reference.getvalue()


@given(st.lists(st.booleans().flatmap(prefixes), min_size=1, max_size=40))
def test_prefixes_at_once_are_the_prefixes_one_by_one(texts: list[str]) -> None:
    extremes = ["0.0.0.0/0", "255.255.255.255/32", "10.0.0.0/8", "::/0"]
    columns = vrps_from_tuples([(64496, t, int(t.split("/")[1])) for t in texts + extremes])
    for family in (columns.v4, columns.v6):
        assert family.prefixes() == [family.prefix(i) for i in range(len(family))]
        assert family.prefixes() == [str(ipaddress.ip_network(p)) for p in family.prefixes()]


# --- parsing and bad input ---------------------------------------------------------------------


def test_parse_prefix_and_asn() -> None:
    assert parse_prefix("192.0.2.0/24") == (4, 0xC0000200, 24)
    assert parse_prefix("2001:db8::/32")[2] == 32
    for bad in ("192.0.2.1/24", "192.0.2.0", "192.0.2/24", "192.0.2.0/33", "2001:db8::/129"):
        with pytest.raises(PrefixError, match=re.escape(repr(bad))):
            parse_prefix(bad)
    assert parse_asn("AS64496") == parse_asn("64496") == parse_asn(64496) == 64496
    assert parse_asn("1.10") == 65546
    for bad_asn in ("AS-1", "4294967296", "x", "1.70000"):
        with pytest.raises(PrefixError):
            parse_asn(bad_asn)


def test_tuples_refuse_bad_vrps() -> None:
    with pytest.raises(PrefixError, match=r"maxLength 23 outside 24..32"):
        vrps_from_tuples([(64496, "192.0.2.0/24", 23)])
    with pytest.raises(PrefixError, match="#1"):
        vrps_from_tuples([VRP_24, (64496, "192.0.2.0/24", 33)])


def test_origin_of_path() -> None:
    assert origin_of_path("1853 1239 80") == 80
    assert origin_of_path("4777 2516 3549 21877 {4237}") == ORIGIN_NONE
    assert origin_of_path("1 {2,3}") == ORIGIN_NONE
    assert origin_of_path("") == ORIGIN_NONE
    assert origin_of_path("3356 1.10") == 65546


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_prefix_origin_bad_lines_are_located(tmp_path: Path) -> None:
    good = "; comment\n1.0.0.0/24\t15169\n"
    cases = {
        "1.0.0.1/24\t15169": "host bits",
        "1.0.0.0/24\tAS-X": "not an AS number",
        "1.0.0.0/24": "expected",
        "1.0.0.0/40\t1": "length",
        "1.0.0.0/24\t99999999999": "out of range",
    }
    for bad, why in cases.items():
        path = _write(tmp_path, "t.dat", good + bad + "\n")
        with pytest.raises(RovInputError, match=why) as info:
            read_prefix_origin(path)
        assert str(info.value).startswith(f"{path}:3: ")
        assert bad.split("\t")[0] in str(info.value)


def test_prefix_origin_moas_and_as_set(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.dat", "1.0.0.0\t24\t1_2\n2.0.0.0/8\t3,4\n2001:db8::/32\t5\n")
    routes = read_prefix_origin(path)
    assert routes.v4.asn.tolist() == [1, 2, ORIGIN_NONE]
    assert routes.v6.asn.tolist() == [5]


def test_bgpdump_bad_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "b.txt", "TABLE_DUMP2|1|B|1.1.1.1|1|10.0.0.0/8|1 x|IGP\n")
    with pytest.raises(RovInputError, match=r"b.txt:1: bad AS_PATH .*'1 x'"):
        read_bgpdump(path)
    path = _write(tmp_path, "b.txt", "BGP4MP|1|W|1.1.1.1|1|10.0.0.0/8\nhello\n")
    with pytest.raises(RovInputError, match=r"b.txt:2: not a bgpdump -m line: 'hello'"):
        read_bgpdump(path)
    path = _write(tmp_path, "b.txt", "TABLE_DUMP2|1|B|1.1.1.1|1|10.0.0.1/8|1 2|IGP\n")
    with pytest.raises(RovInputError, match=r"b.txt:1: host bits"):
        read_bgpdump(path)


def test_vrp_csv_bad_rows(tmp_path: Path) -> None:
    head = "ASN,IP Prefix,Max Length,Trust Anchor,Expires\nAS64496,192.0.2.0/24,24,ta,0\n"
    for bad, why in {
        "AS64496,192.0.2.0/24,23,ta,0": "maxLength 23",
        "AS64496,192.0.2.0/24,x,ta,0": "not a number",
        "ASX,192.0.2.0/24,24,ta,0": "not an AS number",
        "AS64496,192.0.2.0/24": "too few columns",
    }.items():
        path = _write(tmp_path, "v.csv", head + bad + "\n")
        with pytest.raises(RovInputError, match=why) as info:
            read_vrps_csv(path)
        assert str(info.value).startswith(f"{path}:3: ")
    path = _write(tmp_path, "v.csv", "a,b,c\n")
    with pytest.raises(RovInputError, match="header lacks"):
        read_vrps_csv(path)


def test_vrp_json_rpki_client_and_bad(tmp_path: Path) -> None:
    doc = {
        "metadata": {"buildtime": "2024-01-01T00:00:00Z", "vrps": 2},
        "roas": [
            {"asn": 64496, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "ripe", "expires": 1},
            {"asn": "AS64497", "prefix": "2001:db8::/32", "maxLength": 48, "ta": "arin"},
        ],
    }
    path = tmp_path / "vrps.json"
    path.write_bytes(orjson.dumps(doc))
    vrps = read_vrps(path)
    assert (len(vrps.v4), len(vrps.v6)) == (1, 1)
    assert vrps.v6.asn.tolist() == [64497] and vrps.v6.extra.tolist() == [48]
    doc["roas"].append({"asn": 64496, "prefix": "192.0.2.0/24"})  # type: ignore[attr-defined]
    path.write_bytes(orjson.dumps(doc))
    with pytest.raises(RovInputError, match=r"vrps.json:roas\[2\]: VRP needs"):
        read_vrps_json(path)
    path.write_text('{"roas": [\n{"asn": 1,,}\n]}')
    with pytest.raises(RovInputError, match=r"vrps.json:2: not JSON"):
        read_vrps_json(path)


def test_rov_command(tmp_path: Path) -> None:
    vrps = _write(tmp_path, "v.csv", "ASN,IP Prefix,Max Length\nAS64496,192.0.2.0/24,24\n")
    routes = _write(tmp_path, "r.dat", "192.0.2.0/24\t64496\n192.0.2.0/24\t1\n10.0.0.0/8\t1\n")
    out = io.StringIO()
    done = rov_command([vrps], [routes], output="csv", out=out, only=[State.INVALID])
    assert (done.routes_read, done.vrps_read, done.written) == (3, 1, 1)
    assert out.getvalue().splitlines()[1].startswith("192.0.2.0/24,1,invalid,as,")
    assert done.summary[-1] == ("total", 3, 1, 1, 1, 0, 1)
    raw = io.BytesIO()
    rov_command([vrps], [routes], output="json", out=raw)
    assert len(json.loads(raw.getvalue())["routes"]) == 3


def test_rov_command_names_the_bad_file(tmp_path: Path) -> None:
    """A bad file is refused with its file:line, whichever it is; when both are bad the VRP
    file (read first) is named."""
    vrps = _write(tmp_path, "v.csv", "ASN,IP Prefix,Max Length\nAS64496,192.0.2.0/24,24\n")
    routes = _write(tmp_path, "r.dat", "192.0.2.0/24\t64496\n")
    bad_vrps = _write(tmp_path, "bad-v.csv", "ASN,IP Prefix,Max Length\nAS64496,192.0.2.1/24,24\n")
    bad_routes = _write(tmp_path, "bad-r.dat", "192.0.2.0/24\t64496\n192.0.2.0/33\t1\n")
    steps: list[str] = []
    done = rov_command([vrps], [routes], step=steps.append)
    assert done.summary[-1] == ("total", 1, 1, 0, 0, 0, 0)
    assert steps == ["reading VRPs", "reading routes", "validating", "writing rows"]
    for vrp_file, route_file, named in (
        (bad_vrps, routes, "bad-v.csv:2"),
        (vrps, bad_routes, "bad-r.dat:2"),
        (bad_vrps, bad_routes, "bad-v.csv:2"),
    ):
        with pytest.raises(RovInputError) as refused:
            rov_command([vrp_file], [route_file])
        assert named in str(refused.value)


# --- the real files ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bgp(shared_data: Path) -> Path:
    return shared_data / "bgp"


@pytest.mark.realdata
def test_real_2014_table_whole(bgp: Path, shared_data: Path) -> None:
    path = bgp / "pyasn-data" / "ipasn_20140513.dat.gz"
    assert sniff_route_format(path) == "prefix-origin"
    routes = read_routes(path)
    assert (len(routes.v4), len(routes.v6)) == (512_621, 0)
    assert routes.v4.prefix(0) == "1.0.0.0/24" and int(routes.v4.asn[0]) == 15169
    vrps = read_vrps(sorted((shared_data / "rpki" / "vrp-exports").glob("*.csv")))
    assert len(vrps) == 948 + 371
    assert _same_ipv4_pairs(vrps.v4, routes.v4) > 5_000
    result = validate_routes(vrps, routes)
    counts = result.summary()["ipv4"]
    assert counts["routes"] == 512_621
    assert counts["valid"] + counts["invalid"] + counts["not_found"] == 512_621
    assert counts["valid"] > 5_000 and counts["invalid"] > 0
    fast = io.StringIO()  # the CSV the command writes, from the columns, is the rows' CSV
    assert write_csv_columns(result, fast, [State.INVALID]) == counts["invalid"]
    assert fast.getvalue() == _csv_by_rows(result, frozenset([State.INVALID]))
    fast_json, reference = io.BytesIO(), io.BytesIO()
    write_json_columns(result, fast_json, [State.INVALID])
    write_json(result, reference, (r for r in result.rows() if r.state is State.INVALID))
    assert fast_json.getvalue() == reference.getvalue()


@pytest.mark.realdata
def test_real_2015_v4_v6_first_lines(bgp: Path) -> None:
    routes = read_prefix_origin(bgp / "pyasn-data" / "ipasn6_20151101.dat.gz", max_records=2000)
    assert len(routes) == 2000


@pytest.mark.realdata
def test_real_vrp_exports(shared_data: Path) -> None:
    base = shared_data / "rpki" / "vrp-exports"
    lacnic = read_vrps(base / "lacnic-roa-prefixes.csv")
    assert (len(lacnic), len(lacnic.v6)) == (948, 102)
    assert len(set(lacnic.v4.asn.tolist()) | set(lacnic.v6.asn.tolist())) == 149
    ripe = read_vrps(base / "ripe-rrdp-snapshot-2019-roas-decoded.csv")
    assert len(ripe) == 371


@pytest.mark.realdata
def test_real_bgpdump_text_matches_mrt(bgp: Path) -> None:
    """TABLE_DUMP v1 has one MRT record per bgpdump line, so both readers must agree."""
    base = bgp / "bgpdump-test-data"
    n = 1500
    text = read_bgpdump(base / "bview.20020722.2337.gz.bgp.gz", unique=False, max_records=n)
    sigpipe = signal.getsignal(signal.SIGPIPE)
    mrt = read_mrt(base / "bview.20020722.2337.gz", unique=False, max_records=n)
    assert signal.getsignal(signal.SIGPIPE) == sigpipe  # mrtparse's import must not reset it
    assert len(text) == len(mrt) == n
    assert text.v4.prefixes() == mrt.v4.prefixes()
    assert text.v4.asn.tolist() == mrt.v4.asn.tolist()


@pytest.mark.realdata
def test_real_updates_text_and_mrt(bgp: Path) -> None:
    base = bgp / "bgpdump-test-data"
    text_path = base / "updates.20160811.1600.gz.bgp.gz"
    announced = set()
    with gzip.open(text_path, "rt") as f:
        for line in f:
            fields = line.split("|")
            if fields[2] == "A":
                announced.add((fields[5], origin_of_path(fields[6])))
    routes = read_routes(text_path)
    assert len(routes) == len(announced) and len(routes.v6) > 0
    mrt = read_mrt(base / "updates.20160811.1600.gz", max_records=400)
    pairs = {
        (p, o)
        for cols in (mrt.v4, mrt.v6)
        for p, o in zip(cols.prefixes(), cols.asn.tolist(), strict=True)
    }
    assert pairs and pairs <= announced


@pytest.mark.realdata
def test_real_truncated_mrt(bgp: Path, tmp_path: Path) -> None:
    rib = bgp / "pyasn-data" / "rib.20140523.0600_firstMB.bz2"
    assert sniff_route_format(rib) == "mrt"
    routes = read_mrt(rib, max_records=30)  # TABLE_DUMP_V2: peer index table, then RIBs
    assert routes.v4.prefix(0) == "0.0.0.0/0" and len(routes) >= 29
    with gzip.open(bgp / "bgpdump-test-data" / "bview.20020722.2337.gz") as f:
        cut = f.read(5000)
    path = tmp_path / "cut.mrt"
    path.write_bytes(cut)
    with pytest.raises(RovInputError, match=r"cut.mrt:record 85: bad MRT record"):
        read_mrt(path)
    assert len(read_mrt(path, allow_truncated=True)) == 84
