"""onereg.registry.transfer_policy: the policy files under policies/ and the evaluator.

The compatibility matrix is copied from REFERENCE.md §1.6 into this file and the evaluator must
reproduce every cell from the TOML files alone: the files list partners generously (ARIN's 8.4
names none) and the refusals have to come out of the counterpart checks on the other file.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path

import pytest

from onereg.cli.transfers import example_value
from onereg.core.errors import SourceFormatError
from onereg.core.registries import RegistryId
from onereg.core.resources import Afi, Resource
from onereg.registry.transfer_policy import (
    Decision,
    EventKind,
    EvidenceError,
    Origin,
    PolicySet,
    Receipt,
    TransferKind,
    TransferRequest,
    UnknownPolicyError,
    _alternative_problems,
    add_months,
    check_evidence,
    default_policy_dir,
    evaluate,
    evidence_forms,
    load_policy_file,
)

POLICY_DIR = Path(__file__).resolve().parents[1] / "policies"
MID_2026 = date(2026, 6, 15)  # §1.6 is "state as of mid-2026"
LONG_AGO = Receipt(EventKind.TRANSFER, date(2015, 1, 1))

ARIN = RegistryId.ARIN
RIPE = RegistryId.RIPENCC
APNIC = RegistryId.APNIC
LACNIC = RegistryId.LACNIC
AFRINIC = RegistryId.AFRINIC
ORDER = (ARIN, RIPE, APNIC, LACNIC, AFRINIC)  # the column order of §1.6

# Evidence every recipient registry could ask for, so that only the matrix rules decide.
FULL_EVIDENCE: dict[str, object] = {
    "rsa_signed": True,
    "needs_24_month_projection": True,
    "usage_plan_50_percent_5_years": True,
    "needs_justification": True,
    "usage_plan": True,
}
SAMPLE = {Afi.IPV4: "198.51.100.0/24", Afi.IPV6: "2001:db8::/32", Afi.ASN: "AS64500"}

# REFERENCE.md §1.6, IPv4 table, rows = source, columns = recipient in ORDER. The ◐ cells
# ("policy ratified, not yet operational") are ✖ today: AFRINIC's new policy is pending.
IPV4_MATRIX = {
    ARIN: "✔✔✔✔✖",
    RIPE: "✔✔✔✔✖",
    APNIC: "✔✔✔✔✖",
    LACNIC: "✔✔✔✔✖",
    AFRINIC: "✖✖✖✖✔",
}
# REFERENCE.md §1.6 "ASNs": ARIN<->RIPE, ARIN<->APNIC, RIPE<->APNIC ✔; anything involving LACNIC ✖;
# AFRINIC ✖ until the new policy is implemented. The diagonal: ARIN 8.3, ripe-807 §2 and APNIC 12
# move ASNs; LACNIC ("anything involving LACNIC") and AFRINIC ("ASNs could not be transferred") not.
ASN_MATRIX = {
    ARIN: "✔✔✔✖✖",
    RIPE: "✔✔✔✖✖",
    APNIC: "✔✔✔✖✖",
    LACNIC: "✖✖✖✖✖",
    AFRINIC: "✖✖✖✖✖",
}
# REFERENCE.md §1.6 "IPv6": ✖ inter-RIR everywhere; within a region RIPE ✔, ARIN and LACNIC M&A
# only, APNIC Section 13 scope unverified (read as M&A only), AFRINIC ✖.
IPV6_MATRIX = {
    ARIN: "✖✖✖✖✖",
    RIPE: "✖✔✖✖✖",
    APNIC: "✖✖✖✖✖",
    LACNIC: "✖✖✖✖✖",
    AFRINIC: "✖✖✖✖✖",
}
MATRICES = {Afi.IPV4: IPV4_MATRIX, Afi.ASN: ASN_MATRIX, Afi.IPV6: IPV6_MATRIX}
CELLS = [
    (source, recipient, afi, row[col] == "✔")
    for afi, matrix in MATRICES.items()
    for source, row in matrix.items()
    for col, recipient in enumerate(ORDER)
]


@pytest.fixture(scope="module")
def policies() -> PolicySet:
    return PolicySet.load(POLICY_DIR)


def ask(
    policies: PolicySet,
    source: RegistryId,
    recipient: RegistryId,
    resource: str = SAMPLE[Afi.IPV4],
    *,
    on: date = MID_2026,
    received: Receipt = LONG_AGO,
    evidence: Mapping[str, object] | None = None,
    **extra: object,
) -> Decision:
    request = TransferRequest(
        resource=Resource.parse(resource),
        source=source,
        recipient=recipient,
        on=on,
        received=received,
        evidence=FULL_EVIDENCE if evidence is None else evidence,
        **extra,  # type: ignore[arg-type]
    )
    return evaluate(request, policies)


def rules(decision: Decision) -> list[str]:
    return [f.rule for f in decision.failures]


# --- the compatibility matrix ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "recipient", "afi", "allowed"),
    CELLS,
    ids=[f"{s}-{r}-{a}" for s, r, a, _ in CELLS],
)
def test_matrix_cell(
    policies: PolicySet, source: RegistryId, recipient: RegistryId, afi: Afi, allowed: bool
) -> None:
    decision = ask(policies, source, recipient, SAMPLE[afi])
    assert decision.allowed is allowed, decision.reasons
    assert set(decision.versions) == {source, recipient}
    for failure in decision.failures:
        # every refusal names the registry, the policy version and the section
        assert failure.registry.display_name in str(failure)
        assert failure.policy == decision.versions[failure.registry]
        assert failure.section


def test_matrix_refusals_come_from_the_other_registrys_file(policies: PolicySet) -> None:
    """ARIN lists every RIR under 8.4; AFRINIC is refused by ARIN's reciprocity rule, read from
    AFRINIC's file, and by AFRINIC's own inbound rule."""
    decision = ask(policies, ARIN, AFRINIC)
    arin = [str(f) for f in decision.failures if f.registry is ARIN]
    assert any("NRPM 8.4" in r and "not reciprocal" in r and "AFRINIC-CPM@5.7" in r for r in arin)
    assert "outbound" not in rules(decision)
    assert any(f.registry is AFRINIC and f.rule == "inbound" for f in decision.failures)


@pytest.mark.parametrize(
    ("registry", "allowed"),
    [(ARIN, True), (RIPE, True), (APNIC, True), (LACNIC, True), (AFRINIC, False)],
)
def test_ipv6_moves_inside_a_registry_by_merger(
    policies: PolicySet, registry: RegistryId, allowed: bool
) -> None:
    # §1.6 IPv6: ARIN 8.2 and LACNIC M&A only, APNIC 14.0, RIPE ✔; AFRINIC ✖.
    decision = ask(policies, registry, registry, SAMPLE[Afi.IPV6], kind=TransferKind.MERGER)
    assert decision.allowed is allowed, decision.reasons


@pytest.mark.parametrize(
    ("source", "recipient", "origin", "allowed"),
    [
        (RIPE, AFRINIC, Origin.ISSUED, True),  # RIPE accepts one-way partners
        (APNIC, AFRINIC, Origin.ISSUED, True),  # "compatible" is met
        (ARIN, AFRINIC, Origin.ISSUED, False),  # "reciprocal": AFRINIC lets only some space out
        (LACNIC, AFRINIC, Origin.ISSUED, False),  # LAC-2019-1 bidirectional; staff: not AFRINIC
        (AFRINIC, RIPE, Origin.LEGACY, True),
        (AFRINIC, RIPE, Origin.TRANSFERRED_IN, True),
        (AFRINIC, RIPE, Origin.ISSUED, False),  # only legacy or transferred-in space may leave
        (AFRINIC, ARIN, Origin.LEGACY, False),  # ARIN's reciprocity doubt (§1.5 open question)
    ],
)
def test_half_cells_once_afrinic_implements(
    policies: PolicySet,
    source: RegistryId,
    recipient: RegistryId,
    origin: Origin,
    allowed: bool,
) -> None:
    """§1.6's ◐ cells: what the ratified AFRINIC policy would allow once it is in force."""
    assert not ask(policies, source, recipient, origin=origin).allowed  # pending: still ✖
    future = policies.activate(AFRINIC, "2020-GEN-006-D3", date(2026, 9, 1))
    decision = ask(future, source, recipient, on=date(2026, 10, 1), origin=origin)
    assert decision.allowed is allowed, decision.reasons
    assert decision.versions[AFRINIC] == "AFRINIC-CPM@2020-GEN-006-D3"


def test_activate_names_only_pending_versions(policies: PolicySet) -> None:
    with pytest.raises(UnknownPolicyError, match="no pending version"):
        policies.activate(AFRINIC, "5.7", MID_2026)
    with pytest.raises(UnknownPolicyError):
        policies.activate(RegistryId.IANA, "x", MID_2026)


def test_a_registry_without_a_policy_file_refuses(policies: PolicySet) -> None:
    decision = ask(policies, RegistryId.IANA, ARIN)
    assert not decision.allowed
    assert decision.failures[0].rule == "no-policy"
    assert RegistryId.IANA not in decision.versions


def test_merger_between_registries_is_refused(policies: PolicySet) -> None:
    decision = ask(policies, ARIN, RIPE, kind=TransferKind.MERGER)
    assert rules(decision) == ["merger"]
    assert "NRPM 8.2" in decision.reasons[0]


# --- minimum size ----------------------------------------------------------------------------


def test_a_slash_25_is_refused_where_slash_24_is_the_minimum(policies: PolicySet) -> None:
    decision = ask(policies, ARIN, ARIN, "198.51.100.0/25")
    assert rules(decision) == ["min-size"]
    assert "NRPM@2012.3 (NRPM 8.3)" in decision.reasons[0]
    assert "/24" in decision.reasons[0] and "/25" in decision.reasons[0]
    assert ask(policies, ARIN, ARIN, "198.51.100.0/23").allowed


def test_ripe_has_no_minimum_but_the_recipients_minimum_binds(policies: PolicySet) -> None:
    assert ask(policies, RIPE, RIPE, "198.51.100.0/25").allowed
    decision = ask(policies, RIPE, ARIN, "198.51.100.0/25")
    assert [(f.registry, f.rule) for f in decision.failures] == [(ARIN, "min-size")]


def test_256_addresses_across_two_slash_24s_are_two_slash_25s(policies: PolicySet) -> None:
    decision = ask(policies, APNIC, APNIC, "198.51.100.128-198.51.101.127")
    assert rules(decision) == ["min-size"]


# --- holding periods -------------------------------------------------------------------------


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2024, 3, 10), 24) == date(2026, 3, 10)


# (id, registry, resource, receipt kind, months, section): each period checked a day before
# it ends (refused) and on the day it ends (allowed).
HOLDS = [
    # RIPE NCC: 24 months after any change of holder (ripe-807 §2.2) ...
    ("ripe-transfer", RIPE, SAMPLE[Afi.IPV4], EventKind.TRANSFER, 24, "ripe-807 §2.2"),
    # ... including M&A ...
    ("ripe-merger", RIPE, SAMPLE[Afi.IPV4], EventKind.MERGER, 24, "ripe-807 §2.2"),
    # ... and after allocation by the RIPE NCC; 16-bit ASNs are scarce too
    ("ripe-allocation", RIPE, SAMPLE[Afi.IPV4], EventKind.ALLOCATION, 24, "ripe-807 §2.2"),
    ("ripe-asn16", RIPE, "AS64500", EventKind.TRANSFER, 24, "ripe-807 §2.2"),
    # LACNIC: 1 year after a transfer, 3 years after LACNIC's own allocation (2.3.2.18)
    ("lacnic-1y", LACNIC, SAMPLE[Afi.IPV4], EventKind.TRANSFER, 12, "2.3.2.18"),
    ("lacnic-3y", LACNIC, SAMPLE[Afi.IPV4], EventKind.ALLOCATION, 36, "2.3.2.18"),
    # APNIC: 5 years after delegation, inside 103/8 only (prop-116)
    ("apnic-103", APNIC, "103.10.20.0/24", EventKind.ALLOCATION, 60, "prop-116"),
    # ARIN: waitlist space 60 months (4.1.8)
    ("arin-waitlist", ARIN, SAMPLE[Afi.IPV4], EventKind.WAITLIST, 60, "NRPM 4.1.8"),
]


@pytest.mark.parametrize(
    ("registry", "resource", "event", "months", "section"),
    [h[1:] for h in HOLDS],
    ids=[h[0] for h in HOLDS],
)
@pytest.mark.parametrize("inside", [True, False], ids=["just-inside", "just-outside"])
def test_holding_period(
    policies: PolicySet,
    registry: RegistryId,
    resource: str,
    event: EventKind,
    months: int,
    section: str,
    inside: bool,
) -> None:
    on = MID_2026 if not inside else date(2026, 6, 14)
    received = Receipt(event, add_months(MID_2026, -months))
    decision = ask(policies, registry, registry, resource, on=on, received=received)
    if inside:
        assert rules(decision) == ["hold"], decision.reasons
        assert section in decision.reasons[0]
        assert f"{months}-month hold" in decision.reasons[0]
    else:
        assert decision.allowed, decision.reasons


def test_ripe_hold_stops_transfers_not_mergers(policies: PolicySet) -> None:
    received = Receipt(EventKind.TRANSFER, date(2026, 1, 1))
    assert not ask(policies, RIPE, RIPE, received=received).allowed
    assert ask(policies, RIPE, RIPE, received=received, kind=TransferKind.MERGER).allowed


def test_ripe_hold_spares_32_bit_asns(policies: PolicySet) -> None:
    received = Receipt(EventKind.TRANSFER, date(2026, 1, 1))
    assert not ask(policies, RIPE, RIPE, "AS64500", received=received).allowed
    assert ask(policies, RIPE, RIPE, "AS4200000000", received=received).allowed


def test_ripe_hold_binds_the_outbound_leg(policies: PolicySet) -> None:
    received = Receipt(EventKind.TRANSFER, date(2026, 1, 1))
    decision = ask(policies, RIPE, APNIC, received=received)
    assert [(f.registry, f.rule) for f in decision.failures] == [(RIPE, "hold")]


def test_apnic_103_hold_blocks_mergers_and_only_103(policies: PolicySet) -> None:
    received = Receipt(EventKind.ALLOCATION, date(2024, 1, 1))
    assert not ask(policies, APNIC, APNIC, "103.10.20.0/24", received=received).allowed
    merger = ask(
        policies, APNIC, APNIC, "103.10.20.0/24", received=received, kind=TransferKind.MERGER
    )
    assert rules(merger) == ["hold"]
    assert ask(policies, APNIC, APNIC, "1.2.3.0/24", received=received).allowed


def test_arin_waitlist_hold_runs_from_issuance_through_a_merger(policies: PolicySet) -> None:
    issued = Receipt(EventKind.WAITLIST, date(2023, 1, 1))
    merged = Receipt(EventKind.MERGER, date(2024, 1, 1))
    decision = ask(policies, ARIN, ARIN, received=merged, issued=issued)
    assert rules(decision) == ["hold"] and "NRPM 4.1.8" in decision.reasons[0]
    # 8.2 M&A is exempt (ARIN-2020-1)
    assert ask(
        policies, ARIN, ARIN, received=merged, issued=issued, kind=TransferKind.MERGER
    ).allowed


@pytest.mark.parametrize(("on", "allowed"), [(date(2026, 5, 31), False), (date(2026, 6, 1), True)])
def test_arin_12_month_source_rule(policies: PolicySet, on: date, allowed: bool) -> None:
    """The source must not have received IPv4 from ARIN in the prior 12 months (8.3)."""
    other = (Receipt(EventKind.ALLOCATION, date(2025, 6, 1)),)
    decision = ask(policies, ARIN, ARIN, on=on, holder_receipts=other)
    assert decision.allowed is allowed, decision.reasons
    if not allowed:
        assert "NRPM 8.3" in decision.reasons[0] and "source holder" in decision.reasons[0]


def test_arin_12_month_rule_excludes_mergers_and_8_4_exempts_common_control(
    policies: PolicySet,
) -> None:
    recent = (Receipt(EventKind.TRANSFER, date(2026, 3, 1)),)
    assert not ask(policies, ARIN, ARIN, holder_receipts=recent).allowed
    merged = (Receipt(EventKind.MERGER, date(2026, 3, 1)),)
    assert ask(policies, ARIN, ARIN, holder_receipts=merged).allowed
    # 8.4 (inter-RIR) exempts source and recipient under common control; 8.3 does not.
    assert not ask(policies, ARIN, RIPE, holder_receipts=recent).allowed
    assert ask(policies, ARIN, RIPE, holder_receipts=recent, common_control=True).allowed
    assert not ask(policies, ARIN, ARIN, holder_receipts=recent, common_control=True).allowed


# --- needs evidence --------------------------------------------------------------------------


def test_missing_needs_evidence_is_named(policies: PolicySet) -> None:
    evidence = dict(FULL_EVIDENCE)
    del evidence["needs_24_month_projection"]
    decision = ask(policies, LACNIC, LACNIC, evidence=evidence)
    assert rules(decision) == ["needs"]
    assert decision.failures[0].missing == ("needs_24_month_projection",)
    assert "needs_24_month_projection" in decision.reasons[0]
    assert "LACNIC-Manual@LAC-2019-1 (LACNIC Manual 2.3.2.18)" in decision.reasons[0]


def test_arin_inbound_ipv4_needs_the_24_month_projection(policies: PolicySet) -> None:
    """For inbound IPv4, ARIN asks for the RSA and one of the 8.5 ways to show need."""
    decision = ask(policies, RIPE, ARIN, evidence={})
    assert [(f.registry, f.rule) for f in decision.failures] == [(ARIN, "needs"), (ARIN, "needs")]
    rsa, need = decision.failures
    assert rsa.missing == ("rsa_signed",) and "NRPM 8.3" in str(rsa)
    assert "needs_24_month_projection" in need.missing and "NRPM 8.5.5" in str(need)
    enough: dict[str, object] = {"rsa_signed": True, "needs_24_month_projection": "plan.pdf"}
    assert ask(policies, RIPE, ARIN, evidence=enough).allowed


def test_arin_8_5_7_alternative_is_capped(policies: PolicySet) -> None:
    evidence: dict[str, object] = {"rsa_signed": True, "prior_blocks_efficient_use": True}
    evidence |= {"utilisation_80_percent": True, "current_holdings_addresses": 1 << 16}
    assert ask(
        policies, ARIN, ARIN, "10.0.0.0/16", evidence=evidence, recipient_is_holder=True
    ).allowed
    too_big = ask(policies, ARIN, ARIN, "10.0.0.0/15", evidence=evidence, recipient_is_holder=True)
    assert rules(too_big) == ["needs"] and "at most a /16" in too_big.reasons[0]
    evidence["current_holdings_addresses"] = 1 << 10
    above = ask(policies, ARIN, ARIN, "10.0.0.0/21", evidence=evidence, recipient_is_holder=True)
    assert "current_holdings_addresses (1024)" in above.reasons[0]


def test_ripe_asks_the_50_percent_plan_only_from_needs_based_sources(
    policies: PolicySet,
) -> None:
    """ripe-807 §3.2: the plan is owed when the source RIR demands needs-based recipients, which
    is read from the source's file (ARIN's 8.4 does, APNIC's compatibility rule does not)."""
    evidence = {"rsa_signed": True}
    from_arin = ask(policies, ARIN, RIPE, evidence=evidence)
    assert [(f.registry, f.rule) for f in from_arin.failures] == [(RIPE, "needs")]
    assert from_arin.failures[0].missing == ("usage_plan_50_percent_5_years",)
    assert ask(policies, APNIC, RIPE, evidence=evidence).allowed


@pytest.mark.parametrize(
    ("approved", "allowed"), [(date(2025, 6, 16), True), (date(2025, 6, 15), False)]
)
def test_apnic_pre_approval_is_valid_12_months(
    policies: PolicySet, approved: date, allowed: bool
) -> None:
    decision = ask(policies, APNIC, APNIC, evidence={"pre_approval_date": approved})
    assert decision.allowed is allowed, decision.reasons


# --- several failures at once ----------------------------------------------------------------


def test_every_failing_rule_is_listed(policies: PolicySet) -> None:
    decision = ask(
        policies,
        ARIN,
        ARIN,
        "198.51.100.0/25",
        evidence={},
        received=Receipt(EventKind.WAITLIST, date(2026, 1, 1)),
        origin=Origin.RESERVED,
    )
    assert rules(decision) == ["min-size", "hold", "hold", "origin", "needs", "needs"]
    sections = [f.section for f in decision.failures]
    assert sections == [
        "NRPM 8.3",
        "NRPM 8.3",
        "NRPM 4.1.8 (ARIN-2020-1)",
        "NRPM 8.4 (NRPM 4.4, 4.10)",
        "NRPM 8.3",
        "NRPM 8.5",
    ]
    assert all(r.startswith("ARIN NRPM@2012.3 (") for r in decision.reasons)
    assert decision.versions == {ARIN: "NRPM@2012.3"}


def test_both_sides_and_reciprocity_are_listed(policies: PolicySet) -> None:
    """LACNIC lists AFRINIC as a partner but refuses it as not reciprocal (read from AFRINIC's
    file), and AFRINIC refuses the inbound leg itself: both are reported."""
    decision = ask(policies, LACNIC, AFRINIC, evidence={})
    found = [(f.registry, f.rule) for f in decision.failures]
    assert found == [(LACNIC, "counterpart"), (AFRINIC, "inbound")]
    assert "LAC-2019-1" in decision.reasons[0] and "AFRINIC-CPM@5.7" in decision.reasons[0]


# --- versions by date ------------------------------------------------------------------------


def test_a_transfer_before_a_versions_effective_date_uses_the_older_one(
    policies: PolicySet,
) -> None:
    """ripe-682 (from 2017-03-14) made M&A start the 24-month hold; ripe-649 did not."""
    merged = Receipt(EventKind.MERGER, date(2016, 6, 1))
    before = ask(policies, RIPE, RIPE, on=date(2017, 3, 13), received=merged)
    assert before.allowed, before.reasons
    assert before.versions == {RIPE: "ripe-transfer-policies@ripe-649"}
    after = ask(policies, RIPE, RIPE, on=date(2017, 3, 14), received=merged)
    assert rules(after) == ["hold"]
    assert after.versions == {RIPE: "ripe-transfer-policies@ripe-682"}
    assert "ripe-transfer-policies@ripe-682 (ripe-682 §2.2)" in after.reasons[0]


def test_lacnic_inter_rir_starts_with_lac_2019_1(policies: PolicySet) -> None:
    before = ask(policies, LACNIC, RIPE, on=date(2020, 7, 19))
    assert [(f.registry, f.rule) for f in before.failures] == [(LACNIC, "outbound")]
    assert "intra-region only before LAC-2019-1" in before.reasons[0]
    assert before.versions[LACNIC] == "LACNIC-Manual@2.3.2.18-intra"
    after = ask(policies, LACNIC, RIPE, on=date(2020, 7, 20))
    assert after.allowed, after.reasons
    assert after.versions[LACNIC] == "LACNIC-Manual@LAC-2019-1"


def test_a_date_before_every_version_has_no_policy(policies: PolicySet) -> None:
    decision = ask(policies, RIPE, RIPE, on=date(2014, 5, 1))
    assert rules(decision) == ["no-policy"]
    assert "2015-09-30 (ripe-649)" in decision.reasons[0]
    assert decision.versions == {}


# --- file validation -------------------------------------------------------------------------


def mutate(tmp_path: Path, registry: str, old: str, new: str) -> Path:
    text = (POLICY_DIR / f"{registry}.toml").read_text()
    assert old in text, old
    target = tmp_path / f"{registry}.toml"
    target.write_text(text.replace(old, new, 1))
    return target


def test_the_shipped_files_load(policies: PolicySet) -> None:
    assert set(policies.registries) == {ARIN, RIPE, APNIC, LACNIC, AFRINIC}
    for policy in policies.registries.values():
        assert policy.versions


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    path = mutate(tmp_path, "arin", 'policy = "NRPM"', 'policy = "NRPM')
    with pytest.raises(SourceFormatError) as caught:
        load_policy_file(path)
    assert caught.value.path == str(path)
    assert caught.value.line == 8
    assert caught.value.field == "line" and caught.value.value == 'policy = "NRPM'
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("registry", "old", "new", "field", "value"),
    [
        # missing key
        (
            "arin",
            'document = "ARIN Number Resource Policy Manual, Section 8 (Transfers), as quoted'
            ' 2013-2021"\n',
            "",
            "version[2012.3].document",
            "",
        ),
        (
            "arin",
            'asn = { allowed = true, source = "NRPM 8.2" }\n',
            "",
            "version[2012.3].merger.asn",
            "",
        ),
        # bad values
        ("arin", "months = 60", 'months = "sixty"', "version[2012.3].hold[2].months", "sixty"),
        ("arin", "months = 60", "months = 0", "version[2012.3].hold[2].months", "0"),
        ("arin", "prefix = 24", "prefix = 33", "version[2012.3].min_size[0].prefix", "33"),
        (
            "arin",
            'to = ["afrinic", "apnic", "lacnic", "ripencc"], source = "NRPM 8.4" }',
            'to = ["afrinic", "apnic", "lacnic", "ripe"], source = "NRPM 8.4" }',
            "version[2012.3].outbound.ipv4.to[3]",
            "ripe",
        ),
        (
            "arin",
            "effective = 2012-07-31",
            'effective = "2012-07-31"',
            "version[2012.3].effective",
            "2012-07-31",
        ),
        (
            "arin",
            "effective = 2012-07-31",
            "effective = 2012-07-31T00:00:00",
            "version[2012.3].effective",
            "datetime.datetime(2012, 7, 31, 0, 0)",
        ),
        (
            "arin",
            'after = ["waitlist"]',
            'after = ["lottery"]',
            "version[2012.3].hold[2].after[0]",
            "lottery",
        ),
        (
            "arin",
            'require = ["reciprocal"]',
            'require = ["friendly"]',
            "version[2012.3].counterpart[0].require[0]",
            "friendly",
        ),
        ("arin", 'registry = "arin"', 'registry = "apnic"', "registry", "apnic"),
        ("arin", "schema = 1", "schema = 2", "schema", "2"),
        # unknown key (a typo must not silently drop a rule)
        ("arin", "months = 60", "month = 60", "version[2012.3].hold[2].month", "60"),
        (
            "ripencc",
            'within = ["AS0-AS65535"]',
            'within = ["AS0-ASx"]',
            "version[ripe-682].hold[0].within[0]",
            "AS0-ASx",
        ),
        (
            "apnic",
            "valid_months = 12",
            "valid_months = true",
            "version[v013].needs[0].any_of[1].valid_months",
            "True",
        ),
    ],
)
def test_bad_files_name_file_key_and_value(
    tmp_path: Path, registry: str, old: str, new: str, field: str, value: str
) -> None:
    path = mutate(tmp_path, registry, old, new)
    with pytest.raises(SourceFormatError) as caught:
        load_policy_file(path)
    error = caught.value
    assert error.path == str(path)
    assert error.field == field, str(error)
    assert error.value == value
    assert str(path) in str(error) and field in str(error)


def test_a_policy_directory_loads_only_valid_files(tmp_path: Path) -> None:
    shutil.copy(POLICY_DIR / "arin.toml", tmp_path / "arin.toml")
    (tmp_path / "ripencc.toml").write_text("schema = 1\n")
    with pytest.raises(SourceFormatError) as caught:
        PolicySet.load(tmp_path)
    assert caught.value.path.endswith("ripencc.toml") and caught.value.field == "registry"


ORIGINS = "must be one of ['issued', 'legacy', 'transferred-in', 'reserved']"


@pytest.mark.parametrize(
    ("registry", "old", "new", "field", "value", "reason"),
    [
        (
            "arin",
            'refuse = ["reserved"]',
            "refuse = []",
            "version[2012.3].origin[0].allow",
            "",
            "an origin rule needs allow or refuse",
        ),
        (
            "arin",
            'refuse = ["reserved"]',
            'refuse = ["stolen"]',
            "version[2012.3].origin[0].refuse[0]",
            "stolen",
            ORIGINS,
        ),
        (
            "afrinic",
            'allow = ["legacy", "transferred-in"]',
            'allow = ["legacy", "found"]',
            "version[2020-GEN-006-D3].origin[0].allow[1]",
            "found",
            ORIGINS,
        ),
        (
            "arin",
            'refuse = ["reserved"]',
            'refuse = ["reserved"]\nkind = ["transfer"]',
            "version[2012.3].origin[0].kind",
            "['transfer']",
            "unknown key (expected one of ['allow', 'kinds', 'legs', 'refuse', 'source', 'types'])",
        ),
        (
            "arin",
            'require = ["reciprocal"]',
            "require = []",
            "version[2012.3].counterpart[0].require",
            "[]",
            "must name at least one requirement",
        ),
        (
            "arin",
            'require = ["reciprocal"]',
            'require = ["reciprocal"]\nrequires = 1',
            "version[2012.3].counterpart[0].requires",
            "1",
            "unknown key (expected one of ['legs', 'require', 'source', 'types'])",
        ),
    ],
)
def test_bad_origin_and_counterpart_rules_are_named(
    tmp_path: Path, registry: str, old: str, new: str, field: str, value: str, reason: str
) -> None:
    path = mutate(tmp_path, registry, old, new)
    with pytest.raises(SourceFormatError) as caught:
        load_policy_file(path)
    assert (caught.value.field, caught.value.value, caught.value.reason) == (field, value, reason)


def test_needs_based_counterpart_rules_bind_the_outbound_leg_only(tmp_path: Path) -> None:
    path = mutate(
        tmp_path,
        "arin",
        'require = ["needs_based"]\nlegs = ["outbound"]',
        'require = ["needs_based"]\nlegs = ["outbound", "inbound"]',
    )
    with pytest.raises(SourceFormatError) as caught:
        load_policy_file(path)
    assert caught.value.field == "version[2012.3].counterpart[1].legs"
    assert caught.value.reason == "needs_based is checked on the outbound leg only"
    assert "inbound" in str(caught.value.value) and "outbound" in str(caught.value.value)


def test_the_default_policy_directory_is_the_checkouts_policies(policies: PolicySet) -> None:
    assert default_policy_dir() == POLICY_DIR
    version = policies.in_force(ARIN, MID_2026)
    assert version is not None and version.registry is ARIN
    assert policies.in_force(ARIN, date(1990, 1, 1)) is None
    assert PolicySet({}).in_force(ARIN, MID_2026) is None


def test_reasons_read_in_full(policies: PolicySet) -> None:
    """What a holder is told, word for word: registry, policy version, section, rule, values."""
    recent = Receipt(EventKind.TRANSFER, date(2026, 1, 1))
    merged = Receipt(EventKind.MERGER, date(2024, 1, 1))
    waitlist = Receipt(EventKind.WAITLIST, date(2023, 1, 1))
    assert ask(policies, ARIN, ARIN, SAMPLE[Afi.IPV6]).reasons == (
        "ARIN NRPM@2012.3 (NRPM 8.3 (IPv4 and ASNs only; IPv6 by 8.2 M&A)): "
        "ipv6 may not change holder by transfer",
    )
    assert ask(policies, AFRINIC, AFRINIC, SAMPLE[Afi.IPV6], kind=TransferKind.MERGER).reasons == (
        "AFRINIC AFRINIC-CPM@5.7 (CPM 5.7 (M&A rules not in REFERENCE)): "
        "ipv6 may not change holder by merger or acquisition",
    )
    assert ask(policies, RIPE, RIPE, received=recent).reasons == (
        "RIPE NCC ripe-transfer-policies@ripe-807 (ripe-807 §2.2): received by transfer on "
        "2026-01-01: 24-month hold, no transfer before 2028-01-01 (requested for 2026-06-15)",
    )
    assert ask(policies, ARIN, ARIN, received=merged, issued=waitlist).reasons == (
        "ARIN NRPM@2012.3 (NRPM 4.1.8 (ARIN-2020-1)): received from the waitlist on 2023-01-01: "
        "60-month hold, no transfer before 2028-01-01 (requested for 2026-06-15)",
    )
    assert ask(policies, ARIN, AFRINIC).reasons == (
        "ARIN NRPM@2012.3 (NRPM 8.4): AFRINIC policy AFRINIC-CPM@5.7 is not reciprocal for "
        "ipv4: it allows no ipv4 transfers to ARIN; it accepts no ipv4 transfers from ARIN",
        "ARIN NRPM@2012.3 (NRPM 8.4): AFRINIC policy AFRINIC-CPM@5.7 is not needs-based for "
        "ipv4: it applies no needs test to ipv4 recipients of transfers from ARIN",
        "AFRINIC AFRINIC-CPM@5.7 (CPM 5.7 (no inter-RIR policy [S31])): "
        "ipv4 may not be received from ARIN",
    )
    assert ask(policies, AFRINIC, ARIN).reasons == (
        "AFRINIC AFRINIC-CPM@5.7 (CPM 5.7 (no inter-RIR policy [S31])): "
        "ipv4 may not be transferred to ARIN",
        "ARIN NRPM@2012.3 (NRPM 8.4): AFRINIC policy AFRINIC-CPM@5.7 is not reciprocal for "
        "ipv4: it allows no ipv4 transfers to ARIN; it accepts no ipv4 transfers from ARIN",
    )


def test_an_intra_registry_refusal_is_the_rule_of_its_kind(policies: PolicySet) -> None:
    assert rules(ask(policies, ARIN, ARIN, SAMPLE[Afi.IPV6])) == ["transfer"]
    merger = ask(policies, AFRINIC, AFRINIC, SAMPLE[Afi.IPV6], kind=TransferKind.MERGER)
    assert rules(merger) == ["merger"]


def test_activating_a_registry_without_a_file_names_it(policies: PolicySet) -> None:
    with pytest.raises(UnknownPolicyError, match=r"^no policy file for iana$"):
        policies.activate(RegistryId.IANA, "x", MID_2026)


@pytest.mark.parametrize(
    ("approved", "problem"),
    [
        (MID_2026, None),  # approved the same day: valid
        (date(2026, 6, 16), "pre_approval_date 2026-06-16 is not within 12 months"),  # future
        ("2026-01-01", None),  # the JSON form: an ISO 8601 date string
        ("2025-06-15", "pre_approval_date 2025-06-15 is not within 12 months"),
        ("2026-02-30", "evidence field 'pre_approval_date': '2026-02-30' is not a date"),
        ("2026-01-01T00:00:00Z", "'2026-01-01T00:00:00Z' is not a date"),
        (datetime(2026, 1, 1), "'pre_approval_date': datetime.datetime(2026, 1, 1, 0, 0)"),
        (20260101, "'pre_approval_date': 20260101 is not a date"),
        ("", "missing pre_approval_date"),  # an empty value is no evidence
    ],
)
def test_apnic_pre_approval_must_be_a_past_date(
    policies: PolicySet, approved: object, problem: str | None
) -> None:
    decision = ask(policies, APNIC, APNIC, evidence={"pre_approval_date": approved})
    if problem is None:
        assert decision.allowed, decision.reasons
    else:
        assert not decision.allowed
        assert "pre_approval_date (APNIC pre-approval [S22]: " in decision.reasons[0]
        assert problem in decision.reasons[0]


def test_every_evidence_field_has_a_json_form(policies: PolicySet) -> None:
    """Each way of every needs rule of every version of every policy is satisfied by evidence
    that went through JSON, with the values `onereg agreement evidence` writes."""
    resource = Resource.parse("198.51.100.0/24")
    ways = 0
    for policy in policies.registries.values():
        for version in policy.versions:
            for rule in version.needs:
                for alt in rule.alternatives:
                    fields = {name: example_value(name, resource) for name in alt.fields}
                    evidence = json.loads(json.dumps(fields))
                    check_evidence(evidence, policies)
                    request = TransferRequest(
                        resource=resource,
                        source=APNIC,
                        recipient=APNIC,
                        on=date.fromisoformat(str(evidence.get("pre_approval_date", MID_2026))),
                        received=LONG_AGO,
                        evidence=evidence,
                    )
                    assert _alternative_problems(alt, request) == ([], ""), (policy.path, alt)
                    ways += 1
    assert ways > 10 and "pre_approval_date" in evidence_forms(policies)


@pytest.mark.parametrize(
    ("evidence", "named"),
    [
        ({"pre_approval_date": "2026-13-01"}, "'pre_approval_date': '2026-13-01' is not a date"),
        ({"pre_approval_date": "1 March 2026"}, "'pre_approval_date': '1 March 2026'"),
        ({"current_holdings_addresses": "8192"}, "'current_holdings_addresses': '8192' is not a"),
        ({"current_holdings_addresses": -1}, "'current_holdings_addresses': -1 is not a number"),
    ],
)
def test_malformed_evidence_is_refused_naming_the_field_and_value(
    policies: PolicySet, evidence: dict[str, object], named: str
) -> None:
    with pytest.raises(EvidenceError, match=re.escape(named)):
        check_evidence(evidence, policies)


def test_well_formed_evidence_passes_the_form_check(policies: PolicySet) -> None:
    check_evidence(
        {"pre_approval_date": "2026-03-01", "current_holdings_addresses": 8192, "isp": True},
        policies,
    )


@pytest.mark.parametrize("cap", ["65536", True])
def test_arin_8_5_7_cap_must_be_a_number(policies: PolicySet, cap: object) -> None:
    evidence = {"rsa_signed": True, "prior_blocks_efficient_use": True}
    evidence |= {"utilisation_80_percent": True, "current_holdings_addresses": cap}
    decision = ask(policies, ARIN, ARIN, "10.0.0.0/24", evidence=evidence, recipient_is_holder=True)
    assert not decision.allowed
    assert "current_holdings_addresses must be a number of addresses" in decision.reasons[0]


def test_arin_8_5_4_serves_new_recipients_only(policies: PolicySet) -> None:
    evidence = {"rsa_signed": True, "initial_block_qualification": True}
    new = ask(policies, ARIN, ARIN, "10.0.0.0/24", evidence=evidence, recipient_is_holder=False)
    assert new.allowed, new.reasons
    existing = ask(policies, ARIN, ARIN, "10.0.0.0/24", evidence=evidence, recipient_is_holder=True)
    assert not existing.allowed
    assert "initial_block_qualification" not in existing.reasons[0].split("supply one of: ")[1]
