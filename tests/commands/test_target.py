"""The one-run kubeconfig: the caller's identity, the cluster's trust, and of several API
servers (an HA control plane) the first that takes a connection."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import yaml

from taichu.commands.target import RunTarget, kubeconfig_for
from taichu.kube import access_from_token
from taichu.pki import new_ca

PROXY = "http://taichu:secret@127.0.0.1:1"


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


async def test_first_connectable_server_with_the_clusters_ca_and_namespace(
    listening: int,
) -> None:
    ca = new_ca("target-ca").cert_pem
    closed = _closed_port()
    access = access_from_token(f"https://127.0.0.1:{closed}", "the-token", ca).with_fallbacks(
        [f"https://127.0.0.1:{listening}"]
    )
    doc = yaml.safe_load(await kubeconfig_for(RunTarget(access, "someone", "team-a"), 2.0, PROXY))
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == f"https://127.0.0.1:{listening}"
    assert "certificate-authority-data" in cluster and "insecure-skip-tls-verify" not in cluster
    assert doc["users"][0]["user"] == {"token": "the-token"}
    assert doc["contexts"][0]["context"]["namespace"] == "team-a"
    assert doc["current-context"] == doc["contexts"][0]["name"]
    assert cluster["proxy-url"] == PROXY  # kubectl's every tunnel is checked there


async def test_no_server_answers_keeps_the_first() -> None:
    first, second = _closed_port(), _closed_port()
    access = access_from_token(f"https://127.0.0.1:{first}", "t", insecure=True).with_fallbacks(
        [f"https://127.0.0.1:{second}"]
    )
    doc = yaml.safe_load(await kubeconfig_for(RunTarget(access, "platform", None), 1.0, PROXY))
    assert doc["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{first}"
    assert doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"] is True
    assert "namespace" not in doc["contexts"][0]["context"]
