"""The federation page's evidence panel (`web.health`): each evidence file a node's mirrors
wrote is judged as `onereg verify-evidence` judges it, and only files of the mirrors' own
naming, inside the evidence folder, are ever read or served."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from localfed import ONEREG
from onereg.core.registries import RegistryId
from onereg.federation.layout import DataDir
from onereg.ledger.checkpoint import Checkpoint, sign_checkpoint
from onereg.ledger.evidence import SplitViewEvidence
from onereg.ledger.note import Signer
from onereg.ledger.policy import Policy
from onereg.web.health import check_evidence, evidence_file, evidence_summary

AFRINIC, ARIN = "onereg.example/afrinic", "onereg.example/arin"


@pytest.fixture
def signers() -> dict[str, Signer]:
    return {AFRINIC: Signer.generate(AFRINIC), ARIN: Signer.generate(ARIN)}


def _policy(signers: dict[str, Signer]) -> str:
    return "\n".join([f"log {s.verifier().vkey()}" for s in signers.values()] + ["quorum none"])


def _view(tmp_path: Path) -> DataDir:
    root = tmp_path / "mirrors"
    (root / "evidence").mkdir(parents=True)
    return DataDir(root, {RegistryId.RIPENCC: tmp_path / "node.sqlite"})


def _split(signer: Signer, origin: str, size: int) -> str:
    notes = [sign_checkpoint(Checkpoint(origin, size, bytes([n]) * 32), [signer]) for n in (1, 2)]
    return SplitViewEvidence(notes[0], notes[1], ()).to_json()


def test_evidence_is_judged_as_verify_evidence_judges_it(
    signers: dict[str, Signer], tmp_path: Path
) -> None:
    view = _view(tmp_path)
    policy_text = _policy(signers)
    good = view.root / "evidence" / "afrinic-7-7.json"
    good.write_text(_split(signers[AFRINIC], AFRINIC, 7))
    # ARIN's key cannot speak for AFRINIC's log: no evidence against it
    forged = view.root / "evidence" / "arin-7-7.json"
    forged.write_text(_split(signers[ARIN], AFRINIC, 7))
    shown = {e["file"]: e for e in evidence_summary(view, Policy.parse(policy_text))}
    assert set(shown) == {good.name, forged.name}
    assert (
        shown[good.name]["verified"]
        and "two different roots for size 7" in shown[good.name]["reason"]
    )
    assert not shown[forged.name]["verified"] and forged.name in shown[forged.name]["reason"]
    # the command the page shows, run where the downloads land, says the same
    (tmp_path / "policy.txt").write_text(policy_text + "\n")
    for name, entry in shown.items():
        (tmp_path / name).write_bytes((view.root / "evidence" / name).read_bytes())
        done = subprocess.run(
            [ONEREG, *entry["command"].split()[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (done.returncode == 0) == entry["verified"], (name, done.stdout, done.stderr)


def test_an_edited_evidence_file_is_no_evidence(signers: dict[str, Signer], tmp_path: Path) -> None:
    view = _view(tmp_path)
    path = view.root / "evidence" / "afrinic-7-7.json"
    data = json.loads(_split(signers[AFRINIC], AFRINIC, 7))
    data["second"] = data["second"].replace("\n7\n", "\n8\n", 1)
    path.write_text(json.dumps(data))
    found = check_evidence(path, Policy.parse(_policy(signers)))
    assert not found["verified"] and path.name in found["reason"]
    path.write_text("not json")
    found = check_evidence(path, Policy.parse(_policy(signers)))
    assert not found["verified"] and "not JSON" in found["reason"]


@pytest.mark.parametrize(
    "name", ["../node.toml", "afrinic-7-7.json/../x", "seen", "afrinic.json", ".afrinic-7-7.json"]
)
def test_only_evidence_files_in_the_folder_are_served(tmp_path: Path, name: str) -> None:
    view = _view(tmp_path)
    (view.root / "evidence" / "afrinic-7-7.json").write_text("{}")
    assert evidence_file(view, "afrinic-7-7.json") is not None
    assert evidence_file(view, "afrinic-rollback-9-7.json") is None  # no such file
    assert evidence_file(view, name) is None
