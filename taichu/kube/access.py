"""ClusterAccess: how to reach one cluster as one identity, validated."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography import x509

from taichu.errors import Invalid

if TYPE_CHECKING:  # targets imports this module
    from taichu.kube.targets import TargetPolicy

CREDENTIALS_HINT = "embed a token or client-certificate-data and client-key-data instead"
MAX_SERVER_LENGTH = 500  # the column that keeps it
MAX_TOKEN_LENGTH = 16384
MAX_FALLBACK_SERVERS = 16  # a control plane's masters; more is a mistake, not a cluster


def shown(value: str, limit: int = 40) -> str:
    """A name or address from user input, quoted and cut short for an error message: errors
    never echo user data unbounded."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach one cluster as one identity. Build it with `parse_kubeconfig` or
    `access_from_token`, which validate every field; the constructor only checks shape."""

    server: str
    ca_data: bytes | None = None  # PEM; None trusts the system store
    insecure: bool = False
    tls_server_name: str | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    token: str | None = None
    context: str | None = None
    cluster: str | None = None
    user: str | None = None
    # Further API servers of the same cluster (same CA, same credentials), tried in order
    # when `server` cannot be connected to: a highly available control plane's masters.
    fallback_servers: tuple[str, ...] = ()
    # Checked at every connect when the address was a non-admin's choice (loopback refused
    # unless allowed); None: only what nobody may reach (taichu.kube.targets).
    connect_policy: TargetPolicy | None = None

    def __post_init__(self) -> None:
        for server in (self.server, *self.fallback_servers):
            if not server.startswith("https://"):
                raise Invalid(f"server must be an https:// URL, got {shown(server, 80)}")
        if (self.client_cert_data is None) != (self.client_key_data is None):
            raise Invalid("client certificate and client key must be given together")
        if not self.token and self.client_cert_data is None:
            raise Invalid(f"no credentials for {self.server}: {CREDENTIALS_HINT}")
        if self.token is not None and self.token != check_token(self.token, "token"):
            raise Invalid("token has surrounding whitespace")

    def __repr__(self) -> str:
        # Never key or token material: reprs end up in logs and tracebacks.
        fallbacks = f", fallbacks={self.fallback_servers!r}" if self.fallback_servers else ""
        if self.connect_policy is not None:
            fallbacks += ", restricted"
        return (
            f"ClusterAccess(server={self.server!r}{fallbacks}, auth={self.auth_kind!r}, "
            f"ca={'custom' if self.ca_data else 'system'}, insecure={self.insecure}, "
            f"context={shown(self.context or '')}, fingerprint={self.fingerprint[:12]!r})"
        )

    __str__ = __repr__

    @property
    def auth_kind(self) -> str:
        kinds = [
            k
            for k, v in (("client-certificate", self.client_cert_data), ("token", self.token))
            if v
        ]
        return "+".join(kinds)

    @cached_property
    def fingerprint(self) -> str:
        """Hash of everything that shapes the connection; equal fingerprints can share one
        client. Names (context, cluster, user) do not count."""
        digest = hashlib.sha256()
        for part in (
            self.server,
            self.ca_data,
            self.insecure,
            self.tls_server_name,
            self.client_cert_data,
            self.client_key_data,
            self.token,
            self.fallback_servers,
            self.connect_policy,
        ):
            raw = part if isinstance(part, bytes) else repr(part).encode()
            digest.update(len(raw).to_bytes(8, "big") + raw)
        return digest.hexdigest()

    @property
    def servers(self) -> tuple[str, ...]:
        """Every API server to try, in order: `server` first."""
        return (self.server, *self.fallback_servers)

    def with_fallbacks(self, servers: Sequence[str]) -> ClusterAccess:
        """The same access with these further API servers (normalized; `server` itself and
        repeats dropped)."""
        if len(servers) > MAX_FALLBACK_SERVERS:
            raise Invalid(f"more than {MAX_FALLBACK_SERVERS} fallback API servers")
        fallbacks: list[str] = []
        for index, server in enumerate(servers):
            url = normalize_server(server, f"fallback server {index + 1}")
            if url != self.server and url not in fallbacks:
                fallbacks.append(url)
        return replace(self, fallback_servers=tuple(fallbacks))

    def restricted(self, policy: TargetPolicy | None) -> ClusterAccess:
        """The same access, connecting only where `policy` allows."""
        return replace(self, connect_policy=policy)

    def with_token(self, token: str) -> ClusterAccess:
        """The same cluster as another identity. The client certificate is dropped: the
        API server would authenticate the certificate before the token."""
        return replace(
            self,
            token=check_token(token, "token"),
            client_cert_data=None,
            client_key_data=None,
            user=None,
        )


def normalize_server(server: Any, where: str = "server") -> str:
    """`https://host[:port][/prefix]` without a trailing slash; a bare `host[:port]` gets
    https. Plain http is refused: credentials would cross the network in clear."""
    if not isinstance(server, str) or not server.strip():
        raise Invalid(f"{where} is missing" if server is None else f"{where} must be a URL")
    server = server.strip()
    if len(server) > MAX_SERVER_LENGTH:
        raise Invalid(f"{where} is longer than {MAX_SERVER_LENGTH} characters")
    if not server.isprintable():
        raise Invalid(f"{where} must not contain control characters")
    if "://" not in server:
        server = "https://" + server
    try:
        parts = urlsplit(server)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as e:
        raise Invalid(f"{where} is not a valid URL (check the port)") from e
    # The server is not quoted back: it may hold credentials (https://user:pass@host).
    if parts.scheme != "https":
        raise Invalid(f"{where} must use https (plain {shown(parts.scheme, 10)} is refused)")
    if not parts.hostname or parts.username or parts.password or parts.query or parts.fragment:
        raise Invalid(
            f"{where} must be https://host[:port][/path] with no credentials, query or fragment"
        )
    return server.rstrip("/")


def check_certificates(pem: Any, where: str) -> bytes:
    """PEM bytes holding at least one X.509 certificate."""
    data = pem.encode() if isinstance(pem, str) else pem
    if not isinstance(data, bytes):
        raise Invalid(f"{where} must be PEM certificate data")
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise Invalid(f"{where} is not PEM certificate data") from e
    return data


def check_token(token: Any, where: str) -> str:
    if not isinstance(token, str) or not token.strip():
        raise Invalid(f"{where} must be a non-empty string")
    token = token.strip()
    if len(token) > MAX_TOKEN_LENGTH:
        raise Invalid(f"{where} is longer than {MAX_TOKEN_LENGTH} characters")
    if not token.isascii() or not token.isprintable():
        raise Invalid(f"{where} contains characters not allowed in an HTTP header")
    return token


def access_from_token(
    server: str,
    token: str,
    ca_data: bytes | str | None = None,
    insecure: bool = False,
    tls_server_name: str | None = None,
) -> ClusterAccess:
    """Access by API-server address and bearer token (the runtime family's registration
    and per-user bindings). `insecure=True` is the explicit request to skip TLS checks."""
    ca = None if insecure or ca_data is None else check_certificates(ca_data, "ca_data")
    return ClusterAccess(
        server=normalize_server(server),
        ca_data=ca,
        insecure=insecure,
        tls_server_name=tls_server_name,
        token=check_token(token, "token"),
    )


class AccessCache:
    """Parsed accesses by cluster id, each valid while its key (the stored ciphertext and
    fallback servers) is unchanged: a new kubeconfig is a new ciphertext. One per process
    (`AppContext.accesses`): the health monitor needs every cluster's access each sweep,
    and decrypting and parsing thousands of kubeconfigs each time would cost its CPU."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, tuple[object, ClusterAccess]] = {}

    def get(self, cluster_id: str, key: object) -> ClusterAccess | None:
        cached = self._entries.get(cluster_id)
        return cached[1] if cached is not None and cached[0] == key else None

    def put(self, cluster_id: str, key: object, access: ClusterAccess) -> None:
        if len(self._entries) >= self.max_entries and cluster_id not in self._entries:
            self._entries.clear()  # rare (more clusters than this): start over, bounded
        self._entries[cluster_id] = (key, access)

    def drop(self, cluster_id: str) -> None:
        self._entries.pop(cluster_id, None)
