"""One registry to the outside, with real node processes: whois (the Debian client) and RDAP
answer from any node, and follow the authority as soon as a transfer moves it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from localfed import LocalFederation


@pytest.fixture
def fed(tmp_path: Path, shared_data: Path) -> Iterator[LocalFederation]:
    f = LocalFederation(
        tmp_path,
        {
            "ripencc": [("ipv4", "193.0.0.0", 65536, "R1")],
            "arin": [("ipv4", "23.0.0.0", 65536, "A1")],
        },
        iana=shared_data / "iana",
    )
    for registry in ("iana", "ripencc", "arin"):  # authority comes from IANA's mirrored log
        f.start(registry)
    f.wait_mirrored(("ripencc", "arin"), ("iana", "ripencc", "arin"))
    yield f
    f.stop()


def _whois(fed: LocalFederation, registry: str, query: str) -> str:
    host, port = fed.whois[registry].rsplit(":", 1)
    done = subprocess.run(
        ["whois", "-h", host, "-p", port, query], capture_output=True, text=True, timeout=30
    )
    return done.stdout


def _rdap(fed: LocalFederation, registry: str, path: str) -> httpx.Response:
    return httpx.get(f"{fed.urls[registry]}/rdap/{path}", timeout=10)


def _whois_until(fed: LocalFederation, registry: str, query: str, wanted: str) -> str:
    """The whois answer once it contains `wanted`: a node's authority map follows its mirrors
    in the background, within seconds of them."""
    deadline = time.monotonic() + 15
    while wanted not in (text := _whois(fed, registry, query)):
        assert time.monotonic() < deadline, text
        time.sleep(0.2)
    return text


def _rdap_until(fed: LocalFederation, registry: str, path: str, status: int) -> httpx.Response:
    """The answer once it has the expected status: the authority map is re-read at most once a
    second and reloaded in the background, so a node follows a transfer within seconds."""
    deadline = time.monotonic() + 15
    while (answer := _rdap(fed, registry, path)).status_code != status:
        assert time.monotonic() < deadline, f"{registry} {path}: still {answer.status_code}"
        time.sleep(0.2)
    return answer


def test_whois_and_rdap_follow_a_transfer_without_a_restart(fed: LocalFederation) -> None:
    for registry in ("ripencc", "arin"):  # any node: the holder, or the way to it
        _whois_until(fed, registry, "193.0.1.1", "R1")
    assert _rdap(fed, "ripencc", "ip/193.0.1.1").status_code == 200
    moved = _rdap_until(fed, "arin", "ip/193.0.1.1", 301)
    assert moved.headers["location"].startswith(fed.urls["ripencc"])

    signed = fed.agreement("193.0.1.0/24", ("ripencc", "R1"), ("arin", "A1"))
    with httpx.Client() as client:
        assert fed.submit(client, signed).json()["state"] == "sourceFinalized"

    answer = _rdap_until(fed, "arin", "ip/193.0.1.1", 200)
    assert any(e.get("handle") == "A1" for e in answer.json()["entities"])
    redirect = _rdap_until(fed, "ripencc", "ip/193.0.1.1", 301)
    assert redirect.headers["location"].startswith(fed.urls["arin"])
    assert _rdap(fed, "ripencc", "ip/193.0.2.1").status_code == 200  # the rest stays
    for registry in ("ripencc", "arin"):  # whois keeps its own map, in its own process
        text = _whois_until(fed, registry, "193.0.1.1", "A1")
        assert "R1" not in text.split("193.0.1.0")[-1], text
    bootstrap = _rdap(fed, "ripencc", "bootstrap/ipv4.json").json()
    arin_ranges = next(s[0] for s in bootstrap["services"] if fed.urls["arin"] in s[1][0])
    assert "193.0.1.0/24" in arin_ranges
