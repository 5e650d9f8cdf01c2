"""A small federation of real node processes built from real records of the 2018 delegated
files (the first few hundred lines of each RIR's file) and IANA's registries: what the web
explorer's browser tests and `tools/screenshots.py` run against."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from localfed import LocalFederation
from onereg.core.registries import RIRS, RegistryId
from onereg.registry import events as ev
from onereg.registry.transfers import register_holder_key

PER_FAMILY = {"ipv4": 150, "ipv6": 20, "asn": 20}


@dataclass(frozen=True)
class RealRecord:
    """One line of a 2018 delegated file, as recorded in its registry's node."""

    registry: str
    afi: str
    start: str
    value: int
    cc: str
    date: str
    status: str
    holder: str

    def payload(self) -> ev.Payload:
        return {
            "afi": self.afi,
            "start": self.start,
            "value": self.value,
            "cc": self.cc,
            "date": self.date,
            "status": self.status,
            "holder": self.holder,
            "opaque": self.holder,
            "ext": [],
        }


def real_records(shared_data: Path, registry: str) -> list[RealRecord]:
    """The first PER_FAMILY records of each family with a holder in the registry's 2018 file."""
    path = shared_data / "delegated" / "2018-10-13" / f"delegated-{registry}-extended-latest"
    left = dict(PER_FAMILY)
    out: list[RealRecord] = []
    with path.open() as lines:
        for line in lines:
            parts = line.rstrip("\n").split("|")
            if len(parts) < 8 or parts[1] == "*" or parts[6] not in ("allocated", "assigned"):
                continue
            afi = parts[2]
            if left.get(afi, 0) <= 0:
                continue
            left[afi] -= 1
            out.append(
                RealRecord(
                    registry,
                    afi,
                    parts[3],
                    int(parts[4]),
                    parts[1] or "ZZ",
                    parts[5],
                    parts[6],
                    parts[7],
                )
            )
            if not any(left.values()):
                break
    return out


def build(root: Path, shared_data: Path) -> tuple[LocalFederation, dict[str, list[RealRecord]]]:
    """Six node directories (not yet started) holding the real records."""
    fed = LocalFederation(root, {r.value: [] for r in RIRS}, iana=shared_data / "iana")
    records = {r.value: real_records(shared_data, r.value) for r in RIRS}
    for registry, rows in records.items():
        with fed.data.open(RegistryId(registry)) as node:
            holders = {r.holder: r.cc for r in rows}  # a holder's first country
            node.append(
                [
                    (ev.HOLDER_REGISTERED, {"handle": h, "name": "", "cc": cc})
                    for h, cc in sorted(holders.items())
                ]
            )
            node.append([(ev.DELEGATION_ADDED, r.payload()) for r in rows])
            # the first IPv4 holder holds a key: it can sign a transfer agreement
            first = next(r.holder for r in rows if r.afi == "ipv4")
            key = fed.keys[(registry, first)] = Ed25519PrivateKey.generate()
            register_holder_key(node, first, key.public_key().public_bytes_raw())
    return fed, records


def serve(fed: LocalFederation) -> None:
    """Start all six nodes and wait until each has verified every other's log."""
    names = tuple(r.value for r in (RegistryId.IANA, *RIRS))
    fed.start_all(*names)
    fed.wait_mirrored(names, names)
