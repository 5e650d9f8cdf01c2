"""Our relying party's exact reason for every broken repository of the corpus (no judges run).

`test_rpki_corpus.py` compares our verdicts with rpki-client, FORT and OctoRPKI where they are
installed; this file needs none of them: it builds the whole corpus (tests/rpkicorpus.py, one
defect per case), validates it with ours only, and pins the reason each object is refused with
and the counters, so that a check that is dropped, weakened or renamed shows here. Timestamps
are written relative to the corpus's clock, `<base>` is its rsync base URI.
"""

# ruff: noqa: E501 (the table of reasons holds long messages verbatim)
from __future__ import annotations

import re
import tempfile
from datetime import datetime
from pathlib import Path

from onereg.rpki.validate import validate
from rpkicorpus import CASES, build, our_reasons

# RSA keys take ~45 s to make and are test data only: keep them between runs.
KEY_CACHE = Path(tempfile.gettempdir()) / "onereg-test-rpki-corpus-keys"
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")

REASONS: dict[str, list[str]] = {
    "ta-inherit": ["trust anchor refused: a trust anchor cannot inherit resources"],
    "ta-expired": ["trust anchor refused: trust anchor expired at <now-1d>"],
    "ta-not-yet-valid": ["trust anchor refused: trust anchor not valid before <now+2d>"],
    "ta-key-not-tal": ["trust anchor refused: the certificate's key is not the TAL's key"],
    "ta-bad-signature": [
        "trust anchor refused: self-signature refused: signature does not verify (RFC 6487 section 7.2)"
    ],
    "ta-not-ca": ["trust anchor refused: not a CA certificate with keyCertSign and cRLSign"],
    "ta-key-usage": ["trust anchor refused: not a CA certificate with keyCertSign and cRLSign"],
    "ta-aki-other": ["trust anchor refused: not self-signed"],
    "ta-no-sia": ["CA certificate without rpkiManifest or caRepository"],
    "ta-ip-not-critical": ["trust anchor refused: IP resources extension is not critical"],
    "ta-der-default": [
        "trust anchor refused: certificate is not DER: BOOLEAN FALSE at offset 495: a DEFAULT value encoded (X.690 11.5); RPKI objects must be DER (RFC 6488 section 2.1, RFC 6487 section 4)"
    ],
    "ca-no-aki": ["authority key identifier missing (RFC 6487 section 4.8.3)"],
    "ca-aki-other": ["authority key identifier does not match the issuer's key"],
    "ca-bad-signature": ["signature does not verify"],
    "ca-expired": ["certificate expired at <now-1d>"],
    "ca-revoked": ["serial 117 is revoked"],
    "ca-overclaim": ["resources beyond the issuer's: 11.0.0.0/8"],
    "ca-no-crldp": ["no rsync CRL distribution point"],
    "ca-no-ski": ["no subjectKeyIdentifier"],
    "ca-no-policy": ["certificate policies [], expected [1.3.6.1.5.5.7.14.2]"],
    "ca-key-usage": ["CA keyUsage ['digital_signature'], expected keyCertSign, cRLSign"],
    "ca-ber-length": [
        "certificate is not DER: non-minimal length at offset 85 (X.690 10.1); RPKI objects must be DER (RFC 6488 section 2.1, RFC 6487 section 4)"
    ],
    "ca-no-aia": ["no AIA caIssuers URI (RFC 6487 section 4.8.7)"],
    "ca-sha1": ["unsupported signature algorithm 1.2.840.113549.1.1.5"],
    "ca-unknown-critical": ["unknown critical extension 1.3.6.1.4.1.32473.1"],
    "mft-stale": ["publication point unusable: manifest is stale since <now-2d>"],
    "mft-future": ["publication point unusable: manifest thisUpdate <now+2d> is in the future"],
    "mft-der-version": [
        "publication point unusable: manifest eContent is not DER: version 0 at offset 3 is the DEFAULT and must be left out (X.690 11.5); RPKI objects must be DER (RFC 6488 section 2.1, RFC 6487 section 4)"
    ],
    "mft-missing-file": [
        "missing (listed on <base>repo/mft-missing-file/mft-missing-file.mft)",
        "publication point unusable: 1 listed files unusable: missing.roa missing",
    ],
    "mft-wrong-hash": [
        "hash mismatch (listed on <base>repo/mft-wrong-hash/mft-wrong-hash.mft)",
        "publication point unusable: 1 listed files unusable: mft-wrong-hash.roa hash mismatch",
    ],
    "mft-no-crl": ["publication point unusable: manifest lists 0 CRLs, expected exactly one"],
    "mft-number-huge": [
        "publication point unusable: manifest number 1461501637330902918203684832716283019655932542976 outside 0..2^160-1"
    ],
    "mft-ee-expired": ["publication point unusable: certificate expired at <now-1d>"],
    "mft-bad-signature": ["publication point unusable: signature does not verify"],
    "crl-stale": [
        "publication point unusable: CRL <base>repo/crl-stale/crl-stale.crl: stale since <now-2d>"
    ],
    "crl-future": [
        "publication point unusable: CRL <base>repo/crl-future/crl-future.crl: thisUpdate <now+2d> is in the future"
    ],
    "crl-bad-signature": [
        "publication point unusable: CRL <base>repo/crl-bad-signature/crl-bad-signature.crl: signature does not verify"
    ],
    "crl-no-number": [
        "publication point unusable: CRL <base>repo/crl-no-number/crl-no-number.crl: no CRL number (RFC 6487 section 5)"
    ],
    "crl-v1": [
        "publication point unusable: CRL <base>repo/crl-v1/crl-v1.crl: CRL version None, not v2 (RFC 6487 section 5)"
    ],
    "crl-no-aki": [
        "publication point unusable: CRL <base>repo/crl-no-aki/crl-no-aki.crl: no authorityKeyIdentifier (RFC 6487 section 5)"
    ],
    "crl-revokes-roa": ["serial 3 is revoked"],
    "cms-bad-signature": ["signature does not verify"],
    "cms-wrong-digest": ["messageDigest does not match the content"],
    "cms-ct-attr": [
        "contentType attribute 1.2.840.113549.1.9.16.1.26 differs from eContentType 1.2.840.113549.1.9.16.1.24"
    ],
    "cms-ect-manifest": ["eContentType is manifest, expected roa"],
    "cms-sid-issuer": ["SignerInfo sid is not a subjectKeyIdentifier (RFC 6488 2.1.6.2)"],
    "cms-version-1": ["SignedData version v1, not v3 (RFC 6488 2.1.1)"],
    "cms-with-crl": ["SignedData carries CRLs (RFC 6488 section 2.1.5)"],
    "cms-unsigned-attrs": ["SignerInfo has unsigned attributes (RFC 6488 section 2.1.6.7)"],
    "cms-sha1": [
        "digestAlgorithms ['1.3.14.3.2.26'], expected only SHA-256; SignerInfo digestAlgorithm is not SHA-256"
    ],
    "cms-extra-attr": ["unexpected signed attribute 1.2.840.113549.1.9.2"],
    "cms-unsorted-attrs": [
        "SignedAttributes is not DER: SET elements at offset 2 out of order (X.690 11.6); RPKI objects must be DER (RFC 6488 section 2.1, RFC 6487 section 4)"
    ],
    "roa-ee-inherit": [
        "ROA EE certificate uses inherit for its resources; they must be explicit (RFC 9582 section 5, RFC 6487 section 4.8.10)"
    ],
    "roa-der-version": [
        "ROA eContent is not DER: version 0 at offset 2 is the DEFAULT and must be left out (X.690 11.5); RPKI objects must be DER (RFC 6488 section 2.1, RFC 6487 section 4)"
    ],
    "roa-outside-ee": ["prefixes outside the EE certificate's resources: 10.1.0.0/16"],
    "roa-max-length": ["maxLength 8 not within 16..32"],
    "roa-ee-asn": ["ROA EE certificate carries AS resources (RFC 9582 section 5)"],
    "roa-ee-expired": ["certificate expired at <now-1d>"],
    "roa-ee-is-ca": ["the signing certificate is a CA certificate (RFC 6487 section 4.8.1)"],
    "roa-ee-key-usage": ["EE certificate keyUsage lacks digitalSignature"],
    "roa-ee-no-sia": ["EE certificate has no SIA signedObject URI (RFC 6487 section 4.8.8.2)"],
    "roa-ee-no-aia": ["no AIA caIssuers URI (RFC 6487 section 4.8.7)"],
    "roa-ee-no-aki": ["authority key identifier missing (RFC 6487 section 4.8.3)"],
    "roa-ber-length": [
        "ROA eContent is not DER: non-minimal length at offset 8 (X.690 10.1); RPKI objects must be DER (RFC 6488 section 2.1, RFC 6487 section 4)"
    ],
    "roa-dirty-bits": [
        "ROA eContent is not DER: BIT STRING at offset 19 has non-zero unused bits (X.690 11.2.1); RPKI objects must be DER (RFC 6488 section 2.1, RFC 6487 section 4)"
    ],
    "roa-safi": ["ROA addressFamily carries a SAFI"],
}


COUNTS = {
    "tals": 3,
    "certificates": 52,
    "manifests": 36,
    "crls": 36,
    "roas": 8,
    "invalid_certificates": 24,
    "failed_pp": 1,
    "invalid_roas": 26,
    "failed_manifests": 15,
    "vrps": 8,
    "unique_vrps": 8,
}


def test_every_broken_case_is_refused_with_its_reason(tmp_path: Path) -> None:
    base = "rsync://127.0.0.1:8873/"
    corpus = build(tmp_path, base, key_cache=KEY_CACHE)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "127.0.0.1:8873").symlink_to(corpus.root)
    result = validate(list(corpus.tals), mirror, corpus.now)

    def norm(reason: str) -> str:
        def days(m: re.Match[str]) -> str:
            return f"<now{(datetime.fromisoformat(m[0]) - corpus.now).days:+d}d>"

        return ISO.sub(days, reason.replace(base, "<base>"))

    rejections = list(result.rejections)
    got = {c.name: [norm(r) for r in our_reasons(rejections, c.name)] for c in CASES}
    assert {name: got[name] for name in REASONS} == REASONS
    accepted = {v.asn for v in result.vrps}
    assert {corpus.asn["control"], corpus.asn["control-ta"]} <= accepted
    assert not accepted & {corpus.asn[name] for name in REASONS}
    assert result.counts == COUNTS
