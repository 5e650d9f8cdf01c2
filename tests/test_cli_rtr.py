"""`onereg rtr serve` as an operator starts it: a router's Reset Query gets the file's VRPs."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from localfed import ONEREG
from onereg.rtr.pdu import EndOfData, Ipv4Prefix, ResetQuery, decode
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


def test_rtr_serve_delivers_the_vrp_file(tmp_path: Path) -> None:
    vrps = tmp_path / "vrps.csv"
    vrps.write_text(
        "ASN,IP Prefix,Max Length,Trust Anchor\nAS64500,192.0.2.0/24,24,lab\n"
        "AS64501,198.51.100.0/22,24,lab\n"
    )
    port = free_port()
    server = subprocess.Popen(
        [ONEREG, "rtr", "serve", "--vrps", str(vrps), "--port", str(port), "--refresh", "60"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        pdus = _reset_query(port)
    finally:
        server.terminate()
        server.wait(10)
    prefixes = sorted((p.asn, p.prefix_len, p.max_len) for p in pdus if isinstance(p, Ipv4Prefix))
    assert prefixes == [(64500, 24, 24), (64501, 22, 24)]
    end = pdus[-1]
    assert isinstance(end, EndOfData) and end.refresh == 60
