"""The column cache of `onereg rov` (`rpki.colcache`): a cached read gives exactly what the exact
line readers give, on a slice of the real 2014 RouteViews table and VRPs made from it; a changed
file (even with its size and mtime put back) is read again; a damaged entry or one made by other
reader code is not used; and bad input is refused with its file:line whatever the cache holds."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from onereg.rpki import routes
from onereg.rpki.colcache import ColumnCache
from onereg.rpki.routes import (
    RovInputError,
    read_prefix_origin_lines,
    read_routes,
    read_vrps,
    read_vrps_csv_lines,
)
from onereg.rpki.rov_index import RouteSet, VrpSet

FIELDS = ("hi", "lo", "length", "extra", "asn")


@pytest.fixture(scope="module")
def table_bytes(shared_data: Path) -> bytes:
    """The comment header and 2,000 routes spread over the real table (every 250th line)."""
    path = shared_data / "bgp" / "pyasn-data" / "ipasn_20140513.dat.gz"
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    header = [line for line in lines[:10] if line.startswith(b";")]
    return b"".join(header + lines[len(header) :: 250][:2000])


def _vrp_csv(table: bytes) -> bytes:
    """rpki-client style CSV from the slice's routes, with a few IPv6 rows among them."""
    rows = [b"ASN,IP Prefix,Max Length,Trust Anchor\n"]
    for n, line in enumerate(table.splitlines()):
        if line.startswith(b";"):
            continue
        prefix, asn = line.split()
        length = int(prefix.split(b"/")[1])
        rows.append(b"AS%s,%s,%d,ripe\n" % (asn, prefix, min(32, length + n % 3)))
        if n % 400 == 0:
            rows.append(b"AS%s,2001:db8:%x::/48,48,ripe\n" % (asn, n))
    return b"".join(rows)


def _same(a: RouteSet | VrpSet, b: RouteSet | VrpSet) -> None:
    for family in (4, 6):
        x, y = a.family(family), b.family(family)
        for name in FIELDS:
            left, right = getattr(x, name), getattr(y, name)
            assert left.dtype == right.dtype, name
            assert np.array_equal(left, right), name


def _entries(cache: ColumnCache) -> list[Path]:
    return sorted(cache.folder.glob("*.cols"))


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every parser fail, so that only a cache hit can give an answer."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("parsed although the cache holds these bytes")

    for name in ("read_vrps_csv", "read_vrps_json", "read_prefix_origin", "read_bgpdump"):
        monkeypatch.setattr(routes, name, refuse)


def test_a_cached_read_gives_the_exact_readers_columns(
    table_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "table.txt.gz"
    table.write_bytes(gzip.compress(table_bytes))
    vrps = tmp_path / "vrps.csv"
    vrps.write_bytes(_vrp_csv(table_bytes))
    cache = ColumnCache(tmp_path / "cache")
    first_routes, first_vrps = read_routes(table, cache=cache), read_vrps(vrps, cache=cache)
    assert len(_entries(cache)) == 2
    assert stat.S_IMODE(cache.folder.stat().st_mode) == 0o700
    exact_routes, exact_vrps = read_prefix_origin_lines(table), read_vrps_csv_lines(vrps)
    assert len(exact_routes) == 2000 and len(exact_vrps.v6) >= 4
    _same(first_routes, exact_routes)
    _same(first_vrps, exact_vrps)
    with monkeypatch.context() as patched:
        _no_parsing(patched)
        again_routes, again_vrps = read_routes(table, cache=cache), read_vrps(vrps, cache=cache)
        capped_hit = None
        with pytest.raises(AssertionError):  # other options are another entry: parsed again
            capped_hit = read_routes(table, cache=cache, max_records=10)
        assert capped_hit is None
    _same(again_routes, exact_routes)
    _same(again_vrps, exact_vrps)
    again_routes.v4.asn[0] = -5  # what a hit returns is the caller's own, writable copy
    _same(read_routes(table, cache=cache), exact_routes)
    capped = read_routes(table, cache=cache, max_records=10)
    _same(capped, read_prefix_origin_lines(table, max_records=10))


def test_a_changed_file_is_read_again_even_with_its_size_and_mtime_put_back(
    table_bytes: bytes, tmp_path: Path
) -> None:
    vrps = tmp_path / "vrps.csv"
    body = _vrp_csv(table_bytes)
    vrps.write_bytes(body)
    cache = ColumnCache(tmp_path / "cache")
    before = os.stat(vrps)
    read_vrps(vrps, cache=cache)
    row = body.split(b"\n")[5]
    asn = row.split(b",")[0]
    other = (b"AS9" + asn[3:]) if asn[2:3] != b"9" else (b"AS8" + asn[3:])
    changed = body.replace(row, other + row[len(asn) :], 1)
    assert len(changed) == len(body) and changed != body
    vrps.write_bytes(changed)
    os.utime(vrps, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(vrps).st_size == before.st_size
    fresh = read_vrps(vrps, cache=cache)
    _same(fresh, read_vrps_csv_lines(vrps))
    assert int(fresh.v4.asn[4]) == int(other[2:])
    assert len(_entries(cache)) == 2  # one entry per content


def test_bad_input_names_its_line_whatever_the_cache_holds(
    table_bytes: bytes, tmp_path: Path
) -> None:
    vrps = tmp_path / "vrps.csv"
    body = _vrp_csv(table_bytes)
    vrps.write_bytes(body)
    cache = ColumnCache(tmp_path / "cache")
    read_vrps(vrps, cache=cache)
    lines = body.split(b"\n")
    lines[7] = b"AS1,1.2.3.4/24,24,ripe"  # host bits, on line 8
    vrps.write_bytes(b"\n".join(lines))
    for _ in range(2):  # errors are not cached: the second read refuses it the same way
        with pytest.raises(RovInputError, match=r"vrps\.csv:8: host bits set"):
            read_vrps(vrps, cache=cache)
    assert len(_entries(cache)) == 1
    missing = tmp_path / "gone.csv"
    with pytest.raises(FileNotFoundError):
        read_vrps(missing, cache=cache)


def test_a_damaged_entry_or_one_of_other_reader_code_is_not_used(
    table_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "table.txt"
    table.write_bytes(table_bytes)
    cache = ColumnCache(tmp_path / "cache")
    exact = read_prefix_origin_lines(table)
    read_routes(table, cache=cache)
    (entry,) = _entries(cache)
    blob = bytearray(entry.read_bytes())
    blob[-3] ^= 0x01  # one bit of the last origin AS
    entry.write_bytes(bytes(blob))
    _same(read_routes(table, cache=cache), exact)  # a miss, parsed again ...
    assert entry.read_bytes() != bytes(blob)  # ... and the entry rewritten
    entry.write_bytes(b"onereg-columns 1\n" + b"\xff" * 40)
    _same(read_routes(table, cache=cache), exact)
    routes._reader_stamp.cache_clear()
    monkeypatch.setattr(routes, "_reader_stamp", lambda: "other reader code")
    read_routes(table, cache=cache)
    assert len(_entries(cache)) == 2  # not the old entry: a new one beside it


def test_the_cache_keeps_the_entries_used_last(
    table_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ColumnCache(tmp_path / "cache", keep=2)
    lines = table_bytes.splitlines(keepends=True)
    paths = []
    for n in range(3):
        path = tmp_path / f"t{n}.txt"
        path.write_bytes(b"".join(lines[: 20 + n]))
        paths.append(path)
        read_routes(path, cache=cache)
        _same(read_routes(path, cache=cache), read_prefix_origin_lines(path))
        for entry in _entries(cache):  # distinct times whatever the file system's clock grain
            os.utime(entry, ns=(0, entry.stat().st_mtime_ns - 10**9))
    assert len(_entries(cache)) == 2  # t0's entry went when t2's came
    read_routes(paths[1], cache=cache)  # a hit: t1's entry is now the one used last
    extra = tmp_path / "t3.txt"
    extra.write_bytes(b"".join(lines[:30]))
    read_routes(extra, cache=cache)  # t2's entry goes, t1's stays
    with monkeypatch.context() as patched:
        _no_parsing(patched)
        _same(read_routes(paths[1], cache=cache), read_prefix_origin_lines(paths[1]))
        with pytest.raises(AssertionError):
            read_routes(paths[2], cache=cache)
