"""Teardown of one machine: stop the installer's services, remove what it put there.

Best effort and rerun-safe: each part runs even when an earlier one found nothing; only
an unreachable machine (the SSH layer's StepFailed) stops it.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from taichu.provision.install import layout as L
from taichu.provision.install.remote import Machine
from taichu.provision.install.steps_workers import CTR, SYSCTL_FILE

if TYPE_CHECKING:
    from taichu.provision.plan import NodePlan, StepContext

# Reverse start order: nothing restarts what was just stopped.
SERVICES = (
    "flanneld",
    "kube-proxy",
    "kubelet",
    "taichu-apilb",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
    "etcd",
    "containerd",
)
# The chains kube-proxy, flannel and the CNI plugins made: every rule naming them goes.
_CHAINS = "KUBE-|FLANNEL-|CNI-"


def pod_routes(route_table: str, pods_cidr: str) -> list[str]:
    """Destinations in `ip -4 route show` output inside the pod network (flannel's)."""
    net = ipaddress.ip_network(pods_cidr, strict=False)
    found = []
    for line in route_table.splitlines()[:10000]:
        dest = line.split(" ", 1)[0]
        try:
            sub = ipaddress.ip_network(dest, strict=False)
        except ValueError:
            continue
        if sub.version == net.version and sub.subnet_of(net):  # type: ignore[arg-type]
            found.append(dest)
    return found


async def teardown(ctx: StepContext, node: NodePlan) -> None:
    m = Machine(ctx, node)
    services = await m.services()
    for name in SERVICES:
        if name == "containerd":
            # The pods' containers first, while containerd can still kill them.
            await m.sh(
                f"[ -S {L.CONTAINERD_SOCKET} ] && for t in $({CTR} tasks ls -q 2>/dev/null); "
                f"do {CTR} tasks kill -s KILL $t; done; true",
                timeout=120,
                check=False,
            )
        await services.remove(name)
    # What outlives its service: containerd's shims. Only this machine's processes (the
    # same mount namespace), running a binary of ours.
    await m.sh(
        "me=$(readlink /proc/self/ns/mnt); for d in /proc/[0-9]*; do "
        '[ "$(readlink $d/ns/mnt 2>/dev/null)" = "$me" ] || continue; '
        f'case "$(readlink $d/exe 2>/dev/null)" in {L.OPT}/*) kill -KILL "${{d#/proc/}}";; esac; '
        "done; true",
        timeout=60,
        check=False,
    )
    prefixes = "|".join(p.replace(".", "\\.") for p in L.MOUNT_PREFIXES)
    await m.sh(
        f"awk '{{print $2}}' /proc/mounts | grep -E '^({prefixes})' | sort -r | "
        'while read -r mnt; do umount -l "$mnt" 2>/dev/null; done; true',
        timeout=60,
        check=False,
    )
    await m.sh(
        "ip link del cni0 2>/dev/null; ip link del flannel.1 2>/dev/null; "
        "for t in nat filter mangle; do "
        f"  iptables-save -t $t 2>/dev/null | grep -qE '{_CHAINS}' || continue; "
        f"  iptables-save -t $t | grep -vE '{_CHAINS}' | iptables-restore -T $t; "
        "done; true",
        timeout=60,
        check=False,
    )
    routes = await m.sh("ip -4 route show", check=False)
    for dest in pod_routes(routes.stdout, ctx.plan.pods_cidr):
        await m.sh(f"ip route del {dest}", check=False)
    removed = " ".join(L.REMOVED)
    files = " ".join((*L.CNI_CONF_FILES, SYSCTL_FILE))
    await m.sh(
        f'for d in {removed}; do rm -rf --one-file-system "$d" 2>/dev/null; '
        '[ -d "$d" ] && find "$d" -mindepth 1 -xdev -delete 2>/dev/null; done; '
        f"rm -rf {files} /var/lib/cni/networks/taichu /var/lib/cni/results; true",
        timeout=300,
        check=False,
    )
    left = await m.sh(
        f'for d in {removed}; do [ -d "$d" ] && [ -n "$(ls -A "$d")" ] && echo $d; done; true',
        check=False,
    )
    if left.stdout.strip():
        raise m.fail(f"could not empty {', '.join(left.stdout.split())}")
    await m.log("services stopped and the installer's files removed")
