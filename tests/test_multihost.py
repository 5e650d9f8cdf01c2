"""The federation as six organisations run it: IANA and the five RIRs each on its own host (a
network namespace of `netlab`), as its own system user, with its own 0700 home as node
directory. The operators only exchange node descriptions (`onereg node describe`, `onereg
federation assemble`); from then on the nodes know each other through the federation file, the
logs they publish (mirrored and verified), and the requests they sign. Everything below is
checked from outside: over the lab network from the test process, from the other hosts
(whois(1), a third party verifying a proof), and by reading files as root.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import onereg
from localfed import EVIDENCE
from netlab import NetLab, need_netns, others_may_traverse
from onereg.cli.node_client import operator_post
from onereg.federation.httpsig import NodeSigningKey, sign_request
from onereg.federation.mirror import load_status
from onereg.federation.node_config import Timers, load_config, save_config
from onereg.http.operator_routes import operator_keyid
from onereg.ledger.agreement import Agreement, SignedAgreement, sign_agreement
from onereg.ledger.note import parse_note
from onereg.registry.identity import load_signer

HOSTS = ("iana", "afrinic", "apnic", "arin", "lacnic", "ripencc")  # host name = registry
HTTP, WHOIS = 8080, 4343
QUORUM = 3
SRC = Path(onereg.__file__).resolve().parents[1]
# the nodes' own environment: this checkout's sources, no bytecode written into them
ENV = {"PYTHONPATH": str(SRC), "PYTHONDONTWRITEBYTECODE": "1"}
ONEREG = [sys.executable, "-m", "onereg.cli.main"]
# what the hosts import: RIPE NCC and ARIN a block each; IANA its real registry files
FILES = {
    "ripencc": ["ripencc|NL|ipv4|193.0.0.0|4096|19930901|allocated|R1"],
    "arin": ["arin|US|ipv4|23.0.0.0|65536|20100101|allocated|A1"],
}
# the nodes publish and mirror often, so that the test waits seconds, not minutes
TIMERS = Timers(publish=0.5, mirror=0.5, stale_after=60.0)
T = TypeVar("T")


# --- making this interpreter usable by the lab users ----------------------------------------


def _walk(path: Path) -> list[Path]:
    """`path` (resolved) and every directory above it."""
    path = Path(os.path.realpath(path))
    return [path, *path.parents]


@contextmanager
def interpreter_for_everyone() -> Iterator[None]:
    """The nodes run as unprivileged lab users with this very interpreter (`sys.executable`, the
    venv's python: its pyvenv.cfg gives them the venv's packages). On this machine it resolves
    into root's pyenv under /root, which is mode 0700: the lab users could not exec it. For the
    test, /root alone gets o+x (traverse, not list: nothing in it becomes readable that was
    not already world-readable below it) and its exact old mode back afterwards. Any other
    directory the users cannot traverse or read is a set-up problem, named, not patched."""
    home = Path("/root")
    needs = [Path(sys.executable), Path(sys.prefix), Path(sys.base_prefix), SRC]
    dirs = {d for p in needs for d in _walk(p) if d.is_dir()}
    closed = sorted(d for d in dirs if not d.stat().st_mode & stat.S_IXOTH)
    unreadable = [
        p for p in (Path(sys.prefix), Path(sys.base_prefix), SRC / "onereg")
        if not Path(os.path.realpath(p)).stat().st_mode & stat.S_IROTH
    ]  # fmt: skip
    if [d for d in closed if d != home] or unreadable:
        pytest.fail(
            f"the lab users cannot reach this interpreter or the sources: directories without "
            f"o+x {[str(d) for d in closed if d != home]}, without o+r {unreadable}"
        )
    with ExitStack() as stack:
        if home in closed:
            stack.enter_context(others_may_traverse(home))
        yield


# --- helpers ---------------------------------------------------------------------------------


def until(what: str, probe: Callable[[], T | None], timeout: float, why: Callable[[], str]) -> T:
    """Poll `probe` until it gives something truthy; fail naming `what` (and `why()`) if not."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{why()}")
        time.sleep(0.2)


def parallel(fn: Callable[[str], T], hosts: tuple[str, ...] = HOSTS) -> dict[str, T]:
    with ThreadPoolExecutor(len(hosts)) as pool:
        return dict(zip(hosts, pool.map(fn, hosts), strict=True))


def checked(proc: subprocess.CompletedProcess[str], what: str) -> str:
    assert proc.returncode == 0, f"{what}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def give(lab: NetLab, host: str, source: Path, name: str) -> Path:
    """Copy a file into a host's home, owned by its user, mode 0644."""
    target = lab.home(host) / name
    shutil.copyfile(source, target)
    home = lab.home(host).stat()
    os.chown(target, home.st_uid, home.st_gid)
    target.chmod(0o644)
    return target


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=5, trust_env=False, follow_redirects=False)


def try_get(url: str) -> httpx.Response | None:
    try:
        return get(url)
    except httpx.HTTPError:
        return None


def cosignatures(url: str) -> int:
    reply = try_get(f"{url}/log/checkpoint")
    if reply is None or reply.status_code != 200:
        return -1
    return len(parse_note(reply.text)[1]) - 1  # the log's own signature is not a witness's


def trace(node_db: Path) -> tuple[int, int, int]:
    """Everything a request could leave at a node: its log head, its locks and transfers (read
    from its database by root, read-only)."""
    conn = sqlite3.connect(f"file:{node_db}?mode=ro", uri=True)
    try:
        return (
            conn.execute("SELECT max(seq) FROM log").fetchone()[0],
            conn.execute("SELECT count(*) FROM locks").fetchone()[0],
            conn.execute("SELECT count(*) FROM transfers").fetchone()[0],
        )
    finally:
        conn.close()


def signed_agreement(
    resource: str,
    source: tuple[str, str, Ed25519PrivateKey],
    recipient: tuple[str, str, Ed25519PrivateKey],
) -> SignedAgreement:
    expires = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    a = Agreement(
        resource, source[0], source[1], recipient[0], recipient[1], "transfer",
        os.urandom(16).hex(), expires,
    )  # fmt: skip
    return SignedAgreement(a, sign_agreement(a, source[2]), sign_agreement(a, recipient[2]))


# --- the test --------------------------------------------------------------------------------


@pytest.fixture
def lab() -> Iterator[NetLab]:
    need_netns()
    with interpreter_for_everyone(), NetLab(list(HOSTS)) as lab:
        yield lab


def test_six_registries_on_six_hosts(lab: NetLab, tmp_path: Path, shared_data: Path) -> None:
    operator = Ed25519PrivateKey.generate()
    operator_hex = operator.public_key().public_bytes_raw().hex()
    homes = {h: lab.home(h) for h in HOSTS}  # users and homes, one by one (/etc/passwd)
    addr = {h: lab.address(h) for h in HOSTS}
    url = {h: f"http://{addr[h]}:{HTTP}" for h in HOSTS}
    toml = {h: str(homes[h] / "node" / "node.toml") for h in HOSTS}
    servers: dict[str, subprocess.Popen[bytes]] = {}

    def logs() -> str:
        return "\n".join(f"--- {h}:\n{lab.output(p)[-2000:]}" for h, p in servers.items())

    def onereg(host: str, *args: str) -> subprocess.CompletedProcess[str]:
        return lab.run(host, [*ONEREG, *args], env=ENV, timeout=120)

    probe = lab.run(
        "arin", [sys.executable, "-c", "import onereg; print(onereg.__file__)"], env=ENV
    )
    assert checked(probe, "a lab user runs this interpreter").startswith(str(SRC)), probe

    # 1. each operator creates its node on its host and describes it; the descriptions are
    # exchanged and assembled into the federation file, which every operator installs
    def init(h: str) -> str:
        checked(
            onereg(
                h, "node", "init", "--registry", h, "--dir", str(homes[h] / "node"),
                "--http", f"{addr[h]}:{HTTP}", "--whois", f"{addr[h]}:{WHOIS}",
                "--url", url[h], "--public-whois", f"{addr[h]}:{WHOIS}",
                "--federation", str(homes[h] / "federation.json"), "--operator-key", operator_hex,
            ),
            f"{h}: node init",
        )  # fmt: skip
        return checked(onereg(h, "node", "describe", "--config", toml[h]), f"{h}: describe")

    descriptions = parallel(init)
    files = []
    for h, text in descriptions.items():
        assert json.loads(text)["url"] == url[h]
        files.append(tmp_path / f"{h}.json")
        files[-1].write_text(text)
    fed = tmp_path / "federation.json"
    assembled = subprocess.run(
        [*ONEREG, "federation", "assemble", *map(str, files), "--quorum", str(QUORUM),
         "-o", str(fed)],
        capture_output=True, text=True, timeout=60, env={**os.environ, **ENV},
    )  # fmt: skip
    checked(assembled, "federation assemble")
    for h in HOSTS:
        give(lab, h, fed, "federation.json")
        give(lab, h, tmp_path / "policy.txt", "policy.txt")
        # the operator's edit of node.toml (timers); the file keeps its owner and mode 0600
        save_config(replace(load_config(Path(toml[h])), timers=TIMERS))
        assert (homes[h] / "node").stat().st_mode & 0o777 == 0o700

    # 2. data, imported by each operator into its own node before serving it
    for h, lines in FILES.items():
        head = f"2.3|{h}|20181013|{len(lines)}|19700101|20181013|+0000"
        source = tmp_path / f"delegated-{h}-extended-latest"
        source.write_text("\n".join([head, *lines]) + "\n")
        given = give(lab, h, source, source.name)
        checked(onereg(h, "import", "--node", toml[h], str(given)), f"{h}: import")
    checked(onereg("iana", "import", "--node", toml["iana"], str(shared_data / "iana")), "iana")

    # 3. every node serves, as its user, in its namespace
    for h in HOSTS:
        servers[h] = lab.popen(h, [*ONEREG, "serve", "--config", toml[h]], env=ENV)

    def up_or_dead(h: str) -> bool:
        return servers[h].poll() is not None or cosignatures(url[h]) >= 0

    for h in HOSTS:
        until(f"{h} to answer", partial(up_or_dead, h), 60, logs)
        assert servers[h].poll() is None, logs()

    # 4a. every checkpoint is cosigned by a quorum of the other nodes
    def quorum(h: str) -> bool:
        return cosignatures(url[h]) >= QUORUM

    for h in HOSTS:
        until(f"{h}'s checkpoint cosigned by {QUORUM}", partial(quorum, h), 60, logs)

    # 4b. every node has verified every peer's log; nobody reads another's home
    def verified_all(h: str) -> bool:
        status = load_status(homes[h] / "node" / "mirrors")
        return all(status.get(p) and status[p].verified_at for p in HOSTS if p != h)

    def mirror_status(h: str) -> str:
        return f"{load_status(homes[h] / 'node' / 'mirrors')}\n{logs()}"

    for h in HOSTS:
        until(f"{h} to verify every peer", partial(verified_all, h), 60, partial(mirror_status, h))
    peek = lab.run("arin", ["ls", str(homes["ripencc"])])
    assert peek.returncode != 0 and "Permission denied" in peek.stderr, peek
    assert all(p.poll() is None for p in servers.values()), logs()

    # 4c. RDAP: ARIN refers to RIPE NCC (from its verified mirror of IANA), which answers
    def redirected(h: str, ip: str, to: str) -> httpx.Response | None:
        reply = try_get(f"{url[h]}/rdap/ip/{ip}")
        location = reply.headers.get("location", "") if reply else ""
        return reply if reply and reply.status_code == 301 and location.startswith(to) else None

    until("ARIN's RDAP referral to RIPE NCC", lambda: redirected("arin", "193.0.0.1",
          url["ripencc"]), 30, logs)  # fmt: skip
    answer = get(f"{url['ripencc']}/rdap/ip/193.0.0.1")
    assert answer.status_code == 200, answer.text
    assert [e["handle"] for e in answer.json()["entities"]] == ["R1"]

    # 4d. whois(1) on the LACNIC host asks ARIN, follows its referral to RIPE NCC's server
    asked = lab.run("lacnic", ["whois", "-h", addr["arin"], "-p", str(WHOIS), "193.0.0.1"])
    assert asked.returncode == 0, asked
    ripe_whois = f"{addr['ripencc']}:{WHOIS}"
    arin_said, _, ripe_said = asked.stdout.partition(f"Found a referral to {ripe_whois}.")
    assert f"ReferralServer: whois://{ripe_whois}" in arin_said, asked.stdout
    assert "R1" not in arin_said, asked.stdout  # ARIN refers, RIPE NCC answers
    assert re.search(r"^inetnum: +193\.0\.0\.0 - 193\.0\.15\.255$", ripe_said, re.M), asked.stdout
    assert re.search(r"^org: +R1$", ripe_said, re.M), asked.stdout

    # 4e. forged, unsigned and replayed node requests are refused and leave nothing at ARIN
    arin_db = homes["arin"] / "node" / "node.sqlite"
    before = trace(arin_db)
    stranger = (Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate())
    offer = signed_agreement("193.0.2.0/24", ("ripencc", "R1", stranger[0]),
                             ("arin", "A1", stranger[1]))  # fmt: skip
    body = offer.to_json().encode()
    accept = f"{url['arin']}/transfers/{offer.agreement.nonce}/accept"
    path = httpx.URL(accept).raw_path.decode()
    unsigned = httpx.post(accept, content=body, timeout=10, trust_env=False)
    assert unsigned.status_code == 401, unsigned.text
    impostor = NodeSigningKey("ripencc", Ed25519PrivateKey.generate())
    forged = sign_request(impostor, "POST", path, body)
    reply = httpx.post(accept, content=body, headers=forged, timeout=10, trust_env=False)
    assert reply.status_code == 401, reply.text
    ripe_key = load_signer(homes["ripencc"] / "node" / "keys" / "node.key")  # root reads it
    notice = f"{url['arin']}/transfers/{os.urandom(16).hex()}/finalized"
    genuine = sign_request(
        NodeSigningKey("ripencc", ripe_key.private_key), "POST",
        httpx.URL(notice).raw_path.decode(), b"{}",
    )  # fmt: skip
    first = httpx.post(notice, content=b"{}", headers=genuine, timeout=10, trust_env=False)
    assert first.status_code == 404, first.text  # heard, and there is no such transfer
    again = httpx.post(notice, content=b"{}", headers=genuine, timeout=10, trust_env=False)
    assert again.status_code == 401 and "replay" in again.text, again.text
    assert trace(arin_db) == before

    # 4f. an inter-registry transfer: holder keys through the operator API, then the holders'
    # agreement to RIPE NCC, which offers the block to ARIN
    key = NodeSigningKey(operator_keyid(operator_hex), operator)
    holders = {("ripencc", "R1"): Ed25519PrivateKey.generate(),
               ("arin", "A1"): Ed25519PrivateKey.generate()}  # fmt: skip
    for (h, handle), secret in holders.items():
        public = secret.public_key().public_bytes_raw().hex()
        operator_post(key, url[h], "/admin/holder-key", {"handle": handle, "key": public})
    deal = signed_agreement(
        "193.0.1.0/24",
        ("ripencc", "R1", holders[("ripencc", "R1")]),
        ("arin", "A1", holders[("arin", "A1")]),
    )
    submitted = httpx.post(
        f"{url['ripencc']}/transfers",
        json={**json.loads(deal.to_json()), "evidence": EVIDENCE},
        timeout=60,
        trust_env=False,
    )
    assert submitted.status_code == 200, submitted.text
    tid = deal.agreement.nonce

    def state(h: str) -> str:
        reply = try_get(f"{url[h]}/transfers/{tid}")
        return str(reply.json().get("state")) if reply and reply.status_code == 200 else ""

    until("ARIN's side of the transfer", lambda: state("arin") == "sourceFinalized", 60,
          lambda: f"ripencc: {state('ripencc')}, arin: {state('arin')}\n{logs()}")  # fmt: skip
    until("RIPE NCC's RDAP referral to ARIN", lambda: redirected("ripencc", "193.0.1.1",
          url["arin"]), 60, logs)  # fmt: skip
    moved = get(f"{url['arin']}/rdap/ip/193.0.1.1")
    assert moved.status_code == 200, moved.text
    assert [e["handle"] for e in moved.json()["entities"]] == ["A1"]

    # 4g. ARIN's operator proves the holding from its node; a third party (on the LACNIC host,
    # with only the proof and the policy) checks it offline
    proof = homes["arin"] / "a1.proof"

    attempts: list[subprocess.CompletedProcess[str]] = []

    def proved() -> bool:  # once a cosigned checkpoint covers the transfer
        attempts.append(
            onereg("arin", "prove", "193.0.1.0/24", "--registry", "arin", "--node",
                   toml["arin"], "-o", str(proof))
        )  # fmt: skip
        return attempts[-1].returncode == 0

    until("ARIN's proof of A1's holding", proved, 60, lambda: f"{attempts[-1]}\n{logs()}")
    given = give(lab, "lacnic", proof, "a1.proof")
    checked_proof = onereg(
        "lacnic", "verify-proof", str(given), "--policy", str(homes["lacnic"] / "policy.txt"),
        "--resource", "193.0.1.0/24",
    )  # fmt: skip
    out = checked(checked_proof, "verify-proof")
    assert "valid" in out and "held by A1" in out, out
    assert all(p.poll() is None for p in servers.values()), logs()
