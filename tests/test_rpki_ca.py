"""The registry's RPKI CA and publication, judged by the real relying parties on loopback.

A small RIPE NCC node (two holders who opt in, one who does not, a pool block) gets a CA; holders
ask for ROAs; the repository is served by rsyncd (and, in the RRDP test, over https with rsync
switched off) and rpki-client, FORT and OctoRPKI must each produce exactly the VRPs issued, with
no complaint about any of our objects.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from onereg.core.registries import RegistryId
from onereg.registry import events as ev
from onereg.registry.node import RegistryNode
from onereg.rpki.ca import RegistryCa, RepositoryUris, RpkiError, authority_resources
from onereg.rpki.keypool import KeyPool
from onereg.rpki.objects import ResourceSet, RoaPrefix
from onereg.rpki.publish import Publisher, publish_cas
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

MISSING = missing_judges()
needs_judges = pytest.mark.skipif(
    bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (apt-get install them)"
)


def _row(afi: str, start: str, value: int, holder: str | None, status: str) -> ev.Payload:
    return {
        "afi": afi,
        "start": start,
        "value": value,
        "cc": "NL",
        "date": "20100101",
        "status": status,
        "holder": holder,
        "opaque": holder or "",
        "ext": [],
    }


def build_node(path: Path) -> RegistryNode:
    # The workspace is shared with relying parties that run as other users: made here with the
    # usual mode, not 0700 as a node makes the folders it creates for itself.
    path.parent.mkdir(parents=True, exist_ok=True)
    node = RegistryNode.open(RegistryId.RIPENCC, path)
    node.append(
        [(ev.HOLDER_REGISTERED, {"handle": h, "name": "", "cc": "NL"}) for h in ("R1", "R2", "R3")]
    )
    for payload in (
        _row("ipv4", "193.0.0.0", 65536, "R1", "allocated"),
        _row("ipv6", "2001:db8::", 32, "R1", "allocated"),
        _row("ipv4", "195.0.0.0", 1536, "R2", "allocated"),  # not CIDR-aligned: a range
        _row("asn", "3333", 1, "R2", "assigned"),
        _row("ipv4", "198.51.100.0", 256, "R3", "assigned"),  # R3 does not opt in
        _row("ipv4", "194.0.0.0", 65536, None, "available"),  # the registry's pool
    ):
        node.add_delegation(payload)
    return node


ROAS: list[tuple[str, int, list[str]]] = [
    ("R1", 3333, ["193.0.0.0/21-24", "2001:db8::/32-48"]),
    ("R1", 64496, ["193.0.8.0/24"]),
    ("R2", 3333, ["195.0.0.0/24", "195.0.4.0/23-24"]),
]


def expected_vrps(roas: list[tuple[str, int, list[str]]]) -> set[tuple[int, str, int]]:
    out = set()
    for _, asn, prefixes in roas:
        for text in prefixes:
            p = RoaPrefix.parse(text)
            out.add((asn, text.partition("-")[0], p.max_length))
    return out


def issue(ca: RegistryCa, roas: list[tuple[str, int, list[str]]]) -> list[str]:
    for handle in ("R1", "R2"):
        ca.enroll(handle)
    return [ca.add_roa(h, asn, [RoaPrefix.parse(p) for p in ps]) for h, asn, ps in roas]


def markers(base: str) -> tuple[str, ...]:
    return (base, "127.0.0.1", "localhost", "ripencc", ".roa", ".mft", ".crl", ".cer")


def assert_clean(verdict: Verdict, want: set[tuple[int, str, int]]) -> None:
    assert verdict.vrps == want, f"{verdict.judge} VRPs differ\n{verdict.log[-4000:]}"
    assert verdict.complaints == [], f"{verdict.judge} complained\n{verdict.log[-4000:]}"


# --- no judges needed ----------------------------------------------------------------------------


def test_resources_and_refusals(tmp_path: Path) -> None:
    node = build_node(tmp_path / "ripencc.sqlite")
    assert authority_resources(node) == ResourceSet.parse(
        "193.0.0.0/16", "194.0.0.0/16", "195.0.0.0-195.0.5.255", "198.51.100.0/24",
        "2001:db8::/32", "AS3333",
    )  # fmt: skip
    uris = RepositoryUris("rsync://127.0.0.1:1/")
    ca = RegistryCa.open(node, tmp_path / "ca", uris)
    key_file = tmp_path / "ca" / "keys" / "ta.pem"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    with pytest.raises(RpkiError, match="enroll first"):
        ca.add_roa("R1", 3333, [RoaPrefix.parse("193.0.0.0/24")])
    ca.enroll("R1")
    with pytest.raises(RpkiError, match=r"does not hold 195\.0\.0\.0/24"):
        ca.add_roa("R1", 3333, [RoaPrefix.parse("195.0.0.0/24")])
    with pytest.raises(RpkiError, match="no holder"):
        ca.enroll("NOBODY")
    first = ca.add_roa("R1", 3333, [RoaPrefix.parse("193.0.0.0/24")])
    assert ca.add_roa("R1", 3333, [RoaPrefix.parse("193.0.0.0/24")]) == first  # idempotent
    files = ca.publish()
    assert ca.publish() == files  # nothing changed: same manifest, same CRL
    assert ca.numbers() == (1, 1)
    assert ca.remove_roa("R1", first)
    again = ca.publish()
    assert ca.numbers("h-R1") == (2, 2)
    assert f"repo/ripencc/h-R1/{first}" not in again
    ca.close()
    node.close()


def test_rrdp_delta_keeps_the_session(tmp_path: Path) -> None:
    node = build_node(tmp_path / "ripencc.sqlite")
    publisher = Publisher(tmp_path / "pub", "rsync://127.0.0.1:1/", "https://localhost:1/rrdp")
    uris = RepositoryUris("rsync://127.0.0.1:1/", publisher.notification_uri)
    ca = RegistryCa.open(node, tmp_path / "ca", uris)
    ca.enroll("R1")
    one = publish_cas(publisher, [ca])
    assert publish_cas(publisher, [ca]).serial == one.serial  # no change, no new serial
    roa = ca.add_roa("R1", 3333, [RoaPrefix.parse("193.0.0.0/24")])
    two = publish_cas(publisher, [ca])
    assert (two.session_id, two.serial) == (one.session_id, one.serial + 1)
    assert f"repo/ripencc/h-R1/{roa}" in two.published
    notification = publisher.http_file("/notification.xml")
    assert notification is not None
    assert b'<delta serial="2"' in notification[0]
    delta = publisher.http_file(f"/{one.session_id}/2/delta.xml")
    assert delta is not None and roa.encode() in delta[0]
    assert publisher.http_file("/../rrdp-state.json") is None
    assert (tmp_path / "pub" / "tals" / "ripencc.tal").read_text().startswith("rsync://")
    ca.close()
    node.close()


def test_key_pool_hands_out_distinct_keys() -> None:
    with KeyPool(target=4, workers=1, batch=2) as pool:
        keys = [pool() for _ in range(6)]
    numbers = {k.public_key().public_numbers().n for k in keys}
    assert len(numbers) == 6 and all(k.key_size == 2048 for k in keys)


# --- the judges ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    with world_dir() as path:
        yield path


@needs_judges
def test_judges_over_rsync(workspace: Path) -> None:
    base = workspace / "rsync-run"
    port = free_port()
    rsync_base = f"rsync://127.0.0.1:{port}/"
    node = build_node(base / "ripencc.sqlite")
    publisher = Publisher(base / "pub", rsync_base, "https://localhost:1/rrdp")
    with KeyPool(target=16, workers=2) as pool:
        ca = RegistryCa.open(node, base / "ca", RepositoryUris(rsync_base), keys=pool)
        issue(ca, ROAS)
        publish_cas(publisher, [ca])
        tal = base / "pub" / "tals" / "ripencc.tal"
        want = expected_vrps(ROAS)
        ours = markers(rsync_base)
        with rsync_daemon(publisher.rsync_dir, base / "rsyncd", port):
            verdicts = [
                run_rpki_client(tal, base / "rpki-client", ours),
                run_fort(tal, base / "fort", ours),
                run_octorpki(tal, base / "octorpki", ours),
            ]
            for verdict in verdicts:
                assert_clean(verdict, want)
            # A change: R1 withdraws one ROA and adds another; R2's holdings are unchanged.
            removed = ca.roas("R1")[0]
            ca.remove_roa("R1", removed.file)
            later = [r for r in ROAS if not (r[0] == "R1" and r[1] == removed.asn)]
            later.append(("R1", 64497, ["193.0.128.0/17-20"]))
            ca.add_roa("R1", 64497, [RoaPrefix.parse("193.0.128.0/17-20")])
            publish_cas(publisher, [ca])
            assert ca.numbers("h-R1") == (2, 2)
            assert ca.numbers("h-R2") == (1, 1)
            # the same caches again: manifest numbers must have moved on (pitfall 1)
            assert_clean(run_rpki_client(tal, base / "rpki-client", ours), expected_vrps(later))
            assert_clean(run_fort(tal, base / "fort", ours), expected_vrps(later))
            assert_clean(run_octorpki(tal, base / "octorpki", ours), expected_vrps(later))
    ca.close()
    node.close()


@needs_judges
def test_judges_over_rrdp(workspace: Path) -> None:
    """RRDP over https on loopback with a private CA, rsync not running at all."""
    base = workspace / "rrdp-run"
    https_port, rsync_port = free_port(), free_port()
    rsync_base = f"rsync://127.0.0.1:{rsync_port}/"
    https_base = f"https://localhost:{https_port}/"
    tls = make_tls(base / "tls")
    node = build_node(base / "ripencc.sqlite")
    publisher = Publisher(base / "pub", rsync_base, https_base)
    uris = RepositoryUris(rsync_base, publisher.notification_uri, https_base)
    ca = RegistryCa.open(node, base / "ca", uris)
    issue(ca, ROAS)
    first = publish_cas(publisher, [ca])
    tal = base / "pub" / "tals" / "ripencc.tal"
    assert tal.read_text().startswith(https_base)
    want = expected_vrps(ROAS)
    ours = markers(rsync_base)
    cert_env = {"SSL_CERT_FILE": str(tls.ca_file)}
    with https_server(publisher.http_file, tls, https_port):
        rc = run_rpki_client(tal, base / "rpki-client", ours, env=cert_env)
        assert_clean(rc, want)
        assert "snapshot" in rc.log.lower()
        fort = run_fort(tal, base / "fort", ours, [f"--http.ca-path={tls.ca_dir}"])
        assert_clean(fort, want)
        assert_clean(run_octorpki(tal, base / "octorpki", ours, rrdp=True, env=cert_env), want)
        # Re-publication is a delta in the same session, and rpki-client follows it.
        ca.add_roa("R2", 3333, [RoaPrefix.parse("195.0.2.0/24")])
        second = publish_cas(publisher, [ca])
        assert (second.session_id, second.serial) == (first.session_id, first.serial + 1)
        later = [*ROAS, ("R2", 3333, ["195.0.2.0/24"])]
        rc = run_rpki_client(tal, base / "rpki-client", ours, env=cert_env)
        assert_clean(rc, expected_vrps(later))
        assert "delta" in rc.log.lower()
    ca.close()
    node.close()
