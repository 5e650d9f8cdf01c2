"""A node's hosted-RPKI routes: holders ask their registry to issue or revoke ROAs.

POST /rpki/roas   a ROA request signed by the holder (`rpki.requests`), checked against the
                  holder's key in the registry's log; the ROA is issued and published at once
GET  /rpki/roas   the ROAs the registry's CA has issued (`?holder=H` for one holder's)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from onereg.core.errors import OneregError
from onereg.registry.node import RegistryNode
from onereg.registry.transfers import holder_key
from onereg.rpki.ca import RegistryCa, RepositoryUris
from onereg.rpki.objects import RoaPrefix
from onereg.rpki.publish import Publisher, publish_cas
from onereg.rpki.requests import RoaRequest, RoaRequestError, check_request, parse_signed

MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class RpkiConfig:
    """Where this registry's CA keeps its state and where it publishes."""

    state_dir: Path
    uris: RepositoryUris
    publisher: Publisher


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"reasons": [reason]}, status_code=status)


def _execute(node: RegistryNode, config: RpkiConfig, request: RoaRequest) -> dict[str, object]:
    """Issue or revoke, then publish this registry's files (the others' stay as they are)."""
    ca = RegistryCa.open(node, config.state_dir, config.uris)
    try:
        if not ca.claim_request(request.nonce, request.expires, datetime.now(UTC)):
            raise RoaRequestError(
                f"replayed request: nonce {request.nonce} was used before (sign a new request)"
            )
        ca.sync()
        if request.holder not in ca.enrolled():
            ca.enroll(request.holder)
        if request.action == "add":
            try:
                prefixes = [RoaPrefix.parse(p) for p in request.prefixes]
            except ValueError as exc:
                raise RoaRequestError(f"bad ROA prefix: {exc}") from None
            file = ca.add_roa(request.holder, request.asn, prefixes)
        else:
            file = request.file
            if not ca.remove_roa(request.holder, file):
                raise RoaRequestError(f"{request.holder} has no ROA {file}")
        publication = publish_cas(config.publisher, [ca], only_these=True)
    finally:
        ca.close()
    return {"action": request.action, "file": file, "rrdp_serial": publication.serial}


def parse_roa_body(raw: bytes) -> tuple[RoaRequest, bytes]:
    """A holder's POST /rpki/roas body: ValueError if it is not JSON (nesting too deep for the
    decoder included), RoaRequestError if it is not a ROA request."""
    try:
        body = json.loads(raw)
    except RecursionError as exc:
        raise ValueError(f"nested too deeply: {exc}") from None
    return parse_signed(body)


def rpki_routes(get_node: Callable[[], RegistryNode], config: RpkiConfig) -> list[Route]:
    async def submit(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return _error(400, f"request body of {len(raw)} bytes exceeds {MAX_BODY}")
        node = get_node()
        try:
            roa_request, signature = parse_roa_body(raw)
            found = holder_key(node, roa_request.holder)
            check_request(
                roa_request,
                signature,
                None if found is None else found[0],
                node.registry.value,
                datetime.now(UTC),
            )
            return JSONResponse(_execute(node, config, roa_request))
        except ValueError as exc:
            return _error(400, f"request body is not JSON: {exc}")
        except RoaRequestError as exc:
            status = 403 if "signature" in str(exc) else 409 if "replayed" in str(exc) else 400
            return _error(status, str(exc))
        except OneregError as exc:
            return _error(422, str(exc))

    async def listing(request: Request) -> Response:
        ca = RegistryCa.open(get_node(), config.state_dir, config.uris)
        try:
            records = ca.roas(request.query_params.get("holder"))
        finally:
            ca.close()
        return JSONResponse(
            [
                {
                    "holder": r.holder,
                    "file": r.file,
                    "asn": r.asn,
                    "prefixes": [str(p) for p in r.prefixes],
                }
                for r in records
            ]
        )

    return [
        Route("/rpki/roas", submit, methods=["POST"]),
        Route("/rpki/roas", listing, methods=["GET"]),
    ]
