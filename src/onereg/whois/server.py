"""The whois TCP service (RFC 3912): one query line in, the answer out, then close.

It runs in the node process's event loop, beside the HTTP app, so nothing here may block. The
answer is built in a worker thread (`BoundedWork`, `Limits.query_workers`) on a read-only
connection of that thread's own, under `Limits.query_deadline`: the loop's thread only reads
the line and writes the answer, so one costly query never delays another client. A query past
its deadline is stopped (the search checks the deadline per object and SQLite is interrupted
through its progress handler) and answered with an error saying so; a node shutting down
stops every running search at once.

A public port 43 meets idle, slow and hostile clients, so every connection is bounded (all from
the node's `Limits`): the query line must arrive within `whois_idle_timeout` and the answer be
taken within as long again, the line is at most 1,024 bytes, open connections are capped per
address, per /24 or /48 and in all (`ConnectionGuard`), and the expensive queries (more and
less specifics, object versions) are rate-limited per address (`RateLimiter`). Each refusal
is a RIPE-style `%ERROR:` line, so clients and people see why.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from onereg.core.registries import RegistryId
from onereg.federation.guard import (
    BoundedWork,
    ConnectionGuard,
    Deadline,
    DeadlineExceeded,
    RateLimiter,
)
from onereg.federation.node_config import Limits
from onereg.registry.node import RegistryNode
from onereg.whois.dialects import dialect_of
from onereg.whois.history import HistoryIndex
from onereg.whois.query import Query, WhoisError, line_too_long, parse_query
from onereg.whois.resolver import VERSION, Authority, Context, PastAuthority, answer

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 1024  # a query line; longer gets RIPE's %ERROR:107
_INTERRUPT_EVERY = 10_000  # SQLite virtual-machine steps between deadline checks


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


def _exceeded(reason: str) -> str:
    """RIPE's %ERROR:306, naming the cap that was hit (address, network or all)."""
    return WhoisError(
        306, "connections exceeded", f"{reason[0].upper()}{reason[1:]}.", "Try again later."
    ).text()


def _too_slow(seconds: float) -> WhoisError:
    """A search stopped at its deadline: RIPE's "unsupported query" for too costly a query."""
    return WhoisError(
        112,
        "unsupported query",
        f"The query took longer than {seconds:g} seconds and was stopped.",
        "Narrow the query (a smaller range, or without -m/-M), or try again later.",
    )


def _rate_limited(client: str, per_minute: int, wait: float) -> WhoisError:
    return WhoisError(
        201,
        f"access denied for {client}",
        f"Queries from your IP address have passed the limit of {per_minute} expensive",
        "queries a minute (-m, -M, -L, --list-versions, --show-version).",
        f"Access from your host has been temporarily denied: try again in {math.ceil(wait)} s.",
    )


def _printable(line: str) -> str:
    """Control characters (terminal escapes among them) never reach an answer that echoes."""
    return "".join(c if c.isprintable() or c == "\t" else "?" for c in line)


class _Readers:
    """Read-only connections to node files, one per worker thread: the node's own connection
    belongs to the event loop's thread, and a SQLite connection is used by one thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def node(self, registry: RegistryId, path: Path) -> RegistryNode:
        nodes: dict[Path, RegistryNode] = self._local.__dict__.setdefault("nodes", {})
        node = nodes.get(path)
        if node is None:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            node = nodes[path] = RegistryNode(registry, conn, path)
        return node


class WhoisService:
    """The connection handler and its shared state (connection counts, rate buckets, workers,
    history indexes)."""

    def __init__(
        self,
        get_node: Callable[[], RegistryNode],
        authority: Callable[[], Authority],
        whois_hosts: Mapping[RegistryId, str],
        limits: Limits,
        stale: Callable[[], list[str]] | None = None,
        observe: Callable[[str, float, int], None] | None = None,
        work: BoundedWork | None = None,
        rdap_base: str | None = None,
    ) -> None:
        self.get_node, self.authority, self.limits = get_node, authority, limits
        self.rdap_base = rdap_base  # the node's RDAP, which some dialects link objects to
        self.observe = observe  # (face, seconds, status) per query, for the node's metrics
        self.stale = stale  # peers whose mirrored logs are stale: said in every header
        self.whois_hosts = whois_hosts  # read per query: the caller may update it
        self.guard = ConnectionGuard(
            limits.whois_per_client, limits.whois_per_network, limits.whois_connections
        )
        self.rate = RateLimiter(limits.expensive_per_minute)
        self.work = work or BoundedWork(limits.query_workers, limits.query_deadline)
        # Expensive searches may hold all workers but one, so that a plain lookup (a few
        # index probes) never queues behind them.
        self._costly = asyncio.Semaphore(max(1, limits.query_workers - 1))
        self._readers = _Readers()
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
        refusal = self.guard.admit(ip)
        if refusal is not None:
            await self._refuse(reader, writer, _exceeded(refusal))
            return
        graceful = True
        try:
            try:
                line = await self._read_line(reader)
                text = await self.respond(line, ip)
            except _Idle:
                text = _timeout_error("has been closed after a period of inactivity.")
            except _TooLong:
                text = self.framed(self.get_node(), "", line_too_long().text())
            writer.write(text.encode("utf-8"))
            await asyncio.wait_for(writer.drain(), self.limits.whois_idle_timeout)
        except (TimeoutError, ConnectionError, OSError):  # not taking its answer, or gone
            graceful = False
        except asyncio.CancelledError:
            # The server is shutting down. Nothing awaits a connection's task, and asyncio's
            # stream callback logs a cancelled one as an error: end it quietly instead.
            graceful = False
        finally:
            self.guard.release(ip)
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
            await asyncio.wait_for(reader.read(MAX_LINE_BYTES), 0.2)
        except (TimeoutError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            graceful = False
        await self._close(writer, graceful)

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
        """The query line (up to LF, or to the client's half-close), at most MAX_LINE_BYTES,
        all of it within `whois_idle_timeout`: a client trickling bytes is not idle, but it
        gets no longer than one that sends nothing."""
        buffer = bytearray()
        try:
            async with asyncio.timeout(self.limits.whois_idle_timeout):
                while True:
                    chunk = await reader.read(MAX_LINE_BYTES + 1)
                    if not chunk:
                        break
                    buffer += chunk
                    end = buffer.find(b"\n")
                    if end >= 0:
                        del buffer[end:]
                        break
                    if len(buffer) > MAX_LINE_BYTES:
                        raise _TooLong
        except TimeoutError:
            raise _Idle from None
        if len(buffer) > MAX_LINE_BYTES:
            raise _TooLong
        return _printable(buffer.decode("utf-8", errors="replace").strip())

    def header(self, node: RegistryNode) -> str:
        name = node.registry.display_name
        return (
            f"% This is the {name} whois service of the onereg federation.\n"
            f"% The objects are in {dialect_of(node.registry).format_name}, rendered from the"
            " registry's log.\n"
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

    async def respond(self, line: str, client: str = "?") -> str:
        """The whole answer to one query line from `client` (an address)."""
        started = time.perf_counter()
        answer_text, status = await self._respond(line, client)
        if self.observe is not None:
            self.observe("whois", time.perf_counter() - started, status)
        return answer_text

    async def _respond(self, line: str, client: str) -> tuple[str, int]:
        status = 200
        node = self.get_node()
        notice = ""
        try:
            query = parse_query(dialect_of(node.registry).query_line(line))
            self._charge(query, client)
            body = await self._search(node, query)
            node = self.get_node()  # the one in use now, after the wait
            if not query.unfiltered and query.info is None:
                notice = (
                    "% Note: this output has been filtered.\n"
                    '%       To receive output for a database update, use the "-B" flag.\n\n'
                )
        except WhoisError as error:
            body = error.text()
            status = 429 if error.code == 201 else 503 if error.code == 112 else 200
        except Exception:
            log.exception("whois query %r failed", line[:100])
            status = 500
            body = WhoisError(
                100, "internal software error", "Please contact the registry if it persists."
            ).text()
        return self.framed(node, notice, body), status

    def _charge(self, query: Query, client: str) -> None:
        """Count an expensive query against its client's allowance, or refuse it."""
        if not query.expensive:
            return
        wait = self.rate.allow(client)
        if wait > 0:
            raise _rate_limited(client, self.limits.expensive_per_minute, wait)

    async def _search(self, node: RegistryNode, query: Query) -> str:
        """The answer's body, built off the loop within the query deadline.

        The history index is caught up with the log first. That is shared work, done once
        for every waiting client (all of it only when the node starts), so it is bounded by
        the connection's idle timeout rather than by one query's deadline."""
        deadline = self.limits.query_deadline
        index = self.history(node)
        try:
            catch_up = asyncio.shield(index.catch_up(node.head()[0]))
            await asyncio.wait_for(catch_up, self.limits.whois_idle_timeout)
            node = self.get_node()
            authority = self.authority()
            registry, path = node.registry, node.path

            def job(limit: Deadline) -> str:
                reader = self._readers.node(registry, path)
                ctx = Context(
                    reader,
                    authority,
                    self.whois_hosts,
                    index,
                    self.limits.whois_max_objects,
                    limit,
                    self.rdap_base,
                    self.authority if isinstance(self.authority, PastAuthority) else None,
                )
                return _interruptible(reader.conn, limit, lambda: answer(ctx, query))

            return await self._run(job, query.expensive)
        except (DeadlineExceeded, TimeoutError):
            raise _too_slow(deadline) from None

    async def _run(self, job: Callable[[Deadline], str], expensive: bool) -> str:
        """Run `job` on a worker; an expensive one first waits (at most the deadline) for a
        turn among the workers expensive searches may use."""
        if not expensive:
            return await self.work.run(job)
        await asyncio.wait_for(self._costly.acquire(), self.limits.query_deadline)
        try:
            return await self.work.run(job)
        finally:
            self._costly.release()

    def framed(self, node: RegistryNode, notice: str, body: str) -> str:
        """RIPE's layout: header, notices, objects, the served-by line and two blank lines,
        with comments in the node's registry's style (ARIN's `#`)."""
        text = f"{self.header(node)}\n{notice}{body}\n{self.footer(node)}\n\n"
        return dialect_of(node.registry).comments(text)


def _interruptible(conn: sqlite3.Connection, deadline: Deadline, work: Callable[[], str]) -> str:
    """Run `work` with SQLite interrupted once the deadline passes, even inside one statement."""
    conn.set_progress_handler(lambda: int(deadline.expired()), _INTERRUPT_EVERY)
    try:
        return work()
    except sqlite3.OperationalError:
        if deadline.expired():
            raise DeadlineExceeded("the query was interrupted at its deadline") from None
        raise
    finally:
        conn.set_progress_handler(None, 0)


async def start_whois(
    get_node: Callable[[], RegistryNode],
    authority: Callable[[], Authority],
    whois_hosts: Mapping[RegistryId, str],
    host: str = "",
    port: int = 0,
    limits: Limits | None = None,
    stale: Callable[[], list[str]] | None = None,
    observe: Callable[[str, float, int], None] | None = None,
    work: BoundedWork | None = None,
    sock: socket.socket | None = None,
    rdap_base: str | None = None,
) -> asyncio.Server:
    """Listen for whois queries on (host, port), or on `sock` (a listening socket made
    elsewhere), in the running event loop.

    `get_node` gives the node to answer from (called per query, in the loop's thread);
    `authority` the current authority map (an `RdapAuthority`; a `LiveAuthority` is such a
    callable); `whois_hosts` each registry's whois as "host:port", named in referrals;
    `limits` the node's `[limits]`; `work` the node's pool for bounded work (shared with its
    other faces; by default one of the service's own); `rdap_base` the node's public RDAP
    (`<url>/rdap`), which ARIN's dialect names in `Ref:`. The caller closes the server, and
    `work` when the node stops, which ends the searches still running.
    """
    service = WhoisService(
        get_node, authority, whois_hosts, limits or Limits(), stale, observe, work, rdap_base
    )
    if sock is not None:
        server = await asyncio.start_server(service.handle, sock=sock)
    else:
        server = await asyncio.start_server(service.handle, host, port, reuse_address=True)
    service.warm_up()
    return server
