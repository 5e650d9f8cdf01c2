"""Shared helpers for tests that run real RTR clients (BIRD 2, rtrlib tools) against our RTR
server, on 127.0.0.1 only: the server on its own event-loop thread, child processes with collected
output, polling, and a BIRD 2 instance with an `rpki` protocol driven through `birdc` on a private
control socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from onereg.rtr.server import Limits, Timings, close_rtr, start_rtr
from onereg.rtr.state import RtrCache

T = TypeVar("T")
Vrp = tuple[int, str, int]  # (asn, prefix, maxLength)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], T | None], timeout: float = 20.0, what: str = "") -> T:
    end = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < end:
        with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
            last = check()
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}: last {last!r}")


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(
            f"not installed: {', '.join(missing)} (apt-get install rtr-tools bird2 stayrtr)"
        )


class ThreadServer:
    """Our RTR server on its own event loop thread."""

    def __init__(self, vrps: Any, refresh: int = 30) -> None:
        self.cache = RtrCache()
        self.cache.update(vrps)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        limits = Limits(notify_interval=0, per_client=64, per_network=64)  # all on loopback
        self.server = self.call(
            start_rtr(self.cache, "127.0.0.1", 0, Timings(refresh, 5, 600), limits)
        )
        self.port: int = self.server.sockets[0].getsockname()[1]

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def change(self, fn: Callable[[], object]) -> None:
        async def run() -> None:
            fn()

        self.call(run())

    def stop(self) -> None:
        self.call(close_rtr(self.server))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Proc:
    """A child process whose output is collected line by line."""

    def __init__(self, args: list[str], cwd: Path | None = None) -> None:
        self.p = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=cwd,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.reader.join(5)


# --- BIRD 2 --------------------------------------------------------------------------------------


def bird_roas(ctl: Path, table: str) -> set[Vrp]:
    """The ROA table `table` of the BIRD listening on control socket `ctl`."""
    out = subprocess.run(
        ["birdc", "-s", str(ctl), "show", "route", "table", table],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    got = set()
    for line in out.splitlines():
        parts = line.split()
        # 203.0.113.0/24-24 AS64496  [rtr1 12:00:00] * (100)
        if parts and "/" in parts[0] and "-" in parts[0] and len(parts) > 1:
            net, _, maxlen = parts[0].rpartition("-")
            got.add((int(parts[1].removeprefix("AS")), str(ipaddress.ip_network(net)), int(maxlen)))
    return got


#: BIRD's `roa_check` result (enum 35): ROA_UNKNOWN, ROA_VALID, ROA_INVALID, in RFC 6811 words.
ROA_CHECK = {"0": "not-found", "1": "valid", "2": "invalid"}


class Bird:
    """A foreground BIRD 2 whose `rpki` protocol `name` talks to an RTR server on 127.0.0.1,
    with ROA tables r4 and r6, controlled through `birdc` on a socket in `workdir`."""

    def __init__(self, workdir: Path, rtr_port: int, name: str = "rtr1") -> None:
        self.workdir = workdir
        self.name = name
        self.conf = workdir / "bird.conf"
        self.ctl = workdir / "bird.ctl"
        self.log = workdir / "bird.log"
        self.conf.write_text(
            f"""
log "{self.log}" all;
router id 192.0.2.1;
roa4 table r4;
roa6 table r6;
protocol rpki {name} {{
        roa4 {{ table r4; }};
        roa6 {{ table r6; }};
        remote 127.0.0.1 port {rtr_port};
        retry keep 5; refresh keep 30; expire keep 600;
}}
"""
        )
        self.proc: Proc | None = None

    def start(self) -> Bird:
        check = subprocess.run(["bird", "-p", "-c", str(self.conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        pid = self.workdir / "bird.pid"
        self.proc = Proc(["bird", "-f", "-c", str(self.conf), "-s", str(self.ctl), "-P", str(pid)])
        try:
            wait_for(lambda: self.ctl.exists(), what="bird control socket")
        except BaseException:
            self.stop()
            raise
        return self

    def birdc(self, *command: str) -> str:
        out = subprocess.run(
            ["birdc", "-s", str(self.ctl), *command], capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def roas(self) -> set[Vrp]:
        return bird_roas(self.ctl, "r4") | bird_roas(self.ctl, "r6")

    def status(self) -> dict[str, str]:
        """`show protocols all <name>` as {"Status": "Established", "Serial number": "3", ...}."""
        out: dict[str, str] = {}
        for line in self.birdc("show", "protocols", "all", self.name).splitlines():
            key, sep, value = line.partition(":")
            if sep and line.startswith("  ") and not line.startswith("    "):
                out.setdefault(key.strip(), value.strip())
        return out

    def serial(self) -> int | None:
        value = self.status().get("Serial number", "---")
        return int(value) if value.isdigit() else None

    def roa_check(self, prefix: str, asn: int) -> str:
        """BIRD's origin validation of a route: "valid", "invalid" or "not-found"."""
        table = "r6" if ":" in prefix else "r4"
        out = self.birdc(f"eval roa_check({table}, {prefix}, {asn})")
        value = out.strip().splitlines()[-1].removeprefix("(enum 35)").strip()
        if value not in ROA_CHECK:
            raise AssertionError(f"roa_check({table}, {prefix}, {asn}): {out!r}")
        return ROA_CHECK[value]

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["birdc", "-s", str(self.ctl), "down"], capture_output=True, timeout=10)
        self.proc.stop()
        self.proc = None

    def __enter__(self) -> Bird:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
