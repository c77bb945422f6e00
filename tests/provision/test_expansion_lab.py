"""Expansion and node removal of a real cluster (the installer, real-node lab hosts, a real
bundle, a real `taichu serve`), on four machines in turn:

1. created from CP-1 and Worker-A; expanded by one (Worker-B): three nodes Ready, a pod
   scheduled on the new node Running, the history's old/new values the cluster's own;
2. Worker-A removed with pods running on it: they run again elsewhere, the node is gone,
   the machine `available` and clean;
3. an expansion with Worker-A cancelled while it runs: cluster and machine as they were;
4. an expansion by two (Worker-A, Worker-C) with sshd killed on Worker-C mid-join:
   `failed` naming it, machines released, the cluster unchanged; sshd back, the same
   expansion asked again completes: four nodes Ready, history right."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from taichu.lab.ssh_hosts import SshHost
from taichu.provision.install import layout as L
from taichu.provision.install.pipeline import JOIN_STEPS
from tests.provision.serving import Provision
from tests.provision.test_create_faults_lab import kill_sshd
from tests.provision.test_create_lab import (  # noqa: F401 (bundles, served: fixtures)
    DEPLOYMENT,
    add_machine,
    bundles,
    kubectl,
    needs_inputs,
    served,
    wait,
)

pytestmark = [pytest.mark.lab, pytest.mark.real_nodes]
ENDED = ("completed", "failed", "cancelled")
TITLES = {s.name: s.title for s in JOIN_STEPS}
GIB = 2**30
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "": 1}


def _bytes(quantity: str) -> int:
    for suffix in ("Ki", "Mi", "Gi", "Ti"):
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * _UNITS[suffix]
    return int(quantity)


def live(master: SshHost) -> dict[str, Any]:
    """The cluster's nodes and totals as kubectl reads them (what old_* must say)."""
    nodes = json.loads(kubectl(master, "get nodes -o json"))["items"]
    ready = {
        n["metadata"]["name"]
        for n in nodes
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
    }
    cap = [n["status"]["capacity"] for n in nodes]
    return {
        "nodes": sorted(n["metadata"]["name"] for n in nodes),
        "ready": sorted(ready),
        "cpu": sum(int(c["cpu"]) for c in cap),
        "memory_gb": round(sum(_bytes(c["memory"]) for c in cap) / GIB),
        "storage_gb": round(sum(_bytes(c["ephemeral-storage"]) for c in cap) / GIB),
    }


def expansion(p: Provision, cluster_id: str, expansion_id: str) -> dict[str, Any]:
    response = p.get(f"/api/v1/clusters/{cluster_id}/expansion/{expansion_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def ask(p: Provision, cluster_id: str, ids: list[str], count: int) -> str:
    body = {
        "new_node_count": count,
        "new_cpu_cores": 0,
        "new_memory_gb": 0,
        "new_storage_gb": 0,
        "reason": "lab",
        "machine_ids": ids,
    }
    response = p.post(f"/api/v1/clusters/{cluster_id}/expansion", body)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["id"])


def ended(p: Provision, cluster_id: str, expansion_id: str) -> dict[str, Any]:
    return dict(
        wait(
            "expansion ended",
            lambda: (e := expansion(p, cluster_id, expansion_id))["status"] in ENDED and e,
            900,
        )
    )


def running(p: Provision, cluster_id: str, expansion_id: str, step: str, machine: str) -> None:
    def probe() -> bool:
        e = expansion(p, cluster_id, expansion_id)
        assert e["status"] not in ENDED, (e["status"], e["error_msg"])
        return any(
            s["step"] == step and s["machine_id"] == machine and s["status"] == "running"
            for s in e["steps"]
        )

    wait(f"{step} running", probe, 600)


def web_pods(master: SshHost) -> dict[str, str]:
    pods = json.loads(kubectl(master, "get pods -l app=web -o json"))["items"]
    return {
        p["metadata"]["name"]: p["spec"].get("nodeName", "")
        for p in pods
        if (p.get("status") or {}).get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
    }


def clean(host: SshHost) -> bool:
    left = host.exec(f"ls -A {L.OPT} {L.ETC} {L.KUBERNETES} 2>/dev/null; true").stdout
    return left.strip() == ""


@needs_inputs
def test_expand_remove_cancel_fail_and_retry(
    served: Provision,  # noqa: F811
    bundles: Path,  # noqa: F811
    real_node_hosts: Any,
) -> None:
    (bundle_dir,) = [d for d in bundles.iterdir() if (d / "manifest.json").is_file()]
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    busybox = next(i["name"] for i in manifest["images"] if i["purpose"] == "verify")
    hosts: list[SshHost] = real_node_hosts(4)
    cp, wa, wb, wc = (
        add_machine(served, hosts[0], "CP-1", "master"),
        add_machine(served, hosts[1], "Worker-A", "worker"),
        add_machine(served, hosts[2], "Worker-B", "worker"),
        add_machine(served, hosts[3], "Worker-C", "worker"),
    )
    master = hosts[0]
    created = served.create("growing", [cp, wa], artifact_path=bundle_dir.name).json()["data"]
    task = served.wait_task(created["id"], lambda t: t["status"] in ENDED, timeout=900)
    assert task["status"] == "completed", (task["error_msg"], task["logs"][-3000:])
    cluster_id = created["cluster_id"]

    # 1. Expanded by one.
    before = live(master)
    started = time.monotonic()
    one = ended(served, cluster_id, ask(served, cluster_id, [wb], 3))
    assert one["status"] == "completed", (one["error_msg"], one["logs"][-3000:])
    print(f"expanded by one in {time.monotonic() - started:.0f}s")
    after = live(master)
    assert after["nodes"] == after["ready"] == ["cp-1", "worker-a", "worker-b"], after
    assert (one["old_node_count"], one["new_node_count"]) == (2, 3)
    assert (one["old_cpu_cores"], one["old_memory_gb"], one["old_storage_gb"]) == (
        before["cpu"],
        before["memory_gb"],
        before["storage_gb"],
    )
    assert served.statuses([cp, wa, wb]) == ["in_use"] * 3
    # The join credential did its one job and is gone; the kubelet has its own certificate.
    assert (
        hosts[2]
        .exec("test -e /etc/kubernetes/bootstrap-kubelet.kubeconfig", check=False)
        .returncode
    )
    pem = hosts[2].exec("cat /var/lib/kubelet/pki/kubelet-client-current.pem").stdout
    own = x509.load_pem_x509_certificate(pem.encode())
    assert own.subject.rfc4514_string() == "CN=system:node:worker-b,O=system:nodes"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "on-new", "namespace": "default"},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": "worker-b"},
            "containers": [
                {
                    "name": "c",
                    "image": busybox,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", "exec sleep 3600"],
                }
            ],
        },
    }
    kubectl(master, f"apply -f - <<'EOF'\n{json.dumps(pod)}\nEOF")
    wait(
        "a pod Running on the new node",
        lambda: "Running" in kubectl(master, "get pod on-new -o jsonpath={.status.phase}"),
    )
    assert kubectl(master, "get pod on-new -o jsonpath={.spec.nodeName}") == "worker-b"

    # 2. Worker-A removed with pods running on it: they run again elsewhere.
    deployment = json.loads(json.dumps(DEPLOYMENT))
    deployment["spec"]["replicas"] = 2
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = busybox
    kubectl(master, f"apply -f - <<'EOF'\n{json.dumps(deployment)}\nEOF")
    wait("web spread", lambda: sorted(web_pods(master).values()) == ["worker-a", "worker-b"])
    started = time.monotonic()
    removed = served.delete(f"/api/v1/clusters/{cluster_id}/nodes/worker-a?timeout=180")
    assert removed.status_code == 200, removed.text
    removal_id = removed.json()["data"]["id"]

    def removal() -> dict[str, Any] | None:
        r = served.get(f"/api/v1/clusters/{cluster_id}/node-removals/{removal_id}").json()["data"]
        return r if r["status"] in ENDED else None

    done = wait("removal ended", removal, 600)
    assert done["status"] == "completed", (done["error_msg"], done["logs"][-3000:])
    print(f"removed a worker in {time.monotonic() - started:.0f}s")
    assert len(done["drained"]["evicted"]) >= 1 and done["drained"]["deleted"] == []
    wait("web rescheduled", lambda: sorted(web_pods(master).values()) == ["worker-b", "worker-b"])
    assert live(master)["nodes"] == ["cp-1", "worker-b"]
    wait("Worker-A available", lambda: served.statuses([wa]) == ["available"], 120)
    assert clean(hosts[1])

    # 3. Cancelled while it runs: the cluster and Worker-A as they were.
    cancelled_id = ask(served, cluster_id, [wa], 3)
    running(served, cluster_id, cancelled_id, "distribute", wa)
    assert (
        served.post(
            f"/api/v1/clusters/{cluster_id}/expansion/{cancelled_id}/cancel", None
        ).status_code
        == 200
    )
    cancelled = ended(served, cluster_id, cancelled_id)
    assert cancelled["status"] == "cancelled", cancelled
    assert live(master)["nodes"] == ["cp-1", "worker-b"]
    wait("Worker-A available", lambda: served.statuses([wa]) == ["available"], 120)
    assert clean(hosts[1])

    # 4. sshd of a joining machine killed mid-join: failed naming it, released, unchanged.
    failed_id = ask(served, cluster_id, [wa, wc], 4)
    running(served, cluster_id, failed_id, "distribute", wc)
    kill_sshd(hosts[3])
    failed = ended(served, cluster_id, failed_id)
    assert failed["status"] == "failed", failed
    where = f"Worker-C ({hosts[3].lan_address}): {TITLES['distribute']}: "
    assert failed["error_msg"].startswith(where), failed["error_msg"]
    wanted = ["available", "unavailable"]
    wait("machines released", lambda: served.statuses([wa, wc]) == wanted, 120)
    assert live(master)["nodes"] == ["cp-1", "worker-b"]
    hosts[3].start_sshd()
    assert served.post(f"/api/v1/machines/{wc}/check", None).status_code == 200
    wait("Worker-C available", lambda: served.statuses([wc]) == ["available"], 120)
    before = live(master)
    started = time.monotonic()
    two = ended(served, cluster_id, ask(served, cluster_id, [wa, wc], 4))
    assert two["status"] == "completed", (two["error_msg"], two["logs"][-3000:])
    print(f"expanded by two in {time.monotonic() - started:.0f}s")
    after = live(master)
    assert after["nodes"] == after["ready"] == ["cp-1", "worker-a", "worker-b", "worker-c"]
    assert (two["old_node_count"], two["new_node_count"]) == (2, 4)
    assert two["old_cpu_cores"] == before["cpu"]
    listed = served.get(f"/api/v1/clusters/{cluster_id}/expansion/history").json()["data"]
    assert [e["status"] for e in listed["expansions"]] == [
        "completed",
        "failed",
        "cancelled",
        "completed",
    ]
    assert served.statuses([cp, wa, wb, wc]) == ["in_use"] * 4
