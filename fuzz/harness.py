"""What a fuzz target is and what counts as a failure.

A parser that meets bytes from the network or from a file an operator was sent must answer
with a value or with the project's own error, whose message says what was wrong; an
unexpected exception means a code path nobody thought about, which is where the next bug is.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

# The read-only real data beside the repository (../shared/data); seeds are taken from it when
# it is there and from objects the project builds itself in any case.
_BESIDE = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHARED_DATA = Path(os.environ.get("ONEREG_SHARED_DATA", _BESIDE))


class UnclearError(AssertionError):
    """The parser refused the input with its own error type but said nothing about why."""


@dataclass(frozen=True, slots=True)
class Target:
    """One parser entry point as the outside world reaches it."""

    name: str
    parse: Callable[[bytes], object]
    # the errors the entry point documents; anything else escaping is a crash
    allowed: tuple[type[BaseException], ...]
    seeds: Callable[[], Iterable[bytes]]
    max_len: int = 4096
    # words of the format (JSON keys, keywords) libFuzzer splices in whole (its -dict)
    tokens: tuple[bytes, ...] = ()

    def check(self, data: bytes) -> None:
        """Run the parser once; re-raise anything it is not allowed to raise."""
        try:
            self.parse(data)
        except self.allowed as exc:
            if not str(exc).strip():
                raise UnclearError(f"{self.name}: {type(exc).__name__} without a message") from exc


JSON_TOKENS = (
    b"{",
    b"}",
    b"[",
    b"]",
    b'""',
    b":",
    b",",
    b"null",
    b"true",
    b"false",
    b"-1",
    b"0",
    b"1E999",
    b"1.5",
    b'"\\u0000"',
)


def json_tokens(*keys: str) -> tuple[bytes, ...]:
    """JSON's punctuation and literals plus the format's keys, quoted."""
    return JSON_TOKENS + tuple(f'"{k}"'.encode() for k in keys)


def dictionary(tokens: tuple[bytes, ...]) -> str:
    """The tokens as a libFuzzer dictionary file (one quoted entry a line, bytes escaped)."""
    return "".join('"' + "".join(f"\\x{b:02x}" for b in t) + '"\n' for t in tokens)


def text(data: bytes) -> str:
    """Bytes as a server that decodes leniently would hand them on (invalid UTF-8 replaced)."""
    return data.decode("utf-8", errors="replace")


def real_file(relative: str, limit: int | None = None) -> list[bytes]:
    """A real data file's bytes (its first `limit` bytes), or nothing when the data is absent."""
    path = SHARED_DATA / relative
    if not path.is_file():
        return []
    data = path.read_bytes()
    return [data if limit is None else data[:limit]]


def real_lines(relative: str, count: int) -> list[bytes]:
    """The first `count` lines of a real text file (the header and the first records)."""
    path = SHARED_DATA / relative
    if not path.is_file():
        return []
    with path.open("rb") as handle:
        return [b"".join(line for _, line in zip(range(count), handle, strict=False))]


_SCRATCH: list[Path] = []


def temp_dir(prefix: str, base: Path | None = None) -> Path:
    """A private directory for this process, removed when it exits (libFuzzer ends a fuzzing
    process without Python's exit handlers, so the runner names a folder it removes itself)."""
    inside = os.environ.get("ONEREG_FUZZ_SCRATCH")
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=inside or base))
    atexit.register(shutil.rmtree, path, True)
    return path


def scratch_file(data: bytes, name: str) -> Path:
    """`data` written to `name` in this process's scratch directory, for parsers that take a
    path (they read files an operator downloaded); one directory per process, reused."""
    if not _SCRATCH:
        base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
        _SCRATCH.append(temp_dir("onereg-fuzz.", base))
    path = _SCRATCH[0] / name
    path.write_bytes(data)
    return path


def select(data: bytes, count: int) -> tuple[int, bytes]:
    """Split off the first byte as a choice among `count` parsers (0 for empty input)."""
    return (data[0] % count, data[1:]) if data else (0, b"")
