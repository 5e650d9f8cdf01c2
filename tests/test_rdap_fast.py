"""RDAP's fast path (`http.rdap_fast`): a cached `GET /rdap/ip/{address}` or
`/rdap/autnum/{asn}` answered before the router gives the same status, headers and bytes as
the routes give, is counted in the metrics, and anything unusual (HEAD, a query string, a
prefix, odd hosts) goes to the routes.

A small real federation: IANA's registries from ../shared/data and a tiny RIPE NCC file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.applications import Starlette
from starlette.datastructures import URL
from starlette.middleware import Middleware
from starlette.testclient import TestClient

from nodeapp import node_in_lifespan
from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.federation.importer import import_delegated_file, import_iana
from onereg.federation.layout import DataDir
from onereg.http.metrics import MetricsMiddleware, NodeMetrics
from onereg.http.rdap import RdapAuthority, load_authority, rdap_routes
from onereg.http.rdap_fast import FastLookups, Hit, RdapFastPath, request_url

URLS = {rid: f"https://rdap.{rid.value}.test" for rid in ALL_REGISTRIES}
LINES = [
    "ripencc|NL|ipv4|193.0.0.0|4096|19930901|allocated|R1",
    "ripencc|DE|ipv6|2001:67c::|32|20100101|allocated|R2",
    "ripencc|NL|asn|3333|1|19930901|assigned|R1",
]
# answered before the router: hits once cached, and the first build, errors and redirects
# (sent as the routes' own Response objects)
FAST = [
    "/rdap/ip/193.0.0.1",
    "/rdap/ip/193.0.15.255",
    "/rdap/ip/2001:67c::1",
    "/rdap/autnum/3333",
    "/rdap/ip/8.8.8.8",  # ARIN's: a redirect
    "/rdap/autnum/1",  # not RIPE NCC's
    "/rdap/ip/1.2.3",  # not an address: 400
    "/rdap/autnum/AS3333",  # not a number: 400
    "/rdap/ip/193.0.16.1",  # RIPE NCC's block, no record: 404 or a redirect
]
# left to the routes
ROUTED = [
    "/rdap/ip/193.0.0.0/20",
    "/rdap/ip/193.0.0.1?asOf=2018-10-13T00:00:00Z",
    "/rdap/ip/193.0.0.1?x=1",
    "/rdap/ip/193.0.0.1/versions",
    "/rdap/ip/193.0.0.1%2F20",
    "/rdap/ip/193.0.0.1%20",
    "/rdap/autnum/3333/",
    "/rdap/help",
    "/rdap/entity/R1",
    "/rdap/ip/" + "1" * 70,
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> DataDir:
    root = tmp_path_factory.mktemp("fast")
    data = DataDir(root / "data")
    import_iana(data, shared_data / "iana")
    delegated = root / "delegated"
    delegated.write_text(
        "\n".join(["2.3|ripencc|20181013|3|19700101|20181013|+0000", *LINES]) + "\n"
    )
    import_delegated_file(data, delegated, None)
    return data


@pytest.fixture(scope="module")
def authority(data: DataDir) -> RdapAuthority:
    return load_authority(data, URLS)


@contextmanager
def client(
    data: DataDir, authority: RdapAuthority, fast: bool
) -> Iterator[tuple[TestClient, NodeMetrics, list[object]]]:
    """The RIPE NCC node's RDAP routes behind the metrics middleware (as http/app.py builds
    them), with or without the fast path; the list gets what each fast lookup returned."""
    get_node, lifespan = node_in_lifespan(data, RegistryId.RIPENCC, create=False)

    lookups, seen = FastLookups(), []
    metrics = NodeMetrics(SimpleNamespace(node=None))  # type: ignore[arg-type]  # no state
    routes = rdap_routes(
        get_node,
        authority,
        URLS[RegistryId.RIPENCC],
        fast=lookups if fast else None,
    )
    if lookups.lookup is not None:
        inner = lookups.lookup

        def watched(kind: str, value: str, url: str) -> object:
            seen.append(found := inner(kind, value, url))
            return found

        lookups.lookup = watched  # type: ignore[assignment]
    middleware = [
        Middleware(MetricsMiddleware, metrics=lambda: metrics),
        Middleware(RdapFastPath, lookups=lookups),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    with TestClient(app, base_url=URLS[RegistryId.RIPENCC], follow_redirects=False) as test:
        yield test, metrics, seen


def _counted(metrics: NodeMetrics) -> float:
    return sum(
        sample.value
        for family in metrics.registry.collect()
        if family.name == "onereg_requests"
        for sample in family.samples
        if sample.name == "onereg_requests_total" and sample.labels["face"] == "rdap"
    )


def _same(a: object, b: object, path: str) -> None:
    assert a.status_code == b.status_code, path  # type: ignore[attr-defined]
    assert a.headers.items() == b.headers.items(), path  # type: ignore[attr-defined]
    assert a.content == b.content, path  # type: ignore[attr-defined]


def test_fast_answers_are_the_routes_answers(data: DataDir, authority: RdapAuthority) -> None:
    with (
        client(data, authority, fast=False) as (slow, _, _),
        client(data, authority, fast=True) as (quick, metrics, seen),
    ):
        for _round in range(2):  # the first builds and caches, the second hits
            for path in FAST:
                before, count = len(seen), _counted(metrics)
                got, want = quick.get(path), slow.get(path)
                _same(got, want, path)
                assert len(seen) == before + 1 and seen[-1] is not None, path
                assert _counted(metrics) == count + 1, path
                assert got.headers["access-control-allow-origin"] == "*"
                if got.status_code != 301:
                    assert got.headers["content-type"] == "application/rdap+json"
        hits = [s for s in seen if isinstance(s, Hit)]
        assert len(hits) >= 4  # the four records' second lookups at least
        assert quick.get("/rdap/ip/193.0.0.1").json()["links"][0]["value"] == (
            URLS[RegistryId.RIPENCC] + "/rdap/ip/193.0.0.1"
        )


def test_unusual_requests_go_to_the_routes(data: DataDir, authority: RdapAuthority) -> None:
    with (
        client(data, authority, fast=False) as (slow, _, _),
        client(data, authority, fast=True) as (quick, _, seen),
    ):
        quick.get("/rdap/ip/193.0.0.1")  # cached, so a fall-back is not for want of it
        for path in ROUTED:
            before = len(seen)
            _same(quick.get(path), slow.get(path), path)
            assert len(seen) == before, path
        for host in ("[::1]:80", "host:99999", "h_x"):
            before = len(seen)
            headers = {"host": host}
            _same(
                quick.get("/rdap/ip/193.0.0.1", headers=headers),
                slow.get("/rdap/ip/193.0.0.1", headers=headers),
                host,
            )
            assert len(seen) == before, host
        before = len(seen)
        _same(quick.head("/rdap/ip/193.0.0.1"), slow.head("/rdap/ip/193.0.0.1"), "HEAD")
        options = {"Origin": "https://x.test", "Access-Control-Request-Method": "GET"}
        _same(
            quick.options("/rdap/ip/193.0.0.1", headers=options),
            slow.options("/rdap/ip/193.0.0.1", headers=options),
            "OPTIONS",
        )
        assert len(seen) == before
        # a plain host with a port is fast, and echoed as Starlette would
        got = quick.get("/rdap/ip/193.0.0.1", headers={"host": "Node.Example:8080"})
        assert len(seen) == before + 1
        assert got.json()["links"][0]["value"] == "https://Node.Example:8080/rdap/ip/193.0.0.1"


@pytest.mark.parametrize(
    ("scheme", "host", "server"),
    [
        ("http", "127.0.0.1:47100", ("127.0.0.1", 47100)),
        ("https", "rdap.example", None),
        ("http", "a..b", None),
        ("http", "h:00080", None),
        ("http", None, ("127.0.0.1", 80)),
        ("https", None, ("127.0.0.1", 8443)),
    ],
)
def test_request_url_is_starlettes(
    scheme: str, host: str | None, server: tuple[str, int] | None
) -> None:
    headers = [] if host is None else [(b"host", host.encode())]
    scope = {
        "type": "http",
        "scheme": scheme,
        "path": "/rdap/ip/193.0.0.1",
        "headers": headers,
        "server": server,
        "query_string": b"",
    }
    assert request_url(scope) == str(URL(scope=scope))
