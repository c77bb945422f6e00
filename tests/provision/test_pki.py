"""The created cluster's PKI: every certificate chains to its CA with the subject, SANs and
usages its component needs; it survives JSON; kubeconfigs parse and hold the identity."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from taichu.kube import parse_kubeconfig
from taichu.pki import CertKey, issue, new_ca
from taichu.provision.pki import ClusterPki, Member, create_cluster_pki

MASTERS = (Member("m1", "10.1.0.11"), Member("m2", "10.1.0.12"), Member("m3", "10.1.0.13"))
WORKERS = (Member("w1", "10.1.0.21"),)
SERVER = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH


@pytest.fixture(scope="module")
def pki() -> ClusterPki:
    return create_cluster_pki(
        cluster_name="prod-a",
        service_cidr="10.96.0.0/12",
        cluster_domain="corp.local",
        masters=MASTERS,
        etcd_members=MASTERS,
        nodes=MASTERS + WORKERS,
    )


def chains_to(ck: CertKey, ca: CertKey) -> None:
    ck.cert.verify_directly_issued_by(ca.cert)
    assert ck.cert.issuer == ca.cert.subject
    # The key in the pair is the certificate's.
    assert ck.key.public_key().public_numbers() == ck.cert.public_key().public_numbers()  # type: ignore[union-attr]


def subject(ck: CertKey) -> tuple[str, list[str]]:
    cn = ck.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    orgs = [a.value for a in ck.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return str(cn), [str(o) for o in orgs]


def usages(ck: CertKey) -> set[x509.ObjectIdentifier]:
    return set(ck.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def sans(ck: CertKey) -> tuple[set[str], set[str]]:
    ext = ck.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        set(ext.get_values_for_type(x509.DNSName)),
        {str(i) for i in ext.get_values_for_type(x509.IPAddress)},
    )


def test_cas_are_distinct_and_are_cas(pki: ClusterPki) -> None:
    names = {pki.ca.cert.subject, pki.etcd_ca.cert.subject, pki.front_proxy_ca.cert.subject}
    assert len(names) == 3
    for ca in (pki.ca, pki.etcd_ca, pki.front_proxy_ca):
        assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        ca.cert.verify_directly_issued_by(ca.cert)


def test_apiserver_serves_every_master_address_and_the_service_names(pki: ClusterPki) -> None:
    ck = pki.cert("apiserver")
    chains_to(ck, pki.ca)
    assert usages(ck) == {ExtendedKeyUsageOID.SERVER_AUTH}
    dns, ips = sans(ck)
    assert {"10.1.0.11", "10.1.0.12", "10.1.0.13", "127.0.0.1", "10.96.0.1"} <= ips
    assert {
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.corp.local",
    } <= dns


@pytest.mark.parametrize(
    ("name", "cn", "orgs"),
    [
        ("admin", "kubernetes-admin", ["system:masters"]),
        ("controller-manager", "system:kube-controller-manager", []),
        ("scheduler", "system:kube-scheduler", []),
        ("kube-proxy", "system:kube-proxy", []),
        ("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ["system:masters"]),
        ("flannel", "taichu:flannel", []),
    ],
)
def test_cluster_clients(pki: ClusterPki, name: str, cn: str, orgs: list[str]) -> None:
    ck = pki.cert(name)
    chains_to(ck, pki.ca)
    assert subject(ck) == (cn, orgs)
    assert usages(ck) == {CLIENT}


def test_every_node_has_a_kubelet_client_and_serving_cert(pki: ClusterPki) -> None:
    for m in MASTERS + WORKERS:
        client = pki.cert(ClusterPki.kubelet_client(m.name))
        chains_to(client, pki.ca)
        assert subject(client) == (f"system:node:{m.name}", ["system:nodes"])
        assert usages(client) == {CLIENT}
        serving = pki.cert(ClusterPki.kubelet_serving(m.name))
        chains_to(serving, pki.ca)
        assert usages(serving) == {ExtendedKeyUsageOID.SERVER_AUTH}
        dns, ips = sans(serving)
        assert m.address in ips and m.name in dns


def test_etcd_certs_come_from_the_etcd_ca(pki: ClusterPki) -> None:
    for m in MASTERS:
        for name in (ClusterPki.etcd_server(m.name), ClusterPki.etcd_peer(m.name)):
            ck = pki.cert(name)
            chains_to(ck, pki.etcd_ca)
            assert usages(ck) == {ExtendedKeyUsageOID.SERVER_AUTH, CLIENT}
            assert {m.address, "127.0.0.1"} <= sans(ck)[1]
    for name in ("apiserver-etcd-client", "etcd-healthcheck-client"):
        chains_to(pki.cert(name), pki.etcd_ca)
        assert usages(pki.cert(name)) == {CLIENT}
        # Not the cluster CA's: a cluster identity must not open etcd.
        with pytest.raises(ValueError):
            pki.cert(name).cert.verify_directly_issued_by(pki.ca.cert)
    assert "kubelet-client-w1" in pki.certs
    assert ClusterPki.etcd_server("w1") not in pki.certs  # workers run no etcd


def test_front_proxy_client_and_service_account_key(pki: ClusterPki) -> None:
    chains_to(pki.cert("front-proxy-client"), pki.front_proxy_ca)
    assert isinstance(pki.sa_key, ec.EllipticCurvePrivateKey)
    assert pki.sa_public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")


def test_json_round_trip_keeps_every_cert_and_key(pki: ClusterPki) -> None:
    again = ClusterPki.from_json(pki.to_json())
    assert again.cluster_name == "prod-a"
    assert set(again.certs) == set(pki.certs)
    for name, ck in pki.certs.items():
        assert again.certs[name].cert_pem == ck.cert_pem
        assert again.certs[name].key_pem == ck.key_pem
    assert again.ca.key_pem == pki.ca.key_pem
    assert again.etcd_ca.cert_pem == pki.etcd_ca.cert_pem
    assert again.sa_private_pem == pki.sa_private_pem


def test_from_json_refuses_unknown_formats_and_huge_input(pki: ClusterPki) -> None:
    with pytest.raises(ValueError, match="format"):
        ClusterPki.from_json('{"format": 99}')
    with pytest.raises(ValueError, match="larger"):
        ClusterPki.from_json(" " * (5 * 2**20))


def test_kubeconfigs_parse_with_the_identity_and_ca(pki: ClusterPki) -> None:
    access = parse_kubeconfig(pki.admin_kubeconfig("https://10.1.0.11:6443"))
    assert access.server == "https://10.1.0.11:6443"
    assert access.ca_data == pki.ca.cert_pem
    assert access.client_cert_data == pki.cert("admin").cert_pem
    node = parse_kubeconfig(pki.kubeconfig("kubelet-client-w1", "https://10.1.0.11:6443"))
    assert node.client_cert_data == pki.cert("kubelet-client-w1").cert_pem
    with pytest.raises(KeyError, match="nosuch"):
        pki.kubeconfig("nosuch", "https://10.1.0.11:6443")


def test_an_address_given_as_extra_san_lands_in_the_right_list() -> None:
    pki = create_cluster_pki(
        cluster_name="c",
        service_cidr="10.100.0.0/16",
        cluster_domain="cluster.local",
        masters=(Member("m", "192.168.5.5"),),
        etcd_members=(Member("m", "192.168.5.5"),),
        nodes=(Member("m", "192.168.5.5"),),
        extra_sans=("api.example.com", "192.168.5.100"),
    )
    dns, ips = sans(pki.cert("apiserver"))
    assert "api.example.com" in dns and "192.168.5.100" in ips and "10.100.0.1" in ips
    assert all(ipaddress.ip_address(i) for i in ips)


def test_a_pair_for_neither_role_has_no_extended_key_usage() -> None:
    """cryptography >= 51 refuses an empty ExtendedKeyUsage: a pair issued for neither serving
    nor clients carries none (any usage) instead of failing; one for both carries both."""
    ca = new_ca("test-ca")
    plain = issue(ca, "bob")
    assert x509.ExtendedKeyUsage not in {e.value.__class__ for e in plain.cert.extensions}
    plain.cert.verify_directly_issued_by(ca.cert)
    both = issue(ca, "carol", server=True, client=True).cert
    usages = both.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH, CLIENT]
