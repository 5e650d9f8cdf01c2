"""Slow work never runs on a node's event loop: a real node (`onereg serve --config`) holding
RIPE NCC's 2018-10-13 delegations, where listing or issuing ROAs and broad RDAP searches take
long enough to matter, keeps answering its checkpoint and RDAP lookups at once meanwhile."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.testclient import TestClient

from localfed import LocalFederation
from onereg.core.registries import RegistryId
from onereg.federation.embedded import config_path
from onereg.federation.importer import import_delegated_file
from onereg.federation.node_config import Limits, load_config, save_config
from onereg.http.offload import Offload
from onereg.http.rdap import RdapAuthority, rdap_routes
from onereg.registry.transfers import register_holder_key
from onereg.rpki.requests import RoaRequest

RIPE_2018 = "delegated/2018-10-13/delegated-ripencc-extended-latest"
HOLDER = "d91963c1-e981-4483-bba3-eb5060e0bdb2"  # 2.0.0.0/12 in the 2018 file
LIMITS = Limits(max_results=50, expensive_per_minute=60)


def ripe_sample(shared_data: Path, out: Path, records: int) -> Path:
    """The first `records` records of RIPE NCC's 2018 file, with a header that says so: a
    registry big enough that its slow paths show, small enough for a quick test."""
    lines = (shared_data / RIPE_2018).read_text().splitlines()
    body = [x for x in lines if not x.startswith("#") and x.count("|") >= 6][1:][:records]
    counts = {afi: sum(x.split("|")[2] == afi for x in body) for afi in ("ipv4", "asn", "ipv6")}
    head = [f"2|ripencc|1539467999|{len(body)}|19830705|20181013|+0200"]
    head += [f"ripencc|*|{afi}|*|{n}|summary" for afi, n in counts.items()]
    out.write_text("\n".join(head + body) + "\n")
    return out


@pytest.fixture(scope="module")
def ripe(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[LocalFederation]:
    root = tmp_path_factory.mktemp("offload")
    fed = LocalFederation(root / "data", {"ripencc": [("ipv4", "193.0.0.0", 4096, "R1")]})
    sample = ripe_sample(shared_data, root / "delegated-ripencc-extended-latest", 40_000)
    import_delegated_file(fed.data, sample, None, only=RegistryId.RIPENCC)
    key = Ed25519PrivateKey.generate()
    fed.keys[("ripencc", HOLDER)] = key
    with fed.data.open(RegistryId.RIPENCC) as node:
        register_holder_key(node, HOLDER, key.public_key().public_bytes_raw())
    path = config_path(fed.root, RegistryId.RIPENCC)
    save_config(replace(load_config(path), limits=LIMITS))
    fed.start("ripencc")
    # The node builds RDAP's authority map in a thread after it starts listening, and the
    # first lookup waits for it (0.5-1.5 s here): wait it out, so the tests below time the
    # slow work they start, not the node's start.
    timed_get(f"{fed.urls['ripencc']}/rdap/ip/2.0.0.1")
    try:
        yield fed
    finally:
        fed.stop()


LOAD = """
import sys, threading, time
import httpx
url, seconds = sys.argv[1], float(sys.argv[2])
stop = time.monotonic() + seconds
codes = []
def run(n):
    with httpx.Client(timeout=30, transport=httpx.HTTPTransport(local_address=f"127.0.1.{n}")) as c:
        while time.monotonic() < stop:
            codes.append(c.get(url).status_code)
threads = [threading.Thread(target=run, args=(n,)) for n in range(1, 11)]
[t.start() for t in threads]
[t.join() for t in threads]
print(" ".join(map(str, codes)))
"""


def latencies_while_loaded(url: str, probe: str, seconds: float) -> tuple[list[float], list[int]]:
    """Latencies (s) of GET `probe`, every 50 ms, while ten clients (another process, ten
    addresses) GET `url` as fast as they can; and the status codes those clients got."""
    load = subprocess.Popen(
        [sys.executable, "-c", LOAD, url, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    time.sleep(0.5)  # the clients are going
    times = []
    with httpx.Client(timeout=30) as client:
        while load.poll() is None:
            started = time.monotonic()
            assert client.get(probe).status_code == 200
            times.append(time.monotonic() - started)
            time.sleep(0.05)
    out, _ = load.communicate(timeout=60)
    return times, [int(c) for c in out.split()]


def timed_get(url: str) -> float:
    started = time.monotonic()
    assert httpx.get(url, timeout=30).status_code == 200
    return time.monotonic() - started


def test_issuing_a_roa_does_not_hold_up_rdap(ripe: LocalFederation) -> None:
    base = ripe.urls["ripencc"]
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ask = RoaRequest("ripencc", HOLDER, "add", 64500, ("2.0.0.0/16",), "", expires)
    body = ask.sign(ripe.keys[("ripencc", HOLDER)])
    answer: dict[str, httpx.Response] = {}
    poster = threading.Thread(
        target=lambda: answer.setdefault(
            "r", httpx.post(f"{base}/rpki/roas", json=body, timeout=60)
        )
    )
    started = time.monotonic()
    poster.start()
    times = []
    while poster.is_alive():
        times.append(timed_get(f"{base}/rdap/ip/2.0.0.1"))
        time.sleep(0.02)
    took = time.monotonic() - started
    assert answer["r"].status_code == 200, answer["r"].text
    # On the loop, some lookup would have waited for most of the issuing; off it, none
    # waits more than a fraction of it, however slow the machine.
    assert len(times) >= 3 and max(times) < took / 3, (
        f"RDAP waited up to {max(times):.2f} s while a ROA took {took:.2f} s"
    )
    listed = httpx.get(f"{base}/rpki/roas", params={"holder": HOLDER}, timeout=30).json()
    assert [r["prefixes"] for r in listed] == [["2.0.0.0/16-16"]]  # the cache saw the new ROA


def test_ten_roa_listings_do_not_delay_the_checkpoint(ripe: LocalFederation) -> None:
    base = ripe.urls["ripencc"]
    times, codes = latencies_while_loaded(f"{base}/rpki/roas", f"{base}/log/checkpoint", 4.0)
    assert max(times) < 1.0, f"checkpoint took up to {max(times):.2f} s"
    assert set(codes) <= {200, 429} and codes.count(200) >= 10


def test_a_search_for_everything_is_capped_with_a_notice(ripe: LocalFederation) -> None:
    reply = httpx.get(
        f"{ripe.urls['ripencc']}/rdap/ips/rirSearch1/rdap-down/0.0.0.0/0",
        timeout=30,
        headers={"x-forwarded-for": "ignored"},
    )
    assert reply.status_code == 200
    body = reply.json()
    assert len(body["ipSearchResults"]) == LIMITS.max_results
    truncated = [n for n in body["notices"] if n.get("type", "").startswith("result set truncated")]
    assert truncated and "first 50 results" in truncated[0]["description"][0]


def test_expensive_queries_are_rate_limited_per_client(ripe: LocalFederation) -> None:
    url = f"{ripe.urls['ripencc']}/rdap/entity/{HOLDER}"
    transport = httpx.HTTPTransport(local_address="127.0.0.7")
    with httpx.Client(transport=transport, timeout=30) as greedy:
        statuses = [greedy.get(url).status_code for _ in range(LIMITS.expensive_per_minute + 5)]
        refused = greedy.get(url)
    assert statuses[: LIMITS.expensive_per_minute] == [200] * LIMITS.expensive_per_minute
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["errorCode"] == 429
    other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.8"), timeout=30)
    with other:
        assert other.get(url).status_code == 200  # another client is not refused
        assert other.get(f"{ripe.urls['ripencc']}/rdap/ip/2.0.0.1").status_code == 200


def test_a_query_past_its_deadline_is_a_503_problem(tmp_path: Path) -> None:
    """In process: a deadline nothing can meet makes every query a worker runs fail fast and
    clearly (a plain lookup of one record is answered on the event loop: no worker, no
    deadline; here the holder's entity, which lists its resources)."""
    fed = LocalFederation(tmp_path / "data", {"ripencc": [("ipv4", "193.0.0.0", 4096, "R1")]})
    opened = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Iterator[None]:  # type: ignore[misc]
        opened["node"] = fed.data.open(RegistryId.RIPENCC)
        yield
        opened["node"].close()

    hopeless = Offload(Limits(query_deadline=1e-9))
    routes = rdap_routes(
        lambda: opened["node"], RdapAuthority.empty(), "http://node.test", offload=hopeless
    )
    with TestClient(Starlette(routes=routes, lifespan=lifespan)) as client:
        reply = client.get("/rdap/entity/R1")
    assert reply.status_code == 503
    assert reply.json()["errorCode"] == 503
    assert "took longer than" in reply.json()["description"][0]
    assert reply.headers["retry-after"] == "1"
