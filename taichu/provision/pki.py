"""One created cluster's PKI: made once per task, kept (encrypted) on it, reused by a retry.

Two CAs as kubeadm has them: the cluster CA signs every Kubernetes identity (API server,
components, kubelets, admin) and the etcd CA signs etcd's server and peer certificates and
its clients (the API server, health checks), so a cluster certificate never opens etcd.
A front-proxy CA signs the API server's aggregation client (metrics-server and the like).

Making it is CPU work (a key per certificate): call `create_cluster_pki` in a thread.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taichu.kube import ClusterAccess, render_kubeconfig
from taichu.pki import CertKey, issue, key_pem, load_key, new_ca, new_key, public_key_pem

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from taichu.provision.plan import ClusterPlan

FORMAT = 1
_MAX_JSON = 4 * 2**20  # a few KiB per node: far above any real cluster's

# Fixed identities (name -> what components and RBAC know them as).
ADMIN = "admin"
CONTROLLER_MANAGER = "controller-manager"
SCHEDULER = "scheduler"
KUBE_PROXY = "kube-proxy"
FLANNEL = "flannel"
FLANNEL_USER = "taichu:flannel"  # bound to flannel's ClusterRole by the network step


@dataclass(frozen=True)
class Member:
    """A machine as the PKI sees it: its node name and address."""

    name: str
    address: str


def first_service_ip(service_cidr: str) -> str:
    return str(ipaddress.ip_network(service_cidr, strict=False)[1])


@dataclass
class ClusterPki:
    cluster_name: str
    ca: CertKey
    etcd_ca: CertKey
    front_proxy_ca: CertKey
    sa_key: ec.EllipticCurvePrivateKey
    certs: dict[str, CertKey] = field(default_factory=dict)

    # --- names of per-machine certificates ---------------------------------------------

    @staticmethod
    def kubelet_client(node: str) -> str:
        return f"kubelet-client-{node}"

    @staticmethod
    def kubelet_serving(node: str) -> str:
        return f"kubelet-serving-{node}"

    @staticmethod
    def etcd_server(node: str) -> str:
        return f"etcd-server-{node}"

    @staticmethod
    def etcd_peer(node: str) -> str:
        return f"etcd-peer-{node}"

    def cert(self, name: str) -> CertKey:
        try:
            return self.certs[name]
        except KeyError:
            raise KeyError(f"the cluster PKI has no certificate {name!r}") from None

    @property
    def sa_public_pem(self) -> bytes:
        return public_key_pem(self.sa_key)

    @property
    def sa_private_pem(self) -> bytes:
        return key_pem(self.sa_key)

    # --- kubeconfigs ---------------------------------------------------------------------

    def access(self, user: str, server: str) -> ClusterAccess:
        """How `user` (a name in `certs`) reaches the cluster at `server`."""
        ck = self.cert(user)
        return ClusterAccess(
            server=server,
            ca_data=self.ca.cert_pem,
            client_cert_data=ck.cert_pem,
            client_key_data=ck.key_pem,
        )

    def kubeconfig(self, user: str, server: str) -> str:
        """A self-contained kubeconfig (everything embedded) for `user` against `server`."""
        return render_kubeconfig(self.access(user, server), self.cluster_name)

    def admin_kubeconfig(self, server: str) -> str:
        return self.kubeconfig(ADMIN, server)

    def add_kubelet_serving(self, name: str, address: str) -> CertKey:
        """A joining node's kubelet serving certificate (made once, kept with the others).
        Blocking (CPU): run it in a thread."""
        key = self.kubelet_serving(name)
        if key not in self.certs:
            self.certs[key] = issue(
                self.ca,
                f"system:node:{name}",
                orgs=("system:nodes",),
                server=True,
                **_host_sans(Member(name, address)),
            )
        return self.certs[key]

    @classmethod
    def create(cls, plan: ClusterPlan) -> ClusterPki:
        """Every certificate a task's plan needs. Blocking (CPU): run it in a thread."""
        return pki_for_plan(plan)

    # --- persistence ---------------------------------------------------------------------

    def to_json(self) -> str:
        def pair(ck: CertKey) -> dict[str, str]:
            return {"cert": ck.cert_pem.decode(), "key": ck.key_pem.decode()}

        return json.dumps(
            {
                "format": FORMAT,
                "cluster_name": self.cluster_name,
                "ca": pair(self.ca),
                "etcd_ca": pair(self.etcd_ca),
                "front_proxy_ca": pair(self.front_proxy_ca),
                "sa_key": self.sa_private_pem.decode(),
                "certs": {name: pair(ck) for name, ck in sorted(self.certs.items())},
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ClusterPki:
        if len(text) > _MAX_JSON:
            raise ValueError("the stored cluster PKI is larger than any cluster's")
        doc: dict[str, Any] = json.loads(text)
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown cluster PKI format {doc.get('format')!r}")

        def pair(d: dict[str, str]) -> CertKey:
            return CertKey.from_pem(d["cert"].encode(), d["key"].encode())

        return cls(
            cluster_name=doc["cluster_name"],
            ca=pair(doc["ca"]),
            etcd_ca=pair(doc["etcd_ca"]),
            front_proxy_ca=pair(doc["front_proxy_ca"]),
            sa_key=load_key(doc["sa_key"].encode()),
            certs={name: pair(d) for name, d in doc["certs"].items()},
        )


def apiserver_sans(
    masters: Iterable[Member], service_cidr: str, cluster_domain: str, extra: Iterable[str] = ()
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(DNS names, IP addresses) the API server's certificate carries."""
    dns = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{cluster_domain}",
    ]
    ips = ["127.0.0.1", first_service_ip(service_cidr)]
    for value in [*(m.address for m in masters), *extra]:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            names = dns
        else:
            names = ips
        if value not in names:
            names.append(value)
    dns += [m.name for m in masters if m.name not in dns]
    return tuple(dns), tuple(ips)


def _host_sans(member: Member) -> dict[str, tuple[str, ...]]:
    return {"dns": (member.name, "localhost"), "ips": (member.address, "127.0.0.1")}


def create_cluster_pki(
    *,
    cluster_name: str,
    service_cidr: str,
    cluster_domain: str,
    masters: Sequence[Member],
    etcd_members: Sequence[Member],
    nodes: Sequence[Member],
    extra_sans: Iterable[str] = (),
) -> ClusterPki:
    """Every certificate of the cluster. Blocking (CPU): run it in a thread."""
    ca = new_ca(f"{cluster_name}-ca")
    etcd_ca = new_ca(f"{cluster_name}-etcd-ca")
    front = new_ca(f"{cluster_name}-front-proxy-ca")
    dns, ips = apiserver_sans(masters, service_cidr, cluster_domain, extra_sans)
    certs: dict[str, CertKey] = {
        "apiserver": issue(ca, "kube-apiserver", server=True, dns=dns, ips=ips),
        "apiserver-kubelet-client": issue(
            ca, "kube-apiserver-kubelet-client", orgs=("system:masters",), client=True
        ),
        "apiserver-etcd-client": issue(etcd_ca, "kube-apiserver-etcd-client", client=True),
        "etcd-healthcheck-client": issue(etcd_ca, "kube-etcd-healthcheck-client", client=True),
        "front-proxy-client": issue(front, "front-proxy-client", client=True),
        ADMIN: issue(ca, "kubernetes-admin", orgs=("system:masters",), client=True),
        CONTROLLER_MANAGER: issue(ca, "system:kube-controller-manager", client=True),
        SCHEDULER: issue(ca, "system:kube-scheduler", client=True),
        KUBE_PROXY: issue(ca, "system:kube-proxy", client=True),
        FLANNEL: issue(ca, FLANNEL_USER, client=True),
    }
    for m in nodes:
        certs[ClusterPki.kubelet_client(m.name)] = issue(
            ca, f"system:node:{m.name}", orgs=("system:nodes",), client=True
        )
        certs[ClusterPki.kubelet_serving(m.name)] = issue(
            ca, f"system:node:{m.name}", orgs=("system:nodes",), server=True, **_host_sans(m)
        )
    for m in etcd_members:
        certs[ClusterPki.etcd_server(m.name)] = issue(
            etcd_ca, m.name, server=True, client=True, **_host_sans(m)
        )
        certs[ClusterPki.etcd_peer(m.name)] = issue(
            etcd_ca, m.name, server=True, client=True, **_host_sans(m)
        )
    return ClusterPki(cluster_name, ca, etcd_ca, front, new_key(), certs)


def pki_for_plan(plan: ClusterPlan) -> ClusterPki:
    """`create_cluster_pki` for a task's plan. Blocking: `await asyncio.to_thread(...)`."""

    def members(nodes: Iterable[Any]) -> list[Member]:
        return [Member(n.name, n.address) for n in nodes]

    return create_cluster_pki(
        cluster_name=plan.cluster_name,
        service_cidr=plan.service_cidr,
        cluster_domain=plan.cluster_domain,
        masters=members(plan.masters()),
        etcd_members=members(plan.etcd_members()),
        nodes=members(plan.kube_nodes()),
        extra_sans=(),
    )
