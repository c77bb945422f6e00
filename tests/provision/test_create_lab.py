"""A real cluster from three real-node lab machines, by the installer, through a real
`taichu serve` with a real bundle: one control plane and two workers named after the
machines, Ready; a 3-replica Deployment spread and Running; DNS answers from a pod; then
teardown leaves the machines as they were and `available`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taichu.artifacts.build import Sources
from taichu.lab.binaries import default_root
from taichu.lab.ssh_hosts import SshHost
from taichu.provision.install import layout as L
from tests.clusters.serving import ADMIN_PASSWORD
from tests.provision.serving import Provision
from tests.support.server import (
    ServerProcess,
    drop_prepared_database,
    free_port,
    login_token,
    prepare_database,
    server_env,
)

pytestmark = pytest.mark.lab
MISSING = Sources(lab_bin=default_root() / "bin").missing()
needs_inputs = pytest.mark.skipif(
    bool(MISSING),
    reason="the bundle's inputs are not on this machine (node binaries: scripts/lab-build.sh "
    f"--with-node; runc, CNI plugins, busybox-static: scripts/bootstrap.sh --test): {MISSING}",
)
KUBECTL = f"{L.BIN}/kubectl --kubeconfig=/etc/kubernetes/admin.kubeconfig --request-timeout=20s"


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("bundles")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAICHU_")}
    done = subprocess.run(
        [sys.executable, "-m", "taichu.cli", "artifact", "build", "--dest", str(dest)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return dest


@pytest.fixture
def served(tmp_path: Path, bundles: Path) -> Iterator[Provision]:
    url = prepare_database(tmp_path, "install")
    data_dir = tmp_path / "data"
    log_path = tmp_path / "server.log"
    env = server_env(
        url,
        data_dir,
        TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TAICHU_SECRET_KEY="installer-secret-0123456789abcdef0123",
        TAICHU_MACHINES__CHECK_INTERVAL="86400",
        TAICHU_ARTIFACTS__DIR=str(bundles),
    )
    server = ServerProcess(env, free_port(), log_path)
    try:
        server.start()
        token = login_token(server.url, "admin", ADMIN_PASSWORD)
        yield Provision(
            server.url, {"Authorization": f"Bearer {token}"}, url, data_dir, log_path, server
        )
    finally:
        server.kill(signal.SIGTERM)
        drop_prepared_database(url)


def add_machine(p: Provision, host: SshHost, name: str, role: str) -> str:
    body = {
        "name": name,
        "ip_address": host.lan_address,
        "port": host.port,
        "user": "root",
        "password": host.password,
        "role": role,
    }
    response = p.post("/api/v1/machines", body)
    assert response.status_code == 200, response.text
    machine_id = str(response.json()["data"]["id"])
    deadline = time.monotonic() + 120
    while (status := p.machine(machine_id)["status"]) != "available":
        assert time.monotonic() < deadline, p.machine(machine_id)
        assert status != "error", p.machine(machine_id)
        time.sleep(0.5)
    return machine_id


def kubectl(host: SshHost, args: str, *, check: bool = True) -> str:
    done = host.exec(f"{KUBECTL} {args}", check=check)
    return done.stdout


def wait(what: str, probe: Any, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(1)


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": {"matchLabels": {"app": "web"}},
                    }
                ],
                "containers": [
                    {
                        "name": "web",
                        "image": "docker.io/library/busybox:1.36",
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["sh", "-c", "exec busybox httpd -f -p 8080 -h /etc"],
                    }
                ],
            },
        },
    },
}


@needs_inputs
def test_three_machines_become_a_working_cluster_and_teardown_returns_them(
    served: Provision, bundles: Path, real_node_hosts: Any
) -> None:
    (bundle_dir,) = [d for d in bundles.iterdir() if (d / "manifest.json").is_file()]
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    busybox = next(i["name"] for i in manifest["images"] if i["purpose"] == "verify")
    hosts: list[SshHost] = real_node_hosts(3)
    ids = [
        add_machine(served, hosts[0], "CP-1", "master"),
        add_machine(served, hosts[1], "Worker-A", "worker"),
        add_machine(served, hosts[2], "Worker-B", "worker"),
    ]
    bundle = bundle_dir.name
    started = time.monotonic()
    response = served.create("real-one", ids, artifact_path=bundle, with_packages=False)
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["id"]
    cluster_id = response.json()["data"]["cluster_id"]
    task = served.wait_task(
        task_id, lambda t: t["status"] in ("completed", "failed", "cancelled"), timeout=900
    )
    assert task["status"] == "completed", (task["error_msg"], task["logs"][-3000:])
    took = time.monotonic() - started
    print(f"created in {took:.0f}s")
    assert served.statuses(ids) == ["in_use"] * 3

    # Nodes named after the machines, Ready, through the platform's own nodes endpoint.
    nodes = served.get(f"/api/v1/clusters/{cluster_id}/nodes").json()["data"]
    items = nodes["items"] if isinstance(nodes, dict) else nodes
    assert sorted(n["name"] for n in items) == ["cp-1", "worker-a", "worker-b"], items
    assert all(n["status"] == "ready" for n in items), items

    master = hosts[0]
    deployment = json.loads(json.dumps(DEPLOYMENT))
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = busybox
    master.exec(f"{KUBECTL} apply -f - <<'EOF'\n{json.dumps(deployment)}\nEOF")

    def running() -> list[dict[str, Any]] | None:
        pods = json.loads(kubectl(master, "get pods -l app=web -o json"))["items"]
        ok = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
        return ok if len(ok) == 3 else None

    pods = wait("3 web pods Running", running)
    spread = {p["spec"]["nodeName"] for p in pods}
    assert spread == {"worker-a", "worker-b"}, spread  # the control plane is tainted

    pod = pods[0]["metadata"]["name"]
    answer = kubectl(master, f"exec {pod} -- busybox nslookup kubernetes.default")
    assert "10.96.0.1" in answer, answer

    # Teardown: services stopped, the installer's files gone, machines available again.
    response = served.delete(f"/api/v1/clusters/{cluster_id}?teardown=true")
    assert response.status_code == 200, response.text
    wait("machines available", lambda: served.statuses(ids) == ["available"] * 3, 300)
    for host in hosts:
        left = host.exec(f"ls -A {L.OPT} {L.ETC} {L.KUBERNETES} 2>/dev/null; true").stdout
        assert left.strip() == "", (host.hostname, left)
        assert ours(host) == [], host.hostname


def ours(host: SshHost) -> list[str]:
    """Processes of this host (its mount namespace: the lab's hosts share the pid
    namespace) running a binary the installer put there."""
    script = (
        "me=$(readlink /proc/self/ns/mnt); for d in /proc/[0-9]*; do "
        '[ "$(readlink $d/ns/mnt 2>/dev/null)" = "$me" ] || continue; '
        'case "$(readlink $d/exe 2>/dev/null)" in /opt/taichu/*) echo "$d";; esac; done; true'
    )
    return host.exec(script).stdout.split()
