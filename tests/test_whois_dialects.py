"""Each registry's whois speaks that registry's dialect, and whois and RDAP date a record alike.

One small node per RIR, built from a few hundred real lines of its 2018-10-13 delegated file:
the first records, and the records holding the addresses of the real whois responses that
ipwhois's test suite keeps (`rdap/ipwhois-tests/whois.json`: ARIN, LACNIC, APNIC, AFRINIC and
RIPE NCC text). ipwhois's own parser (`Whois.lookup` with that registry's patterns) reads
our answer for each address and must find the fields it finds in the real one: the network's
range, name, country and dates, with the values of our record.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ipwhois.net import Net
from ipwhois.whois import Whois
from starlette.applications import Starlette
from starlette.testclient import TestClient

from onereg.core.registries import RegistryId
from onereg.core.resources import Afi, Resource
from onereg.federation.node_config import Limits
from onereg.http.rdap import RdapAuthority, rdap_routes
from onereg.registry import events as ev
from onereg.registry.imports import plan_delegated_import
from onereg.registry.node import RegistryNode
from onereg.registry.sources.delegated import parse_delegated
from onereg.whois import start_whois
from onereg.whois.server import WhoisService

RDAP_URL = "http://127.0.0.1"  # what the nodes' RDAP calls itself here
RIRS = ("afrinic", "apnic", "arin", "lacnic", "ripencc")
FIRST_RECORDS = 60  # of each family per registry, besides those the real responses are about
AFIS = ("asn", "ipv4", "ipv6")
FIELDS = ("cidr", "range", "name", "country", "created", "updated")
# what ipwhois is asked to parse: its e-mail pattern backtracks for seconds on answers without
# an address in them (11 s on the real AFRINIC response for 2001:43f8:7b0::), ours as theirs
PARSED = ["name", "country", "created", "updated"]


def real_responses(shared_data: Path) -> dict[str, dict[str, Any]]:
    path = shared_data / "rdap" / "ipwhois-tests" / "whois.json"
    found: dict[str, dict[str, Any]] = json.loads(path.read_text())
    return found


@dataclass(frozen=True)
class Line:
    """One record line of a delegated file, with the numbers it covers."""

    text: str
    afi: str
    first: int
    last: int
    cc: str
    date: str

    def covers(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        family = "ipv4" if ip.version == 4 else "ipv6"
        return family == self.afi and self.first <= int(ip) <= self.last

    def cidrs(self) -> list[str]:
        first, last = ipaddress.ip_address(self.first), ipaddress.ip_address(self.last)
        if self.afi == "ipv6":
            first, last = ipaddress.IPv6Address(self.first), ipaddress.IPv6Address(self.last)
        return [str(n) for n in ipaddress.summarize_address_range(first, last)]


def parse_line(text: str) -> Line | None:
    fields = text.split("|")
    if len(fields) < 7 or fields[2] not in ("asn", "ipv4", "ipv6") or "*" in fields[1:4]:
        return None  # comments, the header and summaries
    afi, start, value = fields[2], fields[3], int(fields[4])
    if afi == "asn":
        first = int(start)
        return Line(text, afi, first, first + value - 1, fields[1], fields[5])
    if afi == "ipv4":
        first = int(ipaddress.IPv4Address(start))
        return Line(text, afi, first, first + value - 1, fields[1], fields[5])
    net = ipaddress.IPv6Network(f"{start}/{value}")
    first, last = int(net.network_address), int(net.broadcast_address)
    return Line(text, afi, first, last, fields[1], fields[5])


def sample(shared_data: Path, registry: str, addresses: list[str], out: Path) -> list[Line]:
    """The first records of each family in the registry's 2018 file and those holding
    `addresses`, in the file's order, written as a delegated file of their own. Only lines
    starting in the first octet or group of an address are read in full (a record never
    spans two of them in these files), which keeps this to a fraction of a second."""
    path = shared_data / "delegated" / "2018-10-13" / f"delegated-{registry}-extended-latest"
    leads = tuple(f"|{a.split('.')[0]}." if "." in a else f"|{a.split(':')[0]}:" for a in addresses)
    counts = dict.fromkeys(AFIS, 0)
    records = []
    for text in path.read_text().splitlines():
        family = text.split("|", 3)[2] if text.count("|") >= 6 else ""
        if family in counts and (counts[family] < FIRST_RECORDS or any(x in text for x in leads)):
            record = parse_line(text)
            if record is not None:
                counts[family] += 1
                records.append(record)
    wanted = [i for i, r in enumerate(records) if any(r.covers(a) for a in addresses)]
    missing = [a for a in addresses if not any(records[i].covers(a) for i in wanted)]
    assert not missing, f"{path}: no record holds {missing}"
    first = [[i for i, r in enumerate(records) if r.afi == afi][:FIRST_RECORDS] for afi in AFIS]
    chosen = [records[i] for i in sorted(set(wanted).union(*first))]
    head = f"2.3|{registry}|20181013|{len(chosen)}|19700101|20181013|+0000"
    out.write_text("\n".join([head, *(r.text for r in chosen)]) + "\n")
    return chosen


class NoReferrals:
    """An authority naming no registry: every node answers for what it holds."""

    def authoritative(self, afi: Afi, number: int) -> RegistryId | None:
        return None


@dataclass
class Nodes:
    """One node per RIR and its whois service, in an event loop on a thread of its own."""

    paths: dict[RegistryId, Path]
    lines: dict[RegistryId, list[Line]]
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    opened: dict[RegistryId, RegistryNode] = field(default_factory=dict)
    ports: dict[RegistryId, int] = field(default_factory=dict)
    servers: list[asyncio.Server] = field(default_factory=list)

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    async def start(self) -> None:
        for rid, path in self.paths.items():
            self.opened[rid] = RegistryNode.open(rid, path)
            server = await start_whois(
                lambda rid=rid: self.opened[rid],
                NoReferrals,
                {},
                "127.0.0.1",
                0,
                Limits(),
                rdap_base=f"{RDAP_URL}/rdap",
            )
            self.servers.append(server)
            self.ports[rid] = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        for node in self.opened.values():
            node.close()

    def change_country(self, rid: RegistryId, address: Resource) -> int:
        """Log a `delegation.changed` of the record holding `address` (another country), in
        the loop's thread, which owns the node's connection; its entry number."""

        async def write() -> int:
            node = self.opened[rid]
            d = node.containing(address)
            assert d is not None
            payload = {
                "afi": d.resource.afi.value,
                "start": d.start_text,
                "value": d.value,
                "cc": "AQ" if d.cc != "AQ" else "NL",
                "date": d.date,
                "status": d.status,
                "holder": d.holder,
                "opaque": d.opaque,
                "ext": json.loads(d.ext) if d.ext else [],
            }
            return node.append([(ev.DELEGATION_CHANGED, payload)])[0].seq

        seq: int = self.run(write())
        return seq

    def log_time(self, rid: RegistryId, seq: int) -> str:
        async def read() -> str:
            row = self.opened[rid].conn.execute("SELECT time FROM log WHERE seq = ?", (seq,))
            return str(row.fetchone()[0])

        text: str = self.run(read())
        return text

    def record(self, rid: RegistryId, address: str) -> Line:
        return next(line for line in self.lines[rid] if line.covers(address))


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Nodes]:
    root = tmp_path_factory.mktemp("dialects")
    real = real_responses(shared_data)
    built = Nodes({}, {})
    for registry in RIRS:
        rid = RegistryId(registry)
        addresses = [ip for ip, v in real.items() if v["asn_data"]["asn_registry"] == registry]
        source = root / f"delegated-{registry}-extended-latest"
        built.lines[rid] = sample(shared_data, registry, addresses, source)
        built.paths[rid] = root / f"{registry}.sqlite"
        with RegistryNode.open(rid, built.paths[rid]) as node:
            plan = plan_delegated_import(node, parse_delegated(source), "sample")
            assert plan is not None
            node.append(plan.items, batch=True)
    thread = threading.Thread(target=built.loop.run_forever, daemon=True)
    thread.start()
    built.run(built.start())
    yield built
    built.run(built.stop())
    built.loop.call_soon_threadsafe(built.loop.stop)
    thread.join(5)
    built.loop.close()


def ask(port: int, line: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall((line + "\r\n").encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def ipwhois_net(address: str, text: str, asn_data: dict[str, Any]) -> dict[str, Any]:
    """The first network ipwhois's parser finds in `text` (a whois answer for `address`)."""
    parsed = Whois(Net(address)).lookup(
        response=text, is_offline=True, asn_data=asn_data, field_list=PARSED
    )
    assert parsed["nets"], f"ipwhois found no network in:\n{text}"
    net: dict[str, Any] = parsed["nets"][0]
    return net


def digits(value: str) -> str:
    """A date in any registry's form (2018-10-13, 20181013, 2018-10-13T00:00:00Z) as YYYYMMDD."""
    return re.sub(r"\D", "", value)[:8]


def addresses(shared_data: Path) -> list[str]:
    return list(real_responses(shared_data))


@pytest.mark.parametrize("index", range(10))
def test_ipwhois_reads_what_it_reads_in_the_real_registry_text(
    nodes: Nodes, shared_data: Path, index: int
) -> None:
    real = real_responses(shared_data)
    assert len(real) == 10  # one test per real response
    address, entry = list(real.items())[index]
    rid = RegistryId(entry["asn_data"]["asn_registry"])
    text = ask(nodes.ports[rid], address)
    theirs = ipwhois_net(address, entry["response"], entry["asn_data"])
    ours = ipwhois_net(address, text, entry["asn_data"])
    expected = {f for f in FIELDS if theirs.get(f)}
    assert {"cidr", "country"} <= expected  # the real text gives ipwhois these everywhere
    found = {f for f in FIELDS if ours.get(f)}
    assert expected <= found, f"{rid}: ipwhois found {found} in ours, {expected} in theirs"
    record = nodes.record(rid, address)
    assert ours["cidr"].split(", ") == record.cidrs()
    assert ours["country"] == record.cc
    for date_field in {"created", "updated"} & expected:
        # imported and not changed since: both dates are the record's registration date
        assert digits(ours[date_field]) == record.date, (date_field, text)
    if "name" in expected:  # the network's name, as RDAP names it
        assert ours["name"] == rdap_get(nodes, rid, f"/rdap/ip/{address}")["name"]


def test_arin_speaks_arin(nodes: Nodes) -> None:
    port = nodes.ports[RegistryId.ARIN]
    record = nodes.record(RegistryId.ARIN, "74.125.225.229")
    text = ask(port, "74.125.225.229")
    attrs = attributes(text)
    first, last = (str(ipaddress.IPv4Address(n)) for n in (record.first, record.last))
    assert attrs["NetRange"] == [f"{first} - {last}"]
    assert attrs["CIDR"] == [", ".join(record.cidrs())]
    assert attrs["NetType"] == ["Direct Allocation"]
    assert attrs["RegDate"][0] == f"{record.date[:4]}-{record.date[4:6]}-{record.date[6:]}"
    handle = attrs["NetHandle"][0]
    assert handle == f"NET-{first.replace('.', '-')}-1"
    holder = record.text.split("|")[7]
    assert attrs["OrgId"] == [holder] and attrs["Country"] == [record.cc]
    # each Ref: is the object at the node's RDAP
    net_ref, org_ref = attrs["Ref"]
    assert rdap_get(nodes, RegistryId.ARIN, net_ref.removeprefix(RDAP_URL))["startAddress"] == first
    assert rdap_get(nodes, RegistryId.ARIN, org_ref.removeprefix(RDAP_URL))["handle"] == holder
    assert not [line for line in text.splitlines() if line.startswith("%")], text
    assert text.startswith("# This is the ARIN whois service")
    # ARIN's handle finds the same network; RIPE's flags keep working
    assert attributes(ask(port, handle))["NetRange"] == attrs["NetRange"]
    assert "# Version history for INETNUM object" in ask(port, "--list-versions 74.125.0.1")
    assert "%ERROR:101" in ask(port, "-T aut-num 74.125.0.1")
    assert "OrgName" not in attributes(ask(port, "-r 74.125.0.1"))
    unfiltered = attributes(ask(port, "-B 74.125.0.1"))["Comment"]
    assert any(line.startswith("delegated status allocated") for line in unfiltered)
    ipv4 = [r for r in nodes.lines[RegistryId.ARIN] if r.afi == "ipv4"]
    first, last = (ipaddress.IPv4Address(n) for n in (ipv4[0].first, ipv4[2].last))
    listed = attributes(ask(port, f"-M {first} - {last}"))["NetRange"]
    assert listed[:3] == [
        f"{ipaddress.IPv4Address(r.first)} - {ipaddress.IPv4Address(r.last)}" for r in ipv4[:3]
    ]


def test_arin_takes_its_own_query_syntax(nodes: Nodes) -> None:
    """ARIN's record type and display flags before the key (ipwhois sends `n + ADDRESS` to
    ARIN) are read as ARIN reads them; the RIPE flags and other registries are unchanged."""
    port = nodes.ports[RegistryId.ARIN]
    plain = attributes(ask(port, "74.125.225.229"))
    assert plain["NetRange"]
    for line in ("n + 74.125.225.229", "n 74.125.225.229", "+ = 74.125.225.229"):
        assert attributes(ask(port, line))["NetRange"] == plain["NetRange"], line
    assert "%ERROR:101" in ask(nodes.ports[RegistryId.RIPENCC], "n + 193.0.0.1")


def test_arin_and_lacnic_aut_nums(nodes: Nodes) -> None:
    arin = next(r for r in nodes.lines[RegistryId.ARIN] if r.afi == "asn")
    text = ask(nodes.ports[RegistryId.ARIN], f"AS{arin.first}")
    attrs = attributes(text)
    span = str(arin.first) if arin.first == arin.last else f"{arin.first} - {arin.last}"
    assert attrs["ASNumber"] == [span]
    assert attrs["ASHandle"] == [f"AS{arin.first}"]
    assert digits(attrs["RegDate"][0]) == arin.date
    lacnic = next(r for r in nodes.lines[RegistryId.LACNIC] if r.afi == "asn")
    attrs = attributes(ask(nodes.ports[RegistryId.LACNIC], f"AS{lacnic.first}"))
    assert attrs["aut-num"][0].startswith(f"AS{lacnic.first}")
    assert attrs["ownerid"] == [lacnic.text.split("|")[7]]
    assert attrs["created"] == [lacnic.date]


def test_lacnic_speaks_lacnic(nodes: Nodes) -> None:
    port = nodes.ports[RegistryId.LACNIC]
    record = nodes.record(RegistryId.LACNIC, "200.57.141.161")
    text = ask(port, "200.57.141.161")
    attrs = attributes(text)
    network, length = record.cidrs()[0].split("/")
    octets = network.split(".")[: -(-int(length) // 8)]
    assert attrs["inetnum"][0].split(", ")[0] == f"{'.'.join(octets)}/{length}"
    assert attrs["status"] == [record.text.split("|")[6]]
    holder = record.text.split("|")[7]
    assert attrs["ownerid"] == [holder]
    assert (attrs["created"], attrs["changed"]) == ([record.date], [record.date])
    assert "organisation" not in text and text.count("ownerid:") == 1  # the owner is inline
    assert attributes(ask(port, holder))["ownerid"] == [holder]  # LACNIC answers an ownerid
    short = attrs["inetnum"][0].split(", ")[0]
    assert attributes(ask(port, short))["inetnum"] == attrs["inetnum"]  # and its own form


def test_apnic_and_afrinic_are_close_to_ripe(nodes: Nodes) -> None:
    apnic = nodes.record(RegistryId.APNIC, "210.107.73.73")
    attrs = attributes(ask(nodes.ports[RegistryId.APNIC], "210.107.73.73"))
    assert attrs["status"] == [f"{apnic.text.split('|')[6].upper()} PORTABLE"]
    assert attrs["changed"][0].endswith(f" {apnic.date}")
    assert attrs["source"][0].startswith("APNIC")
    attrs = attributes(ask(nodes.ports[RegistryId.AFRINIC], "196.11.240.215"))
    assert attrs["source"][0].startswith("AFRINIC") and "inetnum" in attrs


def attributes(text: str) -> dict[str, list[str]]:
    """Every `Name: value` line of an answer (comments and blank lines skipped)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and line[0] not in "%#" and ":" in line:
            name, _, value = line.partition(":")
            found.setdefault(name, []).append(value.strip())
    return found


# --- dates: both faces ----------------------------------------------------------------------


def rdap_get(nodes: Nodes, rid: RegistryId, path: str) -> dict[str, Any]:
    """An object from the node's own RDAP routes (a connection of their own to the same
    file); `path` after the node's URL."""
    holder: dict[str, RegistryNode] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        holder["node"] = RegistryNode.open(rid, nodes.paths[rid])
        yield
        holder["node"].close()

    auth = RdapAuthority.build(None, [], {})
    routes = rdap_routes(lambda: holder["node"], auth, RDAP_URL)
    with TestClient(Starlette(routes=routes, lifespan=lifespan)) as client:
        response = client.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def rdap_events(nodes: Nodes, rid: RegistryId, address: str, kind: str = "ip") -> dict[str, str]:
    """The RDAP events of the network holding `address` (or of another `kind` of object)."""
    body = rdap_get(nodes, rid, f"/rdap/{kind}/{address}")
    return {e["eventAction"]: e["eventDate"] for e in body["events"]}


DATE_NAMES = {"ripencc": ("created", "last-modified"), "arin": ("RegDate", "Updated")}


@pytest.mark.parametrize("registry", ["ripencc", "arin", "lacnic"])
def test_whois_and_rdap_agree_on_dates_before_and_after_a_change(
    nodes: Nodes, shared_data: Path, registry: str
) -> None:
    rid = RegistryId(registry)
    asked = list(real_responses(shared_data))  # left as imported for the test above
    record = next(
        r
        for r in nodes.lines[rid]
        if r.afi == "ipv4" and r.date.isdigit() and not any(r.covers(a) for a in asked)
    )
    address = str(ipaddress.IPv4Address(record.first))
    created, changed = DATE_NAMES.get(registry, ("created", "changed"))

    def both() -> tuple[dict[str, list[str]], dict[str, str]]:
        return attributes(ask(nodes.ports[rid], address)), rdap_events(nodes, rid, address)

    whois, rdap = both()
    assert digits(rdap["registration"]) == digits(whois[created][0]) == record.date
    assert digits(rdap["last changed"]) == digits(whois[changed][0]) == record.date

    seq = nodes.change_country(rid, Resource.parse(address))
    log_time = nodes.log_time(rid, seq)
    whois, rdap = both()
    assert digits(rdap["registration"]) == digits(whois[created][0]) == record.date
    assert rdap["last changed"] == log_time  # the entry that changed it, not the import
    if registry == "ripencc":  # to the second
        assert whois[changed][0] == log_time.split(".")[0] + "Z"
    else:  # ARIN and LACNIC print days
        assert digits(whois[changed][0]) == digits(log_time)
    # each version, as whois --show-version and RDAP .../versions/<n> give it, alike
    prefix = record.cidrs()[0]
    for number, last in ((1, record.date), (2, digits(log_time))):
        version = attributes(ask(nodes.ports[rid], f"--show-version {number} {prefix}"))
        body = rdap_get(nodes, rid, f"/rdap/ip/{prefix}/versions/{number}")
        events = {e["eventAction"]: e["eventDate"] for e in body["events"]}
        assert digits(version[changed][0]) == digits(events["last changed"]) == last
        assert digits(version[created][0]) == digits(events["registration"]) == record.date


def test_a_record_answered_by_arin_handle_only_at_its_start(nodes: Nodes) -> None:
    record = nodes.record(RegistryId.ARIN, "74.125.225.229")
    inside = str(ipaddress.IPv4Address(record.first + 256)).replace(".", "-")
    assert "%ERROR:101" in ask(nodes.ports[RegistryId.ARIN], f"NET-{inside}-1")


def test_a_holder_is_dated_by_its_records_on_both_faces(nodes: Nodes) -> None:
    """A delegated file dates no holder: registered when its earliest record was, and not
    changed since, on whois (`organisation`) and RDAP (the entity's `last changed`) alike."""
    rid = RegistryId.RIPENCC
    held = [r for r in nodes.lines[rid] if r.text.split("|")[6] in ("allocated", "assigned")]
    handle = held[-1].text.split("|")[7]
    earliest = min(r.date for r in held if r.text.split("|")[7] == handle)
    org = attributes(ask(nodes.ports[rid], handle))
    assert org["organisation"] == [handle]
    assert digits(org["created"][0]) == digits(org["last-modified"][0]) == earliest
    entity = rdap_events(nodes, rid, handle, "entity")
    assert digits(entity["last changed"]) == earliest


class Elsewhere:
    """An authority naming one other registry for everything."""

    def __init__(self, owner: RegistryId) -> None:
        self.owner = owner

    def authoritative(self, afi: Afi, number: int) -> RegistryId | None:
        return self.owner


def test_arin_refers_and_warns_in_its_own_comment_style(nodes: Nodes) -> None:
    """A referral and a stale-peer warning at ARIN's node: `#` comments, the referral lines
    whois(1) follows, and RIPE's numbered errors unchanged."""
    ripe_host = f"127.0.0.1:{nodes.ports[RegistryId.RIPENCC]}"

    async def answers() -> tuple[str, str]:
        node = RegistryNode.open(RegistryId.ARIN, nodes.paths[RegistryId.ARIN])
        service = WhoisService(
            lambda: node,
            lambda: Elsewhere(RegistryId.RIPENCC),
            {RegistryId.RIPENCC: ripe_host},
            Limits(),
            stale=lambda: ["ripencc: log last verified 10 minutes ago"],
        )
        try:
            return await service.respond("193.0.0.1"), await service.respond("-x x")
        finally:
            service.work.close()
            node.close()

    referral, error = asyncio.run(answers())
    assert not [line for line in referral.splitlines() if line.startswith("%")], referral
    assert "# Warning: stale peer data: ripencc: log last verified 10 minutes ago" in referral
    assert "# 193.0.0.1 is not managed by ARIN: RIPE NCC is the authoritative registry." in referral
    assert f"ReferralServer: whois://{ripe_host}" in referral.splitlines()
    assert "%ERROR:101: no entries found" in error  # the error's number stays RIPE's
    assert "# No entries found in source ARIN." in error
