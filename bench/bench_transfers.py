"""Benchmark of inter-registry transfers (issue 4): end to end between two node processes on
SQLite (RIPE NCC -> ARIN), from the holder's POST at the source to the block registered at the
recipient (the source's answer comes after it told the recipient, which registers before it
replies), with C concurrent holders. Target: >= 100 transfers/s, p99 <= 100 ms.

Run: .venv/bin/python bench/bench_transfers.py [--transfers 2000] [--concurrency 1 4 8 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from localfed import EVIDENCE, LocalFederation
from onereg.core.registries import RegistryId
from onereg.ledger.agreement import SignedAgreement
from report import machine, table, write_section

HOLDERS = 64  # each holder has a /16 at RIPE NCC and moves /24s out of it


def _federation(root: Path) -> LocalFederation:
    rows = [("ipv4", f"{64 + h // 256}.{h % 256}.0.0", 65536, f"R{h}") for h in range(HOLDERS)]
    return LocalFederation(root, {"ripencc": rows, "arin": [("ipv4", "23.0.0.0", 65536, "A1")]})


def _agreements(fed: LocalFederation, count: int) -> list[SignedAgreement]:
    out = []
    for n in range(count):
        h = n % HOLDERS
        block = f"{64 + h // 256}.{h % 256}.{n // HOLDERS}.0/24"
        out.append(fed.agreement(block, ("ripencc", f"R{h}"), ("arin", "A1")))
    return out


async def _run(
    url: str, recipient: str, agreements: list[SignedAgreement], concurrency: int
) -> tuple[list[float], list[float]]:
    """(latency until the source's answer, latency until the recipient registered), each."""
    queue: asyncio.Queue[SignedAgreement] = asyncio.Queue()
    for a in agreements:
        queue.put_nowait(a)
    latencies: list[float] = []
    answered: list[float] = []
    failures: list[str] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            signed = queue.get_nowait()
            body = {**json.loads(signed.to_json()), "evidence": EVIDENCE}
            started = time.perf_counter()
            async with session.post(f"{url}/transfers", json=body) as reply:
                answer = await reply.json()
            answered.append(time.perf_counter() - started)
            if answer.get("state") != "sourceFinalized":
                failures.append(str(answer)[:200])
                continue
            # the recipient registers once its mirror of the source's log shows the transfer
            # finalized: poll its answer (every 5 ms) to time the whole transfer
            state = f"{recipient}/transfers/{signed.agreement.nonce}"
            while True:
                async with session.get(state) as reply:
                    if (await reply.json()).get("state") == "sourceFinalized":
                        break
                await asyncio.sleep(0.005)
            latencies.append(time.perf_counter() - started)

    # aiohttp: the load generator shares the two cores with the nodes, so it must be light
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    if failures:
        raise SystemExit(f"{len(failures)} transfers did not finalize, e.g. {failures[0]}")
    return answered, latencies


def _registered(fed: LocalFederation) -> int:
    with fed.data.open(RegistryId.ARIN, create=False) as node:
        return int(
            node.conn.execute(
                "SELECT count(*) FROM transfers WHERE state = 'sourceFinalized'"
            ).fetchone()[0]
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transfers", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    args = parser.parse_args()
    rows = []
    results = []
    with tempfile.TemporaryDirectory() as tmp, Progress() as progress:
        fed = _federation(Path(tmp))
        try:
            fed.start("ripencc")
            fed.start("arin")
            pool = _agreements(fed, args.transfers * len(args.concurrency))
            task = progress.add_task("transfers", total=len(pool))
            for i, c in enumerate(args.concurrency):
                batch = pool[i * args.transfers : (i + 1) * args.transfers]
                started = time.perf_counter()
                urls = fed.urls["ripencc"], fed.urls["arin"]
                answered, lat = asyncio.run(_run(*urls, batch, c))
                elapsed = time.perf_counter() - started
                progress.advance(task, len(batch))
                lat.sort()
                answered.sort()
                p50, p99 = statistics.median(lat), lat[int(0.99 * (len(lat) - 1))]
                a99 = answered[int(0.99 * (len(answered) - 1))]
                results.append((c, len(batch) / elapsed, p50, p99, a99))
            registered = _registered(fed)
        finally:
            fed.stop()
    assert registered == len(pool), f"only {registered} of {len(pool)} registered at ARIN"
    best = max(results, key=lambda r: r[1] if r[3] <= 0.1 else 0)
    for c, rate, p50, p99, a99 in results:
        rows.append(
            (
                f"{c} concurrent holder(s): transfers/s; p50 / p99 until registered "
                "(p99 of the source's answer)",
                f"{rate:,.0f}/s; {p50 * 1000:.1f} / {p99 * 1000:.1f} ms ({a99 * 1000:.1f} ms)",
                ">= 100/s, p99 <= 100 ms",
                rate >= 100 and p99 <= 0.1,
            )
        )
    body = [
        "## Transfers (issue 4): inter-registry, end to end between two node processes",
        "",
        f"Command: `.venv/bin/python bench/bench_transfers.py --transfers {args.transfers}`. "
        f"Machine: {machine()}.",
        "",
        "RIPE NCC node -> ARIN node, each its own `onereg serve --config` process on SQLite, "
        "every node-to-node request and answer signed (RFC 9421); a separate client process "
        "posts pre-signed agreements (a /24 out of the holder's /16, so every transfer splits "
        "a delegation). A transfer is timed from the POST until ARIN answers that it "
        "registered the block, which it does only once its verified mirror of RIPE NCC's log "
        "shows the transfer finalized (RIPE NCC publishes and gets a cosignature at once after "
        "each step; ARIN refreshes its mirror when it needs it; test timers: publish and "
        "mirror every 0.2 s, quorum 1). The source's own answer (sourceFinalized) comes "
        f"earlier. All {len(pool):,} transfers were checked registered at ARIN.",
        "",
        *table(rows),
        "",
        (
            f"Best rate with p99 within 100 ms: {best[1]:,.0f}/s at {best[0]} concurrent holders."
            if best[3] <= 0.1
            else "No concurrency kept p99 within 100 ms."
        ),
    ]
    write_section("transfers", body)


if __name__ == "__main__":
    main()
