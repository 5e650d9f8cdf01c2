"""The URIs in our certificates are what is actually served (issue 13, point 5): a node that
serves plain HTTP puts no RRDP notification URI in them (RRDP is https only, RFC 8182), so
relying parties go to rsync instead of trying TLS on a plain-HTTP port ("wrong version
number"); a node behind https announces its own /rrdp/; the CLI publishes what the node would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from localfed import ONEREG, LocalFederation
from onereg.core.registries import RegistryId
from onereg.federation.node_config import ConfigError, NodeConfig, config_toml, load_config
from onereg.rpki.der import decode_cert
from rpkijudges import free_port, missing_judges, rsync_daemon, run_rpki_client, world_dir


def _config(tmp_path: Path, public_url: str, rrdp_base: str = "") -> NodeConfig:
    return NodeConfig(
        RegistryId.RIPENCC,
        tmp_path / "node",
        tmp_path / "federation.json",
        "127.0.0.1:8445",
        public_url,
        rrdp_base=rrdp_base,
    )


def test_rrdp_is_announced_only_where_it_is_served_over_https(tmp_path: Path) -> None:
    plain = _config(tmp_path, "http://127.0.0.1:8445")
    assert plain.rrdp_notify is None  # nothing would answer TLS there
    assert plain.rrdp_served == "http://127.0.0.1:8445/rrdp/"  # the node's own /rrdp/
    behind_tls = _config(tmp_path, "https://rdap.example.net/")
    assert behind_tls.rrdp_notify == "https://rdap.example.net/rrdp/notification.xml"
    proxy = _config(tmp_path, "http://10.0.0.1:8445", "https://rrdp.example.net/ripe/")
    assert proxy.rrdp_notify == "https://rrdp.example.net/ripe/notification.xml"
    assert proxy.rrdp_served == "https://rrdp.example.net/ripe/"


def test_a_plain_http_rrdp_base_in_a_config_is_refused_by_name(tmp_path: Path) -> None:
    text = config_toml(_config(tmp_path, "http://127.0.0.1:8445"))
    path = tmp_path / "node.toml"
    path.write_text(text.replace('rrdp_base = ""', 'rrdp_base = "http://127.0.0.1:8445/rrdp/"'))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and "[rpki] rrdp_base" in str(caught.value)
    assert "https only" in str(caught.value)


def _run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ONEREG, "--data-dir", str(data), *args], capture_output=True, text=True, timeout=300
    )


def _roa_add(data: Path, *extra: str) -> None:
    done = _run(
        data, "rpki", "roa", "add", "--registry", "ripencc", "--holder", "R1", "--asn", "3333",
        *extra, "193.0.0.0/24",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_the_cli_publishes_no_rrdp_uri_nobody_serves(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path / "data", {"ripencc": [("ipv4", "193.0.0.0", 65536, "R1")]})
    _roa_add(fed.root)
    rsync = fed.root / "rpki/pub/rsync"
    certificates = [rsync / "ta/ripencc.cer", *rsync.glob("repo/ripencc/*/*.cer")]
    assert len(certificates) == 2  # the TA and R1's CA
    for path in certificates:
        assert decode_cert(path.read_bytes()).notify_uri is None, path
    asked = _run(fed.root, "rpki", "publish", "--rrdp-base", "http://127.0.0.1:1/rrdp/")
    assert asked.returncode != 0 and "https only" in asked.stderr


@pytest.mark.skipif(
    bool({"rpki-client", "rsync"} & set(missing_judges())), reason="rpki-client not installed"
)
def test_rpki_client_fetches_our_repository_without_trying_a_dead_rrdp_uri() -> None:
    with world_dir() as world:
        fed = LocalFederation(world / "data", {"ripencc": [("ipv4", "193.0.0.0", 65536, "R1")]})
        port = free_port()
        base = f"rsync://127.0.0.1:{port}/"
        _roa_add(fed.root, "--rsync-base", base)
        for path in [fed.root, *fed.root.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        with rsync_daemon(fed.root / "rpki/pub/rsync", world / "rsyncd", port):
            verdict = run_rpki_client(
                fed.root / "rpki/pub/tals/ripencc.tal", world / "rc", (f"127.0.0.1:{port}",)
            )
        assert verdict.vrps == {(3333, "193.0.0.0/24", 24)}, verdict.log
        assert "https://" not in verdict.log, verdict.log  # it never tried RRDP
        assert verdict.complaints == [], verdict.log


def test_certificates_from_a_dead_rrdp_uri_are_reissued_once(tmp_path: Path) -> None:
    """A CA whose certificates carry the old default RRDP URI (nobody serves it) re-issues them
    with what is given now, revoking the old ones, and does so only once."""
    from onereg.rpki.ca import RegistryCa, RepositoryUris
    from test_rpki_ca import build_node

    node = build_node(tmp_path / "ripencc.sqlite")
    rsync = "rsync://127.0.0.1:1/"
    dead = RepositoryUris(rsync, "https://127.0.0.1:8443/rrdp/notification.xml")
    with RegistryCa.open(node, tmp_path / "ca", dead) as ca:
        ca.enroll("R1")
        before = {f: d for f, d in ca.publish().items() if f.endswith(".cer")}
    assert all(decode_cert(d).notify_uri == dead.notify for d in before.values())
    with RegistryCa.open(node, tmp_path / "ca", RepositoryUris(rsync)) as ca:
        after = {f: d for f, d in ca.publish().items() if f.endswith(".cer")}
        serials = {f: decode_cert(d).serial for f, d in after.items()}
    assert after.keys() == before.keys() and len(after) == 2  # the TA and R1's CA
    assert all(decode_cert(d).notify_uri is None for d in after.values())
    with RegistryCa.open(node, tmp_path / "ca", RepositoryUris(rsync)) as ca:
        again = {f: d for f, d in ca.publish().items() if f.endswith(".cer")}
    assert {f: decode_cert(d).serial for f, d in again.items()} == serials  # once only
    node.close()
