"""Benchmark (issue 7): a registry change until a connected router has it, end to end.

A RIPE NCC node whose CA has issued ROAS ROAs (one holder CA), published; `onereg rtr serve
--tal ... --repo MIRROR --poll 0.2` (our validator feeding the RTR cache, no file in between);
a router (our own minimal client) synchronised and waiting. Then one ROA is added at the
registry (issue + publish, in this process) and the clock runs until the router has received
Serial Notify, sent Serial Query and read the delta's End of Data. Repeated REPEAT times.

Run: .venv/bin/python bench/bench_rtr_registry.py [--roas 300] [--repeat 5]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from localfed import ONEREG, LocalFederation
from onereg.core.registries import RegistryId
from onereg.rpki.ca import RegistryCa, RepositoryUris
from onereg.rpki.keypool import KeyPool
from onereg.rpki.objects import RoaPrefix
from onereg.rpki.publish import Publisher, publish_cas
from onereg.rtr.pdu import EndOfData, SerialNotify, SerialQuery, decode
from report import machine, table, write_section
from rpkijudges import free_port
from test_cli_rtr import _read_until_end, _reset_query

RSYNC, RRDP = "rsync://127.0.0.1:8873/", "https://127.0.0.1:8443/rrdp/"


def _issue(fed: LocalFederation, pool: KeyPool, prefixes: list[str]) -> None:
    uris = RepositoryUris(RSYNC, RRDP + "notification.xml")
    with fed.data.open(RegistryId.RIPENCC, create=False) as node:
        ca = RegistryCa.open(node, fed.root / "rpki/ca/ripencc", uris, keys=pool)
        try:
            if "R1" not in ca.enrolled():
                ca.enroll("R1")
            for prefix in prefixes:
                ca.add_roa("R1", 64500, [RoaPrefix.parse(prefix)])
            publish_cas(Publisher(fed.root / "rpki/pub", RSYNC, RRDP), [ca], only_these=True)
        finally:
            ca.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roas", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, KeyPool(target=32, workers=1) as pool:
        fed = LocalFederation(Path(tmp) / "data", {"ripencc": [("ipv4", "10.0.0.0", 2**24, "R1")]})
        print(f"issuing {args.roas} ROAs ...", flush=True)
        _issue(fed, pool, [f"10.{n // 256}.{n % 256}.0/24" for n in range(args.roas)])
        mirror = Path(tmp) / "mirror"
        mirror.mkdir()
        (mirror / "127.0.0.1:8873").symlink_to(fed.root / "rpki/pub/rsync")
        port = free_port()
        tal = fed.root / "rpki/pub/tals/ripencc.tal"
        server = subprocess.Popen(
            [
                ONEREG,
                "rtr",
                "serve",
                "--tal",
                str(tal),
                "--repo",
                str(mirror),
                "--port",
                str(port),
                "--poll",
                "0.2",
                "--notify-interval",
                "0.5",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        latencies, issue_times = [], []
        try:
            end = _reset_query(port)[-1]
            assert isinstance(end, EndOfData)
            with socket.create_connection(("127.0.0.1", port), timeout=120) as conn:
                serial = end.serial
                conn.sendall(SerialQuery(1, end.session_id, serial).encode())
                _read_until_end(conn)  # synchronised: from now on it is told of changes
                for n in range(args.repeat):
                    started = time.perf_counter()
                    _issue(fed, pool, [f"10.255.{n}.0/24"])
                    issued = time.perf_counter()
                    notify, _ = decode(conn.recv(12))
                    assert isinstance(notify, SerialNotify)
                    conn.sendall(SerialQuery(1, end.session_id, serial).encode())
                    last = _read_until_end(conn)[-1]
                    assert isinstance(last, EndOfData)
                    serial = last.serial
                    latencies.append(time.perf_counter() - started)
                    issue_times.append(issued - started)
        finally:
            server.terminate()
            server.wait(10)
    p50 = statistics.median(latencies)
    rows = [
        ("ROAs in the repository", f"{args.roas + args.repeat:,}", "-", None),
        (
            "a ROA added at the registry until a connected router has the delta (median)",
            f"{p50:.2f} s (max {max(latencies):.2f} s)",
            "<= 1 s",
            p50 <= 1.0,
        ),
        (
            "of which issuing + publishing at the registry",
            f"{statistics.median(issue_times):.2f} s",
            "-",
            None,
        ),
    ]
    write_section(
        "rtr-registry",
        [
            "## From a registry change to the router (issue 7)",
            "",
            f"Command: `.venv/bin/python bench/bench_rtr_registry.py --roas {args.roas} "
            f"--repeat {args.repeat}`. Machine: {machine()}.",
            "",
            "`onereg rtr serve --tal ... --repo ... --poll 0.2 --notify-interval 0.5`: "
            "the RTR cache is fed by our validator directly and re-validates when the "
            "published tree changes; the router is our minimal client, already "
            "synchronised. Time runs from the start of the ROA's issuance at the registry "
            "until the router has read the delta's End of Data (issuance, publication, the "
            "poll, a full re-validation, the diff, Serial Notify, Serial Query, the delta).",
            "",
            *table(rows),
        ],
    )


if __name__ == "__main__":
    main()
