"""The web explorer in a real browser (Debian's headless Chromium through Selenium) against real
node processes built from real records of the 2018 delegated files (tests/webfed.py)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

import webfed
from localfed import ONEREG, LocalFederation
from onereg.core.resources import Resource
from onereg.federation.embedded import config_path
from onereg.ledger.checkpoint import Checkpoint, sign_checkpoint
from onereg.ledger.note import parse_note
from onereg.registry.identity import load_signer

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
PAGES = ("", "map", "federation", "transfers")
NODE = "ripencc"  # the node the browser talks to; the others are reached through its mirrors


def chrome(downloads: Path) -> webdriver.Chrome:
    """Headless Chromium that keeps its console log and saves downloads in `downloads`."""
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    return driver


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Iterator[tuple[LocalFederation, dict[str, list[webfed.RealRecord]]]]:
    if not Path(CHROMEDRIVER).exists():
        pytest.fail("chromedriver is missing: install Debian's chromium and chromium-driver")
    fed, records = webfed.build(tmp_path_factory.mktemp("webfed"), shared_data)
    try:
        webfed.serve(fed)
        yield fed, records
    finally:
        fed.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[webdriver.Chrome, Path]]:
    downloads = tmp_path_factory.mktemp("downloads")
    driver = chrome(downloads)
    try:
        yield driver, downloads
    finally:
        driver.quit()


def _ui(fed: LocalFederation, path: str = "", registry: str = NODE) -> str:
    return f"{fed.urls[registry]}/ui/{path}"


def _errors(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """Console errors since the last call (reading the log empties it)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _wait(driver: webdriver.Chrome, script: str, timeout: float = 30) -> Any:
    """Until the JavaScript expression is truthy; its value."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script(f"return {script}")
    )


def _query(record: webfed.RealRecord) -> str:
    return f"AS{record.start}" if record.afi == "asn" else record.start


def _holder_shown(driver: webdriver.Chrome) -> str:
    text = _wait(driver, "document.getElementById('holder-handle')?.textContent")
    return str(text)


def test_every_page_loads_without_console_errors(served: Any, browser: Any) -> None:
    fed, _ = served
    driver, _ = browser
    _errors(driver)
    for page in PAGES:
        driver.get(_ui(fed, page))
        _wait(driver, "document.readyState === 'complete'")
        _wait(driver, "document.querySelector('header .node').textContent.includes('ripencc')")
        time.sleep(0.3)  # let the page's own requests finish
        assert driver.find_element(By.TAG_NAME, "h1").text
        assert _errors(driver) == [], page


def test_lookup_shows_the_holder_of_real_blocks_of_each_registry(served: Any, browser: Any) -> None:
    fed, records = served
    driver, _ = browser
    for registry, rows in records.items():
        for record in (rows[0], rows[len(rows) // 2], rows[-1]):  # IPv4, IPv6/ASN, ASN
            driver.get(_ui(fed, "?q=" + _query(record)))
            assert _holder_shown(driver) == record.holder, (registry, record)
            chain = driver.find_element(By.CSS_SELECTOR, "ol.chain").text
            assert Resource.parse(_query(record)).afi.value == record.afi
            assert record.status in driver.find_element(By.ID, "holder").text
            history = _wait(driver, "document.querySelector('#history table')?.innerText")
            # the record's version from the log, with who stands behind it
            assert "registry action" in history or "registry import" in history
            if registry != NODE:  # the node says who is authoritative and links to it
                link = driver.find_element(By.CSS_SELECTOR, "#elsewhere a")
                assert link.get_attribute("href").startswith(_ui(fed, registry=registry))
                assert "verified mirror" in chain
            else:
                assert "own log" in chain
    assert _errors(driver) == []


def test_keyboard_tab_to_the_search_box_and_enter_submits(served: Any, browser: Any) -> None:
    fed, records = served
    driver, _ = browser
    record = records["apnic"][5]
    driver.get(_ui(fed))
    _wait(driver, "document.readyState === 'complete'")
    body = driver.find_element(By.TAG_NAME, "body")
    body.click()
    for _ in range(12):
        if driver.execute_script("return document.activeElement.id") == "q":
            break
        ActionChains(driver).send_keys(Keys.TAB).perform()
    assert driver.execute_script("return document.activeElement.id") == "q"
    driver.switch_to.active_element.send_keys(record.start + Keys.ENTER)
    assert _holder_shown(driver) == record.holder
    assert f"q={record.start}" in driver.current_url


def test_a_bad_query_says_what_is_wrong(served: Any, browser: Any) -> None:
    fed, _ = served
    driver, _ = browser
    driver.get(_ui(fed, "?q=193.0.0.300"))
    error = _wait(driver, "document.querySelector('#result .error')?.textContent")
    assert "193.0.0.300" in error
    _errors(driver)  # the 400 answer is logged by the browser as a failed resource


def _hilbert(side: int, d: int) -> tuple[int, int]:
    """Cell d's (x, y) on the curve: the same walk as map.js, written again to check it."""
    x = y = 0
    s, t = 1, d
    while s < side:
        rx = 1 & (t >> 1)
        ry = 1 & (t ^ rx)
        if ry == 0:
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        x, y, t, s = x + s * rx, y + s * ry, t >> 2, s * 2
    return x, y


def _square_centre(d: int, cells: int) -> tuple[int, int]:
    """The cell at the centre of the square of `cells` (a power of 4) cells that holds cell d:
    clicks aim there, well inside the block, not at a cell's edge."""
    side = int(cells**0.5)
    x, y = _hilbert(256, d - d % cells)
    return x - x % side + side // 2, y - y % side + side // 2


def _at(driver: webdriver.Chrome, x: int, y: int) -> ActionChains:
    """The pointer over cell (x, y) of the map, in viewport coordinates (Selenium's offsets
    from an element count from the centre of its visible part only)."""
    box = driver.execute_script(
        "const c = document.getElementById('map'); c.scrollIntoView({block: 'center'});"
        "const b = c.getBoundingClientRect();"
        "return [b.left + c.clientLeft, b.top + c.clientTop, c.clientWidth, c.clientHeight];"
    )
    left, top, width, height = box
    chain = ActionChains(driver)
    chain.w3c_actions.pointer_action.move_to_location(
        round(left + (x + 0.5) * width / 256), round(top + (y + 0.5) * height / 256)
    )
    return chain


def test_map_renders_fast_and_clicks_open_the_right_block(served: Any, browser: Any) -> None:
    fed, records = served
    driver, _ = browser
    record = next(r for r in records["arin"] if r.afi == "ipv4" and r.value >= 65536)
    address = Resource.parse(record.start).start
    first, second = address >> 24, (address >> 16) & 255
    driver.get(_ui(fed, "map"))
    _wait(driver, "document.getElementById('map').dataset.drawn === 'registry:all'")
    driver.get(_ui(fed, "map"))  # again, with the tile cut: what a visitor sees
    _wait(driver, "document.getElementById('map').dataset.drawn === 'registry:all'")
    timing = driver.execute_script("return window.oneregMap")
    assert timing["drawMs"] <= 1000 and timing["totalMs"] <= 1000, timing
    # hovering names the block; clicking a /8's square zooms into it
    x, y = _square_centre(first << 8, 256)
    _at(driver, x, y).perform()
    assert f"{first}." in _wait(driver, "document.getElementById('tip').textContent")
    _at(driver, x, y).click().perform()
    _wait(driver, f"document.getElementById('map').dataset.drawn === 'registry:{first}'")
    # in the /8, a /24 of the record's first /16 opens the lookup of the record
    x, y = _square_centre(second << 8, 256)
    _at(driver, x, y).perform()
    tip = _wait(driver, "document.getElementById('tip').textContent")
    assert tip.startswith(f"{first}.{second}.") and tip.split(":")[0].endswith("/24"), tip
    _at(driver, x, y).click().perform()
    _wait(driver, "location.search.includes('q=')")
    assert f"q={first}.{second}." in driver.current_url
    assert _holder_shown(driver) == record.holder
    assert _errors(driver) == []


def test_status_map_colours_held_and_free_space(served: Any) -> None:
    fed, records = served
    record = next(r for r in records["ripencc"] if r.afi == "ipv4" and r.value >= 256)
    address = Resource.parse(record.start).start
    tile = httpx.get(
        _ui(fed, "api/map"), params={"mode": "status", "block": str(address >> 24)}, timeout=30
    ).content
    legend = httpx.get(_ui(fed, "api/legend"), timeout=10).json()["legends"]["status"]
    assert legend[tile[(address >> 8) & 0xFFFF]]["label"] == record.status
    bad = httpx.get(_ui(fed, "api/map"), params={"mode": "colour", "block": "all"}, timeout=10)
    assert bad.status_code == 400 and "colour" in bad.json()["error"]


def test_proof_download_verifies_with_onereg_verify_proof(served: Any, browser: Any) -> None:
    fed, records = served
    driver, downloads = browser
    record = next(r for r in records[NODE] if r.afi == "ipv4")
    deadline = time.monotonic() + 60
    while True:  # the node's latest checkpoint must first gather its cosignature
        for old in downloads.iterdir():
            old.unlink()
        driver.get(_ui(fed, "?q=" + record.start))
        button = WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "proof-download"))
        command = driver.find_element(By.ID, "verify-command").text
        button.click()
        driver.find_element(By.ID, "policy-download").click()
        proof = downloads / command.split()[2]
        WebDriverWait(driver, 30).until(
            lambda _, proof=proof: proof.exists() and (downloads / "policy.txt").exists()
        )
        args = command.split()
        assert args[:2] == ["onereg", "verify-proof"]
        held = Resource.parse(record.start)
        proved = Resource.parse(args[args.index("--resource") + 1])
        assert (proved.start, proved.end) == (held.start, held.start + record.value - 1)
        done = subprocess.run(
            [ONEREG, *args[1:]], cwd=downloads, capture_output=True, text=True, timeout=60
        )
        if done.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout and record.holder in done.stdout


@pytest.mark.parametrize("width", [390, 1280])
def test_pages_fit_phone_and_desktop_widths(served: Any, browser: Any, width: int) -> None:
    fed, records = served
    driver, _ = browser
    try:
        driver.set_window_size(width, 900)
        for page in (f"?q={records['lacnic'][0].start}", "map", "federation", "transfers"):
            driver.get(_ui(fed, page))
            _wait(driver, "document.readyState === 'complete'")
            time.sleep(0.3)
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (width, page, overflow)
    finally:
        driver.set_window_size(1280, 1000)


def test_federation_page_shows_every_log_and_its_cosignatures(served: Any, browser: Any) -> None:
    fed, _ = served
    driver, _ = browser
    driver.get(_ui(fed, "federation"))
    text = _wait(driver, "document.querySelector('#federation table')?.innerText")
    for name in ("IANA", "AFRINIC", "APNIC", "ARIN", "LACNIC", "RIPE NCC"):
        assert name in text
    assert "this node" in text and "quorum met" in text
    summary = httpx.get(_ui(fed, "api/federation"), timeout=10).json()
    sizes = {r["registry"]: r["logSize"] for r in summary["registries"]}
    with fed.data.read(webfed.RegistryId(NODE)) as node:  # the node's own log, read-only
        assert sizes[NODE] == node.head()[0]


# --- contrast (WCAG 2.x relative luminance) ----------------------------------------------------


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_text_colours_meet_wcag_aa_contrast() -> None:
    css = (Path(webfed.__file__).parents[1] / "src/onereg/web/static/style.css").read_text()
    colours = dict(re.findall(r"--([a-z]+-(?:fg|bg)):\s*(#[0-9a-fA-F]{6})", css))
    pairs = [(name, name[:-2] + "bg") for name in colours if name.endswith("-fg")]
    assert len(pairs) >= 8
    for fg, bg in pairs:
        assert _contrast(colours[fg], colours[bg]) >= 4.5, (fg, bg)
        if fg != "nav-fg" and fg != "button-fg":  # text shown on the page itself
            assert _contrast(colours[fg], colours["page-bg"]) >= 4.5, fg
    assert _contrast("#000000", "#ffffff") == pytest.approx(21.0)  # the formula itself


# --- transfers and the federation's evidence and audit -------------------------------------------


def _transfer_row(driver: webdriver.Chrome, transfer_id: str) -> str | None:
    """The state the transfers page shows for the transfer (None while it is not listed)."""
    state = driver.execute_script(
        "const r = document.querySelector(`#transfers tr[data-id='${arguments[0]}']`);"
        "return r ? r.dataset.state : null;",
        transfer_id,
    )
    return None if state is None else str(state)


def test_a_transfer_between_registries_moves_on_the_page_with_both_signatures(
    served: Any, browser: Any
) -> None:
    """RIPE NCC -> ARIN while ARIN's node is down: the page shows the transfer locked at the
    source (sourceInitialized, in flight); ARIN's node comes back, the transfer completes, and
    the same page (no reload) shows it registered, in the flows chart, with both signatures."""
    fed, records = served
    driver, _ = browser
    record = next(r for r in records[NODE] if r.afi == "ipv4")  # its holder has a key
    assert record.value >= 256
    block = f"{record.start}/24"
    driver.get(_ui(fed, "transfers"))
    _wait(driver, "document.querySelector('#transfers p, #transfers table')")
    driver.execute_script("window.stillThisPage = true")
    fed.kill("arin")
    signed = fed.agreement(block, (NODE, record.holder), ("arin", "ARIN-NEW"))
    transfer_id = signed.agreement.nonce
    seen: list[str] = []
    back = False
    try:
        with httpx.Client() as client, ThreadPoolExecutor(1) as pool:
            submitted = pool.submit(fed.submit, client, signed)
            deadline = time.monotonic() + 60
            while _transfer_row(driver, transfer_id) != "sourceInitialized":
                assert time.monotonic() < deadline, "the locked transfer never showed"
                time.sleep(0.1)
            seen.append("sourceInitialized")
            row = f"#transfers tr[data-id='{transfer_id}']"
            assert "in flight" in driver.find_element(By.CSS_SELECTOR, row).text
            fed.start("arin")
            back = True
            answer = submitted.result(timeout=60)
            assert answer.json()["state"] in ("sourceInitialized", "sourceFinalized"), answer.text
    finally:
        if not back:
            fed.start("arin")
    deadline = time.monotonic() + 90
    while (state := _transfer_row(driver, transfer_id)) != "recipientRegistered":
        assert time.monotonic() < deadline, f"the transfer stopped at {state} ({seen})"
        if state and state != seen[-1]:
            seen.append(state)
        time.sleep(0.1)
    seen.append("recipientRegistered")
    assert driver.execute_script("return window.stillThisPage === true"), "the page reloaded"
    assert seen[0] == "sourceInitialized" and seen[-1] == "recipientRegistered", seen
    text = driver.find_element(By.CSS_SELECTOR, f"#transfers tr[data-id='{transfer_id}']").text
    assert record.holder in text and "ARIN-NEW" in text and block.split("/")[0] in text
    for step in ("sourceInitialized", "recipientAccepted", "sourceFinalized"):
        assert step in text, step
    # the policy versions each registry decided under, as its log records them
    with fed.data.read(webfed.RegistryId(NODE)) as node:
        row = node.conn.execute("SELECT record FROM transfers WHERE id = ?", (transfer_id,))
        versions = json.loads(row.fetchone()[0])["policy"]
    assert versions and all(f"{k}: {v}" in text for k, v in versions.items()), versions
    # both signatures: the key shown is the holder's, and its signature verifies over the
    # agreement (checked here with the key and signature the page shows)
    assert text.count("signature verifies") == 2
    shown = driver.execute_script(
        "return [...document.querySelectorAll(`#transfers tr[data-id='${arguments[0]}'] "
        "ul.sigs li`)].map((li) => [...li.querySelectorAll('code')].map((c) => c.textContent))",
        transfer_id,
    )
    keys = [fed.keys[(NODE, record.holder)], fed.keys[("arin", "ARIN-NEW")]]
    for (public, signature), key in zip(shown, keys, strict=True):
        raw = key.public_key().public_bytes_raw()
        assert base64.b64decode(public) == raw
        Ed25519PublicKey.from_public_bytes(raw).verify(
            base64.b64decode(signature), signed.agreement.message()
        )
    # the flows chart and its table: RIPE NCC -> ARIN, one block of 256 addresses
    circle = driver.find_elements(By.CSS_SELECTOR, "#flows-chart circle[data-flow$='ripencc arin']")
    assert circle, driver.find_element(By.ID, "flows").get_attribute("innerHTML")[:500]
    flows = driver.find_element(By.CSS_SELECTOR, "#flows table").text
    assert re.search(r"RIPE NCC ARIN 1 block, 256 IPv4 addresses", flows), flows
    assert _errors(driver) == []
    try:
        driver.set_window_size(390, 900)
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, overflow
    finally:
        driver.set_window_size(1280, 1000)


def test_federation_page_shows_the_audit_findings_of_the_nodes_view(
    served: Any, browser: Any
) -> None:
    """The same findings as `onereg audit --node` on the node's own config."""
    fed, _ = served
    driver, _ = browser
    done = subprocess.run(
        [ONEREG, "audit", "--json", "--node", str(config_path(fed.root, webfed.RegistryId(NODE)))],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert report["unclaimed"], "the fixture lists a few hundred records: most space is unclaimed"
    driver.get(_ui(fed, "federation"))
    summary = _wait(driver, "document.querySelector(\"#audit details[data-kind='unclaimed']\")")
    assert summary.text.endswith(f": {len(report['unclaimed'])}")
    driver.execute_script("arguments[0].open = true", summary)
    shown = summary.find_element(By.TAG_NAME, "table").text
    first = report["unclaimed"][0]
    assert first["range"] in shown and first["iana_block"] in shown
    cross = driver.find_element(
        By.CSS_SELECTOR, "#audit details[data-kind='crossHoldings'] summary"
    )
    assert cross.text.endswith(f": {len(report['cross_holdings'])}")
    assert "No resource has two holders" in driver.find_element(By.ID, "audit").text
    assert driver.find_element(By.ID, "no-evidence").text.startswith("None")
    assert _errors(driver) == []


def test_federation_page_shows_split_view_evidence_and_how_to_check_it(
    served: Any, browser: Any
) -> None:
    """LACNIC's node was shown a checkpoint of AFRINIC's log, signed by AFRINIC's log key, with
    another root for the same size (planted in its mirror's state while it was stopped, as a
    split view would leave it): its mirror writes the evidence, and its federation page shows
    it with the command that checks it, which passes on the downloaded files."""
    fed, _ = served
    driver, downloads = browser
    honest = Checkpoint.parse(
        parse_note(httpx.get(fed.urls["afrinic"] + "/log/checkpoint").text)[0]
    )
    signer = load_signer(fed.root / "nodes/afrinic/keys/log.key")
    forged = sign_checkpoint(
        Checkpoint(honest.origin, honest.size, bytes(32), honest.extensions), [signer]
    )
    fed.kill("lacnic")
    (fed.root / "nodes/lacnic/mirrors/seen/afrinic.checkpoint").write_text(forged)
    fed.start("lacnic")
    driver.get(_ui(fed, "federation", registry="lacnic"))
    command = _wait(
        driver, "document.querySelector('#evidence code.verify-evidence')?.textContent", 60
    )
    name = command.split()[2]
    text = driver.find_element(By.ID, "evidence").text
    assert "AFRINIC" in text and "split view" in text and "two different roots" in text
    # the mirror's row says why it is stale, naming the evidence file but no server path
    mirrors = _wait(driver, f"document.getElementById('federation').innerText.includes('{name}')"
                    " && document.getElementById('federation').innerText")  # fmt: skip
    assert str(fed.root) not in mirrors
    for old in downloads.iterdir():
        old.unlink()
    for link in driver.find_elements(By.CSS_SELECTOR, "#evidence a[download]"):
        link.click()
    WebDriverWait(driver, 30).until(
        lambda _: (downloads / name).exists() and (downloads / "policy.txt").exists()
    )
    checked = subprocess.run(
        [ONEREG, *command.split()[1:]], cwd=downloads, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "conflict proven" in checked.stdout
    assert _errors(driver) == []
