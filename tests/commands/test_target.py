"""The one-run kubeconfig: the caller's identity, the cluster's trust, and of several API
servers (an HA control plane) the first that takes a connection."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import yaml

from taichu.commands.target import RunTarget, kubeconfig_for
from taichu.kube import ClusterUnreachable, access_from_token
from taichu.kube.targets import TargetPolicy
from taichu.pki import new_ca


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
    doc = yaml.safe_load(await kubeconfig_for(RunTarget(access, "someone", "team-a"), 2.0))
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == f"https://127.0.0.1:{listening}"
    assert "certificate-authority-data" in cluster and "insecure-skip-tls-verify" not in cluster
    assert doc["users"][0]["user"] == {"token": "the-token"}
    assert doc["contexts"][0]["context"]["namespace"] == "team-a"
    assert doc["current-context"] == doc["contexts"][0]["name"]


async def test_no_server_answers_keeps_the_first() -> None:
    first, second = _closed_port(), _closed_port()
    access = access_from_token(f"https://127.0.0.1:{first}", "t", insecure=True).with_fallbacks(
        [f"https://127.0.0.1:{second}"]
    )
    doc = yaml.safe_load(await kubeconfig_for(RunTarget(access, "platform", None), 1.0))
    assert doc["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{first}"
    assert doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"] is True
    assert "namespace" not in doc["contexts"][0]["context"]


async def test_kubectl_is_handed_the_checked_address_and_the_name_for_tls(
    listening: int,
) -> None:
    """kubectl resolves names itself: it gets the address the platform checked (a name
    rebound after the check changes nothing) and verifies the certificate for the name."""
    access = access_from_token(f"https://localhost:{listening}", "t", insecure=True)
    doc = yaml.safe_load(await kubeconfig_for(RunTarget(access, "platform", None), 2.0))
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == f"https://127.0.0.1:{listening}"  # the one that connects
    assert cluster["tls-server-name"] == "localhost"


async def test_a_users_cluster_resolving_to_loopback_gets_no_kubectl_run(
    listening: int,
) -> None:
    restricted = access_from_token(f"https://localhost:{listening}", "t", insecure=True)
    restricted = restricted.restricted(TargetPolicy.for_caller(False, []))
    with pytest.raises(ClusterUnreachable, match="loopback address"):
        await kubeconfig_for(RunTarget(restricted, "someone", None), 2.0)
