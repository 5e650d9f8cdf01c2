"""Top-down RPKI validation of a local mirror, from TALs to VRPs (RFC 6487, 6488, 9286, 9582).

Why hand-written: no Python library validates RPKI.  X.509 path validation in `cryptography`
knows nothing of RFC 3779 resources, ``inherit``, manifests or publication points, and RPKI
chains are walked top-down (from the trust anchor through each CA's manifest) rather than
bottom-up from a leaf, so only the signature primitives are borrowed.

Failure semantics follow RFC 9286 section 6 as rpki-client 8.x applies them with an empty cache:
a publication point whose manifest or CRL is missing, invalid or stale, or whose manifest lists
a file that is missing or has the wrong hash, is a *failed fetch*, and none of its objects is
used (there is no earlier good copy to fall back on).  Inside a good publication point each
object stands alone: one bad ROA or child certificate costs only itself (and, for a CA, its
subtree).  Every refusal is recorded as a `Rejection` with the object's URI and the reason.

The mirror is a directory laid out like rpki-client's and FORT's rsync cache:
``rsync://host/module/path`` is ``repo_dir/host/module/path``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from onereg.core.resources import Afi, format_number
from onereg.rpki.der import (
    OID_SHA256,
    Aspa,
    Crl,
    Manifest,
    ResourceCert,
    Roa,
    RpkiDecodeError,
    SignedObject,
    Tal,
    decode_aspa,
    decode_cert,
    decode_crl,
    decode_manifest,
    decode_roa,
    decode_tal,
    sha256,
)
from onereg.rpki.resources import ResourceSet

MAX_DEPTH = 32
"""CA depth at which a chain is refused: real trees are under 10 deep, loops are infinite."""
LEAF_BATCH = 256
"""ROAs and ASPAs per task when validation runs in worker processes."""

_SIG_HASHES: dict[str, hashes.HashAlgorithm] = {
    "1.2.840.113549.1.1.11": hashes.SHA256(),  # sha256WithRSAEncryption
    "1.2.840.113549.1.1.1": hashes.SHA256(),  # rsaEncryption (CMS: the digest is SHA-256)
    "1.2.840.10045.4.3.2": hashes.SHA256(),  # ecdsa-with-SHA256 (BGPsec, RFC 8608)
}
_CA_KEY_USAGE = frozenset({"key_cert_sign", "crl_sign"})


@dataclass(frozen=True, slots=True, order=True)
class Vrp:
    """A validated ROA payload, as rpki-client prints it."""

    afi: Afi
    start: int
    length: int
    max_length: int
    asn: int
    ta: str = field(compare=False)
    expires: datetime = field(compare=False)

    @property
    def prefix(self) -> str:
        return f"{format_number(self.afi, self.start)}/{self.length}"


@dataclass(frozen=True, slots=True)
class ValidatedAspa:
    customer: int
    providers: tuple[int, ...]
    ta: str
    expires: datetime


@dataclass(frozen=True, slots=True)
class Rejection:
    """One object (or publication point) refused, and why."""

    uri: str
    reason: str

    def __str__(self) -> str:
        return f"{self.uri}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ValidationResult:
    vrps: tuple[Vrp, ...]
    aspas: tuple[ValidatedAspa, ...]
    rejections: tuple[Rejection, ...]
    counts: dict[str, int]
    as_of: datetime


class _Rejected(Exception):
    """Internal: an object failed a check; the message is the reason."""


class RepositoryHook(Protocol):
    """Called by the walk before it reads a trust anchor or a publication point, so that a
    fetcher (`onereg.rpki.fetch`) can bring the files in first and say which mirror holds them.

    Each method returns the root of the mirror to read from (laid out like ``repo_dir``), or
    None for ``repo_dir`` itself. A fetch failure is the hook's to report; the walk then judges
    whatever the mirror holds (possibly an older copy, possibly nothing).
    """

    def trust_anchor(self, tal: Tal) -> Path | None: ...

    def publication_point(self, cert: ResourceCert) -> Path | None: ...


# --- signatures ------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _public_key(spki_der: bytes) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(spki_der)
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise _Rejected(f"unsupported public key type {type(key).__name__}")
    return key


def verify_signature(spki_der: bytes, signature: bytes, data: bytes, algorithm: str) -> None:
    """Raise `_Rejected` unless `signature` over `data` verifies with the key in `spki_der`."""
    digest = _SIG_HASHES.get(algorithm)
    if digest is None:
        raise _Rejected(f"unsupported signature algorithm {algorithm}")
    try:
        key = _public_key(spki_der)
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), digest)
        else:
            key.verify(signature, data, ec.ECDSA(digest))
    except InvalidSignature:
        raise _Rejected("signature does not verify") from None
    except (ValueError, TypeError) as exc:
        raise _Rejected(f"bad public key: {exc}") from None


# --- the walk --------------------------------------------------------------------------------


@dataclass
class _Ca:
    """A validated CA: its certificate, resolved resources, and the chain's earliest expiry."""

    cert: ResourceCert
    uri: str
    resources: ResourceSet
    expires: datetime
    depth: int
    keys: frozenset[bytes]


class _Run:
    def __init__(
        self,
        repo_dir: Path,
        as_of: datetime,
        hook: RepositoryHook | None = None,
        pool: Executor | None = None,
    ) -> None:
        self.repo = repo_dir.resolve()
        self.hook = hook
        self.pool = pool
        # (position in self.rejections, leaf batch running in the pool), in submission order
        self.pending: list[tuple[int, Future[_LeafResult]]] = []
        self.as_of = as_of
        self.vrps: list[Vrp] = []
        self.aspas: list[ValidatedAspa] = []
        self.rejections: list[Rejection] = []
        self.counts: Counter[str] = Counter()
        self.seen_pubpoints: set[str] = set()

    def reject(self, uri: str, reason: str, kind: str | None = None) -> None:
        self.rejections.append(Rejection(uri, reason))
        if kind:
            self.counts[kind] += 1

    # --- paths ---

    def local(self, uri: str, root: Path | None = None) -> Path:
        """The mirror path of an rsync (or, for TALs, https) URI; refuses escaping the mirror."""
        for scheme in ("rsync://", "https://"):
            if uri.startswith(scheme):
                rest = uri[len(scheme) :]
                break
        else:
            raise _Rejected(f"unsupported URI scheme in {uri!r}")
        parts = PurePosixPath(rest).parts
        if not parts or any(p in ("..", ".", "") for p in rest.rstrip("/").split("/")):
            raise _Rejected(f"unsafe URI {uri!r}")
        # No "..", "." or empty segment, so the joined path stays under the mirror lexically;
        # symlinks inside the mirror are the operator's business and are followed.
        return (root or self.repo).joinpath(*parts)

    def read(self, uri: str, root: Path | None = None) -> bytes:
        path = self.local(uri, root)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise _Rejected(f"cannot read {path}: {exc.strerror or exc}") from None

    # --- common checks ---

    def check_times(self, what: str, not_before: datetime, not_after: datetime) -> None:
        if self.as_of < not_before:
            raise _Rejected(f"{what} not valid before {not_before.isoformat()}")
        if self.as_of > not_after:
            raise _Rejected(f"{what} expired at {not_after.isoformat()}")

    def check_issued(self, cert: ResourceCert, issuer: _Ca, crl: Crl) -> ResourceSet:
        """The checks every certificate below a CA passes; returns its resolved resources."""
        if cert.problems:
            raise _Rejected("; ".join(cert.problems))
        if cert.aki is None:
            raise _Rejected("authority key identifier missing (RFC 6487 section 4.8.3)")
        if cert.aia_uri is None:
            raise _Rejected("no AIA caIssuers URI (RFC 6487 section 4.8.7)")
        if cert.aki != issuer.cert.ski:
            raise _Rejected("authority key identifier does not match the issuer's key")
        verify_signature(
            issuer.cert.spki_der, cert.signature, cert.tbs_der, cert.signature_algorithm
        )
        if cert.serial in crl.revoked:
            raise _Rejected(f"serial {cert.serial} is revoked")
        self.check_times("certificate", cert.not_before, cert.not_after)
        excess = cert.resources.excess_over(issuer.resources)
        if excess:
            shown = ", ".join(excess[:5]) + (" ..." if len(excess) > 5 else "")
            raise _Rejected(f"resources beyond the issuer's: {shown}")
        return cert.resources.resolve(issuer.resources)

    def check_signed(self, so: SignedObject, issuer: _Ca, crl: Crl) -> ResourceSet:
        """RFC 6488 section 3 checks of a signed object and its EE certificate."""
        if so.problems:
            raise _Rejected("; ".join(so.problems))
        ee = so.ee
        if ee.is_ca:
            raise _Rejected("the signing certificate is a CA certificate (RFC 6487 section 4.8.1)")
        if "digital_signature" not in ee.key_usage:
            raise _Rejected("EE certificate keyUsage lacks digitalSignature")
        if ee.signed_object_uri is None:
            raise _Rejected("EE certificate has no SIA signedObject URI (RFC 6487 section 4.8.8.2)")
        if so.sid_ski != ee.ski:
            raise _Rejected("SignerInfo sid does not name the EE certificate's key")
        resources = self.check_issued(ee, issuer, crl)
        if so.message_digest != sha256(so.econtent):
            raise _Rejected("messageDigest does not match the content")
        if so.digest_algorithm != OID_SHA256:
            raise _Rejected("digest algorithm is not SHA-256")
        verify_signature(ee.spki_der, so.signature, so.signed_attrs_der, so.signature_algorithm)
        return resources

    # --- trust anchors ---

    def run_tal(self, tal_path: Path) -> None:
        name = tal_path.stem
        try:
            tal = decode_tal(tal_path.read_bytes())
        except (RpkiDecodeError, OSError) as exc:
            self.reject(str(tal_path), f"bad TAL: {exc}", "invalid_tals")
            return
        try:
            ca = self.trust_anchor(tal, name)
        except (_Rejected, RpkiDecodeError) as exc:
            self.reject(tal.uris[0], f"trust anchor refused: {exc}", "invalid_certificates")
            return
        self.counts["tals"] += 1
        self.counts["certificates"] += 1
        self.publication_point(ca, name)

    def trust_anchor(self, tal: Tal, name: str) -> _Ca:
        root = self.hook.trust_anchor(tal) if self.hook is not None else None
        uris = sorted(tal.uris, key=lambda u: not u.startswith("rsync://"))
        errors = []
        for uri in uris:
            try:
                data = self.read(uri, root)
            except _Rejected as exc:
                errors.append(str(exc))
                continue
            cert = decode_cert(data)
            if cert.spki_der != tal.spki_der:
                raise _Rejected("the certificate's key is not the TAL's key")
            if cert.problems:
                raise _Rejected("; ".join(cert.problems))
            if not cert.self_signed:
                raise _Rejected("not self-signed")
            try:
                verify_signature(
                    cert.spki_der, cert.signature, cert.tbs_der, cert.signature_algorithm
                )
            except _Rejected as exc:
                raise _Rejected(f"self-signature refused: {exc} (RFC 6487 section 7.2)") from None
            if not cert.is_ca or cert.key_usage != _CA_KEY_USAGE:
                raise _Rejected("not a CA certificate with keyCertSign and cRLSign")
            if cert.resources.inherits:
                raise _Rejected("a trust anchor cannot inherit resources")
            if cert.resources.is_empty:
                raise _Rejected("a trust anchor without resources")
            self.check_times("trust anchor", cert.not_before, cert.not_after)
            return _Ca(cert, uri, cert.resources, cert.not_after, 0, frozenset({cert.ski or b""}))
        raise _Rejected("no copy of the TA certificate in the mirror: " + "; ".join(errors))

    def subtree(self, cert_path: Path, name: str) -> None:
        """Validate below one CA certificate taken on trust (see `validate_subtree`)."""
        uri = str(cert_path)
        try:
            cert = decode_cert(cert_path.read_bytes())
            if cert.resources.inherits:
                raise _Rejected("a starting CA cannot inherit resources")
            self.check_times("certificate", cert.not_before, cert.not_after)
        except (_Rejected, RpkiDecodeError, OSError) as exc:
            self.reject(uri, f"starting certificate refused: {exc}", "invalid_certificates")
            return
        self.counts["certificates"] += 1
        ca = _Ca(cert, uri, cert.resources, cert.not_after, 0, frozenset({cert.ski or b""}))
        self.publication_point(ca, name)

    # --- publication points ---

    def publication_point(self, ca: _Ca, ta: str) -> None:
        cert = ca.cert
        mft_uri = cert.manifest_uri
        repo_uri = cert.ca_repository
        if not mft_uri or not repo_uri:
            self.reject(ca.uri, "CA certificate without rpkiManifest or caRepository", "failed_pp")
            return
        if mft_uri in self.seen_pubpoints:
            self.reject(
                mft_uri, "publication point already visited (two CAs share it)", "failed_pp"
            )
            return
        self.seen_pubpoints.add(mft_uri)
        base = mft_uri.rsplit("/", 1)[0] + "/"
        if not mft_uri.startswith(repo_uri.rstrip("/") + "/"):
            self.reject(mft_uri, f"manifest is not inside caRepository {repo_uri}", "failed_pp")
            return
        root = self.hook.publication_point(cert) if self.hook is not None else None
        try:
            manifest, crl, files = self.load_publication_point(ca, mft_uri, base, root)
        except (_Rejected, RpkiDecodeError) as exc:
            self.reject(mft_uri, f"publication point unusable: {exc}", "failed_manifests")
            return
        self.counts["manifests"] += 1
        self.counts["crls"] += 1
        expires = min(ca.expires, crl.next_update or ca.expires)
        self.report_extra_files(
            base, {f.name for f in manifest.files} | {mft_uri.rsplit("/", 1)[1]}, root
        )
        entries = manifest.files
        if self.pool is not None:
            # ROAs and ASPAs go to the worker processes; CAs stay here, for the walk (and the
            # fetch hook) to go on meanwhile.
            leaves = [
                (base + e.name, PurePosixPath(e.name).suffix.lower(), files[e.name])
                for e in entries
                if e.name.lower().endswith((".roa", ".asa"))
            ]
            for start in range(0, len(leaves), LEAF_BATCH):
                batch = _LeafBatch(
                    ca, crl, expires, ta, self.as_of, leaves[start : start + LEAF_BATCH]
                )
                self.pending.append((len(self.rejections), self.pool.submit(_run_leaves, batch)))
            entries = tuple(e for e in entries if not e.name.lower().endswith((".roa", ".asa")))
        for entry in entries:
            uri = base + entry.name
            data = files[entry.name]
            suffix = PurePosixPath(entry.name).suffix.lower()
            if suffix == ".crl":
                continue
            try:
                if suffix == ".cer":
                    self.child_cert(uri, data, ca, crl, expires, ta)
                elif suffix in (".roa", ".asa"):
                    self.leaf(uri, suffix, data, ca, crl, expires, ta)
                elif suffix == ".mft":
                    raise _Rejected("a manifest listed on a manifest")
                else:
                    self.counts["other_objects"] += 1
            except (_Rejected, RpkiDecodeError) as exc:
                kind = {".cer": "invalid_certificates", ".roa": "invalid_roas"}.get(suffix)
                self.reject(uri, str(exc), kind or "invalid_other")

    def load_publication_point(
        self, ca: _Ca, mft_uri: str, base: str, root: Path | None = None
    ) -> tuple[Manifest, Crl, dict[str, bytes]]:
        """Manifest, CRL and every listed file, or `_Rejected` if the point fails as a whole."""
        manifest = decode_manifest(self.read(mft_uri, root))
        if manifest.problems:
            raise _Rejected("; ".join(manifest.problems))
        crls = [f for f in manifest.files if f.name.lower().endswith(".crl")]
        if len(crls) != 1:
            raise _Rejected(f"manifest lists {len(crls)} CRLs, expected exactly one")
        crl_uri = base + crls[0].name
        crl_data = self.read(crl_uri, root)
        if sha256(crl_data) != crls[0].digest:
            raise _Rejected(f"{crls[0].name} does not match its manifest hash")
        crl = decode_crl(crl_data)
        try:
            self.check_crl(crl, ca)
        except _Rejected as exc:
            raise _Rejected(f"CRL {crl_uri}: {exc}") from None
        self.check_signed(manifest.signed, ca, crl)
        if manifest.signed.ee.crldp_uri != crl_uri:
            raise _Rejected(f"manifest EE CRL distribution point is not {crl_uri}")
        if self.as_of < manifest.this_update:
            raise _Rejected(
                f"manifest thisUpdate {manifest.this_update.isoformat()} is in the future"
            )
        if self.as_of > manifest.next_update:
            raise _Rejected(f"manifest is stale since {manifest.next_update.isoformat()}")
        files: dict[str, bytes] = {}
        bad: list[str] = []
        for entry in manifest.files:
            try:
                data = self.read(base + entry.name, root)
            except _Rejected:
                bad.append(f"{entry.name} missing")
                continue
            if sha256(data) != entry.digest:
                bad.append(f"{entry.name} hash mismatch")
                continue
            files[entry.name] = data
        if bad:
            for item in bad:
                name, _, why = item.partition(" ")
                self.reject(base + name, f"{why} (listed on {mft_uri})")
            shown = ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
            raise _Rejected(f"{len(bad)} listed files unusable: {shown}")
        return manifest, crl, files

    def check_crl(self, crl: Crl, ca: _Ca) -> None:
        if crl.problems:
            raise _Rejected("; ".join(crl.problems))
        if crl.aki != ca.cert.ski:
            raise _Rejected("authority key identifier does not match the CA's key")
        verify_signature(ca.cert.spki_der, crl.signature, crl.tbs_der, crl.signature_algorithm)
        if self.as_of < crl.this_update:
            raise _Rejected(f"thisUpdate {crl.this_update.isoformat()} is in the future")
        if crl.next_update is not None and self.as_of > crl.next_update:
            raise _Rejected(f"stale since {crl.next_update.isoformat()}")

    def report_extra_files(self, base: str, listed: set[str], root: Path | None = None) -> None:
        """Files in the publication point that its manifest does not list are not used."""
        try:
            directory = self.local(base, root)
            names = sorted(p.name for p in directory.iterdir() if p.is_file())
        except (_Rejected, OSError):
            return
        for name in names:
            if name not in listed:
                self.reject(base + name, "not listed on the manifest; ignored", "unlisted_files")

    # --- objects ---

    def child_cert(
        self, uri: str, data: bytes, issuer: _Ca, crl: Crl, expires: datetime, ta: str
    ) -> None:
        cert = decode_cert(data)
        if not cert.is_ca:
            raise _Rejected("EE certificates (BGPsec router keys) are not supported here")
        resources = self.check_issued(cert, issuer, crl)
        if cert.key_usage != _CA_KEY_USAGE:
            raise _Rejected(f"CA keyUsage {sorted(cert.key_usage)}, expected keyCertSign, cRLSign")
        if cert.crldp_uri is None or not cert.crldp_uri.startswith("rsync://"):
            raise _Rejected("no rsync CRL distribution point")
        if cert.ski in issuer.keys:
            raise _Rejected("certificate chain loops back to a key already on it")
        if issuer.depth + 1 >= MAX_DEPTH:
            raise _Rejected(f"chain deeper than {MAX_DEPTH}")
        self.counts["certificates"] += 1
        child = _Ca(
            cert,
            uri,
            resources,
            min(expires, cert.not_after),
            issuer.depth + 1,
            issuer.keys | {cert.ski or b""},
        )
        self.publication_point(child, ta)

    def leaf(
        self, uri: str, suffix: str, data: bytes, ca: _Ca, crl: Crl, expires: datetime, ta: str
    ) -> None:
        """A ROA or an ASPA: valid, or rejected with its reason."""
        try:
            if suffix == ".roa":
                self.roa(uri, decode_roa(data), ca, crl, expires, ta)
            else:
                self.aspa(uri, decode_aspa(data), ca, crl, expires, ta)
        except (_Rejected, RpkiDecodeError) as exc:
            self.reject(uri, str(exc), "invalid_roas" if suffix == ".roa" else "invalid_other")

    def roa(self, uri: str, roa: Roa, issuer: _Ca, crl: Crl, expires: datetime, ta: str) -> None:
        if roa.problems:
            raise _Rejected("; ".join(roa.problems))
        resources = self.check_signed(roa.signed, issuer, crl)
        outside = [p for p in roa.prefixes if not resources.covers_prefix(p.afi, p.start, p.end)]
        if outside:
            shown = ", ".join(f"{format_number(p.afi, p.start)}/{p.length}" for p in outside[:5])
            raise _Rejected(f"prefixes outside the EE certificate's resources: {shown}")
        until = min(expires, roa.signed.ee.not_after)
        self.counts["roas"] += 1
        for p in roa.prefixes:
            self.vrps.append(
                Vrp(p.afi, p.start, p.length, p.effective_max_length, roa.asid, ta, until)
            )

    def aspa(self, uri: str, aspa: Aspa, issuer: _Ca, crl: Crl, expires: datetime, ta: str) -> None:
        if aspa.problems:
            raise _Rejected("; ".join(aspa.problems))
        resources = self.check_signed(aspa.signed, issuer, crl)
        if resources.ipv4 or resources.ipv6:
            raise _Rejected("ASPA EE certificate carries IP resources")
        if not resources.covers_prefix(Afi.ASN, aspa.customer, aspa.customer):
            raise _Rejected(f"customer AS{aspa.customer} is not in the EE certificate")
        self.counts["aspas"] += 1
        until = min(expires, aspa.signed.ee.not_after)
        self.aspas.append(ValidatedAspa(aspa.customer, aspa.providers, ta, until))

    def collect(self) -> None:
        """Wait for the worker batches and merge them in, rejections where they were queued."""
        if not self.pending:
            return
        merged: list[Rejection] = []
        done = 0
        for position, future in self.pending:
            part = future.result()
            merged.extend(self.rejections[done:position])
            done = position
            merged.extend(part.rejections)
            self.vrps.extend(part.vrps)
            self.aspas.extend(part.aspas)
            self.counts.update(part.counts)
        merged.extend(self.rejections[done:])
        self.rejections = merged
        self.pending = []

    def result(self) -> ValidationResult:
        self.collect()
        unique: dict[Vrp, Vrp] = {}
        for vrp in self.vrps:
            old = unique.get(vrp)
            if old is None or vrp.expires > old.expires:
                unique[vrp] = vrp
        self.counts["vrps"] = len(self.vrps)
        self.counts["unique_vrps"] = len(unique)
        return ValidationResult(
            vrps=tuple(sorted(unique.values())),
            aspas=tuple(sorted(self.aspas, key=lambda a: a.customer)),
            rejections=tuple(self.rejections),
            counts=dict(self.counts),
            as_of=self.as_of,
        )


@dataclass(frozen=True, slots=True)
class _LeafBatch:
    """ROAs and ASPAs of one publication point, for a worker process."""

    ca: _Ca
    crl: Crl
    expires: datetime
    ta: str
    as_of: datetime
    items: list[tuple[str, str, bytes]]  # (uri, suffix, DER)


@dataclass(frozen=True, slots=True)
class _LeafResult:
    vrps: list[Vrp]
    aspas: list[ValidatedAspa]
    rejections: list[Rejection]
    counts: Counter[str]


def _run_leaves(batch: _LeafBatch) -> _LeafResult:
    """Worker side: the same checks `_Run.leaf` makes in the walking process."""
    run = _Run(Path("/"), batch.as_of)
    for uri, suffix, data in batch.items:
        run.leaf(uri, suffix, data, batch.ca, batch.crl, batch.expires, batch.ta)
    return _LeafResult(run.vrps, run.aspas, run.rejections, run.counts)


def _pool(workers: int | None) -> ProcessPoolExecutor | None:
    """One worker per CPU for None, none besides the walk for one. On Linux the workers are
    forked: they inherit the imported modules, so starting one costs milliseconds."""
    count = (os.cpu_count() or 1) if workers is None else workers
    return ProcessPoolExecutor(max_workers=count) if count > 1 else None


def _as_of(as_of: datetime | None) -> datetime:
    if as_of is None:
        return datetime.now(UTC)
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return as_of


def validate(
    tals: Iterable[Path],
    repo_dir: Path,
    as_of: datetime | None = None,
    *,
    hook: RepositoryHook | None = None,
    workers: int | None = 1,
) -> ValidationResult:
    """Validate every TAL's tree in the mirror `repo_dir`, as of `as_of` (default: now).

    The TA name in the VRPs is the TAL's file stem, as rpki-client names it. A `hook` is told
    of each trust anchor and publication point before they are read (see `RepositoryHook`).
    With `workers` > 1 (None: one per CPU) ROAs and ASPAs are checked in that many worker
    processes while this one walks the CAs; the answer is the same, except that a point's
    ROA and ASPA rejections are listed before those of its child CAs.
    """
    as_of = _as_of(as_of)
    pool = _pool(workers)
    run = _Run(repo_dir, as_of, hook, pool)
    try:
        for tal in tals:
            run.run_tal(tal)
        return run.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def validate_subtree(
    ca_cert: Path, repo_dir: Path, as_of: datetime | None = None, ta: str = "subtree"
) -> ValidationResult:
    """Validate below one CA certificate that is taken on trust, like a TA without a TAL.

    For partial mirrors, such as a cut-down RRDP snapshot whose upper CAs are missing: the
    certificate's own signature and its issuer are not checked, everything below it is.
    """
    run = _Run(repo_dir, _as_of(as_of))
    run.subtree(ca_cert, ta)
    return run.result()
