"""The explorer's federation and transfers pages (issue 14 points 4 and 5): what their data
costs a node holding RIPE NCC's complete 2018-10-13 file (beside IANA and ARIN), all real
`onereg serve` processes on loopback.

* audit: `GET /ui/api/audit` right after the node started (the audit of the node's view is
  computed in a worker process of its own: the page is told `pending` and asks again every
  2 s, as federation.js does) until it answers, then asked again with no log moved (the
  answer kept in memory);
* transfers: `GET /ui/api/transfers` after 20 real transfers (intra-RIPE NCC, holder-signed):
  the answer built after a log moved, the same answer again (kept per state of the logs), and
  the poll of a page while no log moved (a 304 on its ETag);
* CPU: user+sys seconds of the node process and of its worker processes (from /proc) over each
  phase, since the machine is shared and wall time is noisy.

Run: nice -n 10 .venv/bin/python bench/bench_web_federation.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(BENCH))

from localfed import LocalFederation  # noqa: E402
from onereg.core.registries import RegistryId  # noqa: E402
from onereg.core.resources import Resource  # noqa: E402
from onereg.federation.importer import import_delegated_file  # noqa: E402
from onereg.registry.transfers import register_holder_key  # noqa: E402
from procs import cpu_seconds  # noqa: E402
from report import machine, table, write_section  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DATE = "2018-10-13"
TRANSFERS = 20
POLLS = 200


def keyed_source(fed: LocalFederation) -> tuple[str, Resource, str]:
    """A holder of an old allocation of at least TRANSFERS /24s, and another holder; both
    given keys (in the log) so they can sign agreements."""
    with fed.data.open(RegistryId.RIPENCC) as node:
        pick = next(
            d
            for d in node.delegations()
            if d.holder
            and d.resource.afi.value == "ipv4"
            and d.status == "allocated"
            and d.resource.end - d.resource.start + 1 >= 256 * TRANSFERS
            and d.date < "20150101"
        )
        other = next(d.holder for d in node.delegations() if d.holder and d.holder != pick.holder)
        for handle in (pick.holder, other):
            key = fed.keys[("ripencc", handle)] = Ed25519PrivateKey.generate()
            register_holder_key(node, handle, key.public_key().public_bytes_raw())
    assert pick.holder is not None
    return pick.holder, pick.resource, other


def timed(client: httpx.Client, url: str, **headers: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    answer = client.get(url, headers=headers, timeout=60)
    return (time.perf_counter() - started) * 1000, answer


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fed = LocalFederation(Path(tmp), {"arin": []}, iana=SHARED / "iana")
        source = SHARED / "delegated" / DATE / "delegated-ripencc-extended-latest"
        print(f"importing RIPE NCC's {DATE} file ...")
        import_delegated_file(fed.data, source, None, only=RegistryId.RIPENCC)
        holder, block, other = keyed_source(fed)
        try:
            fed.start_all("iana", "ripencc", "arin")
            fed.wait_mirrored(("ripencc",), ("iana", "arin"))
            url = fed.urls["ripencc"] + "/ui/api"
            pid = fed.procs["ripencc"].pid
            rows = []
            with httpx.Client() as client:
                cpu0, started, asks = cpu_seconds(pid, descendants=True), time.perf_counter(), 0
                while True:
                    asks += 1
                    got = client.get(f"{url}/audit", timeout=60).json()
                    if not got.get("pending", True):
                        break
                    time.sleep(2)
                cold = time.perf_counter() - started
                cpu_cold = cpu_seconds(pid, descendants=True) - cpu0
                counts = ", ".join(f"{k} {v}" for k, v in got["counts"].items())
                warm = [timed(client, f"{url}/audit")[0] for _ in range(20)]
                rows += [
                    ("audit of the node's view, first (worker process)",
                     f"{cold:.1f} s, {asks} asks, {cpu_cold:.1f} s CPU", "", None),
                    ("audit again, no log moved: p50", f"{statistics.median(warm):.1f} ms", "",
                     None),
                ]  # fmt: skip
                print(f"audit: {counts}")
                for n in range(TRANSFERS):
                    net = block.start + 256 * n
                    text = ".".join(str((net >> s) & 255) for s in (24, 16, 8, 0)) + "/24"
                    deal = fed.agreement(text, ("ripencc", holder), ("ripencc", other))
                    answer = fed.submit(client, deal)
                    assert answer.status_code < 400, answer.text
                time.sleep(2)  # the other nodes' mirrors settle: no log moves below
                cpu0 = cpu_seconds(pid, descendants=True)
                first_ms, _ = timed(client, f"{url}/transfers")
                cpu_first = (cpu_seconds(pid, descendants=True) - cpu0) * 1000
                cpu0 = cpu_seconds(pid, descendants=True)
                full = [timed(client, f"{url}/transfers") for _ in range(POLLS)]
                cpu_full = (cpu_seconds(pid, descendants=True) - cpu0) / POLLS * 1000
                listed = full[-1][1].json()
                assert len(listed["transfers"]) == TRANSFERS, len(listed["transfers"])
                etag = full[-1][1].headers["etag"]
                cpu0 = cpu_seconds(pid, descendants=True)
                polls = [timed(client, f"{url}/transfers", **{"If-None-Match": etag})
                         for _ in range(POLLS)]  # fmt: skip
                cpu_poll = (cpu_seconds(pid, descendants=True) - cpu0) / POLLS * 1000
                assert all(a.status_code == 304 for _, a in polls), polls[0][1].status_code
                full_ms = sorted(t for t, _ in full)
                poll_ms = sorted(t for t, _ in polls)
                rows += [
                    (f"transfers page data, {TRANSFERS} transfers, built after a log moved",
                     f"{first_ms:.1f} ms, {cpu_first:.1f} ms CPU", "", None),
                    ("the same answer again (kept for that state of the logs): p50 / p99",
                     f"{full_ms[POLLS // 2]:.1f} / {full_ms[POLLS * 99 // 100]:.1f} ms, "
                     f"{cpu_full:.1f} ms CPU each", "", None),
                    ("a page's poll, no log moved (304): p50 / p99",
                     f"{poll_ms[POLLS // 2]:.1f} / {poll_ms[POLLS * 99 // 100]:.1f} ms, "
                     f"{cpu_poll:.1f} ms CPU each", "", None),
                ]  # fmt: skip
        finally:
            fed.stop()
    write_section(
        "web-federation",
        [
            "## Web explorer: federation and transfers pages (issue 14, "
            "bench/bench_web_federation.py)",
            "",
            f"RIPE NCC node with its complete {DATE} file, beside IANA and ARIN; sequential "
            "requests on loopback; CPU is the node's and its worker processes' user+sys.",
            "",
            *table(rows),
            "",
            "Command: `nice -n 10 .venv/bin/python bench/bench_web_federation.py`. "
            f"Machine: {machine()}; load average at the end: "
            f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} (on a shared machine, judge by "
            "the CPU figures).",
        ],
    )


if __name__ == "__main__":
    main()
