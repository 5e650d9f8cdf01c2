"""The web explorer's speed (issue 14): the whole-IPv4 map drawn in a real browser, and the
lookup API under 8 concurrent users, on a RIPE NCC node holding its complete 2018-10-13 file
(189,189 records) beside IANA and ARIN, all real `onereg serve` processes on loopback.

* map: headless Chromium (Selenium, as in tests/test_web_ui.py) opens `/ui/map`; the page times
  itself with performance.now(): `drawMs` around the canvas draw, `totalMs` from asking for the
  tile to the drawn map. Cold: the first visit after the node started (the node reads every
  registry's records and cuts the tile); warm: later visits (the tile cached for that log head).
* lookup: 8 users, each a loop of `GET /ui/api/lookup?q=...` (addresses, prefixes and AS numbers
  of real records, and holder handles) without think time, for `--seconds`. Latency is measured
  by the clients on loopback (so it is server time plus a fraction of a millisecond); target:
  p99 <= 200 ms.
* RPKI lookups: the same 8 users asking `GET /ui/api/rpki?q=...` (the VRPs and the ROV state of
  the announced routes in each block) of the node given RouteViews' 2014 table (512,621 routes,
  `[explorer] route_table`).

Run: nice -n 10 .venv/bin/python bench/bench_web.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(BENCH))

from localfed import LocalFederation  # noqa: E402
from onereg.core.registries import RegistryId  # noqa: E402
from onereg.federation.embedded import config_path  # noqa: E402
from onereg.federation.importer import import_delegated_file  # noqa: E402
from onereg.web.explore import parse_query  # noqa: E402
from report import machine, table, write_section  # noqa: E402
from test_web_ui import chrome  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DATE = "2018-10-13"
USERS = 8


def queries(fed: LocalFederation, count: int) -> list[str]:
    """Lookups a visitor would type: a record's first address, its prefix, AS numbers, handles."""
    with fed.data.read(RegistryId.RIPENCC) as node:
        records = [d for d in node.delegations() if d.holder]
    rng = random.Random(14)
    picked = rng.sample(records, count)
    out = []
    for i, d in enumerate(picked):
        if d.resource.afi.value == "asn":
            out.append(f"AS{d.resource.start}")
        elif i % 3 == 0 and d.holder:
            out.append(d.holder)
        elif i % 3 == 1:
            out.append(str(d.resource))
        else:
            out.append(d.start_text)
    return out


def map_timings(url: str, mode: str) -> list[dict[str, float]]:
    """The page's own timings of three visits (the first one cold)."""
    with tempfile.TemporaryDirectory() as downloads:
        driver = chrome(Path(downloads))
        try:
            out = []
            for _ in range(4):
                driver.get(f"{url}/ui/map?mode={mode}&block=all")
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    found = driver.execute_script("return window.oneregMap")
                    if found and found.get("mode") == mode:
                        out.append(found)
                        break
                    time.sleep(0.05)
                else:
                    raise RuntimeError("the map was not drawn within 120 s")
            return out
        finally:
            driver.quit()


def lookup_load(
    url: str, asked: list[str], seconds: float, path: str = "/ui/api/lookup"
) -> tuple[list[float], int]:
    """Latencies (ms) of every lookup of USERS users for `seconds`, and how many failed."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def user(n: int) -> None:
        rng = random.Random(n)
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < stop:
                q = rng.choice(asked)
                started = time.perf_counter()
                answer = client.get(f"{url}{path}", params={"q": q})
                took = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(took)
                    if answer.status_code != 200:
                        failures[0] += 1

    threads = [threading.Thread(target=user, args=(n,)) for n in range(USERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, failures[0]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fed = LocalFederation(Path(tmp), {"arin": []}, iana=SHARED / "iana")
        source = SHARED / "delegated" / DATE / "delegated-ripencc-extended-latest"
        print(f"importing RIPE NCC's {DATE} file ...")
        import_delegated_file(fed.data, source, None, only=RegistryId.RIPENCC)
        asked = queries(fed, 2000)
        route_table = SHARED / "bgp" / "pyasn-data" / "ipasn_20140513.dat.gz"
        with config_path(fed.root, RegistryId.RIPENCC).open("a") as toml:
            toml.write(f'\n[explorer]\nroute_table = "{route_table}"\n')
        try:
            fed.start_all("iana", "ripencc", "arin")
            fed.wait_mirrored(("ripencc",), ("iana", "arin"))
            url = fed.urls["ripencc"]
            registry = map_timings(url, "registry")
            status = map_timings(url, "status")
            transfers = map_timings(url, "transfers")
            rpki = map_timings(url, "rpki")
            httpx.get(f"{url}/ui/api/lookup", params={"q": asked[0]}, timeout=60)
            latencies, failed = lookup_load(url, asked, args.seconds)
            blocks = [q for q in asked if not isinstance(parse_query(q), str)]  # no handles
            httpx.get(f"{url}/ui/api/rpki", params={"q": blocks[0]}, timeout=60)
            rpki_latencies, rpki_failed = lookup_load(url, blocks, args.seconds, "/ui/api/rpki")
            histories = []
            for q in asked[:20]:  # one visitor's history requests, one after another
                started = time.perf_counter()
                httpx.get(f"{url}/ui/api/history", params={"q": q}, timeout=60)
                histories.append((time.perf_counter() - started) * 1000)
        finally:
            fed.stop()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    rows = []
    maps = (("registry", registry), ("status", status), ("transfers", transfers), ("rpki", rpki))
    for name, runs in maps:
        cold, warm = runs[0], runs[1:]
        warm_total = statistics.median(r["totalMs"] for r in warm)
        warm_draw = statistics.median(r["drawMs"] for r in warm)
        rows += [
            (f"whole-IPv4 map by {name}, cold (tile built): total", f"{cold['totalMs']:.0f} ms",
             "", None),
            (f"whole-IPv4 map by {name}, warm (median of 3): draw / total", f"{warm_draw:.0f} / "
             f"{warm_total:.0f} ms", "<= 1000 ms", warm_total <= 1000),
        ]  # fmt: skip
    rows.append(
        (
            f"lookup API, {USERS} concurrent users: p50 / p99",
            f"{p50:.0f} / {p99:.0f} ms ({len(latencies)} lookups, {failed} failed, "
            f"{len(latencies) / args.seconds:.0f}/s)",
            "p99 <= 200 ms",
            p99 <= 200 and failed == 0,
        )
    )
    r50, r99 = percentile(rpki_latencies, 50), percentile(rpki_latencies, 99)
    rows.append(
        (
            f"RPKI lookup API (VRPs, ROV of the table's routes), {USERS} users: p50 / p99",
            f"{r50:.0f} / {r99:.0f} ms ({len(rpki_latencies)} lookups, {rpki_failed} failed)",
            "p99 <= 200 ms",
            r99 <= 200 and rpki_failed == 0,
        )
    )
    rows.append(
        (
            "history of a record (whole-log search, asked after the lookup): p50 / max",
            f"{percentile(histories, 50):.0f} / {max(histories):.0f} ms (one user, 20 records)",
            "",
            None,
        )
    )
    body = [
        "## Web explorer (issue 14, bench/bench_web.py)",
        "",
        f"RIPE NCC node with its complete {DATE} file (189,189 records), IANA and ARIN nodes, "
        "real `onereg serve` processes; headless Chromium for the map (the page's own "
        "performance.now() timings), 8 threads of httpx clients for the lookups (client-side "
        f"latency on loopback, {statistics.mean(latencies):.0f} ms mean). Measured on a "
        "machine shared with other jobs: figures are noisy.",
        "",
        *table(rows),
        "",
        f"Command: `nice -n 10 .venv/bin/python bench/bench_web.py --seconds {args.seconds:g}`",
        "",
        f"Machine: {machine()}",
    ]
    write_section("web", body)


if __name__ == "__main__":
    main()
