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

import builtins
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiohttp

from taichu.kube.access import ClusterAccess
from taichu.kube.discovery import Discovery, discover
from taichu.kube.errors import ClusterUnreachable, status_error, transport_error
from taichu.kube.targets import guarded_socket
from taichu.kube.tls import ssl_context
from taichu.kube.watch import Watch

Obj = dict[str, Any]
Params = dict[str, str | int | bool | None]
PatchType = Literal["merge", "strategic", "apply", "json"]

_PATCH_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",  # JSON is YAML
    "json": "application/json-patch+json",
}
_TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError)
FIELD_MANAGER = "taichu"


def _query(params: Params | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


class KubeClient:
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
    ) -> None:
        self.access = access
        self.server = access.server
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
                    socket_factory=guarded_socket,  # no metadata/link-local, even after DNS
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
        try:
            resp = await self._http().request(
                method,
                self.server + path,
                params=_query(params),
                data=data,
                headers=headers,
                timeout=self._timeout(total),
                server_hostname=self.access.tls_server_name,
                allow_redirects=False,
            )
            if 300 <= resp.status < 400:
                resp.release()
                raise ClusterUnreachable(
                    f"{self.server} redirects {path} to {resp.headers.get('Location')}: point "
                    "the server address at the API server itself"
                )
            if resp.status < 400 or not check:
                return resp
            async with resp:
                error_body = await resp.read()
        except _TRANSPORT_ERRORS as e:
            raise transport_error(e, self.server, total) from e
        raise status_error(resp.status, error_body, method, self.server + path)

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
    ) -> Any:
        """Decoded JSON answer of any request (the other methods are shorthands)."""
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
        try:
            async with resp:
                raw = await resp.read()
        except _TRANSPORT_ERRORS as e:
            raise transport_error(e, self.server, total) from e
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError as e:
            raise ClusterUnreachable(
                f"{self.server} answered {method} {path} with something other than JSON "
                f"({len(raw)} bytes): is it a Kubernetes API server?"
            ) from e

    # --- reading ---------------------------------------------------------------------

    async def get(
        self, path: str, params: Params | None = None, *, request_timeout: float | None = None
    ) -> Obj:
        return await self.request("GET", path, params=params, request_timeout=request_timeout)

    async def _pages(self, path: str, params: Params | None, page_size: int) -> AsyncIterator[Obj]:
        query: Params = {**(params or {}), "limit": page_size}
        while True:
            page = await self.get(path, query)
            # List items carry no kind/apiVersion; fill them in as kubectl does, so an item
            # can be stored or re-applied on its own.
            kind = str(page.get("kind", ""))
            kind = kind.removesuffix("List") if kind != "List" else ""
            for item in page.get("items") or []:
                if kind:
                    item.setdefault("kind", kind)
                if "apiVersion" in page:
                    item.setdefault("apiVersion", page["apiVersion"])
            yield page
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            query["continue"] = token

    async def list(
        self, path: str, params: Params | None = None, page_size: int = 500
    ) -> AsyncIterator[Obj]:
        """Every item of a collection, fetched `page_size` at a time. A continue token that
        expires mid-way (etcd compaction) raises `ResourceExpired`: start over."""
        async for page in self._pages(path, params, page_size):
            for item in page.get("items") or []:
                yield item

    async def list_all(
        self, path: str, params: Params | None = None, page_size: int = 500
    ) -> tuple[builtins.list[Obj], str]:
        """All items and the list's resourceVersion (to start a watch from)."""
        items: builtins.list[Obj] = []
        version = ""
        async for page in self._pages(path, params, page_size):
            items.extend(page.get("items") or [])
            version = (page.get("metadata") or {}).get("resourceVersion", version)
        return items, version

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

        return Watch(open_stream, self.server, total, resource_version)

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

    # --- cluster-level ---------------------------------------------------------------

    async def version(self) -> Obj:
        return await self.get("/version")

    async def readyz(self) -> tuple[bool, str]:
        """(True, "ok") or (False, the failing checks). No answer at all raises
        `ClusterUnreachable`, a refused identity `CredentialsRejected`/`Forbidden`: the
        health monitor tells "down" from "unhealthy" from "our access is broken"."""
        for path in ("/readyz", "/healthz"):  # /healthz: servers older than 1.16
            resp = await self._open("GET", path, accept="text/plain", check=False)
            try:
                async with resp:
                    text = (await resp.text(errors="replace")).strip()
            except _TRANSPORT_ERRORS as e:
                raise transport_error(e, self.server, self.request_timeout) from e
            if resp.status == 200:
                return True, "ok"
            if resp.status == 404:
                continue
            if resp.status in (401, 403):
                raise status_error(resp.status, text.encode(), "GET", self.server + path)
            # Only the API server's own check lines are quoted (see `cluster_message`).
            failed = [ln.strip()[:200] for ln in text.splitlines() if ln.startswith("[-]")]
            return False, "; ".join(failed[:20]) or f"{path} answered HTTP {resp.status}"
        return False, f"{self.server} serves neither /readyz nor /healthz"

    async def discover(self) -> Discovery:
        async def fetch(path: str, accept: str | None) -> Any:
            return await self.request("GET", path, accept=accept)

        return await discover(fetch)

    async def self_subject_access_review(
        self,
        verb: str,
        resource: str,
        group: str = "",
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        name: str | None = None,
    ) -> bool:
        """Whether this identity may `verb` the resource (`kubectl auth can-i`)."""
        attributes = {
            "verb": verb,
            "resource": resource,
            "group": group,
            "namespace": namespace,
            "subresource": subresource,
            "name": name,
        }
        review = await self.create(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {k: v for k, v in attributes.items() if v}},
            },
        )
        return bool((review.get("status") or {}).get("allowed"))

    async def self_subject_rules_review(self, namespace: str = "default") -> Obj:
        """The identity's rules in `namespace` (status: resourceRules, nonResourceRules)."""
        review = await self.create(
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectRulesReview",
                "spec": {"namespace": namespace},
            },
        )
        return review.get("status") or {}

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None
