"""The client matrix (issue 13): standard RDAP and whois clients, unchanged, against six real
`onereg serve --config` processes holding a real subset of the 2018-10-13 federation
(tests/clientmatrix.py). For one IPv4, one IPv6 and one ASN record of each of the five RIRs, every
client must find the record from a point inside it, give back its range, holder, registration date
and registry as the delegated line says, and follow our redirects and referrals when asked at a
node that is not authoritative.

Where a client cannot be pointed at a local server, the least intrusive hook is used, named in each
test's docstring.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncwhois
import httpx
import ipwhois
import ipwhois.rdap
import pytest
import rdap
import whodap
import whoisit
from asyncwhois.parse_rir import NumberParser
from asyncwhois.query import NumberQuery
from ipwhois.net import Net
from ipwhois.whois import Whois

from clientmatrix import RIRS, Sample, build, node_rdap_dir
from localfed import LocalFederation

AFIS = ("ipv4", "ipv6", "asn")
CASES = [(rir, afi) for rir in RIRS for afi in AFIS]
# Records of several ASNs (one delegated line, one RDAP autnum range): only APNIC's and ARIN's
# 2018 files have them; the fixture checks that it found exactly these.
RANGES = [(rir, "asn-range") for rir in ("apnic", "arin")]
# whoisit's and ipwhois' names of the registries
WHOISIT_NAME = {"afrinic": "afrinic", "apnic": "apnic", "arin": "arin", "lacnic": "lacnic"}
WHOISIT_NAME["ripencc"] = "ripe"


def wrong_node(rir: str) -> str:
    """A node that is not authoritative for `rir`'s records: the next RIR in the list."""
    return RIRS[(RIRS.index(rir) + 1) % len(RIRS)]


class Matrix:
    """The running federation and the records asked about."""

    def __init__(self, fed: LocalFederation, samples: list[Sample]) -> None:
        self.fed = fed
        self.samples = {(s.registry, s.afi): s for s in samples}

    def rdap(self, rir: str) -> str:
        return f"{self.fed.urls[rir]}/rdap"

    def whois(self, rir: str) -> tuple[str, int]:
        host, port = self.fed.whois[rir].rsplit(":", 1)
        return host, int(port)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Matrix]:
    fed, samples = build(tmp_path_factory.mktemp("matrix"), shared_data)
    try:
        fed.start_all("iana", *RIRS)
        # redirects and referrals come from each node's verified mirrors of the others' logs
        fed.wait_mirrored(RIRS, ("iana", *RIRS))
        wait_redirecting(fed, samples)
        assert sorted((s.registry, s.afi) for s in samples if s.afi == "asn-range") == RANGES
        yield Matrix(fed, samples)
    finally:
        fed.stop()
        assert all(p.poll() is not None for p in fed.procs.values()), "a node outlived the test"


def wait_redirecting(fed: LocalFederation, samples: list[Sample]) -> None:
    """Until each sample's wrong node redirects it: a node rebuilds its RDAP authority map in
    the background after its mirrors move (`http.rdap.LiveAuthority`), so a verified mirror
    is not yet a redirect; the first client would otherwise meet the map of before."""
    deadline = time.monotonic() + 60
    for sample in samples:
        if sample.afi not in ("ipv4", "ipv6", "asn"):
            continue
        path = f"autnum/{sample.start}" if sample.afi == "asn" else f"ip/{sample.inside}"
        url = f"{fed.urls[wrong_node(sample.registry)]}/rdap/{path}"
        while httpx.get(url, timeout=5).status_code != 301:
            assert time.monotonic() < deadline, f"{url} never redirected"
            time.sleep(0.2)


def case(matrix: Matrix, rir: str, afi: str) -> Sample:
    return matrix.samples[(rir, afi)]


def query_text(sample: Sample) -> str:
    """What a user types: an address inside the record, or AS<number>."""
    return f"AS{sample.inside}" if sample.afi.startswith("asn") else sample.inside


def cidrs(sample: Sample) -> str:
    return ", ".join(str(n) for n in sample.networks)


def range_forms(sample: Sample) -> list[str]:
    """The ways whois dialects print a record's range: `first - last` (RIPE, APNIC, AFRINIC,
    ARIN's NetRange), CIDR (inet6num, ARIN's CIDR), LACNIC's shortened IPv4 prefix, AS numbers
    and ranges of them."""
    if sample.afi.startswith("asn"):
        if sample.value == 1:
            return [f"AS{sample.first}"]
        first, last = sample.first, sample.last  # RPSL ranges, ARIN's `ASNumber: a - b`
        return [f"AS{first} - AS{last}", f"AS{first}-AS{last}", f"{first} - {last}"]
    forms = [f"{sample.first} - {sample.last}", cidrs(sample)]
    if sample.afi == "ipv4" and len(sample.networks) == 1:
        net = sample.networks[0]
        octets = str(net.network_address).split(".")
        while len(octets) > 1 and octets[-1] == "0":
            octets.pop()
        forms.append(f"{'.'.join(octets)}/{net.prefixlen}")
    return forms


def date_forms(sample: Sample) -> list[str]:
    return [sample.day.isoformat(), sample.day.strftime("%Y%m%d")]


# --- the Debian whois client ------------------------------------------------------------------


def run_whois(matrix: Matrix, node: str, query: str) -> str:
    """whois(1) as a user runs it: `whois -h HOST -p PORT QUERY`."""
    if shutil.which("whois") is None:
        pytest.fail("the Debian whois client is needed: apt-get install -y whois")
    host, port = matrix.whois(node)
    done = subprocess.run(
        ["whois", "-h", host, "-p", str(port), query],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(("rir", "afi"), CASES + RANGES)
def test_debian_whois_at_the_authoritative_node(matrix: Matrix, rir: str, afi: str) -> None:
    sample = case(matrix, rir, afi)
    text = run_whois(matrix, rir, query_text(sample))
    assert "ReferralServer" not in text
    assert any(form in text for form in range_forms(sample)), text
    assert sample.holder in text


@pytest.mark.parametrize(("rir", "afi"), CASES + RANGES)
def test_debian_whois_follows_the_referral_from_the_wrong_node(
    matrix: Matrix, rir: str, afi: str
) -> None:
    """whois(1) follows `ReferralServer: whois://host:port` by itself."""
    sample = case(matrix, rir, afi)
    text = run_whois(matrix, wrong_node(rir), query_text(sample))
    assert f"Found a referral to {matrix.fed.whois[rir]}." in text
    answer = text.split("Found a referral to", 1)[1]
    assert any(form in answer for form in range_forms(sample)), text
    assert sample.holder in answer


DEBIAN_WHOIS_ENTITY = list(RIRS)


@pytest.mark.parametrize("rir", DEBIAN_WHOIS_ENTITY)
def test_debian_whois_entity(matrix: Matrix, rir: str) -> None:
    """whois(1) sends the query lower-cased: AFRINIC's and APNIC's handles have capitals."""
    sample = case(matrix, rir, "ipv4")
    text = run_whois(matrix, rir, sample.holder)
    assert sample.holder in text
    assert "%ERROR" not in text


@pytest.mark.parametrize(("rir", "afi"), CASES)
def test_debian_whois_shows_the_registration_date(matrix: Matrix, rir: str, afi: str) -> None:
    sample = case(matrix, rir, afi)
    text = run_whois(matrix, rir, query_text(sample))
    assert any(form in text for form in date_forms(sample)), text


# --- ipwhois ----------------------------------------------------------------------------------


@pytest.fixture
def ipwhois_at(monkeypatch: pytest.MonkeyPatch, matrix: Matrix) -> Any:
    """ipwhois' RDAP lookups with `bootstrap=True` go to ARIN's bootstrap redirector, a module
    constant (`ipwhois.rdap.BOOTSTRAP_URL`): pointed at one of our nodes, which redirects to the
    authoritative one (the other mode needs Team Cymru's ASN service first)."""

    def point(node: str) -> None:
        monkeypatch.setattr(ipwhois.rdap, "BOOTSTRAP_URL", matrix.rdap(node))

    return point


@pytest.mark.parametrize(("rir", "afi"), [c for c in CASES if c[1] != "asn"])
def test_ipwhois_rdap_follows_redirects(
    matrix: Matrix, ipwhois_at: Any, rir: str, afi: str
) -> None:
    """Addresses only: ipwhois has no RDAP lookup of ASNs."""
    sample = case(matrix, rir, afi)
    ipwhois_at(wrong_node(rir))
    found = ipwhois.IPWhois(sample.inside).lookup_rdap(bootstrap=True, depth=0, inc_nir=False)
    net = found["network"]
    assert (net["start_address"], net["end_address"]) == (sample.first, sample.last)
    assert net["cidr"] == cidrs(sample)
    assert found["entities"] == [sample.holder]
    events = {e["action"]: e["timestamp"] for e in net["events"]}
    assert events["registration"].startswith(sample.day.isoformat())
    # answered by the authoritative node; its other link is "up", to IANA's block around it
    assert net["links"][0].startswith(matrix.rdap(rir)), net["links"]
    assert all(link.startswith((matrix.rdap(rir), matrix.rdap("iana"))) for link in net["links"]), (
        net["links"]
    )


@pytest.mark.parametrize("rir", RIRS)
def test_ipwhois_rdap_entity(matrix: Matrix, ipwhois_at: Any, rir: str) -> None:
    """The holder's entity, looked up by ipwhois at its registry's node (entities carry no
    registry tag, so no node can redirect them)."""
    sample = case(matrix, rir, "ipv4")
    ipwhois_at(rir)
    found = ipwhois.IPWhois(sample.inside).lookup_rdap(bootstrap=True, depth=1, inc_nir=False)
    entity = found["objects"][sample.holder]
    assert entity["handle"] == sample.holder
    assert "registrant" in entity["roles"]
    assert entity["contact"]["name"]


def ipwhois_parse(matrix: Matrix, rir: str, sample: Sample) -> dict[str, Any]:
    """ipwhois' whois parser on our port-43 text: `Net.get_whois(server=, port=)` (its own
    hook for another server) and `Whois.lookup(response=, is_offline=True)` with the registry
    its ASN lookup would have named."""
    net = Net(sample.inside)
    host, port = matrix.whois(rir)
    text = net.get_whois(asn_registry=rir, server=host, port=port)
    parsed: dict[str, Any] = Whois(net).lookup(
        response=text, is_offline=True, asn_data={"asn_registry": rir}
    )
    assert parsed["nets"], f"ipwhois found no network in {rir}'s answer:\n{text}"
    return dict(parsed["nets"][0])


IPWHOIS_PARSE = [(rir, afi) for rir in RIRS for afi in ("ipv4", "ipv6")]


@pytest.mark.parametrize(("rir", "afi"), IPWHOIS_PARSE)
def test_ipwhois_whois_parser_on_our_text(matrix: Matrix, rir: str, afi: str) -> None:
    sample = case(matrix, rir, afi)
    found = ipwhois_parse(matrix, rir, sample)
    assert found["cidr"] == cidrs(sample)
    assert found["country"] == sample.line.split("|")[1]
    if rir != "lacnic":  # LACNIC prints prefixes, ipwhois gives no range for them
        # ARIN prints IPv6 in capitals
        assert found["range"].lower() in [form.lower() for form in range_forms(sample)]
    if rir in ("arin", "lacnic"):  # OrgName / owner: the only parsers that read the holder
        assert sample.holder in (found["description"] or "")


@pytest.mark.parametrize("rir", ["arin", "lacnic", "ripencc"])  # parsers that read a date
def test_ipwhois_whois_parser_dates(matrix: Matrix, rir: str) -> None:
    sample = case(matrix, rir, "ipv4")
    found = ipwhois_parse(matrix, rir, sample)
    # ipwhois converts dates only when its ASN lookup ran (offline: as printed, LACNIC's YYYYMMDD)
    printed = "".join(c for c in str(found["created"]) if c.isdigit())
    assert printed[:8] == sample.day.strftime("%Y%m%d"), found["created"]


# --- whoisit ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def judge(matrix: Matrix) -> Iterator[Any]:
    """whoisit bootstrapped from one node's RFC 9224 files (`load_bootstrap_data`,
    allow_insecure: loopback http) and its RIR endpoint table (`RIR_RDAP_ENDPOINTS`, with the
    reverse map by host) pointed at our five RIR nodes."""
    files = {
        afi: httpx.get(f"{matrix.rdap('iana')}/bootstrap/{afi}.json", timeout=30).json()
        for afi in ("ipv4", "ipv6", "asn")
    }
    # whoisit wants all five IANA files; we serve no DNS and no object tags: stubs
    files["dns"] = {"services": [[["invalid"], ["http://127.0.0.1:9/"]]]}
    files["object"] = {"services": [[["nobody@invalid"], ["NONE"], ["http://127.0.0.1:9/"]]]}
    bootstrap = whoisit._bootstrap
    whoisit.clear_bootstrapping()
    whoisit.load_bootstrap_data(
        json.dumps({"timestamp": int(time.time()), **files}), allow_insecure=True
    )
    endpoints = {WHOISIT_NAME[rir]: f"{matrix.rdap(rir)}/" for rir in RIRS}
    by_host = {url.split("/")[2]: name for name, url in endpoints.items()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bootstrap, "RIR_RDAP_ENDPOINTS", endpoints)
        patch.setattr(bootstrap, "rir_endpoints_by_domain", by_host)
        yield whoisit
    whoisit.clear_bootstrapping()


def whoisit_lookup(judge: Any, sample: Sample, rir: str | None = None) -> dict[str, Any]:
    if sample.afi.startswith("asn"):
        return dict(judge.asn(int(sample.inside), rir=rir))
    return dict(judge.ip(sample.inside, rir=rir))


def check_whoisit(matrix: Matrix, found: dict[str, Any], sample: Sample) -> None:
    assert found["rir"] == WHOISIT_NAME[sample.registry]
    assert found["url"].startswith(matrix.rdap(sample.registry))
    # whoisit upper-cases entity handles (its documented normal form)
    assert found["entities"]["registrant"][0]["handle"] == sample.holder.upper()
    assert found["registration_date"].date() == sample.day
    if sample.afi.startswith("asn"):
        assert found["asn_range"] == [int(sample.first), int(sample.last)]
    else:
        assert (found["start_address"], found["end_address"]) == (sample.first, sample.last)
        if len(sample.networks) == 1:
            assert found["network"] == sample.networks[0]


@pytest.mark.parametrize(("rir", "afi"), CASES + RANGES)
def test_whoisit_through_the_bootstrap(matrix: Matrix, judge: Any, rir: str, afi: str) -> None:
    sample = case(matrix, rir, afi)
    check_whoisit(matrix, whoisit_lookup(judge, sample), sample)


@pytest.mark.parametrize(("rir", "afi"), CASES + RANGES)
def test_whoisit_follows_redirects(matrix: Matrix, judge: Any, rir: str, afi: str) -> None:
    sample = case(matrix, rir, afi)
    found = whoisit_lookup(judge, sample, rir=WHOISIT_NAME[wrong_node(rir)])
    check_whoisit(matrix, found, sample)


WHOISIT_ENTITY = list(RIRS)


@pytest.mark.parametrize("rir", WHOISIT_ENTITY)
def test_whoisit_entity(matrix: Matrix, judge: Any, rir: str) -> None:
    """The holder of a network, looked up by the handle whoisit gave for it (upper-cased:
    ARIN's and RIPE NCC's opaque ids are lower-case)."""
    sample = case(matrix, rir, "ipv4")
    handle = judge.ip(sample.inside)["entities"]["registrant"][0]["handle"]
    found = judge.entity(handle, rir=WHOISIT_NAME[rir])
    assert found["handle"].upper() == sample.holder.upper()
    assert found["rir"] == WHOISIT_NAME[rir]
    assert found["url"].startswith(matrix.rdap(rir))


# --- rdap (PyPI) ------------------------------------------------------------------------------


def rdap_config(matrix: Matrix, node: str) -> dict[str, Any]:
    """The `rdap` client's own settings: its redirector (`bootstrap_url`, which our nodes are:
    they redirect) and, for ASNs, self-bootstrapping from our RFC 9224 files."""
    return {
        "bootstrap_url": f"{matrix.rdap(node)}/",
        "self_bootstrap": True,
        "bootstrap_data_url": f"{matrix.rdap(node)}/bootstrap/",
        "timeout": 10,
    }


def check_rdap_object(matrix: Matrix, data: dict[str, Any], sample: Sample) -> None:
    if sample.afi.startswith("asn"):
        assert (data["startAutnum"], data["endAutnum"]) == (int(sample.first), int(sample.last))
    else:
        assert (data["startAddress"], data["endAddress"]) == (sample.first, sample.last)
    events = {e["eventAction"]: e["eventDate"] for e in data["events"]}
    assert events["registration"].startswith(sample.day.isoformat())
    (self_link,) = [link["href"] for link in data["links"] if link["rel"] == "self"]
    assert self_link.startswith(matrix.rdap(sample.registry))


@pytest.mark.parametrize(("rir", "afi"), CASES)
def test_rdap_client_follows_redirects(matrix: Matrix, rir: str, afi: str) -> None:
    """Not for ASN ranges: `rdap` takes any autnum range for an unallocated block."""
    sample = case(matrix, rir, afi)
    client = rdap.RdapClient(rdap_config(matrix, wrong_node(rir)))
    found = client.get(query_text(sample))
    check_rdap_object(matrix, found.data, sample)
    assert found.parsed()["org_name"] == sample.holder
    # the answer came from the authoritative node (after a redirect, for addresses)
    assert client.history[-1][0].startswith(matrix.rdap(rir)), client.history
    if afi != "asn":
        assert client.history[0][1] == 301


@pytest.mark.parametrize("rir", RIRS)
def test_rdap_client_entity(matrix: Matrix, rir: str) -> None:
    """`rdap` asks its redirector for entities (rdap.org sends them on by their handle's
    registry tag; our handles carry none), so it is pointed at the holder's registry."""
    sample = case(matrix, rir, "ipv4")
    entity = rdap.RdapClient(rdap_config(matrix, rir)).get_entity(sample.holder)
    assert entity.data["handle"] == sample.holder
    assert sample.first in [net["startAddress"] for net in entity.data["networks"]]


def rdap_cli(matrix: Matrix, home: Path, node: str, queries: list[str]) -> tuple[list[Any], str]:
    """The `rdap` command, configured by a config file in its `--home` directory to use
    `node`: its answers (JSON) and the requests it made (`--show-requests`)."""
    (home / "config.yaml").write_text(json.dumps({"rdap": rdap_config(matrix, node)}))
    cli = str(Path(sys.executable).parent / "rdap")
    done = subprocess.run(
        [cli, "--home", str(home), "--output-format", "json", "--show-requests", *queries],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HOME": str(home)},
    )
    assert done.returncode == 0, done.stderr
    body, requests = done.stdout.split("# Requests\n")
    decoder, at, answers = json.JSONDecoder(), 0, []
    while body[at:].strip():
        at += len(body[at:]) - len(body[at:].lstrip())
        answer, at = decoder.raw_decode(body, at)
        answers.append(answer)
    return answers, requests


def test_rdap_cli(matrix: Matrix, tmp_path: Path) -> None:
    """One record of each type of every RIR in one run, asked at the IANA node."""
    samples = [case(matrix, rir, afi) for rir, afi in CASES]
    answers, requests = rdap_cli(matrix, tmp_path, "iana", [query_text(s) for s in samples])
    assert len(answers) == len(samples)
    for answer, sample in zip(answers, samples, strict=True):
        check_rdap_object(matrix, answer, sample)
        assert answer["entities"][0]["handle"] == sample.holder
    # addresses were redirected from the IANA node to each RIR's
    assert " 301" in requests


RDAP_CLI_ENTITY = [rir for rir in ("afrinic", "apnic", "arin", "ripencc")]


@pytest.mark.parametrize("rir", RDAP_CLI_ENTITY)
def test_rdap_cli_entity(matrix: Matrix, tmp_path: Path, rir: str) -> None:
    """`rdap HANDLE` at the holder's registry: the command lower-cases the query (AFRINIC's
    and APNIC's handles have capitals). Not LACNIC's: it reads a numeric handle as an IPv4
    address."""
    sample = case(matrix, rir, "ipv4")
    (answer,), _ = rdap_cli(matrix, tmp_path, rir, [sample.holder])
    assert answer["objectClassName"] == "entity"
    assert answer["handle"].upper() == sample.holder.upper()


# --- a bootstrap that sends every query to the wrong node -------------------------------------


class _Files(BaseHTTPRequestHandler):
    """Serves a few JSON files from memory (`server.files`: path -> bytes)."""

    def do_GET(self) -> None:
        body = getattr(self.server, "files", {}).get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def misdirected(matrix: Matrix, shared_data: Path) -> Iterator[str]:
    """IANA's real RFC 9224 files with each RIR's URL replaced by another RIR's node, served on
    loopback: every query lands at a node that is not authoritative and must redirect, as
    IANA's own files send clients to the wrong RIR for space transferred between RIRs."""
    hosts = {
        "rdap.afrinic.net": "afrinic",
        "rdap.apnic.net": "apnic",
        "rdap.arin.net": "arin",
        "rdap.lacnic.net": "lacnic",
        "rdap.db.ripe.net": "ripencc",
    }
    files: dict[str, bytes] = {}
    for afi in ("ipv4", "ipv6", "asn"):
        listed = json.loads((shared_data / "rdap" / "iana-bootstrap" / f"{afi}.json").read_text())
        for service in listed["services"]:
            rir = hosts[service[-1][0].split("/")[2]]
            service[-1] = [f"{matrix.rdap(wrong_node(rir))}/"]
        files[f"/{afi}.json"] = json.dumps(listed).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    server.files = files  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- asyncwhois -------------------------------------------------------------------------------


def whodap_from(monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    """asyncwhois' RDAP runs on whodap, whose clients download IANA's bootstrap files from a
    class attribute (`_iana_uri`): pointed at `base`."""
    for cls, afi in (
        (whodap.IPv4Client, "ipv4"),
        (whodap.IPv6Client, "ipv6"),
        (whodap.ASNClient, "asn"),
    ):
        monkeypatch.setattr(cls, "_iana_uri", f"{base}{afi}.json")


def asyncwhois_rdap(sample: Sample) -> dict[str, Any]:
    if sample.afi.startswith("asn"):
        client = whodap.ASNClient.new_client()
        text, _ = asyncwhois.rdap(int(sample.inside), whodap_client=client)
    else:
        kind = whodap.IPv4Client if sample.afi == "ipv4" else whodap.IPv6Client
        text, _ = asyncwhois.rdap(sample.inside, whodap_client=kind.new_client())
    data: dict[str, Any] = json.loads(text)
    return data


@pytest.mark.parametrize(("rir", "afi"), CASES + RANGES)
def test_asyncwhois_rdap_through_our_bootstrap(
    matrix: Matrix, monkeypatch: pytest.MonkeyPatch, rir: str, afi: str
) -> None:
    sample = case(matrix, rir, afi)
    whodap_from(monkeypatch, f"{matrix.rdap('iana')}/bootstrap/")
    data = asyncwhois_rdap(sample)
    check_rdap_object(matrix, data, sample)
    assert data["entities"][0]["handle"] == sample.holder


@pytest.mark.parametrize(("rir", "afi"), CASES + RANGES)
def test_asyncwhois_rdap_follows_redirects(
    matrix: Matrix, misdirected: str, monkeypatch: pytest.MonkeyPatch, rir: str, afi: str
) -> None:
    sample = case(matrix, rir, afi)
    whodap_from(monkeypatch, misdirected)
    data = asyncwhois_rdap(sample)
    check_rdap_object(matrix, data, sample)
    assert data["entities"][0]["handle"] == sample.holder


class LoopbackQuery(NumberQuery):
    """asyncwhois' port-43 query with our whois port. Every node of the test shares 127.0.0.1, so
    a referral names `host:port`; asyncwhois connects to a referral's host on its own port
    (real registries are all on 43), so this splits the port off: the only change."""

    def __init__(self, port: int) -> None:
        super().__init__(timeout=10)
        self.whois_port = port

    def _create_connection(self, address: tuple[str, int], proxy_url: str | None = None) -> Any:
        host, port = address
        if ":" in host:
            host, text = host.rsplit(":", 1)
            port = int(text)
        return super()._create_connection((host, port), proxy_url)


@pytest.mark.parametrize(("rir", "afi"), [c for c in CASES if c[1] != "asn"])
def test_asyncwhois_port43_follows_the_referral(matrix: Matrix, rir: str, afi: str) -> None:
    sample = case(matrix, rir, afi)
    host, port = matrix.whois(wrong_node(rir))
    address = ipaddress.ip_address(sample.inside)
    chain = LoopbackQuery(port).run(address, server=host)
    assert len(chain) == 2, chain  # the wrong node's referral, then the answer
    answer = chain[-1]
    assert any(form in answer for form in range_forms(sample)), answer
    assert sample.holder in answer
    if afi == "ipv4":  # asyncwhois parses IPv4 answers only
        parsed = NumberParser().parse(answer, address)
        assert parsed["net_range"] in range_forms(sample) or parsed["cidr"] == cidrs(sample)


@pytest.mark.parametrize("rir", ["arin", "lacnic", "ripencc"])
def test_asyncwhois_port43_registration_date(matrix: Matrix, rir: str) -> None:
    """asyncwhois reads a registration date only in the formats that print one (ARIN's
    `RegDate`, LACNIC's and RIPE's `created`): APNIC's and AFRINIC's whois print none, ours as
    theirs (the real answers in ../shared/data/rdap/ipwhois-tests/whois.json)."""
    sample = case(matrix, rir, "ipv4")
    host, port = matrix.whois(rir)
    address = ipaddress.ip_address(sample.inside)
    (answer,) = LoopbackQuery(port).run(address, server=host)
    assert asyncwhois_registered(answer, address) == sample.day.isoformat(), answer


def asyncwhois_registered(
    answer: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> str:
    """asyncwhois' registration date of `answer`, parsed in a fresh interpreter: its parsers
    share one class-level dict of patterns that each parser's constructor updates in place, so
    in one process the last registry parsed decides the patterns of the next (a program asking
    one registry, as here, gets its own)."""
    code = (
        "import ipaddress, sys\n"
        "from asyncwhois.parse_rir import NumberParser\n"
        "found = NumberParser().parse(sys.stdin.read(), ipaddress.ip_address(sys.argv[1]))\n"
        "date = found['registered_date']\n"
        "print(date.date().isoformat() if date is not None else 'none')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(address)],
        input=answer,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


# --- node-rdap (npm) --------------------------------------------------------------------------

# node-rdap downloads IANA's bootstrap files with the global fetch; this preload (Node's own
# `--import` hook) sends those downloads to a node's RFC 9224 files and changes nothing else.
NODE_HOOK = """
const base = process.env.ONEREG_BOOTSTRAP;
const iana = "https://data.iana.org/rdap/";
const real = globalThis.fetch;
globalThis.fetch = (url, init) => {
  const text = String(url);
  return real(text.startsWith(iana) ? base + text.slice(iana.length) : url, init);
};
"""
NODE_RUN = """
import { ip, autnum } from "node-rdap";
const out = [];
for (const q of process.argv.slice(2)) {
  try {
    const r = q.startsWith("AS") ? await autnum(Number(q.slice(2))) : await ip(q);
    out.push({ query: q, result: r });
  } catch (e) { out.push({ query: q, error: String(e) }); }
}
console.log(JSON.stringify(out));
"""


def node_rdap(
    matrix: Matrix, work: Path, queries: list[str], bootstrap: str = ""
) -> dict[str, Any]:
    """node-rdap's `ip` and `autnum`, run by Debian's nodejs, bootstrapped from `bootstrap`
    (the IANA node's RFC 9224 files unless given)."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("nodejs is needed for node-rdap: apt-get install -y nodejs npm")
    modules = node_rdap_dir() / "node_modules"
    work.mkdir(parents=True, exist_ok=True)
    (work / "hook.mjs").write_text(NODE_HOOK)
    (work / "run.mjs").write_text(NODE_RUN)
    if not (work / "node_modules").exists():
        (work / "node_modules").symlink_to(modules)
    done = subprocess.run(
        [node, "--import", "./hook.mjs", "run.mjs", *queries],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "ONEREG_BOOTSTRAP": bootstrap or f"{matrix.rdap('iana')}/bootstrap/"},
    )
    assert done.returncode == 0, done.stderr
    return {item["query"]: item for item in json.loads(done.stdout)}


@pytest.fixture(scope="module")
def node_answers(
    matrix: Matrix, misdirected: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """node-rdap's answers to every sample, bootstrapped from our files ("ours") and from the
    misdirecting copy of IANA's ("misdirected"), in one run of node each."""
    queries = [query_text(case(matrix, rir, afi)) for rir, afi in CASES + RANGES]
    work = tmp_path_factory.mktemp("node-rdap")
    return {
        "ours": node_rdap(matrix, work, queries),
        "misdirected": node_rdap(matrix, work, queries, misdirected),
    }


@pytest.mark.parametrize("bootstrap", ["ours", "misdirected"])
@pytest.mark.parametrize(("rir", "afi"), CASES + RANGES)
def test_node_rdap(
    matrix: Matrix, node_answers: dict[str, dict[str, Any]], bootstrap: str, rir: str, afi: str
) -> None:
    """Through our bootstrap files, and through IANA's sending it to the wrong node (whose
    redirect the global fetch follows)."""
    sample = case(matrix, rir, afi)
    answer = node_answers[bootstrap][query_text(sample)]
    assert "error" not in answer, answer
    check_rdap_object(matrix, answer["result"], sample)
    assert answer["result"]["entities"][0]["handle"] == sample.holder


@pytest.mark.parametrize(("rir", "afi"), CASES)
def test_node_rdap_answers_name_the_whois_server(
    matrix: Matrix, node_answers: dict[str, dict[str, Any]], rir: str, afi: str
) -> None:
    """`port43`: where a client that got an RDAP object asks whois about it."""
    answer = node_answers["ours"][query_text(case(matrix, rir, afi))]["result"]
    host = matrix.fed.whois[rir].rsplit(":", 1)[0]
    assert host in answer.get("port43", ""), answer.get("port43")


def test_node_rdap_finds_every_asn_the_bootstrap_lists(
    matrix: Matrix, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The first number of every entry of our ASN bootstrap file: node-rdap reads entries as
    `low-high` ranges only, so a bare number ("7") names no server for it."""
    listed = httpx.get(f"{matrix.rdap('iana')}/bootstrap/asn.json", timeout=10).json()
    firsts = {
        int(entry.split("-")[0]): url.rstrip("/")
        for entries, (url, *_) in listed["services"]
        for entry in entries
    }
    answers = node_rdap(
        matrix, tmp_path_factory.mktemp("node-rdap-asn"), [f"AS{n}" for n in sorted(firsts)]
    )
    missed = [q for q, answer in answers.items() if "error" in answer]
    assert not missed, f"node-rdap found no server for {len(missed)} ASNs: {missed[:10]}"
