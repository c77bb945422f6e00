"""Kubeconfigs are data, not code: parse one into a `ClusterAccess`, or refuse it with 422.

Only what the platform can use without touching its own disk or running programs is
accepted: an https server, optional embedded CA, and an embedded token and/or client
certificate. Everything else (exec and auth-provider plugins, file paths, basic auth,
proxies, impersonation) is refused naming the field, never silently ignored, so the
platform never connects differently from what the kubeconfig says.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from taichu.errors import Invalid
from taichu.kube.access import (
    CREDENTIALS_HINT,
    ClusterAccess,
    access_from_token,
    check_certificates,
    check_token,
    normalize_server,
)

__all__ = ["ClusterAccess", "access_from_token", "parse_kubeconfig", "render_kubeconfig"]

MAX_KUBECONFIG_BYTES = 1024 * 1024

# C loader when PyYAML was built with libyaml: ~10x faster, same safety.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

_USER_FILE_FIELDS = {
    "client-certificate": "client-certificate-data",
    "client-key": "client-key-data",
    "tokenFile": "token",
    "token-file": "token",
}
_REFUSED_USER_FIELDS = {
    "exec": "credential plugins would run a program on the platform's server",
    "auth-provider": "auth-provider plugins are not supported",
    "username": "basic auth is not supported",
    "password": "basic auth is not supported",
    "as": "impersonation is not supported",
    "as-uid": "impersonation is not supported",
    "as-groups": "impersonation is not supported",
    "as-user-extra": "impersonation is not supported",
}


def _fail(where: str, why: str) -> Invalid:
    return Invalid(f"kubeconfig {where} {why}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, "must be a mapping")
    return value


def _named(doc: dict[str, Any], section: str, body: str) -> dict[str, dict[str, Any]]:
    entries = doc.get(section)
    if not isinstance(entries, list):
        raise _fail(section, "is missing or not a list")
    named: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        entry = _mapping(entry, f"{section}[{i}]")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise _fail(f"{section}[{i}].name", "is missing")
        if name in named:
            raise _fail(f"{section}[{name!r}]", "is defined twice")
        named[name] = _mapping(entry.get(body), f"{section}[{name!r}].{body}")
    return named


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise _fail(where, "must be a base64 string")
    try:
        # Wrapped base64 (line breaks) is common in hand-edited kubeconfigs.
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise _fail(where, f"is not valid base64 ({e})") from e


def _check_key_pair(cert: bytes, key: bytes, where: str) -> None:
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except TypeError as e:  # encrypted: it would need a passphrase we cannot hold
        raise _fail(f"{where}.client-key-data", "is encrypted; an unencrypted key is needed") from e
    except ValueError as e:
        raise _fail(f"{where}.client-key-data", "is not a PEM private key") from e
    leaf = x509.load_pem_x509_certificates(cert)[0]
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*raw) != private.public_key().public_bytes(*raw):
        raise _fail(f"{where}.client-key-data", "does not match client-certificate-data")


def _cluster_fields(spec: dict[str, Any], where: str, allow_insecure: bool) -> dict[str, Any]:
    if spec.get("certificate-authority"):
        raise _fail(
            f"{where}.certificate-authority",
            "is a file path, which is not allowed; embed the content as certificate-authority-data",
        )
    if spec.get("proxy-url"):
        raise _fail(
            f"{where}.proxy-url",
            "is not supported: the platform connects to the API server directly",
        )
    insecure = spec.get("insecure-skip-tls-verify", False)
    if not isinstance(insecure, bool):
        raise _fail(f"{where}.insecure-skip-tls-verify", "must be true or false")
    if insecure and not allow_insecure:
        raise _fail(
            f"{where}.insecure-skip-tls-verify",
            "is refused: TLS verification must stay on unless skipping it is explicitly requested",
        )
    ca = None
    if "certificate-authority-data" in spec and not insecure:
        key = f"{where}.certificate-authority-data"
        ca = check_certificates(_b64(spec["certificate-authority-data"], key), f"kubeconfig {key}")
    server_name = spec.get("tls-server-name")
    if server_name is not None and (not isinstance(server_name, str) or not server_name):
        raise _fail(f"{where}.tls-server-name", "must be a host name")
    return {
        "server": normalize_server(spec.get("server"), f"kubeconfig {where}.server"),
        "ca_data": ca,
        "insecure": insecure,
        "tls_server_name": server_name or None,
    }


def _user_fields(spec: dict[str, Any], where: str) -> dict[str, Any]:
    for name, why in _REFUSED_USER_FIELDS.items():
        if spec.get(name):
            raise _fail(f"{where}.{name}", f"is not allowed: {why}; {CREDENTIALS_HINT}")
    for path_field, data_field in _USER_FILE_FIELDS.items():
        if spec.get(path_field):
            raise _fail(
                f"{where}.{path_field}",
                f"is a file path, which is not allowed; embed the content as {data_field}",
            )
    # An empty token means none, as for kubectl.
    token = check_token(spec["token"], f"kubeconfig {where}.token") if spec.get("token") else None
    cert_b64, key_b64 = spec.get("client-certificate-data"), spec.get("client-key-data")
    if (cert_b64 is None) != (key_b64 is None):
        missing = "client-key-data" if key_b64 is None else "client-certificate-data"
        raise _fail(
            f"{where}.{missing}",
            "is missing: client-certificate-data and client-key-data go together",
        )
    cert = key = None
    if cert_b64 is not None:
        cert_where = f"kubeconfig {where}.client-certificate-data"
        cert = check_certificates(_b64(cert_b64, f"{where}.client-certificate-data"), cert_where)
        key = _b64(key_b64, f"{where}.client-key-data")
        _check_key_pair(cert, key, where)
    if token is None and cert is None:
        raise _fail(where, f"has no credentials; {CREDENTIALS_HINT}")
    return {"token": token, "client_cert_data": cert, "client_key_data": key}


def parse_kubeconfig(
    text: str, context: str | None = None, *, allow_insecure: bool = False
) -> ClusterAccess:
    """Validate `text` and return the access of `context` (default: current-context, or
    the only context there is). Other contexts, clusters and users are not looked at."""
    if not isinstance(text, str) or not text.strip():
        raise Invalid("kubeconfig is empty")
    if len(text.encode()) > MAX_KUBECONFIG_BYTES:
        raise Invalid(f"kubeconfig is larger than {MAX_KUBECONFIG_BYTES // 1024} KiB")
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as e:
        raise Invalid(f"kubeconfig is not valid YAML: {e}") from e
    doc = _mapping(doc, "document")
    clusters = _named(doc, "clusters", "cluster")
    contexts = _named(doc, "contexts", "context")
    users = _named(doc, "users", "user")
    name = context or doc.get("current-context") or None
    if name is not None and not isinstance(name, str):
        raise _fail("current-context", "must be a string")
    if name is None and len(contexts) == 1:
        name = next(iter(contexts))
    if name is None:
        raise _fail("current-context", f"is not set; choose one of {sorted(contexts)}")
    if name not in contexts:
        field_name = "context" if context else "current-context"
        raise Invalid(
            f"{field_name} {name!r} is not in the kubeconfig's contexts {sorted(contexts)}"
        )
    ctx = contexts[name]
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if not isinstance(cluster_name, str) or cluster_name not in clusters:
        raise _fail(
            f"contexts[{name!r}].cluster", f"names cluster {cluster_name!r}, which is not defined"
        )
    if not isinstance(user_name, str) or user_name not in users:
        raise _fail(f"contexts[{name!r}].user", f"names user {user_name!r}, which is not defined")
    return ClusterAccess(
        **_cluster_fields(
            clusters[cluster_name], f"clusters[{cluster_name!r}].cluster", allow_insecure
        ),
        **_user_fields(users[user_name], f"users[{user_name!r}].user"),
        context=name,
        cluster=cluster_name,
        user=user_name,
    )


def _enc(data: bytes) -> str:
    return base64.b64encode(data).decode()


def render_kubeconfig(access: ClusterAccess, name: str = "taichu") -> str:
    """A self-contained kubeconfig for `access` (e.g. a temp file for kubectl). It holds
    the credentials: write it with mode 0600 and delete it after use."""
    cluster: dict[str, Any] = {"server": access.server}
    if access.insecure:
        cluster["insecure-skip-tls-verify"] = True
    elif access.ca_data:
        cluster["certificate-authority-data"] = _enc(access.ca_data)
    if access.tls_server_name:
        cluster["tls-server-name"] = access.tls_server_name
    user: dict[str, Any] = {}
    if access.client_cert_data and access.client_key_data:
        user["client-certificate-data"] = _enc(access.client_cert_data)
        user["client-key-data"] = _enc(access.client_key_data)
    if access.token:
        user["token"] = access.token
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": name,
        "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
    }
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False)
