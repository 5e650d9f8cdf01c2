"""Top-down validation: the real RIPE NCC TA chain, and a tiny lab CA built here with mutations.

The lab repository is generated in the test with `cryptography` (certificates, CRLs, keys) and
hand-written DER for the RPKI payloads, so it checks the validator against the standard formats
rather than against this project's own encoders.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms, core
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from onereg.rpki.der import OID_AS_IDS, OID_IP_ADDR_BLOCKS
from onereg.rpki.validate import ValidationResult, validate, validate_subtree
from onereg.rpki.vrp import CSV_HEADER, to_csv, to_json

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
HOST = "rsync://127.0.0.1"

# --- DER by hand (the RPKI payloads) ----------------------------------------------------------


def tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        head = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + head + body


def der_int(v: int) -> bytes:
    return tlv(0x02, v.to_bytes(v.bit_length() // 8 + 1, "big", signed=True))


def seq(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def prefix_bits(text: str) -> bytes:
    addr, _, plen_text = text.partition("/")
    plen = int(plen_text)
    packed = (
        bytes(int(x) for x in addr.split("."))
        if "." in addr
        else __import__("ipaddress").IPv6Address(addr).packed
    )
    nbytes = (plen + 7) // 8
    return tlv(0x03, bytes([nbytes * 8 - plen]) + packed[:nbytes])


def ip_blocks(prefixes: list[str] | None) -> bytes:
    """IPAddrBlocks; None means inherit for both families."""
    if prefixes is None:
        null = b"\x05\x00"
        return seq(seq(tlv(0x04, b"\x00\x01"), null), seq(tlv(0x04, b"\x00\x02"), null))
    v4 = [prefix_bits(p) for p in prefixes if "." in p]
    v6 = [prefix_bits(p) for p in prefixes if ":" in p]
    fams = []
    if v4:
        fams.append(seq(tlv(0x04, b"\x00\x01"), seq(*v4)))
    if v6:
        fams.append(seq(tlv(0x04, b"\x00\x02"), seq(*v6)))
    return seq(*fams)


def as_ids(ranges: list[tuple[int, int]]) -> bytes:
    items = [der_int(a) if a == b else seq(der_int(a), der_int(b)) for a, b in ranges]
    return seq(tlv(0xA0, seq(*items)))


def gentime(t: datetime) -> bytes:
    return tlv(0x18, t.strftime("%Y%m%d%H%M%SZ").encode())


def manifest_body(number: int, this: datetime, nxt: datetime, files: dict[str, bytes]) -> bytes:
    entries = [
        seq(tlv(0x16, name.encode()), tlv(0x03, b"\x00" + hashlib.sha256(data).digest()))
        for name, data in sorted(files.items())
    ]
    sha256_oid = bytes.fromhex("0609608648016503040201")
    return seq(der_int(number), gentime(this), gentime(nxt), sha256_oid, seq(*entries))


def roa_body(asid: int, prefixes: list[tuple[str, int | None]]) -> bytes:
    fams = []
    for fam, marker in ((b"\x00\x01", "."), (b"\x00\x02", ":")):
        addrs = [
            seq(prefix_bits(p), *([] if m is None else [der_int(m)]))
            for p, m in prefixes
            if marker in p
        ]
        if addrs:
            fams.append(seq(tlv(0x04, fam), seq(*addrs)))
    return seq(der_int(asid), seq(*fams))


# --- keys and certificates --------------------------------------------------------------------

_KEYS: list[rsa.RSAPrivateKey] = []


def key(i: int) -> rsa.RSAPrivateKey:
    while len(_KEYS) <= i:
        _KEYS.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEYS[i]


def ski_of(k: rsa.RSAPrivateKey) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(k.public_key()).digest


def oid(dotted: str) -> x509.ObjectIdentifier:
    return x509.ObjectIdentifier(dotted)


@dataclass
class CertSpec:
    subject_key: rsa.RSAPrivateKey
    issuer_key: rsa.RSAPrivateKey
    serial: int
    ca: bool
    prefixes: list[str] | None  # None: inherit
    asns: list[tuple[int, int]] | None = None
    sia: list[tuple[str, str]] = field(default_factory=list)
    aia: str | None = None
    crldp: str | None = None
    not_before: datetime = NOW - timedelta(days=1)
    not_after: datetime = NOW + timedelta(days=365)
    signer: rsa.RSAPrivateKey | None = None  # a wrong key, to forge a bad signature
    unknown_critical: tuple[str, ...] = ()  # OIDs of unknown extensions marked critical


def make_cert(spec: CertSpec) -> bytes:
    sub = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ski_of(spec.subject_key).hex())])
    iss = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ski_of(spec.issuer_key).hex())])
    b = (
        x509.CertificateBuilder()
        .subject_name(sub)
        .issuer_name(iss)
        .public_key(spec.subject_key.public_key())
        .serial_number(spec.serial)
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
        .add_extension(x509.SubjectKeyIdentifier(ski_of(spec.subject_key)), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not spec.ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=spec.ca,
                crl_sign=spec.ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(oid("1.3.6.1.5.5.7.14.2"), None)]),
            critical=True,
        )
    )
    if spec.prefixes != []:  # [] : no IP resources at all (an ASPA's EE certificate)
        b = b.add_extension(
            x509.UnrecognizedExtension(oid(OID_IP_ADDR_BLOCKS), ip_blocks(spec.prefixes)),
            critical=True,
        )
    if spec.ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    if spec.asns is not None:
        b = b.add_extension(
            x509.UnrecognizedExtension(oid(OID_AS_IDS), as_ids(spec.asns)), critical=True
        )
    if spec.subject_key is not spec.issuer_key:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier(ski_of(spec.issuer_key), None, None), critical=False
        )
    if spec.sia:
        b = b.add_extension(
            x509.SubjectInformationAccess(
                [
                    x509.AccessDescription(oid(m), x509.UniformResourceIdentifier(u))
                    for m, u in spec.sia
                ]
            ),
            critical=False,
        )
    if spec.aia:
        b = b.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        oid("1.3.6.1.5.5.7.48.2"), x509.UniformResourceIdentifier(spec.aia)
                    )
                ]
            ),
            critical=False,
        )
    if spec.crldp:
        b = b.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(spec.crldp)], None, None, None
                    )
                ]
            ),
            critical=False,
        )
    for dotted in spec.unknown_critical:
        b = b.add_extension(x509.UnrecognizedExtension(oid(dotted), b"\x05\x00"), critical=True)
    signer = spec.signer or spec.issuer_key
    return b.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def make_crl(
    issuer_key: rsa.RSAPrivateKey, number: int, revoked: list[int], this: datetime, nxt: datetime
) -> bytes:
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ski_of(issuer_key).hex())]))
        .last_update(this)
        .next_update(nxt)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(ski_of(issuer_key), None, None), critical=False)
    )
    for serial in revoked:
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(this).build()
        )
    return b.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def make_signed(
    content_type: str,
    body: bytes,
    ee_der: bytes,
    ee_key: rsa.RSAPrivateKey,
    *,
    break_sig: bool = False,
    sid: bytes | None = None,
) -> bytes:
    attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": [content_type]},
            {"type": "message_digest", "values": [hashlib.sha256(body).digest()]},
        ]
    )
    signer = cms.SignerInfo(
        {
            "version": "v3",
            "sid": cms.SignerIdentifier({"subject_key_identifier": sid or ski_of(ee_key)}),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": attrs,
            "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
            "signature": b"",
        }
    )
    to_sign = b"\x31" + signer["signed_attrs"].dump()[1:]
    sig = ee_key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
    if break_sig:
        sig = bytes([sig[0] ^ 1]) + sig[1:]
    signer["signature"] = sig
    signed = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {
                "content_type": content_type,
                "content": core.ParsableOctetString(body),
            },
            "certificates": [ax509.Certificate.load(ee_der)],
            "signer_infos": [signer],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


# --- the lab repository ----------------------------------------------------------------------

ROA_OID = "1.2.840.113549.1.9.16.1.24"
ASPA_OID = "1.2.840.113549.1.9.16.1.49"
MFT_OID = "1.2.840.113549.1.9.16.1.26"
SIA_REPO, SIA_MFT, SIA_OBJ = "1.3.6.1.5.5.7.48.5", "1.3.6.1.5.5.7.48.10", "1.3.6.1.5.5.7.48.11"


@dataclass
class Lab:
    """Knobs for one generated repository: TA -> ca1 -> ROAs good.roa and other.roa."""

    ca1_prefixes: list[str] = field(default_factory=lambda: ["192.0.2.0/24", "2001:db8::/32"])
    other_prefixes: list[tuple[str, int | None]] = field(
        default_factory=lambda: [("198.51.100.0/24", None)]
    )
    other_ee_prefixes: list[str] | None = None  # None: the ROA's own prefixes
    other_ee_inherits: bool = False  # inherit, which an EE certificate must not use
    other_ee_expired: bool = False
    other_bad_sig: bool = False
    revoke_other: bool = False
    tamper_other_after_manifest: bool = False
    drop_from_disk: str | None = None
    extra_file: bool = False
    ca1_mft_next: datetime = NOW + timedelta(days=1)
    ta_key_index: int = 0
    ta_prefixes: list[str] = field(default_factory=lambda: ["0.0.0.0/0", "::/0"])
    ta_asns: list[tuple[int, int]] = field(default_factory=lambda: [(0, 2**32 - 1)])
    ca1_asns: list[tuple[int, int]] = field(default_factory=lambda: [(64496, 64511)])
    ca1_signed_by_wrong_key: bool = False
    # More files listed on ca1's manifest, as they are.
    ca1_listed: dict[str, bytes] = field(default_factory=dict)
    # A second child CA of the TA with these (caRepository, manifest) URIs, if any.
    ca2_sia: tuple[str, str] | None = None
    # ASPAs published by ca1: (file name, customer, providers, EE AS ranges, EE IP prefixes)
    aspas: list[tuple[str, int, list[int], list[tuple[int, int]], list[str]]] = field(
        default_factory=list
    )


def build(tmp: Path, lab: Lab) -> Path:
    ta_k, ca_k = key(lab.ta_key_index), key(1)
    ee_keys = [key(2), key(3), key(4), key(5)]
    ta_uri = f"{HOST}/ta/ta.cer"
    ta_pp, ca_pp = f"{HOST}/repo/ta/", f"{HOST}/repo/ca1/"
    files: dict[str, bytes] = {}

    ta = make_cert(
        CertSpec(
            ta_k,
            ta_k,
            1,
            True,
            lab.ta_prefixes,
            lab.ta_asns,
            sia=[(SIA_REPO, ta_pp), (SIA_MFT, ta_pp + "ta.mft")],
        )
    )
    files["ta/ta.cer"] = ta
    ca1 = make_cert(
        CertSpec(
            ca_k,
            ta_k,
            2,
            True,
            lab.ca1_prefixes,
            lab.ca1_asns,
            sia=[(SIA_REPO, ca_pp), (SIA_MFT, ca_pp + "ca1.mft")],
            aia=ta_uri,
            crldp=ta_pp + "ta.crl",
            signer=key(6) if lab.ca1_signed_by_wrong_key else None,
        )
    )

    def publish(
        pp: str,
        name: str,
        issuer: rsa.RSAPrivateKey,
        objects: dict[str, bytes],
        ee_key: rsa.RSAPrivateKey,
        nxt: datetime,
        revoked: list[int],
    ) -> dict[str, bytes]:
        crl = make_crl(issuer, 1, revoked, NOW - timedelta(minutes=5), NOW + timedelta(days=1))
        listed = {**objects, f"{name}.crl": crl}
        ee = make_cert(
            CertSpec(
                ee_key,
                issuer,
                100,
                False,
                None,
                sia=[(SIA_OBJ, pp + f"{name}.mft")],
                aia="x",
                crldp=pp + f"{name}.crl",
                not_after=nxt,
            )
        )
        body = manifest_body(1, NOW - timedelta(minutes=5), nxt, listed)
        out = dict(listed)
        out[f"{name}.mft"] = make_signed(MFT_OID, body, ee, ee_key)
        return out

    def roa(
        name: str,
        asid: int,
        prefixes: list[tuple[str, int | None]],
        ee_prefixes: list[str] | None,
        ee_key: rsa.RSAPrivateKey,
        serial: int,
        *,
        expired: bool = False,
        bad_sig: bool = False,
        inherits: bool = False,
    ) -> bytes:
        explicit = [p for p, _ in prefixes] if ee_prefixes is None else ee_prefixes
        ee = make_cert(
            CertSpec(
                ee_key,
                ca_k,
                serial,
                False,
                None if inherits else explicit,
                sia=[(SIA_OBJ, ca_pp + name)],
                aia=f"{ta_pp}ca1.cer",
                crldp=ca_pp + "ca1.crl",
                not_before=NOW - timedelta(days=30) if expired else NOW - timedelta(days=1),
                not_after=NOW - timedelta(days=1) if expired else NOW + timedelta(days=30),
            )
        )
        return make_signed(ROA_OID, roa_body(asid, prefixes), ee, ee_key, break_sig=bad_sig)

    good = roa(
        "good.roa", 64496, [("192.0.2.0/24", 26), ("2001:db8::/32", None)], None, ee_keys[0], 10
    )
    other = roa(
        "other.roa",
        64497,
        lab.other_prefixes,
        lab.other_ee_prefixes,
        ee_keys[1],
        11,
        expired=lab.other_ee_expired,
        bad_sig=lab.other_bad_sig,
        inherits=lab.other_ee_inherits,
    )
    leaves = {"good.roa": good, "other.roa": other, **lab.ca1_listed}
    for i, (name, customer, providers, ee_asns, ee_ips) in enumerate(lab.aspas):
        aspa_ee = make_cert(
            CertSpec(
                key(7 + i),
                ca_k,
                20 + i,
                False,
                ee_ips,
                ee_asns,
                sia=[(SIA_OBJ, ca_pp + name)],
                aia=f"{ta_pp}ca1.cer",
                crldp=ca_pp + "ca1.crl",
            )
        )
        body = seq(tlv(0xA0, der_int(1)), der_int(customer), seq(*map(der_int, providers)))
        leaves[name] = make_signed(ASPA_OID, body, aspa_ee, key(7 + i))
    ca_files = publish(
        ca_pp,
        "ca1",
        ca_k,
        leaves,
        ee_keys[2],
        lab.ca1_mft_next,
        [11] if lab.revoke_other else [],
    )
    ta_objects = {"ca1.cer": ca1}
    if lab.ca2_sia is not None:
        ta_objects["ca2.cer"] = make_cert(
            CertSpec(
                key(12),
                ta_k,
                3,
                True,
                lab.ca1_prefixes,
                lab.ca1_asns,
                sia=[(SIA_REPO, lab.ca2_sia[0]), (SIA_MFT, lab.ca2_sia[1])],
                aia=ta_uri,
                crldp=ta_pp + "ta.crl",
            )
        )
    ta_files = publish(ta_pp, "ta", ta_k, ta_objects, ee_keys[3], NOW + timedelta(days=1), [])
    if lab.tamper_other_after_manifest:
        ca_files["other.roa"] = roa(
            "other.roa", 64999, [("192.0.2.0/24", None)], None, ee_keys[1], 11
        )
    for name, data in ta_files.items():
        files["repo/ta/" + name] = data
    for name, data in ca_files.items():
        files["repo/ca1/" + name] = data
    if lab.extra_file:
        files["repo/ca1/stray.roa"] = b"not listed"
    if lab.drop_from_disk:
        del files[lab.drop_from_disk]
    mirror = tmp / "mirror"
    for rel, data in files.items():
        path = mirror / "127.0.0.1" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    tal = tmp / "lab.tal"
    spki = (
        key(0)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    tal.write_text(f"{ta_uri}\n\n{base64.b64encode(spki).decode()}\n")
    return tal


def run(tmp: Path, lab: Lab, as_of: datetime = NOW) -> ValidationResult:
    tal = build(tmp, lab)
    return validate([tal], tmp / "mirror", as_of)


def vrp_set(result: ValidationResult) -> set[tuple[int, str, int]]:
    return {(v.asn, v.prefix, v.max_length) for v in result.vrps}


def reasons(result: ValidationResult) -> dict[str, str]:
    return {r.uri: r.reason for r in result.rejections}


GOOD = {(64496, "192.0.2.0/24", 26), (64496, "2001:db8::/32", 32)}
OTHER_OK = (64497, "198.51.100.0/24", 24)


def test_lab_repository_validates(tmp_path: Path) -> None:
    result = run(tmp_path, Lab(ca1_prefixes=["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"]))
    assert result.rejections == ()
    assert vrp_set(result) == GOOD | {OTHER_OK}
    assert result.counts["roas"] == 2 and result.counts["manifests"] == 2
    assert {v.ta for v in result.vrps} == {"lab"}
    # expires: the earliest of the chain's notAfter and CRL nextUpdate (the CRLs, here)
    assert all(v.expires == NOW + timedelta(days=1) for v in result.vrps)
    doc = json.loads(to_json(result))
    assert doc["roas"][0] == {
        "asn": 64496,
        "prefix": "192.0.2.0/24",
        "maxLength": 26,
        "ta": "lab",
        "expires": int((NOW + timedelta(days=1)).timestamp()),
    }
    assert doc["metadata"]["roas"] == 2
    csv_lines = to_csv(result.vrps).splitlines()
    assert csv_lines[0] == CSV_HEADER
    assert (
        csv_lines[1] == f"AS64496,192.0.2.0/24,26,lab,{int((NOW + timedelta(days=1)).timestamp())}"
    )
    assert [line.split(",")[1] for line in csv_lines[1:]] == [
        "192.0.2.0/24",
        "198.51.100.0/24",
        "2001:db8::/32",
    ]


WIDE_CA1 = ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"]


def test_validate_subtree_starts_at_a_ca_taken_on_trust(tmp_path: Path) -> None:
    build(tmp_path, Lab(ca1_prefixes=WIDE_CA1))
    ca1 = tmp_path / "mirror" / "127.0.0.1" / "repo" / "ta" / "ca1.cer"
    result = validate_subtree(ca1, tmp_path / "mirror", NOW, ta="ca1")
    assert result.rejections == ()
    assert vrp_set(result) == GOOD | {OTHER_OK}
    assert {v.ta for v in result.vrps} == {"ca1"}
    assert result.counts["certificates"] == 1
    assert result.counts["roas"] == 2 and result.counts["manifests"] == 1
    assert validate_subtree(ca1, tmp_path / "mirror", NOW).vrps[0].ta == "subtree"


def test_validate_subtree_refuses_an_expired_or_missing_start(tmp_path: Path) -> None:
    build(tmp_path, Lab(ca1_prefixes=WIDE_CA1))
    ca1 = tmp_path / "mirror" / "127.0.0.1" / "repo" / "ta" / "ca1.cer"
    late = NOW + timedelta(days=400)
    result = validate_subtree(ca1, tmp_path / "mirror", late)
    assert result.vrps == ()
    assert [str(r) for r in result.rejections] == [
        f"{ca1}: starting certificate refused: certificate expired at "
        f"{(NOW + timedelta(days=365)).isoformat()}"
    ]
    assert result.counts["invalid_certificates"] == 1
    assert "certificates" not in result.counts
    missing = tmp_path / "nowhere.cer"
    result = validate_subtree(missing, tmp_path / "mirror", NOW)
    assert [r.uri for r in result.rejections] == [str(missing)]
    assert result.rejections[0].reason.startswith("starting certificate refused: ")
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_subtree(ca1, tmp_path / "mirror", NOW.replace(tzinfo=None))


def test_two_cas_sharing_a_publication_point(tmp_path: Path) -> None:
    ca_pp = f"{HOST}/repo/ca1/"
    result = run(tmp_path, Lab(ca1_prefixes=WIDE_CA1, ca2_sia=(ca_pp, ca_pp + "ca1.mft")))
    assert vrp_set(result) == GOOD | {OTHER_OK}
    assert reasons(result) == {
        ca_pp + "ca1.mft": "publication point already visited (two CAs share it)"
    }
    assert result.counts["failed_pp"] == 1


def test_a_manifest_outside_the_ca_repository(tmp_path: Path) -> None:
    other = f"{HOST}/repo/ca2/"
    lab = Lab(ca1_prefixes=WIDE_CA1, ca2_sia=(other, f"{HOST}/repo/ca1x/ca2.mft"))
    result = run(tmp_path, lab)
    assert vrp_set(result) == GOOD | {OTHER_OK}
    assert reasons(result) == {
        f"{HOST}/repo/ca1x/ca2.mft": f"manifest is not inside caRepository {other}"
    }
    assert result.counts["failed_pp"] == 1


def test_a_listed_manifest_is_refused_and_other_objects_counted(tmp_path: Path) -> None:
    listed = {"old.mft": b"x", "a.gbr": b"y", "b.gbr": b"z"}
    result = run(tmp_path, Lab(ca1_prefixes=WIDE_CA1, ca1_listed=listed))
    assert vrp_set(result) == GOOD | {OTHER_OK}
    assert reasons(result) == {f"{HOST}/repo/ca1/old.mft": "a manifest listed on a manifest"}
    assert result.counts["other_objects"] == 2
    assert result.counts["invalid_other"] == 1


def test_validate_subtree_refuses_a_start_that_inherits(tmp_path: Path) -> None:
    build(tmp_path, Lab(ca1_prefixes=None))  # type: ignore[arg-type]
    ca1 = tmp_path / "mirror" / "127.0.0.1" / "repo" / "ta" / "ca1.cer"
    result = validate_subtree(ca1, tmp_path / "mirror", NOW)
    assert [str(r) for r in result.rejections] == [
        f"{ca1}: starting certificate refused: a starting CA cannot inherit resources"
    ]


@pytest.mark.parametrize(
    "as_of", [NOW - timedelta(minutes=5), NOW + timedelta(days=1)], ids=["this", "next"]
)
def test_crls_and_manifests_hold_at_this_and_next_update(tmp_path: Path, as_of: datetime) -> None:
    """thisUpdate and nextUpdate are both inside the window (RFC 9286 section 4.2.1)."""
    result = run(tmp_path, Lab(ca1_prefixes=WIDE_CA1), as_of)
    assert result.rejections == ()
    assert vrp_set(result) == GOOD | {OTHER_OK}


@pytest.mark.parametrize("lab", [Lab(ca1_prefixes=WIDE_CA1), Lab(revoke_other=True)])
def test_worker_processes_give_the_same_answer(tmp_path: Path, lab: Lab) -> None:
    tal = build(tmp_path, lab)
    alone = validate([tal], tmp_path / "mirror", NOW, workers=1)
    pooled = validate([tal], tmp_path / "mirror", NOW, workers=2)
    assert pooled.vrps == alone.vrps
    assert pooled.rejections == alone.rejections
    assert pooled.counts == alone.counts


def test_aspas_are_validated_against_their_ee_certificates(tmp_path: Path) -> None:
    ca_pp = f"{HOST}/repo/ca1/"
    lab = Lab(
        ca1_prefixes=WIDE_CA1,
        aspas=[
            ("good.asa", 64500, [64501, 64502], [(64500, 64500)], []),
            ("good2.asa", 64510, [64511], [(64510, 64510)], []),
            ("ip.asa", 64501, [64502], [(64501, 64501)], ["192.0.2.0/24"]),
            ("other.asa", 64502, [64503], [(64500, 64501)], []),
            ("self.asa", 64503, [64503], [(64503, 64503)], []),
            ("beyond.asa", 64500, [64501], [(64500, 64600)], []),
        ],
    )
    result = run(tmp_path, lab)
    assert [(a.customer, a.providers, a.ta) for a in result.aspas] == [
        (64500, (64501, 64502), "lab"),
        (64510, (64511,), "lab"),
    ]
    assert {a.expires for a in result.aspas} == {NOW + timedelta(days=1)}
    assert vrp_set(result) == GOOD | {OTHER_OK}
    got = reasons(result)
    assert got[ca_pp + "ip.asa"] == "ASPA EE certificate carries IP resources"
    assert got[ca_pp + "other.asa"] == "customer AS64502 is not in the EE certificate"
    assert got[ca_pp + "self.asa"] == "customer AS listed as its own provider"
    assert "beyond" in got[ca_pp + "beyond.asa"]
    assert len(result.rejections) == 4
    assert result.counts["aspas"] == 2 and result.counts["invalid_other"] == 4
    pooled = validate([tmp_path / "lab.tal"], tmp_path / "mirror", NOW, workers=2)
    assert pooled.aspas == result.aspas
    assert pooled.rejections == result.rejections
    assert pooled.counts == result.counts


class _Hook:
    """A repository hook whose mirror is elsewhere; it records what it was asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[str] = []

    def trust_anchor(self, tal: object) -> Path | None:
        self.calls.append("ta")
        return self.root

    def publication_point(self, cert: object) -> Path | None:
        self.calls.append("pp")
        return self.root


def test_a_hook_chooses_the_mirror_of_each_point(tmp_path: Path) -> None:
    tal = build(tmp_path, Lab(ca1_prefixes=WIDE_CA1, extra_file=True))
    moved = tmp_path / "fetched"
    (tmp_path / "mirror").rename(moved)
    empty = tmp_path / "empty"
    empty.mkdir()
    hook = _Hook(moved)
    result = validate([tal], empty, NOW, hook=hook)
    assert vrp_set(result) == GOOD | {OTHER_OK}
    assert hook.calls == ["ta", "pp", "pp"]
    assert reasons(result) == {f"{HOST}/repo/ca1/stray.roa": "not listed on the manifest; ignored"}
    assert result.counts["unlisted_files"] == 1
    assert result.counts["crls"] == 2 and result.counts["certificates"] == 2
    # Without the hook the walk reads the (empty) repo_dir and finds nothing.
    assert validate([tal], empty, NOW).vrps == ()


def test_roa_outside_ca_resources_costs_only_that_roa(tmp_path: Path) -> None:
    # other.roa's EE holds 192.0.2.0/25, which lacks 198.51.100.0/24.
    result = run(tmp_path, Lab(other_ee_prefixes=["192.0.2.0/25"]))
    assert vrp_set(result) == GOOD
    assert "outside the EE certificate's resources" in reasons(result)[f"{HOST}/repo/ca1/other.roa"]


def test_roa_ee_that_inherits_is_refused(tmp_path: Path) -> None:
    # rpki-client and OctoRPKI refuse it: a ROA's EE certificate must list its resources.
    lab = Lab(
        ca1_prefixes=["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"], other_ee_inherits=True
    )
    result = run(tmp_path, lab)
    assert vrp_set(result) == GOOD
    why = reasons(result)[f"{HOST}/repo/ca1/other.roa"]
    assert "ROA EE certificate uses inherit" in why and "RFC 9582" in why


def test_ee_resources_beyond_issuer(tmp_path: Path) -> None:
    result = run(tmp_path, Lab(other_ee_prefixes=["198.51.100.0/24"]))
    assert vrp_set(result) == GOOD
    assert "beyond the issuer's: 198.51.100.0/24" in reasons(result)[f"{HOST}/repo/ca1/other.roa"]


def test_child_ca_beyond_ta_resources(tmp_path: Path) -> None:
    result = run(tmp_path, Lab(ta_prefixes=["192.0.2.0/24", "2001:db8::/48"]))
    assert result.vrps == ()
    assert reasons(result)[f"{HOST}/repo/ta/ca1.cer"] == (
        "resources beyond the issuer's: 2001:db8:1::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
    )
    assert result.counts["certificates"] == 1


SIX = ["10.0.0.0/24", "10.0.2.0/24", "10.0.4.0/24", "10.0.6.0/24", "10.0.8.0/24", "10.0.10.0/24"]


@pytest.mark.parametrize("count", [5, 6])
def test_resources_beyond_the_issuer_show_five_then_an_ellipsis(tmp_path: Path, count: int) -> None:
    result = run(tmp_path, Lab(ta_prefixes=["192.0.2.0/24"], ca1_prefixes=SIX[:count]))
    shown = ", ".join(SIX[:5]) + (" ..." if count > 5 else "")
    assert reasons(result)[f"{HOST}/repo/ta/ca1.cer"] == f"resources beyond the issuer's: {shown}"


def test_roa_prefixes_outside_its_ee_show_at_most_five(tmp_path: Path) -> None:
    lab = Lab(
        ca1_prefixes=["10.0.0.0/8", "192.0.2.0/24"],
        other_prefixes=[(p, None) for p in SIX],
        other_ee_prefixes=["192.0.2.0/24"],
    )
    result = run(tmp_path, lab)
    assert reasons(result)[f"{HOST}/repo/ca1/other.roa"] == (
        "prefixes outside the EE certificate's resources: " + ", ".join(SIX[:5])
    )


def test_roa_prefix_only_partly_inside_its_ee_certificate_is_rejected(tmp_path: Path) -> None:
    # ca1 and other.roa's EE hold 192.0.2.0/24; the ROA's /23 also covers 192.0.3.0/24.
    result = run(
        tmp_path, Lab(other_prefixes=[("192.0.2.0/23", None)], other_ee_prefixes=["192.0.2.0/24"])
    )
    assert vrp_set(result) == GOOD
    why = reasons(result)[f"{HOST}/repo/ca1/other.roa"]
    assert why == "prefixes outside the EE certificate's resources: 192.0.2.0/23"


def test_roa_prefix_at_the_last_addresses_of_its_ee_certificate_is_accepted(
    tmp_path: Path,
) -> None:
    result = run(
        tmp_path, Lab(other_prefixes=[("192.0.2.255/32", None), ("2001:db8:ffff::/48", None)])
    )
    assert result.rejections == ()
    assert vrp_set(result) == GOOD | {
        (64497, "192.0.2.255/32", 32),
        (64497, "2001:db8:ffff::/48", 48),
    }


def test_child_ca_with_as_numbers_beyond_the_ta_is_rejected(tmp_path: Path) -> None:
    result = run(tmp_path, Lab(ta_asns=[(64496, 64500)]))
    assert result.vrps == ()
    assert reasons(result)[f"{HOST}/repo/ta/ca1.cer"] == (
        "resources beyond the issuer's: AS64501-AS64511"
    )


def test_child_ca_with_one_as_number_beyond_the_ta_is_rejected(tmp_path: Path) -> None:
    result = run(tmp_path, Lab(ta_asns=[(64496, 64510)]))
    assert result.vrps == ()
    assert reasons(result)[f"{HOST}/repo/ta/ca1.cer"] == "resources beyond the issuer's: AS64511"


def test_child_ca_with_exactly_the_ta_as_numbers_is_accepted(tmp_path: Path) -> None:
    result = run(tmp_path, Lab(ta_asns=[(64496, 64511)]))
    assert vrp_set(result) == GOOD


def test_child_ca_with_a_forged_signature(tmp_path: Path) -> None:
    result = run(tmp_path, Lab(ca1_signed_by_wrong_key=True))
    assert result.vrps == ()
    assert reasons(result)[f"{HOST}/repo/ta/ca1.cer"] == "signature does not verify"


def test_expired_ee(tmp_path: Path) -> None:
    lab = Lab(
        ca1_prefixes=["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"], other_ee_expired=True
    )
    result = run(tmp_path, lab)
    assert vrp_set(result) == GOOD
    assert "expired" in reasons(result)[f"{HOST}/repo/ca1/other.roa"]


def test_bad_cms_signature(tmp_path: Path) -> None:
    lab = Lab(ca1_prefixes=["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"], other_bad_sig=True)
    result = run(tmp_path, lab)
    assert vrp_set(result) == GOOD
    assert reasons(result)[f"{HOST}/repo/ca1/other.roa"] == "signature does not verify"


def test_revoked_ee(tmp_path: Path) -> None:
    lab = Lab(ca1_prefixes=["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"], revoke_other=True)
    result = run(tmp_path, lab)
    assert vrp_set(result) == GOOD
    assert reasons(result)[f"{HOST}/repo/ca1/other.roa"] == "serial 11 is revoked"


def test_manifest_hash_mismatch_fails_the_whole_publication_point(tmp_path: Path) -> None:
    result = run(tmp_path, Lab(tamper_other_after_manifest=True))
    assert result.vrps == ()
    why = reasons(result)
    assert "hash mismatch" in why[f"{HOST}/repo/ca1/other.roa"]
    assert why[f"{HOST}/repo/ca1/ca1.mft"].startswith("publication point unusable")
    assert result.counts["failed_manifests"] == 1


def test_missing_listed_file_fails_the_publication_point(tmp_path: Path) -> None:
    result = run(tmp_path, Lab(drop_from_disk="repo/ca1/good.roa"))
    assert result.vrps == ()
    assert "missing" in reasons(result)[f"{HOST}/repo/ca1/good.roa"]


def test_unlisted_file_is_ignored_with_a_record(tmp_path: Path) -> None:
    result = run(tmp_path, Lab(extra_file=True))
    assert vrp_set(result) == GOOD
    assert "not listed" in reasons(result)[f"{HOST}/repo/ca1/stray.roa"]


def test_stale_manifest(tmp_path: Path) -> None:
    result = run(tmp_path, Lab(), as_of=NOW + timedelta(days=2))
    assert result.vrps == ()
    assert "stale" in reasons(result)[f"{HOST}/repo/ta/ta.mft"]


def test_validate_as_of_before_objects_exist(tmp_path: Path) -> None:
    result = run(tmp_path, Lab(), as_of=NOW - timedelta(days=10))
    assert result.vrps == ()
    assert "not valid before" in reasons(result)[f"{HOST}/ta/ta.cer"]


def test_ta_key_must_match_tal(tmp_path: Path) -> None:
    result = run(tmp_path, Lab(ta_key_index=6))
    assert result.vrps == ()
    assert "not the TAL's key" in reasons(result)[f"{HOST}/ta/ta.cer"]


def test_garbage_in_the_mirror_never_crashes(tmp_path: Path) -> None:
    tal = build(tmp_path, Lab())
    mirror = tmp_path / "mirror" / "127.0.0.1"
    for path in list(mirror.rglob("*")):
        if path.is_file() and path.suffix != ".cer":
            path.write_bytes(path.read_bytes()[:100])
    result = validate([tal], tmp_path / "mirror", NOW)
    assert result.vrps == ()
    assert any("publication point unusable" in r.reason for r in result.rejections)
    bad_tal = tmp_path / "bad.tal"
    bad_tal.write_text("not a tal")
    result = validate([bad_tal], tmp_path / "mirror", NOW)
    assert result.rejections and result.rejections[0].reason.startswith("bad TAL")


# --- the real RIPE NCC chain ----------------------------------------------------------------


@pytest.mark.realdata
def test_real_ripe_ta_top_down(tmp_path: Path, shared_data: Path) -> None:
    """The production TA, its CRL and manifest, and the member CA below it (2019 copies).

    The rpki-rs files are laid out under their rsync names with symlinks (not copies).  The TA's
    publication point validates; the member CA's own publication point must fail, because its
    manifest lists certificates that the test data does not have (RFC 9286: failed fetch).
    """
    src = shared_data / "rpki" / "rpki-rs-test-data" / "repository"
    base = tmp_path / "mirror" / "rpki.ripe.net"
    links = {
        "ta/ripe-ncc-ta.cer": "ta.cer",
        "repository/ripe-ncc-ta.mft": "ta.mft",
        "repository/ripe-ncc-ta.crl": "ta.crl",
        "repository/2a7dd1d787d793e4c8af56e197d4eed92af6ba13.cer": "ca1.cer",
        "repository/aca/Kn3R14fXk-TIr1bhl9Tu2Sr2uhM.mft": "ca1.mft",
        "repository/aca/Kn3R14fXk-TIr1bhl9Tu2Sr2uhM.crl": "ca1.crl",
    }
    for rel, name in links.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).symlink_to(src / name)
    tal = shared_data / "rpki" / "tals" / "ripe.tal"
    as_of = datetime(2019, 4, 6, 12, 0, tzinfo=UTC)
    result = validate([tal], tmp_path / "mirror", as_of)
    assert result.counts["certificates"] == 2  # the TA and the member CA
    assert result.counts["manifests"] == 1
    why = reasons(result)
    aca = "rsync://rpki.ripe.net/repository/aca/"
    assert why[aca + "Kn3R14fXk-TIr1bhl9Tu2Sr2uhM.mft"].startswith("publication point unusable")
    assert "missing" in why[aca + "HGp1AESLbyiopScGy7yW4b6s_T4.cer"]
    assert result.vrps == ()
    # A day later the member CA's manifest (nextUpdate 2019-04-07) is stale.
    later = validate([tal], tmp_path / "mirror", datetime(2019, 4, 8, tzinfo=UTC))
    assert "stale" in reasons(later)[aca + "Kn3R14fXk-TIr1bhl9Tu2Sr2uhM.mft"]
    # And after 2019-05-26 the TA's own manifest is stale: nothing below the TA is used.
    after = validate([tal], tmp_path / "mirror", datetime(2019, 6, 1, tzinfo=UTC))
    assert "stale" in reasons(after)["rsync://rpki.ripe.net/repository/ripe-ncc-ta.mft"]
