"""The web explorer's data without a browser: reading queries, and cutting map tiles."""

from __future__ import annotations

import pytest

from onereg.core.resources import Afi, Resource
from onereg.web.explore import QueryError, parse_query, signer_of
from onereg.web.tiles import CELLS, Intervals, MapData, TileError


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
