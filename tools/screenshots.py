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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from selenium import webdriver  # noqa: E402

import webfed  # noqa: E402
from test_web_ui import chrome  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
SHARED = ROOT.parent / "shared" / "data"
MAX_HEIGHT = 2200  # pixels: long pages are cut here


def shoot(driver: webdriver.Chrome, url: str, name: str, ready: str, width: int = 1280) -> None:
    """Open `url`, wait until the JavaScript `ready` is true, and save the whole page."""
    driver.set_window_size(width, 900)
    driver.get(url)
    deadline = time.monotonic() + 60
    while not driver.execute_script(f"return Boolean({ready})"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: the page was not ready within 60 s")
        time.sleep(0.1)
    time.sleep(0.5)  # the page's last requests (ROAs, legend)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(MAX_HEIGHT, int(height) + 20))
    time.sleep(0.3)
    path = OUT / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")


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
                fed_table = "document.querySelector('#federation table')"
                shoot(driver, f"{ui}federation", "federation", fed_table)
                shoot(
                    driver, f"{ui}transfers", "transfers", "document.querySelector('#transfers *')"
                )
                shoot(driver, f"{ui}?q={ripe.start}", "lookup-phone", holder, width=390)
            finally:
                driver.quit()
        finally:
            fed.stop()


if __name__ == "__main__":
    main()
