"""Real clients as judges of the RDAP service.

* schemathesis reads the node's own OpenAPI document (/rdap/openapi.json) and fuzzes every
  operation against the ASGI app: no server errors, every status, media type, header and body as
  documented.
* whoisit, the PyPI RDAP client, bootstraps from a node's RFC 9224 files and queries two real
  `onereg serve --config` processes (RIPE NCC and ARIN, with IANA's registries imported so that the
  authority map is the real one), following redirects from the wrong node to the right one,
  after an inter-RIR transfer between them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import whoisit
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.modes import GenerationMode
from starlette.applications import Starlette

from localfed import LocalFederation
from nodeapp import node_in_lifespan
from onereg.core.registries import RegistryId
from onereg.federation.importer import import_iana
from onereg.federation.layout import DataDir
from onereg.http.rdap import load_authority, rdap_routes
from onereg.registry import events as ev
from test_rdap import URLS, build_federation

# --- schemathesis against the ASGI app ---------------------------------------------------------


def _payload(start: str, value: int, holder: str | None, **extra: Any) -> ev.Payload:
    return {
        "afi": "ipv4",
        "start": start,
        "value": value,
        "cc": "NL",
        "date": "20200101",
        "status": "allocated" if holder else "available",
        "holder": holder,
        "opaque": holder,
        "ext": [],
        **extra,
    }


def add_history(data: DataDir) -> None:
    """A record changed, one removed and one that came by transfer, so that the history routes
    have something to show."""
    with data.open(RegistryId.RIPENCC) as node:
        node.append([(ev.DELEGATION_CHANGED, _payload("193.0.0.0", 4096, "R1"))])
        node.append(
            [(ev.DELEGATION_REMOVED, {"afi": "ipv4", "start": "193.0.64.0", "value": 1024})]
        )
        moved = {"received_by": "transfer", "transfer": "00" * 16}
        node.add_delegation(_payload("193.0.32.0", 256, "R2", attrs=moved))


@pytest.fixture(scope="module")
def rdap_app(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Starlette:
    data = build_federation(tmp_path_factory.mktemp("judges"), shared_data)
    add_history(data)
    get_node, lifespan = node_in_lifespan(data, RegistryId.RIPENCC)

    routes = rdap_routes(
        get_node,
        load_authority(data, URLS),
        URLS[RegistryId.RIPENCC],
        port43="whois.ripencc.test",
    )
    return Starlette(routes=routes, lifespan=lifespan)


@pytest.fixture(scope="module")
def api_schema(rdap_app: Starlette) -> Any:
    loaded = schemathesis.openapi.from_asgi("/rdap/openapi.json", rdap_app)
    # A request the server refuses for its length (414, declared in the document) is rejected too.
    rejection = loaded.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "414"]
    return loaded


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_finds_no_failure(api_schema: Any, mode: GenerationMode) -> None:
    """Every operation of the document, fuzzed (schemathesis' Python API with Hypothesis:
    its pytest plugin's lazy loading does not run under pytest 9)."""
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 17
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not operation.path_parameters:
            continue  # nothing to get wrong
        strategies = [operation.as_strategy(generation_mode=mode)]
        examples = {
            p.name: p.definition["example"]
            for p in operation.path_parameters
            if "example" in p.definition
        }
        if examples and mode is GenerationMode.POSITIVE:  # the node's own records: 200s
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=examples))
        for strategy in strategies:

            @given(case=strategy)
            @settings(
                max_examples=25,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                case.call_and_validate(checks=CHECKS)

            try:
                run()
            except Exception as exc:  # the report names the operation and the request
                failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_openapi_document_covers_every_route(rdap_app: Starlette, api_schema: Any) -> None:
    doc = api_schema.raw_schema
    assert doc["openapi"].startswith("3.1")
    assert doc["servers"] == [{"url": URLS[RegistryId.RIPENCC]}]
    paths = {getattr(route, "path", "") for route in rdap_app.routes}
    assert {p for p in paths if p.startswith("/rdap/") and "{rest:path}" not in p} == set(
        doc["paths"]
    )
    pages = {"/rdap/terms-of-service", "/rdap/inaccuracy-report"}  # what the notices link to
    for path, item in doc["paths"].items():
        responses = item["get"]["responses"]
        if path in pages:
            assert set(responses) == {"200"} and set(responses["200"]["content"]) == {"text/html"}
            continue
        assert {"200", "400"} <= set(responses), path
        media = "application/json" if path.endswith(".json") else "application/rdap+json"
        assert set(responses["200"]["content"]) == {media}, path


# --- whoisit against two node processes --------------------------------------------------------

HOLDINGS = {
    "ripencc": [
        ("ipv4", "193.0.0.0", 65536, "R1"),
        ("asn", "3333", 1, "R2"),
        ("ipv6", "2001:67c::", 32, "R1"),
    ],
    "arin": [("ipv4", "23.0.0.0", 65536, "A1"), ("asn", "13335", 1, "A2")],
}


def _until(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[LocalFederation]:
    f = LocalFederation(tmp_path_factory.mktemp("whoisit"), HOLDINGS)
    import_iana(f.data, shared_data / "iana")  # the real IANA map: who is authoritative where
    try:
        for registry in ("iana", "ripencc", "arin"):  # IANA's mirrored log: the authority
            f.start(registry)
        f.wait_mirrored(("ripencc", "arin"), ("iana", "ripencc", "arin"))
        signed = f.agreement("193.0.1.0/24", ("ripencc", "R1"), ("arin", "A1"))
        with httpx.Client() as client:
            reply = f.submit(client, signed)
        assert reply.status_code == 200, reply.text

        def registered() -> bool:
            url = f"{f.urls['arin']}/transfers/{signed.agreement.nonce}"
            return bool(httpx.get(url, timeout=10).json().get("state") == "sourceFinalized")

        _until(registered)

        def ripe_knows() -> bool:  # RIPE NCC learns of it from its mirror of ARIN's log
            url = f"{f.urls['ripencc']}/rdap/ip/193.0.1.1"
            return httpx.get(url, timeout=10).headers.get("location", "").startswith(f.urls["arin"])

        _until(ripe_knows)
        yield f
    finally:
        f.stop()


@pytest.fixture
def judge(fed: LocalFederation, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """whoisit bootstrapped from the RIPE NCC node's RFC 9224 files (http: loopback, hence
    allow_insecure), with its RIR endpoint table pointed at our two nodes."""
    rdap = {rir: f"{fed.urls[rir]}/rdap/" for rir in ("ripencc", "arin")}
    files = {
        afi: httpx.get(f"{rdap['ripencc']}bootstrap/{afi}.json", timeout=10).json()
        for afi in ("ipv4", "ipv6", "asn")
    }
    # whoisit wants all five IANA files; we serve no DNS and no object tags, so those are stubs
    # that name no endpoint of ours.
    files["dns"] = {"services": [[["invalid"], ["http://127.0.0.1:9/"]]]}
    files["object"] = {"services": [[["nobody@invalid"], ["NONE"], ["http://127.0.0.1:9/"]]]}
    bootstrap = whoisit._bootstrap
    whoisit.clear_bootstrapping()
    whoisit.load_bootstrap_data(
        json.dumps({"timestamp": int(time.time()), **files}), allow_insecure=True
    )
    endpoints = {"ripe": rdap["ripencc"], "arin": rdap["arin"]}
    monkeypatch.setattr(bootstrap, "RIR_RDAP_ENDPOINTS", endpoints)
    by_domain = {url.split("/")[2]: name for name, url in endpoints.items()}
    monkeypatch.setattr(bootstrap, "rir_endpoints_by_domain", by_domain)
    yield whoisit
    whoisit.clear_bootstrapping()


def test_whoisit_ip_resolves_through_the_node_bootstrap(judge: Any, fed: LocalFederation) -> None:
    found = judge.ip("193.0.0.1")
    assert found["type"] == "ip network"
    assert found["handle"] == "193.0.0.0 - 193.0.0.255"  # what the transfer left of the /16
    assert (found["start_address"], found["end_address"]) == ("193.0.0.0", "193.0.0.255")
    assert found["network"] == IPv4Network("193.0.0.0/24")
    assert found["rir"] == "ripe"
    assert found["url"] == f"{fed.urls['ripencc']}/rdap/ip/193.0.0.0/24"
    (holder,) = found["entities"]["registrant"]
    assert holder["handle"] == "R1"
    assert found["terms_of_service_url"]
    assert found["parent_handle"] == "193.0.0.0 - 193.255.255.255"


def test_whoisit_asn_and_network(judge: Any, fed: LocalFederation) -> None:
    asn = judge.asn(13335)
    assert asn["type"] == "autnum"
    assert (asn["asn_range"], asn["rir"]) == ([13335, 13335], "arin")
    assert asn["entities"]["registrant"][0]["handle"] == "A2"
    v6 = judge.ip(IPv6Network("2001:67c::/32"))
    assert v6["network"] == IPv6Network("2001:67c::/32")
    assert v6["entities"]["registrant"][0]["handle"] == "R1"
    v4 = judge.ip(IPv4Network("23.0.0.0/16"))
    assert (v4["handle"], v4["rir"]) == ("23.0.0.0 - 23.0.255.255", "arin")


def test_whoisit_follows_the_transferred_block_to_its_new_registry(
    judge: Any, fed: LocalFederation
) -> None:
    found = judge.ip("193.0.1.7")  # inside RIPE's /8: the bootstrap names ARIN for this /24
    assert found["rir"] == "arin"
    assert found["handle"] == "193.0.1.0 - 193.0.1.255"
    assert found["entities"]["registrant"][0]["handle"] == "A1"
    assert {e["action"] for e in found["events"]} >= {"transfer", "last changed"}


@pytest.mark.parametrize(
    ("wrong", "query", "right", "handle", "holder"),
    [
        ("arin", "193.0.0.1", "ripencc", "193.0.0.0 - 193.0.0.255", "R1"),
        ("ripencc", "193.0.1.1", "arin", "193.0.1.0 - 193.0.1.255", "A1"),
        ("ripencc", "23.0.5.5", "arin", "23.0.0.0 - 23.0.255.255", "A1"),
        ("arin", "2001:67c::1", "ripencc", "2001:67c::/32", "R1"),
    ],
)
def test_whoisit_follows_redirects_from_the_wrong_node(
    judge: Any, fed: LocalFederation, wrong: str, query: str, right: str, handle: str, holder: str
) -> None:
    found = judge.ip(query, rir="ripe" if wrong == "ripencc" else "arin")
    assert found["handle"] == handle.upper()
    assert found["url"].startswith(fed.urls[right])
    assert found["entities"]["registrant"][0]["handle"] == holder


def test_whoisit_asn_redirect(judge: Any, fed: LocalFederation) -> None:
    found = judge.asn(3333, rir="arin")
    assert found["rir"] == "ripe"
    assert found["asn_range"] == [3333, 3333]
    assert found["entities"]["registrant"][0]["handle"] == "R2"


# --- history over the real transfer ----------------------------------------------------------


def test_versions_show_the_transfer_on_both_sides(fed: LocalFederation) -> None:
    ripe, arin = f"{fed.urls['ripencc']}/rdap", f"{fed.urls['arin']}/rdap"
    with httpx.Client(timeout=10) as client:
        whole = client.get(f"{ripe}/ip/193.0.0.0/16/versions").json()
        first = client.get(f"{ripe}/ip/193.0.0.0/16/versions/1").json()
        left = client.get(f"{ripe}/ip/193.0.0.0/24/versions").json()
        moved = client.get(f"{arin}/ip/193.0.1.0/24/versions").json()
        moved_1 = client.get(f"{arin}/ip/193.0.1.0/24/versions/1").json()
        plain = client.get(f"{arin}/ip/193.0.1.0/24").json()
        away = client.get(f"{ripe}/ip/193.0.1.0/24/versions", follow_redirects=False)
    # RIPE NCC: the /16 was registered, then carved up by the transfer (a record identified by
    # its range, as whois --list-versions identifies it); what is left is a new record
    listed = whole["onereg_versions_0_versions"]
    assert [v["eventAction"] for v in listed] == ["registration", "deletion"]
    assert listed[1]["logKind"] == "transfer.finalized"
    assert (first["startAddress"], first["endAddress"]) == ("193.0.0.0", "193.0.255.255")
    assert "onereg_versions_0" in whole["rdapConformance"]
    (rest,) = left["onereg_versions_0_versions"]
    assert (rest["logKind"], rest["seq"]) == ("transfer.finalized", listed[1]["seq"])
    # ARIN: registered by the transfer, with a transfer event at that entry's time
    (only,) = moved["onereg_versions_0_versions"]
    assert (only["eventAction"], only["logKind"]) == ("registration", "transfer.registered")
    events = {e["eventAction"]: e["eventDate"] for e in moved_1["events"]}
    assert events["transfer"] == only["eventDate"]
    assert moved_1["onereg_versions_0_version"]["seq"] == only["seq"]
    assert "onereg_versions_0" not in plain["rdapConformance"]
    assert {e["eventAction"]: e["eventDate"] for e in plain["events"]}["transfer"] == events[
        "transfer"
    ]
    assert away.status_code == 301
    assert away.headers["location"] == f"{arin}/ip/193.0.1.0/24/versions"


def test_served_node_names_its_whois_host_and_answers_cors_preflight(fed: LocalFederation) -> None:
    """`onereg serve` as run: port43 is the host of the node's `[public] whois` (RFC 9083 4.7),
    a CORS preflight is answered (RFC 7480 5.6), and the terms link is the HTML it claims."""
    base = fed.urls["ripencc"]
    with httpx.Client(timeout=10) as client:
        body = client.get(f"{base}/rdap/ip/193.0.0.1").json()
        holder = client.get(f"{base}/rdap/entity/r1").json()  # the stored handle is R1
        preflight = client.options(
            f"{base}/rdap/ip/193.0.0.1",
            headers={"Origin": "https://x.example", "Access-Control-Request-Method": "GET"},
        )
        (terms,) = [
            link
            for n in body["notices"]
            for link in n.get("links", [])
            if link["rel"] == "terms-of-service"
        ]
        page = client.get(terms["href"])
    host = fed.whois["ripencc"].rpartition(":")[0]
    assert body["port43"] == holder["port43"] == host
    assert holder["handle"] == "R1"
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert page.status_code == 200
    assert page.headers["content-type"].split(";")[0] == terms["type"] == "text/html"
