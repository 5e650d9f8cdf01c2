"""Operator routes: what the registry's own staff ask their node to do, through its API.

Each request is signed (RFC 9421) by an operator key listed in the node's config. An Ed25519
key rather than a bearer token: the node stores only public keys (nothing on its disk lets
anyone act as an operator), a captured request cannot be replayed (nonce, ±window), and it is
the same signature machinery the nodes use between themselves.

POST /admin/publish      sign a checkpoint now and gather cosignatures; the outcome per witness
POST /admin/rotate-key   rotate the log key (logged as `key.rotated`, signed by the old key),
                         then publish: the witnesses learn the new key from the log
POST /admin/holder-key   {"handle", "key": hex Ed25519}: record a holder's key in the log
POST /admin/import?name=F   the body is a delegated(-extended) file of this registry (plain or
                         gzip): imported in a worker thread, all or nothing, as `onereg import`
POST /admin/erx          the body is the NRO ERX list, kept in the node's directory for imports
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import asdict
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from onereg.core.errors import OneregError
from onereg.core.fs import private_dir
from onereg.federation.publish import WitnessOutcome
from onereg.http.bodylimit import parse_json
from onereg.http.signed import SignedRoutes
from onereg.ledger.checkpoint import Checkpoint
from onereg.ledger.note import parse_note
from onereg.registry.sources.nro_lists import parse_erx_transfers
from onereg.registry.transfers import register_holder_key

ERX_FILE = "erx-xfr.txt"  # in the node's directory: the NRO list of ERX transfers

if TYPE_CHECKING:
    from onereg.http.app import NodeService


def operator_keyid(public_hex: str) -> str:
    """How an operator key is named in a signature's `keyid`."""
    return f"operator-{public_hex[:16]}"


def _outcomes(note: str, outcomes: list[WitnessOutcome]) -> dict[str, object]:
    return {
        "size": Checkpoint.parse(parse_note(note)[0]).size,
        "cosigned_by": [o.witness for o in outcomes if o.status == 200],
        "refused_by": {o.witness: f"{o.status} {o.detail}" for o in outcomes if o.status != 200},
    }


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def parse_holder_key_body(raw: bytes) -> tuple[str, bytes]:
    """An operator's {handle, key (hex)}; ValueError, KeyError or TypeError say what is wrong."""
    body = parse_json(raw)  # MalformedJson is a ValueError
    if not isinstance(body, dict):
        raise TypeError("the body is not a JSON object")
    return str(body["handle"]), bytes.fromhex(str(body["key"]))


def operator_routes(
    service: NodeService, operators: SignedRoutes, uploads: SignedRoutes
) -> list[Route]:
    async def publish(request: Request) -> Response:
        if service.publisher is None or service.client is None:
            return JSONResponse({"reasons": ["this node does not publish"]}, status_code=409)
        note, outcomes = await service.publisher.publish(service.client)
        return JSONResponse(_outcomes(note, outcomes))

    async def rotate(request: Request) -> Response:
        if service.rotate_key is None or service.publisher is None or service.client is None:
            return JSONResponse({"reasons": ["this node cannot rotate its key"]}, status_code=409)
        try:
            old, new = service.rotate_key()
        except OneregError as exc:
            return JSONResponse({"reasons": [str(exc)]}, status_code=409)
        note, outcomes = await service.publisher.publish(service.client)
        return JSONResponse({"retired": old, "in_use": new, **_outcomes(note, outcomes)})

    async def holder_key(request: Request) -> Response:
        try:
            handle, public = parse_holder_key_body(await request.body())
            entry = register_holder_key(service.current_node(), handle, public)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"reasons": [f"expected {{handle, key}}: {exc}"]}, 400)
        except OneregError as exc:
            return JSONResponse({"reasons": [str(exc)]}, status_code=422)
        service.changed()
        return JSONResponse({"handle": handle, "seq": entry.seq})

    async def import_file(request: Request) -> Response:
        name = request.query_params.get("name", "")
        if service.importer is None or service.incoming is None:
            return JSONResponse({"reasons": ["this node takes no imports"]}, status_code=409)
        if not _NAME.fullmatch(name):
            return JSONResponse({"reasons": [f"name={name[:130]!r}: a file name"]}, 400)
        # a folder of its own per upload: two uploads of one name never write one file (the
        # name is kept: the log records it)
        folder = private_dir(service.incoming / secrets.token_hex(8))
        path = folder / name
        path.write_bytes(await request.body())
        try:  # minutes for a whole registry: a worker thread, its own connection
            outcome = await asyncio.to_thread(service.importer, path)
        except OneregError as exc:
            return JSONResponse({"reasons": [str(exc)]}, status_code=422)
        finally:
            path.unlink(missing_ok=True)
            folder.rmdir()
        service.changed()
        return JSONResponse({**asdict(outcome), "registry": outcome.registry.value})

    async def erx(request: Request) -> Response:
        if service.incoming is None:
            return JSONResponse({"reasons": ["this node takes no imports"]}, status_code=409)
        body = await request.body()
        target = service.incoming.parent / ERX_FILE
        temp = target.with_name(f".{ERX_FILE}.{secrets.token_hex(8)}.tmp")  # one per upload
        temp.write_bytes(body)
        try:  # checked whole before it replaces the list imports use
            parse_erx_transfers(temp)
        except (UnicodeDecodeError, OneregError) as exc:
            temp.unlink()
            return JSONResponse({"reasons": [f"not an NRO ERX list: {exc}"]}, status_code=400)
        temp.replace(target)
        return JSONResponse({"stored": ERX_FILE, "bytes": len(body)})

    return [
        Route("/admin/import", uploads.required(import_file), methods=["POST"]),
        Route("/admin/erx", uploads.required(erx), methods=["POST"]),
        Route("/admin/holder-key", operators.required(holder_key), methods=["POST"]),
        Route("/admin/publish", operators.required(publish), methods=["POST"]),
        Route("/admin/rotate-key", operators.required(rotate), methods=["POST"]),
    ]
