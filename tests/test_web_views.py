"""The explorer's map colourings by transfer activity and RPKI coverage, its IPv6 and AS number
views, and the lookup's VRPs and route validity, in a real browser (Debian's headless Chromium)
against real node processes (tests/webfed.py) holding real 2018 records, one real
intra-registry transfer, one ROA for a real route, and the real 2014 RouteViews table."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

import webfed
from localfed import LocalFederation
from onereg.core.resources import Resource
from onereg.web.transfer_view import key_id
from test_web_ui import CHROMEDRIVER, _errors, _hilbert, _holder_shown, _wait, chrome

NODE = "ripencc"  # has the transfer, the ROA and the route table
STARTED = ("iana", "ripencc", "arin")  # ARIN: a node with no route table, and a mirror to read


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Iterator[tuple[LocalFederation, dict[str, list[webfed.RealRecord]], webfed.Extras]]:
    if not Path(CHROMEDRIVER).exists():
        pytest.fail("chromedriver is missing: install Debian's chromium and chromium-driver")
    fed, records = webfed.build(tmp_path_factory.mktemp("webviews"), shared_data)
    extras = webfed.add_transfer_and_roa(fed, records, shared_data)
    try:
        fed.start_all(*STARTED)
        fed.wait_mirrored(STARTED, STARTED)
        yield fed, records, extras
    finally:
        fed.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = chrome(tmp_path_factory.mktemp("downloads"))
    try:
        yield driver
    finally:
        driver.quit()


def _ui(fed: LocalFederation, path: str = "", registry: str = NODE) -> str:
    return f"{fed.urls[registry]}/ui/{path}"


def _legend(fed: LocalFederation, mode: str) -> list[dict[str, str]]:
    legends: dict[str, list[dict[str, str]]] = httpx.get(_ui(fed, "api/legend"), timeout=10).json()[
        "legends"
    ]
    return legends[mode]


def _cell_colour(driver: Any, address: int) -> tuple[str, str]:
    """The colour drawn for the /24 of `address` on its /8's map, and the hover text there."""
    x, y = _hilbert(256, (address >> 8) & 0xFFFF)
    colour, box = driver.execute_script(
        "const c = document.getElementById('map'); c.scrollIntoView({block: 'center'});"
        "const s = c.width / 256;"
        f"const p = c.getContext('2d').getImageData(({x} + 0.5) * s, ({y} + 0.5) * s, 1, 1).data;"
        "const b = c.getBoundingClientRect();"
        "return ['#' + [p[0], p[1], p[2]].map((v) => v.toString(16).padStart(2, '0')).join(''),"
        " [b.left + c.clientLeft, b.top + c.clientTop, c.clientWidth, c.clientHeight]];"
    )
    left, top, width, height = box
    chain = ActionChains(driver)
    chain.w3c_actions.pointer_action.move_to_location(
        round(left + (x + 0.5) * width / 256), round(top + (y + 0.5) * height / 256)
    )
    chain.perform()
    tip = _wait(driver, "document.getElementById('tip').textContent")
    return colour, str(tip)


def _map_of(driver: Any, fed: LocalFederation, mode: str, address: int) -> None:
    block = address >> 24
    driver.get(_ui(fed, f"map?mode={mode}&block={block}"))
    _wait(driver, f"document.getElementById('map').dataset.drawn === '{mode}:{block}'")


def test_transfer_colouring_marks_the_block_moved_in_the_log(served: Any, browser: Any) -> None:
    fed, _, extras = served
    moved = Resource.parse(extras.moved)
    legend = _legend(fed, "transfers")
    _map_of(browser, fed, "transfers", moved.start)
    colour, tip = _cell_colour(browser, moved.start)
    want = next(item for item in legend if item["label"] == "moved within a registry, past year")
    assert colour == want["colour"] and tip.endswith(want["label"]), (colour, tip)
    # the rest of the source's block stayed where it was
    colour, tip = _cell_colour(browser, moved.start + 256)
    assert colour == legend[0]["colour"] and tip.endswith(legend[0]["label"]), (colour, tip)
    assert browser.find_element(By.ID, "legend-note").text.startswith("Blocks moved by a transfer")
    assert _errors(browser) == []


def test_rpki_colouring_shows_the_block_covered_by_a_roa(served: Any, browser: Any) -> None:
    fed, _, extras = served
    route = Resource.parse(extras.roa_prefix)
    legend = _legend(fed, "rpki")
    _map_of(browser, fed, "rpki", route.start)
    colour, tip = _cell_colour(browser, route.start)
    share = min(route.size, 256) / 256  # the route's share of its /24
    steps = ("under 25", "25-49", "50-74", "75-99")
    label = "all covered by VRPs" if share == 1 else steps[int(share * 4)]
    want = next(item for item in legend if item["label"].startswith(label))
    assert colour == want["colour"] and tip.endswith(want["label"]), (colour, tip)
    outside = route.end + 1 if route.size >= 256 else route.start + 256  # the next /24
    colour, _ = _cell_colour(browser, outside)
    assert colour == legend[0]["colour"]
    assert _errors(browser) == []


def test_lookup_shows_the_vrp_and_the_rov_state_of_a_real_route(served: Any, browser: Any) -> None:
    fed, _, extras = served
    browser.get(_ui(fed, "?q=" + extras.roa_prefix))
    vrps = _wait(browser, "document.querySelector('#vrps table')?.innerText")
    assert f"AS{extras.roa_asn}" in vrps and extras.roa_prefix in vrps
    assert "this node's CA" in vrps
    routes = _wait(browser, "document.querySelector('#routes table')?.innerText")
    assert extras.route_table.name in routes
    row = next(line for line in routes.splitlines() if line.startswith(extras.roa_prefix + "\t"))
    assert f"AS{extras.roa_asn}" in row and "\tvalid" in row, row
    # a route under the ROA's prefix but from another AS (or more specific) is invalid: the
    # states come from the ROV core for every route the table has there
    answer = httpx.get(_ui(fed, "api/rpki"), params={"q": extras.roa_prefix}, timeout=30).json()
    for route in answer["routes"]:
        inside = Resource.parse(route["prefix"]).start >= Resource.parse(extras.roa_prefix).start
        ok = route["origin"] == extras.roa_asn and route["prefix"] == extras.roa_prefix
        if inside and route["prefix"] != extras.roa_prefix:
            assert route["state"] == "invalid", route
        elif ok:
            assert route["state"] == "valid"
    assert _errors(browser) == []


def test_lookup_says_when_no_route_table_is_loaded(served: Any, browser: Any) -> None:
    fed, records, _ = served
    record = next(r for r in records["arin"] if r.afi == "ipv4")
    browser.get(_ui(fed, "?q=" + record.start, registry="arin"))
    note = _wait(browser, "document.getElementById('routes-note')?.textContent")
    assert "No route table is loaded" in note
    assert _errors(browser) == []


def test_ipv6_and_asn_views_open_the_right_lookup(served: Any, browser: Any) -> None:
    fed, records, _ = served
    known = {r.start: r for name in ("ripencc", "arin") for r in records[name]}
    browser.get(_ui(fed, "space"))
    _wait(browser, "document.body.dataset.ready === 'space'")
    assert _errors(browser) == []
    links = browser.find_elements(By.CSS_SELECTOR, "a.first-ipv6")
    link = next(a for a in links if a.get_attribute("data-first").split("/")[0] in known)
    record = known[link.get_attribute("data-first").split("/")[0]]
    link.click()
    assert _holder_shown(browser) == record.holder
    # the AS band: hover names the block, click opens its first record
    browser.get(_ui(fed, "space"))
    _wait(browser, "document.body.dataset.ready === 'space'")
    segments = browser.find_elements(By.CSS_SELECTOR, "#asn-bands a.segment")
    segment = next(s for s in segments if s.get_attribute("data-first")[2:] in known)
    record = known[segment.get_attribute("data-first")[2:]]
    ActionChains(browser).move_to_element(segment).perform()
    tip = _wait(browser, "document.getElementById('asn-tip').textContent")
    assert tip.startswith(f"AS{segment.get_attribute('data-start')}-AS")
    ActionChains(browser).move_to_element(segment).click().perform()
    _wait(browser, "location.search.includes('q=')")
    assert _holder_shown(browser) == record.holder
    assert _errors(browser) == []


def test_new_views_load_without_console_errors(served: Any, browser: Any) -> None:
    fed, _, _ = served
    for page, ready in (
        ("map?mode=transfers", "document.getElementById('map').dataset.drawn === 'transfers:all'"),
        ("map?mode=rpki", "document.getElementById('map').dataset.drawn === 'rpki:all'"),
        ("space", "document.body.dataset.ready === 'space'"),
    ):
        browser.get(_ui(fed, page))
        _wait(browser, ready)
        time.sleep(0.3)
        assert _errors(browser) == [], page


@pytest.mark.parametrize("width", [390, 1280])
def test_space_page_fits_phone_and_desktop_widths(served: Any, browser: Any, width: int) -> None:
    fed, _, extras = served
    try:
        browser.set_window_size(width, 900)
        for page, ready in (
            ("space", "document.body.dataset.ready === 'space'"),
            ("?q=" + extras.roa_prefix, "document.querySelector('#routes table')"),
        ):
            browser.get(_ui(fed, page))
            _wait(browser, ready)
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (width, page, overflow)
    finally:
        browser.set_window_size(1280, 1000)


def test_a_transfer_signed_before_both_holders_rotated_their_keys_still_verifies(
    served: Any, browser: Any
) -> None:
    """The intra-registry transfer was signed under the holders' first keys, both replaced
    after it: the JSON API and the page check each signature with the key in force at the
    transfer's log entry (not the key now) and name that key entry."""
    fed, _, extras = served
    listed = httpx.get(_ui(fed, "api/transfers"), timeout=30).json()
    [t] = [t for t in listed["transfers"] if t["resource"] == extras.moved]
    holders = [s["holder"] for s in t["signatures"]]
    assert sorted(holders) == sorted(extras.signed_with)
    for shown in t["signatures"]:
        then = extras.signed_with[shown["holder"]]
        assert shown["status"] == "verified" and shown["keyEntry"] == f"{NODE}:{then}"
        now = fed.keys[(NODE, shown["holder"])].public_key().public_bytes_raw()
        assert shown["keyId"] != key_id(now)  # the key then, which the holder has replaced
    browser.get(_ui(fed, "transfers"))
    row = f"#transfers tr[data-id='{t['id']}']"
    _wait(browser, f'document.querySelector("{row}")')
    text = browser.find_element(By.CSS_SELECTOR, row).text
    assert text.count("signature verifies") == 2, text
    for holder, then in extras.signed_with.items():
        assert f"key of {holder} registered at RIPE NCC log entry {then}" in text, text
    assert _errors(browser) == []
