"""RPKI objects built by the project's own CA code, as seeds that need no real data."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import rsa

from onereg.rpki import objects as o

_START = datetime(2026, 1, 1, tzinfo=UTC)
_END = datetime(2027, 1, 1, tzinfo=UTC)
_BASE = "rsync://rpki.example.net/repo/ta"


@functools.cache
def built_objects() -> list[tuple[str, bytes]]:
    """(suffix, bytes): a TA certificate, its CRL, a ROA and a manifest listing them."""
    ta = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ee = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = o.resource_certificate(
        o.CertSpec(
            ta.public_key(),
            ta,
            1,
            _START,
            _END,
            o.ResourceSet.parse("193.0.0.0/16", "2001:678::/29", "AS3333"),
            True,
            self_signed=True,
            ca_repository=f"{_BASE}/",
            manifest=f"{_BASE}/ta.mft",
            notify="https://rpki.example.net/rrdp/notification.xml",
        )
    )
    crl = o.certificate_revocation_list(ta, 1, _START, _END, [(7, _START)])

    def spec(serial: int, name: str) -> o.SignedObjectSpec:
        return o.SignedObjectSpec(
            ee,
            ta,
            serial,
            _START,
            _END,
            f"{_BASE}/{name}",
            f"{_BASE}/ta.crl",
            f"{_BASE}.cer",
            _START,
        )

    roa = o.roa(spec(2, "a.roa"), 3333, [o.RoaPrefix.parse("193.0.0.0/21-24")])
    mft = o.manifest(spec(3, "ta.mft"), 1, _START, _END, {"ta.crl": crl, "a.roa": roa})
    return [(".cer", cert), (".crl", crl), (".roa", roa), (".mft", mft)]
