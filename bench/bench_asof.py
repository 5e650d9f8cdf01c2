"""Benchmark of time travel (issue 13 point 6) on a federation built by `onereg up`.

Whole commands as a user runs them (median of `--runs` runs, wall clock of the process):
`onereg show` and `onereg audit` now and `--as-of` a moment after every entry (the worst case:
every log replayed to its end), and in process the replay a RDAP `?asOf=` or whois `--as-of`
query costs on RIPE NCC's node (records touching one address, the largest node) beside a full
replay of that node, and the CPU a node that had no record then spends to learn which registry
was authoritative (a past redirect or referral).

Run: .venv/bin/onereg up && .venv/bin/python bench/bench_asof.py [--data-dir onereg-data]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from onereg.core.registries import RegistryId
from onereg.core.resources import Resource
from onereg.federation.layout import DataDir
from onereg.http.rdap import authority_at
from onereg.registry import asof
from report import machine, table, write_section

ONEREG = str(Path(sys.executable).parent / "onereg")
ADDRESS = "193.0.0.1"


def _command(data_dir: Path, args: list[str], runs: int) -> float:
    """Median wall-clock seconds of the whole command (exit 0 or 1: audit findings)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [ONEREG, "--data-dir", str(data_dir), *args], capture_output=True, check=False
        )
        times.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):
            raise SystemExit(f"onereg {' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(times)


def _replay(data: DataDir, within: Resource | None, runs: int) -> float:
    times = []
    with data.read(RegistryId.RIPENCC) as node:
        moment = asof.entry_number(node, node.head()[0])
        for _ in range(runs):
            started = time.perf_counter()
            asof.replay(node, moment, within).close()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def _past_authority(data: DataDir, runs: int) -> float:
    """Median CPU seconds (this process: user + sys) to learn who was authoritative for one
    address at a moment, from every log replayed for it: what a node that had no record then
    (ARIN asked about RIPE NCC's 193.0.0.1) spends on a past RDAP redirect or whois referral,
    beside its own replay."""
    res = Resource.parse(ADDRESS)
    times = []
    with data.read(RegistryId.ARIN) as node:
        when = datetime.now(UTC)  # after every node's last entry: each log replayed whole
        with asof.replay(node, asof.entry_at(node, when), within=res) as then:
            for _ in range(runs):
                started = time.process_time()
                authority_at(data, {}, when, res, then, full=True)
                times.append(time.process_time() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("onereg-data"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    data = DataDir(args.data_dir)
    if not data.exists(RegistryId.RIPENCC):
        raise SystemExit(f"no federation in {args.data_dir}: run `onereg up` first")
    moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    runs = args.runs
    figures = {
        "show": _command(args.data_dir, ["show", ADDRESS], runs),
        "show_asof": _command(args.data_dir, ["show", ADDRESS, "--as-of", moment], runs),
        "audit": _command(args.data_dir, ["audit"], runs),
        "audit_asof": _command(args.data_dir, ["audit", "--as-of", moment], runs),
        "narrow": _replay(data, Resource.parse(ADDRESS), runs),
        "full": _replay(data, None, runs),
        "authority": _past_authority(data, runs),
    }
    rows: list[tuple[str, str, str, bool | None]] = [
        (f"`onereg show {ADDRESS}` (today)", f"{figures['show']:.2f} s", "-", None),
        (
            f"`onereg show {ADDRESS} --as-of T` (T after every entry)",
            f"{figures['show_asof']:.2f} s",
            "-",
            None,
        ),
        ("`onereg audit` (today, cache valid)", f"{figures['audit']:.2f} s", "-", None),
        ("`onereg audit --as-of T`", f"{figures['audit_asof']:.2f} s", "-", None),
        (
            f"replay of ripencc for one address ({ADDRESS}: RDAP `?asOf=`, whois `--as-of`)",
            f"{figures['narrow']:.2f} s",
            "< 5 s query deadline",
            figures["narrow"] < 5.0,
        ),
        ("full replay of ripencc (in memory)", f"{figures['full']:.2f} s", "-", None),
        (
            f"who was authoritative for {ADDRESS} then, at ARIN's node (a past redirect: "
            "every log replayed for it), CPU",
            f"{figures['authority']:.2f} s",
            "-",
            None,
        ),
    ]
    write_section(
        "asof",
        [
            "## Time travel (issue 13 point 6): the state at a past moment, replayed from the logs",
            "",
            "- command: `.venv/bin/onereg up && .venv/bin/python bench/bench_asof.py`",
            f"- machine: {machine()}",
            f"- run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; median of {runs} runs each, "
            "whole processes for the commands",
            "",
            *table(rows),
        ],
    )


if __name__ == "__main__":
    main()
