"""Screenshots of the web explorer's pages into docs/screenshots/*.png.

Starts the small federation of the browser tests (six real `onereg serve` processes built from
real records of the 2018 delegated files, tests/webfed.py), drives Debian's headless Chromium
through each page at desktop width (and the lookup at phone width), and stops everything.

Run: .venv/bin/python tools/screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from selenium import webdriver  # noqa: E402

import webfed  # noqa: E402
from localfed import LocalFederation  # noqa: E402
from test_web_ui import chrome  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
SHARED = ROOT.parent / "shared" / "data"
MAX_HEIGHT = 2200  # pixels: long pages are cut here


def shoot(
    driver: webdriver.Chrome, url: str, name: str, ready: str, width: int = 1280, then: str = ""
) -> None:
    """Open `url`, wait until the JavaScript `ready` is true, run the JavaScript `then` (e.g.
    open a section), and save the whole page."""
    driver.set_window_size(width, 900)
    driver.get(url)
    deadline = time.monotonic() + 60
    while not driver.execute_script(f"return Boolean({ready})"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: the page was not ready within 60 s")
        time.sleep(0.1)
    if then:
        driver.execute_script(then)
    time.sleep(0.5)  # the page's last requests (ROAs, legend)
    for _ in range(3):  # the window's frame takes part of its height: until the page fits
        view = driver.execute_script("return window.innerHeight")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        if view >= min(MAX_HEIGHT, height):
            break
        outer = driver.get_window_size()["height"]
        driver.set_window_size(width, min(MAX_HEIGHT, outer + height - view + 10))
        time.sleep(0.3)
    path = OUT / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")


def offered(
    fed: LocalFederation, records: dict[str, list[webfed.RealRecord]], moved: str
) -> webfed.RealRecord:
    """The RIPE NCC block whose first three /24s the transfers below move: one with room for
    them whose holder has a key, not the one `webfed.add_transfer_and_roa` moved a /24 of."""
    return next(
        r
        for r in records["ripencc"]
        if r.afi == "ipv4"
        and r.value >= 768
        and ("ripencc", r.holder) in fed.keys
        and not moved.startswith(r.start + "/")
    )


def transfers(fed: LocalFederation, record: webfed.RealRecord) -> None:
    """Two real transfers for the transfers page: a /24 of RIPE NCC's first IPv4 holder to an
    ARIN holder, and the next /24 to another RIPE NCC holder; until both are done."""
    base = record.start.rsplit(".", 2)[0]
    third = int(record.start.split(".")[2])
    deals = [
        fed.agreement(f"{base}.{third}.0/24", ("ripencc", record.holder), ("arin", "ARIN-NEW")),
        fed.agreement(
            f"{base}.{third + 1}.0/24", ("ripencc", record.holder), ("ripencc", "RIPENCC-NEW")
        ),
    ]
    with httpx.Client() as client:
        for deal in deals:
            answer = fed.submit(client, deal)
            if answer.status_code >= 400:
                raise RuntimeError(f"transfer {deal.agreement.resource}: {answer.text}")
        deadline = time.monotonic() + 60
        while True:
            listed = client.get(fed.urls["ripencc"] + "/ui/api/transfers", timeout=30).json()
            if len(listed["transfers"]) >= 2 and not any(
                t["inFlight"] for t in listed["transfers"]
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the transfers did not finish within 60 s")
            time.sleep(0.5)


def in_flight(fed: LocalFederation, record: webfed.RealRecord) -> None:
    """A third /24 offered to APNIC while APNIC's node is down: locked at the source, in flight
    (the caller starts APNIC's node again once the page is shot)."""
    base, third = record.start.rsplit(".", 2)[0], int(record.start.split(".")[2])
    deal = fed.agreement(
        f"{base}.{third + 2}.0/24", ("ripencc", record.holder), ("apnic", "APNIC-NEW")
    )
    fed.kill("apnic")
    with httpx.Client() as client:
        answer = fed.submit(client, deal)
    if answer.json().get("state") != "sourceInitialized":
        raise RuntimeError(f"the in-flight transfer: {answer.text}")


def split_view(fed: LocalFederation) -> None:
    """LACNIC's node shown a second AFRINIC checkpoint for the same size (as in the browser
    test): its mirror writes split-view evidence, which its federation page shows."""
    from onereg.ledger.checkpoint import Checkpoint, sign_checkpoint
    from onereg.ledger.note import parse_note
    from onereg.registry.identity import load_signer

    note = httpx.get(fed.urls["afrinic"] + "/log/checkpoint", timeout=10).text
    honest = Checkpoint.parse(parse_note(note)[0])
    signer = load_signer(fed.root / "nodes/afrinic/keys/log.key")
    forged = Checkpoint(honest.origin, honest.size, bytes(32), honest.extensions)
    fed.kill("lacnic")
    seen = fed.root / "nodes/lacnic/mirrors/seen/afrinic.checkpoint"
    seen.write_text(sign_checkpoint(forged, [signer]))
    fed.start("lacnic")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fed, records = webfed.build(Path(tmp) / "fed", SHARED)
        # a transfer, a ROA, the 2014 table and LACNIC's real VRP export
        vrps = SHARED / "rpki" / "vrp-exports" / "lacnic-roa-prefixes.csv"
        extras = webfed.add_transfer_and_roa(fed, records, SHARED, vrps)
        try:
            webfed.serve(fed)
            ui = fed.urls["ripencc"] + "/ui/"
            ripe = next(r for r in records["ripencc"] if r.afi == "ipv4")
            arin = next(r for r in records["arin"] if r.afi == "ipv4")
            first = int(ripe.start.split(".")[0])
            holder = "document.getElementById('holder-handle')"
            drawn = "document.getElementById('map').dataset.drawn === '{}'"
            driver = chrome(Path(tmp) / "downloads")
            try:
                shoot(driver, f"{ui}?q={ripe.start}", "lookup", holder)
                shoot(driver, f"{ui}?q={arin.start}", "lookup-other-registry", holder)
                shoot(driver, f"{ui}map", "map", drawn.format("registry:all"))
                shoot(driver, f"{ui}map?mode=status&block={first}", "map-status-slash8",
                      drawn.format(f"status:{first}"))  # fmt: skip
                moved = int(extras.moved.split(".")[0])
                shoot(driver, f"{ui}map?mode=transfers&block={moved}", "map-transfers-slash8",
                      drawn.format(f"transfers:{moved}"))  # fmt: skip
                shoot(driver, f"{ui}map?mode=rpki", "map-rpki", drawn.format("rpki:all"))
                shoot(driver, f"{ui}space", "space", "document.body.dataset.ready === 'space'")
                shoot(driver, f"{ui}?q={extras.roa_prefix}", "lookup-rpki",
                      "document.querySelector('#routes table')")  # fmt: skip
                audit = "document.querySelector(\"#audit details[data-kind='unclaimed']\")"
                cross = "#audit details[data-kind='crossHoldings']"
                opened = f'document.querySelector("{cross}").open = true'
                shoot(driver, f"{ui}federation", "federation", audit, then=opened)
                offer = offered(fed, records, extras.moved)
                transfers(fed, offer)
                in_flight(fed, offer)
                listed = "document.querySelector('#flows-chart')"
                shoot(driver, f"{ui}transfers", "transfers", listed)
                shoot(driver, f"{ui}?q={ripe.start}", "lookup-phone", holder, width=390)
                shoot(driver, f"{ui}transfers", "transfers-phone", listed, width=390)
                fed.start("apnic")
                split_view(fed)
                lacnic = fed.urls["lacnic"] + "/ui/"
                evidence = "document.querySelector('#evidence code.verify-evidence')"
                shoot(driver, f"{lacnic}federation", "federation-evidence", evidence)
            finally:
                driver.quit()
        finally:
            fed.stop()


if __name__ == "__main__":
    main()
