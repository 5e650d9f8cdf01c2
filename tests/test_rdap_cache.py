"""RDAP's answer cache (`http.rdap_cache`): a repeated lookup is served from it with the bytes a
fresh build gives (its own URL in the links), and a change of the record in the log (here an
import that moves the record's country and holder) is seen at the next lookup.

A small real federation: IANA's registries from ../shared/data and a tiny RIPE NCC file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.testclient import TestClient

from nodeapp import node_in_lifespan
from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.core.resources import Afi
from onereg.federation.importer import import_delegated_file, import_iana
from onereg.federation.layout import DataDir
from onereg.http.rdap import AuthoritySource, RdapError, load_authority, parse_address, rdap_routes
from onereg.http.rdap_cache import URL_MARK, AnswerCache, Template

URLS = {rid: f"https://rdap.{rid.value}.test" for rid in ALL_REGISTRIES}
BEFORE = [
    "ripencc|NL|ipv4|193.0.0.0|4096|19930901|allocated|R1",
    "ripencc|DE|ipv4|193.0.32.0|1024|20100101|allocated|R2",
]
# the same file a day later: the first record has another country and holder
AFTER = [
    "ripencc|BE|ipv4|193.0.0.0|4096|19930901|allocated|R2",
    "ripencc|DE|ipv4|193.0.32.0|1024|20100101|allocated|R2",
]


def _write(path: Path, day: str, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    head = [f"2.3|ripencc|{day}|{len(lines)}|19700101|{day}|+0000"]
    path.write_text("\n".join(head + lines) + "\n")
    return path


@pytest.fixture
def data(tmp_path: Path, shared_data: Path) -> DataDir:
    data = DataDir(tmp_path / "data")
    import_iana(data, shared_data / "iana")
    import_delegated_file(data, _write(tmp_path / "a" / "delegated", "20181013", BEFORE), None)
    return data


@contextmanager
def client(
    data: DataDir, answers: AnswerCache, authority: AuthoritySource | None = None
) -> Iterator[TestClient]:
    """The RIPE NCC node's RDAP routes, the node opened in the lifespan (as http/app.py does)."""
    get_node, lifespan = node_in_lifespan(data, RegistryId.RIPENCC)

    routes = rdap_routes(
        get_node,
        authority or load_authority(data, URLS),
        URLS[RegistryId.RIPENCC],
        answers=answers,
    )
    app = Starlette(routes=routes, lifespan=lifespan)
    base = URLS[RegistryId.RIPENCC]
    with TestClient(app, base_url=base, follow_redirects=False) as test_client:
        yield test_client


def fresh(data: DataDir, path: str) -> bytes:
    """The answer built from scratch (an empty cache)."""
    with client(data, AnswerCache()) as test_client:
        response = test_client.get(path)
        assert response.status_code == 200, response.text
        return response.content


def test_template_splices_the_url_where_the_mark_was() -> None:
    body = b'{"a":"' + URL_MARK.encode() + b'","b":["' + URL_MARK.encode() + b'"]}'
    assert (
        Template.of(body).render('https://x/"q"')
        == b'{"a":"https://x/\\"q\\"","b":["https://x/\\"q\\""]}'
    )


def test_a_cached_answer_is_a_fresh_one_and_follows_the_record(
    data: DataDir, tmp_path: Path
) -> None:
    cache = AnswerCache()
    with client(data, cache, load_authority(data, URLS)) as test_client:
        first = test_client.get("/rdap/ip/193.0.0.1")
        assert first.status_code == 200 and len(cache) == 1
        assert first.json()["country"] == "NL"
        assert first.content == fresh(data, "/rdap/ip/193.0.0.1")
        # another address in the same record: served from the cache, with its own URL
        hits = cache.hits
        other = test_client.get("/rdap/ip/193.0.0.2")
        assert cache.hits == hits + 1
        assert other.json()["links"][0]["value"].endswith("/rdap/ip/193.0.0.2")
        assert other.content == fresh(data, "/rdap/ip/193.0.0.2")

        later = _write(tmp_path / "b" / "delegated", "20181014", AFTER)
        import_delegated_file(data, later, None)  # the import moves the record to R2, BE

        moved = test_client.get("/rdap/ip/193.0.0.1")
        assert moved.status_code == 200
        assert moved.json()["country"] == "BE"
        assert moved.json()["entities"][0]["handle"] == "R2"
        assert moved.content == fresh(data, "/rdap/ip/193.0.0.1")
        # and the new answer is cached in turn
        hits = cache.hits
        assert test_client.get("/rdap/ip/193.0.0.1").content == moved.content
        assert cache.hits == hits + 1


def test_an_answer_of_another_authority_map_is_not_reused(data: DataDir) -> None:
    """A new map (a peer's log moved) may change the parent or a redirect: a miss."""
    cache = AnswerCache()
    with client(data, cache, lambda: load_authority(data, URLS)) as test_client:
        for _ in range(2):
            assert test_client.get("/rdap/ip/193.0.0.1").status_code == 200
    assert cache.hits == 0 and cache.misses >= 2


_OCTETS = st.sampled_from(
    ["0", "00", "01", "7", "10", "99", "100", "199", "249", "255", "256", "٣", "1a", ""]
)


@given(st.lists(_OCTETS, min_size=3, max_size=5).map(".".join))
def test_dotted_quads_are_read_as_ipaddress_reads_them(text: str) -> None:
    """The quick IPv4 reader of the lookup path accepts exactly what ipaddress accepts."""
    try:
        expected: tuple[int, int] | None = (4, int(ipaddress.IPv4Address(text)))
    except ValueError:
        expected = None
    try:
        afi, number = parse_address(text)
        got: tuple[int, int] | None = (4 if afi is Afi.IPV4 else 6, number)
    except RdapError:
        got = None
    assert got == expected
