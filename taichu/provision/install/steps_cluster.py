"""Once per cluster, through the new API server: CoreDNS, and the verification."""

from __future__ import annotations

import contextlib
import ipaddress
from typing import TYPE_CHECKING, Any

from taichu.kube import ClusterNotFound
from taichu.provision.install import manifests as M
from taichu.provision.install.remote import Machine, kube_nodes, q, tail, wait_api
from taichu.provision.install.steps_control import KUBECTL
from taichu.provision.install.steps_workers import image_for, node_ready
from taichu.provision.plan import StepFailed

if TYPE_CHECKING:
    from taichu.kube import KubeClient
    from taichu.provision.plan import NodePlan, StepContext

DNS_WAIT = 180.0
PODS_WAIT = 180.0
Obj = dict[str, Any]


async def apply(client: KubeClient, objs: list[Obj]) -> None:
    for obj in objs:
        await client.patch(M.api_path(obj), obj, "apply", force=True)


def _pod_problems(pods: list[Obj]) -> str:
    """Why pods are not running, as the operator would read it from kubectl describe."""
    out = []
    for pod in pods[:10]:
        status = pod.get("status") or {}
        why = status.get("phase") or "?"
        for c in status.get("containerStatuses") or []:
            waiting = (c.get("state") or {}).get("waiting")
            if waiting:
                why = f"{waiting.get('reason')}: {waiting.get('message', '')}"[:300]
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                why = f"unschedulable: {cond.get('message', '')}"[:300]
        out.append(f"{pod['metadata']['name']} on {pod['spec'].get('nodeName') or '-'}: {why}")
    return "; ".join(out) or "no pods"


def _ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def dns(ctx: StepContext, node: NodePlan | None) -> None:
    plan = ctx.plan
    client = ctx.admin_client()
    replicas = 2 if len(kube_nodes(plan)) > 1 else 1
    objs = M.coredns(
        image=image_for(plan, "dns"),
        cluster_dns=plan.cluster_dns,
        cluster_domain=plan.cluster_domain,
        replicas=replicas,
    )
    await apply(client, objs)
    await ctx.log(None, f"CoreDNS applied ({replicas} replicas at {plan.cluster_dns})")
    path = f"/apis/apps/v1/namespaces/{M.SYSTEM}/deployments/coredns"

    def available(d: Obj) -> bool:
        return (d.get("status") or {}).get("readyReplicas", 0) >= replicas

    if await wait_api("CoreDNS ready", lambda: client.get(path), available, DNS_WAIT) is None:
        pods, _ = await client.list_all(
            f"/api/v1/namespaces/{M.SYSTEM}/pods", {"labelSelector": "k8s-app=kube-dns"}
        )
        problems = _pod_problems(pods)
        raise StepFailed(
            plan.masters()[0], ctx.step.title, f"CoreDNS not ready within {DNS_WAIT:g}s: {problems}"
        )
    await ctx.log(None, "CoreDNS ready")


async def verify(ctx: StepContext, node: NodePlan | None) -> None:
    """Every node Ready, a pod on each Running, DNS from a pod, pod to pod across nodes."""
    plan = ctx.plan
    client = ctx.admin_client()
    first = plan.masters()[0]
    nodes = kube_nodes(plan)
    for n in nodes:
        try:
            found = await client.get(f"/api/v1/nodes/{n.name}")
        except ClusterNotFound:
            raise StepFailed(n, ctx.step.title, f"node {n.name} is not registered") from None
        if not node_ready(found):
            raise StepFailed(n, ctx.step.title, f"node {n.name} is not Ready")
    # A namespace left terminating by an earlier attempt refuses new pods: let it go.
    ns_path = f"/api/v1/namespaces/{M.VERIFY_NAMESPACE}"

    async def terminating() -> bool:
        try:
            ns = await client.get(ns_path)
        except ClusterNotFound:
            return False
        return bool((ns.get("metadata") or {}).get("deletionTimestamp"))

    await wait_api("verify namespace gone", terminating, lambda t: not t, 60)
    await apply(client, [M.namespace(M.VERIFY_NAMESPACE)])
    image = image_for(plan, "verify")
    pods = [M.verify_pod(node_name=n.name, image=image) for n in nodes]
    await apply(client, pods)
    listing = f"/api/v1/namespaces/{M.VERIFY_NAMESPACE}/pods"

    async def fetch() -> list[Obj]:
        return (await client.list_all(listing, {"labelSelector": "taichu/verify=true"}))[0]

    def all_ready(found: list[Obj]) -> bool:
        ready = {p["metadata"]["name"] for p in found if _ready(p)}
        return all(p["metadata"]["name"] in ready for p in pods)

    found = await wait_api("verify pods Running", fetch, all_ready, PODS_WAIT)
    if found is None:
        problems = _pod_problems(await fetch())
        raise StepFailed(
            first, ctx.step.title, f"pods not Running within {PODS_WAIT:g}s: {problems}"
        )
    ips = {p["metadata"]["name"]: (p.get("status") or {}).get("podIP") for p in found}
    await ctx.log(None, f"a pod Running on each of {len(nodes)} nodes")
    m = Machine(ctx, first)

    async def exec_in(pod: str, command: str) -> str:
        result = await m.sh(
            f"{KUBECTL} -n {M.VERIFY_NAMESPACE} exec {q(pod)} -- sh -c {q(command)}",
            timeout=60,
            check=False,
        )
        if result.exit_status != 0:
            raise m.fail(f"in pod {pod}: {command}: {tail(result.stdout + result.stderr, 600)}")
        return result.stdout

    names = [p["metadata"]["name"] for p in pods]
    service_ip = str(ipaddress.ip_network(plan.service_cidr, strict=False)[1])
    fqdn = f"kubernetes.default.svc.{plan.cluster_domain}"
    # DNS from the last node's pod (on a worker where there are workers).
    answer = await exec_in(names[-1], f"busybox nslookup {fqdn} {plan.cluster_dns}")
    if service_ip not in answer:
        raise m.fail(f"DNS answered {fqdn} without {service_ip}: {tail(answer, 400)}")
    await ctx.log(None, f"DNS resolves {fqdn} to {service_ip} from a pod")
    # Each pod fetches the next one's page: every node reaches a pod on another node.
    for i, name in enumerate(names):
        peer = names[(i + 1) % len(names)]
        if peer == name:
            break
        url = f"http://{ips[peer]}:8080/"
        page = await exec_in(name, f"busybox wget -q -T 5 -O - {url}")
        if peer not in page:
            raise m.fail(f"pod {name} fetched {url} and got {tail(page, 200)!r}, not {peer}")
    await ctx.log(None, "pods reach each other across nodes")
    with contextlib.suppress(ClusterNotFound):
        await client.delete(ns_path)
