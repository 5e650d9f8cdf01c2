"""Benchmark of the state tree (Merkle treap) at 10^6 leaves.

Measures what issue 3 (part 3) sets targets for, on this machine, and prints a markdown table
ready to paste into docs/benchmarks.md (its section of docs/benchmarks.md):
  * bulk build from sorted leaves (and from shuffled leaves, which adds the sort),
  * one change followed by root(): insert, delete, replace (mean and p99; target <= 10 ms),
  * holding and absence proof size (hashes, binary bytes, JSON bytes) and verification time,
  * memory of the tree (resident set growth over the leaves themselves) and peak RSS.

The leaves imitate a large registry: 60,000 AS ranges, 800,000 IPv4 ranges and 140,000 IPv6
ranges, with gaps between them so that inserts and absence proofs have room.

Run: .venv/bin/python bench/bench_statetree.py  [--leaves 1000000] [--samples 2000]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from onereg.ledger.statetree import (
    StateLeaf,
    StateTree,
    leaf_bytes,
    verify_absence,
    verify_holding,
)
from report import machine, write_section

STATUSES = ("allocated", "assigned", "available", "reserved")
UPDATE_TARGET_MS = 10.0
MEMORY_TARGET_MB = 500.0


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _families(total: int) -> list[tuple[str, int, int, int]]:
    """(afi, count, stride, size) per family: ranges at index*stride, gaps between them."""
    asn = total * 6 // 100
    v6 = total * 14 // 100
    v4 = total - asn - v6
    return [("asn", asn, 4, 2), ("ipv4", v4, 512, 256), ("ipv6", v6, 1 << 96, 1 << 95)]


def make_leaves(total: int) -> list[StateLeaf]:
    holders = [f"ORG-{n:05d}" for n in range(50_000)]
    leaves = []
    for afi, count, stride, size in _families(total):
        for i in range(count):
            start = i * stride
            status = STATUSES[i % 4]
            holder = "" if status == "available" else holders[(i * 7919) % len(holders)]
            leaves.append(StateLeaf(afi, start, start + size - 1, holder, status))
    return leaves


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.fmean(samples) * 1000, p99 * 1000


def _time(action: Callable[..., object], *args: Any) -> float:
    started = time.perf_counter()
    action(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(2024)
    families = {afi: (count, stride, size) for afi, count, stride, size in _families(args.leaves)}

    leaves = make_leaves(args.leaves)
    gc.collect()
    rss_leaves = _rss_mb()

    started = time.perf_counter()
    tree = StateTree(leaves)
    build_s = time.perf_counter() - started
    gc.collect()
    tree_mb = _rss_mb() - rss_leaves
    root0 = tree.root()
    depth = tree.depth()

    shuffled = leaves[:]
    rng.shuffle(shuffled)
    started = time.perf_counter()
    other = StateTree(shuffled)
    build_shuffled_s = time.perf_counter() - started
    assert other.root() == root0
    del other, shuffled
    gc.collect()

    picks = [rng.choice(leaves) for _ in range(args.samples)]

    def insert_root(leaf: StateLeaf) -> bytes:
        tree.insert(leaf)
        return tree.root()

    def delete_root(leaf: StateLeaf) -> bytes:
        tree.delete(leaf.afi, leaf.start)
        return tree.root()

    def replace_root(leaf: StateLeaf) -> bytes:
        tree.replace(leaf)
        return tree.root()

    # insert + root: a new leaf in the gap after a random leaf (deleted again, untimed)
    inserts: list[float] = []
    for leaf in picks:
        _, stride, size = families[leaf.afi]
        new = StateLeaf(leaf.afi, leaf.start + size, leaf.start + size + 1, "ORG-NEW", "assigned")
        inserts.append(_time(insert_root, new))
        tree.delete(new.afi, new.start)

    # delete + root of a random existing leaf (re-inserted, untimed)
    deletes: list[float] = []
    for leaf in picks:
        deletes.append(_time(delete_root, leaf))
        tree.insert(leaf)

    # replace + root: a new holder for a random leaf (put back, untimed)
    replaces: list[float] = []
    for leaf in picks:
        moved = StateLeaf(leaf.afi, leaf.start, leaf.end, "ORG-TRANSFER", "assigned")
        replaces.append(_time(replace_root, moved))
        tree.replace(leaf)
    assert tree.root() == root0, "state root changed after undoing every change"

    # holding proofs
    hold_hashes, hold_bytes, hold_json, hold_verify = [], [], [], []
    for leaf in picks:
        proof = tree.prove_holding(leaf.afi, leaf.start)
        hold_hashes.append(proof.hash_count())
        hold_bytes.append(
            32 * proof.hash_count() + sum(len(leaf_bytes(s.leaf)) for s in proof.path)
        )
        hold_json.append(len(json.dumps(proof.to_json(), separators=(",", ":"))))
        hold_verify.append(_time(verify_holding, root0, leaf, proof))

    # absence proofs: a range inside the gap after a random leaf
    abs_hashes, abs_bytes, abs_json, abs_verify = [], [], [], []
    for leaf in picks:
        _, stride, size = families[leaf.afi]
        first, last = leaf.start + size, leaf.start + stride - 1
        proof_a = tree.prove_absence(leaf.afi, first, last)
        abs_hashes.append(proof_a.hash_count())
        abs_bytes.append(
            32 * proof_a.hash_count() + sum(len(leaf_bytes(s.leaf)) for s in proof_a.path)
        )
        abs_json.append(len(json.dumps(proof_a.to_json(), separators=(",", ":"))))
        abs_verify.append(_time(verify_absence, root0, leaf.afi, first, last, proof_a))

    ins, dels, reps = _ms(inserts), _ms(deletes), _ms(replaces)
    hv, av = _ms(hold_verify), _ms(abs_verify)
    n = len(tree)
    ok = all(x[1] <= UPDATE_TARGET_MS for x in (ins, dels, reps))
    rows = [
        f"| bulk build, sorted leaves | {build_s:.1f} s | seconds |",
        f"| bulk build, shuffled leaves | {build_shuffled_s:.1f} s | |",
        f"| insert + root (mean / p99) | {ins[0]:.3f} / {ins[1]:.3f} ms | <= 10 ms |",
        f"| delete + root (mean / p99) | {dels[0]:.3f} / {dels[1]:.3f} ms | <= 10 ms |",
        f"| replace + root (mean / p99) | {reps[0]:.3f} / {reps[1]:.3f} ms | <= 10 ms |",
        f"| holding proof: hashes mean / max | {statistics.fmean(hold_hashes):.1f} / "
        f"{max(hold_hashes)} | O(log n) |",
        f"| holding proof: bytes binary / JSON (mean) | {statistics.fmean(hold_bytes):.0f} / "
        f"{statistics.fmean(hold_json):.0f} | |",
        f"| holding proof: verify (mean / p99) | {hv[0]:.3f} / {hv[1]:.3f} ms | |",
        f"| absence proof: hashes mean / max | {statistics.fmean(abs_hashes):.1f} / "
        f"{max(abs_hashes)} | O(log n) |",
        f"| absence proof: bytes binary / JSON (mean) | {statistics.fmean(abs_bytes):.0f} / "
        f"{statistics.fmean(abs_json):.0f} | |",
        f"| absence proof: verify (mean / p99) | {av[0]:.3f} / {av[1]:.3f} ms | |",
        f"| tree memory (RSS over the leaves) | {tree_mb:.0f} MB | < {MEMORY_TARGET_MB:.0f} MB |",
        f"| peak RSS of the whole run (two trees at once) | {_peak_mb():.0f} MB | |",
    ]
    write_section(
        "statetree",
        [
            "## State tree (issue 3): the Merkle treap behind each checkpoint's state root",
            "",
            f"- command: `.venv/bin/python bench/bench_statetree.py --leaves {n} "
            f"--samples {args.samples}`",
            f"- machine: {machine()}",
            f"- {n:,} leaves, root {root0.hex()[:16]}..., depth {depth}; update target "
            f"{'met' if ok else 'MISSED'}",
            "",
            "| measure | value | target |",
            "|---|---|---|",
            *rows,
        ],
    )


if __name__ == "__main__":
    main()
