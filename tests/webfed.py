"""A small federation of real node processes built from real records of the 2018 delegated
files (the first few hundred lines of each RIR's file) and IANA's registries: what the web
explorer's browser tests and `tools/screenshots.py` run against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from localfed import EVIDENCE, LocalFederation
from onereg.core.registries import RIRS, RegistryId
from onereg.core.resources import Resource
from onereg.federation.embedded import config_path
from onereg.federation.node_config import load_config
from onereg.registry import events as ev
from onereg.registry.transfer_policy import PolicySet, default_policy_dir
from onereg.registry.transfers import register_holder_key, transfer_within
from onereg.rpki.ca import RegistryCa, RepositoryUris
from onereg.rpki.objects import RoaPrefix
from onereg.rpki.routes import read_routes

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


# --- a transfer, a ROA and a route table, for the explorer's colourings and RPKI lookup --------

ROUTE_TABLE = ("bgp", "pyasn-data", "ipasn_20140513.dat.gz")


@dataclass(frozen=True)
class Extras:
    """What `add_transfer_and_roa` did, found in the real data (nothing here is hard-coded)."""

    moved: str  # the /24 transferred inside RIPE NCC
    # the key entries both holders signed it under: both rotated their keys after it
    signed_with: dict[str, int]
    roa_prefix: str  # a real route of the 2014 table inside a real RIPE NCC record, ROA'd
    roa_asn: int  # that route's origin, the ROA's AS
    route_table: Path


def _route_inside(table: Path, rows: list[RealRecord]) -> tuple[str, int, RealRecord]:
    """The first route of the table lying inside one of the records (IPv4)."""
    cols = read_routes(table).v4
    firsts = cols.hi.astype("int64")
    lasts = firsts + (1 << (32 - cols.length.astype("int64"))) - 1
    for record in rows:
        start = Resource.parse(record.start).start
        end = start + record.value - 1
        inside = ((firsts >= start) & (lasts <= end)).nonzero()[0]
        if len(inside):
            i = int(inside[0])
            return cols.prefix(i), int(cols.asn[i]), record
    raise AssertionError("no route of the table lies inside these records")


def add_transfer_and_roa(
    fed: LocalFederation,
    records: dict[str, list[RealRecord]],
    shared_data: Path,
    vrps: Path | None = None,
) -> Extras:
    """Before the nodes start: a /24 of a real RIPE NCC block moved to another real holder
    (an intra-registry transfer, signed by both, who both rotate their keys after it), a ROA
    from RIPE NCC's CA for a real route of the 2014 table inside another real RIPE NCC block,
    and that table named as the RIPE NCC node's route table (`[explorer] route_table` in its
    node.toml), and `vrps` as its file of validated VRPs when given."""
    ripe = [r for r in records["ripencc"] if r.afi == "ipv4" and r.value >= 512]
    source = ripe[0]
    recipient = next(r.holder for r in ripe if r.holder != source.holder)
    table = shared_data.joinpath(*ROUTE_TABLE)
    prefix, origin, held = _route_inside(table, [r for r in ripe[1:] if r.holder != source.holder])
    rid = RegistryId.RIPENCC
    moved = f"{source.start}/24"
    with fed.data.open(rid, create=False) as node:
        signed_with = {}
        for handle in (source.holder, recipient):
            key = Ed25519PrivateKey.generate()
            fed.keys[("ripencc", handle)] = key
            entry = register_holder_key(node, handle, key.public_key().public_bytes_raw())
            signed_with[handle] = entry.seq
        signed = fed.agreement(moved, ("ripencc", source.holder), ("ripencc", recipient))
        transfer_within(
            node, signed, PolicySet.load(default_policy_dir()), datetime.now(UTC), EVIDENCE
        )
        for handle in (source.holder, recipient):  # the page must still show it valid
            key = Ed25519PrivateKey.generate()
            fed.keys[("ripencc", handle)] = key
            register_holder_key(node, handle, key.public_key().public_bytes_raw())
        path = config_path(fed.root, rid)
        config = load_config(path)
        ca = RegistryCa.open(
            node, config.node_dir.rpki_ca, RepositoryUris(config.rsync_base, config.rrdp_notify)
        )
        try:
            ca.enroll(held.holder)
            ca.add_roa(held.holder, origin, [RoaPrefix.parse(prefix)])
        finally:
            ca.close()
    with path.open("a") as toml:
        toml.write(f'\n[explorer]\nroute_table = "{table}"\n')
        if vrps is not None:
            toml.write(f'vrps = "{vrps}"\n')
    return Extras(moved, signed_with, prefix, origin, table)
