"""Resource Signed Checklists (RFC 9323): a holder signs the SHA-256 digests of some files "with"
some of its resources, as proof of control (a transfer agreement, a LOA, a peering request).

Signing follows the hosted model (as Krill and the RIR portals do): the registry's CA signs on
the holder's behalf, with a one-time EE certificate under the holder's CA whose key is used once
and thrown away. The RSC is handed out of band, never published; RFC 9323 §2 therefore wants no
SIA in its EE certificate. Withdrawing one before it expires is a revocation on the holder CA's
CRL (`RegistryCa.revoke_ee`).

Verification (`verify_checklist`) takes the RSC, the files it is supposed to cover, the TALs and
a local mirror of the repositories (laid out as `validate.validate` expects): the CMS profile of
RFC 6488, the EE's signature chain up through the CAs named by the AIA URIs to a TAL's key, each
link's certificate listed on its issuer's current manifest, not revoked on its issuer's CRL and
within its issuer's resources, the top-down validation of the same mirror refusing none of them,
the checklist's resources within the EE certificate's, and every file's digest on the list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from onereg.rpki import objects as obj
from onereg.rpki.ca import RegistryCa, RpkiError
from onereg.rpki.der import (
    OID_CT_RSC,
    OID_SHA256,
    ResourceCert,
    RpkiDecodeError,
    Rsc,
    decode_cert,
    decode_crl,
    decode_manifest,
    decode_rsc,
    decode_tal,
)
from onereg.rpki.resources import ResourceSet as CertResources
from onereg.rpki.validate import validate

RSC_LIFETIME = timedelta(days=30)
MAX_CHAIN = 32
_CA_KEY_USAGE = frozenset({"key_cert_sign", "crl_sign"})


def checklist_entries(files: Mapping[str, bytes]) -> list[tuple[str | None, bytes]]:
    """(file name, SHA-256) for each file, sorted by name."""
    return [(name, hashlib.sha256(data).digest()) for name, data in sorted(files.items())]


def sign_checklist(
    ca: RegistryCa,
    handle: str,
    files: Mapping[str, bytes],
    resources: obj.ResourceSet,
    lifetime: timedelta = RSC_LIFETIME,
) -> bytes:
    """An RSC over `files` ({portable name: content}) signed with `resources`, which must lie
    within `handle`'s CA certificate; DER, ready to be handed out as `name.sig`."""
    for name in files:
        if not _portable(name):
            raise RpkiError(f"{name!r} is not a portable file name (RFC 9323: [a-zA-Z0-9._-]+)")
    if not files:
        raise RpkiError("a checklist needs at least one file")
    spec, chosen = ca.one_time_ee(handle, resources, lifetime)
    return obj.rsc(spec, chosen, checklist_entries(files))


def _portable(name: str) -> bool:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    return bool(name) and set(name) <= allowed


# --- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RscCheck:
    """The verdict on one RSC: `ok` when `problems` is empty."""

    resources: list[str]
    checklist: tuple[tuple[str | None, str], ...]  # (name, hex digest)
    chain: tuple[str, ...]  # certificate URIs from the EE's issuer up to the TA
    ta: str | None  # the TAL's name (file stem) the chain ends at
    not_after: datetime | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class _Refused(Exception):
    """Internal: one check failed; the message says which."""


def _verify(issuer: ResourceCert, signature: bytes, data: bytes, algorithm: str) -> None:
    if algorithm not in ("1.2.840.113549.1.1.11", "1.2.840.113549.1.1.1"):
        raise _Refused(f"unsupported signature algorithm {algorithm}")
    key = serialization.load_der_public_key(issuer.spki_der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise _Refused("the issuer's key is not an RSA key")
    try:
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise _Refused("signature does not verify") from None


def _local(repo_dir: Path, uri: str) -> Path:
    if not uri.startswith("rsync://"):
        raise _Refused(f"not an rsync URI: {uri}")
    parts = uri.removeprefix("rsync://").split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise _Refused(f"unsafe URI {uri}")
    return repo_dir.joinpath(*parts)


def _read(repo_dir: Path, uri: str) -> bytes:
    path = _local(repo_dir, uri)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _Refused(f"{uri} not in the mirror ({exc.strerror or exc})") from None


def _times(what: str, not_before: datetime, not_after: datetime | None, as_of: datetime) -> None:
    if as_of < not_before:
        raise _Refused(f"{what} not valid before {not_before.isoformat()}")
    if not_after is not None and as_of > not_after:
        raise _Refused(f"{what} expired at {not_after.isoformat()}")


def _check_link(repo_dir: Path, child: ResourceCert, issuer: ResourceCert, as_of: datetime) -> None:
    """`child` is signed by `issuer`, not revoked on its CRL, current, within its resources."""
    if child.aki != issuer.ski:
        raise _Refused("authority key identifier does not name the issuer's key")
    _verify(issuer, child.signature, child.tbs_der, child.signature_algorithm)
    _times("certificate", child.not_before, child.not_after, as_of)
    if child.crldp_uri is None:
        raise _Refused("no CRL distribution point")
    crl = decode_crl(_read(repo_dir, child.crldp_uri))
    if crl.problems or crl.aki != issuer.ski:
        raise _Refused(f"CRL {child.crldp_uri} is not the issuer's")
    _verify(issuer, crl.signature, crl.tbs_der, crl.signature_algorithm)
    _times(f"CRL {child.crldp_uri}", crl.this_update, crl.next_update, as_of)
    if child.serial in crl.revoked:
        raise _Refused(f"serial {child.serial} is revoked on {child.crldp_uri}")
    excess = child.resources.excess_over(issuer.resources)
    if excess:
        raise _Refused(f"resources beyond the issuer's: {', '.join(excess[:5])}")


def _listed(repo_dir: Path, uri: str, data: bytes, issuer: ResourceCert, as_of: datetime) -> None:
    """A CA certificate must be on its issuer's current manifest with its hash."""
    if issuer.manifest_uri is None:
        raise _Refused("issuer has no manifest")
    manifest = decode_manifest(_read(repo_dir, issuer.manifest_uri))
    _times(f"manifest {issuer.manifest_uri}", manifest.this_update, manifest.next_update, as_of)
    name = PurePosixPath(uri).name
    base = issuer.manifest_uri.rsplit("/", 1)[0] + "/"
    digest = hashlib.sha256(data).digest()
    if not uri.startswith(base) or all(
        f.name != name or f.digest != digest for f in manifest.files
    ):
        raise _Refused(f"{uri} is not on its issuer's manifest {issuer.manifest_uri}")


def _chain(
    repo_dir: Path, ee: ResourceCert, tals: Iterable[Path], as_of: datetime
) -> tuple[list[tuple[str, ResourceCert]], str]:
    """Walk up from the EE through AIA URIs to a TA whose key a TAL names; returns the CA
    certificates (URI, decoded) from the EE's issuer up, and the TAL's name."""
    anchors: dict[bytes, str] = {}
    for tal_path in tals:
        anchors[decode_tal(tal_path.read_bytes()).spki_der] = tal_path.stem
    child = ee
    uris: list[tuple[str, ResourceCert]] = []
    for _ in range(MAX_CHAIN):
        if child.aia_uri is None:
            raise _Refused("certificate without an AIA URI")
        uri = child.aia_uri
        data = _read(repo_dir, uri)
        issuer = decode_cert(data)
        if issuer.problems:
            raise _Refused(f"{uri}: {'; '.join(issuer.problems)}")
        if not issuer.is_ca or issuer.key_usage != _CA_KEY_USAGE:
            raise _Refused(f"{uri} is not a CA certificate")
        try:
            _check_link(repo_dir, child, issuer, as_of)
        except (_Refused, RpkiDecodeError) as exc:
            raise _Refused(f"{uri or 'EE'} -> {child.subject}: {exc}") from None
        uris.append((uri, issuer))
        if issuer.self_signed:
            if issuer.spki_der not in anchors:
                raise _Refused(f"{uri} is self-signed but no TAL names its key")
            _verify(issuer, issuer.signature, issuer.tbs_der, issuer.signature_algorithm)
            _times("trust anchor", issuer.not_before, issuer.not_after, as_of)
            return uris, anchors[issuer.spki_der]
        parent = decode_cert(_read(repo_dir, issuer.aia_uri)) if issuer.aia_uri else None
        if parent is None:
            raise _Refused(f"{uri} has no AIA")
        _listed(repo_dir, uri, data, parent, as_of)
        child = issuer
    raise _Refused(f"chain longer than {MAX_CHAIN}")


def _signed_object_checks(rsc: Rsc) -> None:
    so = rsc.signed
    if so.content_type != OID_CT_RSC:
        raise _Refused("not an RSC")
    if so.problems or rsc.problems:
        raise _Refused("; ".join((*so.problems, *rsc.problems)))
    ee = so.ee
    if ee.problems:
        raise _Refused("EE certificate: " + "; ".join(ee.problems))
    if ee.is_ca or "digital_signature" not in ee.key_usage:
        raise _Refused("the signer is not an EE certificate with digitalSignature")
    if so.sid_ski != ee.ski:
        raise _Refused("SignerInfo sid does not name the EE certificate's key")
    if so.digest_algorithm != OID_SHA256 or rsc.digest_algorithm != OID_SHA256:
        raise _Refused("digest algorithm is not SHA-256")
    if so.message_digest != hashlib.sha256(so.econtent).digest():
        raise _Refused("messageDigest does not match the content")
    _verify(ee, so.signature, so.signed_attrs_der, so.signature_algorithm)
    if ee.signed_object_uri or ee.ca_repository or ee.manifest_uri:
        raise _Refused("RSC EE certificate has an SIA extension (RFC 9323 section 2)")
    if ee.resources.inherits:
        raise _Refused("RSC EE certificate inherits resources")
    excess = rsc.resources.excess_over(ee.resources)
    if excess:
        raise _Refused(f"checklist resources beyond the EE certificate's: {', '.join(excess[:5])}")
    if rsc.resources.is_empty:
        raise _Refused("checklist without resources")


def _digests(rsc: Rsc, files: Mapping[str, bytes]) -> list[str]:
    problems: list[str] = []
    listed = list(rsc.checklist)
    for name, data in sorted(files.items()):
        digest = hashlib.sha256(data).digest()
        named = [d for n, d in listed if n == name]
        if named:
            if digest not in named:
                problems.append(f"{name}: digest does not match the checklist")
        elif not any(n is None and d == digest for n, d in listed):
            problems.append(f"{name}: not on the checklist")
    return problems


def verify_checklist(
    data: bytes,
    files: Mapping[str, bytes],
    tals: Iterable[Path],
    repo_dir: Path,
    as_of: datetime | None = None,
) -> RscCheck:
    """Verify an RSC against `files` ({name: content}) with the TALs and the mirror `repo_dir`."""
    when = datetime.now(UTC) if as_of is None else as_of
    tal_list = list(tals)
    problems: list[str] = []
    try:
        rsc = decode_rsc(data)
    except RpkiDecodeError as exc:
        return RscCheck([], (), (), None, None, (f"not an RSC: {exc}",))
    chain: list[tuple[str, ResourceCert]] = []
    ta: str | None = None
    try:
        _signed_object_checks(rsc)
        _times("EE certificate", rsc.signed.ee.not_before, rsc.signed.ee.not_after, when)
        chain, ta = _chain(repo_dir, rsc.signed.ee, tal_list, when)
    except (_Refused, RpkiDecodeError, OSError) as exc:
        problems.append(str(exc))
    if chain:
        # The top-down walk of the same mirror must accept every CA on the chain and its
        # publication point: a certificate we reached bottom-up could still sit in a point
        # whose manifest or CRL fails as a whole.
        watched = {u for u, _ in chain} | {c.manifest_uri for _, c in chain if c.manifest_uri}
        result = validate(tal_list, repo_dir, when)
        problems += [f"validation refused {r}" for r in result.rejections if r.uri in watched]
    problems += _digests(rsc, files)
    checklist = tuple((n, d.hex()) for n, d in rsc.checklist)
    return RscCheck(
        _texts(rsc.resources),
        checklist,
        tuple(u for u, _ in chain),
        ta,
        rsc.signed.ee.not_after,
        tuple(problems),
    )


def _texts(resources: CertResources) -> list[str]:
    return resources.text()
