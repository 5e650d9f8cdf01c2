"""Log entries (encoding, chain checks, decoding) and split-view evidence, without a node.

Every rejection here is one a tampered or forged log would need to slip past."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onereg.core.errors import LogIntegrityError, ProofError
from onereg.ledger.checkpoint import Checkpoint
from onereg.ledger.entry import (
    ENTRY_FORMAT,
    GENESIS_HASH,
    LogEntry,
    canonical_json,
    chain,
    chain_encoded,
    decode_entry,
    encode_entry,
    make_entry,
    utc_now,
    verify_chain,
)
from onereg.ledger.evidence import (
    EVIDENCE_FORMAT,
    SplitViewEvidence,
    check_conflict,
    consistency_roots,
)
from onereg.ledger.merkle import MemoryHashStore, MerkleTree, leaf_hash

T = "2026-01-01T00:00:00.000000Z"

# --- entries -----------------------------------------------------------------------------------


def test_canonical_json_sorts_keys_and_has_no_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": None, "c": "é"}]}) == (
        '{"a":[1,{"c":"é","d":null}],"b":1}'.encode()
    )


def test_utc_now_is_microsecond_iso_with_z_in_utc_whatever_the_local_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30 all year
    time.tzset()
    try:
        now = utc_now()
        expected = datetime.now(UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert len(now) == len(T) and now.endswith("Z") and now[10] == "T" and now[19] == "."
    stamp = datetime.strptime(now, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((expected - stamp).total_seconds()) < 60


def test_the_encoding_is_the_documented_byte_string() -> None:
    prev = bytes(range(32))
    data = encode_entry(7, T, "holder.key", b'{"a":1}', prev)
    assert data == (
        b"onereg-log-entry/1\n7\n"
        + T.encode()
        + b"\nholder.key\n"
        + prev.hex().encode()
        + b'\n{"a":1}'
    )
    entry = make_entry(7, T, "holder.key", b'{"a":1}', prev)
    assert entry.hash == hashlib.sha256(data).digest()
    assert entry.encoded() == data and entry.data() == {"a": 1}


def test_chain_links_each_entry_to_the_previous_one_with_one_time() -> None:
    items = [("a", b"{}"), ("b", b"[]"), ("c", b"1")]
    entries = chain(5, GENESIS_HASH, T, items)
    assert [e.seq for e in entries] == [5, 6, 7]
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[1].prev_hash == entries[0].hash and entries[2].prev_hash == entries[1].hash
    assert {e.time for e in entries} == {T}
    assert [e.kind for e in entries] == ["a", "b", "c"]
    for entry, data in chain_encoded(5, GENESIS_HASH, T, items):
        assert data == entry.encoded() and make_entry(*entry[:5]) == entry
    assert verify_chain(entries, GENESIS_HASH, 5) == entries[-1].hash


def test_verify_chain_of_nothing_returns_the_starting_hash() -> None:
    assert verify_chain([], b"\x01" * 32) == b"\x01" * 32


def _three() -> list[LogEntry]:
    return chain(1, GENESIS_HASH, T, [("a", b"1"), ("b", b"2"), ("c", b"3")])


def test_verify_chain_names_a_gap_in_sequence_numbers() -> None:
    entries = _three()
    with pytest.raises(LogIntegrityError, match="log entry 3: expected sequence 2"):
        verify_chain([entries[0], entries[2]])
    with pytest.raises(LogIntegrityError, match="expected sequence 2"):
        verify_chain(entries, first_seq=2)


def test_verify_chain_names_a_broken_back_link() -> None:
    entries = _three()
    with pytest.raises(LogIntegrityError, match="log entry 1: previous-hash link is broken"):
        verify_chain(entries, prev_hash=b"\x01" * 32)


def test_verify_chain_names_an_entry_whose_content_changed() -> None:
    entries = _three()
    forged = entries[1]._replace(payload=b"9")
    with pytest.raises(LogIntegrityError, match="log entry 2: stored hash does not match content"):
        verify_chain([entries[0], forged, entries[2]])
    # each header field is covered by the hash
    for field, value in (("time", T.replace("00.0", "01.0")), ("kind", "x")):
        with pytest.raises(LogIntegrityError, match="stored hash"):
            verify_chain([entries[0]._replace(**{field: value})])


@given(
    st.integers(1, 10**12),
    st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]), max_size=8),
    st.binary(max_size=40),
)
def test_decode_entry_round_trips_any_kind_and_payload_bytes(
    seq: int, kind: str, payload: bytes
) -> None:
    entry = make_entry(seq, T, kind, payload, b"\x5a" * 32)
    assert decode_entry(entry.encoded()) == entry


def test_decode_entry_round_trips_and_recomputes_the_hash() -> None:
    entry = _three()[2]
    assert decode_entry(entry.encoded()) == entry
    payload_with_newlines = make_entry(1, T, "k", b'{"a":"x\\ny"}\n\n', GENESIS_HASH)
    assert decode_entry(payload_with_newlines.encoded()) == payload_with_newlines


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"onereg-log-entry/2\n1\n", r"^not a onereg log entry \(wrong format line\)$"),
        (ENTRY_FORMAT + b"1\n" + T.encode() + b"\nk", "^log entry: header lines missing$"),
        (
            ENTRY_FORMAT + b"x\n" + T.encode() + b"\nk\n" + bytes(32).hex().encode() + b"\n{}",
            "bad sequence",
        ),
        (
            ENTRY_FORMAT + b"1\n" + T.encode() + b"\nk\nzz\n{}",
            "^log entry: bad sequence number or previous hash$",
        ),
        (
            ENTRY_FORMAT + b"1\n" + T.encode() + b"\nk\n" + bytes(31).hex().encode() + b"\n{}",
            "not in canonical form",
        ),
        (
            ENTRY_FORMAT + b"01\n" + T.encode() + b"\nk\n" + bytes(32).hex().encode() + b"\n{}",
            "not in canonical form",
        ),
        (
            ENTRY_FORMAT
            + b"1\n"
            + T.encode()
            + b"\nk\n"
            + (b"\xab" * 32).hex().upper().encode()
            + b"\n{}",
            "canonical",
        ),
    ],
)
def test_decode_entry_refuses_what_is_not_a_canonical_entry(data: bytes, message: str) -> None:
    with pytest.raises(LogIntegrityError, match=message):
        decode_entry(data)


def test_decode_entry_of_a_non_canonical_number_names_the_entry() -> None:
    data = ENTRY_FORMAT + b"+4\n" + T.encode() + b"\nk\n" + bytes(32).hex().encode() + b"\n{}"
    with pytest.raises(LogIntegrityError, match="log entry 4: not in canonical form"):
        decode_entry(data)


# --- split-view evidence -----------------------------------------------------------------------

ORIGIN = "example.org/log"


def _tree(leaves: list[bytes]) -> MerkleTree:
    return MerkleTree(MemoryHashStore(leaf_hash(x) for x in leaves))


def _path(tree: MerkleTree, old: int, new: int) -> list[bytes]:
    proof = tree.consistency_proof(old, new)
    return [tree.root(old), *proof] if old & (old - 1) == 0 else proof


LEAVES = [bytes([i]) for i in range(7)]


@pytest.mark.parametrize(("old", "new"), [(1, 2), (2, 7), (3, 7), (4, 5), (6, 7)])
def test_consistency_roots_of_an_honest_path_are_both_roots(old: int, new: int) -> None:
    tree = _tree(LEAVES)
    assert consistency_roots(old, new, _path(tree, old, new)) == (tree.root(old), tree.root(new))


@pytest.mark.parametrize(("old", "new"), [(0, 3), (3, 3), (4, 3)])
def test_consistency_roots_needs_a_smaller_non_empty_old_tree(old: int, new: int) -> None:
    with pytest.raises(ProofError, match=f"no consistency path from {old} to {new}"):
        consistency_roots(old, new, [bytes(32)])


def _cp(size: int, root: bytes, origin: str = ORIGIN) -> Checkpoint:
    return Checkpoint(origin, size, root)


def test_two_roots_for_one_size_are_a_conflict() -> None:
    a, b = _tree(LEAVES[:3]), _tree([b"x", *LEAVES[1:3]])
    reason = check_conflict(_cp(3, a.root()), _cp(3, b.root()), [])
    assert reason == f"{ORIGIN} signed two different roots for size 3"


def test_the_same_checkpoint_twice_is_no_conflict() -> None:
    root = _tree(LEAVES[:3]).root()
    with pytest.raises(ProofError, match="same size 3 and same root"):
        check_conflict(_cp(3, root), _cp(3, root), [])


def test_checkpoints_of_two_logs_are_no_conflict() -> None:
    root = _tree(LEAVES[:3]).root()
    with pytest.raises(ProofError, match="different logs"):
        check_conflict(_cp(3, root), _cp(3, bytes(32), "other.org/log"), [])


def test_an_old_root_the_new_tree_does_not_contain_is_a_conflict_in_either_order() -> None:
    honest = _tree(LEAVES)
    forked = _tree([b"x", *LEAVES[1:3]])
    path = _path(honest, 3, 7)
    small, large = _cp(3, forked.root()), _cp(7, honest.root())
    expected = (
        f"{ORIGIN} signed size 3 with a root that the tree it signed at size 7 does not contain"
    )
    assert check_conflict(small, large, path) == expected
    assert check_conflict(large, small, path) == expected


def test_a_consistent_pair_is_no_conflict() -> None:
    tree = _tree(LEAVES)
    with pytest.raises(ProofError, match="size 4 is consistent with size 7"):
        check_conflict(_cp(4, tree.root(4)), _cp(7, tree.root()), _path(tree, 4, 7))


def test_hashes_that_do_not_lead_to_the_larger_root_are_no_evidence() -> None:
    tree = _tree(LEAVES)
    forked = _tree([b"x", *LEAVES[1:3]])
    with pytest.raises(ProofError, match="do not lead to the larger checkpoint's root"):
        check_conflict(_cp(3, forked.root()), _cp(7, bytes(32)), _path(tree, 3, 7))
    with pytest.raises(ProofError) as caught:
        check_conflict(_cp(3, forked.root()), _cp(7, bytes(32)), _path(tree, 3, 7))
    assert str(caught.value) == (
        "the hashes do not lead to the larger checkpoint's root: no evidence"
    )


def test_evidence_round_trips_through_its_json_file() -> None:
    evidence = SplitViewEvidence("first note\n", "second note\n", (b"\x01" * 32, b"\x02" * 32))
    text = evidence.to_json()
    assert text.startswith('{\n "format": "onereg-split-view-evidence/v1",\n "first": ')
    doc = json.loads(text)
    assert doc == {
        "format": EVIDENCE_FORMAT,
        "first": "first note\n",
        "second": "second note\n",
        "path": [base64.b64encode(b"\x01" * 32).decode(), base64.b64encode(b"\x02" * 32).decode()],
    }
    assert SplitViewEvidence.from_json(text) == evidence


def test_evidence_of_another_format_or_bad_base64_is_refused() -> None:
    with pytest.raises(ProofError, match=EVIDENCE_FORMAT):
        SplitViewEvidence.from_json(
            json.dumps({"format": "x", "first": "", "second": "", "path": []})
        )
    with pytest.raises(ProofError):
        SplitViewEvidence.from_json('{"first": "", "second": "", "path": []}')
    bad = json.dumps({"format": EVIDENCE_FORMAT, "first": "", "second": "", "path": ["!!"]})
    with pytest.raises(ProofError, match=r"path\[0\] is not the base64 of a 32-byte hash"):
        SplitViewEvidence.from_json(bad)
