"""RDAP values a standard client relies on, judged against the real registries' data (issue 13).

The nodes are small but real: IANA's registries plus a few hundred lines of each RIR's 2018
delegated file (../shared/data): the early AS numbers, where the RIRs hold single numbers inside
each other's blocks (AS7 at RIPE NCC, AS2018 and AS2561 at AFRINIC, all in ARIN's block), the
records around 130.59.0.0/16 (RIPE NCC's legacy block in ARIN-administered 130/8), and the
records behind the real RDAP responses in ../shared/data/rdap.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from nodeapp import node_in_lifespan
from onereg.core.registries import RIRS, RegistryId
from onereg.core.resources import Afi, Resource
from onereg.federation.importer import import_delegated_file, import_iana
from onereg.federation.layout import DataDir
from onereg.federation.node_config import Limits
from onereg.http.offload import Offload
from onereg.http.rdap import RdapAuthority, load_authority, port43_host, rdap_routes
from onereg.registry.node import RegistryNode

pytestmark = pytest.mark.realdata

URLS = {rid: f"https://rdap.{rid.value}.test" for rid in (RegistryId.IANA, *RIRS)}
RDAP = "application/rdap+json"
ASN_WINDOWS = ((1, 40), (2000, 2040), (2540, 2580))  # early AS numbers, held across registries
# a whole /8 held in one record (ARIN's 17.0.0.0/8), around RIPE NCC's legacy 130.59.0.0/16 (in
# ARIN-administered 130/8), a stretch of RIPE NCC's own 193/8, and the first IPv6 allocations of
# RIPE NCC and AFRINIC
NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("17.0.0.0/8", "130.56.0.0/13", "193.0.0.0/16", "2001:600::/26", "2001:4200::/28")
)
# RFC 9083 10.2.1: the registered notice types for a result set cut short
TRUNCATION_TYPES = {
    "result set truncated due to authorization",
    "result set truncated due to excessive load",
    "result set truncated due to unexplainable reasons",
}


def real_responses(shared_data: Path) -> list[dict[str, Any]]:
    """The registries' real ip network and autnum answers (whoisit's and ipwhois's tests)."""
    root = shared_data / "rdap"
    found = [json.loads(p.read_text()) for p in sorted(root.glob("whoisit-tests/*.json"))]
    ipwhois = json.loads((root / "ipwhois-tests/rdap.json").read_text())
    found += [item["response"] for item in ipwhois.values()]
    return [b for b in found if isinstance(b, dict) and b.get("objectClassName") == "ip network"]


def _address(text: str) -> int:
    """A real response's address; ARIN pads IPv4 with zeros (074.125.000.000)."""
    if "." in text:
        text = ".".join(str(int(part)) for part in text.split("."))
    return int(ipaddress.ip_address(text))


def _record_range(fields: list[str]) -> tuple[int, int]:
    start = _address(fields[3])
    if fields[2] == "ipv4":
        return start, start + int(fields[4]) - 1
    return start, start + (1 << (128 - int(fields[4]))) - 1


def _first_label(text: str) -> str:
    """The first octet or hextet of an address: a cheap filter before parsing it."""
    return text.split(".", 1)[0] if "." in text else text.split(":", 1)[0].lower()


def _wanted(fields: list[str], real_starts: set[tuple[str, int]], labels: set[str]) -> bool:
    kind = fields[2]
    if kind == "asn":
        return any(lo <= int(fields[3]) <= hi for lo, hi in ASN_WINDOWS)
    if kind not in ("ipv4", "ipv6") or _first_label(fields[3]) not in labels:
        return False  # most lines: never parsed (500,000 addresses take seconds)
    if any(ipaddress.ip_address(fields[3]) in net for net in NETWORKS):
        return True
    lo, hi = _record_range(fields)
    return any(k == kind and lo <= s <= hi for k, s in real_starts)


def real_lines(shared_data: Path, registry: RegistryId) -> list[str]:
    """The lines of the registry's 2018 file this module needs."""
    real = [b["startAddress"] for b in real_responses(shared_data)]
    starts = {("ipv6" if ":" in a else "ipv4", _address(a)) for a in real}
    labels = {_first_label(str(n.network_address)) for n in NETWORKS}
    labels |= {_first_label(str(ipaddress.ip_address(s))) for _, s in starts}
    path = shared_data / "delegated" / "2018-10-13" / f"delegated-{registry.value}-extended-latest"
    out = []
    with path.open() as lines:
        for line in lines:
            fields = line.rstrip("\n").split("|")
            if len(fields) >= 8 and fields[0] == registry.value and _wanted(fields, starts, labels):
                out.append(line.rstrip("\n"))
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> DataDir:
    root = tmp_path_factory.mktemp("conformance")
    data = DataDir(root / "data")
    import_iana(data, shared_data / "iana")
    for rid in RIRS:
        lines = real_lines(shared_data, rid)
        head = f"2.3|{rid.value}|20181013|{len(lines)}|19700101|20181013|+0000"
        path = root / f"delegated-{rid.value}-extended-latest"
        path.write_text("\n".join([head, *lines]) + "\n")
        import_delegated_file(data, path, None)
    return data


@pytest.fixture(scope="module")
def authority(data: DataDir) -> RdapAuthority:
    return load_authority(data, URLS)


@contextmanager
def client(
    data: DataDir, authority: RdapAuthority, rid: RegistryId, **options: Any
) -> Iterator[TestClient]:
    get_node, lifespan = node_in_lifespan(data, rid)

    routes = rdap_routes(get_node, authority, URLS[rid], **options)
    app = Starlette(routes=routes, lifespan=lifespan)
    with TestClient(app, base_url=URLS[rid], follow_redirects=False) as test_client:
        yield test_client


def ok(c: TestClient, path: str) -> dict[str, Any]:
    response = c.get(path)
    assert response.status_code == 200, (path, response.text)
    assert response.headers["content-type"] == RDAP
    body: dict[str, Any] = response.json()
    return body


def node_of(url: str) -> RegistryId:
    return next(rid for rid, base in URLS.items() if url.startswith(base + "/"))


def records(data: DataDir, rid: RegistryId, afi: Afi) -> list[Any]:
    with data.open(rid) as node:
        return [d for d in node.delegations(afi) if d.holder]


# --- 1. RFC 9224 bootstrap files -------------------------------------------------------------

ASN_ENTRY = re.compile(r"^([0-9]+)-([0-9]+)$")


def rfc9224_asn_lookup(services: list[Any], asn: int) -> str | None:
    """What a strict RFC 9224 client does (5.3: every entry a range "N-M"; node-rdap): an entry
    in any other form matches nothing. (IANA's own file has two bare entries, "2043" and
    "2047", that such a client misses too; ours writes a single number as "N-N".)"""
    for entries, urls in services:
        for entry in entries:
            match = ASN_ENTRY.match(entry)
            if match and int(match[1]) <= asn <= int(match[2]):
                return str(urls[0])
    return None


def test_asn_bootstrap_entries_are_merged_ranges(data: DataDir, authority: RdapAuthority) -> None:
    with client(data, authority, RegistryId.RIPENCC) as c:
        services = c.get("/rdap/bootstrap/asn.json").json()["services"]
    spans = []
    for entries, urls in services:
        for entry in entries:
            match = ASN_ENTRY.match(entry)
            assert match, f"{entry!r} is not an RFC 9224 range"
            spans.append((int(match[1]), int(match[2]), urls[0]))
    spans.sort()
    for (lo, hi, url), (next_lo, _, next_url) in itertools.pairwise(spans):
        assert lo <= hi < next_lo, "entries overlap"
        assert not (hi + 1 == next_lo and url == next_url), f"{lo}-{hi} not merged with the next"
    # AS7 (RIPE NCC), AS2018 and AS2561 (AFRINIC) are single numbers inside ARIN's block
    singles = [(lo, url) for lo, hi, url in spans if lo == hi]
    assert len(singles) >= 3


@pytest.mark.parametrize("asn", [7, 8, 2018, 2561])
def test_a_strict_bootstrap_client_finds_every_asn(
    data: DataDir, authority: RdapAuthority, asn: int
) -> None:
    with client(data, authority, RegistryId.IANA) as c:
        services = c.get("/rdap/bootstrap/asn.json").json()["services"]
    base = rfc9224_asn_lookup(services, asn)
    assert base is not None, f"no entry covers AS{asn}"
    with client(data, authority, node_of(base)) as c:
        body = ok(c, f"/rdap/autnum/{asn}")
    assert body["startAutnum"] <= asn <= body["endAutnum"]
    with data.open(node_of(base)) as node:
        assert node.containing(Resource(Afi.ASN, asn, asn)) is not None  # the holder's registry


@pytest.mark.parametrize("afi", ["ipv4", "ipv6"])
def test_ip_bootstrap_entries_are_canonical_disjoint_prefixes(
    data: DataDir, authority: RdapAuthority, shared_data: Path, afi: str
) -> None:
    real = json.loads((shared_data / f"rdap/iana-bootstrap/{afi}.json").read_text())
    for entries, _ in real["services"]:  # the form IANA's own files have
        assert all(str(ipaddress.ip_network(e)) == e for e in entries)
    with client(data, authority, RegistryId.ARIN) as c:
        services = c.get(f"/rdap/bootstrap/{afi}.json").json()["services"]
    networks = []
    for entries, _ in services:
        assert len(set(entries)) == len(entries)
        for entry in entries:
            net = ipaddress.ip_network(entry)  # strict: no host bits
            assert str(net) == entry, f"{entry!r} is not written canonically ({net})"
            networks.append((int(net.network_address), int(net.broadcast_address)))
    networks.sort()
    assert all(a[1] < b[0] for a, b in itertools.pairwise(networks))


# --- 2. entity handles in any case -----------------------------------------------------------


def test_entity_handles_match_in_any_case(data: DataDir, authority: RdapAuthority) -> None:
    with data.open(RegistryId.RIPENCC) as node:
        legacy = node.containing(Resource.parse("130.59.0.0/16"))
    assert legacy is not None and legacy.holder and legacy.holder != legacy.holder.upper()
    stored = legacy.holder
    with client(data, authority, RegistryId.RIPENCC) as c:
        exact = ok(c, f"/rdap/entity/{stored}")
        upper = ok(c, f"/rdap/entity/{stored.upper()}")  # as whoisit sends it
        mixed = ok(c, f"/rdap/entity/{stored[:4].upper()}{stored[4:]}")
        missing = c.get(f"/rdap/entity/{stored.upper()}X")
    assert upper["handle"] == mixed["handle"] == stored  # the answer keeps the stored handle
    assert [n["handle"] for n in upper["networks"]] == [n["handle"] for n in exact["networks"]]
    assert "130.59.0.0" in {n["startAddress"] for n in upper["networks"]}
    (self_link,) = [link for link in upper["links"] if link["rel"] == "self"]
    assert self_link["href"] == f"{URLS[RegistryId.RIPENCC]}/rdap/entity/{stored}"
    assert missing.status_code == 404


def test_handles_differing_only_in_case_are_ambiguous(tmp_path: Path) -> None:
    from onereg.http.rdap import RdapError, stored_handle
    from onereg.registry import events as ev

    with RegistryNode.open(RegistryId.RIPENCC, tmp_path / "node.sqlite") as node:
        holders = [{"handle": h, "name": h, "cc": "NL"} for h in ("Org-A", "ORG-a", "org-b")]
        node.append([(ev.HOLDER_REGISTERED, h) for h in holders])
        assert node.holder_handles("ORG-B") == ["org-b"]  # the lower-case probe
        assert node.holder_handles("Org-A") == ["Org-A"]  # exact wins
        assert stored_handle(node, "oRg-B") == "org-b"  # the case-blind index
        assert stored_handle(node, "org-c") is None
        # a miss (every whois query for an address asks it) reads the index, never every holder
        plan = node.conn.execute(
            "EXPLAIN QUERY PLAN SELECT handle FROM holders WHERE handle = ? COLLATE NOCASE",
            ("193.0.0.1",),
        ).fetchall()
        assert "holders_nocase" in " ".join(str(row[-1]) for row in plan), plan
        with pytest.raises(RdapError) as refused:
            stored_handle(node, "org-A")
    assert refused.value.code == 404
    assert "'ORG-a'" in refused.value.description and "'Org-A'" in refused.value.description


def test_whois_finds_a_handle_in_any_case_as_rdap_does(
    data: DataDir, authority: RdapAuthority
) -> None:
    import asyncio

    from onereg.whois import history as hist
    from onereg.whois.query import parse_query
    from onereg.whois.resolver import Context, answer

    with data.open(RegistryId.RIPENCC) as node:
        legacy = node.containing(Resource.parse("130.59.0.0/16"))
        assert legacy is not None and legacy.holder
        index = hist.HistoryIndex(data.node_path(RegistryId.RIPENCC))
        head = int(node.conn.execute("SELECT max(seq) FROM log").fetchone()[0])
        asyncio.run(index.catch_up(head))
        ctx = Context(node, authority, {}, index, 100)
        exact = answer(ctx, parse_query(legacy.holder))
        upper = answer(ctx, parse_query(legacy.holder.upper()))
    assert f"organisation:   {legacy.holder}" in exact
    assert upper.replace(legacy.holder.upper(), legacy.holder) == exact


# --- 3. port43 ---------------------------------------------------------------------------------


def test_port43_names_the_public_whois_host_of_the_node_config(
    data: DataDir, authority: RdapAuthority
) -> None:
    """Through the node's app as `onereg serve` builds it: `[public] whois` of node.toml."""
    from onereg.federation.httpsig import NodeSigningKey, RequestVerifier
    from onereg.http.app import NodeService, build_app
    from onereg.http.signed import SignedRoutes
    from onereg.ledger.checkpoint import Cosigner
    from onereg.ledger.note import Signer

    me = NodeSigningKey("arin", Signer.generate("me").private_key)
    service = NodeService(
        RegistryId.ARIN,
        data.node_path(RegistryId.ARIN),
        Cosigner.generate("onereg.test/arin"),
        {},
        SignedRoutes(me, RequestVerifier({}, 60.0), 65536),
        {},
        {},
        rdap=lambda: authority,
        public_url=URLS[RegistryId.ARIN],
        public_whois="whois.arin.test:8543",
    )
    arin = records(data, RegistryId.ARIN, Afi.IPV4)[0].resource
    asn = records(data, RegistryId.ARIN, Afi.ASN)[0].resource
    holder = records(data, RegistryId.ARIN, Afi.ASN)[0].holder
    with TestClient(build_app(service), base_url=URLS[RegistryId.ARIN]) as c:
        answers = [
            c.get(f"/rdap/ip/{ipaddress.ip_address(arin.start)}").json(),
            c.get(f"/rdap/autnum/{asn.start}").json(),
            c.get(f"/rdap/entity/{holder}").json(),
        ]
    for body in answers:
        assert body["port43"] == "whois.arin.test", body.get("objectClassName")
    assert answers[2]["objectClassName"] == "entity"


@pytest.mark.parametrize(
    ("public", "host"),
    [
        ("whois.example.net:43", "whois.example.net"),
        ("127.0.0.1:8545", "127.0.0.1"),
        ("[2001:db8::43]:4343", "2001:db8::43"),
        ("2001:db8::43", "2001:db8::43"),
        ("whois.example.net", "whois.example.net"),
        ("", None),
    ],
)
def test_port43_is_a_host_without_the_port(public: str, host: str | None) -> None:
    assert port43_host(public) == host


# --- 4. rirSearch1: a result set cut at its cap says so ----------------------------------------


def test_rdap_down_cut_at_its_cap_carries_a_truncation_notice(
    data: DataDir, authority: RdapAuthority
) -> None:
    query = "/rdap/ips/rirSearch1/rdap-down/130.0.0.0/8"
    with data.open(RegistryId.ARIN) as node:
        inside = node.within(Resource.parse("130.0.0.0/8"), 10_000)
    assert len(inside) > 2
    capped = Offload(Limits(max_results=2), rate_limited=False)
    with client(data, authority, RegistryId.ARIN, offload=capped) as c:
        cut = ok(c, query)
    roomy = Offload(Limits(max_results=len(inside)), rate_limited=False)
    with client(data, authority, RegistryId.ARIN, offload=roomy) as c:
        whole = ok(c, query)
    assert [n["startAddress"] for n in cut["ipSearchResults"]] == [
        n["startAddress"] for n in whole["ipSearchResults"][:2]
    ]
    assert len(whole["ipSearchResults"]) == len(inside)
    (notice,) = [n for n in cut["notices"] if n.get("type", "").startswith("result set")]
    assert notice["type"] in TRUNCATION_TYPES
    assert any("2" in line for line in notice["description"])
    assert not [n for n in whole["notices"] if n.get("type", "").startswith("result set")]


# --- 5. the parent an object names is served ---------------------------------------------------


@pytest.mark.parametrize("rid", RIRS)
def test_parent_handle_leads_to_a_served_object(
    data: DataDir, authority: RdapAuthority, rid: RegistryId
) -> None:
    networks = records(data, rid, Afi.IPV4)[:3] + records(data, rid, Afi.IPV6)[:2]
    assert networks
    for record in networks:
        path = f"/rdap/ip/{ipaddress.ip_address(record.resource.start)}"
        with client(data, authority, rid) as c:
            body = ok(c, path)
        if "parentHandle" not in body:
            continue
        (up,) = [link["href"] for link in body["links"] if link["rel"] == "up"]
        with client(data, authority, node_of(up)) as c:
            parent = ok(c, up.removeprefix(URLS[node_of(up)]))
        assert parent["handle"] == body["parentHandle"]
        assert _address(parent["startAddress"]) <= record.resource.start
        assert record.resource.end <= _address(parent["endAddress"])
        # the same path asked at the object's own node is sent to where the parent is
        with client(data, authority, rid) as c:
            moved = c.get(up.removeprefix(URLS[node_of(up)]))
        assert (moved.status_code, moved.headers["location"]) == (301, up)


def test_every_network_at_a_node_names_a_served_parent(
    data: DataDir, authority: RdapAuthority
) -> None:
    with client(data, authority, RegistryId.RIPENCC) as c:
        body = ok(c, "/rdap/ip/130.59.1.1")
    assert body["parentHandle"] == "130.0.0.0 - 130.255.255.255"  # ARIN-administered 130/8
    with client(data, authority, RegistryId.IANA) as c:
        parent = ok(c, "/rdap/ip/130.0.0.0/8")
        assert c.get("/rdap/ip/130.0.0.0/9").status_code == 301  # not IANA's block: sent on
    assert parent["type"] == "LEGACY"


def test_a_block_held_whole_is_its_holders_object_not_iana(
    data: DataDir, authority: RdapAuthority
) -> None:
    """ARIN records all of 17.0.0.0/8: asking for the /8 finds ARIN's record everywhere, and
    the record names no parent (IANA's block would be itself)."""
    with data.open(RegistryId.ARIN) as node:
        record = node.containing(Resource.parse("17.0.0.0/8"))
    assert record is not None and str(record.resource) == "17.0.0.0/8"
    arin = f"{URLS[RegistryId.ARIN]}/rdap/ip/17.0.0.0/8"
    for rid in (RegistryId.IANA, RegistryId.RIPENCC):
        with client(data, authority, rid) as c:
            moved = c.get("/rdap/ip/17.0.0.0/8")
        assert (moved.status_code, moved.headers["location"]) == (301, arin)
    with client(data, authority, RegistryId.ARIN) as c:
        body = ok(c, "/rdap/ip/17.0.0.0/8")
    assert body["entities"][0]["handle"] == record.holder
    assert "parentHandle" not in body
    assert "up" not in {link["rel"] for link in body["links"]}


# --- 6. type words: the record's own, in its registry's vocabulary ------------------------------


def _real_cases(shared_data: Path) -> list[tuple[RegistryId, str, int, int, str]]:
    """(registry, afi, start, end, type) of every real response with a type."""
    by_host = {f"whois.{r.value.replace('ripencc', 'ripe')}.net": r for r in RIRS}
    out = []
    for body in real_responses(shared_data):
        if body.get("type") and body.get("port43") in by_host:
            afi = "ipv6" if ":" in body["startAddress"] else "ipv4"
            start, end = _address(body["startAddress"]), _address(body["endAddress"])
            out.append((by_host[body["port43"]], afi, start, end, body["type"]))
    return out


def test_types_are_the_registries_own_words(
    data: DataDir, authority: RdapAuthority, shared_data: Path
) -> None:
    """Each real answer whose object lies within one of our records (the same registration;
    LACNIC answers with the address asked) has the type our object for it has."""
    cases = _real_cases(shared_data)
    compared = set()
    for rid, afi, start, end, real_type in cases:
        with data.open(rid) as node:
            ours = node.containing(Resource(Afi(afi), start, end))
        if ours is None:
            continue  # a registration newer or other than the 2018 record
        with client(data, authority, rid) as c:
            body = ok(c, f"/rdap/ip/{ipaddress.ip_address(start)}")
        assert body["type"] == real_type, (rid, body["handle"], body["type"], real_type)
        compared.add((rid, afi))
    assert {r for r, _ in compared} == set(RIRS)
    assert (RegistryId.RIPENCC, "ipv4") in compared  # 130.59.0.0/16: LEGACY
    assert any(afi == "ipv6" for _, afi in compared)


def test_legacy_block_is_typed_from_the_record_not_as_pi(
    data: DataDir, authority: RdapAuthority
) -> None:
    with data.open(RegistryId.RIPENCC) as node:
        legacy = node.containing(Resource.parse("130.59.0.0/16"))
        plain = next(
            d
            for d in node.delegations(Afi.IPV4)
            if d.start_text.startswith("193.") and d.status == "assigned"
        )
    assert legacy is not None and legacy.status == plain.status == "assigned"
    with client(data, authority, RegistryId.RIPENCC) as c:
        assert ok(c, "/rdap/ip/130.59.0.0/16")["type"] == "LEGACY"
        assert ok(c, f"/rdap/ip/{plain.start_text}")["type"] == "ASSIGNED PI"


@pytest.mark.parametrize("rid", RIRS)
def test_ipv6_and_asn_objects_do_not_get_ipv4_words(
    data: DataDir, authority: RdapAuthority, rid: RegistryId
) -> None:
    """RIPE NCC and AFRINIC word an IPv6 allocation ALLOCATED-BY-RIR (ALLOCATED PA is an
    inetnum status); no registry types an autnum with a network's word."""
    v4, v6 = records(data, rid, Afi.IPV4), records(data, rid, Afi.IPV6)
    asns = records(data, rid, Afi.ASN)
    with client(data, authority, rid) as c:
        v4_types = {
            d.status: ok(c, f"/rdap/ip/{ipaddress.ip_address(d.resource.start)}").get("type")
            for d in v4
        }
        v6_types = {
            d.status: ok(c, f"/rdap/ip/{ipaddress.ip_address(d.resource.start)}").get("type")
            for d in v6
        }
        asn_types = {ok(c, f"/rdap/autnum/{d.resource.start}").get("type") for d in asns}
    assert asns and v4_types
    assert not (asn_types - {None}) & set(v4_types.values()) & set(v6_types.values())
    if rid in (RegistryId.RIPENCC, RegistryId.AFRINIC) and "allocated" in v6_types:
        assert v6_types["allocated"] == "ALLOCATED-BY-RIR"
        assert v4_types.get("allocated", "ALLOCATED PA") != v6_types["allocated"]


# --- 7. the notices' links lead where they say, and say where ------------------------------------


def test_notice_links_are_served_as_their_type_says(
    data: DataDir, authority: RdapAuthority
) -> None:
    with client(data, authority, RegistryId.LACNIC) as c:
        body = ok(c, "/rdap/help")
        links = [link for notice in body["notices"] for link in notice.get("links", [])]
        assert {"terms-of-service", "inaccuracy-report"} <= {link["rel"] for link in links}
        for link in links:
            page = c.get(link["href"].removeprefix(URLS[RegistryId.LACNIC]))
            assert page.status_code == 200, link
            assert page.headers["content-type"].split(";")[0] == link["type"], link
            assert page.text.lstrip().lower().startswith("<!doctype html>")
    (report,) = [n for n in body["notices"] if n["title"] == "Whois Inaccuracy Reporting"]
    (href,) = [link["href"] for link in report["links"]]
    assert report["description"][-1].rstrip().endswith(href)  # not an empty "report them at:"
    with client(data, authority, RegistryId.LACNIC) as c:
        report_page = c.get(href.removeprefix(URLS[RegistryId.LACNIC])).text
    assert "LACNIC" in report_page and "https://" in report_page


# --- 8. CORS -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/rdap/ip/130.59.0.1", "/rdap/autnum/7", "/rdap/entity/x", "/rdap/bootstrap/asn.json"]
)
def test_cors_preflight_and_answers(data: DataDir, authority: RdapAuthority, path: str) -> None:
    asked = {
        "Origin": "https://client.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "accept, x-requested-with",
    }
    with client(data, authority, RegistryId.RIPENCC) as c:
        preflight = c.options(path, headers=asked)
        answer = c.get(path, headers={"Origin": "https://client.example"})
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "GET" in preflight.headers["access-control-allow-methods"]
    allowed = {
        h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")
    }
    assert {"accept", "x-requested-with"} <= allowed
    assert answer.headers["access-control-allow-origin"] == "*"
