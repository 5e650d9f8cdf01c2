"""Resource Signed Checklists (RFC 9323): a holder's CA signs the digests of some files with part
of its resources (hosted model, one-time EE key); our verifier and rpki-client's file mode
(`rpki-client -f file.sig` against a cache that a normal run filled) accept it, and refuse it
when a file changed, the EE was revoked, or the resources are not the signer's.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from onereg.registry.node import RegistryNode
from onereg.rpki.ca import RegistryCa, RepositoryUris, RpkiError
from onereg.rpki.der import decode_rsc
from onereg.rpki.objects import ResourceSet
from onereg.rpki.publish import Publisher, publish_cas
from onereg.rpki.rsc import sign_checklist, verify_checklist
from rpkijudges import free_port, missing_judges, rsync_daemon, run_rpki_client, world_dir
from test_rpki_ca import build_node

needs_rpki_client = pytest.mark.skipif(
    bool({"rpki-client", "rsync"} & set(missing_judges())), reason="rpki-client not installed"
)

FILES = {
    "agreement.json": b'{"resource": "193.0.1.0/24", "from": "R1", "to": "A1"}\n',
    "loa.txt": b"R1 authorises AS64501 to originate 193.0.1.0/24.\n",
}


@dataclass
class Setup:
    node: RegistryNode
    ca: RegistryCa
    publisher: Publisher
    mirror: Path

    @property
    def tals(self) -> list[Path]:
        return [self.publisher.root / "tals" / "ripencc.tal"]

    def publish(self) -> None:
        publish_cas(self.publisher, [self.ca])


def make(tmp: Path, pub_root: Path, rsync_base: str) -> Setup:
    node = build_node(tmp / "ripencc.sqlite")
    publisher = Publisher(pub_root, rsync_base, "https://localhost:1/rrdp")
    ca = RegistryCa.open(node, tmp / "ca", RepositoryUris(rsync_base))
    ca.enroll("R1")
    ca.enroll("R2")
    mirror = tmp / "mirror"
    mirror.mkdir()
    host = rsync_base.removeprefix("rsync://").rstrip("/")
    (mirror / host).symlink_to(publisher.rsync_dir, target_is_directory=True)
    setup = Setup(node, ca, publisher, mirror)
    setup.publish()
    return setup


def test_sign_and_verify(tmp_path: Path) -> None:
    s = make(tmp_path, tmp_path / "pub", "rsync://127.0.0.1:1/")
    wanted = ResourceSet.parse("193.0.1.0/24", "2001:db8:1::/48")
    sig = sign_checklist(s.ca, "R1", FILES, wanted)
    decoded = decode_rsc(sig)
    assert decoded.problems == () and decoded.signed.ee.signed_object_uri is None
    assert [n for n, _ in decoded.checklist] == sorted(FILES)
    assert decoded.checklist[0][1] == hashlib.sha256(FILES["agreement.json"]).digest()
    check = verify_checklist(sig, FILES, s.tals, s.mirror)
    assert check.ok, check.problems
    assert check.ta == "ripencc" and check.chain[-1].endswith("ta/ripencc.cer")
    assert check.resources == ["ipv4: 193.0.1.0/24", "ipv6: 2001:db8:1::/48"]
    # a file changed, or one the checklist does not name
    changed = {**FILES, "loa.txt": FILES["loa.txt"] + b"and AS64666\n"}
    assert verify_checklist(sig, changed, s.tals, s.mirror).problems == (
        "loa.txt: digest does not match the checklist",
    )
    extra = verify_checklist(sig, {**FILES, "x.txt": b"x"}, s.tals, s.mirror)
    assert extra.problems == ("x.txt: not on the checklist",)
    # another registry's TAL does not anchor it
    other = tmp_path / "other.tal"
    other.write_text(
        s.ca.tal().splitlines()[0] + "\n\n" + _other_spki() + "\n"
    )  # right URI, wrong key
    assert not verify_checklist(sig, FILES, [other], s.mirror).ok


def _other_spki() -> str:
    from cryptography.hazmat.primitives import serialization

    from onereg.rpki.keypool import generate_key

    der = (
        generate_key()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode()


def test_signing_is_refused_outside_the_holders_resources(tmp_path: Path) -> None:
    s = make(tmp_path, tmp_path / "pub", "rsync://127.0.0.1:1/")
    with pytest.raises(RpkiError, match=r"does not hold 195\.0\.0\.0"):
        sign_checklist(s.ca, "R1", FILES, ResourceSet.parse("195.0.0.0/24"))  # R2's
    with pytest.raises(RpkiError, match="enroll first"):
        sign_checklist(s.ca, "R3", FILES, ResourceSet.parse("198.51.100.0/24"))
    with pytest.raises(RpkiError, match="portable"):
        sign_checklist(s.ca, "R1", {"a b.txt": b""}, ResourceSet.parse("193.0.1.0/24"))


def test_a_revoked_or_shrunk_signer_fails(tmp_path: Path) -> None:
    s = make(tmp_path, tmp_path / "pub", "rsync://127.0.0.1:1/")
    sig = sign_checklist(s.ca, "R2", FILES, ResourceSet.parse("AS3333"))
    assert verify_checklist(sig, FILES, s.tals, s.mirror).ok
    ee = decode_rsc(sig).signed.ee
    s.ca.revoke_ee("R2", ee.serial, ee.not_after)
    s.publish()
    check = verify_checklist(sig, FILES, s.tals, s.mirror)
    assert any("revoked" in p for p in check.problems), check.problems


# --- rpki-client's file mode ---------------------------------------------------------------------


def _rpki_client_file(work: Path, sig: bytes, name: str) -> str:
    path = work / name
    path.write_bytes(sig)
    if os.geteuid() == 0:
        shutil.chown(path, "_rpki-client")
    proc = subprocess.run(
        [
            "rpki-client",
            "-t",
            str(work / "ripencc.tal"),
            "-d",
            str(work / "cache"),
            "-f",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.stdout + proc.stderr


@needs_rpki_client
def test_rpki_client_file_mode_accepts_our_rsc(tmp_path: Path) -> None:
    with world_dir("onereg-rsc-") as base:
        port = free_port()
        rsync_base = f"rsync://127.0.0.1:{port}/"
        s = make(tmp_path, base / "pub", rsync_base)
        good = sign_checklist(s.ca, "R1", FILES, ResourceSet.parse("193.0.1.0/24"))
        revoked = sign_checklist(s.ca, "R2", FILES, ResourceSet.parse("AS3333"))
        ee = decode_rsc(revoked).signed.ee
        s.ca.revoke_ee("R2", ee.serial, ee.not_after)
        s.publish()
        work = base / "rc"
        with rsync_daemon(s.publisher.rsync_dir, base / "rsyncd", port):
            verdict = run_rpki_client(s.tals[0], work, (rsync_base,))  # fills the cache
        assert verdict.complaints == [], verdict.log
        out = _rpki_client_file(work, good, "good.sig")
        assert "Validation: OK" in out, out
        for name, data in FILES.items():
            digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
            assert f"{name}\n\thash {digest}" in out, out
        assert "IP: 193.0.1.0/24" in out
        out = _rpki_client_file(work, revoked, "revoked.sig")
        assert "Validation: OK" not in out and "revoked" in out.lower(), out
        assert not verify_checklist(revoked, FILES, s.tals, s.mirror).ok
