from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from taichu.app import create_app
from taichu.config import Settings
from taichu.lab.pytest_fixtures import *  # noqa: F403
from taichu.observe.routes import router as observe_router

OBSERVE_PATH = "/api/v1/clusters/{id}/nodes"


def _with_observe(app: Any) -> Any:
    # Until app.py mounts the observe router, the tests mount it themselves.
    if not any(getattr(route, "path", None) == OBSERVE_PATH for route in app.routes):
        app.include_router(observe_router)
    return app


@pytest.fixture
async def start_app(clean_db: None) -> AsyncIterator[Any]:
    """As the root `start_app`, with the observe router mounted."""
    stack: list[tuple[Any, httpx.AsyncClient]] = []

    async def _start(settings: Settings) -> httpx.AsyncClient:
        app = _with_observe(create_app(settings))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("10.0.0.1", 40000)),
            base_url="http://testserver",
        )
        stack.append((lifespan, client))
        return client

    yield _start
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
