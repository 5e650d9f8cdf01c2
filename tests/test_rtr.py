"""RTR server (RFC 8210 v1 / RFC 6810 v0): PDUs, the VRP state with deltas, and the server's
behaviour towards good, old, slow and hostile routers."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onereg.core.resources import Afi
from onereg.federation.node_config import Limits as NodeLimits
from onereg.rpki.rov_index import vrps_from_tuples
from onereg.rpki.validate import Vrp
from onereg.rtr import pdu as P
from onereg.rtr import server as server_module
from onereg.rtr.server import Limits, Timings, close_rtr, serve_rtr, service_of, start_rtr
from onereg.rtr.state import RtrCache

VRPS = [
    (64496, "203.0.113.0/24", 24),
    (64497, "198.51.100.0/24", 26),
    (64498, "2001:db8::/32", 48),
    (0, "192.0.2.0/24", 24),  # AS0, trailing zero bytes in the key
]


# --- PDUs -----------------------------------------------------------

ROUND_TRIP: list[P.Pdu] = [
    P.SerialNotify(1, 513, 7),
    P.SerialNotify(0, 1, 0xFFFFFFFF),
    P.SerialQuery(1, 65535, 42),
    P.ResetQuery(0),
    P.ResetQuery(1),
    P.CacheResponse(1, 9),
    P.Ipv4Prefix(1, 1, 24, 26, int(ipaddress.IPv4Address("203.0.113.0")), 64496),
    P.Ipv4Prefix(0, 0, 0, 32, 0, 0),
    P.Ipv6Prefix(1, 1, 32, 48, int(ipaddress.IPv6Address("2001:db8::")), 4200000000),
    P.EndOfData(1, 9, 3, 3600, 600, 7200),
    P.EndOfData(0, 9, 3),
    P.CacheReset(1),
    P.RouterKey(1, 1, bytes(range(20)), 64496, b"\x30\x59" + bytes(89)),
    P.ErrorReport(1, P.ErrorCode.CORRUPT_DATA, P.ResetQuery(1).encode(), "bad"),
    P.ErrorReport(0, P.ErrorCode.NO_DATA_AVAILABLE, b"", ""),
    P.ErrorReport(1, P.ErrorCode.INTERNAL_ERROR, b"", "ünïcode"),
]


@pytest.mark.parametrize("pdu", ROUND_TRIP, ids=lambda p: type(p).__name__)
def test_pdu_round_trip(pdu: P.Pdu) -> None:
    raw = pdu.encode()
    assert int.from_bytes(raw[4:8], "big") == len(raw)
    back, used = P.decode(raw)
    assert used == len(raw)
    assert back == pdu
    assert P.decode_all(raw + raw) == [pdu, pdu]


def test_pdu_wire_layout() -> None:
    # RFC 8210 §5.6: IPv4 Prefix = header, flags, prefix length, max length, zero, prefix, AS
    raw = P.Ipv4Prefix(1, 1, 24, 24, 0xCB007100, 64496).encode()
    assert raw == bytes.fromhex("01040000 00000014 01181800 cb007100 0000fbf0".replace(" ", ""))
    assert len(P.Ipv6Prefix(1, 1, 32, 48, 0, 1).encode()) == 32
    assert len(P.EndOfData(0, 1, 1).encode()) == 12
    assert len(P.EndOfData(1, 1, 1, 1, 1, 600).encode()) == 24
    with pytest.raises(ValueError):
        P.EndOfData(1, 1, 1).encode()
    with pytest.raises(ValueError):
        P.RouterKey(0, 1, bytes(20), 1, b"x").encode()


def _hdr(version: int, kind: int, length: int, field: int = 0) -> bytes:
    return struct.pack("!BBHI", version, kind, field, length)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (_hdr(2, 2, 8), P.ErrorCode.UNSUPPORTED_PROTOCOL_VERSION),
        (b"GET / HTTP/1.1\r\n", P.ErrorCode.UNSUPPORTED_PROTOCOL_VERSION),
        (_hdr(1, 5, 8), P.ErrorCode.UNSUPPORTED_PDU_TYPE),
        (_hdr(1, 11, 8), P.ErrorCode.UNSUPPORTED_PDU_TYPE),
        (_hdr(1, 255, 8), P.ErrorCode.UNSUPPORTED_PDU_TYPE),
        (_hdr(0, 9, 40), P.ErrorCode.UNSUPPORTED_PDU_TYPE),  # Router Key in version 0
        (_hdr(1, 2, 12) + bytes(4), P.ErrorCode.CORRUPT_DATA),  # Reset Query too long
        (_hdr(1, 1, 8), P.ErrorCode.CORRUPT_DATA),  # Serial Query too short
        (_hdr(0, 7, 24) + bytes(16), P.ErrorCode.CORRUPT_DATA),  # v0 End of Data with intervals
        (_hdr(1, 7, 12) + bytes(4), P.ErrorCode.CORRUPT_DATA),  # v1 End of Data without
        (_hdr(1, 10, 12), P.ErrorCode.CORRUPT_DATA),  # Error Report below its minimum
        (_hdr(1, 10, 1 << 30), P.ErrorCode.CORRUPT_DATA),  # oversized
        (_hdr(1, 2, 0), P.ErrorCode.CORRUPT_DATA),
        (_hdr(1, 1, 12), P.ErrorCode.CORRUPT_DATA),  # truncated body
        (_hdr(1, 2, 8)[:5], P.ErrorCode.CORRUPT_DATA),  # truncated header
        (_hdr(1, 4, 20) + bytes([1, 33, 33, 0]) + bytes(8), P.ErrorCode.CORRUPT_DATA),
        (_hdr(1, 4, 20) + bytes([1, 24, 16, 0]) + bytes(8), P.ErrorCode.CORRUPT_DATA),
        (_hdr(1, 4, 20) + bytes([2, 24, 24, 0]) + bytes(8), P.ErrorCode.CORRUPT_DATA),
        (_hdr(1, 6, 32) + bytes([1, 129, 129, 0]) + bytes(20), P.ErrorCode.CORRUPT_DATA),
        # Error Report whose encapsulated PDU or text overruns it
        (_hdr(1, 10, 16) + (9).to_bytes(4, "big") + bytes(4), P.ErrorCode.CORRUPT_DATA),
        (_hdr(1, 10, 16) + bytes(4) + (3).to_bytes(4, "big"), P.ErrorCode.CORRUPT_DATA),
        (_hdr(1, 10, 17) + bytes(4) + (1).to_bytes(4, "big") + b"\xff", P.ErrorCode.CORRUPT_DATA),
    ],
)
def test_pdu_errors(raw: bytes, code: P.ErrorCode) -> None:
    with pytest.raises(P.PduError) as info:
        P.decode(raw)
    assert info.value.code == code


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=0, max_size=80))
def test_decoder_fuzz_bytes(raw: bytes) -> None:
    try:
        pdu, used = P.decode(raw)
    except P.PduError as exc:
        assert isinstance(exc.code, P.ErrorCode)
        return
    assert 8 <= used <= len(raw)
    assert P.decode(pdu.encode())[0] == pdu


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([0, 1]),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 11),
    st.binary(max_size=40),
)
def test_decoder_fuzz_valid_headers(
    version: int, field: int, serial: int, kind: int, tail: bytes
) -> None:
    """Plausible headers with arbitrary bodies and lengths: PduError or a consistent PDU."""
    raw = _hdr(version, kind, 8 + len(tail), field) + tail
    try:
        pdu, _ = P.decode(raw)
    except P.PduError:
        return
    assert P.decode(pdu.encode())[0] == pdu
    mutated = bytearray(raw)
    mutated[7] = (mutated[7] + 1) & 0xFF  # one byte off in the length
    with pytest.raises(P.PduError):
        P.decode(bytes(mutated))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 32).flatmap(lambda n: st.tuples(st.just(n), st.integers(n, 32))),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.sampled_from([0, 1]),
)
def test_prefix_round_trip(lens: tuple[int, int], addr: int, asn: int, flags: int) -> None:
    pdu = P.Ipv4Prefix(1, flags, lens[0], lens[1], addr, asn)
    assert P.decode(pdu.encode())[0] == pdu


def test_timings() -> None:
    Timings(1, 1, 600)
    for bad in [(0, 1, 600), (1, 7201, 7202), (3600, 600, 599), (86401, 1, 172800), (900, 1, 800)]:
        with pytest.raises(ValueError):
            Timings(*bad)


# --- state -----------------------------------------------------------


def _set(cache: RtrCache) -> set[tuple[int, str, int]]:
    return set(cache.vrps())


def _apply_buffer(base: set[tuple[int, str, int]], buf: bytes | None) -> set[tuple[int, str, int]]:
    assert buf is not None
    out = set(base)
    for pdu in P.decode_all(buf):
        assert isinstance(pdu, P.Ipv4Prefix | P.Ipv6Prefix)
        net = (
            ipaddress.IPv4Network((pdu.prefix, pdu.prefix_len))
            if isinstance(pdu, P.Ipv4Prefix)
            else ipaddress.IPv6Network((pdu.prefix, pdu.prefix_len))
        )
        item = (pdu.asn, str(net), pdu.max_len)
        if pdu.flags:
            assert item not in out, "announced twice"
            out.add(item)
        else:
            assert item in out, "withdrawal of an unknown record"
            out.remove(item)
    return out


def test_state_inputs_agree() -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    objs = [
        Vrp(Afi.IPV4, int(ipaddress.IPv4Address("203.0.113.0")), 24, 24, 64496, "ta", expires),
        Vrp(Afi.IPV6, int(ipaddress.IPv6Address("2001:db8::")), 32, 48, 64498, "ta", expires),
    ]
    tuples = [(64496, "203.0.113.0/24", 24), (64498, "2001:db8::/32", 48)]
    a, b, c = RtrCache(), RtrCache(), RtrCache()
    a.update(objs)
    b.update(tuples + tuples)  # duplicates collapse
    c.update(vrps_from_tuples(tuples))
    assert _set(a) == _set(b) == _set(c) == set(tuples)
    assert len(a) == 2


def test_state_serials_and_deltas() -> None:
    cache = RtrCache(session_id=7)
    assert not cache.ready
    assert cache.update(VRPS) == 0
    assert _set(cache) == set(VRPS)
    serial, full = cache.full_buffer(1)
    assert serial == 0 and _apply_buffer(set(), full) == set(VRPS)
    assert cache.update(list(reversed(VRPS))) is None  # no change, no new serial
    assert cache.delta_buffer(0, 1) == (0, b"")

    second = [*VRPS[1:], (64511, "192.0.2.128/25", 25)]
    assert cache.update(second) == 1
    third = [*second[1:], (64496, "203.0.113.0/24", 24)]  # VRPS[0] comes back
    assert cache.apply(announce=[(64496, "203.0.113.0/24", 24)], withdraw=[second[0]]) == 2
    assert _set(cache) == set(third)
    # every older serial gets exactly the net change
    for start, state in ((0, set(VRPS)), (1, set(second)), (2, set(third))):
        serial, buf = cache.delta_buffer(start, 1)
        assert serial == 2
        assert _apply_buffer(state, buf) == set(third)
    # version 0 buffers carry version 0
    _, buf0 = cache.delta_buffer(0, 0)
    assert buf0 is not None and all(p.version == 0 for p in P.decode_all(buf0))
    assert cache.delta_buffer(99, 1) == (2, None)  # unknown serial -> Cache Reset


def test_state_apply_ignores_no_ops() -> None:
    cache = RtrCache()
    cache.update(VRPS)
    assert cache.apply(announce=[VRPS[0]], withdraw=[(1, "10.0.0.0/8", 8)]) is None
    assert cache.apply(withdraw=[VRPS[0]]) == 1
    assert (
        cache.delta_buffer(0, 1)[1]
        == P.Ipv4Prefix(1, 0, 24, 24, int(ipaddress.IPv4Address("203.0.113.0")), 64496).encode()
    )


def test_state_history_is_bounded() -> None:
    cache = RtrCache(max_history=3)
    cache.update(VRPS)
    for i in range(6):
        cache.apply(announce=[(65000 + i, "10.0.0.0/8", 8)])
    assert cache.serial == 6
    assert cache.oldest_serial() == 3
    assert cache.delta_buffer(2, 1)[1] is None
    assert cache.delta_buffer(3, 1)[1] is not None
    # a history larger than the set itself is dropped too
    small = RtrCache(max_history=100)
    small.update([(1, "10.0.0.0/8", 8)])
    for i in range(1100):
        small.update([(1, "10.0.0.0/8", 8), (i + 2, "10.0.0.0/8", 8)])
    assert small.delta_buffer(0, 1)[1] is None
    assert small.delta_buffer(small.serial - 1, 1)[1] is not None  # type: ignore[operator]


def test_state_serial_wraps() -> None:
    cache = RtrCache()
    cache.update(VRPS)
    cache.serial = 0xFFFFFFFF
    assert cache.apply(withdraw=[VRPS[0]]) == 0
    assert _apply_buffer(set(VRPS), cache.delta_buffer(0xFFFFFFFF, 1)[1]) == set(VRPS[1:])


# --- server -----------------------------------------------------------


class Router:
    """A test router speaking raw PDUs."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, source: str = "127.0.0.1") -> Router:
        """A router at `source` (any 127/8 address: several routers, hosts or networks)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        return cls(reader, writer)

    async def send(self, raw: bytes | P.Pdu) -> None:
        self.writer.write(raw if isinstance(raw, bytes) else raw.encode())
        await self.writer.drain()

    async def pdu(self, timeout: float = 5.0) -> P.Pdu | None:
        try:
            head = await asyncio.wait_for(self.reader.readexactly(8), timeout)
        except asyncio.IncompleteReadError:
            return None
        length = int.from_bytes(head[4:8], "big")
        body = await asyncio.wait_for(self.reader.readexactly(length - 8), timeout)
        return P.decode(head + body, max_length=1 << 30)[0]

    async def until_eod(self) -> list[P.Pdu]:
        out: list[P.Pdu] = []
        while True:
            pdu = await self.pdu()
            assert pdu is not None, f"closed after {out[-3:]}"
            out.append(pdu)
            if isinstance(pdu, P.EndOfData | P.CacheReset | P.ErrorReport):
                return out

    async def closed(self, timeout: float = 5.0) -> bool:
        try:
            data = await asyncio.wait_for(self.reader.read(1 << 20), timeout)
        except (ConnectionError, TimeoutError):
            return False
        return data == b""

    def close(self) -> None:
        self.writer.transport.abort()


Scenario = Callable[[RtrCache, int], Awaitable[None]]


async def _serve(scenario: Scenario, vrps: object = VRPS, limits: Limits | None = None) -> None:
    cache = RtrCache(session_id=4242)
    if vrps is not None:
        cache.update(vrps)  # type: ignore[arg-type]
    server = await start_rtr(
        cache, "127.0.0.1", 0, Timings(30, 5, 600), limits or Limits(notify_interval=0)
    )
    port = server.sockets[0].getsockname()[1]
    try:
        await asyncio.wait_for(scenario(cache, port), 60)
    finally:
        await close_rtr(server)


def run(scenario: Scenario, vrps: object = VRPS, limits: Limits | None = None) -> None:
    asyncio.run(_serve(scenario, vrps, limits))


def _prefixes(pdus: list[P.Pdu]) -> set[tuple[int, str, int]]:
    return _apply_buffer(
        set(), b"".join(p.encode() for p in pdus if isinstance(p, P.Ipv4Prefix | P.Ipv6Prefix))
    )


def test_reset_query_v1_and_v0() -> None:
    async def scenario(cache: RtrCache, port: int) -> None:
        for version in (1, 0):
            r = await Router.connect(port)
            await r.send(P.ResetQuery(version))
            pdus = await r.until_eod()
            assert pdus[0] == P.CacheResponse(version, 4242)
            assert _prefixes(pdus) == set(VRPS)
            assert all(p.version == version for p in pdus)
            eod = pdus[-1]
            if version == 1:
                assert eod == P.EndOfData(1, 4242, 0, 30, 5, 600)
            else:
                assert eod == P.EndOfData(0, 4242, 0)
            r.close()

    run(scenario)


def test_serial_query_notify_delta_and_reset() -> None:
    async def scenario(cache: RtrCache, port: int) -> None:
        r = await Router.connect(port)
        await r.send(P.ResetQuery(1))
        await r.until_eod()
        await r.send(P.SerialQuery(1, 4242, 0))  # up to date: empty response
        pdus = await r.until_eod()
        assert pdus == [P.CacheResponse(1, 4242), P.EndOfData(1, 4242, 0, 30, 5, 600)]
        cache.apply(announce=[(64511, "192.0.2.0/25", 25)], withdraw=[VRPS[0]])
        assert await r.pdu() == P.SerialNotify(1, 4242, 1)
        await r.send(P.SerialQuery(1, 4242, 0))
        pdus = await r.until_eod()
        assert _apply_buffer(set(VRPS), b"".join(p.encode() for p in pdus[1:-1])) == set(
            cache.vrps()
        )
        assert len(pdus) == 4 and isinstance(pdus[-1], P.EndOfData) and pdus[-1].serial == 1
        await r.send(P.SerialQuery(1, 4242, 12345))  # never had it
        assert await r.until_eod() == [P.CacheReset(1)]
        await r.send(P.SerialQuery(1, 1, 1))  # another session
        assert await r.until_eod() == [P.CacheReset(1)]
        r.close()

    run(scenario)


def test_no_data_then_data() -> None:
    async def scenario(cache: RtrCache, port: int) -> None:
        r = await Router.connect(port)
        await r.send(P.ResetQuery(1))
        pdus = await r.until_eod()
        assert isinstance(pdus[0], P.ErrorReport)
        assert pdus[0].code == P.ErrorCode.NO_DATA_AVAILABLE
        cache.update(VRPS)  # the connection stays open (the error is not fatal)
        await r.send(P.ResetQuery(1))
        assert _prefixes(await r.until_eod()) == set(VRPS)
        r.close()

    run(scenario, vrps=None)


BAD_INPUT = [
    # (first bytes, expected code, expected error report version)
    (_hdr(2, 2, 8), P.ErrorCode.UNSUPPORTED_PROTOCOL_VERSION, 1),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", P.ErrorCode.UNSUPPORTED_PROTOCOL_VERSION, 1),
    (_hdr(1, 77, 8), P.ErrorCode.UNSUPPORTED_PDU_TYPE, 1),
    (_hdr(0, 9, 40) + bytes(32), P.ErrorCode.UNSUPPORTED_PDU_TYPE, 0),
    (_hdr(1, 3, 8), P.ErrorCode.INVALID_REQUEST, 1),  # a Cache Response from a router
    (P.Ipv4Prefix(1, 1, 8, 8, 1 << 24, 1).encode(), P.ErrorCode.INVALID_REQUEST, 1),
    (_hdr(1, 2, 9) + b"x", P.ErrorCode.CORRUPT_DATA, 1),
    (_hdr(0, 1, 4000) + bytes(3992), P.ErrorCode.CORRUPT_DATA, 0),
    (_hdr(1, 10, 0x7FFFFFFF), P.ErrorCode.CORRUPT_DATA, 1),  # oversized: not read, refused
    (
        P.ResetQuery(1).encode() + P.ResetQuery(0).encode(),
        P.ErrorCode.UNEXPECTED_PROTOCOL_VERSION,
        1,
    ),
    # a version 0 session has no code 8: Unsupported Protocol Version, in version 0
    (
        P.ResetQuery(0).encode() + P.ResetQuery(1).encode(),
        P.ErrorCode.UNSUPPORTED_PROTOCOL_VERSION,
        0,
    ),
]


@pytest.mark.parametrize(("raw", "code", "version"), BAD_INPUT)
def test_bad_input_gets_error_report_and_close(raw: bytes, code: P.ErrorCode, version: int) -> None:
    async def scenario(cache: RtrCache, port: int) -> None:
        bystander = await Router.connect(port)
        r = await Router.connect(port)
        await r.send(raw)
        pdu = await r.pdu()
        while isinstance(pdu, P.CacheResponse | P.Ipv4Prefix | P.Ipv6Prefix | P.EndOfData):
            pdu = await r.pdu()  # the answer to a good first query
        assert isinstance(pdu, P.ErrorReport), pdu
        assert (pdu.code, pdu.version) == (code, version)
        assert pdu.pdu == raw[: len(pdu.pdu)] or pdu.pdu  # the offending PDU (or its header)
        assert await r.closed()
        await bystander.send(P.ResetQuery(1))  # everybody else is still served
        assert _prefixes(await bystander.until_eod()) == set(VRPS)
        bystander.close()

    run(scenario)


def test_truncated_pdus() -> None:
    async def scenario(cache: RtrCache, port: int) -> None:
        r = await Router.connect(port)  # half a Serial Query, then nothing
        await r.send(P.SerialQuery(1, 4242, 0).encode()[:10])
        pdu = await r.pdu()
        assert isinstance(pdu, P.ErrorReport) and pdu.code == P.ErrorCode.CORRUPT_DATA
        assert await r.closed()
        r2 = await Router.connect(port)  # half a header, then EOF
        await r2.send(b"\x01\x02\x00")
        r2.writer.write_eof()
        pdu = await r2.pdu()
        assert isinstance(pdu, P.ErrorReport) and pdu.code == P.ErrorCode.CORRUPT_DATA
        assert await r2.closed()

    run(scenario, limits=Limits(notify_interval=0, pdu_timeout=0.3))


def test_router_error_report_closes_without_reply() -> None:
    async def scenario(cache: RtrCache, port: int) -> None:
        r = await Router.connect(port)
        await r.send(P.ErrorReport(1, P.ErrorCode.INTERNAL_ERROR, b"", "router gives up"))
        assert await r.closed()
        r2 = await Router.connect(port)  # a garbled one: no reply either
        await r2.send(_hdr(1, 10, 16) + (99).to_bytes(4, "big") + bytes(4))
        assert await r2.closed()

    run(scenario)


def test_stalled_router_is_dropped_others_served() -> None:
    big = [
        (i % 60000 + 1, f"{10 + i // 65536}.{(i >> 8) & 255}.{i & 255}.0/24", 24)
        for i in range(150000)
    ]

    async def scenario(cache: RtrCache, port: int) -> None:
        stalled = []
        for _ in range(3):
            sock = socket.socket()
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_RCVBUF, 4096
            )  # before connect: tiny window
            sock.connect(("127.0.0.1", port))
            sock.sendall(P.ResetQuery(1).encode())  # ... and never reads
            stalled.append(sock)
        await asyncio.sleep(0.2)
        loop = asyncio.get_running_loop()
        start = loop.time()
        r = await Router.connect(port)
        await r.send(P.ResetQuery(1))
        size = 8 + 20 * len(big) + 24  # Cache Response, the IPv4 Prefix PDUs, End of Data
        raw = await asyncio.wait_for(r.reader.readexactly(size), 20)
        assert P.decode(raw[-24:])[0] == P.EndOfData(1, 4242, 0, 30, 5, 600)
        assert loop.time() - start < 10
        service = service_of(next(iter(_servers)))
        await asyncio.sleep(2.0)  # write_timeout = 1 s
        print(
            [
                (c.peer, c.writer.transport.get_write_buffer_size(), len(c.out), c.version)
                for c in service.conns
            ]
        )
        assert len(service.conns) == 1  # only the reading router is left
        r.close()
        for sock in stalled:
            sock.close()

    _servers.clear()
    asyncio.run(_serve_tracking(scenario, big, Limits(notify_interval=0, write_timeout=1.0)))


_servers: list[asyncio.Server] = []


async def _serve_tracking(scenario: Scenario, vrps: object, limits: Limits) -> None:
    cache = RtrCache(session_id=4242)
    cache.update(vrps)  # type: ignore[arg-type]
    server = await start_rtr(cache, "127.0.0.1", 0, Timings(30, 5, 600), limits)
    _servers.append(server)
    try:
        await asyncio.wait_for(scenario(cache, server.sockets[0].getsockname()[1]), 60)
    finally:
        await close_rtr(server)


def test_thousands_of_idle_connections() -> None:
    async def scenario(cache: RtrCache, port: int) -> None:
        idle = []
        for _ in range(2000):
            idle.append(await asyncio.open_connection("127.0.0.1", port))
        r = await Router.connect(port)
        await r.send(P.ResetQuery(1))
        assert _prefixes(await r.until_eod()) == set(VRPS)
        service = service_of(_servers[-1])
        for _ in range(200):  # the accept loop may still be catching up
            if len(service.conns) >= 2001:
                break
            await asyncio.sleep(0.02)
        assert len(service.conns) == 2001
        for _ in range(100):  # first_pdu_timeout = 6 s: the silent ones are closed
            if len(service.conns) == 1:
                break
            await asyncio.sleep(0.1)
        assert len(service.conns) == 1
        for _, w in idle:
            w.transport.abort()
        r.close()

    limits = Limits(notify_interval=0, first_pdu_timeout=6.0, per_client=5000, per_network=5000)
    asyncio.run(_serve_tracking(scenario, VRPS, limits))


def test_connection_limit() -> None:
    async def scenario(cache: RtrCache, port: int) -> None:
        routers = [await Router.connect(port, f"127.0.{i}.1") for i in range(3)]
        await asyncio.sleep(0.1)
        extra = await Router.connect(port, "127.0.9.1")
        await extra.send(P.ResetQuery(1))
        report = await extra.pdu()
        assert isinstance(report, P.ErrorReport) and report.version == 1
        assert report.code == P.ErrorCode.INTERNAL_ERROR
        assert report.text == "too many connections in all (limit 3)"
        assert await extra.closed()
        await routers[0].send(P.ResetQuery(1))
        assert _prefixes(await routers[0].until_eod()) == set(VRPS)
        for r in routers:
            r.close()

    run(scenario, limits=Limits(notify_interval=0, max_connections=3))


def test_idle_sessions_from_one_network_do_not_lock_out_another() -> None:
    """One host once opened 10,000 idle sessions in 3 s and locked out every new router. Now
    an address and a /24 get their caps' worth; the one over gets an Error Report "Internal
    Error" (in the version it spoke) and is closed; a router elsewhere is served."""

    async def scenario(cache: RtrCache, port: int) -> None:
        idle = [await Router.connect(port, "127.0.0.2") for _ in range(4)]
        idle += [await Router.connect(port, f"127.0.0.{3 + i % 3}") for i in range(60)]
        await asyncio.sleep(0.3)
        service = service_of(_servers[-1])
        assert len(service.conns) == 16  # rtr_per_network, of the 64
        same_address = await Router.connect(port, "127.0.0.2")
        await same_address.send(P.ResetQuery(0))
        report = await same_address.pdu()
        assert isinstance(report, P.ErrorReport) and report.version == 0
        assert report.code == P.ErrorCode.INTERNAL_ERROR
        assert report.text == "too many connections from 127.0.0.2 (limit 4)"
        assert await same_address.closed()
        same_network = await Router.connect(port, "127.0.0.200")
        report = await same_network.pdu()  # sends nothing: answered in version 1 after 1 s
        assert isinstance(report, P.ErrorReport) and report.version == 1
        assert report.text == "too many connections from 127.0.0.0/24 (limit 16)"
        elsewhere = await Router.connect(port, "127.0.1.1")
        began = asyncio.get_running_loop().time()
        await elsewhere.send(P.ResetQuery(1))
        assert _prefixes(await elsewhere.until_eod()) == set(VRPS)
        assert asyncio.get_running_loop().time() - began < 1.0
        for r in [*idle, same_address, same_network, elsewhere]:
            r.close()

    asyncio.run(_serve_tracking(scenario, VRPS, Limits(notify_interval=0)))


def test_a_flood_of_refusals_does_not_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past REFUSALS_WAITING refusals at once, a refused router is answered at once (in our
    version) instead of being held a second for its first PDU: a flood holds no sockets."""
    monkeypatch.setattr(server_module, "REFUSALS_WAITING", 0)

    async def scenario(cache: RtrCache, port: int) -> None:
        held = await Router.connect(port, "127.0.0.2")
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        began = loop.time()
        refused = await Router.connect(port, "127.0.0.2")
        report = await refused.pdu()
        assert loop.time() - began < 0.5
        assert isinstance(report, P.ErrorReport) and report.version == 1
        assert await refused.closed()
        held.close()

    run(scenario, limits=Limits(notify_interval=0, per_client=1))


def test_node_limits_set_the_caps_and_idle_timeout() -> None:
    node = NodeLimits(rtr_per_client=2, rtr_per_network=5, rtr_connections=9, rtr_idle_timeout=99)
    limits = Limits.of(node, notify_interval=3.0)
    assert (limits.per_client, limits.per_network, limits.max_connections) == (2, 5, 9)
    assert (limits.idle_timeout, limits.notify_interval) == (99, 3.0)
    defaults = Limits()  # one definition of each default: the node's
    assert defaults.per_client == NodeLimits().rtr_per_client
    assert defaults.max_connections == NodeLimits().rtr_connections


def test_notify_rate_limit() -> None:
    async def scenario(cache: RtrCache, port: int) -> None:
        r = await Router.connect(port)
        await r.send(P.ResetQuery(1))
        await r.until_eod()
        loop = asyncio.get_running_loop()
        cache.apply(withdraw=[VRPS[0]])
        assert await r.pdu() == P.SerialNotify(1, 4242, 1)
        t = loop.time()
        cache.apply(withdraw=[VRPS[1]])
        cache.apply(withdraw=[VRPS[2]])
        assert await r.pdu() == P.SerialNotify(1, 4242, 3)  # one, for the latest serial
        assert loop.time() - t >= 0.5
        r.close()

    run(scenario, limits=Limits(notify_interval=0.8))


def test_idle_timeout_after_sync() -> None:
    async def scenario(cache: RtrCache, port: int) -> None:
        r = await Router.connect(port)
        await r.send(P.ResetQuery(1))
        await r.until_eod()
        assert await r.closed(timeout=3)

    run(scenario, limits=Limits(notify_interval=0, idle_timeout=0.5))


def _rpki_client_json(vrps: list[tuple[int, str, int]]) -> bytes:
    roas = [
        {"asn": a, "prefix": p, "maxLength": m, "ta": "test", "expires": 1900000000}
        for a, p, m in vrps
    ]
    return orjson.dumps({"metadata": {"buildtime": "2026-01-01T00:00:00Z"}, "roas": roas})


def test_serve_rtr_reloads_file(tmp_path: Path) -> None:
    path = tmp_path / "vrps.json"
    path.write_bytes(_rpki_client_json(VRPS))

    async def main() -> None:
        stop = asyncio.Event()
        ports: list[int] = []

        def ready(server: asyncio.Server, cache: RtrCache) -> None:
            ports.append(server.sockets[0].getsockname()[1])

        task = asyncio.create_task(
            serve_rtr(
                path,
                "127.0.0.1",
                0,
                Timings(30, 5, 600),
                Limits(notify_interval=0),
                poll_interval=0.05,
                ready=ready,
                stop=stop,
            )
        )
        while not ports:
            await asyncio.sleep(0.02)
        r = await Router.connect(ports[0])
        await r.send(P.ResetQuery(1))
        assert _prefixes(await r.until_eod()) == set(VRPS)
        new = [*VRPS[1:], (64511, "192.0.2.0/24", 24)]
        csv = tmp_path / "next.json"
        csv.write_bytes(_rpki_client_json(new))
        csv.replace(path)
        notify = await r.pdu()
        assert isinstance(notify, P.SerialNotify) and notify.serial == 1
        await r.send(P.SerialQuery(1, notify.session_id, 0))
        pdus = await r.until_eod()
        assert len(pdus) == 4  # Cache Response, one withdrawal, one announcement, End of Data
        assert _apply_buffer(set(VRPS), b"".join(p.encode() for p in pdus[1:-1])) == set(new)
        path.write_text("not json")  # a broken file keeps the last good set
        await asyncio.sleep(0.3)
        await r.send(P.SerialQuery(1, notify.session_id, 1))
        assert len(await r.until_eod()) == 2
        r.close()
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
