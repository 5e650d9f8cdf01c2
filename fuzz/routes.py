"""BGP tables for route origin validation (`onereg rov`): RouteViews/pyasn prefix-origin text,
`bgpdump -m` text and raw MRT, plain or compressed, sniffed or named. Operators download these
from RouteViews and RIPE RIS; the readers must refuse a bad file with its place and reason."""

from __future__ import annotations

import bz2
import functools
import gzip
from typing import Literal

from fuzz.harness import SHARED_DATA, Target, scratch_file, select
from onereg.rpki.routes import RovInputError, read_routes

_FORMATS: list[Literal["auto", "prefix-origin", "bgpdump", "mrt"]] = [
    "auto",
    "prefix-origin",
    "bgpdump",
    "mrt",
]
_PREFIX_ORIGIN = b"; comment\n1.0.0.0/24\t13335\n2001:db8::/32\t64496\n10.0.0.0\t8\t64500_64501\n"
_BGPDUMP = (
    b"TABLE_DUMP2|1027380000|B|193.0.0.56|3333|3.0.0.0/8|3333 7018 80|IGP|193.0.0.56|0|0||NAG||\n"
    b"BGP4MP|1171156864|A|195.66.224.175|13030|200.1.1.0/24|13030 1916|IGP|1.2.3.4|0|0||NAG||\n"
)


def _decompressed_head(relative: str, size: int) -> list[bytes]:
    """The first `size` bytes of a real compressed file, decompressed (a few records)."""
    path = SHARED_DATA / relative
    if not path.is_file():
        return []
    opener = bz2.open if path.suffix == ".bz2" else gzip.open
    with opener(path, "rb") as handle:
        return [handle.read(size)]


@functools.cache
def _seeds() -> list[bytes]:
    mrt = _FORMATS.index("mrt")
    seeds = [b"\x01" + _PREFIX_ORIGIN, b"\x02" + _BGPDUMP, b"\x00" + gzip.compress(_BGPDUMP)]
    seeds += [b"\x01" + d for d in _decompressed_head("bgp/pyasn-data/ipasn_20140513.dat.gz", 600)]
    seeds += [
        b"\x00" + d
        for d in _decompressed_head("bgp/bgpdump-test-data/updates.20070211.0141.gz.bgp.gz", 1500)
    ]
    for name in ("updates.20070211.0141.gz", "bview.20020722.2337.gz"):
        seeds += [
            bytes([mrt]) + d for d in _decompressed_head(f"bgp/bgpdump-test-data/{name}", 3000)
        ]
    return seeds


def _routes(data: bytes) -> object:
    """First byte: the format (auto or named), and from 4 on, MRT read with allow_truncated."""
    choice, body = select(data, 2 * len(_FORMATS))
    fmt, truncated = _FORMATS[choice % len(_FORMATS)], choice >= len(_FORMATS)
    return read_routes(scratch_file(body, "routes"), fmt=fmt, allow_truncated=truncated)


ROUTES = Target("bgp_routes", _routes, (ValueError, RovInputError), _seeds, 8192)

TARGETS = [ROUTES]
