"""The checks of one machine in a preflight: one function per concern, each a `CheckResult`.

Why each verdict is what it is:
- fail: kubeadm (or the kubelet) refuses it, or it breaks the cluster silently (two nodes
  with one hostname, product_uuid or MAC; clocks a second apart break etcd and
  certificates), or only the operator may decide the fix (turning swap off changes how the
  machine behaves under memory pressure; an existing kubelet means it is already a node).
- warn: provisioning fixes it itself (the sysctls are written to /etc/sysctl.d by the
  node setup), it works but poorly (a worker under 1 GiB, etcd on 1 CPU, cgroup v1 which
  Kubernetes keeps only in maintenance), or something installed will be reused or replaced.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from taichu.machines.preflight_report import CheckResult, MachineRef, PreflightPolicy, Status

if TYPE_CHECKING:
    from taichu.machines.facts import MachineFacts

KUBE_NODE_ROLES = frozenset({"master", "worker"})  # run a kubelet and a container runtime
MIB = 1024 * 1024
GIB = 1024 * MIB
PORT_NAMES = {
    6443: "kube-apiserver",
    2379: "etcd client",
    2380: "etcd peer",
    10250: "kubelet",
    10257: "kube-controller-manager",
    10259: "kube-scheduler",
}
NODEPORT_FIRST, NODEPORT_LAST = 30000, 32767
MODULES = ("overlay", "br_netfilter")
SYSCTLS = ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables")
LISTED = 10  # values named in one message at most (a NodePort range can hold thousands)


def required_ports(role: str, *, stacked: bool) -> list[int]:
    if role == "master":
        return [6443, *([2379, 2380] if stacked else []), 10250, 10257, 10259]
    if role == "worker":
        return [10250]
    if role == "etcd":
        return [2379, 2380]
    return []


def machine_checks(
    ref: MachineRef, facts: MachineFacts, role: str, policy: PreflightPolicy, *, stacked: bool
) -> list[CheckResult]:
    checks = [
        *_kubelet_and_ports(ref, facts, role, stacked),
        _clock(ref, facts, policy),
        *_resources(ref, facts, role, policy),
    ]
    if role in KUBE_NODE_ROLES or role == "etcd":
        checks.append(_swap(ref, facts, role))
    if role in KUBE_NODE_ROLES:
        checks += [
            _modules(ref, facts, policy),
            _sysctls(ref, facts),
            _cgroups(ref, facts, policy),
            _runtime(ref, facts),
        ]
    return checks


def _check(
    name: str, status: Status, ref: MachineRef, message: str, hint: str | None = None
) -> CheckResult:
    return CheckResult(name, status, f"{ref.label}: {message}", hint, [ref.id])


def listed(values: Iterable[object]) -> str:
    items = [str(v) for v in values]
    more = f" and {len(items) - LISTED} more" if len(items) > LISTED else ""
    return ", ".join(items[:LISTED]) + more


def _kubelet_and_ports(
    ref: MachineRef, facts: MachineFacts, role: str, stacked: bool
) -> list[CheckResult]:
    in_use = set(facts.ports_in_use)
    kubelet_listening = facts.kubelet is not None and 10250 in in_use
    results = []
    if kubelet_listening:
        results.append(
            _check(
                "existing_kubelet",
                "fail",
                ref,
                f"a kubelet ({facts.kubelet}) is already running and listening on 10250: "
                "the machine is a node of some cluster",
                "remove it from that cluster and reset it (kubeadm reset), or leave it out",
            )
        )
    elif facts.kubelet is not None:
        results.append(
            _check(
                "existing_kubelet",
                "warn",
                ref,
                f"kubelet {facts.kubelet} is installed (not running): provisioning replaces it",
                "nothing to do, unless another tool manages it",
            )
        )
    else:
        results.append(_check("existing_kubelet", "pass", ref, "no kubelet installed"))
    required = required_ports(role, stacked=stacked)
    # A running kubelet already failed above; its port is not a second failure.
    busy = [p for p in required if p in in_use and not (p == 10250 and kubelet_listening)]
    if busy:
        results.append(
            _check(
                "ports_free",
                "fail",
                ref,
                "ports in use: " + ", ".join(f"{p} ({PORT_NAMES[p]})" for p in busy),
                "stop what listens there (ss -ltnp shows it) or choose another machine",
            )
        )
    elif required:
        results.append(
            _check(
                "ports_free",
                "pass",
                ref,
                ("port " if len(required) == 1 else "ports ")
                + f"{listed(required)} {'is' if len(required) == 1 else 'are'} free for {role}",
            )
        )
    if role in KUBE_NODE_ROLES:
        node_ports = sorted(p for p in in_use if NODEPORT_FIRST <= p <= NODEPORT_LAST)
        if node_ports:
            results.append(
                _check(
                    "nodeport_range",
                    "warn",
                    ref,
                    f"ports of the NodePort range {NODEPORT_FIRST}-{NODEPORT_LAST} in use: "
                    f"{listed(node_ports)}; a Service given one of them will not be reachable",
                    "move those programs off the range, or narrow --service-node-port-range",
                )
            )
        else:
            results.append(_check("nodeport_range", "pass", ref, "the NodePort range is free"))
    return results


def _clock(ref: MachineRef, facts: MachineFacts, policy: PreflightPolicy) -> CheckResult:
    offset = facts.clock_offset_ms
    said = f"clock is {abs(offset):.0f} ms {'ahead of' if offset > 0 else 'behind'} the platform"
    hint = "synchronise it with NTP (timedatectl set-ntp true, or chrony)"
    if abs(offset) >= policy.clock_fail_ms:
        return _check(
            "clock_skew",
            "fail",
            ref,
            f"{said} (limit {policy.clock_fail_ms:.0f} ms: etcd and certificates need agreement)",
            hint,
        )
    if abs(offset) >= policy.clock_warn_ms:
        return _check(
            "clock_skew", "warn", ref, f"{said} (warned from {policy.clock_warn_ms:.0f} ms)", hint
        )
    return _check("clock_skew", "pass", ref, said)


def _resources(
    ref: MachineRef, facts: MachineFacts, role: str, policy: PreflightPolicy
) -> list[CheckResult]:
    cpus, mib = facts.cpu_cores, facts.memory_bytes // MIB
    cpu: tuple[Status, str]
    mem: tuple[Status, str]
    if role == "master":
        cpu = ("fail", f"kubeadm needs {policy.master_min_cpus}")
        cpu = cpu if cpus < policy.master_min_cpus else ("pass", "")
        mem = ("fail", f"kubeadm needs {policy.master_min_memory_mib} MiB")
        mem = mem if mib < policy.master_min_memory_mib else ("pass", "")
    elif role == "worker":
        cpu = ("fail", "needs 1") if cpus < 1 else ("pass", "")
        if mib < policy.worker_min_memory_mib:
            mem = ("fail", f"below {policy.worker_min_memory_mib} MiB no pod would fit")
        elif mib < policy.worker_warn_memory_mib:
            mem = ("warn", f"under {policy.worker_warn_memory_mib} MiB leaves little for pods")
        else:
            mem = ("pass", "")
    elif role == "etcd":
        cpu = ("warn", f"etcd wants {policy.etcd_warn_cpus}")
        cpu = cpu if cpus < policy.etcd_warn_cpus else ("pass", "")
        mem = ("warn", f"etcd wants {policy.etcd_warn_memory_mib} MiB")
        mem = mem if mib < policy.etcd_warn_memory_mib else ("pass", "")
    else:  # registry: no Kubernetes component runs there
        cpu, mem = ("pass", ""), ("pass", "")
    hint = "give the machine more, or intend it for a role that needs less"
    results = [
        _check(
            "cpu",
            cpu[0],
            ref,
            f"{cpus} CPU cores for {role}" + (f" ({cpu[1]})" if cpu[1] else ""),
            hint if cpu[0] != "pass" else None,
        ),
        _check(
            "memory",
            mem[0],
            ref,
            f"{mib} MiB of memory for {role}" + (f" ({mem[1]})" if mem[1] else ""),
            hint if mem[0] != "pass" else None,
        ),
    ]
    free_gib = facts.disk_root_free_bytes / GIB
    if free_gib < policy.disk_warn_free_gib:
        results.append(
            _check(
                "disk",
                "warn",
                ref,
                f"{free_gib:.1f} GiB free on / (images and etcd data want "
                f"{policy.disk_warn_free_gib:g} GiB; the kubelet evicts pods near full)",
                "free space on / or grow the disk",
            )
        )
    else:
        results.append(_check("disk", "pass", ref, f"{free_gib:.1f} GiB free on /"))
    return results


def _swap(ref: MachineRef, facts: MachineFacts, role: str) -> CheckResult:
    if not facts.swap_on:
        return _check("swap", "pass", ref, "swap is off")
    hint = "swapoff -a, and remove the swap entries of /etc/fstab so it stays off"
    if role == "etcd":
        return _check("swap", "warn", ref, "swap is on: etcd slows down when paged out", hint)
    return _check("swap", "fail", ref, "swap is on: the kubelet refuses to start with it", hint)


def _modules(ref: MachineRef, facts: MachineFacts, policy: PreflightPolicy) -> CheckResult:
    absent = [m for m in MODULES if facts.kernel_modules.get(m) is False]
    missing = [m for m in absent if m not in policy.optional_modules]
    if absent and not missing:
        return _check(
            "kernel_modules",
            "warn",
            ref,
            f"kernel module {', '.join(absent)} is neither loaded nor loadable: bridged pod "
            "traffic is not seen by iptables",
            "install the kernel's extra modules (e.g. linux-modules-extra-$(uname -r))",
        )
    unknown = [m for m in MODULES if m not in facts.kernel_modules]
    if missing:
        return _check(
            "kernel_modules",
            "fail",
            ref,
            f"kernel module {', '.join(missing)} is neither loaded nor loadable "
            "(containerd's overlay snapshotter and bridged pod traffic need them)",
            "install the kernel's extra modules (e.g. linux-modules-extra-$(uname -r)) "
            "or use a kernel that has them",
        )
    if unknown:
        return _check(
            "kernel_modules",
            "warn",
            ref,
            f"could not tell whether kernel module {', '.join(unknown)} is available",
            "check with modprobe -n <module>",
        )
    return _check("kernel_modules", "pass", ref, f"{', '.join(MODULES)} loaded or loadable")


def _sysctls(ref: MachineRef, facts: MachineFacts) -> CheckResult:
    # Provisioning writes these to /etc/sysctl.d and applies them (after loading
    # br_netfilter, without which the bridge key does not exist): not set now is a warning.
    unset = [
        f"{k}={facts.sysctls.get(k) or 'unset'}" for k in SYSCTLS if facts.sysctls.get(k) != "1"
    ]
    if unset:
        return _check(
            "sysctls",
            "warn",
            ref,
            f"{', '.join(unset)} now; provisioning sets them to 1",
            "nothing to do before provisioning; if a policy resets them, allow "
            + ", ".join(f"{k}=1" for k in SYSCTLS),
        )
    return _check("sysctls", "pass", ref, ", ".join(f"{k}=1" for k in SYSCTLS))


def _cgroups(ref: MachineRef, facts: MachineFacts, policy: PreflightPolicy) -> CheckResult:
    init = facts.init_system
    if init != "systemd" and policy.supervised_without_systemd and facts.cgroup_version:
        return _check(
            "cgroups",
            "warn",
            ref,
            f"init system is {init or 'unknown'}: the services run under the installer's "
            f"supervisor (cgroup v{facts.cgroup_version}, cgroupfs driver)",
            "nothing to do; a distribution booted with systemd gets systemd services",
        )
    if init != "systemd":
        return _check(
            "cgroups",
            "fail",
            ref,
            f"init system is {init or 'unknown'}: the kubelet and the container runtime are "
            "installed as systemd services and use the systemd cgroup driver",
            "use a distribution booted with systemd",
        )
    if facts.cgroup_version == 2:
        return _check("cgroups", "pass", ref, "cgroup v2 with systemd")
    if facts.cgroup_version == 1:
        return _check(
            "cgroups",
            "warn",
            ref,
            "cgroup v1 with systemd: works, but Kubernetes keeps v1 in maintenance only and "
            "recent kubelets refuse it by default",
            "boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2)",
        )
    return _check(
        "cgroups",
        "fail",
        ref,
        "no cgroup filesystem found under /sys/fs/cgroup",
        "mount cgroup2 at /sys/fs/cgroup (systemd does this at boot)",
    )


def _runtime(ref: MachineRef, facts: MachineFacts) -> CheckResult:
    if facts.container_runtime:
        return _check(
            "container_runtime",
            "warn",
            ref,
            f"{facts.container_runtime} is installed: provisioning reuses or replaces it",
            "nothing to do, unless it runs containers you need (they may be restarted)",
        )
    return _check("container_runtime", "pass", ref, "no container runtime installed")
