"""Transfer routes of a node: holders submit agreements here, and nodes talk to each other here.

POST /transfers                    a signed agreement (+ evidence) at the source registry
GET  /transfers/{id}               the state this node recorded for a transfer
POST /transfers/{id}/accept        the source's offer to the recipient registry
POST /transfers/{id}/finalized     the source tells the recipient it finalized (a hint only)
GET  /holders/{handle}/key         a holder's key, from this registry's log

Refusals are 422 with every reason; malformed bodies 400; an unreachable counterpart 503.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from onereg.core.errors import OneregError
from onereg.federation.transfer_protocol import MalformedRequest, PeerUnavailable, TransferProtocol
from onereg.ledger.agreement import SignedAgreement
from onereg.registry import interrir
from onereg.registry.transfers import FINAL_STATES, TransferRefused, holder_key

if TYPE_CHECKING:
    from onereg.http.app import NodeService

Handler = Callable[[Request], Awaitable[Response]]
MAX_BODY = 64 * 1024


def _error(status: int, reasons: list[str]) -> JSONResponse:
    return JSONResponse({"reasons": reasons}, status_code=status)


def _guarded(handler: Handler) -> Handler:
    """One mapping from the protocol's exceptions to HTTP answers, for every route."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except TransferRefused as exc:
            return _error(422, exc.reasons)
        except MalformedRequest as exc:
            return _error(400, [str(exc)])
        except PeerUnavailable as exc:
            return _error(503, [str(exc)])
        except OneregError as exc:
            return _error(409, [str(exc)])

    return run


async def _json_body(request: Request) -> object:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise MalformedRequest(f"request body of {len(body)} bytes exceeds {MAX_BODY}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise MalformedRequest(f"request body is not JSON: {exc}") from None


def transfer_routes(service: NodeService) -> list[Route]:
    def protocol() -> TransferProtocol:
        if service.protocol is None:
            raise OneregError("this node was started without the transfer protocol")
        return service.protocol

    async def submit(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or "agreement" not in body:
            raise MalformedRequest(
                "expected a JSON object {agreement, source_signature, recipient_signature}"
            )
        evidence = body.pop("evidence", None) or {}
        if not isinstance(evidence, dict):
            raise MalformedRequest("evidence must be a JSON object")
        try:
            signed = SignedAgreement.from_json(json.dumps(body))
        except OneregError as exc:
            raise MalformedRequest(str(exc)) from None
        t = await protocol().submit(signed, evidence)
        return JSONResponse(t.public(), status_code=200 if t.state in FINAL_STATES else 202)

    async def show(request: Request) -> Response:
        assert service.node is not None
        t = interrir.transfer_state(service.node, request.path_params["id"])
        if t is None:
            return _error(404, ["no such transfer at this registry"])
        return JSONResponse(t.public())

    async def accept(request: Request) -> Response:
        t = await protocol().on_offer(request.path_params["id"], await _json_body(request))
        return JSONResponse(t.public())

    async def finalized(request: Request) -> Response:
        body = await _json_body(request) if await request.body() else {}
        t = await protocol().on_finalized(request.path_params["id"], body)
        if t is None:
            return _error(404, ["no such transfer at this registry"])
        return JSONResponse(t.public())

    async def key(request: Request) -> Response:
        assert service.node is not None
        handle = request.path_params["handle"]
        found = holder_key(service.node, handle)
        if found is None:
            return _error(404, [f"{service.registry} has no key for holder {handle!r}"])
        return JSONResponse({"handle": handle, "key": found[0].hex(), "seq": found[1]})

    return [
        Route("/transfers", _guarded(submit), methods=["POST"]),
        Route("/transfers/{id}", _guarded(show)),
        Route("/transfers/{id}/accept", _guarded(accept), methods=["POST"]),
        Route("/transfers/{id}/finalized", _guarded(finalized), methods=["POST"]),
        Route("/holders/{handle}/key", _guarded(key)),
    ]
