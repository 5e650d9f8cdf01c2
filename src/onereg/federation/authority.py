"""Authority: which registry IANA gave each block to, and space a registry holds in another's block.

Space an RIR holds inside a block IANA gave to another RIR is real (legacy space, the ERX
transfers, inter-RIR transfers). It is never waved through: each such piece is recorded in the
holding registry's own log as a cross-registry holding, with the origin that explains it and the
evidence, and the audit reports every one of them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from onereg.core.registries import RIRS, RegistryId
from onereg.core.resources import Afi, Resource, format_number
from onereg.registry import events as ev
from onereg.registry.node import RegistryNode
from onereg.registry.sources.nro_lists import ErxTransfer

_RIR_VALUES = frozenset(r.value for r in RIRS)

ORIGIN_ERX = "erx"
ORIGIN_LEGACY = "legacy"
ORIGIN_INTER_RIR = "inter-rir"


@dataclass(frozen=True, slots=True)
class AuthorityBlock:
    """One IANA block as the authority map sees it."""

    afi: str
    start: int
    end: int
    holder: str
    status: str
    iana_status: str
    date: str
    source: str
    # Derived once here: the audit asks for them tens of thousands of times per run.
    registry: RegistryId | None = field(init=False, compare=False)
    text: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        rir = RegistryId(self.holder) if self.holder in _RIR_VALUES else None
        res = Resource(Afi(self.afi), self.start, self.end)
        who = self.holder or "IANA pool"
        text = f"{res} ({self.iana_status or self.status}, {who}; {self.source})"
        object.__setattr__(self, "registry", rir)
        object.__setattr__(self, "text", text)

    def label(self) -> str:
        """The block named for a person: range, IANA status, holder, and where IANA says so."""
        return self.text


@dataclass(frozen=True, slots=True)
class Piece:
    """The part [start, end] of a record that lies in one IANA block."""

    start: int
    end: int
    block: AuthorityBlock


class AuthorityMap:
    """IANA's blocks per family, searchable by bisection."""

    def __init__(self, blocks: Iterable[AuthorityBlock]) -> None:
        self.blocks: dict[str, list[AuthorityBlock]] = {a.value: [] for a in Afi}
        for block in blocks:
            self.blocks[block.afi].append(block)
        for family in self.blocks.values():
            family.sort(key=lambda b: b.start)
        self.starts = {afi: [b.start for b in bl] for afi, bl in self.blocks.items()}

    @classmethod
    def from_node(cls, node: RegistryNode) -> AuthorityMap:
        return cls(
            _block(d.resource, d.holder or "", d.status, d.attrs or {}, d.date)
            for d in node.delegations()
        )

    def __bool__(self) -> bool:
        return any(self.blocks.values())

    def pieces(self, afi: str, start: int, end: int) -> list[Piece]:
        """The record [start, end] cut along IANA block boundaries; gaps are left out."""
        blocks, starts = self.blocks[afi], self.starts[afi]
        index = max(bisect_right(starts, start) - 1, 0)
        out: list[Piece] = []
        while index < len(blocks) and blocks[index].start <= end:
            block = blocks[index]
            lo, hi = max(start, block.start), min(end, block.end)
            if lo <= hi:
                out.append(Piece(lo, hi, block))
            index += 1
        return out

    def pieces_outside(
        self, registry: str, afi: str, starts: list[int], ends: list[int]
    ) -> Iterator[tuple[int, Piece]]:
        """(record index, piece) for parts of sorted records lying in blocks IANA did not give
        to `registry`.

        Walks IANA's blocks (hundreds), not the records (hundreds of thousands): bisection finds
        the records that start inside a block, plus the one record that may reach into it from
        before.
        """
        for block in self.blocks[afi]:
            if block.holder == registry:
                continue
            lo = bisect_left(starts, block.start)
            hi = bisect_right(starts, block.end)
            if lo > 0 and ends[lo - 1] >= block.start:
                lo -= 1
            for index in range(lo, hi):
                yield (
                    index,
                    Piece(max(starts[index], block.start), min(ends[index], block.end), block),
                )

    def of_registry(self, registry: RegistryId) -> list[AuthorityBlock]:
        return [b for bl in self.blocks.values() for b in bl if b.holder == registry.value]


def _block(
    res: Resource, holder: str, status: str, attrs: dict[str, Any], date: str
) -> AuthorityBlock:
    return AuthorityBlock(
        res.afi.value,
        res.start,
        res.end,
        holder,
        status,
        str(attrs.get("iana_status", "")),
        date,
        str(attrs.get("source", "")),
    )


class ErxIndex:
    """The NRO's ERX transfer list, searchable by address."""

    def __init__(self, transfers: Iterable[ErxTransfer]) -> None:
        self.items = sorted(transfers, key=lambda t: t.resource.start)
        self.starts = [t.resource.start for t in self.items]

    def covering(self, start: int, end: int, registry: RegistryId) -> ErxTransfer | None:
        index = bisect_right(self.starts, start) - 1
        if index < 0:
            return None
        item = self.items[index]
        if item.resource.end >= end and item.new_registry is registry:
            return item
        return None


def classify(piece: Piece, afi: str, registry: RegistryId, erx: ErxIndex) -> tuple[str, str]:
    """(origin, evidence) of a piece that `registry` holds inside another RIR's block."""
    block = piece.block
    if afi == Afi.IPV4.value:
        transfer = erx.covering(piece.start, piece.end, registry)
        if transfer is not None:
            return ORIGIN_ERX, f"ERX transfer to {registry} ({transfer.source})"
    if block.iana_status == "LEGACY":
        return ORIGIN_LEGACY, f"legacy block {block.label()}"
    return ORIGIN_INTER_RIR, (
        f"block IANA allocated to {block.holder} ({block.source}); neither on the ERX list nor "
        "legacy, so it moved between registries (an inter-RIR transfer, or the hand-over of a "
        "region's records when a new RIR started)"
    )


RecordRange = tuple[str, int, int]  # (afi, start, end)


def wanted_cross_holdings(
    registry: RegistryId, records: Iterable[RecordRange], authority: AuthorityMap, erx: ErxIndex
) -> dict[tuple[str, str], ev.Payload]:
    """Cross-registry holdings implied by a registry's records, keyed by (afi, start text)."""
    wanted: dict[tuple[str, str], ev.Payload] = {}
    by_afi: dict[str, list[tuple[int, int]]] = {a.value: [] for a in Afi}
    for afi, start, end in records:
        by_afi[afi].append((start, end))
    for afi, ranges in by_afi.items():
        ranges.sort()
        starts, ends = [r[0] for r in ranges], [r[1] for r in ranges]
        for _, piece in authority.pieces_outside(registry.value, afi, starts, ends):
            other = piece.block.registry
            if other is None:
                continue  # IANA's own or reserved space: overclaimed, reported by the audit
            origin, evidence = classify(piece, afi, registry, erx)
            family = Afi(afi)
            start_text = format_number(family, piece.start)
            wanted[(afi, start_text)] = {
                "afi": afi,
                "start": start_text,
                "end": format_number(family, piece.end),
                "authority": other.value,
                "origin": origin,
                "evidence": evidence,
            }
    return wanted


def plan_cross_holdings(
    node: RegistryNode, wanted: dict[tuple[str, str], ev.Payload]
) -> list[ev.Item]:
    """Entries that make the node's recorded cross-registry holdings equal `wanted`."""
    current: dict[tuple[str, str], tuple[str, ...]] = {}
    for afi, text, authority, origin, evidence in node.conn.execute(
        "SELECT afi, range_text, authority, origin, evidence FROM cross_holdings"
    ):
        start, _, end = text.partition("-")
        current[(afi, start)] = (end, authority, origin, evidence)
    items: list[ev.Item] = []
    for k in current.keys() - wanted.keys():
        items.append((ev.CROSS_HOLDING_CLEARED, {"afi": k[0], "start": k[1]}))
    for k, p in sorted(wanted.items()):
        if current.get(k) != (p["end"], p["authority"], p["origin"], p["evidence"]):
            items.append((ev.CROSS_HOLDING_RECORDED, p))
    return items
