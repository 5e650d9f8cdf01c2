"""The audit's checks at their edges, on views built in memory (no nodes, no files).

Records that touch are not a conflict; records that share one address are, whether in two
registries or one, for AS numbers, IPv4 and IPv6 alike.  Both the fast path (two sorted lists)
and the sweep that names the pairs are pinned here.  Then authority against IANA's blocks: one
address into another registry's block, each origin, overclaimed and unclaimed space, special
purpose boundaries and the date notes."""

from __future__ import annotations

import ipaddress

import pytest

from onereg.audit.checks import (
    _has_overlap,
    check_authority,
    check_special_purpose,
    check_unclaimed,
    find_conflicts,
    listed_space,
    run_audit,
)
from onereg.audit.findings import AuditReport
from onereg.audit.view import AFIS, Family, FederationView, Recorded, RegistryView, Special
from onereg.core.intervals import IntervalSet
from onereg.core.registries import RegistryId
from onereg.core.resources import Afi, Resource
from onereg.federation.authority import AuthorityBlock, AuthorityMap, ErxIndex
from onereg.registry.sources.nro_lists import ErxTransfer

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


# --- authority, unclaimed, special purpose (IANA's blocks in memory) ---------------------------


def _block(
    start: int, end: int, holder: str, iana_status: str = "ALLOCATED", date: str = "20000101"
) -> AuthorityBlock:
    return AuthorityBlock("ipv4", start, end, holder, "allocated", iana_status, date, "test")


# 0-255 RIPE NCC's, 256-511 AFRINIC's, 512-767 IANA reserved, 768-1023 AFRINIC's LEGACY block.
BLOCKS = [
    _block(0, 255, "ripencc"),
    _block(256, 511, "afrinic", date="20200101"),
    _block(512, 767, "", "RESERVED"),
    _block(768, 1023, "afrinic", "LEGACY"),
]
# RIPE NCC: its own space, a record reaching one address into AFRINIC's block, one in IANA's
# reserved block, one in the legacy block, one on the ERX list.
RIPE_RECORDS: list[Record] = [
    ("ipv4", 0, 99),
    ("ipv4", 250, 256),
    ("ipv4", 300, 309),
    ("ipv4", 600, 609),
    ("ipv4", 800, 809),
]
ERX = ErxIndex([ErxTransfer(Resource(Afi.IPV4, 300, 319), RegistryId.RIPENCC, "s", "erx-list")])


def _authority_view(cross: list[Recorded] | None = None) -> FederationView:
    view = _view({RIPE: RIPE_RECORDS})
    view.authority = AuthorityMap(BLOCKS)
    view.rirs[RIPE].cross = cross or []
    view.specials = [Special("ipv4", 40, 49, "Test-Net", "RFC 0000")]
    return view


def _authority_report(view: FederationView) -> AuditReport:
    return run_audit(view, ERX, {("ipv4", 40, 45)})


def test_a_record_one_address_into_another_registrys_block_is_a_cross_holding() -> None:
    report = _authority_report(_authority_view())
    by_range = {c.range: c for c in report.cross_holdings}
    piece = by_range["0.0.1.0/32"]
    assert piece.afi == "ipv4"
    assert (piece.registry, piece.authority, piece.size, piece.origin) == (
        "ripencc",
        "afrinic",
        1,
        "inter-rir",
    )
    assert piece.record.startswith("ripencc 0.0.0.250-0.0.1.0 ")
    assert not piece.recorded


def test_cross_holdings_are_named_by_origin_erx_legacy_inter_rir() -> None:
    report = _authority_report(_authority_view())
    origins = {c.range: (c.origin, c.size) for c in report.cross_holdings}
    assert origins == {
        "0.0.1.0/32": ("inter-rir", 1),
        "0.0.1.44-0.0.1.53": ("erx", 10),
        "0.0.3.32-0.0.3.41": ("legacy", 10),
    }
    erx = next(c for c in report.cross_holdings if c.origin == "erx")
    assert erx.evidence == "ERX transfer to ripencc (erx-list)"
    summary = next(s for s in report.summaries if s.registry == "ripencc")
    assert summary.cross_by_origin == {"inter-rir": 1, "erx": 1, "legacy": 1}
    assert summary.unrecorded_cross == 3


def test_space_in_ianas_reserved_block_is_overclaimed_not_cross() -> None:
    report = _authority_report(_authority_view())
    [over] = report.overclaimed
    assert (over.registry, over.afi, over.range, over.size) == (
        "ripencc",
        "ipv4",
        "0.0.2.88-0.0.2.97",
        10,
    )
    assert over.record.startswith("ripencc 0.0.2.88-0.0.2.97 ")
    assert over.iana_block == BLOCKS[2].label()
    assert next(s for s in report.summaries if s.registry == "ripencc").overclaimed == 1


def test_a_cross_holding_recorded_in_the_log_is_marked_recorded() -> None:
    view = _authority_view([Recorded("ipv4", 256, 256, "afrinic", "inter-rir")])
    report = _authority_report(view)
    piece = next(c for c in report.cross_holdings if c.range == "0.0.1.0/32")
    assert piece.recorded and piece.origin == "inter-rir"
    assert next(s for s in report.summaries if s.registry == "ripencc").unrecorded_cross == 2


def test_the_logged_origin_wins_over_the_inferred_one_and_says_so() -> None:
    view = _authority_view([Recorded("ipv4", 800, 809, "afrinic", "inter-rir")])
    report = _authority_report(view)
    piece = next(c for c in report.cross_holdings if c.range == "0.0.3.32-0.0.3.41")
    assert piece.origin == "inter-rir" and piece.recorded
    assert piece.evidence == "origin recorded in the ripencc log; inferred here: legacy"


def test_unclaimed_is_every_gap_in_what_iana_granted_cut_along_its_blocks() -> None:
    report = _authority_report(_authority_view())
    got = [(u.registry, u.range, u.size, u.newer_than_file) for u in report.unclaimed]
    assert got == [
        ("afrinic", "0.0.1.1-0.0.1.43", 43, False),
        ("afrinic", "0.0.1.54-0.0.1.255", 202, False),
        ("afrinic", "0.0.3.0/27", 32, False),
        ("afrinic", "0.0.3.42-0.0.3.255", 214, False),
        ("ripencc", "0.0.0.100-0.0.0.249", 150, False),
    ]


def test_unclaimed_names_the_iana_block_and_its_date() -> None:
    report = _authority_report(_authority_view())
    first = report.unclaimed[0]
    assert (first.afi, first.iana_block, first.iana_date) == ("ipv4", BLOCKS[1].label(), "20200101")


def test_the_report_as_a_dict_says_whether_it_is_ok() -> None:
    clean = _audit({RIPE: [("ipv4", 0, 9)]}).to_dict()
    assert clean["ok"] is True and clean["conflicts"] == []
    dirty = _audit({RIPE: [("ipv4", 0, 9)], AFRINIC: [("ipv4", 9, 9)]}).to_dict()
    assert dirty["ok"] is False
    assert dirty["conflicts"][0]["overlap"] == "0.0.0.9/32"
    assert dirty["summaries"][0]["registry"] in ("ripencc", "afrinic")


def test_unclaimed_space_in_a_block_newer_than_the_file_is_marked() -> None:
    view = _authority_view()
    view.rirs[RIPE].as_of = "20100101"
    report = _authority_report(view)
    marks = {u.range: u.newer_than_file for u in report.unclaimed}
    assert marks["0.0.0.100-0.0.0.249"] is False  # RIPE's block dates from 2000
    # AFRINIC has no node: its as_of is unknown, so nothing is marked newer.
    assert marks["0.0.1.1-0.0.1.43"] is False
    assert next(s for s in report.summaries if s.registry == "ripencc").unclaimed == 1


def test_unclaimed_is_marked_newer_when_iana_granted_after_the_files_date() -> None:
    view = _authority_view()
    view.authority = AuthorityMap([*BLOCKS[:3], _block(768, 1023, "ripencc", date="20181014")])
    report = _authority_report(view)  # RIPE's file is of 20181013
    marks = {u.range: u.newer_than_file for u in report.unclaimed if u.registry == "ripencc"}
    assert marks == {
        "0.0.0.100-0.0.0.249": False,
        "0.0.3.0/27": True,
        "0.0.3.42-0.0.3.255": True,
    }


def test_held_records_on_special_purpose_space_are_reported_and_allowed_ones_marked() -> None:
    view = _authority_view()
    fam = view.rirs[RIPE].families["ipv4"]
    report = _authority_report(view)
    [sp] = report.special_purpose
    assert (sp.registry, sp.afi) == ("ripencc", "ipv4")
    assert sp.record == view.rirs[RIPE].label("ipv4", 0)
    assert sp.special == "0.0.0.40-0.0.0.49 Test-Net (RFC 0000)"
    assert not sp.allowed  # the allowed range is (40, 45), the piece is (40, 49)
    assert fam.starts[0] == 0


@pytest.mark.parametrize(
    ("records", "allowed", "expected"),
    [
        ([("ipv4", 0, 39)], set(), []),  # ends just before
        ([("ipv4", 50, 60)], set(), []),  # starts just after
        ([("ipv4", 0, 40)], set(), [False]),  # one address in, from before
        ([("ipv4", 49, 60)], set(), [False]),  # one address in, at the end
        ([("ipv4", 42, 43)], {("ipv4", 42, 43)}, [True]),  # inside, allowed exactly
        ([("ipv4", 0, 10), ("ipv4", 45, 45)], set(), [False]),  # only the second
    ],
)
def test_special_purpose_boundaries(
    records: list[Record], allowed: set[tuple[str, int, int]], expected: list[bool]
) -> None:
    view = _view({RIPE: records})
    view.specials = [Special("ipv4", 40, 49, "Test-Net", "RFC 0000")]
    report = AuditReport([], [], [], [], [], [], [])
    check_special_purpose(view, allowed, report)
    assert [s.allowed for s in report.special_purpose] == expected


def test_pool_records_on_special_purpose_space_are_not_reported() -> None:
    view = _view({RIPE: [("ipv4", 40, 49)]})
    view.rirs[RIPE].families["ipv4"].statuses[0] = "reserved"
    view.specials = [Special("ipv4", 40, 49, "Test-Net", "RFC 0000")]
    report = AuditReport([], [], [], [], [], [], [])
    check_special_purpose(view, set(), report)
    assert report.special_purpose == []


def test_check_authority_skips_the_registrys_own_blocks() -> None:
    view = _view({RIPE: [("ipv4", 0, 255)]})
    view.authority = AuthorityMap(BLOCKS)
    report = AuditReport([], [], [], [], [], [], [])
    check_authority(view, ErxIndex([]), report)
    assert report.cross_holdings == [] and report.overclaimed == []


def test_check_unclaimed_with_everything_listed_finds_nothing() -> None:
    view = _view({RIPE: [("ipv4", 0, 255)], AFRINIC: [("ipv4", 256, 511), ("ipv4", 768, 1023)]})
    view.authority = AuthorityMap(BLOCKS)
    report = AuditReport([], [], [], [], [], [], [])
    listed = {afi: IntervalSet() for afi in AFIS}
    listed["ipv4"] = IntervalSet.from_ranges([(0, 511), (768, 1023)])
    check_unclaimed(view, listed, report)
    assert report.unclaimed == []


def test_date_notes_name_newer_iana_registries_and_files_of_different_dates() -> None:
    view = _view({RIPE: [("ipv4", 0, 1)], AFRINIC: [("ipv4", 2, 3)]})
    view.rirs[AFRINIC].as_of = "20181016"
    view.iana_updated = {"ipv4": "20181020", "asn": "20181001"}
    report = run_audit(view)
    notes = " | ".join(report.notes)
    assert "updated up to 20181020" in notes and "as of 20181013, 20181016" in notes
    assert "registry files are of different dates (20181013, 20181016)" in notes


def test_no_date_notes_when_dates_agree_within_two_days_and_iana_is_older() -> None:
    view = _view({RIPE: [("ipv4", 0, 1)], AFRINIC: [("ipv4", 2, 3)]})
    view.rirs[AFRINIC].as_of = "20181015"
    view.iana_updated = {"ipv4": "20181013"}
    report = run_audit(view)
    assert not any("IANA registries are newer" in n or "different dates" in n for n in report.notes)


def test_files_three_days_apart_across_a_month_end_get_a_note() -> None:
    view = _view({RIPE: [("ipv4", 0, 1)], AFRINIC: [("ipv4", 2, 3)]})
    view.rirs[RIPE].as_of, view.rirs[AFRINIC].as_of = "20180930", "20181003"
    assert any("different dates" in n for n in run_audit(view).notes)


def test_unclaimed_space_granted_on_the_files_own_date_is_not_newer() -> None:
    view = _authority_view()
    view.authority = AuthorityMap([*BLOCKS[:3], _block(768, 1023, "ripencc", date="20181013")])
    report = _authority_report(view)
    assert not any(u.newer_than_file for u in report.unclaimed)


def test_conflicts_in_every_family_are_all_reported() -> None:
    report = _audit(
        {
            RIPE: [("asn", 1, 5), ("ipv4", 0, 10), ("ipv6", 0, 10)],
            AFRINIC: [("asn", 5, 9), ("ipv4", 10, 20), ("ipv6", 10, 20)],
        }
    )
    assert [c.afi for c in report.conflicts] == ["asn", "ipv4", "ipv6"]
    assert {s.registry: s.conflicts for s in report.summaries} == {"ripencc": 3, "afrinic": 3}


def test_summaries_carry_each_registrys_figures() -> None:
    view = _view({RIPE: [("asn", 1, 1), ("ipv4", 0, 255), ("ipv4", 512, 767)]})
    view.rirs[RIPE].source = "delegated-ripencc-extended-latest"
    view.rirs[RIPE].holders = 2
    view.rirs[RIPE].totals = {"ipv4": {"allocated": 512}}
    [summary] = run_audit(view).summaries
    assert (summary.registry, summary.source, summary.as_of) == (
        "ripencc",
        "delegated-ripencc-extended-latest",
        "20181013",
    )
    assert (summary.records, summary.holders) == (3, 2)
    assert summary.by_type == {"asn": 1, "ipv4": 2}
    assert summary.totals == {"ipv4": {"allocated": 512}}


def test_summaries_count_every_finding_of_their_registry() -> None:
    view = _view(
        {
            RIPE: [
                ("ipv4", 100, 110),
                ("ipv4", 256, 260),
                ("ipv4", 270, 280),
                ("ipv4", 600, 601),
                ("ipv4", 700, 701),
            ]
        }
    )
    view.authority = AuthorityMap(BLOCKS)
    report = run_audit(view)
    summary = next(s for s in report.summaries if s.registry == "ripencc")
    assert summary.cross_by_origin == {"inter-rir": 2}
    assert summary.overclaimed == 2
    assert summary.unclaimed == 2  # its own block 0-255 around 100-110
    assert summary.unrecorded_cross == 2


def test_run_audit_passes_the_allowed_special_purpose_ranges_on() -> None:
    view = _authority_view()
    allowed = run_audit(view, ERX, {("ipv4", 40, 49)}).special_purpose
    assert [s.allowed for s in allowed] == [True]
    assert [s.allowed for s in run_audit(view, ERX).special_purpose] == [False]


def test_the_note_without_an_iana_node_is_exact() -> None:
    report = _audit({RIPE: [("ipv4", 0, 9)]})
    assert report.notes == [
        "no IANA node: authority checks (cross-registry, overclaimed, unclaimed) were not run"
    ]


def test_date_notes_are_exact() -> None:
    view = _view({RIPE: [("ipv4", 0, 1)], AFRINIC: [("ipv4", 2, 3)]})
    view.rirs[AFRINIC].as_of = "20181016"
    view.iana_updated = {"ipv4": "20181020"}
    assert run_audit(view).notes == [
        "no IANA node: authority checks (cross-registry, overclaimed, unclaimed) were not run",
        "IANA registries are newer (updated up to 20181020) than the registry files (as of "
        "20181013, 20181016): space IANA granted after a file's date shows as unclaimed and is "
        "marked newer_than_file",
        "registry files are of different dates (20181013, 20181016): resources transferred "
        "between registries in between appear under both",
    ]


def test_the_date_spread_is_from_the_oldest_to_the_newest_file() -> None:
    view = _view({RIPE: [("ipv4", 0, 1)], AFRINIC: [("ipv4", 2, 3)], ARIN: [("ipv4", 4, 5)]})
    view.rirs[AFRINIC].as_of = "20181014"  # one day after RIPE's
    view.rirs[ARIN].as_of = "20181020"
    assert any("different dates (20181013, 20181014, 20181020)" in n for n in run_audit(view).notes)
