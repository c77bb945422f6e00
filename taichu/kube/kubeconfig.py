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
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.resolver import Resolver

from taichu.errors import Invalid, TaichuError
from taichu.kube.access import (
    CREDENTIALS_HINT,
    ClusterAccess,
    access_from_token,
    check_certificates,
    check_token,
    normalize_server,
    shown,
)

__all__ = [
    "ClusterAccess",
    "access_from_token",
    "load_strict_yaml",
    "parse_kubeconfig",
    "render_kubeconfig",
]

MAX_KUBECONFIG_BYTES = 1024 * 1024  # hard ceiling; new registrations use the setting
MAX_NODES = 10_000  # a kubeconfig of a few hundred contexts has a few thousand
MAX_DEPTH = 32  # a kubeconfig nests 5 deep
_MINIFY_HINT = "upload only the context you need (kubectl config view --minify --flatten)"

# libyaml's parser when PyYAML was built with it (~10x faster); the composer is ours.
try:
    from yaml.cyaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml.parser import Parser as _Parser  # type: ignore[assignment]
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


class _Refused(yaml.YAMLError):
    pass


class _StrictComposer(Composer):
    """Builds the node tree refusing anchors and aliases (each alias level multiplies what
    the document means: 561 bytes stood for hundreds of megabytes), and bounding the
    number and depth of nodes, so parse time and memory follow the document's size."""

    def __init__(self, hint: str = _MINIFY_HINT) -> None:
        super().__init__()
        self._nodes = 0
        self._depth = 0
        self._hint = hint

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark else "?"
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(f"YAML anchors and aliases (& and *) are not allowed (line {line})")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(f"more than {MAX_NODES} YAML nodes; {self._hint}")
        if self._depth >= MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep (line {line})")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Loader(_StrictComposer, _Parser, SafeConstructor, Resolver):  # type: ignore[misc]
    def __init__(self, stream: str, hint: str = _MINIFY_HINT) -> None:
        _Parser.__init__(self, stream)
        _StrictComposer.__init__(self, hint)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


def _yaml_problem(e: yaml.YAMLError) -> str:
    # The parser's own words (they may quote a tag or a character of the input: cut short).
    if isinstance(e, yaml.MarkedYAMLError):
        what = "; ".join(part for part in (e.context, e.problem) if part) or "syntax error"
        mark = e.problem_mark or e.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    else:
        what, where = str(e).split("\n")[0], ""
    what = " ".join(what.split())
    return (what if len(what) <= 120 else what[:120] + "...") + where


def _load(text: str) -> Any:
    return load_strict_yaml(text, "kubeconfig", _MINIFY_HINT)


def load_strict_yaml(text: str, what: str, hint: str) -> Any:
    """One YAML document without anchors or aliases, bounded in nodes and depth; `what` names
    the document in the Invalid raised, `hint` says what to do when it has too many nodes.
    Other YAML inputs (the machines import file) use it too."""
    loader = _Loader(text, hint)
    try:
        return loader.get_single_data()
    except _Refused as e:
        raise Invalid(f"{what} is refused: {e}") from e
    except yaml.YAMLError as e:
        raise Invalid(f"{what} is not valid YAML: {_yaml_problem(e)}") from e
    except Exception as e:  # a value the constructor cannot build (e.g. a 5000-digit int)
        raise Invalid(
            f"{what} is not valid YAML: a value cannot be read ({type(e).__name__})"
        ) from e
    finally:
        loader.dispose()


def _kind(value: Any) -> str:
    """What a YAML value is, in YAML's words: never the value itself."""
    if value is None:
        return "null"
    for types, name in (
        (bool, "a boolean"),
        ((int, float), "a number"),
        (str, "a string"),
        (bytes, "binary data"),
        (dict, "a mapping"),
        ((list, tuple), "a list"),
    ):
        if isinstance(value, types):
            return name
    return "a timestamp" if hasattr(value, "isoformat") else "a value of another type"


def _fail(where: str, why: str) -> Invalid:
    return Invalid(f"kubeconfig {where}: {why}")


def _expect(value: Any, types: type | tuple[type, ...], expected: str, where: str) -> Any:
    # bool is an int in Python, not in YAML.
    if not isinstance(value, types) or (isinstance(value, bool) and types is not bool):
        raise _fail(where, f"expected {expected}, got {_kind(value)}")
    return value


def _names(names: Any) -> str:
    listed = [shown(n) for n in sorted(names)[:10]]
    more = len(names) - len(listed)
    return ", ".join(listed) + (f" and {more} more" if more > 0 else "") or "none"


def _named(doc: dict[str, Any], section: str, body: str) -> dict[str, dict[str, Any]]:
    if section not in doc:
        raise _fail(section, "missing")
    entries = _expect(doc[section], list, "a list", section)
    named: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        entry = _expect(entry, dict, "a mapping", f"{section}[{i}]")
        name = entry.get("name")
        if name is None or name == "":
            raise _fail(f"{section}[{i}].name", "missing")
        _expect(name, str, "a string", f"{section}[{i}].name")
        if name in named:
            raise _fail(f"{section}[{shown(name)}]", "defined twice")
        where = f"{section}[{shown(name)}].{body}"
        if body not in entry:
            raise _fail(where, "missing")
        named[name] = _expect(entry[body], dict, "a mapping", where)
    return named


def _b64(value: Any, where: str) -> bytes:
    _expect(value, str, "a base64 string", where)
    try:
        # Wrapped base64 (line breaks) is common in hand-edited kubeconfigs.
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise _fail(where, "not valid base64") from e


def _check_key_pair(cert: bytes, key: bytes, where: str) -> None:
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except TypeError as e:  # encrypted: it would need a passphrase we cannot hold
        raise _fail(f"{where}.client-key-data", "encrypted; an unencrypted key is needed") from e
    except ValueError as e:
        raise _fail(f"{where}.client-key-data", "not a PEM private key") from e
    leaf = x509.load_pem_x509_certificates(cert)[0]
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*raw) != private.public_key().public_bytes(*raw):
        raise _fail(f"{where}.client-key-data", "does not match client-certificate-data")


def _cluster_fields(spec: dict[str, Any], where: str, allow_insecure: bool) -> dict[str, Any]:
    if spec.get("certificate-authority"):
        raise _fail(
            f"{where}.certificate-authority",
            "a file path, which is not allowed; embed the content as certificate-authority-data",
        )
    if spec.get("proxy-url"):
        raise _fail(
            f"{where}.proxy-url",
            "not supported: the platform connects to the API server directly",
        )
    insecure = spec.get("insecure-skip-tls-verify", False)
    _expect(insecure, bool, "true or false", f"{where}.insecure-skip-tls-verify")
    if insecure and not allow_insecure:
        raise _fail(
            f"{where}.insecure-skip-tls-verify",
            "refused: TLS verification must stay on unless skipping it is explicitly requested",
        )
    ca = None
    if "certificate-authority-data" in spec and not insecure:
        key = f"{where}.certificate-authority-data"
        ca = check_certificates(_b64(spec["certificate-authority-data"], key), f"kubeconfig {key}")
    server_name = spec.get("tls-server-name")
    if server_name is not None:
        _expect(server_name, str, "a host name", f"{where}.tls-server-name")
        if not server_name or len(server_name) > 253 or not server_name.isprintable():
            raise _fail(f"{where}.tls-server-name", "must be a host name")
    if spec.get("server") is not None:
        _expect(spec["server"], str, "a URL string", f"{where}.server")
    return {
        "server": normalize_server(spec.get("server"), f"kubeconfig {where}.server"),
        "ca_data": ca,
        "insecure": insecure,
        "tls_server_name": server_name or None,
    }


def _user_fields(spec: dict[str, Any], where: str) -> dict[str, Any]:
    for name, why in _REFUSED_USER_FIELDS.items():
        if spec.get(name):
            raise _fail(f"{where}.{name}", f"not allowed: {why}; {CREDENTIALS_HINT}")
    for path_field, data_field in _USER_FILE_FIELDS.items():
        if spec.get(path_field):
            raise _fail(
                f"{where}.{path_field}",
                f"a file path, which is not allowed; embed the content as {data_field}",
            )
    token = spec.get("token")
    if token is not None:
        _expect(token, str, "a string", f"{where}.token")
    # An empty token means none, as for kubectl.
    token = check_token(token, f"kubeconfig {where}.token") if token else None
    cert_b64, key_b64 = spec.get("client-certificate-data"), spec.get("client-key-data")
    if (cert_b64 is None) != (key_b64 is None):
        missing = "client-key-data" if key_b64 is None else "client-certificate-data"
        raise _fail(
            f"{where}.{missing}",
            "missing: client-certificate-data and client-key-data go together",
        )
    cert = key = None
    if cert_b64 is not None:
        cert_where = f"kubeconfig {where}.client-certificate-data"
        cert = check_certificates(_b64(cert_b64, f"{where}.client-certificate-data"), cert_where)
        key = _b64(key_b64, f"{where}.client-key-data")
        _check_key_pair(cert, key, where)
    if token is None and cert is None:
        raise _fail(where, f"no credentials; {CREDENTIALS_HINT}")
    return {"token": token, "client_cert_data": cert, "client_key_data": key}


def too_large(limit: int) -> TaichuError:
    return TaichuError(f"kubeconfig is larger than {limit // 1024} KiB; {_MINIFY_HINT}", 413)


def parse_kubeconfig(
    text: str,
    context: str | None = None,
    *,
    allow_insecure: bool = False,
    max_bytes: int = MAX_KUBECONFIG_BYTES,
) -> ClusterAccess:
    """Validate `text` and return the access of `context` (default: current-context, or
    the only context there is). Other contexts, clusters and users are not looked at.
    CPU-bound for large documents: call it from a thread where an event loop waits."""
    if not isinstance(text, str) or not text.strip():
        raise Invalid("kubeconfig is empty")
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        raise too_large(max_bytes)
    doc = _expect(_load(text), dict, "a mapping", "document")
    clusters = _named(doc, "clusters", "cluster")
    contexts = _named(doc, "contexts", "context")
    users = _named(doc, "users", "user")
    name = context or doc.get("current-context") or None
    if name is not None:
        _expect(name, str, "a string", "context" if context else "current-context")
    if name is None and len(contexts) == 1:
        name = next(iter(contexts))
    if name is None:
        raise _fail("current-context", f"not set; choose one of {_names(contexts)}")
    if name not in contexts:
        field_name = "context" if context else "current-context"
        raise Invalid(
            f"{field_name} {shown(name)} is not among the kubeconfig's contexts "
            f"({_names(contexts)})"
        )
    ctx, where = contexts[name], f"contexts[{shown(name)}]"
    cluster_name = _expect(ctx.get("cluster"), str, "a cluster name", f"{where}.cluster")
    user_name = _expect(ctx.get("user"), str, "a user name", f"{where}.user")
    if cluster_name not in clusters:
        raise _fail(
            f"{where}.cluster", f"names cluster {shown(cluster_name)}, which is not defined"
        )
    if user_name not in users:
        raise _fail(f"{where}.user", f"names user {shown(user_name)}, which is not defined")
    return ClusterAccess(
        **_cluster_fields(
            clusters[cluster_name], f"clusters[{shown(cluster_name)}].cluster", allow_insecure
        ),
        **_user_fields(users[user_name], f"users[{shown(user_name)}].user"),
        context=name,
        cluster=cluster_name,
        user=user_name,
    )


def _enc(data: bytes) -> str:
    return base64.b64encode(data).decode()


def render_kubeconfig(
    access: ClusterAccess,
    name: str = "taichu",
    namespace: str | None = None,
    *,
    proxy_url: str | None = None,
) -> str:
    """A self-contained kubeconfig for `access` (e.g. a temp file for kubectl), with
    `namespace` as its context's default and `proxy_url` as the proxy to go through. It
    holds the credentials: write it with mode 0600 and delete it after use."""
    cluster: dict[str, Any] = {"server": access.server}
    if proxy_url:
        cluster["proxy-url"] = proxy_url
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
    context: dict[str, Any] = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": name,
        "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": context}],
    }
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False)
