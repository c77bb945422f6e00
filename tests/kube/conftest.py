from __future__ import annotations

import base64
from typing import Any

import pytest

from taichu.pki import CertKey, issue, new_ca


@pytest.fixture(scope="session")
def pki() -> dict[str, CertKey]:
    """A throwaway CA with a client pair (ECDSA: generated in microseconds)."""
    ca = new_ca("test-ca")
    return {"ca": ca, "client": issue(ca, "alice", client=True), "other": issue(ca, "bob")}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig_doc(pki: dict[str, CertKey], **user: Any) -> dict[str, Any]:
    """A valid kubeconfig as a dict (client certificate user unless `user` is given)."""
    creds = user or {
        "client-certificate-data": b64(pki["client"].cert_pem),
        "client-key-data": b64(pki["client"].key_pem),
    }
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c1",
                "cluster": {
                    "server": "https://10.0.0.1:6443",
                    "certificate-authority-data": b64(pki["ca"].cert_pem),
                },
            }
        ],
        "users": [{"name": "u1", "user": creds}],
        "contexts": [{"name": "ctx1", "context": {"cluster": "c1", "user": "u1"}}],
        "current-context": "ctx1",
    }
