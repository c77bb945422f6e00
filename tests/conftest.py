from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from taichu.app import create_app
from taichu.config import Settings
from taichu.context import AppContext
from tests.support.db import BACKEND, create_database, drop_database, wipe

# The lab's fixtures (real control planes, SSH hosts) for every test directory.
pytest_plugins = ["taichu.lab.pytest_fixtures"]

ADMIN_PASSWORD = "Admin-Pass-2026"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The real-node tests (minutes each) go first: the workers share them out at the start
    instead of one worker running the last of them alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("real_nodes") is None)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any) -> Any:
    """After pytest's own summary, the failed tests' names alone: a CI log that keeps only
    its tail (a long browser message can fill it) still says which tests failed."""
    result = yield
    failed = [
        report.nodeid
        for kind in ("failed", "error")
        for report in terminalreporter.stats.get(kind, [])
        if getattr(report, "nodeid", "")
    ]
    if failed:
        terminalreporter.write_sep("=", "failed tests, by name")
        for nodeid in dict.fromkeys(failed):
            terminalreporter.write_line(f"FAILED {nodeid}")
    return result


def pytest_report_header() -> str:
    return f"taichu test database backend: {BACKEND}"


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    url = await create_database(str(tmp_path_factory.mktemp("db")), worker)
    yield url
    await drop_database(url)


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Any:
    def _make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "env": "test",
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "secret_key": "test-secret-key-not-for-production-0123456789",
            "admin_password": ADMIN_PASSWORD,
            "log_level": "warning",
        }
        values.update(overrides)
        return Settings(**values)

    return _make


@pytest.fixture
def settings(make_settings: Any) -> Settings:
    return make_settings()


@pytest.fixture
async def clean_db(settings: Settings) -> None:
    """Every test that touches the database starts from empty tables (once per test)."""
    context = AppContext.create(settings)
    await wipe(context.engine)
    await context.close()


@pytest.fixture
async def ctx(settings: Settings, clean_db: None) -> AsyncIterator[AppContext]:
    """A context on the test's wiped database (no app, no workers)."""
    context = AppContext.create(settings)
    yield context
    await context.close()


@pytest.fixture
async def start_app(clean_db: None) -> AsyncIterator[Any]:
    """Starts the ASGI app (lifespan included) on the test's database; returns a client.
    Starting a second app with the same settings is a restart on the same data."""
    stack: list[tuple[Any, httpx.AsyncClient]] = []

    async def _start(settings: Settings) -> httpx.AsyncClient:
        app = create_app(settings)
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


@pytest.fixture
async def client(start_app: Any, settings: Settings) -> httpx.AsyncClient:
    return await start_app(settings)


async def login(client: httpx.AsyncClient, username: str, password: str) -> str:
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def admin_token(client: httpx.AsyncClient) -> str:
    return await login(client, "admin", ADMIN_PASSWORD)


@pytest.fixture
async def admin_headers(admin_token: str) -> dict[str, str]:
    return bearer(admin_token)
