"""Writing a node's state back out as a delegated-extended file.

The header, the leading comment block and the order of the summary lines come from the last
imported file (kept in the log's `source.imported` entry); counts are recomputed from the state, so
an export reflects every change made since the import.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson

from onereg.core.resources import Afi
from onereg.registry.imports import DELEGATED_SLOT
from onereg.registry.node import RegistryNode

_DEFAULT_ORDER = [Afi.ASN.value, Afi.IPV4.value, Afi.IPV6.value]


def record_line(registry: str, row: tuple[object, ...]) -> str:
    """A record line from (afi, cc, start_text, value, date, status, opaque, ext-json)."""
    afi, cc, start_text, value, date, status, opaque, ext = row
    parts = [registry, str(cc), str(afi), str(start_text), str(value), str(date), str(status)]
    if opaque is not None:
        parts.append(str(opaque))
        parts.extend(orjson.loads(str(ext)))
    return "|".join(parts)


def export_delegated(node: RegistryNode) -> Iterator[str]:
    """The lines of the file (without newlines), header first."""
    meta = node.source(DELEGATED_SLOT)
    reg = node.registry.value
    rows = node.conn.execute(
        "SELECT afi, cc, start_text, value, date, status, opaque, ext "
        "FROM delegations ORDER BY afi, start"
    ).fetchall()
    counts = Counter(str(r[0]) for r in rows)
    if meta is None:
        today = datetime.now(UTC).strftime("%Y%m%d")
        header = ["2.3", reg, today, "", "", today, "+0000"]
        preamble: list[str] = []
        order = [a for a in _DEFAULT_ORDER if counts[a]]
    else:
        header = str(meta["header"]).split("|")
        preamble = list(meta["preamble"])
        order = [str(a) for a, _ in meta["summaries"]]
        order += [a for a in _DEFAULT_ORDER if counts[a] and a not in order]
    header[3] = str(len(rows))
    yield from preamble
    yield "|".join(header)
    for afi in order:
        yield f"{reg}|*|{afi}|*|{counts[afi]}|summary"
    for afi in order:
        for row in rows:
            if row[0] == afi:
                yield record_line(reg, row)
