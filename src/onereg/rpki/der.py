"""Decoding RPKI objects from DER into frozen dataclasses.

asn1crypto reads X.509, CRLs and CMS, but knows none of the RPKI-specific structures: the RFC 3779
resource extensions, ROAs, manifests, ASPA and RSC payloads are declared here as asn1crypto
specs, and their values (BIT STRING prefixes in particular, whose unused-bit count carries the
prefix length) are converted by hand.  asn1crypto parses lazily and raises many exception types
on bad input, so every public decoder forces the parse inside one guard and turns whatever
escapes into `RpkiDecodeError`: a relying party reads hostile bytes, and callers (the validator,
``onereg rpki show``) need one error type that always carries a reason.

Decoding checks only what is needed to read the values.  Profile rules (RFC 6487, 6488, 9286,
9582) that an object can break and still be read are collected in ``problems`` so the printer
can show them and the validator can reject the object with a reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from asn1crypto import cms, core, keys, x509  # type: ignore[import-untyped]
from asn1crypto import crl as asn1_crl

from onereg.core.errors import OneregError
from onereg.core.intervals import IntervalSet
from onereg.core.resources import Afi
from onereg.rpki.dercheck import der_problem, econtent_problem
from onereg.rpki.resources import INHERIT, Held, ResourceSet

# --- object identifiers -----------------------------------------------------------------------

OID_IP_ADDR_BLOCKS = "1.3.6.1.5.5.7.1.7"
OID_AS_IDS = "1.3.6.1.5.5.7.1.8"
OID_IP_ADDR_BLOCKS_V2 = "1.3.6.1.5.5.7.1.28"
OID_AS_IDS_V2 = "1.3.6.1.5.5.7.1.29"
OID_CP_IPADDR_ASNUMBER = "1.3.6.1.5.5.7.14.2"
OID_AD_CA_REPOSITORY = "1.3.6.1.5.5.7.48.5"
OID_AD_RPKI_MANIFEST = "1.3.6.1.5.5.7.48.10"
OID_AD_SIGNED_OBJECT = "1.3.6.1.5.5.7.48.11"
OID_AD_RPKI_NOTIFY = "1.3.6.1.5.5.7.48.13"
OID_AD_CA_ISSUERS = "1.3.6.1.5.5.7.48.2"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"

OID_CT_ROA = "1.2.840.113549.1.9.16.1.24"
OID_CT_MANIFEST = "1.2.840.113549.1.9.16.1.26"
OID_CT_ASPA = "1.2.840.113549.1.9.16.1.49"
OID_CT_RSC = "1.2.840.113549.1.9.16.1.48"
OID_CT_GBR = "1.2.840.113549.1.9.16.1.35"

CONTENT_TYPE_NAMES = {
    OID_CT_ROA: "roa",
    OID_CT_MANIFEST: "manifest",
    OID_CT_ASPA: "aspa",
    OID_CT_RSC: "rsc",
    OID_CT_GBR: "ghostbusters",
}

_ALLOWED_SIGNED_ATTRS = {
    "content_type",
    "message_digest",
    "signing_time",
    "1.2.840.113549.1.9.16.2.46",
}


class RpkiDecodeError(OneregError, ValueError):
    """Bytes that are not the RPKI object they claim to be; the message says what is wrong."""


# --- asn1crypto specs for the structures asn1crypto does not ship ------------------------------


class _Bits(core.Primitive):  # type: ignore[misc]
    """A BIT STRING kept raw: the unused-bit count is the prefix length, which asn1crypto's
    BitString would turn into a tuple of bits."""

    class_ = 0
    tag = 3

    @property
    def native(self) -> bytes | None:
        return None if self.contents is None else bytes(self.contents)


class _IPAddressRange(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [("min", _Bits), ("max", _Bits)]


class _IPAddressOrRange(core.Choice):  # type: ignore[misc]
    _alternatives: ClassVar = [("prefix", _Bits), ("range", _IPAddressRange)]


class _IPAddressOrRanges(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _IPAddressOrRange


class _IPAddressChoice(core.Choice):  # type: ignore[misc]
    _alternatives: ClassVar = [("inherit", core.Null), ("ranges", _IPAddressOrRanges)]


class _IPAddressFamily(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [("family", core.OctetString), ("choice", _IPAddressChoice)]


class _IPAddrBlocks(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _IPAddressFamily


class _ASRange(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [("min", core.Integer), ("max", core.Integer)]


class _ASIdOrRange(core.Choice):  # type: ignore[misc]
    _alternatives: ClassVar = [("id", core.Integer), ("range", _ASRange)]


class _ASIdsOrRanges(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _ASIdOrRange


class _ASIdentifierChoice(core.Choice):  # type: ignore[misc]
    _alternatives: ClassVar = [("inherit", core.Null), ("ids", _ASIdsOrRanges)]


class _ASIdentifiers(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [
        ("asnum", _ASIdentifierChoice, {"explicit": 0, "optional": True}),
        ("rdi", _ASIdentifierChoice, {"explicit": 1, "optional": True}),
    ]


class _ROAIPAddress(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [("address", _Bits), ("max_length", core.Integer, {"optional": True})]


class _ROAIPAddresses(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _ROAIPAddress


class _ROAIPAddressFamily(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [("family", core.OctetString), ("addresses", _ROAIPAddresses)]


class _ROAIPAddressFamilies(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _ROAIPAddressFamily


class _RouteOriginAttestation(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [
        ("version", core.Integer, {"explicit": 0, "default": 0}),
        ("as_id", core.Integer),
        ("blocks", _ROAIPAddressFamilies),
    ]


class _FileAndHash(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [("file", core.IA5String), ("hash", _Bits)]


class _FileList(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _FileAndHash


class _Manifest(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [
        ("version", core.Integer, {"explicit": 0, "default": 0}),
        ("number", core.Integer),
        ("this_update", core.GeneralizedTime),
        ("next_update", core.GeneralizedTime),
        ("hash_alg", core.ObjectIdentifier),
        ("files", _FileList),
    ]


class _ProviderAS(core.Sequence):  # type: ignore[misc]
    """The provider form of the early ASPA drafts (an AFI limit next to the AS number)."""

    _fields: ClassVar = [("as_id", core.Integer), ("afi", core.OctetString, {"optional": True})]


class _Provider(core.Choice):  # type: ignore[misc]
    _alternatives: ClassVar = [("as_id", core.Integer), ("provider", _ProviderAS)]


class _Providers(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _Provider


class _Aspa(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [
        ("version", core.Integer, {"explicit": 0, "default": 0}),
        ("customer", core.Integer),
        ("providers", _Providers),
    ]


class _ConstrainedASIds(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [("asnum", _ASIdsOrRanges, {"explicit": 0})]


class _ConstrainedIPFamily(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [("family", core.OctetString), ("ranges", _IPAddressOrRanges)]


class _ConstrainedIPBlocks(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _ConstrainedIPFamily


class _ResourceBlock(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [
        ("as_id", _ConstrainedASIds, {"explicit": 0, "optional": True}),
        ("ip", _ConstrainedIPBlocks, {"explicit": 1, "optional": True}),
    ]


class _FileNameAndHash(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [("name", core.IA5String, {"optional": True}), ("hash", core.OctetString)]


class _CheckList(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _FileNameAndHash


class _Rsc(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [
        ("version", core.Integer, {"explicit": 0, "default": 0}),
        ("resources", _ResourceBlock),
        ("digest_alg", cms.DigestAlgorithm),
        ("checklist", _CheckList),
    ]


_ECONTENT_SPECS: tuple[type[Any], ...] = (_RouteOriginAttestation, _Manifest, _Aspa, _Rsc)

# --- decoded forms ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourceCert:
    """An RFC 6487 resource certificate (CA, EE or self-signed TA)."""

    der: bytes
    tbs_der: bytes
    signature: bytes
    signature_algorithm: str
    serial: int
    issuer: str
    subject: str
    not_before: datetime
    not_after: datetime
    spki_der: bytes
    ski: bytes | None
    aki: bytes | None
    is_ca: bool
    key_usage: frozenset[str]
    ca_repository: str | None
    manifest_uri: str | None
    notify_uri: str | None
    signed_object_uri: str | None
    aia_uri: str | None
    crldp_uri: str | None
    policies: tuple[str, ...]
    resources: ResourceSet
    problems: tuple[str, ...]

    @property
    def self_signed(self) -> bool:
        return self.aki is None or self.aki == self.ski


@dataclass(frozen=True, slots=True)
class Crl:
    """An RFC 6487 section 5 CRL."""

    der: bytes
    tbs_der: bytes
    signature: bytes
    signature_algorithm: str
    issuer: str
    this_update: datetime
    next_update: datetime | None
    number: int | None
    aki: bytes | None
    revoked: frozenset[int]
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SignedObject:
    """The RFC 6488 CMS wrapper shared by manifests, ROAs, ASPAs and RSCs."""

    der: bytes
    content_type: str
    econtent: bytes
    ee: ResourceCert
    digest_algorithm: str
    signature_algorithm: str
    signature: bytes
    signed_attrs_der: bytes
    attr_content_type: str | None
    message_digest: bytes | None
    signing_time: datetime | None
    sid_ski: bytes | None
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ManifestFile:
    name: str
    digest: bytes


@dataclass(frozen=True, slots=True)
class Manifest:
    """An RFC 9286 manifest: what a publication point holds, with SHA-256 of each file."""

    signed: SignedObject
    number: int
    this_update: datetime
    next_update: datetime
    hash_algorithm: str
    files: tuple[ManifestFile, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoaPrefix:
    afi: Afi
    start: int
    length: int
    max_length: int | None

    @property
    def end(self) -> int:
        return self.start | ((1 << (self.afi.bits - self.length)) - 1)

    @property
    def effective_max_length(self) -> int:
        return self.length if self.max_length is None else self.max_length


@dataclass(frozen=True, slots=True)
class Roa:
    """An RFC 9582 route origin authorisation."""

    signed: SignedObject
    asid: int
    prefixes: tuple[RoaPrefix, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Aspa:
    """An ASPA (draft-ietf-sidrops-aspa-profile): a customer AS and its provider ASes."""

    signed: SignedObject
    customer: int
    providers: tuple[int, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rsc:
    """An RFC 9323 signed checklist: hashes of files signed "with" a resource set."""

    signed: SignedObject
    resources: ResourceSet
    digest_algorithm: str
    checklist: tuple[tuple[str | None, bytes], ...]
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Tal:
    """An RFC 8630 trust anchor locator: where the TA cert is, and the key it must have."""

    uris: tuple[str, ...]
    spki_der: bytes
    comments: tuple[str, ...]


RpkiObject = ResourceCert | Crl | Manifest | Roa | Aspa | Rsc | Tal | SignedObject

# --- helpers ---------------------------------------------------------------------------------

_T = TypeVar("_T")


def _guard(what: str, parse: Callable[[], _T]) -> _T:
    """Run a parse, turning anything asn1crypto (or our own code) raises into RpkiDecodeError."""
    try:
        return parse()
    except RpkiDecodeError:
        raise
    except RecursionError:
        raise RpkiDecodeError(f"{what}: nesting too deep") from None
    except Exception as exc:
        raise RpkiDecodeError(f"{what}: {type(exc).__name__}: {exc}") from None


def _load(spec: type[Any], data: bytes, what: str, der: bool = True) -> Any:
    """Parse `data` as `spec`, refusing trailing bytes (asn1crypto would ignore them) and,
    unless `der` is False, any encoding that is not DER (see `_require_der`)."""
    value = spec.load(data, strict=True)
    value.native  # noqa: B018  (force the lazy parse of every nested value now)
    if der:
        _require_der(data, what, econtent=spec in _ECONTENT_SPECS)
    return value


_DER_RULE = "RPKI objects must be DER (RFC 6488 section 2.1, RFC 6487 section 4)"


def _require_der(data: bytes, what: str, econtent: bool = False) -> None:
    """Refuse `data` unless it is DER (`onereg.rpki.dercheck`; an eContent also must not
    encode its DEFAULT version)."""
    problem = econtent_problem(data) if econtent else der_problem(data)
    if problem is not None:
        raise RpkiDecodeError(f"{what} is not DER: {problem}; {_DER_RULE}")


def bits_to_prefix(raw: bytes, bits: int) -> tuple[int, int]:
    """(address, prefix length) from the contents of an RFC 3779 BIT STRING."""
    if not raw:
        raise RpkiDecodeError("empty BIT STRING")
    unused, body = raw[0], raw[1:]
    if unused > 7 or (unused and not body):
        raise RpkiDecodeError(f"BIT STRING with {unused} unused bits")
    length = 8 * len(body) - unused
    if length > bits:
        raise RpkiDecodeError(f"{length}-bit prefix in a {bits}-bit family")
    value = int.from_bytes(body, "big") if body else 0
    if unused and value & ((1 << unused) - 1):
        raise RpkiDecodeError("BIT STRING has non-zero unused bits")
    value >>= unused
    return value << (bits - length), length


def _family(octets: bytes) -> Afi:
    if len(octets) not in (2, 3):
        raise RpkiDecodeError(f"addressFamily of {len(octets)} octets")
    afi = int.from_bytes(octets[:2], "big")
    if afi == 1:
        return Afi.IPV4
    if afi == 2:
        return Afi.IPV6
    raise RpkiDecodeError(f"unknown AFI {afi}")


def _ip_ranges(entries: Any, afi: Afi) -> IntervalSet:
    pairs: list[tuple[int, int]] = []
    for entry in entries:
        if entry.name == "prefix":
            start, length = bits_to_prefix(entry.chosen.contents, afi.bits)
            pairs.append((start, start | ((1 << (afi.bits - length)) - 1)))
        else:
            lo, _ = bits_to_prefix(entry.chosen["min"].contents, afi.bits)
            hi_raw, hi_len = bits_to_prefix(entry.chosen["max"].contents, afi.bits)
            hi = hi_raw | ((1 << (afi.bits - hi_len)) - 1)
            if lo > hi:
                raise RpkiDecodeError("address range with min above max")
            pairs.append((lo, hi))
    return IntervalSet.from_ranges(pairs)


def _as_ranges(entries: Any) -> IntervalSet:
    pairs: list[tuple[int, int]] = []
    for entry in entries:
        if entry.name == "id":
            pairs.append((entry.chosen.native, entry.chosen.native))
        else:
            pairs.append((entry.chosen["min"].native, entry.chosen["max"].native))
    for lo, hi in pairs:
        if not 0 <= lo <= hi <= Afi.ASN.max_value:
            raise RpkiDecodeError(f"bad AS range {lo}-{hi}")
    return IntervalSet.from_ranges(pairs)


def _ip_resources(ext_der: bytes, problems: list[str]) -> dict[Afi, Held]:
    blocks = _load(_IPAddrBlocks, ext_der, "IPAddrBlocks")
    out: dict[Afi, Held] = {}
    for fam in blocks:
        octets = fam["family"].native
        afi = _family(octets)
        if len(octets) == 3:
            problems.append(f"{afi.value} addressFamily carries a SAFI (RFC 6487 4.8.10)")
        if afi in out:
            raise RpkiDecodeError(f"{afi.value} listed twice in IPAddrBlocks")
        choice = fam["choice"]
        out[afi] = INHERIT if choice.name == "inherit" else _ip_ranges(choice.chosen, afi)
    return out


def _as_resources(ext_der: bytes, problems: list[str]) -> Held | None:
    ids = _load(_ASIdentifiers, ext_der, "ASIdentifiers")
    if ids["rdi"].native is not None:
        problems.append("ASIdentifiers carries rdi (RFC 6487 4.8.11)")
    choice = ids["asnum"]
    if isinstance(choice, core.Void):
        return None  # no asnum at all (only rdi)
    if choice.name == "inherit":  # checked first: the native value of inherit (NULL) is None
        return INHERIT
    return _as_ranges(choice.chosen)


def _access(ext: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for desc in ext:
        loc = desc["access_location"]
        if loc.name != "uniform_resource_identifier":
            continue
        found.setdefault(desc["access_method"].dotted, []).append(loc.native)
    return found


def _first_rsync(uris: Sequence[str] | None) -> str | None:
    if not uris:
        return None
    for uri in uris:
        if uri.startswith("rsync://"):
            return uri
    return uris[0]


def _name(name: x509.Name) -> str:
    parts = []
    for rdn in name.chosen:
        for atv in rdn:
            key = atv["type"].native
            short = {"common_name": "CN", "serial_number": "serialNumber"}.get(key, key)
            parts.append(f"{short}={atv['value'].native}")
    return "/" + "/".join(parts) if parts else ""


# --- certificates ----------------------------------------------------------------------------


def decode_cert(data: bytes) -> ResourceCert:
    """Decode one resource certificate."""
    fast = _fast(_fast_cert, data)
    if fast is not None:
        return fast
    return _guard("certificate", lambda: _decode_cert(_load(x509.Certificate, data, "certificate")))


def _decode_cert(cert: x509.Certificate) -> ResourceCert:
    tbs = cert["tbs_certificate"]
    problems: list[str] = []
    if tbs["version"].native != "v3":
        problems.append(f"certificate version {tbs['version'].native}, not v3")
    if cert["signature_algorithm"]["algorithm"].dotted != tbs["signature"]["algorithm"].dotted:
        problems.append("outer and inner signature algorithms differ")
    serial = tbs["serial_number"].native
    if serial <= 0:
        problems.append(f"serial number {serial} is not positive")
    seen: set[str] = set()
    ski = aki = None
    is_ca = False
    key_usage: frozenset[str] = frozenset()
    sia: dict[str, list[str]] = {}
    aia: dict[str, list[str]] = {}
    crldp: list[str] = []
    policies: tuple[str, ...] = ()
    ip: dict[Afi, Held] = {}
    asn: Held | None = None
    has_ip = has_as = False
    for ext in tbs["extensions"]:
        oid = ext["extn_id"].dotted
        critical = bool(ext["critical"].native)
        if oid in seen:
            raise RpkiDecodeError(f"extension {oid} appears twice")
        seen.add(oid)
        value = ext["extn_value"]
        _require_der(value.contents, f"extension {oid}")
        if oid == "2.5.29.14":
            ski = value.parsed.native
        elif oid == "2.5.29.35":
            aki = value.parsed["key_identifier"].native
        elif oid == "2.5.29.19":
            is_ca = bool(value.parsed["ca"].native)
            if not critical:
                problems.append("basicConstraints is not critical")
        elif oid == "2.5.29.15":
            key_usage = frozenset(value.parsed.native)
            if not critical:
                problems.append("keyUsage is not critical")
        elif oid == "1.3.6.1.5.5.7.1.11":
            sia = _access(value.parsed)
        elif oid == "1.3.6.1.5.5.7.1.1":
            aia = _access(value.parsed)
        elif oid == "2.5.29.31":
            for point in value.parsed:
                name = point["distribution_point"]
                if name.name == "full_name":
                    crldp.extend(
                        g.native for g in name.chosen if g.name == "uniform_resource_identifier"
                    )
        elif oid == "2.5.29.32":
            policies = tuple(p["policy_identifier"].dotted for p in value.parsed)
            if not critical:
                problems.append("certificatePolicies is not critical")
        elif oid in (OID_IP_ADDR_BLOCKS, OID_IP_ADDR_BLOCKS_V2):
            has_ip = True
            ip = _ip_resources(value.contents, problems)
            if not critical:
                problems.append("IP resources extension is not critical")
        elif oid in (OID_AS_IDS, OID_AS_IDS_V2):
            has_as = True
            asn = _as_resources(value.contents, problems)
            if not critical:
                problems.append("AS resources extension is not critical")
        elif critical:
            problems.append(f"unknown critical extension {oid}")
    if ski is None:
        problems.append("no subjectKeyIdentifier")
    if not has_ip and not has_as:
        problems.append("no RFC 3779 resource extension")
    if policies != (OID_CP_IPADDR_ASNUMBER,) and not (
        len(policies) == 1 and policies[0] == "1.3.6.1.5.5.7.14.3"
    ):
        problems.append(
            f"certificate policies {list(policies)}, expected [{OID_CP_IPADDR_ASNUMBER}]"
        )
    resources = ResourceSet(
        asn if asn is not None else IntervalSet(),
        ip.get(Afi.IPV4, IntervalSet()),
        ip.get(Afi.IPV6, IntervalSet()),
    )
    validity = tbs["validity"]
    spki = tbs["subject_public_key_info"]
    return ResourceCert(
        der=cert.dump(),
        tbs_der=tbs.dump(),
        signature=cert["signature_value"].native,
        signature_algorithm=cert["signature_algorithm"]["algorithm"].dotted,
        serial=serial,
        issuer=_name(tbs["issuer"]),
        subject=_name(tbs["subject"]),
        not_before=validity["not_before"].native,
        not_after=validity["not_after"].native,
        spki_der=spki.dump(),
        ski=ski,
        aki=aki,
        is_ca=is_ca,
        key_usage=key_usage,
        ca_repository=_first_rsync(sia.get(OID_AD_CA_REPOSITORY)),
        manifest_uri=_first_rsync(sia.get(OID_AD_RPKI_MANIFEST)),
        notify_uri=next(iter(sia.get(OID_AD_RPKI_NOTIFY, [])), None),
        signed_object_uri=_first_rsync(sia.get(OID_AD_SIGNED_OBJECT)),
        aia_uri=_first_rsync(aia.get(OID_AD_CA_ISSUERS)),
        crldp_uri=_first_rsync(crldp),
        policies=policies,
        resources=resources,
        problems=tuple(problems),
    )


# --- CRLs ------------------------------------------------------------------------------------


def decode_crl(data: bytes) -> Crl:
    """Decode one CRL."""
    return _guard("CRL", lambda: _decode_crl(_load(asn1_crl.CertificateList, data, "CRL")))


def _decode_crl(crl: asn1_crl.CertificateList) -> Crl:
    tbs = crl["tbs_cert_list"]
    problems: list[str] = []
    if tbs["version"].native != "v2":
        problems.append(f"CRL version {tbs['version'].native}, not v2 (RFC 6487 section 5)")
    number = aki = None
    for ext in tbs["crl_extensions"]:
        oid = ext["extn_id"].dotted
        if oid == "2.5.29.20":
            number = ext["extn_value"].parsed.native
        elif oid == "2.5.29.35":
            aki = ext["extn_value"].parsed["key_identifier"].native
        else:
            problems.append(f"unexpected CRL extension {oid}")
    if number is None:
        problems.append("no CRL number (RFC 6487 section 5)")
    if aki is None:
        problems.append("no authorityKeyIdentifier (RFC 6487 section 5)")
    revoked = frozenset(entry["user_certificate"].native for entry in tbs["revoked_certificates"])
    next_update = tbs["next_update"].native
    if next_update is None:
        problems.append("no nextUpdate (RFC 6487 section 5)")
    return Crl(
        der=crl.dump(),
        tbs_der=tbs.dump(),
        signature=crl["signature"].native,
        signature_algorithm=crl["signature_algorithm"]["algorithm"].dotted,
        issuer=_name(tbs["issuer"]),
        this_update=tbs["this_update"].native,
        next_update=next_update,
        number=number,
        aki=aki,
        revoked=revoked,
        problems=tuple(problems),
    )


# --- CMS signed objects ----------------------------------------------------------------------


def decode_signed_object(data: bytes) -> SignedObject:
    """Decode the RFC 6488 CMS wrapper of any signed object, without its payload."""
    return _guard("signed object", lambda: _decode_signed(data))


def _decode_signed(data: bytes) -> SignedObject:
    # The CMS wrapper itself may be BER: RIPE NCC signed objects long used indefinite lengths
    # there and every relying party accepts them.  What is signed or hashed must be DER: the
    # EE certificate, the signed attributes (RFC 5652 5.4) and the eContent.
    info = _load(cms.ContentInfo, data, "CMS signed object", der=False)
    problems: list[str] = []
    if info["content_type"].native != "signed_data":
        raise RpkiDecodeError(f"CMS content type {info['content_type'].dotted}, not signedData")
    signed = info["content"]
    if signed["version"].native != "v3":
        problems.append(f"SignedData version {signed['version'].native}, not v3 (RFC 6488 2.1.1)")
    digests = [alg["algorithm"].dotted for alg in signed["digest_algorithms"]]
    if digests != [OID_SHA256]:
        problems.append(f"digestAlgorithms {digests}, expected only SHA-256")
    certs = signed["certificates"]
    if certs.native is None or len(certs) != 1 or certs[0].name != "certificate":
        raise RpkiDecodeError("a signed object must carry exactly one EE certificate")
    if signed["crls"].native is not None:
        problems.append("SignedData carries CRLs (RFC 6488 section 2.1.5)")
    if len(signed["signer_infos"]) != 1:
        raise RpkiDecodeError(f"{len(signed['signer_infos'])} SignerInfos, expected one")
    signer = signed["signer_infos"][0]
    if signer["version"].native != "v3":
        problems.append(f"SignerInfo version {signer['version'].native}, not v3 (RFC 6488 2.1.6.1)")
    sid_ski = None
    if signer["sid"].name == "subject_key_identifier":
        sid_ski = signer["sid"].chosen.native
    else:
        problems.append("SignerInfo sid is not a subjectKeyIdentifier (RFC 6488 2.1.6.2)")
    if signer["unsigned_attrs"].native is not None:
        problems.append("SignerInfo has unsigned attributes (RFC 6488 section 2.1.6.7)")
    attrs = signer["signed_attrs"]
    if attrs.native is None:
        raise RpkiDecodeError("SignerInfo has no signed attributes")
    attr_ct = digest = signing_time = None
    seen: set[str] = set()
    for attr in attrs:
        kind = attr["type"].native
        if kind in seen:
            problems.append(f"signed attribute {kind} appears twice")
        seen.add(kind)
        if kind not in _ALLOWED_SIGNED_ATTRS:
            problems.append(f"unexpected signed attribute {kind}")
        values = attr["values"]
        if len(values) != 1:
            problems.append(f"signed attribute {kind} has {len(values)} values")
            continue
        if kind == "content_type":
            attr_ct = values[0].dotted
        elif kind == "message_digest":
            digest = values[0].native
        elif kind == "signing_time":
            signing_time = values[0].native
    econtent_info = signed["encap_content_info"]
    content_type = econtent_info["content_type"].dotted
    if attr_ct is None:
        problems.append("no contentType signed attribute")
    elif attr_ct != content_type:
        problems.append(f"contentType attribute {attr_ct} differs from eContentType {content_type}")
    if digest is None:
        problems.append("no messageDigest signed attribute")
    if signer["digest_algorithm"]["algorithm"].dotted != OID_SHA256:
        problems.append("SignerInfo digestAlgorithm is not SHA-256")
    econtent = econtent_info["content"]
    if econtent.native is None:
        raise RpkiDecodeError("signed object has no eContent")
    _require_der(certs[0].chosen.dump(), "EE certificate")
    ee = _decode_cert(certs[0].chosen)
    raw_attrs = attrs.dump()
    _require_der(b"\x31" + raw_attrs[1:], "SignedAttributes")
    return SignedObject(
        der=data,
        content_type=content_type,
        econtent=econtent.native if isinstance(econtent.native, bytes) else econtent.contents,
        ee=ee,
        digest_algorithm=signer["digest_algorithm"]["algorithm"].dotted,
        signature_algorithm=signer["signature_algorithm"]["algorithm"].dotted,
        signature=signer["signature"].native,
        # The signature covers the attributes as a SET OF (tag 0x31), not as the [0] field.
        signed_attrs_der=b"\x31" + raw_attrs[1:],
        attr_content_type=attr_ct,
        message_digest=digest,
        signing_time=signing_time,
        sid_ski=sid_ski,
        problems=tuple(problems),
    )


def _expect(signed: SignedObject, oid: str) -> None:
    if signed.content_type != oid:
        have = CONTENT_TYPE_NAMES.get(signed.content_type, signed.content_type)
        want = CONTENT_TYPE_NAMES.get(oid, oid)
        raise RpkiDecodeError(f"eContentType is {have}, expected {want}")


def decode_manifest(data: bytes) -> Manifest:
    """Decode an RFC 9286 manifest."""
    fast = _fast(_fast_manifest, data)
    if fast is not None:
        return fast

    def parse() -> Manifest:
        signed = _decode_signed(data)
        _expect(signed, OID_CT_MANIFEST)
        body = _load(_Manifest, signed.econtent, "manifest eContent")
        problems: list[str] = []
        if body["version"].native != 0:
            problems.append(f"manifest version {body['version'].native}")
        number = body["number"].native
        if number < 0 or number.bit_length() > 160:
            problems.append(f"manifest number {number} outside 0..2^160-1")
        this_update = body["this_update"].native
        next_update = body["next_update"].native
        if next_update <= this_update:
            problems.append("manifest nextUpdate is not after thisUpdate")
        alg = body["hash_alg"].dotted
        if alg != OID_SHA256:
            problems.append(f"manifest hash algorithm {alg} is not SHA-256")
        files: list[ManifestFile] = []
        names: set[str] = set()
        for entry in body["files"]:
            name = entry["file"].native
            raw = entry["hash"].contents
            if not raw or raw[0] != 0:
                raise RpkiDecodeError(f"hash of {name!r} is not a whole number of octets")
            if not _portable(name):
                problems.append(f"file name {name!r} is not a portable file name")
            if name in names:
                problems.append(f"file {name!r} listed twice")
            names.add(name)
            files.append(ManifestFile(name, raw[1:]))
        if signed.ee.resources.inherits is False:
            problems.append("manifest EE certificate does not use inherit (RFC 9286 section 5.1)")
        return Manifest(
            signed=signed,
            number=number,
            this_update=this_update,
            next_update=next_update,
            hash_algorithm=alg,
            files=tuple(files),
            problems=tuple(problems),
        )

    return _guard("manifest", parse)


def _portable(name: str) -> bool:
    stem, dot, ext = name.rpartition(".")
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    return bool(dot and stem and len(ext) == 3 and set(stem) <= allowed and ext.isalpha())


_ROA_EE_INHERITS = (
    "ROA EE certificate uses inherit for its resources; they must be explicit"
    " (RFC 9582 section 5, RFC 6487 section 4.8.10)"
)


def decode_roa(data: bytes) -> Roa:
    """Decode an RFC 9582 ROA."""
    fast = _fast(_fast_roa, data)
    if fast is not None:
        return fast

    def parse() -> Roa:
        signed = _decode_signed(data)
        _expect(signed, OID_CT_ROA)
        body = _load(_RouteOriginAttestation, signed.econtent, "ROA eContent")
        problems: list[str] = []
        if body["version"].native != 0:
            problems.append(f"ROA version {body['version'].native}")
        asid = body["as_id"].native
        if not 0 <= asid <= Afi.ASN.max_value:
            raise RpkiDecodeError(f"ROA asID {asid} out of range")
        prefixes: list[RoaPrefix] = []
        families: list[Afi] = []
        for fam in body["blocks"]:
            octets = fam["family"].native
            afi = _family(octets)
            if len(octets) != 2:
                problems.append("ROA addressFamily carries a SAFI")
            if afi in families:
                problems.append(f"ROA lists {afi.value} twice")
            families.append(afi)
            for entry in fam["addresses"]:
                start, length = bits_to_prefix(entry["address"].contents, afi.bits)
                max_length = entry["max_length"].native
                if max_length is not None and not length <= max_length <= afi.bits:
                    problems.append(f"maxLength {max_length} not within {length}..{afi.bits}")
                prefixes.append(RoaPrefix(afi, start, length, max_length))
        if not prefixes:
            raise RpkiDecodeError("ROA without prefixes")
        if len(families) > 2:
            problems.append(f"ROA has {len(families)} address families")
        if signed.ee.resources.asn:
            problems.append("ROA EE certificate carries AS resources (RFC 9582 section 5)")
        if signed.ee.resources.inherits:
            problems.append(_ROA_EE_INHERITS)
        return Roa(signed, asid, tuple(prefixes), tuple(problems))

    return _guard("ROA", parse)


def decode_aspa(data: bytes) -> Aspa:
    """Decode an ASPA object (both the current and the early-draft provider forms)."""

    def parse() -> Aspa:
        signed = _decode_signed(data)
        _expect(signed, OID_CT_ASPA)
        body = _load(_Aspa, signed.econtent, "ASPA eContent")
        customer = body["customer"].native
        providers = tuple(
            p.chosen.native if p.name == "as_id" else p.chosen["as_id"].native
            for p in body["providers"]
        )
        problems: list[str] = []
        if customer in providers:
            problems.append("customer AS listed as its own provider")
        if list(providers) != sorted(set(providers)):
            problems.append("providers not in strictly ascending order")
        return Aspa(signed, customer, providers, tuple(problems))

    return _guard("ASPA", parse)


def decode_rsc(data: bytes) -> Rsc:
    """Decode an RFC 9323 signed checklist."""

    def parse() -> Rsc:
        signed = _decode_signed(data)
        _expect(signed, OID_CT_RSC)
        body = _load(_Rsc, signed.econtent, "RSC eContent")
        block = body["resources"]
        ip: dict[Afi, Held] = {}
        for fam in block["ip"] if block["ip"].native is not None else []:
            afi = _family(fam["family"].native)
            ip[afi] = _ip_ranges(fam["ranges"], afi)
        asn = (
            _as_ranges(block["as_id"]["asnum"])
            if block["as_id"].native is not None
            else IntervalSet()
        )
        resources = ResourceSet(
            asn, ip.get(Afi.IPV4, IntervalSet()), ip.get(Afi.IPV6, IntervalSet())
        )
        checklist = tuple((e["name"].native, e["hash"].native) for e in body["checklist"])
        problems = [] if checklist else ["empty checklist"]
        return Rsc(
            signed,
            resources,
            body["digest_alg"]["algorithm"].dotted,
            checklist,
            tuple(problems),
        )

    return _guard("RSC", parse)


# --- TALs ------------------------------------------------------------------------------------


def decode_tal(data: bytes) -> Tal:
    """Decode an RFC 8630 TAL: comment lines, URI lines, a blank line, base64 SPKI."""

    def parse() -> Tal:
        text = data.decode("ascii").replace("\r\n", "\n")
        lines = text.split("\n")
        comments: list[str] = []
        while lines and lines[0].startswith("#"):
            comments.append(lines.pop(0)[1:].strip())
        uris: list[str] = []
        while lines and lines[0].strip():
            uris.append(lines.pop(0).strip())
        if not uris:
            raise RpkiDecodeError("TAL has no URIs")
        for uri in uris:
            if not uri.startswith(("rsync://", "https://")):
                raise RpkiDecodeError(f"TAL URI {uri!r} is neither rsync nor https")
        body = "".join(line.strip() for line in lines)
        if not body:
            raise RpkiDecodeError("TAL has no public key")
        try:
            spki = base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise RpkiDecodeError(f"TAL key is not base64: {exc}") from None
        _load(keys.PublicKeyInfo, spki, "spki")
        return Tal(tuple(uris), spki, tuple(comments))

    return _guard("TAL", parse)


# --- by file name ----------------------------------------------------------------------------

DECODERS: dict[str, Callable[[bytes], RpkiObject]] = {
    ".cer": decode_cert,
    ".crl": decode_crl,
    ".mft": decode_manifest,
    ".roa": decode_roa,
    ".asa": decode_aspa,
    ".sig": decode_rsc,
    ".tal": decode_tal,
}


def decode_bytes(data: bytes, name: str) -> RpkiObject:
    """Decode by file extension, as relying parties do (RFC 6481 names the types by suffix).

    An unknown suffix is still read as a bare CMS signed object, so ``show`` can print the
    wrapper of object types not modelled here (Ghostbusters records, for instance).
    """
    suffix = Path(name).suffix.lower()
    decoder = DECODERS.get(suffix)
    if decoder is not None:
        return decoder(data)
    return decode_signed_object(data)


def decode_file(path: Path) -> RpkiObject:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RpkiDecodeError(f"{path}: {exc.strerror or exc}") from None
    return decode_bytes(data, path.name)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --- fast path -------------------------------------------------------------------------------
#
# asn1crypto costs about 2 ms per ROA, which made validation slower than rpki-client.  The
# decoders below read the common, well-formed case with a small DER walker instead; they give up
# (`_Slow`) on anything they do not fully check - non-DER lengths, unusual names, URIs or
# extensions, and every object that would have a single entry in `problems` - and the caller
# then runs the asn1crypto decoder, so odd and hostile input still gets its exact reasons.  The
# two paths must give equal dataclasses wherever the fast one answers; tests compare them.


class _Slow(Exception):
    """The fast decoder does not handle this input; use asn1crypto."""


_Tlv = tuple[int, int, int]  # (tag, content start, content end)


def _read(data: bytes, pos: int, end: int) -> _Tlv:
    if pos + 2 > end:
        raise _Slow
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _Slow
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if not 1 <= k <= 3 or pos + k > end or data[pos] == 0:
            raise _Slow
        n = int.from_bytes(data[pos : pos + k], "big")
        if n < 0x80:
            raise _Slow
        pos += k
    if pos + n > end:
        raise _Slow
    return tag, pos, pos + n


def _kids(data: bytes, start: int, end: int) -> list[_Tlv]:
    out = []
    pos = start
    while pos < end:
        item = _read(data, pos, end)
        out.append(item)
        pos = item[2]
    return out


def _one(data: bytes, expect_tag: int) -> _Tlv:
    """The single TLV that must span all of `data`."""
    item = _read(data, 0, len(data))
    if item[0] != expect_tag or item[2] != len(data):
        raise _Slow
    return item


def _want(item: _Tlv, tag: int) -> _Tlv:
    if item[0] != tag:
        raise _Slow
    return item


def _f_int(data: bytes, item: _Tlv) -> int:
    _, s, e = _want(item, 0x02)
    if s == e or (e - s > 1 and data[s] in (0, 0xFF) and (data[s] ^ data[s + 1]) & 0x80 == 0):
        raise _Slow
    return int.from_bytes(data[s:e], "big", signed=True)


_OIDS: dict[bytes, str] = {}


def _f_oid(data: bytes, item: _Tlv) -> str:
    _, s, e = _want(item, 0x06)
    raw = data[s:e]
    known = _OIDS.get(raw)
    if known is not None:
        return known
    if not raw or raw[-1] & 0x80:
        raise _Slow
    arcs: list[int] = []
    value = 0
    fresh = True
    for byte in raw:
        if fresh and byte == 0x80:
            raise _Slow
        value = (value << 7) | (byte & 0x7F)
        fresh = not byte & 0x80
        if fresh:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    text = ".".join(str(a) for a in [*head, *arcs[1:]])
    if len(_OIDS) < 4096:
        _OIDS[raw] = text
    return text


def _f_octets(data: bytes, item: _Tlv, tag: int = 0x04) -> bytes:
    _, s, e = _want(item, tag)
    return data[s:e]


def _f_bits_whole(data: bytes, item: _Tlv) -> bytes:
    """A BIT STRING of whole octets (signatures, hashes)."""
    _, s, e = _want(item, 0x03)
    if s == e or data[s] != 0:
        raise _Slow
    return data[s + 1 : e]


_TIME = re.compile(rb"[0-9]{12}Z|[0-9]{14}Z")


def _f_time(data: bytes, item: _Tlv) -> datetime:
    tag, s, e = item
    raw = data[s:e]
    if not _TIME.fullmatch(raw):
        raise _Slow
    if tag == 0x17 and len(raw) == 13:
        yy = int(raw[0:2])
        year, rest = (1900 + yy if yy >= 50 else 2000 + yy), raw[2:]
    elif tag == 0x18 and len(raw) == 15:
        year, rest = int(raw[0:4]), raw[4:]
    else:
        raise _Slow
    return datetime(
        year,
        int(rest[0:2]),
        int(rest[2:4]),
        int(rest[4:6]),
        int(rest[6:8]),
        int(rest[8:10]),
        tzinfo=UTC,
    )


def _f_alg(data: bytes, item: _Tlv) -> str:
    _, s, e = _want(item, 0x30)
    kids = _kids(data, s, e)
    if not kids or len(kids) > 2 or (len(kids) == 2 and kids[1][0:1] != (0x05,)):
        raise _Slow
    if len(kids) == 2 and kids[1][1] != kids[1][2]:
        raise _Slow
    return _f_oid(data, kids[0])


_NAME_TYPES = {"2.5.4.3": "CN", "2.5.4.5": "serialNumber"}
_NAME_CHARS = re.compile(r"[A-Za-z0-9 ._:-]*")


def _f_name(data: bytes, item: _Tlv) -> str:
    _, s, e = _want(item, 0x30)
    parts = []
    for rdn in _kids(data, s, e):
        _, rs, re_ = _want(rdn, 0x31)
        atvs = _kids(data, rs, re_)
        if len(atvs) != 1:
            raise _Slow
        _, as_, ae = _want(atvs[0], 0x30)
        pair = _kids(data, as_, ae)
        if len(pair) != 2 or pair[1][0] not in (0x13, 0x0C):
            raise _Slow
        short = _NAME_TYPES.get(_f_oid(data, pair[0]))
        if short is None:
            raise _Slow
        text = data[pair[1][1] : pair[1][2]].decode("ascii")
        if not _NAME_CHARS.fullmatch(text):
            raise _Slow
        parts.append(f"{short}={text}")
    return "/" + "/".join(parts) if parts else ""


_URI = re.compile(r"(rsync|https)://[a-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~=+,@-]+)*/?")


def _f_uri(data: bytes, item: _Tlv) -> str:
    _, s, e = _want(item, 0x86)
    text = data[s:e].decode("ascii")
    if not _URI.fullmatch(text):
        raise _Slow
    return text


def _f_access(data: bytes, s: int, e: int) -> dict[str, list[str]]:
    _, s, e = _want(_read(data, s, e), 0x30)
    found: dict[str, list[str]] = {}
    for desc in _kids(data, s, e):
        _, ds, de = _want(desc, 0x30)
        pair = _kids(data, ds, de)
        if len(pair) != 2:
            raise _Slow
        found.setdefault(_f_oid(data, pair[0]), []).append(_f_uri(data, pair[1]))
    return found


def _f_ip_ranges(data: bytes, items: list[_Tlv], afi: Afi) -> IntervalSet:
    pairs: list[tuple[int, int]] = []
    for tag, s, e in items:
        if tag == 0x03:
            start, length = bits_to_prefix(data[s:e], afi.bits)
            pairs.append((start, start | ((1 << (afi.bits - length)) - 1)))
        elif tag == 0x30:
            ends = _kids(data, s, e)
            if len(ends) != 2:
                raise _Slow
            lo, _ = bits_to_prefix(bytes(_f_octets(data, ends[0], 0x03)), afi.bits)
            hi_raw, hi_len = bits_to_prefix(bytes(_f_octets(data, ends[1], 0x03)), afi.bits)
            hi = hi_raw | ((1 << (afi.bits - hi_len)) - 1)
            if lo > hi:
                raise _Slow
            pairs.append((lo, hi))
        else:
            raise _Slow
    return IntervalSet.from_ranges(pairs)


def _f_ip_resources(data: bytes, s: int, e: int) -> dict[Afi, Held]:
    _, s, e = _want(_read(data, s, e), 0x30)
    out: dict[Afi, Held] = {}
    for fam in _kids(data, s, e):
        _, fs, fe = _want(fam, 0x30)
        pair = _kids(data, fs, fe)
        if len(pair) != 2:
            raise _Slow
        octets = _f_octets(data, pair[0])
        if len(octets) != 2:
            raise _Slow
        afi = _family(octets)
        if afi in out:
            raise _Slow
        tag, cs, ce = pair[1]
        if tag == 0x05 and cs == ce:
            out[afi] = INHERIT
        elif tag == 0x30:
            out[afi] = _f_ip_ranges(data, _kids(data, cs, ce), afi)
        else:
            raise _Slow
    return out


def _f_as_resources(data: bytes, s: int, e: int) -> Held | None:
    _, s, e = _want(_read(data, s, e), 0x30)
    kids = _kids(data, s, e)
    if len(kids) != 1 or kids[0][0] != 0xA0:
        raise _Slow  # absent asnum, or rdi: the slow path says what it means
    choice = _kids(data, kids[0][1], kids[0][2])
    if len(choice) != 1:
        raise _Slow
    tag, cs, ce = choice[0]
    if tag == 0x05 and cs == ce:
        return INHERIT
    if tag != 0x30:
        raise _Slow
    pairs: list[tuple[int, int]] = []
    for item in _kids(data, cs, ce):
        if item[0] == 0x02:
            value = _f_int(data, item)
            pairs.append((value, value))
        else:
            _, rs, re_ = _want(item, 0x30)
            ends = _kids(data, rs, re_)
            if len(ends) != 2:
                raise _Slow
            pairs.append((_f_int(data, ends[0]), _f_int(data, ends[1])))
    for lo, hi in pairs:
        if not 0 <= lo <= hi <= Afi.ASN.max_value:
            raise _Slow
    return IntervalSet.from_ranges(pairs)


_KEY_USAGE_NAMES = (
    "digital_signature",
    "non_repudiation",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _f_key_usage(data: bytes, s: int, e: int) -> frozenset[str]:
    _, s, e = _want(_read(data, s, e), 0x03)
    raw = data[s:e]
    # DER named bits: no trailing zero bits (asn1crypto re-encodes otherwise, changing `der`)
    if not 2 <= len(raw) <= 3 or raw[-1] == 0:
        raise _Slow
    if raw[0] != (raw[-1] & -raw[-1]).bit_length() - 1:
        raise _Slow
    bits = int.from_bytes(raw[1:], "big")
    width = 8 * (len(raw) - 1)
    names = set()
    for i in range(width):
        if bits >> (width - 1 - i) & 1:
            if i >= len(_KEY_USAGE_NAMES):
                raise _Slow
            names.add(_KEY_USAGE_NAMES[i])
    return frozenset(names)


def _f_rsa_key(data: bytes, item: _Tlv) -> None:
    """An RSA SubjectPublicKeyInfo, fully checked (asn1crypto parses it all too)."""
    _, s, e = _want(item, 0x30)
    kids = _kids(data, s, e)
    if len(kids) != 2 or _f_alg(data, kids[0]) != "1.2.840.113549.1.1.1":
        raise _Slow
    _, alg_s, alg_e = kids[0]
    if len(_kids(data, alg_s, alg_e)) != 2:
        raise _Slow  # rsaEncryption parameters must be NULL
    _, bs, be = _want(kids[1], 0x03)
    if bs == be or data[bs] != 0:
        raise _Slow
    key = _read(data, bs + 1, be)
    if key[0] != 0x30 or key[2] != be:
        raise _Slow
    numbers = _kids(data, key[1], key[2])
    if len(numbers) != 2 or _f_int(data, numbers[0]) <= 0 or _f_int(data, numbers[1]) <= 0:
        raise _Slow


def _fast_cert(data: bytes) -> ResourceCert:
    """The fast decoder of a resource certificate with no problems (see above)."""
    _, s, e = _one(data, 0x30)
    outer = _kids(data, s, e)
    if len(outer) != 3:
        raise _Slow
    tbs_item, alg_item, sig_item = outer
    _, ts, te = _want(tbs_item, 0x30)
    tbs = _kids(data, ts, te)
    if len(tbs) != 8 or tbs[0][0] != 0xA0 or tbs[7][0] != 0xA3:
        raise _Slow
    version = _kids(data, tbs[0][1], tbs[0][2])
    if len(version) != 1 or _f_int(data, version[0]) != 2:
        raise _Slow
    serial = _f_int(data, tbs[1])
    signature_algorithm = _f_alg(data, alg_item)
    if serial <= 0 or _f_alg(data, tbs[2]) != signature_algorithm:
        raise _Slow
    issuer = _f_name(data, tbs[3])
    _, vs, ve = _want(tbs[4], 0x30)
    validity = _kids(data, vs, ve)
    if len(validity) != 2:
        raise _Slow
    not_before, not_after = _f_time(data, validity[0]), _f_time(data, validity[1])
    subject = _f_name(data, tbs[5])
    _f_rsa_key(data, tbs[6])
    ext_list = _kids(data, tbs[7][1], tbs[7][2])
    if len(ext_list) != 1:
        raise _Slow
    _, xs, xe = _want(ext_list[0], 0x30)
    seen: set[str] = set()
    ski = aki = None
    is_ca = False
    key_usage: frozenset[str] = frozenset()
    sia: dict[str, list[str]] = {}
    aia: dict[str, list[str]] = {}
    crldp: list[str] = []
    policies: tuple[str, ...] = ()
    ip: dict[Afi, Held] = {}
    asn: Held | None = None
    has_ip = has_as = False
    for ext in _kids(data, xs, xe):
        _, es, ee = _want(ext, 0x30)
        parts = _kids(data, es, ee)
        critical = False
        if len(parts) == 3:
            _, bs, be = _want(parts[1], 0x01)
            if be - bs != 1 or data[bs] != 0xFF:
                raise _Slow
            critical = True
        elif len(parts) != 2:
            raise _Slow
        oid = _f_oid(data, parts[0])
        if oid in seen:
            raise _Slow
        seen.add(oid)
        _, vs, ve = _want(parts[-1], 0x04)
        inner = _read(data, vs, ve)
        if inner[2] != ve:
            raise _Slow
        if oid == "2.5.29.14":
            ski = _f_octets(data, inner)
        elif oid == "2.5.29.35":
            _, as_, ae = _want(inner, 0x30)
            kid = _kids(data, as_, ae)
            if len(kid) != 1:
                raise _Slow
            aki = _f_octets(data, kid[0], 0x80)
        elif oid == "2.5.29.19":
            _, bs, be = _want(inner, 0x30)
            flags = _kids(data, bs, be)
            if not critical or len(flags) > 1:
                raise _Slow
            if flags:
                _, fs, fe = _want(flags[0], 0x01)
                if fe - fs != 1 or data[fs] != 0xFF:
                    raise _Slow
                is_ca = True
        elif oid == "2.5.29.15":
            if not critical:
                raise _Slow
            key_usage = _f_key_usage(data, vs, ve)
        elif oid == "1.3.6.1.5.5.7.1.11":
            sia = _f_access(data, vs, ve)
        elif oid == "1.3.6.1.5.5.7.1.1":
            aia = _f_access(data, vs, ve)
        elif oid == "2.5.29.31":
            _, cs, ce = _want(inner, 0x30)
            for point in _kids(data, cs, ce):
                _, ps, pe = _want(point, 0x30)
                fields = _kids(data, ps, pe)
                if len(fields) != 1:
                    raise _Slow
                _, ns, ne = _want(fields[0], 0xA0)
                names = _kids(data, ns, ne)
                if len(names) != 1:
                    raise _Slow
                _, gs, ge = _want(names[0], 0xA0)
                crldp.extend(_f_uri(data, g) for g in _kids(data, gs, ge))
        elif oid == "2.5.29.32":
            _, cs, ce = _want(inner, 0x30)
            found = []
            for info in _kids(data, cs, ce):
                _, ps, pe = _want(info, 0x30)
                fields = _kids(data, ps, pe)
                if not 1 <= len(fields) <= 2:
                    raise _Slow
                if len(fields) == 2:
                    _want(fields[1], 0x30)
                found.append(_f_oid(data, fields[0]))
            policies = tuple(found)
            if not critical:
                raise _Slow
        elif oid == OID_IP_ADDR_BLOCKS:
            has_ip = True
            ip = _f_ip_resources(data, vs, ve)
            if not critical:
                raise _Slow
        elif oid == OID_AS_IDS:
            has_as = True
            asn = _f_as_resources(data, vs, ve)
            if not critical:
                raise _Slow
        else:
            raise _Slow  # asn1crypto parses the extensions it knows: leave others to it
    if ski is None or not (has_ip or has_as) or policies != (OID_CP_IPADDR_ASNUMBER,):
        raise _Slow
    return ResourceCert(
        der=data,
        tbs_der=data[tbs_item[1] - _header_size(data, tbs_item) : tbs_item[2]],
        signature=_f_bits_whole(data, sig_item),
        signature_algorithm=signature_algorithm,
        serial=serial,
        issuer=issuer,
        subject=subject,
        not_before=not_before,
        not_after=not_after,
        spki_der=data[tbs[6][1] - _header_size(data, tbs[6]) : tbs[6][2]],
        ski=ski,
        aki=aki,
        is_ca=is_ca,
        key_usage=key_usage,
        ca_repository=_first_rsync(sia.get(OID_AD_CA_REPOSITORY)),
        manifest_uri=_first_rsync(sia.get(OID_AD_RPKI_MANIFEST)),
        notify_uri=next(iter(sia.get(OID_AD_RPKI_NOTIFY, [])), None),
        signed_object_uri=_first_rsync(sia.get(OID_AD_SIGNED_OBJECT)),
        aia_uri=_first_rsync(aia.get(OID_AD_CA_ISSUERS)),
        crldp_uri=_first_rsync(crldp),
        policies=policies,
        resources=ResourceSet(
            asn if asn is not None else IntervalSet(),
            ip.get(Afi.IPV4, IntervalSet()),
            ip.get(Afi.IPV6, IntervalSet()),
        ),
        problems=(),
    )


def _header_size(data: bytes, item: _Tlv) -> int:
    """Bytes of tag and length in front of an item's content."""
    length = item[2] - item[1]
    return 2 if length < 0x80 else 2 + (length.bit_length() + 7) // 8


_SIGNED_ATTRS = {
    "1.2.840.113549.1.9.3": "content_type",
    "1.2.840.113549.1.9.4": "message_digest",
    "1.2.840.113549.1.9.5": "signing_time",
}


def _fast_signed(data: bytes, expect: str) -> SignedObject:
    """The fast decoder of an RFC 6488 signed object of type `expect` with no problems."""
    _, s, e = _one(data, 0x30)
    info = _kids(data, s, e)
    if len(info) != 2 or _f_oid(data, info[0]) != "1.2.840.113549.1.7.2":
        raise _Slow
    _, cs, ce = _want(info[1], 0xA0)
    wrapped = _kids(data, cs, ce)
    if len(wrapped) != 1:
        raise _Slow
    _, ss, se = _want(wrapped[0], 0x30)
    sd = _kids(data, ss, se)
    if len(sd) != 5 or _f_int(data, sd[0]) != 3:
        raise _Slow  # crls present, certificates absent, ...: the slow path explains
    _, ds, de = _want(sd[1], 0x31)
    digests = _kids(data, ds, de)
    if len(digests) != 1 or _f_alg(data, digests[0]) != OID_SHA256:
        raise _Slow
    _, es, ee = _want(sd[2], 0x30)
    encap = _kids(data, es, ee)
    if len(encap) != 2:
        raise _Slow
    content_type = _f_oid(data, encap[0])
    if content_type != expect:
        raise _Slow
    _, xs, xe = _want(encap[1], 0xA0)
    octets = _kids(data, xs, xe)
    if len(octets) != 1:
        raise _Slow
    econtent = _f_octets(data, octets[0])
    _, ks, ke = _want(sd[3], 0xA0)
    certs = _kids(data, ks, ke)
    if len(certs) != 1 or certs[0][0] != 0x30:
        raise _Slow
    cert_start = certs[0][1] - _header_size(data, certs[0])
    ee_cert = _fast_cert(data[cert_start : certs[0][2]])
    _, is_, ie = _want(sd[4], 0x31)
    signers = _kids(data, is_, ie)
    if len(signers) != 1:
        raise _Slow
    _, gs, ge = _want(signers[0], 0x30)
    signer = _kids(data, gs, ge)
    if len(signer) != 6 or _f_int(data, signer[0]) != 3:
        raise _Slow
    sid_ski = _f_octets(data, signer[1], 0x80)
    digest_algorithm = _f_alg(data, signer[2])
    _, as_, ae = _want(signer[3], 0xA0)
    attr_ct = digest = signing_time = None
    seen: set[str] = set()
    attrs = _kids(data, as_, ae)
    encodings = [data[a[1] - _header_size(data, a) : a[2]] for a in attrs]
    if encodings != sorted(encodings):
        raise _Slow  # a DER SET OF is sorted (X.690 11.6); the slow path says so
    for attr in attrs:
        _, ps, pe = _want(attr, 0x30)
        pair = _kids(data, ps, pe)
        if len(pair) != 2:
            raise _Slow
        kind = _SIGNED_ATTRS.get(_f_oid(data, pair[0]))
        if kind is None or kind in seen:
            raise _Slow
        seen.add(kind)
        _, vs, ve = _want(pair[1], 0x31)
        values = _kids(data, vs, ve)
        if len(values) != 1:
            raise _Slow
        if kind == "content_type":
            attr_ct = _f_oid(data, values[0])
        elif kind == "message_digest":
            digest = _f_octets(data, values[0])
        else:
            signing_time = _f_time(data, values[0])
    if attr_ct != content_type or digest is None or digest_algorithm != OID_SHA256:
        raise _Slow
    attrs_start = signer[3][1] - _header_size(data, signer[3])
    return SignedObject(
        der=data,
        content_type=content_type,
        econtent=econtent,
        ee=ee_cert,
        digest_algorithm=digest_algorithm,
        signature_algorithm=_f_alg(data, signer[4]),
        signature=_f_octets(data, signer[5]),
        signed_attrs_der=b"\x31" + data[attrs_start + 1 : signer[3][2]],
        attr_content_type=attr_ct,
        message_digest=digest,
        signing_time=signing_time,
        sid_ski=sid_ski,
        problems=(),
    )


def _fast_roa(data: bytes) -> Roa:
    signed = _fast_signed(data, OID_CT_ROA)
    body = signed.econtent
    _, s, e = _one(body, 0x30)
    kids = _kids(body, s, e)
    if len(kids) != 2:
        raise _Slow  # an explicit version among others
    asid = _f_int(body, kids[0])
    if not 0 <= asid <= Afi.ASN.max_value:
        raise _Slow
    _, bs, be = _want(kids[1], 0x30)
    prefixes: list[RoaPrefix] = []
    families: list[Afi] = []
    for fam in _kids(body, bs, be):
        _, fs, fe = _want(fam, 0x30)
        pair = _kids(body, fs, fe)
        if len(pair) != 2:
            raise _Slow
        octets = _f_octets(body, pair[0])
        if len(octets) != 2:
            raise _Slow
        afi = _family(octets)
        if afi in families:
            raise _Slow
        families.append(afi)
        _, as_, ae = _want(pair[1], 0x30)
        for entry in _kids(body, as_, ae):
            _, ps, pe = _want(entry, 0x30)
            fields = _kids(body, ps, pe)
            if not 1 <= len(fields) <= 2:
                raise _Slow
            start, length = bits_to_prefix(_f_octets(body, fields[0], 0x03), afi.bits)
            max_length = _f_int(body, fields[1]) if len(fields) == 2 else None
            if max_length is not None and not length <= max_length <= afi.bits:
                raise _Slow
            prefixes.append(RoaPrefix(afi, start, length, max_length))
    if not prefixes or signed.ee.resources.asn or signed.ee.resources.inherits:
        raise _Slow
    return Roa(signed, asid, tuple(prefixes), ())


def _fast_manifest(data: bytes) -> Manifest:
    signed = _fast_signed(data, OID_CT_MANIFEST)
    body = signed.econtent
    _, s, e = _one(body, 0x30)
    kids = _kids(body, s, e)
    if len(kids) != 5:
        raise _Slow
    number = _f_int(body, kids[0])
    this_update = _f_time(body, _want(kids[1], 0x18))
    next_update = _f_time(body, _want(kids[2], 0x18))
    alg = _f_oid(body, kids[3])
    if number < 0 or number.bit_length() > 160 or next_update <= this_update:
        raise _Slow
    if alg != OID_SHA256 or signed.ee.resources.inherits is False:
        raise _Slow
    files: list[ManifestFile] = []
    names: set[str] = set()
    _, ls, le = _want(kids[4], 0x30)
    for entry in _kids(body, ls, le):
        _, ps, pe = _want(entry, 0x30)
        pair = _kids(body, ps, pe)
        if len(pair) != 2:
            raise _Slow
        name = _f_octets(body, pair[0], 0x16).decode("ascii")
        raw = _f_octets(body, pair[1], 0x03)
        if not raw or raw[0] != 0 or not _portable(name) or name in names:
            raise _Slow
        names.add(name)
        files.append(ManifestFile(name, raw[1:]))
    return Manifest(signed, number, this_update, next_update, alg, tuple(files), ())


def _fast(decoder: Callable[[bytes], _T], data: bytes) -> _T | None:
    """`decoder(data)`, or None when the fast path gives up (for any reason at all)."""
    if not FAST_PATH:
        return None
    try:
        return decoder(data)
    except Exception:
        return None


FAST_PATH = True
"""Off in tests that compare the two decoders; nothing else should touch it."""
