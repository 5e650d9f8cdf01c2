"""Offline proofs of holding and non-holding, built on a real AFRINIC node and checked offline."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from onereg.core.errors import OneregError, ProofError, UnknownKeyError
from onereg.core.registries import RegistryId
from onereg.core.resources import Resource
from onereg.federation.importer import import_delegated_file
from onereg.federation.layout import DataDir
from onereg.federation.proofs import (
    ProofBuildError,
    ProofResult,
    build_absence_proof,
    build_holding_proof,
    verify_proof_file,
)
from onereg.ledger.checkpoint import Cosigner, merge_signatures
from onereg.ledger.entry import canonical_json
from onereg.ledger.note import Signer, parse_note, sign_note
from onereg.ledger.policy import Policy, QuorumError
from onereg.ledger.proofile import ProofFormatError
from onereg.registry import events as ev
from onereg.registry.checkpoints import Checkpointer
from onereg.registry.identity import load_or_create_signer, origin_of
from onereg.registry.node import RegistryNode

pytestmark = pytest.mark.realdata

ORIGIN = origin_of(RegistryId.AFRINIC)
# AS37000 is in AFRINIC's pool in the 2018 file; the fixture delegates it with one log entry.
NEW_HOLDER = "F3TEST01"


@dataclass
class Setup:
    node: RegistryNode
    signer: Signer
    witnesses: tuple[Cosigner, Cosigner]
    old_note: str  # a checkpoint that is no longer the latest
    note: str  # the latest checkpoint, cosigned by both witnesses

    def policy_text(self, extra: str = "", quorum: str = "both") -> str:
        """The log key and both witnesses; by default a quorum of both, else `extra` lines."""
        one, two = self.witnesses
        both = "group both all witness-one witness-two\n" if quorum == "both" else ""
        return (
            f"log {self.signer.verifier().vkey()}\n"
            f"witness witness-one {one.verifier().vkey()}\n"
            f"witness witness-two {two.verifier().vkey()}\n"
            f"{extra}{both}quorum {quorum}\n"
        )

    @property
    def policy(self) -> Policy:
        return Policy.parse(self.policy_text())


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Setup]:
    source = shared_data / "delegated" / "2018-10-13" / "delegated-afrinic-extended-latest"
    if not source.exists():
        pytest.skip(f"real data not found: {source}")
    tmp = tmp_path_factory.mktemp("proofs")
    data = DataDir(tmp)
    import_delegated_file(data, source, None)
    node = data.open(RegistryId.AFRINIC)
    signer = load_or_create_signer(tmp / "keys", RegistryId.AFRINIC, ORIGIN)
    checkpointer = Checkpointer(node, signer)
    old_note = checkpointer.sign()
    # One ordinary change after that checkpoint: AS37000 leaves the pool for a holder.
    node.append(
        [
            (
                ev.DELEGATION_CHANGED,
                {
                    "afi": "asn",
                    "start": "37000",
                    "value": 1,
                    "cc": "KE",
                    "date": "20181014",
                    "status": "allocated",
                    "holder": NEW_HOLDER,
                    "opaque": NEW_HOLDER,
                    "ext": [],
                },
            )
        ]
    )
    signed = checkpointer.sign()
    witnesses = (Cosigner.generate("witness-one"), Cosigner.generate("witness-two"))
    body, _ = parse_note(signed)
    note = merge_signatures(signed, "".join(w.cosign(body) for w in witnesses))
    size, _ = node.head()
    checkpointer.add_cosignatures(size, note)
    assert checkpointer.latest() == note
    yield Setup(node, signer, witnesses, old_note, note)
    node.close()


def _holding(setup: Setup, text: str) -> str:
    return build_holding_proof(setup.node, setup.note, Resource.parse(text))


def _absence(setup: Setup, text: str) -> str:
    return build_absence_proof(setup.node, setup.note, Resource.parse(text))


# --------------------------------------------------------------------------------------------
# Proofs that verify


def test_holding_proof_verifies_and_names_the_holder(setup: Setup) -> None:
    text = _holding(setup, "196.1.0.0")
    result = verify_proof_file(text, setup.policy)
    (delegation,) = setup.node.overlapping(Resource.parse("196.1.0.0"))
    assert isinstance(result, ProofResult)
    assert result.held and result.kind == "holding"
    assert result.holder == delegation.holder == "F3634D22"
    assert result.leaf is not None
    assert (result.leaf.afi, result.leaf.start, result.leaf.end, result.leaf.status) == (
        "ipv4",
        delegation.resource.start,
        delegation.resource.end,
        "assigned",
    )
    assert result.resource == Resource.parse("196.1.0.0")
    assert (result.origin, result.size) == (ORIGIN, setup.node.head()[0])
    assert result.witnesses == ("witness-one", "witness-two")
    # The log entry proven included is the one that last changed the delegation (an import batch).
    assert result.entry_seq == delegation.seq and result.entry_kind == ev.BATCH
    lines = text.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1].startswith("extra ") and lines[2] == f"index {delegation.seq - 1}"
    assert text.endswith(setup.note)
    assert "F3634D22" in result.describe() and "witness-two" in result.describe()


@pytest.mark.parametrize(
    ("query", "holder", "status"),
    [
        ("41.0.0.0/16", "F364712F", "allocated"),  # part of a /11
        ("2c0f:f000::/48", "F363DDF3", "allocated"),  # IPv6, part of a /32
        ("AS37001", "F36CF9B2", "allocated"),
        ("AS37000", NEW_HOLDER, "allocated"),  # changed by a single log entry
        ("102.0.0.0/16", "", "available"),  # pool space is a leaf too
    ],
)
def test_holding_proofs_of_every_family(setup: Setup, query: str, holder: str, status: str) -> None:
    result = verify_proof_file(_holding(setup, query), setup.policy, expected=Resource.parse(query))
    assert (result.holder, result.leaf and result.leaf.status) == (holder, status)


def test_holding_proof_of_a_single_change_carries_that_entry(setup: Setup) -> None:
    result = verify_proof_file(_holding(setup, "AS37000"), setup.policy)
    assert result.entry_kind == ev.DELEGATION_CHANGED
    (delegation,) = setup.node.overlapping(Resource.parse("AS37000"))
    assert result.entry_seq == delegation.seq == result.size  # the last change of the log


@pytest.mark.parametrize("query", ["8.8.8.0/24", "2001:db8::/32", "AS3333", "0.0.0.0/8"])
def test_absence_proof_verifies(setup: Setup, query: str) -> None:
    resource = Resource.parse(query)
    assert setup.node.overlapping(resource) == []
    result = verify_proof_file(_absence(setup, query), setup.policy, expected=resource)
    assert not result.held and result.kind == "absence"
    assert result.holder is None and result.leaf is None
    assert result.resource == resource
    assert result.witnesses == ("witness-one", "witness-two")
    # The neighbours really are around the gap, and of the node's current state.
    for leaf in (result.before, result.after):
        if leaf is not None and leaf.afi == resource.afi.value:
            assert not (leaf.start <= resource.end and resource.start <= leaf.end)
    # An absence proof carries the last entry of the log: the state is the one after it.
    assert result.entry_seq == result.size == setup.node.head()[0]


def test_absence_proof_names_the_free_gap(setup: Setup) -> None:
    result = verify_proof_file(_absence(setup, "8.8.8.0/24"), setup.policy)
    assert result.after is not None and result.after.start == Resource.parse("41.0.0.0").start
    assert "is not delegated" in result.describe()


def test_quorum_of_two_of_three_passes_and_three_fails(setup: Setup) -> None:
    text = _holding(setup, "196.1.0.0")
    third = Cosigner.generate("witness-three")
    extra = f"witness witness-three {third.verifier().vkey()}\n"
    two_of_three = setup.policy_text(
        extra + "group some 2 witness-one witness-two witness-three\n", quorum="some"
    )
    assert verify_proof_file(text, Policy.parse(two_of_three)).witnesses == (
        "witness-one",
        "witness-two",
    )
    all_three = setup.policy_text(
        extra + "group every all witness-one witness-two witness-three\n", quorum="every"
    )
    with pytest.raises(QuorumError, match=r"witness quorum 'every' not met") as info:
        verify_proof_file(text, Policy.parse(all_three))
    assert "witness-three (no valid cosignature)" in str(info.value)
    assert "needs all 3 of 3" in str(info.value)


def test_another_log_key_is_refused(setup: Setup) -> None:
    other = Signer.generate(ORIGIN)
    one, two = setup.witnesses
    policy = Policy.parse(
        f"log {other.verifier().vkey()}\n"
        f"witness witness-one {one.verifier().vkey()}\n"
        f"witness witness-two {two.verifier().vkey()}\n"
        "group both all witness-one witness-two\nquorum both\n"
    )
    with pytest.raises(UnknownKeyError, match="not signed by any log key"):
        verify_proof_file(_absence(setup, "AS3333"), policy)


def test_expected_resource_must_match(setup: Setup) -> None:
    with pytest.raises(ProofError, match=r"about 196\.1\.0\.0/32, not about 196\.1\.0\.1/32"):
        verify_proof_file(
            _holding(setup, "196.1.0.0"), setup.policy, expected=Resource.parse("196.1.0.1")
        )


# --------------------------------------------------------------------------------------------
# Refusals at build time


def test_checkpoint_that_is_not_the_latest_is_refused(setup: Setup) -> None:
    with pytest.raises(ProofBuildError, match=r"is not the latest"):
        build_holding_proof(setup.node, setup.old_note, Resource.parse("196.1.0.0"))
    with pytest.raises(ProofBuildError, match=r"is not the latest"):
        build_absence_proof(setup.node, setup.old_note, Resource.parse("8.8.8.0/24"))


def test_checkpoint_of_another_key_is_refused(setup: Setup) -> None:
    body, _ = parse_note(setup.note)
    forged = sign_note(body, [Signer.generate(ORIGIN)])
    with pytest.raises(ProofBuildError, match="not signed by a key that afrinic has published"):
        build_holding_proof(setup.node, forged, Resource.parse("196.1.0.0"))


def test_build_refuses_wrong_kind_of_proof(setup: Setup) -> None:
    with pytest.raises(ProofBuildError, match="build an absence proof instead"):
        _holding(setup, "8.8.8.0/24")
    with pytest.raises(ProofBuildError, match="is not free"):
        _absence(setup, "196.1.0.0/30")
    with pytest.raises(ProofBuildError, match="not within one delegation"):
        _holding(setup, "196.0.0.0/8")


# --------------------------------------------------------------------------------------------
# Tampering


PRINTABLE = list(range(0x20, 0x7F))


def _flip(data: bytes, position: int, rng: random.Random) -> bytes:
    """The file with the byte at `position` replaced by another printable ASCII character."""
    replacement = rng.choice([c for c in PRINTABLE if c != data[position]])
    return data[:position] + bytes((replacement,)) + data[position + 1 :]


def _tamper_positions(data: bytes, positions: list[int], policy: Policy) -> list[str]:
    """Flip each position in turn; return a description of every flip that did not fail."""
    rng = random.Random(20181013)
    problems = []
    for position in positions:
        changed = _flip(data, position, rng)
        try:
            verify_proof_file(changed, policy)
        except OneregError:
            continue
        except Exception as exc:  # anything but a onereg error is a bug
            problems.append(f"byte {position}: uncaught {type(exc).__name__}: {exc}")
        else:
            problems.append(f"byte {position}: {changed[position : position + 1]!r} verified")
    return problems


def _entry_span(text: str) -> tuple[int, int]:
    """Byte positions of the file (within the extra line) that only encode the log entry."""
    line_start = text.index("\nextra ") + len("\nextra ")
    claim = base64.b64decode(text[line_start : text.index("\n", line_start)])
    first = claim.index(b'"entry":"') + len(b'"entry":"')
    last = claim.index(b'","format":')
    # Base64 maps bytes 3k..3k+2 to characters 4k..4k+3; keep whole groups inside the entry.
    return line_start + 4 * (first // 3 + 1), line_start + 4 * (last // 3)


def test_every_byte_of_a_small_holding_proof_is_protected(setup: Setup) -> None:
    text = _holding(setup, "AS37000")
    data = text.encode()
    assert verify_proof_file(data, setup.policy).holder == NEW_HOLDER
    assert _tamper_positions(data, list(range(len(data))), setup.policy) == []


def test_every_byte_of_an_absence_proof_is_protected(setup: Setup) -> None:
    data = _absence(setup, "8.8.8.0/24").encode()
    assert _tamper_positions(data, list(range(len(data))), setup.policy) == []


def test_bytes_of_a_large_holding_proof_are_protected(setup: Setup) -> None:
    """Every byte but the embedded batch entry (several kB), and a random sample of it."""
    text = _holding(setup, "196.1.0.0")
    data = text.encode()
    first, last = _entry_span(text)
    assert text[:last].isascii()  # so character and byte positions agree up to there
    assert last - first > 5_000
    sample = random.Random(1).sample(range(first, last), 400)
    positions = [*range(first), *sample, *range(last, len(data))]
    assert _tamper_positions(data, positions, setup.policy) == []


# Targeted changes, each re-encoded so that only the intended check can catch it: the error
# must say what failed.


def _claim(text: str) -> dict[str, Any]:
    line = text.split("\n")[1]
    claim: dict[str, Any] = orjson.loads(base64.b64decode(line[len("extra ") :]))
    return claim


def _with_claim(text: str, claim: dict[str, Any]) -> str:
    rest = {k: v for k, v in claim.items() if k != "checksum"}
    claim = {**rest, "checksum": hashlib.sha256(canonical_json(rest)).hexdigest()}
    lines = text.split("\n")
    lines[1] = "extra " + base64.b64encode(canonical_json(claim)).decode()
    return "\n".join(lines)


def test_changed_resource_outside_the_leaf_is_caught(setup: Setup) -> None:
    text = _holding(setup, "196.1.0.0")
    claim = _claim(text)
    claim["resource"] = "196.1.1.0/32"
    with pytest.raises(
        ProofError, match=r"does not cover the resource asked about, 196\.1\.1\.0/32"
    ):
        verify_proof_file(_with_claim(text, claim), setup.policy)


def test_changed_holder_is_caught_by_the_state_proof(setup: Setup) -> None:
    text = _holding(setup, "196.1.0.0")
    claim = _claim(text)
    claim["leaf"]["holder"] = "F0000000"
    with pytest.raises(ProofError, match="state proof does not verify against the checkpoint"):
        verify_proof_file(_with_claim(text, claim), setup.policy)


def test_claimed_free_range_that_is_held_is_caught(setup: Setup) -> None:
    text = _absence(setup, "8.8.8.0/24")
    claim = _claim(text)
    claim["resource"] = "41.0.0.0/24"
    with pytest.raises(ProofError, match="state proof"):
        verify_proof_file(_with_claim(text, claim), setup.policy)


def test_changed_entry_is_caught_by_the_inclusion_proof(setup: Setup) -> None:
    text = _holding(setup, "AS37000")
    claim = _claim(text)
    claim["entry"] = claim["entry"].replace('"cc":"KE"', '"cc":"NG"')
    with pytest.raises(ProofError, match="log inclusion proof of entry"):
        verify_proof_file(_with_claim(text, claim), setup.policy)


def test_bad_checksum_and_missing_extra_are_format_errors(setup: Setup) -> None:
    text = _absence(setup, "AS3333")
    claim = _claim(text)
    claim["resource"] = "AS3334"
    lines = text.split("\n")
    lines[1] = "extra " + base64.b64encode(canonical_json(claim)).decode()
    with pytest.raises(ProofFormatError, match="proof line 2: extra: checksum does not match"):
        verify_proof_file("\n".join(lines), setup.policy)
    without = "\n".join(lines[:1] + lines[2:])
    with pytest.raises(ProofFormatError, match="proof line 2: there is no 'extra' line"):
        verify_proof_file(without, setup.policy)


def test_dropped_cosignature_fails_the_quorum(setup: Setup) -> None:
    text = _absence(setup, "AS3333")
    lines = text.rstrip("\n").split("\n")
    assert lines[-1].startswith("\u2014 witness-two ")
    with pytest.raises(QuorumError, match="witness quorum 'both' not met"):
        verify_proof_file("\n".join(lines[:-1]) + "\n", setup.policy)


def _signed_note(node: RegistryNode, key_dir: Path) -> tuple[str, Policy]:
    """The node's checkpoint now, cosigned by one witness, and the policy that trusts both."""
    signer = load_or_create_signer(key_dir, node.registry, origin_of(node.registry))
    witness = Cosigner.generate("witness-one")
    checkpointer = Checkpointer(node, signer)
    signed = checkpointer.sign()
    note = merge_signatures(signed, witness.cosign(parse_note(signed)[0]))
    checkpointer.add_cosignatures(node.head()[0], note)
    policy = (
        f"log {signer.verifier().vkey()}\nwitness witness-one {witness.verifier().vkey()}\n"
        "quorum witness-one\n"
    )
    return note, Policy.parse(policy)


def test_holding_proofs_of_transferred_blocks(tmp_path: Path) -> None:
    """A transfer entry delegates the block to its new holder (recipient) and re-delegates the
    rest of a split block (source) by its own `changes`: the proof's entry is that entry."""
    from onereg.registry import interrir
    from test_interrir_steps import NOW, Pair

    pair = Pair(tmp_path)
    t = pair.initialize(pair.signed("193.0.1.0/24"))
    answer = pair.accept(t)
    interrir.finalize(pair.ripe, t.id, answer.public())
    interrir.register(pair.arin, t.id, NOW)
    for node, query, holder in (
        (pair.arin, "193.0.1.0/24", "A1"),
        (pair.ripe, "193.0.2.0/24", "R1"),  # the remainder above the hole
    ):
        note, policy = _signed_note(node, tmp_path / node.registry.value)
        proof = build_holding_proof(node, note, Resource.parse(query))
        result = verify_proof_file(proof, policy, expected=Resource.parse(query))
        assert result.holder == holder and result.entry_kind.startswith("transfer."), result
