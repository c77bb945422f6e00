"""The join credential against a real API server and controller manager (the lab's): with
the join access applied, it has a node client certificate signed (a kubelet's TLS
bootstrap: CSR auto-approved, issued by the cluster CA) and may do nothing else; it is
refused once expired."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from taichu.kube import ClusterAccess, KubeClient
from taichu.kube.errors import ClusterForbidden, CredentialsRejected
from taichu.lab.cluster import LabCluster
from taichu.provision import join

pytestmark = pytest.mark.lab


def _client(cluster: LabCluster, cert: bytes | None = None, key: bytes | None = None) -> KubeClient:
    assert cluster.pki is not None
    access = ClusterAccess(
        server=cluster.server,
        ca_data=cluster.ca_pem,
        client_cert_data=cert or cluster.pki.admin.cert_pem,
        client_key_data=key or cluster.pki.admin.key_pem,
    )
    return KubeClient(access, connect_timeout=5, request_timeout=10)


def _csr(node: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}"),
        ]
    )
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    )
    return base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode()


async def _join(cluster: LabCluster) -> None:
    assert cluster.pki is not None
    node = f"joiner-{uuid.uuid4().hex[:6]}"
    admin = _client(cluster)
    credential = await asyncio.to_thread(
        join.join_credential, cluster.pki.ca, node, uuid.uuid4().hex, 120
    )
    joiner = _client(cluster, credential.cert_pem, credential.key_pem)
    name = f"taichu-test-{node}"
    try:
        for obj in join.join_rbac():
            path = (
                f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{obj['metadata']['name']}"
            )
            await admin.patch(path, obj, "apply", force=True)
        request = _csr(node)
        body: dict[str, Any] = {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {
                "request": request,
                "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                "usages": ["digital signature", "client auth"],
            },
        }
        await joiner.create("/apis/certificates.k8s.io/v1/certificatesigningrequests", body)
        deadline = time.monotonic() + 60
        while True:
            csr = await admin.get(f"/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}")
            issued = (csr.get("status") or {}).get("certificate")
            if issued:
                break
            assert time.monotonic() < deadline, csr.get("status")
            await asyncio.sleep(0.5)
        conditions = [c["type"] for c in csr["status"].get("conditions", [])]
        assert "Approved" in conditions
        cert = x509.load_pem_x509_certificate(base64.b64decode(issued))
        assert cert.subject.rfc4514_string() == f"CN=system:node:{node},O=system:nodes"
        assert cert.issuer == cluster.pki.ca.cert.subject
        # Nothing else: not even reading pods or nodes.
        for path in ("/api/v1/pods", "/api/v1/nodes"):
            with pytest.raises(ClusterForbidden):
                await joiner.get(path)
    finally:
        await admin.delete(f"/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}")
        await admin.close()
        await joiner.close()


def test_join_credential_gets_a_node_certificate_and_nothing_else(lab_cluster: LabCluster) -> None:
    asyncio.run(_join(lab_cluster))


async def _expired(cluster: LabCluster) -> None:
    assert cluster.pki is not None
    credential = join.join_credential(cluster.pki.ca, "late", uuid.uuid4().hex, 1)
    await asyncio.sleep(2)
    # (issue() backdates not-before by 5 minutes for clock skew; validity ends at ttl)
    joiner = _client(cluster, credential.cert_pem, credential.key_pem)
    try:
        with pytest.raises(CredentialsRejected):
            await joiner.get("/apis/certificates.k8s.io/v1/certificatesigningrequests")
    finally:
        await joiner.close()


def test_an_expired_join_credential_is_refused(lab_cluster: LabCluster) -> None:
    asyncio.run(_expired(lab_cluster))
