"""The federation as it was at a past moment: every node replayed from its log up to then.

`PastDataDir` is a `DataDir` whose nodes open as their replays (`registry.asof.replay`), so the
commands that read "the federation" (`show`, `audit`) answer for the past with their own code:
each node is cut at the last entry it wrote at or before the moment. A node whose log began
later was not there yet and reads as empty; a moment before every log began is an error that
says when they began.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.core.resources import Resource
from onereg.federation.layout import DataDir
from onereg.registry import asof
from onereg.registry.asof import MomentError, parse_moment
from onereg.registry.node import RegistryNode


@dataclass(frozen=True, slots=True)
class PastDataDir(DataDir):
    """The nodes of `DataDir` as they were at `moment` (read-only replays).

    `root` is where the audit keeps its cache of these past views (apart from the current
    one's, so that asking about the past never evicts it); `paths` names every node's file."""

    moment: datetime | None = None
    within: Resource | None = None
    exact: tuple[RegistryId, int] | None = None  # this node cut right after this entry

    @classmethod
    def of(cls, data: DataDir, moment: datetime, within: Resource | None = None) -> PastDataDir:
        """The past of `data`; raises BeforeLogError if no node had written anything by then.

        With `within`, each node is replayed only as far as a lookup of that resource reads:
        its records touching it, and every record of their holders."""
        paths = {rid: data.node_path(rid) for rid in ALL_REGISTRIES if data.exists(rid)}
        past = cls(data.root / "asof", paths, moment, within)
        past.moments()  # refuse a moment before every log at once, naming when they began
        return past

    @classmethod
    def at_entry(
        cls, data: DataDir, registry: RegistryId, seq: int, within: Resource | None = None
    ) -> PastDataDir:
        """The federation right after entry `seq` of `registry`'s log: that node cut exactly
        there, the others at the moment the entry was written."""
        if not data.exists(registry):
            raise asof.MomentError(f"--as-of-entry: there is no {registry} node in {data.root}")
        with data.read(registry) as node:
            entry = asof.entry_number(node, seq)
        paths = {rid: data.node_path(rid) for rid in ALL_REGISTRIES if data.exists(rid)}
        moment = asof.parse_moment(entry.time, f"entry {seq} of the {registry} log")
        return cls(data.root / "asof", paths, moment, within, (registry, seq))

    def moments(self) -> dict[RegistryId, asof.Moment]:
        """Where the moment falls in each node's log (nodes not begun by then left out)."""
        found: dict[RegistryId, asof.Moment] = {}
        began: list[str] = []
        for rid in self.paths:
            with DataDir.read(self, rid) as node:
                try:
                    found[rid] = self._cut(node)
                except asof.BeforeLogError as exc:
                    began.append(str(exc))
        if not found:
            raise asof.BeforeLogError("; ".join(began) or "there are no nodes to ask")
        return found

    def read(self, registry: RegistryId) -> RegistryNode:
        """The node as it was: its log cut at the moment and replayed (empty if not begun)."""
        with DataDir.read(self, registry) as node:
            try:
                moment = self._cut(node)
            except asof.BeforeLogError:
                moment = asof.Moment(registry.value, 0, "", asof.log_time(self._moment()))
            if self.within is None:
                return asof.replay(node, moment)
            return _for_lookup(node, moment, self.within)

    def _cut(self, node: RegistryNode) -> asof.Moment:
        if self.exact is not None and node.registry is self.exact[0]:
            return asof.entry_number(node, self.exact[1])
        return asof.entry_at(node, self._moment())

    def _moment(self) -> datetime:
        if self.moment is None:
            raise asof.MomentError("a past view needs a moment")
        return self.moment


def _for_lookup(node: RegistryNode, moment: asof.Moment, res: Resource) -> RegistryNode:
    """The node replayed for a lookup of `res`: its records touching `res`, then, if they
    name holders, again with all of those holders' records (a lookup lists them); two passes
    over the log of at most one or two nodes cost far less than a full replay of six."""
    first = asof.replay(node, moment, within=res)
    holders = frozenset(d.holder for d in first.overlapping(res) if d.holder)
    if not holders:
        return first
    first.close()
    return asof.replay(node, moment, within=res, holders=holders)


__all__ = ["MomentError", "PastDataDir", "parse_moment"]
