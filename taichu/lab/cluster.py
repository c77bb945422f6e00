"""LabCluster: a real control plane (etcd, API server, controller manager, scheduler) with
kwok simulating its nodes, all as local processes on free loopback ports."""

from __future__ import annotations

import ipaddress
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self

import httpx

from taichu.lab import components as comp
from taichu.lab import janitor, kwok, metrics, tokens
from taichu.lab.binaries import K8S_VERSION, LabBinaries, ensure_binaries
from taichu.lab.kubeapi import KubeApi, kubeconfig_yaml
from taichu.lab.procs import LabError, LabProcess, free_ports, stop_all, wait_until
from taichu.lab.state import keep_logs, run_dir
from taichu.pki import ClusterPki, make_cluster_pki

_names = itertools.count(1)


def _healthz(port: int) -> bool:
    # Self-signed serving certs of the controller manager and scheduler: nothing to verify.
    url = f"https://127.0.0.1:{port}/healthz"
    return httpx.get(url, verify=False, timeout=2.0).status_code == 200  # noqa: S501


class LabCluster:
    """One cluster. `start()` it (or use it as a context manager), `stop()` removes it all.

    The API is synchronous; from async tests the quick calls are fine as they are, and long
    ones (`create_nodes` of thousands) can go through `asyncio.to_thread`.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        binaries: LabBinaries | None = None,
        settings: comp.Settings | None = None,
    ) -> None:
        self.name = name or f"lab{next(_names)}"
        self.settings = settings or comp.Settings()
        metrics = self.settings.metrics_server
        if binaries is None or (metrics and not binaries.has_metrics_server):
            binaries = ensure_binaries(metrics_server=metrics)
        self.binaries = binaries
        self.layout = comp.Layout(run_dir() / "clusters" / self.name)
        self.ports: comp.Ports | None = None
        self.pki: ClusterPki | None = None
        self.procs: dict[str, LabProcess] = {}
        self._api: KubeApi | None = None
        self._handle: int | None = None
        self._seq: dict[str, itertools.count[int]] = {}
        self._ip_seq = itertools.count(10)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> Self:
        if self.layout.root.exists():
            raise LabError(f"cluster work dir {self.layout.root} exists: is {self.name} in use?")
        self._handle = janitor.track(self.stop)
        try:
            for attempt in itertools.count(1):
                try:
                    self._start_once(timeout)
                    return self
                except LabError as e:
                    # A free port taken by someone else between our check and the bind:
                    # start over on new ports.
                    if "address already in use" not in str(e) or attempt >= 3:
                        raise
                    self._stop_processes()
                    shutil.rmtree(self.layout.root, ignore_errors=True)
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> None:
        layout = self.layout
        layout.logs.mkdir(parents=True)
        self.ports = ports = comp.Ports(*free_ports(7))
        etcd_client = ports.etcd_client
        # The `kubernetes` Service takes the range's first address: the serving cert needs it.
        service_ip = str(ipaddress.ip_network(self.settings.service_cidr)[1])
        self.pki = make_cluster_pki(layout.pki, service_ip)
        comp.write_component_kubeconfigs(layout, self.name, self.server, self.pki.ca.cert_pem)
        self.kubeconfig_path.write_text(self.kubeconfig)
        self.kubeconfig_path.chmod(0o600)
        self._api = KubeApi(
            self.server, self.pki.ca_file, layout.pki / "admin.crt", layout.pki / "admin.key"
        )

        etcd = self._proc(
            "etcd",
            comp.etcd_argv(
                self.binaries, layout, ports, self.settings, f"{self.name}-{os.getpid()}"
            ),
        )
        etcd.start()
        wait_until(
            "etcd /health",
            lambda: (
                httpx.get(f"http://127.0.0.1:{etcd_client}/health", timeout=2.0).json()["health"]
                == "true"
            ),
            timeout,
            watch=[etcd],
        )
        self.start_apiserver(timeout)
        # Everything else only needs the API server; start them together.
        cm_proc = self._proc(
            "kube-controller-manager",
            comp.controller_manager_argv(self.binaries, layout, ports, self.settings),
        )
        sched_proc = self._proc("kube-scheduler", comp.scheduler_argv(self.binaries, layout, ports))
        metrics_on = self.settings.metrics_server
        kwok_extra = metrics.kwok_args(self.binaries, layout, ports.kwok) if metrics_on else []
        kwok_proc = self._proc(
            "kwok", comp.kwok_argv(self.binaries, layout, self.settings, kwok_extra)
        )
        for proc in (cm_proc, sched_proc, kwok_proc):
            proc.start()
        watch = [etcd, self.procs["kube-apiserver"], cm_proc, sched_proc, kwok_proc]
        # Pods are refused until the controller manager made the namespace's ServiceAccount.
        wait_until(
            "the default ServiceAccount (controller manager)",
            lambda: bool(self.api.get("/api/v1/namespaces/default/serviceaccounts/default")),
            timeout,
            watch=watch,
            interval=0.2,
        )
        wait_until(
            "kube-scheduler /healthz", lambda: _healthz(ports.scheduler), timeout, watch=watch
        )
        if metrics_on:
            self._start_metrics_server(timeout, watch)

    def _start_metrics_server(self, timeout: float, watch: list[LabProcess]) -> None:
        assert self.ports is not None and self.pki is not None
        port = self.ports.metrics_server
        proc = self._proc(
            "metrics-server", metrics.metrics_server_argv(self.binaries, self.layout, port)
        )
        proc.start()
        watch = [*watch, proc]
        wait_until("metrics-server /healthz", lambda: _healthz(port), timeout, watch=watch)
        metrics.register(self.api, port, self.ca_pem)
        wait_until(
            "APIService v1beta1.metrics.k8s.io Available",
            lambda: metrics.available(self.api),
            timeout,
            watch=watch,
            interval=0.3,
        )

    def _proc(self, name: str, argv: list[str]) -> LabProcess:
        # HOME in the work dir: kwok also reads ~/.kwok/kwok.yaml, which must not leak in.
        proc = LabProcess(
            name,
            argv,
            self.layout.logs / f"{name}.log",
            env={"HOME": str(self.layout.root)},
            cwd=self.layout.root,
        )
        self.procs[name] = proc
        return proc

    def stop_apiserver(self, grace: float = 2.0) -> None:
        """Stop the API server only; etcd (and the data) and the other components stay.

        A graceful shutdown waits for the components' open watches to drain (over 10 s);
        after `grace` seconds it is killed, like a crashed or powered-off API server.
        """
        proc = self.procs.get("kube-apiserver")
        if proc:
            proc.stop(timeout=grace)

    def start_apiserver(self, timeout: float = 120.0) -> None:
        """(Re)start the API server on the same port and etcd; returns once /readyz is ok."""
        assert self.ports is not None, "cluster not started"
        proc = self.procs.get("kube-apiserver") or self._proc(
            "kube-apiserver",
            comp.apiserver_argv(self.binaries, self.layout, self.ports, self.settings),
        )
        proc.start()
        wait_until("kube-apiserver /readyz", self.api.ready, timeout, watch=[proc], interval=0.2)

    def _stop_processes(self) -> None:
        # All at once under one deadline: the cluster and its data are thrown away.
        stop_all(reversed(list(self.procs.values())))
        self.procs.clear()
        if self._api:
            self._api.close()
            self._api = None

    def stop(self) -> None:
        """Stop every process and delete the work dir (data, PKI, logs)."""
        self._stop_processes()
        keep_logs(self.layout.logs, self.name)
        shutil.rmtree(self.layout.root, ignore_errors=True)
        if self._handle is not None:
            janitor.untrack(self._handle)
            self._handle = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- access ------------------------------------------------------------------------

    @property
    def api(self) -> KubeApi:
        if self._api is None:
            raise LabError(f"cluster {self.name} is not running")
        return self._api

    @property
    def server(self) -> str:
        assert self.ports is not None, "cluster not started"
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def ca_pem(self) -> bytes:
        assert self.pki is not None, "cluster not started"
        return self.pki.ca.cert_pem

    @property
    def kubeconfig(self) -> str:
        """Admin kubeconfig (system:masters), every credential embedded."""
        assert self.pki is not None, "cluster not started"
        return kubeconfig_yaml(
            self.name,
            self.server,
            self.ca_pem,
            cert_pem=self.pki.admin.cert_pem,
            key_pem=self.pki.admin.key_pem,
        )

    @property
    def kubeconfig_path(self) -> Path:
        return self.layout.kubeconfig("admin")

    def kubeconfig_for_token(self, token: str, namespace: str | None = None) -> str:
        return kubeconfig_yaml(
            self.name, self.server, self.ca_pem, token=token, user="token", namespace=namespace
        )

    def version(self) -> dict[str, Any]:
        return self.api.get("/version")

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the lab's kubectl against this cluster as admin."""
        proc = subprocess.run(
            [self.binaries.bin("kubectl"), f"--kubeconfig={self.kubeconfig_path}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise LabError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    # --- nodes and identities ----------------------------------------------------------

    def create_nodes(
        self,
        count: int,
        role: str = "worker",
        *,
        labels: Mapping[str, str] | None = None,
        cpu: str = "8",
        memory: str = "32Gi",
        pods: int = 110,
        prefix: str | None = None,
        wait: bool = True,
        timeout: float = 300.0,
    ) -> list[str]:
        """Create `count` kwok nodes (in parallel) and, unless `wait=False`, wait until all
        are Ready. Names are `<prefix>-<n>`, numbered on from earlier calls; the prefix
        defaults to the role. Returns the names."""
        prefix = prefix or role
        seq = self._seq.setdefault(prefix, itertools.count(1))
        manifests = []
        for _ in range(count):
            n = next(self._ip_seq)
            manifests.append(
                kwok.node_manifest(
                    f"{prefix}-{next(seq)}",
                    role=role,
                    labels=labels,
                    cpu=cpu,
                    memory=memory,
                    pods=pods,
                    ip=f"172.30.{n // 250}.{n % 250 + 1}",
                    kubelet_version=K8S_VERSION,
                    metrics=self.settings.metrics_server,
                )
            )
        kwok.create(self.api, manifests)
        names = [m["metadata"]["name"] for m in manifests]
        if wait:
            self.wait_nodes_ready(names, timeout)
        return names

    def wait_nodes_ready(self, names: Iterable[str], timeout: float = 300.0) -> None:
        kwok.wait_ready(self.api, names, timeout, self._check_running)

    def delete_nodes(self, names: Iterable[str]) -> None:
        kwok.delete(self.api, names)

    def nodes(self, role: str | None = None) -> list[dict[str, Any]]:
        """The lab's nodes as raw objects, optionally only one role."""
        selector = f"{kwok.LAB_LABEL}=true"
        if role == "control-plane":
            selector += f",{kwok.CONTROL_PLANE_LABEL}"
        elif role == "worker":
            selector += f",!{kwok.CONTROL_PLANE_LABEL}"
        return kwok.list_nodes(self.api, selector)

    def mint_token(
        self,
        namespace: str,
        name: str,
        *,
        rules: list[dict[str, Any]] | None = None,
        role: str | None = None,
        cluster_wide: bool = False,
        expiration_seconds: int = 86400,
        long_lived: bool = False,
    ) -> str:
        """ServiceAccount `namespace/name` with `rules` or ClusterRole `role`; returns a
        bearer token. See `taichu.lab.tokens.mint_token`."""
        return tokens.mint_token(
            self.api,
            namespace,
            name,
            rules=rules,
            role=role,
            cluster_wide=cluster_wide,
            expiration_seconds=expiration_seconds,
            long_lived=long_lived,
        )

    def _check_running(self) -> None:
        for proc in self.procs.values():
            proc.check()
