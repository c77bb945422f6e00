"""How API-server error answers map onto taichu.errors (pure logic)."""

from __future__ import annotations

import json

import pytest

from taichu.errors import TaichuError, Unavailable
from taichu.kube import (
    ClusterConflict,
    ClusterError,
    ClusterForbidden,
    ClusterNotFound,
    ClusterRejected,
    ClusterUnavailable,
    CredentialsRejected,
    ResourceExpired,
)
from taichu.kube.errors import cluster_message, status_error


def status(code: int, message: str) -> bytes:
    return json.dumps(
        {"kind": "Status", "status": "Failure", "message": message, "code": code}
    ).encode()


@pytest.mark.parametrize(
    ("code", "cls", "http"),
    [
        # A cluster's 401/403/404 is never the caller's: 502 (the upstream's answer).
        (400, ClusterRejected, 502),
        (401, CredentialsRejected, 502),
        (403, ClusterForbidden, 502),
        (404, ClusterNotFound, 502),
        (409, ClusterConflict, 502),
        (410, ResourceExpired, 502),
        (422, ClusterRejected, 502),
        (429, ClusterUnavailable, 503),
        (500, ClusterUnavailable, 503),
        (503, ClusterUnavailable, 503),
        (418, ClusterUnavailable, 503),
    ],
)
def test_status_mapping(code: int, cls: type[TaichuError], http: int) -> None:
    error = status_error(code, status(code, "the cluster says no"), "GET", "https://h/x")
    assert type(error) is cls and error.status == http
    assert isinstance(error, ClusterError) and error.cluster_status == code
    assert isinstance(error, Unavailable) == (http == 503)  # retryable, as before
    assert "the cluster says no" in error.message


def test_about_keeps_class_and_cluster_status() -> None:
    error = status_error(401, status(401, "Unauthorized"), "GET", "https://h/version")
    named = error.about("cluster prod")
    assert type(named) is CredentialsRejected and named.cluster_status == 401
    assert named.message == "cluster prod: the cluster refused the credentials (401): Unauthorized"


def test_forbidden_message_is_the_clusters_own() -> None:
    message = 'nodes is forbidden: User "bob" cannot list resource "nodes" at the cluster scope'
    error = status_error(403, status(403, message), "GET", "https://h/api/v1/nodes")
    assert error.message == message


def test_401_says_what_was_refused() -> None:
    error = status_error(401, status(401, "Unauthorized"), "GET", "https://h/version")
    assert error.message == "the cluster refused the credentials (401): Unauthorized"


def test_non_status_bodies_are_summarised() -> None:
    page = b"<html>\n  <body>internal admin page: secret=hunter2</body>\n</html>"
    assert cluster_message(page) == "an answer that is not a Kubernetes Status (65 bytes)"
    assert "hunter2" not in status_error(404, page, "GET", "https://h/readyz").message
    assert cluster_message(b'{"kind": "List"}').startswith("an answer that is not")
    # JSON with a message, from something that is not an API server: not quoted either.
    assert "hunter2" not in cluster_message(b'{"message": "db password hunter2"}')
    error = status_error(502, b"", "GET", "https://h/version")
    assert "(502)" in error.message and "https://h/version" in error.message
