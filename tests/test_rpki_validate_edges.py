"""Edges of the relying party (`onereg.rpki.validate`) that the lab and the corpus leave out.

Exact refusal texts and counters (a BGPsec router certificate, chains that loop or are too deep,
bad TALs, trust anchor URIs in rsync-first order, several problems joined with "; ", more than
five unusable listed files), the ECDSA signature path, the order duplicate VRPs are kept in, and
the worker pool run in-process (a pool that runs each batch at once), so that the leaf checks
that normally run in worker processes are seen here.

Repositories are written piece by piece with the lab's generators (`test_rpki_validate.py`):
every publication point holds ``ca.mft`` and ``ca.crl``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, ParamSpec, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

import onereg.rpki.validate as validate_module
from onereg.rpki.der import Tal
from onereg.rpki.validate import ValidationResult, validate, validate_subtree, verify_signature
from test_rpki_validate import (
    ASPA_OID,
    GOOD,
    HOST,
    MFT_OID,
    NOW,
    OTHER_OK,
    ROA_OID,
    SIA_MFT,
    SIA_OBJ,
    SIA_REPO,
    WIDE_CA1,
    CertSpec,
    Lab,
    build,
    der_int,
    key,
    make_cert,
    make_signed,
    manifest_body,
    reasons,
    roa_body,
    seq,
    ski_of,
    tlv,
    vrp_set,
)

P = ParamSpec("P")
T = TypeVar("T")

ALL_IP = ["0.0.0.0/0", "::/0"]
ALL_AS = [(0, 2**32 - 1)]
TA_URI = f"{HOST}/ta/ta.cer"
TA_PP = f"{HOST}/repo/ta/"
DAY = timedelta(days=1)
UNKNOWN_1, UNKNOWN_2 = "1.3.6.1.4.1.32473.1", "1.3.6.1.4.1.32473.2"
TWO_UNKNOWN = f"unknown critical extension {UNKNOWN_1}; unknown critical extension {UNKNOWN_2}"

# --- writing a repository ---------------------------------------------------------------------


def mirror(tmp: Path) -> Path:
    return tmp / "mirror"


def put(tmp: Path, uri: str, data: bytes) -> Path:
    path = mirror(tmp) / uri.split("://", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def spki(k: rsa.RSAPrivateKey) -> bytes:
    return k.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_tal(tmp: Path, name: str, uris: list[str], k: rsa.RSAPrivateKey) -> Path:
    tal = tmp / f"{name}.tal"
    tal.write_text("\n".join(uris) + f"\n\n{base64.b64encode(spki(k)).decode()}\n")
    return tal


def ta_cert(k: rsa.RSAPrivateKey, pp: str = TA_PP, **kw: Any) -> bytes:
    spec = CertSpec(k, k, 1, True, ALL_IP, ALL_AS, sia=[(SIA_REPO, pp), (SIA_MFT, pp + "ca.mft")])
    for name, value in kw.items():
        setattr(spec, name, value)
    return make_cert(spec)


def ca_cert(
    subject: rsa.RSAPrivateKey,
    issuer: rsa.RSAPrivateKey,
    issuer_pp: str,
    pp: str | None,
    serial: int = 2,
    **kw: Any,
) -> bytes:
    """A CA certificate whose publication point is `pp` (None: no SIA at all)."""
    sia = [] if pp is None else [(SIA_REPO, pp), (SIA_MFT, pp + "ca.mft")]
    spec = CertSpec(
        subject,
        issuer,
        serial,
        True,
        ["10.0.0.0/8", "192.0.2.0/24"],
        [(64496, 64511)],
        sia=sia,
        aia=issuer_pp + "issuer.cer",
        crldp=issuer_pp + "ca.crl",
    )
    for name, value in kw.items():
        setattr(spec, name, value)
    return make_cert(spec)


def ee_cert(
    ee_key: rsa.RSAPrivateKey, issuer: rsa.RSAPrivateKey, pp: str, name: str, serial: int, **kw: Any
) -> bytes:
    spec = CertSpec(
        ee_key,
        issuer,
        serial,
        False,
        ["192.0.2.0/24"],
        sia=[(SIA_OBJ, pp + name)],
        aia=pp + "issuer.cer",
        crldp=pp + "ca.crl",
        not_after=NOW + 30 * DAY,
    )
    for attr, value in kw.items():
        setattr(spec, attr, value)
    return make_cert(spec)


def roa(
    issuer: rsa.RSAPrivateKey,
    pp: str,
    name: str,
    serial: int,
    asid: int = 64496,
    prefixes: list[tuple[str, int | None]] | None = None,
    *,
    sid: bytes | None = None,
    **ee: Any,
) -> bytes:
    prefixes = [("192.0.2.0/24", None)] if prefixes is None else prefixes
    cert = ee_cert(key(5), issuer, pp, name, serial, **ee)
    return make_signed(ROA_OID, roa_body(asid, prefixes), cert, key(5), sid=sid)


def make_crl(
    issuer: rsa.RSAPrivateKey, *, number: bool = True, aki: rsa.RSAPrivateKey | bool | None = True
) -> bytes:
    """The point's CRL; `number=False` leaves out cRLNumber, `aki` names another key or none."""
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ski_of(issuer).hex())]))
        .last_update(NOW - timedelta(minutes=5))
        .next_update(NOW + DAY)
    )
    if number:
        b = b.add_extension(x509.CRLNumber(1), critical=False)
    if aki is not False:
        named = issuer if aki is True or aki is None else aki
        b = b.add_extension(x509.AuthorityKeyIdentifier(ski_of(named), None, None), critical=False)
    return b.sign(issuer, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@dataclass
class Point:
    """One publication point: what its manifest lists, and what differs on disk."""

    uri: str
    key: rsa.RSAPrivateKey
    objects: dict[str, bytes] = field(default_factory=dict)
    crl: bytes | None = None
    mft_number: int = 1
    mft_ee_prefixes: list[str] | None = None  # None: inherit, as RFC 9286 wants
    mft_ee_crldp: str | None = None
    on_disk: dict[str, bytes | None] = field(default_factory=dict)  # None: not written

    def write(self, tmp: Path) -> None:
        listed = {**self.objects, "ca.crl": self.crl or make_crl(self.key)}
        ee = make_cert(
            CertSpec(
                key(2),
                self.key,
                100,
                False,
                self.mft_ee_prefixes,
                sia=[(SIA_OBJ, self.uri + "ca.mft")],
                aia=self.uri + "issuer.cer",
                crldp=self.mft_ee_crldp or self.uri + "ca.crl",
                not_after=NOW + DAY,
            )
        )
        body = manifest_body(self.mft_number, NOW - timedelta(minutes=5), NOW + DAY, listed)
        files: dict[str, bytes | None] = {
            **listed,
            "ca.mft": make_signed(MFT_OID, body, ee, key(2)),
        }
        files.update(self.on_disk)
        for name, data in files.items():
            if data is not None:
                put(tmp, self.uri + name, data)


def trust_anchor(tmp: Path, ta_objects: dict[str, bytes], name: str = "lab") -> Path:
    """The TA (key 0) at TA_URI with these objects on its point; returns its TAL."""
    put(tmp, TA_URI, ta_cert(key(0)))
    Point(TA_PP, key(0), ta_objects).write(tmp)
    return write_tal(tmp, name, [TA_URI], key(0))


def run_tal(tmp: Path, tal: Path, as_of: datetime = NOW) -> ValidationResult:
    return validate([tal], mirror(tmp), as_of)


def pp_of(name: str) -> str:
    return f"{HOST}/repo/{name}/"


# --- signatures -------------------------------------------------------------------------------

ECDSA_SHA256 = "1.2.840.10045.4.3.2"


def test_an_ecdsa_signature_verifies_and_a_wrong_one_does_not() -> None:
    """BGPsec keys are P-256 (RFC 8608): the ECDSA branch of `verify_signature`."""
    k = ec.generate_private_key(ec.SECP256R1())
    der = k.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    data = b"router key announcement"
    signature = k.sign(data, ec.ECDSA(hashes.SHA256()))
    verify_signature(der, signature, data, ECDSA_SHA256)  # no exception
    with pytest.raises(validate_module._Rejected) as refused:
        verify_signature(der, signature, data + b"!", ECDSA_SHA256)
    assert str(refused.value) == "signature does not verify"
    # An RSA signature, for contrast, verifies through the same function.
    r = key(0)
    verify_signature(
        spki(r),
        r.sign(data, padding.PKCS1v15(), hashes.SHA256()),
        data,
        "1.2.840.113549.1.1.11",
    )


def test_a_bad_or_unsupported_public_key_is_refused_by_name() -> None:
    with pytest.raises(validate_module._Rejected) as refused:
        verify_signature(b"\x30\x03\x02\x01\x00", b"sig", b"data", ECDSA_SHA256)
    assert str(refused.value).startswith("bad public key: ")
    assert len(str(refused.value)) > len("bad public key: ")
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    der = ed.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(validate_module._Rejected) as refused:
        verify_signature(der, b"sig", b"data", ECDSA_SHA256)
    assert str(refused.value) == "unsupported public key type Ed25519PublicKey"
    with pytest.raises(validate_module._Rejected) as refused:
        verify_signature(der, b"sig", b"data", "1.2.840.113549.1.1.5")
    assert str(refused.value) == "unsupported signature algorithm 1.2.840.113549.1.1.5"


# --- TALs and trust anchors -------------------------------------------------------------------


def test_a_bad_tal_is_counted_and_named_by_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tal"
    bad.write_text("ftp://127.0.0.1/ta.cer\n\nAAAA\n")
    result = validate([bad], mirror(tmp_path), NOW)
    assert [str(r) for r in result.rejections] == [
        f"{bad}: bad TAL: TAL URI 'ftp://127.0.0.1/ta.cer' is neither rsync nor https"
    ]
    assert result.counts == {"invalid_tals": 1, "vrps": 0, "unique_vrps": 0}
    missing = tmp_path / "missing.tal"
    result = validate([missing], mirror(tmp_path), NOW)
    assert [r.uri for r in result.rejections] == [str(missing)]
    assert result.rejections[0].reason.startswith("bad TAL: ")
    assert result.counts["invalid_tals"] == 1


def test_ta_uris_are_tried_rsync_first(tmp_path: Path) -> None:
    """The TAL lists an https copy first; the rsync copy is read first (RFC 8630 leaves the
    order to the relying party, rpki-client prefers rsync when it has no RRDP)."""
    trust_anchor(tmp_path, {})
    # The https copy is a certificate with another key: taken first, it would refuse the TA.
    put(tmp_path, "https://tahost/ta.cer", ta_cert(key(1)))
    tal = write_tal(tmp_path, "lab", ["https://tahost/ta.cer", TA_URI], key(0))
    result = run_tal(tmp_path, tal)
    assert result.rejections == ()
    assert result.counts["tals"] == 1 and result.counts["manifests"] == 1
    # With only the https copy listed, that copy is the one judged.
    only_https = write_tal(tmp_path, "https", ["https://tahost/ta.cer"], key(0))
    result = run_tal(tmp_path, only_https)
    assert reasons(result) == {
        "https://tahost/ta.cer": "trust anchor refused: the certificate's key is not the TAL's key"
    }


def test_an_unreadable_ta_uri_falls_through_to_the_next(tmp_path: Path) -> None:
    trust_anchor(tmp_path, {})
    https = TA_URI.replace("rsync://", "https://")  # the same mirror path
    tal = write_tal(tmp_path, "lab", [f"{HOST}/nowhere.cer", https], key(0))
    result = run_tal(tmp_path, tal)
    assert result.rejections == ()
    assert result.counts["tals"] == 1 and result.counts["certificates"] == 1


def test_no_readable_copy_of_the_ta_names_every_uri_tried(tmp_path: Path) -> None:
    root = mirror(tmp_path).resolve()
    root.mkdir(parents=True)
    uris = [f"{HOST}/a.cer", f"{HOST}/b.cer"]
    result = run_tal(tmp_path, write_tal(tmp_path, "lab", uris, key(0)))
    missing = "No such file or directory"
    assert reasons(result) == {
        uris[0]: "trust anchor refused: no copy of the TA certificate in the mirror: "
        f"cannot read {root}/127.0.0.1/a.cer: {missing}; "
        f"cannot read {root}/127.0.0.1/b.cer: {missing}"
    }
    assert result.counts["invalid_certificates"] == 1


def test_unsafe_ta_uris_are_not_read(tmp_path: Path) -> None:
    trust_anchor(tmp_path, {})
    (mirror(tmp_path) / "127.0.0.1" / "a").mkdir()
    put(tmp_path, f"{HOST}/ta/X", ta_cert(key(0)))
    uris = [
        f"{HOST}/a/../ta/ta.cer",  # ".." (would reach the TA through a/..)
        f"{HOST}/./ta/ta.cer",  # "."
        f"{HOST}/ta//X",  # an empty segment before a last one
        "https://",  # nothing at all
    ]
    result = run_tal(tmp_path, write_tal(tmp_path, "lab", uris, key(0)))
    assert reasons(result) == {
        uris[0]: "trust anchor refused: no copy of the TA certificate in the mirror: "
        + "; ".join(f"unsafe URI {u!r}" for u in uris)
    }


def test_a_ta_with_two_problems_names_both(tmp_path: Path) -> None:
    put(tmp_path, TA_URI, ta_cert(key(0), unknown_critical=(UNKNOWN_1, UNKNOWN_2)))
    result = run_tal(tmp_path, write_tal(tmp_path, "lab", [TA_URI], key(0)))
    assert reasons(result) == {TA_URI: f"trust anchor refused: {TWO_UNKNOWN}"}


def test_a_ta_with_empty_resource_extensions_is_refused(tmp_path: Path) -> None:
    put(tmp_path, TA_URI, ta_cert(key(0), prefixes=[], asns=[]))
    result = run_tal(tmp_path, write_tal(tmp_path, "lab", [TA_URI], key(0)))
    assert reasons(result) == {TA_URI: "trust anchor refused: a trust anchor without resources"}


class _RecordingHook:
    def __init__(self) -> None:
        self.tals: list[tuple[str, ...]] = []
        self.points: list[str | None] = []

    def trust_anchor(self, tal: Tal) -> Path | None:
        self.tals.append(tal.uris)
        return None

    def publication_point(self, cert: Any) -> Path | None:
        self.points.append(cert.manifest_uri)
        return None


def test_the_hook_is_given_the_tal_and_each_ca_certificate(tmp_path: Path) -> None:
    tal = build(tmp_path, Lab(ca1_prefixes=WIDE_CA1))
    hook = _RecordingHook()
    result = validate([tal], mirror(tmp_path), NOW, hook=hook)
    assert vrp_set(result) == GOOD | {OTHER_OK}
    assert hook.tals == [(TA_URI,)]
    assert hook.points == [f"{HOST}/repo/ta/ta.mft", f"{HOST}/repo/ca1/ca1.mft"]


# --- certificates below a CA ------------------------------------------------------------------


def chain(tmp: Path) -> Path:
    """TA (key 0) -> c1 (13) -> c2 (14) -> c3 (15), each point with a ROA of its own AS.

    c1's point also holds `loopta.cer` (key 0 again), c2's `loop1.cer` (key 13 again): chains
    that come back to a key already on them. Neither loop certificate's point exists.
    """
    k0, k1, k2, k3 = key(0), key(13), key(14), key(15)
    p0, p1, p2, p3 = TA_PP, pp_of("c1"), pp_of("c2"), pp_of("c3")
    Point(p3, k3, {"r3.roa": roa(k3, p3, "r3.roa", 30, 64503)}).write(tmp)
    Point(
        p2,
        k2,
        {
            "c3.cer": ca_cert(k3, k2, p2, p3, 3),
            "loop1.cer": ca_cert(k1, k2, p2, pp_of("loop1"), 4),
            "r2.roa": roa(k2, p2, "r2.roa", 20, 64502),
        },
    ).write(tmp)
    Point(
        p1,
        k1,
        {
            "c2.cer": ca_cert(k2, k1, p1, p2, 5),
            "loopta.cer": ca_cert(k0, k1, p1, pp_of("loopta"), 6),
            "r1.roa": roa(k1, p1, "r1.roa", 10, 64501),
        },
    ).write(tmp)
    return trust_anchor(tmp, {"c1.cer": ca_cert(k1, k0, p0, p1, 7)})


LOOP = "certificate chain loops back to a key already on it"


def asns(result: ValidationResult) -> list[int]:
    return sorted(v.asn for v in result.vrps)


def test_chains_that_loop_or_go_deeper_than_max_depth_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validate_module, "MAX_DEPTH", 3)
    result = run_tal(tmp_path, chain(tmp_path))
    # TA depth 0, c1 1, c2 2: c3 would be 3.
    assert asns(result) == [64501, 64502]
    assert reasons(result) == {
        pp_of("c1") + "loopta.cer": LOOP,
        pp_of("c2") + "loop1.cer": LOOP,
        pp_of("c2") + "c3.cer": "chain deeper than 3",
    }
    assert result.counts["invalid_certificates"] == 3
    assert result.counts["certificates"] == 3
    monkeypatch.setattr(validate_module, "MAX_DEPTH", 4)
    result = run_tal(tmp_path, chain(tmp_path))
    assert asns(result) == [64501, 64502, 64503]
    assert set(reasons(result)) == {pp_of("c1") + "loopta.cer", pp_of("c2") + "loop1.cer"}


def test_a_subtree_starts_at_depth_zero_with_its_own_key_on_the_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validate_module, "MAX_DEPTH", 3)
    chain(tmp_path)
    c1 = mirror(tmp_path) / "127.0.0.1" / "repo" / "ta" / "c1.cer"
    result = validate_subtree(c1, mirror(tmp_path), NOW)
    # c1 depth 0, c2 1, c3 2; key 0 is not on this chain, key 13 (c1's) is.
    assert asns(result) == [64501, 64502, 64503]
    assert reasons(result) == {
        pp_of("loopta") + "ca.mft": "publication point unusable: cannot read "
        f"{mirror(tmp_path).resolve()}/127.0.0.1/repo/loopta/ca.mft: No such file or directory",
        pp_of("c2") + "loop1.cer": LOOP,
    }
    assert result.counts["certificates"] == 4


def test_a_subtree_start_without_a_publication_point_is_named_by_its_path(
    tmp_path: Path,
) -> None:
    start = tmp_path / "start.cer"
    start.write_bytes(ca_cert(key(13), key(0), TA_PP, None))
    result = validate_subtree(start, mirror(tmp_path), NOW)
    assert [str(r) for r in result.rejections] == [
        f"{start}: CA certificate without rpkiManifest or caRepository"
    ]
    assert result.counts["failed_pp"] == 1 and result.counts["certificates"] == 1


def test_a_ca_repository_is_compared_up_to_its_trailing_slash_only(tmp_path: Path) -> None:
    k0, k1 = key(0), key(13)
    objects = {}
    for serial, name in enumerate(("boX", "slash"), start=2):
        pp = pp_of(name)
        Point(pp, k1, {"r.roa": roa(k1, pp, "r.roa", 10 + serial, 64500 + serial)}).write(tmp_path)
        # caRepository without its trailing slash for "slash": the manifest is still inside.
        repo = pp if name == "boX" else pp.rstrip("/")
        objects[f"{name}.cer"] = ca_cert(
            k1, k0, TA_PP, None, serial, sia=[(SIA_REPO, repo), (SIA_MFT, pp + "ca.mft")]
        )
    result = run_tal(tmp_path, trust_anchor(tmp_path, objects))
    assert result.rejections == ()
    assert asns(result) == [64502, 64503]


def test_certificates_a_ca_point_may_not_hold(tmp_path: Path) -> None:
    k0, k1 = key(0), key(13)
    p1 = pp_of("c1")
    http = "http://127.0.0.1/repo/http/"
    objects = {
        "router.cer": ee_cert(key(16), k1, p1, "router.cer", 40),  # a BGPsec router key
        "nomft.cer": ca_cert(key(16), k1, p1, None, 41, sia=[(SIA_REPO, pp_of("nomft"))]),
        "nosia.cer": ca_cert(key(16), k1, p1, None, 42),
        "twoprob.cer": ca_cert(
            key(16), k1, p1, pp_of("two"), 43, unknown_critical=(UNKNOWN_1, UNKNOWN_2)
        ),
        "http.cer": ca_cert(
            key(16), k1, p1, None, 44, sia=[(SIA_REPO, http), (SIA_MFT, http + "ca.mft")]
        ),
        "r1.roa": roa(k1, p1, "r1.roa", 45, 64501),
    }
    Point(p1, k1, objects).write(tmp_path)
    result = run_tal(tmp_path, trust_anchor(tmp_path, {"c1.cer": ca_cert(k1, k0, TA_PP, p1)}))
    assert asns(result) == [64501]
    assert reasons(result) == {
        p1 + "router.cer": "EE certificates (BGPsec router keys) are not supported here",
        p1 + "nomft.cer": "CA certificate without rpkiManifest or caRepository",
        p1 + "nosia.cer": "CA certificate without rpkiManifest or caRepository",
        p1 + "twoprob.cer": TWO_UNKNOWN,
        http + "ca.mft": "publication point unusable: unsupported URI scheme in "
        f"{http + 'ca.mft'!r}",
    }
    assert result.counts["invalid_certificates"] == 2
    assert result.counts["failed_pp"] == 2
    assert result.counts["failed_manifests"] == 1
    assert result.counts["certificates"] == 2 + 3  # TA, c1, and the three with bad points


def test_signed_objects_with_problems_name_them_all(tmp_path: Path) -> None:
    k0, k1 = key(0), key(13)
    p1 = pp_of("c1")
    aspa_ee = ee_cert(key(16), k1, p1, "two.asa", 50, prefixes=[], asns=[(64500, 64500)])
    aspa_body = seq(tlv(0xA0, der_int(1)), der_int(64500), seq(der_int(64503), der_int(64500)))
    objects = {
        "maxlen.roa": roa(
            k1, p1, "maxlen.roa", 51, prefixes=[("192.0.2.0/24", 33), ("192.0.2.0/25", 24)]
        ),
        "two.asa": make_signed(ASPA_OID, aspa_body, aspa_ee, key(16)),
        "sid.roa": roa(k1, p1, "sid.roa", 52, sid=ski_of(key(16))),
        # Valid from exactly the validation time: not before is inclusive.
        "fresh.roa": roa(k1, p1, "fresh.roa", 53, 64505, not_before=NOW),
    }
    Point(p1, k1, objects).write(tmp_path)
    result = run_tal(tmp_path, trust_anchor(tmp_path, {"c1.cer": ca_cert(k1, k0, TA_PP, p1)}))
    assert asns(result) == [64505]
    assert reasons(result) == {
        p1 + "maxlen.roa": "maxLength 33 not within 24..32; maxLength 24 not within 25..32",
        p1 + "two.asa": "customer AS listed as its own provider; "
        "providers not in strictly ascending order",
        p1 + "sid.roa": "SignerInfo sid does not name the EE certificate's key",
    }
    assert result.counts["invalid_roas"] == 2 and result.counts["invalid_other"] == 1


# --- publication points that fail as a whole --------------------------------------------------


def failing_points(tmp: Path) -> Path:
    """Seven CAs below the TA (all key 13), each of whose points fails for one reason."""
    k0, k1 = key(0), key(13)
    ta_objects: dict[str, bytes] = {}
    names = "abcdef"
    points = {
        "crl2": Point(pp_of("crl2"), k1, crl=make_crl(k1, number=False, aki=False)),
        "crlaki": Point(pp_of("crlaki"), k1, crl=make_crl(k1, aki=key(14))),
        "crlhash": Point(pp_of("crlhash"), k1, on_disk={"ca.crl": b"changed"}),
        "crldp": Point(pp_of("crldp"), k1, mft_ee_crldp=pp_of("crldp") + "other.crl"),
        "mft2": Point(pp_of("mft2"), k1, mft_number=-1, mft_ee_prefixes=["192.0.2.0/24"]),
        # a..f listed; every other one missing, the rest changed after the manifest was made
        "six": Point(
            pp_of("six"),
            k1,
            {f"{n}.gbr": n.encode() for n in names},
            on_disk={f"{n}.gbr": None if i % 2 == 0 else b"changed" for i, n in enumerate(names)},
        ),
        "five": Point(
            pp_of("five"),
            k1,
            {f"{n}.gbr": n.encode() for n in names},
            on_disk={f"{n}.gbr": None for n in names[:5]},
        ),
    }
    for serial, (name, point) in enumerate(points.items(), start=10):
        point.write(tmp)
        ta_objects[f"{name}.cer"] = ca_cert(k1, k0, TA_PP, point.uri, serial)
    return trust_anchor(tmp, ta_objects)


def test_publication_points_that_fail_say_why(tmp_path: Path) -> None:
    result = run_tal(tmp_path, failing_points(tmp_path))
    why = reasons(result)
    unusable = "publication point unusable: "
    assert why[pp_of("crl2") + "ca.mft"] == unusable + (
        f"CRL {pp_of('crl2')}ca.crl: no CRL number (RFC 6487 section 5); "
        "no authorityKeyIdentifier (RFC 6487 section 5)"
    )
    assert why[pp_of("crlaki") + "ca.mft"] == unusable + (
        f"CRL {pp_of('crlaki')}ca.crl: authority key identifier does not match the CA's key"
    )
    assert why[pp_of("crlhash") + "ca.mft"] == unusable + "ca.crl does not match its manifest hash"
    assert why[pp_of("crldp") + "ca.mft"] == unusable + (
        f"manifest EE CRL distribution point is not {pp_of('crldp')}ca.crl"
    )
    assert why[pp_of("mft2") + "ca.mft"] == unusable + (
        "manifest number -1 outside 0..2^160-1; "
        "manifest EE certificate does not use inherit (RFC 9286 section 5.1)"
    )
    six = pp_of("six")
    assert why[six + "ca.mft"] == unusable + (
        "6 listed files unusable: a.gbr missing, b.gbr hash mismatch, c.gbr missing, "
        "d.gbr hash mismatch, e.gbr missing ..."
    )
    for i, n in enumerate("abcdef"):
        assert why[f"{six}{n}.gbr"] == (
            f"{'missing' if i % 2 == 0 else 'hash mismatch'} (listed on {six}ca.mft)"
        )
    five = pp_of("five")
    assert why[five + "ca.mft"] == unusable + (
        "5 listed files unusable: a.gbr missing, b.gbr missing, c.gbr missing, "
        "d.gbr missing, e.gbr missing"
    )
    assert len(result.rejections) == 7 + 6 + 5
    assert result.counts["failed_manifests"] == 7
    assert result.vrps == ()


# --- which of two equal VRPs is kept ----------------------------------------------------------


def test_of_equal_vrps_the_latest_expiry_is_kept_then_the_first_seen(tmp_path: Path) -> None:
    k0 = key(0)
    # Two ROAs for one VRP, the first listed expiring later than the second.
    objects = {
        "a.roa": roa(k0, TA_PP, "a.roa", 60, not_after=NOW + timedelta(hours=12)),
        "b.roa": roa(k0, TA_PP, "b.roa", 61, not_after=NOW + timedelta(hours=6)),
    }
    first = trust_anchor(tmp_path / "one", objects, "first")
    result = validate([first], mirror(tmp_path / "one"), NOW)
    assert [(v.prefix, v.asn, v.ta, v.expires) for v in result.vrps] == [
        ("192.0.2.0/24", 64496, "first", NOW + timedelta(hours=12))
    ]
    assert result.counts["vrps"] == 2 and result.counts["unique_vrps"] == 1
    # Two TAs (keys 0 and 13) with a ROA each for that VRP, both expiring with their CRLs (a
    # day): the one seen first stays.
    first = trust_anchor(tmp_path, {"a.roa": roa(k0, TA_PP, "a.roa", 62)}, "first")
    other_ta, other_pp = "rsync://otherhost/ta.cer", "rsync://otherhost/repo/"
    put(tmp_path, other_ta, ta_cert(key(13), other_pp))
    Point(other_pp, key(13), {"c.roa": roa(key(13), other_pp, "c.roa", 63)}).write(tmp_path)
    second = write_tal(tmp_path, "second", [other_ta], key(13))
    for tals, kept in (([first, second], "first"), ([second, first], "second")):
        result = validate(tals, mirror(tmp_path), NOW)
        assert [(v.ta, v.expires) for v in result.vrps] == [(kept, NOW + DAY)]
        assert result.counts["vrps"] == 2 and result.rejections == ()


# --- the worker pool, run in-process ----------------------------------------------------------


class InlinePool(Executor):
    """Stands in for ProcessPoolExecutor: runs each task at once, in this process."""

    made: ClassVar[list[InlinePool]] = []

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers
        self.tasks = 0
        self.shutdowns: list[tuple[bool, bool]] = []
        InlinePool.made.append(self)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        self.tasks += 1
        future: Future[T] = Future()
        future.set_result(fn(*args, **kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.shutdowns.append((wait, cancel_futures))


@pytest.fixture
def inline_pool(monkeypatch: pytest.MonkeyPatch) -> list[InlinePool]:
    InlinePool.made = []
    monkeypatch.setattr(validate_module, "ProcessPoolExecutor", InlinePool)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    return InlinePool.made


POOL_LAB = Lab(
    extra_file=True,
    revoke_other=True,
    aspas=[
        ("good.asa", 64500, [64501], [(64500, 64500)], []),
        ("ip.asa", 64501, [64502], [(64501, 64501)], ["192.0.2.0/24"]),
    ],
)


def test_leaf_batches_are_merged_where_they_were_queued(
    tmp_path: Path, inline_pool: list[InlinePool], monkeypatch: pytest.MonkeyPatch
) -> None:
    tal = build(tmp_path, POOL_LAB)
    alone = validate([tal], mirror(tmp_path), NOW)
    assert inline_pool == []
    monkeypatch.setattr(validate_module, "LEAF_BATCH", 1)
    pooled = validate([tal], mirror(tmp_path), NOW, workers=2)
    (pool,) = inline_pool
    assert pool.max_workers == 2 and pool.tasks == 4  # one per ROA and ASPA of ca1
    assert pool.shutdowns == [(True, True)]
    ca_pp = f"{HOST}/repo/ca1/"
    assert [str(r) for r in pooled.rejections] == [
        f"{ca_pp}stray.roa: not listed on the manifest; ignored",
        f"{ca_pp}ip.asa: ASPA EE certificate carries IP resources",
        f"{ca_pp}other.roa: serial 11 is revoked",
    ]
    assert pooled.rejections == alone.rejections
    assert pooled.vrps == alone.vrps and vrp_set(pooled) == GOOD
    assert [(v.ta, v.expires) for v in pooled.vrps] == [(v.ta, v.expires) for v in alone.vrps]
    assert pooled.aspas == alone.aspas and len(pooled.aspas) == 1
    assert pooled.counts == alone.counts
    assert pooled.counts["roas"] == 1 and pooled.counts["aspas"] == 1


@pytest.mark.parametrize(
    ("workers", "cpus", "pool_size"),
    [(1, 3, None), (2, 3, 2), (3, 1, 3), (None, 3, 3), (None, 1, None), (None, None, None)],
)
def test_how_many_worker_processes(
    tmp_path: Path,
    inline_pool: list[InlinePool],
    monkeypatch: pytest.MonkeyPatch,
    workers: int | None,
    cpus: int | None,
    pool_size: int | None,
) -> None:
    """`workers` processes, one per CPU for None (one CPU if unknown), none for just one."""
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    tal = build(tmp_path, Lab(ca1_prefixes=WIDE_CA1))
    result = validate([tal], mirror(tmp_path), NOW, workers=workers)
    assert vrp_set(result) == GOOD | {OTHER_OK}
    assert [p.max_workers for p in inline_pool] == ([] if pool_size is None else [pool_size])


def test_one_process_by_default(tmp_path: Path, inline_pool: list[InlinePool]) -> None:
    tal = build(tmp_path, Lab(ca1_prefixes=WIDE_CA1))
    assert vrp_set(validate([tal], mirror(tmp_path), NOW)) == GOOD | {OTHER_OK}
    assert inline_pool == []


def test_the_pool_is_shut_down_when_the_walk_fails(
    tmp_path: Path, inline_pool: list[InlinePool], monkeypatch: pytest.MonkeyPatch
) -> None:
    tal = build(tmp_path, Lab(ca1_prefixes=WIDE_CA1))

    def broken(*args: object) -> None:
        raise RuntimeError("walk failed")

    monkeypatch.setattr(validate_module._Run, "report_extra_files", broken)
    with pytest.raises(RuntimeError, match="walk failed"):
        validate([tal], mirror(tmp_path), NOW, workers=2)
    assert [p.shutdowns for p in inline_pool] == [[(True, True)]]


# --- the clock --------------------------------------------------------------------------------


def test_as_of_defaults_to_now_in_utc(tmp_path: Path) -> None:
    tal = build(tmp_path, Lab(ca1_prefixes=WIDE_CA1))
    before = datetime.now(UTC)
    result = validate([tal], mirror(tmp_path))
    assert result.as_of.tzinfo is not None
    assert before <= result.as_of <= datetime.now(UTC)
    with pytest.raises(ValueError, match=r"^as_of must be timezone-aware$"):
        validate([tal], mirror(tmp_path), NOW.replace(tzinfo=None))
