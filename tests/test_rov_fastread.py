"""The bytes-level readers of `onereg rov` give exactly the exact line readers' columns (or their
located error) on a slice of the real 2014 RouteViews table, the real VRP exports and tricky
lines; and they really take the fast path on plain input."""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onereg.rpki import fastread
from onereg.rpki.routes import (
    RovInputError,
    _fast_vrps_csv,
    _VrpBuilder,
    read_binary,
    read_prefix_origin,
    read_prefix_origin_lines,
    read_vrps,
    read_vrps_csv,
    read_vrps_csv_lines,
)
from onereg.rpki.rov_index import PrefixColumns, RouteSet, VrpSet

FIELDS = ("hi", "lo", "length", "extra", "asn")


@pytest.fixture(scope="module")
def table_lines(shared_data: Path) -> list[bytes]:
    """The comment header and 3,000 routes spread over the real table (every 170th line)."""
    path = shared_data / "bgp" / "pyasn-data" / "ipasn_20140513.dat.gz"
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    header = [line for line in lines[:10] if line.startswith(b";")]
    return header + lines[len(header) :: 170][:3000]


def _same_columns(a: PrefixColumns, b: PrefixColumns) -> None:
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        assert np.array_equal(x, y), name


def _same(a: RouteSet | VrpSet, b: RouteSet | VrpSet) -> None:
    _same_columns(a.v4, b.v4)
    _same_columns(a.v6, b.v6)


def _outcome(read: object, path: Path) -> RouteSet | VrpSet | str:
    try:
        return read(path)  # type: ignore[operator,no-any-return]
    except RovInputError as exc:
        return f"error: {exc}"


def test_the_real_table_slice_is_read_fast_to_the_same_columns(
    table_lines: list[bytes], tmp_path: Path
) -> None:
    plain = tmp_path / "table.txt"
    plain.write_bytes(b"".join(table_lines))
    packed = tmp_path / "table.txt.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert fastread.prefix_origin(plain.read_bytes()) is not None  # the fast path was taken
    for path in (plain, packed):
        fast = read_prefix_origin(path)
        assert len(fast.v4) == 3000
        _same(fast, read_prefix_origin_lines(path))
    capped = read_prefix_origin(plain, max_records=120)
    _same(capped, read_prefix_origin_lines(plain, max_records=120))
    assert len(capped) == 120


TRICKY_ROUTES = [
    b"01.2.3.0/24\t1\n",  # leading zero: no address to inet_pton
    b"1.2.3.4/24\t5\n",  # host bits
    b"256.0.0.0/8\t1\n",
    b"1.0.0.0/33\t1\n",
    b"1.0.0.0/24\t4294967296\n",  # AS number out of range
    b"1.0.0.0/24\t99999999999999999999\n",
    b"1.0.0.0/24\t64496_64497\n",  # MOAS: two routes
    b"1.0.0.0/24\t64496,64497\n",  # AS_SET: origin NONE
    b"# a comment inside the data\n",
    b"\n",
    b"1.0.0.0/24\t15169 \n",  # trailing blank
    b"1.0.0.0/24    15169\n",  # spaces, not a tab
    b"2001:db8::/32\t64496\n",
    b"1.0.0.0\t24\t15169\n",  # CAIDA pfx2as
    b"1.0.0.0/24\t00015169\n",
    b"1.0.0.0/24\t12345678901\n",  # 11 digits
    b"1.0.0.0/24\t00\n",
    b"1.0.0.0/24\t0\n",  # AS0: a plain zero is a number
    b"0.0.0.0/0\t15169\n",
    b"1.0.0.0/024\t15169\n",
    b"1.0.0.0/24\t15169\r\n",
    b"1.0.0.0/24\tAS15169\n",
    b"1.0.0.0/24\n",
    b"1.0.0.0/24\t1\t2\n",
    b"1.0.0/24\t1\n",
    b"1.0.0.0.0/24\t1\n",
    b"caf\xc3\xa9\n",
    b"\xff\n",
]


@pytest.mark.parametrize("line", TRICKY_ROUTES, ids=repr)
@pytest.mark.parametrize("where", ["middle", "end"])
def test_a_tricky_table_line_gives_what_the_exact_reader_gives(
    table_lines: list[bytes], tmp_path: Path, line: bytes, where: str
) -> None:
    body = table_lines[:40]
    lines = [*body[:20], line, *body[20:]] if where == "middle" else [*body, line]
    path = tmp_path / "table.txt"
    path.write_bytes(b"".join(lines))
    fast, exact = _outcome(read_prefix_origin, path), _outcome(read_prefix_origin_lines, path)
    if isinstance(exact, str):
        assert fast == exact
    else:
        assert not isinstance(fast, str)
        _same(fast, exact)


def test_a_table_without_a_final_newline_or_header_is_read_fast(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"1.0.0.0/24\t15169\n10.0.0.0/8\t64496")
    assert fastread.prefix_origin(path.read_bytes()) is not None
    routes = read_prefix_origin(path)
    _same(routes, read_prefix_origin_lines(path))
    assert routes.v4.asn.tolist() == [15169, 64496]


def _vrp_csv(table_lines: list[bytes], extra: list[bytes]) -> bytes:
    """An rpki-client style CSV made of the slice's routes, IPv6 rows and `extra` rows."""
    rows = [b"ASN,IP Prefix,Max Length,Trust Anchor\n"]
    for n, line in enumerate(table_lines):
        if line.startswith(b";"):
            continue
        prefix, asn = line.split()
        length = int(prefix.split(b"/")[1])
        rows.append(b"AS%s,%s,%d,ripe\n" % (asn, prefix, min(32, length + n % 3)))
        if n % 500 == 0:
            rows.append(b"AS%s,2001:db8:%x::/48,48,ripe\n" % (asn, n))
    return b"".join(rows[:1000] + extra + rows[1000:])


def test_vrp_csv_from_real_routes_is_read_fast_to_the_same_columns(
    table_lines: list[bytes], tmp_path: Path
) -> None:
    path = tmp_path / "vrps.csv"
    path.write_bytes(_vrp_csv(table_lines, []))
    fast = _fast_vrps_csv(path)
    assert fast is not None and len(fast.v6) >= 5  # IPv6 rows ride along, one by one
    _same(fast, read_vrps_csv_lines(path))
    _same(read_vrps_csv(path), read_vrps_csv_lines(path))


def test_the_real_vrp_exports_read_the_same(shared_data: Path) -> None:
    exports = sorted((shared_data / "rpki" / "vrp-exports").glob("*.csv"))
    assert exports
    for path in exports:
        _same(read_vrps_csv(path), read_vrps_csv_lines(path))
    builder = _VrpBuilder()  # several files: one set, each family in file order
    for path in exports:
        read_vrps_csv_lines(path, builder)
    _same(read_vrps(exports), builder.vrps())


TRICKY_VRPS = [
    b"AS1,1.2.3.4/24,24,ripe\n",  # host bits
    b"AS1,1.0.0.0/24,23,ripe\n",  # maxLength below the length
    b"AS1,1.0.0.0/24,33,ripe\n",
    b"AS4294967296,1.0.0.0/24,24,ripe\n",
    b"AS1,01.0.0.0/24,24,ripe\n",
    b"AS01,1.0.0.0/24,24,ripe\n",
    b"AS1,1.0.0.0/24,024,ripe\n",
    b"AS00000000001,1.0.0.0/24,24,ripe\n",
    b"AS12345678901,1.0.0.0/24,24,ripe\n",
    b"AS0,0.0.0.0/0,0,ripe\n",
    b"1,1.0.0.0/24,24,ripe\n",  # a bare number: another shape of an IPv4 row
    b"as1,1.0.0.0/24,24,ripe\n",
    b"AS1.5,1.0.0.0/24,24,ripe\n",  # asdot
    b"AS1,1.0.0.0/24,24\n",  # a column short
    b"AS1,1.0.0.0/24\n",  # too few columns
    b"AS1, 1.0.0.0/24,24,ripe\n",
    b'AS1,1.0.0.0/24,24,"ripe"\n',
    b"AS1,1.0.0.0/24,24,ripe\r\n",
    b"\n",
    b"AS1,2001:db8::/129,129,ripe\n",
    b"AS1,not-a-prefix,24,ripe\n",
]


@pytest.mark.parametrize("line", TRICKY_VRPS, ids=repr)
def test_a_tricky_vrp_row_gives_what_the_exact_reader_gives(
    table_lines: list[bytes], tmp_path: Path, line: bytes
) -> None:
    path = tmp_path / "vrps.csv"
    path.write_bytes(_vrp_csv(table_lines[:1500], [line]))
    fast, exact = _outcome(read_vrps_csv, path), _outcome(read_vrps_csv_lines, path)
    if isinstance(exact, str):
        assert fast == exact
    else:
        assert not isinstance(fast, str)
        _same(fast, exact)


def _plain_by_search(text: bytes) -> bool:
    """The reference rule `fastread._written_plainly` counts its way to: no digit run with a
    leading zero, none longer than 10 digits."""
    return re.search(rb"(?<![0-9])0[0-9]|[0-9]{11}", text) is None


@given(
    st.lists(
        st.tuples(st.sampled_from(["", "0", "00", "000"]), st.integers(0, 10**12)),
        min_size=1,
        max_size=30,
    )
)
@settings(max_examples=300, deadline=None)
def test_the_counted_number_check_agrees_with_searching_the_runs(
    runs: list[tuple[str, int]],
) -> None:
    text = " ".join(f"{zeros}{value}" for zeros, value in runs).encode() + b"\n"
    numbers = fastread.Lines(text).numbers(len(runs))
    assert (numbers is not None) == _plain_by_search(text)
    if numbers is not None:
        assert numbers.ravel().tolist() == [value for _, value in runs]


def test_a_leading_zero_or_long_run_anywhere_sends_the_numbers_to_the_exact_reader() -> None:
    plain = fastread.Lines(b"1.0.0.0/24 0\n0.0.0.0/0 4294967295\n")
    assert plain.numbers(6) is not None
    for body in (b"01.0.0.0/24 1\n", b"1.0.0.0/24 1\n1.0.0.0/24 00\n", b"1.0.0.0/24 99999999999\n"):
        assert fastread.Lines(body).numbers(6) is None, body


def _mismatched_line_by_line(lines: fastread.Lines, expected: bytes) -> list[int] | None:
    """The reference for `Lines.mismatched`: every line's signature compared on its own (the
    callers hand it whole lines; a cut-off last line is left to the exact reader)."""
    if lines.signature and not lines.signature.endswith(b"\n"):
        return None
    rows = lines.signature.split(b"\n")[:-1]
    return [index for index, row in enumerate(rows) if row != expected]


@given(
    st.lists(
        st.sampled_from([b"1.2", b"10.20", b"1", b"1.2.3", b"a.1", b"", b"3.4 5", b"1/2", b"a.a"]),
        min_size=1,
    ),
    st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_the_mismatch_finder_agrees_with_comparing_each_line(
    rows: list[bytes], final_newline: bool
) -> None:
    lines = fastread.Lines(b"\n".join(rows) + (b"\n" if final_newline else b""))
    expected = fastread.coded(b"d.d")
    assert lines.mismatched(expected) == _mismatched_line_by_line(lines, expected)


@pytest.mark.parametrize("module", [gzip, bz2, lzma], ids=lambda m: m.__name__)
def test_a_compressed_file_is_read_whole_or_refused_as_cut_off(
    table_lines: list[bytes], tmp_path: Path, module: Any
) -> None:
    """`read_binary` decompresses in one call (gzip members one after another, as a stream
    reader would), and a file cut anywhere is refused with its name, never half read."""
    body = b"".join(table_lines)
    packed = module.compress(body[:20_000]) + module.compress(body[20_000:])
    path = tmp_path / "table"
    path.write_bytes(packed)
    assert read_binary(path) == body
    with module.open(path, "rb") as stream:
        assert stream.read() == body
    for cut in (len(packed) // 3, len(packed) - 1):
        path.write_bytes(packed[:cut])
        with pytest.raises(RovInputError, match=r"table:end: file is truncated or corrupt"):
            read_binary(path)
