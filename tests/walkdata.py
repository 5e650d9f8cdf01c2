"""A small real federation for the README walk-through: a few hundred real lines of each 2018-10-13
delegated file (every Nth record plus the ones the walk-through names), with headers and summaries
recounted so the files parse as complete, beside the real IANA files and NRO lists (linked, never
copied into the repository)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

SET = "2018-10-13"
EVERY = 600  # about 300 records of RIPE NCC's 189,189, fewer of the smaller registries


def write_subset(source: Path, target: Path, keep: Iterable[str], every: int = EVERY) -> int:
    """Copy every `every`-th record of `source` and each record whose line contains one of
    `keep` into `target`, with its header and summaries recounted; returns the records kept."""
    wanted = tuple(keep)
    header: list[str] = []
    records: list[str] = []
    for index, line in enumerate(source.read_text().splitlines()):
        fields = line.split("|")
        if line.startswith("#") or not line.strip():
            continue
        if not header:
            header = fields
            continue
        if fields[-1] == "summary":
            continue
        if index % every == 0 or any(k in line for k in wanted):
            records.append(line)
    registry = header[1]
    per_type = Counter(r.split("|")[2] for r in records)
    header[3] = str(len(records))
    summaries = [f"{registry}|*|{t}|*|{per_type[t]}|summary" for t in ("asn", "ipv4", "ipv6")]
    target.write_text("\n".join(["|".join(header), *summaries, *records]) + "\n")
    return len(records)


def small_shared_data(shared: Path, target: Path, keep: dict[str, list[str]]) -> Path:
    """A folder shaped like ../shared/data whose 2018-10-13 set is a real subset; the IANA
    files, the NRO lists and every other set are links to the real ones."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in shared.iterdir():
        if entry.name != "delegated":
            (target / entry.name).symlink_to(entry)
    delegated = target / "delegated"
    delegated.mkdir()
    for entry in (shared / "delegated").iterdir():
        if entry.name != SET:
            (delegated / entry.name).symlink_to(entry)
    subset = delegated / SET
    subset.mkdir()
    for path in sorted((shared / "delegated" / SET).glob("delegated-*")):
        registry = path.name.split("-")[1]
        write_subset(path, subset / path.name, keep.get(registry, []))
    return target
