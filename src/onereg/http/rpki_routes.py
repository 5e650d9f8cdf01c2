"""A node's hosted-RPKI routes: holders ask their registry to issue or revoke ROAs.

POST /rpki/roas   a ROA request signed by the holder (`rpki.requests`), checked against the
                  holder's key in the registry's log; the ROA is issued and published at once
GET  /rpki/roas   the ROAs the registry's CA has issued (`?holder=H` for one holder's)

Neither runs on the event loop: opening the CA checks its trust anchor against the registry's
whole authority (a second or two on a real registry), and the loop serves everyone else.
The request body's size is capped before it is read (`bodylimit`, 64 KiB).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from onereg.core.errors import OneregError
from onereg.core.registries import RegistryId
from onereg.federation.guard import Deadline
from onereg.federation.node_config import Limits
from onereg.http.bodylimit import parse_json
from onereg.http.offload import Offload, Refused
from onereg.registry.node import RegistryNode
from onereg.registry.transfers import holder_key
from onereg.rpki.ca import RegistryCa, RepositoryUris, RoaRecord, issued_roas
from onereg.rpki.objects import RoaPrefix
from onereg.rpki.publish import Publisher, publish_cas
from onereg.rpki.requests import RoaRequest, RoaRequestError, check_request, parse_signed

MAX_CACHED_LISTINGS = 1024  # listings kept per CA state (all ROAs, and one per holder asked)


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


class RoaListing:
    """`GET /rpki/roas` answers, kept until the CA's state changes.

    Keyed by SQLite's `data_version` of the CA's database (it moves whenever another
    connection commits, i.e. when a ROA is issued or revoked, or the CA follows the log), so a
    listing is built once per change, not per request. Used from worker threads, one at a time."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "ca.sqlite"
        self._db: sqlite3.Connection | None = None
        self._version: int | None = None
        self._answers: dict[str | None, bytes] = {}
        self._lock = threading.Lock()

    def answer(self, holder: str | None, deadline: Deadline) -> bytes:
        with self._lock:
            deadline.check()
            if not self.path.exists():
                return b"[]"
            if self._db is None:
                self._db = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, check_same_thread=False
                )
            version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
            if version != self._version:
                self._version, self._answers = version, {}
            found = self._answers.get(holder)
            if found is None:
                found = orjson.dumps([_listed(r) for r in issued_roas(self._db, holder)])
                if len(self._answers) >= MAX_CACHED_LISTINGS:
                    self._answers.clear()
                self._answers[holder] = found
            return found


def _listed(r: RoaRecord) -> dict[str, object]:
    return {
        "holder": r.holder,
        "file": r.file,
        "asn": r.asn,
        "prefixes": [str(p) for p in r.prefixes],
    }


def parse_roa_body(raw: bytes) -> tuple[RoaRequest, bytes]:
    """A holder's POST /rpki/roas body: ValueError if it is not JSON (`MalformedJson`, nesting
    too deep for the decoder included), RoaRequestError if it is not a ROA request."""
    return parse_signed(parse_json(raw))


def rpki_routes(
    get_node: Callable[[], RegistryNode], config: RpkiConfig, offload: Offload | None = None
) -> list[Route]:
    """The routes; listing and issuing run off the event loop (see `offload`), rate-limited
    per client: a listing in the expensive-query pool (cached per CA state), issuing in the
    writer process (a ROA is issued whole, never abandoned half-way at a deadline), with at
    most `query_workers` requests waiting for it."""
    work = offload or Offload(Limits(), rate_limited=False)
    listing = RoaListing(config.state_dir)

    async def submit(request: Request) -> Response:
        node = get_node()
        try:
            work.admit(_client(request))
            roa_request, signature = parse_roa_body(await request.body())
            status, body = await work.writer.run(
                issue_roa, node.path, node.registry, config, roa_request, signature
            )
        except (ValueError, RoaRequestError) as exc:
            return _error(400, str(exc))
        except Refused as exc:
            return _refused(exc)
        return JSONResponse(body, status_code=status)

    async def listed(request: Request) -> Response:
        holder = request.query_params.get("holder")
        try:
            work.admit(_client(request))
            body = await work.task(lambda deadline: listing.answer(holder, deadline))
        except Refused as exc:
            return _refused(exc)
        return Response(body, media_type="application/json")

    return [
        Route("/rpki/roas", submit, methods=["POST"]),
        Route("/rpki/roas", listed, methods=["GET"]),
    ]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _refused(exc: Refused) -> Response:
    answer = _error(exc.status, exc.reason)
    answer.headers["Retry-After"] = str(exc.retry_after)
    return answer


def issue_roa(
    path: Path, registry: RegistryId, config: RpkiConfig, roa_request: RoaRequest, signature: bytes
) -> tuple[int, dict[str, object]]:
    """Check a holder's signed request and carry it out: (status, JSON body). Runs in the
    writer process (`offload.SerialWriter`), on a connection of its own to the node's database."""
    conn = sqlite3.connect(path, isolation_level=None)
    node = RegistryNode(registry, conn, path)
    try:
        found = holder_key(node, roa_request.holder)
        check_request(
            roa_request,
            signature,
            None if found is None else found[0],
            node.registry.value,
            datetime.now(UTC),
        )
        return 200, _execute(node, config, roa_request)
    except RoaRequestError as exc:
        status = 403 if "signature" in str(exc) else 409 if "replayed" in str(exc) else 400
        return status, {"reasons": [str(exc)]}
    except OneregError as exc:
        return 422, {"reasons": [str(exc)]}
    finally:
        conn.close()
