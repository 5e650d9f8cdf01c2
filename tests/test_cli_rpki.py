"""`onereg rpki`: a holder's ROA issued through the CLI, published, and validated by our relying
party from the published tree (the same tree rsyncd serves; the judges' runs are in
test_rpki_ca.py and test_rpki_fetch.py)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from localfed import ONEREG, LocalFederation


def _run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ONEREG, "--data-dir", str(data), *args], capture_output=True, text=True, timeout=300
    )


def _roa_add(
    data: Path, registry: str, holder: str, asn: str, *rest: str
) -> subprocess.CompletedProcess[str]:
    return _run(
        data, "rpki", "roa", "add", "--registry", registry, "--holder", holder, "--asn", asn, *rest
    )


def _mirror(root: Path, where: Path) -> Path:
    """A mirror directory for `--repo`: the published rsync tree under its URI's host name."""
    mirror = where / "mirror"
    mirror.mkdir()
    (mirror / "127.0.0.1:8873").symlink_to(root / "rpki" / "pub" / "rsync")
    return mirror


def test_a_roa_issued_by_the_cli_validates(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path / "data", {"ripencc": [("ipv4", "193.0.0.0", 65536, "R1")]})
    data = fed.root
    added = _roa_add(data, "ripencc", "R1", "3333", "193.0.0.0/21-24")
    assert added.returncode == 0, added.stderr
    outside = _roa_add(data, "ripencc", "R1", "3333", "194.0.0.0/24")
    assert outside.returncode != 0 and "194.0.0.0/24" in outside.stderr
    listed = _run(data, "rpki", "roa", "list", "--registry", "ripencc")
    assert "193.0.0.0/21" in listed.stdout and "3333" in listed.stdout
    mirror = _mirror(data, tmp_path)
    out = tmp_path / "vrps.json"
    done = _run(
        data,
        "rpki",
        "validate",
        "--tal",
        str(data / "rpki/pub/tals/ripencc.tal"),
        "--repo",
        str(mirror),
        "--json",
        str(out),
        "--csv",
        str(tmp_path / "v.csv"),
    )
    assert done.returncode == 0, done.stderr
    roas = json.loads(out.read_text())["roas"]
    assert [(r["asn"], r["prefix"], r["maxLength"]) for r in roas] == [(3333, "193.0.0.0/21", 24)]
    assert "AS3333,193.0.0.0/21,24,ripencc" in (tmp_path / "v.csv").read_text()
    [roa_file] = [p for p in (data / "rpki/pub/rsync").rglob("*.roa")]
    shown = _run(data, "rpki", "show", str(roa_file))
    assert shown.returncode == 0 and "3333" in shown.stdout and "193.0.0.0/21" in shown.stdout


def test_the_node_serves_the_rrdp_files(tmp_path: Path) -> None:
    import re

    import httpx

    fed = LocalFederation(tmp_path / "data", {"ripencc": [("ipv4", "193.0.0.0", 65536, "R1")]})
    added = _roa_add(fed.root, "ripencc", "R1", "3333", "193.0.0.0/24")
    assert added.returncode == 0, added.stderr
    fed.start("ripencc")
    try:
        base = fed.urls["ripencc"] + "/rrdp/"
        note = httpx.get(base + "notification.xml", timeout=10)
        assert note.status_code == 200 and "<notification" in note.text
        [snapshot] = re.findall(r'<snapshot uri="[^"]*/rrdp/([^"]+)"', note.text)
        snap = httpx.get(base + snapshot, timeout=10)
        assert snap.status_code == 200 and "<publish" in snap.text and ".roa" in snap.text
        assert httpx.get(base + "../../etc/passwd", timeout=10).status_code == 404
    finally:
        fed.stop()


def test_a_change_at_one_registry_leaves_the_others_published(tmp_path: Path) -> None:
    fed = LocalFederation(
        tmp_path / "data",
        {
            "ripencc": [("ipv4", "193.0.0.0", 65536, "R1")],
            "arin": [("ipv4", "23.0.0.0", 256, "A1")],
        },
    )
    for registry, holder, prefix in (
        ("arin", "A1", "23.0.0.0/24"),
        ("ripencc", "R1", "193.0.0.0/24"),
    ):
        added = _roa_add(fed.root, registry, holder, "64500", prefix)
        assert added.returncode == 0, added.stderr
    published = {p.name for p in (fed.root / "rpki/pub/rsync").rglob("*.roa")}
    assert len(published) == 2  # ARIN's ROA survived RIPE NCC's publication
    assert (fed.root / "rpki/pub/rsync/ta/arin.cer").exists()


def test_holders_ask_the_node_for_roas_with_signed_requests(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    import httpx
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from onereg.rpki.requests import RoaRequest

    fed = LocalFederation(tmp_path / "data", {"ripencc": [("ipv4", "193.0.0.0", 65536, "R1")]})
    fed.start("ripencc")
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = fed.urls["ripencc"] + "/rpki/roas"
    key = fed.keys[("ripencc", "R1")]
    try:
        ask = RoaRequest("ripencc", "R1", "add", 3333, ("193.0.0.0/22-24",), "", expires)
        reply = httpx.post(url, json=ask.sign(key), timeout=60)
        assert reply.status_code == 200, reply.text
        file = reply.json()["file"]
        listed = httpx.get(url, params={"holder": "R1"}, timeout=30).json()
        assert [(r["asn"], r["prefixes"]) for r in listed] == [(3333, ["193.0.0.0/22-24"])]
        forged = httpx.post(url, json=ask.sign(Ed25519PrivateKey.generate()), timeout=30)
        assert forged.status_code == 403 and "does not verify" in forged.text
        outside = RoaRequest("ripencc", "R1", "add", 3333, ("194.0.0.0/24",), "", expires)
        refused = httpx.post(url, json=outside.sign(key), timeout=30)
        assert refused.status_code in (400, 422) and "194.0.0.0" in refused.text
        expired = RoaRequest(
            "ripencc", "R1", "add", 1, ("193.0.0.0/24",), "", "2020-01-01T00:00:00Z"
        )
        assert httpx.post(url, json=expired.sign(key), timeout=30).status_code == 400
        captured = ask.sign(key)  # what someone on the path saw of the first request
        assert httpx.post(url, json=captured, timeout=60).status_code == 409  # at once
        gone = RoaRequest("ripencc", "R1", "remove", 3333, (), file, expires)
        assert httpx.post(url, json=gone.sign(key), timeout=60).status_code == 200
        assert httpx.get(url, timeout=30).json() == []
        # replayed after the holder removed the ROA: refused, and the ROA stays gone
        replayed = httpx.post(url, json=captured, timeout=60)
        assert replayed.status_code == 409 and "replayed" in replayed.text
        assert httpx.get(url, timeout=30).json() == []
        assert not list((fed.root / "rpki/pub/rsync").rglob("*.roa"))
        far = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        lasting = RoaRequest("ripencc", "R1", "add", 3333, ("193.0.0.0/24",), "", far)
        too_long = httpx.post(url, json=lasting.sign(key), timeout=30)
        assert too_long.status_code == 400 and "ahead" in too_long.text
    finally:
        fed.stop()


def test_publish_follows_an_inter_registry_transfer(tmp_path: Path) -> None:
    import httpx

    from onereg.core.registries import RegistryId
    from onereg.core.resources import Resource
    from onereg.rpki.ca import RegistryCa, RepositoryUris

    fed = LocalFederation(
        tmp_path / "data",
        {
            "ripencc": [("ipv4", "193.0.0.0", 65536, "R1")],
            "arin": [("ipv4", "23.0.0.0", 256, "A1")],
        },
    )
    added = _roa_add(fed.root, "ripencc", "R1", "64500", "193.0.1.0/24")
    assert added.returncode == 0, added.stderr
    assert _run(fed.root, "rpki", "publish").returncode == 0
    fed.start("ripencc")
    fed.start("arin")
    try:
        signed = fed.agreement("193.0.1.0/24", ("ripencc", "R1"), ("arin", "A1"))
        with httpx.Client() as client:
            assert fed.submit(client, signed).json()["state"] == "sourceFinalized"
            # ARIN registers it once its mirror of RIPE NCC's log shows the finalization
            state = f"{fed.urls['arin']}/transfers/{signed.agreement.nonce}"
            deadline = time.monotonic() + 30
            while client.get(state).json().get("state") != "sourceFinalized":
                assert time.monotonic() < deadline, "ARIN never registered the block"
                time.sleep(0.1)
    finally:
        fed.stop()
    done = _run(fed.root, "rpki", "publish")
    assert done.returncode == 0, done.stderr
    block = Resource.parse("193.0.1.0/24")
    uris = RepositoryUris("rsync://127.0.0.1:8873/", "https://127.0.0.1:8443/rrdp/notification.xml")
    for registry in ("arin", "ripencc"):  # make-before-break: both certify it for now
        with fed.data.open(RegistryId(registry), create=False) as node:
            ca = RegistryCa.open(node, fed.root / "nodes" / registry / "rpki/ca", uris)
            try:
                assert ca.certified().contains(block), registry
            finally:
                ca.close()
    mirror = _mirror(fed.root, tmp_path)
    tals = [str(fed.root / f"rpki/pub/tals/{r}.tal") for r in ("ripencc", "arin")]
    out = tmp_path / "vrps.csv"
    checked = _run(
        fed.root,
        "rpki",
        "validate",
        "--tal",
        tals[0],
        "--tal",
        tals[1],
        "--repo",
        str(mirror),
        "--csv",
        str(out),
    )
    assert checked.returncode == 0, checked.stderr
    assert "AS64500,193.0.1.0/24,24,ripencc" in out.read_text()  # the old ROA still valid


def test_validate_fetches_over_rsync_into_its_cache() -> None:
    import os

    from rpkijudges import free_port, rsync_daemon, world_dir

    with world_dir() as world:
        fed = LocalFederation(world / "data", {"ripencc": [("ipv4", "193.0.0.0", 65536, "R1")]})
        port = free_port()
        base = f"rsync://127.0.0.1:{port}/"
        added = _roa_add(fed.root, "ripencc", "R1", "3333", "--rsync-base", base, "193.0.0.0/24")
        assert added.returncode == 0, added.stderr
        pub = fed.root / "rpki/pub/rsync"
        for path in [fed.root, *fed.root.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        with rsync_daemon(pub, world / "rsyncd", port):
            cache = world / "cache"
            done = _run(
                fed.root,
                "rpki",
                "validate",
                "--tal",
                str(fed.root / "rpki/pub/tals/ripencc.tal"),
                "--cache",
                str(cache),
                "--prefer",
                "rsync",
                "--csv",
                str(world / "v.csv"),
            )
        assert done.returncode == 0, done.stderr
        assert "AS3333,193.0.0.0/24,24,ripencc" in (world / "v.csv").read_text()
        assert "rsync_fetches" in done.stdout
