"""Browser tests of the web console: Debian's Chromium (never a Playwright download),
headless, driven by Playwright against a real `taichu serve` serving the built console.

Fixtures (docs/console.md, "Tests"):
- `console`: a module's server (fresh database, jobs on, admin password `WEB_ADMIN_PASSWORD`,
  so no bootstrap change is due); `start_console(**env)` starts more (e.g. one whose admin
  is still on the bootstrap password: `start_console(bootstrap_admin=True)`).
- `page`: a fresh browser context per test on the module's console; fails the test on a
  Content-Security-Policy violation or an uncaught page error.
- `signed_in_page`: `page` signed in as admin, on /clusters.
- `axe_check(page)`: axe-core in the page; fails listing serious/critical violations.
- `screenshot(page, name)`: build/screenshots/<name>.png (gitignored).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.support.server import (
    ServerProcess,
    drop_prepared_database,
    free_port,
    login_token,
    prepare_database,
    server_env,
)

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("TAICHU_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WEB_ADMIN_PASSWORD = "Web-Admin-2026"
SCREENSHOTS = REPO / "build" / "screenshots"
AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
# Playwright waits 30 s for an action and only 5 s for an `expect`; a loaded CI machine
# needs more for a first render (ReDoc laying out the whole API took longer than 5 s there).
TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.web)


def build_console() -> None:
    """scripts/web-build.sh (a no-op when up to date), one process at a time."""
    lock_path = REPO / "web" / ".build.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        env = {**os.environ, "PYTHON": sys.executable}
        done = subprocess.run(
            ["bash", "scripts/web-build.sh"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, f"console build failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="session")
def console_build() -> None:
    build_console()


@dataclass
class Console:
    """A running `taichu serve` with the console."""

    server: ServerProcess
    admin_password: str
    _token: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.server.url

    def admin_token(self, fresh: bool = False) -> str:
        """The admin's token (one per console; `fresh`: a new session of its own, which a
        test may end by signing out)."""
        if fresh:
            return login_token(self.url, "admin", self.admin_password)
        self._token = self._token or login_token(self.url, "admin", self.admin_password)
        return self._token

    def api(self) -> httpx.Client:
        """An HTTP client signed in as admin (set-up through the API, not the browser)."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.admin_token()}"},
            timeout=60,
        )


StartConsole = Callable[..., Console]


def _off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    """Playwright's sync API keeps an event loop running in this thread, where the
    database helpers' asyncio.run cannot start: they run in a thread of their own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


@pytest.fixture(scope="module")
def start_console(
    console_build: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartConsole]:
    """`start_console(bootstrap_admin=False, **env)`: a server on a fresh database; env
    entries are TAICHU_* settings. Stopped (and its database dropped) after the module."""
    started: list[tuple[ServerProcess, str]] = []
    tmp = tmp_path_factory.mktemp("console")

    def _start(bootstrap_admin: bool = False, **env: str) -> Console:
        n = len(started)
        url = _off_loop(prepare_database, tmp, f"web{n}")
        extra = {"TAICHU_SECRET_KEY": "web-console-secret-key-0123456789abcdef", **env}
        if not bootstrap_admin:
            extra["TAICHU_ADMIN_PASSWORD"] = WEB_ADMIN_PASSWORD
        server = ServerProcess(
            server_env(url, tmp / f"data{n}", **extra), free_port(), tmp / f"server{n}.log"
        )
        started.append((server, url))
        server.start()
        return Console(server, "admin" if bootstrap_admin else WEB_ADMIN_PASSWORD)

    yield _start
    for server, url in reversed(started):
        server.kill(signal.SIGTERM)
        _off_loop(drop_prepared_database, url)


@pytest.fixture(scope="module")
def console(start_console: StartConsole) -> Console:
    return start_console()


# Per module, not per session: while Playwright's sync API is up, its event loop runs in
# this thread, and no asyncio test or helper can run here (the suite's async tests share
# the worker with these).
@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: bash scripts/bootstrap.sh --test"
    chromium = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    yield chromium
    chromium.close()


@dataclass
class PageProblems:
    """What a page reported that no screen may cause: CSP refusals, uncaught errors."""

    csp: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def open_context(browser: Browser, base_url: str, **options: Any) -> BrowserContext:
    context = browser.new_context(
        base_url=base_url, viewport={"width": 1366, "height": 860}, **options
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


def watch(page: Page) -> PageProblems:
    problems = PageProblems()

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            problems.csp.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.errors.append(str(error)))
    return problems


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    """A fresh context (no storage) in English, on the module's console."""
    context = open_context(browser, console.url, locale="en-US")
    tab = context.new_page()
    problems = watch(tab)
    yield tab
    context.close()
    assert not problems.csp, f"Content-Security-Policy violations: {problems.csp}"
    assert not problems.errors, f"uncaught errors in the page: {problems.errors}"


def sign_in_with_token(page: Page, console: Console, path: str = "/clusters") -> None:
    """Signed in as admin without the form (the sign-in screen has its own tests)."""
    page.goto("/signin")
    token = console.admin_token(fresh=True)
    page.evaluate("t => localStorage.setItem('taichu.token', t)", token)
    page.goto(path)


@pytest.fixture
def signed_in_page(page: Page, console: Console) -> Page:
    sign_in_with_token(page, console)
    page.get_by_role("navigation").wait_for()
    return page


AxeCheck = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def axe_check() -> AxeCheck:
    """`axe_check(page, context=None)`: runs axe-core (evaluated through the browser's
    debugging protocol, which the page's CSP does not govern); fails on serious or
    critical violations, naming each rule and its first elements. Returns them all."""
    source = AXE.read_text()

    def _check(page: Page, context: str | None = None) -> list[dict[str, Any]]:
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(f"() => {{ {source}\n }}")
        results = page.evaluate(
            "ctx => window.axe.run(ctx ? document.querySelector(ctx) : document,"
            " {resultTypes: ['violations']})",
            context,
        )
        violations = results["violations"]
        bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
        described = [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(json.dumps(n["target"]) for n in v["nodes"][:3])
            for v in bad
        ]
        assert not bad, "axe: serious/critical violations:\n" + "\n".join(described)
        return violations

    return _check


Screenshot = Callable[[Page, str], Path]


@pytest.fixture
def screenshot() -> Screenshot:
    """`screenshot(page, name)` -> build/screenshots/<name>.png (the whole page)."""

    def _shot(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot
