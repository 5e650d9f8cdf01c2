"""What the agreement and transfer commands say when something is off, on a small data dir of
real records (RIPE NCC's own 193.0.0.0/20 and 193.0.16.0/21, a Dutch holder, an ARIN holder)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from onereg.cli.mixing import mixing_warning
from onereg.core.registries import RegistryId
from onereg.federation.layout import DataDir

ONEREG = str(Path(sys.executable).parent / "onereg")
NCC, NL = "2971c08b-2b8e-49f9-a938-fe3a9f8348be", "a7f2b23d-88b8-4f7a-94db-0f14ab574596"
US = "876762d29b9741cf8062b502260203c8"
RIPE = [
    f"ripencc|NL|ipv4|193.0.0.0|4096|19930901|allocated|{NCC}",
    f"ripencc|NL|ipv4|193.0.16.0|2048|19930901|allocated|{NCC}",
    f"ripencc|NL|ipv4|193.0.24.0|2048|19930901|allocated|{NL}",
]
ARIN = [f"arin|US|ipv4|23.227.64.0|8192|20130920|allocated|{US}"]
CN, AU = "A92E1062", "A91C7138"  # two APNIC holders of the 2018 file
APNIC = [
    f"apnic|CN|ipv4|1.0.2.0|512|20110414|allocated|{CN}",
    f"apnic|AU|ipv4|1.0.4.0|1024|20110412|allocated|{AU}",
]


def delegated(path: Path, registry: str, lines: list[str], day: str = "20181013") -> Path:
    header = f"2|{registry}|{day}|{len(lines)}|19700101|{day}|+0000"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ONEREG, "--data-dir", str(data), *args], capture_output=True, text=True, timeout=120
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return " ".join((done.stdout + done.stderr).split())


def said(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join((done.stdout + done.stderr).split())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("agreements")
    data = root / "data"
    ripe = delegated(root / "delegated-ripencc-extended-latest", "ripencc", RIPE)
    arin = delegated(root / "delegated-arin-extended-latest", "arin", ARIN)
    apnic = delegated(root / "delegated-apnic-extended-latest", "apnic", APNIC)
    ok(run(data, "import", str(ripe), str(arin), str(apnic)))
    holders = (
        ("ncc", "ripencc", NCC),
        ("nl", "ripencc", NL),
        ("cn", "apnic", CN),
        ("au", "apnic", AU),
    )
    for name, registry, handle in holders:
        key = root / "keys" / f"{name}.pem"
        ok(run(data, "holder", "keygen", str(key)))
        ok(run(data, "holder", "register-key", "--registry", registry, "--handle", handle,
               "--key", str(key)))  # fmt: skip
    return root


def test_keygen_makes_a_private_folder_and_never_overwrites(world: Path) -> None:
    key = world / "keys" / "ncc.pem"
    assert (world / "keys").stat().st_mode & 0o077 == 0
    before = key.read_bytes()
    again = run(world / "data", "holder", "keygen", str(key))
    assert again.returncode == 2 and "never overwritten" in said(again)
    assert key.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--recipient", "ripencc:NOBODY", "ripencc has no holder 'NOBODY'"),
        ("--recipient", f"arin:{NL}", f"arin has no holder '{NL}'"),
        ("--source", "ripe:X", "expected REGISTRY:HANDLE"),
    ],
)
def test_agreement_new_refuses_unknown_handles(
    world: Path, option: str, value: str, words: str
) -> None:
    out = world / "unknown.json"
    parties = {"--source": f"ripencc:{NCC}", "--recipient": f"ripencc:{NL}", option: value}
    args = [a for pair in parties.items() for a in pair]
    done = run(world / "data", "agreement", "new", "193.0.22.0/23", *args, "-o", str(out))
    assert done.returncode == 2 and words in said(done) and option in said(done)
    assert not out.exists()


def test_a_missing_signature_is_called_missing_and_a_rerun_says_when_it_was_decided(
    world: Path,
) -> None:
    data, a = world / "data", world / "a.json"
    ok(run(data, "agreement", "new", "193.0.22.0/23", "--source", f"ripencc:{NCC}",
           "--recipient", f"ripencc:{NL}", "-o", str(a)))  # fmt: skip
    signed = ok(run(data, "agreement", "sign", str(a), "--key", str(world / "keys/ncc.pem"),
                    "--as", "source"))  # fmt: skip
    assert "the recipient has yet to sign" in signed
    unsigned = run(data, "transfer", str(a))
    assert unsigned.returncode == 2
    assert f"recipient holder '{NL}' has not signed the agreement yet" in said(unsigned)
    assert "does not verify" not in said(unsigned)
    ok(run(data, "agreement", "sign", str(a), "--key", str(world / "keys/nl.pem"),
           "--as", "recipient"))  # fmt: skip
    done = ok(run(data, "transfer", str(a)))
    seq = done.split("(log entry ")[1].split(")")[0]
    again = run(data, "transfer", str(a))
    assert again.returncode == 2
    assert "already decided at 20" in said(again)
    assert f"sourceFinalized (ripencc log entry {seq})" in said(again)


def test_a_return_says_only_the_source_signs(world: Path) -> None:
    data, r = world / "data", world / "r.json"
    made = ok(run(data, "agreement", "new", "193.0.19.0/24", "--source", f"ripencc:{NCC}",
                  "--kind", "return", "-o", str(r)))  # fmt: skip
    assert "only the source holder signs it" in made and "both holders" not in made
    assert "no transfer policy applies" in made
    refused = run(data, "agreement", "sign", str(r), "--key", str(world / "keys/nl.pem"),
                  "--as", "recipient")  # fmt: skip
    assert refused.returncode == 2 and "a return has no recipient" in said(refused)


def test_arin_evidence_is_asked_all_at_once_with_its_json_form(world: Path) -> None:
    data, b = world / "data", world / "b.json"
    ok(run(data, "agreement", "new", "193.0.20.0/23", "--source", f"ripencc:{NCC}",
           "--recipient", f"arin:{US}", "-o", str(b)))  # fmt: skip
    listed = run(data, "agreement", "evidence", str(b))
    template = json.loads(listed.stdout)
    text = said(listed)
    for field in ("rsa_signed", "utilisation_80_percent + current_holdings_addresses",
                  "prior_blocks_efficient_use"):  # fmt: skip
        assert field in text  # US holds ARIN space: the existing-holder ways
    assert {"rsa_signed", "needs_24_month_projection", "prior_blocks_efficient_use"} == set(
        template
    )
    # no node runs: the transfer is refused here, before anything is sent, listing every rule
    refused = run(data, "transfer", str(b))
    assert refused.returncode == 2 and "cannot reach" not in said(refused)
    for field in ("rsa_signed", "needs_24_month_projection", "prior_blocks_efficient_use"):
        assert field in said(refused)
    assert '{"rsa_signed": true' in said(refused)


@pytest.mark.parametrize("content", [b"hello\n", b"\xff\xfe", b"[1, 2]"])
def test_bad_evidence_files_are_named(world: Path, content: bytes) -> None:
    bad = world / "bad-evidence"
    bad.write_bytes(content)
    done = run(world / "data", "transfer", str(world / "b.json"), "--evidence", str(bad))
    assert done.returncode == 2 and str(bad) in said(done) and "Traceback" not in said(done)


def test_apnic_pre_approval_date_is_taken_as_json_and_applied(world: Path) -> None:
    """APNIC's pre-approval (valid 12 months) as an ISO date string in the evidence file: a
    malformed date is refused naming the field, one 13 months old is refused by the policy,
    both changing nothing; a recent one moves the block."""
    data, c = world / "data", world / "c.json"
    ok(run(data, "agreement", "new", "1.0.3.0/24", "--source", f"apnic:{CN}",
           "--recipient", f"apnic:{AU}", "-o", str(c)))  # fmt: skip
    for name, role in (("cn", "source"), ("au", "recipient")):
        ok(run(data, "agreement", "sign", str(c), "--key", str(world / f"keys/{name}.pem"),
               "--as", role))  # fmt: skip
    asked = run(data, "agreement", "evidence", str(c))
    assert "needs_justification | pre_approval_date" in said(asked)
    assert "YYYY-MM-DD" in said(run(data, "agreement", "evidence", "--help"))
    assert "pre_approval_date" in said(run(data, "transfer", "--help"))
    evidence = world / "apnic-evidence.json"
    today = datetime.now(UTC).date()
    with DataDir(data).read(RegistryId.APNIC) as node:
        head = node.head()
    for value, words in (
        ("2026-02-30", "evidence field 'pre_approval_date': '2026-02-30' is not a date"),
        ("01/03/2026", "evidence field 'pre_approval_date': '01/03/2026' is not a date"),
        ((today - timedelta(days=400)).isoformat(), "is not within 12 months"),
    ):
        evidence.write_text(json.dumps({"pre_approval_date": value}))
        refused = run(data, "transfer", str(c), "--evidence", str(evidence))
        assert refused.returncode == 2 and words in said(refused), said(refused)
        assert "Traceback" not in said(refused)
        with DataDir(data).read(RegistryId.APNIC) as node:
            assert node.head() == head  # nothing written
    evidence.write_text(json.dumps({"pre_approval_date": (today - timedelta(days=30)).isoformat()}))
    assert f"transferred to {AU}" in ok(run(data, "transfer", str(c), "--evidence", str(evidence)))
    assert f"holder {AU}" in ok(run(data, "show", "1.0.3.1"))


def test_verify_evidence_names_a_file_that_is_not_evidence(world: Path) -> None:
    policy = world / "policy.txt"
    policy.write_text("log example.org/log 0123\n")
    for content in (b"not json at all\n", b"\xff\xfe", b'{"format": "x"}'):
        bad = world / "evidence.json"
        bad.write_bytes(content)
        done = run(world / "data", "verify-evidence", str(bad), "--policy", str(policy))
        assert done.returncode == 2 and "Traceback" not in said(done)
        assert str(bad) in said(done) or str(policy) in said(done)
    done = run(world / "data", "verify-evidence", str(policy), "--policy", str(bad))
    assert done.returncode == 2 and f"{bad}: not a policy file" in said(done)


def test_up_says_when_it_would_mix_files_into_existing_nodes(world: Path) -> None:
    data = DataDir(world / "data")
    same, other = world / "same", world / "other"
    same.mkdir()
    other.mkdir()
    delegated(same / "delegated-ripencc-extended-latest", "ripencc", RIPE)
    delegated(other / "delegated-ripencc-extended-latest", "ripencc", RIPE, day="20260101")
    assert mixing_warning(data, same) is None
    warning = mixing_warning(data, other)
    assert warning is not None
    assert "ripencc" in warning and "for good" in warning and "--data-dir" in warning
    assert f"rm -rf {data.root}" in warning
