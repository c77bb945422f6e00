"""Expansion benchmark: time per joined node. A real cluster (1 master + 1 worker) created
from real-node lab machines through a real `taichu serve`, then expanded by one machine
and then by two (`POST /api/v1/clusters/{id}/expansion` with `machine_ids`), each timed
from the POST until `completed` (every new node Ready and the cluster verified with pods
on every node). Each step's span comes from the expansion's journal (`steps`).

The creation is timed too, for scale: its time per node is what a cluster built whole
costs; an expansion's adds the verification of the whole grown cluster.

    .venv/bin/python bench/expand_cluster.py [--bundles DIR]

Without --bundles it runs `taichu artifact build` into a temp dir first (not timed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.create_cluster import build_bundle, bundle_in, step_spans, warm
from taichu.lab.janitor import cleanup_all, install_signal_handlers
from taichu.lab.lan import Lan
from taichu.lab.ssh_hosts import SshHost, start_ssh_hosts
from tests.provision.serving import Provision, serve_platform

ADMIN_PASSWORD = "Expand-Bench-2026"
MACHINES = (
    ("cp-1", "master"),
    ("worker-a", "worker"),
    ("worker-b", "worker"),
    ("worker-c", "worker"),
    ("worker-d", "worker"),
)
ENDED = ("completed", "failed", "cancelled")


def _wait(what: str, probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.5)
    return found


def add_machines(p: Provision, hosts: list[SshHost]) -> list[str]:
    ids = [
        p.register_machine(host, name, role, host.lan_address)
        for host, (name, role) in zip(hosts, MACHINES, strict=True)
    ]
    p.wait_available(ids, timeout=180)
    return ids


def expand(p: Provision, cluster_id: str, ids: list[str], count: int) -> dict[str, Any]:
    body = {"new_node_count": count, "reason": "bench", "machine_ids": ids}
    started = time.monotonic()
    response = p.post(f"/api/v1/clusters/{cluster_id}/expansion", body)
    assert response.status_code == 200, response.text
    path = f"/api/v1/clusters/{cluster_id}/expansion/{response.json()['data']['id']}"

    def done() -> dict[str, Any] | None:
        record = p.get(path).json()["data"]
        return record if record["status"] in ENDED else None

    record = _wait("expansion", done, 1200)
    total = time.monotonic() - started
    if record["status"] != "completed":
        raise SystemExit(f"expansion {record['status']}: {record['error_msg']}")
    return {"total": total, "nodes": len(ids), "steps": step_spans(record)}


def run(tmp: Path, bundles: Path, hosts: list[SshHost]) -> dict[str, Any]:
    with serve_platform(tmp, "expand", bundles, TAICHU_LOG_LEVEL="warning") as p:
        ids = add_machines(p, hosts)
        started = time.monotonic()
        response = p.create("bench-grow", ids[:2], artifact_path=bundle_in(bundles).name)
        assert response.status_code == 200, response.text
        task = p.wait_task(response.json()["data"]["id"], lambda t: t["status"] in ENDED, 1200)
        if task["status"] != "completed":
            raise SystemExit(f"creation {task['status']}: {task['error_msg']}")
        created = time.monotonic() - started
        cluster_id = task["cluster_id"]
        one = expand(p, cluster_id, ids[2:3], 3)
        two = expand(p, cluster_id, ids[3:5], 5)
        nodes = p.get(f"/api/v1/clusters/{cluster_id}/nodes").json()["data"]["summary"]
        return {"created": created, "one": one, "two": two, "summary": nodes}


def _exit_on(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundles", type=Path, default=None, help="default: built in a temp dir")
    args = parser.parse_args()
    load_before = os.getloadavg()
    install_signal_handlers()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on)
    tmp = Path(tempfile.mkdtemp(prefix="taichu-expand-bench-"))
    lan: Lan | None = None
    hosts: list[SshHost] = []
    try:
        bundles = args.bundles or tmp / "bundles"
        if args.bundles is None:
            bundles.mkdir()
            build_bundle(bundles)
        warm(bundle_in(bundles))
        lan = Lan().start()
        hosts = start_ssh_hosts(len(MACHINES), prefix="xb", lan=lan, real_node=True)
        result = run(tmp, bundles, hosts)
    finally:
        for host in hosts:
            host.destroy()
        if lan is not None:
            lan.destroy()
        cleanup_all()
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()
    print(
        f"expand_cluster: real-node lab machines, {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{' '.join(f'{x:.2f}' for x in load_after)} after"
    )
    created = result["created"]
    print(f"  created (1 master + 1 worker): {created:.1f}s ({created / 2:.1f}s per node)")
    for label in ("one", "two"):
        r = result[label]
        print(
            f"  expansion by {r['nodes']}: {r['total']:.1f}s, {r['total'] / r['nodes']:.1f}s "
            "per node"
        )
        for name, seconds in r["steps"]:
            print(f"    {name:<14} {seconds:6.1f}s")
    print(f"  nodes after: {result['summary']}")


if __name__ == "__main__":
    main()
