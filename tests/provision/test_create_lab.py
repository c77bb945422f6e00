"""A real cluster from three real-node lab machines, by the installer, through a real
`taichu serve` with a real bundle: one control plane and two workers named after the
machines, Ready; a 3-replica Deployment spread and Running; DNS answers from a pod; the
cluster works through the platform's existing endpoints (health, nodes, events, a backup and
a restore); then teardown leaves the machines as they were and `available`."""

from __future__ import annotations

import json
import os
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
from taichu.provision.install.pipeline import STEP_NAMES
from tests.provision.serving import Provision, serve_platform

pytestmark = [pytest.mark.lab, pytest.mark.real_nodes]
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
    # A short health interval: the monitor's verdict on the new cluster, soon.
    with serve_platform(tmp_path, "install", bundles, TAICHU_HEALTH_INTERVAL="2") as provision:
        yield provision


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
                        "nodeTaintsPolicy": "Honor",  # the tainted control plane is no domain
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
    assert sorted(n["name"] for n in nodes["nodes"]) == ["cp-1", "worker-a", "worker-b"], nodes
    assert nodes["summary"] == {"control_plane_count": 1, "worker_count": 2, "ready_count": 3}
    # The steps, in order, each done once.
    steps = [line.split(" ", 3)[2].rstrip(":") for line in task["logs"].splitlines()]
    seen = [s for i, s in enumerate(steps) if s not in steps[:i]]
    assert seen[: len(STEP_NAMES)] == list(STEP_NAMES), seen

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
    answer = kubectl(master, f"exec {pod} -- busybox nslookup kubernetes.default.svc.cluster.local")
    assert "10.96.0.1" in answer, answer

    works_through_the_endpoints(served, cluster_id, master, busybox)

    # Teardown: services stopped, the installer's files gone, machines available again.
    response = served.delete(f"/api/v1/clusters/{cluster_id}?teardown=true")
    assert response.status_code == 200, response.text
    wait("machines available", lambda: served.statuses(ids) == ["available"] * 3, 300)
    for host in hosts:
        left = host.exec(f"ls -A {L.OPT} {L.ETC} {L.KUBERNETES} 2>/dev/null; true").stdout
        assert left.strip() == "", (host.hostname, left)
        assert ours(host) == [], host.hostname


def works_through_the_endpoints(p: Provision, cluster_id: str, master: SshHost, image: str) -> None:
    """What an operator does next with a cluster: its health, its nodes, its events, a
    backup of a namespace and a restore after the namespace is lost."""
    started = time.monotonic()

    def detail() -> dict[str, Any] | None:
        response = p.get(f"/api/v1/clusters/{cluster_id}")
        assert response.status_code == 200, response.text
        data = dict(response.json()["data"])
        return data if data["status"] == "healthy" and data["last_heartbeat_at"] else None

    cluster = wait("health monitor: healthy", detail, 120)
    assert (cluster["version"], cluster["node_count"], cluster["ready_node_count"]) == (
        "v1.36.3",
        3,
        3,
    ), cluster

    nodes = p.get(f"/api/v1/clusters/{cluster_id}/nodes").json()["data"]
    by_name = {n["name"]: n for n in nodes["nodes"]}
    assert sorted(by_name) == ["cp-1", "worker-a", "worker-b"], nodes
    assert {n["status"] for n in nodes["nodes"]} == {"ready"}, nodes
    assert by_name["cp-1"]["type"] == "control-plane", by_name["cp-1"]
    assert by_name["worker-a"]["type"] == by_name["worker-b"]["type"] == "worker"

    # The cluster's own Events (the scheduler placed the web pods) beside the platform's.
    def events() -> dict[str, Any] | None:
        response = p.get(f"/api/v1/clusters/{cluster_id}/events", limit=100)
        assert response.status_code == 200, response.text
        data = dict(response.json()["data"])
        scheduled = [
            e
            for e in data["events"]
            if e["source"] == "kubernetes"
            and e["reason"] == "Scheduled"
            and (e["object_name"] or "").startswith("web-")
        ]
        return data if data["cluster_events_available"] and scheduled else None

    listed = wait("the cluster's events listed", events, 120)
    assert listed["cluster_events_note"] is None, listed
    assert {e["namespace"] for e in listed["events"] if e["reason"] == "Scheduled"} >= {"default"}

    # A backup of a namespace (local storage), the namespace lost, a restore brings it back.
    keep = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "keep"}},
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "keep"},
                "data": {"greeting": "hello from before"},
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "kept", "namespace": "keep"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "kept"}},
                    "template": {
                        "metadata": {"labels": {"app": "kept"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "kept",
                                    "image": image,
                                    "imagePullPolicy": "IfNotPresent",
                                    "command": ["sh", "-c", "exec sleep 3600"],
                                }
                            ]
                        },
                    },
                },
            },
        ],
    }
    master.exec(f"{KUBECTL} apply -f - <<'EOF'\n{json.dumps(keep)}\nEOF")
    body = {
        "backup_name": "keep-before-loss",
        "backup_type": "namespaces",
        "included_namespaces": ["keep"],
        "retention_days": 7,
    }
    response = p.post(f"/api/v1/clusters/{cluster_id}/backups", body)
    assert response.status_code == 200, response.text
    backup_id = response.json()["data"]["id"]

    def backup() -> dict[str, Any] | None:
        data = dict(p.get(f"/api/v1/clusters/{cluster_id}/backups/{backup_id}").json()["data"])
        return data if data["status"] in ("completed", "failed", "cancelled") else None

    done = wait("backup finished", backup, 180)
    assert done["status"] == "completed", done
    assert done["storage_size_bytes"] > 0, done

    kubectl(master, "delete namespace keep --wait=true --timeout=120s")
    gone = kubectl(master, "get namespace keep --ignore-not-found -o name")
    assert gone.strip() == "", gone

    restore_path = f"/api/v1/clusters/{cluster_id}/backups/{backup_id}/restore"
    response = p.post(restore_path, {"restore_name": "keep-back"})
    assert response.status_code == 200, response.text
    restore_id = response.json()["data"]["restore_id"]

    def restore() -> dict[str, Any] | None:
        data = dict(p.get(f"{restore_path}/{restore_id}").json()["data"])
        return data if data["status"] in ("completed", "failed", "cancelled") else None

    restored = wait("restore finished", restore, 180)
    assert restored["status"] == "completed", restored
    config = json.loads(kubectl(master, "get configmap settings -n keep -o json"))
    assert config["data"] == {"greeting": "hello from before"}, config

    def kept_ready() -> bool:
        kept = json.loads(kubectl(master, "get deployment kept -n keep -o json"))
        return (kept.get("status") or {}).get("readyReplicas") == 1

    wait("the restored Deployment Ready on a real node", kept_ready, 180)
    print(
        f"endpoints (health, nodes, events, backup, restore) in {time.monotonic() - started:.0f}s"
    )


def ours(host: SshHost) -> list[str]:
    """Processes of this host (its mount namespace: the lab's hosts share the pid
    namespace) running a binary the installer put there."""
    script = (
        "me=$(readlink /proc/self/ns/mnt); for d in /proc/[0-9]*; do "
        '[ "$(readlink $d/ns/mnt 2>/dev/null)" = "$me" ] || continue; '
        'case "$(readlink $d/exe 2>/dev/null)" in /opt/taichu/*) echo "$d";; esac; done; true'
    )
    return host.exec(script).stdout.split()
