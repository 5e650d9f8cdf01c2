"""RPKI-to-Router PDUs (RFC 8210 / 6810) as a router, or anyone who connects, sends them.

`rtr_pdus` decodes a byte stream PDU by PDU as a client library would; `rtr_session` feeds the
bytes to the server's own read loop (one connection, the stream then closed) and checks every
answer it queued is well-formed PDUs. The session never raises: bad input gets an Error Report.
"""

from __future__ import annotations

import asyncio
import bz2
import functools
import gzip
import logging
import lzma
from typing import Any

from fuzz.harness import Target, real_lines, scratch_file
from onereg.rpki.routes import RovInputError
from onereg.rtr import pdu as p
from onereg.rtr.server import Limits, RtrServer, Timings, _Conn
from onereg.rtr.state import RtrCache
from onereg.rtr.vrps import load_vrps

SESSION = 4242


def _seeds() -> list[bytes]:
    prefix4 = p.Ipv4Prefix(1, 1, 24, 24, 0xC0000200, 64496).encode()
    prefix6 = p.Ipv6Prefix(1, 1, 48, 64, 0x20010DB8 << 96, 64497).encode()
    end = p.EndOfData(1, SESSION, 7, 3600, 600, 7200).encode()
    report = p.ErrorReport(1, 2, p.ResetQuery(1).encode(), "no data").encode()
    return [
        p.ResetQuery(1).encode(),
        p.ResetQuery(0).encode() + p.SerialQuery(0, SESSION, 1).encode(),
        p.SerialQuery(1, SESSION, 7).encode(),
        p.CacheResponse(1, SESSION).encode() + prefix4 + prefix6 + end,
        p.SerialNotify(1, SESSION, 8).encode() + p.CacheReset(1).encode(),
        report,
    ]


def _pdus(data: bytes) -> object:
    out = []
    offset = 0
    while offset < len(data):
        pdu, used = p.decode(data[offset:])
        out.append(pdu)
        offset += used
    p.decode_all(data)
    return out


PDUS = Target("rtr_pdus", _pdus, (p.PduError,), _seeds)


class _Transport:
    def abort(self) -> None:
        pass


class _Writer:
    transport = _Transport()

    def get_extra_info(self, name: str) -> Any:
        return ("192.0.2.1", 323)


@functools.cache
def _server() -> tuple[asyncio.AbstractEventLoop, RtrServer]:
    logging.getLogger("onereg.rtr").setLevel(logging.WARNING)
    cache = RtrCache(session_id=SESSION)
    cache.update([(64496, "192.0.2.0/24", 24), (64497, "2001:db8::/48", 64)])
    cache.update([(64496, "192.0.2.0/24", 24)])
    limits = Limits(notify_interval=0, first_pdu_timeout=1, pdu_timeout=1, idle_timeout=1)
    return asyncio.new_event_loop(), RtrServer(cache, Timings(3600, 600, 7200), limits)


def _session(data: bytes) -> object:
    loop, server = _server()
    reader = asyncio.StreamReader(loop=loop)
    reader.feed_data(data)
    reader.feed_eof()
    conn = _Conn(server, reader, _Writer())  # type: ignore[arg-type]
    loop.run_until_complete(conn.read_loop())
    answers = b"".join(bytes(part) for part in conn.out)
    return p.decode_all(answers)  # what we send must itself decode


SESSION_TARGET = Target("rtr_session", _session, (), _seeds)

TARGETS = [PDUS, SESSION_TARGET]


# --- VRP files the server serves (rpki-client / Routinator JSON or CSV) -----------------------

_VRP_JSON = (
    b'{"metadata": {"buildtime": "2026-01-01T00:00:00Z"}, "roas": [\n'
    b'{"asn": 64496, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "ripe"},\n'
    b'{"asn": "AS64497", "prefix": "2001:db8::/32", "maxLength": 48, "ta": "arin"}]}\n'
)
_VRP_CSV = b"ASN,IP Prefix,Max Length,Trust Anchor\nAS64496,192.0.2.0/24,24,ripe\n"


def _vrp_seeds() -> list[bytes]:
    seeds = [_VRP_JSON, _VRP_CSV, b"[" + _VRP_JSON.split(b"[", 1)[1].rsplit(b"]", 1)[0] + b"]"]
    seeds += [gzip.compress(_VRP_CSV, mtime=0), bz2.compress(_VRP_JSON), lzma.compress(_VRP_CSV)]
    seeds += real_lines("rpki/vrp-exports/lacnic-roa-prefixes.csv", 30)
    seeds += real_lines("rpki/vrp-exports/ripe-rrdp-snapshot-2019-roas-decoded.csv", 30)
    return seeds


def _vrp_file(data: bytes) -> object:
    """`onereg rtr serve --vrps FILE` reads it on every change (fast path, then the general
    reader); plain or compressed, by content."""
    return load_vrps(scratch_file(data, "vrps"))


VRP_FILE = Target("vrp_file", _vrp_file, (ValueError, RovInputError), _vrp_seeds, 8192)

TARGETS.append(VRP_FILE)
