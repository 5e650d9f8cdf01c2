"""Benchmark of ROA issuance with and without the pre-generated key pool.

Each ROA needs a fresh RSA-2048 EE key; generating one costs more than encoding and signing the
ROA together, so the key source decides the issuance rate. Three ways are measured on one small
registry CA (one holder, one /8, N ROAs of one /24 each):
  * inline: every key generated in the issuing process (no pool),
  * warm pool: a pool filled before the run with N keys (a burst after idle time),
  * steady pool: a small pool (target 16) refilled by worker processes while issuing.
Also the raw key generation time and the time to sign the manifest and CRL for N ROAs.

Run: .venv/bin/python bench/bench_rpki_issue.py  [--roas 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from onereg.core.registries import RegistryId
from onereg.registry import events as ev
from onereg.registry.node import RegistryNode
from onereg.rpki.ca import RegistryCa, RepositoryUris
from onereg.rpki.keypool import KeyPool, KeySource, generate_key
from onereg.rpki.objects import RoaPrefix
from report import machine, write_section


def _node(path: Path) -> RegistryNode:
    node = RegistryNode.open(RegistryId.RIPENCC, path)
    node.append([(ev.HOLDER_REGISTERED, {"handle": "H1", "name": "", "cc": "NL"})])
    node.add_delegation(
        {
            "afi": "ipv4",
            "start": "10.0.0.0",
            "value": 1 << 24,
            "cc": "NL",
            "date": "20100101",
            "status": "allocated",
            "holder": "H1",
            "opaque": "H1",
            "ext": [],
        }
    )
    return node


def _issue(tmp: Path, label: str, keys: KeySource, roas: int) -> tuple[float, float]:
    """(ROAs per second, seconds to publish the point's manifest + CRL)."""
    node = _node(tmp / f"{label}.sqlite")
    ca = RegistryCa.open(node, tmp / label, RepositoryUris("rsync://127.0.0.1/"), keys=keys)
    ca.enroll("H1")
    start = time.perf_counter()
    for i in range(roas):
        prefix = RoaPrefix.parse(f"10.{i // 256}.{i % 256}.0/24")
        ca.add_roa("H1", 64496 + i % 16, [prefix])
    rate = roas / (time.perf_counter() - start)
    start = time.perf_counter()
    ca.publish()
    publish = time.perf_counter() - start
    ca.close()
    node.close()
    return rate, publish


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roas", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n = args.roas

    samples = []
    for _ in range(20):
        start = time.perf_counter()
        generate_key()
        samples.append(time.perf_counter() - start)
    keygen_ms = statistics.median(samples) * 1000

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        inline_rate, publish_s = _issue(tmp, "inline", generate_key, n)
        with KeyPool(target=n + 8, workers=args.workers) as pool:
            start = time.perf_counter()
            pool.wait_full()
            fill_s = time.perf_counter() - start
            warm_rate, _ = _issue(tmp, "warm", pool, n)
        with KeyPool(target=16, workers=args.workers) as pool:
            pool.wait_full()
            steady_rate, _ = _issue(tmp, "steady", pool, n)

    lines = [
        "## RPKI issuance (bench/bench_rpki_issue.py)",
        "",
        f"Machine: {machine()}. {n} ROAs (one /24 each, fresh RSA-2048 EE key per ROA) issued by",
        f"one holder CA; the pool uses {args.workers} worker processes.",
        "",
        "| measure | figure |",
        "|---|---|",
        f"| RSA-2048 key generation, median of 20 | {keygen_ms:.1f} ms |",
        f"| ROA issuance, keys generated inline (no pool) | {inline_rate:.1f} ROAs/s |",
        f"| ROA issuance, warm pool ({n + 8} keys ready) | {warm_rate:.1f} ROAs/s |",
        f"| ROA issuance, steady pool (target 16, refilled meanwhile) | {steady_rate:.1f} ROAs/s |",
        f"| time to fill the pool with {n + 8} keys | {fill_s:.1f} s |",
        f"| manifest + CRL for a point of {n} ROAs (publish) | {publish_s * 1000:.0f} ms |",
        "",
        "The warm pool shows what a registry gets when keys are generated in idle time; the",
        "steady pool is bounded by the workers' key generation rate on the cores left over.",
    ]
    write_section("rpki-issue", lines)


if __name__ == "__main__":
    main()
