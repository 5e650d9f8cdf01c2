"""The RTR server: asyncio, one reader and one writer task per router.

* Version negotiation (RFC 8210 §7): the first PDU's version (0 or 1) fixes the session's
  version. A higher version gets a version-1 Error Report "Unsupported Protocol Version" and the
  connection is closed (the router may retry with a lower version); a later PDU with another
  version gets "Unexpected Protocol Version" (version 1) or "Unsupported Protocol Version"
  (version 0, which has no code 8).
* Responses are prepared buffers from `RtrCache` (shared by every router at the same serial and
  version) written in `Limits.chunk`-sized slices. The writer waits for the socket to drain only
  when the transport holds more than `Limits.high_water` bytes, and drops the router when that
  wait makes no progress for `Limits.write_timeout` seconds; a stalled router therefore holds at
  most a chunk plus the high-water mark, and never holds up another.
* Serial Notify goes to every router that has synchronised once, when the cache's serial
  changes, at most once per `Limits.notify_interval` (RFC 8210 §5.2 asks for one per minute;
  later changes in the interval are folded into one notify at its end).
* Error Reports: Corrupt Data for bad lengths/fields, Unsupported PDU Type for unknown types,
  Invalid Request for PDUs a router must not send, No Data Available before the first VRP set
  (not fatal), Unsupported/Unexpected Protocol Version as above. A router's Error Report closes
  the session without a reply (RFC 8210 §5.11).
* Limits: open sessions are capped per router address (`per_client`), per /24 or /48
  (`per_network`) and in all (`max_connections`), so one host opening thousands of idle
  sessions takes only its own share (`federation.guard.ConnectionGuard`). A router over a cap
  gets an Error Report "Internal Error" (code 1) and the connection is closed: RFC 8210 §12
  defines code 1 for an error of the cache unrelated to the protocol ("ran out of memory"),
  which running out of session slots is; it is fatal, so the router drops the session and
  tries again later or another cache in its list. "No Data Available" (code 2) would be
  wrong: it says the cache has no VRPs yet, is not fatal, and is an answer to a query.
  `first_pdu_timeout` closes a connection that never sends a query, `idle_timeout` one with
  no query for that long (routers query at least every refresh interval), `pdu_timeout` a PDU
  whose header arrived but whose body never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol, cast

from onereg.core.errors import OneregError
from onereg.federation.guard import ConnectionGuard
from onereg.federation.node_config import Limits as NodeLimits
from onereg.rtr.pdu import (
    HEADER_LEN,
    MAX_PDU_LEN,
    MAX_VERSION,
    CacheReset,
    CacheResponse,
    EndOfData,
    ErrorCode,
    ErrorReport,
    Pdu,
    PduError,
    PduType,
    ResetQuery,
    SerialNotify,
    SerialQuery,
    check_header,
    check_timings,
    decode_body,
)
from onereg.rtr.state import RtrCache, VrpInput

log = logging.getLogger("onereg.rtr")

__all__ = ["Limits", "RtrServer", "Timings", "close_rtr", "run_rtr", "serve_rtr", "start_rtr"]


@dataclass(frozen=True)
class Timings:
    """The End of Data intervals (seconds), RFC 8210 §6 ranges."""

    refresh: int = 3600
    retry: int = 600
    expire: int = 7200

    def __post_init__(self) -> None:
        check_timings(self.refresh, self.retry, self.expire)


_NODE_DEFAULTS = NodeLimits()
REFUSAL_WAIT = 1.0  # seconds a refused router has to send its first PDU (its version)
REFUSALS_WAITING = 256  # beyond this many refusals waiting at once, refuse without waiting


@dataclass(frozen=True)
class Limits:
    """The server's bounds. The caps and the idle timeout are the node's `[limits]` (`rtr_*`,
    whose defaults are used here too); the rest is this server's tuning."""

    max_connections: int = _NODE_DEFAULTS.rtr_connections
    per_client: int = _NODE_DEFAULTS.rtr_per_client
    per_network: int = _NODE_DEFAULTS.rtr_per_network
    first_pdu_timeout: float = 60.0
    idle_timeout: float | None = None  # None: the expire interval plus a minute
    pdu_timeout: float = 30.0
    write_timeout: float = 60.0
    chunk: int = 1 << 20
    high_water: int = 1 << 20
    notify_interval: float = 60.0
    max_queued: int = 16  # responses waiting for a router that does not read: drop it

    @classmethod
    def of(cls, node: NodeLimits, notify_interval: float = 60.0) -> Limits:
        """The bounds a node's config sets."""
        return cls(
            max_connections=node.rtr_connections,
            per_client=node.rtr_per_client,
            per_network=node.rtr_per_network,
            idle_timeout=node.rtr_idle_timeout,
            notify_interval=notify_interval,
        )


_CLOSE: Final = memoryview(bytearray(0))  # a unique object: b"" is shared
_ROUTER_SENDS = {PduType.SERIAL_QUERY, PduType.RESET_QUERY, PduType.ERROR_REPORT}


class _Drop(Exception):
    """End this connection (after flushing what is queued)."""


class _Conn:
    def __init__(
        self, service: RtrServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.service = service
        self.reader = reader
        self.writer = writer
        self.version: int | None = None
        self.synced = False
        self.out: deque[bytes | memoryview] = deque()
        self.wake = asyncio.Event()
        self.notify_queued = False
        self.peer = str(writer.get_extra_info("peername"))

    # --- output ----------------------------------------------------------------------------------

    def send(self, *parts: bytes | memoryview) -> None:
        if len(self.out) >= self.service.limits.max_queued:
            log.info("rtr %s: %d responses unread, dropping", self.peer, len(self.out))
            self.writer.transport.abort()
            return
        self.out.extend(p for p in parts if len(p))
        self.wake.set()

    def notify(self, serial: int) -> None:
        if self.version is None or not self.synced or self.notify_queued:
            return
        if len(self.out) >= self.service.limits.max_queued // 2:
            return  # it is not reading anyway; it will query when (if) it catches up
        self.notify_queued = True
        self.send(SerialNotify(self.version, self.service.cache.session_id, serial).encode())

    async def write_loop(self) -> None:
        limits = self.service.limits
        transport = self.writer.transport
        transport.set_write_buffer_limits(high=limits.high_water)
        while True:
            while not self.out:
                self.wake.clear()
                pending = transport.get_write_buffer_size()
                try:
                    await asyncio.wait_for(
                        self.wake.wait(), limits.write_timeout if pending else None
                    )
                except TimeoutError:
                    if transport.get_write_buffer_size() >= pending:
                        log.info(
                            "rtr %s: stalled with %d bytes unsent, dropping", self.peer, pending
                        )
                        transport.abort()
                        return
            item = self.out.popleft()
            if item is _CLOSE:
                return
            view = memoryview(item)
            if len(view) == 12 and view[1] == PduType.SERIAL_NOTIFY:
                self.notify_queued = False
            for off in range(0, len(view), limits.chunk):
                if transport.is_closing():
                    return
                transport.write(view[off : off + limits.chunk])
                if transport.get_write_buffer_size() > limits.high_water:
                    try:
                        await asyncio.wait_for(self.writer.drain(), limits.write_timeout)
                    except TimeoutError:
                        log.info(
                            "rtr %s: not reading for %ss, dropping", self.peer, limits.write_timeout
                        )
                        transport.abort()
                        return

    # --- input -----------------------------------------------------------------------------------

    def error(
        self, code: ErrorCode, text: str, pdu: bytes = b"", version: int | None = None
    ) -> None:
        v = self.version if version is None else version
        if v is None:
            v = MAX_VERSION
        if v == 0 and code == ErrorCode.UNEXPECTED_PROTOCOL_VERSION:
            code = ErrorCode.UNSUPPORTED_PROTOCOL_VERSION
        log.info("rtr %s: error %s: %s", self.peer, code.name, text)
        self.send(ErrorReport(v, code, pdu[: MAX_PDU_LEN // 2], text).encode())

    async def read_loop(self) -> None:
        limits = self.service.limits
        idle = limits.idle_timeout
        if idle is None:
            idle = float(self.service.timings.expire + 60)
        while True:
            wait = limits.first_pdu_timeout if self.version is None else idle
            try:
                head = await asyncio.wait_for(self.reader.readexactly(HEADER_LEN), wait)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    self.error(ErrorCode.CORRUPT_DATA, "truncated PDU header", exc.partial)
                return
            except TimeoutError:
                log.info("rtr %s: idle for %ss, closing", self.peer, wait)
                return
            try:
                version, kind, fld, length = check_header(head)
            except PduError as exc:
                # version byte unusable: answer in the session's (or our highest) version
                ver = head[0] if head[0] in (0, 1) and self.version is None else None
                if exc.code == ErrorCode.UNSUPPORTED_PROTOCOL_VERSION and self.version is not None:
                    exc.code = ErrorCode.UNEXPECTED_PROTOCOL_VERSION
                self.error(exc.code, exc.message, exc.pdu, ver)
                return
            if self.version is None:
                self.version = version
            elif version != self.version:
                self.error(
                    ErrorCode.UNEXPECTED_PROTOCOL_VERSION,
                    f"version {version} in a version {self.version} session",
                    head,
                )
                return
            if kind not in _ROUTER_SENDS:
                self.error(ErrorCode.INVALID_REQUEST, f"a router does not send {kind.name}", head)
                return
            body = b""
            if length > HEADER_LEN:
                try:
                    body = await asyncio.wait_for(
                        self.reader.readexactly(length - HEADER_LEN), limits.pdu_timeout
                    )
                except asyncio.IncompleteReadError as exc:
                    self.error(ErrorCode.CORRUPT_DATA, "truncated PDU", head + exc.partial)
                    return
                except TimeoutError:
                    self.error(ErrorCode.CORRUPT_DATA, "PDU body never arrived", head)
                    return
            raw = head + body
            try:
                pdu = decode_body(version, kind, fld, raw)
            except PduError as exc:
                if kind is not PduType.ERROR_REPORT:
                    self.error(exc.code, exc.message, raw)
                return
            if isinstance(pdu, ErrorReport):
                log.info("rtr %s: router reports error %d: %s", self.peer, pdu.code, pdu.text)
                return
            self.answer(pdu, raw)

    def answer(self, pdu: Pdu, raw: bytes) -> None:
        cache = self.service.cache
        assert self.version is not None
        version = self.version
        if not cache.ready:
            self.error(ErrorCode.NO_DATA_AVAILABLE, "no VRPs yet", raw)
            return
        timings = self.service.timings
        if isinstance(pdu, ResetQuery):
            serial, buf = cache.full_buffer(version)
        elif isinstance(pdu, SerialQuery):
            if pdu.session_id != cache.session_id:
                self.send(CacheReset(version).encode())
                return
            serial, delta = cache.delta_buffer(pdu.serial, version)
            if delta is None:
                self.send(CacheReset(version).encode())
                return
            buf = delta
        else:  # pragma: no cover - read_loop filters types
            self.error(ErrorCode.INVALID_REQUEST, "unexpected PDU", raw)
            return
        eod = EndOfData(
            version, cache.session_id, serial, timings.refresh, timings.retry, timings.expire
        )
        self.synced = True
        self.send(CacheResponse(version, cache.session_id).encode(), buf, eod.encode())


@dataclass
class RtrServer:
    """A running RTR service: the listening socket plus its connections."""

    cache: RtrCache
    timings: Timings
    limits: Limits
    conns: set[_Conn] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    server: asyncio.Server | None = None
    _last_notify: float = 0.0
    _notify_handle: asyncio.TimerHandle | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    guard: ConnectionGuard = field(init=False)
    _refusing: int = 0  # refusals waiting for the router's first PDU

    def __post_init__(self) -> None:
        limits = self.limits
        self.guard = ConnectionGuard(limits.per_client, limits.per_network, limits.max_connections)

    def admit(self, transport: asyncio.Transport, address: str) -> None:
        """Serve a connection the gate counted: a stream reader and writer on its transport
        (as `asyncio.start_server` makes them) and a task reading the router's queries."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_PDU_LEN, loop=loop)

        def connected(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> Awaitable[None]:
            return self._serve_counted(reader, writer, address)

        protocol = asyncio.StreamReaderProtocol(reader, connected, loop=loop)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)

    async def _serve_counted(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str
    ) -> None:
        try:
            await self._serve(reader, writer)
        finally:
            self.guard.release(address)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(self, reader, writer)
        self.conns.add(conn)
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        wtask = asyncio.create_task(conn.write_loop())
        try:
            await conn.read_loop()
        except (ConnectionError, OSError):
            pass
        finally:
            conn.out.append(_CLOSE)
            conn.wake.set()
            with contextlib.suppress(TimeoutError, ConnectionError, OSError):
                await asyncio.wait_for(asyncio.shield(wtask), self.limits.write_timeout)
            wtask.cancel()
            with contextlib.suppress(BaseException):
                await wtask
            self.conns.discard(conn)
            if task is not None:
                self.tasks.discard(task)
            transport = writer.transport
            if not transport.is_closing():
                transport.close()

    def on_update(self, serial: int) -> None:
        """Cache listener (any thread): broadcast Serial Notify, rate-limited."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._schedule_notify)

    def _schedule_notify(self) -> None:
        if self._notify_handle is not None:
            return
        wait = self._last_notify + self.limits.notify_interval - time.monotonic()
        if wait <= 0:
            self._broadcast()
        else:
            assert self._loop is not None
            self._notify_handle = self._loop.call_later(wait, self._broadcast)

    def _broadcast(self) -> None:
        self._notify_handle = None
        self._last_notify = time.monotonic()
        serial = self.cache.serial
        if serial is None:
            return
        for conn in list(self.conns):
            conn.notify(serial)

    async def close(self) -> None:
        self.cache.remove_listener(self.on_update)
        if self._notify_handle is not None:
            self._notify_handle.cancel()
        if self.server is not None:
            self.server.close()
        for conn in list(self.conns):
            conn.writer.transport.abort()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5)
        if self.server is not None:
            await self.server.wait_closed()


class _Gate(asyncio.Protocol):
    """What the listening socket's accept makes for every router connection: checks the caps
    before anything else exists for it. An admitted connection is handed to the server's
    streams (`RtrServer.admit`); a refused one costs this small object and one Error Report
    "Internal Error" saying which cap was hit (see the module's docstring for the code), with
    no stream, task or timeout of its own (one address reopening thousands of sessions is
    refused hundreds of times a second on the node's host; bench/bench_refusals.py).

    The router's first PDU, if it comes within REFUSAL_WAIT seconds, gives the version to
    answer in; past REFUSALS_WAITING refusals waiting at once, the report goes at once in our
    version (a flood of refusals must not hold sockets). The report carries no PDU, as it
    concerns none."""

    __slots__ = ("reason", "service", "timer", "transport")

    def __init__(self, service: RtrServer) -> None:
        self.service = service
        self.transport: asyncio.Transport | None = None
        self.reason = ""
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's: typed, not checked
        transport = cast(asyncio.Transport, transport)
        service = self.service
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        refusal = service.guard.admit(address)
        if refusal is None:
            service.admit(transport, address)
            return
        log.debug("rtr %s: refused: %s", peer, refusal)
        self.transport, self.reason = transport, refusal
        if service._refusing >= REFUSALS_WAITING:
            self._report(MAX_VERSION)
            return
        service._refusing += 1
        self.timer = asyncio.get_running_loop().call_later(REFUSAL_WAIT, self._report, MAX_VERSION)

    def data_received(self, data: bytes) -> None:
        if self.timer is not None and data:
            self._report(data[0] if data[0] <= MAX_VERSION else MAX_VERSION)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()

    def _stop_waiting(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            self.service._refusing -= 1

    def _report(self, version: int) -> None:
        self._stop_waiting()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(ErrorReport(version, ErrorCode.INTERNAL_ERROR, b"", self.reason).encode())
        transport.close()  # after the report is written; a few dozen bytes always fit


_SERVICES: dict[int, RtrServer] = {}


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def start_rtr(
    cache: RtrCache,
    host: str = "127.0.0.1",
    port: int = 8282,
    timings: Timings | None = None,
    limits: Limits | None = None,
) -> asyncio.Server:
    """Listen for routers on host:port (port 0 picks a free one; see `sockets`)."""
    _raise_fd_limit()
    service = RtrServer(cache, timings or Timings(), limits or Limits())
    service._loop = asyncio.get_running_loop()
    loop = service._loop
    server = await loop.create_server(lambda: _Gate(service), host, port, backlog=4096)
    service.server = server
    cache.add_listener(service.on_update)
    _SERVICES[id(server)] = service
    return server


def service_of(server: asyncio.Server) -> RtrServer:
    return _SERVICES[id(server)]


async def close_rtr(server: asyncio.Server) -> None:
    """Stop listening and drop every router connection."""
    service = _SERVICES.pop(id(server), None)
    if service is None:
        server.close()
        await server.wait_closed()
        return
    await service.close()


def load_vrps(path: Path) -> VrpInput:
    """rpki-client JSON or CSV (also Routinator / RIPE NCC validator CSV)."""
    from onereg.rtr.vrps import load_vrps as load

    return load(path)


class VrpSource(Protocol):
    """Where the cache's VRPs come from: a cheap change stamp, and the (slow) full read."""

    def stamp(self) -> Hashable: ...

    def load(self) -> VrpInput: ...


@dataclass(frozen=True)
class FileSource:
    """An rpki-client JSON or CSV file, re-read when its size or mtime changes."""

    path: Path

    def stamp(self) -> Hashable:
        st = os.stat(self.path)
        return st.st_mtime_ns, st.st_size

    def load(self) -> VrpInput:
        return load_vrps(self.path)


async def serve_rtr(
    vrps_source: Path | VrpSource,
    host: str = "127.0.0.1",
    port: int = 8282,
    timings: Timings | None = None,
    limits: Limits | None = None,
    *,
    poll_interval: float = 5.0,
    max_history: int = 64,
    ready: Callable[[asyncio.Server, RtrCache], Awaitable[None] | None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve the VRPs of `vrps_source` (a file, or any `VrpSource`), reloading when its stamp
    changes (the diff is computed in a worker thread; routers get Serial Notify and then only
    the delta)."""
    source = FileSource(vrps_source) if isinstance(vrps_source, Path) else vrps_source
    cache = RtrCache(max_history=max_history)
    loop = asyncio.get_running_loop()
    seen = source.stamp()
    cache.commit(await loop.run_in_executor(None, lambda: cache.prepare(source.load())))
    await loop.run_in_executor(None, cache.warm)
    server = await start_rtr(cache, host, port, timings, limits)
    log.info("rtr: %d VRPs, serial %s, on %s:%d", len(cache), cache.serial, host, port)
    if ready is not None:
        result = ready(server, cache)
        if result is not None:
            await result
    stop = stop or asyncio.Event()
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_interval)
            if stop.is_set():
                break
            try:
                now = source.stamp()
            except OSError:
                continue
            if now == seen:
                continue
            seen = now
            try:
                prepared = await loop.run_in_executor(None, lambda: cache.prepare(source.load()))
            except (OSError, ValueError, OneregError) as exc:
                log.warning("rtr: keeping serial %s, cannot read %s: %s", cache.serial, source, exc)
                continue
            serial = cache.commit(prepared)
            if serial is not None:
                log.info("rtr: %d VRPs, serial %d", len(cache), serial)
                await loop.run_in_executor(None, cache.warm)
    finally:
        await close_rtr(server)


def run_rtr(
    vrps_source: Path | VrpSource,
    host: str = "127.0.0.1",
    port: int = 8282,
    *,
    refresh: int = 3600,
    retry: int = 600,
    expire: int = 7200,
    poll_interval: float = 5.0,
    limits: NodeLimits = _NODE_DEFAULTS,
    notify_interval: float = 60.0,
    ready: Callable[[asyncio.Server, RtrCache], None] | None = None,
) -> None:
    """Blocking entry point for `onereg rtr serve`: runs until interrupted. `limits` are the
    node's (its config's `[limits]`, or the defaults); `ready` is called once it listens."""
    timings = Timings(refresh, retry, expire)
    server_limits = Limits.of(limits, notify_interval)
    if server_limits.idle_timeout is not None and server_limits.idle_timeout <= refresh:
        raise OneregError(
            f"rtr_idle_timeout {server_limits.idle_timeout:g} s must exceed the refresh "
            f"interval {refresh} s: routers query only that often (RFC 8210 section 6)"
        )
    coro = serve_rtr(
        vrps_source, host, port, timings, server_limits, poll_interval=poll_interval, ready=ready
    )
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is a dependency
        asyncio.run(coro)
