"""The rules of joining machines to a created cluster that need no machine and no
database (pure, unit tested): machine picking by facts, the totals asked for, Kubernetes
version skew, the cluster's networks; and the join credential a new kubelet uses once.

The join credential is a client certificate of the cluster CA, valid for minutes, in the
group `taichu:node-joiners`, which may only ask for a node client certificate (a CSR the
controller manager approves and signs: TLS bootstrapping, as kubeadm's bootstrap tokens
do it, with nothing to enable on the API server). One is made for each join; it is
removed from the machine once the kubelet holds its own certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from taichu.errors import Invalid
from taichu.kube import ClusterAccess, render_kubeconfig
from taichu.pki import CertKey, issue
from taichu.provision.install.configs import node_cidr_mask
from taichu.provision.validation import MachineView, check_networks

GIB = 2**30
JOINERS_GROUP = "taichu:node-joiners"
# kube-apiserver's bootstrap roles: create CSRs; have a node client CSR approved.
_JOIN_ROLES = {
    "taichu:node-joiners-bootstrap": "system:node-bootstrapper",
    "taichu:node-joiners-autoapprove": (
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient"
    ),
}
_VERSION = re.compile(r"^v?(\d+)\.(\d+)")
# Kubernetes' skew policy: a kubelet may be up to three minors older than the API server,
# never newer.
KUBELET_MAX_MINORS_BEHIND = 3


def gb(value: float) -> int:
    """Bytes as whole GiB (the unit of the spec's *_gb fields)."""
    return round(value / GIB)


@dataclass(frozen=True)
class Totals:
    nodes: int
    cpu: int
    memory_gb: int
    storage_gb: int

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.nodes + other.nodes,
            self.cpu + other.cpu,
            self.memory_gb + other.memory_gb,
            self.storage_gb + other.storage_gb,
        )


def live_totals(summary: dict[str, Any]) -> Totals:
    """What the cluster has now, from `taichu.clusters.probe.summarize_nodes`."""
    return Totals(
        int(summary["node_count"]),
        round(float(summary["total_cpu_cores"])),
        gb(summary["total_memory_bytes"]),
        gb(summary["total_storage_bytes"]),
    )


@dataclass(frozen=True)
class Candidate:
    """A machine as picking sees it: its view and what its facts say it brings."""

    view: MachineView
    cpu: int
    memory_gb: int
    storage_gb: int

    @classmethod
    def of(cls, view: MachineView, facts: dict[str, Any] | None) -> Candidate | None:
        """None for a machine no check has gathered facts of yet."""
        if not facts:
            return None
        return cls(
            view,
            int(facts.get("cpu_cores") or 0),
            gb(int(facts.get("memory_bytes") or 0)),
            gb(int(facts.get("disk_root_bytes") or 0)),
        )

    @property
    def totals(self) -> Totals:
        return Totals(1, self.cpu, self.memory_gb, self.storage_gb)


def added(chosen: Sequence[Candidate]) -> Totals:
    total = Totals(0, 0, 0, 0)
    for c in chosen:
        total = total + c.totals
    return total


def check_totals(old: Totals, chosen: Sequence[Candidate], asked: Totals, how: str) -> None:
    """The chosen machines bring the cluster to what was asked; Invalid naming the field
    and what is missing. `how` says which machines (for the message)."""
    after = old + added(chosen)
    fields = (
        ("new_node_count", "nodes", old.nodes, after.nodes, asked.nodes),
        ("new_cpu_cores", "CPU cores", old.cpu, after.cpu, asked.cpu),
        ("new_memory_gb", "GiB of memory", old.memory_gb, after.memory_gb, asked.memory_gb),
        (
            "new_storage_gb",
            "GiB of storage",
            old.storage_gb,
            after.storage_gb,
            asked.storage_gb,
        ),
    )
    for field, unit, before, reached, wanted in fields:
        if reached < wanted:
            raise Invalid(
                f"{field}: {wanted} {unit} asked; the cluster has {before} and {how} add "
                f"{reached - before}: {wanted - reached} {unit} missing"
            )


def pick(candidates: Sequence[Candidate], old: Totals, asked: Totals) -> list[Candidate]:
    """`asked.nodes - old.nodes` machines reaching the asked totals, the smallest that do
    (big machines stay free for bigger asks); Invalid saying what is missing."""
    count = asked.nodes - old.nodes
    pool = sorted(candidates, key=lambda c: (c.cpu, c.memory_gb, c.storage_gb, c.view.name))
    if count > len(pool):
        names = ", ".join(c.view.name for c in pool[:20]) or "none"
        raise Invalid(
            f"new_node_count: {asked.nodes} nodes asked and the cluster has {old.nodes}: "
            f"{count} available worker machines with facts are needed, {len(pool)} there are "
            f"({names})"
        )
    need = Totals(
        count,
        asked.cpu - old.cpu,
        asked.memory_gb - old.memory_gb,
        asked.storage_gb - old.storage_gb,
    )
    chosen: list[Candidate] = []
    rest = list(pool)
    for left in range(count, 0, -1):
        have = added(chosen)
        for c in rest:  # smallest first: the first that keeps the ask within reach
            others = [o for o in rest if o is not c]
            best = _best_case(others, left - 1)
            reach = have + c.totals + best
            if (
                reach.cpu >= need.cpu
                and reach.memory_gb >= need.memory_gb
                and (reach.storage_gb >= need.storage_gb)
            ):
                chosen.append(c)
                rest.remove(c)
                break
        else:  # nothing keeps it within reach: the largest, and the check says why
            largest = sorted(pool, key=lambda c: (-c.cpu, -c.memory_gb, -c.storage_gb))[:count]
            check_totals(old, largest, asked, f"the {count} largest available worker machines")
            return largest
    check_totals(old, chosen, asked, "the picked machines")
    return chosen


def _best_case(pool: Sequence[Candidate], count: int) -> Totals:
    """An upper bound of what `count` of `pool` can add, per resource."""

    def top(values: list[int]) -> int:
        return sum(sorted(values, reverse=True)[:count])

    return Totals(
        count,
        top([c.cpu for c in pool]),
        top([c.memory_gb for c in pool]),
        top([c.storage_gb for c in pool]),
    )


def minor(version: str) -> tuple[int, int]:
    found = _VERSION.match(version.strip())
    if not found:
        raise ValueError(f"{version[:64]!r} is not a Kubernetes version")
    return int(found.group(1)), int(found.group(2))


def check_version_skew(api_version: str, kubelet_version: str) -> None:
    """The joining kubelets (the bundle the cluster was created with) against the API
    server's version as it answers now; Invalid when the skew policy forbids it."""
    try:
        api, kubelet = minor(api_version), minor(kubelet_version)
    except ValueError as e:
        raise Invalid(f"cluster version: {e}") from e
    if api[0] != kubelet[0] or kubelet[1] > api[1]:
        raise Invalid(
            f"version skew: the joining kubelets are {kubelet_version} and the API server "
            f"is {api_version}: a kubelet may not be newer than its API server"
        )
    if api[1] - kubelet[1] > KUBELET_MAX_MINORS_BEHIND:
        raise Invalid(
            f"version skew: the joining kubelets are {kubelet_version} and the API server "
            f"is {api_version}: more than {KUBELET_MAX_MINORS_BEHIND} minor versions apart"
        )


def check_join_networks(
    pods_cidr: str, service_cidr: str, joining: Sequence[MachineView], nodes_after: int
) -> None:
    """The joining machines' addresses are outside the cluster's pod and service networks,
    and the pod network has a node subnet for every node there will be."""
    check_networks(pods_cidr, service_cidr, joining)
    net = ipaddress.ip_network(pods_cidr, strict=False)
    subnets = 2 ** max(0, node_cidr_mask(pods_cidr) - net.prefixlen)
    if nodes_after > subnets:
        raise Invalid(
            f"network.pods_cidr: the cluster's pod network {net} has {subnets} node subnets "
            f"(/{node_cidr_mask(pods_cidr)}); the cluster would have {nodes_after} nodes"
        )


# --- the join credential -------------------------------------------------------------------


def join_credential(ca: CertKey, node_name: str, run_id: str, ttl_seconds: float) -> CertKey:
    """A fresh client certificate for one join, valid `ttl_seconds`. Blocking (a key is
    made): call it in a thread."""
    return issue(
        ca,
        f"taichu:join:{node_name}:{run_id[:8]}",
        orgs=(JOINERS_GROUP,),
        client=True,
        validity=dt.timedelta(seconds=ttl_seconds),
    )


def bootstrap_kubeconfig(ca: CertKey, credential: CertKey, server: str, cluster: str) -> str:
    access = ClusterAccess(
        server=server,
        ca_data=ca.cert_pem,
        client_cert_data=credential.cert_pem,
        client_key_data=credential.key_pem,
    )
    return render_kubeconfig(access, cluster)


def join_rbac() -> list[dict[str, Any]]:
    """What lets a join credential have its node's certificate signed, and nothing more."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "taichu"}},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": JOINERS_GROUP}
            ],
        }
        for name, role in _JOIN_ROLES.items()
    ]
