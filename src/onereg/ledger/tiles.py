"""C2SP tlog-tiles: publishing a node's Merkle tree as static, cacheable files.

Spec: https://c2sp.org/tlog-tiles (C2SP/C2SP, tlog-tiles.md). Instead of answering proof
requests, a log serves its tree as *tiles*: tile L/N holds up to 256 consecutive hashes at
Merkle level 8L, covering leaves [N * 256^(L+1), (N+1) * 256^(L+1)). Full tiles never change,
so any CDN or mirror can cache them forever, and a verifier computes every root and proof it
wants from them (TiledReader). The rightmost tile of each level is *partial* (width 1..255,
path suffix `.p/<W>`) until it fills. Entries are served alongside in bundles of up to 256,
each entry prefixed by its big-endian uint16 length.

Paths reach us from HTTP requests, so parsing accepts only the canonical spelling: one
resource has one URL (good for caches) and nothing odd reaches the storage layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from onereg.core.errors import OneregError
from onereg.ledger.merkle import HASH_SIZE, HashStore, MerkleTree, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes, 8,192 bytes in a full tile
MAX_TILE_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF  # a bundle's length prefix is a uint16
# Tree sizes (and so indices) are uint64 in checkpoints; nothing larger is a valid tile index.
MAX_INDEX = (1 << 64) - 1

_N = r"((?:x[0-9]{3}/)*[0-9]{3})"
_WIDTH = r"(?:\.p/([1-9][0-9]{0,2}))?"
_TILE_RE = re.compile(r"tile/(0|[1-9][0-9]?)/" + _N + _WIDTH)
_ENTRIES_RE = re.compile(r"tile/entries/" + _N + _WIDTH)


class TilePathError(OneregError, ValueError):
    """A tile or entry-bundle path is not in canonical tlog-tiles form."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"bad tile path {path!r}: {reason}")
        self.path = path
        self.reason = reason


class TileNotFoundError(OneregError, LookupError):
    """A tile that a tree of the given size does not have (empty or beyond its end)."""


class TileDataError(OneregError, ValueError):
    """Tile or entry-bundle bytes are malformed (wrong length, truncated, too many entries)."""


def _format_index(index: int) -> str:
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"tile index {index} is outside 0..2^64-1")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def _width_suffix(width: int | None) -> str:
    if width is None or width == TILE_WIDTH:
        return ""
    if not 1 <= width < TILE_WIDTH:
        raise ValueError(f"tile width {width} is outside 1..{TILE_WIDTH}")
    return f".p/{width}"


def tile_path(level: int, index: int, width: int | None = None) -> str:
    """`tile/<L>/<N>[.p/<W>]`; width None or 256 is a full tile."""
    if not 0 <= level <= MAX_TILE_LEVEL:
        raise ValueError(f"tile level {level} is outside 0..{MAX_TILE_LEVEL}")
    return f"tile/{level}/{_format_index(index)}{_width_suffix(width)}"


def entries_path(index: int, width: int | None = None) -> str:
    """`tile/entries/<N>[.p/<W>]`, the bundle matching level-0 tile N."""
    return f"tile/entries/{_format_index(index)}{_width_suffix(width)}"


def _parse_index(path: str, text: str) -> int:
    if text.startswith("x000/"):
        # Canonical form has no leading zero groups; "x000/001" would be a second URL for 001.
        raise TilePathError(path, "index has a leading zero group")
    index = int(text.replace("x", "").replace("/", ""))
    if index > MAX_INDEX:
        raise TilePathError(path, "index is larger than 2^64-1")
    return index


def _parse_width(path: str, text: str | None) -> int | None:
    if text is None:
        return None
    width = int(text)
    if width >= TILE_WIDTH:
        raise TilePathError(path, f"partial width {width} is not below {TILE_WIDTH}")
    return width


def parse_tile_path(path: str) -> tuple[int, int, int | None]:
    """(level, index, width or None for a full tile) from `tile/<L>/<N>[.p/<W>]`."""
    m = _TILE_RE.fullmatch(path)
    if m is None:
        raise TilePathError(path, "not of the form tile/<L>/<N>[.p/<W>]")
    level = int(m.group(1))
    if level > MAX_TILE_LEVEL:
        raise TilePathError(path, f"level {level} is above {MAX_TILE_LEVEL}")
    return level, _parse_index(path, m.group(2)), _parse_width(path, m.group(3))


def parse_entries_path(path: str) -> tuple[int, int | None]:
    """(index, width or None for a full bundle) from `tile/entries/<N>[.p/<W>]`."""
    m = _ENTRIES_RE.fullmatch(path)
    if m is None:
        raise TilePathError(path, "not of the form tile/entries/<N>[.p/<W>]")
    return _parse_index(path, m.group(1)), _parse_width(path, m.group(2))


def tile_width(level: int, index: int, tree_size: int) -> int:
    """How many hashes tile level/index has in a tree of tree_size leaves: 256 when full,
    1..255 when partial, 0 when the tree has no such tile (which must not be served).
    """
    if level < 0 or index < 0 or tree_size < 0:
        raise ValueError("tile level, index and tree size must be non-negative")
    hashes_at_level = tree_size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, hashes_at_level - index * TILE_WIDTH))


def changed_tiles(old_size: int, new_size: int) -> Iterator[tuple[int, int, int | None]]:
    """Every tile (level, index, width or None if full) that exists at new_size and did not,
    with that content, at old_size: what a log writes to publish new_size after old_size.

    Level-0 coordinates are also the entry bundles to write. From 0 to 70,000 this is 273 full
    and one partial (112) level-0 tiles, one full and one partial (17) level-1 tile and one
    partial (1) level-2 tile, as in the spec's example.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"sizes must satisfy 0 <= old ({old_size}) <= new ({new_size})")
    for level in range(MAX_TILE_LEVEL + 1):
        shift = TILE_HEIGHT * level
        new_count, old_count = new_size >> shift, old_size >> shift
        if new_count == old_count:
            # Nothing changed at this level, so nothing above it changed either.
            return
        for index in range(old_count // TILE_WIDTH, new_count // TILE_WIDTH):
            yield level, index, None
        if new_count % TILE_WIDTH:
            yield level, new_count // TILE_WIDTH, new_count % TILE_WIDTH


def tile_hashes(store: HashStore, level: int, index: int, tree_size: int) -> bytes:
    """The bytes of tile level/index for the tree of tree_size leaves (tree_size may be a past
    size of the store): the Merkle level-8L hashes it covers, concatenated.
    """
    if not 0 <= level <= MAX_TILE_LEVEL:
        raise TileNotFoundError(f"tile level {level} is outside 0..{MAX_TILE_LEVEL}")
    if tree_size > store.size():
        raise TileNotFoundError(
            f"tree size {tree_size} is beyond the log's current size {store.size()}"
        )
    width = tile_width(level, index, tree_size)
    if width == 0:
        raise TileNotFoundError(f"a tree of size {tree_size} has no tile {level}/{index}")
    merkle_level = TILE_HEIGHT * level
    first = index * TILE_WIDTH
    return b"".join(store.get(merkle_level, first + i) for i in range(width))


def entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Encode 1..256 entries as a tlog-tiles entry bundle."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise TileDataError(f"an entry bundle holds 1..{TILE_WIDTH} entries, not {len(entries)}")
    out = bytearray()
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise TileDataError(
                f"entry {i} is {len(entry)} bytes; a bundle entry holds at most {MAX_ENTRY_SIZE}"
            )
        out += len(entry).to_bytes(2, "big")
        out += entry
    return bytes(out)


def parse_entry_bundle(data: bytes) -> list[bytes]:
    """Decode an entry bundle; raise TileDataError if it is truncated, empty or too long."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise TileDataError(f"entry bundle ends inside a length prefix at byte {pos}")
        size = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + size > len(data):
            raise TileDataError(
                f"entry {len(entries)} claims {size} bytes, only {len(data) - pos} remain"
            )
        entries.append(bytes(data[pos : pos + size]))
        pos += size
        if len(entries) > TILE_WIDTH:
            raise TileDataError(f"entry bundle holds more than {TILE_WIDTH} entries")
    if not entries:
        raise TileDataError("entry bundle is empty")
    return entries


class TiledReader:
    """A HashStore backed by a remote log's tiles, plus roots and proofs computed from them.

    This is how a verifier or mirror that trusts only a signed checkpoint (size n, root r)
    checks a log: it fetches the tiles a computation needs, computes root(n) and compares it
    with r, and verifies every proof it derives against r. Tiles are not self-authenticating;
    they are trusted only through that comparison, so fetch may come from any mirror or cache.

    fetch maps a path such as `tile/0/x001/234.p/17` to its bytes; tiles are cached per reader.
    """

    def __init__(self, fetch: Callable[[str], bytes], tree_size: int) -> None:
        if tree_size < 0:
            raise ValueError(f"tree size {tree_size} is negative")
        self._fetch = fetch
        self._size = tree_size
        self._tiles: dict[tuple[int, int], bytes] = {}
        self.tree = MerkleTree(self)

    def size(self) -> int:
        return self._size

    def tile(self, level: int, index: int) -> bytes:
        """The tile's bytes at this reader's tree size, fetched once and length-checked."""
        key = (level, index)
        data = self._tiles.get(key)
        if data is None:
            width = tile_width(level, index, self._size)
            if width == 0:
                raise TileNotFoundError(f"a tree of size {self._size} has no tile {level}/{index}")
            path = tile_path(level, index, width)
            data = bytes(self._fetch(path))
            if len(data) != width * HASH_SIZE:
                raise TileDataError(
                    f"{path} is {len(data)} bytes, expected {width * HASH_SIZE} ({width} hashes)"
                )
            self._tiles[key] = data
        return data

    def get(self, level: int, index: int) -> bytes:
        """The perfect subtree (level, index): read from the tile at level // 8, hashing up
        the 2^(level % 8) tile hashes below it when it falls between tile levels.
        """
        if level < 0 or index < 0 or (index + 1) << level > self._size:
            raise KeyError((level, index))
        tile_level, sub = divmod(level, TILE_HEIGHT)
        first = index << sub  # position of its first hash at Merkle level 8 * tile_level
        data = self.tile(tile_level, first // TILE_WIDTH)
        offset = (first % TILE_WIDTH) * HASH_SIZE
        row = [
            data[i : i + HASH_SIZE] for i in range(offset, offset + (HASH_SIZE << sub), HASH_SIZE)
        ]
        while len(row) > 1:
            row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
        return row[0]

    def root(self, size: int | None = None) -> bytes:
        return self.tree.root(size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return self.tree.inclusion_proof(index, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        return self.tree.consistency_proof(old_size, new_size)
