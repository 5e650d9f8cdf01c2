"""The real 2018 federation, small, for the client matrix (tests/test_client_matrix.py): six
`onereg serve --config` processes whose RIR nodes hold a real subset of the 2018-10-13 delegated
files of all five RIRs (every k-th record of each type, read in place, so that the subset spans each
file) and whose IANA node holds IANA's real registries, so the authority map, the redirects and the
bootstrap files are the real ones.

`Sample` is one record a test asks about, with the facts a client must get back, taken from its
delegated line (never hard-coded)."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from localfed import LocalFederation
from onereg.core.registries import RegistryId
from onereg.federation.embedded import config_path
from onereg.federation.importer import import_delegated_file, import_iana
from onereg.federation.node_config import load_config, save_config

RIRS = ("afrinic", "apnic", "arin", "lacnic", "ripencc")
# Records of each type per registry in the subset: enough for a real-looking registry, few enough
# that the six nodes import and start in seconds.
PER_TYPE = 100
# The npm package the matrix runs, and where it is installed (outside the repository).
NODE_RDAP = "node-rdap@0.5.0"
NPM_CACHE = Path.home() / ".cache" / "onereg-tests" / "npm"


@dataclass(frozen=True)
class Sample:
    """One delegated-file record the clients are asked about."""

    registry: str
    afi: str  # asn | asn-range | ipv4 | ipv6
    start: str
    value: int
    day: date  # the registration date of the record
    holder: str  # opaque id: the entity handle
    line: str

    @property
    def first(self) -> str:
        """The first address (or ASN) of the record, as text."""
        return self.start

    @property
    def last(self) -> str:
        """The last address (or ASN) of the record, as text."""
        if self.afi.startswith("asn"):
            return str(int(self.start) + self.value - 1)
        if self.afi == "ipv4":
            return str(ipaddress.IPv4Address(self.start) + self.value - 1)
        net = ipaddress.IPv6Network(f"{self.start}/{self.value}")
        return str(net.broadcast_address)

    @property
    def inside(self) -> str:
        """An address (or ASN) inside the record, not its first: a client must find the record
        from any point in it."""
        if self.afi.startswith("asn"):
            return str(int(self.start) + self.value // 2)
        if self.afi == "ipv4":
            return str(ipaddress.IPv4Address(self.start) + self.value // 2 + 1)
        return str(ipaddress.IPv6Network(f"{self.start}/{self.value}")[257])

    @property
    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The CIDR blocks of an address record."""
        if self.afi == "ipv6":
            return [ipaddress.IPv6Network(f"{self.start}/{self.value}")]
        first = ipaddress.IPv4Address(self.start)
        return list(ipaddress.summarize_address_range(first, first + self.value - 1))


def _records(path: Path) -> list[list[str]]:
    """The record lines of a delegated file, split (no header, summaries or comments)."""
    rows = []
    with path.open() as handle:
        for line in handle:
            fields = line.rstrip("\n").split("|")
            if line.startswith("#") or len(fields) < 7 or fields[1] == "*" or fields[3] == "*":
                continue
            if fields[2] in ("asn", "ipv4", "ipv6"):
                rows.append(fields)
    return rows


def _sample(afi: str, fields: list[str]) -> Sample:
    return Sample(
        registry=fields[0],
        afi=afi,
        start=fields[3],
        value=int(fields[4]),
        day=date(int(fields[5][:4]), int(fields[5][4:6]), int(fields[5][6:8])),
        holder=fields[7],
        line="|".join(fields),
    )


def _held(rows: list[list[str]]) -> list[list[str]]:
    return [r for r in rows if r[6] in ("allocated", "assigned") and len(r) > 7 and r[7]]


def subset(path: Path, per_type: int = PER_TYPE) -> tuple[list[str], list[Sample]]:
    """Every k-th record of each type (so the subset spans the file), and the samples: for
    each type a delegated record of the subset with a holder, from the middle of the file (for
    ASNs a single one), and, where the file has any, a record of several ASNs (`asn-range`)."""
    by_type: dict[str, list[list[str]]] = {"asn": [], "ipv4": [], "ipv6": []}
    for fields in _records(path):
        by_type[fields[2]].append(fields)
    picked: list[list[str]] = []
    samples: list[Sample] = []
    for afi, rows in by_type.items():
        step = max(1, len(rows) // per_type)
        chosen = rows[::step][:per_type]
        picked += chosen
        held = _held(chosen)
        if afi == "asn":
            held = [r for r in held if r[4] == "1"]
        samples.append(_sample(afi, held[len(held) // 2]))
    ranges = [r for r in _held(by_type["asn"]) if int(r[4]) > 1]
    if ranges:
        pick = ranges[len(ranges) // 2]
        samples.append(_sample("asn-range", pick))
        if pick not in picked:
            picked.append(pick)
    return ["|".join(r) for r in picked], samples


def build(root: Path, shared_data: Path) -> tuple[LocalFederation, list[Sample]]:
    """The six node directories with the real subsets imported (not started)."""
    fed = LocalFederation(root / "data", {})
    for rir in ("iana", *RIRS):
        relax(config_path(fed.root, RegistryId(rir)))
    import_iana(fed.data, shared_data / "iana")
    samples: list[Sample] = []
    for rir in RIRS:
        source = shared_data / "delegated" / "2018-10-13" / f"delegated-{rir}-extended-latest"
        lines, picked = subset(source)
        header = f"2.3|{rir}|20181013|{len(lines)}|19700101|20181013|+0000"
        path = root / f"delegated-{rir}-extended-latest"
        path.write_text("\n".join([header, *lines]) + "\n")
        import_delegated_file(fed.data, path, None)
        samples += picked
    return fed, samples


def relax(path: Path) -> None:
    """Nothing changes once the nodes are up: they publish and mirror each second rather than
    five times a second, and a lookup may take 60 s rather than 5 before it is refused with a
    503, so a loaded shared CI machine slows the matrix down instead of failing it (the
    deadline is the node's defence against abuse, tested in tests/test_http_offload.py)."""
    config = load_config(path)
    timers = replace(config.timers, publish=1.0, mirror=1.0)
    limits = replace(config.limits, query_deadline=60.0)
    save_config(replace(config, timers=timers, limits=limits))


def node_rdap_dir() -> Path:
    """node-rdap installed into a cache directory outside the repository (`.ci/run` installs
    npm; the tests install the package on first use)."""
    marker = NPM_CACHE / "node_modules" / "node-rdap" / "package.json"
    if not marker.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed for node-rdap: apt-get install -y nodejs npm")
        NPM_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(NPM_CACHE), "--no-audit", "--no-fund", NODE_RDAP],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return NPM_CACHE
