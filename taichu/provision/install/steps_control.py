"""etcd and the control plane."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from taichu.provision.install import configs as C
from taichu.provision.install.remote import Machine
from taichu.provision.install.services import Service

if TYPE_CHECKING:
    from taichu.provision.plan import NodePlan, StepContext

ETCD_WAIT = 120.0
APISERVER_WAIT = 180.0
KCM_WAIT = 120.0
KUBECTL = f"{C.L.BIN}/kubectl --kubeconfig={C.kubeconfig_path('admin')} --request-timeout=5s"


def etcd_service(ctx: StepContext, node: NodePlan) -> Service:
    members = [(n.name, n.address) for n in ctx.plan.etcd_members()]
    return Service(
        "etcd",
        C.etcd_argv(
            name=node.name, address=node.address, members=members, token=ctx.plan.cluster_id
        ),
    )


async def _etcd_member(ctx: StepContext, node: NodePlan) -> None:
    m = Machine(ctx, node)
    services = await m.services()
    await m.sh(f"mkdir -p {C.L.ETCD_DATA} && chmod 700 {C.L.ETCD_DATA}")
    if await services.ensure(etcd_service(ctx, node)):
        await m.log("etcd started")
    try:
        await m.wait_command("etcd healthy", C.etcdctl_health(), ETCD_WAIT)
    except Exception:
        raise await m.service_failed("etcd", f"etcd not healthy within {ETCD_WAIT:g}s") from None
    await m.log("etcd healthy")


async def etcd(ctx: StepContext, node: NodePlan | None) -> None:
    """Once per cluster: every member starts at the same time (a member alone never
    becomes healthy: it waits for a quorum of its peers)."""
    results = await asyncio.gather(
        *(_etcd_member(ctx, n) for n in ctx.plan.etcd_members()), return_exceptions=True
    )
    for r in results:
        if isinstance(r, BaseException):
            raise r


def control_plane_services(ctx: StepContext, node: NodePlan) -> list[Service]:
    plan = ctx.plan
    return [
        Service(
            "kube-apiserver",
            C.apiserver_argv(
                address=node.address,
                port=plan.api_port,
                etcd_addresses=[n.address for n in plan.etcd_members()],
                service_cidr=plan.service_cidr,
                cluster_domain=plan.cluster_domain,
            ),
        ),
        Service(
            "kube-controller-manager",
            C.controller_manager_argv(service_cidr=plan.service_cidr, pods_cidr=plan.pods_cidr),
        ),
        Service("kube-scheduler", C.scheduler_argv()),
    ]


async def control_plane(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    m = Machine(ctx, node)
    services = await m.services()
    apiserver, kcm, scheduler = control_plane_services(ctx, node)
    if await services.ensure(apiserver):
        await m.log("kube-apiserver started")
    readyz = f"{KUBECTL} get --raw=/readyz"
    try:
        await m.wait_command("kube-apiserver /readyz", readyz, APISERVER_WAIT)
    except Exception:
        raise await m.service_failed(
            "kube-apiserver", f"/readyz not ok within {APISERVER_WAIT:g}s"
        ) from None
    await m.log("kube-apiserver ready")
    for svc in (kcm, scheduler):
        if await services.ensure(svc):
            await m.log(f"{svc.name} started")
    # The controller manager works once it has made the default service account (pods
    # are refused before that).
    try:
        await m.wait_command(
            "the default service account",
            f"{KUBECTL} -n default get serviceaccount default",
            KCM_WAIT,
        )
    except Exception:
        raise await m.service_failed(
            "kube-controller-manager", "no default service account (the controller manager)"
        ) from None
    for svc in (kcm, scheduler):
        if await services.status(svc.name) != "running":
            raise await m.service_failed(svc.name, f"{svc.name} does not stay running")
