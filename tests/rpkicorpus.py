"""A corpus of broken RPKI repositories: one generator, one defect per case.

Why: our relying party must never accept what the real ones (rpki-client, FORT, OctoRPKI)
refuse.  Each case changes exactly one thing in an otherwise good tree, so a verdict speaks of
that one defect.  Every object is DER written by hand here, not by `onereg.rpki`'s encoders
(whose mistakes the corpus must not share) nor by `cryptography`'s builders (which cannot write
most of these defects: a missing AKI on a CA, an encoded DEFAULT, a long-form length).

All cases live in one repository, so each relying party runs once over all of them (rpki-client
takes at most 8 TALs per run, so it runs once per 8).  Each case's ROA authorises its own AS
number, so the VRP output says which cases were accepted.  Layout (rsync modules `ta`, `repo`):

    corpus.tal -> ta/corpus.cer -> repo/corpus/{corpus.mft,corpus.crl,hub.cer}
                  hub           -> repo/hub/{hub.mft,hub.crl,<case>.cer for every CA-level case}
                  <case> CA     -> repo/<case>/{<case>.mft,<case>.crl,<case>.roa}
    <case>.tal -> ta/<case>.cer (TA cases: the case CA is itself a trust anchor) -> repo/<case>/

A defect is a dotted path into the case's `Plan` and the value to put there.
"""

from __future__ import annotations

import base64
import hashlib
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import rpkijudges as rj
from onereg.rpki.validate import validate
from test_rpki_validate import as_ids, der_int, ip_blocks, prefix_bits, seq, ski_of, tlv

# --- object identifiers and small encoders ----------------------------------------------------

SHA256 = "2.16.840.1.101.3.4.2.1"
SHA1 = "1.3.14.3.2.26"
RSA = "1.2.840.113549.1.1.1"
SHA256_RSA = "1.2.840.113549.1.1.11"
SHA1_RSA = "1.2.840.113549.1.1.5"
UNKNOWN_EXT = "1.3.6.1.4.1.32473.1"  # under the documentation enterprise number (RFC 5612)
SIGNED_DATA = "1.2.840.113549.1.7.2"
CT_ROA = "1.2.840.113549.1.9.16.1.24"
CT_MFT = "1.2.840.113549.1.9.16.1.26"
ATTR_CT, ATTR_MD, ATTR_TIME = (f"1.2.840.113549.1.9.{n}" for n in (3, 4, 5))
ATTR_EXTRA = "1.2.840.113549.1.9.2"  # unstructuredName
CP_RPKI = "1.3.6.1.5.5.7.14.2"
AD_REPO, AD_MFT, AD_OBJ = (f"1.3.6.1.5.5.7.48.{n}" for n in (5, 10, 11))
AD_CA_ISSUERS = "1.3.6.1.5.5.7.48.2"
EXT_IP, EXT_AS = "1.3.6.1.5.5.7.1.7", "1.3.6.1.5.5.7.1.8"
EXT_SIA, EXT_AIA = "1.3.6.1.5.5.7.1.11", "1.3.6.1.5.5.7.1.1"
EXT_SKI, EXT_AKI, EXT_KU, EXT_BC = "2.5.29.14", "2.5.29.35", "2.5.29.15", "2.5.29.19"
EXT_CRLDP, EXT_CP, EXT_CRL_NUMBER = "2.5.29.31", "2.5.29.32", "2.5.29.20"

FIRST_ASN = 65000
ROA_PREFIX = "10.0.0.0/16"
ROA_MAX_LENGTH = 24


def der_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return tlv(0x06, bytes(body))


def long_form(der: bytes) -> bytes:
    """The same TLV with its length in a needless long form (BER, not DER: X.690 10.1)."""
    tag, n = der[0], der[1]
    if n & 0x80:
        width = n & 0x7F
        return bytes([tag, 0x80 | (width + 1), 0]) + der[2:]
    return bytes([tag, 0x81, n]) + der[2:]


def utc(t: datetime) -> bytes:
    return tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode())


def gen(t: datetime) -> bytes:
    return tlv(0x18, t.strftime("%Y%m%d%H%M%SZ").encode())


def name(key: rsa.RSAPrivateKey) -> bytes:
    cn = ski_of(key).hex().encode()
    return seq(tlv(0x31, seq(der_oid("2.5.4.3"), tlv(0x13, cn))))


def algorithm(oid: str) -> bytes:
    return seq(der_oid(oid), b"\x05\x00")


def extension(oid: str, value: bytes, critical: bool = False, encode_false: bool = False) -> bytes:
    flag = b"\x01\x01\xff" if critical else (b"\x01\x01\x00" if encode_false else b"")
    return seq(der_oid(oid), flag, tlv(0x04, value))


def access(items: list[tuple[str, str]]) -> bytes:
    return seq(*(seq(der_oid(method), tlv(0x86, uri.encode())) for method, uri in items))


def sign(key: rsa.RSAPrivateKey, data: bytes, sha1: bool = False) -> bytes:
    return key.sign(data, padding.PKCS1v15(), hashes.SHA1() if sha1 else hashes.SHA256())


# --- plans: what one case's objects look like --------------------------------------------------


@dataclass
class CertPlan:
    """One certificate; the defaults are a good RFC 6487 CA or EE certificate."""

    ca: bool
    ip: list[str] | None  # None: inherit
    asn: list[tuple[int, int]] | None = None  # None: no AS extension
    asn_inherit: bool = False  # an AS extension saying inherit (instead of `asn`)
    aki: str = "issuer"  # issuer | missing | other
    ski: bool = True
    basic_constraints: bool = True  # only for CAs (an EE has none)
    ee_with_ca_flag: bool = False
    key_usage: str = "right"  # right | wrong
    policy: bool = True
    ip_critical: bool = True
    crldp: bool = True
    aia: bool = True
    sia: bool = True
    not_before: timedelta = timedelta(days=-1)
    not_after: timedelta = timedelta(days=365)
    signer: str = "issuer"  # issuer | other
    encoded_false: bool = False  # SKI extension with critical FALSE encoded (a DEFAULT)
    long_length: bool = False  # the validity SEQUENCE with a long-form length
    sha1: bool = False  # signed with sha1WithRSAEncryption
    unknown_critical: bool = False  # an extension nobody knows, marked critical


@dataclass
class CmsPlan:
    """The RFC 6488 wrapper of one signed object."""

    version: int = 3
    sid: str = "ski"  # ski | issuer_serial
    sha1: bool = False
    content_type_attr: str | None = None  # None: the eContentType
    econtent_type: str | None = None  # None: the object's own type
    wrong_digest: bool = False
    with_crl: bool = False
    unsigned_attrs: bool = False
    unsorted_attrs: bool = False
    bad_signature: bool = False
    extra_attr: bool = False  # a signed attribute RFC 6488 does not allow
    sig_alg: str = RSA


@dataclass
class MftPlan:
    explicit_version: bool = False
    number: int = 1
    window: tuple[timedelta, timedelta] = (timedelta(minutes=-5), timedelta(days=1))
    list_crl: bool = True
    list_missing: bool = False
    wrong_hash: bool = False


@dataclass
class CrlPlan:
    window: tuple[timedelta, timedelta] = (timedelta(minutes=-5), timedelta(days=1))  # this, next
    number: bool = True
    version: bool = True  # v2, as RFC 6487 section 5 wants
    aki: bool = True
    signer: str = "issuer"  # issuer | other
    revoke_roa: bool = False


@dataclass
class RoaPlan:
    explicit_version: bool = False
    prefix: str = ROA_PREFIX
    max_length: int = ROA_MAX_LENGTH
    family: bytes = b"\x00\x01"
    long_length: bool = False
    dirty_bits: bool = False  # a /15 whose unused bit is set


def _ca_plan() -> CertPlan:
    return CertPlan(ca=True, ip=["10.0.0.0/8"], asn=[(FIRST_ASN, FIRST_ASN + 999)])


def _ee_plan(ip: list[str] | None) -> CertPlan:
    return CertPlan(ca=False, ip=ip, not_after=timedelta(days=30))


def _mft_ee_plan() -> CertPlan:
    """A manifest's EE certificate inherits everything (rpki-client checks IP and AS)."""
    return CertPlan(ca=False, ip=None, asn_inherit=True, not_after=timedelta(days=30))


@dataclass
class Plan:
    """Everything one case publishes; a case changes exactly one field."""

    ca: CertPlan = field(default_factory=_ca_plan)
    mft_ee: CertPlan = field(default_factory=lambda: _mft_ee_plan())
    roa_ee: CertPlan = field(default_factory=lambda: _ee_plan([ROA_PREFIX]))
    mft: MftPlan = field(default_factory=MftPlan)
    mft_cms: CmsPlan = field(default_factory=CmsPlan)
    crl: CrlPlan = field(default_factory=CrlPlan)
    roa: RoaPlan = field(default_factory=RoaPlan)
    roa_cms: CmsPlan = field(default_factory=CmsPlan)
    revoked_by_parent: bool = False
    tal_key: str = "own"  # own | other
    ca_key_bits: int = 2048  # RFC 7935 allows only 2048-bit RSA


@dataclass(frozen=True)
class Case:
    name: str
    target: str  # TA, CA, manifest, CRL, CMS, ROA
    defect: str
    changes: dict[str, Any]

    @property
    def is_ta(self) -> bool:
        return self.target == "TA"

    def plan(self) -> Plan:
        plan = Plan()
        for path, value in self.changes.items():
            *parents, leaf = path.split(".")
            obj: Any = plan
            for part in parents:
                obj = getattr(obj, part)
            if not hasattr(obj, leaf):
                raise KeyError(f"case {self.name}: no plan field {path}")
            setattr(obj, leaf, value)
        return plan


STALE = (timedelta(days=-3), timedelta(days=-2))
NOT_YET = (timedelta(days=2), timedelta(days=3))
EXPIRED = timedelta(days=-1)
FUTURE = timedelta(days=2)
OUTSIDE = "11.0.0.0/8"

CASES: tuple[Case, ...] = (
    Case("control-ta", "TA", "none (a good trust anchor)", {}),
    Case("ta-inherit", "TA", "TA IP resources are inherit", {"ca.ip": None}),
    Case("ta-expired", "TA", "TA notAfter in the past", {"ca.not_after": EXPIRED}),
    Case("ta-not-yet-valid", "TA", "TA notBefore in the future", {"ca.not_before": FUTURE}),
    Case("ta-key-not-tal", "TA", "TA key is not the TAL's key", {"tal_key": "other"}),
    Case("ta-bad-signature", "TA", "TA self-signature does not verify", {"ca.signer": "other"}),
    Case("ta-not-ca", "TA", "TA without basicConstraints", {"ca.basic_constraints": False}),
    Case("ta-key-usage", "TA", "TA keyUsage digitalSignature", {"ca.key_usage": "wrong"}),
    Case("ta-aki-other", "TA", "TA AKI names another key", {"ca.aki": "other"}),
    Case("ta-no-sia", "TA", "TA without SIA (no manifest, no repository)", {"ca.sia": False}),
    Case("ta-ip-not-critical", "TA", "TA IP resources not critical", {"ca.ip_critical": False}),
    Case("ta-der-default", "TA", "TA extension encodes critical FALSE", {"ca.encoded_false": True}),
    Case("control", "CA", "none (a good CA below the hub)", {}),
    Case("ca-no-aki", "CA", "CA without AKI", {"ca.aki": "missing"}),
    Case("ca-aki-other", "CA", "CA AKI names another key", {"ca.aki": "other"}),
    Case("ca-bad-signature", "CA", "CA signature does not verify", {"ca.signer": "other"}),
    Case("ca-expired", "CA", "CA notAfter in the past", {"ca.not_after": EXPIRED}),
    Case("ca-revoked", "CA", "CA serial on the issuer's CRL", {"revoked_by_parent": True}),
    Case("ca-overclaim", "CA", "CA IP resources beyond the issuer's", {"ca.ip": ["10.0.0.0/7"]}),
    Case("ca-no-crldp", "CA", "CA without CRL distribution point", {"ca.crldp": False}),
    Case("ca-no-ski", "CA", "CA without SKI", {"ca.ski": False}),
    Case("ca-no-policy", "CA", "CA without certificatePolicies", {"ca.policy": False}),
    Case("ca-key-usage", "CA", "CA keyUsage digitalSignature", {"ca.key_usage": "wrong"}),
    Case("ca-ber-length", "CA", "CA validity with a long-form length", {"ca.long_length": True}),
    Case("ca-rsa-1024", "CA", "CA key is RSA-1024", {"ca_key_bits": 1024}),
    Case("ca-no-aia", "CA", "CA without AIA", {"ca.aia": False}),
    Case("ca-inherit", "CA", "none: CA IP resources inherit (allowed)", {"ca.ip": None}),
    Case("ca-sha1", "CA", "CA signed with sha1WithRSA", {"ca.sha1": True}),
    Case("ca-unknown-critical", "CA", "unknown critical extension", {"ca.unknown_critical": True}),
    Case("mft-stale", "manifest", "window over (stale)", {"mft.window": STALE}),
    Case("mft-future", "manifest", "window not begun", {"mft.window": NOT_YET}),
    Case("mft-der-version", "manifest", "version 0 encoded", {"mft.explicit_version": True}),
    Case("mft-missing-file", "manifest", "lists a file not published", {"mft.list_missing": True}),
    Case("mft-wrong-hash", "manifest", "a listed hash does not match", {"mft.wrong_hash": True}),
    Case("mft-no-crl", "manifest", "does not list the CRL", {"mft.list_crl": False}),
    Case("mft-ee-explicit", "manifest", "EE IP not inherit", {"mft_ee.ip": ["10.0.0.0/8"]}),
    Case("mft-ee-no-as", "manifest", "EE without the AS extension", {"mft_ee.asn_inherit": False}),
    Case("mft-number-huge", "manifest", "manifestNumber of 21 octets", {"mft.number": 2**160}),
    Case("mft-ee-expired", "manifest", "EE certificate expired", {"mft_ee.not_after": EXPIRED}),
    Case("mft-bad-signature", "manifest", "bad CMS signature", {"mft_cms.bad_signature": True}),
    Case("crl-stale", "CRL", "window over (stale)", {"crl.window": STALE}),
    Case("crl-future", "CRL", "window not begun", {"crl.window": NOT_YET}),
    Case("crl-bad-signature", "CRL", "signature does not verify", {"crl.signer": "other"}),
    Case("crl-no-number", "CRL", "no CRL number", {"crl.number": False}),
    Case("crl-v1", "CRL", "version v1 (absent)", {"crl.version": False}),
    Case("crl-no-aki", "CRL", "no AKI", {"crl.aki": False}),
    Case("crl-revokes-roa", "CRL", "revokes the ROA's EE certificate", {"crl.revoke_roa": True}),
    Case("cms-bad-signature", "CMS", "signature does not verify", {"roa_cms.bad_signature": True}),
    Case("cms-wrong-digest", "CMS", "messageDigest does not match", {"roa_cms.wrong_digest": True}),
    Case("cms-ct-attr", "CMS", "contentType attr differs", {"roa_cms.content_type_attr": CT_MFT}),
    Case("cms-ect-manifest", "CMS", "manifest eContentType", {"roa_cms.econtent_type": CT_MFT}),
    Case("cms-sid-issuer", "CMS", "sid is issuerAndSerialNumber", {"roa_cms.sid": "issuer_serial"}),
    Case("cms-version-1", "CMS", "SignedData version 1", {"roa_cms.version": 1}),
    Case("cms-with-crl", "CMS", "SignedData carries a CRL", {"roa_cms.with_crl": True}),
    Case("cms-unsigned-attrs", "CMS", "unsigned attributes", {"roa_cms.unsigned_attrs": True}),
    Case("cms-sha1", "CMS", "SHA-1 digest", {"roa_cms.sha1": True}),
    Case("cms-extra-attr", "CMS", "signed attribute not allowed", {"roa_cms.extra_attr": True}),
    Case("cms-sha256rsa", "CMS", "sha256WithRSA signature", {"roa_cms.sig_alg": SHA256_RSA}),
    Case("cms-unsorted-attrs", "CMS", "attrs not in DER order", {"roa_cms.unsorted_attrs": True}),
    Case("roa-ee-inherit", "ROA", "EE IP resources are inherit", {"roa_ee.ip": None}),
    Case("roa-der-version", "ROA", "version 0 encoded", {"roa.explicit_version": True}),
    Case("roa-outside-ee", "ROA", "prefix outside the EE resources", {"roa.prefix": "10.1.0.0/16"}),
    Case("roa-max-length", "ROA", "maxLength below the prefix length", {"roa.max_length": 8}),
    Case("roa-ee-asn", "ROA", "EE carries AS resources", {"roa_ee.asn": [(FIRST_ASN, FIRST_ASN)]}),
    Case("roa-ee-expired", "ROA", "EE certificate expired", {"roa_ee.not_after": EXPIRED}),
    Case("roa-ee-is-ca", "ROA", "EE with basicConstraints cA", {"roa_ee.ee_with_ca_flag": True}),
    Case("roa-ee-key-usage", "ROA", "EE keyUsage keyCertSign", {"roa_ee.key_usage": "wrong"}),
    Case("roa-ee-no-sia", "ROA", "EE without SIA (no signedObject)", {"roa_ee.sia": False}),
    Case("roa-ee-no-aia", "ROA", "EE without AIA", {"roa_ee.aia": False}),
    Case("roa-ee-no-crldp", "ROA", "EE without CRL distribution point", {"roa_ee.crldp": False}),
    Case("roa-ee-no-aki", "ROA", "EE without AKI", {"roa_ee.aki": "missing"}),
    Case("roa-ber-length", "ROA", "eContent with a long-form length", {"roa.long_length": True}),
    Case("roa-dirty-bits", "ROA", "prefix with non-zero unused bits", {"roa.dirty_bits": True}),
    Case("roa-safi", "ROA", "addressFamily with a SAFI", {"roa.family": b"\x00\x01\x01"}),
)  # fmt: skip


# --- keys --------------------------------------------------------------------------------------


def _new_key_der(_: int) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_keys(count: int, cache: Path | None) -> list[rsa.RSAPrivateKey]:
    """`count` RSA-2048 keys, generated on two processes and kept in `cache` between runs
    (key generation is most of the corpus's cost)."""
    ders: list[bytes] = []
    if cache is not None:
        ders = [p.read_bytes() for p in sorted(cache.glob("key-*.der"))][:count]
    if len(ders) < count:
        with ProcessPoolExecutor(max_workers=2) as pool:
            fresh = list(pool.map(_new_key_der, range(count - len(ders))))
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            for i, der in enumerate(fresh, start=len(ders)):
                (cache / f"key-{i:04d}.der").write_bytes(der)
        ders += fresh
    keys = []
    for der in ders:
        key = serialization.load_der_private_key(der, None, unsafe_skip_rsa_key_validation=True)
        assert isinstance(key, rsa.RSAPrivateKey)
        keys.append(key)
    return keys


# --- objects -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issuer:
    """Who signs: the issuing CA's key and where its certificate and CRL are."""

    key: rsa.RSAPrivateKey
    cert_uri: str | None  # None: self-signed (a TA)
    crl_uri: str | None


@dataclass(frozen=True)
class Ctx:
    now: datetime
    other: rsa.RSAPrivateKey  # the wrong key every "signed by another key" defect uses


def certificate(
    plan: CertPlan,
    subject: rsa.RSAPrivateKey,
    issuer: Issuer,
    serial: int,
    sia: list[tuple[str, str]],
    ctx: Ctx,
) -> bytes:
    """A resource certificate (RFC 6487) with the plan's defects."""
    validity = seq(utc(ctx.now + plan.not_before), utc(ctx.now + plan.not_after))
    if plan.long_length:
        validity = long_form(validity)
    spki = subject.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    alg = algorithm(SHA1_RSA if plan.sha1 else SHA256_RSA)
    tbs = seq(
        tlv(0xA0, der_int(2)),
        der_int(serial),
        alg,
        name(issuer.key),
        validity,
        name(subject),
        spki,
        tlv(0xA3, seq(*_extensions(plan, subject, issuer, sia, ctx))),
    )
    signer = ctx.other if plan.signer == "other" else issuer.key
    return seq(tbs, alg, tlv(0x03, b"\x00" + sign(signer, tbs, sha1=plan.sha1)))


def _extensions(
    plan: CertPlan, subject: rsa.RSAPrivateKey, issuer: Issuer, sia: list[tuple[str, str]], ctx: Ctx
) -> list[bytes]:
    out = []
    if (plan.ca and plan.basic_constraints) or plan.ee_with_ca_flag:
        out.append(extension(EXT_BC, seq(b"\x01\x01\xff"), critical=True))
    if plan.ski:
        skid = tlv(0x04, ski_of(subject))
        out.append(extension(EXT_SKI, skid, encode_false=plan.encoded_false))
    aki_key = {"issuer": issuer.key, "other": ctx.other}.get(plan.aki)
    if aki_key is not None and (issuer.cert_uri is not None or plan.aki == "other"):
        out.append(extension(EXT_AKI, seq(tlv(0x80, ski_of(aki_key)))))
    wants_ca_bits = plan.ca != (plan.key_usage == "wrong")
    usage = b"\x01\x06" if wants_ca_bits else b"\x07\x80"  # keyCertSign+cRLSign | digitalSig.
    out.append(extension(EXT_KU, tlv(0x03, usage), critical=True))
    if plan.crldp and issuer.crl_uri is not None:
        uri = tlv(0x86, issuer.crl_uri.encode())
        out.append(extension(EXT_CRLDP, seq(seq(tlv(0xA0, tlv(0xA0, uri))))))
    if plan.aia and issuer.cert_uri is not None:
        out.append(extension(EXT_AIA, access([(AD_CA_ISSUERS, issuer.cert_uri)])))
    if plan.sia and sia:
        out.append(extension(EXT_SIA, access(sia)))
    if plan.policy:
        out.append(extension(EXT_CP, seq(seq(der_oid(CP_RPKI))), critical=True))
    out.append(extension(EXT_IP, ip_blocks(plan.ip), critical=plan.ip_critical))
    if plan.unknown_critical:
        out.append(extension(UNKNOWN_EXT, b"\x05\x00", critical=True))
    if plan.asn_inherit:
        out.append(extension(EXT_AS, seq(tlv(0xA0, b"\x05\x00")), critical=True))
    elif plan.asn is not None:
        out.append(extension(EXT_AS, as_ids(plan.asn), critical=True))
    return out


def crl(plan: CrlPlan, issuer: Issuer, revoked: list[int], ctx: Ctx) -> bytes:
    """An RFC 6487 section 5 CRL with the plan's defects."""
    this = ctx.now + plan.window[0]
    entries = [seq(der_int(serial), utc(this)) for serial in revoked]
    exts = []
    if plan.aki:
        exts.append(extension(EXT_AKI, seq(tlv(0x80, ski_of(issuer.key)))))
    if plan.number:
        exts.append(extension(EXT_CRL_NUMBER, der_int(1)))
    tbs = seq(
        *([der_int(1)] if plan.version else []),
        algorithm(SHA256_RSA),
        name(issuer.key),
        utc(this),
        utc(ctx.now + plan.window[1]),
        *([seq(*entries)] if entries else []),
        tlv(0xA0, seq(*exts)),
    )
    signer = ctx.other if plan.signer == "other" else issuer.key
    return seq(tbs, algorithm(SHA256_RSA), tlv(0x03, b"\x00" + sign(signer, tbs)))


def signed_object(
    content_type: str,
    econtent: bytes,
    ee: bytes,
    ee_key: rsa.RSAPrivateKey,
    issuer: Issuer,
    plan: CmsPlan,
    ctx: Ctx,
) -> bytes:
    """An RFC 6488 CMS signed object with the plan's defects."""
    digest_oid = SHA1 if plan.sha1 else SHA256
    digest = (hashlib.sha1 if plan.sha1 else hashlib.sha256)(econtent).digest()
    if plan.wrong_digest:
        digest = bytes([digest[0] ^ 1]) + digest[1:]
    attrs = sorted(
        [
            seq(der_oid(ATTR_CT), tlv(0x31, der_oid(plan.content_type_attr or content_type))),
            seq(der_oid(ATTR_MD), tlv(0x31, tlv(0x04, digest))),
            seq(der_oid(ATTR_TIME), tlv(0x31, utc(ctx.now))),
            *([seq(der_oid(ATTR_EXTRA), tlv(0x31, tlv(0x0C, b"x")))] if plan.extra_attr else []),
        ],
        reverse=plan.unsorted_attrs,
    )
    signature = sign(ee_key, tlv(0x31, b"".join(attrs)), sha1=plan.sha1)
    if plan.bad_signature:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    by_ski = tlv(0x80, ski_of(ee_key))
    sid = by_ski if plan.sid == "ski" else seq(name(issuer.key), der_int(3))
    unsigned = [tlv(0xA1, seq(der_oid(ATTR_TIME), tlv(0x31, utc(ctx.now))))]
    signer = seq(
        der_int(3),
        sid,
        seq(der_oid(digest_oid)),
        tlv(0xA0, b"".join(attrs)),
        algorithm(plan.sig_alg),
        tlv(0x04, signature),
        *(unsigned if plan.unsigned_attrs else []),
    )
    crls = [tlv(0xA1, crl(CrlPlan(), issuer, [], ctx))] if plan.with_crl else []
    signed = seq(
        der_int(plan.version),
        tlv(0x31, seq(der_oid(digest_oid))),
        seq(der_oid(plan.econtent_type or content_type), tlv(0xA0, tlv(0x04, econtent))),
        tlv(0xA0, ee),
        *crls,
        tlv(0x31, signer),
    )
    return seq(der_oid(SIGNED_DATA), tlv(0xA0, signed))


def roa_content(plan: RoaPlan, asid: int) -> bytes:
    """RFC 9582 RouteOriginAttestation for one IPv4 prefix."""
    dirty = tlv(0x03, b"\x07\x0a\x00\x01")  # 10.0.0.0/17 with a stray unused bit set
    address = dirty if plan.dirty_bits else prefix_bits(plan.prefix)
    blocks = seq(seq(tlv(0x04, plan.family), seq(seq(address, der_int(plan.max_length)))))
    if plan.long_length:
        blocks = long_form(blocks)
    version = [tlv(0xA0, der_int(0))] if plan.explicit_version else []
    return seq(*version, der_int(asid), blocks)


def manifest_content(plan: MftPlan, files: dict[str, bytes], ctx: Ctx) -> bytes:
    """RFC 9286 Manifest listing `files`."""
    entries = [
        seq(tlv(0x16, n.encode()), tlv(0x03, b"\x00" + hashlib.sha256(d).digest()))
        for n, d in sorted(files.items())
    ]
    version = [tlv(0xA0, der_int(0))] if plan.explicit_version else []
    return seq(
        *version,
        der_int(plan.number),
        gen(ctx.now + plan.window[0]),
        gen(ctx.now + plan.window[1]),
        der_oid(SHA256),
        seq(*entries),
    )


# --- the repository ----------------------------------------------------------------------------

HUB = "hub"
SHARED_TA = "corpus"


@dataclass(frozen=True)
class Corpus:
    """The built repository: rsync root, TALs, and which AS number each case's ROA names."""

    root: Path  # holds the rsync modules ta/ and repo/
    base: str  # rsync://127.0.0.1:port/
    tals: tuple[Path, ...]
    asn: dict[str, int]
    now: datetime


@dataclass(frozen=True)
class _Point:
    """One CA and its publication point, as the generator writes them."""

    name: str
    key: rsa.RSAPrivateKey
    mft_key: rsa.RSAPrivateKey
    plan: Plan


def _write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _publish(
    corpus: Corpus,
    point: _Point,
    issuer: Issuer,
    serial: int,
    cert_uri: str,
    objects: dict[str, bytes],
    revoked: list[int],
    ctx: Ctx,
) -> bytes:
    """Write `point`'s publication point holding `objects`; returns its CA certificate, which
    the caller publishes at `cert_uri`."""
    plan, pp_name = point.plan, point.name
    pp = f"{corpus.base}repo/{pp_name}/"
    sia = [(AD_REPO, pp), (AD_MFT, f"{pp}{pp_name}.mft")]
    cert = certificate(plan.ca, point.key, issuer, serial, sia, ctx)
    own = Issuer(point.key, cert_uri, f"{pp}{pp_name}.crl")
    files = dict(objects)
    files[f"{pp_name}.crl"] = crl(plan.crl, own, revoked, ctx)
    listed = dict(files)
    if not plan.mft.list_crl:
        del listed[f"{pp_name}.crl"]
    if plan.mft.list_missing:
        listed["missing.roa"] = b"never published"
    if plan.mft.wrong_hash:
        first = sorted(k for k in listed if not k.endswith(".crl"))[0]
        listed[first] = listed[first] + b"\x00"
    mft_ee = certificate(plan.mft_ee, point.mft_key, own, 2, [(AD_OBJ, f"{pp}{pp_name}.mft")], ctx)
    content = manifest_content(plan.mft, listed, ctx)
    files[f"{pp_name}.mft"] = signed_object(
        CT_MFT, content, mft_ee, point.mft_key, own, plan.mft_cms, ctx
    )
    for file_name, data in files.items():
        _write(corpus.root, f"repo/{pp_name}/{file_name}", data)
    return cert


def _roa(
    corpus: Corpus, point: _Point, cert_uri: str, roa_key: rsa.RSAPrivateKey, ctx: Ctx
) -> bytes:
    """The case's ROA, with an EE certificate issued by the case CA."""
    plan, pp_name = point.plan, point.name
    pp = f"{corpus.base}repo/{pp_name}/"
    own = Issuer(point.key, cert_uri, f"{pp}{pp_name}.crl")
    ee = certificate(plan.roa_ee, roa_key, own, 3, [(AD_OBJ, f"{pp}{pp_name}.roa")], ctx)
    content = roa_content(plan.roa, corpus.asn[pp_name])
    return signed_object(CT_ROA, content, ee, roa_key, own, plan.roa_cms, ctx)


def _tal(corpus: Corpus, ta_name: str, key: rsa.RSAPrivateKey, tal_dir: Path) -> Path:
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = tal_dir / f"{ta_name}.tal"
    path.write_text(f"{corpus.base}ta/{ta_name}.cer\n\n{base64.b64encode(spki).decode()}\n")
    return path


def _case_point(
    corpus: Corpus, case: Case, keys: list[rsa.RSAPrivateKey], issuer: Issuer | None, ctx: Ctx
) -> tuple[_Point, bytes]:
    """Build one case's CA, ROA and publication point; returns the point and the CA
    certificate (which a TA case has already written under ta/)."""
    plan = case.plan()
    ca_key = keys[0]
    if plan.ca_key_bits != keys[0].key_size:
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=plan.ca_key_bits)
    point = _Point(case.name, ca_key, keys[1], plan)
    if issuer is None:
        cert_uri = f"{corpus.base}ta/{case.name}.cer"
        signer = Issuer(point.key, None, None)
    else:
        cert_uri = f"{corpus.base}repo/{HUB}/{case.name}.cer"
        signer = issuer
    roa = _roa(corpus, point, cert_uri, keys[2], ctx)
    revoked = [3] if point.plan.crl.revoke_roa else []
    serial = 100 + corpus.asn[case.name] - FIRST_ASN
    cert = _publish(
        corpus, point, signer, serial, cert_uri, {f"{case.name}.roa": roa}, revoked, ctx
    )
    if issuer is None:
        _write(corpus.root, f"ta/{case.name}.cer", cert)
    return point, cert


def build(
    workdir: Path, base: str, cases: tuple[Case, ...] = CASES, key_cache: Path | None = None
) -> Corpus:
    """Write the whole corpus under `workdir` for rsync URIs starting with `base`."""
    now = datetime.now(UTC).replace(microsecond=0)
    keys = load_keys(5 + 3 * len(cases), key_cache)
    ctx = Ctx(now, keys[0])
    tal_dir = workdir / "tals"
    tal_dir.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(
        workdir / "rsync", base, (), {c.name: FIRST_ASN + i for i, c in enumerate(cases)}, now
    )
    hub_crl = f"{base}repo/{HUB}/{HUB}.crl"
    hub_uri = f"{base}repo/{SHARED_TA}/{HUB}.cer"
    hub_issuer = Issuer(keys[3], hub_uri, hub_crl)
    tals, children, revoked = [], {}, []
    for i, case in enumerate(cases):
        case_keys = keys[5 + 3 * i : 8 + 3 * i]
        point, cert = _case_point(corpus, case, case_keys, None if case.is_ta else hub_issuer, ctx)
        if case.is_ta:
            tal_key = ctx.other if point.plan.tal_key == "other" else point.key
            tals.append(_tal(corpus, case.name, tal_key, tal_dir))
            continue
        children[f"{case.name}.cer"] = cert
        if point.plan.revoked_by_parent:
            revoked.append(100 + corpus.asn[case.name] - FIRST_ASN)
    ta_point = _Point(SHARED_TA, keys[1], keys[2], Plan())
    hub_point = _Point(HUB, keys[3], keys[4], Plan())
    ta_uri = f"{base}ta/{SHARED_TA}.cer"
    ta_issuer = Issuer(keys[1], ta_uri, f"{base}repo/{SHARED_TA}/{SHARED_TA}.crl")
    hub = _publish(corpus, hub_point, ta_issuer, 10, hub_uri, children, revoked, ctx)
    ta = _publish(
        corpus, ta_point, Issuer(keys[1], None, None), 1, ta_uri, {f"{HUB}.cer": hub}, [], ctx
    )
    _write(corpus.root, f"ta/{SHARED_TA}.cer", ta)
    tals.append(_tal(corpus, SHARED_TA, keys[1], tal_dir))
    return Corpus(corpus.root, base, tuple(tals), corpus.asn, now)


# --- judging -----------------------------------------------------------------------------------

OURS = "onereg"
JUDGE_NAMES = ("rpki-client", "fort", "octorpki")


@dataclass(frozen=True)
class Matrix:
    """Which validator accepted which case (its ROA's VRP came out), and our reasons."""

    cases: tuple[Case, ...]
    accepted: dict[str, dict[str, bool]]  # validator -> case name -> accepted
    reasons: dict[str, list[str]]  # case name -> our rejections of its objects
    seconds: dict[str, float]  # per validator, the sum of its runs' times

    def majority_accepts(self, case: str) -> bool:
        return sum(self.accepted[j][case] for j in JUDGE_NAMES) * 2 > len(JUDGE_NAMES)

    def markdown(self) -> str:
        head = "| case | target | defect | onereg | rpki-client | FORT | OctoRPKI |"
        rows = [head, "|---|---|---|---|---|---|---|"]
        for case in self.cases:
            cells = [
                "accepted" if self.accepted[v][case.name] else "rejected"
                for v in (OURS, *JUDGE_NAMES)
            ]
            rows.append(f"| {case.name} | {case.target} | {case.defect} | {' | '.join(cells)} |")
        return "\n".join(rows)


def _accepted(asns: set[int], corpus: Corpus, cases: tuple[Case, ...]) -> dict[str, bool]:
    return {case.name: corpus.asn[case.name] in asns for case in cases}


def our_reasons(rejections: list[Any], case: str) -> list[str]:
    """Our rejections of the objects of one case (its CA certificate or its publication point)."""
    return [r.reason for r in rejections if f"/{case}/" in r.uri or r.uri.endswith(f"/{case}.cer")]


def _batches(tals: tuple[Path, ...], size: int) -> list[tuple[Path, ...]]:
    return [tals[i : i + size] for i in range(0, len(tals), size)]


# TALs per run.  rpki-client 8.2 takes at most 8.  FORT 1.5.4 validates its TALs in parallel
# threads that rsync the same module into one cache at once and lose files to each other, and
# it aborts the whole run on a trust anchor that inherits ("Parent has no resources", then a
# stack trace), so it gets one TAL per run.  OctoRPKI takes them all.
BATCH = {"rpki-client": 8, "fort": 1, "octorpki": 1000}


def _run_judge(name: str, tals: tuple[Path, ...], workdir: Path) -> set[int]:
    """The AS numbers of the VRPs one relying party found over `tals`."""
    if name == "rpki-client":
        verdict = rj.run_rpki_client(list(tals), workdir, ())
    elif name == "fort":
        verdict = rj.run_fort(tals[0], workdir, ())
    else:
        verdict = rj.run_octorpki(list(tals), workdir, ())
    return {v[0] for v in verdict.vrps}


def judge(corpus: Corpus, workdir: Path, cases: tuple[Case, ...] = CASES) -> Matrix:
    """Run the three relying parties (batches in parallel, see `BATCH`) and ours."""
    port = int(corpus.base.rsplit(":", 1)[1].strip("/"))
    jobs = [
        (name, batch, workdir / f"{name}-{i}")
        for name in JUDGE_NAMES
        for i, batch in enumerate(_batches(corpus.tals, BATCH[name]))
    ]
    found: dict[str, set[int]] = {name: set() for name in JUDGE_NAMES}
    seconds: dict[str, float] = dict.fromkeys(JUDGE_NAMES, 0.0)

    def timed(job: tuple[str, tuple[Path, ...], Path]) -> tuple[str, set[int], float]:
        start = time.monotonic()
        asns = _run_judge(*job)
        return job[0], asns, time.monotonic() - start

    start = time.monotonic()
    with (
        rj.rsync_daemon(corpus.root, workdir / "rsyncd", port),
        ThreadPoolExecutor(max_workers=3) as pool,
    ):
        for name, asns, took in pool.map(timed, jobs):
            found[name] |= asns
            seconds[name] += took
    seconds["judges (wall)"] = time.monotonic() - start
    accepted = {name: _accepted(asns, corpus, cases) for name, asns in found.items()}
    mirror = workdir / "mirror"
    mirror.mkdir(exist_ok=True)
    (mirror / f"127.0.0.1:{port}").symlink_to(corpus.root)
    start = time.monotonic()
    result = validate(list(corpus.tals), mirror, corpus.now)
    seconds[OURS] = time.monotonic() - start
    accepted[OURS] = _accepted({v.asn for v in result.vrps}, corpus, cases)
    rejections = list(result.rejections)
    reasons = {case.name: our_reasons(rejections, case.name) for case in cases}
    return Matrix(cases, accepted, reasons, seconds)


def main() -> None:
    """Build the corpus, judge it, print the matrix (for docs/rpki-judges.md)."""
    with rj.world_dir("onereg-corpus-") as workdir:
        start = time.monotonic()
        cache = Path(__file__).parent.parent / ".pytest_cache" / "d" / "rpki-corpus-keys"
        corpus = build(workdir, f"rsync://127.0.0.1:{rj.free_port()}/", key_cache=cache)
        built = time.monotonic() - start
        matrix = judge(corpus, workdir)
        print(matrix.markdown())
        print(
            f"\nbuild {built:.1f} s; "
            + ", ".join(f"{k} {v:.1f} s" for k, v in matrix.seconds.items())
        )


if __name__ == "__main__":
    main()
