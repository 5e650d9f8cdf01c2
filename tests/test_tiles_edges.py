"""Tiles and entry bundles at their edges: exact rejections (a mirror reports them), a tiled
reader that refuses subtrees outside its tree, proofs at an explicit older size."""

from __future__ import annotations

import hashlib

import pytest

from onereg.ledger.merkle import MemoryHashStore, MerkleTree, leaf_hash
from onereg.ledger.tiles import (
    TileDataError,
    TiledReader,
    TileNotFoundError,
    TilePathError,
    changed_tiles,
    entry_bundle,
    parse_entries_path,
    parse_entry_bundle,
    parse_tile_path,
    tile_hashes,
    tile_path,
)

LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(600)]


def _reader(size: int) -> tuple[TiledReader, MemoryHashStore, list[str]]:
    store = MemoryHashStore(LEAVES[:size])
    fetched: list[str] = []

    def fetch(path: str) -> bytes:
        fetched.append(path)
        level, index, _width = parse_tile_path(path)
        return tile_hashes(store, level, index, size)

    return TiledReader(fetch, size), store, fetched


def test_a_bad_entries_path_names_the_path_and_the_form() -> None:
    with pytest.raises(TilePathError) as caught:
        parse_entries_path("tile/entries/abc")
    err = caught.value
    assert (err.path, err.reason) == (
        "tile/entries/abc",
        "not of the form tile/entries/<N>[.p/<W>]",
    )
    assert str(err) == "bad tile path 'tile/entries/abc': not of the form tile/entries/<N>[.p/<W>]"
    with pytest.raises(TilePathError) as caught:
        parse_entries_path("tile/entries/x000/001")
    assert caught.value.path == "tile/entries/x000/001"
    assert caught.value.reason == "index has a leading zero group"
    with pytest.raises(TilePathError) as caught:
        parse_entries_path("tile/entries/001.p/256")
    assert caught.value.path == "tile/entries/001.p/256"
    assert caught.value.reason == "partial width 256 is not below 256"
    assert parse_entries_path("tile/entries/x001/234.p/17") == (1234, 17)


def test_changed_tiles_refuses_a_shrinking_tree_by_name() -> None:
    with pytest.raises(ValueError, match=r"^sizes must satisfy 0 <= old \(5\) <= new \(4\)$"):
        list(changed_tiles(5, 4))
    assert list(changed_tiles(7, 7)) == []


def test_entry_bundles_hold_one_to_256_entries() -> None:
    for count in (0, 257):
        with pytest.raises(TileDataError) as caught:
            entry_bundle([b"x"] * count)
        assert str(caught.value) == f"an entry bundle holds 1..256 entries, not {count}"
    assert parse_entry_bundle(entry_bundle([b"a" * 300, b""])) == [b"a" * 300, b""]
    assert entry_bundle([b"a" * 300])[:2] == b"\x01\x2c"  # big-endian length


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "entry bundle is empty"),
        (b"\x00\x01a\x00", "entry bundle ends inside a length prefix at byte 3"),
        (b"\x00", "entry bundle ends inside a length prefix at byte 0"),
        (b"\x00\x05abc", "entry 0 claims 5 bytes, only 3 remain"),
        (b"\x00\x00\x01\x00ab", "entry 1 claims 256 bytes, only 2 remain"),
    ],
)
def test_a_broken_entry_bundle_is_named_exactly(data: bytes, message: str) -> None:
    with pytest.raises(TileDataError) as caught:
        parse_entry_bundle(data)
    assert str(caught.value) == message


def test_a_reader_of_a_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^tree size -1 is negative$"):
        TiledReader(lambda path: b"", -1)


def test_a_reader_names_a_tile_its_tree_does_not_have() -> None:
    reader, _, fetched = _reader(10)
    with pytest.raises(TileNotFoundError) as caught:
        reader.tile(0, 1)
    assert str(caught.value) == "a tree of size 10 has no tile 0/1"
    assert fetched == []


@pytest.mark.parametrize(("level", "index"), [(-1, 0), (0, -1), (0, 10), (1, 5), (2, 2), (4, 0)])
def test_a_reader_refuses_subtrees_outside_its_tree(level: int, index: int) -> None:
    reader, _, _ = _reader(10)
    with pytest.raises(KeyError) as caught:
        reader.get(level, index)
    assert caught.value.args == ((level, index),)


def test_a_reader_reads_every_subtree_inside_its_tree() -> None:
    reader, store, _ = _reader(300)
    for level, count in ((0, 300), (1, 150), (3, 37), (8, 1)):
        for index in (0, count - 1):
            assert reader.get(level, index) == store.get(level, index)


def test_a_reader_fetches_each_tile_once() -> None:
    reader, _, fetched = _reader(300)
    reader.root()
    reader.root()
    assert sorted(fetched) == [tile_path(0, 1, 44), tile_path(1, 0, 1)]


def test_reader_proofs_at_an_explicit_older_size_match_the_tree() -> None:
    reader, store, _ = _reader(300)
    tree = MerkleTree(store)
    assert reader.inclusion_proof(5, 100) == tree.inclusion_proof(5, 100)
    assert reader.inclusion_proof(5, 100) != reader.inclusion_proof(5)
    assert reader.consistency_proof(10, 100) == tree.consistency_proof(10, 100)
    assert reader.consistency_proof(10, 100) != reader.consistency_proof(10)
    assert reader.root(100) == tree.root(100)


def test_extend_returns_the_rows_of_each_append_in_order() -> None:
    one_by_one = MemoryHashStore()
    rows = [row for h in LEAVES[:5] for row in one_by_one.append(h)]
    together = MemoryHashStore()
    assert together.extend(LEAVES[:5]) == rows
    assert [(level, index) for level, index, _ in rows] == [
        (0, 0),
        (0, 1),
        (1, 0),
        (0, 2),
        (0, 3),
        (1, 1),
        (2, 0),
        (0, 4),
    ]
    assert together.extend([]) == []
    assert rows[2][2] == hashlib.sha256(b"\x01" + LEAVES[0] + LEAVES[1]).digest()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("tile/0/abc", "not of the form tile/<L>/<N>[.p/<W>]"),
        ("tile/64/000", "level 64 is above 63"),
        ("tile/0/x000/001", "index has a leading zero group"),
        ("tile/0/x018/x446/x744/x073/x709/x551/616", "index is larger than 2^64-1"),
        ("tile/0/001.p/256", "partial width 256 is not below 256"),
    ],
)
def test_a_bad_tile_path_names_the_path_and_the_reason(path: str, reason: str) -> None:
    with pytest.raises(TilePathError) as caught:
        parse_tile_path(path)
    assert (caught.value.path, caught.value.reason) == (path, reason)


def test_tile_paths_at_the_limits() -> None:
    assert tile_path(63, 0) == "tile/63/000"
    assert parse_tile_path("tile/63/x018/x446/x744/x073/x709/x551/615") == (63, 2**64 - 1, None)
    assert tile_path(0, 2**64 - 1, 255) == "tile/0/x018/x446/x744/x073/x709/x551/615.p/255"
    assert tile_path(0, 1, 256) == tile_path(0, 1) == "tile/0/001"
    for call, message in (
        (lambda: tile_path(64, 0), "tile level 64 is outside 0..63"),
        (lambda: tile_path(-1, 0), "tile level -1 is outside 0..63"),
        (lambda: tile_path(0, 2**64), "tile index 18446744073709551616 is outside 0..2^64-1"),
        (lambda: tile_path(0, -1), "tile index -1 is outside 0..2^64-1"),
        (lambda: tile_path(0, 0, 0), "tile width 0 is outside 1..256"),
        (lambda: tile_path(0, 0, 257), "tile width 257 is outside 1..256"),
    ):
        with pytest.raises(ValueError) as caught:
            call()
        assert str(caught.value) == message
