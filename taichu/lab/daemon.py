"""The background process behind `taichu lab up`: owns an environment's clusters and hosts
until SIGTERM (`taichu lab down`), then removes them.

    python -m taichu.lab.daemon --name NAME --clusters N --nodes N --hosts N

State in `<state root>/envs/<name>/`: daemon.json (pid, written first), env.json (status
`starting` | `ready` | `failed` with the error, then clusters and hosts), one kubeconfig
per cluster, daemon.log.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

from taichu.lab.cluster import LabCluster
from taichu.lab.janitor import cleanup_all, sweep
from taichu.lab.ssh_hosts import SshHost, start_ssh_hosts
from taichu.lab.state import proc_start_time, state_root


def env_dir(name: str) -> Path:
    return state_root() / "envs" / name


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.chmod(0o600)  # holds host passwords
    tmp.replace(path)


def describe(
    name: str, clusters: list[LabCluster], hosts: list[SshHost], directory: Path
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "status": "ready", "clusters": [], "hosts": []}
    for cluster in clusters:
        kubeconfig = directory / f"{cluster.name}.kubeconfig"
        kubeconfig.write_text(cluster.kubeconfig)
        kubeconfig.chmod(0o600)
        out["clusters"].append(
            {
                "name": cluster.name,
                "server": cluster.server,
                "kubeconfig": str(kubeconfig),
                "nodes": len(cluster.nodes()),
                "version": cluster.version()["gitVersion"],
            }
        )
    out["hosts"] = [host.credentials() for host in hosts]
    return out


def run(name: str, clusters: int, nodes: int, hosts: int) -> None:
    directory = env_dir(name)
    directory.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    write_json(directory / "daemon.json", {"pid": pid, "start": proc_start_time(pid)})
    write_json(directory / "env.json", {"name": name, "status": "starting"})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sweep()
    started: list[LabCluster] = []
    try:
        for i in range(1, clusters + 1):
            cluster = LabCluster(f"{name}-{i}")
            started.append(cluster)
            cluster.start()
            if nodes:
                cluster.create_nodes(1, "control-plane", wait=False)
            if nodes > 1:
                cluster.create_nodes(nodes - 1, "worker", wait=False)
            cluster.wait_nodes_ready([n["metadata"]["name"] for n in cluster.nodes()])
        machines = start_ssh_hosts(hosts, prefix=f"{name}-host") if hosts else []
        write_json(directory / "env.json", describe(name, started, machines, directory))
        while not stop.wait(1.0):
            pass
    except Exception as e:
        write_json(directory / "env.json", {"name": name, "status": "failed", "error": str(e)})
        raise
    finally:
        cleanup_all()
        if stop.is_set():
            # Asked to go down: nothing of the environment stays. After a failure the
            # state stays for `status` to show, and `down` removes it.
            shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m taichu.lab.daemon")
    parser.add_argument("--name", default="default")
    parser.add_argument("--clusters", type=int, default=1)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=3)
    args = parser.parse_args()
    run(args.name, args.clusters, args.nodes, args.hosts)


if __name__ == "__main__":
    main()
