"""A node's whois service (port 43) in a process of its own, started and stopped by `onereg serve`.

Why a process: a whois answer is built by Python code (the search, the RPSL text) in worker
threads. In the node's own process those threads held the GIL against RDAP, the peers' witness
and transfer requests and the node's publishing: at 200 whois queries a second, RDAP's p99 went
from about 10 ms to over 200 ms while the node's core was less than half busy
(bench/bench_hardening.py). In its own process whois competes only for the CPU, which the
operating system shares out in fine slices, and not for the GIL.

What it opens is the node's own: its database read-only, its view (its database beside its
verified mirrors of the peers) for the authority map that names the authoritative registry,
and the mirrors' status file for the stale-peer notes in every answer's header. It writes
nothing. `onereg serve` binds the listening socket and hands it over, so the port is open from
the moment the node starts (connections wait in the backlog until this process is ready) and a
port in use is the node's error. The process ends with SIGTERM (whois keeps no state worth a
graceful stop) and by itself when the node's process is gone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from onereg.core.registries import RegistryId
from onereg.federation.config import read_federation
from onereg.federation.guard import BoundedWork, exit_with_parent
from onereg.federation.mirror import load_status, stale_notes
from onereg.federation.node_config import NodeConfig, host_port, load_config
from onereg.http.rdap import live_authority
from onereg.registry.node import RegistryNode
from onereg.whois import start_whois

Observe = Callable[[str, float, int], None]  # (face, seconds, status), as NodeMetrics.observe
WHOIS_NICE = 5  # CPU priority below the node's (added to its nice value)
REPORT_SECONDS = 0.5  # how often the queries' reports go to the node's metrics
STALE_NOTES_SECONDS = 1.0  # how long the mirrors' status, read from its file, is reused
BIND_WAIT_SECONDS = 5.0  # how long a port still held by the last run's whois is waited for


def listen(config: NodeConfig, wait: float = BIND_WAIT_SECONDS) -> socket.socket:
    """The node's whois socket, bound and listening (made by the node's process).

    A port in use is retried for `wait` seconds: the whois process of the node's previous
    run (killed outright) may still hold it for a moment before it notices and ends."""
    host, port = host_port(config.whois, "whois")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + wait
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(1024)
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise OSError(exc.errno, f"whois on {host}:{port}: {exc.strerror}") from None
            time.sleep(0.1)


def start(config: NodeConfig, sock: socket.socket, observe: Observe) -> subprocess.Popen[bytes]:
    """This module's process for the node of `config`, serving on `sock` (the caller keeps
    its copy only to close it). Each query's status and time come back over a pipe and are
    handed to `observe` (the node's metrics) in a thread of the caller's."""
    fd = sock.fileno()
    reports, report_fd = os.pipe()
    argv = [sys.executable, "-m", "onereg.cli.whoisd"]
    argv += ["--config", str(config.node_dir.config_path), "--fd", str(fd)]
    argv += ["--parent", str(os.getpid()), "--report-fd", str(report_fd)]
    try:
        proc = subprocess.Popen(argv, pass_fds=(fd, report_fd))
    finally:
        os.close(report_fd)
    relay = threading.Thread(target=_relay, args=(reports, observe), name="whois-metrics")
    relay.daemon = True
    relay.start()
    return proc


def _relay(reports: int, observe: Observe) -> None:
    """Hand each report line ("status seconds") to `observe`, until the process ends."""
    with open(reports, "rb", buffering=65536) as pipe:
        for line in pipe:
            status, _, seconds = line.partition(b" ")
            with contextlib.suppress(ValueError):
                observe("whois", float(seconds), int(status))


class Reporter:
    """`observe` for the whois service: each query's status and time, sent to the node in
    batches (one write every `REPORT_SECONDS`). A line per query woke the node's reading
    thread 200 times a second under load, and each wake took the GIL from the thread serving
    RDAP. Never blocks: if the node does not keep up, what does not fit in the pipe is
    dropped."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self.pending: list[str] = []

    def __call__(self, face: str, seconds: float, status: int) -> None:
        self.pending.append(f"{status} {seconds:.6f}\n")

    async def forever(self) -> None:
        while True:
            await asyncio.sleep(REPORT_SECONDS)
            self.flush()

    def flush(self) -> None:
        if self.pending:
            batch, self.pending = "".join(self.pending).encode(), []
            with contextlib.suppress(BlockingIOError, BrokenPipeError):
                os.write(self.fd, batch)


def _stale_notes(config: NodeConfig) -> Callable[[], list[str]]:
    """The stale-peer notes, from the status file the node's mirror task writes."""
    cached: tuple[float, list[str]] = (float("-inf"), [])

    def notes() -> list[str]:
        nonlocal cached
        now = time.monotonic()
        if now - cached[0] > STALE_NOTES_SECONDS:
            status = load_status(config.node_dir.mirrors)
            cached = (now, stale_notes(status, time.time(), config.timers.stale_after))
        return cached[1]

    return notes


def _rdap_base(url: str | None) -> str | None:
    """The node's public RDAP, as the federation file names its URL (ARIN's `Ref:` lines)."""
    return None if url is None else url.rstrip("/") + "/rdap"


async def serve(config: NodeConfig, sock: socket.socket, observe: Reporter | None) -> None:
    federation = read_federation(config.federation_file)
    nd = config.node_dir
    urls = {RegistryId(n.registry): n.url for n in federation.nodes}
    hosts = {RegistryId(n.registry): n.whois for n in federation.nodes if n.whois}
    node = RegistryNode.open_readonly(config.registry, nd.db_path)
    limits = config.limits
    work = BoundedWork(limits.query_workers, limits.query_deadline)
    try:
        server = await start_whois(
            lambda: node,
            live_authority(nd.view(), urls),
            hosts,
            limits=limits,
            stale=_stale_notes(config),
            observe=observe,
            work=work,
            sock=sock,
            rdap_base=_rdap_base(urls.get(config.registry)),
        )
        reporting = None if observe is None else asyncio.create_task(observe.forever())
        async with server:
            await server.serve_forever()
        if reporting is not None:
            reporting.cancel()
    finally:
        work.close()
        node.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m onereg.cli.whoisd", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="the node's node.toml")
    parser.add_argument("--fd", type=int, required=True, help="the listening socket, inherited")
    parser.add_argument("--parent", type=int, required=True, help="the node's process ID")
    parser.add_argument("--report-fd", type=int, help="a pipe for each query's status and time")
    args = parser.parse_args(argv)
    sys.setswitchinterval(0.001)  # as in the node: quick answers stay quick beside a search
    # below the node's own process, which also serves the peers' witness and transfer
    # requests: on a busy host, the operating system lets those go first
    os.nice(WHOIS_NICE)
    # given, not read here: the node may already be gone (killed while this process started)
    exit_with_parent(args.parent, every=0.1)  # and the port is soon free for its next run
    sock = socket.socket(fileno=args.fd)
    with contextlib.suppress(KeyboardInterrupt):
        observe = None if args.report_fd is None else Reporter(args.report_fd)
        # uvloop, as the node's HTTP and RTR servers: each query's connection costs this
        # process (on the node's core) about 0.8 ms of CPU where asyncio's loop took 1.15 ms
        import uvloop  # here: `onereg serve` imports this module only for `listen` and `start`

        uvloop.run(serve(load_config(args.config), sock, observe))


if __name__ == "__main__":
    main()
