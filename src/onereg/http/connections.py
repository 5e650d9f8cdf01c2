"""The node's HTTP connections: uvicorn's httptools protocol with the limits it lacks.

uvicorn buffers a request's line and headers without bound, gives a half-sent request all the
time it wants, and counts connections only in all (`limit_concurrency`: one client's 1,000
half-open connections then turn every other client away with 503). This protocol adds, per
connection and before anything is handed to the application:

- a cap on the request line plus headers (`max_header_bytes`): counted as bytes arrive, so a
  client sending an endless header costs at most that much memory, and gets 431;
- a header timeout (`header_timeout`): a request whose headers have not all arrived by then
  gets 408 and the connection is closed (the keep-alive idle timeout, `idle_timeout`, covers
  the silence between requests);
- connection caps per client address, per client network and in all (`ConnectionGuard`): a
  connection past a cap gets 503 at once and is closed, so the client that holds too many
  connections is the one refused, never everyone.

The caps are checked by `ConnectionGate`, the protocol the server's accept makes first: a
refused connection costs one small object, a write and a close, never uvicorn's parser, flow
control and bookkeeping (one address reopening every connection the node closes is refused
hundreds of times a second on the core that serves RDAP; bench/bench_refusals.py measures
the cost). An admitted connection is handed to the HTTP protocol on the same transport.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, cast

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from onereg.federation.guard import ConnectionGuard
from onereg.federation.node_config import Limits


def refusal(status: int, reason: str, retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 answer that closes the connection (written before any app runs)."""
    phrases = {408: "Request Timeout", 431: "Request Header Fields Too Large"}
    phrase = phrases.get(status, "Service Unavailable")
    body = (reason + "\n").encode("utf-8", errors="replace")
    retry = f"retry-after: {retry_after}\r\n" if retry_after is not None else ""
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\n{retry}connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """One connection; the class attributes are set by `guarded_protocol` for one server."""

    limits: Limits = Limits()
    guard: ConnectionGuard = ConnectionGuard(1, 1, 1)

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._address: str | None = None  # set once the guard counted this connection
        self._closed = False  # refused or timed out: ignore whatever else arrives
        self._reading_head = True  # between a request's first byte (or the connect) and its headers
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None

    # --- connection caps -------------------------------------------------------------------

    def admitted(self, address: str) -> None:
        """The gate counted this connection for `address`: released when it is lost."""
        self._address = address

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._address is None:  # not through a gate: count it here
            address = self.client[0] if self.client else "unknown"
            refused = self.guard.admit(address)
            if refused is not None:
                self._refuse(503, f"{refused}; close some and try again", retry_after=5)
                return
            self._address = address
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._address is not None:
            self.guard.release(self._address)
            self._address = None
        super().connection_lost(exc)

    # --- header size -----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._reading_head and self._head_bytes > self.limits.max_header_bytes:
            self._too_large()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._reading_head:  # a keep-alive connection's next request starts
            self._reading_head = True
            self._head_bytes = 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        if not self._closed:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._closed:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._reading_head = False
        # The headers may have come whole in one large read: count them exactly as well.
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self.limits.max_header_bytes:
            self._too_large()
            raise httptools.HttpParserCallbackError("request headers too large")
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._closed:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._closed:
            super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._closed:  # a refusal already answered: the parser's error is ours
            super().send_400_response(msg)

    def _too_large(self) -> None:
        limit = self.limits.max_header_bytes
        self._refuse(431, f"request line and headers exceed {limit} bytes")

    # --- header timeout --------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and not self._closed:
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_late)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self._reading_head and not self.transport.is_closing():
            limit = self.limits.header_timeout
            self._refuse(408, f"the request's headers did not arrive within {limit:g} s")

    def _refuse(self, status: int, reason: str, retry_after: int | None = None) -> None:
        self._closed = True
        self._cancel_head_timer()
        if not self.transport.is_closing():
            self.transport.write(refusal(status, reason, retry_after))
            self.transport.close()


class ConnectionGate(asyncio.Protocol):
    """What the server's accept makes for every connection: checks the caps, and either
    refuses (503, close) or hands the transport to a new `GuardedHttpProtocol`.

    uvicorn makes one object per connection from `config.http`; this one holds only the
    arguments for the real protocol, so a refusal builds no parser and no per-connection
    state, and the guard has not counted it (nothing to release when it is lost)."""

    __slots__ = ("_args",)
    protocol: type[GuardedHttpProtocol] = GuardedHttpProtocol

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._args = (config, server_state, app_state, _loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's: typed, not checked
        transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        refused = self.protocol.guard.admit(address)
        if refused is not None:
            transport.write(refusal(503, f"{refused}; close some and try again", 5))
            transport.close()
            return
        http = self.protocol(*self._args)
        http.admitted(address)
        transport.set_protocol(http)
        http.connection_made(transport)


def guarded_protocol(limits: Limits) -> type[ConnectionGate]:
    """The protocol class uvicorn makes per connection for one server: a gate holding that
    server's limits and one connection guard for all its connections."""
    per_network = max(limits.http_per_client, limits.http_per_network)
    guard = ConnectionGuard(limits.http_per_client, per_network, limits.http_connections)

    class NodeHttpProtocol(GuardedHttpProtocol):
        pass

    NodeHttpProtocol.limits, NodeHttpProtocol.guard = limits, guard

    class NodeGate(ConnectionGate):
        __slots__ = ()

    NodeGate.protocol = NodeHttpProtocol
    return NodeGate


def server_config(app: Any, host: str, port: int, limits: Limits) -> Config:
    """uvicorn's config for a node: the guarded protocol and the keep-alive idle timeout.

    No `limit_concurrency`: the guard's caps replace it (it refuses everyone alike)."""
    return Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(limits),
        log_level="warning",
        timeout_keep_alive=max(1, math.ceil(limits.idle_timeout)),
    )
