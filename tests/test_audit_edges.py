"""The audit's uniqueness checks at their edges, on views built in memory (no nodes, no files).

Records that touch are not a conflict; records that share one address are, whether in two
registries or one, for AS numbers, IPv4 and IPv6 alike.  Both the fast path (two sorted lists)
and the sweep that names the pairs are pinned here."""

from __future__ import annotations

import ipaddress

import pytest

from onereg.audit.checks import _has_overlap, find_conflicts, listed_space, run_audit
from onereg.audit.findings import AuditReport
from onereg.audit.view import AFIS, Family, FederationView, RegistryView
from onereg.core.registries import RegistryId
from onereg.federation.authority import AuthorityMap

Record = tuple[str, int, int]  # afi, start, end


def v4(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def v6(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


def _view(records: dict[RegistryId, list[Record]]) -> FederationView:
    rirs: dict[RegistryId, RegistryView] = {}
    for rid, recs in records.items():
        families = {afi: Family() for afi in AFIS}
        for n, (afi, start, end) in enumerate(sorted(recs, key=lambda r: (r[0], r[1]))):
            fam = families[afi]
            fam.starts.append(start)
            fam.ends.append(end)
            fam.statuses.append("allocated")
            fam.holders.append(f"{rid.value[:1].upper()}{n}")
        rirs[rid] = RegistryView(rid, families, "20181013", "test", len(recs), {})
    return FederationView(rirs, AuthorityMap([]), [], {})


def _audit(records: dict[RegistryId, list[Record]]) -> AuditReport:
    return run_audit(_view(records))


RIPE, AFRINIC, ARIN = RegistryId.RIPENCC, RegistryId.AFRINIC, RegistryId.ARIN


# --- the fast path -----------------------------------------------------------------------------


def test_fast_path_sees_a_one_address_overlap() -> None:
    assert _has_overlap([0, 10], [10, 20])


def test_fast_path_lets_touching_intervals_pass() -> None:
    assert not _has_overlap([0, 11], [10, 20])


def test_fast_path_on_empty_and_single_lists_finds_nothing() -> None:
    assert not _has_overlap([], [])
    assert not _has_overlap([5], [5])


def test_listed_space_merges_every_registry_sorted() -> None:
    view = _view({RIPE: [("ipv4", 100, 199)], AFRINIC: [("ipv4", 0, 99), ("ipv4", 300, 300)]})
    assert listed_space(view, "ipv4") == ([0, 100, 300], [99, 199, 300], False)
    assert listed_space(view, "asn") == ([], [], False)


# --- touching is not overlapping ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("afi", "first", "second"),
    [
        ("ipv4", (v4("10.0.0.0"), v4("10.0.0.255")), (v4("10.0.1.0"), v4("10.0.1.255"))),
        ("asn", (64496, 64500), (64501, 64511)),
        (
            "ipv6",
            (v6("2001:db8::"), v6("2001:db8:0:ffff::") - 1),
            (v6("2001:db8:0:ffff::"), v6("2001:db8:1::") - 1),
        ),
    ],
)
def test_touching_records_in_two_registries_are_no_conflict(
    afi: str, first: tuple[int, int], second: tuple[int, int]
) -> None:
    report = _audit({RIPE: [(afi, *first)], AFRINIC: [(afi, *second)]})
    assert report.ok and report.conflicts == []


def test_touching_records_in_one_registry_are_no_conflict() -> None:
    report = _audit({RIPE: [("ipv4", 0, 9), ("ipv4", 10, 19), ("ipv4", 20, 20)]})
    assert report.ok and report.conflicts == []


# --- one shared address is a conflict ----------------------------------------------------------


def test_one_address_overlap_between_two_registries_is_reported() -> None:
    report = _audit(
        {
            RIPE: [("ipv4", v4("10.0.0.0"), v4("10.0.0.255"))],
            AFRINIC: [("ipv4", v4("10.0.0.255"), v4("10.0.1.255"))],
        }
    )
    assert not report.ok
    [conflict] = report.conflicts
    assert conflict.afi == "ipv4"
    assert conflict.overlap == "10.0.0.255/32" and conflict.size == 1
    assert conflict.first.startswith("ripencc 10.0.0.0/24 ")
    assert conflict.second.startswith("afrinic 10.0.0.255-10.0.1.255 ")
    assert not conflict.same_registry
    # both registries' summaries count it
    counts = {s.registry: s.conflicts for s in report.summaries}
    assert counts == {"ripencc": 1, "afrinic": 1}


def test_one_address_overlap_inside_one_registry_is_reported_as_same_registry() -> None:
    report = _audit({ARIN: [("ipv4", 100, 200), ("ipv4", 200, 300)]})
    [conflict] = report.conflicts
    assert conflict.size == 1 and conflict.same_registry
    assert conflict.first.startswith("arin ") and conflict.second.startswith("arin ")
    assert {s.registry: s.conflicts for s in report.summaries} == {"arin": 2}


def test_one_as_number_claimed_by_two_registries_is_reported() -> None:
    report = _audit({RIPE: [("asn", 64496, 64511)], AFRINIC: [("asn", 64511, 64520)]})
    [conflict] = report.conflicts
    assert (conflict.afi, conflict.overlap, conflict.size) == ("asn", "AS64511", 1)


def test_one_ipv6_address_claimed_by_two_registries_is_reported() -> None:
    end = v6("2001:db8:1::") - 1
    report = _audit(
        {RIPE: [("ipv6", v6("2001:db8::"), end)], AFRINIC: [("ipv6", end, v6("2001:db8:2::") - 1)]}
    )
    [conflict] = report.conflicts
    assert (conflict.afi, conflict.overlap, conflict.size) == (
        "ipv6",
        "2001:db8:0:ffff:ffff:ffff:ffff:ffff/128",
        1,
    )


def test_the_same_range_in_two_registries_is_one_conflict_of_its_full_size() -> None:
    report = _audit({RIPE: [("ipv4", 0, 255)], AFRINIC: [("ipv4", 0, 255)]})
    [conflict] = report.conflicts
    assert conflict.size == 256 and conflict.overlap == "0.0.0.0/24"
    # ties are broken by registry name, so the order is stable
    assert conflict.first.startswith("afrinic") and conflict.second.startswith("ripencc")


def test_a_record_covering_two_others_conflicts_with_each_and_they_not_with_each_other() -> None:
    report = _audit({RIPE: [("ipv4", 0, 99)], AFRINIC: [("ipv4", 10, 19), ("ipv4", 20, 29)]})
    overlaps = sorted((c.overlap, c.size) for c in report.conflicts)
    assert overlaps == [("0.0.0.10-0.0.0.19", 10), ("0.0.0.20-0.0.0.29", 10)]


def test_a_record_ending_before_the_next_starts_leaves_the_sweep() -> None:
    # [0, 9] must not be named against [10, 20] though it was active for [5, 9].
    view = _view({RIPE: [("ipv4", 0, 9), ("ipv4", 10, 20)], AFRINIC: [("ipv4", 5, 9)]})
    conflicts = find_conflicts(view, "ipv4")
    assert [(c.overlap, c.size) for c in conflicts] == [("0.0.0.5-0.0.0.9", 5)]


def test_conflicts_in_one_family_leave_the_others_clean() -> None:
    report = _audit(
        {RIPE: [("asn", 1, 1), ("ipv4", 0, 10)], AFRINIC: [("asn", 2, 2), ("ipv4", 10, 20)]}
    )
    assert [c.afi for c in report.conflicts] == ["ipv4"]


def test_no_iana_node_is_said_in_the_notes() -> None:
    report = _audit({RIPE: [("ipv4", 0, 9)]})
    assert any("no IANA node" in note for note in report.notes)
