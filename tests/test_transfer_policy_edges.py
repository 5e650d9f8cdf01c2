"""onereg.registry.transfer_policy at its edges: small policy files written for each test.

Each file here says only what one rule needs, so the test can state exactly which version is in
force on a date, which rule refuses and with which words, and which defect a loader refuses.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from onereg.core.errors import SourceFormatError
from onereg.core.registries import RegistryId
from onereg.core.resources import Afi, Resource
from onereg.registry.transfer_policy import (
    Alternative,
    CounterpartRule,
    Decision,
    EventKind,
    Failure,
    Hold,
    Leg,
    MinSize,
    Needs,
    Origin,
    OriginRule,
    Permission,
    PolicySet,
    Receipt,
    Recipients,
    RegistryPolicy,
    Requirement,
    Status,
    Subject,
    TransferKind,
    TransferRequest,
    evaluate,
    load_policy_file,
)

ARIN = RegistryId.ARIN
RIPE = RegistryId.RIPENCC

ALL = '["afrinic", "apnic", "arin", "lacnic", "ripencc"]'


def version_text(
    label: str,
    *,
    effective: str | None = "2020-01-01",
    status: str = "in-force",
    registry: str = "arin",
    rules: str = "",
    to: str | None = None,
    from_: str | None = None,
) -> str:
    """One complete [[version]]: everything allowed, every partner listed (or `to` and `from_`
    for every type), plus `rules`."""
    partners = ALL.replace(f'"{registry}", ', "").replace(f', "{registry}"', "")
    routes = {"to": to or partners, "from": from_ or partners}
    lines = [
        "[[version]]",
        f'version = "{label}"',
        f'status = "{status}"',
        *([f"effective = {effective}"] if effective is not None else []),
        f'document = "doc {label}"',
    ]
    for table in ("intra", "merger"):
        lines.append(f"[version.{table}]")
        for afi in ("ipv4", "ipv6", "asn"):
            lines.append(f'{afi} = {{ allowed = true, source = "{table} {afi} {label}" }}')
    for table, key in (("outbound", "to"), ("inbound", "from")):
        lines.append(f"[version.{table}]")
        for afi in ("ipv4", "ipv6", "asn"):
            lines.append(f'{afi} = {{ {key} = {routes[key]}, source = "{table} {afi} {label}" }}')
    return "\n".join(lines) + "\n" + rules


def policy_file(tmp_path: Path, registry: str, *versions: str, policy: str = "P") -> Path:
    path = tmp_path / f"{registry}.toml"
    path.write_text(
        f'schema = 1\nregistry = "{registry}"\npolicy = "{policy}"\n\n' + "".join(versions)
    )
    return path


def load(tmp_path: Path, registry: str, *versions: str) -> RegistryPolicy:
    return load_policy_file(policy_file(tmp_path, registry, *versions))


# --- which version is in force -----------------------------------------------------------------


def test_in_force_takes_the_newest_version_effective_on_or_before_the_date(
    tmp_path: Path,
) -> None:
    policy = load(
        tmp_path,
        "arin",
        version_text("b", effective="2020-06-01"),
        version_text("a", effective="2020-01-01"),
        version_text("c", effective="2021-01-01"),
    )

    def label(on: date) -> str | None:
        found = policy.in_force(on)
        return None if found is None else found.version

    assert label(date(2019, 12, 31)) is None
    assert label(date(2020, 1, 1)) == "a"
    assert label(date(2020, 5, 31)) == "a"
    assert label(date(2020, 6, 1)) == "b"
    assert label(date(2020, 12, 31)) == "b"
    assert label(date(2021, 1, 1)) == "c"
    assert label(date(2030, 1, 1)) == "c"
    policies = PolicySet({ARIN: policy})
    assert policies.in_force(ARIN, date(2020, 6, 1)) is policy.versions[0]
    assert policies.in_force(RIPE, date(2020, 6, 1)) is None


def test_in_force_skips_pending_versions_and_versions_without_a_date(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        "arin",
        version_text("ratified", effective="2020-02-01", status="pending"),
        version_text("someday", effective=None, status="pending"),
        version_text("old", effective="2020-01-01"),
    )
    found = policy.in_force(date(2021, 1, 1))
    assert found is not None and found.version == "old"
    assert [v.version for v in policy.versions] == ["ratified", "someday", "old"]
    # A version in force without a date (only made by hand) is never chosen either.
    undated = replace(policy.versions[2], version="undated", effective=None)
    by_hand = replace(policy, versions=(undated, policy.versions[2]))
    found = by_hand.in_force(date(2021, 1, 1))
    assert found is not None and found.version == "old"
    assert replace(policy, versions=(undated,)).in_force(date(2021, 1, 1)) is None


def test_in_force_keeps_the_first_of_two_versions_from_one_date(tmp_path: Path) -> None:
    """The loader refuses two in-force versions from one date; made by hand, the first wins."""
    policy = load(tmp_path, "arin", version_text("a", effective="2020-01-01"))
    twin = replace(policy.versions[0], version="twin")
    found = replace(policy, versions=(policy.versions[0], twin)).in_force(date(2020, 1, 1))
    assert found is not None and found.version == "a"


# --- evaluate: which versions decide, and the no-policy refusals ------------------------------

ON = date(2024, 6, 15)
LONG_AGO = Receipt(EventKind.TRANSFER, date(2000, 1, 1))


def policy_set(tmp_path: Path, files: dict[str, list[str]]) -> PolicySet:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for registry, versions in files.items():
        policy_file(tmp_path, registry, *versions)
    return PolicySet.load(tmp_path)


def request(
    source: RegistryId = ARIN,
    recipient: RegistryId = RIPE,
    resource: str = "192.0.2.0/24",
    *,
    on: date = ON,
    received: Receipt = LONG_AGO,
    evidence: dict[str, object] | None = None,
    **extra: Any,
) -> TransferRequest:
    return TransferRequest(
        resource=Resource.parse(resource),
        source=source,
        recipient=recipient,
        on=on,
        received=received,
        evidence=evidence or {},
        **extra,
    )


def texts(decision: Decision) -> list[str]:
    return list(decision.reasons)


def rules_of(decision: Decision) -> list[str]:
    return [f.rule for f in decision.failures]


def test_a_decision_records_the_version_each_side_used_on_the_date(tmp_path: Path) -> None:
    policies = policy_set(
        tmp_path,
        {
            "arin": [
                version_text("a1", effective="2020-01-01"),
                version_text("a2", effective="2024-06-15"),
            ],
            "ripencc": [
                version_text("r1", effective="2010-01-01", registry="ripencc"),
                version_text("r2", effective="2024-06-16", registry="ripencc"),
            ],
        },
    )
    decision = evaluate(request(on=date(2024, 6, 15)), policies)
    assert decision.allowed, decision.reasons
    assert dict(decision.versions) == {ARIN: "P@a2", RIPE: "P@r1"}
    decision = evaluate(request(on=date(2024, 6, 14)), policies)
    assert dict(decision.versions) == {ARIN: "P@a1", RIPE: "P@r1"}
    decision = evaluate(request(on=date(2024, 6, 16)), policies)
    assert dict(decision.versions) == {ARIN: "P@a2", RIPE: "P@r2"}
    inside = evaluate(request(ARIN, ARIN, on=date(2024, 6, 16)), policies)
    assert inside.allowed and dict(inside.versions) == {ARIN: "P@a2"}


def test_a_side_without_a_policy_file_is_refused_and_the_other_side_still_judged(
    tmp_path: Path,
) -> None:
    hold = """
[[version.hold]]
types = ["ipv4"]
after = ["transfer"]
months = 12
legs = ["outbound"]
source = "hold 1"
"""
    policies = policy_set(tmp_path, {"arin": [version_text("a", rules=hold)]})
    recent = Receipt(EventKind.TRANSFER, date(2024, 1, 1))
    decision = evaluate(request(received=recent), policies)
    assert dict(decision.versions) == {ARIN: "P@a"}
    assert decision.failures[0] == Failure(
        RIPE, "-", "no policy file", "no-policy", "no transfer policy is loaded"
    )
    assert texts(decision) == [
        "RIPE NCC - (no policy file): no transfer policy is loaded",
        "ARIN P@a (hold 1): received by transfer on 2024-01-01: 12-month hold, no transfer "
        "before 2025-01-01 (requested for 2024-06-15)",
    ]
    # The recipient's side is judged when the source has no file.
    inbound = evaluate(request(RIPE, ARIN, received=recent), policies)
    assert dict(inbound.versions) == {ARIN: "P@a"}
    assert [f.registry for f in inbound.failures] == [RIPE]


def test_a_date_before_every_version_names_the_earliest(tmp_path: Path) -> None:
    policies = policy_set(
        tmp_path,
        {
            "arin": [
                version_text("late", effective="2021-03-01"),
                version_text("pending", effective="2001-01-01", status="pending"),
                version_text("early", effective="2020-02-01"),
            ],
            "ripencc": [version_text("p", effective=None, status="pending", registry="ripencc")],
        },
    )
    on = date(2020, 1, 31)
    decision = evaluate(request(ARIN, ARIN, on=on), policies)
    path = str(tmp_path / "arin.toml")
    assert decision.failures == (
        Failure(
            ARIN,
            "P",
            path,
            "no-policy",
            "no version in force on 2020-01-31; the earliest starts 2020-02-01 (early)",
        ),
    )
    assert dict(decision.versions) == {}
    only_pending = evaluate(request(RIPE, RIPE, on=on), policies)
    assert [f.reason for f in only_pending.failures] == ["no version in force on 2020-01-31"]
    assert only_pending.failures[0].policy == "P"
    assert only_pending.failures[0].section == str(tmp_path / "ripencc.toml")
    both = evaluate(request(ARIN, RIPE, on=on), policies)
    assert [(f.registry, f.rule) for f in both.failures] == [
        (ARIN, "no-policy"),
        (RIPE, "no-policy"),
    ]


# --- the loader: needs rules and their alternatives --------------------------------------------


def needs_file(tmp_path: Path, rule: str) -> Path:
    return policy_file(tmp_path, "arin", version_text("a", rules=rule))


def refusal(path: Path) -> tuple[str | None, str | None, str]:
    with pytest.raises(SourceFormatError) as caught:
        load_policy_file(path)
    assert caught.value.path == str(path)
    return caught.value.field, caught.value.value, caught.value.reason


def any_of(types: str, alternative: str) -> str:
    return (
        f'[[version.needs]]\ntypes = {types}\nsource = "needs 1"\n'
        f'[[version.needs.any_of]]\nfields = ["plan", "cap"]\nsource = "alt 1"\n{alternative}\n'
    )


ALT = "version[a].needs[0].any_of[0]"


@pytest.mark.parametrize(
    ("types", "alternative", "key", "value", "reason"),
    [
        (
            '["asn"]',
            "max_prefix = 24",
            "max_prefix",
            "['asn']",
            "a prefix length needs exactly one of ipv4, ipv6 as types",
        ),
        (
            '["ipv4", "ipv6"]',
            "max_prefix = 24",
            "max_prefix",
            "['ipv4', 'ipv6']",
            "a prefix length needs exactly one of ipv4, ipv6 as types",
        ),
        (
            '["ipv4", "asn"]',
            "max_prefix = 24",
            "max_prefix",
            "['asn', 'ipv4']",
            "a prefix length needs exactly one of ipv4, ipv6 as types",
        ),
        ('["ipv4"]', "max_prefix = 33", "max_prefix", "33", "must be between 0 and 32"),
        ('["ipv4"]', "max_prefix = -1", "max_prefix", "-1", "must be between 0 and 32"),
        ('["ipv6"]', "max_prefix = 129", "max_prefix", "129", "must be between 0 and 128"),
        ('["ipv4"]', 'max_prefix = "24"', "max_prefix", "24", "must be an integer"),
        ('["ipv4"]', "max_prefix = true", "max_prefix", "True", "must be an integer"),
        (
            '["ipv4"]',
            'cap_field = "size"',
            "cap_field",
            "size",
            "must be one of the alternative's fields",
        ),
        ('["ipv4"]', 'cap_field = " "', "cap_field", " ", "must not be empty"),
        ('["ipv4"]', "cap_field = 5", "cap_field", "5", "must be a string"),
        ('["ipv4"]', "valid_months = 0", "valid_months", "0", "must be between 1 and 1200"),
        ('["ipv4"]', "valid_months = 1201", "valid_months", "1201", "must be between 1 and 1200"),
        (
            '["ipv4"]',
            'recipients = "some"',
            "recipients",
            "some",
            "must be one of ['any', 'new', 'existing']",
        ),
        (
            '["ipv4"]',
            "valid_month = 12",
            "valid_month",
            "12",
            "unknown key (expected one of ['cap_field', 'fields', 'max_prefix', 'recipients', "
            "'source', 'valid_months'])",
        ),
    ],
)
def test_a_bad_alternative_is_named(
    tmp_path: Path, types: str, alternative: str, key: str, value: str, reason: str
) -> None:
    path = needs_file(tmp_path, any_of(types, alternative))
    assert refusal(path) == (f"{ALT}.{key}", value, reason)


def test_an_alternative_without_fields_or_source_is_named(tmp_path: Path) -> None:
    bare = '[[version.needs]]\ntypes = ["ipv4"]\nsource = "needs 1"\n[[version.needs.any_of]]\n'
    path = needs_file(tmp_path, bare + 'fields = []\nsource = "s"\n')
    assert refusal(path) == (f"{ALT}.fields", "[]", "must name at least one evidence field")
    path = needs_file(tmp_path, bare + 'source = "s"\n')
    assert refusal(path) == (f"{ALT}.fields", "", "missing key")
    path = needs_file(tmp_path, bare + 'fields = ["plan"]\n')
    assert refusal(path) == (f"{ALT}.source", "", "missing key")


@pytest.mark.parametrize(
    ("types", "prefix", "months"), [("ipv4", 0, 1), ("ipv4", 32, 1200), ("ipv6", 128, 1)]
)
def test_an_alternative_at_its_limits_loads(
    tmp_path: Path, types: str, prefix: int, months: int
) -> None:
    extra = f'max_prefix = {prefix}\ncap_field = "cap"\nvalid_months = {months}\nrecipients = "new"'
    policy = load_policy_file(needs_file(tmp_path, any_of(f'["{types}"]', extra)))
    (rule,) = policy.versions[0].needs
    assert rule.alternatives == (
        Alternative(("plan", "cap"), "alt 1", Recipients.NEW, prefix, "cap", months),
    )
    assert rule.source == "needs 1" and rule.recipients is Recipients.ANY
    assert rule.legs == {Leg.INTRA, Leg.INBOUND} and rule.kinds == {TransferKind.TRANSFER}
    assert rule.when_counterpart_requires is None


def test_an_alternative_takes_defaults(tmp_path: Path) -> None:
    policy = load_policy_file(needs_file(tmp_path, any_of('["asn"]', "")))
    (rule,) = policy.versions[0].needs
    assert rule.alternatives == (Alternative(("plan", "cap"), "alt 1"),)
    assert rule.alternatives[0].recipients is Recipients.ANY


@pytest.mark.parametrize(
    ("body", "key", "value", "reason"),
    [
        (
            'fields = ["a"]\n[[version.needs.any_of]]\nfields = ["b"]\nsource = "s"\n',
            "fields",
            "",
            "a needs rule has exactly one of fields and any_of",
        ),
        ("", "fields", "", "a needs rule has exactly one of fields and any_of"),
        ("any_of = []\n", "any_of", "[]", "must list at least one alternative"),
        ("fields = []\n", "fields", "[]", "must name at least one evidence field"),
        (
            'fields = ["a"]\nwhen_counterpart_requires = "kind"\n',
            "when_counterpart_requires",
            "kind",
            "must be one of ['reciprocal', 'compatible', 'needs_based']",
        ),
        (
            'fields = ["a"]\nrecipients = "old"\n',
            "recipients",
            "old",
            "must be one of ['any', 'new', 'existing']",
        ),
        (
            'fields = ["a"]\nlegs = ["outbound"]\n',
            "legs",
            "['outbound']",
            "must be among ['inbound', 'intra']",
        ),
        (
            'fields = ["a"]\nlegs = ["sideways"]\n',
            "legs[0]",
            "sideways",
            "must be one of ['inbound', 'intra']",
        ),
        ('fields = ["a"]\nlegs = []\n', "legs", "[]", "must be among ['inbound', 'intra']"),
        ('fields = ["a"]\nkinds = []\n', "kinds", "[]", "must name at least one kind"),
        ('fields = ["a"]\nkinds = ["gift"]\n', "kinds[0]", "gift", "must be transfer or merger"),
    ],
)
def test_a_bad_needs_rule_is_named(
    tmp_path: Path, body: str, key: str, value: str, reason: str
) -> None:
    rule = f'[[version.needs]]\ntypes = ["ipv4"]\nsource = "needs 1"\n{body}'
    path = needs_file(tmp_path, rule)
    assert refusal(path) == (f"version[a].needs[0].{key}", value, reason)


def test_a_needs_rule_loads_what_it_says(tmp_path: Path) -> None:
    rule = (
        '[[version.needs]]\ntypes = ["ipv4", "asn"]\nsource = "needs 1"\nfields = ["a", "b"]\n'
        'legs = ["inbound"]\nkinds = ["merger", "transfer"]\nrecipients = "existing"\n'
        'when_counterpart_requires = "needs_based"\n'
    )
    (needs,) = load_policy_file(needs_file(tmp_path, rule)).versions[0].needs
    assert needs == Needs(
        types=frozenset({Afi.IPV4, Afi.ASN}),
        alternatives=(Alternative(("a", "b"), "needs 1"),),
        legs=frozenset({Leg.INBOUND}),
        kinds=frozenset({TransferKind.MERGER, TransferKind.TRANSFER}),
        recipients=Recipients.EXISTING,
        when_counterpart_requires=Requirement.NEEDS_BASED,
        source="needs 1",
    )


def test_a_needs_based_counterpart_rule_on_the_inbound_leg_is_named(tmp_path: Path) -> None:
    rule = (
        '[[version.counterpart]]\ntypes = ["ipv4"]\nrequire = ["needs_based", "compatible"]\n'
        'source = "c"\n'
    )
    path = needs_file(tmp_path, rule)
    assert refusal(path) == (
        "version[a].counterpart[0].legs",
        "['inbound', 'outbound']",
        "needs_based is checked on the outbound leg only",
    )
    path = needs_file(tmp_path, rule + 'legs = ["inbound"]\n')
    assert refusal(path) == (
        "version[a].counterpart[0].legs",
        "['inbound']",
        "needs_based is checked on the outbound leg only",
    )
    (loaded,) = (
        load_policy_file(needs_file(tmp_path, rule + 'legs = ["outbound"]\n'))
        .versions[0]
        .counterpart
    )
    assert loaded == CounterpartRule(
        types=frozenset({Afi.IPV4}),
        require=(Requirement.COMPATIBLE, Requirement.NEEDS_BASED),
        legs=frozenset({Leg.OUTBOUND}),
        source="c",
    )


# --- the source side: holds and origin rules -----------------------------------------------------


def one_registry(tmp_path: Path, rules: str) -> PolicySet:
    """ARIN with `rules`, and RIPE NCC allowing everything."""
    return policy_set(
        tmp_path,
        {
            "arin": [version_text("a", rules=rules)],
            "ripencc": [version_text("r", registry="ripencc")],
        },
    )


def two_holds_rule(months: int = 24, subject: str = "block", exempt: str = "[]") -> str:
    return (
        f'[[version.hold]]\ntypes = ["ipv4"]\nafter = ["allocation", "transfer", "merger"]\n'
        f'months = {months}\nsubject = "{subject}"\nexempt = {exempt}\nsource = "hold 8"\n'
        f'kinds = ["transfer", "merger"]\n'
    )


def test_a_hold_names_the_receipt_whose_hold_ends_last(tmp_path: Path) -> None:
    policies = one_registry(tmp_path, two_holds_rule())
    merged = Receipt(EventKind.MERGER, date(2023, 3, 1))
    issued = Receipt(EventKind.ALLOCATION, date(2023, 9, 30))
    decision = evaluate(request(ARIN, ARIN, received=merged, issued=issued), policies)
    assert texts(decision) == [
        "ARIN P@a (hold 8): received by allocation on 2023-09-30: 24-month hold, no transfer "
        "before 2025-09-30 (requested for 2024-06-15)"
    ]
    assert decision.failures[0].rule == "hold" and decision.failures[0].section == "hold 8"
    later = Receipt(EventKind.MERGER, date(2023, 10, 1))
    decision = evaluate(request(ARIN, ARIN, received=later, issued=issued), policies)
    assert texts(decision) == [
        "ARIN P@a (hold 8): received by merger on 2023-10-01: 24-month hold, no transfer "
        "before 2025-10-01 (requested for 2024-06-15)"
    ]
    # Two receipts whose holds end on one day: the block's own receipt is named.
    same_day = Receipt(EventKind.ALLOCATION, later.on)
    decision = evaluate(request(ARIN, ARIN, received=later, issued=same_day), policies)
    assert [f.reason.split(":")[0] for f in decision.failures] == [
        "received by merger on 2023-10-01"
    ]
    # Only a running hold counts: an old issuance does not hide the recent receipt.
    old = Receipt(EventKind.ALLOCATION, date(2001, 1, 1))
    decision = evaluate(request(ARIN, ARIN, received=later, issued=old), policies)
    assert [f.reason.split(":")[0] for f in decision.failures] == [
        "received by merger on 2023-10-01"
    ]


@pytest.mark.parametrize(
    ("on", "held"),
    [(date(2025, 9, 29), True), (date(2025, 9, 30), False), (date(2025, 10, 1), False)],
)
def test_a_hold_ends_on_its_anniversary(tmp_path: Path, on: date, held: bool) -> None:
    policies = one_registry(tmp_path, two_holds_rule())
    issued = Receipt(EventKind.ALLOCATION, date(2023, 9, 30))
    decision = evaluate(request(ARIN, ARIN, on=on, received=issued), policies)
    assert rules_of(decision) == (["hold"] if held else [])


def test_a_holder_hold_reads_every_receipt_of_the_source(tmp_path: Path) -> None:
    policies = one_registry(tmp_path, two_holds_rule(months=12, subject="holder"))
    receipts = (
        Receipt(EventKind.TRANSFER, date(2024, 1, 10)),
        Receipt(EventKind.LEGACY, date(2024, 5, 1)),  # not a kind the hold runs from
        Receipt(EventKind.TRANSFER, date(2023, 12, 1)),
    )
    decision = evaluate(request(ARIN, ARIN, holder_receipts=receipts), policies)
    assert texts(decision) == [
        "ARIN P@a (hold 8): the source holder received space by transfer on 2024-01-10: "
        "12-month hold, no transfer before 2025-01-10 (requested for 2024-06-15)"
    ]
    # A holder hold does not read the block's issuance.
    issued = Receipt(EventKind.ALLOCATION, date(2024, 6, 1))
    assert evaluate(request(ARIN, ARIN, issued=issued), policies).allowed
    # A block hold does not read the holder's other receipts.
    block = one_registry(tmp_path / "b", two_holds_rule(months=12))
    assert evaluate(request(ARIN, ARIN, holder_receipts=receipts), block).allowed


def test_common_control_exempts_only_holds_that_say_so(tmp_path: Path) -> None:
    recent = Receipt(EventKind.TRANSFER, date(2024, 1, 1))
    exempting = one_registry(tmp_path, two_holds_rule(exempt='["common_control"]'))
    assert evaluate(request(ARIN, ARIN, received=recent, common_control=True), exempting).allowed
    assert not evaluate(request(ARIN, ARIN, received=recent), exempting).allowed
    strict = one_registry(tmp_path / "s", two_holds_rule())
    decision = evaluate(request(ARIN, ARIN, received=recent, common_control=True), strict)
    assert rules_of(decision) == ["hold"]


def test_a_hold_within_some_space_binds_only_that_space_of_its_family(tmp_path: Path) -> None:
    rule = (
        '[[version.hold]]\ntypes = ["ipv4", "asn"]\nafter = ["transfer"]\nmonths = 12\n'
        'within = ["192.0.2.0/25", "AS100-AS200"]\nsource = "h"\n'
    )
    policies = one_registry(tmp_path, rule)
    recent = Receipt(EventKind.TRANSFER, date(2024, 1, 1))
    for resource, held in [
        ("192.0.2.0/24", True),  # overlaps the /25
        ("192.0.2.128/25", False),
        ("198.51.100.0/24", False),
        ("AS200", True),
        ("AS201", False),
    ]:
        decision = evaluate(request(ARIN, RIPE, resource, received=recent), policies)
        assert (rules_of(decision) == ["hold"]) is held, resource
    only_v6 = (
        '[[version.hold]]\ntypes = ["ipv4"]\nafter = ["transfer"]\nmonths = 12\n'
        'within = ["2001:db8::/32"]\nsource = "h"\n'
    )
    policies = one_registry(tmp_path / "v6", only_v6)
    # No range of the block's family listed: the hold binds all of it.
    decision = evaluate(request(ARIN, RIPE, received=recent), policies)
    assert rules_of(decision) == ["hold"]


def test_holds_bind_their_legs_and_kinds(tmp_path: Path) -> None:
    rule = (
        '[[version.hold]]\ntypes = ["ipv4"]\nafter = ["transfer"]\nmonths = 12\n'
        'legs = ["outbound"]\nsource = "h"\n'
    )
    policies = one_registry(tmp_path, rule)
    recent = Receipt(EventKind.TRANSFER, date(2024, 1, 1))
    assert rules_of(evaluate(request(ARIN, RIPE, received=recent), policies)) == ["hold"]
    assert evaluate(request(ARIN, ARIN, received=recent), policies).allowed
    merger = request(ARIN, ARIN, received=recent, kind=TransferKind.MERGER)
    assert evaluate(merger, policies).allowed
    ipv6 = request(ARIN, RIPE, "2001:db8::/32", received=recent)
    assert evaluate(ipv6, policies).allowed


def origin_rule(body: str, legs: str = "") -> str:
    return f'[[version.origin]]\ntypes = ["ipv4"]\n{body}\n{legs}source = "o"\n'


@pytest.mark.parametrize(
    ("origin", "reasons"),
    [
        (Origin.LEGACY, []),
        (Origin.TRANSFERRED_IN, []),
        (
            Origin.ISSUED,
            ["only legacy, transferred-in space may move this way; this block is issued"],
        ),
        (
            Origin.RESERVED,
            [
                "only legacy, transferred-in space may move this way; this block is reserved",
                "reserved space is not eligible for transfer",
            ],
        ),
    ],
)
def test_origin_rules_name_what_may_move(
    tmp_path: Path, origin: Origin, reasons: list[str]
) -> None:
    rule = origin_rule('allow = ["transferred-in", "legacy"]\nrefuse = ["reserved"]')
    policies = one_registry(tmp_path, rule)
    decision = evaluate(request(ARIN, RIPE, origin=origin), policies)
    assert [f.reason for f in decision.failures] == reasons
    assert {(f.rule, f.section) for f in decision.failures} <= {("origin", "o")}


def test_origin_rules_bind_their_legs(tmp_path: Path) -> None:
    rule = origin_rule('refuse = ["reserved"]', 'legs = ["outbound"]\n')
    policies = one_registry(tmp_path, rule)
    out = evaluate(request(ARIN, RIPE, origin=Origin.RESERVED), policies)
    assert [f.reason for f in out.failures] == ["reserved space is not eligible for transfer"]
    assert evaluate(request(ARIN, ARIN, origin=Origin.RESERVED), policies).allowed
    assert evaluate(request(ARIN, RIPE, "AS5", origin=Origin.RESERVED), policies).allowed


def test_a_minimum_size_binds_its_legs_and_kinds(tmp_path: Path) -> None:
    rule = '[[version.min_size]]\ntypes = ["ipv4"]\nprefix = 24\nlegs = ["inbound"]\nsource = "m"\n'
    policies = policy_set(
        tmp_path,
        {
            "arin": [version_text("a", rules=rule)],
            "ripencc": [version_text("r", registry="ripencc", rules=rule)],
        },
    )
    assert evaluate(request(ARIN, ARIN, "192.0.2.0/25"), policies).allowed
    assert evaluate(request(ARIN, RIPE, "192.0.2.0/24"), policies).allowed
    decision = evaluate(request(ARIN, RIPE, "192.0.2.0/25"), policies)
    assert [(f.registry, f.rule, f.section) for f in decision.failures] == [(RIPE, "min-size", "m")]
    assert decision.reasons == (
        "RIPE NCC P@r (m): the minimum transfer is a /24; 192.0.2.0/25 includes a /25",
    )


# --- needs: which alternatives apply, and what the refusal says ---------------------------------


def needs_registry(tmp_path: Path, rule: str) -> PolicySet:
    """RIPE NCC as the recipient with the needs `rule`; ARIN allowing everything."""
    return policy_set(
        tmp_path,
        {
            "arin": [version_text("a")],
            "ripencc": [version_text("r", registry="ripencc", rules=rule)],
        },
    )


ALTERNATIVES = """
[[version.needs]]
types = ["ipv4"]
source = "N 1"
[[version.needs.any_of]]
fields = ["plan", "size"]
cap_field = "size"
source = "N 1.1"
[[version.needs.any_of]]
fields = ["plan", "projection"]
max_prefix = 24
recipients = "existing"
source = "N 1.2"
[[version.needs.any_of]]
fields = ["approved"]
valid_months = 12
recipients = "new"
source = "N 1.3"
"""


def needs_failure(decision: Decision) -> Failure:
    (failure,) = decision.failures
    assert (failure.registry, failure.rule, failure.section) == (RIPE, "needs", "N 1")
    return failure


def test_every_alternative_that_serves_the_recipient_is_listed(tmp_path: Path) -> None:
    policies = needs_registry(tmp_path, ALTERNATIVES)
    new = needs_failure(evaluate(request(), policies))
    assert new.reason == (
        "needs evidence not met; supply one of: plan + size (N 1.1: missing plan, size) | "
        "approved (N 1.3: missing approved)"
    )
    assert new.missing == ("plan", "size", "approved")
    existing = needs_failure(evaluate(request(recipient_is_holder=True), policies))
    assert existing.reason == (
        "needs evidence not met; supply one of: plan + size (N 1.1: missing plan, size) | "
        "plan + projection (N 1.2: missing plan, projection)"
    )
    assert existing.missing == ("plan", "size", "projection")
    assert str(existing) == f"RIPE NCC P@r (N 1): {existing.reason}"


@pytest.mark.parametrize(
    ("evidence", "resource", "allowed"),
    [
        ({"plan": True, "size": 256}, "192.0.2.0/24", True),
        ({"plan": True, "size": 255}, "192.0.2.0/24", False),
        ({"plan": "yes", "size": 1}, "192.0.2.0/32", True),
        ({"plan": True, "projection": True}, "192.0.2.0/24", True),
        ({"plan": True, "projection": True}, "192.0.2.0/23", False),
        ({"plan": 0, "projection": 0}, "192.0.2.0/24", True),  # 0 is an answer; None is not
    ],
)
def test_an_alternative_is_met_within_its_limits(
    tmp_path: Path, evidence: dict[str, object], resource: str, allowed: bool
) -> None:
    policies = needs_registry(tmp_path, ALTERNATIVES)
    decision = evaluate(
        request(resource=resource, evidence=evidence, recipient_is_holder=True), policies
    )
    assert decision.allowed is allowed, decision.reasons


def test_unmet_limits_are_said_with_the_missing_fields(tmp_path: Path) -> None:
    policies = needs_registry(tmp_path, ALTERNATIVES)
    decision = evaluate(
        request(
            resource="192.0.2.0/23",
            evidence={"plan": True, "size": 500, "projection": None},
            recipient_is_holder=True,
        ),
        policies,
    )
    failure = needs_failure(decision)
    assert failure.reason == (
        "needs evidence not met; supply one of: plan + size (N 1.1: allows at most size (500) "
        "addresses) | plan + projection (N 1.2: missing projection; allows at most a /24)"
    )
    assert failure.missing == ("projection",)


@pytest.mark.parametrize(
    ("size", "problem"),
    [
        ("512", "size must be a number of addresses"),
        (True, "size must be a number of addresses"),
        (512.0, "size must be a number of addresses"),
        (511, "allows at most size (511) addresses"),
    ],
)
def test_a_cap_must_be_a_number_of_addresses(tmp_path: Path, size: object, problem: str) -> None:
    rule = (
        '[[version.needs]]\ntypes = ["ipv4"]\nsource = "N 1"\n[[version.needs.any_of]]\n'
        'fields = ["size"]\ncap_field = "size"\nsource = "N 1.1"\n'
    )
    policies = needs_registry(tmp_path, rule)
    decision = evaluate(request(resource="192.0.2.0/23", evidence={"size": size}), policies)
    assert needs_failure(decision).reason == f"needs evidence not met: size (N 1.1: {problem})"
    assert needs_failure(decision).missing == ()
    ok = evaluate(request(resource="192.0.2.0/23", evidence={"size": 512}), policies)
    assert ok.allowed


@pytest.mark.parametrize(
    ("approved", "problem"),
    [
        (date(2023, 6, 16), ""),
        (date(2024, 6, 15), ""),
        (date(2023, 6, 15), "approved 2023-06-15 is not within 12 months"),
        (date(2024, 6, 16), "approved 2024-06-16 is not within 12 months"),
        (
            datetime(2024, 1, 1, 0, 0),
            "evidence field 'approved': datetime.datetime(2024, 1, 1, 0, 0) is not a date; "
            "give an ISO 8601 date, YYYY-MM-DD",
        ),
        ("2024-01-01", ""),  # the JSON form of a date (an agreement's evidence)
        (
            "2024-1-1",
            "evidence field 'approved': '2024-1-1' is not a date; "
            "give an ISO 8601 date, YYYY-MM-DD",
        ),
    ],
)
def test_a_dated_alternative_is_valid_for_its_months(
    tmp_path: Path, approved: object, problem: str
) -> None:
    policies = needs_registry(tmp_path, ALTERNATIVES)
    decision = evaluate(request(evidence={"approved": approved}), policies)
    if not problem:
        assert decision.allowed, decision.reasons
        return
    assert needs_failure(decision).reason == (
        "needs evidence not met; supply one of: plan + size (N 1.1: missing plan, size) | "
        f"approved (N 1.3: {problem})"
    )


def test_a_dated_alternative_checks_only_the_fields_supplied(tmp_path: Path) -> None:
    rule = (
        '[[version.needs]]\ntypes = ["ipv4"]\nsource = "N 1"\n[[version.needs.any_of]]\n'
        'fields = ["first", "second"]\nvalid_months = 6\nsource = "N 1.1"\n'
    )
    policies = needs_registry(tmp_path, rule)
    decision = evaluate(request(evidence={"second": date(2024, 6, 1)}), policies)
    assert (
        needs_failure(decision).reason
        == "needs evidence not met: first + second (N 1.1: missing first)"
    )
    decision = evaluate(request(evidence={"second": date(2020, 6, 1)}), policies)
    assert needs_failure(decision).reason == (
        "needs evidence not met: first + second (N 1.1: missing first; second 2020-06-01 is "
        "not within 6 months)"
    )


def test_no_alternative_for_this_recipient_is_said(tmp_path: Path) -> None:
    rule = (
        '[[version.needs]]\ntypes = ["ipv4"]\nsource = "N 1"\n[[version.needs.any_of]]\n'
        'fields = ["a"]\nrecipients = "existing"\nsource = "N 1.1"\n'
    )
    policies = needs_registry(tmp_path, rule)
    failure = needs_failure(evaluate(request(evidence={"a": True}), policies))
    assert failure.reason == "no way to demonstrate need applies to this recipient"
    assert failure.missing == ()
    assert evaluate(request(evidence={"a": True}, recipient_is_holder=True), policies).allowed


@pytest.mark.parametrize(
    ("recipients", "holder", "binds"),
    [
        ("any", False, True),
        ("any", True, True),
        ("new", False, True),
        ("new", True, False),
        ("existing", False, False),
        ("existing", True, True),
    ],
)
def test_a_needs_rule_binds_its_recipients(
    tmp_path: Path, recipients: str, holder: bool, binds: bool
) -> None:
    rule = (
        f'[[version.needs]]\ntypes = ["ipv4"]\nsource = "N 1"\nfields = ["a", "b", "a2"]\n'
        f'recipients = "{recipients}"\n'
    )
    policies = needs_registry(tmp_path, rule)
    decision = evaluate(
        request(evidence={"b": True, "a2": ""}, recipient_is_holder=holder), policies
    )
    if not binds:
        assert decision.allowed
        return
    failure = needs_failure(decision)
    assert failure.reason == "needs evidence not met: a + b + a2 (N 1: missing a, a2)"
    assert failure.missing == ("a", "a2")


def test_needs_bind_the_recipient_legs(tmp_path: Path) -> None:
    rule = '[[version.needs]]\ntypes = ["ipv4"]\nsource = "N 1"\nfields = ["a"]\n'
    policies = needs_registry(tmp_path, rule)
    assert rules_of(evaluate(request(RIPE, RIPE), policies)) == ["needs"]  # intra
    assert rules_of(evaluate(request(ARIN, RIPE), policies)) == ["needs"]  # inbound
    assert evaluate(request(RIPE, ARIN), policies).allowed  # RIPE NCC is the source
    assert evaluate(request(ARIN, RIPE, "2001:db8::/32"), policies).allowed
    merger = request(RIPE, RIPE, kind=TransferKind.MERGER)
    assert evaluate(merger, policies).allowed


# --- counterpart requirements, read from the partner's file --------------------------------------


def counterpart(require: str, legs: str = '["outbound", "inbound"]') -> str:
    return (
        f'[[version.counterpart]]\ntypes = ["ipv4"]\nrequire = ["{require}"]\nlegs = {legs}\n'
        f'source = "C {require}"\n'
    )


def partners(
    tmp_path: Path,
    arin_rules: str,
    *,
    to: str | None = None,
    from_: str | None = None,
    rules: str = "",
) -> PolicySet:
    """ARIN with `arin_rules`; RIPE NCC sending `to` and taking `from_` with its `rules`."""
    return policy_set(
        tmp_path,
        {
            "arin": [version_text("a", rules=arin_rules)],
            "ripencc": [version_text("r", registry="ripencc", rules=rules, to=to, from_=from_)],
        },
    )


def counterpart_reasons(decision: Decision) -> list[str]:
    return [f.reason for f in decision.failures if f.rule == "counterpart"]


NOT_RECIPROCAL = "RIPE NCC policy P@r is not reciprocal for ipv4: "
ONE_WAY = """
[[version.origin]]
types = ["ipv6"]
allow = ["legacy"]
legs = ["outbound"]
source = "O v6"
[[version.origin]]
types = ["ipv4"]
allow = ["issued", "legacy"]
legs = ["intra"]
source = "O intra"
[[version.origin]]
types = ["ipv4"]
refuse = ["reserved"]
source = "O refuse"
[[version.origin]]
types = ["ipv4", "asn"]
allow = ["transferred-in", "legacy"]
legs = ["outbound"]
source = "O out"
[[version.origin]]
types = ["ipv4"]
allow = ["issued"]
legs = ["outbound"]
source = "O later"
"""


@pytest.mark.parametrize(
    ("to", "from_", "rules", "problems"),
    [
        (None, None, "", []),
        ('["apnic"]', None, "", ["it allows no ipv4 transfers to ARIN"]),
        (None, '["apnic"]', "", ["it accepts no ipv4 transfers from ARIN"]),
        (
            '["apnic"]',
            '["lacnic"]',
            "",
            ["it allows no ipv4 transfers to ARIN; it accepts no ipv4 transfers from ARIN"],
        ),
        (
            None,
            None,
            ONE_WAY,
            ["its ipv4 transfers out are limited to legacy, transferred-in space"],
        ),
        (
            '["apnic"]',
            None,
            ONE_WAY,
            ["it allows no ipv4 transfers to ARIN"],
        ),
    ],
)
def test_a_reciprocal_partner_sends_any_space_and_takes_space(
    tmp_path: Path, to: str | None, from_: str | None, rules: str, problems: list[str]
) -> None:
    policies = partners(tmp_path, counterpart("reciprocal"), to=to, from_=from_, rules=rules)
    for source, recipient in ((ARIN, RIPE), (RIPE, ARIN)):
        decision = evaluate(request(source, recipient), policies)
        assert counterpart_reasons(decision) == [NOT_RECIPROCAL + p for p in problems]
        for failure in decision.failures:
            if failure.rule == "counterpart":
                assert (failure.registry, failure.policy, failure.section) == (
                    ARIN,
                    "P@a",
                    "C reciprocal",
                )


def test_a_compatible_partner_allows_the_opposite_leg(tmp_path: Path) -> None:
    not_compatible = "RIPE NCC policy P@r is not compatible for ipv4: "
    takes_nothing = partners(tmp_path / "t", counterpart("compatible"), from_='["apnic"]')
    assert counterpart_reasons(evaluate(request(ARIN, RIPE), takes_nothing)) == [
        not_compatible + "it accepts no ipv4 transfers from ARIN"
    ]
    assert counterpart_reasons(evaluate(request(RIPE, ARIN), takes_nothing)) == []
    sends_nothing = partners(tmp_path / "s", counterpart("compatible"), to='["apnic"]')
    assert counterpart_reasons(evaluate(request(ARIN, RIPE), sends_nothing)) == []
    assert counterpart_reasons(evaluate(request(RIPE, ARIN), sends_nothing)) == [
        not_compatible + "it allows no ipv4 transfers to ARIN"
    ]


def test_counterpart_rules_bind_their_legs_and_types(tmp_path: Path) -> None:
    policies = partners(tmp_path, counterpart("reciprocal", '["inbound"]'), to='["apnic"]')
    assert counterpart_reasons(evaluate(request(ARIN, RIPE), policies)) == []
    assert counterpart_reasons(evaluate(request(RIPE, ARIN), policies)) == [
        NOT_RECIPROCAL + "it allows no ipv4 transfers to ARIN"
    ]
    assert counterpart_reasons(evaluate(request(RIPE, ARIN, "2001:db8::/32"), policies)) == []
    # Rules that do not bind come first: the one that binds is still read.
    first = counterpart("compatible", '["outbound"]').replace('["ipv4"]', '["asn"]')
    second = counterpart("compatible", '["outbound"]')
    policies = partners(tmp_path / "2", first + second, from_='["apnic"]')
    assert counterpart_reasons(evaluate(request(ARIN, RIPE), policies)) == [
        "RIPE NCC policy P@r is not compatible for ipv4: it accepts no ipv4 transfers from ARIN"
    ]
    policies = partners(
        tmp_path / "3", counterpart("compatible", '["inbound"]') + second, from_='["apnic"]'
    )
    assert len(counterpart_reasons(evaluate(request(ARIN, RIPE), policies))) == 1


NEEDS_TEST = (
    "RIPE NCC policy P@r is not needs-based for ipv4: it applies no needs test to ipv4 "
    "recipients of transfers from ARIN"
)


def test_a_needs_based_partner_may_list_other_needs_rules_first(tmp_path: Path) -> None:
    matching = '[[version.needs]]\ntypes = ["ipv4"]\nfields = ["a"]\nsource = "N"\n'
    for first in (
        '[[version.needs]]\ntypes = ["asn"]\nfields = ["a"]\nsource = "N0"\n',
        '[[version.needs]]\ntypes = ["ipv4"]\nfields = ["a"]\nlegs = ["intra"]\nsource = "N0"\n',
        '[[version.needs]]\ntypes = ["ipv4"]\nfields = ["a"]\nkinds = ["merger"]\nsource = "N0"\n',
        '[[version.needs]]\ntypes = ["ipv4"]\nfields = ["a"]\nsource = "N0"\n'
        'when_counterpart_requires = "compatible"\n',
    ):
        policies = partners(
            tmp_path / str(len(first)),
            counterpart("needs_based", '["outbound"]'),
            rules=first + matching,
        )
        assert counterpart_reasons(evaluate(request(ARIN, RIPE), policies)) == [], first


@pytest.mark.parametrize(
    ("rules", "applies"),
    [
        ("", False),
        ('[[version.needs]]\ntypes = ["ipv4"]\nfields = ["a"]\nsource = "N"\n', True),
        ('[[version.needs]]\ntypes = ["asn"]\nfields = ["a"]\nsource = "N"\n', False),
        (
            '[[version.needs]]\ntypes = ["ipv4"]\nfields = ["a"]\nlegs = ["intra"]\nsource = "N"\n',
            False,
        ),
        (
            '[[version.needs]]\ntypes = ["ipv4"]\nfields = ["a"]\nkinds = ["merger"]\n'
            'source = "N"\n',
            False,
        ),
        (
            '[[version.needs]]\ntypes = ["ipv4"]\nfields = ["a"]\nsource = "N"\n'
            'when_counterpart_requires = "needs_based"\n',
            True,
        ),
        (
            '[[version.needs]]\ntypes = ["ipv4"]\nfields = ["a"]\nsource = "N"\n'
            'when_counterpart_requires = "reciprocal"\n',
            False,
        ),
    ],
)
def test_a_needs_based_partner_tests_its_recipients(
    tmp_path: Path, rules: str, applies: bool
) -> None:
    policies = partners(tmp_path, counterpart("needs_based", '["outbound"]'), rules=rules)
    decision = evaluate(request(ARIN, RIPE), policies)
    assert counterpart_reasons(decision) == ([] if applies else [NEEDS_TEST])
    # The partner's needs rule binds exactly when the partner applies it to this transfer.
    assert ("needs" in rules_of(decision)) is applies


def test_a_rule_for_sources_that_demand_a_needs_test_needs_such_a_source(tmp_path: Path) -> None:
    rule = (
        '[[version.needs]]\ntypes = ["ipv4"]\nfields = ["a"]\nsource = "N"\n'
        'when_counterpart_requires = "needs_based"\n'
    )
    policies = partners(tmp_path, "", rules=rule)
    assert evaluate(request(ARIN, RIPE), policies).allowed
    no_file = evaluate(request(RegistryId.LACNIC, RIPE), policies)
    assert rules_of(no_file) == ["no-policy"]
    demanding = partners(tmp_path / "d", counterpart("needs_based", '["outbound"]'), rules=rule)
    assert rules_of(evaluate(request(ARIN, RIPE), demanding)) == ["needs"]
    inbound_only = partners(
        tmp_path / "i",
        counterpart("reciprocal", '["inbound"]'),
        rules=rule.replace("needs_based", "reciprocal"),
    )
    assert evaluate(request(ARIN, RIPE), inbound_only).allowed
    outbound = partners(
        tmp_path / "o",
        counterpart("reciprocal", '["outbound"]'),
        rules=rule.replace("needs_based", "reciprocal"),
    )
    assert rules_of(evaluate(request(ARIN, RIPE), outbound)) == ["needs"]


def test_a_merger_between_registries_is_refused_by_the_source(tmp_path: Path) -> None:
    policies = partners(tmp_path, "")
    decision = evaluate(request(ARIN, RIPE, "AS5", kind=TransferKind.MERGER), policies)
    assert decision.reasons == (
        "ARIN P@a (merger asn a): M&A rules cover changes of holder inside the registry; "
        "between registries the move is an inter-RIR transfer (kind 'transfer')",
    )
    assert rules_of(decision) == ["merger"]


def test_routes_name_the_partner(tmp_path: Path) -> None:
    policies = partners(tmp_path, "", to='["apnic"]', from_='["lacnic"]')
    assert evaluate(request(RIPE, ARIN, "AS5"), policies).reasons == (
        "RIPE NCC P@r (outbound asn r): asn may not be transferred to ARIN",
    )
    assert evaluate(request(ARIN, RIPE, "AS5"), policies).reasons == (
        "RIPE NCC P@r (inbound asn r): asn may not be received from ARIN",
    )


# --- the loader: everything else a file can get wrong --------------------------------------------

HEAD = 'schema = 1\nregistry = "arin"\npolicy = "P"\n'


def raw_file(tmp_path: Path, text: str, name: str = "arin.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "field", "value", "reason"),
    [
        (
            HEAD + "extra = 1\n",
            "extra",
            "1",
            "unknown key (expected one of ['policy', 'registry', 'schema', 'version'])",
        ),
        ('registry = "arin"\npolicy = "P"\n', "schema", "", "missing key"),
        ("schema = 0\n", "schema", "0", "unsupported schema (this code reads 1)"),
        ("schema = 1001\n", "schema", "1001", "must be between 0 and 1000"),
        ("schema = -1\n", "schema", "-1", "must be between 0 and 1000"),
        ("schema = true\n", "schema", "True", "must be an integer"),
        ("schema = 1.0\n", "schema", "1.0", "must be an integer"),
        (
            'schema = 1\nregistry = "arn"\n',
            "registry",
            "arn",
            "must be one of ['iana', 'afrinic', 'apnic', 'arin', 'lacnic', 'ripencc']",
        ),
        ('schema = 1\nregistry = ""\n', "registry", "", "must not be empty"),
        (
            'schema = 1\nregistry = "apnic"\n',
            "registry",
            "apnic",
            "does not match the file name arin.toml",
        ),
        ('schema = 1\nregistry = "arin"\npolicy = " "\n', "policy", " ", "must not be empty"),
        ('schema = 1\nregistry = "arin"\npolicy = 5\n', "policy", "5", "must be a string"),
        (HEAD, "version", "", "at least one [[version]] is required"),
        (HEAD + "version = []\n", "version", "", "at least one [[version]] is required"),
        (HEAD + 'version = "a"\n', "version", "a", "must be an array of tables"),
        (HEAD + "version = [1]\n", "version[0]", "1", "must be a table"),
        (
            HEAD + version_text("a") + version_text("a", effective="2021-01-01"),
            "version[1].version",
            "a",
            "duplicate version label",
        ),
        (
            HEAD + version_text("a") + version_text("b"),
            "version[1].effective",
            "datetime.date(2020, 1, 1)",
            "two versions in force from one date",
        ),
        (HEAD + version_text(""), "version[0].version", "", "must not be empty"),
        (
            HEAD + version_text("a", status="draft"),
            "version[a].status",
            "draft",
            "must be one of ['in-force', 'pending']",
        ),
        (HEAD + version_text("a", effective=None), "version[a].effective", "", "missing key"),
        (
            HEAD
            + version_text("a").replace('document = "doc a"\n', 'document = "doc a"\nnote = 1\n'),
            "version[a].note",
            "1",
            "unknown key (expected one of ['counterpart', 'document', 'effective', 'hold', "
            "'inbound', 'intra', 'merger', 'min_size', 'needs', 'origin', 'outbound', 'status', "
            "'version'])",
        ),
        (
            HEAD + version_text("a").replace("[version.merger]", "[version.mergers]"),
            "version[a].mergers",
            "{'ipv4': {'allowed': True, 'source': 'merger ipv4 a'}, 'ipv6': {'allowed': True, "
            "'source': 'merger ipv6 a'}, 'asn': {'allowed': True, 'source': 'merger asn a'}}",
            "unknown key (expected one of ['counterpart', 'document', 'effective', 'hold', "
            "'inbound', 'intra', 'merger', 'min_size', 'needs', 'origin', 'outbound', 'status', "
            "'version'])",
        ),
        (
            HEAD
            + version_text("a").replace(
                'ipv4 = { allowed = true, source = "intra ipv4 a" }', "ipv4 = 1"
            ),
            "version[a].intra.ipv4",
            "1",
            "must be a table",
        ),
        (
            HEAD
            + version_text("a").replace(
                'ipv4 = { allowed = true, source = "intra ipv4 a" }',
                'ipx = { allowed = true, source = "s" }',
            ),
            "version[a].intra.ipx",
            "{'allowed': True, 'source': 's'}",
            "unknown key (expected one of ['asn', 'ipv4', 'ipv6'])",
        ),
        (
            HEAD
            + version_text("a").replace(
                'ipv4 = { allowed = true, source = "intra ipv4 a" }',
                'ipv4 = { allowed = "yes", source = "s" }',
            ),
            "version[a].intra.ipv4.allowed",
            "yes",
            "must be true or false",
        ),
        (
            HEAD
            + version_text("a").replace(
                'ipv4 = { allowed = true, source = "intra ipv4 a" }',
                'ipv4 = { allowed = true, source = "s", note = 1 }',
            ),
            "version[a].intra.ipv4.note",
            "1",
            "unknown key (expected one of ['allowed', 'source'])",
        ),
        (
            HEAD
            + version_text("a").replace(
                'ipv4 = { allowed = true, source = "intra ipv4 a" }',
                'ipv4 = { allowed = true, source = "" }',
            ),
            "version[a].intra.ipv4.source",
            "",
            "must not be empty",
        ),
        (
            HEAD + version_text("a", to='"apnic"'),
            "version[a].outbound.ipv4.to",
            "apnic",
            "must be an array of strings",
        ),
        (
            HEAD + version_text("a", to="[1]"),
            "version[a].outbound.ipv4.to[0]",
            "1",
            "must be a string",
        ),
        (
            HEAD + version_text("a", to='["apnic", "ripe"]'),
            "version[a].outbound.ipv4.to[1]",
            "ripe",
            "must be a registry id",
        ),
        (
            HEAD + version_text("a", to='["arin"]'),
            "version[a].outbound.ipv4.to",
            "arin",
            "lists the registry itself (that is an intra transfer)",
        ),
        (
            HEAD + version_text("a", effective='"2020-01-01"'),
            "version[a].effective",
            "2020-01-01",
            "must be a TOML date (YYYY-MM-DD)",
        ),
        (
            HEAD + version_text("a", effective="2020-01-01T10:00:00"),
            "version[a].effective",
            "datetime.datetime(2020, 1, 1, 10, 0)",
            "must be a date without a time",
        ),
        (
            HEAD + version_text("a", from_='["apnic", "arin"]'),
            "version[a].inbound.ipv4.from",
            "arin",
            "lists the registry itself (that is an intra transfer)",
        ),
        (
            HEAD + version_text("a", from_='["apnic"], to = ["lacnic"]'),
            "version[a].inbound.ipv4.to",
            "['lacnic']",
            "unknown key (expected one of ['from', 'source'])",
        ),
    ],
)
def test_a_bad_file_is_named(
    tmp_path: Path, text: str, field: str, value: str, reason: str
) -> None:
    assert refusal(raw_file(tmp_path, text)) == (field, value, reason)


def test_a_file_that_cannot_be_read_or_decoded_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "arin.toml"
    with pytest.raises(SourceFormatError) as caught:
        load_policy_file(missing)
    assert caught.value.reason.startswith("cannot read: ") and caught.value.field is None
    assert caught.value.path == str(missing)
    missing.write_bytes(HEAD.encode() + b"# \xff\n")
    with pytest.raises(SourceFormatError) as caught:
        load_policy_file(missing)
    assert caught.value.reason.startswith("not UTF-8: ") and caught.value.line is None
    assert caught.value.path == str(missing)
    missing.write_text(HEAD + "deep = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SourceFormatError) as caught:
        load_policy_file(missing)
    assert caught.value.reason == "malformed TOML: nested too deeply"
    assert caught.value.path == str(missing)


def test_a_toml_error_names_its_line(tmp_path: Path) -> None:
    path = raw_file(tmp_path, HEAD + 'bad = "\n')
    with pytest.raises(SourceFormatError) as caught:
        load_policy_file(path)
    assert (caught.value.line, caught.value.field, caught.value.value) == (4, "line", 'bad = "')
    assert caught.value.reason.startswith("malformed TOML: ")
    # On the first line too.
    path = raw_file(tmp_path, 'schema = "\n' + HEAD)
    with pytest.raises(SourceFormatError) as caught:
        load_policy_file(path)
    assert (caught.value.line, caught.value.field, caught.value.value) == (1, "line", 'schema = "')
    # An error at the end of the document names no line.
    path = raw_file(tmp_path, HEAD + "bad =")
    with pytest.raises(SourceFormatError) as caught:
        load_policy_file(path)
    assert (caught.value.line, caught.value.field, caught.value.value) == (None, None, None)
    assert caught.value.reason.startswith("malformed TOML: ")


def test_pending_versions_load_with_or_without_a_date(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        "arin",
        version_text("a"),
        version_text("b", effective="2020-01-01", status="pending"),
        version_text("c", effective=None, status="pending"),
    )
    assert [(v.version, v.status, v.effective) for v in policy.versions] == [
        ("a", Status.IN_FORCE, date(2020, 1, 1)),
        ("b", Status.PENDING, date(2020, 1, 1)),
        ("c", Status.PENDING, None),
    ]
    assert (policy.registry, policy.policy, policy.path) == (ARIN, "P", str(tmp_path / "arin.toml"))
    first = policy.versions[0]
    assert (first.document, first.ref) == ("doc a", "P@a")
    assert first.intra[Afi.IPV4] == Permission(True, "intra ipv4 a")
    assert first.outbound[Afi.ASN].registries == {
        RegistryId.AFRINIC,
        RegistryId.APNIC,
        RegistryId.LACNIC,
        RIPE,
    }
    assert first.inbound[Afi.IPV6].source == "inbound ipv6 a"
    # A version without a status is in force.
    plain = version_text("d").replace('status = "in-force"\n', "")
    assert load(tmp_path, "arin", plain).versions[0].status is Status.IN_FORCE


def rule_file(tmp_path: Path, rules: str) -> Path:
    return raw_file(tmp_path, HEAD + version_text("a", rules=rules))


@pytest.mark.parametrize(
    ("rules", "field", "value", "reason"),
    [
        (
            '[[version.min_size]]\ntypes = ["asn"]\nprefix = 24\nsource = "m"\n',
            "min_size[0].types",
            "['asn']",
            "a prefix length needs exactly one of ipv4, ipv6 as types",
        ),
        (
            '[[version.min_size]]\ntypes = []\nprefix = 24\nsource = "m"\n',
            "min_size[0].types",
            "[]",
            "must name at least one type",
        ),
        (
            '[[version.min_size]]\ntypes = ["ipx"]\nprefix = 24\nsource = "m"\n',
            "min_size[0].types[0]",
            "ipx",
            "must be one of ipv4, ipv6, asn",
        ),
        (
            '[[version.min_size]]\ntypes = ["ipv6"]\nprefix = 129\nsource = "m"\n',
            "min_size[0].prefix",
            "129",
            "must be between 0 and 128",
        ),
        (
            '[[version.min_size]]\ntypes = ["ipv4"]\nprefix = 24\nsize = 1\nsource = "m"\n',
            "min_size[0].size",
            "1",
            "unknown key (expected one of ['kinds', 'legs', 'prefix', 'source', 'types'])",
        ),
        (
            '[[version.hold]]\ntypes = ["ipv4"]\nafter = []\nmonths = 12\nsource = "h"\n',
            "hold[0].after",
            "[]",
            "must name at least one event kind",
        ),
        (
            '[[version.hold]]\ntypes = ["ipv4"]\nmonths = 12\nsource = "h"\n',
            "hold[0].after",
            "",
            "missing key",
        ),
        (
            '[[version.hold]]\ntypes = ["ipv4"]\nafter = ["gift"]\nmonths = 12\nsource = "h"\n',
            "hold[0].after[0]",
            "gift",
            "must be one of ['allocation', 'waitlist', 'transfer', 'merger', 'legacy']",
        ),
        (
            '[[version.hold]]\ntypes = ["ipv4"]\nafter = ["transfer"]\nmonths = 1201\n'
            'source = "h"\n',
            "hold[0].months",
            "1201",
            "must be between 1 and 1200",
        ),
        (
            '[[version.hold]]\ntypes = ["ipv4"]\nafter = ["transfer"]\nmonths = 12\n'
            'subject = "group"\nsource = "h"\n',
            "hold[0].subject",
            "group",
            "must be one of ['block', 'holder']",
        ),
        (
            '[[version.hold]]\ntypes = ["ipv4"]\nafter = ["transfer"]\nmonths = 12\n'
            'legs = ["inbound"]\nsource = "h"\n',
            "hold[0].legs",
            "['inbound']",
            "must be among ['intra', 'outbound']",
        ),
        (
            '[[version.hold]]\ntypes = ["ipv4"]\nafter = ["transfer"]\nmonths = 12\n'
            'exempt = ["friends"]\nsource = "h"\n',
            "hold[0].exempt[0]",
            "friends",
            "must be one of ['common_control']",
        ),
        (
            '[[version.hold]]\ntypes = ["ipv4"]\nafter = ["transfer"]\nmonths = 12\n'
            'within = ["10.0.0.0/33"]\nsource = "h"\n',
            "hold[0].within[0]",
            "10.0.0.0/33",
            "'10.0.0.0/33' does not appear to be an IPv4 or IPv6 network",
        ),
        (
            '[[version.hold]]\ntypes = ["ipv4"]\nafter = ["transfer"]\nmonths = 12\n'
            'within = [1]\nsource = "h"\n',
            "hold[0].within[0]",
            "1",
            "must be a string",
        ),
        (
            '[[version.origin]]\ntypes = ["ipv4"]\nlegs = ["inbound"]\nrefuse = ["legacy"]\n'
            'source = "o"\n',
            "origin[0].legs",
            "['inbound']",
            "must be among ['intra', 'outbound']",
        ),
        (
            '[[version.origin]]\ntypes = ["ipv4"]\nsource = "o"\n',
            "origin[0].allow",
            "",
            "an origin rule needs allow or refuse",
        ),
        (
            '[[version.counterpart]]\ntypes = ["ipv4"]\nrequire = ["reciprocal"]\n'
            'legs = ["intra"]\nsource = "c"\n',
            "counterpart[0].legs",
            "['intra']",
            "must be among ['inbound', 'outbound']",
        ),
    ],
)
def test_a_bad_rule_is_named(
    tmp_path: Path, rules: str, field: str, value: str, reason: str
) -> None:
    assert refusal(rule_file(tmp_path, rules)) == (f"version[a].{field}", value, reason)


def test_rules_load_what_they_say_and_their_defaults(tmp_path: Path) -> None:
    rules = """
[[version.min_size]]
types = ["ipv6"]
prefix = 128
source = "m"
[[version.min_size]]
types = ["ipv4"]
prefix = 0
legs = ["intra"]
kinds = ["merger"]
source = "m2"
[[version.hold]]
types = ["ipv4", "asn"]
after = ["transfer", "merger"]
months = 1200
subject = "holder"
within = ["10.0.0.0/8", "AS1-AS2"]
legs = ["outbound"]
kinds = ["merger", "transfer"]
exempt = ["common_control"]
source = "h"
[[version.hold]]
types = ["ipv6"]
after = ["allocation"]
months = 1
source = "h2"
[[version.origin]]
types = ["ipv4"]
allow = ["legacy"]
source = "o"
[[version.origin]]
types = ["asn"]
refuse = ["reserved", "legacy"]
legs = ["intra"]
kinds = ["merger"]
source = "o2"
"""
    version = load_policy_file(rule_file(tmp_path, rules)).versions[0]
    every = frozenset(Leg)
    source_legs = frozenset({Leg.INTRA, Leg.OUTBOUND})
    transfer = frozenset({TransferKind.TRANSFER})
    merger = frozenset({TransferKind.MERGER})
    assert version.min_size == (
        MinSize(frozenset({Afi.IPV6}), 128, every, transfer, "m"),
        MinSize(frozenset({Afi.IPV4}), 0, frozenset({Leg.INTRA}), merger, "m2"),
    )
    assert version.holds == (
        Hold(
            types=frozenset({Afi.IPV4, Afi.ASN}),
            within=(Resource.parse("10.0.0.0/8"), Resource.parse("AS1-AS2")),
            subject=Subject.HOLDER,
            after=frozenset({EventKind.TRANSFER, EventKind.MERGER}),
            months=1200,
            legs=frozenset({Leg.OUTBOUND}),
            kinds=transfer | merger,
            exempt=frozenset({"common_control"}),
            source="h",
        ),
        Hold(
            types=frozenset({Afi.IPV6}),
            within=(),
            subject=Subject.BLOCK,
            after=frozenset({EventKind.ALLOCATION}),
            months=1,
            legs=source_legs,
            kinds=transfer,
            exempt=frozenset(),
            source="h2",
        ),
    )
    assert version.origin == (
        OriginRule(
            frozenset({Afi.IPV4}),
            frozenset({Origin.LEGACY}),
            frozenset(),
            source_legs,
            transfer,
            "o",
        ),
        OriginRule(
            frozenset({Afi.ASN}),
            None,
            frozenset({Origin.RESERVED, Origin.LEGACY}),
            frozenset({Leg.INTRA}),
            merger,
            "o2",
        ),
    )
    assert version.needs == () and version.counterpart == ()


def test_a_minimum_size_after_one_for_another_family_binds(tmp_path: Path) -> None:
    rules = (
        '[[version.min_size]]\ntypes = ["ipv6"]\nprefix = 48\nsource = "m6"\n'
        '[[version.min_size]]\ntypes = ["ipv4"]\nprefix = 24\nsource = "m4"\n'
    )
    policies = one_registry(tmp_path, rules)
    decision = evaluate(request(ARIN, ARIN, "192.0.2.0/25"), policies)
    assert [(f.rule, f.section) for f in decision.failures] == [("min-size", "m4")]
    assert evaluate(request(ARIN, ARIN, "2001:db8::/48"), policies).allowed
    assert rules_of(evaluate(request(ARIN, ARIN, "2001:db8::/49"), policies)) == ["min-size"]


def test_every_needs_rule_that_binds_is_checked(tmp_path: Path) -> None:
    rules = (
        '[[version.needs]]\ntypes = ["asn"]\nsource = "N asn"\nfields = ["a"]\n'
        '[[version.needs]]\ntypes = ["ipv4"]\nsource = "N 1"\nfields = ["a"]\n'
        '[[version.needs]]\ntypes = ["ipv4"]\nsource = "N 2"\nfields = ["b"]\n'
    )
    policies = needs_registry(tmp_path, rules)
    decision = evaluate(request(), policies)
    assert [(f.section, f.missing) for f in decision.failures] == [("N 1", ("a",)), ("N 2", ("b",))]
    decision = evaluate(request(evidence={"a": True}), policies)
    assert [(f.section, f.missing) for f in decision.failures] == [("N 2", ("b",))]
