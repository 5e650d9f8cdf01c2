"""`onereg node rotate-key` on real node processes (AFRINIC's log, RIPE NCC's witness, quorum
1): the very next checkpoint, at the size that commits the rotation, is signed with the new
key and cosigned, whether the node rotates while it serves (the operator API) or while it is
stopped and the federation file is described again with the new key (`onereg up`)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from localfed import ONEREG, LocalFederation
from onereg.core.errors import SignatureError
from onereg.core.registries import RegistryId
from onereg.federation.config import read_federation
from onereg.federation.embedded import describe_nodes
from onereg.federation.node_config import Timers
from onereg.ledger.checkpoint import Checkpoint, CosignatureVerifier
from onereg.ledger.note import Verifier, parse_note, verify_note
from onereg.registry.identity import load_signer

FAST = Timers(publish=0.2, mirror=0.2, stale_after=30.0)


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
