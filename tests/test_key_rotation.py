"""`onereg node rotate-key` on real node processes (AFRINIC's log, RIPE NCC's witness, quorum
1): the very next checkpoint, at the size that commits the rotation, is signed with the new
key and cosigned, whether the node rotates while it serves (the operator API) or while it is
stopped and the federation file is described again with the new key (`onereg up`). Once a
witness has mirrored the rotation, it refuses a checkpoint the retired key signed alone."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from localfed import ONEREG, LocalFederation
from onereg.core.errors import SignatureError
from onereg.core.registries import RegistryId
from onereg.federation import mirror as mirror_module
from onereg.federation.config import NodeInfo, read_federation
from onereg.federation.embedded import describe_nodes
from onereg.federation.httpsig import NodeSigningKey
from onereg.federation.layout import DataDir
from onereg.federation.mirror import CurrentLogKeys, current_log_keys, log_keys
from onereg.federation.node_config import Timers
from onereg.federation.peer_client import PeerClient
from onereg.federation.witness import AddCheckpointRequest
from onereg.ledger.checkpoint import Checkpoint, CosignatureVerifier, merge_signatures
from onereg.ledger.note import Verifier, parse_note, sign_note, verify_note
from onereg.registry import events as ev
from onereg.registry.checkpoints import Checkpointer, rotate_key_of
from onereg.registry.identity import load_or_create_key, load_signer, origin_of
from onereg.registry.node import RegistryNode

FAST = Timers(publish=0.2, mirror=0.2, stale_after=30.0)
AFRINIC = RegistryId.AFRINIC


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[LocalFederation]:
    holdings = {
        "afrinic": [("ipv4", "41.0.0.0", 256, "A1")],
        "ripencc": [("ipv4", "193.0.0.0", 256, "R1")],
    }
    fed = LocalFederation(tmp_path, holdings)
    try:
        yield fed
    finally:
        fed.stop()


def _rotate(fed: LocalFederation) -> subprocess.CompletedProcess[str]:
    args = [ONEREG, "--data-dir", str(fed.root), "node", "rotate-key", "--registry", "afrinic"]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def _log_key(fed: LocalFederation) -> str:
    return load_signer(fed.root / "nodes/afrinic/keys/log.key").verifier().vkey()


def _size(note: str) -> int:
    return Checkpoint.parse(parse_note(note)[0]).size


def _checkpoint(fed: LocalFederation) -> str:
    return httpx.get(f"{fed.urls['afrinic']}/log/checkpoint", timeout=5).text


def _signed_and_cosigned(fed: LocalFederation, note: str, vkey: str) -> bool:
    """Whether `note` verifies under the log key `vkey` and carries RIPE NCC's cosignature."""
    federation = read_federation(fed.root / "federation.json")
    witness = CosignatureVerifier.from_vkey(federation.node("ripencc").witness_vkey)
    try:
        by_log = verify_note(note, [Verifier.from_vkey(vkey)]).verified
        by_witness = verify_note(note, [witness]).verified
    except SignatureError:
        return False
    return bool(by_log and by_witness)


def test_a_rotation_while_serving_is_cosigned_at_once(fed: LocalFederation) -> None:
    fed.start_all("afrinic", "ripencc")
    fed.wait_mirrored(("ripencc",), ("afrinic",))
    before = _size(_checkpoint(fed))
    done = _rotate(fed)
    assert done.returncode == 0, done.stderr
    assert f"checkpoint {before + 1:,} cosigned by ripencc" in done.stdout, done.stdout
    note = _checkpoint(fed)  # the rotation's checkpoint, nothing appended after it
    assert _size(note) == before + 1
    assert _signed_and_cosigned(fed, note, _log_key(fed)), note


def test_a_rotation_while_stopped_is_cosigned_by_witnesses_that_know_the_new_key(
    fed: LocalFederation,
) -> None:
    """`onereg up` describes the nodes again: the federation file then lists only the new
    key. The checkpoint of the rotation (the log's latest) must satisfy the witnesses
    without another entry; before, it carried the retired key alone and got 403 from all."""
    fed.start_all("afrinic", "ripencc")
    fed.wait_mirrored(("ripencc",), ("afrinic",))
    fed.stop()
    done = _rotate(fed)
    assert done.returncode == 0, done.stderr
    with fed.data.open(RegistryId.AFRINIC, create=False) as node:
        head = node.head()[0]
    describe_nodes(fed.root, fed.base, quorum=1, timers=FAST)
    assert read_federation(fed.root / "federation.json").node("afrinic").log_vkey == _log_key(fed)
    fed.start_all("afrinic", "ripencc")
    deadline, note = time.monotonic() + 20, ""
    while time.monotonic() < deadline:
        note = _checkpoint(fed)
        if _signed_and_cosigned(fed, note, _log_key(fed)):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the rotation's checkpoint was never cosigned:\n{note}")
    assert _size(note) == head


# --- a witness takes only the key in use --------------------------------------------------------


def _mirror(log: RegistryNode, mirrors: DataDir) -> None:
    """Bring the mirror of AFRINIC's log up to the log's head, as a verified mirror holds it."""
    with RegistryNode.open(AFRINIC, mirrors.node_path(AFRINIC), mirror=True) as mirror:
        mirror.ingest(list(log.entries(mirror.head()[0])))


def _vkeys(verifiers: list[Verifier]) -> list[str]:
    return [v.vkey() for v in verifiers]


def test_a_witness_takes_only_the_key_the_mirrored_log_rotated_to(tmp_path: Path) -> None:
    """`current_log_keys` (the witness's) follows the mirror's rotations to the last key and
    drops the retired ones, which `log_keys` (for old checkpoints) keeps; a federation file
    that already lists the new key gives the same answer."""
    key, mirrors, origin = tmp_path / "log.key", DataDir(tmp_path / "mirrors"), origin_of(AFRINIC)
    first = load_or_create_key(key, origin)
    described = NodeInfo(AFRINIC.value, "http://127.0.0.1:1", origin, first.verifier().vkey(), "")
    with RegistryNode.open(AFRINIC, tmp_path / "node.sqlite") as log:
        log.append([(ev.HOLDER_REGISTERED, {"handle": "A1", "name": "", "cc": "ZA"})])
        Checkpointer(log, first).sign()
        assert not mirrors.exists(AFRINIC)  # no mirror yet: the federation file's key
        assert _vkeys(current_log_keys(mirrors, described)) == [first.verifier().vkey()]
        _mirror(log, mirrors)
        rotate_key_of(log, key)
        second = load_signer(key)
        rotation = Checkpointer(log, second).latest() or ""
        # the mirror has not seen the rotation: the old key, which signed the rotation too
        assert _vkeys(current_log_keys(mirrors, described)) == [first.verifier().vkey()]
        verify_note(rotation, current_log_keys(mirrors, described))
        _mirror(log, mirrors)
        assert _vkeys(current_log_keys(mirrors, described)) == [second.verifier().vkey()]
        verify_note(rotation, current_log_keys(mirrors, described))
        retired_only = sign_note(parse_note(rotation)[0], [first])
        with pytest.raises(SignatureError):
            verify_note(retired_only, current_log_keys(mirrors, described))
        assert _vkeys(log_keys(mirrors, described)) == [
            first.verifier().vkey(),
            second.verifier().vkey(),
        ]
        again = NodeInfo(AFRINIC.value, described.url, origin, second.verifier().vkey(), "")
        assert _vkeys(current_log_keys(mirrors, again)) == [second.verifier().vkey()]
        rotate_key_of(log, key)
        third = load_signer(key)
        _mirror(log, mirrors)
        for info in (described, again):
            assert _vkeys(current_log_keys(mirrors, info)) == [third.verifier().vkey()]
        assert len(log_keys(mirrors, described)) == 3


async def _ask_ripencc(fed: LocalFederation, note: str) -> tuple[int, str]:
    """RIPE NCC's witness asked, in a request signed by AFRINIC's node key, to cosign `note`
    (a checkpoint of the size it holds: no proof needed)."""
    node_key = load_signer(fed.root / "nodes/afrinic/keys/node.key")
    key = NodeSigningKey(AFRINIC.value, node_key.private_key)
    body = AddCheckpointRequest(_size(note), [], note).body()
    async with aiohttp.ClientSession() as session:
        url = f"{fed.urls['ripencc']}/witness/add-checkpoint"
        reply = await PeerClient(session, 10.0, key).post_text(url, body)
    return reply.status, reply.text


def _mirrored_rotation(fed: LocalFederation) -> bool:
    path = DataDir(fed.root / "nodes/ripencc/mirrors").node_path(AFRINIC)
    with RegistryNode.open_readonly(AFRINIC, path) as mirror:
        return bool(mirror.entries_of_kind("key.rotated"))


def test_a_witness_that_mirrored_a_rotation_refuses_the_retired_key(fed: LocalFederation) -> None:
    """Whoever kept AFRINIC's retired log key cannot get a checkpoint cosigned by RIPE NCC once
    RIPE NCC mirrored the rotation: 403, while the same checkpoint under the new key is 200."""
    fed.start_all("afrinic", "ripencc")
    fed.wait_mirrored(("ripencc",), ("afrinic",))
    done = _rotate(fed)
    assert done.returncode == 0, done.stderr
    retired = load_signer(fed.root / "nodes/afrinic/keys/log.key.retired")
    current = load_signer(fed.root / "nodes/afrinic/keys/log.key")
    assert retired.verifier().vkey() != current.verifier().vkey()
    deadline = time.monotonic() + 20
    while not _mirrored_rotation(fed):
        assert time.monotonic() < deadline, "RIPE NCC never mirrored AFRINIC's rotation"
        time.sleep(0.1)
    text = parse_note(_checkpoint(fed))[0]  # the rotation's checkpoint, which RIPE NCC holds
    status, reason = asyncio.run(_ask_ripencc(fed, sign_note(text, [retired])))
    assert (status, reason.split(":")[0]) == (403, "checkpoint signature"), reason
    by_current = sign_note(text, [current])
    status, line = asyncio.run(_ask_ripencc(fed, by_current))
    assert status == 200, line
    cosigned = merge_signatures(by_current, [line])
    assert _signed_and_cosigned(fed, cosigned, current.verifier().vkey()), line


def test_the_witness_keys_are_read_again_only_when_a_mirror_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`CurrentLogKeys` (what a serving witness asks on every cosign request, on its event
    loop) opens no mirror while the mirrors' files are unchanged, and follows a rotation as
    soon as the mirror has ingested it."""
    key, mirrors, origin = tmp_path / "log.key", DataDir(tmp_path / "mirrors"), origin_of(AFRINIC)
    first = load_or_create_key(key, origin)
    described = NodeInfo(AFRINIC.value, "http://127.0.0.1:1", origin, first.verifier().vkey(), "")
    reads: list[str] = []
    real = mirror_module.current_log_keys

    def counted(mirrors: DataDir, info: NodeInfo) -> list[Verifier]:
        reads.append(info.registry)
        return real(mirrors, info)

    monkeypatch.setattr(mirror_module, "current_log_keys", counted)
    keys = CurrentLogKeys(mirrors, [described])
    with RegistryNode.open(AFRINIC, tmp_path / "node.sqlite") as log:
        log.append([(ev.HOLDER_REGISTERED, {"handle": "A1", "name": "", "cc": "ZA"})])
        Checkpointer(log, first).sign()
        _mirror(log, mirrors)
        for _ in range(3):  # the reads settle once the mirror's files stop moving
            keys()
        settled = len(reads)
        for _ in range(20):
            assert _vkeys(keys()[origin]) == [first.verifier().vkey()]
        assert len(reads) == settled
        rotate_key_of(log, key)
        second = load_signer(key)
        _mirror(log, mirrors)
        assert _vkeys(keys()[origin]) == [second.verifier().vkey()]
        assert len(reads) == settled + 1
