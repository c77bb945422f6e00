"""Kubeconfigs and a small synchronous REST client the lab uses on its own clusters.

The lab is synchronous (fixtures, CLI), and the platform's async client is what tests
exercise, so the lab talks plain HTTPS with httpx instead.
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import httpx
import yaml


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig_yaml(
    name: str,
    server: str,
    ca_pem: bytes,
    *,
    cert_pem: bytes | None = None,
    key_pem: bytes | None = None,
    token: str | None = None,
    user: str = "admin",
    namespace: str | None = None,
) -> str:
    """A self-contained kubeconfig: every credential embedded, no file references."""
    creds: dict[str, str] = {}
    if cert_pem and key_pem:
        creds = {"client-certificate-data": _b64(cert_pem), "client-key-data": _b64(key_pem)}
    if token:
        creds["token"] = token
    context: dict[str, str] = {"cluster": name, "user": f"{name}-{user}"}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [{"name": f"{name}-{user}", "user": creds}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class KubeApi:
    """Admin client of one cluster (client certificate, CA-verified)."""

    def __init__(self, server: str, ca_file: Path, cert_file: Path, key_file: Path) -> None:
        ctx = ssl.create_default_context(cafile=str(ca_file))
        ctx.load_cert_chain(str(cert_file), str(key_file))
        self.server = server
        self.http = httpx.Client(
            base_url=server,
            verify=ctx,
            timeout=httpx.Timeout(30.0, connect=5.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        resp = self.http.request(
            method,
            path,
            json=body,
            params=params,
            headers={"Content-Type": content_type} if body is not None else None,
        )
        if resp.status_code >= 400:
            try:
                message = resp.json().get("message", resp.text)
            except ValueError:
                message = resp.text
            raise ApiError(resp.status_code, message)
        return resp.json() if resp.content else {}

    def get(self, path: str, **params: str) -> dict[str, Any]:
        return self.request("GET", path, params=params or None)

    def create(self, path: str, body: dict[str, Any], *, exist_ok: bool = False) -> dict[str, Any]:
        try:
            return self.request("POST", path, body)
        except ApiError as e:
            if exist_ok and e.status == 409:
                return {}
            raise

    def delete(self, path: str, *, missing_ok: bool = True) -> None:
        try:
            self.request("DELETE", path)
        except ApiError as e:
            if not (missing_ok and e.status == 404):
                raise

    def ready(self) -> bool:
        try:
            return self.http.get("/readyz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False
