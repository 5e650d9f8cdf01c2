"""A small seeded mutator for the fixed-seed run in the test suite.

libFuzzer's mutator needs a running fuzzer, so the suite mutates the seed corpus itself with
the same kinds of edits (bit flips, interesting bytes, cuts, repeats, splices) and one it
rarely makes: deep nesting; the same seed
gives the same inputs on every machine, so a failure there is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

_INTERESTING = [
    b"\x00",
    b"\xff",
    b"\x7f",
    b"\x80",
    b"\n",
    b"|",
    b"<",
    b"&",
    b"{",
    b"[",
    b'"',
    b"-",
    b"0",
    b"9" * 12,
    b"\xc3",
    b"\x30\x82",
    b"\x02\x01\x00",
    b"\xa0\x03",
]


_NESTING = [b"[", b'{"a":', b"<a>", b"\x30\x80", b"\xa0\x80", b"-", b"(", b"\n"]


def _edit(rng: random.Random, data: bytes, seeds: Sequence[bytes]) -> bytes:
    buf = bytearray(data)
    at = rng.randrange(len(buf) + 1)
    kind = rng.randrange(8)
    if kind == 0 and buf:
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8)
    elif kind == 1 and buf:
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif kind == 2:
        buf[at:at] = rng.choice(_INTERESTING)
    elif kind == 3 and buf:
        del buf[at : at + rng.randrange(1, 64)]
    elif kind == 4 and buf:
        start = rng.randrange(len(buf))
        chunk = buf[start : start + rng.randrange(1, 32)]
        buf[at:at] = chunk * rng.randrange(1, 8)
    elif kind == 5:
        other = rng.choice(seeds)
        cut = rng.randrange(len(other) + 1)
        buf = buf[:at] + bytearray(other[cut:])
    elif kind == 6:
        buf = buf[: rng.randrange(len(buf) + 1)]
    else:  # deep nesting, which recursive parsers do not survive (libFuzzer rarely builds it)
        buf[at:at] = rng.choice(_NESTING) * rng.randrange(200, 1500)
    return bytes(buf)


def mutations(seeds: Sequence[bytes], count: int, seed: int, max_len: int) -> Iterator[bytes]:
    """`count` inputs, each a seed with one to four edits, no longer than `max_len`."""
    rng = random.Random(seed)
    pool = list(seeds) or [b""]
    for _ in range(count):
        data = rng.choice(pool)
        for _ in range(rng.randrange(1, 5)):
            data = _edit(rng, data, pool)
        yield data[:max_len]
