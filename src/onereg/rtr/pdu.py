"""RPKI-to-Router PDUs: RFC 8210 (version 1) and RFC 6810 (version 0).

Every PDU starts with the same 8-byte header: protocol version, PDU type, a 16-bit field (session
ID, error code, flags or zero) and the 32-bit length of the whole PDU. The decoder is strict: a
version other than 0 or 1, an unknown type, a type that does not exist in the PDU's version
(Router Key in version 0) or a length that does not fit the type is a `PduError` carrying the
RFC error code to put in the Error Report.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import TypeAlias

HEADER = struct.Struct("!BBHI")
HEADER_LEN = 8
VERSIONS = (0, 1)
MAX_VERSION = 1
#: Largest PDU the decoder accepts (an Error Report carrying a PDU and text); routers send
#: nothing larger, and a bigger length is a corrupt or hostile stream.
MAX_PDU_LEN = 65536


class PduType(enum.IntEnum):
    SERIAL_NOTIFY = 0
    SERIAL_QUERY = 1
    RESET_QUERY = 2
    CACHE_RESPONSE = 3
    IPV4_PREFIX = 4
    IPV6_PREFIX = 6
    END_OF_DATA = 7
    CACHE_RESET = 8
    ROUTER_KEY = 9
    ERROR_REPORT = 10


class ErrorCode(enum.IntEnum):
    CORRUPT_DATA = 0
    INTERNAL_ERROR = 1
    NO_DATA_AVAILABLE = 2
    INVALID_REQUEST = 3
    UNSUPPORTED_PROTOCOL_VERSION = 4
    UNSUPPORTED_PDU_TYPE = 5
    WITHDRAWAL_OF_UNKNOWN_RECORD = 6
    DUPLICATE_ANNOUNCEMENT_RECEIVED = 7
    UNEXPECTED_PROTOCOL_VERSION = 8  # RFC 8210 only


#: Fixed lengths; End of Data depends on the version; Router Key and Error Report vary.
FIXED_LENGTH: dict[PduType, int] = {
    PduType.SERIAL_NOTIFY: 12,
    PduType.SERIAL_QUERY: 12,
    PduType.RESET_QUERY: 8,
    PduType.CACHE_RESPONSE: 8,
    PduType.IPV4_PREFIX: 20,
    PduType.IPV6_PREFIX: 32,
    PduType.CACHE_RESET: 8,
}
END_OF_DATA_LENGTH = {0: 12, 1: 24}
ROUTER_KEY_MIN = 8 + 20 + 4 + 1
ERROR_REPORT_MIN = 16

FLAG_ANNOUNCE = 1
FLAG_WITHDRAW = 0

#: Timer ranges of RFC 8210 §6.
REFRESH_RANGE = (1, 86400)
RETRY_RANGE = (1, 7200)
EXPIRE_RANGE = (600, 172800)


class PduError(ValueError):
    """A PDU that cannot be accepted, with the Error Report code the peer should get."""

    def __init__(self, code: ErrorCode, message: str, pdu: bytes = b"") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.pdu = pdu


@dataclass(frozen=True, slots=True)
class SerialNotify:
    version: int
    session_id: int
    serial: int

    def encode(self) -> bytes:
        return HEADER.pack(self.version, PduType.SERIAL_NOTIFY, self.session_id, 12) + _u32(
            self.serial
        )


@dataclass(frozen=True, slots=True)
class SerialQuery:
    version: int
    session_id: int
    serial: int

    def encode(self) -> bytes:
        return HEADER.pack(self.version, PduType.SERIAL_QUERY, self.session_id, 12) + _u32(
            self.serial
        )


@dataclass(frozen=True, slots=True)
class ResetQuery:
    version: int

    def encode(self) -> bytes:
        return HEADER.pack(self.version, PduType.RESET_QUERY, 0, 8)


@dataclass(frozen=True, slots=True)
class CacheResponse:
    version: int
    session_id: int

    def encode(self) -> bytes:
        return HEADER.pack(self.version, PduType.CACHE_RESPONSE, self.session_id, 8)


@dataclass(frozen=True, slots=True)
class Ipv4Prefix:
    version: int
    flags: int
    prefix_len: int
    max_len: int
    prefix: int  # the address as an integer
    asn: int

    def encode(self) -> bytes:
        return HEADER.pack(self.version, PduType.IPV4_PREFIX, 0, 20) + struct.pack(
            "!BBBxII", self.flags, self.prefix_len, self.max_len, self.prefix, self.asn
        )


@dataclass(frozen=True, slots=True)
class Ipv6Prefix:
    version: int
    flags: int
    prefix_len: int
    max_len: int
    prefix: int
    asn: int

    def encode(self) -> bytes:
        return (
            HEADER.pack(self.version, PduType.IPV6_PREFIX, 0, 32)
            + struct.pack("!BBBx", self.flags, self.prefix_len, self.max_len)
            + self.prefix.to_bytes(16, "big")
            + _u32(self.asn)
        )


@dataclass(frozen=True, slots=True)
class EndOfData:
    version: int
    session_id: int
    serial: int
    refresh: int | None = None  # the intervals exist only in version 1
    retry: int | None = None
    expire: int | None = None

    def encode(self) -> bytes:
        if self.version == 0:
            return HEADER.pack(0, PduType.END_OF_DATA, self.session_id, 12) + _u32(self.serial)
        if self.refresh is None or self.retry is None or self.expire is None:
            raise ValueError("a version 1 End of Data needs refresh, retry and expire")
        return HEADER.pack(self.version, PduType.END_OF_DATA, self.session_id, 24) + struct.pack(
            "!IIII", self.serial, self.refresh, self.retry, self.expire
        )


@dataclass(frozen=True, slots=True)
class CacheReset:
    version: int

    def encode(self) -> bytes:
        return HEADER.pack(self.version, PduType.CACHE_RESET, 0, 8)


@dataclass(frozen=True, slots=True)
class RouterKey:
    version: int
    flags: int
    ski: bytes  # 20 bytes
    asn: int
    spki: bytes

    def encode(self) -> bytes:
        if self.version < 1:
            raise ValueError("Router Key PDUs exist only in version 1")
        if len(self.ski) != 20:
            raise ValueError("the Subject Key Identifier is 20 bytes")
        length = 8 + 20 + 4 + len(self.spki)
        head = struct.pack("!BBBxI", self.version, PduType.ROUTER_KEY, self.flags, length)
        return head + self.ski + _u32(self.asn) + self.spki


@dataclass(frozen=True, slots=True)
class ErrorReport:
    version: int
    code: int
    pdu: bytes = b""
    text: str = ""

    def encode(self) -> bytes:
        text = self.text.encode("utf-8")
        length = 16 + len(self.pdu) + len(text)
        return (
            HEADER.pack(self.version, PduType.ERROR_REPORT, self.code, length)
            + _u32(len(self.pdu))
            + self.pdu
            + _u32(len(text))
            + text
        )


Pdu: TypeAlias = (
    SerialNotify
    | SerialQuery
    | ResetQuery
    | CacheResponse
    | Ipv4Prefix
    | Ipv6Prefix
    | EndOfData
    | CacheReset
    | RouterKey
    | ErrorReport
)


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def check_header(head: bytes, *, max_length: int = MAX_PDU_LEN) -> tuple[int, PduType, int, int]:
    """Check an 8-byte header before reading the body: (version, type, 16-bit field, length).

    Raises PduError with UNSUPPORTED_PROTOCOL_VERSION, UNSUPPORTED_PDU_TYPE or CORRUPT_DATA, so a
    reader never waits for (or allocates) the body of a PDU it will refuse.
    """
    if len(head) < HEADER_LEN:
        raise PduError(ErrorCode.CORRUPT_DATA, "truncated PDU header", bytes(head))
    version, ptype, field, length = HEADER.unpack_from(head)
    head = bytes(head[:HEADER_LEN])
    if version not in VERSIONS:
        raise PduError(
            ErrorCode.UNSUPPORTED_PROTOCOL_VERSION,
            f"protocol version {version} not supported",
            head,
        )
    try:
        kind = PduType(ptype)
    except ValueError:
        raise PduError(ErrorCode.UNSUPPORTED_PDU_TYPE, f"unknown PDU type {ptype}", head) from None
    if kind is PduType.ROUTER_KEY and version == 0:
        raise PduError(ErrorCode.UNSUPPORTED_PDU_TYPE, "Router Key PDU in version 0", head)
    if kind in FIXED_LENGTH:
        expected_ok = length == FIXED_LENGTH[kind]
    elif kind is PduType.END_OF_DATA:
        expected_ok = length == END_OF_DATA_LENGTH[version]
    elif kind is PduType.ROUTER_KEY:
        expected_ok = ROUTER_KEY_MIN <= length <= max_length
    else:  # Error Report
        expected_ok = ERROR_REPORT_MIN <= length <= max_length
    if not expected_ok:
        raise PduError(
            ErrorCode.CORRUPT_DATA, f"bad length {length} for {kind.name.replace('_', ' ')}", head
        )
    return version, kind, field, length


def decode(data: bytes | memoryview, *, max_length: int = MAX_PDU_LEN) -> tuple[Pdu, int]:
    """Decode the first PDU in `data`: (pdu, bytes used). Raises PduError when it is not valid,
    and PduError(CORRUPT_DATA, "truncated ...") when `data` holds less than one whole PDU."""
    buf = bytes(data[:HEADER_LEN])
    version, kind, field, length = check_header(buf, max_length=max_length)
    if len(data) < length:
        raise PduError(
            ErrorCode.CORRUPT_DATA, f"truncated PDU ({len(data)} of {length} bytes)", buf
        )
    raw = bytes(data[:length])
    return decode_body(version, kind, field, raw), length


def _prefix_checks(raw: bytes, bits: int) -> tuple[int, int, int]:
    flags, plen, mlen = raw[8], raw[9], raw[10]
    if flags > 1:
        raise PduError(ErrorCode.CORRUPT_DATA, f"prefix flags {flags:#x}", raw)
    if plen > bits or mlen > bits or mlen < plen:
        raise PduError(ErrorCode.CORRUPT_DATA, f"bad prefix/max length {plen}/{mlen}", raw)
    return flags, plen, mlen


def decode_body(version: int, kind: PduType, field: int, raw: bytes) -> Pdu:
    """Decode one whole PDU whose header passed `check_header`."""
    if kind is PduType.SERIAL_NOTIFY:
        return SerialNotify(version, field, int.from_bytes(raw[8:12], "big"))
    if kind is PduType.SERIAL_QUERY:
        return SerialQuery(version, field, int.from_bytes(raw[8:12], "big"))
    if kind is PduType.RESET_QUERY:
        return ResetQuery(version)
    if kind is PduType.CACHE_RESPONSE:
        return CacheResponse(version, field)
    if kind is PduType.CACHE_RESET:
        return CacheReset(version)
    if kind is PduType.IPV4_PREFIX:
        flags, plen, mlen = _prefix_checks(raw, 32)
        prefix, asn = struct.unpack_from("!II", raw, 12)
        return Ipv4Prefix(version, flags, plen, mlen, prefix, asn)
    if kind is PduType.IPV6_PREFIX:
        flags, plen, mlen = _prefix_checks(raw, 128)
        return Ipv6Prefix(
            version,
            flags,
            plen,
            mlen,
            int.from_bytes(raw[12:28], "big"),
            int.from_bytes(raw[28:32], "big"),
        )
    if kind is PduType.END_OF_DATA:
        if version == 0:
            return EndOfData(0, field, int.from_bytes(raw[8:12], "big"))
        serial, refresh, retry, expire = struct.unpack_from("!IIII", raw, 8)
        return EndOfData(version, field, serial, refresh, retry, expire)
    if kind is PduType.ROUTER_KEY:
        flags = raw[2]
        if flags > 1:
            raise PduError(ErrorCode.CORRUPT_DATA, f"router key flags {flags:#x}", raw)
        return RouterKey(version, flags, raw[8:28], int.from_bytes(raw[28:32], "big"), raw[32:])
    # Error Report
    pdu_len = int.from_bytes(raw[8:12], "big")
    if 12 + pdu_len + 4 > len(raw):
        raise PduError(ErrorCode.CORRUPT_DATA, "encapsulated PDU longer than the report", raw)
    inner = raw[12 : 12 + pdu_len]
    text_len = int.from_bytes(raw[12 + pdu_len : 16 + pdu_len], "big")
    if 16 + pdu_len + text_len != len(raw):
        raise PduError(ErrorCode.CORRUPT_DATA, "error text length does not fit the report", raw)
    try:
        text = raw[16 + pdu_len :].decode("utf-8")
    except UnicodeDecodeError:
        raise PduError(ErrorCode.CORRUPT_DATA, "error text is not UTF-8", raw) from None
    return ErrorReport(version, field, inner, text)


def decode_all(data: bytes | memoryview) -> list[Pdu]:
    """Decode a buffer holding whole PDUs only (tests and small clients)."""
    view = memoryview(data)
    out: list[Pdu] = []
    pos = 0
    while pos < len(view):
        pdu, used = decode(view[pos:], max_length=max(MAX_PDU_LEN, len(view)))
        out.append(pdu)
        pos += used
    return out


def check_timings(refresh: int, retry: int, expire: int) -> None:
    """RFC 8210 §6 ranges, and expire larger than refresh and retry."""
    for name, value, (low, high) in (
        ("refresh", refresh, REFRESH_RANGE),
        ("retry", retry, RETRY_RANGE),
        ("expire", expire, EXPIRE_RANGE),
    ):
        if not low <= value <= high:
            raise ValueError(f"{name} interval {value} outside {low}..{high} seconds")
    if expire <= refresh or expire <= retry:
        raise ValueError("expire must be larger than refresh and retry")
