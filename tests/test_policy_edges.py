"""Edges of trust-policy files (ledger.policy): what a refusal carries, k = 1, URLs, blanks."""

from __future__ import annotations

import re

import pytest

from onereg.ledger.checkpoint import Cosigner
from onereg.ledger.note import Signer
from onereg.ledger.policy import Group, Policy, PolicyError

LOG = Signer.from_seed("example.org/log", bytes(32)).verifier().vkey()
A = Cosigner.from_seed("a.witness.example", bytes([1]) * 32).verifier().vkey()
B = Cosigner.from_seed("b.witness.example", bytes([2]) * 32).verifier().vkey()


def _refused(text: str, message: str, line: int | None, reason: str) -> None:
    with pytest.raises(PolicyError, match="^" + re.escape(message) + "$") as info:
        Policy.parse(text)
    assert (info.value.line, info.value.reason) == (line, reason)


def test_a_group_may_need_one_member() -> None:
    policy = Policy.parse(f"log {LOG}\nwitness A {A}\nwitness B {B}\ngroup g 1 A B\nquorum g\n")
    assert policy.groups == (Group("g", 1, ("A", "B")),)
    _refused(
        f"log {LOG}\nwitness A {A}\ngroup g 0 A\nquorum g\n",
        "policy line 3: group g: threshold '0' must be any, all or a decimal k with "
        "1 <= k <= 1 (the number of members)",
        3,
        "group g: threshold '0' must be any, all or a decimal k with 1 <= k <= 1 "
        "(the number of members)",
    )


def test_a_witness_url_is_kept() -> None:
    policy = Policy.parse(f"witness A {A} https://a.example/\nwitness B {B}\nquorum A\n")
    assert [(w.name, w.url) for w in policy.witnesses] == [
        ("A", "https://a.example/"),
        ("B", None),
    ]


def test_refusals_carry_line_and_reason() -> None:
    why = "expected: witness <name> <vkey> [<url>]"
    _refused("quorum none\nwitness A\n", f"policy line 2: {why}", 2, why)
    why = "the policy has no quorum line (use 'quorum none' for no witnesses)"
    _refused(f"log {LOG}\n", why, None, why)
    why = "control character U+007F is not allowed"
    _refused("quorum none\x7f\n", f"policy line 1: {why}", 1, why)


def test_only_spaces_and_tabs_separate_items() -> None:
    assert Policy.parse("\t quorum none \t").quorum == "none"
    with pytest.raises(PolicyError, match="unknown keyword"):
        Policy.parse("\u00a0quorum none\n")
