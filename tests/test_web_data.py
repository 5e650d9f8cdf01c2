"""The web explorer's data without a browser: reading queries, and cutting map tiles."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from onereg.core.resources import Afi, Resource
from onereg.federation.guard import Deadline
from onereg.rpki.routes import read_routes, read_vrps
from onereg.rpki.rov import validate_reference
from onereg.web.explore import QueryError, parse_query, signer_of
from onereg.web.rpkiview import PrefixIndex, RpkiView, overlapping
from onereg.web.tiles import (
    CELLS,
    LEGENDS,
    TRANSFER_PRIORITY,
    Coverage,
    Intervals,
    MapData,
    TileError,
    Touched,
)


def test_queries_read_as_resources_or_handles() -> None:
    assert parse_query(" 193.0.0.1 ") == Resource(Afi.IPV4, 0xC1000001, 0xC1000001)
    assert parse_query("193.0.0.0/21") == Resource.parse("193.0.0.0/21")
    assert parse_query("AS3333") == Resource(Afi.ASN, 3333, 3333)
    assert parse_query("ORG-RIEN1-RIPE") == "ORG-RIEN1-RIPE"
    assert parse_query("8c3f2df306a67e97") == "8c3f2df306a67e97"  # a hex opaque id


@pytest.mark.parametrize("bad", ["", "1.2.3.4.5", "193.0.0.300", "10.0.0.0/33", "a b", "x" * 101])
def test_a_bad_query_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(bad)
    assert bad.strip()[:50] in str(caught.value)


def test_who_stands_behind_each_kind_of_entry() -> None:
    assert signer_of("transfer.registered") == "holder agreement"
    assert signer_of("batch") == "registry import"
    assert signer_of("delegation.changed") == "registry action"


def _map() -> MapData:
    held = Intervals.of([(0x0A000000, 0x0A00FFFF, 2), (0x0A010000, 0x0A0100FF, 1)])
    base = Intervals.of([(0x0A000000, 0x0AFFFFFF, 3)])
    return MapData((1,), {"status": [held, base]})


def test_a_slash8_tile_has_one_cell_per_slash24_and_falls_back_to_lower_layers() -> None:
    tile = _map().tile("status", "10")
    assert len(tile) == CELLS
    assert tile[0] == 2 and tile[255] == 2  # 10.0.0.0/16: the first layer
    assert tile[256] == 1 and tile[257] == 3  # 10.1.0.0/24 held, 10.1.1.0/24 from the base
    assert set(_map().tile("status", "11")) == {0}


def test_the_whole_map_takes_the_majority_of_each_slash16() -> None:
    tile = _map().tile("status", "all")
    assert len(tile) == CELLS
    assert tile[10 << 8] == 2  # 10.0/16 all held
    assert tile[(10 << 8) + 1] == 3  # 10.1/16: one /24 held, the rest from the base
    assert tile[9 << 8] == 0


@pytest.mark.parametrize(("mode", "block"), [("colour", "all"), ("status", "256"), ("status", "x")])
def test_a_tile_that_does_not_exist_is_refused_naming_it(mode: str, block: str) -> None:
    with pytest.raises(TileError) as caught:
        _map().tile(mode, block)
    assert (mode if mode != "status" else block) in str(caught.value)


def test_rpki_coverage_gives_each_cell_its_covered_share() -> None:
    spans = [(0x0A000000, 0x0A0000FF), (0x0A000000, 0x0A00007F), (0x0A000100, 0x0A00017F)]
    firsts = np.array([s for s, _ in spans], dtype=np.int64)
    lasts = np.array([e for _, e in spans], dtype=np.int64)
    coverage = Coverage.of(firsts, lasts)
    assert list(coverage.starts) == [0x0A000000] and list(coverage.ends) == [0x0A00017F]
    tile = coverage.tile("rpki", "10")
    labels = [label for label, _ in LEGENDS["rpki"]]
    assert labels[tile[0]] == "all covered by VRPs"  # 10.0.0.0/24
    assert labels[tile[1]] == "50-74 % covered by VRPs"  # half of 10.0.1.0/24
    assert tile[2] == 0 and set(coverage.tile("rpki", "11")) == {0}
    whole = coverage.tile("rpki", "all")
    assert labels[whole[10 << 8]] == "under 25 % covered by VRPs"  # 384 of 65,536 addresses
    with pytest.raises(TileError, match="256"):
        coverage.tile("rpki", "256")


@pytest.fixture(scope="module")
def rpki_view(shared_data: Path) -> RpkiView:
    view = RpkiView(
        shared_data / "no-ca" / "ca.sqlite",
        shared_data / "rpki" / "vrp-exports" / "lacnic-roa-prefixes.csv",
        shared_data / "bgp" / "pyasn-data" / "ipasn_20140513.dat.gz",
    )
    assert view.routes_state() == "loading"
    view.start()
    assert view.wait_loaded(60)
    assert view.routes_state() == "loaded"
    return view


def test_rpki_lookup_states_match_rfc_6811_word_for_word(
    rpki_view: RpkiView, shared_data: Path
) -> None:
    every = read_vrps(shared_data / "rpki" / "vrp-exports" / "lacnic-roa-prefixes.csv")
    vrps = [
        (int(every.v4.asn[i]), every.v4.prefix(i), int(every.v4.extra[i]))
        for i in range(len(every.v4))
    ]
    checked = 0
    for asn, prefix, _ in vrps[:: len(vrps) // 40]:
        block = Resource.parse(prefix)
        answer = rpki_view.about(block, Deadline.after(10))
        assert any(v["prefix"] == prefix and v["asn"] == asn for v in answer["vrps"]), prefix
        routes = [(r["prefix"], r["origin"]) for r in answer["routes"]]
        for row, (state, _, _) in zip(
            answer["routes"], validate_reference(vrps, routes), strict=True
        ):
            assert row["state"] == str(state), (prefix, row)
            assert block.overlaps(Resource.parse(row["prefix"]))
        checked += len(routes)
    assert checked > 20  # real routes under real VRPs were judged
    by_as = rpki_view.about(Resource(Afi.ASN, vrps[0][0], vrps[0][0]), Deadline.after(10))
    assert vrps[0][1] in [v["prefix"] for v in by_as["vrps"]]
    assert all(r["origin"] == vrps[0][0] for r in by_as["routes"])


def test_ipv6_vrps_are_found_by_a_block_inside_or_around_them(rpki_view: RpkiView) -> None:
    cols = rpki_view.vrps(Deadline.after(5)).columns.v6
    prefix = Resource.parse(cols.prefix(0))
    inside = Resource(Afi.IPV6, prefix.start, prefix.start)
    around = Resource(Afi.IPV6, prefix.start & ~((1 << 100) - 1), prefix.end | ((1 << 100) - 1))
    assert cols.prefix(0) in {cols.prefix(int(i)) for i in overlapping(cols, inside)}
    assert 0 in set(overlapping(cols, around).tolist())
    after = Resource(Afi.IPV6, prefix.end + 1, prefix.end + 1)
    assert 0 not in set(overlapping(cols, after).tolist())


def test_transfer_activity_colours_any_cell_a_transfer_touched() -> None:
    rows = [
        (0x0A010000, 0x0A0100FF, 1),  # 10.1.0.0/24 moved within a registry this year
        (0x0A000000, 0x0A00FFFF, 2),  # 10.0.0.0/16 moved within a registry earlier
        (0x0A010080, 0x0A0100FF, 5),  # half of that /24 in flight again
    ]
    touched = Touched.of(rows, TRANSFER_PRIORITY)
    labels = [label for label, _ in LEGENDS["transfers"]]
    whole = touched.tile("transfers", "all")
    assert labels[whole[(10 << 8) + 1]] == "transfer in flight"  # a /24 shows in its /16
    assert labels[whole[10 << 8]] == "moved within a registry, earlier"
    assert whole[(10 << 8) + 2] == 0 and whole[(11 << 8) + 1] == 0
    tile = touched.tile("transfers", "10")
    assert labels[tile[256]] == "transfer in flight" and tile[257] == 0
    assert all(labels[c] == "moved within a registry, earlier" for c in tile[:256])


def test_the_prefix_index_finds_the_same_routes_as_a_full_scan(shared_data: Path) -> None:
    routes = read_routes(shared_data / "bgp" / "pyasn-data" / "ipasn_20140513.dat.gz").v4
    index = PrefixIndex(routes)
    rng = random.Random(6811)
    picks = [int(i) for i in rng.sample(range(len(routes)), 150)]
    blocks = [Resource.parse(routes.prefix(i)) for i in picks]  # exactly a route
    blocks += [Resource(Afi.IPV4, b.start + 1, b.start + 1) for b in blocks[:50]]  # inside one
    blocks += [Resource.parse(f"{b.start >> 24}.0.0.0/8") for b in blocks[:20]]  # around many
    blocks += [Resource(Afi.IPV4, 0, 0xFFFFFFFF), Resource.parse("0.0.0.0/32")]
    found = 0
    for block in blocks:
        fast = sorted(index.overlapping(block).tolist())
        assert fast == overlapping(routes, block).tolist(), block
        found += len(fast)
    assert found > len(blocks)  # real routes were found, not only empty answers
