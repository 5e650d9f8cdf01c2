"""Our relying party fetching over rsync and RRDP, judged against rpki-client, FORT and OctoRPKI.

A small RIPE NCC CA is issued and published with the project's own code (as in test_rpki_ca.py)
and served on loopback by rsyncd and by an https server with a private CA.  `fetch_and_validate`
must produce exactly the VRPs the three judges produce from the same repository, follow a
re-publication through an RRDP delta (not a new snapshot), refuse a snapshot or delta whose hash
is not the notification's, and judge as of the given time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from onereg.core.registries import RegistryId
from onereg.registry import events as ev
from onereg.registry.node import RegistryNode
from onereg.rpki import der
from onereg.rpki.ca import RegistryCa, RepositoryUris
from onereg.rpki.fetch import (
    Fetcher,
    FetchError,
    fetch_and_validate,
    mirror_path,
    parse_notification,
    rsync_module,
)
from onereg.rpki.keypool import KeyPool
from onereg.rpki.objects import RoaPrefix
from onereg.rpki.publish import Publisher, publish_cas
from onereg.rpki.validate import ValidationResult, validate
from rpkijudges import (
    Verdict,
    free_port,
    https_server,
    make_tls,
    missing_judges,
    rsync_daemon,
    run_fort,
    run_octorpki,
    run_rpki_client,
    world_dir,
)
from test_rpki_ca import _row

MISSING = missing_judges()
needs_judges = pytest.mark.skipif(
    bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (apt-get install them)"
)


Vrp = tuple[int, str, int]


def build_node(path: Path) -> RegistryNode:
    # The workspace is shared with relying parties that run as other users: made here with the
    # usual mode, not 0700 as a node makes the folders it creates for itself.
    path.parent.mkdir(parents=True, exist_ok=True)
    node = RegistryNode.open(RegistryId.RIPENCC, path)
    node.append(
        [(ev.HOLDER_REGISTERED, {"handle": h, "name": "", "cc": "NL"}) for h in ("R1", "R2")]
    )
    for payload in (
        _row("ipv4", "193.0.0.0", 65536, "R1", "allocated"),
        _row("ipv6", "2001:db8::", 32, "R1", "allocated"),
        _row("ipv4", "195.0.0.0", 1536, "R2", "allocated"),
        _row("asn", "3333", 1, "R2", "assigned"),
    ):
        node.add_delegation(payload)
    return node


ROAS: list[tuple[str, int, list[str]]] = [
    ("R1", 3333, ["193.0.0.0/21-24", "2001:db8::/32-48"]),
    ("R1", 64496, ["193.0.8.0/24"]),
    ("R2", 3333, ["195.0.0.0/24", "195.0.4.0/23-24"]),
]


def expected(roas: list[tuple[str, int, list[str]]]) -> set[Vrp]:
    out = set()
    for _, asn, prefixes in roas:
        for text in prefixes:
            p = RoaPrefix.parse(text)
            out.add((asn, text.partition("-")[0], p.max_length))
    return out


def ours(result: ValidationResult) -> set[Vrp]:
    return {(v.asn, v.prefix, v.max_length) for v in result.vrps}


def markers(base: str) -> tuple[str, ...]:
    return (base, "127.0.0.1", "localhost", "ripencc", ".roa", ".mft", ".crl", ".cer")


def assert_judge(verdict: Verdict, want: set[Vrp]) -> None:
    assert verdict.vrps == want, f"{verdict.judge} VRPs differ\n{verdict.log[-4000:]}"
    assert verdict.complaints == [], f"{verdict.judge} complained\n{verdict.log[-4000:]}"


class Lab:
    """A CA with ROAS issued, published through a Publisher with rsync and RRDP URIs."""

    def __init__(self, base: Path, rrdp: bool, keys: KeyPool) -> None:
        self.rsync_port, self.https_port = free_port(), free_port()
        self.rsync_base = f"rsync://127.0.0.1:{self.rsync_port}/"
        self.https_base = f"https://localhost:{self.https_port}/"
        self.node = build_node(base / "ripencc.sqlite")
        self.publisher = Publisher(base / "pub", self.rsync_base, self.https_base)
        uris = (
            RepositoryUris(self.rsync_base, self.publisher.notification_uri, self.https_base)
            if rrdp
            else RepositoryUris(self.rsync_base)
        )
        self.ca = RegistryCa.open(self.node, base / "ca", uris, keys=keys)
        for handle in ("R1", "R2"):
            self.ca.enroll(handle)
        for handle, asn, prefixes in ROAS:
            self.ca.add_roa(handle, asn, [RoaPrefix.parse(p) for p in prefixes])
        self.first = publish_cas(self.publisher, [self.ca])
        self.tal = base / "pub" / "tals" / "ripencc.tal"

    def close(self) -> None:
        self.ca.close()
        self.node.close()


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    with world_dir() as path:
        yield path


@pytest.fixture(scope="module")
def keys() -> Iterator[KeyPool]:
    with KeyPool(target=16, workers=2) as pool:
        yield pool


# --- no judges needed ----------------------------------------------------------------------------


def test_uri_helpers() -> None:
    root = Path("/cache")
    assert mirror_path(root, "rsync://127.0.0.1:873/repo/a/b.roa") == Path(
        "/cache/127.0.0.1:873/repo/a/b.roa"
    )
    for bad in ("rsync://h/../x", "rsync://h//x", "http://h/x", "rsync://h/a b"):
        with pytest.raises(FetchError):
            mirror_path(root, bad)
    assert rsync_module("rsync://h:1/repo/ripencc/ta/") == "rsync://h:1/repo/"
    with pytest.raises(FetchError):
        rsync_module("rsync://h/")


def test_notification_checks() -> None:
    ns = 'xmlns="http://www.ripe.net/rpki/rrdp" version="1"'
    session = "9df4b597-af9e-4dca-bdda-719cce2c4e28"
    good = (
        f'<notification {ns} session_id="{session}" serial="3">'
        f'<snapshot uri="https://h/s.xml" hash="{"a" * 64}"/>'
        f'<delta serial="3" uri="https://h/d3.xml" hash="{"b" * 64}"/></notification>'
    )
    note = parse_notification(good.encode(), "https://h/notification.xml")
    assert (note.session_id, note.serial, list(note.deltas)) == (session, 3, [3])
    refused = {
        "other origin": good.replace("https://h/s.xml", "https://evil/s.xml"),
        "DTD": '<!DOCTYPE x [<!ENTITY a "b">]>' + good,
        "bad hash": good.replace("a" * 64, "zz"),
        "bad session": good.replace(session, "nope"),
        "delta beyond": good.replace('delta serial="3"', 'delta serial="4"'),
    }
    for why, text in refused.items():
        with pytest.raises(FetchError):
            parse_notification(text.encode(), "https://h/notification.xml")
        assert why


def test_rrdp_refuses_bad_hashes_and_judges_as_of(workspace: Path, keys: KeyPool) -> None:
    """A corrupted snapshot is refused with a reason; a corrupted delta falls back to the
    snapshot; `as_of` moves the validation time. No rsync daemon: rsync fallback fails."""
    base = workspace / "bad-hashes"
    lab = Lab(base, rrdp=True, keys=keys)
    tls = make_tls(base / "tls")
    session, serial = lab.first.session_id, lab.first.serial
    snapshot = lab.publisher.rrdp_dir / session / str(serial) / "snapshot.xml"
    good = snapshot.read_bytes()
    with https_server(lab.publisher.http_file, tls, lab.https_port):
        snapshot.write_bytes(good.replace(b"</snapshot>", b"<!-- x --></snapshot>"))
        cache = base / "cache"
        result = fetch_and_validate([lab.tal], cache, ca_bundle=tls.ca_file)
        assert result.vrps == ()
        reasons = [str(r) for r in result.rejections]
        assert any("does not match its notification hash" in r for r in reasons), reasons
        assert result.counts["rrdp_snapshots"] == 0 and result.counts["fetch_failures"] >= 1
        snapshot.write_bytes(good)

        result = fetch_and_validate([lab.tal], cache, ca_bundle=tls.ca_file)
        assert ours(result) == expected(ROAS)
        assert result.counts["rrdp_snapshots"] == 1 and result.counts["fetch_failures"] == 0

        # as_of: tomorrow + 1 h every manifest and CRL is stale; before the CA existed, nothing.
        now = datetime.now(UTC)
        tomorrow = now + timedelta(days=1, hours=1)
        later = fetch_and_validate([lab.tal], cache, tomorrow, "rrdp", tls.ca_file)
        assert later.vrps == () and later.counts["rrdp_unchanged"] == 1
        assert any("stale" in r.reason for r in later.rejections)
        earlier = fetch_and_validate([lab.tal], cache, now - timedelta(days=2), "rrdp", tls.ca_file)
        assert earlier.vrps == ()
        assert any("not valid before" in r.reason for r in earlier.rejections)
        with pytest.raises(ValueError, match="timezone-aware"):
            fetch_and_validate([lab.tal], cache, datetime(2026, 1, 1), "rrdp", tls.ca_file)

        # A delta whose content is not what the notification hashes: refused, snapshot used.
        lab.ca.add_roa("R2", 3333, [RoaPrefix.parse("195.0.2.0/24")])
        second = publish_cas(lab.publisher, [lab.ca])
        delta = lab.publisher.rrdp_dir / session / str(second.serial) / "delta.xml"
        delta.write_bytes(delta.read_bytes() + b"\n")
        result = fetch_and_validate([lab.tal], cache, ca_bundle=tls.ca_file)
        assert ours(result) == expected([*ROAS, ("R2", 3333, ["195.0.2.0/24"])])
        assert result.counts["rrdp_snapshots"] == 1 and result.counts["rrdp_deltas"] == 0
        assert any("deltas refused" in r.reason for r in result.rejections)
    lab.close()


def test_rrdp_delta_must_match_the_mirror(workspace: Path, keys: KeyPool) -> None:
    """A delta that replaces a file with another hash than the mirror's is refused as a whole."""
    base = workspace / "delta-mirror"
    lab = Lab(base, rrdp=True, keys=keys)
    tls = make_tls(base / "tls")
    with https_server(lab.publisher.http_file, tls, lab.https_port):
        cache = base / "cache"
        with Fetcher(cache, ca_bundle=tls.ca_file) as fetcher:
            root = fetcher.rrdp(lab.publisher.notification_uri)
        assert root is not None
        # Tamper with the local copy of R1's manifest: the next delta replaces it by hash.
        mft = next(root.rglob("h-R1.mft"))
        mft.write_bytes(mft.read_bytes() + b"x")
        lab.ca.add_roa("R1", 64499, [RoaPrefix.parse("193.0.9.0/24")])
        publish_cas(lab.publisher, [lab.ca])
        with Fetcher(cache, ca_bundle=tls.ca_file) as fetcher:
            assert fetcher.rrdp(lab.publisher.notification_uri) == root
        kinds = [e.kind for e in fetcher.events]
        assert kinds == ["failed", "rrdp-snapshot"], fetcher.events
        assert "has another hash" in fetcher.problems[0].reason
    lab.close()


# --- the judges ----------------------------------------------------------------------------------


@needs_judges
def test_rsync_same_vrps_as_the_judges(workspace: Path, keys: KeyPool) -> None:
    base = workspace / "rsync"
    lab = Lab(base, rrdp=False, keys=keys)
    want = expected(ROAS)
    with rsync_daemon(lab.publisher.rsync_dir, base / "rsyncd", lab.rsync_port):
        result = fetch_and_validate([lab.tal], base / "ours", prefer="rsync")
        assert result.rejections == (), [str(r) for r in result.rejections]
        assert ours(result) == want
        assert result.counts["rsync_fetches"] == 2  # the TA certificate, then module "repo"
        judged = markers(lab.rsync_base)
        verdicts = [
            run_rpki_client(lab.tal, base / "rpki-client", judged),
            run_fort(lab.tal, base / "fort", judged),
            run_octorpki(lab.tal, base / "octorpki", judged),
        ]
        for verdict in verdicts:
            assert_judge(verdict, ours(result))
        # A second run on the same cache: rsync brings nothing new, the answer is the same.
        again = fetch_and_validate([lab.tal], base / "ours", prefer="rsync")
        assert ours(again) == want and again.rejections == ()
    lab.close()


@needs_judges
def test_rrdp_same_vrps_as_the_judges_and_delta(workspace: Path, keys: KeyPool) -> None:
    """RRDP only (rsyncd not running); then a new ROA reaches us through a delta."""
    base = workspace / "rrdp"
    lab = Lab(base, rrdp=True, keys=keys)
    tls = make_tls(base / "tls")
    assert lab.tal.read_text().startswith(lab.https_base)
    want = expected(ROAS)
    judged = markers(lab.rsync_base)
    env = {"SSL_CERT_FILE": str(tls.ca_file)}
    cache = base / "ours"
    with https_server(lab.publisher.http_file, tls, lab.https_port):
        result = fetch_and_validate([lab.tal], cache, ca_bundle=tls.ca_file)
        assert result.rejections == (), [str(r) for r in result.rejections]
        assert ours(result) == want
        assert (result.counts["rrdp_snapshots"], result.counts["rsync_fetches"]) == (1, 0)
        verdicts = [
            run_rpki_client(lab.tal, base / "rpki-client", judged, env=env),
            run_fort(lab.tal, base / "fort", judged, [f"--http.ca-path={tls.ca_dir}"]),
            run_octorpki(lab.tal, base / "octorpki", judged, rrdp=True, env=env),
        ]
        for verdict in verdicts:
            assert_judge(verdict, ours(result))

        lab.ca.add_roa("R2", 3333, [RoaPrefix.parse("195.0.2.0/24")])
        second = publish_cas(lab.publisher, [lab.ca])
        assert (second.session_id, second.serial) == (lab.first.session_id, lab.first.serial + 1)
        later = expected([*ROAS, ("R2", 3333, ["195.0.2.0/24"])])
        result = fetch_and_validate([lab.tal], cache, ca_bundle=tls.ca_file)
        assert result.rejections == (), [str(r) for r in result.rejections]
        assert ours(result) == later
        assert (result.counts["rrdp_deltas"], result.counts["rrdp_snapshots"]) == (1, 0)
        rc = run_rpki_client(lab.tal, base / "rpki-client", judged, env=env)
        assert_judge(rc, ours(result))
        fort = run_fort(lab.tal, base / "fort", judged, [f"--http.ca-path={tls.ca_dir}"])
        assert_judge(fort, later)
    lab.close()


# --- the speed-ups keep the answers --------------------------------------------------------------

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "rpki"


def test_fast_decoders_match_asn1crypto(
    workspace: Path, keys: KeyPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wherever the hand-written DER path answers, it gives what the asn1crypto path gives."""
    lab = Lab(workspace / "fast-decode", rrdp=True, keys=keys)
    paths = sorted(lab.publisher.rsync_dir.rglob("*.*"))
    if REAL.is_dir():
        paths += sorted(REAL.rglob("*.roa"))[:40] + sorted(REAL.rglob("*.mft"))[:40]
        paths += sorted(REAL.rglob("*.cer"))[:40]
    decoders = {".cer": der.decode_cert, ".roa": der.decode_roa, ".mft": der.decode_manifest}
    fast_paths = {".cer": der._fast_cert, ".roa": der._fast_roa, ".mft": der._fast_manifest}
    answered = 0
    for path in paths:
        if path.suffix not in decoders:
            continue
        data = path.read_bytes()
        try:
            fast = fast_paths[path.suffix](data)
        except Exception:
            continue  # the fast path gave up: decode_* uses asn1crypto
        answered += 1
        monkeypatch.setattr(der, "FAST_PATH", False)
        assert decoders[path.suffix](data) == fast, path
        monkeypatch.setattr(der, "FAST_PATH", True)
        # a flipped byte anywhere never makes the two paths disagree either
        for at in range(0, len(data), max(1, len(data) // 25)):
            bad = data[:at] + bytes([data[at] ^ 0x41]) + data[at + 1 :]
            try:
                quick = fast_paths[path.suffix](bad)
            except Exception:
                continue
            monkeypatch.setattr(der, "FAST_PATH", False)
            try:
                slow: object = decoders[path.suffix](bad)
            except der.RpkiDecodeError as exc:
                slow = exc
            monkeypatch.setattr(der, "FAST_PATH", True)
            assert slow == quick, (path, at)
    assert answered >= 8
    lab.close()


def test_workers_give_the_same_answer(workspace: Path, keys: KeyPool) -> None:
    base = workspace / "workers"
    lab = Lab(base, rrdp=False, keys=keys)
    mirror = base / "mirror"
    mirror.mkdir()
    (mirror / f"127.0.0.1:{lab.rsync_port}").symlink_to(lab.publisher.rsync_dir)
    roa = next((lab.publisher.rsync_dir / "repo").rglob("*.roa"))
    roa.write_bytes(roa.read_bytes()[:-1] + b"\x00")  # a bad signature, refused alone
    one = validate([lab.tal], mirror, workers=1)
    two = validate([lab.tal], mirror, workers=2)
    assert one.vrps == two.vrps and len(one.vrps) > 0
    assert sorted(map(str, one.rejections)) == sorted(map(str, two.rejections))
    assert any("hash mismatch" in r.reason for r in one.rejections)
    assert one.counts == two.counts
    lab.close()
