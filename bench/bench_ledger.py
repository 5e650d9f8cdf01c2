"""Benchmark of the verifiable logs (issue 3).

  * append throughput with checkpoints: 10^6 log entries appended in batches, a signed
    checkpoint (log root + state root) after every batch,
  * inclusion and consistency proofs at 10^6 entries from the node's SQLite tree: generation
    and verification time, size,
  * `onereg verify` of the whole 2018-10-13 federation: six node processes on loopback, every
    checkpoint cosigned, a verifier that mirrors the tiles, replays and audits (target <= 30 s).

Run: .venv/bin/python bench/bench_ledger.py [--entries 1000000] [--batch 10000] [--no-federation]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from onereg.core.registries import RegistryId
from onereg.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from onereg.registry.checkpoints import Checkpointer
from onereg.registry.identity import load_or_create_signer, origin_of
from onereg.registry.node import RegistryNode
from report import machine, table, write_section

ONEREG = str(Path(sys.executable).parent / "onereg")
Row = tuple[str, str, str, bool | None]


def bench_packed(root: Path, total: int, batch: int) -> list[Row]:
    """Changes packed into `batch` entries (as imports write them), a checkpoint per batch."""
    node = RegistryNode.open(RegistryId.APNIC, root / "packed.sqlite")
    signer = load_or_create_signer(root / "keys", RegistryId.APNIC, origin_of(RegistryId.APNIC))
    checkpointer = Checkpointer(node, signer)
    started = time.perf_counter()
    for first in range(0, total, batch):
        node.append(
            [
                ("holder.registered", {"handle": f"H{first + i}", "name": "", "cc": "NL"})
                for i in range(batch)
            ],
            batch=True,
        )
        checkpointer.sign()
    seconds = time.perf_counter() - started
    entries = node.head()[0]
    node.close()
    rate = total / seconds
    return [
        (
            f"append {total:,} changes packed into {entries:,} batch entries, a signed "
            f"checkpoint per {batch:,} changes",
            f"{rate:,.0f} changes/s ({seconds:.1f} s)",
            ">= 50,000 entries/s batched",
            rate >= 50_000,
        )
    ]


def bench_append(root: Path, total: int, batch: int) -> tuple[list[Row], RegistryNode]:
    node = RegistryNode.open(RegistryId.RIPENCC, root / "append.sqlite")
    signer = load_or_create_signer(root / "keys", RegistryId.RIPENCC, origin_of(RegistryId.RIPENCC))
    checkpointer = Checkpointer(node, signer)
    started = time.perf_counter()
    written = 0
    while written < total:
        items = [
            ("holder.registered", {"handle": f"H{written + i}", "name": "", "cc": "NL"})
            for i in range(batch)
        ]
        node.append(items)  # one entry per change: no packing here
        checkpointer.sign()
        written += batch
        print(f"  appended {written:,}", end="\r", flush=True)
    seconds = time.perf_counter() - started
    rate = written / seconds
    print()
    return [
        (
            f"append {written:,} single-change entries, {batch:,} per call, a signed checkpoint "
            "after each call",
            f"{rate:,.0f} entries/s ({seconds:.1f} s)",
            "- (the target is for batched appends, row above)",
            None,
        )
    ], node


def bench_proofs(node: RegistryNode, samples: int = 2000) -> list[Row]:
    tree, size = node.tree(), node.head()[0]
    root = tree.root(size)
    rng = random.Random(3)
    gen_i, ver_i, gen_c, ver_c, n_i, n_c = [], [], [], [], [], []
    leaves = {}
    for _ in range(samples):
        index = rng.randrange(size)
        entry = next(node.entries(after=index))
        leaves[index] = leaf_hash(entry.encoded())
        t = time.perf_counter()
        proof = tree.inclusion_proof(index, size)
        gen_i.append(time.perf_counter() - t)
        t = time.perf_counter()
        verify_inclusion(leaves[index], index, size, proof, root)
        ver_i.append(time.perf_counter() - t)
        n_i.append(len(proof))
        old = rng.randrange(1, size)
        t = time.perf_counter()
        cproof = tree.consistency_proof(old, size)
        gen_c.append(time.perf_counter() - t)
        old_root = tree.root(old)
        t = time.perf_counter()
        verify_consistency(old, size, old_root, root, cproof)
        ver_c.append(time.perf_counter() - t)
        n_c.append(len(cproof))
    us = lambda xs: f"{statistics.fmean(xs) * 1e6:.0f} us"  # noqa: E731
    return [
        (
            f"inclusion proof at {size:,} entries: generate / verify (mean)",
            f"{us(gen_i)} / {us(ver_i)}",
            "-",
            None,
        ),
        (
            "inclusion proof size",
            f"{statistics.fmean(n_i):.1f} hashes "
            f"({statistics.fmean(n_i) * 32:.0f} B), max {max(n_i)}",
            "about 20 hashes",
            max(n_i) <= 21,
        ),
        (
            f"consistency proof at {size:,}: generate / verify (mean)",
            f"{us(gen_c)} / {us(ver_c)}",
            "-",
            None,
        ),
        (
            "consistency proof size",
            f"{statistics.fmean(n_c):.1f} hashes, max {max(n_c)}",
            "-",
            None,
        ),
    ]


def bench_checkpoint_after_change(root: Path, shared: Path | None) -> list[Row]:
    """At the largest real node: sign, change one delegation, sign again (the incremental
    state-tree path), against the target of 10 ms per checkpoint after a single change."""
    if shared is None:
        return []
    from onereg.federation.importer import import_delegated_file
    from onereg.federation.layout import DataDir

    data = DataDir(root / "one")
    path = shared / "delegated" / "2018-10-13" / "delegated-ripencc-extended-latest"
    import_delegated_file(data, path, None)
    signer = load_or_create_signer(
        root / "keys1", RegistryId.RIPENCC, origin_of(RegistryId.RIPENCC)
    )
    samples = []
    with data.open(RegistryId.RIPENCC) as node:
        checkpointer = Checkpointer(node, signer)
        started = time.perf_counter()
        checkpointer.sign()
        first_s = time.perf_counter() - started
        leaves = node.count("delegations")
        for i in range(50):
            node.add_delegation(
                {
                    "afi": "asn",
                    "start": str(4_200_000_000 + i),
                    "value": 1,
                    "cc": "NL",
                    "date": "20200101",
                    "status": "assigned",
                    "holder": "X",
                    "opaque": "X",
                    "ext": [],
                }
            )
            started = time.perf_counter()
            checkpointer.sign()
            samples.append(time.perf_counter() - started)
    mean = statistics.fmean(samples) * 1000
    return [
        (
            f"first checkpoint of a node with {leaves:,} delegations (builds the state tree)",
            f"{first_s:.2f} s",
            "-",
            None,
        ),
        (
            f"checkpoint after a single change at {leaves:,} delegations (mean of 50)",
            f"{mean:.1f} ms",
            "<= 10 ms (state-tree update alone, 10^6 leaves: see above)",
            mean <= 10,
        ),
    ]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ONEREG, *args], capture_output=True, text=True, timeout=1800)


def bench_federation(root: Path, shared: Path | None) -> list[Row]:
    data = root / "fed"
    extra = ["--shared-data", str(shared)] if shared else []
    print("  building the 2018-10-13 federation ...", flush=True)
    _run("--data-dir", str(data), *extra, "up")
    server = subprocess.Popen(
        [ONEREG, "--data-dir", str(data), "serve", "--base-port", "18640"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get("http://127.0.0.1:18645/log/checkpoint")
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        started = time.perf_counter()
        published = _run("--data-dir", str(data), "publish")
        publish_s = time.perf_counter() - started
        print(published.stdout[-800:], flush=True)
        started = time.perf_counter()
        done = _run("--data-dir", str(data), "verify", "--state-dir", str(root / "mirror"))
        verify_s = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)
    ok = done.returncode == 0
    print(done.stdout[:1500], flush=True)
    return [
        (
            "`onereg publish` (six nodes sign; five cosignatures each)",
            f"{publish_s:.1f} s",
            "-",
            published.returncode == 0,
        ),
        (
            "`onereg verify` of the 2018-10-13 federation (mirror, replay, state roots, audit)",
            f"{verify_s:.1f} s",
            "<= 30 s, audit reproduced",
            ok and verify_s <= 30,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--no-federation", action="store_true")
    args = parser.parse_args()
    from onereg.cli.settings import find_shared_data

    root = Path(tempfile.mkdtemp(prefix="onereg-bench-"))
    try:
        rows = bench_packed(root, args.entries, args.batch)
        more, node = bench_append(root, args.entries, args.batch)
        rows += more
        rows += bench_proofs(node)
        node.close()
        rows += bench_checkpoint_after_change(root, find_shared_data())
        if not args.no_federation:
            rows += bench_federation(root, find_shared_data())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    write_section(
        "ledger",
        [
            "## Verifiable logs (issue 3)",
            "",
            f"- command: `.venv/bin/python bench/bench_ledger.py --entries {args.entries} "
            f"--batch {args.batch}`",
            f"- machine: {machine()}",
            f"- run: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            "",
            *table(rows),
        ],
    )


if __name__ == "__main__":
    main()
