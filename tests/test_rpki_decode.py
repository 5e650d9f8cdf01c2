"""Decoding real RPKI objects (../shared/data/rpki) and refusing malformed ones cleanly."""

from __future__ import annotations

import contextlib
import csv
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onereg.core.intervals import IntervalSet
from onereg.core.resources import Afi
from onereg.rpki.der import (
    Aspa,
    Crl,
    Manifest,
    ResourceCert,
    Roa,
    RpkiDecodeError,
    Tal,
    decode_bytes,
    decode_cert,
    decode_file,
    decode_roa,
)
from onereg.rpki.resources import INHERIT
from onereg.rpki.show import show
from onereg.rpki.validate import _Rejected, verify_signature

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def rpki(shared_data: Path) -> Path:
    return shared_data / "rpki"


@pytest.fixture(scope="module")
def repo(rpki: Path) -> Path:
    return rpki / "rpki-rs-test-data" / "repository"


@pytest.fixture(scope="module")
def snapshot(rpki: Path) -> Path:
    return rpki / "ripe-rrdp-snapshot-2019-extracted"


def _snapshot_files(snapshot: Path) -> list[Path]:
    return sorted(p for p in snapshot.rglob("*") if p.is_file())


def test_ripe_ta_certificate(repo: Path, rpki: Path) -> None:
    ta = decode_file(repo / "ta.cer")
    assert isinstance(ta, ResourceCert)
    assert ta.subject == ta.issuer == "/CN=ripe-ncc-ta"
    assert ta.serial == 201 and ta.is_ca and ta.self_signed
    assert ta.key_usage == {"key_cert_sign", "crl_sign"}
    assert ta.not_before.isoformat() == "2017-11-28T14:39:55+00:00"
    assert ta.not_after.year == 2117
    assert ta.resources.asn == IntervalSet.from_ranges([(0, 2**32 - 1)])
    assert ta.resources.ipv4 == IntervalSet.from_ranges([(0, 2**32 - 1)])
    assert ta.resources.ipv6 == IntervalSet.from_ranges([(0, 2**128 - 1)])
    assert ta.manifest_uri == "rsync://rpki.ripe.net/repository/ripe-ncc-ta.mft"
    assert ta.ca_repository == "rsync://rpki.ripe.net/repository/"
    assert ta.notify_uri == "https://rrdp.ripe.net/notification.xml"
    assert ta.ski is not None and ta.ski.hex() == "e8552b1fd6d1a4f7e404c6d8e5680d1ebc163fc3"
    assert ta.problems == ()
    verify_signature(ta.spki_der, ta.signature, ta.tbs_der, ta.signature_algorithm)
    tal = decode_file(rpki / "tals" / "ripe.tal")
    assert isinstance(tal, Tal)
    assert tal.uris == (
        "https://rpki.ripe.net/ta/ripe-ncc-ta.cer",
        "rsync://rpki.ripe.net/ta/ripe-ncc-ta.cer",
    )
    assert tal.spki_der == ta.spki_der


def test_all_tals_decode(rpki: Path) -> None:
    tals = [decode_file(p) for p in sorted((rpki / "tals").glob("*.tal"))]
    assert len(tals) == 5
    assert all(isinstance(t, Tal) and t.uris and len(t.spki_der) > 250 for t in tals)


def test_member_ca_crl_and_manifests(repo: Path) -> None:
    ta = decode_cert((repo / "ta.cer").read_bytes())
    ca1 = decode_file(repo / "ca1.cer")
    assert isinstance(ca1, ResourceCert)
    assert ca1.aki == ta.ski and ca1.is_ca
    assert ca1.ca_repository == "rsync://rpki.ripe.net/repository/aca/"
    assert ca1.crldp_uri == "rsync://rpki.ripe.net/repository/ripe-ncc-ta.crl"
    verify_signature(ta.spki_der, ca1.signature, ca1.tbs_der, ca1.signature_algorithm)

    crl = decode_file(repo / "ta.crl")
    assert isinstance(crl, Crl)
    assert crl.number == 50 and len(crl.revoked) == 6 and crl.aki == ta.ski
    verify_signature(ta.spki_der, crl.signature, crl.tbs_der, crl.signature_algorithm)
    ca1_crl = decode_file(repo / "ca1.crl")
    assert isinstance(ca1_crl, Crl) and ca1_crl.number == 1702 and len(ca1_crl.revoked) == 163

    mft = decode_file(repo / "ta.mft")
    assert isinstance(mft, Manifest)
    assert mft.number == 50
    assert mft.this_update.isoformat() == "2019-02-26T13:14:44+00:00"
    assert mft.next_update.isoformat() == "2019-05-26T13:14:44+00:00"
    names = [f.name for f in mft.files]
    assert names == ["2a7dd1d787d793e4c8af56e197d4eed92af6ba13.cer", "ripe-ncc-ta.crl"]
    # The hashes on the manifest are those of the real files published with it.
    digests = {f.name: f.digest for f in mft.files}
    assert digests["ripe-ncc-ta.crl"] == hashlib.sha256((repo / "ta.crl").read_bytes()).digest()
    assert digests[names[0]] == hashlib.sha256((repo / "ca1.cer").read_bytes()).digest()
    assert mft.signed.ee.resources.ipv4 is INHERIT

    ca1_mft = decode_file(repo / "ca1.mft")
    assert isinstance(ca1_mft, Manifest) and ca1_mft.number == 1705
    assert {f.name for f in ca1_mft.files} >= {"Kn3R14fXk-TIr1bhl9Tu2Sr2uhM.crl"}
    crl_digest = next(f.digest for f in ca1_mft.files if f.name.endswith(".crl"))
    assert crl_digest == hashlib.sha256((repo / "ca1.crl").read_bytes()).digest()


def test_real_roa_is_ber_and_decodes(repo: Path) -> None:
    data = (repo / "example-ripe.roa").read_bytes()
    assert data[:2] == b"\x30\x80"  # indefinite length: BER, as SOURCES.md says
    roa = decode_roa(data)
    assert roa.asid == 209870
    assert [(p.afi, p.length, p.max_length) for p in roa.prefixes] == [(Afi.IPV6, 43, 43)]
    assert roa.prefixes[0].start == int.from_bytes(bytes.fromhex("2a0cb6420fc0") + bytes(10), "big")
    so = roa.signed
    assert so.message_digest == hashlib.sha256(so.econtent).digest()
    verify_signature(so.ee.spki_der, so.signature, so.signed_attrs_der, so.signature_algorithm)
    lines = show(repo / "example-ripe.roa")
    assert any("asID:" in line and "209870" in line for line in lines)
    assert any("2a0c:b642:fc0::/43 maxlen: 43" in line for line in lines)


def test_synthetic_aspa(repo: Path) -> None:
    aspa = decode_file(repo / "aspa-bm.asa")
    assert isinstance(aspa, Aspa)
    assert (aspa.customer, aspa.providers) == (65000, (65001, 65002))


def test_every_snapshot_object_decodes(snapshot: Path) -> None:
    files = _snapshot_files(snapshot)
    kinds: dict[str, int] = {}
    for path in files:
        obj = decode_file(path)
        kinds[path.suffix] = kinds.get(path.suffix, 0) + 1
        problems = getattr(obj, "problems", ())
        assert problems == (), (path, problems)
        show(path)
    assert len(files) == 275
    assert kinds == {".roa": 77, ".mft": 71, ".cer": 66, ".crl": 61}


def test_snapshot_roas_match_the_decoded_export(snapshot: Path, rpki: Path) -> None:
    """The 77 ROAs give exactly the 371 rows of vrp-exports (a decode, not a validation).

    The snapshot is cut down: the CA above the member CAs (the RIPE "DEFAULT" CA) and every
    complete publication point are missing, so no chain to the TA can be built.  Each ROA's own
    CMS signature and message digest are checked instead (none of the 77 ROAs' issuing member
    CAs is in the snapshot either, so the EE certificates cannot be checked against an issuer).
    """
    export = rpki / "vrp-exports" / "ripe-rrdp-snapshot-2019-roas-decoded.csv"
    with export.open() as fh:
        expected = {
            (row["ASN"], row["IP Prefix"], int(row["Max Length"]), row["URI"])
            for row in csv.DictReader(fh)
        }
    got = set()
    root = snapshot
    for path in sorted(snapshot.rglob("*.roa")):
        roa = decode_file(path)
        assert isinstance(roa, Roa)
        so = roa.signed
        assert so.message_digest == hashlib.sha256(so.econtent).digest()
        verify_signature(so.ee.spki_der, so.signature, so.signed_attrs_der, so.signature_algorithm)
        uri = "rsync://" + path.relative_to(root).as_posix()
        assert so.ee.signed_object_uri == uri
        for p in roa.prefixes:
            got.add(
                (f"AS{roa.asid}", _prefix(p.afi, p.start, p.length), p.effective_max_length, uri)
            )
    assert len(got) == 371
    assert got == expected


def _prefix(afi: Afi, start: int, length: int) -> str:
    from onereg.core.resources import format_number

    return f"{format_number(afi, start)}/{length}"


# --- bad input ------------------------------------------------------------------------------


def test_truncated_and_random_bytes_are_refused(repo: Path) -> None:
    for name in ("ta.cer", "ta.crl", "ta.mft", "example-ripe.roa", "aspa-bm.asa"):
        data = (repo / name).read_bytes()
        for cut in (0, 1, 2, 10, len(data) // 2, len(data) - 1):
            with pytest.raises(RpkiDecodeError):
                decode_bytes(data[:cut], name)
    with pytest.raises(RpkiDecodeError):
        decode_bytes(bytes(range(256)), "x.cer")
    with pytest.raises(RpkiDecodeError, match="eContentType is manifest, expected roa"):
        decode_bytes((repo / "ta.mft").read_bytes(), "x.roa")
    with pytest.raises(RpkiDecodeError):
        decode_bytes((repo / "ta.cer").read_bytes() + b"\x00", "ta.cer")  # trailing garbage


def test_flipped_signature_bit_fails_verification(repo: Path) -> None:
    roa = decode_file(repo / "example-ripe.roa")
    assert isinstance(roa, Roa)
    so = roa.signed
    bad = bytes([so.signature[0] ^ 1]) + so.signature[1:]
    with pytest.raises(_Rejected, match="does not verify"):
        verify_signature(so.ee.spki_der, bad, so.signed_attrs_der, so.signature_algorithm)


_REAL = [
    "ta.cer",
    "ta.crl",
    "ta.mft",
    "ca1.mft",
    "example-ripe.roa",
    "aspa-bm.asa",
]


def _real_bytes() -> dict[str, bytes]:
    base = Path(__file__).resolve().parents[2] / "shared" / "data" / "rpki"
    repo = base / "rpki-rs-test-data" / "repository"
    return {name: (repo / name).read_bytes() for name in _REAL}


_CACHE: dict[str, bytes] = {}


def _data(name: str) -> bytes:
    if not _CACHE:
        _CACHE.update(_real_bytes())
    return _CACHE[name]


@settings(max_examples=150)
@given(st.binary(max_size=400), st.sampled_from([".cer", ".crl", ".mft", ".roa", ".asa", ".sig"]))
def test_fuzz_random_bytes(data: bytes, suffix: str) -> None:
    with contextlib.suppress(RpkiDecodeError):
        decode_bytes(data, "x" + suffix)


@settings(max_examples=300)
@given(st.sampled_from(_REAL), st.lists(st.integers(min_value=0), min_size=1, max_size=4))
def test_fuzz_bit_flips_of_real_objects(name: str, flips: list[int]) -> None:
    data = bytearray(_data(name))
    for flip in flips:
        pos = flip % (len(data) * 8)
        data[pos // 8] ^= 1 << (pos % 8)
    with contextlib.suppress(RpkiDecodeError):
        decode_bytes(bytes(data), name)
