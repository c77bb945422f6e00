"""A hostile cluster: a real HTTPS server on 127.0.0.1 that poses as a Kubernetes API
server and whose answers are programmable per path.

It starts as a believable API server (ready, a version, ready nodes, allowed access
reviews), so it can be registered through the real API, which probes before it stores;
a test then turns it hostile (`answer(...)`) and watches what the platform does. It runs
its own event loop in a thread, so both sync and async tests can use it, and counts the
requests per path (`hits`).

It tests our defenses; it does not stand in for a cluster in a feature test.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from taichu.pki import CertKey, issue, new_ca

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN = "hostile-cluster-token"
MiB = 2**20


def status(code: int, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message}
    return web.json_response({**body, "code": code}, status=code)


def json_answer(doc: Any, code: int = 200) -> Handler:
    """Any JSON document (a list, a string: whatever the test wants to be wrong)."""

    async def handle(_: web.Request) -> web.StreamResponse:
        return web.Response(
            body=json.dumps(doc).encode(), status=code, content_type="application/json"
        )

    return handle


def text_answer(text: str, code: int = 200) -> Handler:
    async def handle(_: web.Request) -> web.StreamResponse:
        return web.Response(text=text, status=code)

    return handle


def huge_answer(
    size: int,
    prefix: bytes = b'{"gitVersion": "',
    chunk: int = MiB,
    pause_after: int | None = None,
    resume: threading.Event | None = None,
) -> Handler:
    """`size` bytes streamed without a Content-Length, `chunk` at a time. With
    `pause_after`, it stops after that many bytes until `resume` is set (so a test can
    hold several answers half-sent at once)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        sent = 0
        try:
            await response.write(prefix)
            block = b"a" * chunk
            while sent < size:
                if request.transport is None or request.transport.is_closing():
                    return response  # the client stopped reading: what we want to see
                while pause_after is not None and sent >= pause_after and resume is not None:
                    if resume.is_set():
                        break
                    if request.transport is None or request.transport.is_closing():
                        return response
                    await asyncio.sleep(0.01)
                await response.write(block)
                sent += chunk
        except (ConnectionResetError, RuntimeError):
            return response  # the client stopped reading: what we want to see
        await response.write_eof()
        return response

    return handle


def slow_answer(doc: Any, seconds_per_byte: float) -> Handler:
    """A valid answer trickling in a byte at a time."""

    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for byte in json.dumps(doc).encode():
                await response.write(bytes([byte]))
                await asyncio.sleep(seconds_per_byte)
        except (ConnectionResetError, RuntimeError):
            return response
        await response.write_eof()
        return response

    return handle


def endless_list(items_per_page: int = 1, kind: str = "NodeList") -> Handler:
    """A list whose every page says there is more (`metadata.continue`)."""
    pages = Counter[str]()

    async def handle(_: web.Request) -> web.StreamResponse:
        pages["n"] += 1
        n = pages["n"]
        items = [node(f"n{n}-{i}") for i in range(items_per_page)]
        meta = {"resourceVersion": str(n), "continue": f"page-{n + 1}"}
        return web.json_response(
            {"kind": kind, "apiVersion": "v1", "metadata": meta, "items": items}
        )

    return handle


def node(name: str, cpu: Any = "4", memory: Any = "8Gi", ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": cpu, "memory": memory},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def node_list(*nodes: Any) -> dict[str, Any]:
    return {
        "kind": "NodeList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "1"},
        "items": list(nodes),
    }


def empty_list(kind: str) -> Handler:
    return json_answer({"kind": kind, "apiVersion": "v1", "metadata": {}, "items": []})


class HostileCluster:
    def __init__(self, directory: Path | None = None, ca: CertKey | None = None) -> None:
        self._dir = directory or Path(tempfile.mkdtemp(prefix="hostile-"))
        self.ca = ca or new_ca("hostile-ca")  # `ca` shared: API servers of one cluster
        self._serving = issue(
            self.ca, "hostile", server=True, dns=("localhost",), ips=("127.0.0.1",)
        )
        self.routes: dict[str, Handler] = {}
        self.hits: Counter[str] = Counter()
        self.tokens = {TOKEN}  # bearer tokens it accepts (401 to any other)
        self.reject_all = False  # answer 401 to everything, as to a revoked token
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.believable()

    # -- programming ------------------------------------------------------------------------

    def believable(self) -> None:
        """Answers enough of an API server to be registered and probed healthy."""
        self.routes = {
            "/readyz": text_answer("ok"),
            "/healthz": text_answer("ok"),
            "/version": json_answer({"major": "1", "minor": "31", "gitVersion": "v1.31.0"}),
            "/api/v1/nodes": json_answer(node_list(node("hostile-1"))),
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews": json_answer(
                {"kind": "SelfSubjectAccessReview", "status": {"allowed": True}}, 201
            ),
            "/apis/authentication.k8s.io/v1/selfsubjectreviews": json_answer(
                {"kind": "SelfSubjectReview", "status": {"userInfo": {"username": "hostile"}}}, 201
            ),
            "/api/v1/namespaces": empty_list("NamespaceList"),
            "/api/v1/pods": empty_list("PodList"),
            "/api/v1/namespaces/kube-system/pods": empty_list("PodList"),
            "/apis/apps/v1/deployments": empty_list("DeploymentList"),
            "/apis/autoscaling/v2/horizontalpodautoscalers": empty_list(
                "HorizontalPodAutoscalerList"
            ),
        }

    def answer(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    # -- serving ----------------------------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def kubeconfig(self, token: str = TOKEN) -> str:
        """A kubeconfig for it (JSON is YAML), trusting its CA."""
        import base64

        ca = base64.b64encode(self.ca.cert_pem).decode()
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "hostile",
                        "cluster": {"server": self.server, "certificate-authority-data": ca},
                    }
                ],
                "users": [{"name": "hostile", "user": {"token": token}}],
                "contexts": [
                    {"name": "hostile", "context": {"cluster": "hostile", "user": "hostile"}}
                ],
                "current-context": "hostile",
            }
        )

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.reject_all or bearer not in self.tokens:
            return status(401, "Unauthorized")
        handler = self.routes.get(request.path)
        if handler is None:
            return status(404, "the server could not find the requested resource")
        return await handler(request)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        crt, key = self._serving.write(self._dir, "hostile")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(crt, key)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> HostileCluster:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._start())
            except BaseException as e:  # reported to the starting thread
                failure.append(e)
                return
            finally:
                started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="hostile-cluster", daemon=True)
        self._thread.start()
        if not started.wait(30) or failure:
            raise RuntimeError(f"hostile cluster did not start: {failure}")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._thread = None
        self._loop.close()

    def __enter__(self) -> HostileCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
