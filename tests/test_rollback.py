"""`onereg verify` (the `Mirror`) against a log that shrank below a checkpoint it signed: a
node restored from an old backup, before or after a key rotation. The verifier names it a
rollback and keeps both signed checkpoints, whichever key signed the smaller one."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console
from starlette.testclient import TestClient

from onereg.cli.serve import verify_evidence
from onereg.core.errors import OneregError
from onereg.core.registries import RegistryId
from onereg.federation.config import NodeInfo
from onereg.federation.httpsig import NodeSigningKey, RequestVerifier
from onereg.federation.mirror import Mirror
from onereg.http.app import NodeService, build_app
from onereg.http.signed import SignedRoutes
from onereg.ledger.checkpoint import Checkpoint, Cosigner
from onereg.ledger.evidence import ROLLBACK_FORMAT, SplitViewEvidence
from onereg.ledger.note import Signer, parse_note
from onereg.ledger.policy import Policy
from onereg.registry import events as ev
from onereg.registry.checkpoints import Checkpointer, rotate_key_of
from onereg.registry.identity import load_or_create_key, load_signer, origin_of
from onereg.registry.node import RegistryNode

RID = RegistryId.AFRINIC
URL = "http://127.0.0.1:8001"


class Node:
    """AFRINIC's node as files: its database and its log key."""

    def __init__(self, root: Path) -> None:
        self.db, self.key = root / "node.sqlite", root / "log.key"
        self.signer = load_or_create_key(self.key, origin_of(RID))
        self.info = NodeInfo(RID.value, URL, origin_of(RID), self.signer.verifier().vkey(), "")

    def grow(self, count: int, tag: str) -> str:
        """Append `count` holders and sign a checkpoint with the current key."""
        with RegistryNode.open(RID, self.db) as node:
            rows = [{"handle": f"{tag}{i}", "name": "", "cc": "ZA"} for i in range(count)]
            node.append([(ev.HOLDER_REGISTERED, r) for r in rows])
            return Checkpointer(node, load_signer(self.key)).sign()

    def rotate(self) -> None:
        with RegistryNode.open(RID, self.db) as node:
            rotate_key_of(node, self.key)

    @contextmanager
    def served(self) -> Iterator[TestClient]:
        me = NodeSigningKey(RID.value, Signer.generate("n").private_key)
        service = NodeService(
            RID,
            self.db,
            Cosigner.generate("w"),
            {},
            SignedRoutes(me, RequestVerifier({}, 60), 1),
            {},
            {},
        )
        with TestClient(build_app(service), base_url=URL) as client:
            yield client


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def _verify(node: Node, state: Path) -> tuple[str, str]:
    policy = Policy.parse(f"log {node.info.log_vkey}\nquorum none\n")
    with node.served() as client:
        check = Mirror(state, [node.info], policy, client).verify_node(node.info)
    return check.problem, check.evidence


def test_a_restored_backup_is_named_a_rollback_with_both_checkpoints(
    node: Node, tmp_path: Path
) -> None:
    node.grow(5, "A")
    backup = tmp_path / "backup.sqlite"
    shutil.copy(node.db, backup)
    larger = node.grow(4, "B")
    state = tmp_path / "verifier"
    assert _verify(node, state) == ("", "")
    shutil.copy(backup, node.db)  # the operator restores last week's backup
    with RegistryNode.open(RID, node.db) as restored:
        smaller = Checkpointer(restored, node.signer).latest()
    problem, evidence = _verify(node, state)
    assert "rollback" in problem and "UnknownKey" not in problem, problem
    sizes = [Checkpoint.parse(parse_note(n)[0]).size for n in (larger, smaller or "")]
    assert f"signed size {sizes[0]}" in problem and f"now signs size {sizes[1]}" in problem
    data = json.loads(Path(evidence).read_text())
    assert data["format"] == ROLLBACK_FORMAT
    assert (data["earlier"], data["later"]) == (larger, smaller)
    # a third party with the policy checks it: the log signed both, the later one smaller
    policy = tmp_path / "policy.txt"
    policy.write_text(f"log {node.info.log_vkey}\nquorum none\n")
    out = io.StringIO()
    assert verify_evidence(Path(evidence), policy, Console(file=out, width=200))
    assert f"signed size {sizes[0]} and then" in out.getvalue() and "rollback" in out.getvalue()
    swapped = tmp_path / "swapped.json"
    swapped.write_text(json.dumps({**data, "earlier": smaller, "later": larger}))
    with pytest.raises(OneregError, match="did not shrink"):
        verify_evidence(swapped, policy, Console(file=out))


def test_a_rollback_below_a_key_rotation_is_a_rollback_not_an_unknown_key(
    node: Node, tmp_path: Path
) -> None:
    """Restored to before the rotation, the node keeps signing with its new key: the
    smaller checkpoint is the log's (its rotated key) and conflicts with what it signed."""
    node.grow(5, "A")
    backup = tmp_path / "backup.sqlite"
    shutil.copy(node.db, backup)
    node.rotate()
    larger = node.grow(4, "B")
    state = tmp_path / "verifier"
    assert _verify(node, state) == ("", "")
    shutil.copy(backup, node.db)
    smaller = node.grow(1, "C")  # signed with the current (rotated) key
    problem, evidence = _verify(node, state)
    assert "rollback" in problem and "not signed by" not in problem, problem
    assert "split view" in problem
    split = SplitViewEvidence.from_json(Path(evidence).read_text())
    assert (split.first_note, split.second_note) == (smaller, larger)


def test_a_smaller_checkpoint_not_signed_by_the_log_is_no_evidence(
    node: Node, tmp_path: Path
) -> None:
    node.grow(5, "A")
    backup = tmp_path / "backup.sqlite"
    shutil.copy(node.db, backup)
    node.grow(4, "B")
    state = tmp_path / "verifier"
    assert _verify(node, state) == ("", "")
    shutil.copy(backup, node.db)
    node.key.unlink()
    load_or_create_key(node.key, origin_of(RID))  # a stranger's key under the log's name
    node.grow(1, "C")
    problem, evidence = _verify(node, state)
    assert evidence == "" and "rollback" not in problem
    assert "signature" in problem.lower(), problem


def test_a_rollback_below_the_mirror_is_named_even_without_the_seen_checkpoint(
    node: Node, tmp_path: Path
) -> None:
    node.grow(5, "A")
    backup = tmp_path / "backup.sqlite"
    shutil.copy(node.db, backup)
    node.grow(4, "B")
    state = tmp_path / "verifier"
    assert _verify(node, state) == ("", "")
    (state / "seen" / "afrinic.checkpoint").unlink()  # lost; the mirror still holds the log
    shutil.copy(backup, node.db)
    problem, evidence = _verify(node, state)
    assert "rollback" in problem and "below the 11 entries" in problem, problem
    assert evidence == ""
