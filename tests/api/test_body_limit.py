"""Finding 3: a 220 MB body on /auth/login grew the server by 1.8 GB before
authentication. Bodies are limited while they stream (413 in the family's shape, the
connection closed) and the server's memory does not grow."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi import FastAPI, Request

from taichu.api.errors import install_error_handlers
from taichu.api.limits import BodyLimitMiddleware, allow_body
from tests.api.conftest import EDGE_ADMIN_PASSWORD
from tests.api.rawhttp import connect, read_response, request_head
from tests.support.server import ServerProcess

ATTACK_BYTES = 220 * 1024 * 1024
CHUNK = b"x" * 65536


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _declared_oversize(server: ServerProcess, path: str) -> tuple[dict[str, object], float]:
    """Declares 220 MB, sends 64 KiB of it: the answer must not wait for the rest."""
    with connect(server.port) as sock:
        started = time.monotonic()
        head = {"Content-Type": "application/json", "Content-Length": str(ATTACK_BYTES)}
        sock.sendall(request_head("POST", path, head) + CHUNK)
        response = read_response(sock, timeout=15)
        assert response.status == 413, response
        assert response.headers.get("connection") == "close"
        return response.json(), time.monotonic() - started


def _streamed_oversize(server: ServerProcess, path: str) -> tuple[dict[str, object], int]:
    """Streams 220 MB chunked (no length to check up front); returns the answer and how
    much had been sent by then."""
    sent = 0
    stop = threading.Event()

    with connect(server.port) as sock:

        def pump() -> None:
            nonlocal sent
            frame = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
            try:
                while sent < ATTACK_BYTES and not stop.is_set():
                    sock.sendall(frame)
                    sent += len(CHUNK)
            except OSError:
                pass  # the server closed the connection: what we want

        head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        sock.sendall(request_head("POST", path, head))
        sender = threading.Thread(target=pump, daemon=True)
        sender.start()
        try:
            response = read_response(sock, timeout=30)
        finally:
            stop.set()
        sender.join(timeout=10)
        assert response.status == 413, response
        return response.json(), sent


def test_oversized_bodies_are_refused_while_streaming(
    edge_server: Callable[..., ServerProcess],
) -> None:
    server = edge_server()
    assert server.proc is not None
    login = {"username": "admin", "password": EDGE_ADMIN_PASSWORD}
    assert httpx.post(f"{server.url}/api/v1/auth/login", json=login, timeout=30).status_code == 200
    baseline = _rss_mib(server.proc.pid)

    body, elapsed = _declared_oversize(server, "/api/v1/auth/login")
    assert body["code"] == 413 and body["data"] is None
    assert "1048576 bytes" in str(body["message"])
    assert elapsed < 10

    body, sent = _streamed_oversize(server, "/api/v1/auth/login")
    assert body["code"] == 413 and body["data"] is None
    assert sent < ATTACK_BYTES / 4, f"server read {sent} bytes before refusing"
    runtime, _ = _streamed_oversize(server, "/api/auth/login/")
    assert set(runtime) == {"detail"} and "too large" in str(runtime["detail"])

    grown = _rss_mib(server.proc.pid) - baseline
    assert grown < 40, f"server RSS grew by {grown:.0f} MiB"
    # A body within the limit is still served, on a fresh connection.
    assert httpx.post(f"{server.url}/api/v1/auth/login", json=login, timeout=30).status_code == 200
    assert "Traceback" not in server.log()


def test_body_limit_is_a_setting(edge_server: Callable[..., ServerProcess]) -> None:
    server = edge_server(TAICHU_HTTP__MAX_BODY_BYTES="4096")
    padded = {"username": "admin", "password": EDGE_ADMIN_PASSWORD, "pad": "x" * 5000}
    response = httpx.post(f"{server.url}/api/v1/auth/login", json=padded, timeout=30)
    assert response.status_code == 413
    assert response.json()["code"] == 413 and "4096 bytes" in response.json()["message"]


async def test_a_route_may_allow_a_larger_body() -> None:
    """The per-route override (`@allow_body`), as the command route uses it for manifests."""
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=1024)

    @app.post("/api/v1/small")
    async def small(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.post("/api/v1/large")
    @allow_body(8192)
    async def large(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/api/v1/small", content=b"x" * 1024)).json() == {"size": 1024}
        refused = await client.post("/api/v1/small", content=b"x" * 1025)
        assert refused.status_code == 413 and "1024 bytes" in refused.json()["message"]
        assert (await client.post("/api/v1/large", content=b"x" * 8192)).json() == {"size": 8192}
        refused = await client.post("/api/v1/large", content=b"x" * 8193)
        assert refused.status_code == 413 and "8192 bytes" in refused.json()["message"]


def test_oversized_headers_are_refused_while_they_arrive(
    edge_server: Callable[..., ServerProcess],
) -> None:
    """uvicorn's httptools protocol keeps every header line it is sent: 1 GB of headers
    within the 10 s header timeout took one unauthenticated connection to 1.1 GB. The
    request line and headers together are bounded (431, closed) as they arrive."""
    server = edge_server()
    assert server.proc is not None
    assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
    baseline = _rss_mib(server.proc.pid)
    line = b"X-Pad: " + b"p" * 8000 + b"\r\n"
    sent = 0
    with connect(server.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            while sent < 200 * 1024 * 1024:
                sock.sendall(line * 16)
                sent += len(line) * 16
        except OSError:
            pass  # the server closed the connection: what we want
        response = read_response(sock, timeout=15)
    assert response.status == 431, response
    assert "65536 bytes" in str(response.json()["message"])
    assert sent < 50 * 1024 * 1024, f"server read {sent} bytes of headers before refusing"
    grown = _rss_mib(server.proc.pid) - baseline
    assert grown < 40, f"server RSS grew by {grown:.0f} MiB"
    # Headers within the bound are served as before (64 KiB: ample for real clients).
    padded = {f"X-Pad-{i}": "p" * 1000 for i in range(40)}
    assert httpx.get(f"{server.url}/healthz", headers=padded, timeout=30).status_code == 200
    assert "Traceback" not in server.log()
