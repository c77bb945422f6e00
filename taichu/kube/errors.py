"""Cluster answers as an error branch of their own, and the translation of HTTP error
answers and transport failures into it.

Nothing from aiohttp or ssl leaves `taichu.kube`: the client calls `status_error` for an
HTTP error answer and `transport_error` for anything that kept an answer from arriving.
Messages are written for an operator: which server, what went wrong, what to check.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Self

import aiohttp

from taichu.errors import Invalid, TaichuError, Unavailable


class ClusterError(TaichuError):
    """What a cluster answered (or failed to answer), never confused with the caller's own
    errors.

    Rendered 502 Bad Gateway: the platform is the gateway, the cluster the upstream whose
    answer did not do. Never 401, 403 or 404: a cluster refusing *the platform's*
    credentials (its 401) is not the caller's session ending (a console would log the user
    out), its 403 is not a platform permission, its 404 is not a platform resource. Where
    the caller should see one of those, the service raises it on purpose (the runtime reads
    pass the cluster's RBAC refusal on as a 403). `cluster_status` is the HTTP status the
    cluster answered (None when there was no HTTP answer, or it was a 2xx that did not
    make sense).
    """

    status = 502

    def __init__(self, message: str, cluster_status: int | None = None) -> None:
        super().__init__(message)
        self.cluster_status = cluster_status

    def about(self, prefix: str) -> Self:
        """The same error with `prefix` (e.g. "cluster prod") in front of its message."""
        error = type(self)(f"{prefix}: {self.message}", self.cluster_status)
        error.__cause__ = self.__cause__
        return error


class ClusterUnreachable(ClusterError, Unavailable):
    """No answer from the API server: refused, timed out, connection lost, DNS, TLS.
    503: the cluster is unavailable now, which is what `Unavailable` means."""

    status = 503


class TLSVerificationFailed(ClusterUnreachable):
    """The server's certificate was not trusted (wrong CA, wrong name, expired)."""


class ClusterUnavailable(ClusterError, Unavailable):
    """The API server answered that it cannot serve now (5xx, 429): 503, retry later."""

    status = 503


class CredentialsRejected(ClusterError):
    """The API server did not accept the token or client certificate (its 401). About the
    cluster's credentials, not the caller's session: 502, never 401."""


class ClusterForbidden(ClusterError):
    """The cluster's RBAC refused the identity in use (its 403). The message is the API
    server's own (it names the identity and the missing right)."""


class ClusterNotFound(ClusterError):
    """The cluster has no such object or API (its 404)."""


class ClusterConflict(ClusterError):
    """The object exists already, or changed in between (its 409)."""


class ResourceExpired(ClusterConflict):
    """The resourceVersion of a watch, or the continue token of a paged list, is too old
    (410 Gone). Relist, then watch from the new list's resourceVersion."""


class ClusterRejected(ClusterError):
    """The API server refused what was sent as invalid (its 400 or 422)."""


class MalformedAnswer(ClusterError):
    """A 2xx answer that is not what a Kubernetes API server sends (not JSON, wrong
    types, missing fields). The message names what was wrong, never the content."""


class AnswerTooLarge(MalformedAnswer):
    """An answer larger than the bound for its kind of request."""


class ListTooLong(ClusterError):
    """A paged list went past one of its bounds (pages, items, time)."""


class ReadBudgetExhausted(ClusterError, Unavailable):
    """The platform holds as many bytes read from clusters as it may at once (the read
    budget, taichu.kube.budget) and no room came in time: 503, retry later. About the
    platform's load, not this cluster's health (no cluster status)."""

    status = 503


# What aiohttp raises when no usable answer arrived (translated by `transport_error`).
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError)

# OpenSSL verify codes whose raw text ("unable to get local issuer certificate") does not
# tell an operator that the CA is the problem.
_UNKNOWN_AUTHORITY = {2, 18, 19, 20, 21}


def cluster_message(body: bytes) -> str:
    """The `message` of a Kubernetes Status body. Anything else is described, never quoted:
    the server address is the caller's choice, and quoting its answers would let a user read
    internal web pages through the platform."""
    try:
        status = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
        status = None
    if (
        isinstance(status, dict)
        and status.get("kind") == "Status"
        and isinstance(status.get("message"), str)
    ):
        return status["message"][:2000]
    return f"an answer that is not a Kubernetes Status ({len(body)} bytes)" if body else ""


def status_error(status: int, body: bytes, method: str, url: str) -> ClusterError:
    """The error for an HTTP error answer of the API server."""
    message = cluster_message(body) or f"HTTP {status}"
    if status == 401:
        return CredentialsRejected(f"the cluster refused the credentials (401): {message}", 401)
    if status == 403:
        return ClusterForbidden(message, 403)
    if status == 404:
        return ClusterNotFound(message, 404)
    if status == 409:
        return ClusterConflict(message, 409)
    if status == 410:
        return ResourceExpired(f"{message} (relist to get a fresh resourceVersion)", 410)
    if status in (400, 422):
        return ClusterRejected(message, status)
    if status == 429:
        return ClusterUnavailable(f"the API server asked to retry later (429): {message}", 429)
    if status >= 500:
        return ClusterUnavailable(
            f"the API server failed {method} {url} ({status}): {message}", status
        )
    return ClusterUnavailable(f"unexpected answer to {method} {url} ({status}): {message}", status)


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


def nothing_sent(error: BaseException) -> bool:
    """Whether `error` kept the connection from being made at all (refused, connect timed
    out, no route, name not resolved): not a byte of the request left, so another API
    server of the cluster may be tried, whatever the method. TLS failures are not: a
    certificate the CA does not vouch for is reported, never routed around."""
    if isinstance(error, aiohttp.ClientSSLError):
        return False
    return isinstance(error, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


def failover_error(
    failed: list[tuple[str, BaseException]], error: BaseException, server: str, timeout: float
) -> TaichuError:
    """The error for a request no API server answered: `failed` are the servers that could
    not be connected to before `server` failed with `error`; the message names them all."""
    last = transport_error(error, server, timeout)
    if not failed or not isinstance(last, ClusterError):
        return last
    earlier = "; ".join(transport_error(e, s, timeout).message for s, e in failed)
    return type(last)(
        f"no API server of the cluster answered ({len(failed) + 1} tried): {earlier}; "
        f"{last.message}",
        last.cluster_status,
    )


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
