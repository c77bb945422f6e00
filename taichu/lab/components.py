"""Command lines and config files of one lab control plane's components."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from taichu.lab.binaries import LabBinaries
from taichu.lab.kubeapi import kubeconfig_yaml

ALLOW_PATHS = "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics"


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int
    metrics_server: int


@dataclass(frozen=True)
class Layout:
    """Paths in a cluster's work dir."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    def pki_file(self, name: str) -> str:
        return str(self.pki / name)

    def kubeconfig(self, who: str) -> Path:
        return self.root / f"{who}.kubeconfig"


@dataclass(frozen=True)
class Settings:
    service_cidr: str = "10.96.0.0/16"
    pod_cidr: str = "10.244.0.0/16"
    node_lease_seconds: int = 40
    """kwok renews each node's lease every quarter of this, like a kubelet."""
    node_monitor_grace_seconds: int = 50
    """After this long without a lease renewal the controller manager marks a node NotReady."""
    etcd_quota_bytes: int = 2 * 1024**3
    metrics_server: bool = False
    """Run metrics-server on kwok's simulated usage (`kubectl top`); about 3 s more start."""


def write_component_kubeconfigs(layout: Layout, name: str, server: str, ca_pem: bytes) -> None:
    for who, stem in (
        ("controller-manager", "controller-manager"),
        ("scheduler", "scheduler"),
        ("kwok", "kwok"),
        ("metrics-server", "metrics-server-client"),
    ):
        text = kubeconfig_yaml(
            name,
            server,
            ca_pem,
            cert_pem=(layout.pki / f"{stem}.crt").read_bytes(),
            key_pem=(layout.pki / f"{stem}.key").read_bytes(),
            user=who,
        )
        path = layout.kubeconfig(who)
        path.write_text(text)
        path.chmod(0o600)


def etcd_argv(
    bins: LabBinaries, layout: Layout, ports: Ports, settings: Settings, token: str
) -> list[str]:
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        bins.bin("etcd"),
        "--name=lab",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=lab={peer}",
        f"--initial-cluster-token={token}",
        "--initial-cluster-state=new",
        "--auto-compaction-retention=1",
        f"--quota-backend-bytes={settings.etcd_quota_bytes}",
        # Test data need not survive a machine crash; fsync per write would make every
        # object creation wait for the disk, and several clusters share one disk.
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_argv(
    bins: LabBinaries, layout: Layout, ports: Ports, settings: Settings
) -> list[str]:
    p = layout.pki_file
    return [
        bins.bin("kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        f"--tls-cert-file={p('apiserver.crt')}",
        f"--tls-private-key-file={p('apiserver.key')}",
        f"--client-ca-file={p('ca.crt')}",
        f"--service-account-key-file={p('sa.pub')}",
        f"--service-account-signing-key-file={p('sa.key')}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={settings.service_cidr}",
        "--authorization-mode=Node,RBAC",
        # The address is loopback, which the `kubernetes` Endpoints may not hold.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        "--profiling=false",
        f"--requestheader-client-ca-file={p('front-proxy-ca.crt')}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--proxy-client-cert-file={p('front-proxy-client.crt')}",
        f"--proxy-client-key-file={p('front-proxy-client.key')}",
        f"--cert-dir={layout.root / 'apiserver-certs'}",
    ]


def controller_manager_argv(
    bins: LabBinaries, layout: Layout, ports: Ports, settings: Settings
) -> list[str]:
    p = layout.pki_file
    kubeconfig = layout.kubeconfig("controller-manager")
    return [
        bins.bin("kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.controller_manager}",
        f"--cert-dir={layout.root / 'controller-manager-certs'}",
        ALLOW_PATHS,
        "--leader-elect=false",
        f"--root-ca-file={p('ca.crt')}",
        f"--service-account-private-key-file={p('sa.key')}",
        "--use-service-account-credentials=true",
        # Signs CSRs, so flows that bootstrap node credentials work against the lab.
        f"--cluster-signing-cert-file={p('ca.crt')}",
        f"--cluster-signing-key-file={p('ca.key')}",
        f"--service-cluster-ip-range={settings.service_cidr}",
        f"--node-monitor-grace-period={settings.node_monitor_grace_seconds}s",
        "--kube-api-qps=100",
        "--kube-api-burst=200",
    ]


def scheduler_argv(bins: LabBinaries, layout: Layout, ports: Ports) -> list[str]:
    kubeconfig = layout.kubeconfig("scheduler")
    config = layout.root / "scheduler.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kubescheduler.config.k8s.io/v1",
                "kind": "KubeSchedulerConfiguration",
                "clientConnection": {"kubeconfig": str(kubeconfig), "qps": 100, "burst": 200},
                "leaderElection": {"leaderElect": False},
            }
        )
    )
    return [
        bins.bin("kube-scheduler"),
        f"--config={config}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.scheduler}",
        f"--cert-dir={layout.root / 'scheduler-certs'}",
        ALLOW_PATHS,
    ]


def kwok_argv(bins: LabBinaries, layout: Layout, settings: Settings, extra: list[str]) -> list[str]:
    config = layout.root / "kwok.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                "kind": "KwokConfiguration",
                # Defaults are 4 each; thousands of nodes initialise faster with more.
                "options": {
                    "nodePlayStageParallelism": 16,
                    "podPlayStageParallelism": 16,
                    "nodeLeaseParallelism": 16,
                },
            }
        )
    )
    return [
        bins.bin("kwok"),
        f"--kubeconfig={layout.kubeconfig('kwok')}",
        f"--config={config}",
        *(f"--config={f}" for f in bins.stage_files),
        "--manage-all-nodes=true",
        f"--cidr={settings.pod_cidr}",
        f"--node-lease-duration-seconds={settings.node_lease_seconds}",
        *extra,
    ]
