"""An app under test that several clients reach from addresses of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from taichu.app import create_app
from taichu.config import Settings

ClientAt = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def app_at(clean_db: None) -> AsyncIterator[Callable[[Settings], Awaitable[ClientAt]]]:
    """`client_at = await app_at(settings)`, then `client_at("10.0.0.7")` is a client whose
    requests come from that address (the app's peer address, as a socket would give it)."""
    started: list[Any] = []
    clients: list[httpx.AsyncClient] = []

    async def _start(settings: Settings) -> ClientAt:
        app = create_app(settings)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        started.append(lifespan)

        def client_at(address: str) -> httpx.AsyncClient:
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                base_url="http://testserver",
                timeout=30,
            )
            clients.append(client)
            return client

        return client_at

    yield _start
    for client in clients:
        await client.aclose()
    for lifespan in reversed(started):
        await lifespan.__aexit__(None, None, None)
