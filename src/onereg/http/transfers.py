"""Transfer routes of a node: holders submit agreements here, and nodes talk to each other here.

POST /transfers                    a signed agreement (+ evidence) at the source registry
GET  /transfers/{id}               the state this node recorded for a transfer
POST /transfers/{id}/accept        the source's offer to the recipient registry    (node-signed)
POST /transfers/{id}/finalized     the source tells the recipient it finalized     (node-signed)
GET  /holders/{handle}/key         a holder's key, from this registry's log

Refusals are 422 with every reason; malformed bodies 400; an unsigned, wrongly signed or
replayed node request 401 (`http.signed`); a node with no say in the transfer 403; an
unreachable counterpart 503. GETs are open, and answered with a signature when signed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from onereg.core.errors import OneregError
from onereg.federation.transfer_protocol import (
    MalformedRequest,
    NotTheCounterpart,
    PeerUnavailable,
    TransferProtocol,
)
from onereg.http.bodylimit import MalformedJson, parse_json
from onereg.http.signed import signer_of
from onereg.ledger.agreement import SignedAgreement
from onereg.registry import interrir
from onereg.registry.transfer_policy import EvidenceError, check_evidence
from onereg.registry.transfers import FINAL_STATES, TransferRefused, holder_key

if TYPE_CHECKING:
    from onereg.http.app import NodeService

Handler = Callable[[Request], Awaitable[Response]]


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
        except NotTheCounterpart as exc:
            return _error(403, [str(exc)])
        except OneregError as exc:
            return _error(409, [str(exc)])

    return run


async def _json_body(request: Request) -> object:
    """The body as JSON (its size is capped by `bodylimit.BodyLimit` before it is read)."""
    return parse_json_body(await request.body())


def parse_json_body(body: bytes) -> object:
    """A request body as JSON; MalformedRequest (400) for anything else, nesting too deep
    for the decoder included."""
    try:
        return parse_json(body)
    except MalformedJson as exc:
        raise MalformedRequest(str(exc)) from None


def parse_submission(body: object) -> tuple[SignedAgreement, dict[str, object]]:
    """A holder's POST /transfers: the signed agreement and the evidence beside it."""
    if not isinstance(body, dict) or "agreement" not in body:
        raise MalformedRequest(
            "expected a JSON object {agreement, source_signature, recipient_signature}"
        )
    evidence = body.pop("evidence", None) or {}
    if not isinstance(evidence, dict):
        raise MalformedRequest("evidence must be a JSON object")
    try:
        return SignedAgreement.from_json(json.dumps(body)), evidence
    except OneregError as exc:
        raise MalformedRequest(str(exc)) from None


def transfer_routes(service: NodeService) -> list[Route]:
    def protocol() -> TransferProtocol:
        if service.protocol is None:
            raise OneregError("this node was started without the transfer protocol")
        return service.protocol

    async def submit(request: Request) -> Response:
        signed, evidence = parse_submission(await _json_body(request))
        try:  # a malformed date or number is named now, not judged "unmet" in the log
            check_evidence(evidence, protocol().config.policies)
        except EvidenceError as exc:
            raise MalformedRequest(str(exc)) from None
        t = await protocol().submit(signed, evidence)
        service.changed()
        return JSONResponse(t.public(), status_code=200 if t.state in FINAL_STATES else 202)

    async def show(request: Request) -> Response:
        assert service.node is not None
        t = interrir.transfer_state(service.node, request.path_params["id"])
        if t is None:
            return _error(404, ["no such transfer at this registry"])
        return JSONResponse(t.public())

    def sender(request: Request) -> str:
        signed = signer_of(request)
        assert signed is not None, "a node-signed route"
        return signed.keyid

    async def accept(request: Request) -> Response:
        body = await _json_body(request)
        t = await protocol().on_offer(request.path_params["id"], body, sender(request))
        service.changed()
        return JSONResponse(t.public())

    async def finalized(request: Request) -> Response:
        body = await _json_body(request) if await request.body() else {}
        t = await protocol().on_finalized(request.path_params["id"], body, sender(request))
        service.changed()
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

    signed = service.signed
    return [
        Route("/transfers", _guarded(submit), methods=["POST"]),
        Route("/transfers/{id}", signed.optional(_guarded(show))),
        Route("/transfers/{id}/accept", signed.required(_guarded(accept)), methods=["POST"]),
        Route("/transfers/{id}/finalized", signed.required(_guarded(finalized)), methods=["POST"]),
        Route("/holders/{handle}/key", signed.optional(_guarded(key))),
    ]
