"""Certificates made with `cryptography`: CAs, serving and client certs, SA keys.

Shared by the lab (`make_cluster_pki`: its local control planes) and the installer
(`taichu.provision.pki`: clusters created on machines).

ECDSA P-256 throughout: every component accepts it and generating a key takes
microseconds, where RSA 2048 takes tens of milliseconds per key.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=365)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def public_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def new_key() -> ec.EllipticCurvePrivateKey:
    return _key()


def load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("expected an EC private key")
    return key


def _name(cn: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class CertKey:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def from_pem(cls, cert: bytes, key: bytes) -> CertKey:
        return cls(x509.load_pem_x509_certificate(cert), load_key(key))

    @property
    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        crt, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        crt.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        return crt, key


def new_ca(cn: str) -> CertKey:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + 10 * _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertKey(cert, key)


def issue(
    ca: CertKey,
    cn: str,
    *,
    orgs: tuple[str, ...] = (),
    server: bool = False,
    client: bool = False,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    validity: dt.timedelta | None = None,  # default _VALIDITY; short for join credentials
) -> CertKey:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, orgs))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + (validity or _VALIDITY))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    # cryptography >= 51 refuses an empty ExtendedKeyUsage; a pair for neither role has none.
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if dns or ips:
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return CertKey(builder.sign(ca.key, hashes.SHA256()), key)


@dataclass
class ClusterPki:
    """Files of one cluster's PKI, all under `directory`."""

    directory: Path
    ca: CertKey
    admin: CertKey

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    def path(self, name: str) -> str:
        return str(self.directory / name)


def make_cluster_pki(directory: Path, service_ip: str) -> ClusterPki:
    """CA; API server serving cert; client certs for admin, controller manager, scheduler
    and kwok; service-account signing key; front-proxy CA and client (for aggregation)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = new_ca("taichu-lab-ca")
    ca.write(directory, "ca")
    issue(
        ca,
        "kube-apiserver",
        server=True,
        dns=(
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
        ips=("127.0.0.1", "::1", service_ip),
    ).write(directory, "apiserver")
    admin = issue(ca, "kubernetes-admin", orgs=("system:masters",), client=True)
    admin.write(directory, "admin")
    issue(ca, "system:kube-controller-manager", client=True).write(directory, "controller-manager")
    issue(ca, "system:kube-scheduler", client=True).write(directory, "scheduler")
    # kwok patches node and pod status and renews leases for every node: like kwokctl,
    # it runs as a cluster admin rather than under the per-node Node authorizer.
    issue(ca, "kwok-controller", orgs=("system:masters",), client=True).write(directory, "kwok")
    # For the optional metrics-server: kwok's kubelet endpoint (dialled as localhost) and
    # metrics-server itself (verified by the API server as its Service's DNS name).
    issue(ca, "kwok", server=True, dns=("localhost",), ips=("127.0.0.1",)).write(
        directory, "kwok-serving"
    )
    issue(
        ca,
        "metrics-server",
        server=True,
        dns=("metrics-server.kube-system.svc", "localhost"),
        ips=("127.0.0.1",),
    ).write(directory, "metrics-server")
    issue(ca, "system:metrics-server", orgs=("system:masters",), client=True).write(
        directory, "metrics-server-client"
    )
    sa = _key()
    (directory / "sa.key").write_bytes(key_pem(sa))
    (directory / "sa.pub").write_bytes(public_key_pem(sa))
    front = new_ca("taichu-lab-front-proxy-ca")
    front.write(directory, "front-proxy-ca")
    issue(front, "front-proxy-client", client=True).write(directory, "front-proxy-client")
    return ClusterPki(directory, ca, admin)
