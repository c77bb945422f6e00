"""The lab: real Kubernetes control planes (kwok nodes) and real SSH hosts on this machine,
for tests and local development. Nothing here is a mock; everything is a process.

    from taichu.lab import LabCluster, start_ssh_hosts

    with LabCluster() as cluster:              # etcd, API server, controller manager,
        cluster.create_nodes(3)                # scheduler, kwok on free loopback ports
        cluster.kubectl("get", "nodes")
    hosts = start_ssh_hosts(3)                 # sshd in network namespaces
    lan = Lan().start()                        # hosts that can be real Kubernetes nodes
    nodes = start_ssh_hosts(2, lan=lan, real_node=True)

Needs root (namespaces, mounts), iproute2, util-linux, openssh-server, and the binaries
built by scripts/lab-build.sh (built on first use). pytest fixtures live in
`taichu.lab.pytest_fixtures`, the `taichu lab up|down|status` commands in `taichu.lab.cli`.
"""

from taichu.lab.binaries import LabBinaries, ensure_binaries, find_binaries
from taichu.lab.cluster import LabCluster
from taichu.lab.components import Settings
from taichu.lab.janitor import sweep
from taichu.lab.lan import Lan
from taichu.lab.procs import LabError
from taichu.lab.ssh_hosts import SshHost, start_ssh_hosts, wait_refused

__all__ = [
    "LabBinaries",
    "LabCluster",
    "LabError",
    "Lan",
    "Settings",
    "SshHost",
    "ensure_binaries",
    "find_binaries",
    "start_ssh_hosts",
    "sweep",
    "wait_refused",
]
