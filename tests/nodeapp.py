"""A node opened in an app's lifespan, as `http/app.py` opens it: the tests that build a small
RDAP app around one node of a `DataDir` share this instead of each writing it again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette

from onereg.core.registries import RegistryId
from onereg.federation.layout import DataDir
from onereg.registry.node import RegistryNode

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def node_in_lifespan(
    data: DataDir, rid: RegistryId, create: bool = True
) -> tuple[Callable[[], RegistryNode], Lifespan]:
    """(the node while the app runs, the lifespan that opens and closes it): the node is
    opened on the app's event loop thread, never before the app starts; `create`: an empty
    node if there is none (a registry the test did not import)."""
    opened: dict[str, RegistryNode] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened["node"] = data.open(rid, create=create)
        try:
            yield
        finally:
            opened["node"].close()

    return lambda: opened["node"], lifespan
