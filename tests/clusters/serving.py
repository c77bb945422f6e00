"""A real `taichu serve` for registration tests, and a real HTTPS server posing as an API
server (a hostile cluster: it answers 401 to everything and records what it was sent)."""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from taichu.pki import issue, new_ca
from tests.support.server import (
    drop_prepared_database,
    login_token,
    prepare_database,
    running_server,
    server_env,
)

ADMIN_PASSWORD = "Targets-Admin-2026"
USER_PASSWORD = "User-Pass-2026"


@dataclass
class Served:
    url: str
    admin: dict[str, str]

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def new_user(self, name: str) -> dict[str, str]:
        registered = httpx.post(
            f"{self.url}/api/auth/register/",
            json={"username": name, "password": USER_PASSWORD},
            timeout=30,
        )
        assert registered.status_code in (200, 201), registered.text
        return {"Authorization": f"Bearer {login_token(self.url, name, USER_PASSWORD)}"}


@contextmanager
def serve(tmp_path: Path, label: str, **env: str) -> Iterator[Served]:
    """`taichu serve` on its own migrated database, with `env` on top of the defaults."""
    url = prepare_database(tmp_path, label)
    try:
        with serve_database(url, tmp_path, label, **env) as served:
            yield served
    finally:
        drop_prepared_database(url)


@contextmanager
def serve_database(
    url: str, tmp_path: Path, label: str, log_name: str = "", **env: str
) -> Iterator[Served]:
    """`taichu serve` on a prepared database: served again with the same `label`, it is the
    same installation (data directory, secret key) restarted, with `env` as given now."""
    full_env = server_env(
        url,
        tmp_path / f"data-{label}",
        TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TAICHU_SECRET_KEY=f"targets-secret-{label}-0123456789abcdef",
        **env,
    )
    with running_server(full_env, tmp_path / f"server-{log_name or label}.log") as server:
        token = login_token(server.url, "admin", ADMIN_PASSWORD)
        yield Served(server.url, {"Authorization": f"Bearer {token}"})


@dataclass
class FakeApiServer:
    """HTTPS on 127.0.0.1 with a certificate for 127.0.0.1 and localhost."""

    port: int
    ca_pem: bytes
    seen_tokens: list[str] = field(default_factory=list)
    requests: int = 0

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def _status_401() -> bytes:
    return json.dumps(
        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 401,
         "reason": "Unauthorized", "message": "Unauthorized"}
    ).encode()  # fmt: skip


@contextmanager
def https_on_loopback(
    handler: type[BaseHTTPRequestHandler], label: str
) -> Iterator[tuple[int, bytes]]:
    """A threaded HTTPS server on 127.0.0.1 with a certificate for 127.0.0.1 and localhost
    from a CA of its own: its port and that CA."""
    ca = new_ca(f"{label}-ca")
    leaf = issue(ca, label, server=True, dns=("localhost",), ips=("127.0.0.1",))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as tmp:
        crt, key = leaf.write(Path(tmp), "leaf")
        ctx.load_cert_chain(crt, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1]), ca.cert_pem
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def fake_apiserver() -> Iterator[FakeApiServer]:
    state: dict[str, FakeApiServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            fake = state["fake"]
            fake.requests += 1
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                fake.seen_tokens.append(auth.removeprefix("Bearer "))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(min(length, 1 << 20))
            body = _status_401()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    with https_on_loopback(Handler, "fake-apiserver") as (port, ca_pem):
        state["fake"] = FakeApiServer(port, ca_pem)
        yield state["fake"]


def kubeconfig(server: str, ca_pem: bytes | None = None, token: str = "kube-token") -> str:  # noqa: S107
    cluster: dict[str, Any] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": cluster}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "ctx",
        }
    )
