"""An expansion's own steps: the joining machines' certificates, the join access on the
cluster, and their kubelets started with a fresh join credential each (TLS bootstrap,
`taichu.provision.join`). Everything else a joining machine gets is the creation's own
steps (the same bundle, runtime, kube-proxy and network plugin, rendered the same way)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from taichu.provision import join
from taichu.provision.install import configs as C
from taichu.provision.install import steps_workers
from taichu.provision.install.remote import Machine, api_server
from taichu.provision.install.steps_cluster import apply
from taichu.provision.install.steps_nodes import node_files

if TYPE_CHECKING:
    from taichu.provision.plan import NodePlan, StepContext


def _ttl(ctx: StepContext) -> float:
    settings = getattr(getattr(ctx, "app", None), "settings", None)
    return settings.provision.join_credential_ttl_seconds if settings is not None else 900.0


async def pki(ctx: StepContext, node: NodePlan | None) -> None:
    """The node's files as at creation, but no kubelet client certificate: the kubelet
    gets its own (a CSR the controller manager signs)."""
    assert node is not None
    m = Machine(ctx, node)
    await m.mkdirs()
    await asyncio.to_thread(ctx.pki.add_kubelet_serving, node.name, node.address)
    files = node_files(ctx, node, kubelet_client=False)
    changed = sum([await m.put(data, path, mode) for data, path, mode in files])
    await m.log(f"{len(files)} certificate, key and kubeconfig files, {changed} written")


async def access(ctx: StepContext, node: NodePlan | None) -> None:
    """Once per expansion: what lets a join credential have its node's certificate signed."""
    await apply(ctx.admin_client(), join.join_rbac())
    await ctx.log(None, f"join access for group {join.JOINERS_GROUP} in place")


async def kubelet(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    m = Machine(ctx, node)
    run_id = ctx.step.name.partition("/")[0]  # the expansion's (its journal prefix)
    credential = await asyncio.to_thread(
        join.join_credential, ctx.pki.ca, node.name, run_id, _ttl(ctx)
    )
    text = join.bootstrap_kubeconfig(
        ctx.pki.ca, credential, api_server(ctx.plan, node), ctx.plan.cluster_name
    )
    restart = await m.put(text, C.BOOTSTRAP_KUBECONFIG, 0o600)
    await m.log(f"join credential valid {_ttl(ctx):g}s written")
    try:
        await steps_workers.kubelet(ctx, node, bootstrap=True, restart=restart)
    finally:
        # Used once: the kubelet holds its own certificate now (or the join failed).
        await m.sh(f"rm -f {C.BOOTSTRAP_KUBECONFIG}", check=False)
    signed = await m.sh(f"test -s {C.KUBELET_CERT_DIR}/kubelet-client-current.pem", check=False)
    if signed.exit_status != 0:
        raise m.fail("the kubelet is Ready without a signed client certificate of its own")
    await m.log("kubelet joined with its own certificate; join credential removed")
