"""C2SP tlog-tiles: paths, tile contents, entry bundles, and a verifier reading tiles.

Examples come from the spec, C2SP/C2SP tlog-tiles.md at commit
0ad71eb1f1b99acf18deb575978c9205e24860cc (index 1234067 -> x001/x234/067; the tiles of trees
of size 70,000 and 256), and from an independent implementation, transparency-dev's Tessera:
api/layout/paths_test.go in transparency-dev/trillian-tessera at commit
20357ba102596ab43d00349826c3de7baab56ae2 (TestEntriesPathForLogIndex, TestEntriesPath,
TestTilePath, TestParseTileLevelIndexWidth; there a width of 256 means a full tile, here None).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onereg.core.errors import ProofError
from onereg.ledger.merkle import (
    MemoryHashStore,
    MerkleTree,
    leaf_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)
from onereg.ledger.tiles import (
    MAX_ENTRY_SIZE,
    TILE_WIDTH,
    TileDataError,
    TiledReader,
    TileNotFoundError,
    TilePathError,
    changed_tiles,
    entries_path,
    entry_bundle,
    parse_entries_path,
    parse_entry_bundle,
    parse_tile_path,
    tile_hashes,
    tile_path,
    tile_width,
)

# --- paths -------------------------------------------------------------------------------------


def test_spec_example() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert parse_tile_path("tile/0/x001/x234/067") == (0, 1234067, None)


@pytest.mark.parametrize(
    ("level", "index", "tree_size", "want"),
    [
        (0, 0, 256, "tile/0/000"),
        (0, 0, 255, "tile/0/000.p/255"),
        (1, 0, 2**64 - 1, "tile/1/000"),
        (1, 0, 256, "tile/1/000.p/1"),
        (1, 0, 1024, "tile/1/000.p/4"),
        (15, 455667, 2**64 - 1, "tile/15/x455/667"),
        (3, 1234567, 2**64 - 1, "tile/3/x001/x234/567"),
        (15, 123456789, 2**64 - 1, "tile/15/x123/x456/789"),
    ],
)
def test_tile_path_tessera(level: int, index: int, tree_size: int, want: str) -> None:
    # Tessera passes the tree size; here the width it implies is computed first. Its
    # "level 15 in a tree of 2^64 - 1" rows are full tiles by construction.
    width = tile_width(level, index, tree_size) if level < 8 else None
    assert tile_path(level, index, width) == want


@pytest.mark.parametrize(
    ("index", "tree_size", "want"),
    [
        (0, 256, "tile/entries/000"),
        (255, 256, "tile/entries/000"),
        (251, 255, "tile/entries/000.p/255"),
        (256, 512, "tile/entries/001"),
        (256, 257, "tile/entries/001.p/1"),
        (123456789 * 256, 123456790 * 256, "tile/entries/x123/x456/789"),
    ],
)
def test_entries_path_for_leaf_tessera(index: int, tree_size: int, want: str) -> None:
    bundle = index // TILE_WIDTH
    assert entries_path(bundle, tile_width(0, bundle, tree_size)) == want


def test_entries_path_tessera() -> None:
    assert entries_path(0, tile_width(0, 0, 289)) == "tile/entries/000"
    assert entries_path(0, tile_width(0, 0, 8)) == "tile/entries/000.p/8"
    assert entries_path(255, tile_width(0, 255, 256 * 256)) == "tile/entries/255"
    # Tessera's row (255, 255 * 256 - 3) names a bundle beyond that tree; the width it means:
    assert entries_path(255, 253) == "tile/entries/255.p/253"
    assert entries_path(256, tile_width(0, 256, 257 * 256)) == "tile/entries/256"
    assert entries_path(123456789000) == "tile/entries/x123/x456/x789/000"
    assert parse_entries_path("tile/entries/x123/x456/x789/000") == (123456789000, None)
    assert parse_entries_path("tile/entries/255.p/253") == (255, 253)


@pytest.mark.parametrize(
    ("level", "index", "want"),
    [
        ("0", "x001/x234/067", (0, 1234067, None)),
        ("0", "x001/x234/067.p/89", (0, 1234067, 89)),
        ("63", "x999/x999/x999/x999/x999/999.p/255", (63, 999999999999999999, 255)),
        ("0", "001", (0, 1, None)),
    ],
)
def test_parse_tessera(level: str, index: str, want: tuple[int, int, int | None]) -> None:
    assert parse_tile_path(f"tile/{level}/{index}") == want


BAD_PATHS = [
    # Tessera's rejected rows
    "tile/0/x001/x234/067.p/",
    "tile/0/x001/x234/067.p",
    "tile/0/x001/x234/",
    "tile/0/x001/x234",
    "tile/0/x001/",
    "tile/0/x001",
    "tile/1/x001/.p/abc",
    "tile/64/x001/002",
    "tile/-1/x001/002",
    "tile/abc/x001/002",
    "tile/8/001/002",
    "tile/8/x001/0002",
    "tile/8/x001/-002",
    "tile/8/x001/002.p/256",
    # and more that an HTTP client could send
    "",
    "tile/0/",
    "/tile/0/000",
    "tile/0/000/",
    "tile//000",
    "tile/00/000",
    "tile/01/000",
    "tile/0/0",
    "tile/0/00",
    "tile/0/0000",
    "tile/0/x000/001",  # not canonical: a second URL for tile/0/001
    "tile/0/X001/000",
    "tile/0/000.p/0",
    "tile/0/000.p/010",
    "tile/0/000.p/-1",
    "tile/0/000.p/1/",
    "tile/0/000.p/1.p/2",
    "tile/0/000\n",
    "tile/0/\u0660\u0660\u0660",  # Arabic-Indic digits are digits to str.isdigit
    "tile/0/../000",
    "tile/0/x018/x446/x744/x073/x709/x551/616",  # 2^64
    "tile/entries/000",
    "tiles/0/000",
    "tile/0/000?x=1",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_malformed_tile_paths_rejected(path: str) -> None:
    with pytest.raises(TilePathError):
        parse_tile_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "tile/entries/",
        "tile/entries/0",
        "tile/entries/x000/000",
        "tile/entries/000.p/256",
        "tile/entries/000.p/0",
        "tile/0/000",
        "tile/entries/000/",
        "/tile/entries/000",
    ],
)
def test_malformed_entries_paths_rejected(path: str) -> None:
    with pytest.raises(TilePathError):
        parse_entries_path(path)


def test_largest_index() -> None:
    path = "tile/0/x018/x446/x744/x073/x709/x551/615"
    assert parse_tile_path(path) == (0, 2**64 - 1, None)
    assert tile_path(0, 2**64 - 1) == path


def test_bad_arguments_to_path_builders() -> None:
    for args in [(64, 0, None), (-1, 0, None), (0, -1, None), (0, 2**64, None), (0, 0, 0)]:
        with pytest.raises(ValueError):
            tile_path(*args)
    with pytest.raises(ValueError):
        entries_path(0, 257)
    assert tile_path(0, 7, 256) == tile_path(0, 7) == "tile/0/007"


@given(
    level=st.integers(0, 63),
    index=st.integers(0, 2**64 - 1),
    width=st.none() | st.integers(1, 255),
)
def test_path_round_trip(level: int, index: int, width: int | None) -> None:
    path = tile_path(level, index, width)
    assert parse_tile_path(path) == (level, index, width)
    assert parse_entries_path(entries_path(index, width)) == (index, width)


@settings(max_examples=300)
@given(st.text(alphabet="tile/0123456789x.p", max_size=30))
def test_parse_accepts_only_what_it_would_write(path: str) -> None:
    try:
        level, index, width = parse_tile_path(path)
    except TilePathError:
        return
    assert tile_path(level, index, width) == path


# --- which tiles a tree has --------------------------------------------------------------------


def test_spec_tile_counts() -> None:
    """A tree of 70,000: 273 full level-0 tiles and one of width 112, one full level-1 tile and
    one of width 17, and one level-2 tile of width 1. A tree of 256: a full level-0 tile and a
    level-1 tile of width 1.
    """
    tiles = list(changed_tiles(0, 70000))
    assert tiles == [
        *[(0, i, None) for i in range(273)],
        (0, 273, 112),
        (1, 0, None),
        (1, 1, 17),
        (2, 0, 1),
    ]
    assert list(changed_tiles(0, 256)) == [(0, 0, None), (1, 0, 1)]
    assert list(changed_tiles(0, 0)) == []
    assert tile_width(0, 273, 70000) == 112
    assert tile_width(0, 274, 70000) == 0
    assert tile_width(3, 0, 70000) == 0


def _all_tiles(size: int) -> dict[tuple[int, int], int]:
    tiles = {}
    for level in range(4):
        for index in range((size >> (8 * level)) // 256 + 1):
            width = tile_width(level, index, size)
            if width:
                tiles[(level, index)] = width
    return tiles


@given(old=st.integers(0, 200_000), grow=st.integers(0, 100_000))
def test_changed_tiles_are_exactly_the_new_or_wider_ones(old: int, grow: int) -> None:
    new = old + grow
    before, after = _all_tiles(old), _all_tiles(new)
    want = {
        (level, index, None if width == TILE_WIDTH else width)
        for (level, index), width in after.items()
        if before.get((level, index)) != width
    }
    got = list(changed_tiles(old, new))
    assert len(got) == len(set(got))
    assert set(got) == want


# --- tile contents -----------------------------------------------------------------------------

SIZE = 70000
HASHES = [leaf_hash(b"log entry %d" % i) for i in range(SIZE)]
STORE = MemoryHashStore(HASHES)
TREE = MerkleTree(STORE)


def _split(data: bytes) -> list[bytes]:
    assert len(data) % 32 == 0
    return [data[i : i + 32] for i in range(0, len(data), 32)]


def test_level0_tiles_hold_leaf_hashes() -> None:
    assert _split(tile_hashes(STORE, 0, 0, SIZE)) == HASHES[:256]
    assert _split(tile_hashes(STORE, 0, 5, SIZE)) == HASHES[5 * 256 : 6 * 256]
    partial = tile_hashes(STORE, 0, 273, SIZE)
    assert len(partial) == 112 * 32
    assert _split(partial) == HASHES[273 * 256 :]


def test_upper_tiles_hold_full_tile_roots() -> None:
    """Each hash in a level-1 tile is the MTH of a full tile at the level below."""
    level1 = _split(tile_hashes(STORE, 1, 0, SIZE))
    assert len(level1) == 256
    for j in (0, 1, 100, 255):
        assert level1[j] == root_from_leaves(_split(tile_hashes(STORE, 0, j, SIZE)))
        assert level1[j] == STORE.get(8, j)
    partial1 = _split(tile_hashes(STORE, 1, 1, SIZE))
    assert len(partial1) == 17
    assert partial1 == [STORE.get(8, 256 + j) for j in range(17)]
    level2 = _split(tile_hashes(STORE, 2, 0, SIZE))
    assert level2 == [root_from_leaves(HASHES[:65536])]


def test_tiles_at_a_past_size() -> None:
    # At 69,000 leaves tile 0/269 had 136 hashes: the same first 136 as now.
    past = tile_hashes(STORE, 0, 269, 69000)
    assert _split(past) == HASHES[269 * 256 : 269 * 256 + 136]
    assert tile_hashes(STORE, 0, 269, SIZE).startswith(past)


def test_tiles_a_tree_does_not_have() -> None:
    for level, index, size in [(0, 274, SIZE), (0, 273, 273 * 256), (3, 0, SIZE), (64, 0, SIZE)]:
        with pytest.raises(TileNotFoundError):
            tile_hashes(STORE, level, index, size)
    with pytest.raises(TileNotFoundError, match="beyond"):
        tile_hashes(STORE, 0, 0, SIZE + 1)


# --- entry bundles -----------------------------------------------------------------------------


def test_entry_bundle_format() -> None:
    assert entry_bundle([b"ab", b"", b"c"]) == b"\x00\x02ab\x00\x00\x00\x01c"
    assert parse_entry_bundle(b"\x00\x02ab\x00\x00\x00\x01c") == [b"ab", b"", b"c"]
    big = b"x" * MAX_ENTRY_SIZE
    assert parse_entry_bundle(entry_bundle([big])) == [big]


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=256))
def test_entry_bundle_round_trip(entries: list[bytes]) -> None:
    assert parse_entry_bundle(entry_bundle(entries)) == entries


@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=20), st.data())
def test_truncated_bundles_rejected(entries: list[bytes], data: st.DataObject) -> None:
    encoded = entry_bundle(entries)
    boundaries = {0}
    pos = 0
    for e in entries:
        pos += 2 + len(e)
        boundaries.add(pos)
    cut = data.draw(st.integers(1, len(encoded) - 1).filter(lambda c: c not in boundaries))
    with pytest.raises(TileDataError):
        parse_entry_bundle(encoded[:cut])


def test_bad_bundles() -> None:
    with pytest.raises(TileDataError):
        entry_bundle([])
    with pytest.raises(TileDataError):
        entry_bundle([b""] * 257)
    with pytest.raises(TileDataError, match="at most 65535"):
        entry_bundle([b"x" * (MAX_ENTRY_SIZE + 1)])
    with pytest.raises(TileDataError, match="empty"):
        parse_entry_bundle(b"")
    with pytest.raises(TileDataError, match="more than 256"):
        parse_entry_bundle(b"\x00\x00" * 257)
    with pytest.raises(TileDataError, match="claims 5 bytes"):
        parse_entry_bundle(b"\x00\x05abc")


def test_bundle_entries_hash_to_the_level0_tile() -> None:
    entries = [b"log entry %d" % i for i in range(256, 512)]
    bundle = parse_entry_bundle(entry_bundle(entries))
    assert [leaf_hash(e) for e in bundle] == _split(tile_hashes(STORE, 0, 1, SIZE))


# --- a verifier reading tiles ------------------------------------------------------------------


class Server:
    """Serves the tiles of one published tree size, as a static tlog-tiles site would."""

    def __init__(self, published: int) -> None:
        self.published = published
        self.fetched: list[str] = []

    def __call__(self, path: str) -> bytes:
        level, index, width = parse_tile_path(path)
        if tile_width(level, index, self.published) != (width or TILE_WIDTH):
            raise FileNotFoundError(path)
        self.fetched.append(path)
        return tile_hashes(STORE, level, index, self.published)


def test_reader_matches_tree_at_spec_size() -> None:
    server = Server(SIZE)
    reader = TiledReader(server, SIZE)
    assert reader.size() == SIZE
    root = reader.root()
    assert root == TREE.root() == root_from_leaves(HASHES)
    # The root of 70,000 needs one tile per level: 2/0.p/1, 1/001.p/17, 0/273.p/112.
    assert sorted(server.fetched) == ["tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1"]
    for index in (0, 255, 256, 65535, 65536, 69999):
        proof = reader.inclusion_proof(index)
        assert proof == TREE.inclusion_proof(index, SIZE)
        verify_inclusion(HASHES[index], index, SIZE, proof, root)
    for old in (1, 256, 12345, 65536, 69999):
        proof = reader.consistency_proof(old)
        assert proof == TREE.consistency_proof(old, SIZE)
        verify_consistency(old, SIZE, TREE.root(old), root, proof)
    # Tiles are fetched once each.
    assert len(server.fetched) == len(set(server.fetched))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), size=st.integers(1, SIZE))
def test_reader_proofs_verify(data: st.DataObject, size: int) -> None:
    server = Server(size)
    reader = TiledReader(server, size)
    root = TREE.root(size)
    assert reader.root() == root
    index = data.draw(st.integers(0, size - 1))
    proof = reader.inclusion_proof(index)
    assert proof == TREE.inclusion_proof(index, size)
    verify_inclusion(HASHES[index], index, size, proof, root)
    old = data.draw(st.integers(0, size))
    cproof = reader.consistency_proof(old)
    assert cproof == TREE.consistency_proof(old, size)
    verify_consistency(old, size, TREE.root(old), root, cproof)
    assert reader.root(old) == TREE.root(old)
    # A proof needs only a few tiles per level, never the whole log.
    assert len(server.fetched) <= 12


def test_reader_rejects_wrong_length_tiles() -> None:
    reader = TiledReader(lambda path: b"\x00" * 31, 300)
    with pytest.raises(TileDataError, match="is 31 bytes, expected 32"):
        reader.root()


def test_tampered_tiles_are_caught_by_the_checkpoint_root() -> None:
    """Tiles are trusted only through the signed root: a changed hash shows up as a root
    (or a proof) that does not match it.
    """
    size = 1000
    true_root = TREE.root(size)

    def lying_about(prefix: str) -> TiledReader:
        honest = Server(size)

        def fetch(path: str) -> bytes:
            data = bytearray(honest(path))
            if path.startswith(prefix):
                data[5] ^= 1
            return bytes(data)

        return TiledReader(fetch, size)

    # The root of 1,000 is read from tile 1/000.p/3 and tile 0/003.p/232.
    assert lying_about("tile/1/").root() != true_root
    assert lying_about("tile/0/003").root() != true_root
    # Tile 0/001 is not on the root's path, but a proof through it no longer verifies.
    reader = lying_about("tile/0/001")
    assert reader.root() == true_root
    proof = reader.inclusion_proof(300)
    with pytest.raises(ProofError):
        verify_inclusion(HASHES[300], 300, size, proof, true_root)


def test_reader_refuses_what_the_tree_does_not_have() -> None:
    reader = TiledReader(Server(1000), 1000)
    with pytest.raises(KeyError):
        reader.get(0, 1000)
    with pytest.raises(TileNotFoundError):
        reader.tile(0, 4)
    with pytest.raises(ValueError):
        TiledReader(Server(0), -1)
    assert TiledReader(Server(0), 0).root() == TREE.root(0)
