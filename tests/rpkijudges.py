"""Running the real relying parties (rpki-client, FORT, OctoRPKI) against a repository on loopback.

Recipes from RPKI-JUDGES.md: rsyncd on 127.0.0.1 with a free high port (no root needed for the
port), every RP sandboxed to its own cache and to our TAL only, and the verdict taken from the VRP
output, never from exit codes (rpki-client and OctoRPKI exit 0 even when nothing validates).
The daemons run as other users (rsyncd as nobody, rpki-client drops to _rpki-client, OctoRPKI
refuses root), so the work directory must be traversable by everyone: use `world_dir`.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Vrp = tuple[int, str, int]  # (asn, prefix, maxLength)

JUDGES = {"rpki-client": "rpki-client", "fort": "fort", "octorpki": "octorpki"}

# OctoRPKI 1.4.4 runs "rsync -vrlt rsync://host/module <cache>/host" and expects the module's
# files under <cache>/host/module (RPKI-JUDGES.md pitfall 3): this wrapper fixes the destination.
OCTO_RSYNC_WRAPPER = r"""#!/bin/sh
last=""; prev=""
for a in "$@"; do prev="$last"; last="$a"; done
case "$prev" in
  rsync://*/*/*) exec /usr/bin/rsync "$@" ;;
  rsync://*/*)
     mod="${prev#rsync://*/}"; mod="${mod%/}"
     n=$(($# - 2)); i=0
     args=""
     for a in "$@"; do i=$((i+1)); [ $i -le $n ] && args="$args $a"; done
     mkdir -p "$last/$mod"
     exec /usr/bin/rsync $args "${prev%/}/" "$last/$mod/" ;;
  *) exec /usr/bin/rsync "$@" ;;
esac
"""


def missing_judges() -> list[str]:
    needed = [*JUDGES.values(), "rsync"]
    return [name for name in needed if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def world_dir(prefix: str = "onereg-rpki-") -> Iterator[Path]:
    """A fresh directory every user can traverse (pytest's tmp_path is 0700 under root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _as_root() -> bool:
    return os.geteuid() == 0


def _give(path: Path, user: str) -> None:
    """chown -R path to `user` when running as root (the RP drops to or runs as that user)."""
    if not _as_root():
        return
    entry = pwd.getpwnam(user)
    for p in [path, *path.rglob("*")]:
        os.chown(p, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def rsync_daemon(rsync_root: Path, workdir: Path, port: int) -> Iterator[str]:
    """rsyncd on 127.0.0.1:port serving modules `ta` and `repo`; yields the rsync base URI."""
    workdir.mkdir(parents=True, exist_ok=True)
    for module in ("ta", "repo"):
        (rsync_root / module).mkdir(parents=True, exist_ok=True)
    conf = workdir / "rsyncd.conf"
    identity = "uid = nobody\ngid = nogroup\n" if _as_root() else ""
    conf.write_text(
        f"address = 127.0.0.1\nport = {port}\nuse chroot = no\n{identity}read only = yes\n"
        f"log file = {workdir / 'rsyncd.log'}\n"
        f"[ta]\npath = {rsync_root / 'ta'}\n[repo]\npath = {rsync_root / 'repo'}\n"
    )
    proc = subprocess.Popen(
        ["rsync", "--daemon", "--no-detach", f"--config={conf}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc)
        yield f"rsync://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Verdict:
    """What one RP made of the repository."""

    judge: str
    vrps: set[Vrp]
    complaints: list[str] = field(default_factory=list)
    log: str = ""
    returncode: int = 0


def _prefix_key(text: str) -> str:
    return text.strip()


def _ours(line: str, markers: tuple[str, ...]) -> bool:
    return any(m in line for m in markers)


def _tal_list(tal: Path | Sequence[Path]) -> list[Path]:
    return [tal] if isinstance(tal, Path) else list(tal)


def run_rpki_client(
    tal: Path | Sequence[Path],
    workdir: Path,
    markers: tuple[str, ...],
    env: dict[str, str] | None = None,
) -> Verdict:
    """rpki-client 8.2 with only our TAL(s) (-t; at most 8), its own cache, JSON output."""
    cache, out = workdir / "cache", workdir / "out"
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    tal_args = []
    for one in _tal_list(tal):
        shutil.copy(one, workdir / one.name)
        tal_args += ["-t", str(workdir / one.name)]
    _give(workdir, "_rpki-client")
    proc = subprocess.run(
        ["rpki-client", "-v", *tal_args, "-d", str(cache), "-j", "-s", "60", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    vrps: set[Vrp] = set()
    json_out = out / "json"
    if json_out.exists():
        data = json.loads(json_out.read_text())
        vrps = {
            (int(r["asn"]), _prefix_key(r["prefix"]), int(r["maxLength"])) for r in data["roas"]
        }
    complaints = [
        line for line in proc.stderr.splitlines() if _rpki_client_complaint(line, markers)
    ]
    return Verdict("rpki-client", vrps, complaints, proc.stderr, proc.returncode)


# rpki-client -v progress messages; any other line naming our repository is a complaint.
_RPKI_CLIENT_PROGRESS = (
    "pulling from",
    "loaded from network",
    "loaded from cache",
    "all files parsed",
    "generating output",
    "downloading",
    "notification file",
    "rrdp session",
    "syncing",
    "sync done",
)


def _rpki_client_complaint(line: str, markers: tuple[str, ...]) -> bool:
    lowered = line.lower()
    return _ours(line, markers) and not any(p in lowered for p in _RPKI_CLIENT_PROGRESS)


# FORT 1.5.4 may start two rsync runs of one module into its cache at once; one then loses a
# temporary file to the other's --delete, logs "[RSYNC exec]" errors and retries, and the retry
# succeeds. Those lines are about FORT's own cache, not our objects: a complaint about an
# object names the object and a validation failure, and stays a complaint; the VRP comparison
# still decides the verdict.
_FORT_FETCH_RETRIES = ("[RSYNC exec]", "Retrying RSYNC")


def run_fort(
    tal: Path, workdir: Path, markers: tuple[str, ...], extra: list[str] | None = None
) -> Verdict:
    """FORT 1.5.4 standalone with the validation log on, so rejections are visible.

    `tal` may be a directory of TALs (FORT's --tal takes either)."""
    cache = workdir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    roas = workdir / "roas.json"
    proc = subprocess.run(
        [
            "fort",
            "--mode=standalone",
            f"--tal={tal}",
            f"--local-repository={cache}",
            f"--output.roa={roas}",
            "--output.format=json",
            "--validation-log.enabled=true",
            "--log.level=warning",
            *(extra or []),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    vrps: set[Vrp] = set()
    if roas.exists() and roas.stat().st_size:
        data = json.loads(roas.read_text())
        for r in data.get("roas", []):
            asn = int(str(r["asn"]).removeprefix("AS"))
            vrps.add((asn, _prefix_key(r["prefix"]), int(r["maxLength"])))
    log = proc.stdout + proc.stderr
    complaints = [
        line
        for line in log.splitlines()
        if (" ERR" in line or " WRN" in line)
        and "The validation has" not in line
        and not any(m in line for m in _FORT_FETCH_RETRIES)
    ]
    if proc.returncode != 0:
        complaints.append(f"fort exited with {proc.returncode}")
    return Verdict("fort", vrps, complaints, log, proc.returncode)


def run_octorpki(
    tal: Path | Sequence[Path],
    workdir: Path,
    markers: tuple[str, ...],
    rrdp: bool = False,
    env: dict[str, str] | None = None,
) -> Verdict:
    """OctoRPKI 1.4.4 once (-mode oneoff) over one or more TALs, as nobody when we are root
    (it refuses root)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "cache").mkdir(exist_ok=True)
    wrapper = workdir / "octo-rsync.sh"
    wrapper.write_text(OCTO_RSYNC_WRAPPER)
    os.chmod(wrapper, 0o755)
    tals = _tal_list(tal)
    for one in tals:
        shutil.copy(one, workdir / one.name)
    output = workdir / "output.json"
    _give(workdir, "nobody")
    command = [
        "octorpki",
        "-mode",
        "oneoff",
        "-tal.root",
        ",".join(str(workdir / one.name) for one in tals),
        "-tal.name",
        ",".join(one.stem for one in tals),
        "-cache",
        str(workdir / "cache") + "/",
        "-rrdp.file",
        str(workdir / "cache" / "rrdp.json"),
        "-output.roa",
        str(output),
        "-output.sign=false",
        f"-rrdp={'true' if rrdp else 'false'}",
        "-rsync.bin",
        str(wrapper),
        "-http.addr",
        f"127.0.0.1:{free_port()}",
        "-loglevel",
        "info",
    ]
    if _as_root():
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=workdir,
        env={**os.environ, "HOME": str(workdir), **(env or {})},
    )
    vrps: set[Vrp] = set()
    if output.exists():
        data = json.loads(output.read_text())
        for r in data.get("roas", []):
            asn = int(str(r["asn"]).removeprefix("AS"))
            vrps.add((asn, _prefix_key(r["prefix"]), int(r["maxLength"])))
    log = proc.stdout + proc.stderr
    complaints = [
        line
        for line in log.splitlines()
        if "level=error" in line or "level=warn" in line  # only our TAL: every error is ours
    ]
    return Verdict("octorpki", vrps, complaints, log, proc.returncode)


# --- RRDP over https on loopback ----------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    """A private CA and a localhost server certificate (RPKI-JUDGES.md §4)."""

    ca_file: Path
    ca_dir: Path  # hashed directory for FORT's --http.ca-path
    cert_file: Path
    key_file: Path


def make_tls(directory: Path) -> Tls:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "onereg test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls = Tls(
        directory / "ca.crt",
        directory / "capath",
        directory / "server.crt",
        directory / "server.key",
    )
    tls.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    tls.ca_dir.mkdir(exist_ok=True)
    shutil.copy(tls.ca_file, tls.ca_dir / "ca.crt")
    subprocess.run(["openssl", "rehash", str(tls.ca_dir)], check=True, capture_output=True)
    for p in [directory, *directory.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    return tls


@contextlib.contextmanager
def https_server(
    handler: Callable[[str], tuple[bytes, str] | None], tls: Tls, port: int
) -> Iterator[str]:
    """Serve `handler(path)` over https on 127.0.0.1:port in a thread; yields the base URL.

    No Last-Modified or ETag, so every RP fetch is a full GET (RPKI-JUDGES.md pitfall 2).
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = handler(self.path.split("?", 1)[0])
            if found is None:
                self.send_error(404)
                return
            body, media = found
            self.send_response(200)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            requests.append(format % args)

    requests: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
