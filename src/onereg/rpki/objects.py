"""DER encoders for the RPKI objects a registry issues: resource certificates (RFC 6487 with the
RFC 3779 extensions), CRLs, manifests (RFC 9286) and ROAs (RFC 9582).

The encodings follow the rules that rpki-client, FORT and OctoRPKI all accept (see RPKI-JUDGES.md,
section 6): the three relying parties each reject something the others let through, so every
choice here is the strictest common one, not merely what the RFCs allow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asn1crypto import algos, core, crl, keys, x509  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from onereg.core.intervals import IntervalSet
from onereg.core.resources import Afi, Resource, format_number, range_to_cidrs
from onereg.rpki.cms import OID_CT_MANIFEST, OID_CT_ROA, OID_CT_RSC, signed_object

OID_IP_ADDR_BLOCKS = "1.3.6.1.5.5.7.1.7"
OID_AS_IDS = "1.3.6.1.5.5.7.1.8"
OID_CP_IPADDR_ASNUMBER = "1.3.6.1.5.5.7.14.2"
OID_AD_CA_REPOSITORY = "1.3.6.1.5.5.7.48.5"
OID_AD_RPKI_MANIFEST = "1.3.6.1.5.5.7.48.10"
OID_AD_SIGNED_OBJECT = "1.3.6.1.5.5.7.48.11"
OID_AD_RPKI_NOTIFY = "1.3.6.1.5.5.7.48.13"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"

_AFI_OCTETS = {Afi.IPV4: b"\x00\x01", Afi.IPV6: b"\x00\x02"}
_IP_FAMILIES = (Afi.IPV4, Afi.IPV6)


# --- resource sets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceSet:
    """Number resources per family as coalesced interval sets.

    Interval sets rather than prefix lists because registry holdings are not CIDR-aligned, and
    RFC 3779 asks for the canonical (merged, sorted) form that only intervals give for free.
    """

    asn: IntervalSet = field(default_factory=IntervalSet)
    ipv4: IntervalSet = field(default_factory=IntervalSet)
    ipv6: IntervalSet = field(default_factory=IntervalSet)

    @classmethod
    def of(cls, resources: Iterable[Resource]) -> ResourceSet:
        ranges: dict[Afi, list[tuple[int, int]]] = {afi: [] for afi in Afi}
        for r in resources:
            ranges[r.afi].append((r.start, r.end))
        return cls(
            IntervalSet.from_ranges(ranges[Afi.ASN]),
            IntervalSet.from_ranges(ranges[Afi.IPV4]),
            IntervalSet.from_ranges(ranges[Afi.IPV6]),
        )

    @classmethod
    def parse(cls, *texts: str) -> ResourceSet:
        return cls.of(Resource.parse(t) for t in texts)

    def family(self, afi: Afi) -> IntervalSet:
        return {Afi.ASN: self.asn, Afi.IPV4: self.ipv4, Afi.IPV6: self.ipv6}[afi]

    def resources(self) -> list[Resource]:
        return [Resource(afi, lo, hi) for afi in Afi for lo, hi in self.family(afi)]

    def union(self, other: ResourceSet) -> ResourceSet:
        return ResourceSet(self.asn | other.asn, self.ipv4 | other.ipv4, self.ipv6 | other.ipv6)

    def contains(self, resource: Resource) -> bool:
        return self.family(resource.afi).contains_range(resource.start, resource.end)

    def covers(self, other: ResourceSet) -> bool:
        return all(self.contains(r) for r in other.resources())

    def is_empty(self) -> bool:
        return not (self.asn or self.ipv4 or self.ipv6)

    def texts(self) -> list[str]:
        """A stable, human-readable form (stored in the CA's state and shown in errors)."""
        out = []
        for r in self.resources():
            if r.afi is Afi.ASN:
                out.append(str(r))
            else:
                out.extend(f"{format_number(r.afi, n)}/{p}" for n, p in r.cidrs())
        return out


# --- RFC 3779 extensions ------------------------------------------------------------------------


def _bits(value: int, length: int, width: int) -> core.BitString:
    """The first `length` bits of a `width`-bit number as a DER BIT STRING."""
    return core.BitString(tuple((value >> (width - 1 - i)) & 1 for i in range(length)))


def _range_bits(start: int, end: int, width: int) -> bytes:
    """IPAddressOrRange in its canonical form (RFC 3779 §2.2.3.7): a prefix when the range is
    one, otherwise min with trailing zeros and max with trailing ones dropped."""
    blocks = range_to_cidrs(start, end, width)
    if len(blocks) == 1:
        net, plen = blocks[0]
        return bytes(_bits(net, plen, width).dump())
    lo_len = width
    while lo_len > 0 and not (start >> (width - lo_len)) & 1:
        lo_len -= 1
    hi_len = width
    while hi_len > 0 and (end >> (width - hi_len)) & 1:
        hi_len -= 1
    return _tlv(0x30, _bits(start, lo_len, width).dump() + _bits(end, hi_len, width).dump())


def _der_len(content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        head = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(raw)]) + raw
    return head + content


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(content)


def ip_addr_blocks(resources: ResourceSet | None, inherit: Sequence[Afi] = ()) -> bytes | None:
    """DER of the IPAddrBlocks extension value; None when there is nothing to say.

    Built from raw TLVs because the CHOICE between a prefix and a range makes asn1crypto's
    declarative classes more cumbersome than the encoding itself; families in AFI order.
    """
    families = []
    for afi in _IP_FAMILIES:
        if afi in inherit:
            choice = _tlv(0x05, b"")
        elif resources is not None and resources.family(afi):
            width = afi.bits
            items = b"".join(_range_bits(lo, hi, width) for lo, hi in resources.family(afi))
            choice = _tlv(0x30, items)
        else:
            continue
        families.append(_tlv(0x30, _tlv(0x04, _AFI_OCTETS[afi]) + choice))
    return _tlv(0x30, b"".join(families)) if families else None


def _integer(value: int) -> bytes:
    return bytes(core.Integer(value).dump())


def as_identifiers(resources: ResourceSet | None, inherit: bool = False) -> bytes | None:
    """DER of the ASIdentifiers extension value (asnum only, no rdi); None when empty."""
    if inherit:
        choice = _tlv(0x05, b"")
    elif resources is not None and resources.asn:
        parts = []
        for lo, hi in resources.asn:
            parts.append(_integer(lo) if lo == hi else _tlv(0x30, _integer(lo) + _integer(hi)))
        choice = _tlv(0x30, b"".join(parts))
    else:
        return None
    return _tlv(0x30, _tlv(0xA0, choice))


# --- keys ---------------------------------------------------------------------------------------


def public_key_info(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> keys.PublicKeyInfo:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return keys.PublicKeyInfo.load(der)


def key_identifier(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    """SHA-1 of the subjectPublicKey bits (RFC 6487 §4.8.2, RFC 5280 method 1)."""
    bits = public_key_info(key)["public_key"].contents[1:]  # drop the unused-bits octet
    return hashlib.sha1(bits).digest()


def rsa_sign(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _sha256_rsa() -> algos.SignedDigestAlgorithm:
    return algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa", "parameters": core.Null()})


# --- certificates -------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _time(moment: datetime) -> x509.Time:
    """UTCTime until 2049, GeneralizedTime after (RFC 5280 §4.1.2.5)."""
    moment = _utc(moment)
    name = "utc_time" if moment.year < 2050 else "general_time"
    return x509.Time(name=name, value=moment)


def _name(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> x509.Name:
    """CN = hex key identifier: printable, unique per key, and free of the holder's own spelling
    (RFC 6487 §4.5 wants no meaningful names in subjects)."""
    return x509.Name.build({"common_name": key_identifier(key).hex().upper()}, use_printable=True)


def _uri(uri: str) -> x509.GeneralName:
    return x509.GeneralName(name="uniform_resource_identifier", value=uri)


def _ext(oid: str, value: Any, critical: bool = False) -> dict[str, Any]:
    return {"extn_id": oid, "critical": critical, "extn_value": value}


@dataclass(frozen=True)
class CertSpec:
    """What distinguishes one resource certificate from another.

    `issuer_key` None makes the certificate self-signed (a trust anchor). `inherit` lists the
    families whose resources the certificate inherits (manifest EE certificates). `omit_sia`
    leaves out the subject information access, as RFC 9323 §2 requires of an RSC's EE.
    """

    subject_key: rsa.RSAPublicKey
    issuer_key: rsa.RSAPrivateKey
    serial: int
    not_before: datetime
    not_after: datetime
    resources: ResourceSet | None
    is_ca: bool
    self_signed: bool = False
    ca_repository: str | None = None
    manifest: str | None = None
    notify: str | None = None
    signed_object: str | None = None
    crl: str | None = None
    aia: str | None = None
    inherit_ip: tuple[Afi, ...] = ()
    inherit_as: bool = False
    omit_sia: bool = False


def resource_certificate(spec: CertSpec) -> bytes:
    """A DER X.509 v3 resource certificate (TA, CA or EE) per RFC 6487."""
    subject = _name(spec.subject_key)
    issuer = subject if spec.self_signed else _name(spec.issuer_key.public_key())
    exts: list[dict[str, Any]] = []
    if spec.is_ca:
        exts.append(_ext("basic_constraints", {"ca": True}, critical=True))
    exts.append(_ext("key_identifier", key_identifier(spec.subject_key)))
    if not spec.self_signed:
        aki = {"key_identifier": key_identifier(spec.issuer_key)}
        exts.append(_ext("authority_key_identifier", aki))
    usage = {"key_cert_sign", "crl_sign"} if spec.is_ca else {"digital_signature"}
    exts.append(_ext("key_usage", usage, critical=True))
    if spec.crl is not None:
        point = {"distribution_point": {"full_name": [_uri(spec.crl)]}}
        exts.append(_ext("crl_distribution_points", [point]))
    if spec.aia is not None:
        access = {"access_method": "ca_issuers", "access_location": _uri(spec.aia)}
        exts.append(_ext("authority_information_access", [access]))
    if not spec.omit_sia:
        exts.append(_ext("subject_information_access", _sia(spec)))
    exts.append(_ext("certificate_policies", [{"policy_identifier": OID_CP_IPADDR_ASNUMBER}], True))
    ip = ip_addr_blocks(spec.resources, spec.inherit_ip)
    if ip is not None:
        exts.append(_ext(OID_IP_ADDR_BLOCKS, ip, critical=True))
    asn = as_identifiers(spec.resources, spec.inherit_as)
    if asn is not None:
        exts.append(_ext(OID_AS_IDS, asn, critical=True))
    if ip is None and asn is None:
        raise ValueError("a resource certificate needs at least one RFC 3779 extension")
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": spec.serial,
            "signature": _sha256_rsa(),
            "issuer": issuer,
            "validity": {
                "not_before": _time(spec.not_before),
                "not_after": _time(spec.not_after),
            },
            "subject": subject,
            "subject_public_key_info": public_key_info(spec.subject_key),
            "extensions": exts,
        }
    )
    signature = rsa_sign(spec.issuer_key, tbs.dump())
    cert = x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": _sha256_rsa(),
            "signature_value": signature,
        }
    )
    return bytes(cert.dump())


def _sia(spec: CertSpec) -> list[dict[str, Any]]:
    pairs: list[tuple[str, str | None]]
    if spec.is_ca:
        pairs = [
            (OID_AD_CA_REPOSITORY, spec.ca_repository),
            (OID_AD_RPKI_MANIFEST, spec.manifest),
            (OID_AD_RPKI_NOTIFY, spec.notify),
        ]
    else:
        pairs = [(OID_AD_SIGNED_OBJECT, spec.signed_object)]
    out = [{"access_method": m, "access_location": _uri(u)} for m, u in pairs if u is not None]
    if not out:
        raise ValueError("a resource certificate needs a subject information access")
    return out


# --- CRLs ---------------------------------------------------------------------------------------


def certificate_revocation_list(
    issuer_key: rsa.RSAPrivateKey,
    number: int,
    this_update: datetime,
    next_update: datetime,
    revoked: Iterable[tuple[int, datetime]] = (),
) -> bytes:
    """A DER v2 CRL (RFC 6487 §5): AKI and CRL number only, revoked serials in ascending order."""
    entries = [
        {"user_certificate": serial, "revocation_date": _time(when)}
        for serial, when in sorted(revoked)
    ]
    tbs: dict[str, Any] = {
        "version": "v2",
        "signature": _sha256_rsa(),
        "issuer": _name(issuer_key.public_key()),
        "this_update": _time(this_update),
        "next_update": _time(next_update),
        "crl_extensions": [
            _ext("authority_key_identifier", {"key_identifier": key_identifier(issuer_key)}),
            _ext("crl_number", number),
        ],
    }
    if entries:
        tbs["revoked_certificates"] = entries
    tbs_list = crl.TbsCertList(tbs)
    signed = crl.CertificateList(
        {
            "tbs_cert_list": tbs_list,
            "signature_algorithm": _sha256_rsa(),
            "signature": rsa_sign(issuer_key, tbs_list.dump()),
        }
    )
    return bytes(signed.dump())


# --- ROAs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class RoaPrefix:
    """One ROAIPAddress: a prefix and the longest announcement it authorises."""

    afi: Afi
    address: int
    length: int
    max_length: int

    def __post_init__(self) -> None:
        if not self.afi.is_ip:
            raise ValueError("a ROA prefix is an IP prefix")
        if not 0 <= self.length <= self.max_length <= self.afi.bits:
            raise ValueError(f"maxLength {self.max_length} outside {self.length}..{self.afi.bits}")
        if self.address & ((1 << (self.afi.bits - self.length)) - 1):
            raise ValueError("host bits set in a ROA prefix")

    @classmethod
    def parse(cls, text: str, max_length: int | None = None) -> RoaPrefix:
        """`192.0.2.0/24` or `192.0.2.0/24-28` (the maxLength after a dash)."""
        prefix, _, maxlen = text.partition("-")
        resource = Resource.parse(prefix.strip())
        blocks = resource.cidrs()
        if len(blocks) != 1:
            raise ValueError(f"{text} is not one prefix")
        net, plen = blocks[0]
        chosen = int(maxlen) if maxlen else (plen if max_length is None else max_length)
        return cls(resource.afi, net, plen, chosen)

    @property
    def resource(self) -> Resource:
        return Resource(
            self.afi, self.address, self.address + (1 << (self.afi.bits - self.length)) - 1
        )

    def __str__(self) -> str:
        return f"{format_number(self.afi, self.address)}/{self.length}-{self.max_length}"


def roa_content(asn: int, prefixes: Iterable[RoaPrefix]) -> bytes:
    """RouteOriginAttestation eContent (RFC 9582) in canonical order: IPv4 before IPv6, prefixes
    ascending, duplicates dropped, maxLength present only when it exceeds the prefix length."""
    chosen = sorted(set(prefixes))
    if not chosen:
        raise ValueError("a ROA needs at least one prefix")
    families = []
    for afi in _IP_FAMILIES:
        own = [p for p in chosen if p.afi is afi]
        if not own:
            continue
        addresses = b"".join(
            _tlv(
                0x30,
                _bits(p.address, p.length, afi.bits).dump()
                + (_integer(p.max_length) if p.max_length > p.length else b""),
            )
            for p in own
        )
        families.append(_tlv(0x30, _tlv(0x04, _AFI_OCTETS[afi]) + _tlv(0x30, addresses)))
    return _tlv(0x30, _integer(asn) + _tlv(0x30, b"".join(families)))


def roa_resources(prefixes: Iterable[RoaPrefix]) -> ResourceSet:
    return ResourceSet.of(p.resource for p in prefixes)


# --- manifests ----------------------------------------------------------------------------------


def manifest_content(
    number: int, this_update: datetime, next_update: datetime, files: Mapping[str, bytes]
) -> bytes:
    """Manifest eContent (RFC 9286): version omitted, GeneralizedTime, SHA-256 of every file,
    names in sorted order so equal inputs give equal bytes."""
    entries = b"".join(
        _tlv(
            0x30,
            core.IA5String(name).dump() + core.OctetBitString(hashlib.sha256(data).digest()).dump(),
        )
        for name, data in sorted(files.items())
    )
    return _tlv(
        0x30,
        _integer(number)
        + core.GeneralizedTime(_utc(this_update)).dump()
        + core.GeneralizedTime(_utc(next_update)).dump()
        + core.ObjectIdentifier(OID_SHA256).dump()
        + _tlv(0x30, entries),
    )


# --- signed objects -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedObjectSpec:
    """The EE certificate's particulars for one signed object."""

    ee_key: rsa.RSAPrivateKey
    issuer_key: rsa.RSAPrivateKey
    serial: int
    not_before: datetime
    not_after: datetime
    uri: str
    crl: str
    aia: str
    signing_time: datetime


def _ee_object(
    spec: SignedObjectSpec,
    content_type: str,
    content: bytes,
    resources: ResourceSet | None,
    inherit_ip: tuple[Afi, ...] = (),
    inherit_as: bool = False,
    omit_sia: bool = False,
) -> bytes:
    ee = resource_certificate(
        CertSpec(
            subject_key=spec.ee_key.public_key(),
            issuer_key=spec.issuer_key,
            serial=spec.serial,
            not_before=spec.not_before,
            not_after=spec.not_after,
            resources=resources,
            is_ca=False,
            signed_object=spec.uri,
            crl=spec.crl,
            aia=spec.aia,
            inherit_ip=inherit_ip,
            inherit_as=inherit_as,
            omit_sia=omit_sia,
        )
    )
    return signed_object(content_type, content, ee, spec.ee_key, spec.signing_time)


def roa(spec: SignedObjectSpec, asn: int, prefixes: Sequence[RoaPrefix]) -> bytes:
    """A complete ROA: its EE certificate holds exactly the ROA's prefixes and no AS numbers."""
    return _ee_object(spec, OID_CT_ROA, roa_content(asn, prefixes), roa_resources(prefixes))


def manifest(
    spec: SignedObjectSpec,
    number: int,
    this_update: datetime,
    next_update: datetime,
    files: Mapping[str, bytes],
) -> bytes:
    """A complete manifest. Its EE certificate inherits IPv4, IPv6 and AS numbers whatever the
    issuing CA holds: RFC 9286 §5.1 prefers inherit, and rpki-client rejects a manifest EE
    that lacks either extension or lists anything explicitly."""
    return _ee_object(
        spec,
        OID_CT_MANIFEST,
        manifest_content(number, this_update, next_update, files),
        None,
        inherit_ip=_IP_FAMILIES,
        inherit_as=True,
    )


# --- signed checklists (RFC 9323) ---------------------------------------------------------------


def rsc_content(resources: ResourceSet, files: Sequence[tuple[str | None, bytes]]) -> bytes:
    """RpkiSignedChecklist eContent: version omitted (0), the ResourceBlock (asID [0] and
    ipAddrBlocks [1], EXPLICIT tags, no inherit), sha256 with absent parameters, and one
    FileNameAndHash per (name or None, SHA-256 digest), in the order given."""
    if not files:
        raise ValueError("a checklist needs at least one entry")
    block = b""
    asn = as_identifiers(resources)
    if asn is not None:  # ConstrainedASIdentifiers has the same bytes as ASIdentifiers here
        block += _tlv(0xA0, asn)
    ip = ip_addr_blocks(resources)
    if ip is not None:  # ConstrainedIPAddrBlocks: IPAddrBlocks without the inherit choice
        block += _tlv(0xA1, ip)
    if not block:
        raise ValueError("a checklist needs some resources")
    entries = b""
    for name, digest in files:
        if len(digest) != 32:
            raise ValueError("a checklist digest is a SHA-256 digest")
        named = core.IA5String(name).dump() if name is not None else b""
        entries += _tlv(0x30, named + core.OctetString(digest).dump())
    sha256 = bytes.fromhex("300b0609608648016503040201")
    return _tlv(0x30, _tlv(0x30, block) + sha256 + _tlv(0x30, entries))


def rsc(
    spec: SignedObjectSpec,
    resources: ResourceSet,
    files: Sequence[tuple[str | None, bytes]],
) -> bytes:
    """A complete RSC: its EE certificate holds exactly the checklist's resources, no SIA."""
    return _ee_object(spec, OID_CT_RSC, rsc_content(resources, files), resources, omit_sia=True)
