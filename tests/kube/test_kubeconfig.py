"""Kubeconfig validation: every refusal is a 422 naming the field; accepted forms parse."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import yaml

from taichu.errors import Invalid, TaichuError
from taichu.kube import access_from_token, parse_kubeconfig, render_kubeconfig
from taichu.pki import CertKey
from tests.kube.conftest import b64, kubeconfig_doc

Doc = dict[str, Any]


def dump(doc: Doc) -> str:
    return yaml.safe_dump(doc)


def cluster(doc: Doc) -> Doc:
    return doc["clusters"][0]["cluster"]


def user(doc: Doc) -> Doc:
    return doc["users"][0]["user"]


def refuse(text: str, *fields: str, **kwargs: Any) -> str:
    with pytest.raises(Invalid) as info:
        parse_kubeconfig(text, **kwargs)
    assert info.value.status == 422
    for name in fields:
        assert name in info.value.message, info.value.message
    return info.value.message


# --- acceptance ---------------------------------------------------------------------------


def test_client_certificate_and_ca(pki: dict[str, CertKey]) -> None:
    access = parse_kubeconfig(dump(kubeconfig_doc(pki)))
    assert access.server == "https://10.0.0.1:6443"
    assert access.ca_data == pki["ca"].cert_pem
    assert access.client_cert_data == pki["client"].cert_pem
    assert access.client_key_data == pki["client"].key_pem
    assert access.token is None and not access.insecure
    assert (access.context, access.cluster, access.user) == ("ctx1", "c1", "u1")
    assert access.auth_kind == "client-certificate"


def test_token_and_system_trust(pki: dict[str, CertKey]) -> None:
    doc = kubeconfig_doc(pki, token=" abc.def-ghi \n")
    del cluster(doc)["certificate-authority-data"]
    access = parse_kubeconfig(dump(doc))
    assert access.token == "abc.def-ghi"
    assert access.ca_data is None  # system trust store
    assert access.auth_kind == "token"


def test_wrapped_base64_and_json_input(pki: dict[str, CertKey]) -> None:
    doc = kubeconfig_doc(pki)
    data = cluster(doc)["certificate-authority-data"]
    cluster(doc)["certificate-authority-data"] = "\n".join(
        data[i : i + 64] for i in range(0, len(data), 64)
    )
    import json

    assert parse_kubeconfig(json.dumps(doc)).ca_data == pki["ca"].cert_pem


def test_context_selection(pki: dict[str, CertKey]) -> None:
    doc = kubeconfig_doc(pki)
    doc["clusters"].append({"name": "c2", "cluster": {"server": "https://c2.example:443/k8s/"}})
    doc["users"].append({"name": "u2", "user": {"token": "t2"}})
    # A context we do not pick may hold anything: it is never looked at.
    doc["users"].append({"name": "bad", "user": {"exec": {"command": "rm"}}})
    doc["contexts"] += [
        {"name": "ctx2", "context": {"cluster": "c2", "user": "u2"}},
        {"name": "ctx3", "context": {"cluster": "c1", "user": "bad"}},
    ]
    assert parse_kubeconfig(dump(doc)).context == "ctx1"
    second = parse_kubeconfig(dump(doc), "ctx2")
    assert (second.server, second.token, second.user) == ("https://c2.example:443/k8s", "t2", "u2")
    refuse(dump(doc), "'nope'", "ctx1", context="nope")
    refuse(dump(doc), "users['bad'].user.exec", context="ctx3")


def test_single_context_without_current_context(pki: dict[str, CertKey]) -> None:
    doc = kubeconfig_doc(pki)
    del doc["current-context"]
    assert parse_kubeconfig(dump(doc)).context == "ctx1"
    doc["contexts"].append({"name": "ctx2", "context": {"cluster": "c1", "user": "u1"}})
    refuse(dump(doc), "current-context")


def test_insecure_only_when_asked(pki: dict[str, CertKey]) -> None:
    doc = kubeconfig_doc(pki)
    cluster(doc)["insecure-skip-tls-verify"] = True
    message = refuse(dump(doc), "insecure-skip-tls-verify")
    assert "TLS verification must stay on" in message
    access = parse_kubeconfig(dump(doc), allow_insecure=True)
    assert access.insecure and access.ca_data is None


def test_repr_hides_secrets(pki: dict[str, CertKey]) -> None:
    access = parse_kubeconfig(dump(kubeconfig_doc(pki))).with_token("s3cr3t-token")
    text = repr(access) + str(access)
    assert "s3cr3t" not in text and "PRIVATE" not in text and "BEGIN" not in text
    assert "https://10.0.0.1:6443" in text


def test_with_token_drops_the_certificate(pki: dict[str, CertKey]) -> None:
    access = parse_kubeconfig(dump(kubeconfig_doc(pki)))
    other = access.with_token("t-other")
    assert other.token == "t-other" and other.client_cert_data is None
    assert other.ca_data == access.ca_data and other.server == access.server
    assert other.fingerprint != access.fingerprint
    with pytest.raises(Invalid):
        access.with_token("bad\ntoken")


def test_access_from_token(pki: dict[str, CertKey]) -> None:
    access = access_from_token("192.168.0.247:8443", "tok", ca_data=pki["ca"].cert_pem)
    assert access.server == "https://192.168.0.247:8443" and access.token == "tok"
    assert access.ca_data == pki["ca"].cert_pem
    assert access_from_token("https://h", "t", insecure=True).insecure
    with pytest.raises(Invalid, match="server"):
        access_from_token("http://h:8080", "t")
    with pytest.raises(Invalid, match="token"):
        access_from_token("https://h", "")
    with pytest.raises(Invalid, match="ca_data"):
        access_from_token("https://h", "t", ca_data=b"not a pem")


@pytest.mark.parametrize("doc_user", ["cert", "token", "both"])
def test_render_round_trips(pki: dict[str, CertKey], doc_user: str) -> None:
    access = parse_kubeconfig(dump(kubeconfig_doc(pki)))
    if doc_user == "token":
        access = access.with_token("tok")
    elif doc_user == "both":
        access = replace(access, token="tok")
    again = parse_kubeconfig(render_kubeconfig(access))
    assert again.fingerprint == access.fingerprint


# --- refusals -----------------------------------------------------------------------------

Mutation = Callable[[Doc, dict[str, CertKey]], None]

REFUSALS: list[tuple[str, Mutation, tuple[str, ...]]] = [
    ("exec", lambda d, p: user(d).update(exec={"command": "aws"}), ("user.exec", "program")),
    (
        "auth-provider",
        lambda d, p: user(d).update({"auth-provider": {"name": "gcp"}}),
        ("user.auth-provider",),
    ),
    ("token-file", lambda d, p: user(d).update({"token-file": "/t"}), ("user.token-file",)),
    ("tokenFile", lambda d, p: user(d).update(tokenFile="/t"), ("user.tokenFile",)),
    (
        "client-certificate path",
        lambda d, p: user(d).update({"client-certificate": "/c"}),
        ("user.client-certificate", "client-certificate-data"),
    ),
    ("client-key path", lambda d, p: user(d).update({"client-key": "/k"}), ("user.client-key",)),
    (
        "certificate-authority path",
        lambda d, p: cluster(d).update({"certificate-authority": "/ca"}),
        ("cluster.certificate-authority", "certificate-authority-data"),
    ),
    (
        "basic auth",
        lambda d, p: user(d).update(username="a", password="b"),
        ("user.username", "basic auth"),
    ),
    ("impersonation", lambda d, p: user(d).update({"as": "root"}), ("user.as",)),
    ("no server", lambda d, p: cluster(d).pop("server"), ("cluster.server", "missing")),
    (
        "http server",
        lambda d, p: cluster(d).update(server="http://10.0.0.1:8080"),
        ("cluster.server", "https"),
    ),
    (
        "server with credentials",
        lambda d, p: cluster(d).update(server="https://a:b@h"),
        ("cluster.server",),
    ),
    ("bad port", lambda d, p: cluster(d).update(server="https://h:99999"), ("cluster.server",)),
    (
        "proxy-url",
        lambda d, p: cluster(d).update({"proxy-url": "http://proxy:3128"}),
        ("cluster.proxy-url", "not supported"),
    ),
    (
        "bad base64 CA",
        lambda d, p: cluster(d).update({"certificate-authority-data": "%%%"}),
        ("certificate-authority-data", "base64"),
    ),
    (
        "CA not PEM",
        lambda d, p: cluster(d).update({"certificate-authority-data": b64(b"x")}),
        ("certificate-authority-data", "PEM"),
    ),
    (
        "bad base64 cert",
        lambda d, p: user(d).update({"client-certificate-data": "@@"}),
        ("client-certificate-data", "base64"),
    ),
    (
        "cert not PEM",
        lambda d, p: user(d).update({"client-certificate-data": b64(b"junk")}),
        ("client-certificate-data", "PEM"),
    ),
    (
        "key not PEM",
        lambda d, p: user(d).update({"client-key-data": b64(b"junk")}),
        ("client-key-data",),
    ),
    (
        "key does not match",
        lambda d, p: user(d).update({"client-key-data": b64(p["other"].key_pem)}),
        ("client-key-data", "does not match"),
    ),
    ("cert without key", lambda d, p: user(d).pop("client-key-data"), ("client-key-data",)),
    (
        "key without cert",
        lambda d, p: user(d).pop("client-certificate-data"),
        ("client-certificate-data",),
    ),
    ("no credentials", lambda d, p: user(d).clear(), ("users['u1'].user", "no credentials")),
    ("token with newline", lambda d, p: user(d).update(token="a\nb"), ("user.token",)),
    (
        "insecure not bool",
        lambda d, p: cluster(d).update({"insecure-skip-tls-verify": "yes"}),
        ("insecure-skip-tls-verify",),
    ),
    ("no clusters", lambda d, p: d.pop("clusters"), ("clusters",)),
    ("users not a list", lambda d, p: d.update(users={"u1": {}}), ("users",)),
    (
        "context names no cluster",
        lambda d, p: d["contexts"][0]["context"].update(cluster="x"),
        ("contexts['ctx1'].cluster",),
    ),
    (
        "context names no user",
        lambda d, p: d["contexts"][0]["context"].update(user="x"),
        ("contexts['ctx1'].user",),
    ),
    (
        "unknown current-context",
        lambda d, p: d.update({"current-context": "zz"}),
        ("current-context", "'zz'"),
    ),
    (
        "duplicate names",
        lambda d, p: d["users"].append(copy.deepcopy(d["users"][0])),
        ("users['u1']", "twice"),
    ),
]


@pytest.mark.parametrize(
    ("mutate", "fields"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_refused(pki: dict[str, CertKey], mutate: Mutation, fields: tuple[str, ...]) -> None:
    doc = kubeconfig_doc(pki)
    mutate(doc, pki)
    refuse(dump(doc), *fields)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("clusters: [", "not valid YAML"),
        ("- just\n- a list\n", "document"),
        ("a: 1\n---\nb: 2\n", "not valid YAML"),
        ("a: &x 1\nb: *x\n", "anchors and aliases"),
        ("a: &x [1]\n", "anchors and aliases"),
        ("a: " + "1" * 5000, "a value cannot be read"),
        ("a: !!python/object:os.system x", "not valid YAML"),
        ("x: [" + "1," * 10_001 + "]", "more than 10000 YAML nodes"),
        ("x: " + "[" * 40 + "]" * 40, "nested more than 32 levels"),
    ],
)
def test_refused_documents(text: str, fragment: str) -> None:
    refuse(text, fragment)


def test_size_is_capped() -> None:
    with pytest.raises(TaichuError) as info:
        parse_kubeconfig("x: " + "a" * (1024 * 1024 + 1))
    assert info.value.status == 413 and "larger than 1024 KiB" in info.value.message
    with pytest.raises(TaichuError) as info:
        parse_kubeconfig("x: " + "a" * 5000, max_bytes=4096)
    assert info.value.status == 413 and "4 KiB" in info.value.message


MARKER = "NOT-TO-BE-ECHOED"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["contexts"][0]["context"].update(cluster={"a": MARKER}),
            "contexts['ctx1'].cluster: expected a cluster name, got a mapping",
        ),
        (
            lambda d: d["contexts"][0]["context"].update(user=[MARKER]),
            "contexts['ctx1'].user: expected a user name, got a list",
        ),
        (lambda d: d.update(clusters=MARKER), "clusters: expected a list, got a string"),
        (lambda d: d["users"].append(MARKER), "users[1]: expected a mapping, got a string"),
        (
            lambda d: d["clusters"][0].update(cluster=[MARKER]),
            "clusters['c1'].cluster: expected a mapping, got a list",
        ),
        (
            lambda d: d["clusters"][0]["cluster"].update(server=True),
            "clusters['c1'].cluster.server: expected a URL string, got a boolean",
        ),
        (
            lambda d: d["users"][0]["user"].update(token=7, **{"client-certificate-data": None}),
            "users['u1'].user.token: expected a string, got a number",
        ),
        (
            lambda d: d["clusters"][0]["cluster"].update({"tls-server-name": {"x": MARKER}}),
            "tls-server-name: expected a host name, got a mapping",
        ),
        (lambda d: d.update({"current-context": 3}), "current-context: expected a string"),
    ],
)
def test_wrong_types_name_field_and_type_not_value(
    pki: dict[str, CertKey], mutate: Callable[[Doc], None], expected: str
) -> None:
    doc = kubeconfig_doc(pki)
    mutate(doc)
    message = refuse(dump(doc))
    assert expected in message and MARKER not in message


def test_user_data_in_messages_is_cut_short(pki: dict[str, CertKey]) -> None:
    long = "n" * 10_000
    doc = kubeconfig_doc(pki)
    doc["contexts"][0]["context"]["cluster"] = long
    assert len(refuse(dump(doc), "which is not defined")) < 300
    doc = kubeconfig_doc(pki)
    doc["contexts"] = [
        {"name": f"{i}-{long}", "context": {"cluster": "c1", "user": "u1"}} for i in range(50)
    ]
    del doc["current-context"]
    message = refuse(dump(doc), "current-context", "and 40 more")
    assert len(message) < 1000
    assert len(refuse(dump(kubeconfig_doc(pki)), "context", context=long)) < 400
    doc = kubeconfig_doc(pki)
    cluster(doc)["server"] = "http://user:hunter2@" + long
    message = refuse(dump(doc), "cluster.server")
    assert "hunter2" not in message and len(message) < 300


def test_encrypted_key_refused(pki: dict[str, CertKey]) -> None:
    from cryptography.hazmat.primitives import serialization

    encrypted = pki["client"].key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    doc = kubeconfig_doc(pki)
    user(doc)["client-key-data"] = b64(encrypted)
    refuse(dump(doc), "client-key-data", "encrypted")


def test_empty_token_means_none(pki: dict[str, CertKey]) -> None:
    doc = kubeconfig_doc(pki)
    user(doc)["token"] = ""
    assert parse_kubeconfig(dump(doc)).token is None
    refuse(dump(kubeconfig_doc(pki, token="")), "no credentials")
