"""One node over HTTP: its log published as C2SP tlog-tiles, and its witness (tlog-witness).

Everything under /log/ is static for a given checkpoint (full tiles and bundles never change),
so the same files could be served by any web server or CDN; this app only computes them from
the node's SQLite file on request. Tiles are cut at the size of the latest signed checkpoint:
entries beyond it are not yet committed to, and are not published.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from onereg.core.errors import OneregError
from onereg.core.registries import RegistryId
from onereg.federation.peer_client import PeerClient
from onereg.federation.transfer_protocol import ProtocolConfig, TransferProtocol
from onereg.federation.witness import Witness
from onereg.http.rdap import RdapAuthority, rdap_routes
from onereg.http.rpki_routes import RpkiConfig, rpki_routes
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
    transfers: ProtocolConfig | None = None
    rdap: Callable[[], RdapAuthority] | None = None  # where RDAP sends what others hold
    public_url: str = ""
    rrdp: Publisher | None = None  # the publication server whose RRDP files this node serves
    rpki: RpkiConfig | None = None  # this registry's CA, for the hosted ROA routes
    # Other servers of the node that share its event loop (and so its one connection), e.g.
    # whois: each is started with the service and returns something to close at shutdown.
    companions: list[Callable[[NodeService], Awaitable[asyncio.AbstractServer]]] = field(
        default_factory=list
    )
    node: RegistryNode | None = None
    protocol: TransferProtocol | None = None

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
        found = publisher.http_file(path)
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
            if path.startswith("tile/entries/"):
                return _entries(service, path, size)
            level, index, width = parse_tile_path(path)
            full = tile_width(level, index, size)
            if full == 0 or (width is None and full < TILE_WIDTH) or (width or 0) > full:
                return _not_found(f"no tile {path} in the published tree of size {size}")
            data = tile_hashes(SqliteHashStore(service.db), level, index, size)
        except (OneregError, ValueError) as exc:
            return _not_found(str(exc))
        wanted = data if width is None else data[: width * 32]
        return Response(wanted, media_type="application/octet-stream", headers=IMMUTABLE)

    async def transfers(request: Request) -> Response:
        assert service.node is not None
        return JSONResponse(export_transfers(service.node))

    async def add_checkpoint(request: Request) -> Response:
        body = (await request.body()).decode("utf-8", errors="replace")
        witness = Witness(service.db, service.cosigner, service.peers)
        reply = witness.add_checkpoint(body)
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.open()  # in the event loop's thread: every handler uses the connection there
        assert service.node is not None
        async with aiohttp.ClientSession() as session:
            recovery = None
            if service.transfers is not None:
                client = PeerClient(session, service.transfers.timeout_seconds)
                service.protocol = TransferProtocol(service.node, service.transfers, client)
                recovery = asyncio.create_task(service.protocol.recover_forever())
            servers = [await start(service) for start in service.companions]
            yield
            for server in servers:
                server.close()
            if recovery is not None:
                recovery.cancel()
        service.db.close()

    routes = [
        Route("/log/checkpoint", checkpoint),
        Route("/log/tile/{path:path}", tile),
        Route("/witness/add-checkpoint", add_checkpoint, methods=["POST"]),
        Route("/transfers", transfers),
        *transfer_routes(service),
    ]
    if service.rdap is not None:
        routes += rdap_routes(service.current_node, service.rdap, service.public_url)
    if service.rrdp is not None:
        routes.append(Route("/rrdp/{path:path}", _rrdp_route(service.rrdp)))
    if service.rpki is not None:
        routes += rpki_routes(service.current_node, service.rpki)
    return Starlette(routes=routes, lifespan=lifespan)


def _entries(service: NodeService, path: str, size: int) -> Response:
    index, width = parse_entries_path(path)
    full = tile_width(0, index, size)
    if full == 0 or (width is None and full < TILE_WIDTH) or (width or 0) > full:
        return _not_found(f"no entry bundle {path} in the published log of size {size}")
    count = width or TILE_WIDTH
    first = index * TILE_WIDTH
    rows = service.db.execute(
        "SELECT seq, time, kind, payload, prev_hash FROM log WHERE seq > ? AND seq <= ? "
        "ORDER BY seq",
        (first, first + count),
    ).fetchall()
    entries = [encode_entry(s, t, k, bytes(p), bytes(h)) for s, t, k, p, h in rows]
    return Response(entry_bundle(entries), media_type="application/octet-stream", headers=IMMUTABLE)
