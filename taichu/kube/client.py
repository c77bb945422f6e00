"""KubeClient: raw-JSON access to one cluster's API server as one identity.

Built on aiohttp directly rather than on kubernetes_asyncio's ApiClient/Configuration.
aiohttp *is* kubernetes_asyncio's transport (so no new dependency), and going one level
down removes four problems the ApiClient has for a platform:
- it loads the CA and client key from file paths only, so embedded kubeconfig data
  would have to be written to disk; here the CA is loaded from memory and the key pair
  through an anonymous memory file (memfd) that never touches a disk;
- its session has `trust_env=True`, so HTTP(S)_PROXY in the server's environment would
  silently reroute cluster traffic (and credentials) through a proxy;
- it has no timeouts unless every call passes one, and a hung cluster must never hang
  the caller;
- its typed models and deserializer are slow at thousands of objects, and DESIGN asks
  for raw JSON anyway; what remained to use was one `request()` call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from functools import partial
from typing import Any, Literal

import aiohttp

from taichu.kube.access import ClusterAccess
from taichu.kube.answers import expect_object
from taichu.kube.budget import Hold, ReadBudget
from taichu.kube.calls import ClusterCalls
from taichu.kube.errors import (
    TRANSPORT_ERRORS,
    AnswerTooLarge,
    ClusterUnreachable,
    MalformedAnswer,
    failover_error,
    nothing_sent,
    status_error,
    transport_error,
)
from taichu.kube.limits import BoundName, ReadBound, ReadLimits
from taichu.kube.lists import ListCalls
from taichu.kube.targets import guarded_socket
from taichu.kube.tls import ssl_context
from taichu.kube.watch import Watch

log = logging.getLogger("taichu.kube")
Obj = dict[str, Any]
Params = dict[str, str | int | bool | None]
PatchType = Literal["merge", "strategic", "apply", "json"]

_PATCH_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",  # JSON is YAML
    "json": "application/json-patch+json",
}
FIELD_MANAGER = "taichu"
# Bodies above this are parsed in a thread: a big list page must not freeze the event loop.
_THREAD_PARSE_BYTES = 8 * 2**20


def _query(params: Params | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


class KubeClient(ClusterCalls, ListCalls):
    """One cluster, one identity, one connection pool. Every method returns raw JSON and
    raises only `taichu.errors` (see `taichu.kube.errors`). Close it when done, or let a
    `ConnectionManager` own it."""

    def __init__(
        self,
        access: ClusterAccess,
        *,
        connect_timeout: float = 5.0,
        request_timeout: float = 15.0,
        max_connections: int = 32,
        limits: ReadLimits | None = None,
        budget: ReadBudget | None = None,
    ) -> None:
        self.access = access
        self.limits = limits or ReadLimits()
        # One per process when a ConnectionManager lends the client; its own otherwise.
        self.budget = budget or ReadBudget.of(self.limits)
        # The cluster's API servers; requests go to the one that last answered (sticky) and
        # move on to the next only when it cannot be connected to.
        self._servers = access.servers
        self._current = 0
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self._max_connections = max_connections
        try:
            self._ssl = ssl_context(access)
        except ssl.SSLError as e:
            raise ClusterUnreachable(f"cannot use the TLS material for {self.server}: {e}") from e
        self._headers = {"Accept": "application/json", "User-Agent": "taichu"}
        if access.token:
            self._headers["Authorization"] = f"Bearer {access.token}"
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"KubeClient({self.access!r})"

    @property
    def server(self) -> str:
        """The API server requests go to now (the one that last answered)."""
        return self._servers[self._current]

    @property
    def closed(self) -> bool:
        return self._closed

    def _timeout(self, total: float | None) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=total, sock_connect=self.connect_timeout)

    def _http(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if self._session is None:  # created lazily: a session belongs to a running loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    ssl=self._ssl,
                    limit=self._max_connections,
                    # No metadata/link-local (nor loopback for a user's address), even
                    # after DNS: checked on the address each connection goes to.
                    socket_factory=partial(guarded_socket, policy=self.access.connect_policy),
                ),
                headers=self._headers,
                timeout=self._timeout(self.request_timeout),
                trust_env=False,  # no proxy from the environment: see the module docstring
                read_bufsize=2**21,  # etcd allows objects up to 1.5 MiB
            )
        return self._session

    async def _open(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str | None = None,
        request_timeout: float | None = None,
        check: bool = True,
    ) -> aiohttp.ClientResponse:
        """Send a request and return the response, body unread; with `check`, an error
        status is raised as the matching `taichu.errors` class."""
        if not path.startswith("/"):
            raise ValueError(f"API path must start with '/': {path!r}")
        total = request_timeout or self.request_timeout
        headers = {"Accept": accept} if accept else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        first, failed = self._current, []
        for step in range(len(self._servers)):
            index = (first + step) % len(self._servers)
            server = self._servers[index]
            try:
                resp = await self._http().request(
                    method,
                    server + path,
                    params=_query(params),
                    data=data,
                    headers=headers,
                    timeout=self._timeout(total),
                    server_hostname=self.access.tls_server_name,
                    allow_redirects=False,
                )
                break
            except TRANSPORT_ERRORS as e:
                if nothing_sent(e) and step + 1 < len(self._servers):
                    failed.append((server, e))  # no byte sent: the next may take it
                    continue
                raise failover_error(failed, e, server, total) from e
        if failed:  # stick to the one that answered
            log.warning(
                "API servers %s could not be connected to: using %s",
                ", ".join(s for s, _ in failed),
                server,
            )
            self._current = index
        try:
            if 300 <= resp.status < 400:
                resp.release()
                raise ClusterUnreachable(
                    f"{server} redirects {path} to {resp.headers.get('Location')}: point "
                    "the server address at the API server itself"
                )
            if resp.status < 400 or not check:
                return resp
            try:
                error_body = await self._read(resp, "small_answer_max_bytes", f"{method} {path}")
            except AnswerTooLarge:
                error_body = b""  # described by its status alone, like any non-Status body
        except TRANSPORT_ERRORS as e:
            raise transport_error(e, server, total) from e
        raise status_error(resp.status, error_body, method, server + path)

    async def _read(
        self,
        resp: aiohttp.ClientResponse,
        bound: BoundName | ReadBound,
        what: str,
        held: Hold | None = None,
    ) -> bytearray:
        """The body, read as it streams in and abandoned (connection closed) past the size
        `bound`: a 300 MB answer to /version must not become 300 MB of memory. Its bytes
        are covered by `held` (the caller's share of the read budget, kept until it has
        parsed the body), or by a share of its own released on return."""
        if isinstance(bound, str):
            bound = self.limits.bound(bound)
        if held is None:
            async with self.budget.hold(f"{what} from {self.server}") as own:
                return await self._read(resp, bound, what, own)
        body = bytearray()
        try:
            if resp.content_length is not None:
                if resp.content_length > bound.max_bytes:
                    raise self._too_large(what, bound)
                await held.cover(resp.content_length)
            async for chunk in resp.content.iter_any():
                size = len(body) + len(chunk)
                if size > bound.max_bytes:
                    raise self._too_large(what, bound)
                await held.cover(size)  # may wait for room; the cluster waits with us
                body += chunk
            return body
        except BaseException:
            resp.close()
            # The error's traceback keeps this frame alive (a caller may hold the error
            # through a back-off pause): the buffer, its share given back, must not be.
            body.clear()
            raise
        finally:
            resp.release()

    def _too_large(self, what: str, bound: ReadBound) -> AnswerTooLarge:
        return AnswerTooLarge(
            f"{self.server} answered {what} with more than {bound.max_bytes} bytes, {bound.why}"
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str | None = None,
        request_timeout: float | None = None,
        bound: BoundName | ReadBound = "answer_max_bytes",
    ) -> Obj:
        """Decoded JSON object of any request (the other methods are shorthands), read
        within the size `bound` (a field of `ReadLimits` named, or a computed one) and
        within the process's read budget."""
        total = request_timeout or self.request_timeout
        resp = await self._open(
            method,
            path,
            params=params,
            body=body,
            content_type=content_type,
            accept=accept,
            request_timeout=total,
        )
        what = f"{method} {path}"
        # The share is held until the body is parsed: the buffer is dropped only then.
        async with self.budget.hold(f"{what} from {self.server}") as held:
            try:
                raw = await self._read(resp, bound, what, held)
            except TRANSPORT_ERRORS as e:
                raise transport_error(e, self.server, total) from e
            if not raw:
                return {}
            try:
                if len(raw) > _THREAD_PARSE_BYTES:
                    doc = await asyncio.to_thread(json.loads, raw)
                else:
                    doc = json.loads(raw)
            except (ValueError, RecursionError) as e:  # RecursionError: JSON nested too deep
                size = len(raw)
                raw.clear()  # not kept alive by the error (see _read), nor is its text:
                if isinstance(e, json.JSONDecodeError):
                    e.doc = ""
                raise MalformedAnswer(
                    f"{self.server} answered {what} with something other than JSON "
                    f"({size} bytes): is it a Kubernetes API server?"
                ) from e
            del raw
        return expect_object(doc, f"the answer to {what}")

    # --- reading ---------------------------------------------------------------------

    async def get(
        self, path: str, params: Params | None = None, *, request_timeout: float | None = None
    ) -> Obj:
        return await self.request("GET", path, params=params, request_timeout=request_timeout)

    def watch(
        self,
        path: str,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
        params: Params | None = None,
    ) -> Watch:
        """Watch a collection from `resource_version` (None: current state as ADDED events
        first). The stream ends after `timeout_seconds`; resume from its resource_version."""
        query: Params = {
            **(params or {}),
            "watch": True,
            "allowWatchBookmarks": True,
            "timeoutSeconds": timeout_seconds,
            "resourceVersion": resource_version,
        }
        # The server ends the stream itself; the client bound only guards a hung server.
        total = timeout_seconds + self.request_timeout

        async def open_stream() -> aiohttp.ClientResponse:
            return await self._open("GET", path, params=query, request_timeout=total)

        return Watch(
            open_stream,
            self.server,
            total,
            resource_version,
            self.limits.watch_event_max_bytes,
            self.budget.hold(f"an event of the watch {path} from {self.server}"),
        )

    # --- writing ---------------------------------------------------------------------

    async def create(self, path: str, body: Obj, params: Params | None = None) -> Obj:
        return await self.request("POST", path, body=body, params=params)

    async def replace(self, path: str, body: Obj, params: Params | None = None) -> Obj:
        return await self.request("PUT", path, body=body, params=params)

    async def patch(
        self,
        path: str,
        body: Any,
        patch_type: PatchType = "merge",
        *,
        force: bool = False,
        params: Params | None = None,
    ) -> Obj:
        """`apply` is server-side apply as field manager "taichu"; `force` takes over fields
        other managers own."""
        query: Params = dict(params or {})
        if patch_type == "apply":
            query.setdefault("fieldManager", FIELD_MANAGER)
            query["force"] = force or None
        return await self.request(
            "PATCH", path, body=body, params=query, content_type=_PATCH_TYPES[patch_type]
        )

    async def delete(self, path: str, params: Params | None = None) -> Obj:
        """Delete; the answer is the object (being finalized) or a Status."""
        return await self.request("DELETE", path, params=params)

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None
