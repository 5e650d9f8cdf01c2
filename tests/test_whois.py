"""The whois service (RFC 3912) of a node: objects, RIPE flags, versions from the log,
referrals, errors and the limits on connections, over real sockets and the real whois(1).

Three small nodes are built here (IANA, RIPE NCC, AFRINIC) with histories that exercise every
way the log changes an object: a plain entry, a change, a batch, a transfer entry's `changes`
and a removal. Each node's service runs in an event loop of its own thread, which opens the
node as the node process does (the loop's thread is the only user of the connection).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from onereg.core.registries import RegistryId
from onereg.core.resources import Resource
from onereg.federation.node_config import Limits
from onereg.http.rdap import RdapAuthority
from onereg.registry import events as ev
from onereg.registry.node import RegistryNode
from onereg.registry.transfers import transfer_item
from onereg.whois import start_whois

IANA, RIPE, AFRINIC = RegistryId.IANA, RegistryId.RIPENCC, RegistryId.AFRINIC
REGISTERED = "20100101"  # the registration date of the records built here


def row(afi: str, start: str, value: int, holder: str | None, cc: str, **extra: Any) -> ev.Payload:
    payload: ev.Payload = {
        "afi": afi,
        "start": start,
        "value": value,
        "cc": cc,
        "date": REGISTERED,
        "status": "allocated" if holder else "available",
        "holder": holder,
        "opaque": holder,
        "ext": [],
    }
    payload.update(extra)
    return payload


def iana_block(afi: str, start: str, value: int, rir: RegistryId) -> ev.Payload:
    attrs = {
        "iana_status": "ALLOCATED",
        "designation": rir.display_name,
        "whois": f"whois.{rir.value}.net",
        "rdap": [],
        "source": "test",
    }
    return row(afi, start, value, rir.value, "ZZ", date="19930501", attrs=attrs)


@dataclass
class Built:
    paths: dict[RegistryId, Path]
    seqs: dict[str, int] = field(default_factory=dict)


def build(root: Path) -> Built:
    built = Built({rid: root / f"{rid.value}.sqlite" for rid in (IANA, RIPE, AFRINIC)})
    with RegistryNode.open(IANA, built.paths[IANA]) as iana:
        iana.append(
            [
                (ev.DELEGATION_ADDED, iana_block("ipv4", "41.0.0.0", 1 << 24, AFRINIC)),
                (ev.DELEGATION_ADDED, iana_block("ipv4", "193.0.0.0", 1 << 24, RIPE)),
                (ev.DELEGATION_ADDED, iana_block("asn", "3328", 32, RIPE)),
                (ev.DELEGATION_ADDED, iana_block("asn", "36864", 1024, AFRINIC)),
            ]
        )
    with RegistryNode.open(AFRINIC, built.paths[AFRINIC]) as afrinic:
        afrinic.append([(ev.HOLDER_REGISTERED, {"handle": "A1", "name": "Afri Net", "cc": "ZA"})])
        afrinic.add_delegation(row("ipv4", "41.0.0.0", 65536, "A1", "ZA"))
        afrinic.add_delegation(row("asn", "36864", 10, "A1", "ZA"))
    with RegistryNode.open(RIPE, built.paths[RIPE]) as ripe:
        ripe.append(
            [
                (ev.HOLDER_REGISTERED, {"handle": "R1", "name": "First Holder", "cc": "NL"}),
                (ev.HOLDER_REGISTERED, {"handle": "R2", "name": "Second Holder", "cc": "DE"}),
            ]
        )
        built.seqs["r1_registered"] = ripe.head()[0] - 1
        built.seqs["v1"] = ripe.add_delegation(row("ipv4", "193.0.0.0", 4096, "R1", "NL")).seq
        ripe.add_delegation(row("ipv6", "2001:67c::", 32, "R1", "NL"))
        ripe.add_delegation(row("asn", "3333", 1, "R1", "NL", status="assigned"))
        ripe.add_delegation(row("ipv4", "41.1.0.0", 256, "R2", "DE"))  # in AFRINIC's block
        ripe.add_delegation(row("ipv4", "193.0.64.0", 1024, None, "ZZ"))  # pool space
        changed = row("ipv4", "193.0.0.0", 4096, "R1", "NL", status="assigned")
        built.seqs["v2"] = ripe.append([(ev.DELEGATION_CHANGED, changed)])[0].seq
        batch = ripe.append(
            [
                (ev.DELEGATION_ADDED, row("ipv4", f"195.0.{i}.0", 256, "R2", "DE"))
                for i in (0, 1, 2)
            ],
            batch=True,
        )
        assert [e.kind for e in batch] == [ev.BATCH]
        built.seqs["batch"] = batch[0].seq
        block = Resource.parse("193.0.0.0/20")
        moved = row("ipv4", "193.0.0.0", 4096, "R2", "DE", status="assigned")
        item = transfer_item(
            ev.TRANSFER_COMPLETED,
            transfer_id="t1",
            role="intra",
            state="sourceFinalized",
            block=block,
            counterpart="ripencc",
            record={},
            changes=[
                (ev.DELEGATION_REMOVED, {"afi": "ipv4", "start": "193.0.0.0", "value": 4096}),
                (ev.DELEGATION_ADDED, moved),
            ],
            first=True,
        )
        built.seqs["v3"] = ripe.append([item])[0].seq
        removal = {"afi": "ipv4", "start": "195.0.1.0", "value": 256}
        built.seqs["removed"] = ripe.append([(ev.DELEGATION_REMOVED, removal)])[0].seq
        renamed = {"handle": "R1", "name": "First Holder Renamed", "cc": "NL"}
        built.seqs["r1_changed"] = ripe.append([(ev.HOLDER_CHANGED, renamed)])[0].seq
    return built


class Federation:
    """The three nodes' whois services in one event loop on a thread of its own."""

    def __init__(self, built: Built, limits: Limits) -> None:
        self.built = built
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.nodes: dict[RegistryId, RegistryNode] = {}
        self.hosts: dict[RegistryId, str] = {}
        self.ports: dict[RegistryId, int] = {}
        self.servers: list[asyncio.Server] = []
        self.run(self._start(limits))

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _start(self, limits: Limits) -> None:
        for rid, path in self.built.paths.items():
            self.nodes[rid] = RegistryNode.open(rid, path)
        auth = RdapAuthority.build(self.nodes[IANA], [self.nodes[RIPE], self.nodes[AFRINIC]], {})
        for rid in self.nodes:
            server = await start_whois(
                lambda rid=rid: self.nodes[rid], lambda: auth, self.hosts, "127.0.0.1", 0, limits
            )
            self.servers.append(server)
            self.ports[rid] = server.sockets[0].getsockname()[1]
            self.hosts[rid] = f"127.0.0.1:{self.ports[rid]}"

    async def _stop(self) -> None:
        for server in self.servers:
            server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        for node in self.nodes.values():
            node.close()

    def close(self) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def log_time(self, rid: RegistryId, seq: int) -> str:
        async def read() -> str:
            row = self.nodes[rid].conn.execute("SELECT time FROM log WHERE seq = ?", (seq,))
            return str(row.fetchone()[0])

        return str(self.run(read()))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("whois"))


@pytest.fixture(scope="module")
def fed(built: Built) -> Iterator[Federation]:
    federation = Federation(built, Limits(whois_idle_timeout=5))
    yield federation
    federation.close()


# --- helpers ---------------------------------------------------------------------------------


def ask(port: int, line: bytes | str, timeout: float = 15) -> str:
    """Send one query line (CRLF added to text) and read the answer to the server's close."""
    data = line if isinstance(line, bytes) else (line + "\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_all(sock)


def read_all(sock: socket.socket) -> str:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8")


Obj = dict[str, list[str]]


def objects(text: str) -> list[Obj]:
    """The RPSL objects of an answer: blocks of `attribute: value` lines, comments skipped."""
    found: list[Obj] = []
    current: Obj = {}
    for line in [*text.splitlines(), ""]:
        if not line.strip() or line.startswith("%"):
            if current:
                found.append(current)
                current = {}
            continue
        name, _, value = line.partition(":")
        current.setdefault(name, []).append(value.strip())
    return [o for o in found if not {"refer", "ReferralServer"} & o.keys()]


def one(text: str, kind: str) -> Obj:
    matching = [o for o in objects(text) if kind in o]
    assert len(matching) == 1, text
    return matching[0]


def rpsl_time(log_time: str) -> str:
    return log_time.split(".")[0] + "Z"


def registered(date: str) -> str:
    """A delegated-file date as whois `created:` prints it."""
    return f"{date[:4]}-{date[4:6]}-{date[6:]}T00:00:00Z"


def whois_client(*args: str) -> str:
    if shutil.which("whois") is None:
        pytest.fail("the Debian whois client is needed: apt-get install -y whois")
    done = subprocess.run(["whois", *args], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


# --- objects ---------------------------------------------------------------------------------


def test_address_finds_the_inetnum_with_its_organisation(fed: Federation, built: Built) -> None:
    text = ask(fed.ports[RIPE], "193.0.0.1")
    inetnum = one(text, "inetnum")
    assert inetnum["inetnum"] == ["193.0.0.0 - 193.0.15.255"]
    assert inetnum["country"] == ["DE"]
    assert inetnum["org"] == ["R2"]
    assert inetnum["status"] == ["ASSIGNED PI"]
    assert inetnum["source"] == ["RIPE # Filtered"]
    # created: the record's registration date (the transfer re-added it, but as an update);
    # last-modified: the entry that last changed it.
    assert inetnum["created"] == [registered(REGISTERED)]
    assert inetnum["last-modified"] == [rpsl_time(fed.log_time(RIPE, built.seqs["v3"]))]
    org = one(text, "organisation")
    assert org["organisation"] == ["R2"]
    assert org["org-name"] == ["Second Holder"]
    assert "% Information related to '193.0.0.0 - 193.0.15.255'" in text
    assert text.startswith("% This is the RIPE NCC whois service")
    assert "% This query was served by the RIPE NCC whois service" in text
    assert text.endswith("\n\n\n")


def test_values_are_aligned_at_column_16(fed: Federation) -> None:
    text = ask(fed.ports[RIPE], "193.0.0.1")
    assert "\ninetnum:        193.0.0.0 - 193.0.15.255\n" in text
    assert "\nlast-modified:  " in text


@pytest.mark.parametrize(
    "key", ["193.0.0.0/20", "193.0.0.0 - 193.0.15.255", "193.0.0.0-193.0.15.255", "193.0.8.0/24"]
)
def test_prefix_and_range_keys(fed: Federation, key: str) -> None:
    assert one(ask(fed.ports[RIPE], key), "inetnum")["inetnum"] == ["193.0.0.0 - 193.0.15.255"]


def test_inet6num_aut_num_and_as_block(fed: Federation) -> None:
    inet6num = one(ask(fed.ports[RIPE], "2001:67c:2e8::1"), "inet6num")
    assert inet6num["inet6num"] == ["2001:67c::/32"]
    assert inet6num["status"] == ["ALLOCATED-BY-RIR"]
    autnum = one(ask(fed.ports[RIPE], "AS3333"), "aut-num")
    assert autnum["status"] == ["ASSIGNED"]
    assert autnum["org"] == ["R1"]
    block = one(ask(fed.ports[AFRINIC], "AS36865"), "as-block")
    assert block["as-block"] == ["AS36864 - AS36873"]
    assert block["source"] == ["AFRINIC # Filtered"]


def test_pool_space_has_no_organisation(fed: Federation) -> None:
    text = ask(fed.ports[RIPE], "193.0.64.1")
    assert one(text, "inetnum")["status"] == ["AVAILABLE"]
    assert "org" not in one(text, "inetnum")
    assert not [o for o in objects(text) if "organisation" in o]


def test_organisation_by_handle(fed: Federation, built: Built) -> None:
    org = one(ask(fed.ports[RIPE], "R1"), "organisation")
    assert org["org-name"] == ["First Holder Renamed"]
    assert org["country"] == ["NL"]
    # created: when its earliest record was registered (a delegated file dates no holder);
    # last-modified: the entry that renamed it
    assert org["created"] == [registered(REGISTERED)]
    assert org["created"] != [rpsl_time(fed.log_time(RIPE, built.seqs["r1_registered"]))]
    assert org["last-modified"] == [rpsl_time(fed.log_time(RIPE, built.seqs["r1_changed"]))]
    # a holder registered and never changed: both are its records' registration date
    unchanged = one(ask(fed.ports[RIPE], "R2"), "organisation")
    assert unchanged["created"] == unchanged["last-modified"] == [registered(REGISTERED)]


# --- flags -----------------------------------------------------------------------------------


def test_r_turns_off_the_organisation_lookup(fed: Federation) -> None:
    text = ask(fed.ports[RIPE], "-r 193.0.0.1")
    assert one(text, "inetnum")["org"] == ["R2"]
    assert not [o for o in objects(text) if "organisation" in o]


def test_B_turns_off_filtering(fed: Federation, built: Built) -> None:
    filtered = ask(fed.ports[RIPE], "193.0.0.1")
    assert "% Note: this output has been filtered." in filtered
    assert "remarks" not in one(filtered, "inetnum")
    full = ask(fed.ports[RIPE], "-B 193.0.0.1")
    assert "has been filtered" not in full
    inetnum = one(full, "inetnum")
    assert inetnum["source"] == ["RIPE"]
    assert f"log entry {built.seqs['v3']}" in inetnum["remarks"]


def test_T_selects_object_types(fed: Federation) -> None:
    assert "%ERROR:101: no entries found" in ask(fed.ports[RIPE], "-T inet6num 193.0.0.1")
    assert one(ask(fed.ports[RIPE], "-T inet6num,inetnum 193.0.0.1"), "inetnum")
    only_org = ask(fed.ports[RIPE], "-T organisation R1")
    assert one(only_org, "organisation")["organisation"] == ["R1"]
    assert "%ERROR:103: unknown object type 'route'" in ask(fed.ports[RIPE], "-T route 193.0.0.1")


def test_exact_and_less_specific(fed: Federation) -> None:
    port = fed.ports[RIPE]
    assert "%ERROR:101" in ask(port, "-x 193.0.0.1")
    assert one(ask(port, "-x 193.0.0.0/20"), "inetnum")["inetnum"] == ["193.0.0.0 - 193.0.15.255"]
    assert one(ask(port, "--exact 193.0.0.0/20"), "inetnum")
    # -l excludes the exact match, -L includes it (RIPE); records of a node never nest.
    assert "%ERROR:101" in ask(port, "-l 193.0.0.0/20")
    assert one(ask(port, "-l 193.0.1.0/24"), "inetnum")["inetnum"] == ["193.0.0.0 - 193.0.15.255"]
    assert one(ask(port, "-L 193.0.0.0/20"), "inetnum")


def test_more_specific(fed: Federation) -> None:
    for flag in ("-m", "-M", "--all-more"):
        found = [o["inetnum"][0] for o in objects(ask(fed.ports[RIPE], f"-r {flag} 195.0.0.0/16"))]
        assert found == ["195.0.0.0 - 195.0.0.255", "195.0.2.0 - 195.0.2.255"]  # 195.0.1.0 removed
    assert "%ERROR:101" in ask(fed.ports[RIPE], "-M 10.0.0.0/8")


def test_more_specific_output_is_capped(built: Built) -> None:
    federation = Federation(built, Limits(whois_max_objects=1))
    try:
        text = ask(federation.ports[RIPE], "-r -M 195.0.0.0/16")
    finally:
        federation.close()
    assert len(objects(text)) == 1
    assert "% Note: this output has been truncated." in text
    assert "Only the first 1 objects are shown" in text


def test_hierarchy_flags_conflict_and_need_an_ip_key(fed: Federation) -> None:
    text = ask(fed.ports[RIPE], "-l -m 193.0.0.1")
    assert "%ERROR:901: duplicate IP flags passed" in text
    warned = ask(fed.ports[RIPE], "-L AS3333")
    assert "%WARNING:902: useless IP flag passed" in warned
    assert one(warned, "aut-num")


def test_clustered_flags(fed: Federation) -> None:
    text = ask(fed.ports[RIPE], "-rB 193.0.0.1")
    assert one(text, "inetnum")["source"] == ["RIPE"]
    assert not [o for o in objects(text) if "organisation" in o]
    assert one(ask(fed.ports[RIPE], "-Tinetnum 193.0.0.1"), "inetnum")


def test_sources(fed: Federation) -> None:
    port = fed.ports[RIPE]
    assert one(ask(port, "-s RIPE 193.0.0.1"), "inetnum")
    assert one(ask(port, "-s ripencc,AFRINIC 193.0.0.1"), "inetnum")
    assert one(ask(port, "-a 193.0.0.1"), "inetnum")
    elsewhere = ask(port, "-s AFRINIC 193.0.0.1")
    assert f"ReferralServer: whois://{fed.hosts[AFRINIC]}" in elsewhere
    assert not objects(elsewhere)
    unknown = ask(port, "-s NOWHERE 193.0.0.1")
    assert "%ERROR:102: unknown source" in unknown
    assert '% "NOWHERE" is not a known source.' in unknown


def test_q_queries(fed: Federation) -> None:
    assert "aut-num\n" in ask(fed.ports[RIPE], "-q types")
    assert "onereg-whois/" in ask(fed.ports[RIPE], "-q version")
    sources = ask(fed.ports[RIPE], "-q sources")
    assert "RIPE:3:N:0-" in sources
    assert fed.hosts[AFRINIC] in sources


# --- referrals -------------------------------------------------------------------------------


def test_rir_refers_to_the_authoritative_registry(fed: Federation) -> None:
    text = ask(fed.ports[RIPE], "41.0.0.1")
    assert f"refer:          {fed.hosts[AFRINIC]}\n" in text
    assert f"ReferralServer: whois://{fed.hosts[AFRINIC]}\n" in text
    assert "% 41.0.0.1 is not managed by RIPE NCC: AFRINIC is the authoritative registry." in text
    assert objects(text) == []
    assert "%ERROR" not in text
    asn = ask(fed.ports[RIPE], "AS36864")
    assert f"ReferralServer: whois://{fed.hosts[AFRINIC]}" in asn


def test_rir_answers_for_what_it_holds_in_another_block(fed: Federation) -> None:
    text = ask(fed.ports[RIPE], "41.1.0.1")
    assert one(text, "inetnum")["inetnum"] == ["41.1.0.0 - 41.1.0.255"]
    assert "ReferralServer" not in text
    assert "ReferralServer" in ask(fed.ports[AFRINIC], "41.1.0.1")


def test_iana_prints_its_block_and_the_referral(fed: Federation) -> None:
    text = ask(fed.ports[IANA], "193.0.0.1")
    assert f"refer:          {fed.hosts[RIPE]}" in text
    block = one(text, "inetnum")
    assert block["inetnum"] == ["193.0.0.0 - 193.255.255.255"]
    assert block["whois"] == [fed.hosts[RIPE]]
    assert block["source"] == ["IANA # Filtered"]
    assert block["status"] == ["ALLOCATED"]


def test_whois_client_follows_the_referral(fed: Federation) -> None:
    out = whois_client("-h", "127.0.0.1", "-p", str(fed.ports[RIPE]), "41.0.0.1")
    assert f"Found a referral to {fed.hosts[AFRINIC]}" in out
    inetnum = one(out, "inetnum")
    assert inetnum["inetnum"] == ["41.0.0.0 - 41.0.255.255"]
    assert inetnum["source"] == ["AFRINIC # Filtered"]


def test_whois_client_lookups_and_flags(fed: Federation) -> None:
    port = str(fed.ports[RIPE])
    plain = whois_client("-h", "127.0.0.1", "-p", port, "193.0.0.1")
    assert one(plain, "inetnum")["org"] == ["R2"]
    assert one(plain, "organisation")
    flagged = whois_client("-h", "127.0.0.1", "-p", port, "-r", "-B", "AS3333")
    assert one(flagged, "aut-num")["source"] == ["RIPE"]
    assert not [o for o in objects(flagged) if "organisation" in o]
    versions = whois_client("-h", "127.0.0.1", "-p", port, "--", "--list-versions AS3333")
    assert '% Version history for AUT-NUM object "AS3333"' in versions


# --- versions --------------------------------------------------------------------------------


def version_rows(text: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("rev#"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        number, date, clock, op = line.split()
        rows.append([number, f"{date} {clock}", op])
    return rows


def test_list_versions_from_the_log(fed: Federation, built: Built) -> None:
    text = ask(fed.ports[RIPE], "--list-versions 193.0.0.0/20")
    assert '% Version history for INETNUM object "193.0.0.0 - 193.0.15.255"' in text
    times = [fed.log_time(RIPE, built.seqs[v])[:16].replace("T", " ") for v in ("v1", "v2", "v3")]
    assert version_rows(text) == [
        ["1", times[0], "ADD/UPD"],
        ["2", times[1], "ADD/UPD"],
        ["3", times[2], "ADD/UPD"],  # the transfer removed and re-added it: one update
    ]
    assert version_rows(ask(fed.ports[RIPE], "--list-versions 193.0.0.1")) == version_rows(text)


def test_show_version_is_the_object_as_it_was(fed: Federation, built: Built) -> None:
    port = fed.ports[RIPE]
    first = ask(port, "--show-version 1 193.0.0.0/20")
    assert '% Version 1 of object "193.0.0.0 - 193.0.15.255"' in first
    assert "% This version was a UPDATE operation on" in first
    v1 = one(first, "inetnum")
    assert (v1["org"], v1["status"], v1["country"]) == (["R1"], ["ALLOCATED PA"], ["NL"])
    # added by its entry and not yet changed: last changed when it was registered
    assert v1["last-modified"] == [registered(REGISTERED)]
    v2 = one(ask(port, "--show-version 2 193.0.0.0/20"), "inetnum")
    assert v2["last-modified"] == [rpsl_time(fed.log_time(RIPE, built.seqs["v2"]))]
    v2 = one(ask(port, "--show-version 2 193.0.0.0/20"), "inetnum")
    assert (v2["org"], v2["status"]) == (["R1"], ["ASSIGNED PI"])
    third = ask(port, "--show-version 3 193.0.0.0/20")
    assert "% Version 3 (current version) of object" in third
    v3 = one(third, "inetnum")
    assert (v3["org"], v3["country"]) == (["R2"], ["DE"])
    assert v3["created"] == [registered(REGISTERED)]


def test_a_removal_is_a_version(fed: Federation, built: Built) -> None:
    port = fed.ports[RIPE]
    assert "%ERROR:101" in ask(port, "195.0.1.0/24")
    listing = ask(port, "--list-versions 195.0.1.0/24")
    assert "% This object was deleted on" in listing
    assert [r[2] for r in version_rows(listing)] == ["ADD/UPD", "DEL"]
    deleted = ask(port, "--show-version 2 195.0.1.0/24")
    assert "% This version was a DELETE operation on" in deleted
    gone = one(deleted, "inetnum")
    assert gone["org"] == ["R2"]
    assert gone["last-modified"] == [rpsl_time(fed.log_time(RIPE, built.seqs["removed"]))]
    # created by a batch entry: dated by its registration, not by the entry
    assert gone["created"] == [registered(REGISTERED)]


def test_organisation_versions(fed: Federation) -> None:
    port = fed.ports[RIPE]
    listing = ask(port, "--list-versions R1")
    assert '% Version history for ORGANISATION object "R1"' in listing
    assert len(version_rows(listing)) == 2
    assert one(ask(port, "--show-version 1 R1"), "organisation")["org-name"] == ["First Holder"]
    renamed = one(ask(port, "--show-version 2 R1"), "organisation")
    assert renamed["org-name"] == ["First Holder Renamed"]


def test_version_errors(fed: Federation) -> None:
    port = fed.ports[RIPE]
    assert "%ERROR:117: version cannot exceed 3 for this object" in ask(
        port, "--show-version 4 193.0.0.0/20"
    )
    assert "%ERROR:117" in ask(port, "--show-version 0 193.0.0.0/20")
    assert "%ERROR:111" in ask(port, "--show-version x 193.0.0.0/20")
    both = ask(port, "--list-versions --show-version 1 193.0.0.0/20")
    assert "%ERROR:109: invalid combination of flags passed" in both
    assert "%ERROR:109" in ask(port, "-M --list-versions 193.0.0.0/20")
    assert "%ERROR:101" in ask(port, "--list-versions 10.0.0.0/8")


def test_versions_follow_new_entries(built: Built, tmp_path: Path) -> None:
    """The history index catches up with entries written after the service started."""
    copy = Built({rid: tmp_path / p.name for rid, p in built.paths.items()})
    for rid, path in built.paths.items():
        copy.paths[rid].write_bytes(path.read_bytes())
    federation = Federation(copy, Limits())
    try:
        port = federation.ports[RIPE]
        assert len(version_rows(ask(port, "--list-versions AS3333"))) == 1

        async def change() -> None:
            node = federation.nodes[RIPE]
            node.append([(ev.DELEGATION_CHANGED, row("asn", "3333", 1, "R2", "DE"))])

        federation.run(change())
        assert len(version_rows(ask(port, "--list-versions AS3333"))) == 2
        assert one(ask(port, "AS3333"), "aut-num")["org"] == ["R2"]
    finally:
        federation.close()


# --- errors and robustness -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("-z 193.0.0.1", "%ERROR:111: invalid option supplied"),
        ("--bogus 193.0.0.1", "%ERROR:111: invalid option supplied"),
        ("-T", "%ERROR:111: invalid option supplied"),
        ("", "%ERROR:106: no search key specified"),
        ("-r", "%ERROR:106: no search key specified"),
        ("-r -r 193.0.0.1", "%ERROR:110: multiple use of flag"),
        ("NO-SUCH-THING", "%ERROR:101: no entries found\n%\n% No entries found in source RIPE."),
        ("10.0.0.1", "%ERROR:101: no entries found"),
    ],
)
def test_errors(fed: Federation, line: str, expected: str) -> None:
    text = ask(fed.ports[RIPE], line)
    assert expected in text
    assert objects(text) == []


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe\x00\x01\xc3\r\n", b"\x1b[2J193.0.0.1\r\n", b"\x00" * 50 + b"\n", b"\r\n\r\n"],
)
def test_garbage_gets_an_error_and_the_server_lives_on(fed: Federation, data: bytes) -> None:
    text = ask(fed.ports[RIPE], data)
    assert "%ERROR:" in text
    assert "\x1b" not in text
    assert one(ask(fed.ports[RIPE], "193.0.0.1"), "inetnum")


def test_query_without_newline_is_read_at_half_close(fed: Federation) -> None:
    with socket.create_connection(("127.0.0.1", fed.ports[RIPE]), timeout=10) as sock:
        sock.sendall(b"AS3333")
        sock.shutdown(socket.SHUT_WR)
        assert one(read_all(sock), "aut-num")


def test_line_length_is_capped(fed: Federation) -> None:
    long_line = ask(fed.ports[RIPE], "1" * 2000)
    assert "%ERROR:107: input line too long" in long_line
    with socket.create_connection(("127.0.0.1", fed.ports[RIPE]), timeout=10) as sock:
        sock.sendall(b"A" * 1500)  # no newline: refused before the line ends
        assert "%ERROR:107" in read_all(sock)


def test_idle_connection_times_out(built: Built) -> None:
    federation = Federation(built, Limits(whois_idle_timeout=0.3))
    try:
        with socket.create_connection(("127.0.0.1", federation.ports[RIPE]), timeout=10) as sock:
            began = time.monotonic()
            text = read_all(sock)
            elapsed = time.monotonic() - began
    finally:
        federation.close()
    assert "%ERROR:305: connection has been closed" in text
    assert "after a period of inactivity" in text
    assert 0.2 < elapsed < 3


def test_slow_client_hits_the_deadline(built: Built) -> None:
    federation = Federation(built, Limits(whois_idle_timeout=0.5))
    try:
        with socket.create_connection(("127.0.0.1", federation.ports[RIPE]), timeout=10) as sock:
            began = time.monotonic()
            closed = False
            for _ in range(40):  # one byte every 0.1 s: never idle, never done
                try:
                    sock.sendall(b"1")
                except OSError:
                    closed = True
                    break
                time.sleep(0.1)
                if time.monotonic() - began > 3:
                    break
            text = read_all(sock)
            elapsed = time.monotonic() - began
    finally:
        federation.close()
    assert "%ERROR:305" in text or closed
    assert elapsed < 3


def test_connection_cap(built: Built) -> None:
    limits = Limits(whois_idle_timeout=5, whois_connections=2)
    federation = Federation(built, limits)
    port = federation.ports[RIPE]
    try:
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        time.sleep(0.2)  # let the server accept both
        refused = ask(port, "193.0.0.1")
        assert "%ERROR:306: connections exceeded" in refused
        assert "Too many connections in all (limit 2)." in refused
        assert objects(refused) == []
        held[0].sendall(b"AS3333\r\n")
        assert one(read_all(held[0]), "aut-num")
        held[0].close()
        time.sleep(0.2)
        assert one(ask(port, "193.0.0.1"), "inetnum")  # a slot is free again
        held[1].close()
    finally:
        federation.close()


def test_connection_cap_per_address(built: Built) -> None:
    federation = Federation(built, Limits(whois_idle_timeout=5, whois_per_client=1))
    port = federation.ports[RIPE]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            time.sleep(0.2)
            refused = ask(port, "193.0.0.1")
        assert "%ERROR:306" in refused
        assert "Too many connections from 127.0.0.1 (limit 1)." in refused
    finally:
        federation.close()
