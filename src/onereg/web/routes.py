"""The explorer's routes under `/ui/`: its pages and assets (shipped in the package), and the
JSON and binary answers the pages ask for under `/ui/api/`.

Every answer is computed from the node's own database and its verified mirrors; all work that
reads a database runs in the node's worker pools (`http.offload`) under their deadline, and
the map is built once per state of the logs (`MapCache`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from onereg.core.errors import OneregError
from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.federation.guard import Deadline
from onereg.federation.layout import DataDir
from onereg.federation.proofs import ProofBuildError, build_holding_proof, latest_note
from onereg.http.app import NodeService
from onereg.http.offload import Refused
from onereg.http.rdap import RdapAuthority, log_heads
from onereg.ledger.policy import Policy
from onereg.registry.node import RegistryNode
from onereg.web.explore import QueryError, UiConfig, federation_summary, lookup, parse_query
from onereg.web.health import AuditPanel, evidence_file, evidence_summary
from onereg.web.rpkiview import RpkiView
from onereg.web.space import SpaceCache
from onereg.web.tiles import (
    LEGENDS,
    Coverage,
    MapData,
    TileError,
    Touched,
    build_map,
    transfer_map,
)
from onereg.web.transfer_view import transfers_overview

PAGES = {"": "lookup.html", "map": "map.html", "federation": "federation.html",
         "transfers": "transfers.html"}  # fmt: skip
PAGES["space"] = "space.html"  # the IPv6 and AS number views
MEDIA = {".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript"}
# No inline script or style, nothing from elsewhere: the pages work offline, and an injected
# tag could not run.
SECURITY = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
HEADS_EVERY = 1.0  # seconds between reads of the log heads for the map's cache
MAX_TILES = 64  # tiles kept in memory (64 KiB each)


def assets() -> dict[str, bytes]:
    """Every file of the package's `static/` folder, read once: the pages and their scripts."""
    folder = files("onereg.web") / "static"
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


class MapCache:
    """Each colouring's map data for the current state of the logs, and the tiles cut from it.

    The log heads are read at most once a second. The registry colouring depends only on the
    authority map (rebuilt by the node when a log head moves), the status colouring also on
    every registry's records, so it is built again when a head moves (by the first request
    that sees it, in a worker thread; others wait for it under the lock). Transfer activity
    follows the heads too; RPKI coverage follows the RPKI state instead (the CA's ROAs and the
    VRP file, `RpkiView.state`)."""

    def __init__(self, data: DataDir, rpki: RpkiView | None = None) -> None:
        self.data = data
        self.rpki = rpki
        self._lock = threading.Lock()
        self._maps: dict[str, tuple[Hashable, MapData | Coverage | Touched]] = {}
        self._heads: tuple[int, ...] = ()
        self._checked = float("-inf")
        self._tiles: OrderedDict[tuple[str, str], tuple[bytes, str]] = OrderedDict()
        # in every ETag: a key's hash (a CA's data_version, a head) may repeat after a restart
        self._started = time.time_ns() & 0xFFFFFFFF

    def tile(
        self, auth: RdapAuthority, mode: str, block: str, deadline: Deadline
    ) -> tuple[bytes, str]:
        """The tile's bytes and an ETag naming the state it was cut from."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= HEADS_EVERY:
                self._heads, self._checked = log_heads(self.data), now
            key: Hashable = auth if mode == "registry" else (auth, self._heads)  # kept alive
            if mode == "rpki":
                key = None if self.rpki is None else self.rpki.state()
            held = self._maps.get(mode)
            if held is None or held[0] != key:
                held = self._maps[mode] = (key, self._build(auth, mode, deadline))
                for stale in [k for k in self._tiles if k[0] == mode]:
                    del self._tiles[stale]
            wanted = (mode, block)
            found = self._tiles.get(wanted)
            if found is None:
                etag = f'"{mode}-{self._started:x}-{hash(key) & 0xFFFFFFFF:x}-{block}"'
                found = self._tiles[wanted] = (held[1].tile(mode, block), etag)
                if len(self._tiles) > MAX_TILES:
                    self._tiles.popitem(last=False)
            return found

    def _build(
        self, auth: RdapAuthority, mode: str, deadline: Deadline
    ) -> MapData | Coverage | Touched:
        if mode == "rpki":
            if self.rpki is None:
                return Coverage.of(*(np.zeros(0, dtype=np.int64),) * 2)
            return Coverage.of(*self.rpki.vrps(deadline).ipv4_spans())
        if mode == "transfers":
            return transfer_map(self.data, self._heads, datetime.now(UTC), deadline)
        return build_map(self.data, auth, self._heads, mode, deadline)


def ui_routes(service: NodeService, config: UiConfig) -> list[BaseRoute]:
    """The explorer, served by the node's own HTTP server (see `NodeService.ui`)."""
    static = assets()
    view = DataDir(service.db_path.parent / "mirrors", {service.registry: service.db_path})
    rpki = None
    if config.ca_db is not None:
        rpki = RpkiView(config.ca_db, config.vrps_file, config.route_table)
        rpki.start()  # the VRP file and route table are read once, in a thread of their own
    maps = MapCache(view, rpki)
    spaces = SpaceCache(view)
    erx = service.db_path.parent / "erx-xfr.txt"  # the operator's ERX list, when uploaded
    audits = AuditPanel(view, service.registry, service.db_path, erx)
    policy = Policy.parse(config.policy)

    def nodes(rid: RegistryId) -> RegistryNode | None:
        """This worker thread's read-only connection to the registry's node or mirror."""
        path = view.node_path(rid)
        if not path.exists():
            return None
        assert service.offload is not None
        return service.offload.reader(rid, path)

    def authority() -> RdapAuthority:
        if service.rdap is None:
            return RdapAuthority.empty(config.urls)
        return service.rdap()

    async def page(request: Request) -> Response:
        name = PAGES.get(request.path_params.get("page", ""))
        if name is None:
            return PlainTextResponse("no such page\n", 404)
        return Response(static[name], media_type=MEDIA[".html"], headers=SECURITY)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        body = static.get(name)
        if body is None or name.endswith(".html"):
            return PlainTextResponse(f"no asset {name[:64]!r}\n", 404)
        media = MEDIA.get(Path(name).suffix, "application/octet-stream")
        return Response(body, media_type=media, headers={**SECURITY, "Cache-Control": "no-cache"})

    async def api_lookup(request: Request) -> Response:
        text = request.query_params.get("q", "")
        auth = authority()
        node = service.current_node()

        def job(reader: RegistryNode, deadline: Deadline) -> dict[str, Any]:
            return lookup(nodes, config, auth, text, deadline)

        return await _json_answer(service, node, job)

    async def api_history(request: Request) -> Response:
        """The record's versions: a text search of the whole log, so an expensive query, asked
        by the page after the lookup itself has answered."""
        text = request.query_params.get("q", "")
        auth = authority()
        node = service.current_node()

        def job(reader: RegistryNode, deadline: Deadline) -> dict[str, Any]:
            return lookup(nodes, config, auth, text, deadline, history=True)

        return await _json_answer(service, node, job, expensive=request)

    async def api_rpki(request: Request) -> Response:
        """The VRPs covering or inside a block (or an AS's), and the ROV state of the announced
        routes inside or covering it when the node has a route table."""
        text = request.query_params.get("q", "")
        node = service.current_node()

        def job(reader: RegistryNode, deadline: Deadline) -> dict[str, Any]:
            res = parse_query(text)
            if isinstance(res, str):
                raise QueryError(f"query {text!r}: RPKI is about an address, prefix or ASN")
            if rpki is None:
                return {"query": str(res), "vrps": [], "vrpCount": 0, "routesState": "none"}
            return rpki.about(res, deadline)

        return await _json_answer(service, node, job)

    async def api_space(request: Request) -> Response:
        """IANA's IPv6 and AS number blocks with the records each registry holds in them."""
        auth = authority()
        assert service.offload is not None
        try:
            body = await service.offload.task(lambda deadline: spaces.answer(auth, deadline))
        except Refused as exc:
            return _refused(exc)
        return Response(orjson.dumps(body), media_type="application/json")

    async def api_map(request: Request) -> Response:
        mode = request.query_params.get("mode", "registry")
        block = request.query_params.get("block", "all")
        auth = authority()
        assert service.offload is not None
        try:
            body, etag = await service.offload.task(
                lambda deadline: maps.tile(auth, mode, block, deadline)
            )
        except Refused as exc:
            return _refused(exc)
        except TileError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        return Response(body, media_type="application/octet-stream", headers=headers)

    async def api_legend(request: Request) -> Response:
        legend = {m: [{"label": lb, "colour": c} for lb, c in v] for m, v in LEGENDS.items()}
        body = {"node": config.registry.value, "legends": legend}
        return JSONResponse(body)

    async def api_federation(request: Request) -> Response:
        mirrors = dict(service.mirrors.status) if service.mirrors is not None else {}
        notes: dict[RegistryId, str | None] = {}
        for rid in ALL_REGISTRIES:
            if rid is config.registry:
                notes[rid] = service.checkpoint_note()
            else:
                seen = view.root / "seen" / f"{rid.value}.checkpoint"
                notes[rid] = seen.read_text() if seen.exists() else None
        node = service.current_node()

        def job(reader: RegistryNode, deadline: Deadline) -> dict[str, Any]:
            return federation_summary(
                view, config, notes, mirrors, time.time(), service.stale_after
            )

        try:
            body = await _offloaded(service, node, job)
        except Refused as exc:
            return _refused(exc)
        return JSONResponse(body)

    async def api_proof(request: Request) -> Response:
        text = request.query_params.get("q", "")
        node = service.current_node()

        def job(reader: RegistryNode, deadline: Deadline) -> str:
            res = parse_query(text)
            if isinstance(res, str):
                raise QueryError(f"query {text!r}: a proof is about an address, prefix or ASN")
            if not reader.overlapping(res):
                raise QueryError(f"{res} is not held at {config.registry.display_name}")
            return build_holding_proof(reader, latest_note(reader), res)

        try:
            proof = await _offloaded(service, node, job, expensive=request)
        except Refused as exc:
            return _refused(exc)
        except (QueryError, ProofBuildError, OneregError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        name = f"{parse_query(text)!s}".replace("/", "_") + ".proof"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(proof, media_type="text/plain; charset=utf-8", headers=headers)

    async def api_policy(request: Request) -> Response:
        headers = {"Content-Disposition": 'attachment; filename="policy.txt"'}
        return PlainTextResponse(config.policy, headers=headers)

    transfers_made: list[tuple[str, bytes]] = []  # the last answer and its ETag

    async def api_transfers(request: Request) -> Response:
        """Every transfer the node sees, polled by the page while one is in flight: the ETag
        names the logs' heads, so an unchanged answer is a 304 and no transfer is read, and
        the answer is built once per state of the logs whoever asks."""
        node = service.current_node()
        seen = request.headers.get("if-none-match")

        def job(reader: RegistryNode, deadline: Deadline) -> tuple[str, bytes | None]:
            etag = '"transfers-' + "-".join(map(str, log_heads(view))) + '"'
            if etag == seen:
                return etag, None
            if transfers_made and transfers_made[0][0] == etag:
                return transfers_made[0]
            body = orjson.dumps(transfers_overview(nodes, config.registry))
            transfers_made[:] = [(etag, body)]
            return etag, body

        try:
            etag, body = await _offloaded(service, node, job)
        except Refused as exc:
            return _refused(exc)
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if body is None:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    async def api_evidence(request: Request) -> Response:
        assert service.offload is not None
        try:
            body = await service.offload.task(lambda _: evidence_summary(view, policy))
        except Refused as exc:
            return _refused(exc)
        return JSONResponse({"node": config.registry.value, "evidence": body})

    async def api_evidence_file(request: Request) -> Response:
        path = evidence_file(view, request.path_params["name"])
        if path is None:
            return JSONResponse({"error": "no such evidence file"}, 404)
        headers = {"Content-Disposition": f'attachment; filename="{path.name}"'}
        return Response(path.read_bytes(), media_type="application/json", headers=headers)

    async def api_audit(request: Request) -> Response:
        """The audit of the node's view: computed in a process of its own when a log moved
        (the page then gets `pending` and asks again), else the last one."""
        assert service.offload is not None
        try:
            body = await service.offload.task(lambda _: audits.summary())
        except Refused as exc:
            return _refused(exc)
        return Response(orjson.dumps(body), media_type="application/json")

    async def to_index(request: Request) -> Response:
        return RedirectResponse("/ui/", 301)

    return [
        Route("/ui", to_index),
        Route("/ui/", page),
        Route("/ui/api/lookup", api_lookup),
        Route("/ui/api/history", api_history),
        Route("/ui/api/map", api_map),
        Route("/ui/api/rpki", api_rpki),
        Route("/ui/api/space", api_space),
        Route("/ui/api/legend", api_legend),
        Route("/ui/api/federation", api_federation),
        Route("/ui/api/proof", api_proof),
        Route("/ui/api/policy.txt", api_policy),
        Route("/ui/api/transfers", api_transfers),
        Route("/ui/api/evidence", api_evidence),
        Route("/ui/api/evidence/{name}", api_evidence_file),
        Route("/ui/api/audit", api_audit),
        Route("/ui/static/{name}", asset),
        Route("/ui/{page}", page),
    ]


async def _offloaded(
    service: NodeService,
    node: RegistryNode,
    job: Callable[[RegistryNode, Deadline], Any],
    expensive: Request | None = None,
) -> Any:
    """`job` on a read-only connection in the node's pools: the expensive one (rate-limited
    per client) when `expensive` is the request, else the lookup pool."""
    work = service.offload
    assert work is not None, "the explorer's routes run inside the node's app"
    run: Awaitable[Any]
    if expensive is not None:
        client = expensive.client.host if expensive.client else "unknown"
        run = work.expensive(client, node.registry, node.path, job)
    else:
        run = work.lookup(node.registry, node.path, job)
    return await run


async def _json_answer(
    service: NodeService,
    node: RegistryNode,
    job: Callable[[RegistryNode, Deadline], Any],
    expensive: Request | None = None,
) -> Response:
    """`job`'s answer as JSON (`_offloaded`), a refusal as 429/503, a bad query as 400."""
    try:
        body = await _offloaded(service, node, job, expensive)
    except Refused as exc:
        return _refused(exc)
    except QueryError as exc:
        return JSONResponse({"error": str(exc)}, 400)
    return Response(orjson.dumps(body), media_type="application/json")


def _refused(exc: Refused) -> Response:
    headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse({"error": exc.reason}, exc.status, headers=headers)
