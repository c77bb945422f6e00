"""kubectl's every tunnel goes through the run's proxy, which holds it to the platform's
address rules: a user's cluster name resolving to loopback, and a redirect to a metadata
address, are refused before a byte reaches them; an admin's server is reached by name
(real kubectl, real HTTPS servers, real sockets)."""

from __future__ import annotations

import asyncio
import base64
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import yaml

from taichu.commands.proxy import run_proxy
from taichu.kube.targets import TargetPolicy
from tests.clusters.serving import FakeApiServer, fake_apiserver, https_on_loopback
from tests.commands.conftest import kubectl_path

USER = TargetPolicy.for_caller(False, [])
USER_ALLOWED_LOOPBACK = TargetPolicy.for_caller(False, ["127.0.0.0/8", "::1"])


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeApiServer]:
    with fake_apiserver() as server:
        yield server


async def _kubectl(server: str, ca: bytes, proxy_url: str) -> tuple[int, str]:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "x",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": server,
                    "proxy-url": proxy_url,
                    "certificate-authority-data": base64.b64encode(ca).decode(),
                },
            }
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    }
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config"
        config.write_text(yaml.safe_dump(doc))
        process = await asyncio.create_subprocess_exec(
            kubectl_path(),
            "--kubeconfig",
            str(config),
            "--cache-dir",
            str(Path(tmp) / "cache"),
            "get",
            "--raw",
            "/version",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"HOME": tmp, "PATH": "/usr/bin:/bin"},
        )
        _, err = await asyncio.wait_for(process.communicate(), 60)
    return int(process.returncode or 0), err.decode()


async def test_an_admins_server_is_reached_by_name(fake: FakeApiServer) -> None:
    async with run_proxy(None, 5) as proxy:
        before = fake.requests
        code, err = await _kubectl(f"https://localhost:{fake.port}", fake.ca_pem, proxy.url)
    assert code != 0 and "Unauthorized" in err, err  # TLS verified for the name; 401 is the fake's
    assert fake.requests > before and not proxy.refusals


async def test_a_users_name_resolving_to_loopback_is_refused(fake: FakeApiServer) -> None:
    async with run_proxy(USER, 5) as proxy:
        before = fake.requests
        code, err = await _kubectl(f"https://localhost:{fake.port}", fake.ca_pem, proxy.url)
    assert code != 0 and "Forbidden" in err, err
    assert fake.requests == before
    assert proxy.refusals and all("loopback address" in r for r in proxy.refusals)


@contextmanager
def redirecting_server(location: str) -> Iterator[tuple[int, bytes]]:
    """HTTPS on 127.0.0.1 answering every request with a 302 to `location`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    with https_on_loopback(Handler, "redirector") as served:
        yield served


async def test_a_redirect_to_a_metadata_address_is_refused() -> None:
    """kubectl follows redirects itself: the tunnel to where it is sent is checked too."""
    with redirecting_server("https://169.254.169.254/latest/meta-data/") as (port, ca):
        async with run_proxy(USER_ALLOWED_LOOPBACK, 5) as proxy:
            code, err = await _kubectl(f"https://127.0.0.1:{port}", ca, proxy.url)
    assert code != 0, err
    assert any("169.254.169.254" in r and "metadata" in r for r in proxy.refusals), (
        proxy.refusals,
        err,
    )


async def test_only_the_runs_own_connect_requests_are_served() -> None:
    async with run_proxy(None, 5) as proxy:
        port = int(proxy.url.rsplit(":", 1)[1])
        answers = []
        for request in (
            b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n",  # no credentials
            b"GET http://169.254.169.254/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"CONNECT " + b"a" * 9000 + b":1 HTTP/1.1\r\n\r\n",  # over the head limit
            "CONNECT 127.0.0.1:\u00b2 HTTP/1.1\r\n\r\n".encode(),  # a digit, not ASCII
            b"CONNECT 127.0.0.1:" + b"9" * 5000 + b" HTTP/1.1\r\n\r\n",
            "CONNECT 127.0.0.1:1 HTTP/1.1\r\nProxy-Authorization: Basic \u00e9\r\n\r\n".encode(),
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            answers.append(await asyncio.wait_for(reader.read(200), 10))
            writer.close()
    assert answers[0].startswith(b"HTTP/1.1 407"), answers
    assert answers[1].startswith(b"HTTP/1.1 405"), answers
    assert answers[2].startswith(b"HTTP/1.1 431"), answers
    assert answers[3].startswith(b"HTTP/1.1 405") and answers[4].startswith(b"HTTP/1.1 405")
    assert answers[5].startswith(b"HTTP/1.1 407"), answers
    assert not proxy.refusals


async def test_a_run_ending_with_a_tunnel_open_closes_it_quietly(
    fake: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    """kubectl killed at its timeout leaves tunnels open: closing the proxy ends them,
    promptly and without an error in the log."""
    async with run_proxy(None, 5) as proxy:
        credentials = proxy.url.removeprefix("http://").rsplit("@", 1)[0]
        port = int(proxy.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        auth = base64.b64encode(credentials.encode()).decode()
        writer.write(
            f"CONNECT localhost:{fake.port} HTTP/1.1\r\nProxy-Authorization: Basic {auth}"
            "\r\n\r\n".encode()
        )
        await writer.drain()
        established = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert established.startswith(b"HTTP/1.1 200"), established
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the tunnel was closed
    writer.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
