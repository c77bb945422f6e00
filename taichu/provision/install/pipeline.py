"""The installer's steps in order (the engine runs them and adds `register`).

Names are journal keys: stable across versions. Weights are shares of progress, roughly
the time each takes (distribute copies a few hundred MB; the waits are the rest).
"""

from __future__ import annotations

from taichu.provision.install import (
    steps_cluster,
    steps_control,
    steps_join,
    steps_nodes,
    steps_workers,
)
from taichu.provision.install.remote import kube_nodes
from taichu.provision.install.teardown import teardown
from taichu.provision.pki import ClusterPki
from taichu.provision.plan import ClusterPlan, NodePlan, Pipeline, Step, all_nodes, joining_nodes


def _masters(plan: ClusterPlan) -> list[NodePlan]:
    return list(plan.masters())


STEPS: tuple[Step, ...] = (
    Step("preflight", "Checking the machines", 2, all_nodes, steps_nodes.preflight),
    Step("packages", "Checking OS packages", 3, kube_nodes, steps_nodes.packages),
    Step(
        "distribute", "Copying the artifact to the machines", 25, all_nodes, steps_nodes.distribute
    ),
    Step("pki", "Installing certificates", 3, all_nodes, steps_nodes.pki),
    Step("etcd", "Starting etcd", 8, None, steps_control.etcd),
    Step("control_plane", "Starting the control plane", 12, _masters, steps_control.control_plane),
    Step("runtime", "Starting the container runtime", 10, kube_nodes, steps_workers.runtime),
    Step("kubelet", "Joining the kubelets", 12, kube_nodes, steps_workers.kubelet),
    Step("kube_proxy", "Starting kube-proxy", 4, kube_nodes, steps_workers.kube_proxy),
    Step("network", "Starting the network plugin", 6, kube_nodes, steps_workers.network),
    Step("dns", "Deploying CoreDNS", 6, None, steps_cluster.dns),
    Step("verify", "Verifying the cluster", 9, None, steps_cluster.verify),
)

STEP_NAMES = tuple(s.name for s in STEPS)

# Joining workers to a created cluster: the creation's steps on the joining machines, but
# certificates and kubelet of the join's own (no kubelet client certificate is made for
# them: each kubelet gets its own with a fresh short-lived join credential). `verify` is
# the creation's: every node Ready, pods on each (the new ones too) reach each other, DNS.
JOIN_STEPS: tuple[Step, ...] = (
    Step("preflight", "Checking the machines", 2, joining_nodes, steps_nodes.preflight),
    Step("packages", "Checking OS packages", 3, joining_nodes, steps_nodes.packages),
    Step(
        "distribute",
        "Copying the artifact to the machines",
        25,
        joining_nodes,
        steps_nodes.distribute,
    ),
    Step("pki", "Installing certificates", 3, joining_nodes, steps_join.pki),
    Step("runtime", "Starting the container runtime", 10, joining_nodes, steps_workers.runtime),
    Step("join_access", "Allowing the machines to join", 1, None, steps_join.access),
    Step("kubelet", "Joining the kubelets", 12, joining_nodes, steps_join.kubelet),
    Step("kube_proxy", "Starting kube-proxy", 4, joining_nodes, steps_workers.kube_proxy),
    Step("network", "Starting the network plugin", 6, joining_nodes, steps_workers.network),
    Step("verify", "Verifying the cluster", 9, None, steps_cluster.verify),
)

PIPELINE = Pipeline(
    steps=STEPS,
    teardown=teardown,
    new_pki=ClusterPki.create,
    load_pki=ClusterPki.from_json,
    join_steps=JOIN_STEPS,
)
