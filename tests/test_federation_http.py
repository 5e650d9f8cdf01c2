"""The verifiable federation end to end: six real node processes on loopback ports (`onereg
serve`), checkpoints signed and cosigned over HTTP (`onereg publish`), and a verifier that
rebuilds and audits the federation from the published tiles alone (`onereg verify`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from localfed import free_base_port
from onereg.core.registries import RegistryId
from onereg.federation.config import read_config
from onereg.federation.httpsig import NodeSigningKey, sign_request
from onereg.federation.mirror import PeerStatus, load_status
from onereg.federation.witness import AddCheckpointRequest
from onereg.ledger.checkpoint import Checkpoint, sign_checkpoint
from onereg.ledger.note import parse_note
from onereg.registry.identity import load_signer

ONEREG = str(Path(sys.executable).parent / "onereg")
FILES = {
    "afrinic": [
        "afrinic|ZA|ipv4|41.0.0.0|65536|20050101|allocated|A1",
        "afrinic|KE|asn|36864|10|20050101|allocated|A2",
    ],
    "ripencc": [
        "ripencc|NL|ipv4|193.0.0.0|4096|19930901|allocated|R1",
        "ripencc|DE|ipv4|41.1.0.0|256|20100101|allocated|R2",
    ],
}


def _run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ONEREG, "--data-dir", str(data), *args], capture_output=True, text=True, timeout=300
    )


def _write(directory: Path, registry: str, lines: list[str]) -> Path:
    path = directory / f"delegated-{registry}-extended-latest"
    head = [f"2.3|{registry}|20181013|{len(lines)}|19700101|20181013|+0000"]
    path.write_text("\n".join(head + lines) + "\n")
    return path


@contextmanager
def serving(data: Path) -> Iterator[None]:
    """`onereg serve` in a subprocess until the block ends; waits until all six answer."""
    base = free_base_port()
    server = subprocess.Popen(
        [ONEREG, "--data-dir", str(data), "serve", "--base-port", str(base)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # each node starts its whois process and its map builder too: on two busy cores (the
        # whole suite running) six of them have taken over a minute to answer
        deadline = time.monotonic() + 180
        while not _all_answer(base):
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                output = server.communicate()[0].decode(errors="replace")[-3000:]
                raise AssertionError(f"the six nodes did not all answer:\n{output}")
            time.sleep(0.3)
        yield
    finally:
        server.terminate()
        server.wait(10)


def _all_answer(base: int) -> bool:
    try:
        return all(
            httpx.get(f"http://127.0.0.1:{base + i}/log/checkpoint").status_code in (200, 404)
            for i in range(6)
        )
    except httpx.HTTPError:
        return False


def _build(root: Path, shared_data: Path) -> Path:
    data = root / "data"
    files = [str(_write(root, r, lines)) for r, lines in FILES.items()]
    done = _run(data, "import", str(shared_data / "iana"), *files)
    assert done.returncode == 0, done.stderr
    return data


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Path]:
    data = _build(tmp_path_factory.mktemp("served"), shared_data)
    with serving(data):
        published = _run(data, "publish")
        assert published.returncode == 0, published.stdout + published.stderr
        yield data


def test_every_checkpoint_is_cosigned_by_the_five_other_nodes(federation: Path) -> None:
    for info in read_config(federation / "federation.json"):
        note = httpx.get(f"{info.url}/log/checkpoint").text
        text, signatures = parse_note(note)
        assert Checkpoint.parse(text).origin == info.origin
        assert len(signatures) == 6  # its own signature and five cosignatures


def test_verify_rebuilds_and_audits_from_the_logs_alone(federation: Path, tmp_path: Path) -> None:
    state = tmp_path / "mirror"
    done = _run(federation, "verify", "--state-dir", str(state))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "problem" in done.stdout and "ok" in done.stdout
    direct = json.loads(_run(federation, "audit", "--json").stdout)
    replayed = json.loads(
        subprocess.run(
            [ONEREG, "--data-dir", str(state), "audit", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )
    pick = ("registry", "records", "by_type", "totals", "cross_by_origin", "overclaimed")
    assert [{k: s[k] for k in pick} for s in direct["summaries"]] == [
        {k: s[k] for k in pick} for s in replayed["summaries"]
    ]
    # the mirror is the verifier's own: no file of the nodes was read
    assert not (state / "keys").exists()


def test_a_second_verify_fetches_nothing_new(federation: Path, tmp_path: Path) -> None:
    state = tmp_path / "mirror"
    assert _run(federation, "verify", "--state-dir", str(state)).returncode == 0
    again = _run(federation, "verify", "--state-dir", str(state))
    assert again.returncode == 0
    rows = [line for line in again.stdout.splitlines() if "│ afrinic" in line]
    assert rows and "│ 0 " in rows[0]


def test_a_witness_refuses_a_fork_of_what_it_cosigned(federation: Path) -> None:
    """A second history for afrinic, same size, other root: every witness answers 409 with
    the size it cosigned (c2sp.org/tlog-witness)."""
    signer = load_signer(federation / "nodes/afrinic/keys/log.key")
    honest = Checkpoint.parse(
        parse_note(httpx.get(_url(federation, "afrinic") + "/log/checkpoint").text)[0]
    )
    size = honest.size
    # the registry's key signs a second tree head for the same size: another history
    other = Checkpoint(honest.origin, size, bytes(32), honest.extensions)
    forged_note = sign_checkpoint(other, [signer])
    request = AddCheckpointRequest(size, [], forged_note).body()
    for info in read_config(federation / "federation.json"):
        if info.registry == "afrinic":
            continue
        url = f"{info.url}/witness/add-checkpoint"
        unsigned = httpx.post(url, content=request)
        assert unsigned.status_code == 401, (info.registry, unsigned.text)
        # only the log itself may ask: signed by another node it is refused
        other = "arin" if info.registry != "arin" else "apnic"
        by_other = node_post(federation, other, url, request.encode())
        assert by_other.status_code == 403, (info.registry, by_other.text)
        reply = node_post(federation, "afrinic", url, request.encode())
        assert reply.status_code == 409, (info.registry, reply.text)
        assert reply.headers["content-type"] == "text/x.tlog.size"
        assert reply.text == f"{size}\n"


def node_post(data: Path, registry: str, url: str, body: bytes) -> httpx.Response:
    """A request signed with a node's own key, as that node would send it."""
    signer = load_signer(data / "nodes" / registry / "keys/node.key")
    key = NodeSigningKey(registry, signer.private_key)
    headers = sign_request(key, "POST", httpx.URL(url).raw_path.decode(), body)
    return httpx.post(url, content=body, headers=headers)


def _url(data: Path, registry: str) -> str:
    return next(n.url for n in read_config(data / "federation.json") if n.registry == registry)


def test_a_split_view_becomes_evidence_a_third_party_checks(
    federation: Path, tmp_path: Path
) -> None:
    """The verifier was shown the forged head earlier; the node now serves the honest one."""
    state = tmp_path / "mirror"
    signer = load_signer(federation / "nodes/afrinic/keys/log.key")
    honest = Checkpoint.parse(
        parse_note(httpx.get(_url(federation, "afrinic") + "/log/checkpoint").text)[0]
    )
    forged = sign_checkpoint(
        Checkpoint(honest.origin, honest.size, bytes(32), honest.extensions), [signer]
    )
    (state / "seen").mkdir(parents=True)
    (state / "seen" / "afrinic.checkpoint").write_text(forged)
    done = _run(federation, "verify", "--state-dir", str(state))
    assert done.returncode == 1
    evidence = list((state / "evidence").glob("afrinic-*.json"))
    assert len(evidence) == 1, done.stdout
    policy = str(federation / "policy.txt")
    checked = subprocess.run(
        [ONEREG, "verify-evidence", str(evidence[0]), "--policy", policy],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert "signed two different roots for size" in checked.stdout
    # a third party cannot be fooled by an edited file: the signatures no longer verify
    data = json.loads(evidence[0].read_text())
    data["first"] = data["first"].replace(data["first"].split("\n")[1], str(honest.size + 1), 1)
    evidence[0].write_text(json.dumps(data))
    refused = subprocess.run(
        [ONEREG, "verify-evidence", str(evidence[0]), "--policy", policy],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "error" in refused.stderr.lower()


def test_a_rotated_key_is_followed_by_a_verifier_with_the_old_policy(
    tmp_path: Path, shared_data: Path
) -> None:
    data = _build(tmp_path, shared_data)
    state = tmp_path / "mirror"
    with serving(data):
        assert _run(data, "publish").returncode == 0
        assert _run(data, "verify", "--state-dir", str(state)).returncode == 0
    old_policy = tmp_path / "old-policy.txt"
    old_policy.write_text((data / "policy.txt").read_text())
    secret = (data / "nodes/afrinic/keys/log.key").read_text().strip()
    rotated = _run(data, "node", "rotate-key", "--registry", "afrinic")
    assert rotated.returncode == 0, rotated.stderr
    key_file = data / "nodes/afrinic/keys/log.key"
    assert key_file.stat().st_mode & 0o077 == 0 and key_file.read_text().strip() != secret
    assert secret.encode() not in (data / "nodes/afrinic/node.sqlite").read_bytes()
    lines = [*FILES["afrinic"], "afrinic|NG|ipv4|41.2.0.0|256|20200101|allocated|A3"]
    header = f"2.3|afrinic|20200101|{len(lines)}|19700101|20200101|+0000"
    newer = tmp_path / "newer" / "delegated-afrinic-extended-latest"
    newer.parent.mkdir()
    newer.write_text("\n".join([header, *lines]) + "\n")
    assert _run(data, "import", str(newer)).returncode == 0
    with serving(data):  # restarted: the witnesses learn the new key
        published = _run(data, "publish")
        assert "afrinic" in published.stdout and published.returncode == 0
        done = _run(data, "verify", "--state-dir", str(state), "--policy", str(old_policy))
    assert done.returncode == 0, done.stdout
    row = next(line for line in done.stdout.splitlines() if "│ afrinic" in line)
    assert "│ ok" in row
    # and again, now that the rotation is part of the mirror rather than of the new entries
    with serving(data):
        again = _run(data, "verify", "--state-dir", str(state), "--policy", str(old_policy))
    assert again.returncode == 0, again.stdout


def test_prove_and_verify_offline(federation: Path, tmp_path: Path) -> None:
    proof = tmp_path / "p.proof"
    made = _run(federation, "prove", "41.0.0.1", "-o", str(proof))
    assert made.returncode == 0, made.stderr
    policy = str(federation / "policy.txt")
    # verify-proof needs neither the data directory nor the network
    ok = subprocess.run(
        [
            ONEREG,
            "--data-dir",
            str(tmp_path / "nothing"),
            "verify-proof",
            str(proof),
            "--policy",
            policy,
            "--resource",
            "41.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "held by A1" in ok.stdout
    assert not (tmp_path / "nothing").exists()
    data = bytearray(proof.read_bytes())
    data[len(data) // 2] ^= 0x01
    proof.write_bytes(bytes(data))
    bad = subprocess.run(
        [ONEREG, "verify-proof", str(proof), "--policy", policy],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "error" in bad.stderr.lower()
    free = tmp_path / "free.proof"
    assert (
        _run(federation, "prove", "8.8.8.0/24", "--registry", "arin", "-o", str(free)).returncode
        == 0
    )
    checked = subprocess.run(
        [ONEREG, "verify-proof", str(free), "--policy", policy],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0 and "not delegated" in checked.stdout


def test_each_node_lists_its_transfers_over_http(federation: Path, tmp_path: Path) -> None:
    """Runs last: it adds a transfer inside RIPE NCC to the served federation."""
    for handle in ("R1", "R2"):
        key = tmp_path / f"{handle}.pem"
        assert _run(federation, "holder", "keygen", str(key)).returncode == 0
        assert (
            _run(
                federation,
                "holder",
                "register-key",
                "--registry",
                "ripencc",
                "--handle",
                handle,
                "--key",
                str(key),
            ).returncode
            == 0
        )
    deal = tmp_path / "deal.json"
    assert (
        _run(
            federation,
            "agreement",
            "new",
            "193.0.8.0/24",
            "--source",
            "ripencc:R1",
            "--recipient",
            "ripencc:R2",
            "-o",
            str(deal),
        ).returncode
        == 0
    )
    for handle, role in (("R1", "source"), ("R2", "recipient")):
        assert (
            _run(
                federation,
                "agreement",
                "sign",
                str(deal),
                "--key",
                str(tmp_path / f"{handle}.pem"),
                "--as",
                role,
            ).returncode
            == 0
        )
    done = _run(federation, "transfer", str(deal))
    assert done.returncode == 0, done.stderr
    for info in read_config(federation / "federation.json"):
        listed = httpx.get(f"{info.url}/transfers").json()
        assert listed["version"]["producer"] == RegistryId(info.registry).display_name
        expected = 1 if info.registry == "ripencc" else 0
        assert len(listed["transfers"]) == expected


def test_an_import_into_a_served_node_goes_through_its_api(
    federation: Path, tmp_path: Path
) -> None:
    """The node owns its database while it runs: `onereg import` hands it the file (operator-
    signed), the node imports it all or nothing, and a broken file changes nothing."""
    url = _url(federation, "afrinic")

    def size() -> int:
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(f"{url}/metrics").text
        [family] = [f for f in text_string_to_metric_families(text) if f.name == "onereg_log_size"]
        return int(family.samples[0].value)

    before = size()
    lines = [*FILES["afrinic"], "afrinic|NG|ipv4|41.3.0.0|256|20200101|allocated|A4"]
    header = f"2.3|afrinic|20200101|{len(lines)}|19700101|20200101|+0000"
    newer = tmp_path / "delegated-afrinic-extended-latest"
    newer.write_text("\n".join([header, *lines]) + "\n")
    done = _run(federation, "import", str(newer))
    assert done.returncode == 0, done.stderr
    assert "through its API" in done.stderr
    assert size() > before
    grown = size()
    broken = tmp_path / "broken" / "delegated-afrinic-extended-latest"
    broken.parent.mkdir()
    broken.write_text(newer.read_text().replace("41.3.0.0", "41.3.0.999"))
    refused = _run(federation, "import", str(broken))
    assert refused.returncode == 2 and "41.3.0.999" in refused.stderr, refused.stderr
    assert size() == grown
    unsigned = httpx.post(f"{url}/admin/import?name=x", content=newer.read_bytes())
    assert unsigned.status_code == 401


def test_one_node_down_is_one_node_down(tmp_path: Path, shared_data: Path) -> None:
    """`onereg serve` supervises the six: a node killed hard is restarted, the others keep
    serving all along."""
    import os
    import signal

    data = _build(tmp_path, shared_data)
    with serving(data):
        lock = data / "nodes/ripencc/serve.lock"
        victim = int(lock.read_text())
        os.kill(victim, signal.SIGKILL)
        others = [n for n in read_config(data / "federation.json") if n.registry != "ripencc"]
        ripe = _url(data, "ripencc")
        deadline = time.monotonic() + 30
        while True:
            for info in others:  # never interrupted
                assert httpx.get(f"{info.url}/metrics", timeout=5).status_code == 200
            try:
                back = httpx.get(f"{ripe}/metrics", timeout=2).status_code == 200
            except httpx.HTTPError:
                back = False
            if back and lock.read_text().strip() not in ("", str(victim)):
                break
            assert time.monotonic() < deadline, "the killed node was not restarted"
            time.sleep(0.2)


def test_a_rotated_key_reaches_the_witnesses_through_the_log(
    tmp_path: Path, shared_data: Path
) -> None:
    """Rotation on a running node: the first checkpoint after it is signed by the new key and
    cosigned by the witnesses, who learned the key from their mirrors of the log; no restart."""
    data = _build(tmp_path, shared_data)
    with serving(data):
        url = _url(data, "afrinic")
        deadline = time.monotonic() + 120
        while _cosigners(url) < 3:  # the first checkpoint, cosigned, mirrored by the others
            assert time.monotonic() < deadline
            time.sleep(0.3)
        size = Checkpoint.parse(parse_note(httpx.get(f"{url}/log/checkpoint").text)[0]).size
        for witness in ("iana", "apnic", "arin", "lacnic", "ripencc"):  # mirrored it too
            mirrors = data / "nodes" / witness / "mirrors"
            while load_status(mirrors).get("afrinic", PeerStatus("afrinic")).size < size:
                assert time.monotonic() < deadline, (witness, load_status(mirrors))
                time.sleep(0.3)
        old = load_signer(data / "nodes/afrinic/keys/log.key").verifier().key
        rotated = _run(data, "node", "rotate-key", "--registry", "afrinic")
        assert rotated.returncode == 0, rotated.stderr
        new = load_signer(data / "nodes/afrinic/keys/log.key").verifier().key
        assert new != old
        grow = _run(data, "holder", "keygen", str(tmp_path / "h.pem"))
        assert grow.returncode == 0
        added = _run(
            data,
            "holder",
            "register-key",
            "--registry",
            "afrinic",
            "--handle",
            "A1",
            "--key",
            str(tmp_path / "h.pem"),
        )
        assert added.returncode == 0, added.stderr  # the log grows after the rotation
        deadline = time.monotonic() + 120
        while True:
            note = httpx.get(f"{url}/log/checkpoint").text
            names = {s.key for s in parse_note(note)[1]}
            if new in names and old not in names and _cosigners(url) >= 3:
                break
            assert time.monotonic() < deadline, note
            time.sleep(0.3)


def _cosigners(url: str) -> int:
    reply = httpx.get(f"{url}/log/checkpoint")
    return len(parse_note(reply.text)[1]) - 1 if reply.status_code == 200 else 0
