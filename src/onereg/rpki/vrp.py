"""VRP output in rpki-client's JSON and CSV forms.

The shapes are rpki-client's (``-j`` and ``-c``) because that is what StayRTR, routers' tooling
and the judges in RPKI-JUDGES.md read: JSON ``{"metadata": {...}, "roas": [{"asn", "prefix",
"maxLength", "ta", "expires"}]}`` with ``expires`` in Unix seconds, and CSV
``ASN,IP Prefix,Max Length,Trust Anchor,Expires``.  Order is rpki-client's: IPv4 before IPv6,
then address, prefix length, maxLength and AS number.
"""

from __future__ import annotations

from typing import Any

import orjson

from onereg.rpki.validate import ValidationResult, Vrp

CSV_HEADER = "ASN,IP Prefix,Max Length,Trust Anchor,Expires"


def vrp_dict(vrp: Vrp) -> dict[str, Any]:
    return {
        "asn": vrp.asn,
        "prefix": vrp.prefix,
        "maxLength": vrp.max_length,
        "ta": vrp.ta,
        "expires": int(vrp.expires.timestamp()),
    }


def to_json(result: ValidationResult) -> bytes:
    """The rpki-client ``json`` file for a validation run."""
    c = result.counts
    metadata = {
        "buildtime": result.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tals": c.get("tals", 0),
        "certificates": c.get("certificates", 0),
        "invalidcertificates": c.get("invalid_certificates", 0),
        "manifests": c.get("manifests", 0),
        "failedmanifests": c.get("failed_manifests", 0),
        "crls": c.get("crls", 0),
        "roas": c.get("roas", 0),
        "invalidroas": c.get("invalid_roas", 0),
        "aspas": c.get("aspas", 0),
        "vrps": c.get("vrps", 0),
        "uniquevrps": c.get("unique_vrps", len(result.vrps)),
    }
    body = {
        "metadata": metadata,
        "roas": [vrp_dict(v) for v in result.vrps],
        "aspas": [
            {
                "customer_asid": a.customer,
                "expires": int(a.expires.timestamp()),
                "providers": list(a.providers),
            }
            for a in result.aspas
        ],
    }
    return orjson.dumps(body, option=orjson.OPT_INDENT_2)


def to_csv(vrps: tuple[Vrp, ...] | list[Vrp]) -> str:
    """The rpki-client ``csv`` file: a header line, then one line per VRP."""
    lines = [CSV_HEADER]
    lines.extend(
        f"AS{v.asn},{v.prefix},{v.max_length},{v.ta},{int(v.expires.timestamp())}" for v in vrps
    )
    return "\n".join(lines) + "\n"
