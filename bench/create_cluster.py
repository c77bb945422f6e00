"""Create-cluster benchmark: three real-node lab machines -> a working cluster (1 master +
2 workers) through a real `taichu serve` and `POST /api/v1/clusters/create`, beside a
by-hand baseline measured in the same run on fresh hosts.

The installer: machines added through the API, then the task timed from the POST until
`completed` (preflight ... verify, register); each step's span comes from the task's
journal (`steps`: the earliest `started_at` to the latest `finished_at` over its machines).

The baseline ("by hand", the least an operator does for the same cluster): the same files
each machine gets copied with the SSH adapter's upload, the three machines in parallel,
then the installer's own start steps run directly with no server, database, journal,
preflight, DNS or verification (pki, etcd, control plane, containerd, kubelet), until every
node is Ready. The ratio compares the installer's time up to its kubelet step with it
(like for like), and its whole time with it (everything it adds).

    .venv/bin/python bench/create_cluster.py [--bundles DIR] [--baseline-first]

Without --bundles it runs `taichu artifact build` into a temp dir first (not timed in the
figures). The bundle is read once before either phase, so neither pays cold reads alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taichu.config import SshSettings
from taichu.lab.janitor import cleanup_all, install_signal_handlers
from taichu.lab.lan import Lan
from taichu.lab.ssh_hosts import SshHost, start_ssh_hosts
from taichu.provision.install import layout as L
from taichu.provision.install.pipeline import STEPS
from taichu.provision.install.steps_nodes import _wants
from taichu.provision.pki import ClusterPki
from taichu.provision.plan import ClusterPlan, NodePlan
from taichu.ssh import SshPool
from tests.provision.direct import open_bundle, plan_for, run_steps
from tests.provision.serving import Provision
from tests.support.server import ServerProcess, free_port, login_token, server_env

ADMIN_PASSWORD = "Create-Bench-2026"
TARGET = 120.0
NODES = (("cp-1", "master"), ("worker-a", "worker"), ("worker-b", "worker"))
BY_HAND_STEPS = ("pki", "etcd", "control_plane", "runtime", "kubelet")


def build_bundle(dest: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAICHU_")}
    cmd = [sys.executable, "-m", "taichu.cli", "artifact", "build", "--dest", str(dest)]
    subprocess.run(cmd, check=True, env=env, timeout=1800, stdout=subprocess.DEVNULL)
    return bundle_in(dest)


def bundle_in(directory: Path) -> Path:
    found = sorted(d for d in directory.iterdir() if (d / "manifest.json").is_file())
    if not found:
        raise SystemExit(f"no bundle in {directory}")
    return found[-1]


def warm(root: Path) -> None:
    """Read the bundle once so neither phase pays the page cache's cold reads alone (the
    first phase used to copy markedly slower than the second, whichever it was)."""
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                while f.read(1 << 20):
                    pass


def _when(value: str | None) -> float:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def step_spans(task: dict[str, Any]) -> list[tuple[str, float]]:
    """(step, seconds) in journal order: earliest start to latest finish over machines."""
    spans: dict[str, list[float]] = {}
    for row in task["steps"]:
        if not row.get("started_at") or not row.get("finished_at"):
            continue
        start, end = _when(row["started_at"]), _when(row["finished_at"])
        span = spans.setdefault(row["step"], [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    ordered = sorted(spans.items(), key=lambda kv: kv[1][0])
    return [(name, end - start) for name, (start, end) in ordered]


def installer(tmp: Path, bundles: Path, hosts: list[SshHost]) -> dict[str, Any]:
    url = f"sqlite+aiosqlite:///{tmp}/create.db"
    env = server_env(
        url,
        tmp / "data",
        TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TAICHU_SECRET_KEY="create-bench-secret-0123456789abcdef",
        TAICHU_LOG_LEVEL="warning",
        TAICHU_MACHINES__CHECK_INTERVAL="86400",
        TAICHU_ARTIFACTS__DIR=str(bundles),
    )
    server = ServerProcess(env, free_port(), tmp / "server.log")
    try:
        server.start()
        token = login_token(server.url, "admin", ADMIN_PASSWORD)
        p = Provision(
            server.url,
            {"Authorization": f"Bearer {token}"},
            url,
            tmp / "data",
            tmp / "server.log",
            server,
        )
        ids = [
            p.register_machine(host, name, role, host.lan_address)
            for host, (name, role) in zip(hosts, NODES, strict=True)
        ]
        p.wait_available(ids, timeout=180)
        started, posted = time.monotonic(), time.time()
        response = p.create("bench-one", ids, artifact_path=bundle_in(bundles).name)
        assert response.status_code == 200, response.text
        task = p.wait_task(
            response.json()["data"]["id"],
            lambda t: t["status"] in ("completed", "failed", "cancelled"),
            timeout=1200,
        )
        total = time.monotonic() - started
        if task["status"] != "completed":
            raise SystemExit(f"task {task['status']}: {task['error_msg']}\n{task['logs'][-3000:]}")
        cluster = p.get(f"/api/v1/clusters/{task['cluster_id']}/nodes").json()["data"]
        first = min(_when(r["started_at"]) for r in task["steps"] if r.get("started_at"))
        return {
            "total": total,
            "steps": step_spans(task),
            "before": max(0.0, first - posted),
            "summary": cluster["summary"],
        }
    finally:
        server.kill(signal.SIGTERM)


async def copy_by_hand(plan: ClusterPlan) -> None:
    """The files each machine gets, one upload after another per machine, machines in
    parallel (the adapter's SFTP upload; nothing is there yet, so nothing is skipped)."""
    bundle = plan.bundle
    pool = SshPool(SshSettings())

    async def one(node: NodePlan) -> None:
        entries = [e for e in bundle.manifest.files if _wants(plan, node, e.path)]
        dirs = sorted({str(Path(f"{L.OPT}/{e.path}").parent) for e in entries})
        async with pool.session(node.target) as ssh:
            await ssh.run("mkdir -p " + " ".join(dirs), privileged=True, check=True)
            for e in entries:
                await ssh.upload(
                    bundle.file(e.path), f"{L.OPT}/{e.path}", mode=int(e.mode, 8), privileged=True
                )

    try:
        await asyncio.gather(*(one(n) for n in plan.nodes))
    finally:
        await pool.close()


async def by_hand(bundle_root: Path, hosts: list[SshHost]) -> dict[str, Any]:
    bundle = open_bundle(bundle_root)
    plan = plan_for([(h, n, r) for h, (n, r) in zip(hosts, NODES, strict=True)], bundle)
    pki = await asyncio.to_thread(ClusterPki.create, plan)  # the installer makes it up front too
    started = time.monotonic()
    await copy_by_hand(plan)
    copied = time.monotonic() - started
    steps = [s for s in STEPS if s.name in BY_HAND_STEPS]
    await run_steps(plan, pki, steps)  # kubelet's step returns once each node is Ready
    total = time.monotonic() - started
    return {"total": total, "copy": copied, "start": total - copied}


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in values)


def _exit_on(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundles", type=Path, default=None, help="default: built in a temp dir")
    parser.add_argument(
        "--baseline-first", action="store_true", help="by hand first (order effects, load)"
    )
    args = parser.parse_args()

    load_before = os.getloadavg()
    install_signal_handlers()
    for signum in (signal.SIGTERM, signal.SIGHUP):  # through the finally blocks: server too
        signal.signal(signum, _exit_on)
    tmp = Path(tempfile.mkdtemp(prefix="taichu-create-bench-"))
    lans: list[Lan] = []
    hosts: list[SshHost] = []
    made: dict[str, Any] = {}
    hand: dict[str, Any] = {}
    try:
        started = time.monotonic()
        bundles = args.bundles or tmp / "bundles"
        if args.bundles is None:
            bundles.mkdir()
            build_bundle(bundles)
        built = time.monotonic() - started
        bundle_root = bundle_in(bundles)
        warm(bundle_root)
        for phase in ("hand", "installer") if args.baseline_first else ("installer", "hand"):
            for host in hosts:  # each phase runs alone, on fresh hosts
                host.destroy()
            # A LAN of its own: a reused address would meet the old host's ARP entry.
            lans.append(Lan().start())
            hosts = start_ssh_hosts(3, prefix=f"cb{phase[:4]}", lan=lans[-1], real_node=True)
            if phase == "installer":
                made = installer(tmp, bundles, hosts)
            else:
                hand = asyncio.run(by_hand(bundle_root, hosts))
    finally:
        for host in hosts:
            host.destroy()
        for lan in lans:
            lan.destroy()
        cleanup_all()
        shutil.rmtree(tmp, ignore_errors=True)
    spans = dict(made["steps"])
    like = sum(t for s, t in made["steps"] if s in ("preflight", "packages", "distribute"))
    like += sum(spans.get(s, 0.0) for s in BY_HAND_STEPS)
    size = sum(f.stat().st_size for f in bundle_root.rglob("*") if f.is_file()) / 2**20
    print(
        f"create_cluster: 3 real-node lab machines (1 master + 2 workers), bundle "
        f"{bundle_root.name} ({size:.0f} MiB{'' if args.bundles else f', built in {built:.0f}s'}), "
        f"{os.cpu_count()} cores, load average {_load(load_before)} before, "
        f"{_load(os.getloadavg())} after"
    )
    print(
        f"  installer (POST /clusters/create -> completed): {made['total']:.1f}s; "
        f"nodes {made['summary']}; before the first step {made['before']:.0f}s"
    )
    for name, seconds in made["steps"]:
        print(f"    {name:<14} {seconds:6.1f}s")
    print(
        f"  by hand (upload the same files in parallel, start pki/etcd/control plane/"
        f"containerd/kubelet directly, until 3 nodes Ready): {hand['total']:.1f}s "
        f"(copy {hand['copy']:.1f}s, start {hand['start']:.1f}s)"
    )
    print(
        f"  ratio: installer whole / by hand {made['total'] / hand['total']:.2f}x; "
        f"installer up to kubelet ({like:.1f}s) / by hand {like / hand['total']:.2f}x"
    )
    met = "met" if made["total"] < TARGET else "NOT met"
    print(f"  target: working cluster under {TARGET:.0f}s: {met} ({made['total']:.1f}s)")


if __name__ == "__main__":
    main()
