"""Reading VRP files for the RTR server without a Python object per VRP.

`onereg.rpki.routes.read_vrps` reads every rpki-client / Routinator JSON and CSV shape, but it
parses the whole JSON document into dicts first (~800 MiB and ~10 s for 10^6 VRPs). The server
re-reads its file on every change, so the common layouts get a fast path: one regular expression
over the raw bytes, straight into the RTR key bytes (see `state.py`). When the fast path does not
account for every `"prefix"` (other key order, odd formatting), or the file is some other
shape, the general reader is used.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

from onereg.rpki.routes import read_binary, read_vrps
from onereg.rtr.state import VrpInput, VrpKeys

_JSON_ROA = re.compile(
    rb'"asn"\s*:\s*"?(?:AS)?(\d+)"?\s*,\s*"prefix"\s*:\s*"([0-9A-Fa-f:.]+)/(\d+)"\s*,'
    rb'\s*"max_?[Ll]ength"\s*:\s*"?(\d+)'
)
_CSV_ROA = re.compile(rb"^\s*(?:AS)?(\d+)\s*,\s*([0-9A-Fa-f:.]+)/(\d+)\s*,\s*(\d+)", re.M)


def _keys(data: bytes, pattern: re.Pattern[bytes], path: Path) -> tuple[VrpKeys, int]:
    v4 = bytearray()
    v6 = bytearray()
    aton = socket.inet_aton
    pton = socket.inet_pton
    af6 = socket.AF_INET6
    count = 0
    for m in pattern.finditer(data):
        asn_b, addr_b, plen_b, maxlen_b = m.groups()
        asn, plen, maxlen = int(asn_b), int(plen_b), int(maxlen_b)
        addr = addr_b.decode("ascii")
        try:
            if ":" in addr:
                packed, bits, out = pton(af6, addr), 128, v6
            else:
                if addr.count(".") != 3:
                    raise OSError
                packed, bits, out = aton(addr), 32, v4
        except OSError:
            raise ValueError(f"{path}: bad address {addr!r} at byte {m.start()}") from None
        if not (plen <= maxlen <= bits) or asn > 0xFFFFFFFF:
            raise ValueError(f"{path}: bad VRP {m.group(0)!r} at byte {m.start()}")
        if plen < bits and int.from_bytes(packed, "big") & ((1 << (bits - plen)) - 1):
            raise ValueError(f"{path}: host bits set in {addr}/{plen} at byte {m.start()}")
        out += bytes((plen, maxlen, 0))
        out += packed
        out += asn.to_bytes(4, "big")
        count += 1
    return VrpKeys.from_buffers(bytes(v4), bytes(v6)), count


def load_vrps(path: Path) -> VrpInput:
    """The VRPs of an rpki-client (or Routinator / RIPE NCC validator) JSON or CSV file."""
    data = read_binary(path)
    head = data[:64].lstrip()
    if head[:1] in (b"{", b"["):
        keys, count = _keys(data, _JSON_ROA, path)
        if count == data.count(b'"prefix"'):
            return keys
    elif b"prefix" in data[: data.find(b"\n")].lower():  # a CSV header naming the columns
        keys, count = _keys(data, _CSV_ROA, path)
        lines = sum(1 for line in data.splitlines()[1:] if line.strip())
        if count == lines:
            return keys
    return read_vrps(path)
