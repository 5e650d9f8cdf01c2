"""RDAP at one node: objects, the NRO profile, redirects to the authoritative registry, errors,
RFC 9224 bootstrap files cut from the same authority, and the response shape real RIRs give.

The federation is small but real: IANA's registries from ../shared/data plus three tiny delegated
files, one of which holds space inside another RIR's block (an inter-RIR holding).
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from nodeapp import node_in_lifespan
from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.core.resources import Resource
from onereg.federation.importer import import_delegated_file, import_iana
from onereg.federation.layout import DataDir
from onereg.http.rdap import (
    AuthoritySource,
    LiveAuthority,
    load_authority,
    log_heads,
    rdap_routes,
)

FILES = {
    "afrinic": [
        "afrinic|ZA|ipv4|41.0.0.0|65536|20050101|allocated|A1",
        "afrinic|KE|asn|36864|10|20050101|allocated|A2",
    ],
    "ripencc": [
        "ripencc|NL|ipv4|193.0.0.0|4096|19930901|allocated|R1",
        "ripencc|ZZ|ipv4|193.0.64.0|1024||available|",
        "ripencc|DE|ipv4|41.1.0.0|256|20100101|allocated|R2",
        "ripencc|NL|asn|3333|1|19930901|assigned|R1",
        "ripencc|NL|ipv6|2001:67c::|32|20040101|allocated|R1",
    ],
    "arin": [
        "arin|US|ipv6|2600:1000::|28|20110101|allocated|N1",
        "arin|US|asn|13335|1|20100714|assigned|N2",
    ],
}
URLS = {rid: f"https://rdap.{rid.value}.test" for rid in ALL_REGISTRIES}
RDAP = "application/rdap+json"
PROFILE = {"rdap_level_0", "nro_rdap_profile_0", "cidr0", "nro_rdap_profile_asn_flat_0"}


def _write(directory: Path, registry: str, lines: list[str]) -> Path:
    path = directory / f"delegated-{registry}-extended-latest"
    head = [f"2.3|{registry}|20181013|{len(lines)}|19700101|20181013|+0000"]
    path.write_text("\n".join(head + lines) + "\n")
    return path


def build_federation(root: Path, shared_data: Path) -> DataDir:
    data = DataDir(root / "data")
    import_iana(data, shared_data / "iana")
    for registry, lines in FILES.items():
        import_delegated_file(data, _write(root, registry, lines), None)
    return data


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> DataDir:
    return build_federation(tmp_path_factory.mktemp("rdap"), shared_data)


@contextmanager
def client(
    data: DataDir, rid: RegistryId, authority: AuthoritySource | None = None, **options: Any
) -> Iterator[TestClient]:
    """A node app as http/app.py builds one: the node opened in the lifespan (the event loop's
    thread, where the handlers use it)."""
    get_node, lifespan = node_in_lifespan(data, rid)

    routes = rdap_routes(
        get_node,
        authority if authority is not None else load_authority(data, URLS),
        URLS[rid],
        **options,
    )
    with TestClient(
        Starlette(routes=routes, lifespan=lifespan),
        base_url=URLS[rid],
        follow_redirects=False,
    ) as test_client:
        yield test_client


def ok(test_client: TestClient, path: str) -> dict[str, Any]:
    response = test_client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == RDAP
    body: dict[str, Any] = response.json()
    return body


def self_links(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [link for link in body.get("links", []) if link["rel"] == "self"]


def log_time(data: DataDir, rid: RegistryId, seq: int) -> str:
    with data.open(rid) as node:
        return str(node.conn.execute("SELECT time FROM log WHERE seq = ?", (seq,)).fetchone()[0])


# --- objects ---------------------------------------------------------------------------------


def test_ip_network_object_carries_the_record(data: DataDir) -> None:
    with client(data, RegistryId.RIPENCC) as c:
        body = ok(c, "/rdap/ip/193.0.7.9")
    assert body["objectClassName"] == "ip network"
    assert body["handle"] == "193.0.0.0 - 193.0.15.255"
    assert (body["startAddress"], body["endAddress"]) == ("193.0.0.0", "193.0.15.255")
    assert body["ipVersion"] == "v4"
    assert body["type"] == "ALLOCATED PA"
    assert body["country"] == "NL"
    assert body["status"] == ["active"]
    assert body["cidr0_cidrs"] == [{"v4prefix": "193.0.0.0", "length": 20}]
    assert body["parentHandle"] == "193.0.0.0 - 193.255.255.255"  # IANA's /8
    assert isinstance(body["name"], str) and body["name"]


def test_nro_profile_conformance_notices_and_one_self_link(data: DataDir) -> None:
    with client(data, RegistryId.RIPENCC) as c:
        for path in ("/rdap/ip/193.0.0.0/20", "/rdap/autnum/3333", "/rdap/entity/R1"):
            body = ok(c, path)
            assert set(body["rdapConformance"]) >= PROFILE, path
            rels = {link["rel"] for notice in body["notices"] for link in notice.get("links", [])}
            assert {"terms-of-service", "inaccuracy-report"} <= rels, path
            (self_link,) = self_links(body)
            assert self_link["type"] == RDAP
            assert self_link["value"] == f"{URLS[RegistryId.RIPENCC]}{path}"
    assert self_link["href"] == f"{URLS[RegistryId.RIPENCC]}/rdap/entity/R1"


def test_self_link_names_the_object_not_the_query(data: DataDir) -> None:
    with client(data, RegistryId.RIPENCC) as c:
        (link,) = self_links(ok(c, "/rdap/ip/193.0.0.1"))
    assert link["href"] == f"{URLS[RegistryId.RIPENCC]}/rdap/ip/193.0.0.0/20"


def test_holder_is_a_registrant_entity_with_a_jcard(data: DataDir) -> None:
    with client(data, RegistryId.RIPENCC) as c:
        body = ok(c, "/rdap/ip/193.0.0.1")
    (entity,) = body["entities"]
    assert entity["objectClassName"] == "entity"
    assert entity["handle"] == "R1"
    assert entity["roles"] == ["registrant"]
    kind, props = entity["vcardArray"]
    assert kind == "vcard"
    by_name = {p[0]: p for p in props}
    assert by_name["version"] == ["version", {}, "text", "4.0"]
    assert by_name["fn"][3] == "R1"  # a delegated file gives no name: the handle stands in
    assert by_name["adr"][1] == {"cc": "NL"}
    assert len(self_links(entity)) == 1


def test_events_registration_date_and_last_changed_not_the_import(data: DataDir) -> None:
    """An imported record not changed since: both events are its registration date, not the
    time of the import (the log entry that added it)."""
    with client(data, RegistryId.RIPENCC) as c:
        body = ok(c, "/rdap/ip/193.0.0.1")
    with data.open(RegistryId.RIPENCC) as node:
        (record,) = node.overlapping(Resource.parse("193.0.0.1"))
    events = {e["eventAction"]: e["eventDate"] for e in body["events"]}
    registered = f"{record.date[:4]}-{record.date[4:6]}-{record.date[6:]}T00:00:00Z"
    assert events["registration"] == registered
    assert events["last changed"] == registered
    assert events["last changed"] != log_time(data, RegistryId.RIPENCC, record.seq)


def test_pool_space_is_not_active_and_has_no_holder(data: DataDir) -> None:
    with client(data, RegistryId.RIPENCC) as c:
        body = ok(c, "/rdap/ip/193.0.64.1")
    assert body["status"] == ["inactive"]
    assert body["type"] == "AVAILABLE"
    assert "entities" not in body
    assert "country" not in body  # ZZ is no country
    assert "registration" not in {e["eventAction"] for e in body["events"]}


def test_ipv6_prefix_lookup(data: DataDir) -> None:
    with client(data, RegistryId.ARIN) as c:
        body = ok(c, "/rdap/ip/2600:1000::/32")
    assert body["ipVersion"] == "v6"
    assert body["handle"] == "2600:1000::/28"
    assert body["endAddress"] == "2600:100f:ffff:ffff:ffff:ffff:ffff:ffff"
    assert body["cidr0_cidrs"] == [{"v6prefix": "2600:1000::", "length": 28}]
    assert body["parentHandle"] == "2600::/12"


def test_autnum_flat_range(data: DataDir) -> None:
    with client(data, RegistryId.AFRINIC) as c:
        body = ok(c, "/rdap/autnum/36870")
    assert body["objectClassName"] == "autnum"
    assert (body["startAutnum"], body["endAutnum"]) == (36864, 36873)
    assert body["handle"] == "AS36864-AS36873"
    assert body["entities"][0]["handle"] == "A2"
    assert "nro_rdap_profile_asn_flat_0" in body["rdapConformance"]


def test_entity_lists_its_networks_and_autnums(data: DataDir) -> None:
    with client(data, RegistryId.RIPENCC) as c:
        body = ok(c, "/rdap/entity/R1")
    assert body["objectClassName"] == "entity"
    assert {n["startAddress"] for n in body["networks"]} == {"193.0.0.0", "2001:67c::"}
    assert [a["startAutnum"] for a in body["autnums"]] == [3333]
    assert "roles" not in body


def test_iana_node_answers_for_iana_space(data: DataDir) -> None:
    with client(data, RegistryId.IANA) as c:
        body = ok(c, "/rdap/ip/10.1.2.3")
    assert (body["startAddress"], body["endAddress"]) == ("10.0.0.0", "10.255.255.255")
    assert body["type"] == "RESERVED"
    assert body["status"] == ["reserved"]
    assert "parentHandle" not in body


def test_help(data: DataDir) -> None:
    with client(data, RegistryId.ARIN) as c:
        body = ok(c, "/rdap/help")
    assert set(body["rdapConformance"]) >= PROFILE
    assert len(self_links(body)) == 1


def test_port43_when_a_whois_service_is_named(data: DataDir) -> None:
    with client(data, RegistryId.ARIN, port43="whois.arin.test") as c:
        assert ok(c, "/rdap/autnum/13335")["port43"] == "whois.arin.test"
    with client(data, RegistryId.ARIN) as c:
        assert "port43" not in ok(c, "/rdap/autnum/13335")


# --- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "path", "target"),
    [
        (RegistryId.RIPENCC, "/rdap/ip/41.0.0.1", RegistryId.AFRINIC),
        (RegistryId.RIPENCC, "/rdap/ip/41.0.0.0/16", RegistryId.AFRINIC),
        (RegistryId.AFRINIC, "/rdap/ip/41.1.0.7", RegistryId.RIPENCC),  # held across registries
        (RegistryId.IANA, "/rdap/ip/193.0.0.1", RegistryId.RIPENCC),
        (RegistryId.IANA, "/rdap/ip/41.1.0.0/24", RegistryId.RIPENCC),
        (RegistryId.RIPENCC, "/rdap/ip/10.0.0.1", RegistryId.IANA),
        (RegistryId.RIPENCC, "/rdap/ip/2600:1000::1", RegistryId.ARIN),
        (RegistryId.ARIN, "/rdap/autnum/3333", RegistryId.RIPENCC),
        (RegistryId.IANA, "/rdap/autnum/36864", RegistryId.AFRINIC),
    ],
)
def test_redirect_to_the_authoritative_registry(
    data: DataDir, node: RegistryId, path: str, target: RegistryId
) -> None:
    with client(data, node) as c:
        response = c.get(path)
    assert response.status_code == 301
    assert response.headers["location"] == URLS[target] + path


def test_redirect_leads_to_an_answer(data: DataDir) -> None:
    with client(data, RegistryId.AFRINIC) as c:
        location = c.get("/rdap/ip/41.1.0.7").headers["location"]
    with client(data, RegistryId.RIPENCC) as c:
        body = ok(c, location.removeprefix(URLS[RegistryId.RIPENCC]))
    assert body["startAddress"] == "41.1.0.0"
    assert body["entities"][0]["handle"] == "R2"


def test_held_space_is_answered_even_inside_another_rirs_block(data: DataDir) -> None:
    with client(data, RegistryId.RIPENCC) as c:
        body = ok(c, "/rdap/ip/41.1.0.7")
    assert body["parentHandle"] == "41.0.0.0 - 41.255.255.255"
    assert body["country"] == "DE"


def test_authority_refreshes_when_a_log_grows(tmp_path: Path, shared_data: Path) -> None:
    data = build_federation(tmp_path, shared_data)
    loads = []

    def load() -> Any:
        loads.append(1)
        return load_authority(data, URLS)

    live = LiveAuthority(load, lambda: log_heads(data), min_interval=0)
    with client(data, RegistryId.RIPENCC, live) as c:
        first = c.get("/rdap/ip/41.2.0.1").headers["location"]
        c.get("/rdap/ip/41.2.0.1")
        assert len(loads) == 1  # unchanged heads: no reload
        with data.open(RegistryId.ARIN) as arin:  # an inter-RIR transfer lands at ARIN
            arin.add_delegation(
                {
                    "afi": "ipv4",
                    "start": "41.2.0.0",
                    "value": 256,
                    "cc": "US",
                    "date": "20260101",
                    "status": "allocated",
                    "holder": None,
                    "opaque": None,
                    "ext": [],
                }
            )
        deadline = time.monotonic() + 30  # checks come at most every 4x a reload's length
        while (second := c.get("/rdap/ip/41.2.0.1").headers["location"]) == first:
            assert live.settled() and time.monotonic() < deadline
            time.sleep(0.05)
    assert first == f"{URLS[RegistryId.AFRINIC]}/rdap/ip/41.2.0.1"
    assert second == f"{URLS[RegistryId.ARIN]}/rdap/ip/41.2.0.1"
    assert len(loads) == 2


# --- errors ----------------------------------------------------------------------------------


def assert_error(response: Any, code: int) -> None:
    assert response.status_code == code, response.text
    assert response.headers["content-type"] == RDAP
    body = response.json()
    assert body["errorCode"] == code
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["description"], list) and body["description"]
    assert "rdap_level_0" in body["rdapConformance"]


@pytest.mark.parametrize(
    "path",
    [
        "/rdap/ip/300.1.1.1",
        "/rdap/ip/01.2.3.4",
        "/rdap/ip/not-an-address",
        "/rdap/ip/fe80::1%25eth0",
        "/rdap/ip/193.0.0.0/33",
        "/rdap/ip/2001:db8::/129",
        "/rdap/ip/193.0.0.0/-1",
        "/rdap/ip/193.0.0.0/x",
        "/rdap/ip/193.0.0.1/20",  # host bits set
        "/rdap/autnum/AS3333",
        "/rdap/autnum/4294967296",
        "/rdap/autnum/-1",
        "/rdap/ips/rirSearch1/rdap-sideways/193.0.0.0/8",
        "/rdap/no-such-query",
    ],
)
def test_malformed_queries_are_400(data: DataDir, path: str) -> None:
    with client(data, RegistryId.RIPENCC) as c:
        assert_error(c.get(path), 400)


def test_huge_query_is_refused(data: DataDir) -> None:
    with client(data, RegistryId.RIPENCC) as c:
        assert_error(c.get("/rdap/ip/193.0.0.1?x=" + "a" * 2000), 414)
        assert_error(c.get("/rdap/entity/" + "R" * 1100), 414)


@pytest.mark.parametrize(
    "path",
    [
        "/rdap/ip/193.0.16.1",  # RIPE NCC's block, nobody's record
        "/rdap/ip/193.0.0.0/16",  # larger than any record
        "/rdap/autnum/3334",
        "/rdap/entity/NOBODY",
    ],
)
def test_not_found_is_404(data: DataDir, path: str) -> None:
    with client(data, RegistryId.RIPENCC) as c:
        assert_error(c.get(path), 404)


def test_unsupported_query_types_are_501(data: DataDir) -> None:
    with client(data, RegistryId.RIPENCC) as c:
        assert_error(c.get("/rdap/domain/example.com"), 501)


# --- RFC 9224 bootstrap ----------------------------------------------------------------------


def bootstrap_url(services: list[Any], afi: str, query: str) -> str | None:
    """What an RFC 9224 client does: longest prefix match, or the ASN range containing it."""
    best: tuple[int, str] | None = None
    for entries, urls in services:
        for entry in entries:
            if afi == "asn":
                lo, _, hi = entry.partition("-")
                if int(lo) <= int(query) <= int(hi or lo):
                    return str(urls[0])
            else:
                net = ipaddress.ip_network(entry)
                if ipaddress.ip_address(query) in net and (best is None or net.prefixlen > best[0]):
                    best = (net.prefixlen, urls[0])
    return None if best is None else best[1]


def test_bootstrap_files_follow_the_authority(data: DataDir) -> None:
    with client(data, RegistryId.LACNIC) as c:
        files = {afi: c.get(f"/rdap/bootstrap/{afi}.json") for afi in ("ipv4", "ipv6", "asn")}
    for response in files.values():
        assert response.status_code == 200
        body = response.json()
        assert body["version"] == "1.0"
        assert body["publication"].endswith("Z")
        assert body["services"]
        for entries, urls in body["services"]:
            assert entries and all(u.endswith("/rdap/") for u in urls)
    v4 = files["ipv4"].json()["services"]
    by_url = {urls[0]: entries for entries, urls in v4}
    assert "41.1.0.0/24" in by_url[f"{URLS[RegistryId.RIPENCC]}/rdap/"]
    assert "41.0.0.0/8" not in by_url[f"{URLS[RegistryId.AFRINIC]}/rdap/"]
    assert "41.0.0.0/16" in by_url[f"{URLS[RegistryId.AFRINIC]}/rdap/"]
    assert not any("10.0.0.0/8" in entries for entries in by_url.values())  # IANA's own space
    asn = files["asn"].json()["services"]
    assert bootstrap_url(asn, "asn", "36870") == f"{URLS[RegistryId.AFRINIC]}/rdap/"


@pytest.mark.parametrize("address", ["41.0.0.1", "41.1.0.9", "41.1.1.0", "193.0.0.1", "2600::1"])
def test_bootstrap_and_redirects_agree(data: DataDir, address: str) -> None:
    afi = "ipv6" if ":" in address else "ipv4"
    with client(data, RegistryId.IANA) as c:
        services = c.get(f"/rdap/bootstrap/{afi}.json").json()["services"]
        location = c.get(f"/rdap/ip/{address}").headers["location"]
    base = bootstrap_url(services, afi, address)
    assert base is not None
    assert base + f"ip/{address}" == location


# --- RFC 9910 RIR search ---------------------------------------------------------------------


def test_rir_search_down_and_up(data: DataDir) -> None:
    with client(data, RegistryId.RIPENCC) as c:
        down = ok(c, "/rdap/ips/rirSearch1/rdap-down/193.0.0.0/8")
        up = ok(c, "/rdap/ips/rirSearch1/rdap-up/193.0.1.0/24")
        assert_error(c.get("/rdap/ips/rirSearch1/rdap-up/193.0.0.0/20"), 404)
        top = ok(c, "/rdap/autnums/rirSearch1/rdap-top/3333")
    assert {n["startAddress"] for n in down["ipSearchResults"]} == {"193.0.0.0", "193.0.64.0"}
    assert [n["handle"] for n in up["ipSearchResults"]] == ["193.0.0.0 - 193.0.15.255"]
    assert [a["startAutnum"] for a in top["autnumSearchResults"]] == [3333]
    assert "rirSearch1" in down["rdapConformance"]


# --- the shape real RIRs give ----------------------------------------------------------------

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "rdap"


def real_objects(object_class: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted((REAL / "whoisit-tests").glob("data_rdap_response_*.json")):
        body = json.loads(path.read_text())
        if body.get("objectClassName") == object_class:
            found.append(body)
    for item in json.loads((REAL / "ipwhois-tests" / "rdap.json").read_text()).values():
        if item["response"].get("objectClassName") == object_class:
            found.append(item["response"])
    return found


_COMMON = {"rdapConformance", "notices", "objectClassName", "handle", "links", "remarks", "events"}
_COMMON |= {"status", "port43", "lang", "entities"}
RFC9083_MEMBERS = {
    "ip network": _COMMON
    | {"startAddress", "endAddress", "ipVersion", "name", "type", "country", "parentHandle"},
    "autnum": _COMMON | {"startAutnum", "endAutnum", "name", "type", "country"},
}


def kinds(body: dict[str, Any]) -> dict[str, type]:
    return {k: type(v) for k, v in body.items()}


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("object_class", "node", "path"),
    [
        ("ip network", RegistryId.RIPENCC, "/rdap/ip/193.0.0.1"),
        ("ip network", RegistryId.ARIN, "/rdap/ip/2600:1000::1"),
        ("autnum", RegistryId.ARIN, "/rdap/autnum/13335"),
    ],
)
def test_shape_matches_real_rir_responses(
    data: DataDir, object_class: str, node: RegistryId, path: str
) -> None:
    real = real_objects(object_class)
    assert len(real) >= (5 if object_class == "ip network" else 1)
    with client(data, node, port43=f"whois.{node.value}.test") as c:
        ours = kinds(ok(c, path))
    # every member all the RIRs give, we give, with the same JSON type ...
    common = set.intersection(*(set(r) for r in real))
    assert common <= set(ours), common - set(ours)
    for body in real:
        for name, kind in kinds(body).items():
            if name in ours:
                assert ours[name] is kind, (name, kind, ours[name])
    # ... and no member that neither an RIR nor RFC 9083 defines (a client would not know it)
    known = set.union(*(set(r) for r in real)) | RFC9083_MEMBERS[object_class]
    assert set(ours) <= known, set(ours) - known


@pytest.mark.realdata
def test_nested_shapes_match_real_rir_responses(data: DataDir) -> None:
    real = real_objects("ip network")
    with client(data, RegistryId.RIPENCC) as c:
        ours = ok(c, "/rdap/ip/193.0.0.1")
    real_entity_keys = set.union(*(set(e) for r in real for e in r.get("entities", [])))
    assert set(ours["entities"][0]) <= real_entity_keys
    real_event_keys = set.union(*(set(e) for r in real for e in r.get("events", [])))
    assert all(set(e) <= real_event_keys for e in ours["events"])
    real_link_keys = set.union(*(set(link) for r in real for link in r.get("links", [])))
    assert all(set(link) <= real_link_keys for link in ours["links"])
    real_cidr = [c for r in real for c in r.get("cidr0_cidrs", [])]
    assert set(ours["cidr0_cidrs"][0]) in ({*c} for c in real_cidr)


# --- history: onereg_versions_0 --------------------------------------------------------------

VERSIONS = "onereg_versions_0"


def _delegation(start: str, value: int, holder: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "afi": "ipv4",
        "start": start,
        "value": value,
        "cc": "NL",
        "date": "19930901",
        "status": "allocated" if holder else "available",
        "holder": holder,
        "opaque": holder,
        "ext": [],
        **extra,
    }


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> DataDir:
    """RIPE NCC's /20 changes holder, is removed and comes back smaller at the same start (two
    entries here; a transfer's carve does it in one, see test_rdap_judges); the pool record is
    removed; a record arrives by transfer."""
    data = build_federation(tmp_path_factory.mktemp("history"), shared_data)
    with data.open(RegistryId.RIPENCC) as node:
        node.append([("delegation.changed", _delegation("193.0.0.0", 4096, "R2"))])
        node.append(
            [
                ("delegation.removed", {"afi": "ipv4", "start": "193.0.0.0", "value": 4096}),
                ("delegation.added", _delegation("193.0.0.0", 2048, "R2")),
            ]
        )
        node.append([("delegation.removed", {"afi": "ipv4", "start": "193.0.64.0", "value": 1024})])
        moved = {"received_by": "transfer", "transfer": "ab" * 16}
        node.add_delegation(_delegation("193.0.32.0", 256, "R1", attrs=moved))
    return data


def test_versions_list_every_change_oldest_first(history: DataDir) -> None:
    with client(history, RegistryId.RIPENCC) as c:
        body = ok(c, "/rdap/ip/193.0.0.0/20/versions")  # the /20 is gone: by its exact key
        now = ok(c, "/rdap/ip/193.0.1.1/versions")  # the /21 that replaced it
        same = ok(c, "/rdap/ip/193.0.0.0/21/versions")
    listed = body["onereg_versions_0_versions"]
    assert [v["version"] for v in listed] == [1, 2, 3]
    assert [v["eventAction"] for v in listed] == ["registration", "last changed", "deletion"]
    assert [v["logKind"] for v in listed] == ["batch", "delegation.changed", "delegation.removed"]
    assert [v.get("handle") for v in listed] == ["193.0.0.0 - 193.0.15.255"] * 2 + [None]
    seqs = [v["seq"] for v in listed]
    assert seqs == sorted(seqs)
    times = [log_time(history, RegistryId.RIPENCC, s) for s in seqs]
    assert [v["eventDate"] for v in listed] == times
    assert VERSIONS in body["rdapConformance"]
    rdap = f"{URLS[RegistryId.RIPENCC]}/rdap"
    assert [(link["rel"], link["href"]) for link in body["links"]] == [
        ("self", f"{rdap}/ip/193.0.0.0/20/versions")  # no latest version: it is gone
    ]
    assert listed[2]["links"][0]["href"] == f"{rdap}/ip/193.0.0.0/20/versions/3"
    (added,) = now["onereg_versions_0_versions"]
    assert (added["eventAction"], added["logKind"]) == ("registration", "delegation.added")
    assert added["seq"] == seqs[-1] + 1
    rels = {link["rel"]: link["href"] for link in now["links"]}
    assert rels == {
        "self": f"{rdap}/ip/193.0.0.0/21/versions",
        "latest-version": f"{rdap}/ip/193.0.0.0/21",
    }
    assert [{k: v for k, v in e.items() if k != "links"} for e in same[VERSIONS + "_versions"]] == [
        {k: v for k, v in added.items() if k != "links"}
    ]


def test_a_version_is_the_object_as_it_was(history: DataDir) -> None:
    with client(history, RegistryId.RIPENCC) as c:
        first = ok(c, "/rdap/ip/193.0.0.0/20/versions/1")
        second = ok(c, "/rdap/ip/193.0.0.0/20/versions/2")
        assert_error(c.get("/rdap/ip/193.0.0.0/20/versions/3"), 404)  # the deletion
        latest = ok(c, "/rdap/ip/193.0.0.0/21/versions/1")
        now = ok(c, "/rdap/ip/193.0.0.0/21")
    assert (first["endAddress"], first["entities"][0]["handle"]) == ("193.0.15.255", "R1")
    assert (second["endAddress"], second["entities"][0]["handle"]) == ("193.0.15.255", "R2")
    assert first["onereg_versions_0_version"]["version"] == 1
    events = {e["eventAction"]: e["eventDate"] for e in second["events"]}
    assert events["last changed"] == second["onereg_versions_0_version"]["eventDate"]
    rdap = f"{URLS[RegistryId.RIPENCC]}/rdap"
    rels = {link["rel"]: link["href"] for link in second["links"]}
    assert rels == {
        "self": f"{rdap}/ip/193.0.0.0/20/versions/2",
        "version-history": f"{rdap}/ip/193.0.0.0/20/versions",
        "up": f"{URLS[RegistryId.IANA]}/rdap/ip/193.0.0.0/8",  # the parent, served by IANA
    }
    rels = {link["rel"]: link["href"] for link in latest["links"]}
    assert rels["latest-version"] == f"{rdap}/ip/193.0.0.0/21"
    assert latest["endAddress"] == now["endAddress"] == "193.0.7.255"
    assert VERSIONS in second["rdapConformance"]
    assert VERSIONS not in now["rdapConformance"]  # only the history responses use it


def test_a_removed_record_keeps_its_history_by_its_exact_key(history: DataDir) -> None:
    with client(history, RegistryId.RIPENCC) as c:
        body = ok(c, "/rdap/ip/193.0.64.0/22/versions")
        assert_error(c.get("/rdap/ip/193.0.64.0/22/versions/2"), 404)  # the deletion
        assert ok(c, "/rdap/ip/193.0.64.0/22/versions/1")["status"] == ["inactive"]
        assert_error(c.get("/rdap/ip/193.0.64.1/versions"), 404)  # an address finds no record
        assert_error(c.get("/rdap/ip/193.0.64.0/23/versions"), 404)  # nor another range
        assert_error(c.get("/rdap/ip/193.0.64.0/22/versions/3"), 404)
        assert_error(c.get("/rdap/ip/193.0.64.0/22/versions/0"), 400)
        assert_error(c.get("/rdap/ip/193.0.64.0/22/versions/x"), 400)
    listed = body["onereg_versions_0_versions"]
    assert [v["eventAction"] for v in listed] == ["registration", "deletion"]


def test_autnum_versions_and_redirect_for_history_held_elsewhere(history: DataDir) -> None:
    with client(history, RegistryId.RIPENCC) as c:
        body = ok(c, "/rdap/autnum/3333/versions")
        away = c.get("/rdap/autnum/13335/versions")
        one = c.get("/rdap/ip/41.0.0.1/versions/1")
    assert [v["eventAction"] for v in body["onereg_versions_0_versions"]] == ["registration"]
    assert away.status_code == 301
    assert away.headers["location"] == f"{URLS[RegistryId.ARIN]}/rdap/autnum/13335/versions"
    assert one.headers["location"] == f"{URLS[RegistryId.AFRINIC]}/rdap/ip/41.0.0.1/versions/1"


def test_transfer_event_on_a_record_that_came_by_transfer(history: DataDir) -> None:
    with client(history, RegistryId.RIPENCC) as c:
        moved = ok(c, "/rdap/ip/193.0.32.1")
        plain = ok(c, "/rdap/ip/193.0.1.1")
    events = {e["eventAction"]: e["eventDate"] for e in moved["events"]}
    assert events["transfer"] == events["last changed"]  # no transfer row: the record's entry
    assert "transfer" not in {e["eventAction"] for e in plain["events"]}
    assert any("received by transfer" in line for line in moved["remarks"][0]["description"])


def test_openapi_document_is_served_with_the_node_examples(data: DataDir) -> None:
    with client(data, RegistryId.RIPENCC) as c:
        response = c.get("/rdap/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    assert doc["info"]["title"].startswith("RIPE NCC")
    params = {p["name"]: p for p in doc["paths"]["/rdap/ip/{prefix}/{length}"]["get"]["parameters"]}
    assert (params["prefix"]["example"], params["length"]["example"]) == ("41.1.0.0", 24)
    with client(data, RegistryId.RIPENCC) as c:
        assert ok(c, "/rdap/ip/41.1.0.0/24")["handle"] == "41.1.0.0 - 41.1.0.255"


def test_the_authority_map_is_built_in_a_worker_process(data: DataDir) -> None:
    """`onereg serve` builds the map in a background process (a second of pure Python that
    held the server's GIL against every request): the build goes to the pool, runs in another
    process, and the map that comes back is the one built in-process."""
    import os

    from onereg.federation.guard import process_pool
    from onereg.http.rdap import live_authority

    here = load_authority(data, URLS)
    pool = process_pool(1)
    sent: list[str] = []
    submit = pool.submit

    def counted(fn: Any, *args: Any) -> Any:
        sent.append(fn.__name__)
        return submit(fn, *args)

    pool.submit = counted  # type: ignore[method-assign]
    try:
        there = live_authority(data, URLS, pool=pool).current
        worker = submit(os.getpid).result()
    finally:
        pool.shutdown()
    assert sent == ["load_authority"] and worker != os.getpid()
    assert there.spans == here.spans and there.base_urls == here.base_urls
