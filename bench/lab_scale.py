"""Scale check of one lab cluster: N kwok nodes (default 2,000) all Ready, and held Ready.

    python bench/lab_scale.py [--nodes 2000] [--hold 90]

Prints the time to start the control plane, to create the nodes and to see all Ready,
resident memory of each component, CPU use while idling with N nodes (lease renewals),
whether every node is still Ready after --hold seconds (longer than the controller
manager's 50 s grace period, so leases must be renewed), and the time to delete half.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taichu.lab.cluster import LabCluster
from taichu.lab.kwok import is_ready

TICK = os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--hold", type=float, default=90.0)
    args = parser.parse_args()

    t0 = time.monotonic()
    cluster = LabCluster("scale").start()
    try:
        t1 = time.monotonic()
        print(f"control plane up: {t1 - t0:.1f}s", flush=True)
        names = cluster.create_nodes(args.nodes, wait=False)
        t2 = time.monotonic()
        print(f"{args.nodes} nodes created: {t2 - t1:.1f}s", flush=True)
        cluster.wait_nodes_ready(names, timeout=900)
        t3 = time.monotonic()
        print(f"all {args.nodes} Ready: {t3 - t1:.1f}s after the first create", flush=True)

        pids = {name: proc.pid for name, proc in cluster.procs.items() if proc.pid}
        etcd_db = sum(f.stat().st_size for f in cluster.layout.etcd_data.rglob("*") if f.is_file())
        for name, pid in pids.items():
            print(f"  {name:24} RSS {rss_mib(pid):7.0f} MiB")
        print(f"  etcd data dir            {etcd_db / 2**20:7.0f} MiB")

        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        time.sleep(args.hold)
        ready = sum(is_ready(n) for n in cluster.nodes())
        print(f"after holding {args.hold:.0f}s: {ready}/{args.nodes} Ready", flush=True)
        for name, pid in pids.items():
            used = cpu_seconds(pid) - before[name]
            print(
                f"  {name:24} CPU {100 * used / args.hold:5.1f}% of one core, "
                f"RSS {rss_mib(pid):7.0f} MiB"
            )

        t4 = time.monotonic()
        cluster.delete_nodes(names[: args.nodes // 2])
        print(
            f"deleted {args.nodes // 2} nodes: {time.monotonic() - t4:.1f}s "
            f"({len(cluster.nodes())} left)"
        )
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
