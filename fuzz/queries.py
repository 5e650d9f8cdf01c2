"""RDAP and whois queries: what any client on the Internet may send a node.

Both run against a small federation (IANA's real registries when the shared data is there, a
few records of three RIRs). `rdap` sends the bytes as a GET path and query string through the
node's real Starlette routes: any status but 5xx (501, not implemented, aside) is an answer.
`whois` sends them as one query line through the whois services of the RIPE NCC, ARIN and
LACNIC nodes (three dialects), which answer every line; each reports an unexpected exception
as status 500 to its metrics hook, which the target checks.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes, unquote

from starlette.applications import Starlette

from fuzz.harness import SHARED_DATA, Target, scratch_file, temp_dir, text
from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.federation.importer import import_delegated_file, import_iana
from onereg.federation.layout import DataDir
from onereg.federation.node_config import Limits
from onereg.http.rdap import load_authority, rdap_routes
from onereg.registry.node import RegistryNode
from onereg.whois.server import WhoisService

FILES = {
    "ripencc": [
        "ripencc|NL|ipv4|193.0.0.0|4096|19930901|allocated|R1",
        "ripencc|ZZ|ipv4|193.0.64.0|1024||available|",
        "ripencc|NL|ipv4|193.0.16.0|256|19930901|assigned|R2",
        "ripencc|NL|asn|3333|1|19930901|assigned|R1",
        "ripencc|NL|ipv6|2001:67c::|32|20040101|allocated|R1",
    ],
    "arin": [
        "arin|US|ipv4|74.125.0.0|65536|20070313|allocated|N2",
        "arin|US|ipv6|2600:1000::|28|20110101|allocated|N1",
    ],
    "lacnic": [
        "lacnic|MX|ipv4|200.57.128.0|8192|20001204|allocated|L1",
        "lacnic|CO|ipv6|2801:10:c000::|48|20131029|assigned|L2",
        "lacnic|BR|asn|28000|1|20020101|assigned|L1",
    ],
}
URLS = {rid: f"https://rdap.{rid.value}.test" for rid in ALL_REGISTRIES}
HOSTS = {rid: f"whois.{rid.value}.test:43" for rid in ALL_REGISTRIES}


class ServerError(AssertionError):
    """A query made the server fail (HTTP 5xx, or whois's internal software error)."""


@dataclass(frozen=True)
class _Node:
    loop: asyncio.AbstractEventLoop
    node: RegistryNode
    app: Starlette
    whois: WhoisService
    failures: list[str]
    dialects: tuple[WhoisService, ...]  # ARIN's and LACNIC's nodes, in their own formats


@functools.cache
def _node() -> _Node:
    logging.getLogger("onereg").setLevel(logging.CRITICAL)
    data = DataDir(temp_dir("onereg-fuzz-queries."))
    if (SHARED_DATA / "iana").is_dir():
        import_iana(data, SHARED_DATA / "iana")
    for registry, lines in FILES.items():
        head = f"2.3|{registry}|20181013|{len(lines)}|19700101|20181013|+0000"
        body = "\n".join([head, *lines]) + "\n"
        path = scratch_file(body.encode(), f"delegated-{registry}-extended-latest")
        import_delegated_file(data, path, None)
    node = data.open(RegistryId.RIPENCC)
    authority = load_authority(data, URLS)
    app = Starlette(routes=rdap_routes(lambda: node, authority, URLS[RegistryId.RIPENCC]))
    failures: list[str] = []

    def observe(face: str, seconds: float, status: int) -> None:
        if status >= 500:
            failures.append(face)

    whois = WhoisService(lambda: node, lambda: authority, HOSTS, Limits(), None, observe)
    dialects = tuple(
        _whois_service(data.open(rid), authority, observe)
        for rid in (RegistryId.ARIN, RegistryId.LACNIC)
    )
    return _Node(asyncio.new_event_loop(), node, app, whois, failures, dialects)


def _whois_service(
    node: RegistryNode, authority: Any, observe: Callable[[str, float, int], None]
) -> WhoisService:
    rdap = f"{URLS[node.registry]}/rdap"
    return WhoisService(
        lambda: node, lambda: authority, HOSTS, Limits(), None, observe, rdap_base=rdap
    )


# what uvicorn (httptools) lets through in a request target: printable ASCII; a client sends
# anything else percent-encoded, and uvicorn refuses raw bytes outside it with 400 itself
_TARGET_SAFE = bytes(range(0x21, 0x7F)).replace(b"%", b"")


def _request_target(data: bytes) -> tuple[bytes, bytes]:
    raw_path, _, query = data.partition(b"?")
    return b"/rdap/" + _encode(raw_path), _encode(query)


def _encode(raw: bytes) -> bytes:
    return quote_from_bytes(raw, safe=_TARGET_SAFE).encode()


async def _get(app: Starlette, raw_path: bytes, query: bytes) -> int:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "server": ("rdap.ripencc.test", 443),
        "client": ("192.0.2.1", 50000),
        "headers": [(b"host", b"rdap.ripencc.test")],
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


def _rdap(data: bytes) -> object:
    world = _node()
    raw_path, query = _request_target(data)
    status = world.loop.run_until_complete(_get(world.app, raw_path, query))
    if status == 0 or (status >= 500 and status != 501):  # 501: a query type not offered
        raise ServerError(f"GET {raw_path[:100]!r}?{query[:100]!r}: status {status}")
    return status


RDAP_SEEDS = [
    b"ip/193.0.7.9",
    b"ip/193.0.0.0/20",
    b"ip/2001:67c::/32",
    b"autnum/3333",
    b"entity/R1",
    b"domain/0.193.in-addr.arpa",
    b"ips?handle=193.0.0.0",
    b"ips/rirSearch1/rdap-up/193.0.0.0/20",
    b"ips/rirSearch1/more/193.0.0.0/16",
    b"autnums/rirSearch1/more/3000",
    b"help",
    b"ip/2600:1000::1",
    b"ip/10.0.0.1",
    b"autnum/4200000000",
    b"entities?fn=R*",
    b"ip/193.0.0.0/20/versions",
    b"autnum/3333?onereg_versions_0=1",
]

RDAP = Target("rdap", _rdap, (), lambda: list(RDAP_SEEDS), 512)


def _whois(data: bytes) -> object:
    world = _node()
    before = len(world.failures)
    line = text(data).split("\n", 1)[0].strip()
    answer = world.loop.run_until_complete(world.whois.respond(line))
    for service in world.dialects:
        world.loop.run_until_complete(service.respond(line))
    if len(world.failures) > before:
        raise ServerError(f"whois {line[:100]!r}: internal software error")
    return answer


WHOIS_SEEDS = [
    b"193.0.0.1",
    b"-r 193.0.0.0/20",
    b"-B -T inetnum 193.0.0.0 - 193.0.15.255",
    b"AS3333",
    b"-L 193.0.16.1",
    b"-M 193.0.0.0/16",
    b"-m 193.0.0.0/8",
    b"-x 193.0.0.0/20",
    b"R1",
    b"-i mnt-by R1",
    b"--list-versions 193.0.0.0/20",
    b"--show-version 1 193.0.0.0/20",
    b"-q version",
    b"-q sources",
    b"-s ARIN 2600:1000::/28",
    b"-a 10.0.0.1",
    b"-k",
    b"-rBG -T aut-num AS3333",
    b"2001:67c::/32",
    b"-c 193.0.16.5",
    b"NET-74-125-0-0-1",
    b"-B NET6-2600-1000-1",
    b"200.57.128/19",
    b"-r L1",
]

WHOIS = Target("whois", _whois, (), lambda: list(WHOIS_SEEDS), 256)

TARGETS = [RDAP, WHOIS]
