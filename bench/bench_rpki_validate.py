"""Benchmark of our relying party against rpki-client and FORT on a 10,000-ROA repository.

The repository: one registry trust anchor, `--cas` holder CAs (default 200, each holding one
IPv4 /16) and `--roas` ROAs per holder (default 50, one /24 each), issued by the project's own
`RegistryCa` and published with `Publisher`, served by rsyncd on 127.0.0.1. Issuing 10,000 ROAs
takes a couple of minutes, so the repository is generated once into a cache directory under /tmp
(`--state`) and reused; every run re-publishes it, which re-signs manifests and CRLs that are past
half their lifetime. CA keys are fresh RSA-2048 keys; the ROAs' one-time EE keys are drawn from a
small set of pre-generated keys (key generation would otherwise take ten minutes on two cores;
rpki-client, FORT and our validator do not check EE key reuse, OctoRPKI does, so it is not run).

Each relying party validates the same TAL twice, each time fetching over rsync from the daemon:
  * cold: a fresh, empty cache directory (rsync copies everything, then validation);
  * warm: a second run on the filled cache (rsync transfers nothing, then validation).
The figure is objects (certificates, manifests, CRLs, ROAs) per second of wall-clock time, and
the VRP sets of all three must be equal (a difference fails the run).

Run: .venv/bin/python bench/bench_rpki_validate.py  [--cas 200] [--roas 50] [--state DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from onereg.core.registries import RegistryId
from onereg.registry import events as ev
from onereg.registry.node import RegistryNode
from onereg.rpki.ca import RegistryCa, RepositoryUris
from onereg.rpki.der import ResourceCert, Tal
from onereg.rpki.fetch import fetch_and_validate
from onereg.rpki.keypool import generate_key
from onereg.rpki.objects import RoaPrefix
from onereg.rpki.publish import Publisher, publish_cas
from onereg.rpki.validate import validate
from report import machine, table, write_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from rpkijudges import (
    Verdict,
    rsync_daemon,
    run_fort,
    run_rpki_client,
    world_dir,
)

EE_KEYS = 16


class _Keys:
    """Fresh keys for CAs (`fresh` on), then a cycle of `EE_KEYS` keys for one-time EE keys."""

    def __init__(self) -> None:
        self.fresh = True
        self._cycle: list[rsa.RSAPrivateKey] = []
        self._next = 0

    def __call__(self) -> rsa.RSAPrivateKey:
        if self.fresh:
            return generate_key()
        if not self._cycle:
            self._cycle = [generate_key() for _ in range(EE_KEYS)]
        self._next += 1
        return self._cycle[self._next % EE_KEYS]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _holder(i: int) -> str:
    return f"H{i:04d}"


def _open(
    state: Path, port: int, keys: Callable[[], rsa.RSAPrivateKey]
) -> tuple[RegistryNode, RegistryCa, Publisher]:
    base = f"rsync://127.0.0.1:{port}/"
    node = RegistryNode.open(RegistryId.RIPENCC, state / "ripencc.sqlite")
    ca = RegistryCa.open(node, state / "ca", RepositoryUris(base), keys=keys)
    return node, ca, Publisher(state / "pub", base, "https://localhost:1/rrdp")


def generate(state: Path, cas: int, roas: int) -> int:
    """Build the repository into `state` (once); returns the rsync port baked into its URIs."""
    meta = state / "meta.json"
    if meta.exists():
        info = json.loads(meta.read_text())
        if info["cas"] == cas and info["roas"] == roas and _port_free(int(info["port"])):
            return int(info["port"])
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    os.chmod(state, 0o755)
    port = _free_port()
    keys = _Keys()
    start = time.perf_counter()
    node = RegistryNode.open(RegistryId.RIPENCC, state / "ripencc.sqlite")
    node.append(
        [(ev.HOLDER_REGISTERED, {"handle": _holder(i), "name": "", "cc": "NL"}) for i in range(cas)]
    )
    for i in range(cas):
        node.add_delegation(
            {
                "afi": "ipv4",
                "start": f"{10 + i // 256}.{i % 256}.0.0",
                "value": 1 << 16,
                "cc": "NL",
                "date": "20100101",
                "status": "allocated",
                "holder": _holder(i),
                "opaque": _holder(i),
                "ext": [],
            }
        )
    node.close()
    node, ca, publisher = _open(state, port, keys)
    for i in range(cas):
        ca.enroll(_holder(i))
    keys.fresh = False
    for i in range(cas):
        for j in range(roas):
            prefix = RoaPrefix.parse(f"{10 + i // 256}.{i % 256}.{j}.0/24")
            ca.add_roa(_holder(i), 64496 + (i * roas + j) % 1000, [prefix])
        if i % 20 == 19:
            print(
                f"  issued {(i + 1) * roas} ROAs, {time.perf_counter() - start:.0f} s", flush=True
            )
    publish_cas(publisher, [ca])
    ca.close()
    node.close()
    meta.write_text(json.dumps({"cas": cas, "roas": roas, "port": port}))
    return port


def republish(state: Path, port: int) -> tuple[Path, Path, int]:
    """Re-publish (re-signing stale manifests and CRLs); (TAL, rsync root, object count)."""
    keys = _Keys()
    keys.fresh = False
    node, ca, publisher = _open(state, port, keys)
    publish_cas(publisher, [ca])
    ca.close()
    node.close()
    objects = sum(
        1
        for p in publisher.rsync_dir.rglob("*")
        if p.suffix in (".cer", ".mft", ".crl", ".roa") and not p.name.startswith(".")
    )
    return state / "pub" / "tals" / "ripencc.tal", publisher.rsync_dir, objects


Vrps = set[tuple[int, str, int]]


def _timed(run: Callable[[], Vrps]) -> tuple[float, Vrps]:
    start = time.perf_counter()
    vrps = run()
    return time.perf_counter() - start, vrps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cas", type=int, default=200)
    parser.add_argument("--roas", type=int, default=50)
    parser.add_argument("--state", type=Path, default=Path("/tmp/onereg-bench-rpki/state"))
    args = parser.parse_args()
    args.state.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(args.state.parent, 0o755)

    start = time.perf_counter()
    port = generate(args.state, args.cas, args.roas)
    tal, rsync_dir, objects = republish(args.state, port)
    print(f"repository ready in {time.perf_counter() - start:.0f} s: {objects} objects")
    markers = (f"127.0.0.1:{port}", "ripencc")

    def ours(cache: Path) -> Vrps:
        result = fetch_and_validate([tal], cache, prefer="rsync")
        if result.rejections:
            raise SystemExit(f"our validator rejected: {result.rejections[:3]}")
        return {(v.asn, v.prefix, v.max_length) for v in result.vrps}

    def ours_offline(cache: Path) -> Vrps:
        result = validate([tal], cache / "rsync", hook=_Offline(cache))
        return {(v.asn, v.prefix, v.max_length) for v in result.vrps}

    def judge(run: Callable[[], Verdict]) -> Callable[[], Vrps]:
        def inner() -> Vrps:
            verdict = run()
            if verdict.complaints:
                print(f"{verdict.judge} complained: {verdict.complaints[:3]}")
            return verdict.vrps

        return inner

    load = os.getloadavg()[0]
    times: dict[str, tuple[float, float]] = {}
    answers: dict[str, Vrps] = {}
    with world_dir("onereg-bench-rp-") as work, rsync_daemon(rsync_dir, work / "rsyncd", port):
        runs: dict[str, Callable[[], Vrps]] = {
            "onereg": lambda: ours(work / "ours"),
            "rpki-client": judge(lambda: run_rpki_client(tal, work / "rpki-client", markers)),
            "FORT": judge(lambda: run_fort(tal, work / "fort", markers)),
        }
        for name, run in runs.items():
            cold, answers[name] = _timed(run)
            warm, again = _timed(run)
            if again != answers[name]:
                raise SystemExit(f"{name}: the warm run gave other VRPs than the cold one")
            times[name] = (cold, warm)
            print(f"{name}: cold {cold:.2f} s, warm {warm:.2f} s, {len(again)} VRPs", flush=True)
        offline, offline_vrps = _timed(lambda: ours_offline(work / "ours"))
    print(f"onereg validation only (filled mirror, no fetch): {offline:.2f} s")
    reference = answers["rpki-client"]
    same = all(v == reference for v in answers.values()) and offline_vrps == reference
    if len(reference) != args.cas * args.roas:
        print(f"warning: {len(reference)} VRPs, expected {args.cas * args.roas}")

    def rate(seconds: float) -> str:
        return f"{objects / seconds:,.0f} objects/s ({seconds:.2f} s)"

    rows: list[tuple[str, str, str, bool | None]] = []
    for name, (cold, warm) in times.items():
        rows.append((f"{name}, cold cache", rate(cold), "", None))
        rows.append((f"{name}, warm cache", rate(warm), "", None))
    rows.append(("onereg, validation only (warm mirror, no rsync)", rate(offline), "", None))
    ours_cold, ours_warm = times["onereg"]
    for judge_name in ("rpki-client", "FORT"):
        jc, jw = times[judge_name]
        for label, mine, theirs in (("cold", ours_cold, jc), ("warm", ours_warm, jw)):
            target = "<= 1.0" if judge_name == "rpki-client" else ""
            met = mine <= theirs if judge_name == "rpki-client" else None
            rows.append(
                (f"time ratio onereg / {judge_name}, {label}", f"{mine / theirs:.2f}", target, met)
            )
    rows.append(("same VRP set in all three (and offline)", "yes" if same else "NO", "yes", same))
    lines = [
        "## RPKI validation (bench/bench_rpki_validate.py)",
        "",
        f"Machine: {machine()}. Repository: 1 TA, {args.cas} holder CAs x {args.roas} ROAs "
        f"(one /24 each) = {objects} objects (certificates, manifests, CRLs, ROAs), "
        f"{len(reference)} VRPs, issued by `RegistryCa` and served by rsyncd on 127.0.0.1. Each",
        "relying party runs twice over rsync: cold (empty cache) and warm (second run on the",
        "filled cache, rsync transfers nothing). Wall-clock seconds including the rsync runs;",
        "rpki-client and FORT use several processes/threads, ours runs in one process.",
        f"Load average when the runs started: {load:.1f} (the machine is shared; figures taken",
        "at different loads differ by up to 2x, so compare rows of one run only). Our warm run",
        "is mostly validation: the decoding is a hand-written DER fast path (der.py) that falls",
        "back to asn1crypto for anything unusual; RSA verification is ~17 % of the time.",
        "",
        *table(rows),
    ]
    write_section("rpki-validate", lines)
    if not same:
        raise SystemExit("the relying parties disagree")


class _Offline:
    """A RepositoryHook that fetches nothing: reads the mirrors an earlier run filled."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache

    def trust_anchor(self, tal: Tal) -> Path | None:
        return self.cache / "ta"

    def publication_point(self, cert: ResourceCert) -> Path | None:
        return None


if __name__ == "__main__":
    main()
