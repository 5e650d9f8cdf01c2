"""Benchmark of the foundation on the complete 2018-10-13 set of all five RIRs.

Measures what issue 2 sets targets for, in one run on this machine, and writes the table to
docs/benchmarks.md:
  * full import (IANA registries + five delegated files, `jobs` processes),
  * audit (loading the nodes, then the checks),
  * lookup latency in process (`RegistryNode.overlapping` on random held addresses),
  * peak memory (largest resident set of this process and of the import workers),
  * replay of the log (`onereg node rebuild`) for the largest node.

Run: .venv/bin/python bench/bench_foundation.py  [--jobs 2] [--lookups 20000]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from onereg.audit.checks import run_audit
from onereg.audit.view import load_view
from onereg.cli.settings import find_shared_data
from onereg.core.registries import RIRS, RegistryId
from onereg.core.resources import Afi, Resource
from onereg.federation.authority import ErxIndex
from onereg.federation.bootstrap import SourceSet, build
from onereg.federation.layout import DataDir
from onereg.registry.sources.nro_lists import parse_erx_transfers
from report import machine, table, write_section

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"import": 10.0, "audit": 1.0, "lookup_p50_us": 100.0, "peak_mb": 1536.0}


def _peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def _lookups(data: DataDir, count: int) -> list[float]:
    rng = random.Random(2018)
    samples: list[float] = []
    nodes = {rid: data.open(rid, create=False) for rid in RIRS}
    try:
        targets = []
        for rid, node in nodes.items():
            for d in node.delegations(Afi.IPV4):
                targets.append((rid, d.resource.start))
        picks = rng.sample(targets, min(count, len(targets)))
        for rid, addr in picks:
            res = Resource(Afi.IPV4, addr, addr)
            started = time.perf_counter_ns()
            found = nodes[rid].overlapping(res)
            samples.append((time.perf_counter_ns() - started) / 1000)
            assert found, addr
    finally:
        for node in nodes.values():
            node.close()
    return samples


def _rebuild_seconds(data: DataDir, registry: RegistryId) -> tuple[float, bool]:
    with data.open(registry, create=False) as node:
        before = node.state_digest()
        started = time.perf_counter()
        node.rebuild()
        seconds = time.perf_counter() - started
        return seconds, node.state_digest() == before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--lookups", type=int, default=20000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    shared = find_shared_data()
    if shared is None:
        sys.exit("no ../shared/data")
    erx_file = shared / "transfers" / "RIPE-NCC-nro-stats" / "erx-xfr.txt"
    sources = SourceSet(shared / "delegated" / "2018-10-13", shared / "iana", erx_file)
    with tempfile.TemporaryDirectory() as tmp:
        data = DataDir(Path(tmp))
        print("importing the 2018-10-13 set ...", flush=True)
        started = time.perf_counter()
        outcomes = build(data, sources, args.jobs)
        import_s = time.perf_counter() - started
        records = sum(o.records for o in outcomes if o.registry is not RegistryId.IANA)
        print(f"  {records:,} records in {import_s:.2f} s", flush=True)
        erx = ErxIndex(parse_erx_transfers(erx_file))
        started = time.perf_counter()
        load_view(data)  # cold: reads SQLite, writes the per-node cache
        cold_s = time.perf_counter() - started
        started = time.perf_counter()
        view = load_view(data)  # warm: nodes unchanged since, cache valid
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        report = run_audit(view, erx)
        check_s = time.perf_counter() - started
        print(
            f"  audit: cold load {cold_s:.2f} s, warm load {load_s:.2f} s, checks {check_s:.2f} s",
            flush=True,
        )
        samples = _lookups(data, args.lookups)
        p50 = statistics.median(samples)
        p99 = statistics.quantiles(samples, n=100)[98]
        print(f"  lookup p50 {p50:.1f} us, p99 {p99:.1f} us", flush=True)
        rebuild_s, identical = _rebuild_seconds(data, RegistryId.RIPENCC)
        print(f"  rebuild ripencc {rebuild_s:.2f} s (identical: {identical})", flush=True)
        db_mb = sum(p.stat().st_size for p in (data.root / "nodes").glob("*")) / 2**20
    peak = _peak_mb()
    rows = [
        (
            "full import, 2018-10-13 (512,252 records + IANA)",
            f"{import_s:.2f} s",
            f"<= {TARGETS['import']:.0f} s",
            import_s <= TARGETS["import"],
        ),
        (
            "audit: checks on the loaded federation",
            f"{check_s:.2f} s",
            f"<= {TARGETS['audit']:.0f} s",
            check_s <= TARGETS["audit"],
        ),
        (
            "audit: first load after a change (SQLite -> lists, writes the cache)",
            f"{cold_s:.2f} s",
            "-",
            None,
        ),
        (
            "audit: load of unchanged nodes (cache valid for the log head)",
            f"{load_s:.2f} s",
            "-",
            None,
        ),
        (
            "`onereg audit` on unchanged nodes: load + checks",
            f"{load_s + check_s:.2f} s",
            f"<= {TARGETS['audit']:.0f} s",
            load_s + check_s <= TARGETS["audit"],
        ),
        (
            "`onereg audit` right after a change: load + checks",
            f"{cold_s + check_s:.2f} s",
            f"<= {TARGETS['audit']:.0f} s",
            cold_s + check_s <= TARGETS["audit"],
        ),
        (
            f"lookup p50 ({len(samples):,} random held IPv4 addresses)",
            f"{p50:.1f} us",
            f"<= {TARGETS['lookup_p50_us']:.0f} us",
            p50 <= TARGETS["lookup_p50_us"],
        ),
        ("lookup p99", f"{p99:.1f} us", "-", None),
        (
            "peak memory (largest process)",
            f"{peak:,.0f} MB",
            "<= 1,536 MB",
            peak <= TARGETS["peak_mb"],
        ),
        (
            "replay of the ripencc log (`node rebuild`)",
            f"{rebuild_s:.2f} s",
            "identical state",
            identical,
        ),
        ("size of the six SQLite files", f"{db_mb:,.0f} MB", "-", None),
    ]
    _write(rows, args.jobs, report.ok)


def _write(rows: list[tuple[str, str, str, bool | None]], jobs: int, ok: bool) -> None:
    body = [
        "## Foundation (issue 2): the complete 2018-10-13 set of all five RIRs",
        "",
        f"- command: `.venv/bin/python bench/bench_foundation.py --jobs {jobs}`",
        f"- machine: {machine()}",
        f"- run: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; audit verdict: "
        f"{'no overlap' if ok else 'CONFLICTS'}",
        "",
        *table(rows),
    ]
    write_section("foundation", body)


if __name__ == "__main__":
    main()
