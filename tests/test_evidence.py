"""Split-view evidence as a third party checks it (`onereg verify-evidence`): each checkpoint
counts only under a key of its own origin's log, as Go's note.Open with that log's verifiers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from localfed import ONEREG
from onereg.core.errors import ProofError, UnknownKeyError
from onereg.ledger.checkpoint import Checkpoint, sign_checkpoint
from onereg.ledger.evidence import SplitViewEvidence
from onereg.ledger.note import Signer
from onereg.ledger.policy import Policy

AFRINIC, RIPENCC = "onereg.example/afrinic", "onereg.example/ripencc"


@pytest.fixture
def keys() -> dict[str, Signer]:
    return {AFRINIC: Signer.generate(AFRINIC), RIPENCC: Signer.generate(RIPENCC)}


def _policy(keys: dict[str, Signer], path: Path) -> Path:
    lines = [f"log {k.verifier().vkey()}" for k in keys.values()] + ["quorum none"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _evidence(path: Path, first: str, second: str) -> Path:
    path.write_text(SplitViewEvidence(first, second, ()).to_json())
    return path


def _verify(evidence: Path, policy: Path) -> subprocess.CompletedProcess[str]:
    args = [ONEREG, "verify-evidence", str(evidence), "--policy", str(policy)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_a_split_view_signed_by_the_log_itself_is_proven(
    keys: dict[str, Signer], tmp_path: Path
) -> None:
    honest = sign_checkpoint(Checkpoint(AFRINIC, 5, b"\1" * 32), [keys[AFRINIC]])
    fork = sign_checkpoint(Checkpoint(AFRINIC, 5, b"\2" * 32), [keys[AFRINIC]])
    done = _verify(_evidence(tmp_path / "e.json", honest, fork), _policy(keys, tmp_path / "p"))
    assert done.returncode == 0, done.stderr
    assert "signed two different roots for size 5" in done.stdout


def test_a_checkpoint_signed_by_another_log_s_key_is_no_evidence(
    keys: dict[str, Signer], tmp_path: Path
) -> None:
    """The forged second checkpoint carries afrinic's origin but RIPE NCC's log signature:
    RIPE NCC cannot speak for afrinic's log, so nothing is proven."""
    honest = sign_checkpoint(Checkpoint(AFRINIC, 5, b"\1" * 32), [keys[AFRINIC]])
    forged = sign_checkpoint(Checkpoint(AFRINIC, 5, b"\2" * 32), [keys[RIPENCC]])
    evidence = _evidence(tmp_path / "e.json", honest, forged)
    done = _verify(evidence, _policy(keys, tmp_path / "p"))
    assert done.returncode != 0 and "conflict proven" not in done.stdout
    assert "second checkpoint" in done.stderr and str(evidence) in done.stderr
    assert RIPENCC in done.stderr  # who did sign it
    with pytest.raises(UnknownKeyError, match="second checkpoint"):
        SplitViewEvidence(honest, forged, ()).check(
            Policy.parse((tmp_path / "p").read_text()).log_keys
        )


def test_a_malformed_evidence_file_is_named(keys: dict[str, Signer], tmp_path: Path) -> None:
    policy = _policy(keys, tmp_path / "p")
    bad = tmp_path / "bad.json"
    for text, words in (
        ("{not json", "not JSON"),
        ('{"format": "onereg-split-view-evidence/v1", "first": 1}', '"first"'),
        (
            '{"format": "onereg-split-view-evidence/v1", "first": "", "second": "", '
            '"path": ["AAAA"]}',
            "path[0]",
        ),
    ):
        bad.write_text(text)
        done = _verify(bad, policy)
        assert done.returncode != 0 and words in done.stderr, (text, done.stderr)
        assert "Traceback" not in done.stderr
    with pytest.raises(ProofError, match="path"):
        SplitViewEvidence.from_json(
            json.dumps(
                {"format": "onereg-split-view-evidence/v1", "first": "", "second": "", "path": 3}
            )
        )
