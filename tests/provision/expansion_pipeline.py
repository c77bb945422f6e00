"""The stand-in pipeline of tests/provision/pipeline.py with a real cluster behind it, for
the expansion tests (TAICHU_PROVISION__PIPELINE=tests.provision.expansion_pipeline): the
admin kubeconfig is a lab cluster's (file TAICHU_TEST_LAB_KUBECONFIG), the machines of a
creation become kwok nodes of it, and the join steps run real commands on the joining
lab hosts (the counters and /root/hold of pipeline.py) and then make each a kwok node.
So an expansion's live state, node names, drains and evictions are a real API server's."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from taichu.kube import ClusterConflict
from taichu.lab import kwok
from taichu.provision.install.remote import wait_api
from taichu.provision.plan import (
    NodePlan,
    Pipeline,
    Step,
    StepContext,
    StepFailed,
    all_nodes,
    joining_nodes,
)
from tests.provision import pipeline as base

NODE_CPU, NODE_MEMORY = "2", "4Gi"  # each kwok node (and 100Gi ephemeral storage)


class LabClusterPki(base.LabPki):
    def admin_kubeconfig(self, server: str) -> str:
        return Path(os.environ["TAICHU_TEST_LAB_KUBECONFIG"]).read_text()


async def _make_node(ctx: StepContext, node: NodePlan) -> None:
    client = ctx.admin_client()
    manifest = kwok.node_manifest(
        node.name,
        role="control-plane" if node.role == "master" else "worker",
        ip=node.address,
        kubelet_version=ctx.plan.kubernetes_version,
        cpu=NODE_CPU,
        memory=NODE_MEMORY,
    )
    with contextlib.suppress(ClusterConflict):
        await client.create("/api/v1/nodes", manifest)
    await ctx.log(node, f"node {node.name} registered")

    async def fetch() -> dict[str, object]:
        return await client.get(f"/api/v1/nodes/{node.name}")

    if await wait_api(f"{node.name} Ready", fetch, kwok.is_ready, 60, 0.5) is None:
        raise StepFailed(node, ctx.step.title, f"node {node.name} not Ready")


async def nodes(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is None
    for n in ctx.plan.kube_nodes():
        await _make_node(ctx, n)


async def join_node(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    await ctx.run(node, base._count("join"))
    await _make_node(ctx, node)


PIPELINE = Pipeline(
    steps=(
        Step("prepare", "Preparing machines", 1, all_nodes, base.prepare),
        Step("nodes", "Registering the nodes", 1, None, nodes),
    ),
    teardown=base.teardown,
    new_pki=LabClusterPki.create,
    load_pki=LabClusterPki.from_json,
    join_steps=(
        Step("prepare", "Preparing machines", 1, joining_nodes, base.prepare),
        Step("needs", "Checking what the machines need", 1, joining_nodes, base.needs),
        Step("hold", "Waiting on the machines", 1, joining_nodes, base.hold),
        Step("join", "Joining the machines", 1, joining_nodes, join_node),
    ),
)
