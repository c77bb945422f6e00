"""The installer's steps up to the control plane on a real-node lab host, run directly
(tests/provision/direct.py), then its teardown: etcd healthy over TLS, the API server
ready, the controller manager working; every step rerun changes nothing; teardown leaves
nothing of the installer behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from taichu.lab.binaries import default_root
from taichu.provision.install import layout as L
from taichu.provision.install.pipeline import STEPS
from taichu.provision.install.teardown import teardown
from taichu.provision.pki import ClusterPki
from taichu.provision.plan import Step
from tests.provision.direct import open_bundle, partial_bundle, plan_for, run_steps
from tests.provision.test_create_lab import KUBECTL, ours

pytestmark = pytest.mark.lab
CONTROL = [
    "etcd",
    "etcdctl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
]
UP_TO_CONTROL_PLANE = [
    s for s in STEPS if s.name in ("preflight", "distribute", "pki", "etcd", "control_plane")
]


def _teardown_step() -> Step:
    async def body(ctx: Any, node: Any) -> None:
        await teardown(ctx, node)

    return Step("teardown", "Tearing down", 1, lambda plan: plan.nodes, body)


async def test_control_plane_steps_rerun_and_teardown(tmp_path: Path, real_node_hosts: Any) -> None:
    (host,) = real_node_hosts(1)
    bundle = open_bundle(partial_bundle(tmp_path, default_root() / "bin", CONTROL))
    plan = plan_for([(host, "cp-1", "master")], bundle)
    pki = ClusterPki.create(plan)
    lines = await run_steps(plan, pki, UP_TO_CONTROL_PLANE)
    print("\n".join(lines))
    assert any("etcd healthy" in line for line in lines), lines
    assert any("kube-apiserver ready" in line for line in lines), lines
    assert "ok" in host.exec(f"{KUBECTL} get --raw=/readyz").stdout
    assert host.exec(f"{L.SUPERVISOR} status etcd").stdout.startswith("running")
    assert host.exec(f"stat -c %a {L.PKI}/apiserver.key").stdout.strip() == "600"
    pid = host.exec(f"cat {L.RUN}/kube-apiserver.pid").stdout.split()[0]

    # A rerun (the platform died mid-way): nothing copied again, nothing restarted.
    again = await run_steps(plan, pki, UP_TO_CONTROL_PLANE)
    assert any("0 files copied, 6 already there" in x for x in again), again
    assert not any("started" in x for x in again), again
    assert host.exec(f"cat {L.RUN}/kube-apiserver.pid").stdout.split()[0] == pid

    await run_steps(plan, pki, [_teardown_step()])
    assert ours(host) == []
    for path in (L.OPT, L.ETC, L.KUBERNETES, L.RUN):
        assert host.exec(f"test -e {path}", check=False).returncode != 0, path
    # A mount point of the host stays, emptied.
    assert host.exec(f"ls -A {L.ETCD_DATA} 2>/dev/null; true").stdout.strip() == ""
