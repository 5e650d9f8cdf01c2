"""RRDP XML (RFC 8182) a relying party downloads from any repository: notification files and
the snapshots and deltas they point to. Targets run the fetcher's own parsing and checks (the
expat parser, session and serial, URIs made into mirror paths, hashes) without the network."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fuzz.harness import SHARED_DATA, Target, real_file, select
from onereg.rpki import fetch
from onereg.rpki.fetch import FetchError, parse_notification

NOTIFY_URI = "https://rrdp.example.net/notification.xml"
SESSION = "a2d845c4-5b91-4015-a2b7-988c03ce232a"
_NS = 'xmlns="http://www.ripe.net/rpki/rrdp"'
_HASH = "c047e305fe71f2936720948e129a14c0819ded9cdecf31cfaf02c71200eb6f7c"


def _notification_seeds() -> list[bytes]:
    own = (
        f'<notification version="1" session_id="{SESSION}" serial="3" {_NS}>\n'
        f' <snapshot uri="https://rrdp.example.net/s3.xml" hash="{_HASH}"/>\n'
        f' <delta serial="3" uri="https://rrdp.example.net/d3.xml" hash="{_HASH}"/>\n'
        f' <delta serial="2" uri="https://rrdp.example.net/d2.xml" hash="{_HASH.upper()}"/>\n'
        "</notification>\n"
    ).encode()
    real = real_file("rpki/rpki-rs-test-data/rrdp/ripe-notification.xml")
    # the real file points at rrdp.ripe.net: moved to our origin, it parses
    return [
        own,
        *(d.replace(b"https://rrdp.ripe.net/", b"https://rrdp.example.net/") for d in real),
    ]


def _notification(data: bytes) -> object:
    return parse_notification(data, NOTIFY_URI)


NOTIFICATION = Target("rrdp_notification", _notification, (FetchError,), _notification_seeds, 32768)

_KINDS = ["snapshot", "delta"]
_MIRROR = Path("/nonexistent/mirror")  # mirror_path only computes a path under it


def _real_publishes(limit: int) -> list[bytes]:
    """The first few <publish> elements of the real RIPE NCC delta, verbatim."""
    path = SHARED_DATA / "rpki" / "rpki-rs-test-data" / "rrdp" / "ripe-delta.xml"
    if not path.is_file():
        return []
    text = path.read_bytes()
    return re.findall(rb"<publish\b.*?</publish>", text, re.S)[:limit]


def _document_seeds() -> list[bytes]:
    body = base64.b64encode(b"\x30\x03\x02\x01\x00").decode()
    digest = hashlib.sha256(b"old").hexdigest()
    items = (
        f'<publish uri="rsync://rpki.example.net/repo/a.roa">{body}</publish>'
        f'<publish uri="rsync://rpki.example.net/repo/b.cer" hash="{digest}">{body}</publish>'
        f'<withdraw uri="rsync://rpki.example.net/repo/c.crl" hash="{digest}"/>'
    ).encode()
    seeds = []
    for i, kind in enumerate(_KINDS):
        head = f'<{kind} version="1" session_id="{SESSION}" serial="3" {_NS}>'.encode()
        tail = f"</{kind}>".encode()
        seeds.append(bytes([i]) + head + items + tail)
        seeds.append(bytes([i]) + head + b"".join(_real_publishes(3)) + tail)
    return seeds


def _document(data: bytes) -> object:
    """What _apply_snapshot/_apply_deltas do with a downloaded file, writing nothing."""
    choice, body = select(data, len(_KINDS))
    kind = _KINDS[choice]
    items: list[fetch._Item] = []
    parser = fetch._RrdpParser(kind, items.append)
    parser.feed(body, final=True)
    fetch._session_serial(parser.root, kind)
    for item in items:
        uri = item.attrs.get("uri", "")
        if not uri.startswith("rsync://"):
            raise FetchError(f"{kind} names a non-rsync URI {uri!r}")
        fetch.mirror_path(_MIRROR, uri)
        if item.tag == "withdraw" or "hash" in item.attrs:
            fetch._hash_attr(item.attrs, f"{item.tag} {uri}")
    return items


DOCUMENT = Target("rrdp_document", _document, (FetchError,), _document_seeds, 32768)

TARGETS = [NOTIFICATION, DOCUMENT]
