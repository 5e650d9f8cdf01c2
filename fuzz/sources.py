"""Registry source files: delegated(-extended) files, IANA's XML registries, the NRO lists.

Operators download these from the RIRs and IANA (or upload them to a node's /admin/import),
so every byte is outside input; the readers take paths, so each input goes through a file.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

from fuzz.harness import Target, real_file, real_lines, scratch_file, select
from onereg.core.errors import SourceFormatError
from onereg.registry.sources import iana, nro_lists
from onereg.registry.sources.delegated import delegated_registry, parse_delegated

DELEGATED_SAMPLE = b"""# a synthetic delegated-extended file
2.3|ripencc|20260101|4|19830705|20260101|+0100
ripencc|*|asn|*|1|summary
ripencc|*|ipv4|*|2|summary
ripencc|*|ipv6|*|1|summary
ripencc|NL|asn|3333|1|19930901|allocated|ripe-ncc-hm|e-stats
ripencc|NL|ipv4|193.0.0.0|2048|19930901|allocated|ripe-ncc-hm
ripencc|ZZ|ipv4|193.0.8.0|256||available||
ripencc|NL|ipv6|2001:678::|29|20060801|allocated|ripe-ncc-hm
"""


def _delegated_seeds() -> list[bytes]:
    seeds = [DELEGATED_SAMPLE, gzip.compress(DELEGATED_SAMPLE, mtime=0)]
    for rir in ("afrinic", "apnic", "arin", "lacnic", "ripencc", "iana"):
        seeds += real_lines(f"delegated/2019-09-samples/{rir}", 60)
    seeds += real_lines("delegated/truncated-2026/delegated-arin-extended-latest.head.txt", 10)
    return seeds


def _delegated(data: bytes) -> object:
    path = scratch_file(data, "delegated-fuzz-extended-latest")
    delegated_registry(path)  # routes a file before parsing it; must answer None, not fail
    return parse_delegated(path)


DELEGATED = Target("delegated", _delegated, (SourceFormatError,), _delegated_seeds, 16384)

# one target for every IANA registry reader: the first byte chooses the reader
_IANA_READERS: list[tuple[str, Callable[[Path], object]]] = [
    (iana.AS_NUMBERS, iana.parse_as_numbers),
    (iana.IPV4_SPACE, iana.parse_ipv4_address_space),
    (iana.IPV6_UNICAST, lambda p: iana.parse_ipv6_space(p, _real_ipv6_space())),
    (iana.IPV6_SPACE, lambda p: iana.parse_ipv6_space(_real_ipv6_unicast(), p)),
    (iana.IPV4_SPECIAL, iana.parse_ipv4_special),
    (iana.IPV6_SPECIAL, iana.parse_ipv6_special),
    (iana.AS_SPECIAL, iana.parse_as_special),
    (iana.AS_NUMBERS, iana.registry_updated),
]

_MINIMAL_REGISTRY = b"""<?xml version='1.0' encoding='UTF-8'?>
<registry xmlns="http://www.iana.org/assignments" id="as-numbers">
  <updated>2026-06-01</updated>
  <registry id="as-numbers-1">
    <record><number>0</number><description>Reserved by [RFC7607]</description></record>
    <record><number>1-6</number><description>Assigned by ARIN</description>
      <whois>whois.arin.net</whois><rdap><server>https://rdap.arin.net/registry/</server></rdap>
      <registration>2013-05-03</registration></record>
    <record><number>7-65535</number><description>Unallocated</description>
      <xref type="rfc" data="rfc1930"/></record>
  </registry>
</registry>
"""


def _fixed(name: str, fallback: bytes) -> Path:
    """The real companion file of a two-file reader (or a minimal one), written once."""
    found = real_file(f"iana/{name}")
    return scratch_file(found[0] if found else fallback, f"fixed-{name}")


def _real_ipv6_space() -> Path:
    return _fixed(iana.IPV6_SPACE, _MINIMAL_REGISTRY)


def _real_ipv6_unicast() -> Path:
    return _fixed(iana.IPV6_UNICAST, _MINIMAL_REGISTRY)


def _iana_seeds() -> list[bytes]:
    seeds = [bytes([i]) + _MINIMAL_REGISTRY for i in range(len(_IANA_READERS))]
    for i, (name, _) in enumerate(_IANA_READERS):
        seeds += [bytes([i]) + data for data in real_file(f"iana/{name}")]
    return seeds


def _iana(data: bytes) -> object:
    choice, body = select(data, len(_IANA_READERS))
    name, reader = _IANA_READERS[choice]
    return reader(scratch_file(body, name))


IANA_XML = Target("iana_xml", _iana, (SourceFormatError,), _iana_seeds, 96 * 1024)

_ERX = b"# RIPE to afrinic\n62.12.96.0 19 8192 62.12.127.255 afrinic\n\n# ARIN to ripencc\n"
_ALLOWED = (
    b"iana|ZZ|asn|112|1|20150501|reserved|ietf|iana\n"
    b"iana|ZZ|ipv6|2001:0db8::|32|20040701|reserved|ietf|iana\n"
)


def _nro_seeds() -> list[bytes]:
    return [
        b"\x00" + _ERX,
        b"\x01" + _ALLOWED,
        *(b"\x00" + d for d in real_lines("transfers/RIPE-NCC-nro-stats/erx-xfr.txt", 80)),
        *(b"\x01" + d for d in real_file("delegated/2019-09-samples/allowedlist.main")),
    ]


def _nro(data: bytes) -> object:
    choice, body = select(data, 2)
    if choice == 0:
        return nro_lists.parse_erx_transfers(scratch_file(body, "erx-xfr.txt"))
    return nro_lists.parse_allowed_overlaps(scratch_file(body, "allowedlist.main"))


NRO_LISTS = Target("nro_lists", _nro, (SourceFormatError,), _nro_seeds, 8192)

TARGETS = [DELEGATED, IANA_XML, NRO_LISTS]
