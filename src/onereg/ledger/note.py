"""Signed notes, byte for byte as c2sp.org/signed-note and golang.org/x/mod/sumdb/note.

A signed note is a text that ends in a newline, a blank line, then one or more signature lines
``— <key name> base64(key ID || signature)`` (U+2014 em dash, space, name, space, base64,
newline). The key ID is ``SHA-256(name || 0x0A || type || public key)[:4]``; a verifier key
(vkey) is the text ``name+hex(key ID)+base64(type || public key)``.

Opening a note follows the specification's rules: signatures by unknown keys are ignored (kept
apart as unverified), every signature by a known key must verify, and at least one must. Up to
``MAX_SIGNATURES`` (100, as in the Go reference; the specification asks for at least 16) are
accepted.

Two rules are stricter than the Go reference, and both only refuse notes no signer produces:
base64 must be canonical (the padding bits zero), so that changing any character of a
signature changes its bytes; and every signature by a known key is verified, not only the first
one by each key.

Only Ed25519 is implemented: type 0x01 here, the timestamped cosignature type 0x04 in
``onereg.ledger.checkpoint``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from onereg.core.errors import SignatureError, UnknownKeyError

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
SIGNATURE_TYPE_NAMES = {
    0x01: "Ed25519",
    0x02: "ECDSA",
    0x04: "Ed25519 cosignature/v1",
    0x05: "RFC 6962 tree head signature",
    0x06: "ML-DSA-44 cosignature",
}

EM_DASH = "\u2014"
SIGNATURE_PREFIX = EM_DASH + " "
KEY_ID_SIZE = 4
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
MAX_SIGNATURES = 100
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"


# --- text rules ---------------------------------------------------------------------------


def encode_base64(data: bytes) -> str:
    """Standard base64 (RFC 4648 section 4) with padding."""
    return base64.b64encode(data).decode("ascii")


def decode_base64(text: str) -> bytes:
    """Decode standard padded base64, refusing anything but the canonical encoding.

    Raises ValueError with the reason; callers add where the text came from.
    """
    if not text:
        raise ValueError("empty base64")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError(f"not valid base64 ({exc})") from None
    if encode_base64(data) != text:
        raise ValueError("not canonical base64 (non-zero padding bits)")
    return data


def key_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid key name (non-empty, no Unicode space, no '+'), or None."""
    if not name:
        return "the key name is empty"
    for ch in name:
        if ch.isspace():
            return f"the key name {name!r} contains a space character (U+{ord(ch):04X})"
        if ord(ch) < 0x20:
            return f"the key name {name!r} contains a control character (U+{ord(ch):04X})"
        if ch == "+":
            return f"the key name {name!r} contains '+'"
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return f"the key name {name!r} is not valid UTF-8"
    return None


def check_key_name(name: str) -> None:
    problem = key_name_problem(name)
    if problem is not None:
        raise SignatureError(f"invalid key name: {problem}")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot appear in a note (not UTF-8, or a control character), or None."""
    for lineno, line in enumerate(text.split("\n"), start=1):
        for ch in line:
            code = ord(ch)
            if code < 0x20:
                return f"line {lineno} contains the control character U+{code:04X}"
            if 0xD800 <= code <= 0xDFFF:
                return f"line {lineno} is not valid UTF-8 (lone surrogate U+{code:04X})"
    return None


def _as_text(note: str | bytes) -> str:
    if isinstance(note, bytes):
        try:
            return note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SignatureError(f"malformed note: not valid UTF-8 at byte {exc.start}") from None
    return note


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4], the recommended (and, for 0x04, required)
    key ID."""
    check_key_name(name)
    material = name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key
    return hashlib.sha256(material).digest()[:KEY_ID_SIZE]


def _type_name(sig_type: int) -> str:
    return f"0x{sig_type:02x} ({SIGNATURE_TYPE_NAMES.get(sig_type, 'unassigned')})"


def _split_key_text(text: str, label: str) -> tuple[str, str, bytes]:
    """Split ``name+hex+base64`` (the base64 may itself hold '+') into name, hex and key bytes.

    ``label`` names the text in errors (a private key is never echoed).
    """
    name, sep1, rest = text.partition("+")
    key_hex, sep2, key_b64 = rest.partition("+")
    if not sep1 or not sep2:
        raise SignatureError(f"malformed {label}: expected name+keyid+base64")
    problem = key_name_problem(name)
    if problem is not None:
        raise SignatureError(f"malformed {label}: {problem}")
    if len(key_hex) != 8 or any(c not in "0123456789abcdefABCDEF" for c in key_hex):
        raise SignatureError(f"malformed {label}: key ID {key_hex!r} is not 8 hexadecimal digits")
    try:
        material = decode_base64(key_b64)
    except ValueError as exc:
        raise SignatureError(f"malformed {label}: the key data is {exc}") from None
    return name, key_hex.lower(), material


# --- signatures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """One signature line: who (name and key ID) and the signature bytes after the key ID."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def key(self) -> str:
        """``name+keyid``, how messages name the key."""
        return f"{self.name}+{self.key_id.hex()}"

    def line(self) -> str:
        """The signature line, with its final newline."""
        value = encode_base64(self.key_id + self.signature)
        return f"{SIGNATURE_PREFIX}{self.name} {value}\n"

    @classmethod
    def parse_line(cls, line: str, lineno: int | None = None) -> Self:
        """Parse a signature line (without its newline); ``lineno`` only enriches errors."""
        where = f"line {lineno}" if lineno is not None else "signature line"
        if not line.startswith(SIGNATURE_PREFIX):
            raise SignatureError(
                f"malformed note: {where} does not start with an em dash and a space: {line!r}"
            )
        name, _, value = line[len(SIGNATURE_PREFIX) :].partition(" ")
        problem = key_name_problem(name)
        if problem is not None:
            raise SignatureError(f"malformed note: {where}: {problem}")
        try:
            raw = decode_base64(value)
        except ValueError as exc:
            raise SignatureError(
                f"malformed note: {where}: the signature by {name} is {exc}"
            ) from None
        if len(raw) <= KEY_ID_SIZE:
            raise SignatureError(
                f"malformed note: {where}: the signature by {name} has {len(raw)} bytes, "
                f"not even a key ID and a signature"
            )
        return cls(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


class OpenedNote(NamedTuple):
    """A note whose known signatures all verified."""

    text: str
    verified: list[Signature]  # one per known key, in order of first appearance
    unverified: list[Signature]  # signatures by unknown keys, duplicates dropped


# --- keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """A public key that checks signatures of one type under one name.

    The key ID is always computed from name, type and key; a vkey declaring another one is
    refused (as the Go reference does).
    """

    name: str
    public_key: bytes
    sig_type: ClassVar[int] = SIG_ED25519

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != ED25519_KEY_SIZE:
            raise SignatureError(
                f"{self.name}: an Ed25519 public key has {ED25519_KEY_SIZE} bytes, "
                f"got {len(self.public_key)}"
            )

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.sig_type, self.public_key)

    @property
    def key(self) -> str:
        """``name+keyid``, how messages name the key."""
        return f"{self.name}+{self.key_id.hex()}"

    def vkey(self) -> str:
        material = bytes([self.sig_type]) + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{encode_base64(material)}"

    @classmethod
    def from_vkey(cls, vkey: str) -> Self:
        """Parse ``name+hex(keyid)+base64(type||pubkey)``; the type must be this class's."""
        name, key_hex, material = _split_key_text(vkey, f"verifier key {vkey!r}")
        sig_type, public_key = material[0], material[1:]
        if sig_type != cls.sig_type:
            raise SignatureError(
                f"verifier key {vkey!r} has signature type {_type_name(sig_type)}; "
                f"{cls.__name__} takes type {_type_name(cls.sig_type)}"
            )
        if len(public_key) != ED25519_KEY_SIZE:
            raise SignatureError(
                f"malformed verifier key {vkey!r}: the Ed25519 public key has "
                f"{len(public_key)} bytes, expected {ED25519_KEY_SIZE}"
            )
        verifier = cls(name, public_key)
        if verifier.key_id.hex() != key_hex:
            raise SignatureError(
                f"verifier key {vkey!r} declares key ID {key_hex}, but name, type and key give "
                f"{verifier.key_id.hex()}",
                key=verifier.key,
            )
        return verifier

    def _verify_ed25519(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (the bytes after the key ID) signs ``message`` (the note text)."""
        return self._verify_ed25519(message, signature)


@dataclass(frozen=True, eq=False)
class Signer:
    """A named Ed25519 private key that signs note texts."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)
    sig_type: ClassVar[int] = SIG_ED25519

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @classmethod
    def generate(cls, name: str) -> Self:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Self:
        """From the 32-byte RFC 8032 private key (the seed)."""
        if len(seed) != ED25519_KEY_SIZE:
            raise SignatureError(
                f"{name}: an Ed25519 private key has {ED25519_KEY_SIZE} bytes, got {len(seed)}"
            )
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_skey(cls, skey: str) -> Self:
        """Parse the Go note library's ``PRIVATE+KEY+name+hex(keyid)+base64(type||seed)``.

        The key ID is checked against the public key derived from the seed.
        """
        if not skey.startswith(PRIVATE_KEY_PREFIX):
            raise SignatureError("malformed signer key: it does not start with PRIVATE+KEY+")
        # The key text is secret: errors never echo it.
        name, key_hex, material = _split_key_text(skey[len(PRIVATE_KEY_PREFIX) :], "signer key")
        sig_type, seed = material[0], material[1:]
        if sig_type != cls.sig_type:
            raise SignatureError(
                f"signer key for {name} has signature type {_type_name(sig_type)}; "
                f"{cls.__name__} takes type {_type_name(cls.sig_type)}"
            )
        if len(seed) != ED25519_KEY_SIZE:
            raise SignatureError(
                f"malformed signer key for {name}: the Ed25519 private key has {len(seed)} "
                f"bytes, expected {ED25519_KEY_SIZE}"
            )
        signer = cls.from_seed(name, seed)
        if signer.key_id.hex() != key_hex:
            raise SignatureError(
                f"signer key for {name} declares key ID {key_hex}, but its public key gives "
                f"{signer.key_id.hex()}",
                key=signer.key,
            )
        return signer

    def skey(self) -> str:
        """The private key text (secret!) in the Go note library's format."""
        material = bytes([self.sig_type]) + self.private_key.private_bytes_raw()
        return f"{PRIVATE_KEY_PREFIX}{self.name}+{self.key_id.hex()}+{encode_base64(material)}"

    @property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes_raw()

    @property
    def key_id(self) -> bytes:
        return self.verifier().key_id

    @property
    def key(self) -> str:
        return self.verifier().key

    def verifier(self) -> Verifier:
        return Verifier(self.name, self.public_key)

    def sign(self, message: bytes) -> bytes:
        """The signature bytes (after the key ID) over ``message``, the note text."""
        return self.private_key.sign(message)


# --- notes --------------------------------------------------------------------------------


def check_note_text(text: str) -> None:
    """A note text must end in a newline and hold no control character but newline."""
    if not text.endswith("\n"):
        raise SignatureError("malformed note text: it does not end with a newline")
    problem = text_problem(text)
    if problem is not None:
        raise SignatureError(f"malformed note text: {problem}")


def format_note(text: str, signatures: Iterable[Signature]) -> str:
    """Text, blank line, signature lines."""
    check_note_text(text)
    lines = [sig.line() for sig in signatures]
    if not lines:
        raise SignatureError("a signed note needs at least one signature")
    if len(lines) > MAX_SIGNATURES:
        raise SignatureError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    return text + "\n" + "".join(lines)


def sign_note(text: str, signers: Iterable[Signer]) -> str:
    """Sign ``text`` (which must end in a newline) with each signer, in order."""
    check_note_text(text)
    message = text.encode("utf-8")
    signatures: list[Signature] = []
    seen: set[tuple[str, bytes]] = set()
    for signer in signers:
        ident = (signer.name, signer.key_id)
        if ident in seen:
            raise SignatureError(f"signer {signer.key} is given twice", key=signer.key)
        seen.add(ident)
        signatures.append(Signature(signer.name, signer.key_id, signer.sign(message)))
    return format_note(text, signatures)


def parse_note(note: str | bytes) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and signatures, checking syntax only (no keys)."""
    note = _as_text(note)
    problem = text_problem(note)
    if problem is not None:
        raise SignatureError(f"malformed note: {problem}")
    split = note.rfind("\n\n")
    if split < 0:
        raise SignatureError("malformed note: no blank line separates the text from signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise SignatureError("malformed note: no signature lines after the blank line")
    if not block.endswith("\n"):
        raise SignatureError("malformed note: the last signature line does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise SignatureError(
            f"malformed note: {len(lines)} signature lines, at most {MAX_SIGNATURES} are accepted"
        )
    first = text.count("\n") + 2  # the blank line is text.count("\n") + 1
    signatures = [Signature.parse_line(line, first + i) for i, line in enumerate(lines)]
    return text, signatures


def verify_note(note: str | bytes, verifiers: Iterable[Verifier]) -> OpenedNote:
    """Open a note, keeping the verified and the unknown signatures apart.

    Raises SignatureError if the note is malformed or a signature by a known key does not
    verify, UnknownKeyError if no signature is by a known key.
    """
    text, signatures = parse_note(note)
    known: dict[tuple[str, bytes], Verifier] = {}
    ambiguous: set[tuple[str, bytes]] = set()
    for candidate in verifiers:
        ident = (candidate.name, candidate.key_id)
        other = known.get(ident)
        if other is not None and other != candidate:
            ambiguous.add(ident)
        known[ident] = candidate
    message = text.encode("utf-8")
    verified: list[Signature] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, bytes]] = set()
    for sig in signatures:
        ident = (sig.name, sig.key_id)
        verifier = known.get(ident)
        if verifier is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if ident in ambiguous:
            raise SignatureError(
                f"ambiguous key {sig.key}: two different configured keys have this name and ID",
                key=sig.key,
            )
        if not verifier.verify(message, sig.signature):
            raise SignatureError(
                f"signature by known key {sig.key} ({_type_name(verifier.sig_type)}) does not "
                f"verify: the note text or the signature was altered, or it was signed with "
                f"another key",
                key=sig.key,
            )
        if ident not in seen:
            seen.add(ident)
            verified.append(sig)
    if not verified:
        signed_by = ", ".join(sig.key for sig in unverified)
        known_keys = ", ".join(f"{name}+{kid.hex()}" for name, kid in known) or "none"
        raise UnknownKeyError(
            f"note has no signature by a known key: signed by {signed_by}; known keys: {known_keys}"
        )
    return OpenedNote(text, verified, unverified)


def open_note(note: str | bytes, verifiers: Iterable[Verifier]) -> tuple[str, list[str]]:
    """The note's text and the names of the known keys whose signatures verified."""
    opened = verify_note(note, verifiers)
    return opened.text, [sig.name for sig in opened.verified]
