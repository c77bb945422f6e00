"""Translation of cluster answers and transport failures into `taichu.errors`.

Nothing from aiohttp or ssl leaves `taichu.kube`: the client calls `status_error` for an
HTTP error answer and `transport_error` for anything that kept an answer from arriving.
Messages are written for an operator: which server, what went wrong, what to check.
"""

from __future__ import annotations

import asyncio
import json
import ssl

import aiohttp

from taichu.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TaichuError,
    Unauthorized,
    Unavailable,
)


class ClusterUnreachable(Unavailable):
    """No answer from the API server: refused, timed out, connection lost, DNS, TLS."""


class TLSVerificationFailed(ClusterUnreachable):
    """The server's certificate was not trusted (wrong CA, wrong name, expired)."""


class CredentialsRejected(Unauthorized):
    """The API server did not accept the token or client certificate (its 401).

    A 401 about the *cluster's* credentials, not the platform user's session: the API
    layer may prefer to render it differently from an expired JWT.
    """


class ResourceExpired(Conflict):
    """The resourceVersion of a watch, or the continue token of a paged list, is too old
    (410 Gone). Relist, then watch from the new list's resourceVersion."""


# OpenSSL verify codes whose raw text ("unable to get local issuer certificate") does not
# tell an operator that the CA is the problem.
_UNKNOWN_AUTHORITY = {2, 18, 19, 20, 21}


def cluster_message(body: bytes) -> str:
    """The `message` of a Kubernetes Status body. Anything else is described, never quoted:
    the server address is the caller's choice, and quoting its answers would let a user read
    internal web pages through the platform."""
    try:
        status = json.loads(body)
    except ValueError:
        status = None
    if (
        isinstance(status, dict)
        and status.get("kind") == "Status"
        and isinstance(status.get("message"), str)
    ):
        return status["message"][:2000]
    return f"an answer that is not a Kubernetes Status ({len(body)} bytes)" if body else ""


def status_error(status: int, body: bytes, method: str, url: str) -> TaichuError:
    """The error for an HTTP error answer of the API server."""
    message = cluster_message(body) or f"HTTP {status}"
    if status == 401:
        return CredentialsRejected(f"the cluster refused the credentials (401): {message}")
    if status == 403:
        # Passed through to API users as is: it names the identity and the missing right.
        return Forbidden(message)
    if status == 404:
        return NotFound(message)
    if status == 409:
        return Conflict(message)
    if status == 410:
        return ResourceExpired(f"{message} (relist to get a fresh resourceVersion)")
    if status in (400, 422):
        return Invalid(message)
    if status == 429:
        return Unavailable(f"the API server asked to retry later (429): {message}")
    if status >= 500:
        return Unavailable(f"the API server failed {method} {url} ({status}): {message}")
    return Unavailable(f"unexpected answer to {method} {url} ({status}): {message}")


def _tls_message(server: str, error: ssl.SSLCertVerificationError) -> str:
    reason = error.verify_message or str(error)
    if error.verify_code in _UNKNOWN_AUTHORITY:
        reason = f"certificate signed by unknown authority ({reason}); check the CA data"
    return f"TLS verification failed for {server}: {reason}"


def _os_reason(error: OSError | None) -> str:
    if error is None:
        return "connection failed"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return (error.strerror or str(error) or type(error).__name__).lower()


def _ssl_reason(error: BaseException) -> str:
    inner = error.os_error if isinstance(error, aiohttp.ClientConnectorError) else error
    if not isinstance(inner, ssl.SSLError):
        return str(error)
    if inner.reason == "WRONG_VERSION_NUMBER":
        return "the port does not speak TLS (is it the API server's https port?)"
    if inner.reason and "CERTIFICATE_REQUIRED" in inner.reason:
        return "the server requires a client certificate"
    return (inner.reason or str(inner)).lower().replace("_", " ")


def transport_error(error: BaseException, server: str, timeout: float) -> TaichuError:
    """The error for a request that got no usable answer from `server`."""
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        cert_error = error.certificate_error
        if isinstance(cert_error, ssl.SSLCertVerificationError):
            return TLSVerificationFailed(_tls_message(server, cert_error))
        return TLSVerificationFailed(f"TLS verification failed for {server}: {cert_error}")
    if isinstance(error, ssl.SSLCertVerificationError):
        return TLSVerificationFailed(_tls_message(server, error))
    if isinstance(error, aiohttp.ClientSSLError | ssl.SSLError):
        return ClusterUnreachable(f"TLS handshake with {server} failed: {_ssl_reason(error)}")
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        reason = error.os_error.strerror or str(error.os_error)
        return ClusterUnreachable(f"cannot resolve the host of {server}: {reason}")
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return ClusterUnreachable(f"cannot reach {server}: connect timed out")
    if isinstance(error, aiohttp.ClientConnectorError):
        return ClusterUnreachable(f"cannot reach {server}: {_os_reason(error.os_error)}")
    if isinstance(error, aiohttp.SocketTimeoutError | asyncio.TimeoutError):
        return ClusterUnreachable(f"no answer from {server} within {timeout:g}s")
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return ClusterUnreachable(f"connection to {server} was lost mid-request")
    if isinstance(error, aiohttp.InvalidURL):
        return Invalid(f"invalid request URL for {server}: {error}")
    return ClusterUnreachable(f"request to {server} failed: {error or type(error).__name__}")
