"""Certificate expiry of a created cluster (pure logic on real certificates): what the
detail shows, the warning threshold and its once-per-expiry message, re-issuing component
certificates, and the measure of the API's silences during a renewal."""

from __future__ import annotations

import base64
import datetime as dt
from types import SimpleNamespace

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from taichu.provision import certificates as C
from taichu.provision.certificates_renew import Availability
from taichu.provision.pki import ClusterPki, Member, create_cluster_pki

NOW = dt.datetime.now(dt.UTC)


def _pki() -> ClusterPki:
    m = Member("cp-1", "10.1.0.5")
    w = Member("w-1", "10.1.0.6")
    return create_cluster_pki(
        cluster_name="c1",
        service_cidr="10.96.0.0/12",
        cluster_domain="cluster.local",
        masters=[m],
        etcd_members=[m],
        nodes=[m, w],
    )


def _days(when: dt.datetime) -> float:
    return (when - NOW).total_seconds() / 86400


def test_expiries_list_the_three_cas_and_every_component() -> None:
    pki = _pki()
    cas, components = C.expiries(pki)
    assert [c.name for c in cas] == ["ca", "etcd-ca", "front-proxy-ca"]
    assert all(3640 < _days(c.not_after) < 3651 for c in cas)
    names = {c.name for c in components}
    assert {"apiserver", "admin", "etcd-server-cp-1", "kubelet-client-w-1"} <= names
    assert names == set(pki.certs)
    assert all(364 < _days(c.not_after) < 366 for c in components)
    out = C.summary(pki, NOW, 30)
    assert out["ca"]["name"] == "ca" and out["ca"]["subject"] == "CN=c1-ca"
    assert out["first_expiry"]["days_left"] in (364, 365)
    assert out["expiring_soon"] is False
    assert out["components"][0]["not_after"].endswith("Z")


def test_the_warning_is_due_within_the_threshold_and_after_expiry() -> None:
    pki = _pki()
    old = pki.cert("apiserver").cert

    def expiring_in(days: float) -> C.CertInfo:
        issued = C.reissue(pki.ca, old, now=NOW - C.VALIDITY + dt.timedelta(days=days))
        return C.info("apiserver", issued.cert)

    assert C.warning_due(expiring_in(29.9), NOW, 30)
    assert not C.warning_due(expiring_in(30.1), NOW, 30)
    assert not C.warning_due(expiring_in(200), NOW, 30)
    assert C.warning_due(expiring_in(-1), NOW, 30)
    soon = {**pki.certs, "apiserver": C.reissue(pki.ca, old, now=NOW - dt.timedelta(days=350))}
    summary = C.summary(SimpleNamespace(ca=pki.ca, certs=soon), NOW, 30)
    assert summary["expiring_soon"] is True and summary["first_expiry"]["name"] == "apiserver"


def test_the_warning_message_is_the_same_for_one_expiry_and_new_after_a_renewal() -> None:
    pki = _pki()
    cluster = SimpleNamespace(id="cid", name="c1")
    cert = C.info("apiserver", pki.cert("apiserver").cert)
    first = C.warning_message(cluster, cert, NOW)  # type: ignore[arg-type]
    assert first == C.warning_message(cluster, cert, NOW + dt.timedelta(hours=5))  # type: ignore[arg-type]
    assert "apiserver" in first and "/api/v1/clusters/cid/certificates/renew" in first
    renewed = C.reissue(pki.ca, pki.cert("apiserver").cert, now=NOW + dt.timedelta(days=300))
    again = C.info("apiserver", renewed.cert)
    assert C.warning_message(cluster, again, NOW) != first  # type: ignore[arg-type]
    ca = C.warning_message(cluster, C.info("ca", pki.ca.cert, ca=True), NOW)  # type: ignore[arg-type]
    assert "CA ca" in ca and "not renewed" in ca


def test_renewal_reissues_components_with_their_names_and_keeps_the_cas() -> None:
    pki = _pki()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    renewed = C.renew_components(pki)
    assert renewed.ca is pki.ca and renewed.etcd_ca is pki.etcd_ca
    assert renewed.sa_private_pem == pki.sa_private_pem
    assert set(renewed.certs) == set(pki.certs)
    for name, new in renewed.certs.items():
        old = pki.certs[name]
        assert new.cert.serial_number != old.cert.serial_number, name
        assert new.key_pem != old.key_pem, name
        assert new.cert.subject == old.cert.subject, name
        assert new.cert.issuer == old.cert.issuer, name
        new.cert.verify_directly_issued_by(C.issuer_of(pki, old.cert).cert)
        for oid in (x509.ExtendedKeyUsage, x509.SubjectAlternativeName):
            try:
                before = old.cert.extensions.get_extension_for_class(oid).value
            except x509.ExtensionNotFound:
                continue
            assert new.cert.extensions.get_extension_for_class(oid).value == before, name
    api = renewed.cert("apiserver").cert
    eku = api.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert renewed.cert("apiserver").cert.not_valid_after_utc > later
    # The admin kubeconfig the platform keeps carries the new certificate.
    kubeconfig = renewed.admin_kubeconfig("https://10.1.0.5:6443")
    assert base64.b64encode(renewed.cert("admin").cert_pem).decode() in kubeconfig
    assert base64.b64encode(pki.cert("admin").cert_pem).decode() not in kubeconfig


def test_a_certificate_of_another_ca_is_not_reissued() -> None:
    pki, other = _pki(), _pki()
    try:
        C.issuer_of(pki, other.cert("apiserver").cert)
    except ValueError as e:
        assert "no CA of the cluster" in str(e)
    else:
        raise AssertionError("a foreign certificate was accepted")


def test_availability_keeps_the_longest_silence() -> None:
    seen = Availability()
    base = seen._start
    for at in (0.25, 0.5, 0.75):
        seen.answered(base + at)
    seen.failed()
    seen.failed()
    seen.answered(base + 4.0)  # 3.25 s without an answer
    seen.answered(base + 4.25)
    seen.failed()
    seen.answered(base + 5.75)  # 1.5 s
    out = seen.out()
    assert out["longest_gap_seconds"] == 3.25
    assert out["failures"] == 3 and out["samples"] == 9
    assert out["gaps"] == [
        {"at_seconds": 0.75, "seconds": 3.25},
        {"at_seconds": 4.25, "seconds": 1.5},
    ]
