"""Signed routes: who may ask a node to act, and how its answers are made believable.

Node-to-node routes (transfer offers and answers, finalization notices, witness requests) take
only requests signed by a federation node's key (RFC 9421, `federation.httpsig`), fresh and never
seen before; anything else gets 401 before the handler runs, so it leaves no log entry, lock or
reservation. Read-only routes a node also asks (a transfer's state, a holder's key) stay open to
everyone, but a signed request gets a signed answer, bound to that request: the asking node acts
only on such answers. Operator routes take requests signed by an operator key from the node's
config.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from onereg.federation.httpsig import (
    NodeSigningKey,
    RequestVerifier,
    SignatureRejected,
    VerifiedRequest,
    sign_response,
)

Handler = Callable[[Request], Awaitable[Response]]
SIGNATURE_HEADERS = ("signature", "signature-input")


class BodyTooLarge(Exception):
    pass


def request_target(request: Request) -> str:
    """The origin-form target as sent on the request line (what the client signed)."""
    path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    return (path + (b"?" + query if query else b"")).decode("latin-1")


async def bounded_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) past `limit` bytes: by Content-Length before reading, and
    while reading when there is none."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body of {declared} bytes exceeds {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette's own cache: the handler reads the body again
    return body


def _refused(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"reasons": [reason]}, status_code=status)


def signer_of(request: Request) -> VerifiedRequest | None:
    """The verified signer of this request (None for an unsigned request on an open route)."""
    found = getattr(request.state, "signed", None)
    return found if isinstance(found, VerifiedRequest) else None


class SignedRoutes:
    """One verifier (keys, window, replay memory) and the node's key for its answers."""

    def __init__(self, key: NodeSigningKey, verifier: RequestVerifier, max_body: int) -> None:
        self.key, self.verifier, self.max_body = key, verifier, max_body

    def required(self, handler: Handler) -> Handler:
        return self._wrap(handler, required=True)

    def optional(self, handler: Handler) -> Handler:
        return self._wrap(handler, required=False)

    def _wrap(self, handler: Handler, required: bool) -> Handler:
        async def run(request: Request) -> Response:
            signed = any(h in request.headers for h in SIGNATURE_HEADERS)
            if not signed and not required:
                request.state.signed = None
                return await handler(request)
            try:
                body = await bounded_body(request, self.max_body)
                verified = self.verifier.verify(
                    request.method, request_target(request), dict(request.headers), body
                )
            except BodyTooLarge as exc:
                return _refused(413, str(exc))
            except SignatureRejected as exc:
                return _refused(401, f"signature required: {exc}")
            request.state.signed = verified
            return self.answer(await handler(request), verified)

        return run

    def answer(self, response: Response, verified: VerifiedRequest) -> Response:
        """Sign the answer, bound to the request it answers."""
        headers = sign_response(self.key, response.status_code, bytes(response.body), verified)
        for name, value in headers.items():
            response.headers[name] = value
        return response
