"""Readers for route origin validation input: BGP announcements and VRP exports.

Routes come in three shapes in the wild and in ../shared/data: RouteViews/pyasn prefix->origin
tables (text), `bgpdump -m` pipe text, and raw MRT (RFC 6396) RIB and update dumps. VRPs come
from rpki-client (JSON and CSV; the CSV header is shared with Routinator and the RIPE NCC
validator). Every reader refuses bad input with the file, the line (or MRT record) and the
offending value, because a silently skipped line in a 500,000-line table is never found again.

Origins follow RFC 6811: the last AS of the final AS_SEQUENCE; an AS_PATH that ends in an
AS_SET or a confederation segment, or is empty, has origin NONE (stored as ORIGIN_NONE). A
prefix->origin table writes an AS_SET as "a,b" and multiple origins (MOAS) as "a_b"; the first
gives one route with origin NONE, the second one route per origin.

MRT is parsed with `mrtparse` (pure Python, PyPI, BSD-licensed, the parser the RIPE NCC and
others point to; last release 2.2.0 in 2022 and stable since, supports TABLE_DUMP, TABLE_DUMP_V2
incl. ADD-PATH, BGP4MP/BGP4MP_ET and AS4). The Rust-backed `pybgpkit-parser` is faster and more
active but ships no wheel for this platform, and `pybgpstream` needs the libbgpstream C library.
mrtparse is slow (about 11,000 RIB entries/s), so large dumps are better turned into `bgpdump -m`
text first; `max_records` caps the work for tests.
"""

from __future__ import annotations

import bz2
import csv
import functools
import gzip
import hashlib
import io
import lzma
import signal
import struct
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, cast

import orjson

from onereg.rpki.rov_index import (
    ORIGIN_NONE,
    ColumnBuilder,
    PrefixColumns,
    PrefixError,
    RouteSet,
    VrpSet,
    parse_asn,
    parse_prefix,
    vrp_row,
)

if TYPE_CHECKING:
    from onereg.rpki.colcache import ColumnCache

__all__ = [
    "RovInputError",
    "origin_of_path",
    "read_bgpdump",
    "read_mrt",
    "read_prefix_origin",
    "read_routes",
    "read_vrps",
    "read_vrps_csv",
    "read_vrps_json",
]


class RovInputError(ValueError):
    """Bad input, located: `path:where: why: 'value'`."""

    def __init__(self, path: Path | str, where: int | str, why: str, value: object) -> None:
        self.path = str(path)
        self.where = where
        self.why = why
        self.value = value
        shown = value if isinstance(value, str) else repr(value)
        if isinstance(shown, str) and len(shown) > 200:
            shown = shown[:200] + "..."
        super().__init__(f"{path}:{where}: {why}: {shown!r}")


def open_binary(path: Path) -> IO[bytes]:
    """Open plain, gzip, bzip2 or xz by content, not by name: the shared data names lie
    (`….gz.bgp.gz` is gzip text, `rib….bz2` a cut-off bzip2 stream)."""
    with open(path, "rb") as probe:
        head = probe.read(6)
    if head.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    if head.startswith(b"BZh"):
        return cast(IO[bytes], bz2.open(path, "rb"))
    if head.startswith(b"\xfd7zXZ\x00"):
        return cast(IO[bytes], lzma.open(path, "rb"))
    return open(path, "rb")


# what reading a truncated or corrupt compressed stream raises (gzip, bzip2, xz)
_CORRUPT = (EOFError, OSError, zlib.error, lzma.LZMAError)


_DECOMPRESS: tuple[tuple[bytes, Callable[[bytes], bytes]], ...] = (
    (b"\x1f\x8b", gzip.decompress),
    (b"BZh", bz2.decompress),
    (b"\xfd7zXZ\x00", lzma.decompress),
)


def read_binary(path: Path) -> bytes:
    """The whole file, decompressed (by content, as `open_binary`); RovInputError for a
    truncated or corrupt stream. Decompressed in one call rather than read through a stream
    8 KiB at a time (a few percent less CPU: one buffer, one CRC pass)."""
    with open(path, "rb") as raw:
        data = raw.read()
    for magic, decompress in _DECOMPRESS:
        if data.startswith(magic):
            try:
                return decompress(data)
            except (*_CORRUPT, ValueError) as exc:  # bz2 says a cut-off stream with ValueError
                raise RovInputError(path, "end", "file is truncated or corrupt", str(exc)) from None
    return data


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    with open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline=None)
        try:
            yield from enumerate(text, start=1)
        except UnicodeDecodeError as exc:
            raise RovInputError(path, "?", "not UTF-8 text", str(exc)) from None
        except _CORRUPT as exc:
            raise RovInputError(path, "end", "file is truncated or corrupt", str(exc)) from None


class _RouteBuilder:
    """Both families, with optional de-duplication of (prefix, origin): validity depends on
    nothing else, and a RIB dump repeats each pair once per peer."""

    def __init__(self, unique: bool) -> None:
        self.families = {4: ColumnBuilder(4), 6: ColumnBuilder(6)}
        self.seen: set[tuple[int, int, int]] | None = set() if unique else None

    def add(self, family: int, value: int, length: int, origin: int) -> None:
        if self.seen is not None:
            key = (value if family == 4 else -1 - value, length, origin)
            if key in self.seen:
                return
            self.seen.add(key)
        self.families[family].add(value, length, length, origin)

    def routes(self) -> RouteSet:
        return RouteSet(self.families[4].columns(), self.families[6].columns())


def _origins(field: str) -> list[int]:
    """Origin column of a prefix->origin table: "64496", "64496_64497" (MOAS), "64496,64497"
    (AS_SET -> NONE)."""
    out = []
    for part in field.split("_"):
        if "," in part or part.startswith("{"):
            out.append(ORIGIN_NONE)
        else:
            out.append(int(part) if part.isdigit() and len(part) <= 10 else parse_asn(part))
            if out[-1] > 0xFFFFFFFF:
                raise PrefixError(f"AS number out of range: {part!r}")
    return out


def read_prefix_origin(
    path: Path, *, unique: bool = False, max_records: int | None = None
) -> RouteSet:
    """RouteViews/pyasn `prefix/len<TAB>asn` or CAIDA pfx2as `addr<TAB>len<TAB>asn`; `;` and
    `#` lines are comments. A plain IPv4 table is read at the bytes level (`fastread`), any
    other by the exact line reader, which gives the same columns."""
    if not unique:
        fast = _fast_prefix_origin(path, max_records)
        if fast is not None:
            return fast
    return read_prefix_origin_lines(path, unique=unique, max_records=max_records)


def _fast_prefix_origin(path: Path, max_records: int | None) -> RouteSet | None:
    from onereg.rpki import fastread

    try:
        data = read_binary(path)
    except RovInputError:
        return None  # the line reader says where (and may stop before the damage)
    found = fastread.prefix_origin(data)
    if found is None:
        return None
    values, lengths, origins = (
        found[0][:max_records],
        found[1][:max_records],
        found[2][:max_records],
    )
    import numpy as np

    length = lengths.astype(np.uint8)
    v4 = PrefixColumns(
        4, values, np.zeros(len(values), dtype=np.uint64), length, length.copy(), origins
    )
    return RouteSet(v4, PrefixColumns.empty(6))


def read_prefix_origin_lines(
    path: Path, *, unique: bool = False, max_records: int | None = None
) -> RouteSet:
    """The exact reader of prefix->origin tables, line by line (see `read_prefix_origin`)."""
    builder = _RouteBuilder(unique)
    records = 0
    for n, line in _text_lines(path):
        if not line.strip() or line[0] in ";#":
            continue
        fields = line.split()
        try:
            if len(fields) == 2:
                prefix, origin_field = fields
            elif len(fields) == 3:
                prefix, origin_field = f"{fields[0]}/{fields[1]}", fields[2]
            else:
                raise PrefixError("expected 'prefix asn' or 'address length asn'")
            family, value, length = parse_prefix(prefix)
            origins = _origins(origin_field)
        except PrefixError as exc:
            raise RovInputError(path, n, str(exc), line.rstrip("\n")) from None
        for origin in origins:
            builder.add(family, value, length, origin)
        records += 1
        if max_records is not None and records >= max_records:
            break
    return builder.routes()


def origin_of_path(path_text: str) -> int:
    """Origin AS of a bgpdump AS_PATH string ("1 2 3", "1 2 {3,4}", "1 (65001 65002)")."""
    tokens = path_text.split()
    if not tokens:
        return ORIGIN_NONE
    last = tokens[-1]
    if last[-1] in "})]" or last[0] in "{([":
        return ORIGIN_NONE
    return parse_asn(last)


_TABLE_TYPES = {"TABLE_DUMP", "TABLE_DUMP2", "TABLE_DUMP_V2"}
_UPDATE_TYPES = {"BGP4MP", "BGP4MP_ET"}


def read_bgpdump(path: Path, *, unique: bool = True, max_records: int | None = None) -> RouteSet:
    """`bgpdump -m` text: RIB lines and update announcements ("A"); withdrawals and state
    changes carry no origin and are skipped."""
    builder = _RouteBuilder(unique)
    records = 0
    for n, line in _text_lines(path):
        if not line.strip():
            continue
        fields = line.rstrip("\n").split("|")
        kind = fields[0]
        if kind in _UPDATE_TYPES:
            if len(fields) < 3:
                raise RovInputError(path, n, "short BGP4MP line", line.rstrip("\n"))
            if fields[2] != "A":
                if fields[2] in {"W", "STATE"}:
                    continue
                raise RovInputError(path, n, "unknown BGP4MP line kind", fields[2])
        elif kind not in _TABLE_TYPES:
            raise RovInputError(path, n, "not a bgpdump -m line", line.rstrip("\n"))
        if len(fields) < 7:
            raise RovInputError(path, n, "expected at least 7 '|' fields", line.rstrip("\n"))
        try:
            family, value, length = parse_prefix(fields[5])
        except PrefixError as exc:
            raise RovInputError(path, n, str(exc), fields[5]) from None
        try:
            origin = origin_of_path(fields[6])
        except PrefixError as exc:
            raise RovInputError(path, n, f"bad AS_PATH ({exc})", fields[6]) from None
        builder.add(family, value, length, origin)
        records += 1
        if max_records is not None and records >= max_records:
            break
    return builder.routes()


# MRT (RFC 6396) type and subtype codes, and BGP path attribute codes.
_TABLE_DUMP, _TABLE_DUMP_V2, _BGP4MP, _BGP4MP_ET = 12, 13, 16, 17
_RIB_SUBTYPES = {2, 4, 8, 10}  # RIB_IPV4/IPV6_UNICAST, and their ADD-PATH forms
_UPDATE = 2
_AS_PATH, _MP_REACH, _AS4_PATH = 2, 14, 17
_AS_SEQUENCE = 2


def _code(field: Any) -> int:
    """mrtparse writes enumerated fields as {code: name}."""
    return int(next(iter(field))) if isinstance(field, dict) else int(field)


def _mrt_origin(attributes: Sequence[dict[str, Any]]) -> int:
    """RFC 6811 origin; with AS4_PATH present (a 2-byte session), its tail is the true origin
    (RFC 6793 section 4.2.3 keeps the tail of AS4_PATH when merging)."""
    as_path: list[Any] | None = None
    as4_path: list[Any] | None = None
    for attr in attributes:
        code = _code(attr["type"])
        if code == _AS_PATH:
            as_path = attr["value"]
        elif code == _AS4_PATH:
            as4_path = attr["value"]
    segments = as4_path if as4_path else as_path
    if not segments:
        return ORIGIN_NONE
    last = segments[-1]
    if _code(last["type"]) != _AS_SEQUENCE or not last["value"]:
        return ORIGIN_NONE
    return parse_asn(str(last["value"][-1]))


def _update_prefixes(message: dict[str, Any]) -> Iterator[tuple[str, int]]:
    for nlri in message.get("nlri", []):
        yield nlri["prefix"], int(nlri["length"])
    for attr in message.get("path_attributes", []):
        if _code(attr["type"]) == _MP_REACH and isinstance(attr.get("value"), dict):
            for nlri in attr["value"].get("nlri", []):
                yield nlri["prefix"], int(nlri["length"])


def _mrt_routes(data: dict[str, Any]) -> Iterator[tuple[str, int, int]]:
    kind = _code(data["type"])
    subtype = _code(data["subtype"])
    if kind == _TABLE_DUMP:
        yield data["prefix"], int(data["length"]), _mrt_origin(data["path_attributes"])
    elif kind == _TABLE_DUMP_V2 and subtype in _RIB_SUBTYPES:
        for entry in data["rib_entries"]:
            yield data["prefix"], int(data["length"]), _mrt_origin(entry["path_attributes"])
    elif kind in {_BGP4MP, _BGP4MP_ET} and "bgp_message" in data:
        message = data["bgp_message"]
        if _code(message["type"]) != _UPDATE:
            return
        origin = _mrt_origin(message.get("path_attributes", []))
        for prefix, length in _update_prefixes(message):
            yield prefix, length, origin


def _import_mrtparse() -> Any:
    """mrtparse sets SIGPIPE to its default action when imported (meant for its command-line
    tools), which would let one closed socket kill the whole process (a node, the test run):
    put back what the process had."""
    previous = signal.getsignal(signal.SIGPIPE)
    import mrtparse  # type: ignore[import-untyped]

    if signal.getsignal(signal.SIGPIPE) != previous:
        signal.signal(signal.SIGPIPE, previous)
    return mrtparse


# mrtparse looks unknown type codes up in dicts and reads past short buffers
_MRTPARSE_ERRORS = (KeyError, IndexError, struct.error, zlib.error)


def read_mrt(
    path: Path,
    *,
    unique: bool = True,
    max_records: int | None = None,
    allow_truncated: bool = False,
) -> RouteSet:
    """Raw MRT: TABLE_DUMP, TABLE_DUMP_V2 RIBs and BGP4MP updates (gzip/bzip2 by content).

    `max_records` counts MRT records (a TABLE_DUMP_V2 record holds one prefix for all peers).
    A cut-off file is an error unless `allow_truncated`, because a partial RIB validates to
    plausible-looking but wrong counts.
    """
    mrtparse = _import_mrtparse()
    builder = _RouteBuilder(unique)
    record = 0
    reader = mrtparse.Reader(str(path))
    while max_records is None or record < max_records:
        try:
            entry = next(reader)
        except StopIteration:
            break
        except (EOFError, OSError, ValueError, *_MRTPARSE_ERRORS) as exc:
            if allow_truncated:
                break
            raise RovInputError(
                path, f"record {record + 1}", "truncated or corrupt MRT", str(exc)
            ) from None
        record += 1
        if entry.err:
            if allow_truncated:  # mrtparse reports a cut-off last record this way
                break
            raise RovInputError(path, f"record {record}", "bad MRT record", str(entry.err_msg))
        for prefix, length, origin in _mrt_routes(entry.data):
            try:
                family, value, plen = parse_prefix(f"{prefix}/{length}")
            except PrefixError as exc:
                raise RovInputError(path, f"record {record}", str(exc), prefix) from None
            builder.add(family, value, plen, origin)
    return builder.routes()


_MRT_TYPES = {11, 12, 13, 16, 17, 32, 33, 48, 49}


def sniff_route_format(path: Path) -> Literal["prefix-origin", "bgpdump", "mrt"]:
    """Guess the format from the first bytes, so `onereg rov` needs no format flag."""
    with open_binary(path) as raw:
        try:
            head = raw.read(4096)
        except _CORRUPT:  # the reader that follows says what is wrong with the stream
            head = b""
    if len(head) >= 12 and int.from_bytes(head[4:6], "big") in _MRT_TYPES:
        try:
            head.decode("ascii")
        except UnicodeDecodeError:
            return "mrt"
    for line in head.decode("utf-8", errors="replace").splitlines():
        if line.strip() and line[0] not in ";#":
            return "bgpdump" if "|" in line else "prefix-origin"
    return "prefix-origin"


def _concat(sets: Sequence[RouteSet]) -> RouteSet:
    import numpy as np

    def join(parts: list[PrefixColumns], family: int) -> PrefixColumns:
        if len(parts) == 1:
            return parts[0]
        return PrefixColumns(
            family,
            np.concatenate([p.hi for p in parts]),
            np.concatenate([p.lo for p in parts]),
            np.concatenate([p.length for p in parts]),
            np.concatenate([p.extra for p in parts]),
            np.concatenate([p.asn for p in parts]),
        )

    return RouteSet(join([s.v4 for s in sets], 4), join([s.v6 for s in sets], 6))


def _vrps_as_routes(read: Callable[[Path], VrpSet], path: Path) -> RouteSet:
    """The cache holds two families of columns whatever they mean."""
    vrps = read(path)
    return RouteSet(vrps.v4, vrps.v6)


def _cached(
    cache: ColumnCache | None, reader: str, path: Path, read: Callable[[], RouteSet]
) -> RouteSet:
    """`read()`, or what it gave for these bytes before; only successful reads are kept."""
    if cache is None:
        return read()
    try:
        key = cache.key(f"{reader}\n{_reader_stamp()}", path)
    except OSError:
        return read()  # the reader names the file and what is wrong with it
    found = cache.load(key)
    if found is not None:
        return RouteSet(*found)
    fresh = read()
    cache.store(key, (fresh.v4, fresh.v6), path)
    return fresh


@functools.cache
def _reader_stamp() -> str:
    """A digest of the readers' own code: a cache entry made by other code is never used."""
    from onereg.rpki import colcache, fastread, rov_index

    digest = hashlib.sha256()
    for module in (sys.modules[__name__], fastread, rov_index, colcache):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def read_routes(
    paths: Path | Sequence[Path],
    *,
    fmt: Literal["auto", "prefix-origin", "bgpdump", "mrt"] = "auto",
    max_records: int | None = None,
    allow_truncated: bool = False,
    cache: ColumnCache | None = None,
) -> RouteSet:
    """Read one or more route files, each in its own (sniffed) format, into one set.
    `allow_truncated` only concerns MRT (text readers stop at a cut-off compressed stream
    with an error either way). With a `cache`, a file whose bytes were read before by the
    same reader is loaded from it (`colcache`)."""
    path_list = [paths] if isinstance(paths, Path) else list(paths)
    sets = []
    for path in path_list:
        kind = sniff_route_format(path) if fmt == "auto" else fmt

        def read(path: Path = path, kind: str = kind) -> RouteSet:
            if kind == "mrt":
                return read_mrt(path, max_records=max_records, allow_truncated=allow_truncated)
            if kind == "bgpdump":
                return read_bgpdump(path, max_records=max_records)
            return read_prefix_origin(path, max_records=max_records)

        reader = f"routes {kind} max_records={max_records} truncated={allow_truncated}"
        sets.append(_cached(cache, reader, path, read))
    if not sets:
        raise ValueError("no route files given")
    return _concat(sets)


# --- VRPs -------------------------------------------------------------------------------------


class _VrpBuilder:
    def __init__(self) -> None:
        self.families = {4: ColumnBuilder(4), 6: ColumnBuilder(6)}

    def add(self, path: Path, where: int | str, asn: Any, prefix: Any, maxlen: Any) -> None:
        if not isinstance(prefix, str):
            raise RovInputError(path, where, "prefix is not a string", prefix)
        try:
            family, value, length, max_length, asn_value = vrp_row(asn, prefix, maxlen)
        except PrefixError as exc:
            raise RovInputError(path, where, str(exc), f"{asn},{prefix},{maxlen}") from None
        self.families[family].add(value, length, max_length, asn_value)

    def vrps(self) -> VrpSet:
        return VrpSet(self.families[4].columns(), self.families[6].columns())


_MAXLEN_KEYS = ("maxLength", "max_length", "maxlen", "max-length")


def read_vrps_json(path: Path, builder: _VrpBuilder | None = None) -> VrpSet:
    """rpki-client / Routinator JSON: {"roas": [{"asn": 64496 or "AS64496", "prefix": ...,
    "maxLength": ...}, ...]} (a bare list of such objects is accepted too)."""
    own = builder or _VrpBuilder()
    data = read_binary(path)
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RovInputError(path, exc.lineno, "not JSON", exc.msg) from None
    items = doc.get("roas") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise RovInputError(path, 1, 'no "roas" list', str(type(items).__name__))
    for i, item in enumerate(items):
        where = f"roas[{i}]"
        if not isinstance(item, dict):
            raise RovInputError(path, where, "VRP is not an object", item)
        maxlen = next((item[k] for k in _MAXLEN_KEYS if k in item), None)
        if "asn" not in item or "prefix" not in item or maxlen is None:
            raise RovInputError(path, where, "VRP needs asn, prefix and maxLength", item)
        if isinstance(maxlen, bool) or not isinstance(maxlen, int | str):
            raise RovInputError(path, where, "maxLength is not a number", item)
        own.add(path, where, item["asn"], item["prefix"], maxlen)
    return own.vrps()


_CSV_NAMES = {
    "asn": ("asn", "as", "origin"),
    "prefix": ("ip prefix", "prefix"),
    "maxlen": ("max length", "maxlength", "max_length", "maxlen"),
}


def _csv_columns(path: Path, header: list[str]) -> dict[str, int]:
    """Where ASN, prefix and maxLength are, by the header's names."""
    names = [h.strip().lower() for h in header]
    columns: dict[str, int] = {}
    for key, accepted in _CSV_NAMES.items():
        found = next((names.index(a) for a in accepted if a in names), None)
        if found is None:
            raise RovInputError(path, 1, f"header lacks a {key} column", ",".join(header))
        columns[key] = found
    return columns


def read_vrps_csv(path: Path, builder: _VrpBuilder | None = None) -> VrpSet:
    """VRP CSV with a header naming ASN, IP Prefix and Max Length (rpki-client, Routinator,
    the RIPE NCC validator; other columns such as URI or Trust Anchor are ignored). Plain
    files are read at the bytes level (`fastread`), others by the exact reader below."""
    if builder is None:
        fast = _fast_vrps_csv(path)
        if fast is not None:
            return fast
    return read_vrps_csv_lines(path, builder)


def _fast_vrps_csv(path: Path) -> VrpSet | None:
    """IPv4 rows of one shape at once; the other rows (IPv6, blank) one by one, as the exact
    reader would; None (use the exact reader) for anything else."""
    import numpy as np

    from onereg.rpki import fastread

    try:
        data = read_binary(path)
    except RovInputError:
        return None
    if b'"' in data or b"\r" in data or not data.isascii():
        return None  # quoting, CR line ends, other encodings: the csv module's business
    first_end = data.find(b"\n")
    if first_end < 0:
        return None
    columns = _csv_columns(path, next(csv.reader([data[:first_end].decode()]), []))
    body = data[first_end + 1 :] if data.endswith(b"\n") else data[first_end + 1 :] + b"\n"
    del data  # 28 MB for 10^6 VRPs: its pages serve the arrays that follow
    lines = fastread.Lines(body)
    if not lines.count:
        return None
    shape = fastread.csv_shape(lines.signature[: lines.signature.find(b"\n")], columns)
    if shape is None:
        return None
    signature, at = shape
    others = lines.mismatched(signature)
    if others is None:
        return None
    v6 = _VrpBuilder()
    for index in others:
        row = lines.line(index).decode().split(",")
        if not row or row == [""]:
            continue
        if len(row) <= max(columns.values()):
            return None
        v6.add(
            path,
            index + 2,
            row[columns["asn"]],
            row[columns["prefix"]].strip(),
            row[columns["maxlen"]],
        )
        if v6.families[4].values:
            return None  # an IPv4 row of another shape: keep the file's order, read it exactly
    numbers = lines.numbers(at["runs"], others)
    if numbers is None:
        return None
    asn, octet, maxlen = at["asn"], at["prefix"], at["maxlen"]
    values = fastread.ipv4_columns(numbers[:, octet : octet + 4], numbers[:, octet + 4])
    lengths, maxlens = numbers[:, octet + 4], numbers[:, maxlen]
    if values is None or not fastread.asns_ok(numbers[:, asn]):
        return None
    if bool(np.any((maxlens < lengths) | (maxlens > 32))):
        return None
    v4 = PrefixColumns(
        4,
        values,
        np.zeros(len(values), dtype=np.uint64),
        lengths.astype(np.uint8),
        maxlens.astype(np.uint8),
        numbers[:, asn].copy(),
    )
    return VrpSet(v4, v6.families[6].columns())


def read_vrps_csv_lines(path: Path, builder: _VrpBuilder | None = None) -> VrpSet:
    """The exact VRP CSV reader, row by row (see `read_vrps_csv`)."""
    own = builder or _VrpBuilder()
    with open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            raise RovInputError(path, 1, "empty VRP CSV", "")
        columns = _csv_columns(path, header)
        need = max(columns.values()) + 1
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) < need:
                raise RovInputError(path, reader.line_num, "too few columns", ",".join(row))
            own.add(
                path,
                reader.line_num,
                row[columns["asn"]],
                row[columns["prefix"]].strip(),
                row[columns["maxlen"]],
            )
    return own.vrps()


def read_vrps(
    paths: Path | Sequence[Path],
    *,
    fmt: Literal["auto", "json", "csv"] = "auto",
    cache: ColumnCache | None = None,
) -> VrpSet:
    """Read and merge VRP files; JSON or CSV by name, else by first character. With a
    `cache`, a file whose bytes were read before is loaded from it (`colcache`)."""
    path_list = [paths] if isinstance(paths, Path) else list(paths)
    if not path_list:
        raise ValueError("no VRP files given")
    sets = []
    for path in path_list:
        kind = fmt
        if kind == "auto":
            kind = _sniff_vrp_format(path)
        read = read_vrps_json if kind == "json" else read_vrps_csv
        found = _cached(cache, f"vrps {kind}", path, functools.partial(_vrps_as_routes, read, path))
        sets.append(VrpSet(found.v4, found.v6))
    if len(sets) == 1:
        return sets[0]
    merged = _concat([RouteSet(s.v4, s.v6) for s in sets])  # file order within each family
    return VrpSet(merged.v4, merged.v6)


def _sniff_vrp_format(path: Path) -> Literal["json", "csv"]:
    suffixes = [s.lower() for s in path.suffixes]
    if ".json" in suffixes:
        return "json"
    if ".csv" in suffixes:
        return "csv"
    with open_binary(path) as raw:
        head = raw.read(64).lstrip()
    return "json" if head[:1] in (b"{", b"[") else "csv"


def iter_rows(routes: RouteSet) -> Iterable[tuple[str, int | None]]:
    """(prefix, origin) tuples back out of a route set, e.g. for the reference validator."""
    for cols in (routes.v4, routes.v6):
        for i, origin in enumerate(cols.asn.tolist()):
            yield cols.prefix(i), None if origin == ORIGIN_NONE else origin
