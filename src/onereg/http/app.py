"""One node over HTTP: its log published as C2SP tlog-tiles, and its witness (tlog-witness).

Everything under /log/ is static for a given checkpoint (full tiles and bundles never change),
so the same files could be served by any web server or CDN; this app only computes them from
the node's SQLite file on request. Tiles are cut at the size of the latest signed checkpoint:
entries beyond it are not yet committed to, and are not published.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from onereg.core.errors import OneregError
from onereg.core.registries import RegistryId
from onereg.federation.importer import ImportOutcome
from onereg.federation.mirror import PeerMirrors
from onereg.federation.node_config import Limits
from onereg.federation.peer_client import PeerClient
from onereg.federation.publish import NodePublisher
from onereg.federation.transfer_protocol import ProtocolConfig, TransferProtocol
from onereg.federation.witness import Witness
from onereg.http.metrics import MetricsMiddleware, NodeMetrics, metrics_route
from onereg.http.offload import Offload, Refused
from onereg.http.operator_routes import operator_routes
from onereg.http.rdap import RdapAuthority, port43_host, rdap_routes
from onereg.http.rdap_fast import FastLookups, RdapFastPath
from onereg.http.rpki_routes import RpkiConfig, rpki_routes
from onereg.http.signed import SignedRoutes, signer_of
from onereg.http.transfers import transfer_routes
from onereg.ledger.checkpoint import Checkpoint, Cosigner
from onereg.ledger.entry import encode_entry
from onereg.ledger.note import Verifier, parse_note
from onereg.ledger.tiles import (
    TILE_WIDTH,
    entry_bundle,
    parse_entries_path,
    parse_tile_path,
    tile_hashes,
    tile_width,
)
from onereg.registry.checkpoints import CHECKPOINT_SCHEMA
from onereg.registry.export import export_transfers
from onereg.registry.node import RegistryNode
from onereg.registry.treestore import SqliteHashStore
from onereg.rpki.publish import Publisher

_log = logging.getLogger("onereg.node")
URGENT_MIRROR_SECONDS = 0.05
FREEZE_WAIT_SECONDS = 60.0  # how long to wait for the first checkpoint before freezing
URGENT_FOR_SECONDS = 2.0
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
FRESH = {"Cache-Control": "no-cache"}


@dataclass
class NodeService:
    """What the routes need: the node's database, its witness, which logs it follows, and how
    it reaches the other nodes for transfers."""

    registry: RegistryId
    db_path: Path
    cosigner: Cosigner
    peers: dict[str, list[Verifier]]
    signed: SignedRoutes  # who may ask this node to act (RFC 9421), and its signed answers
    origins: dict[str, str]  # registry -> its log's origin: a log asks for its own cosignatures
    peer_keys: dict[str, Ed25519PublicKey]  # registry -> node key: its answers must verify
    transfers: ProtocolConfig | None = None
    rdap: Callable[[], RdapAuthority] | None = None  # where RDAP sends what others hold
    public_url: str = ""
    public_whois: str = ""  # host:port of the whois service, named as `port43` in RDAP
    limits: Limits = field(default_factory=Limits)  # [limits] of node.toml
    rrdp: Publisher | None = None  # the publication server whose RRDP files this node serves
    rpki: RpkiConfig | None = None  # this registry's CA, for the hosted ROA routes
    # Other servers of the node that share its event loop (and so its one connection), e.g.
    # whois: each is started with the service and returns something to close at shutdown.
    companions: list[Callable[[NodeService], Awaitable[asyncio.AbstractServer]]] = field(
        default_factory=list
    )
    node: RegistryNode | None = None
    protocol: TransferProtocol | None = None
    mirrors: PeerMirrors | None = None  # verified mirrors of the peers' logs, kept fresh
    mirror_seconds: float = 5.0
    stale_after: float = 60.0
    # the log keys each peer may sign with, rotations included (default: `peers`, fixed)
    witness_logs: Callable[[], dict[str, list[Verifier]]] | None = None
    publisher: NodePublisher | None = None  # signs and gets cosigned on a timer
    operators: SignedRoutes | None = None  # operator-signed routes (/admin/...)
    uploads: SignedRoutes | None = None  # the same keys, with room for a registry's file
    importer: Callable[[Path], ImportOutcome] | None = None  # runs in a worker thread
    incoming: Path | None = None  # where uploaded files wait for their import
    rotate_key: Callable[[], tuple[str, str]] | None = None  # (retired, in use) key names
    client: PeerClient | None = None  # this node's signed client to its peers (while serving)
    # more routes on the same port, made by whoever starts the node (the web explorer, /ui/)
    ui: Callable[[NodeService], list[BaseRoute]] | None = None

    mirror_wake: asyncio.Event = field(default_factory=asyncio.Event)
    metrics: NodeMetrics | None = None  # `GET /metrics` (made by `build_app`)
    offload: Offload | None = None  # worker pools for queries (made by `build_app`)

    mirror_urgent_until: float = 0.0

    def mirror_now(self) -> None:
        """A peer's log is needed fresher than the timer would make it: mirror now, and keep
        mirroring every URGENT_MIRROR_SECONDS for a moment (the peer may still be gathering
        the cosignatures of the checkpoint we wait for)."""
        self.mirror_urgent_until = time.monotonic() + URGENT_FOR_SECONDS
        self.mirror_wake.set()

    def changed(self) -> None:
        """The log grew by a protocol step: publish at once rather than at the next tick."""
        if self.publisher is not None:
            self.publisher.poke()

    def stale_notes(self) -> list[str]:
        """Peers whose mirrors are stale or unverified, said to people who read the answers."""
        return [] if self.mirrors is None else self.mirrors.notes(self.stale_after)

    def current_node(self) -> RegistryNode:
        assert self.node is not None, "service not started"
        return self.node

    def open(self) -> None:
        node = RegistryNode.open(self.registry, self.db_path)
        node.conn.executescript(CHECKPOINT_SCHEMA)
        self.node = node

    @property
    def db(self) -> sqlite3.Connection:
        assert self.node is not None, "service not started"
        return self.node.conn

    def checkpoint_note(self) -> str | None:
        row = self.db.execute("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def published_size(self) -> int:
        note = self.checkpoint_note()
        return 0 if note is None else Checkpoint.parse(parse_note(note)[0]).size


def _rrdp_route(publisher: Publisher) -> Callable[[Request], Awaitable[Response]]:
    """RRDP files (RFC 8182) and the TA certificates as published; a notification changes,
    snapshots and deltas never do (their names carry session and serial)."""

    async def rrdp(request: Request) -> Response:
        path = request.path_params["path"]
        found = await asyncio.to_thread(publisher.http_file, path)  # a snapshot: megabytes
        if found is None:
            return _not_found(f"no RRDP file {path}")
        body, media = found
        headers = FRESH if path.endswith("notification.xml") else IMMUTABLE
        return Response(body, media_type=media, headers=headers)

    return rrdp


def _not_found(reason: str) -> Response:
    return PlainTextResponse(reason + "\n", status_code=404)


def build_app(service: NodeService) -> Starlette:
    async def checkpoint(request: Request) -> Response:
        note = service.checkpoint_note()
        if note is None:
            return _not_found("this log has not signed a checkpoint yet")
        return PlainTextResponse(note, headers=FRESH)

    async def tile(request: Request) -> Response:
        path = "tile/" + request.path_params["path"]
        size = service.published_size()
        try:
            if path.startswith("tile/entries/"):  # up to 256 entries, each up to 1,000 changes
                node = service.current_node()
                gzipped = accepts_gzip(request)
                return await work.lookup(
                    node.registry,
                    node.path,
                    lambda reader, _: _entries(reader.conn, path, size, gzipped),
                )
            level, index, width = parse_tile_path(path)
            full = tile_width(level, index, size)
            if full == 0 or (width is None and full < TILE_WIDTH) or (width or 0) > full:
                return _not_found(f"no tile {path} in the published tree of size {size}")
            data = tile_hashes(SqliteHashStore(service.db), level, index, size)
        except (OneregError, ValueError) as exc:
            return _not_found(str(exc))
        except Refused as exc:
            return PlainTextResponse(
                exc.reason + "\n", exc.status, headers={"Retry-After": str(exc.retry_after)}
            )
        wanted = data if width is None else data[: width * 32]
        return Response(wanted, media_type="application/octet-stream", headers=IMMUTABLE)

    async def transfers(request: Request) -> Response:
        """The NRO transfer log: every transfer in the log, so an expensive query."""
        node = service.current_node()
        client = request.client.host if request.client else "unknown"
        try:
            body = await work.expensive(
                client, node.registry, node.path, lambda reader, _: export_transfers(reader)
            )
        except Refused as exc:
            headers = {"Retry-After": str(exc.retry_after)}
            return JSONResponse({"reasons": [exc.reason]}, exc.status, headers=headers)
        return JSONResponse(body)

    async def add_checkpoint(request: Request) -> Response:
        try:  # a note is UTF-8 (c2sp.org/signed-note): anything else is malformed, not forged
            body = (await request.body()).decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"malformed add-checkpoint request: not UTF-8 at byte {exc.start}\n"
            return PlainTextResponse(reason, status_code=400)
        signer = signer_of(request)
        origin = body.partition("\n\n")[2].split("\n", 1)[0]
        if signer is None or service.origins.get(signer.keyid) != origin:
            who = signer.keyid if signer else "nobody"
            return PlainTextResponse(
                f"a log asks for its own cosignatures: signed by {who}, for {origin!r}\n",
                status_code=403,
            )
        logs = service.witness_logs() if service.witness_logs else service.peers
        witness = Witness(service.db, service.cosigner, logs, service.limits)
        reply = witness.add_checkpoint(body)
        if reply.status in (200, 403):  # a log moved (or rotated a key): mirror it soon
            service.mirror_now()
        # the content type exactly as given: `text/x.tlog.size` takes no charset parameter
        headers = {"Content-Type": reply.content_type}
        return Response(reply.body, status_code=reply.status, headers=headers)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.open()  # in the event loop's thread: every handler uses the connection there
        assert service.node is not None
        async with aiohttp.ClientSession() as session:
            recovery = publishing = None
            client = service.client = PeerClient(
                session,
                service.transfers.timeout_seconds if service.transfers else 5.0,
                key=service.signed.key,
                peer_keys=service.peer_keys,
                window_seconds=service.signed.verifier.window,
            )
            if service.transfers is not None:
                service.protocol = TransferProtocol(
                    service.node,
                    service.transfers,
                    client,
                    on_step=service.changed,
                    on_behind=service.mirror_now,
                )
                recovery = asyncio.create_task(service.protocol.recover_forever())
            if service.publisher is not None:
                publishing = asyncio.create_task(service.publisher.forever(client))
            servers = [await start(service) for start in service.companions]
            warm = _warm_rdap(service)
            freeze = asyncio.create_task(_freeze_long_lived(service, warm))
            lag = asyncio.create_task(service.metrics.watch_loop()) if service.metrics else None
            started = (recovery, publishing, _start_mirroring(service), warm, freeze, lag)
            tasks = [t for t in started if t is not None]
            yield
            for server in servers:
                server.close()
            for task in tasks:
                task.cancel()
        work.close()
        if service.mirrors is not None:
            service.mirrors.close()
        service.db.close()

    service.metrics = NodeMetrics(service)
    work = service.offload = Offload(service.limits)
    routes: list[BaseRoute] = []
    fast = FastLookups()  # filled by rdap_routes: its lookups, answered before the router
    if service.rdap is not None:  # first: Starlette tries the routes in order, and RDAP
        routes += rdap_routes(  # lookups are most of a node's requests (no path overlaps)
            service.current_node,
            service.rdap,
            service.public_url,
            port43=port43_host(service.public_whois),
            stale=service.stale_notes,
            offload=work,
            fast=fast,
        )
    routes += [
        Route("/metrics", metrics_route(service)),
        Route("/log/checkpoint", checkpoint),
        Route("/log/tile/{path:path}", tile),
        Route("/witness/add-checkpoint", service.signed.required(add_checkpoint), methods=["POST"]),
        Route("/transfers", transfers),
        *transfer_routes(service),
    ]
    if service.rrdp is not None:
        routes.append(Route("/rrdp/{path:path}", _rrdp_route(service.rrdp)))
    if service.rpki is not None:
        routes += rpki_routes(service.current_node, service.rpki, work)
    if service.operators is not None:
        routes += operator_routes(service, service.operators, service.uploads or service.operators)
    if service.ui is not None:
        routes += service.ui(service)
    middleware = [
        Middleware(MetricsMiddleware, metrics=lambda: service.metrics),
        Middleware(RdapFastPath, lookups=fast),  # inside the metrics: counted as the rest
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


async def _freeze_long_lived(service: NodeService, warm: asyncio.Task[None] | None) -> None:
    """Exempt what the node builds once at start from the cyclic garbage collector.

    The state tree of the first checkpoint and the RDAP authority map are hundreds of thousands
    of objects that live as long as the process; each full collection walked all of them again,
    stalling every request for 80-350 ms (seen as the RDAP p99 of bench/bench_hardening.py).
    Frozen (`gc.freeze`), they are still freed by reference counting when replaced; only
    cycles among them would stay, and they form none."""
    if warm is not None:
        with contextlib.suppress(Exception):
            await warm
    publisher, waited = service.publisher, 0.0
    while publisher is not None and not publisher.last_at and waited < FREEZE_WAIT_SECONDS:
        await asyncio.sleep(0.5)
        waited += 0.5
    gc.collect()
    gc.freeze()


def _warm_rdap(service: NodeService) -> asyncio.Task[None] | None:
    """Build RDAP's authority map in a thread at start (seconds on a real federation), so the
    first lookups do not wait for it past their deadline."""
    authority = service.rdap
    if authority is None:
        return None

    async def warm() -> None:
        try:
            await asyncio.to_thread(authority)
        except Exception:  # the first lookup builds it again and reports the problem
            _log.exception("%s: building the RDAP authority map failed", service.registry)

    return asyncio.create_task(warm())


def _start_mirroring(service: NodeService) -> asyncio.Task[None] | None:
    mirrors = service.mirrors
    if mirrors is None:
        return None

    async def forever() -> None:
        while True:
            try:  # blocking HTTP and SQLite: a worker thread, never the event loop
                checks = await asyncio.to_thread(mirrors.refresh)
                if service.protocol is not None and any(c.fetched for c in checks):
                    service.protocol.settle_from_mirrors()
            except Exception:  # keep mirroring; the status says what went wrong
                _log.exception("%s: mirroring the peers failed", service.registry)
            urgent = time.monotonic() < service.mirror_urgent_until
            wait = URGENT_MIRROR_SECONDS if urgent else service.mirror_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(service.mirror_wake.wait(), wait)
            service.mirror_wake.clear()

    return asyncio.create_task(forever())


def accepts_gzip(request: Request) -> bool:
    """Whether the client's Accept-Encoding admits gzip (RFC 9110 section 12.5.3: a coding
    with q=0 is refused, `*` stands for any coding not named)."""
    named: dict[str, float] = {}
    for item in request.headers.get("accept-encoding", "").split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding:
            named[coding.lower()] = q
    q = named.get("gzip", named.get("x-gzip", named.get("*", 0.0)))
    return q > 0


def _entries(db: sqlite3.Connection, path: str, size: int, gzipped: bool) -> Response:
    index, width = parse_entries_path(path)
    full = tile_width(0, index, size)
    if full == 0 or (width is None and full < TILE_WIDTH) or (width or 0) > full:
        return _not_found(f"no entry bundle {path} in the published log of size {size}")
    count = width or TILE_WIDTH
    first = index * TILE_WIDTH
    rows = db.execute(
        "SELECT seq, time, kind, payload, prev_hash FROM log WHERE seq > ? AND seq <= ? "
        "ORDER BY seq",
        (first, first + count),
    ).fetchall()
    entries = [encode_entry(s, t, k, bytes(p), bytes(h)) for s, t, k, p, h in rows]
    bundle = entry_bundle(entries)
    headers = {**IMMUTABLE, "Vary": "Accept-Encoding"}
    if gzipped:  # c2sp tlog-tiles: bundles compress well, and clients ask for it
        # level 1: a full bundle of import batches (2 MB) packs to 0.26 MB in 17 ms, where
        # level 6 gives 0.21 MB in 58 ms, paid again by every peer each time the log grows
        bundle = gzip.compress(bundle, compresslevel=1, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(bundle, media_type="application/octet-stream", headers=headers)
