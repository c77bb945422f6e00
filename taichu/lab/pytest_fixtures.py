"""pytest fixtures for the lab. In a conftest: `from taichu.lab.pytest_fixtures import *`.

Session scope is per pytest-xdist worker, so every worker gets its own shared cluster and
hosts: keep what a session starts small. Nothing here skips: missing binaries are built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from taichu.lab.binaries import LabBinaries, ensure_binaries
from taichu.lab.cluster import LabCluster
from taichu.lab.components import Settings
from taichu.lab.janitor import cleanup_all, install_signal_handlers, sweep
from taichu.lab.lan import Lan
from taichu.lab.ssh_hosts import SshHost, start_ssh_hosts
from taichu.lab.state import forget_owner

__all__ = [
    "ClusterFactory",
    "HostFactory",
    "lab_binaries",
    "lab_cluster",
    "lab_cluster_factory",
    "lab_session",
    "real_node_hosts",
    "ssh_host_factory",
    "ssh_hosts",
]

ClusterFactory = Callable[..., LabCluster]
HostFactory = Callable[..., list[SshHost]]
RealNodeFactory = Callable[..., list[SshHost]]


@pytest.fixture(scope="session")
def lab_session() -> Iterator[None]:
    """Once per worker: remove leftovers of dead runs, clean up on SIGTERM/SIGHUP too.

    Torn down last: stops whatever is still registered and removes the worker's records
    (pytest-xdist workers may end without running atexit handlers).
    """
    sweep()
    install_signal_handlers()
    yield
    cleanup_all()
    forget_owner()


@pytest.fixture(scope="session")
def lab_binaries(lab_session: None) -> LabBinaries:
    return ensure_binaries()


def _start_cluster(
    binaries: LabBinaries,
    name: str | None,
    *,
    workers: int,
    control_planes: int,
    settings: Settings | None = None,
) -> LabCluster:
    cluster = LabCluster(name, binaries=binaries, settings=settings)
    cluster.start()
    try:
        if control_planes:
            cluster.create_nodes(control_planes, "control-plane", wait=False)
        if workers:
            cluster.create_nodes(workers, "worker", wait=False)
        cluster.wait_nodes_ready([n["metadata"]["name"] for n in cluster.nodes()], 120)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="session")
def lab_cluster(lab_binaries: LabBinaries) -> Iterator[LabCluster]:
    """The worker's shared cluster: 1 control-plane and 3 worker nodes, all Ready.

    Shared by every test of the worker: create what you need in your own namespace, and
    restore what you change (a stopped API server, deleted nodes).
    """
    cluster = _start_cluster(lab_binaries, "shared", workers=3, control_planes=1)
    yield cluster
    cluster.stop()


@pytest.fixture
def lab_cluster_factory(lab_binaries: LabBinaries) -> Iterator[ClusterFactory]:
    """Make extra clusters for one test: `make(name=None, *, workers=2, control_planes=1,
    settings=None)`; each is stopped when the test ends. A start costs a few seconds."""
    made: list[LabCluster] = []

    def make(
        name: str | None = None,
        *,
        workers: int = 2,
        control_planes: int = 1,
        settings: Settings | None = None,
    ) -> LabCluster:
        cluster = _start_cluster(
            lab_binaries,
            name,
            workers=workers,
            control_planes=control_planes,
            settings=settings,
        )
        made.append(cluster)
        return cluster

    yield make
    for cluster in reversed(made):
        cluster.stop()


@pytest.fixture(scope="session")
def ssh_hosts(lab_session: None) -> Iterator[list[SshHost]]:
    """Three SSH hosts shared by the worker's tests. A test that stops one restarts it."""
    hosts = start_ssh_hosts(3)
    yield hosts
    for host in hosts:
        host.destroy()


@pytest.fixture
def ssh_host_factory(lab_session: None) -> Iterator[HostFactory]:
    """Make hosts for one test: `make(count=1, prefix="labhost")`; destroyed afterwards."""
    made: list[SshHost] = []

    def make(count: int = 1, prefix: str = "labhost") -> list[SshHost]:
        hosts = start_ssh_hosts(count, prefix=prefix)
        made.extend(hosts)
        return hosts

    yield make
    for host in made:
        host.destroy()


@pytest.fixture
def real_node_hosts(lab_session: None) -> Iterator[RealNodeFactory]:
    """Hosts that can be real Kubernetes nodes, for one test: `make(count=1,
    prefix="node")` starts `count` real-node hosts on the test's LAN (one LAN per test:
    hosts of every call reach each other at `lan_address`); all destroyed afterwards."""
    made: list[SshHost] = []
    lan = Lan()

    def make(count: int = 1, prefix: str = "node") -> list[SshHost]:
        lan.start()
        hosts = start_ssh_hosts(count, prefix=prefix, lan=lan, real_node=True)
        made.extend(hosts)
        return hosts

    yield make
    for host in made:
        host.destroy()
    lan.destroy()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Whatever needs the lab (clusters, SSH hosts, MinIO: all depend on lab_session) is
    # marked `lab`, so `pytest -m "not lab"` (`make test-fast`) never starts one.
    for item in items:
        if "lab_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)
