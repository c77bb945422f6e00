"""The rules of a create request that need no machine and no database: roles, etcd
quorum, node names, networks, what the bundle carries. Pure, unit tested."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from taichu.errors import Invalid
from taichu.provision.plan import ETCD, MASTER, NODE_ROLES, WORKER

DEFAULT_PODS_CIDR = "10.244.0.0/16"
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
RUNTIMES = ("containerd",)
_NOT_DNS = re.compile(r"[^a-z0-9.-]+")


@dataclass(frozen=True)
class MachineView:
    """What the rules look at of a machine (read from the inventory)."""

    id: str
    name: str
    address: str
    internal_address: str
    role: str
    status: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.address})"


@dataclass(frozen=True)
class Networks:
    pods_cidr: str
    service_cidr: str
    cluster_dns: str


def node_name(machine_name: str) -> str:
    """The node name of a machine: its name, DNS-1123 lowered (at most 63 characters)."""
    name = _NOT_DNS.sub("-", machine_name.lower()).strip("-.")[:63].strip("-.")
    return name or "node"


def check_machines(machines: Sequence[MachineView]) -> dict[str, str]:
    """Statuses, roles and etcd quorum; returns machine id -> node name."""
    for m in machines:
        if m.status != "available":
            raise Invalid(
                f"machine_ids: machine {m.label} is {m.status}, not available "
                "(only available machines can build a cluster)"
            )
        if m.role not in NODE_ROLES:
            raise Invalid(
                f"machine_ids: machine {m.label} has role {m.role}: a cluster takes "
                f"{', '.join(NODE_ROLES)} machines"
            )
    if not any(m.role == MASTER for m in machines):
        raise Invalid("machine_ids: at least one machine must have the role master")
    etcd = [m for m in machines if m.role == ETCD] or [m for m in machines if m.role == MASTER]
    if len(etcd) % 2 == 0:
        which = "etcd machines" if any(m.role == ETCD for m in machines) else "masters"
        raise Invalid(
            f"machine_ids: etcd needs an odd number of members; {len(etcd)} {which} given "
            "(etcd runs on the etcd machines, else on the masters)"
        )
    names: dict[str, str] = {}
    seen: dict[str, MachineView] = {}
    for m in machines:
        name = node_name(m.name)
        if name in seen:
            raise Invalid(
                f"machine_ids: machines {seen[name].label} and {m.label} would both be "
                f"node {name}: rename one"
            )
        seen[name] = m
        names[m.id] = name
    return names


def _network(field: str, text: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise Invalid(f"{field}: {text[:50]!r} is not an IPv4 network ({e})") from e
    if not isinstance(net, ipaddress.IPv4Network):
        raise Invalid(f"{field}: {text[:50]!r} is not an IPv4 network")
    return net


def check_networks(pods: str, service: str, machines: Sequence[MachineView]) -> Networks:
    pods_net = _network("network.pods_cidr", pods or DEFAULT_PODS_CIDR)
    service_net = _network("network.service_cidr", service or DEFAULT_SERVICE_CIDR)
    if not 8 <= pods_net.prefixlen <= 24:
        raise Invalid(
            f"network.pods_cidr: {pods_net} must be /8 to /24 (each node gets a /24 of it)"
        )
    if not 12 <= service_net.prefixlen <= 28:
        raise Invalid(f"network.service_cidr: {service_net} must be /12 to /28")
    if pods_net.overlaps(service_net):
        raise Invalid(f"network.pods_cidr: {pods_net} overlaps network.service_cidr {service_net}")
    for m in machines:
        for raw in {m.address, m.internal_address}:
            try:
                address = ipaddress.ip_address(raw)
            except ValueError:
                continue
            for field, net in (("pods_cidr", pods_net), ("service_cidr", service_net)):
                if address in net:
                    raise Invalid(
                        f"network.{field}: {net} contains the address {address} of machine "
                        f"{m.name}: choose a range the machines' network does not use"
                    )
    return Networks(str(pods_net), str(service_net), str(service_net.network_address + 10))


def _manifest_field(manifest: Any, name: str, default: Any) -> Any:
    value = getattr(manifest, name, None)
    if value is None and isinstance(manifest, dict):
        value = manifest.get(name)
    return default if value is None else value


def check_bundle(
    manifest: Any, bundle_name: str, version: str, plugin: str, runtime: str
) -> tuple[str, str, str]:
    """(kubernetes version, network plugin, runtime) the request gets from this bundle."""
    bundled = str(_manifest_field(manifest, "kubernetes_version", ""))
    plugins = list(_manifest_field(manifest, "network_plugins", []))
    runtimes = list(_manifest_field(manifest, "container_runtimes", list(RUNTIMES)))
    wanted = version or bundled
    if wanted.lstrip("v") != bundled.lstrip("v"):
        raise Invalid(
            f"kubernetes.version: {wanted[:64]} does not match the bundle {bundle_name}, "
            f"which carries Kubernetes {bundled}"
        )
    chosen = plugin or (plugins[0] if plugins else "")
    if chosen not in plugins:
        carried = ", ".join(plugins) or "none"
        raise Invalid(
            f"network.plugin: {chosen[:64]!r} is not in the bundle {bundle_name}; "
            f"it carries: {carried}"
        )
    chosen_runtime = runtime or RUNTIMES[0]
    if chosen_runtime not in RUNTIMES or chosen_runtime not in runtimes:
        raise Invalid(
            f"kubernetes.container_manager: {chosen_runtime[:32]!r} is not supported; "
            f"use {RUNTIMES[0]}"
        )
    return bundled, chosen, chosen_runtime


def etcd_member(role: str, has_etcd_machines: bool) -> bool:
    return role == ETCD if has_etcd_machines else role == MASTER


__all__ = [
    "DEFAULT_PODS_CIDR",
    "DEFAULT_SERVICE_CIDR",
    "ETCD",
    "MASTER",
    "WORKER",
    "MachineView",
    "Networks",
    "check_bundle",
    "check_machines",
    "check_networks",
    "etcd_member",
    "node_name",
]
