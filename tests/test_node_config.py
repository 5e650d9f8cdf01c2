"""A node's config and the federation file: created right, read back the same, and every
mistake named by file, field and value."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from onereg.core.registries import RegistryId
from onereg.federation.config import FederationFileError, read_federation, write_config
from onereg.federation.node_config import (
    ConfigError,
    Limits,
    NodeConfig,
    Timers,
    config_toml,
    init_node,
    load_config,
)


def _config(tmp_path: Path) -> NodeConfig:
    return NodeConfig(
        RegistryId.LACNIC,
        tmp_path / "node",
        tmp_path / "federation.json",
        "198.18.0.5:8080",
        "https://rdap.example.net",
        whois="198.18.0.5:43",
        timers=Timers(publish=2.0),
        limits=Limits(whois_per_client=3, query_deadline=2.5),
    )


def test_init_makes_a_private_directory_and_reads_back_the_same(tmp_path: Path) -> None:
    made = init_node(_config(tmp_path))
    nd = made.node_dir
    assert stat.S_IMODE(nd.root.stat().st_mode) == 0o700
    for private in (nd.log_key, nd.node_key, nd.db_path, nd.config_path):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    assert load_config(nd.config_path) == made
    description = made.describe()
    assert description.registry == "lacnic" and description.url == "https://rdap.example.net"
    assert description.log_vkey != description.witness_vkey  # two keys, two jobs
    with pytest.raises(ConfigError, match="already a node"):
        init_node(_config(tmp_path))  # never a new identity by accident


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (('registry = "lacnic"', 'registry = "lacnik"'), "registry: unknown registry 'lacnik'"),
        (('http = "198.18.0.5:8080"', 'http = "198.18.0.5"'), "[listen] http: expected host:port"),
        (('url = "https://rdap.example.net"', 'url = "rdap"'), "[public] url"),
        (("publish = 2.0", "publish = -1"), "[timers] publish: expected seconds > 0, got -1"),
        (("publish = 2.0", "publsh = 2.0"), "[timers] publsh: unknown timer"),
        (("keys = []", 'keys = ["zz"]'), "[operators] keys"),
        (("whois_per_client = 3", "whois_per_client = 0"), "[limits] whois_per_client: expected"),
        (("whois_per_client = 3", "whois_per_client = 2.5"), "expected a whole number, got 2.5"),
        (("max_body = ", "max_bodyy = "), "[limits] max_bodyy: unknown limit"),
        (("[federation]\nfile", "[federation]\nfiles"), "[federation] file: a path is required"),
        (("registry =", "registry ="), ""),  # unchanged: the control case loads
    ],
)
def test_every_mistake_in_a_config_is_named(
    tmp_path: Path, change: tuple[str, str], named: str
) -> None:
    text = config_toml(_config(tmp_path))
    assert change[0] in text
    path = tmp_path / "node.toml"
    path.write_text(text.replace(*change, 1))
    if not named:
        assert load_config(path).registry is RegistryId.LACNIC
        return
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and named in str(caught.value)


def test_the_federation_file_is_checked_when_read(tmp_path: Path) -> None:
    nodes = [init_node(_config(tmp_path)).describe()]
    path = write_config(tmp_path, nodes, quorum=1)
    assert read_federation(path).node("lacnic") == nodes[0]
    assert (tmp_path / "policy.txt").read_text().count("witness lacnic") == 1
    document = json.loads(path.read_text())
    document["nodes"][0]["log_vkey"] = "garbage"
    path.write_text(json.dumps(document))
    with pytest.raises(FederationFileError, match=f"{path}: bad node description"):
        read_federation(path)
    good = json.loads(write_config(tmp_path / "again", nodes).read_text())["nodes"][0]
    document["nodes"] = [good, good]
    path.write_text(json.dumps(document))
    with pytest.raises(FederationFileError, match="described twice"):
        read_federation(path)
    with pytest.raises(FederationFileError, match="no federation file"):
        read_federation(tmp_path / "missing.json")


def test_the_explorers_route_table_and_vrp_file_are_read_back_and_checked(
    tmp_path: Path, shared_data: Path
) -> None:
    table = shared_data / "bgp" / "pyasn-data" / "ipasn_20140513.dat.gz"
    vrps = shared_data / "rpki" / "vrp-exports" / "lacnic-roa-prefixes.csv"
    config = replace(_config(tmp_path), route_table=table, vrps_file=vrps)
    path = tmp_path / "node.toml"
    path.write_text(config_toml(config))
    loaded = load_config(path)
    assert (loaded.route_table, loaded.vrps_file) == (table, vrps)
    for wrong, named in (
        (f'route_table = "{table}"', "[explorer] route_table: no such file"),
        ("vrps = ", "[explorer] vrp: unknown setting"),
    ):
        path.write_text(
            config_toml(config).replace(
                wrong, wrong.replace(".dat.gz", ".dat.gz.missing").replace("vrps", "vrp")
            )
        )
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert str(path) in str(caught.value) and named in str(caught.value)
    assert "[explorer]" not in config_toml(_config(tmp_path))  # none unless given
