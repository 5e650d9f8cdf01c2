"""The gates that check connection caps at accept (HTTP and RTR): a refused connection gets
its refusal without the protocol machinery being built, and every count is given back."""

from __future__ import annotations

import asyncio
import dataclasses

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from onereg.federation.node_config import Limits as NodeLimits
from onereg.http.connections import server_config
from onereg.rtr import pdu as P
from onereg.rtr.server import Limits, Timings, close_rtr, service_of, start_rtr
from onereg.rtr.state import RtrCache


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), 10)


async def _until(check: object, what: str) -> None:
    for _ in range(200):
        if callable(check) and check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(what)


def test_http_refusals_build_no_protocol_and_every_count_is_given_back() -> None:
    limits = dataclasses.replace(NodeLimits(), http_per_client=2, http_per_network=3)
    config = server_config(Starlette(routes=[Route("/", _hello)]), "127.0.0.1", 0, limits)
    gate = config.http
    made: list[object] = []

    class Counting(gate.protocol):  # type: ignore[name-defined, misc]
        def __init__(self, *args: object) -> None:
            made.append(self)
            super().__init__(*args)

    gate.protocol = Counting
    guard = Counting.guard

    async def scenario() -> None:
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        await _until(lambda: server.started, "the server did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await _until(lambda: guard.active == 2, "two connections held")
        assert len(made) == 2
        for _ in range(5):  # over the per-address cap: 503 from the gate, no protocol built
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            answer = await _read_all(reader)
            assert answer.startswith(b"HTTP/1.1 503 ")
            assert b"retry-after: 5" in answer
            assert b"too many connections from 127.0.0.1 (limit 2)" in answer
            writer.close()
        assert len(made) == 2 and guard.active == 2
        # the network's cap counts another address of the same /24
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.9", 0)
        )
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        answer = await _read_all(reader)
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"ok")
        writer.close()
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.9", 0)
        )
        await _until(lambda: guard.active == 3, "a third connection held")
        refused_r, refused_w = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.10", 0)
        )
        assert b"too many connections from 127.0.0.0/24 (limit 3)" in await _read_all(refused_r)
        refused_w.close()
        writer.close()
        for _, w in held:
            w.close()
        await _until(lambda: guard.active == 0, f"counts given back: {guard}")
        assert not guard._clients and not guard._networks
        # a freed slot admits again, through the gate
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        assert (await _read_all(reader)).startswith(b"HTTP/1.1 200 ")
        writer.close()
        server.should_exit = True
        await task

    asyncio.run(scenario())


def test_rtr_refusals_give_back_every_count_and_answer_in_the_routers_version() -> None:
    async def scenario() -> None:
        cache = RtrCache(session_id=7)
        cache.update([(64496, "192.0.2.0/24", 24)])
        limits = Limits(notify_interval=0, per_client=1)
        server = await start_rtr(cache, "127.0.0.1", 0, Timings(30, 5, 600), limits)
        service = service_of(server)
        port = server.sockets[0].getsockname()[1]
        try:
            _, held_w = await asyncio.open_connection("127.0.0.1", port)
            await _until(lambda: service.guard.active == 1, "one session held")
            for version in (0, 1, 0):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(P.ResetQuery(version).encode())
                raw = await _read_all(reader)
                assert raw[0] == version and raw[1] == P.PduType.ERROR_REPORT
                assert b"too many connections from 127.0.0.1 (limit 1)" in raw
                writer.close()
            assert service.guard.active == 1 and service._refusing == 0
            # a silent refused router, then it hangs up before the wait ends: nothing is left
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await _until(lambda: service._refusing == 1, "a refusal waiting for the first PDU")
            writer.close()
            await _until(lambda: service._refusing == 0, "the waiting refusal given back")
            held_w.close()
            await _until(lambda: service.guard.active == 0, "the held session given back")
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(P.ResetQuery(1).encode())
            data = await asyncio.wait_for(reader.readexactly(8), 10)
            assert data[1] == P.PduType.CACHE_RESPONSE
            writer.close()
        finally:
            await close_rtr(server)

    asyncio.run(scenario())
