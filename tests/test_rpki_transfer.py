"""An inter-registry transfer in RPKI, make-before-break, judged after every step.

RIPE NCC (source, holder R1) transfers 193.0.1.0/24 to ARIN (recipient, holder A1). R1 has a
ROA for the block (AS64500) and one straddling it (193.0.0.0/22-24, AS64500); A1 wants the block
originated by AS64501. After each protocol step the node runs `apply_transfer`, both registries
publish, and origin validation (RFC 6811, a tiny reference check below) runs over the
announcements of that moment with the VRPs of our validator, of rpki-client and of FORT. The
real-world order is followed: the new holder announces only once its ROA is out, the previous
holder withdraws before its ROA goes. No announcement may ever be invalid or lose its ROA while
it is announced, and at the end each TA certifies exactly its registry's authority, under the
key its TAL names.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from onereg.core.intervals import IntervalSet
from onereg.core.resources import Afi, Resource
from onereg.registry import interrir
from onereg.rpki.ca import (
    RETENTION_LIMIT,
    RegistryCa,
    RepositoryUris,
    authority_resources,
    ca_name,
)
from onereg.rpki.der import ResourceCert, decode_cert, decode_crl
from onereg.rpki.keypool import KeyPool, KeySource, generate_key
from onereg.rpki.objects import RoaPrefix
from onereg.rpki.publish import Publisher, publish_cas
from onereg.rpki.transfers import PROPAGATION, Phase, apply_transfer, phase
from onereg.rpki.validate import validate
from rpkijudges import Verdict, free_port, missing_judges, rsync_daemon, run_fort, world_dir
from test_interrir_steps import NOW, Pair

MISSING = [j for j in missing_judges() if j != "octorpki"]
needs_judges = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)}")

BLOCK = "193.0.1.0/24"
Route = tuple[str, int]  # (prefix, origin AS)
VrpT = tuple[int, str, int]  # (asn, prefix, maxLength), as rpkijudges reports them


# --- RFC 6811 reference origin validation ---------------------------------------------------------


def _net(prefix: str) -> Resource:
    return Resource.parse(prefix)


def origin_state(route: Route, vrps: set[VrpT]) -> str:
    """RFC 6811 §2: valid if a VRP with the route's origin covers it with maxLength >= its
    length; invalid if some VRP covers it but none matches; not-found if none covers it."""
    prefix, origin = route
    net = _net(prefix)
    length = int(prefix.split("/")[1])
    covering = [v for v in vrps if _net(v[1]).contains(net)]
    if not covering:
        return "not-found"
    if any(asn == origin and asn != 0 and max_len >= length for asn, _, max_len in covering):
        return "valid"
    return "invalid"


# --- the two registries -----------------------------------------------------------------------


@dataclass
class World:
    pair: Pair
    ripe: RegistryCa
    arin: RegistryCa
    publisher: Publisher
    mirror: Path
    transfer_id: str = ""
    announced: set[Route] = field(default_factory=set)
    later: timedelta = timedelta(0)  # how far the test's clock is ahead of the CAs' clocks

    @property
    def tals(self) -> list[Path]:
        return [self.publisher.root / "tals" / f"{r}.tal" for r in ("ripencc", "arin")]

    def expected_vrps(self) -> set[VrpT]:
        out: set[VrpT] = set()
        for ca in (self.ripe, self.arin):
            for roa in ca.roas():
                for p in roa.prefixes:
                    text = str(p).rsplit("-", 1)[0]
                    out.add((roa.asn, text, p.max_length))
        return out

    def publish(self) -> None:
        publish_cas(self.publisher, [self.ripe, self.arin])

    def ours(self) -> set[VrpT]:
        result = validate(self.tals, self.mirror, datetime.now(UTC))
        assert not [r for r in result.rejections], result.rejections
        return {(v.asn, v.prefix, v.max_length) for v in result.vrps}

    def step(self) -> Phase:
        return apply_transfer(
            self.ripe, self.arin, self.transfer_id, datetime.now(UTC) + self.later
        )


def make_world(tmp: Path, pub_root: Path, rsync_base: str, keys: KeySource = generate_key) -> World:
    pair = Pair(tmp)
    publisher = Publisher(pub_root, rsync_base, "https://localhost:1/rrdp")
    uris = RepositoryUris(rsync_base)
    ripe = RegistryCa.open(pair.ripe, tmp / "ca-ripe", uris, keys=keys)
    arin = RegistryCa.open(pair.arin, tmp / "ca-arin", uris, keys=keys)
    ripe.enroll("R1")
    arin.enroll("A1")
    ripe.add_roa("R1", 64500, [RoaPrefix.parse(BLOCK)])
    ripe.add_roa("R1", 64500, [RoaPrefix.parse("193.0.0.0/22-24")])
    arin.add_roa("A1", 64501, [RoaPrefix.parse("23.0.0.0/16")])
    mirror = tmp / "mirror"
    mirror.mkdir()
    host = rsync_base.removeprefix("rsync://").rstrip("/")
    (mirror / host).symlink_to(publisher.rsync_dir, target_is_directory=True)
    world = World(pair, ripe, arin, publisher, mirror)
    world.announced = {
        (BLOCK, 64500),
        ("193.0.0.0/24", 64500),
        ("193.0.2.0/24", 64500),
        ("23.0.0.0/16", 64501),
    }
    return world


# The transfer, one protocol step (or holder action) at a time.


def s_initialize(w: World) -> None:
    w.transfer_id = w.pair.initialize(w.pair.signed(BLOCK)).id


def s_accept(w: World) -> None:
    t = interrir.transfer_state(w.pair.ripe, w.transfer_id)
    assert t is not None
    w.pair.accept(t)


def s_finalize(w: World) -> None:
    answer = interrir.transfer_state(w.pair.arin, w.transfer_id)
    assert answer is not None
    interrir.finalize(w.pair.ripe, w.transfer_id, answer.public())


def s_register(w: World) -> None:
    interrir.register(w.pair.arin, w.transfer_id, NOW)


def s_recipient_roa(w: World) -> None:
    w.arin.add_roa("A1", 64501, [RoaPrefix.parse(BLOCK)])


def s_recipient_announces(w: World) -> None:
    w.announced.add((BLOCK, 64501))  # its ROA was published (and validated) at the last step


def s_source_withdraws(w: World) -> None:
    """An hour later (`PROPAGATION`): relying parties have A1's ROA; R1 stops announcing."""
    w.announced.discard((BLOCK, 64500))
    w.later = PROPAGATION + timedelta(minutes=1)


STEPS: list[tuple[str, Callable[[World], None], Phase]] = [
    ("before", lambda w: None, Phase.PENDING),
    ("sourceInitialized", s_initialize, Phase.PENDING),
    ("recipientAccepted", s_accept, Phase.PENDING),
    ("sourceFinalized", s_finalize, Phase.RETAINED),
    ("registered", s_register, Phase.OVERLAP),
    ("recipient ROA", s_recipient_roa, Phase.OVERLAP),
    ("recipient announces", s_recipient_announces, Phase.OVERLAP),  # both origins valid
    ("source withdraws", s_source_withdraws, Phase.SETTLED),
]


def check_invariants(now: dict[Route, str], announced: set[Route], label: str) -> None:
    """Every route announced at this step is valid (so none that was valid before turned
    invalid or lost its ROA, and none started before its ROA was out)."""
    for route in announced:
        assert now[route] == "valid", f"{label}: {route} is {now[route]}"


def check_settled(w: World, first_tals: dict[str, str], old: tuple[int, set[int]]) -> None:
    block = Resource.parse(BLOCK)
    rsync = w.publisher.rsync_dir
    ripe_ta = decode_cert((rsync / "ta" / "ripencc.cer").read_bytes())
    arin_ta = decode_cert((rsync / "ta" / "arin.cer").read_bytes())
    # exactly each registry's authority, and disjoint
    assert w.ripe.certified() == authority_resources(w.pair.ripe)
    assert w.arin.certified() == authority_resources(w.pair.arin)
    assert not w.ripe.certified().contains(block) and w.arin.certified().contains(block)
    ripe_v4 = ripe_ta.resources.get(Afi.IPV4)
    arin_v4 = arin_ta.resources.get(Afi.IPV4)
    assert isinstance(ripe_v4, IntervalSet) and isinstance(arin_v4, IntervalSet)
    assert not (ripe_v4 & arin_v4)
    assert not ripe_v4.overlaps_range(block.start, block.end)
    assert arin_v4.contains_range(block.start, block.end)
    # same keys: the TALs did not change
    assert {ca.registry.value: ca.tal() for ca in (w.ripe, w.arin)} == first_tals
    # R1's previous certificate is on the RIPE TA's CRL, its ROA for the block on R1's CRL
    crl = decode_crl((rsync / "repo" / "ripencc" / "ta" / "ta.crl").read_bytes())
    r1 = _r1_cert(w)
    old_r1_serial, old_roa_serials = old
    assert old_r1_serial in crl.revoked and r1.serial not in crl.revoked
    r1_crl = decode_crl((rsync / "repo" / "ripencc" / ca_name("R1") / "h-R1.crl").read_bytes())
    assert old_roa_serials <= r1_crl.revoked  # both old ROAs: one revoked, one replaced
    assert not r1.resources.covers_prefix(Afi.IPV4, block.start, block.end)
    # R1's straddling ROA was trimmed to what R1 still holds, not dropped
    assert {str(p) for r in w.ripe.roas("R1") for p in r.prefixes} == {
        "193.0.0.0/24-24",
        "193.0.2.0/23-24",
    }


def _r1_cert(w: World) -> ResourceCert:
    path = w.publisher.rsync_dir / "repo" / "ripencc" / "ta" / f"{ca_name('R1')}.cer"
    return decode_cert(path.read_bytes())


# --- without the judges: our validator only ------------------------------------------------------


def _run(w: World, judge: Callable[[World, str], list[Verdict]] | None) -> list[str]:
    first_tals = {ca.registry.value: ca.tal() for ca in (w.ripe, w.arin)}
    history: list[dict[Route, str]] = []
    log: list[str] = []
    routes = {*w.announced, (BLOCK, 64501)}
    old: tuple[int, set[int]] = (-1, set())
    for label, action, want in STEPS:
        action(w)
        got = w.step()
        w.publish()
        assert got == want, f"{label}: phase {got}, expected {want}"
        vrps = w.ours()
        assert vrps == w.expected_vrps(), label
        for verdict in judge(w, label) if judge else []:
            assert verdict.vrps == vrps, f"{label}: {verdict.judge} differs\n{verdict.log[-3000:]}"
            assert verdict.complaints == [], f"{label}: {verdict.judge}\n{verdict.log[-3000:]}"
        history.append({r: origin_state(r, vrps) for r in routes})
        check_invariants(history[-1], w.announced, label)
        if label == "before":
            old = (_r1_cert(w).serial, {r.serial for r in w.ripe.roas("R1")})
        both = w.ripe.certified().contains(Resource.parse(BLOCK)) and w.arin.certified().contains(
            Resource.parse(BLOCK)
        )
        log.append(f"{label}: {got} both={both} {sorted(history[-1].items())}")
    check_settled(w, first_tals, old)
    # the previous origin, if it kept announcing, is now invalid (the new holder's ROA covers it)
    assert history[-1][(BLOCK, 64500)] == "invalid"
    return log


def test_transfer_is_make_before_break_for_our_validator(tmp_path: Path) -> None:
    w = make_world(tmp_path, tmp_path / "pub", "rsync://127.0.0.1:1/")
    _run(w, None)


def test_apply_transfer_is_idempotent_and_waits_for_publication(tmp_path: Path) -> None:
    w = make_world(tmp_path, tmp_path / "pub", "rsync://127.0.0.1:1/")
    for _, action, _want in STEPS[:5]:
        action(w)
    first = w.step()
    assert first == Phase.OVERLAP
    # no release before the recipient's certificate and ROAs have been published
    assert w.step() == Phase.OVERLAP and w.ripe.certified().contains(Resource.parse(BLOCK))
    w.publish()
    # published, but A1 has no ROA for the block: the source waits for the grace period
    assert w.step() == Phase.OVERLAP
    late = datetime.now(UTC) + timedelta(hours=25)
    assert apply_transfer(w.ripe, w.arin, w.transfer_id, late) == Phase.SETTLED
    assert apply_transfer(w.ripe, w.arin, w.transfer_id, late) == Phase.SETTLED
    assert phase(w.ripe, w.arin, w.transfer_id) == Phase.SETTLED
    assert not w.ripe.certified().contains(Resource.parse(BLOCK))


def test_a_cancelled_transfer_changes_nothing_in_rpki(tmp_path: Path) -> None:
    w = make_world(tmp_path, tmp_path / "pub", "rsync://127.0.0.1:1/")
    s_initialize(w)
    s_accept(w)
    before = (w.ripe.certified(), w.arin.certified(), w.ripe.roas(), w.arin.roas())
    interrir.cancel(w.pair.ripe, w.transfer_id, ["test"])
    assert w.step() == Phase.CANCELLED
    assert (w.ripe.certified(), w.arin.certified(), w.ripe.roas(), w.arin.roas()) == before


def test_break_before_make_is_what_the_retention_prevents(tmp_path: Path) -> None:
    """A plain `sync` after finalize (a node that never calls `apply_transfer`) retains the block
    too. Control: releasing it before ARIN certifies anything drops R1's ROA for the block while
    R1 still announces it; and a forgotten retention ends after `RETENTION_LIMIT`."""
    w = make_world(tmp_path, tmp_path / "pub", "rsync://127.0.0.1:1/")
    w.publish()
    assert origin_state((BLOCK, 64500), w.ours()) == "valid"
    for action in (s_initialize, s_accept, s_finalize):
        action(w)
    w.ripe.sync()
    w.publish()
    assert origin_state((BLOCK, 64500), w.ours()) == "valid"
    assert w.ripe.certified("R1").contains(Resource.parse(BLOCK))
    w.ripe.release(w.transfer_id)  # too early: break before make
    w.publish()
    assert origin_state((BLOCK, 64500), w.ours()) == "not-found"
    assert w.ripe.certified() == authority_resources(w.pair.ripe)


def test_a_forgotten_retention_ends(tmp_path: Path) -> None:
    w = make_world(tmp_path, tmp_path / "pub", "rsync://127.0.0.1:1/")
    for action in (s_initialize, s_accept, s_finalize):
        action(w)
    w.ripe.sync()
    assert w.ripe.certified().contains(Resource.parse(BLOCK))
    w.ripe._clock = lambda: datetime.now(UTC).replace(microsecond=0) + RETENTION_LIMIT * 2
    w.ripe.sync()
    assert w.ripe.certified() == authority_resources(w.pair.ripe)


# --- with rpki-client and FORT -----------------------------------------------------------------


def run_rpki_client_tals(tals: list[Path], workdir: Path, markers: tuple[str, ...]) -> Verdict:
    """rpki-client 8.2 with several TALs (rpkijudges.run_rpki_client takes one)."""
    cache, out = workdir / "cache", workdir / "out"
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    args: list[str] = []
    for tal in tals:
        local = workdir / tal.name
        shutil.copy(tal, local)
        args += ["-t", str(local)]
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "_rpki-client", str(workdir)], check=True)
    proc = subprocess.run(
        ["rpki-client", "-v", *args, "-d", str(cache), "-j", "-s", "60", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    vrps: set[VrpT] = set()
    if (out / "json").exists():
        data = json.loads((out / "json").read_text())
        vrps = {(int(r["asn"]), r["prefix"], int(r["maxLength"])) for r in data["roas"]}
    progress = ("pulling from", "loaded from", "all files parsed", "generating output", "sync")
    complaints = [
        line
        for line in proc.stderr.splitlines()
        if any(m in line for m in markers) and not any(p in line.lower() for p in progress)
    ]
    return Verdict("rpki-client", vrps, complaints, proc.stderr, proc.returncode)


@needs_judges
def test_transfer_is_make_before_break_for_rpki_client_and_fort(tmp_path: Path) -> None:
    with world_dir("onereg-transfer-") as base:
        port = free_port()
        rsync_base = f"rsync://127.0.0.1:{port}/"
        markers = (rsync_base, "ripencc", "arin", ".roa", ".mft", ".crl", ".cer")
        tal_dir = base / "tals-only"
        with KeyPool(target=24, workers=1) as pool:
            w = make_world(tmp_path, base / "pub", rsync_base, pool)

            def judge(world: World, label: str) -> list[Verdict]:
                tal_dir.mkdir(exist_ok=True)
                for tal in world.tals:
                    shutil.copy(tal, tal_dir / tal.name)
                return [
                    run_rpki_client_tals(world.tals, base / "rpki-client", markers),
                    run_fort(tal_dir, base / "fort", markers),
                ]

            with rsync_daemon(w.publisher.rsync_dir, base / "rsyncd", port):
                log = _run(w, judge)
        print("\n".join(log))
