"""What refusing one connection over a cap costs the server, in CPU (issue 12, point 6).

Under the attacks of `bench_hardening.py`, one address opens thousands of HTTP and RTR
connections and reopens each one the node closes; every refusal is work on the core that
serves RDAP. Wall-clock latencies are noise on a shared machine, CPU time is not, so this
measures the server process's own CPU (user + system, from /proc) per refused connection, and
per admitted one-request connection (the legitimate path must not get dearer):

* HTTP: uvicorn with the node's guarded protocol (`http.connections.server_config`, default
  `[limits]`) and a one-route app, in a process of its own;
* RTR: `onereg rtr serve --vrps FILE` (500 real VRPs), as a user starts it, at nice 0;
* whois: the node's whois service (`whois.start_whois`, default `[limits]`) on a node of
  32,768 delegations, one query per connection as whois clients send them, under uvloop (as
  `onereg serve`'s whois process runs it) and under asyncio's own loop (as it ran before).

The attacker holds the per-address cap's worth of connections from 127.66.0.x, then opens
connections from the same address one after another, each read to the server's close.
The server's idle CPU over the same time is subtracted.

Run: nice -n 10 .venv/bin/python bench/bench_refusals.py [--count 3000] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from onereg.federation.node_config import Limits  # noqa: E402
from report import machine, table, write_section  # noqa: E402

VRPS = (
    ROOT.parent
    / "shared"
    / "data"
    / "rpki"
    / "vrp-exports"
    / "ripe-rrdp-snapshot-2019-roas-decoded.csv"
)
ONEREG = str(Path(sys.executable).with_name("onereg"))
RESET_QUERY = bytes([1, 2, 0, 0, 0, 0, 0, 8])

# argv: port, "gate" (as `onereg serve` runs it) or "protocol" (the caps checked inside
# uvicorn's protocol, as before the gate: the comparison row)
HTTP_SERVER = """
import dataclasses
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from onereg.federation.node_config import Limits
from onereg.http.connections import server_config

async def hello(request):
    return PlainTextResponse("ok")

app = Starlette(routes=[Route("/", hello)])
# the held connections must stay open through every round: no header timeout
limits = dataclasses.replace(Limits(), header_timeout=3600.0)
config = server_config(app, "127.0.0.1", int(sys.argv[1]), limits)
if sys.argv[2] == "protocol":
    config.http = config.http.protocol
uvicorn.Server(config).run()
"""
ROUNDS = 7  # each figure is the median of this many rounds, the servers measured in turn

# argv: node path, port, "uvloop" or "asyncio"
WHOIS_SERVER = """
import asyncio
import sys
from pathlib import Path
from onereg.core.registries import RegistryId
from onereg.federation.guard import BoundedWork
from onereg.federation.node_config import Limits
from onereg.registry.node import RegistryNode
from onereg.whois import start_whois

class NoAuthority:
    def authoritative(self, afi, number):
        return None

async def main():
    node = RegistryNode.open(RegistryId.RIPENCC, Path(sys.argv[1]))
    limits = Limits()
    work = BoundedWork(limits.query_workers, limits.query_deadline)
    await start_whois(lambda: node, NoAuthority, {}, "127.0.0.1", int(sys.argv[2]), limits,
                      work=work)
    await asyncio.Event().wait()

if sys.argv[3] == "uvloop":
    import uvloop
    uvloop.run(main())
else:
    asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, all its threads, to the nanosecond (/proc/PID/schedstat; the
    user/system split of /proc/PID/stat counts whole clock ticks, too coarse here)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def connect(port: int, source: str) -> socket.socket:
    s = socket.socket()
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_to_close(s: socket.socket) -> bytes:
    data = b""
    s.settimeout(10)
    try:
        while chunk := s.recv(65536):
            data += chunk
    except OSError:
        pass
    s.close()
    return data


@dataclass
class Probe:
    """One kind of connection to one server process, measured in rounds."""

    name: str
    pid: int
    one: Callable[[], bytes]
    expect: bytes
    per_round: int
    figures: list[float] = field(default_factory=list)

    def round(self) -> None:
        """Server CPU per connection over one round, its idle CPU subtracted."""
        idle_from, idle_t = cpu_seconds(self.pid), time.monotonic()
        time.sleep(0.3)
        idle_rate = (cpu_seconds(self.pid) - idle_from) / (time.monotonic() - idle_t)
        before, t0 = cpu_seconds(self.pid), time.monotonic()
        for _ in range(self.per_round):
            answer = self.one()
            if self.expect not in answer:
                raise RuntimeError(f"{self.name}: unexpected answer {answer[:200]!r}")
        used = cpu_seconds(self.pid) - before - idle_rate * (time.monotonic() - t0)
        self.figures.append(used / self.per_round * 1000)

    def row(self) -> tuple[str, str, str, bool | None]:
        spread = f"{min(self.figures):.3f}-{max(self.figures):.3f}"
        figure = f"{statistics.median(self.figures):.3f} ms ({spread})"
        return (self.name, figure, "", None)


def start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    wait_listening(port, proc)
    return proc


def http_probes(count: int, procs: list[subprocess.Popen[bytes]]) -> list[Probe]:
    probes = []
    for mode, what in (("gate", "at the gate"), ("protocol", "in uvicorn's protocol (before)")):
        port = free_port()
        proc = start([sys.executable, "-c", HTTP_SERVER, str(port), mode], port)
        procs.append(proc)
        held = [connect(port, "127.66.0.5") for _ in range(Limits().http_per_client)]
        procs_hold.extend(held)

        def refused(port: int = port) -> bytes:
            return read_to_close(connect(port, "127.66.0.5"))

        def admitted(port: int = port) -> bytes:
            s = connect(port, "127.66.1.5")
            s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            return read_to_close(s)

        name = f"HTTP, caps checked {what}: a connection refused over the per-address cap (503)"
        probes.append(Probe(name, proc.pid, refused, b" 503 ", count))
        name = f"HTTP, caps checked {what}: an admitted connection with one GET"
        probes.append(Probe(name, proc.pid, admitted, b" 200 ", count))
    return probes


def rtr_probes(count: int, tmp: Path, procs: list[subprocess.Popen[bytes]]) -> list[Probe]:
    vrps = tmp / "vrps.csv"
    with VRPS.open() as src:
        vrps.write_text("".join(line for _, line in zip(range(501), src, strict=False)))
    port = free_port()
    argv = [ONEREG, "rtr", "serve", "--vrps", str(vrps), "--port", str(port), "--nice", "0"]
    proc = start(argv, port)
    procs.append(proc)
    for _ in range(Limits().rtr_per_client):  # synchronised sessions: no first-PDU timeout
        held = connect(port, "127.66.0.6")
        held.sendall(RESET_QUERY)
        procs_hold.append(held)

    def refused() -> bytes:  # a router's first PDU: the refusal answers in its version
        s = connect(port, "127.66.0.6")
        s.sendall(RESET_QUERY)
        return read_to_close(s)

    def admitted() -> bytes:
        s = connect(port, "127.66.1.6")
        s.sendall(RESET_QUERY)
        s.settimeout(10)
        data = b""
        while not (len(data) >= 24 and data[-23] == 7):  # End of Data, version 1
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("the RTR server closed before End of Data")
            data += chunk
        s.close()
        return data

    return [
        Probe(
            "RTR: a session refused over the per-address cap (Reset Query sent)",
            proc.pid,
            refused,
            b"too many connections",
            count,
        ),
        Probe(
            "RTR: an admitted session, Reset Query to End of Data (500 VRPs)",
            proc.pid,
            admitted,
            b"",
            max(1, count // 3),
        ),
    ]


def whois_node(path: Path) -> None:
    """A node of 32,768 /24 delegations of one holder, for the whois probes."""
    from onereg.core.registries import RegistryId
    from onereg.registry import events as ev
    from onereg.registry.node import RegistryNode

    def record(b: int, c: int) -> ev.Item:
        start = f"2.{b}.{c}.0"
        fields = {"afi": "ipv4", "start": start, "value": 256, "cc": "NL", "date": "20100101"}
        fields |= {"status": "allocated", "holder": "H1", "opaque": "H1", "ext": []}
        return (ev.DELEGATION_ADDED, fields)

    with RegistryNode.open(RegistryId.RIPENCC, path) as node:
        node.append([(ev.HOLDER_REGISTERED, {"handle": "H1", "name": "Holder", "cc": "NL"})])
        node.append([record(b, c) for b in range(256) for c in range(0, 256, 2)], batch=True)


def whois_probes(count: int, tmp: Path, procs: list[subprocess.Popen[bytes]]) -> list[Probe]:
    path = tmp / "whois.sqlite"
    whois_node(path)
    probes = []
    for loop, what in (("uvloop", "uvloop (as served now)"), ("asyncio", "asyncio's loop")):
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", WHOIS_SERVER, str(path), str(port), loop])
        wait_listening(port, proc)
        procs.append(proc)

        def query(port: int = port) -> bytes:
            i = next(ASKED)
            s = connect(port, "127.66.3.1")
            s.sendall(f"2.{i % 256}.{i * 2 % 256}.1\r\n".encode())
            return read_to_close(s)

        name = f"whois, {what}: one query on its own connection (an inetnum answered)"
        probes.append(Probe(name, proc.pid, query, b"inetnum", count))
    return probes


ASKED = itertools.count()  # a different address in each whois query
procs_hold: list[socket.socket] = []  # the cap's worth of connections each attacker holds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=3000, help="Connections per figure.")
    parser.add_argument("--no-write", action="store_true", help="Print, do not touch the docs.")
    args = parser.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            per_round = max(1, args.count // ROUNDS)
            probes = http_probes(per_round, procs) + rtr_probes(per_round, Path(tmp), procs)
            probes += whois_probes(max(1, per_round // 3), Path(tmp), procs)
            time.sleep(0.5)
            for _ in range(ROUNDS):
                for probe in probes:
                    probe.round()
            rows = [probe.row() for probe in probes]
        finally:
            for held in procs_hold:
                held.close()
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    body = [
        "## What a refused connection costs the server (bench/bench_refusals.py)",
        "",
        f"Machine: {machine()}; load average when run: {load}. CPU time of the server process "
        "(all its threads, /proc/PID/task/*/schedstat, its idle CPU over the same time "
        "subtracted), so the figures hold on a shared machine where wall-clock latencies do "
        f"not. Median of {ROUNDS} rounds (lowest-highest), the servers measured in turn.",
        "",
        *table(rows),
        "",
        f"Command: `nice -n 10 .venv/bin/python bench/bench_refusals.py --count {args.count}`",
    ]
    if args.no_write:
        print("\n".join(body))
    else:
        write_section("refusals", body)


if __name__ == "__main__":
    main()
