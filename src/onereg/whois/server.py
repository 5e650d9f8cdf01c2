"""The whois TCP service (RFC 3912): one query line in, the answer out, then close.

It runs in the node process's event loop, beside the HTTP app, so nothing here may block: the
node's queries are index lookups done in the loop's thread (the only one using the node's
connection), and the one slow job, indexing the log for versions, runs in a worker thread on
its own read-only connection (see history.py).

A public port 43 meets idle, slow and hostile clients, so every connection is bounded: an idle
timeout per read, a deadline for the whole exchange (a client that will not read its answer is
cut off too), a cap on the line's length, and caps on concurrent connections in all and per
address. Each refusal is a RIPE-style `%ERROR:` line, so clients and people see why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from onereg.core.registries import RegistryId
from onereg.registry.node import RegistryNode
from onereg.whois.history import HistoryIndex
from onereg.whois.query import WhoisError, line_too_long, parse_query
from onereg.whois.resolver import VERSION, Authority, Context, answer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WhoisLimits:
    """Bounds on what one client may cost the node process."""

    idle_timeout: float = 10.0  # seconds without a byte from the client
    total_timeout: float = 30.0  # seconds for the whole connection, reading and writing
    max_connections: int = 100
    max_connections_per_ip: int | None = 20
    max_line_bytes: int = 1024
    max_objects: int = 500  # more-specific searches list at most this many objects


class _Idle(Exception):
    pass


class _TooLong(Exception):
    pass


def _timeout_error(reason: str) -> str:
    return WhoisError(
        305,
        "connection has been closed",
        "The connection to the whois query server",
        reason,
    ).text()


def _exceeded(limit: int, per_ip: bool) -> str:
    who = "Number of connections from a single IP address" if per_ip else "Number of connections"
    return WhoisError(
        306,
        "connections exceeded",
        who,
        f"has exceeded the maximum number allowed ({limit}).",
    ).text()


def _printable(line: str) -> str:
    """Control characters (terminal escapes among them) never reach an answer that echoes."""
    return "".join(c if c.isprintable() or c == "\t" else "?" for c in line)


class WhoisService:
    """The connection handler and its shared state (connection counts, history indexes)."""

    def __init__(
        self,
        get_node: Callable[[], RegistryNode],
        authority: Callable[[], Authority],
        whois_hosts: Mapping[RegistryId, str],
        limits: WhoisLimits,
        stale: Callable[[], list[str]] | None = None,
        observe: Callable[[str, float, int], None] | None = None,
    ) -> None:
        self.get_node, self.authority, self.limits = get_node, authority, limits
        self.observe = observe  # (face, seconds, status) per query, for the node's metrics
        self.stale = stale  # peers whose mirrored logs are stale: said in every header
        self.whois_hosts = whois_hosts  # read per query: the caller may update it
        self.active = 0
        self._per_ip: dict[str, int] = {}
        self._histories: dict[Path, HistoryIndex] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def history(self, node: RegistryNode) -> HistoryIndex:
        index = self._histories.get(node.path)
        if index is None:
            index = self._histories[node.path] = HistoryIndex(node.path)
        return index

    def warm_up(self) -> None:
        """Index the log now, so the first query does not wait for it."""
        node = self.get_node()
        task = asyncio.get_running_loop().create_task(self.history(node).catch_up(node.head()[0]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        refusal = self._admit(ip)
        if refusal is not None:
            await self._refuse(reader, writer, refusal)
            return
        graceful = True
        try:
            async with asyncio.timeout(self.limits.total_timeout):
                try:
                    line = await self._read_line(reader)
                    text = await self.respond(line)
                except _Idle:
                    text = _timeout_error("has been closed after a period of inactivity.")
                except _TooLong:
                    text = self.framed(self.get_node(), "", line_too_long().text())
                writer.write(text.encode("utf-8"))
                await writer.drain()
        except TimeoutError:  # the deadline: say so, and give the client a second to take it
            with contextlib.suppress(Exception):
                limit = f"{self.limits.total_timeout:g}"
                writer.write(_timeout_error(f"has been closed after {limit} seconds.").encode())
        except (ConnectionError, OSError):
            graceful = False
        except asyncio.CancelledError:
            # The server is shutting down. Nothing awaits a connection's task, and asyncio's
            # stream callback logs a cancelled one as an error: end it quietly instead.
            graceful = False
        finally:
            self._release(ip)
            await self._close(writer, graceful)

    async def _refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, refusal: str
    ) -> None:
        """Send the refusal, then take the query line the client may already have sent: a
        socket closed with unread input is reset, and the client would lose the refusal."""
        graceful = True
        try:
            writer.write(refusal.encode())
            await asyncio.wait_for(writer.drain(), 1.0)
            await asyncio.wait_for(reader.read(self.limits.max_line_bytes), 0.2)
        except (TimeoutError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            graceful = False
        await self._close(writer, graceful)

    def _admit(self, ip: str) -> str | None:
        limits = self.limits
        if self.active >= limits.max_connections:
            return _exceeded(limits.max_connections, per_ip=False)
        per_ip = limits.max_connections_per_ip
        if per_ip is not None and self._per_ip.get(ip, 0) >= per_ip:
            return _exceeded(per_ip, per_ip=True)
        self.active += 1
        self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        return None

    def _release(self, ip: str) -> None:
        self.active -= 1
        left = self._per_ip.get(ip, 1) - 1
        if left:
            self._per_ip[ip] = left
        else:
            self._per_ip.pop(ip, None)

    async def _close(self, writer: asyncio.StreamWriter, graceful: bool) -> None:
        """Flush and close; a client that does not take the last bytes within a second (or a
        connection cut short) is aborted rather than waited for."""
        if not graceful:
            writer.transport.abort()
            return
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except (TimeoutError, ConnectionError, OSError):
            writer.transport.abort()

    async def _read_line(self, reader: asyncio.StreamReader) -> str:
        """The query line (up to LF, or to the client's half-close), at most max_line_bytes."""
        limit = self.limits.max_line_bytes
        buffer = bytearray()
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(limit + 1), self.limits.idle_timeout)
            except TimeoutError:
                raise _Idle from None
            if not chunk:
                break
            buffer += chunk
            end = buffer.find(b"\n")
            if end >= 0:
                del buffer[end:]
                break
            if len(buffer) > limit:
                raise _TooLong
        if len(buffer) > limit:
            raise _TooLong
        return _printable(buffer.decode("utf-8", errors="replace").strip())

    def header(self, node: RegistryNode) -> str:
        name = node.registry.display_name
        return (
            f"% This is the {name} whois service of the onereg federation.\n"
            "% The objects are in RPSL format, rendered from the registry's log.\n"
            "%\n"
            '% Object history: "--list-versions KEY" and "--show-version N KEY".\n'
            + "".join(f"% Warning: stale peer data: {n}\n" for n in self._stale())
        )

    def _stale(self) -> list[str]:
        return [_printable(n) for n in self.stale()] if self.stale else []

    def footer(self, node: RegistryNode) -> str:
        name = node.registry.display_name
        size = node.head()[0]
        return f"% This query was served by the {name} whois service {VERSION} (log size {size})\n"

    async def respond(self, line: str) -> str:
        """The whole answer to one query line."""
        started = time.perf_counter()
        answer_text, failed = await self._respond(line)
        if self.observe is not None:
            self.observe("whois", time.perf_counter() - started, 500 if failed else 200)
        return answer_text

    async def _respond(self, line: str) -> tuple[str, bool]:
        failed = False
        node = self.get_node()
        notice = ""
        try:
            query = parse_query(line)
            index = self.history(node)
            await index.catch_up(node.head()[0])
            node = self.get_node()  # the one in use now, after the wait
            ctx = Context(node, self.authority(), self.whois_hosts, index, self.limits.max_objects)
            body = answer(ctx, query)
            if not query.unfiltered and query.info is None:
                notice = (
                    "% Note: this output has been filtered.\n"
                    '%       To receive output for a database update, use the "-B" flag.\n\n'
                )
        except WhoisError as error:
            body = error.text()
        except Exception:
            log.exception("whois query %r failed", line[:100])
            failed = True
            body = WhoisError(
                100, "internal software error", "Please contact the registry if it persists."
            ).text()
        return self.framed(node, notice, body), failed

    def framed(self, node: RegistryNode, notice: str, body: str) -> str:
        """RIPE's layout: header, notices, objects, the served-by line and two blank lines."""
        return f"{self.header(node)}\n{notice}{body}\n{self.footer(node)}\n\n"


async def start_whois(
    get_node: Callable[[], RegistryNode],
    authority: Callable[[], Authority],
    whois_hosts: Mapping[RegistryId, str],
    host: str,
    port: int,
    limits: WhoisLimits | None = None,
    stale: Callable[[], list[str]] | None = None,
    observe: Callable[[str, float, int], None] | None = None,
) -> asyncio.Server:
    """Listen for whois queries on (host, port) in the running event loop.

    `get_node` gives the node to answer from (called per query, in the loop's thread);
    `authority` the current authority map (an `RdapAuthority`; a `LiveAuthority` is such a
    callable); `whois_hosts` each
    registry's whois as "host:port", named in referrals. The caller closes the server.
    """
    service = WhoisService(
        get_node, authority, whois_hosts, limits or WhoisLimits(), stale, observe
    )
    server = await asyncio.start_server(service.handle, host, port, reuse_address=True)
    service.warm_up()
    return server
