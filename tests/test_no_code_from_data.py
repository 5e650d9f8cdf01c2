"""No code from data: the audit cache cannot execute anything, and nothing onereg creates is
open to other users whatever the umask.

Before the fix the audit view was cached as a pickle that was unpickled before its tag was
checked, so a file planted in `cache/` ran code as the user running `onereg audit`; and under
umask 000 the cache folder (and the data folders) were created 0777.
"""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import orjson

from onereg.audit.view import load_view
from onereg.core.registries import RegistryId
from onereg.federation.importer import import_delegated_file
from onereg.federation.layout import DataDir
from onereg.federation.mirror import PeerMirrors
from onereg.federation.node_config import NodeConfig, init_node
from onereg.ledger.policy import Policy
from onereg.rpki.ca import RegistryCa, RepositoryUris


class _Planted:
    """A pickle that, if ever loaded, creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


def _delegated(directory: Path, holder: str) -> Path:
    lines = [
        f"afrinic|ZA|ipv4|41.0.0.0|1024|20100101|allocated|{holder}",
        f"afrinic|ZA|ipv6|2c0f:f000::|32|20100101|allocated|{holder}",
        f"afrinic|ZA|asn|36864|2|20100101|assigned|{holder}",
    ]
    path = directory / holder / "delegated-afrinic-extended-latest"
    path.parent.mkdir(parents=True)
    head = f"2.3|afrinic|20200101|{len(lines)}|19700101|20200101|+0000"
    path.write_text("\n".join([head, *lines]) + "\n")
    return path


def _holders(data: DataDir) -> set[str | None]:
    fams = load_view(data).rirs[RegistryId.AFRINIC].families
    return {h for fam in fams.values() for h in fam.holders}


def test_a_planted_pickle_is_never_executed(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    import_delegated_file(data, _delegated(tmp_path, "H1"), None)
    cache = tmp_path / "data" / "cache"
    cache.mkdir(mode=0o700)
    marker = tmp_path / "pwned"
    for name in ("afrinic.audit.pickle", "afrinic.audit.json"):  # the old name and the new
        (cache / name).write_bytes(pickle.dumps(_Planted(marker)) * 2)
    assert _holders(data) == {"H1"}  # read from SQLite, the planted file ignored
    assert _holders(data) == {"H1"}  # and again, now from our own cache
    assert not marker.exists()
    body = (cache / "afrinic.audit.json").read_bytes()
    assert b"H1" in body and orjson.loads(body.partition(b"\n")[0])["mac"]


def test_a_stale_or_forged_cache_is_ignored(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    import_delegated_file(data, _delegated(tmp_path, "H1"), None)
    assert _holders(data) == {"H1"}
    cache = tmp_path / "data" / "cache" / "afrinic.audit.json"
    written = cache.read_bytes()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    # forged: the content changed under the same header (and MAC) is ignored
    cache.write_bytes(written.replace(b'"H1"', b'"EVIL"'))
    assert _holders(data) == {"H1"}
    # forged: a MAC made with a key that is not this user's is ignored too
    header, _, body = written.partition(b"\n")
    doc = orjson.loads(header)
    doc["mac"] = "00" * 32
    cache.write_bytes(orjson.dumps(doc) + b"\n" + body.replace(b'"H1"', b'"EVIL"'))
    assert _holders(data) == {"H1"}
    # stale: after the node moves, the cache of the old head is not used
    import_delegated_file(data, _delegated(tmp_path, "H2"), None)
    assert _holders(data) == {"H2"}
    # a cache folder others can write is not trusted at all
    cache.write_bytes(written.replace(b'"H1"', b'"EVIL"'))
    os.chmod(cache.parent, 0o777)
    assert _holders(data) == {"H2"}


def test_every_folder_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        data = DataDir(tmp_path / "data")
        import_delegated_file(data, _delegated(tmp_path / "src", "H1"), None)
        load_view(data)  # the audit cache
        config = init_node(
            NodeConfig(
                RegistryId.AFRINIC, tmp_path / "node" / "afrinic", tmp_path / "f.json", "h:1", "x"
            )
        )
        PeerMirrors(config.node_dir.mirrors, [], Policy((), (), (), "none"))._save()
        with data.open_for_write(RegistryId.AFRINIC) as node:
            RegistryCa.open(node, config.node_dir.rpki_ca, RepositoryUris("rsync://h/")).close()
    finally:
        os.umask(old)
    made = [p for p in (tmp_path / "data").rglob("*") if p.is_dir()]
    made += [tmp_path / "data", tmp_path / "node"]
    made += [p for p in (tmp_path / "node").rglob("*") if p.is_dir()]
    names = {p.relative_to(tmp_path).as_posix() for p in made}
    for expected in ("data/cache", "data/nodes/afrinic", "node/afrinic/keys",
                     "node/afrinic/mirrors", "node/afrinic/rpki/ca/keys"):  # fmt: skip
        assert expected in names
    loose = {p.relative_to(tmp_path).as_posix(): oct(stat.S_IMODE(p.stat().st_mode)) for p in made}
    assert {k: v for k, v in loose.items() if v != "0o700"} == {}
    files = [p for p in tmp_path.rglob("*") if p.is_file() and "src" not in p.parts]
    assert [p for p in files if stat.S_IMODE(p.stat().st_mode) & 0o002] == []
