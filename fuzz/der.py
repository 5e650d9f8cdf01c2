"""RPKI objects (DER certificates, CRLs, CMS signed objects: manifests, ROAs, ASPAs, RSCs) and
TALs, as a relying party reads them from any repository on the Internet.

Two targets: every decoder by file suffix (the first byte chooses the suffix), and a
differential one for the types with a hand-written fast path, which must never accept what the
asn1crypto decoder refuses nor answer differently (der.py promises they agree).
"""

from __future__ import annotations

import itertools

from fuzz.harness import SHARED_DATA, Target, select
from onereg.rpki import der
from onereg.rpki.der import RpkiDecodeError, decode_bytes

SUFFIXES = [".cer", ".crl", ".mft", ".roa", ".asa", ".sig", ".tal", ".gbr"]
_FAST = {".cer": der.decode_cert, ".roa": der.decode_roa, ".mft": der.decode_manifest}
_PER_TYPE = 12  # real objects of each type in the seed corpus


def _real_objects() -> list[tuple[str, bytes]]:
    roots = [
        SHARED_DATA / "rpki" / "rpki-rs-test-data" / "repository",
        SHARED_DATA / "rpki" / "ripe-rrdp-snapshot-2019-extracted",
        SHARED_DATA / "rpki" / "tals",
    ]
    found: list[tuple[str, bytes]] = []
    for suffix in SUFFIXES:
        paths = (p for root in roots if root.is_dir() for p in sorted(root.rglob(f"*{suffix}")))
        found += [(suffix, p.read_bytes()) for p in itertools.islice(paths, _PER_TYPE)]
    return found


def _project_objects() -> list[tuple[str, bytes]]:
    """A TA certificate and a ROA the project's own CA code builds (no real data needed)."""
    from fuzz.rpki_objects import built_objects

    return built_objects()


def _seeds() -> list[bytes]:
    return [
        bytes([SUFFIXES.index(suffix)]) + data
        for suffix, data in [*_real_objects(), *_project_objects()]
    ]


def _decode(data: bytes) -> object:
    choice, body = select(data, len(SUFFIXES))
    return decode_bytes(body, f"object{SUFFIXES[choice]}")


RPKI_OBJECT = Target("rpki_object", _decode, (RpkiDecodeError,), _seeds, 16384)


class FastPathDisagrees(AssertionError):
    """The fast decoder answered where asn1crypto refuses, or answered differently."""


def _fast_seeds() -> list[bytes]:
    suffixes = list(_FAST)
    return [
        bytes([suffixes.index(suffix)]) + data
        for suffix, data in [*_real_objects(), *_project_objects()]
        if suffix in _FAST
    ]


def _both(data: bytes) -> object:
    suffixes = list(_FAST)
    choice, body = select(data, len(suffixes))
    decoder = _FAST[suffixes[choice]]
    fast = decoder(body)  # the fast path where it answers, else asn1crypto
    der.FAST_PATH = False
    try:
        slow = decoder(body)
    except RpkiDecodeError as exc:
        raise FastPathDisagrees(f"fast path accepted what asn1crypto refuses: {exc}") from None
    finally:
        der.FAST_PATH = True
    if fast != slow:
        raise FastPathDisagrees(f"{suffixes[choice]}: the two decoders disagree")
    return fast


FAST_SLOW = Target("rpki_fast_slow", _both, (RpkiDecodeError,), _fast_seeds, 16384)

TARGETS = [RPKI_OBJECT, FAST_SLOW]
