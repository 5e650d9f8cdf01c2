"""A one-object printer in the spirit of ``rpki-client -f FILE``.

Field labels follow rpki-client's so that output can be compared by eye with the judge's; the
profile problems found while decoding are listed at the end, so ``show`` explains why an object
would be refused even when it can be read.
"""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path

from onereg.core.resources import format_number
from onereg.rpki.der import (
    CONTENT_TYPE_NAMES,
    Aspa,
    Crl,
    Manifest,
    ResourceCert,
    Roa,
    RpkiDecodeError,
    RpkiObject,
    Rsc,
    SignedObject,
    Tal,
    decode_bytes,
    sha256,
)

_W = 26


def _line(label: str, value: object) -> str:
    return f"{label + ':':<{_W}}{value}"


def _hex(value: bytes | None) -> str:
    return ":".join(f"{b:02X}" for b in value) if value else "-"


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _cert_lines(cert: ResourceCert, *, ee: bool = False) -> list[str]:
    lines = [
        _line("Subject key identifier", _hex(cert.ski)),
        _line("Authority key identifier", _hex(cert.aki)),
        _line("Certificate issuer", cert.issuer),
        _line("Certificate serial", f"{cert.serial:X}"),
    ]
    if cert.aia_uri:
        lines.append(_line("Authority info access", cert.aia_uri))
    if cert.crldp_uri:
        lines.append(_line("CRL distribution point", cert.crldp_uri))
    if ee:
        if cert.signed_object_uri:
            lines.append(_line("Signed object", cert.signed_object_uri))
    else:
        lines.append(_line("Certificate type", "CA" if cert.is_ca else "EE"))
        if cert.manifest_uri:
            lines.append(_line("Manifest", cert.manifest_uri))
        if cert.ca_repository:
            lines.append(_line("caRepository", cert.ca_repository))
        if cert.notify_uri:
            lines.append(_line("Notify URL", cert.notify_uri))
        res = cert.resources.text()
        lines.append(_line("Subordinate resources", res[0] if res else "none"))
        lines.extend(" " * _W + r for r in res[1:])
    lines.append(_line("Validity", f"{_time(cert.not_before)} - {_time(cert.not_after)}"))
    return lines


def _signed_lines(so: SignedObject) -> list[str]:
    lines = _cert_lines(so.ee, ee=True)
    lines.append(_line("Content type", CONTENT_TYPE_NAMES.get(so.content_type, so.content_type)))
    lines.append(_line("Signing time", _time(so.signing_time)))
    return lines


def object_lines(obj: RpkiObject) -> list[str]:
    """The body of the printout for a decoded object (no file name or hash)."""
    if isinstance(obj, ResourceCert):
        return _cert_lines(obj) + _problems(obj.problems)
    if isinstance(obj, Crl):
        lines = [
            _line("Authority key identifier", _hex(obj.aki)),
            _line("CRL issuer", obj.issuer),
            _line("CRL number", f"{obj.number:X}" if obj.number is not None else "-"),
            _line("CRL this update", _time(obj.this_update)),
            _line("CRL next update", _time(obj.next_update)),
            _line("Revoked certificates", len(obj.revoked)),
        ]
        lines.extend(" " * _W + f"Serial: {s:X}" for s in sorted(obj.revoked))
        return lines + _problems(obj.problems)
    if isinstance(obj, Manifest):
        lines = _signed_lines(obj.signed)
        lines += [
            _line("Manifest number", f"{obj.number:X}"),
            _line("Manifest this update", _time(obj.this_update)),
            _line("Manifest next update", _time(obj.next_update)),
            _line("Files and hashes", ""),
        ]
        for i, f in enumerate(obj.files, 1):
            digest = base64.b64encode(f.digest).decode()
            lines.append(f"    {i}: {f.name} (hash: {digest})")
        return lines + _problems(obj.problems + obj.signed.problems + obj.signed.ee.problems)
    if isinstance(obj, Roa):
        lines = _signed_lines(obj.signed)
        lines.append(_line("asID", obj.asid))
        lines.append(_line("IP address blocks", ""))
        for i, p in enumerate(obj.prefixes, 1):
            lines.append(
                f"    {i}: {format_number(p.afi, p.start)}/{p.length} "
                f"maxlen: {p.effective_max_length}"
            )
        return lines + _problems(obj.problems + obj.signed.problems + obj.signed.ee.problems)
    if isinstance(obj, Aspa):
        lines = _signed_lines(obj.signed)
        lines.append(_line("Customer AS", obj.customer))
        lines.append(_line("Provider set", ", ".join(f"AS{p}" for p in obj.providers)))
        return lines + _problems(obj.problems + obj.signed.problems)
    if isinstance(obj, Rsc):
        lines = _signed_lines(obj.signed)
        lines.extend(_line("Signed with resources", r) for r in obj.resources.text())
        for name, raw in obj.checklist:
            lines.append(f"    {name or '-'} (hash: {base64.b64encode(raw).decode()})")
        return lines + _problems(obj.problems + obj.signed.problems)
    if isinstance(obj, Tal):
        lines = [_line("Trust anchor URI", uri) for uri in obj.uris]
        key = base64.b64encode(obj.spki_der).decode()
        lines.append(_line("Trust anchor key", key[:60] + "..."))
        return lines
    return _signed_lines(obj) + _problems(obj.problems)


def _problems(problems: tuple[str, ...]) -> list[str]:
    return [_line("Problem", p) for p in problems]


def show(path: Path) -> list[str]:
    """Print one RPKI object file; raises `RpkiDecodeError` (with a reason) if it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RpkiDecodeError(f"{path}: {exc.strerror or exc}") from None
    obj = decode_bytes(data, path.name)
    head = [
        _line("File", path),
        _line("Hash identifier", base64.b64encode(sha256(data)).decode()),
    ]
    return head + object_lines(obj)
