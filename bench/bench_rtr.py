"""Benchmark of the RTR server (RFC 8210) beside StayRTR, both fed the same 10^6 VRPs.

Issue 7 targets (StayRTR measured here earlier: ~6.5 s, ~124 s, 8-10 s, ~750 MiB):
  * full-set delivery of 10^6 VRPs to 1 client <= 3 s, and to 50 concurrent clients <= 60 s;
  * incremental update latency (a change until a connected client has it) <= 1 s;
  * server memory <= 500 MiB.

Everything runs in one go: a deterministic VRP set (80 % IPv4 /24s with maxLength 24..26, 20 %
IPv6 /48s, AS numbers by integer hashing) is written as rpki-client JSON; our server
(`serve_rtr`, uvloop, a separate process) and StayRTR (`-cache FILE`) load the same file. The
client is our own, in a separate process: per connection it sends a version-1 Reset Query and
reads PDUs until End of Data, skipping runs of Prefix PDUs with numpy so that the client is not
what is measured. The update is one ROA added and one withdrawn:
  * ours, "in process": the validator hands a new full set (numpy columns, as `read_vrps` and
    our validator's output give) to `RtrCache.update`, which diffs 10^6 VRPs, bumps the serial and
    sends Serial Notify; the watching client then sends Serial Query and gets only the delta;
  * ours, "file": the JSON file is replaced; the server polls it (0.2 s), re-reads and diffs it;
  * StayRTR: the JSON file is replaced; StayRTR polls it (`-refresh 1`).
Latency is from the change to the watching client's End of Data for the delta. Memory is the
server's RSS after the deliveries (VmRSS) and its peak (VmHWM).

Run: .venv/bin/python bench/bench_rtr.py [--vrps 1000000] [--clients 50] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
PY = sys.executable

TARGET_ONE_S = 3.0
TARGET_MANY_S = 60.0
TARGET_DELTA_S = 1.0
TARGET_MIB = 500.0
DELTA_DEADLINE = 45.0
STAY_MANY_DEADLINE = 75.0  # keeps the whole run near 5 minutes
STAYRTR_ONE_S, STAYRTR_MANY_S, STAYRTR_DELTA_S, STAYRTR_MIB = 6.5, 124.0, "8-10", 750


# --- data -----------------------------------------------------------


def _mix(i: int) -> int:
    return ((i + 0x9E3779B9) * 2654435761) & 0xFFFFFFFF


def roa_lines(n: int) -> list[str]:
    n4 = n * 4 // 5
    out = []
    for i in range(n4):
        addr = (1 << 24) + (i << 8)
        a = f"{addr >> 24}.{(addr >> 16) & 255}.{(addr >> 8) & 255}.0/24"
        out.append(
            f'{{"asn":{_mix(i) % 400000 + 1},"prefix":"{a}","maxLength":{24 + i % 3},'
            f'"ta":"bench","expires":4102444800}}'
        )
    for j in range(n - n4):
        hi = 0x2A00_0000_0000 + j
        groups = [(hi >> 32) & 0xFFFF, (hi >> 16) & 0xFFFF, hi & 0xFFFF]
        p = ":".join(f"{g:x}" for g in groups) + "::/48"
        out.append(
            f'{{"asn":{_mix(j + n) % 400000 + 1},"prefix":"{p}","maxLength":48,'
            f'"ta":"bench","expires":4102444800}}'
        )
    return out


def write_json(path: Path, lines: list[str]) -> None:
    meta = {"buildtime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "vrps": len(lines)}
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        fh.write('{"metadata":' + json.dumps(meta) + ',"roas":[\n')
        fh.write(",\n".join(lines))
        fh.write("\n]}\n")
    os.replace(tmp, path)


ADDED = '{"asn":64511,"prefix":"203.0.113.0/24","maxLength":24,"ta":"bench","expires":4102444800}'


def changed(lines: list[str]) -> list[str]:
    """One ROA added (203.0.113.0/24 AS64511) and one withdrawn (the first)."""
    return [*lines[1:], ADDED]


# --- client -----------------------------------------------------------


class Scanner:
    """Reads an RTR byte stream; counts Prefix PDUs, notes End of Data / Serial Notify."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.prefixes = 0
        self.eod: tuple[int, int] | None = None  # (session, serial)
        self.session = 0
        self.notified = False
        self.error: str | None = None

    def _runs(self, pos: int, kind: int, width: int) -> int:
        arr = np.frombuffer(self.buf, dtype=np.uint8)
        k = (len(arr) - pos) // width
        types = arr[pos + 1 : pos + 1 + k * width : width]
        bad = np.flatnonzero(types != kind)
        run = int(bad[0]) if len(bad) else k
        del types, arr
        return run

    def feed(self, data: bytes) -> None:
        self.buf += data
        b = self.buf
        pos = 0
        n = len(b)
        while pos + 8 <= n:
            kind = b[pos + 1]
            if kind in (4, 6):
                width = 20 if kind == 4 else 32
                run = self._runs(pos, kind, width)
                if run == 0:
                    break
                self.prefixes += run
                pos += run * width
                continue
            length = int.from_bytes(b[pos + 4 : pos + 8], "big")
            if pos + length > n:
                break
            if kind == 7:
                self.eod = (
                    int.from_bytes(b[pos + 2 : pos + 4], "big"),
                    int.from_bytes(b[pos + 8 : pos + 12], "big"),
                )
            elif kind == 3:
                self.session = int.from_bytes(b[pos + 2 : pos + 4], "big")
            elif kind == 0:
                self.notified = True
            elif kind in (8, 10):
                self.error = f"PDU type {kind}"
            pos += length
        del b[:pos]


class _Proto(asyncio.Protocol):
    def __init__(self) -> None:
        self.scan = Scanner()
        self.changed = asyncio.Event()
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        self.scan.feed(data)
        self.changed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.scan.error = self.scan.error or "connection lost"
        self.changed.set()

    async def wait(self, pred: Any) -> None:
        while not pred() and self.scan.error is None:
            self.changed.clear()
            await self.changed.wait()


RESET_QUERY = bytes([1, 2, 0, 0, 0, 0, 0, 8])


async def _full(port: int, count: int, deadline: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()

    async def one() -> tuple[float, int]:
        _, proto = await loop.create_connection(_Proto, "127.0.0.1", port)
        proto.transport.write(RESET_QUERY)
        await proto.wait(lambda: proto.scan.eod is not None)
        took = time.perf_counter() - start
        proto.transport.close()
        if proto.scan.error:
            raise RuntimeError(proto.scan.error)
        return took, proto.scan.prefixes

    tasks = [asyncio.ensure_future(one()) for _ in range(count)]
    done, pending = await asyncio.wait(tasks, timeout=deadline)
    for t in pending:
        t.cancel()
    results = [t.result() for t in done if not t.exception()]
    return {
        "elapsed": max((t for t, _ in results), default=None) if not pending else None,
        "finished": len(results),
        "prefixes": [p for _, p in results],
    }


async def _watch(port: int, deltas: int) -> None:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(_Proto, "127.0.0.1", port)
    assert proto.transport is not None
    proto.transport.write(RESET_QUERY)
    await proto.wait(lambda: proto.scan.eod is not None)
    print(f"SYNCED {proto.scan.prefixes}", flush=True)
    for _ in range(deltas):
        assert proto.scan.eod is not None
        session, serial = proto.scan.eod
        proto.scan.eod = None
        proto.scan.notified = False
        await proto.wait(lambda: proto.scan.notified)
        proto.scan.prefixes = 0
        proto.transport.write(
            bytes([1, 1])
            + session.to_bytes(2, "big")
            + (12).to_bytes(4, "big")
            + serial.to_bytes(4, "big")
        )
        await proto.wait(lambda: proto.scan.eod is not None)
        print(f"DELTA {time.time():.6f} {proto.scan.prefixes}", flush=True)
    proto.transport.close()


def client_main(argv: list[str]) -> None:
    import uvloop

    mode, port = argv[0], int(argv[1])
    if mode == "full":
        print(json.dumps(uvloop.run(_full(port, int(argv[2]), float(argv[3])))), flush=True)
    else:
        uvloop.run(_watch(port, int(argv[2])))


# --- our server (child process) -----------------------------------------------------------


def server_main(argv: list[str]) -> None:
    import threading

    from onereg.rtr.server import Limits, Timings, serve_rtr
    from onereg.rtr.state import RtrCache
    from onereg.rtr.vrps import load_vrps

    path, port, next_path = Path(argv[0]), int(argv[1]), Path(argv[2])
    next_set = load_vrps(next_path)  # the validator's next output, already in memory

    async def ready(server: asyncio.Server, cache: RtrCache) -> None:
        loop = asyncio.get_running_loop()

        def commands() -> None:
            for line in sys.stdin:
                if line.strip() == "update":
                    loop.call_soon_threadsafe(cache.update, next_set)

        threading.Thread(target=commands, daemon=True).start()
        print("READY", flush=True)

    import uvloop

    uvloop.run(
        serve_rtr(
            path,
            "127.0.0.1",
            port,
            Timings(),
            Limits(notify_interval=1.0, per_client=1000, per_network=1000),  # one client host
            poll_interval=0.2,
            ready=ready,
        )
    )


# --- driver -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any], timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} not listening")


def mem(pid: int) -> tuple[float, float]:
    rss = hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return rss, hwm


def run_full(port: int, count: int, deadline: float) -> dict[str, Any]:
    out = subprocess.run(
        [PY, __file__, "--client", "full", str(port), str(count), str(deadline)],
        capture_output=True,
        text=True,
        timeout=deadline + 30,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(
    name: str,
    port: int,
    proc: subprocess.Popen[Any],
    n: int,
    clients: int,
    triggers: list[tuple[str, Any]],
    many_timeout: float,
) -> dict[str, Any]:
    res: dict[str, Any] = {"name": name}
    one = run_full(port, 1, 120)
    res["one"] = one["elapsed"]
    res["one_ok"] = one["prefixes"] == [n]
    watch = subprocess.Popen(
        [PY, __file__, "--client", "watch", str(port), str(len(triggers))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert watch.stdout is not None
    line = watch.stdout.readline()
    res["watch_synced"] = line.strip()
    res["deltas"] = []
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in watch.stdout or []], daemon=True).start()
    for label, trigger in triggers:
        time.sleep(1.5)
        t0 = time.time()
        trigger()
        try:
            got = lines.get(timeout=DELTA_DEADLINE).split()
        except queue.Empty:
            got = []
        if not got:
            res["deltas"].append((label, None, 0))
            break
        res["deltas"].append((label, float(got[1]) - t0, int(got[2])))
    if watch.poll() is None:
        watch.kill()
    watch.wait()
    # the 50-client run last: an overloaded server must not skew the update latency
    many = run_full(port, clients, many_timeout)
    res["many"] = many["elapsed"]
    res["many_finished"] = many["finished"]
    res["many_ok"] = many["prefixes"] == [n] * clients
    res["rss"], res["hwm"] = mem(proc.pid)
    return res


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vrps", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--skip-stayrtr", action="store_true")
    args = ap.parse_args()
    n = args.vrps
    work = Path(tempfile.mkdtemp(prefix="bench-rtr-"))
    procs: list[subprocess.Popen[Any]] = []
    try:
        t = time.perf_counter()
        base = roa_lines(n)
        after = changed(base)
        ours_json, next_json, stay_json = work / "ours.json", work / "next.json", work / "stay.json"
        write_json(ours_json, base)
        write_json(next_json, after)
        shutil.copy(ours_json, stay_json)
        gen_s = time.perf_counter() - t
        print(f"generated {n} VRPs in {gen_s:.1f} s", flush=True)

        # ours
        port = free_port()
        t = time.perf_counter()
        ours = subprocess.Popen(
            [PY, __file__, "--server", str(ours_json), str(port), str(next_json)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(ours)
        assert ours.stdout is not None and ours.stdin is not None
        if ours.stdout.readline().strip() != "READY":
            raise RuntimeError("our server did not start")
        load_ours = time.perf_counter() - t
        stdin = ours.stdin

        def in_process() -> None:
            stdin.write("update\n")
            stdin.flush()

        def file_back() -> None:
            write_json(ours_json, base)  # the withdrawn ROA back, the added one gone

        r_ours = measure(
            "ours",
            port,
            ours,
            n,
            args.clients,
            [("in process", in_process), ("file", file_back)],
            300,
        )
        r_ours["load"] = load_ours
        stop(ours)
        print(r_ours, flush=True)

        r_stay: dict[str, Any] | None = None
        if not args.skip_stayrtr and shutil.which("stayrtr"):
            port = free_port()
            t = time.perf_counter()
            stay = subprocess.Popen(
                [
                    "stayrtr",
                    "-bind",
                    f"127.0.0.1:{port}",
                    "-metrics.addr",
                    f"127.0.0.1:{free_port()}",
                    "-cache",
                    str(stay_json),
                    "-refresh",
                    "1",
                    "-checktime=false",
                    "-loglevel",
                    "error",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append(stay)
            wait_port(port, stay, 120)
            # StayRTR answers before its first load; wait until a client gets the whole set
            end = time.monotonic() + 120
            while time.monotonic() < end:
                with contextlib.suppress(subprocess.CalledProcessError):
                    if run_full(port, 1, 60)["prefixes"] == [n]:
                        break
                time.sleep(0.5)
            load_stay = time.perf_counter() - t
            r_stay = measure(
                "stayrtr",
                port,
                stay,
                n,
                args.clients,
                [("file", lambda: write_json(stay_json, after))],
                STAY_MANY_DEADLINE,
            )
            r_stay["load"] = load_stay
            stop(stay)
            print(r_stay, flush=True)
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(work, ignore_errors=True)

    def fmt(v: float | None) -> str:
        return "timed out" if v is None else f"{v:.2f} s"

    def fmt_many(r: dict[str, Any], deadline: float) -> str:
        if r["many"] is not None:
            return f"{r['many']:.2f} s"
        return f"> {deadline:.0f} s ({r['many_finished']} of {args.clients} done by then)"

    d_ours = {label: (lat, cnt) for label, lat, cnt in r_ours["deltas"]}
    d_stay = {label: (lat, cnt) for label, lat, cnt in (r_stay or {"deltas": []})["deltas"]}
    lat_in = d_ours.get("in process", (None, 0))
    lat_file = d_ours.get("file", (None, 0))
    lat_stay = d_stay.get("file", (None, 0))
    rows: list[tuple[str, str, str, bool | None]] = [
        (
            f"full set ({n:,} VRPs) to 1 client: ours",
            fmt(r_ours["one"]),
            f"<= {TARGET_ONE_S:.0f} s",
            r_ours["one_ok"] and r_ours["one"] <= TARGET_ONE_S,
        ),
        (
            f"full set to {args.clients} concurrent clients: ours",
            fmt_many(r_ours, 300),
            f"<= {TARGET_MANY_S:.0f} s",
            r_ours["many_ok"] and r_ours["many"] is not None and r_ours["many"] <= TARGET_MANY_S,
        ),
        (
            "incremental update (1 added, 1 withdrawn) to a connected client: ours, in process",
            fmt(lat_in[0]) + f" ({lat_in[1]} PDUs)",
            f"<= {TARGET_DELTA_S:.0f} s",
            lat_in[0] is not None and lat_in[0] <= TARGET_DELTA_S and lat_in[1] == 2,
        ),
        (
            "incremental update: ours, JSON file replaced (poll 0.2 s, re-read, diff)",
            fmt(lat_file[0]) + f" ({lat_file[1]} PDUs)",
            "",
            None,
        ),
        (
            "server memory: ours, RSS after the runs / peak",
            f"{r_ours['rss']:.0f} / {r_ours['hwm']:.0f} MiB",
            f"<= {TARGET_MIB:.0f} MiB",
            r_ours["hwm"] <= TARGET_MIB,
        ),
        ("start-up (read JSON, prepare buffers): ours", fmt(r_ours["load"]), "", None),
    ]
    if r_stay is not None:
        rows += [
            (
                "full set to 1 client: StayRTR",
                fmt(r_stay["one"]),
                f"(earlier {STAYRTR_ONE_S} s)",
                None,
            ),
            (
                f"full set to {args.clients} concurrent clients: StayRTR",
                fmt_many(r_stay, STAY_MANY_DEADLINE),
                f"(earlier {STAYRTR_MANY_S:.0f} s)",
                None,
            ),
            (
                "incremental update: StayRTR, JSON file replaced (-refresh 1)",
                fmt(lat_stay[0]) + f" ({lat_stay[1]} PDUs)",
                f"(earlier {STAYRTR_DELTA_S} s)",
                None,
            ),
            (
                "server memory: StayRTR, RSS after the runs / peak",
                f"{r_stay['rss']:.0f} / {r_stay['hwm']:.0f} MiB",
                f"(earlier ~{STAYRTR_MIB} MiB)",
                None,
            ),
            ("start-up until the full set is served: StayRTR", fmt(r_stay["load"]), "", None),
        ]
    from report import machine, table, write_section

    body = [
        "## RTR server (RFC 8210) beside StayRTR",
        "",
        f"Machine: {machine()}. StayRTR: Debian package `stayrtr`.",
        "",
        "Command: `.venv/bin/python bench/bench_rtr.py`",
        "",
        *table(rows),
        "",
        f"Both servers load the same rpki-client JSON ({n:,} deterministic VRPs, 80 % IPv4, "
        "20 % IPv6). The clients (one process, our own, version 1, reading until End of Data; "
        "see the docstring) and the servers share the machine's cores. Latency is from the "
        "change to the End of Data of the delta at a client that was already synchronised "
        "(Serial Notify, Serial Query, delta). Our server ran with a 1 s Serial Notify rate "
        "limit (the default is RFC 8210's one per minute). 'Peak' is VmHWM, which includes "
        "reading the 10^6-entry JSON at start-up.",
    ]
    if args.no_write:
        print("\n".join(body))
    else:
        write_section("rtr", body)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "--server":
        server_main(sys.argv[2:])
    else:
        sys.exit(main())
