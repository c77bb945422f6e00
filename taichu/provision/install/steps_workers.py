"""Every Kubernetes node: container runtime, kubelet, kube-proxy, the network plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taichu.kube import ClusterNotFound
from taichu.provision.install import configs as C
from taichu.provision.install import layout as L
from taichu.provision.install import manifests as M
from taichu.provision.install.remote import Machine, q, tail, uses_apilb, wait_api
from taichu.provision.install.services import Service

if TYPE_CHECKING:
    from taichu.kube import KubeClient
    from taichu.provision.plan import ClusterPlan, NodePlan, StepContext

CTR = f"{L.BIN}/ctr --address={L.CONTAINERD_SOCKET} -n k8s.io"
NODE_READY_WAIT = 180.0
# What kubelet's protectKernelDefaults checks: set where the machine differs (kubelet
# refuses to start otherwise), persisted in a file teardown removes.
KERNEL_DEFAULTS = {
    "vm.overcommit_memory": "1",
    "vm.panic_on_oom": "0",
    "kernel.panic": "10",
    "kernel.panic_on_oops": "1",
    "kernel.keys.root_maxkeys": "1000000",
    "kernel.keys.root_maxbytes": "25000000",
}
SYSCTL_FILE = "/etc/sysctl.d/90-taichu.conf"


def image_name(plan: ClusterPlan, name: str) -> str:
    """The name pods use: the bundle's, or under `image_repo` when the request set one
    (registry.k8s.io/pause:3.10 -> <repo>/pause:3.10)."""
    if not plan.image_repo:
        return name
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        name = rest
    return f"{plan.image_repo.rstrip('/')}/{name}"


def image_for(plan: ClusterPlan, purpose: str) -> str:
    return image_name(plan, plan.bundle.image(purpose).name)


# --- runtime -------------------------------------------------------------------------------


async def _sysctl(m: Machine, values: dict[str, str], persist: str | None = None) -> None:
    """Set what differs (reading first: most machines already have it)."""
    keys = " ".join(values)
    current = await m.sh(
        f'for k in {keys}; do echo "$k=$(sysctl -n $k 2>/dev/null)"; done', check=False
    )
    found = dict(line.partition("=")[::2] for line in current.stdout.splitlines())
    differ = {k: v for k, v in values.items() if found.get(k, "").strip() != v}
    if not differ:
        return
    sets = " && ".join(f"sysctl -qw {k}={v}" for k, v in differ.items())
    result = await m.sh(sets, check=False)
    if result.exit_status != 0:
        raise m.fail(f"cannot set {', '.join(differ)}: {tail(result.stderr, 300)}")
    if persist:
        body = "".join(f"{k} = {v}\n" for k, v in values.items())
        await m.put(f"# taichu: what kubelet needs\n{body}", persist)
    await m.log(f"set {', '.join(f'{k}={v}' for k, v in differ.items())}")


async def runtime(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    m = Machine(ctx, node)
    plan = ctx.plan
    # Pod traffic is forwarded and bridged traffic seen by iptables (kube-proxy).
    await _sysctl(m, {"net.ipv4.ip_forward": "1"})
    await m.sh(
        "[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || modprobe br_netfilter; "
        "[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || "
        "sysctl -qw net.bridge.bridge-nf-call-iptables=1",
        check=False,
    )
    sandbox = image_for(plan, "sandbox")
    changed = await m.put_all(
        [
            (C.containerd_config(sandbox_image=sandbox), C.CONTAINERD_CONFIG, 0o644),
            (C.cni_template(), C.CNI_TEMPLATE, 0o644),
        ]
    )
    services = await m.services()
    containerd = Service(
        "containerd", C.containerd_argv(), env=C.CONTAINERD_ENV, keep_children=True
    )
    if await services.ensure(containerd, changed=changed):
        await m.log("containerd started")
    try:
        await m.wait_command("containerd", f"{CTR} version", 60)
    except Exception:
        raise await m.service_failed("containerd", "containerd does not answer") from None
    present = set((await m.sh(f"{CTR} images ls -q")).stdout.split())
    for image in plan.bundle.manifest.images:
        if image.name not in present:
            archive = f"{L.OPT}/{image.path}"
            result = await m.sh(f"{CTR} images import {q(archive)}", timeout=600, check=False)
            if result.exit_status != 0:
                raise m.fail(f"importing {image.name} failed: {tail(result.stderr, 600)}")
            await m.log(f"image {image.name} imported")
        wanted = image_name(plan, image.name)
        if wanted != image.name and wanted not in present:
            await m.sh(f"{CTR} images tag --force {q(image.name)} {q(wanted)}")


# --- kubelet -------------------------------------------------------------------------------


async def _node(client: KubeClient, name: str) -> dict[str, Any] | None:
    try:
        return await client.get(f"/api/v1/nodes/{name}")
    except ClusterNotFound:
        return None


def node_ready(node: dict[str, Any] | None) -> bool:
    conditions = ((node or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def kubelet(
    ctx: StepContext, node: NodePlan | None, *, bootstrap: bool = False, restart: bool = False
) -> None:
    """`bootstrap`: a joining node (its kubelet asks for its certificate); `restart`: a
    file the kubelet reads at start changed (its join credential)."""
    assert node is not None
    m = Machine(ctx, node)
    plan = ctx.plan
    await _sysctl(m, KERNEL_DEFAULTS, persist=SYSCTL_FILE)
    facts = await m.sh(
        "stat -fc %T /sys/fs/cgroup; "
        "if grep -q '^nameserver 127\\.0\\.0\\.53' /etc/resolv.conf 2>/dev/null && "
        "[ -f /run/systemd/resolve/resolv.conf ]; then echo /run/systemd/resolve/resolv.conf; "
        "else echo /etc/resolv.conf; fi"
    )
    fstype, resolv = [*facts.stdout.split(), "", "/etc/resolv.conf"][:2]
    config = C.kubelet_config(
        address=node.address,
        cluster_dns=plan.cluster_dns,
        cluster_domain=plan.cluster_domain,
        cgroup_v1=fstype != "cgroup2fs",
        resolv_conf=resolv,
    )
    changed = await m.put(config, C.KUBELET_CONFIG)
    await m.sh(f"mkdir -p {L.KUBELET_DATA} {L.MANIFESTS}")
    # Control-plane machines take no ordinary pods when there are workers (as kubeadm).
    taints = [M.CONTROL_PLANE_TAINT] if node.role == "master" and plan.workers() else []
    svc = Service(
        "kubelet",
        C.kubelet_argv(
            node_name=node.name, address=node.address, taints=taints, bootstrap=bootstrap
        ),
        env=C.CONTAINERD_ENV,
    )
    services = await m.services()
    if uses_apilb(plan, node):
        backends = ",".join(f"{n.address}:{plan.api_port}" for n in plan.masters())
        apilb = Service("taichu-apilb", C.apilb_argv(port=plan.api_port, backends=backends))
        if await services.ensure(apilb):
            await m.log(f"taichu-apilb started (127.0.0.1:{plan.api_port} to {backends})")
    if await services.ensure(svc, changed=changed or restart):
        await m.log("kubelet started")
    client = ctx.admin_client()
    found = await wait_api(
        f"node {node.name} Ready", lambda: _node(client, node.name), node_ready, NODE_READY_WAIT
    )
    if found is None:
        raise await m.service_failed(
            "kubelet", f"node {node.name} not Ready within {NODE_READY_WAIT:g}s"
        )
    if node.role == "master":
        labels = {"metadata": {"labels": {M.CONTROL_PLANE_LABEL: ""}}}
        await client.patch(f"/api/v1/nodes/{node.name}", labels)
    await m.log(f"node {node.name} Ready")


# --- kube-proxy ----------------------------------------------------------------------------


async def kube_proxy(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    m = Machine(ctx, node)
    config = C.kube_proxy_config(
        node_name=node.name, address=node.address, pods_cidr=ctx.plan.pods_cidr
    )
    changed = await m.put(config, C.KUBE_PROXY_CONFIG)
    services = await m.services()
    svc = Service("kube-proxy", C.kube_proxy_argv(), env=C.CONTAINERD_ENV)
    if await services.ensure(svc, changed=changed):
        await m.log("kube-proxy started")
    try:
        # Its rules are in place once the service chain exists.
        await m.wait_command("kube-proxy rules", "iptables -t nat -S KUBE-SERVICES", 60)
    except Exception:
        raise await m.service_failed("kube-proxy", "no KUBE-SERVICES rules") from None


# --- network -------------------------------------------------------------------------------


async def network(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    m = Machine(ctx, node)
    plan = ctx.plan
    if plan.network_plugin != "flannel":
        raise m.fail(f"network plugin {plan.network_plugin!r} is not one the installer has")
    client = ctx.admin_client()
    for obj in M.flannel_rbac():  # server-side apply: the same on every node, idempotent
        await client.patch(M.api_path(obj), obj, "apply", force=True)
    await m.sh(f"mkdir -p {L.FLANNEL_RUN}")
    changed = await m.put(C.flannel_net_conf(plan.pods_cidr), C.FLANNEL_NET_CONF)
    services = await m.services()
    svc = Service("flanneld", C.flanneld_argv(address=node.address), env=C.flanneld_env(node.name))
    if await services.ensure(svc, changed=changed):
        await m.log("flanneld started")
    try:
        await m.wait_command("flannel's subnet", f"test -s {L.FLANNEL_RUN}/subnet.env", 60)
    except Exception:
        raise await m.service_failed("flanneld", "flanneld wrote no subnet.env") from None
