"""The RTR cache's data: the current VRP set, its serial number, a bounded history of deltas, and
pre-encoded PDU buffers so that serving a router is a few large writes.

VRPs are held per address family as sorted, de-duplicated numpy arrays of fixed-width byte
strings whose bytes are exactly the tail of the Prefix PDU (prefix length, max length, zero,
address, AS number: 11 bytes for IPv4, 23 for IPv6). That makes three things cheap:

* a full-set buffer is the keys with an 9-byte PDU head put in front (one numpy copy);
* the difference between two sets is two `searchsorted` passes over sorted arrays, with no
  Python object per VRP (10^6 VRPs cost ~25 MB, not ~300 MB of tuples);
* a change given as additions and withdrawals is merged in without re-sorting everything.

Serial numbers follow RFC 1982 arithmetic (wrap at 2^32). Deltas are kept for the last
`max_history` serials, and dropped earlier when their total size passes the size of the set
itself (a Cache Reset and full reload is then cheaper); a router whose serial is no longer
covered is answered with Cache Reset.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from onereg.core.resources import Afi
from onereg.rpki.rov_index import PrefixColumns, VrpSet, vrp_row
from onereg.rpki.validate import Vrp
from onereg.rtr.pdu import FLAG_ANNOUNCE, FLAG_WITHDRAW, MAX_VERSION, PduType

Keys: TypeAlias = npt.NDArray[Any]  # 1-D array of dtype S11 (IPv4) or S23 (IPv6)

KEY_WIDTH = {4: 11, 6: 23}
PDU_WIDTH = {4: 20, 6: 32}
SERIAL_MOD = 1 << 32


@dataclass(frozen=True)
class VrpKeys:
    """VRPs already as RTR key arrays (what `rtr.vrps.load_vrps` returns)."""

    v4: Keys
    v6: Keys

    @classmethod
    def from_buffers(cls, v4: bytes, v6: bytes) -> VrpKeys:
        return cls(
            _sorted_unique(np.frombuffer(v4, dtype="S11").copy()),
            _sorted_unique(np.frombuffer(v6, dtype="S23").copy()),
        )

    def __len__(self) -> int:
        return len(self.v4) + len(self.v6)


#: What `RtrCache.update` accepts: key arrays, a column set from rpki/rov_index (e.g.
#: `read_vrps`), our validator's `Vrp` objects, or (asn, "prefix/len", maxLength) tuples.
VrpInput: TypeAlias = VrpKeys | VrpSet | Iterable[Vrp] | Iterable[tuple[int | str, str, int | str]]


def empty_keys(family: int) -> Keys:
    return np.empty(0, dtype=f"S{KEY_WIDTH[family]}")


def _sorted_unique(keys: Keys) -> Keys:
    if len(keys) < 2:
        return keys
    keys = np.sort(keys)
    keep = np.empty(len(keys), dtype=bool)
    keep[0] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys if keep.all() else keys[keep]


def _member(haystack: Keys, needles: Keys) -> npt.NDArray[np.bool_]:
    """For sorted `haystack`: which of `needles` it holds."""
    if len(haystack) == 0 or len(needles) == 0:
        return np.zeros(len(needles), dtype=bool)
    idx = np.searchsorted(haystack, needles)
    np.minimum(idx, len(haystack) - 1, out=idx)
    found: npt.NDArray[np.bool_] = haystack[idx] == needles
    return found


def keys_from_columns(cols: PrefixColumns) -> Keys:
    """Key array of one family from rov_index columns (sorted and de-duplicated)."""
    n = len(cols)
    family = cols.family
    width = KEY_WIDTH[family]
    raw = np.zeros((n, width), dtype=np.uint8)
    raw[:, 0] = cols.length
    raw[:, 1] = cols.extra
    if family == 4:
        raw[:, 3:7] = cols.hi.astype(">u4").view(np.uint8).reshape(n, 4)
    else:
        raw[:, 3:11] = cols.hi.astype(">u8").view(np.uint8).reshape(n, 8)
        raw[:, 11:19] = cols.lo.astype(">u8").view(np.uint8).reshape(n, 8)
    raw[:, width - 4 :] = cols.asn.astype(">u4").view(np.uint8).reshape(n, 4)
    return _sorted_unique(raw.view(f"S{width}").ravel())


def key_of(family: int, address: int, length: int, max_length: int, asn: int) -> bytes:
    bits = 32 if family == 4 else 128
    return (
        bytes((length, max_length, 0)) + address.to_bytes(bits // 8, "big") + asn.to_bytes(4, "big")
    )


def keys_from_rows(rows: Iterable[tuple[int, int, int, int, int]]) -> tuple[Keys, Keys]:
    """(family, address, length, maxLength, asn) rows to (IPv4 keys, IPv6 keys)."""
    out: dict[int, list[bytes]] = {4: [], 6: []}
    for family, address, length, max_length, asn in rows:
        out[family].append(key_of(family, address, length, max_length, asn))
    return (
        _sorted_unique(np.array(out[4], dtype="S11")) if out[4] else empty_keys(4),
        _sorted_unique(np.array(out[6], dtype="S23")) if out[6] else empty_keys(6),
    )


def to_keys(vrps: VrpInput) -> tuple[Keys, Keys]:
    if isinstance(vrps, VrpKeys):
        return vrps.v4, vrps.v6
    if isinstance(vrps, VrpSet):
        return keys_from_columns(vrps.v4), keys_from_columns(vrps.v6)

    def rows() -> Iterable[tuple[int, int, int, int, int]]:
        for item in vrps:
            if isinstance(item, Vrp):
                family = 4 if item.afi is Afi.IPV4 else 6
                yield family, item.start, item.length, item.max_length, item.asn
            else:
                asn, prefix, max_length = item
                family, value, length, maxlen, asn_value = vrp_row(asn, prefix, max_length)
                yield family, value, length, maxlen, asn_value

    return keys_from_rows(rows())


def decode_key(family: int, key: bytes) -> tuple[int, str, int]:
    """(asn, "prefix/len", maxLength) of one key (tests, debugging)."""
    import ipaddress

    width = KEY_WIDTH[family]
    key = key.ljust(width, b"\0")  # numpy strips trailing NULs from S items
    length, max_length = key[0], key[1]
    address = int.from_bytes(key[3 : width - 4], "big")
    asn = int.from_bytes(key[width - 4 :], "big")
    net = ipaddress.ip_network((address, length)) if family == 4 else None
    if net is None:
        net = ipaddress.IPv6Network((address, length))
    return asn, str(net), max_length


def encode_prefixes(family: int, keys: Keys, version: int, flags: int) -> bytes:
    """IPv4 or IPv6 Prefix PDUs for every key, as one buffer."""
    n = len(keys)
    if n == 0:
        return b""
    width = PDU_WIDTH[family]
    out = np.zeros((n, width), dtype=np.uint8)
    out[:, 0] = version
    out[:, 1] = PduType.IPV4_PREFIX if family == 4 else PduType.IPV6_PREFIX
    out[:, 7] = width
    out[:, 8] = flags
    out[:, 9:] = np.ascontiguousarray(keys).view(np.uint8).reshape(n, width - 9)
    return out.tobytes()


def serial_newer(a: int, b: int) -> bool:
    """RFC 1982: is serial `a` newer than `b`?"""
    d = (a - b) % SERIAL_MOD
    return 0 < d < (1 << 31)


@dataclass(frozen=True)
class Delta:
    """The change from serial `serial - 1` to `serial`, per family."""

    serial: int
    announce4: Keys
    withdraw4: Keys
    announce6: Keys
    withdraw6: Keys

    def __len__(self) -> int:
        return len(self.announce4) + len(self.withdraw4) + len(self.announce6) + len(self.withdraw6)


@dataclass(frozen=True)
class PreparedUpdate:
    """A new set and its delta from `base_serial`, computed without touching the cache (can run in
    a worker thread); `RtrCache.commit` installs it if the cache is still at `base_serial`."""

    base_serial: int | None
    v4: Keys
    v6: Keys
    delta: Delta | None  # None: no change, or the first set


def _compose(
    ann: Keys, wd: Keys, a: Keys, w: Keys
) -> tuple[Keys, Keys]:  # net (ann, wd) followed by (a, w)
    """Net change of two consecutive changes:
    ann' = (ann - w) + (a - wd), wd' = (wd - a) + (w - ann)."""
    ann_s, wd_s = _sorted_unique(ann), _sorted_unique(wd)
    a_s, w_s = _sorted_unique(a), _sorted_unique(w)
    new_ann = np.concatenate([ann_s[~_member(w_s, ann_s)], a_s[~_member(wd_s, a_s)]])
    new_wd = np.concatenate([wd_s[~_member(a_s, wd_s)], w_s[~_member(ann_s, w_s)]])
    return new_ann, new_wd


class RtrCache:
    """The VRP set an RTR server serves, with serials, history and prepared buffers.

    `update` (a whole new set) and `apply` (additions and withdrawals) bump the serial when the set
    changes and call the listeners (the server's Serial Notify broadcast) with the new serial.
    """

    def __init__(self, *, session_id: int | None = None, max_history: int = 64) -> None:
        self.session_id = secrets.randbelow(1 << 16) if session_id is None else session_id
        self.max_history = max_history
        self.serial: int | None = None  # None until the first set arrives
        self.v4: Keys = empty_keys(4)
        self.v6: Keys = empty_keys(6)
        self.history: list[Delta] = []
        self._full: dict[int, bytes] = {}
        self._deltas: dict[tuple[int, int], bytes | None] = {}
        self._listeners: list[Callable[[int], None]] = []
        self._lock = threading.Lock()

    # --- data in ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.v4) + len(self.v6)

    @property
    def ready(self) -> bool:
        return self.serial is not None

    def add_listener(self, callback: Callable[[int], None]) -> None:
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[int], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def prepare(self, vrps: VrpInput) -> PreparedUpdate:
        """Compute the new set and the delta against the current one (no state change)."""
        v4, v6 = to_keys(vrps)
        return self._prepare_keys(v4, v6)

    def _prepare_keys(self, v4: Keys, v6: Keys) -> PreparedUpdate:
        base, old4, old6 = self.serial, self.v4, self.v6
        if base is None:
            return PreparedUpdate(None, v4, v6, None)
        in_old4, in_old6 = _member(old4, v4), _member(old6, v6)
        in_new4, in_new6 = _member(v4, old4), _member(v6, old6)
        delta = Delta(
            (base + 1) % SERIAL_MOD, v4[~in_old4], old4[~in_new4], v6[~in_old6], old6[~in_new6]
        )
        return PreparedUpdate(base, v4, v6, delta if len(delta) else None)

    def commit(self, prepared: PreparedUpdate) -> int | None:
        """Install a prepared update; returns the new serial, or None when nothing changed."""
        with self._lock:
            if prepared.base_serial != self.serial:
                raise RuntimeError("the cache changed since this update was prepared")
            if self.serial is not None and prepared.delta is None:
                return None
            self.v4, self.v6 = prepared.v4, prepared.v6
            if self.serial is None:
                self.serial = 0
            else:
                assert prepared.delta is not None
                self.serial = prepared.delta.serial
                self.history.append(prepared.delta)
                self._trim_history()
            self._full = {}
            self._deltas = {}
            serial = self.serial
        for listener in list(self._listeners):
            listener(serial)
        return serial

    def update(self, vrps: VrpInput) -> int | None:
        """Replace the set; returns the new serial (None when it did not change)."""
        return self.commit(self.prepare(vrps))

    def apply(
        self, announce: VrpInput = (), withdraw: VrpInput = ()
    ) -> int | None:  # a change given as such
        """Add and remove VRPs without handing over the whole set (no full diff)."""
        a4, a6 = to_keys(announce)
        w4, w6 = to_keys(withdraw)
        if self.serial is None:
            return self.commit(PreparedUpdate(None, a4, a6, None))

        def merged(cur: Keys, add: Keys, drop: Keys) -> tuple[Keys, Keys, Keys]:
            drop = drop[_member(cur, drop)]
            add = add[~_member(cur, add)]
            kept = cur[~_member(drop, cur)] if len(drop) else cur
            if len(add):
                kept = np.insert(kept, np.searchsorted(kept, add), add)
            return kept, add, drop

        n4, ra4, rw4 = merged(self.v4, a4, w4)
        n6, ra6, rw6 = merged(self.v6, a6, w6)
        delta = Delta((self.serial + 1) % SERIAL_MOD, ra4, rw4, ra6, rw6)
        return self.commit(PreparedUpdate(self.serial, n4, n6, delta if len(delta) else None))

    def _trim_history(self) -> None:
        total = sum(len(d) for d in self.history)
        while self.history and (
            len(self.history) > self.max_history or total > max(len(self), 1024)
        ):
            total -= len(self.history.pop(0))

    # --- data out --------------------------------------------------------------------------------

    def full_buffer(self, version: int) -> tuple[int, bytes]:
        """(serial, all Prefix PDUs of the set in `version`), built once per serial and version."""
        with self._lock:
            if self.serial is None:
                raise LookupError("no VRP set yet")
            buf = self._full.get(version)
            if buf is None:
                buf = encode_prefixes(4, self.v4, version, FLAG_ANNOUNCE) + encode_prefixes(
                    6, self.v6, version, FLAG_ANNOUNCE
                )
                self._full[version] = buf
            return self.serial, buf

    def oldest_serial(self) -> int | None:
        if self.serial is None:
            return None
        return (self.history[0].serial - 1) % SERIAL_MOD if self.history else self.serial

    def delta_buffer(self, from_serial: int, version: int) -> tuple[int, bytes | None]:
        """(serial, Prefix PDUs taking a router from `from_serial` to `serial`); the buffer is
        None when the history does not reach back that far (answer Cache Reset)."""
        with self._lock:
            if self.serial is None:
                raise LookupError("no VRP set yet")
            return self.serial, self._delta_locked(from_serial, version)

    def _delta_locked(self, from_serial: int, version: int) -> bytes | None:
        if from_serial == self.serial:
            return b""
        key = (from_serial, version)
        if key in self._deltas:
            return self._deltas[key]
        start = next(
            (i for i, d in enumerate(self.history) if (d.serial - 1) % SERIAL_MOD == from_serial),
            None,
        )
        if start is None:
            self._deltas[key] = None
            return None
        steps = self.history[start:]
        ann4, wd4, ann6, wd6 = (
            steps[0].announce4,
            steps[0].withdraw4,
            steps[0].announce6,
            steps[0].withdraw6,
        )
        for d in steps[1:]:
            ann4, wd4 = _compose(ann4, wd4, d.announce4, d.withdraw4)
            ann6, wd6 = _compose(ann6, wd6, d.announce6, d.withdraw6)
        buf = b"".join(
            (
                encode_prefixes(4, _sorted_unique(wd4), version, FLAG_WITHDRAW),
                encode_prefixes(6, _sorted_unique(wd6), version, FLAG_WITHDRAW),
                encode_prefixes(4, _sorted_unique(ann4), version, FLAG_ANNOUNCE),
                encode_prefixes(6, _sorted_unique(ann6), version, FLAG_ANNOUNCE),
            )
        )
        self._deltas[key] = buf
        return buf

    def warm(self, versions: Sequence[int] = (MAX_VERSION,)) -> None:
        """Build the full-set and newest-delta buffers ahead of the routers asking."""
        if self.serial is None:
            return
        for version in versions:
            self.full_buffer(version)
            if self.history and self.serial is not None:
                self.delta_buffer((self.serial - 1) % SERIAL_MOD, version)

    def vrps(self) -> list[tuple[int, str, int]]:
        """The current set as (asn, prefix, maxLength) (tests, small sets)."""
        return [decode_key(4, bytes(k)) for k in self.v4] + [
            decode_key(6, bytes(k)) for k in self.v6
        ]
