"""`onereg rtr serve` as an operator starts it: a router's Reset Query gets the file's VRPs."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from localfed import ONEREG
from onereg.rtr.pdu import EndOfData, ErrorCode, ErrorReport, Ipv4Prefix, ResetQuery, decode
from rpkijudges import free_port


def _reset_query(port: int) -> list[object]:
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except OSError:
            assert time.monotonic() < deadline, "the RTR server did not come up"
            time.sleep(0.2)
    with conn:
        conn.sendall(ResetQuery(1).encode())
        return _read_until_end(conn)


def _served(port: int, *args: str) -> list[object]:
    """What a router's Reset Query to `onereg rtr serve ARGS` on `port` gets."""
    server = subprocess.Popen(
        [ONEREG, "rtr", "serve", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        return _reset_query(port)
    finally:
        server.terminate()
        server.wait(10)


def test_rtr_serve_delivers_the_vrp_file(tmp_path: Path) -> None:
    vrps = tmp_path / "vrps.csv"
    vrps.write_text(
        "ASN,IP Prefix,Max Length,Trust Anchor\nAS64500,192.0.2.0/24,24,lab\n"
        "AS64501,198.51.100.0/22,24,lab\n"
    )
    port = free_port()
    pdus = _served(port, "--vrps", str(vrps), "--port", str(port), "--refresh", "60")
    prefixes = sorted((p.asn, p.prefix_len, p.max_len) for p in pdus if isinstance(p, Ipv4Prefix))
    assert prefixes == [(64500, 24, 24), (64501, 22, 24)]
    end = pdus[-1]
    assert isinstance(end, EndOfData) and end.refresh == 60


def test_rtr_serve_listens_where_the_node_config_says(tmp_path: Path) -> None:
    from localfed import LocalFederation

    fed = LocalFederation(tmp_path / "data", {"ripencc": [("ipv4", "193.0.0.0", 256, "R1")]})
    config = tmp_path / "data/nodes/ripencc/node.toml"
    port = int(next(n for n in fed.nodes if n.registry == "ripencc").url.rsplit(":", 1)[1]) + 200
    assert f'rtr = "127.0.0.1:{port}"' in config.read_text()
    vrps = tmp_path / "vrps.csv"
    vrps.write_text("ASN,IP Prefix,Max Length,Trust Anchor\nAS64500,193.0.0.0/24,24,ripencc\n")
    pdus = _served(port, "--vrps", str(vrps), "--config", str(config))
    assert [p.asn for p in pdus if isinstance(p, Ipv4Prefix)] == [64500]


def test_rtr_serve_takes_its_caps_from_the_node_config(tmp_path: Path) -> None:
    """`[limits] rtr_per_client = 1` in node.toml: a second session from one router address
    gets an Error Report "Internal Error" and is closed; another address is served."""
    from localfed import LocalFederation

    fed = LocalFederation(tmp_path / "data", {"ripencc": [("ipv4", "193.0.0.0", 256, "R1")]})
    config = tmp_path / "data/nodes/ripencc/node.toml"
    config.write_text(config.read_text().replace("rtr_per_client = 4", "rtr_per_client = 1"))
    port = int(next(n for n in fed.nodes if n.registry == "ripencc").url.rsplit(":", 1)[1]) + 200
    vrps = tmp_path / "vrps.csv"
    vrps.write_text("ASN,IP Prefix,Max Length,Trust Anchor\nAS64500,193.0.0.0/24,24,ripencc\n")
    server = subprocess.Popen(
        [ONEREG, "rtr", "serve", "--vrps", str(vrps), "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert [p.asn for p in _reset_query(port) if isinstance(p, Ipv4Prefix)] == [64500]
        time.sleep(0.2)  # the server sees that session end
        with socket.create_connection(("127.0.0.1", port), timeout=10) as first:
            first.sendall(ResetQuery(1).encode())
            assert isinstance(_read_until_end(first)[-1], EndOfData)  # admitted, and open
            with socket.create_connection(("127.0.0.1", port), timeout=10) as second:
                second.sendall(ResetQuery(1).encode())
                report, _ = decode(second.recv(65536))
                assert second.recv(65536) == b""  # closed
    finally:
        server.terminate()
        server.wait(10)
    assert isinstance(report, ErrorReport) and report.code == ErrorCode.INTERNAL_ERROR
    assert report.text == "too many connections from 127.0.0.1 (limit 1)"


def _read_until_end(conn: socket.socket) -> list[object]:
    data, pdus = b"", []
    while not pdus or not isinstance(pdus[-1], EndOfData):
        chunk = conn.recv(65536)
        assert chunk, "connection closed before End of Data"
        data += chunk
        while True:
            try:
                pdu, used = decode(data)
            except ValueError:
                break
            pdus.append(pdu)
            data = data[used:]
    return pdus


def test_a_roa_added_at_the_registry_reaches_a_connected_router(tmp_path: Path) -> None:
    """Registry -> our validator -> RTR cache -> router, with no file in between: the router
    gets Serial Notify and then only the new ROA's prefix."""
    from localfed import LocalFederation
    from onereg.rtr.pdu import SerialNotify, SerialQuery

    fed = LocalFederation(tmp_path / "data", {"ripencc": [("ipv4", "193.0.0.0", 65536, "R1")]})

    def roa(prefix: str) -> None:
        done = subprocess.run(
            [
                ONEREG,
                "--data-dir",
                str(fed.root),
                "rpki",
                "roa",
                "add",
                "--registry",
                "ripencc",
                "--holder",
                "R1",
                "--asn",
                "64500",
                prefix,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr

    roa("193.0.0.0/24")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "127.0.0.1:8873").symlink_to(fed.root / "rpki/pub/rsync")
    port = free_port()
    server = subprocess.Popen(
        [
            ONEREG,
            "rtr",
            "serve",
            "--tal",
            str(fed.root / "rpki/pub/tals/ripencc.tal"),
            "--repo",
            str(mirror),
            "--port",
            str(port),
            "--poll",
            "0.5",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        first = _reset_query(port)
        assert [p.prefix_len for p in first if isinstance(p, Ipv4Prefix)] == [24]
        end = first[-1]
        assert isinstance(end, EndOfData)
        with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
            conn.sendall(SerialQuery(1, end.session_id, end.serial).encode())
            unchanged = _read_until_end(conn)[-1]
            assert isinstance(unchanged, EndOfData) and unchanged.serial == end.serial
            roa("193.0.1.0/24")
            notify, _ = decode(conn.recv(12))
            assert isinstance(notify, SerialNotify)
            conn.sendall(SerialQuery(1, end.session_id, end.serial).encode())
            delta = [p for p in _read_until_end(conn) if isinstance(p, Ipv4Prefix)]
        assert [(p.asn, p.prefix, p.flags) for p in delta] == [(64500, 0xC1000100, 1)]
    finally:
        server.terminate()
        server.wait(10)
