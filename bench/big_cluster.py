"""Observe at scale: one lab cluster with many kwok nodes and pods, the platform serving it.

    python bench/big_cluster.py                          # 5,000 nodes, 50,000 pods
    python bench/big_cluster.py --nodes 500 --pods 5000  # medium

Builds the cluster (pods created directly with spec.nodeName, in parallel bounded batches,
across --namespaces namespaces; kwok runs them), starts the platform as its own process
(so its RSS is the platform's alone), registers the cluster, then prints:
- cold: the first nodes page (the cache lists every node and pod before answering);
- warm p50/p99 of the nodes list (pages of 20 and 100, and a filtered one), a node's
  detail, events, and the runtime pods list of one namespace (as the admin and as a
  user bound to a restricted service account);
- baselines measured in the same run: the raw API list of all nodes, `kubectl get nodes
  -o json`, and the raw API list of the namespace's pods;
- the adapter's whole list of every pod (resourceVersion=0: one unpaged page, read within
  the default page bound and read budget), its size and time;
- the platform's RSS now and at its peak. Targets: p50 < 100 ms, memory < 1 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taichu.lab.cluster import LabCluster
from taichu.lab.kubeapi import KubeApi

ADMIN_PASSWORD = "Bench-Admin-Pass-2026"
RUNTIME_PODS = "/api/runtime/pods/"


# --- the platform process ----------------------------------------------------------------


def serve(port: int) -> None:
    """Run inside the platform subprocess."""
    import uvicorn

    from taichu.app import create_app
    from taichu.config import Settings

    uvicorn.run(create_app(Settings()), host="127.0.0.1", port=port, log_level="warning")


def start_platform(data_dir: Path, port: int, sync_timeout: float) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAICHU_")}
    env.update(
        {
            "TAICHU_DATA_DIR": str(data_dir),
            "TAICHU_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "TAICHU_SECRET_KEY": "bench-secret-key-0123456789-abcdefghij",
            "TAICHU_LOG_LEVEL": "warning",
            "TAICHU_OBSERVE__SYNC_TIMEOUT_SECONDS": str(sync_timeout),
        }
    )
    log = (data_dir / "server.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((data_dir / "server.log").read_text()[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("platform did not become ready")


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


# --- building the cluster ----------------------------------------------------------------


def pod_manifest(name: str, node: str, app: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app, "bench": "observe"}},
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "main",
                    "image": "registry.local/bench:1",
                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                }
            ],
        },
    }


def create_pods(
    api: KubeApi,
    nodes: list[str],
    count: int,
    namespaces: list[str],
    batch: int = 2000,
    workers: int = 24,
) -> None:
    def create(i: int) -> None:
        ns = namespaces[i % len(namespaces)]
        api.create(
            f"/api/v1/namespaces/{ns}/pods",
            pod_manifest(f"p-{i}", nodes[i % len(nodes)], f"app-{i % 50}"),
            exist_ok=True,
        )

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for first in range(0, count, batch):
            list(pool.map(create, range(first, min(first + batch, count))))
            done = min(first + batch, count)
            rate = done / (time.monotonic() - started)
            print(f"\r  pods created: {done}/{count} ({rate:.0f}/s)", end="", flush=True)
    print()


def make_namespace(api: KubeApi, name: str) -> None:
    api.create("/api/v1/namespaces", {"metadata": {"name": name}}, exist_ok=True)
    # Pods are refused until the namespace has its default ServiceAccount; do not wait for
    # the controller manager to make it.
    api.create(
        f"/api/v1/namespaces/{name}/serviceaccounts",
        {"metadata": {"name": "default"}},
        exist_ok=True,
    )


def not_running(api: KubeApi) -> int:
    page = api.get("/api/v1/pods", fieldSelector="status.phase!=Running", limit="1")
    remaining = (page.get("metadata") or {}).get("remainingItemCount") or 0
    return len(page.get("items") or []) + int(remaining)


def wait_running(api: KubeApi, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (left := not_running(api)) > 0:
        print(f"\r  pods not yet Running: {left}      ", end="", flush=True)
        if time.monotonic() > deadline:
            print(f"\n  giving up waiting after {timeout:.0f}s ({left} not Running)")
            return
        time.sleep(3)
    print("\r  all pods Running                    ")


# --- measuring ---------------------------------------------------------------------------


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def report(label: str, samples: list[float], baseline: float | None = None) -> None:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    ratio = f"  ({p50 / baseline:5.2f}x baseline p50)" if baseline else ""
    print(f"  {label:52} p50 {p50:8.1f} ms  p99 {p99:8.1f} ms  n={len(samples)}{ratio}")


def get(http: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = http.get(path, params=params)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} {params}: {response.status_code} {response.text[:300]}")
    return response.json()


def bound_user(cluster: LabCluster, url: str, cluster_id: str) -> httpx.Client:
    """A platform user bound to a service account that may list pods in bench-7 only, so
    its reads are checked against the cluster's RBAC."""
    token = cluster.mint_token(
        "bench-7", "viewer", rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    )
    user = httpx.Client(base_url=url, timeout=300)
    login = {"username": "viewer", "password": "Viewer-Pass-2026"}
    user.post("/api/auth/register/", json=login).raise_for_status()
    answer = user.post("/api/v1/auth/login", json=login).json()
    user.headers["Authorization"] = f"Bearer {answer['data']['token']}"
    user.post(
        "/api/auth/k8s/account/bind/", json={"cluster_id": cluster_id, "token": token}
    ).raise_for_status()
    return user


def measure(
    args: argparse.Namespace, cluster: LabCluster, platform: subprocess.Popen[bytes], url: str
) -> None:
    http = httpx.Client(base_url=url, timeout=300)
    token = http.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()
    http.headers["Authorization"] = f"Bearer {token['data']['token']}"
    idle_rss, _ = rss_mib(platform.pid)
    created = http.post("/api/v1/clusters", json={"name": "big", "kubeconfig": cluster.kubeconfig})
    if created.status_code != 200:
        raise RuntimeError(created.text)
    cid = created.json()["data"]["id"]
    nodes_path = f"/api/v1/clusters/{cid}/nodes"

    started = time.perf_counter()
    first = get(http, nodes_path, limit=20)["data"]
    cold = time.perf_counter() - started
    print(f"\ncold: first nodes page (lists {first['total']} nodes and every pod) {cold:.2f} s")
    assert first["total"] == args.nodes + 1, first["total"]
    names = [n["name"] for n in first["nodes"]]
    pods_seen = sum(n["pod_count"] for n in get(http, nodes_path, limit=100)["data"]["nodes"])
    print(f"  pod_count over the first 100 nodes: {pods_seen}")
    runs = args.runs

    api = cluster.api
    kubectl = [cluster.binaries.bin("kubectl"), f"--kubeconfig={cluster.kubeconfig_path}"]
    print("\nbaselines (direct to the API server, same run):")
    raw_nodes = timed(lambda: api.get("/api/v1/nodes"), max(5, runs // 10))
    report("raw API list of all nodes (JSON, httpx)", raw_nodes)
    kubectl_nodes = timed(
        lambda: subprocess.run(
            [*kubectl, "get", "nodes", "-o", "json"], capture_output=True, check=True
        ),
        3,
    )
    report("kubectl get nodes -o json", kubectl_nodes)
    raw_pods = timed(lambda: api.get("/api/v1/namespaces/bench-7/pods"), runs)
    report("raw API list of one namespace's pods", raw_pods)
    base_nodes, base_pods = statistics.median(raw_nodes), statistics.median(raw_pods)

    print(f"\nwarm platform endpoints ({runs} sequential requests each):")
    for label, params in (
        ("GET nodes (page of 20)", {"limit": 20}),
        ("GET nodes (page of 100)", {"limit": 100}),
        ("GET nodes (page 30 of 100)", {"limit": 100, "page": 30}),
        (
            "GET nodes ?type=worker&status=ready (100)",
            {"limit": 100, "type": "worker", "status": "ready"},
        ),
    ):
        report(label, timed(lambda p=params: get(http, nodes_path, **p), runs), base_nodes)
    report(
        "GET nodes/{name} (detail)",
        timed(lambda: get(http, f"{nodes_path}/{names[-1]}"), runs),
        base_nodes,
    )
    report(
        "GET events (page of 20)",
        timed(lambda: get(http, f"/api/v1/clusters/{cid}/events", limit=20), runs),
    )
    report(
        "GET /api/runtime/pods/ (one namespace, admin)",
        timed(lambda: get(http, RUNTIME_PODS, cluster_id=cid, namespace="bench-7"), runs),
        base_pods,
    )
    viewer = bound_user(cluster, url, cid)
    report(
        "GET /api/runtime/pods/ (one namespace, bound user)",
        timed(lambda: get(viewer, RUNTIME_PODS, cluster_id=cid, namespace="bench-7"), runs),
        base_pods,
    )

    whole_list(cluster, args.pods)
    rss, peak = rss_mib(platform.pid)
    print(
        f"\nplatform memory: RSS {rss:.0f} MiB now, {peak:.0f} MiB peak "
        f"(idle before registering: {idle_rss:.0f} MiB)"
    )


def whole_list(cluster: LabCluster, pods: int) -> None:
    """Every pod in one unpaged answer, as the import's counts and the runtime reads without
    a cache ask for it: the bounds of a paged page do not apply, the read budget does."""
    from taichu.kube import KubeClient, parse_kubeconfig

    raw = cluster.api.http.get("/api/v1/pods", params={"resourceVersion": "0"})
    size = len(raw.content)
    del raw

    async def read() -> tuple[int, float, int]:
        kube = KubeClient(parse_kubeconfig(cluster.kubeconfig), request_timeout=300)
        peak = 0

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, kube.budget.in_use)
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        try:
            started = time.perf_counter()
            items, _ = await kube.list_all("/api/v1/pods", {"resourceVersion": "0"})
            return len(items), time.perf_counter() - started, peak
        finally:
            sampler.cancel()
            await kube.close()

    count, seconds, peak = asyncio.run(read())
    assert count >= pods, count
    print(
        f"\nadapter: whole list of {count} pods (resourceVersion=0, one page of "
        f"{size / 2**20:.0f} MiB, {size / count:.0f} bytes a pod) in {seconds:.1f} s; "
        f"read budget held at most {peak / 2**20:.0f} MiB of "
        f"{kube_budget_mib():.0f} MiB"
    )


def kube_budget_mib() -> float:
    from taichu.kube import ReadLimits

    return ReadLimits().read_budget_bytes / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=5000, help="worker nodes")
    parser.add_argument("--pods", type=int, default=50000)
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--runs", type=int, default=200, help="requests per endpoint")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    t0 = time.monotonic()
    cluster = LabCluster("bigobs").start()
    platform: subprocess.Popen[bytes] | None = None
    try:
        print(f"control plane up: {time.monotonic() - t0:.1f}s", flush=True)
        cluster.create_nodes(1, "control-plane", wait=False)
        t1 = time.monotonic()
        workers = cluster.create_nodes(args.nodes, "worker", wait=False)
        cluster.wait_nodes_ready(workers, timeout=1800)
        print(f"{args.nodes} worker nodes Ready: {time.monotonic() - t1:.1f}s", flush=True)
        namespaces = [f"bench-{i}" for i in range(args.namespaces)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda ns: make_namespace(cluster.api, ns), namespaces))
        t2 = time.monotonic()
        create_pods(cluster.api, workers, args.pods, namespaces)
        wait_running(cluster.api, timeout=3600)
        print(
            f"{args.pods} pods in {args.namespaces} namespaces: {time.monotonic() - t2:.1f}s",
            flush=True,
        )

        data_dir = Path(tempfile.mkdtemp(prefix="taichu-bench-"))
        port = free_port()
        platform = start_platform(data_dir, port, sync_timeout=600)
        measure(args, cluster, platform, f"http://127.0.0.1:{port}")
    finally:
        if platform is not None:
            platform.terminate()
            platform.wait(timeout=30)
        cluster.stop()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
