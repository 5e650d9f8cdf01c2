"""Load test under attack (issue 12, point 6), loopback only, bounded in time.

A federation of real node processes (`onereg serve --config`, set up by tests/localfed.py):
IANA, the registry under test (default RIPE NCC with its complete 2018-10-13 file, 189,189
records; `--registry lacnic` for LACNIC's, 57,841) and ARIN (a recipient with one holder), plus
`onereg rtr serve --config` for the registry under test with a real VRP export. Two runs of
`--seconds` each, the same legitimate load in both:

* **load**: ten times the expected public query rate of one RIR node, open-loop (requests are
  sent on a fixed schedule whatever the answers do, so a stalled node cannot slow the offered
  load down; latency runs from sending, and how late each send left against its schedule is
  reported as the load generator's lag, which says whether the offered rate was reached):
  RDAP lookups (ip, autnum, entity, domain), whois queries (one TCP connection each, as whois
  clients do), RTR sessions (Reset Query to End of Data, then a Serial Query on the same session);
  and the peers' work: a peer log asking the node to cosign its new checkpoint (the signed
  tlog-witness request every node sends its witnesses) and inter-registry transfers from a holder
  of the registry under test to ARIN, each timed until ARIN has registered the block;
* **load + attacks**: the same, with every attack of issue 12 running at once (see ATTACKS).

Each node's RSS (and the RTR server's, and the node under test's whois and worker processes) is
sampled from /proc every 0.2 s.

Expected public query rate of one RIR node (EXPECTED below): RIRs do not publish per-second
query figures. The one published measurement found: APNIC's whois served about 16 million
queries a month in 2002-03 (APNIC-15 DB-SIG "Whois DB Operational Update", 2003), about 6/s on
average. Assumed today for one RIR node, with growth and peaks: 20 RDAP lookups/s and 20 whois
queries/s; RTR: the RIR's own cache is used by few routers (operators run their own relying
parties), assumed 2,000 routers each opening a session (reset + serial) every 1,000 s: 2
sessions/s. Ten times that is driven: 200 RDAP/s, 200 whois/s, 20 RTR sessions/s.

Bounds: legitimate RDAP p99 <= 50 ms, every witness request and transfer succeeds, and every
node process stays under RSS_BOUND_MB (a node host with 2 GB of memory must keep room for the
OS, the RTR server and SQLite's page cache).

Run: nice -n 10 .venv/bin/python bench/bench_hardening.py [--seconds 30] [--registry ripencc]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import random
import resource
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(BENCH))

from localfed import EVIDENCE, FAST_TIMERS, ONEREG, LocalFederation, free_base_port  # noqa: E402
from onereg.core.registries import RegistryId  # noqa: E402
from onereg.core.resources import format_number  # noqa: E402
from onereg.federation.config import NodeInfo  # noqa: E402
from onereg.federation.embedded import config_path, describe_nodes  # noqa: E402
from onereg.federation.httpsig import NodeSigningKey, sign_request  # noqa: E402
from onereg.federation.importer import import_delegated_file  # noqa: E402
from onereg.federation.node_config import Timers, load_config  # noqa: E402
from onereg.federation.peer_client import PeerClient  # noqa: E402
from onereg.federation.publish import ask_witness_async  # noqa: E402
from onereg.federation.witness import AddCheckpointRequest  # noqa: E402
from onereg.registry import events as ev  # noqa: E402
from onereg.registry.checkpoints import Checkpointer  # noqa: E402
from onereg.registry.node import RegistryNode  # noqa: E402
from onereg.registry.transfers import register_holder_key  # noqa: E402
from procs import cpu_seconds, settle  # noqa: E402
from report import machine, write_section  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DATE = "2018-10-13"
VRPS = SHARED / "rpki" / "vrp-exports" / "ripe-rrdp-snapshot-2019-roas-decoded.csv"

EXPECTED = {"rdap": 20.0, "whois": 20.0, "rtr": 2.0}  # per second, one RIR node (see above)
FACTOR = 10
RDAP_P99_MS = 50.0
RSS_BOUND_MB = 1024
LEGIT_TIMEOUT = 10.0  # a legitimate request not answered by then counts as an error
TRANSFER_TIMEOUT = 15.0  # until the recipient has registered the block
WITNESS_TIMEOUT = 5.0  # the nodes' peer timeout (Timers.peer_timeout)
HEAD_START = 1.0  # the attacks start this long before the load
# On the Internet the attackers, the legitimate clients and the node are different hosts. Here
# the attackers and the load generators share a core, so the attackers run at a lower priority:
# otherwise the latency measured would be the load generator's own wait for that core (its
# lag row said so), not the node's. What each attack reached is reported beside the figures.
ATTACKER_NICE = 10
TRANSFER_EVERY = 2.0  # seconds between two transfers started by holders
DEPLOYED_TIMERS = Timers()  # node.toml's [timers] defaults: publish and mirror every 5 s

# what each attack does (the findings of issue 12), with the client addresses it comes from
ATTACKS = {
    "whois-m": "whois `-m 0.0.0.0/0` and `-m 2000::/3`, each repeated as soon as answered "
    "(127.66.0.1)",
    "roas": "10 clients hammering `GET /rpki/roas` (127.66.2.1-10)",
    "body": "a 1 GiB streamed body to `/witness/add-checkpoint`, repeated (127.66.0.3)",
    "header": "a 500 MB header on `GET /log/checkpoint`, repeated (127.66.0.4)",
    "half-open": "1,010 half-open HTTP connections from one address, reopened when closed "
    "(127.66.0.5)",
    "rtr-idle": "10,000 idle RTR sessions from one address, reopened when closed (127.66.0.6)",
    "whois-idle": "100 idle whois connections from five addresses (127.66.1.1-5)",
    "junk-witness": "a checkpoint signed by a peer's log with 80 junk 1 MB signature lines, "
    "signed by that peer (every 5 s)",
}


def rates(factor: float = FACTOR) -> dict[str, float]:
    return {face: factor * rate for face, rate in EXPECTED.items()}


# --- the federation -----------------------------------------------------------------------------


@dataclass
class Setup:
    fed: LocalFederation
    target: str  # the registry under test
    peer_log: str  # an unserved registry whose log asks the target to cosign (legitimate)
    junk_log: str  # an unserved registry whose (real) key signs the junk checkpoint
    rdap: list[str]  # paths under /rdap/
    whois: list[str]
    agreements: list[str]  # pre-signed agreements (JSON bodies with evidence)
    rtr_port: int
    rtr: subprocess.Popen[bytes] | None = None
    pids: dict[str, int] = field(default_factory=dict)
    legit_timeout: float = LEGIT_TIMEOUT
    transfer_timeout: float = TRANSFER_TIMEOUT
    factor: float = FACTOR  # times the expected public query rate
    attacks: tuple[str, ...] = tuple(ATTACKS)  # which attacks the attacked run has
    transfer_every: float = TRANSFER_EVERY  # seconds between transfers; 0: none
    host_cpus: frozenset[int] = frozenset()  # the node under test's own cores (empty: shared)

    def info(self, registry: str) -> NodeInfo:
        return next(n for n in self.fed.nodes if n.registry == registry)

    def stop(self) -> None:
        procs = list(self.fed.procs.values()) + ([self.rtr] if self.rtr else [])
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:  # a node stuck in a query ignores SIGTERM
                proc.kill()
                proc.wait()


def _queries(node: RegistryNode, count: int) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(RDAP paths, whois queries, transfer blocks (holder, /24)) from the node's own data."""
    rng = random.Random(12)
    ips, asns, holders, v4 = [], [], set(), []
    for d in node.delegations():
        r = d.resource
        if d.holder:
            holders.add(d.holder)
        if r.afi.value == "asn":
            asns.append(r.start)
        else:
            ips.append(r)
            if r.afi.value == "ipv4" and r.end - r.start >= 4095 and d.holder:
                v4.append((d.holder, r.start))
    handles = sorted(holders)
    rdap, whois = [], []
    for _ in range(count):
        r = rng.choice(ips)
        address = format_number(r.afi, rng.randint(r.start, min(r.end, r.start + 255)))
        kind = rng.random()
        if kind < 0.6:
            rdap.append(f"ip/{address}")
        elif kind < 0.75:
            rdap.append(f"autnum/{rng.choice(asns)}")
        elif kind < 0.9:
            rdap.append(f"entity/{rng.choice(handles)}")
        else:
            octets = address.split(".")
            if len(octets) == 4:  # the reverse zone of the address's /16
                rdap.append(f"domain/{octets[1]}.{octets[0]}.in-addr.arpa")
            else:
                rdap.append(f"ip/{address}")
        w = rng.random()
        whois.append(
            address if w < 0.7 else f"AS{rng.choice(asns)}" if w < 0.85 else rng.choice(handles)
        )
    rng.shuffle(v4)
    blocks = []
    for holder, start in v4[:40]:
        for n in range(8):  # the first /24s of a block of at least /20
            a = start + n * 256
            blocks.append((holder, f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.0/24"))
    rng.shuffle(blocks)
    return rdap, whois, blocks


def build(
    root: Path,
    registry: str,
    transfers: int,
    progress: Callable[[str], None] = print,
    timers: Timers = DEPLOYED_TIMERS,
) -> Setup:
    """Nodes under `root`, their data imported, holder keys registered, nothing started."""
    fed = LocalFederation(root, {"arin": []}, iana=SHARED / "iana", timers=timers)
    target = RegistryId(registry)
    progress(f"importing {registry}'s {DATE} file ...")
    source = SHARED / "delegated" / DATE / f"delegated-{registry}-extended-latest"
    import_delegated_file(fed.data, source, None, only=target)
    with fed.data.open(target, create=False) as node:
        rdap, whois, blocks = _queries(node, 5000)
        chosen = blocks[:transfers]
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        for holder in sorted({h for h, _ in chosen}):
            key = Ed25519PrivateKey.generate()
            fed.keys[(registry, holder)] = key
            register_holder_key(node, holder, key.public_key().public_bytes_raw())
    agreements = []
    for holder, block in chosen:
        signed = fed.agreement(block, (registry, holder), ("arin", "ARIN-NEW"))
        agreements.append(json.dumps({**json.loads(signed.to_json()), "evidence": EVIDENCE}))
    unserved = [r.value for r in RegistryId if r.value not in ("iana", "arin", registry)]
    for peer in unserved[:2]:  # their databases exist before the peer processes open them
        fed.data.open(RegistryId(peer)).close()
    rtr = load_config(config_path(root, target)).rtr
    port = int(rtr.rsplit(":", 1)[1])
    return Setup(fed, registry, unserved[0], unserved[1], rdap, whois, agreements, port)


def start(setup: Setup, progress: Callable[[str], None] = print) -> None:
    """Start the nodes and the RTR server; when a port was taken meanwhile (other jobs on the
    machine pick free ports too), stop them, re-address every node and try again."""
    for attempt in range(3):
        try:
            _start(setup, progress)
            return
        except RuntimeError as exc:
            if "address already in use" not in str(exc) or attempt == 2:
                raise
            progress("a port was taken meanwhile: re-addressing the nodes and starting again")
            setup.stop()
            _readdress(setup)


def _readdress(setup: Setup) -> None:
    fed = setup.fed
    fed.base = free_base_port()
    fed.nodes = describe_nodes(fed.root, fed.base, quorum=1, timers=fed.timers)
    fed.urls = {n.registry: n.url for n in fed.nodes}
    fed.whois = {n.registry: n.whois for n in fed.nodes}
    rtr = load_config(config_path(fed.root, RegistryId(setup.target))).rtr
    setup.rtr_port = int(rtr.rsplit(":", 1)[1])


def _start(setup: Setup, progress: Callable[[str], None]) -> None:
    fed = setup.fed
    config = config_path(fed.root, RegistryId(setup.target))
    log = open(fed.root / "rtr.log", "ab")  # noqa: SIM115 - the child owns it
    setup.rtr = subprocess.Popen(
        [ONEREG, "rtr", "serve", "--config", str(config), "--vrps", str(VRPS)],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_on_cpus(setup.host_cpus),
    )
    served = ("iana", setup.target, "arin")
    progress(f"starting the nodes {', '.join(served)} ...")
    for registry in served:  # all at once (LocalFederation.start waits for each in turn)
        config = config_path(fed.root, RegistryId(registry))
        out = open(fed.root / f"{registry}.log", "ab")  # noqa: SIM115 - the child owns it
        fed.procs[registry] = subprocess.Popen(
            [ONEREG, "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_on_cpus(setup.host_cpus if registry == setup.target else frozenset()),
        )
    for registry in served:
        fed.wait_ready(registry)
    progress("nodes up; waiting for their mirrors and the RTR server ...")
    fed.wait_mirrored((setup.target, "arin"), ("iana", setup.target, "arin"))
    deadline = time.monotonic() + 60
    while not _rtr_up(setup.rtr_port):
        if setup.rtr.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("RTR server: " + (fed.root / "rtr.log").read_text()[-1500:])
        time.sleep(0.2)
    setup.pids = {r: p.pid for r, p in fed.procs.items()} | {"rtr": setup.rtr.pid}
    warm_up(setup)  # the first RDAP lookup starts the node's worker process
    setup.pids |= helpers_of(setup.target, fed.procs[setup.target].pid)
    progress("waiting until the nodes' start-up work is done ...")
    if not settle(setup.pids.values()):
        progress("the nodes did not settle within 120 s; measuring anyway")


def helpers_of(name: str, pid: int) -> dict[str, int]:
    """The node's helper processes (its whois server, its authority-map worker): they run on
    the node's core and are part of what it costs, so their CPU and memory are reported too."""
    found: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            role = "worker"
            if any(b"whoisd" in a for a in argv):
                role = "whois"
            elif any(b"resource_tracker" in a for a in argv):
                role = "resource tracker"
            label = f"{name} {role}"
            found[label if label not in found else f"{label} {child}"] = int(child)
    return found


def _on_cpus(cpus: frozenset[int]) -> Callable[[], None] | None:
    """Run a child on `cpus` (with all its threads and children), if any are given."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def split_cores(shared: bool) -> frozenset[int]:
    """Give the node under test a core of its own, as on its own host, and move this process
    (so every load generator, attacker and peer node it starts) to the other cores, for good:
    call it only from the command line. The RTR server shares the node's core. Returns the
    node's cores (empty when `shared` or on one core: everything then competes for every
    core)."""
    cpus = os.sched_getaffinity(0)
    if shared or len(cpus) < 2:
        return frozenset()
    host = frozenset({max(cpus)})
    os.sched_setaffinity(0, cpus - host)
    return host


def warm_up(setup: Setup) -> None:
    """One request of each kind, unrecorded: the first RDAP lookup loads the authority map."""
    url = setup.fed.urls[setup.target]
    with httpx.Client(timeout=120) as client:
        for path in {p.split("/")[0]: p for p in setup.rdap}.values():
            client.get(f"{url}/rdap/{path}")
    host, port = setup.fed.whois[setup.target].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(setup.whois[0].encode() + b"\r\n")
        while s.recv(65536):
            pass


def _rtr_up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(RESET_QUERY)
            s.settimeout(5)
            return bool(s.recv(8))
    except OSError:
        return False


# --- RTR (RFC 8210, version 1) ---------------------------------------------------------------

RESET_QUERY = bytes([1, 2, 0, 0, 0, 0, 0, 8])


def serial_query(session: int, serial: int) -> bytes:
    return struct.pack("!BBHII", 1, 1, session, 12, serial)


async def read_to_end_of_data(reader: asyncio.StreamReader) -> tuple[int, int]:
    """(session id, serial) of the End of Data; raises on Error Report or Cache Reset."""
    while True:
        header = await reader.readexactly(8)
        _, kind, session, length = struct.unpack("!BBHI", header)
        body = await reader.readexactly(length - 8) if length > 8 else b""
        if kind == 7:  # End of Data
            return session, struct.unpack("!I", body[:4])[0]
        if kind in (8, 10):  # Cache Reset, Error Report
            raise ConnectionError(f"RTR PDU type {kind}")


# --- legitimate load ---------------------------------------------------------------------------

Sample = tuple[str, float, bool]  # (kind, seconds from the scheduled time, answered well)
ERROR_STATUSES = {429, 500, 502, 503, 504}


async def _open_loop(rate: float, seconds: float, job: Callable[[int], Any]) -> None:
    """Start `job(i)` at i / rate, whatever the earlier ones are doing (open loop: a node that
    stalls does not slow the offered load down)."""
    begin = time.perf_counter()
    tasks = []
    for i in range(int(rate * seconds)):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(job(i)))
    await asyncio.gather(*tasks)


def _paced(rate: float, samples: list[Sample]) -> Callable[[int], float]:
    """`sent(i)`: now, after recording how late request i leaves against its schedule (the
    load generator's own delay: when it is large, the offered rate was not reached). The
    schedule starts at the first send, as `_open_loop`'s does."""
    begin: float | None = None

    def sent(i: int) -> float:
        nonlocal begin
        now = time.perf_counter()
        if begin is None:
            begin = now - i / rate
        samples.append(("lag", max(0.0, now - begin - i / rate), True))
        return now

    return sent


async def legit_load(p: dict[str, Any], seconds: float, face: str, rate: float) -> list[Sample]:
    """One face's legitimate load (each face in its own process); latencies from sending."""
    samples: list[Sample] = []
    sent = _paced(rate, samples)
    timeout = p["legit_timeout"]
    if face == "rdap":
        sessions = [
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, local_addr=(f"127.1.{n}.1", 0)),
                timeout=aiohttp.ClientTimeout(total=timeout),
            )
            for n in range(16)
        ]

        async def rdap(i: int) -> None:
            path = p["rdap"][i % len(p["rdap"])]
            began, ok = sent(i), False
            try:
                async with sessions[i % 16].get(
                    f"{p['url']}/rdap/{path}", allow_redirects=False
                ) as r:
                    await r.read()
                    ok = r.status not in ERROR_STATUSES
            except (aiohttp.ClientError, TimeoutError, OSError):
                pass
            samples.append(("rdap:" + path.split("/")[0], time.perf_counter() - began, ok))

        try:
            await _open_loop(rate, seconds, rdap)
        finally:
            for session in sessions:
                await session.close()
    elif face == "whois":
        host, port = p["whois"]

        async def whois(i: int) -> None:
            began, ok = sent(i), False
            try:
                async with asyncio.timeout(timeout):
                    reader, writer = await asyncio.open_connection(
                        host, port, local_addr=(f"127.2.{i % 64}.1", 0)
                    )
                    writer.write(p["queries"][i % len(p["queries"])].encode() + b"\r\n")
                    await writer.drain()
                    text = await reader.read()
                    writer.close()
                    ok = b"%ERROR:2" not in text and len(text) > 0  # no "access denied"
            except (TimeoutError, OSError):
                pass
            samples.append(("whois", time.perf_counter() - began, ok))

        await _open_loop(rate, seconds, whois)
    else:

        async def rtr(i: int) -> None:
            began = reset_done = sent(i)
            ok_reset = ok_serial = False
            writer = None
            try:
                async with asyncio.timeout(timeout):
                    reader, writer = await asyncio.open_connection(
                        "127.0.0.1", p["rtr"], local_addr=(f"127.3.{i % 32}.1", 0)
                    )
                    writer.write(RESET_QUERY)
                    session, serial = await read_to_end_of_data(reader)
                    ok_reset, reset_done = True, time.perf_counter()
                    writer.write(serial_query(session, serial))
                    await read_to_end_of_data(reader)
                    ok_serial = True
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                if writer is not None:
                    writer.close()
            end = time.perf_counter()
            samples.append(("rtr:reset", (reset_done if ok_reset else end) - began, ok_reset))
            samples.append(("rtr:serial", end - reset_done, ok_serial))

        await _open_loop(rate, seconds, rtr)
    return samples


# --- the peers' work: witness requests and transfers ------------------------------------------


async def peer_work(p: dict[str, Any], seconds: float) -> list[Sample]:
    """A peer's log asks the node to cosign each new checkpoint (every second), and holders
    transfer /24s to ARIN (one every 2 s), each timed until ARIN registered it."""
    samples: list[Sample] = []
    config = load_config(Path(p["peer_config"]))
    signer = config.log_signer()
    key = NodeSigningKey(config.registry.value, config.node_signer().private_key)
    witness = NodeInfo(p["target"], p["url"], "", "", "", "")
    stop = time.perf_counter() + seconds

    async def witnessing(client: PeerClient, node: RegistryNode) -> None:
        n = 0
        while time.perf_counter() < stop:
            due = time.perf_counter() + 1.0
            n += 1
            node.append(
                [(ev.HOLDER_REGISTERED, {"handle": f"W{os.getpid()}-{n}", "name": "", "cc": "ZZ"})]
            )
            note = Checkpointer(node, signer).sign()
            began = time.perf_counter()
            outcome, line = await ask_witness_async(client, witness, node, note)
            samples.append(("witness", time.perf_counter() - began, line is not None))
            if line is None:
                why = f"status {outcome.status}" if outcome.status else "no answer within 5 s"
                samples.append((f"why:witness:{why}", 0.0, False))
            await asyncio.sleep(max(0.0, due - time.perf_counter()))

    async def transferring(session: aiohttp.ClientSession) -> None:
        tasks = []
        for i, body in enumerate(p["agreements"]):
            due = time.perf_counter() + p["transfer_every"]
            if time.perf_counter() >= stop:
                break
            tasks.append(asyncio.ensure_future(one_transfer(session, body)))
            if i < len(p["agreements"]) - 1:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
        await asyncio.gather(*tasks)

    async def one_transfer(session: aiohttp.ClientSession, body: str) -> None:
        began = time.perf_counter()
        nonce = json.loads(body)["agreement"]["nonce"]
        ok, why = False, "no answer from the source"
        try:
            async with asyncio.timeout(p["transfer_timeout"]):
                async with session.post(
                    f"{p['url']}/transfers", data=body, headers={"Content-Type": "application/json"}
                ) as r:
                    answer = await r.json(content_type=None)
                why = f"source answered {r.status} {str(answer.get('state', answer))[:60]}"
                # 202 sourceInitialized: accepted, the recipient not yet asked; the source's
                # recovery loop re-offers it, so the transfer may still complete in time
                if answer.get("state") in ("sourceInitialized", "sourceFinalized"):
                    why = f"{answer['state']} at the source, not registered at ARIN in time"
                    while not ok:
                        async with session.get(f"{p['arin']}/transfers/{nonce}") as r:
                            ok = (await r.json(content_type=None)).get("state") == "sourceFinalized"
                        if not ok:
                            await asyncio.sleep(0.05)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            pass
        samples.append(("transfer", time.perf_counter() - began, ok))
        if not ok:
            samples.append((f"why:transfer:{why}", 0.0, False))

    connector = aiohttp.TCPConnector(limit=0, local_addr=("127.5.0.1", 0))
    holders = aiohttp.TCPConnector(limit=0, local_addr=("127.6.0.1", 0))
    registry = RegistryId(p["peer"])
    with RegistryNode.open(registry, Path(p["peer_db"])) as node:
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            aiohttp.ClientSession(
                connector=holders, timeout=aiohttp.ClientTimeout(total=p["transfer_timeout"])
            ) as hsession,
        ):
            client = PeerClient(session, WITNESS_TIMEOUT, key)
            work = [transferring(hsession)]
            if p.get("witness", True):
                work.append(witnessing(client, node))
            await asyncio.gather(*work)
    return samples


# --- the attacks ----------------------------------------------------------------------------------


class Tally:
    """What one attack did and what the node answered."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.peak = 0  # connections held open at once

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] += n


def _size(n: int) -> str:
    return "nothing" if n == 0 else "< 64 KiB" if n < 65536 else ">= 64 KiB"


async def attack_whois_m(p: dict[str, Any], stop: float, t: Tally) -> None:
    host, port = p["whois"]

    async def one(query: str) -> None:
        while time.perf_counter() < stop:
            began = time.perf_counter()
            try:
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=("127.66.0.1", 0)
                )
                writer.write(f"-m {query}\r\n".encode())
                await writer.drain()
                size = 0
                while chunk := await asyncio.wait_for(
                    reader.read(65536), stop - time.perf_counter()
                ):
                    size += len(chunk)
                writer.close()
                t.add(f"{query}: answered, {_size(size)} in {_held(time.perf_counter() - began)}")
            except (TimeoutError, OSError):
                t.add(
                    f"{query}: no answer before the run ended"
                    if time.perf_counter() >= stop
                    else f"{query}: refused or reset"
                )
            await asyncio.sleep(0.1)  # about 10 queries/s each: the attacker shares the cores

    await asyncio.gather(one("0.0.0.0/0"), one("2000::/3"))


async def attack_roas(p: dict[str, Any], stop: float, t: Tally) -> None:
    async def client(n: int) -> None:
        connector = aiohttp.TCPConnector(local_addr=(f"127.66.2.{n + 1}", 0))
        async with aiohttp.ClientSession(connector=connector) as session:
            while time.perf_counter() < stop:
                try:
                    async with asyncio.timeout(max(0.1, stop - time.perf_counter())):
                        async with session.get(f"{p['url']}/rpki/roas") as r:
                            await r.read()
                            t.add(f"status {r.status}")
                    if r.status in ERROR_STATUSES:  # told to slow down: retry 10 times a second
                        await asyncio.sleep(0.1)
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    t.add(
                        "no answer before the run ended"
                        if time.perf_counter() >= stop
                        else type(exc).__name__
                    )
                    await asyncio.sleep(0.05)

    await asyncio.gather(*(client(n) for n in range(10)))


async def attack_body(p: dict[str, Any], stop: float, t: Tally) -> None:
    chunk = b"x" * (1 << 20)
    connector = aiohttp.TCPConnector(local_addr=("127.66.0.3", 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        while time.perf_counter() < stop:
            sent = 0

            async def body() -> AsyncIterator[bytes]:
                nonlocal sent
                for _ in range(1024):
                    if time.perf_counter() >= stop:
                        return
                    sent += 1
                    yield chunk

            try:
                async with asyncio.timeout(max(0.1, stop - time.perf_counter())):
                    async with session.post(f"{p['url']}/witness/add-checkpoint", data=body()) as r:
                        t.add(f"status {r.status} after {sent} MiB sent")
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                t.add(f"{type(exc).__name__} after {sent} MiB sent")
            await asyncio.sleep(0.1)  # the attacker shares the cores: not a busy loop


async def attack_header(p: dict[str, Any], stop: float, t: Tally) -> None:
    host, port = p["url"].split("//")[1].split(":")
    chunk = b"a" * (1 << 20)
    while time.perf_counter() < stop:
        sent, writer = 0, None
        try:
            async with asyncio.timeout(max(0.1, stop - time.perf_counter())):
                reader, writer = await asyncio.open_connection(
                    host, int(port), local_addr=("127.66.0.4", 0)
                )
                writer.write(f"GET /log/checkpoint HTTP/1.1\r\nHost: {host}\r\nX-Junk: ".encode())
                try:
                    for _ in range(500):
                        writer.write(chunk)
                        await writer.drain()
                        sent += 1
                    writer.write(b"\r\n\r\n")
                    await writer.drain()
                except OSError:  # the node answered (431?) and closed: read what it said
                    pass
                status = (await reader.readline()).decode(errors="replace").strip()
                t.add(f"{status or 'closed without an answer'} after {sent} MB sent")
        except (TimeoutError, OSError) as exc:
            t.add(f"{type(exc).__name__} after {sent} MB sent")
        finally:
            if writer is not None:
                writer.close()
        await asyncio.sleep(0.1)  # the attacker shares the cores: not a busy loop


def _held(seconds: float) -> str:
    return "< 1 s" if seconds < 1 else "1-10 s" if seconds < 10 else ">= 10 s"


async def _hold(
    host: str, port: int, addresses: list[str], count: int, first: bytes, stop: float, t: Tally
) -> None:
    """Hold `count` connections open (spread over `addresses`), reopening closed ones. A slot
    the node keeps refusing or closing at once backs off (0.5 s doubling up to 30 s), so that
    10,000 refused slots do not turn the attacker into a busy loop on the shared cores."""
    open_now = 0

    async def one(n: int) -> None:
        nonlocal open_now
        backoff = 0.5
        while time.perf_counter() < stop:
            try:
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=(addresses[n % len(addresses)], 0)
                )
            except OSError as exc:
                t.add(f"connect failed: {type(exc).__name__}")
                await asyncio.sleep(backoff)
                backoff = min(30.0, backoff * 2)
                continue
            t.add("opened")
            opened = time.perf_counter()
            open_now += 1
            t.peak = max(t.peak, open_now)
            try:
                if first:
                    writer.write(first)
                await asyncio.wait_for(reader.read(), max(0.1, stop - time.perf_counter()))
                t.add(f"closed by the node after {_held(time.perf_counter() - opened)}")
            except (TimeoutError, OSError):
                pass
            finally:
                open_now -= 1
                writer.close()
            if time.perf_counter() - opened < 2:
                await asyncio.sleep(backoff)
                backoff = min(30.0, backoff * 2)
            else:
                backoff = 0.5

    # opened all at once, as fast as the node accepts them
    await asyncio.gather(*(one(n) for n in range(count)))


async def attack_half_open(p: dict[str, Any], stop: float, t: Tally) -> None:
    host, port = p["url"].split("//")[1].split(":")
    first = f"GET /log/checkpoint HTTP/1.1\r\nHost: {host}\r\n".encode()  # never finished
    await _hold(host, int(port), ["127.66.0.5"], 1010, first, stop, t)


async def attack_rtr_idle(p: dict[str, Any], stop: float, t: Tally) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    count = min(10_000, soft - 200)
    t.add(f"sessions tried: {count} (RLIMIT_NOFILE {soft})")
    await _hold("127.0.0.1", p["rtr"], ["127.66.0.6"], count, b"", stop, t)


async def attack_whois_idle(p: dict[str, Any], stop: float, t: Tally) -> None:
    host, port = p["whois"]
    await _hold(host, port, [f"127.66.1.{n}" for n in range(1, 6)], 100, b"", stop, t)


async def attack_junk_witness(p: dict[str, Any], stop: float, t: Tally) -> None:
    config = load_config(Path(p["junk_config"]))
    signer = config.log_signer()
    key = NodeSigningKey(config.registry.value, config.node_signer().private_key)
    began = time.perf_counter()
    line = base64.b64encode(os.urandom(786_432))  # 1 MB of base64 per signature line
    # as bytes, appended to the encoded request (the note is its tail): quick to build
    junk = b"".join(f"\u2014 junk{n} ".encode() + line + b"\n" for n in range(80))
    url = f"{p['url']}/witness/add-checkpoint"
    target = "/witness/add-checkpoint"
    connector = aiohttp.TCPConnector(local_addr=("127.66.0.7", 0))
    with RegistryNode.open(config.registry, Path(p["junk_db"])) as node:
        async with aiohttp.ClientSession(connector=connector) as session:
            old, n = 0, 0
            while n == 0 or time.perf_counter() < stop:  # the first even if it was slow to build
                n += 1
                node.append([(ev.HOLDER_REGISTERED, {"handle": f"J{n}", "name": "", "cc": "ZZ"})])
                note = Checkpointer(node, signer).sign()
                size = node.head()[0]
                if n == 1:
                    t.add(f"first note ready after {time.perf_counter() - began:.1f} s")
                for _ in range(2):  # once more with the size a 409 names
                    proof = node.tree().consistency_proof(old, size) if 0 < old < size else []
                    data = AddCheckpointRequest(old, proof, note).body().encode() + junk
                    headers = {"Content-Type": "text/plain; charset=utf-8"}
                    headers |= sign_request(key, "POST", target, data)
                    try:
                        async with asyncio.timeout(max(2.0, stop - time.perf_counter())):
                            async with session.post(url, data=data, headers=headers) as r:
                                text = await r.text()
                        t.add(f"status {r.status} ({len(data) >> 20} MB note)")
                        if r.status == 409 and text.strip().isdigit():
                            old = int(text.strip())
                            continue
                        if r.status == 200:
                            old = size
                    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                        t.add(type(exc).__name__)
                    break
                await asyncio.sleep(max(0.0, min(5.0, stop - time.perf_counter())))


ATTACK_CODE: dict[str, Callable[[dict[str, Any], float, Tally], Any]] = {
    "whois-m": attack_whois_m,
    "roas": attack_roas,
    "body": attack_body,
    "header": attack_header,
    "half-open": attack_half_open,
    "rtr-idle": attack_rtr_idle,
    "whois-idle": attack_whois_idle,
    "junk-witness": attack_junk_witness,
}


# --- processes and the run ---------------------------------------------------------------------


def _process(target: Callable[..., Any], args: tuple[Any, ...], out: Any, nice: int = 0) -> None:
    if nice:
        os.nice(nice)
    try:
        out.put(asyncio.run(target(*args)))
    except BaseException as exc:
        out.put(exc)


async def _attack(name: str, p: dict[str, Any], seconds: float) -> dict[str, Any]:
    t = Tally()
    stop = time.perf_counter() + seconds
    with contextlib.suppress(TimeoutError):  # the junk note takes a while to build and send
        await asyncio.wait_for(ATTACK_CODE[name](p, stop, t), seconds + 20)
    return {"counts": dict(t.counts), "peak": t.peak}


def rdap_histogram(
    url: str, prefix: str = 'onereg_request_seconds_bucket{face="rdap"'
) -> dict[float, float]:
    """The node's own RDAP latency histogram from its /metrics (cumulative count per upper
    bound, in seconds): the time from the request's arrival to its answer, without the
    network and the load generator's own delays. With `LOOP_LAG` as prefix: its event loop's
    lag, what a request waits before that histogram's clock starts."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float(le)] = float(line.rsplit(" ", 1)[1])
    return out


LOOP_LAG = "onereg_event_loop_lag_seconds_bucket{"


def lag_p99(histogram: dict[float, float]) -> str:
    """The bucket the node's event-loop lag p99 falls in, and its share over 10 ms."""
    total = histogram.get(float("inf"), 0)
    if not total:
        return "-"
    bound = next(le for le in sorted(histogram) if histogram[le] >= 0.99 * total)
    over = (total - histogram.get(0.01, 0)) / total * 100
    return f"p99 <= {bound * 1000:g} ms; {over:.1f} % of samples over 10 ms"


def node_p99(histogram: dict[float, float]) -> str:
    """The bucket the node's own p99 falls in, and the share answered within 50 ms."""
    total = histogram.get(float("inf"), 0)
    if not total:
        return "-"
    bound = next(le for le in sorted(histogram) if histogram[le] >= 0.99 * total)
    within = histogram.get(RDAP_P99_MS / 1000, 0) / total * 100
    return f"p99 <= {bound * 1000:g} ms; {within:.1f} % within {RDAP_P99_MS:g} ms"


def core_times() -> dict[int, tuple[int, int]]:
    """(busy, total) clock ticks of each core so far, from /proc/stat: whether the load
    generators' core was saturated says whether the clients' figures are the node's."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *ticks = line.split()
        if name.startswith("cpu") and name != "cpu":
            values = [int(t) for t in ticks]
            idle = values[3] + values[4]  # idle + iowait
            out[int(name[3:])] = (sum(values[:8]) - idle, sum(values[:8]))
    return out


def busy_share(before: dict[int, tuple[int, int]]) -> dict[int, float]:
    after = core_times()
    return {
        core: (after[core][0] - b[0]) / max(1, after[core][1] - b[1]) for core, b in before.items()
    }


class RssSampler(threading.Thread):
    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak = pids, dict.fromkeys(pids, 0)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            for name, pid in self.pids.items():
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            self.peak[name] = max(self.peak[name], int(line.split()[1]) // 1024)
                except OSError:
                    pass


@dataclass
class Phase:
    name: str
    seconds: float
    load_average: float  # of the machine (1 min) when the run started
    samples: list[Sample]
    rss_mb: dict[str, int]
    attacks: dict[str, dict[str, Any]]
    failures: list[str]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU time / wall time, per process
    cores: dict[int, float] = field(default_factory=dict)  # busy share of each core
    node_rdap: dict[float, float] = field(default_factory=dict)  # the node's own histogram
    node_lag: dict[float, float] = field(default_factory=dict)  # its event loop's lag

    def of(self, kind: str) -> list[Sample]:
        return [s for s in self.samples if s[0] == kind or s[0].startswith(kind + ":")]

    def p99(self, kind: str) -> float:
        return _pct([s[1] for s in self.of(kind)], 0.99) * 1000

    def errors(self, kind: str) -> int:
        return sum(1 for s in self.of(kind) if not s[2])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def params(setup: Setup, agreements: list[str]) -> dict[str, Any]:
    fed = setup.fed
    host, port = fed.whois[setup.target].rsplit(":", 1)
    nodes = fed.root / "nodes"
    return {
        "url": fed.urls[setup.target],
        "arin": fed.urls["arin"],
        "target": setup.target,
        "whois": (host, int(port)),
        "rtr": setup.rtr_port,
        "rdap": setup.rdap,
        "queries": setup.whois,
        "agreements": agreements,
        "peer": setup.peer_log,
        "peer_config": str(config_path(fed.root, RegistryId(setup.peer_log))),
        "peer_db": str(fed.data.node_path(RegistryId(setup.peer_log))),
        "junk_config": str(config_path(fed.root, RegistryId(setup.junk_log))),
        "junk_db": str(fed.data.node_path(RegistryId(setup.junk_log))),
        "nodes": str(nodes),
        "legit_timeout": setup.legit_timeout,
        "transfer_every": setup.transfer_every,
        "transfer_timeout": setup.transfer_timeout,
    }


def run_phase(
    setup: Setup, name: str, seconds: float, attacks: bool, agreements: list[str]
) -> Phase:
    ctx = multiprocessing.get_context("fork")
    p = params(setup, agreements)
    queues: dict[str, Any] = {}
    procs = []

    def spawn(label: str, target: Callable[..., Any], args: tuple[Any, ...], nice: int = 0) -> None:
        q = ctx.Queue()
        proc = ctx.Process(target=_process, args=(target, args, q, nice), daemon=True)
        proc.start()
        queues[label] = q
        procs.append(proc)

    load_average = os.getloadavg()[0]
    if attacks:  # the attacks first, so that the load meets them in full
        for attack in setup.attacks:
            spawn(attack, _attack, (attack, p, seconds + HEAD_START), nice=ATTACKER_NICE)
        time.sleep(HEAD_START)
    sampler = RssSampler(setup.pids)
    sampler.start()
    cpu_before = {name: cpu_seconds(pid) for name, pid in setup.pids.items()}
    cores_before = core_times()
    rdap_before = rdap_histogram(p["url"])
    lag_before = rdap_histogram(p["url"], LOOP_LAG)
    began = time.monotonic()
    for face, rate in rates(setup.factor).items():
        spawn(face, legit_load, (p, seconds, face, rate))
    spawn("peers", peer_work, (p, seconds))
    results: dict[str, Any] = {}
    failures = []
    deadline = time.monotonic() + seconds + setup.legit_timeout + setup.transfer_timeout + 30
    for label, q in queues.items():
        try:
            results[label] = q.get(timeout=max(1.0, deadline - time.monotonic()))
        except Exception:
            results[label] = RuntimeError(f"{label}: no result")
        if isinstance(results[label], BaseException):
            failures.append(f"{label}: {results[label]!r}")
    sampler.done.set()
    sampler.join()
    elapsed = time.monotonic() - began
    cpu = {n: (cpu_seconds(pid) - cpu_before[n]) / elapsed for n, pid in setup.pids.items()}
    cores = busy_share(cores_before)
    for proc in procs:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    samples: list[Sample] = []
    for label in (*EXPECTED, "peers"):
        if isinstance(results.get(label), list):
            samples += [(f"lag:{label}" if k == "lag" else k, x, ok) for k, x, ok in results[label]]
    found = {k: v for k, v in results.items() if k in ATTACKS and isinstance(v, dict)}
    phase = Phase(name, seconds, load_average, samples, dict(sampler.peak), found, failures)
    phase.cpu, phase.cores = cpu, cores
    after = rdap_histogram(p["url"])
    phase.node_rdap = {le: after.get(le, 0) - n for le, n in rdap_before.items()}
    lag_after = rdap_histogram(p["url"], LOOP_LAG)
    phase.node_lag = {le: lag_after.get(le, 0) - n for le, n in lag_before.items()}
    return phase


def run(
    registry: str,
    seconds: float,
    root: Path,
    attacks_only: bool = False,
    with_attacks: bool = True,
    legit_timeout: float = LEGIT_TIMEOUT,
    transfer_timeout: float = TRANSFER_TIMEOUT,
    factor: float = FACTOR,
    attacks: tuple[str, ...] = tuple(ATTACKS),
    transfer_every: float = TRANSFER_EVERY,
    host_cpus: frozenset[int] = frozenset(),
    timers: Timers = DEPLOYED_TIMERS,
) -> tuple[Setup, list[Phase]]:
    """`transfer_every`: seconds between transfers (0: none, to see the load without them)."""
    """Build, start, run "load" then "load + attacks" (or only the latter), stop."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the nodes inherit it too
    per_phase = int(seconds / transfer_every) + 1 if transfer_every > 0 else 0
    phases = [] if attacks_only else [("load", False)]
    if with_attacks:
        phases.append(("load + attacks", True))
    began = time.monotonic()

    def progress(text: str) -> None:
        print(f"[{time.monotonic() - began:5.1f} s] {text}", flush=True)

    setup = build(root, registry, per_phase * len(phases), progress, timers)
    setup.legit_timeout, setup.transfer_timeout = legit_timeout, transfer_timeout
    setup.factor, setup.attacks = factor, attacks
    setup.transfer_every = transfer_every
    setup.host_cpus = host_cpus  # the node under test's cores (empty: every core is shared)
    phases_out = []
    try:
        start(setup, progress)
        for i, (name, attacked) in enumerate(phases):
            progress(f"run: {name}, {seconds:g} s (load average {os.getloadavg()[0]:.1f}) ...")
            batch = setup.agreements[i * per_phase : (i + 1) * per_phase]
            phases_out.append(run_phase(setup, name, seconds, attacked, batch))
    finally:
        progress("stopping the nodes ...")
        setup.stop()
        progress("stopped")
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return setup, phases_out


# --- the report --------------------------------------------------------------------------------

FACES = [
    ("rdap", "RDAP, all lookups"),
    ("rdap:ip", "RDAP ip"),
    ("rdap:autnum", "RDAP autnum"),
    ("rdap:entity", "RDAP entity"),
    ("rdap:domain", "RDAP domain"),
    ("whois", "whois"),
    ("rtr:reset", "RTR Reset Query to End of Data"),
    ("rtr:serial", "RTR Serial Query to End of Data"),
    ("witness", "witness: a peer's add-checkpoint"),
    ("transfer", "transfer: POST until ARIN registered"),
]


def _cell(phase: Phase, kind: str) -> str:
    got = phase.of(kind)
    if not got:
        return "-"
    lat = [s[1] * 1000 for s in got]
    ok = len(got) - phase.errors(kind)
    return (
        f"{statistics.median(lat):.1f} / {_pct(lat, 0.99):.1f} / {max(lat):,.0f} ms; "
        f"{ok:,} of {len(got):,} ok"
    )


def _lag(phase: Phase, face: str = "") -> str:
    lag = [s[1] * 1000 for s in phase.samples if s[0].startswith("lag:" + face)]
    if not lag:
        return "-"
    return f"{statistics.median(lag):.1f} / {_pct(lag, 0.99):.1f} / {max(lag):,.0f} ms"


def _all_ok(phase: Phase, kind: str, bound: str) -> tuple[str, str, bool]:
    done, failed = len(phase.of(kind)), phase.errors(kind)
    figure = f"{done - failed} of {done}" if done else "none run"
    return bound, figure, done > 0 and failed == 0


def verdicts(phase: Phase) -> list[tuple[str, str, bool]]:
    """(bound, figure, met) for one run."""
    rss = max(phase.rss_mb.values(), default=0)
    rdap = phase.p99("rdap")
    return [
        ("legitimate RDAP p99 <= 50 ms", f"{rdap:,.1f} ms", rdap <= RDAP_P99_MS),
        _all_ok(phase, "witness", "every witness request succeeds"),
        _all_ok(phase, "transfer", "every transfer succeeds"),
        (f"every node process RSS <= {RSS_BOUND_MB:,} MB", f"{rss:,} MB", rss <= RSS_BOUND_MB),
    ]


def section(registry: str, seconds: float, setup: Setup, phases: list[Phase]) -> list[str]:
    r = rates(setup.factor)
    names = [p.name for p in phases]
    factor = f" --factor {setup.factor:g}" if setup.factor != FACTOR else ""
    if setup.attacks != tuple(ATTACKS):
        factor += f" --attacks {','.join(setup.attacks)}"
    if setup.transfer_every != TRANSFER_EVERY:
        factor += f" --transfer-every {setup.transfer_every:g}"
    if setup.fed.timers == FAST_TIMERS:
        factor += " --test-timers"
    lines = [
        "## Load under attack (issue 12, point 6)",
        "",
        f"Command: `nice -n 10 .venv/bin/python bench/bench_hardening.py --seconds {seconds:g} "
        f"--registry {registry}{factor}`. Machine: {machine()}. Run: "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"- **Nodes**: `onereg serve --config` processes for IANA, {registry} (its complete "
        f"{DATE} file) and ARIN (the transfers' recipient); `onereg rtr serve --config` for "
        f"{registry} with `{VRPS.name}`. "
        + (
            "Test timers (publish and mirror every 0.2 s)"
            if setup.fed.timers == FAST_TIMERS
            else f"The deployed timers (publish and mirror every {setup.fed.timers.mirror:g} s; "
            "a transfer step publishes at once)"
        )
        + ", quorum 1, default `[limits]`, on loopback. "
        + (
            f"Cores: {registry}'s node and its RTR server run on core "
            f"{','.join(map(str, sorted(setup.host_cpus)))} alone, as on a host of their own; "
            "the load generators, the attackers and the peer nodes IANA and ARIN share the "
            "other core (`--shared-cores` lets everything share every core)."
            if setup.host_cpus
            else "Load generators, attackers and nodes share the machine's cores."
        ),
        f"- **Legitimate load**, open loop at {setup.factor:g}x the expected public rate of one "
        f"RIR node: {r['rdap']:g} RDAP lookups/s (60 % ip, 15 % autnum, 15 % entity, 10 % "
        f"domain), {r['whois']:g} whois queries/s (one connection each), {r['rtr']:g} RTR "
        "sessions/s (Reset Query, then Serial Query on the same session), each face from its "
        "own process and from many networks (16 /24s for RDAP, 64 for whois, 32 for RTR). "
        "Expected rates: RIRs publish no per-second figures; APNIC's whois served ~16 million "
        "queries a month in 2002-03 (~6/s); assumed today "
        f"{EXPECTED['rdap']:g} RDAP/s, {EXPECTED['whois']:g} whois/s, {EXPECTED['rtr']:g} RTR "
        "sessions/s (reasoning in the docstring of `bench/bench_hardening.py`). Latency from "
        f"sending; unanswered after {setup.legit_timeout:g} s, or answered 429/5xx (whois: "
        "empty or `%ERROR:2xx`), is an error.",
        "- **Peers' work**: an unserved peer's log asks the node to cosign its new checkpoint "
        f"every second (the signed tlog-witness request; {WITNESS_TIMEOUT:g} s peer timeout); "
        f"a holder starts a transfer of a /24 to ARIN every {setup.transfer_every:g} s "
        "(none if 0), ok once ARIN has registered "
        f"it (within {setup.transfer_timeout:g} s).",
        "- **Attacks** (second run only, from 127.66.0.0/16, starting "
        f"{HEAD_START:g} s ahead): listed below with what each got (how many connections "
        "each held open at once says it ran in full force). They run "
        f"{ATTACKER_NICE} nice levels below the load generators, which share their core: on "
        "the Internet they are other hosts, and here the latency measured would otherwise be "
        "the load generator's own wait for the core.",
        "- **Memory and CPU**: of each node process, the RTR server, and the whois and worker "
        "processes of the node under test (they share its core), RSS every 0.2 s; bound "
        f"{RSS_BOUND_MB:,} MB per process (a node host with 2 GB keeps room for the OS, the RTR "
        "server and SQLite's page cache).",
        "- **Time before the app**: the node's request histogram starts when its app is "
        "called; what a request waited before (accept, reading, a busy event loop) shows in "
        "the event-loop lag row, a timer the node sets every 50 ms.",
        "- **Steady state**: the runs start once the nodes' start-up work (mirror "
        "verification, first checkpoints, maps) is done: their processes together below a "
        "tenth of a core over a second.",
        "- **Reading it**: the load generator row says whether the offered rate was reached "
        "(a p99 of seconds means the generator itself was starved of CPU: the machine, not "
        "only the node, was saturated); the load average says how shared the machine was "
        "(other jobs included).",
        "",
        f"Each run {seconds:g} s. Cells: p50 / p99 / max; answered well of sent.",
        "",
        "| face | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(phases),
    ]
    for kind, label in FACES:
        lines.append(f"| {label} | " + " | ".join(_cell(p, kind) for p in phases) + " |")
    lines.append(
        "| load generator: how late sends left, p50 / p99 / max | "
        + " | ".join(_lag(p) for p in phases)
        + " |"
    )
    lines.append(
        "| RDAP load generator alone: how late sends left | "
        + " | ".join(_lag(p, "rdap") for p in phases)
        + " |"
    )
    for core in sorted({c for p in phases for c in p.cores}):
        role = "the node under test's" if core in setup.host_cpus else "the clients' and peers'"
        lines.append(
            f"| core {core} ({role}) busy | "
            + " | ".join(f"{p.cores.get(core, 0) * 100:.0f} %" for p in phases)
            + " |"
        )
    lines.append(
        "| machine load average (1 min) at the start | "
        + " | ".join(f"{p.load_average:.1f}" for p in phases)
        + " |"
    )
    lines.append(
        "| RDAP as the node timed it (its /metrics histogram: from its app to the answer) | "
        + " | ".join(node_p99(p.node_rdap) for p in phases)
        + " |"
    )
    lines.append(
        "| the node's event-loop lag (its /metrics, a timer every 50 ms: what a request "
        "waited before the row above starts timing it) | "
        + " | ".join(lag_p99(p.node_lag) for p in phases)
        + " |"
    )
    for proc in sorted(setup.pids):
        lines.append(
            f"| CPU used by {proc}, share of one core | "
            + " | ".join(f"{p.cpu.get(proc, 0) * 100:.0f} %" for p in phases)
            + " |"
        )
    procs = sorted({k for p in phases for k in p.rss_mb})
    for proc in procs:
        lines.append(
            f"| max RSS, {proc} | "
            + " | ".join(f"{p.rss_mb.get(proc, 0):,} MB" for p in phases)
            + " |"
        )
    lines += ["", "| bound | " + " | ".join(names) + " |", "|---|" + "---|" * len(phases)]
    per_phase = [verdicts(p) for p in phases]
    for row in range(len(per_phase[0])):
        bound = per_phase[0][row][0]
        cells = [f"{v[row][1]}: {'met' if v[row][2] else '**NOT met**'}" for v in per_phase]
        lines.append(f"| {bound} | " + " | ".join(cells) + " |")
    attacked = next((p for p in phases if p.attacks), None)
    if attacked is not None:
        lines += ["", "What each attack got (load + attacks run):", ""]
        for name in setup.attacks:
            what = ATTACKS[name]
            got = attacked.attacks.get(name)
            if got is None:
                lines.append(f"- {what}: the attack process gave no result")
                continue
            counts = ", ".join(
                f"{k}: {v:,}" for k, v in sorted(got["counts"].items(), key=lambda kv: -kv[1])[:6]
            )
            held = f"; at most {got['peak']:,} held open at once" if got["peak"] else ""
            lines.append(f"- {what}: {counts or 'nothing'}{held}")
    for p in phases:
        # "why:transfer:<reason>" -> "transfer: <reason>"
        whys = Counter(
            s[0].removeprefix("why:").replace(":", ": ", 1)
            for s in p.samples
            if s[0].startswith("why:")
        )
        if whys:
            lines.append(
                f"- peers' failures, {p.name} run: "
                + ", ".join(f"{k} ({v})" for k, v in sorted(whys.items()))
            )
        for failure in p.failures:
            lines.append(f"- {p.name}: {failure}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30, help="Length of each of the two runs.")
    parser.add_argument(
        "--registry",
        default="ripencc",
        choices=["ripencc", "lacnic", "apnic", "afrinic"],
        help="The registry under test (its complete 2018-10-13 file); transfers go to ARIN "
        "(AFRINIC's policy refuses them).",
    )
    parser.add_argument(
        "--factor", type=float, default=FACTOR, help="Times the expected public query rate."
    )
    parser.add_argument(
        "--attacks",
        default=",".join(ATTACKS),
        help=f"Comma-separated subset, to see each attack's effect: {','.join(ATTACKS)}",
    )
    parser.add_argument(
        "--transfer-every",
        type=float,
        default=TRANSFER_EVERY,
        help="Seconds between transfers; 0 runs none (the load without their log writes).",
    )
    parser.add_argument(
        "--shared-cores",
        action="store_true",
        help="Let the node under test share every core with the load, the attackers and its "
        "peers (by default it has a core of its own, as on its own host).",
    )
    parser.add_argument(
        "--test-timers",
        action="store_true",
        help="Publish and mirror every 0.2 s as the tests do (by default the nodes keep the "
        "deployed defaults of node.toml's [timers]: every 5 s).",
    )
    parser.add_argument("--no-write", action="store_true", help="Print, do not touch the docs.")
    parser.add_argument(
        "--keep",
        type=Path,
        help="Build the nodes in this new folder and keep it (node logs, databases) afterwards.",
    )
    args = parser.parse_args()
    import tempfile

    if args.keep is not None:
        args.keep.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        tmp = str(args.keep or stack.enter_context(tempfile.TemporaryDirectory()))
        chosen = tuple(a for a in args.attacks.split(",") if a)
        unknown = set(chosen) - set(ATTACKS)
        if unknown:
            parser.error(f"unknown attacks {sorted(unknown)}; known: {', '.join(ATTACKS)}")
        setup, phases = run(
            args.registry,
            args.seconds,
            Path(tmp),
            factor=args.factor,
            attacks=chosen,
            transfer_every=args.transfer_every,
            host_cpus=split_cores(args.shared_cores),
            timers=FAST_TIMERS if args.test_timers else DEPLOYED_TIMERS,
        )
    body = section(args.registry, args.seconds, setup, phases)
    if args.no_write:
        print("\n".join(body))
    else:
        write_section("hardening", body)


if __name__ == "__main__":
    main()
