"""CMS SignedData for RPKI signed objects (RFC 6488), in the one shape every judge accepts.

RFC 6488 narrows CMS to a single profile; the relying parties reject anything outside it (a
second certificate, a CRL in the SignedData, parameters on the digest algorithm, an extra signed
attribute), so this module builds exactly that profile and nothing configurable.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, x509  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

OID_CT_ROA = "1.2.840.113549.1.9.16.1.24"
OID_CT_MANIFEST = "1.2.840.113549.1.9.16.1.26"
OID_CT_RSC = "1.2.840.113549.1.9.16.1.48"  # RFC 9323 id-ct-signedChecklist

# sha256 AlgorithmIdentifier with the parameters absent (RFC 5754 §2); asn1crypto would add NULL.
_SHA256_ABSENT_PARAMS = bytes.fromhex("300b0609608648016503040201")


def _sha256() -> algos.DigestAlgorithm:
    return algos.DigestAlgorithm.load(_SHA256_ABSENT_PARAMS)


def signed_attributes(content_type: str, content: bytes, signing_time: datetime) -> bytes:
    """The DER SET OF (tag 0x31) the signature covers: contentType, messageDigest, signingTime,
    sorted as DER requires (asn1crypto sorts a SET OF by its encodings)."""
    moment = signing_time.astimezone(UTC).replace(microsecond=0)
    attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": [content_type]},
            {"type": "signing_time", "values": [cms.Time(name="utc_time", value=moment)]},
            {"type": "message_digest", "values": [hashlib.sha256(content).digest()]},
        ]
    )
    return bytes(attrs.dump())


def signed_object(
    content_type: str,
    content: bytes,
    ee_certificate: bytes,
    ee_key: rsa.RSAPrivateKey,
    signing_time: datetime,
) -> bytes:
    """A DER ContentInfo wrapping SignedData v3 with one signer identified by its SKI."""
    cert = x509.Certificate.load(ee_certificate)
    attrs_der = signed_attributes(content_type, content, signing_time)
    signature = ee_key.sign(attrs_der, padding.PKCS1v15(), hashes.SHA256())
    signer = cms.SignerInfo(
        {
            "version": "v3",
            "sid": cms.SignerIdentifier(
                name="subject_key_identifier", value=cert.key_identifier_value.native
            ),
            "digest_algorithm": _sha256(),
            "signed_attrs": cms.CMSAttributes.load(attrs_der),
            "signature_algorithm": algos.SignedDigestAlgorithm(
                {"algorithm": "rsassa_pkcs1v15", "parameters": core.Null()}
            ),
            "signature": signature,
        }
    )
    signed = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [_sha256()],
            "encap_content_info": {
                "content_type": content_type,
                "content": core.ParsableOctetString(content),
            },
            "certificates": [cert],
            "signer_infos": [signer],
        }
    )
    info = cms.ContentInfo({"content_type": "signed_data", "content": signed})
    return bytes(info.dump())
