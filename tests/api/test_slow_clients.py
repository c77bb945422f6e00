"""Finding 13: 200 sockets sending a byte every 10 s were all still open after 60 s.
Headers and bodies must arrive in time, and open connections are capped."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import time
from collections.abc import Callable

import httpx

from tests.api.rawhttp import connect, request_head
from tests.support.server import ServerProcess
from tests.support.waiting import wait_for

HEADER_TIMEOUT, BODY_IDLE, BODY_TOTAL = 2.0, 2.0, 4.0
TRICKLE_EVERY = 0.5  # the attacker's pace: never idle long enough for the idle timer
SLACK = 4.0  # a loaded machine's lateness


class Slow:
    def __init__(self, kind: str, sock: socket.socket) -> None:
        self.kind, self.sock = kind, sock
        self.opened = time.monotonic()
        self.closed_after: float | None = None
        self.received = b""


def _open(port: int, kind: str) -> Slow:
    sock = connect(port)
    sock.setblocking(False)
    slow = Slow(kind, sock)
    if kind == "body-trickle":
        head = {"Content-Type": "application/json", "Content-Length": "100000"}
        sock.send(request_head("POST", "/api/v1/auth/login", head))
    elif kind == "header-trickle":
        sock.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    elif kind == "body-stall":
        head = {"Content-Type": "application/json", "Content-Length": "100000"}
        sock.send(request_head("POST", "/api/v1/auth/login", head) + b'{"username": ')
    return slow


def _poll(slows: list[Slow]) -> None:
    """Reads what the server sent; notes when it closed."""
    open_ = [s for s in slows if s.closed_after is None]
    if not open_:
        return
    readable, _, _ = select.select([s.sock for s in open_], [], [], 0)
    for slow in open_:
        if slow.sock in readable:
            try:
                data = slow.sock.recv(4096)
            except ConnectionError:
                data = b""
            if data:
                slow.received += data
                continue
            slow.closed_after = time.monotonic() - slow.opened


def _trickle(slows: list[Slow]) -> None:
    for slow in slows:
        if slow.closed_after is None and slow.kind in ("header-trickle", "body-trickle"):
            with contextlib.suppress(OSError):  # closed: _poll records it
                slow.sock.send(b"a" if slow.kind == "header-trickle" else b" ")


def test_slow_headers_and_bodies_are_cut_off(edge_server: Callable[..., ServerProcess]) -> None:
    server = edge_server(
        TAICHU_HTTP__HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
        TAICHU_HTTP__BODY_IDLE_TIMEOUT_SECONDS=str(BODY_IDLE),
        TAICHU_HTTP__BODY_TIMEOUT_SECONDS=str(BODY_TOTAL),
    )
    kinds = ["silent", "header-trickle", "body-trickle", "body-stall"]
    slows = [_open(server.port, kind) for kind in kinds for _ in range(10)]
    normal = httpx.Client(base_url=server.url, timeout=5)
    served = 0
    deadline = time.monotonic() + BODY_TOTAL + SLACK + 2
    try:
        while any(s.closed_after is None for s in slows) and time.monotonic() < deadline:
            _trickle(slows)
            # Meanwhile an ordinary client is served as usual.
            assert normal.get("/healthz").status_code == 200
            served += 1
            _poll(slows)
            time.sleep(TRICKLE_EVERY)
    finally:
        normal.close()
        for slow in slows:
            slow.sock.close()
    still_open = [s.kind for s in slows if s.closed_after is None]
    assert not still_open, f"still open after {BODY_TOTAL + SLACK + 2}s: {still_open}"
    assert served >= 3
    for slow in slows:
        assert slow.closed_after is not None
        if slow.kind in ("silent", "header-trickle"):
            assert slow.closed_after < HEADER_TIMEOUT + SLACK, (slow.kind, slow.closed_after)
            assert slow.received.startswith(b"HTTP/1.1 408 "), slow.received[:100]
        elif slow.kind == "body-stall":
            assert slow.closed_after < BODY_IDLE + SLACK, (slow.kind, slow.closed_after)
        else:  # bytes kept coming, so only the whole-body deadline applies
            assert BODY_TOTAL - 0.5 < slow.closed_after < BODY_TOTAL + SLACK, slow.closed_after
    assert "Traceback" not in server.log()


def test_blank_lines_after_a_response_do_not_hold_the_connection(
    edge_server: Callable[..., ServerProcess],
) -> None:
    """Between requests the HTTP parser skips blank lines without starting a message, and
    uvicorn cancels its keep-alive timer on any byte: "\r\n" every half second after one
    served request kept the connection open indefinitely."""
    server = edge_server(TAICHU_HTTP__HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT))
    sock = connect(server.port)
    try:
        sock.sendall(request_head("GET", "/healthz", {}))
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        sock.setblocking(False)
        opened, closed_after = time.monotonic(), None
        while closed_after is None and time.monotonic() - opened < HEADER_TIMEOUT + SLACK + 4:
            with contextlib.suppress(OSError):
                sock.send(b"\r\n")
            time.sleep(TRICKLE_EVERY)
            if select.select([sock], [], [], 0)[0]:
                try:
                    data = sock.recv(4096)
                except ConnectionError:
                    data = b""
                if not data:
                    closed_after = time.monotonic() - opened
    finally:
        sock.close()
    assert closed_after is not None, "still open: blank lines held the connection"
    assert closed_after < HEADER_TIMEOUT + SLACK, closed_after


def test_open_connections_are_capped(edge_server: Callable[..., ServerProcess]) -> None:
    server = edge_server(
        TAICHU_HTTP__MAX_CONNECTIONS="10", TAICHU_HTTP__HEADER_TIMEOUT_SECONDS="60"
    )

    def healthz() -> httpx.Response:
        return httpx.get(f"{server.url}/healthz", timeout=5)  # a new connection each time

    def until(status: int) -> httpx.Response:
        return asyncio.run(wait_for(healthz, lambda r: r.status_code == status, timeout=15))

    held = [connect(server.port) for _ in range(10)]
    try:
        busy = until(503)
        assert busy.json() == {
            "code": 503,
            "message": "Server busy: too many connections",
            "data": None,
        }
    finally:
        for sock in held:
            sock.close()
    assert until(200).json() == {"status": "ok"}
