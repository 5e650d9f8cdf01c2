"""The DER rules our relying party applies (`onereg.rpki.dercheck`), rule by rule, and proof
that real RPKI objects pass them (a DER check that refused real data would be worse than none)."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import cms

from onereg.rpki.dercheck import der_problem, econtent_problem

GOOD = bytes.fromhex("30080201050101ff0500")  # SEQUENCE { INTEGER 5, TRUE, NULL }


@pytest.mark.parametrize(
    ("der", "problem"),
    [
        (bytes.fromhex("308103020105"), "non-minimal length"),  # 0x81 for a short length
        (bytes.fromhex("30820003020105"), "non-minimal length"),  # leading zero length octet
        (bytes.fromhex("30800201050000"), "indefinite length"),
        (bytes.fromhex("24060401aa0401bb"), "constructed string"),  # BER OCTET STRING
        (bytes.fromhex("02020005"), "non-minimal INTEGER"),
        (bytes.fromhex("0202ff80"), "non-minimal INTEGER"),
        (bytes.fromhex("0200"), "empty INTEGER"),
        (bytes.fromhex("010101"), "is not 00 or FF"),
        (bytes.fromhex("3003010100"), "DEFAULT value encoded"),
        (bytes.fromhex("03020701"), "non-zero unused bits"),
        (bytes.fromhex("030108"), "unused-bit count"),
        (bytes.fromhex("050100"), "NULL with content"),
        (bytes.fromhex("06022a80"), "OBJECT IDENTIFIER"),
        (bytes.fromhex("3106020102020101"), "out of order"),
        (b"\x17\x0b" + b"2601011200Z", "UTCTime"),  # no seconds
        (b"\x18\x11" + b"20260101120000.0Z", "GeneralizedTime"),  # a trailing zero fraction
        (GOOD + b"\x00", "1 bytes after the value"),
        (bytes.fromhex("3005020105"), "runs past its container"),
    ],
)
def test_each_der_rule(der: bytes, problem: str) -> None:
    found = der_problem(der)
    assert found is not None and problem in found


def test_der_passes() -> None:
    assert der_problem(GOOD) is None
    assert der_problem(bytes.fromhex("3106020101020102")) is None  # sorted SET OF


def test_econtent_default_version() -> None:
    body = bytes.fromhex("3008a003020100020105")  # version [0] 0, then an INTEGER
    assert "DEFAULT" in (econtent_problem(body) or "")
    assert econtent_problem(bytes.fromhex("3008a003020101020105")) is None  # version 1
    assert econtent_problem(bytes.fromhex("3003020105")) is None


def _wrap(der: bytes) -> bytes:
    """`der` inside a SEQUENCE, with a DER length."""
    n = len(der)
    head = bytes([n]) if n < 0x80 else bytes([0x82]) + n.to_bytes(2, "big")
    if 0x80 <= n < 0x100:
        head = bytes([0x81, n])
    return b"\x30" + head + der


def test_nesting_is_bounded() -> None:
    deep = b"\x05\x00"
    for _ in range(100):
        deep = _wrap(deep)
    assert "nesting deeper" in (der_problem(deep) or "")


@pytest.mark.realdata
def test_real_objects_are_der_where_it_counts(shared_data: Path) -> None:
    """RIPE NCC's 2019 repository: certificates and CRLs are DER, and so are the parts of its
    signed objects that are signed or hashed (its CMS wrappers use BER indefinite lengths,
    which every relying party accepts and so do we)."""
    root = shared_data / "rpki" / "ripe-rrdp-snapshot-2019-extracted"
    counts = {".cer": 0, ".crl": 0, ".roa": 0, ".mft": 0}
    for path in root.rglob("*"):
        if path.suffix not in counts:
            continue
        counts[path.suffix] += 1
        data = path.read_bytes()
        if path.suffix in (".cer", ".crl"):
            assert der_problem(data) is None, path
            continue
        signed = cms.ContentInfo.load(data)["content"]
        ee = signed["certificates"][0].chosen.dump()
        attrs = signed["signer_infos"][0]["signed_attrs"].dump()
        econtent = signed["encap_content_info"]["content"].parsed.dump()
        assert der_problem(ee) is None, path
        assert der_problem(b"\x31" + attrs[1:]) is None, path
        assert econtent_problem(econtent) is None, path
    assert min(counts.values()) >= 50
