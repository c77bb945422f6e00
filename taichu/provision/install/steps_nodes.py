"""Steps on every machine before any component starts: preflight, packages, distribute, pki."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taichu.provision.install import configs as C
from taichu.provision.install import layout as L
from taichu.provision.install.remote import Machine, api_server, uses_apilb
from taichu.provision.pki import ADMIN, CONTROLLER_MANAGER, FLANNEL, KUBE_PROXY, SCHEDULER

if TYPE_CHECKING:
    from taichu.provision.plan import ClusterPlan, NodePlan, StepContext

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_TOOLS = ("sh", "sha256sum", "mount", "umount", "ip", "sysctl", "tail", "setsid")
# Ports of each role; a rerun finds its own services on them (not a conflict).
_PORTS = {"master": (6443, 10257, 10259), "etcd": (2379, 2380), "node": (10250, 10256)}
REQUIRED_PACKAGES = ("conntrack", "iptables")
# socat is only kubectl port-forward's: missing, it is reported, not refused.
OPTIONAL_PACKAGES = ("socat",)
_PACKAGE_NAMES = {
    "apt-get": {"conntrack": "conntrack", "iptables": "iptables", "socat": "socat"},
    "dnf": {"conntrack": "conntrack-tools", "iptables": "iptables", "socat": "socat"},
    "yum": {"conntrack": "conntrack-tools", "iptables": "iptables", "socat": "socat"},
}
_INSTALL = {
    "apt-get": "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends",
    "dnf": "dnf install -y -q",
    "yum": "yum install -y -q",
}

# Bundle files by who needs them (everything else goes to every Kubernetes node).
CONTROL_PLANE_FILES = frozenset(
    {"bin/kube-apiserver", "bin/kube-controller-manager", "bin/kube-scheduler", "bin/kubectl"}
)
ETCD_FILES = frozenset({"bin/etcd", "bin/etcdctl", "bin/etcdutl"})
APILB = "bin/taichu-apilb"


def _is_kube_node(node: NodePlan) -> bool:
    return node.role in ("master", "worker")


def _ports(plan: ClusterPlan, node: NodePlan) -> list[int]:
    ports: list[int] = []
    if node.role == "master":
        ports += _PORTS["master"]
    if node.etcd_member:
        ports += _PORTS["etcd"]
    if _is_kube_node(node):
        ports += _PORTS["node"]
    if uses_apilb(plan, node):
        ports.append(plan.api_port)
    return ports


async def preflight(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    m = Machine(ctx, node)
    problems: list[str] = []
    arch = (await m.sh("uname -m")).stdout.strip()
    want = ctx.plan.bundle.manifest.arch
    if _ARCH.get(arch, arch) != want:
        problems.append(f"the machine is {arch}, the artifact is for {want}")
    checks = " ".join(f"command -v {t} >/dev/null || echo missing:{t};" for t in _TOOLS)
    found = await m.sh(
        f"{checks} ip -o addr show | grep -qF ' {node.address}/' || echo noaddr; "
        "grep -qw overlay /proc/filesystems || echo nooverlay; "
        '[ -d /sys/fs/cgroup ] && [ -n "$(ls /sys/fs/cgroup)" ] || echo nocgroup',
        check=False,
    )
    words = found.stdout.split()
    missing = [w.removeprefix("missing:") for w in words if w.startswith("missing:")]
    if missing:
        problems.append(f"commands missing: {', '.join(missing)}")
    if "noaddr" in words:
        problems.append(f"no interface carries the machine's address {node.address}")
    if _is_kube_node(node) and "nooverlay" in words:
        problems.append("the kernel has no overlay filesystem (containerd needs it)")
    if _is_kube_node(node) and "nocgroup" in words:
        problems.append("no cgroup filesystem is mounted at /sys/fs/cgroup")
    # Ports: taken by something other than a service of ours (a rerun finds its own).
    ours = await m.sh(
        f"test -d {L.SERVICES} || ls {L.SYSTEMD_UNITS}/taichu-*.service >/dev/null 2>&1",
        check=False,
    )
    if ours.exit_status != 0:
        listening = await m.sh("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null", check=False)
        taken = _listening_ports(listening.stdout)
        busy = [p for p in _ports(ctx.plan, node) if p in taken]
        if busy:
            problems.append(f"ports already in use: {', '.join(map(str, busy))}")
    if uses_apilb(ctx.plan, node) and not _has_file(ctx, APILB):
        problems.append(f"the artifact has no {APILB} (workers of several masters need it)")
    if problems:
        raise m.fail("; ".join(problems))
    await m.log(f"preflight passed ({arch}, role {node.role})")


def _has_file(ctx: StepContext, path: str) -> bool:
    return any(f.path == path for f in ctx.plan.bundle.manifest.files)


def _listening_ports(proc_net_tcp: str) -> set[int]:
    ports = set()
    for line in proc_net_tcp.splitlines()[:20000]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A":  # LISTEN
            try:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
            except (IndexError, ValueError):
                continue
    return ports


async def packages(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    m = Machine(ctx, node)
    wanted = (*REQUIRED_PACKAGES, *OPTIONAL_PACKAGES)
    missing = await _missing(m, wanted)
    if missing and ctx.plan.with_packages:
        find = "for p in apt-get dnf yum; do command -v $p >/dev/null && echo $p && break; done"
        manager = (await m.sh(find, check=False)).stdout.strip()
        if manager not in _INSTALL:
            raise m.fail(f"no package manager (apt-get, dnf, yum) to install {', '.join(missing)}")
        names = " ".join(_PACKAGE_NAMES[manager][p] for p in missing)
        await m.log(f"installing {names} with {manager}")
        result = await m.sh(f"{_INSTALL[manager]} {names}", timeout=900, check=False)
        if result.exit_status != 0:
            raise m.fail(f"{manager} could not install {names}: {result.stderr[-800:]}")
        missing = await _missing(m, wanted)
    required = [p for p in missing if p in REQUIRED_PACKAGES]
    if required:
        how = "installing them failed" if ctx.plan.with_packages else "with_packages is false"
        raise m.fail(f"packages missing: {', '.join(required)} ({how})")
    for p in missing:
        await m.log(f"{p} is missing: kubectl port-forward will not work on this node")


async def _missing(m: Machine, commands: tuple[str, ...]) -> list[str]:
    probe = " ".join(f"command -v {c} >/dev/null || echo {c};" for c in commands)
    out = await m.sh(f"PATH=$PATH:/usr/sbin:/sbin; {probe}", check=False)
    return [c for c in out.stdout.split() if c in commands]


def _wants(plan: ClusterPlan, node: NodePlan, path: str) -> bool:
    if path == APILB:
        return uses_apilb(plan, node)
    if path in CONTROL_PLANE_FILES:
        return node.role == "master"
    if path in ETCD_FILES:
        return node.etcd_member
    return _is_kube_node(node)


async def distribute(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    m = Machine(ctx, node)
    await m.mkdirs()
    bundle = ctx.plan.bundle
    sent = skipped = 0
    for entry in bundle.manifest.files:
        if not _wants(ctx.plan, node, entry.path):
            continue
        remote = f"{L.OPT}/{entry.path}"
        if await m.put(bundle.file(entry.path), remote, int(entry.mode, 8)):
            sent += 1
        else:
            skipped += 1
    await m.put(bundle.manifest.to_json(), L.BUNDLE_STAMP, 0o644)
    await m.log(f"artifact {bundle.manifest.name}: {sent} files copied, {skipped} already there")


def node_files(
    ctx: StepContext, node: NodePlan, *, kubelet_client: bool = True
) -> list[tuple[Any, str, int]]:
    """(data, path, mode) of every certificate, key and kubeconfig the machine needs.
    Without `kubelet_client` (a joining node) the kubelet gets its own by TLS bootstrap."""
    pki = ctx.pki
    files: list[tuple[Any, str, int]] = []

    def pair(name: str, stem: str, etcd: bool = False) -> None:
        ck = pki.cert(name)
        at = C.etcd_file if etcd else C.pki_file
        files.append((ck.cert_pem, at(stem), 0o644))
        files.append((ck.key_pem, at(stem, "key"), 0o600))

    def kubeconfig(user: str, file: str, server: str) -> None:
        files.append((pki.kubeconfig(user, server), C.kubeconfig_path(file), 0o600))

    if _is_kube_node(node):
        files.append((pki.ca.cert_pem, C.CA, 0o644))
        pair(pki.kubelet_serving(node.name), "kubelet")
        server = api_server(ctx.plan, node)
        if kubelet_client:
            kubeconfig(pki.kubelet_client(node.name), "kubelet", server)
        kubeconfig(KUBE_PROXY, "kube-proxy", server)
        kubeconfig(FLANNEL, "flannel", server)
    if node.role == "master":
        local = f"https://127.0.0.1:{ctx.plan.api_port}"
        files.append((pki.ca.key_pem, C.pki_file("ca", "key"), 0o600))
        for name in ("apiserver", "apiserver-kubelet-client", "apiserver-etcd-client"):
            pair(name, name)
        pair("front-proxy-client", "front-proxy-client")
        files.append((pki.front_proxy_ca.cert_pem, C.pki_file("front-proxy-ca"), 0o644))
        files.append((pki.sa_private_pem, C.pki_file("sa", "key"), 0o600))
        files.append((pki.sa_public_pem, C.pki_file("sa", "pub"), 0o644))
        kubeconfig(CONTROLLER_MANAGER, "controller-manager", local)
        kubeconfig(SCHEDULER, "scheduler", local)
        kubeconfig(ADMIN, "admin", local)
    if node.role == "master" or node.etcd_member:
        files.append((pki.etcd_ca.cert_pem, C.ETCD_CA, 0o644))
    if node.etcd_member:
        pair(pki.etcd_server(node.name), "server", etcd=True)
        pair(pki.etcd_peer(node.name), "peer", etcd=True)
        pair("etcd-healthcheck-client", "healthcheck-client", etcd=True)
    return files


async def pki(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    m = Machine(ctx, node)
    await m.mkdirs()
    files = node_files(ctx, node)
    changed = sum([await m.put(data, path, mode) for data, path, mode in files])
    await m.log(f"{len(files)} certificate, key and kubeconfig files, {changed} written")
