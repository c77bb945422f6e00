"""A small real pipeline for the engine's tests (setting TAICHU_PROVISION__PIPELINE=
tests.provision.pipeline): every step runs real commands on the lab's SSH hosts over the
real SSH adapter, and leaves a line per run in /root/t/<step> so a test counts what was
(re)done. Files steer it: /root/needed must exist for `needs`; /root/hold makes `hold`
wait until it is removed (a test cancels or kills the server meanwhile)."""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml

from taichu.provision.plan import ClusterPlan, NodePlan, Pipeline, Step, StepContext, all_nodes

try:
    from taichu.pki import CertKey, issue, new_ca  # where the installer moves it
except ImportError:
    from taichu.lab.pki import CertKey, issue, new_ca
from cryptography import x509
from cryptography.hazmat.primitives import serialization

COUNTED = ("prepare", "needs", "hold", "finish", "cluster")


def _count(step: str) -> str:
    return f"mkdir -p /root/t && echo run >> /root/t/{step}"


async def prepare(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    await ctx.run(node, _count("prepare"))


async def needs(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    await ctx.run(
        node,
        'test -f /root/needed || { echo "/root/needed is missing" >&2; exit 3; }\n'
        + _count("needs"),
    )


async def hold(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    await ctx.run(
        node, "while [ -f /root/hold ]; do sleep 0.2; done; " + _count("hold"), timeout=300
    )


async def upload(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    await ctx.upload(
        node, f"node {node.name} of {ctx.plan.cluster_name}\n".encode(), "/root/t/node"
    )
    await ctx.upload(node, ctx.plan.bundle.file("bin/kubelet"), "/root/t/kubelet", 0o755)


async def finish(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is not None
    await ctx.run(node, _count("finish"))


async def cluster(ctx: StepContext, node: NodePlan | None) -> None:
    assert node is None
    await ctx.log(None, f"{len(ctx.plan.nodes)} machines, dns {ctx.plan.cluster_dns}")
    await ctx.run(ctx.plan.masters()[0], _count("cluster"))


async def teardown(ctx: StepContext, node: NodePlan) -> None:
    await ctx.run(node, "rm -rf /root/t && echo torn >> /root/torn")


class LabPki:
    """A real CA and admin client certificate (the installer's ClusterPki has many more)."""

    def __init__(self, ca: CertKey, admin: CertKey) -> None:
        self.ca, self.admin = ca, admin

    @classmethod
    def create(cls, plan: ClusterPlan) -> LabPki:
        ca = new_ca(f"{plan.cluster_name}-ca")
        return cls(ca, issue(ca, "kubernetes-admin", orgs=("system:masters",), client=True))

    def to_json(self) -> str:
        pems = {
            n: (c.cert_pem.decode(), c.key_pem.decode())
            for n, c in (("ca", self.ca), ("admin", self.admin))
        }
        return json.dumps(pems)

    @classmethod
    def from_json(cls, text: str) -> LabPki:
        pems = json.loads(text)

        def load(name: str) -> CertKey:
            cert, key = pems[name]
            return CertKey(
                x509.load_pem_x509_certificate(cert.encode()),
                serialization.load_pem_private_key(key.encode(), None),  # type: ignore[arg-type]
            )

        return cls(load("ca"), load("admin"))

    def admin_kubeconfig(self, server: str) -> str:
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()

        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "c",
                    "cluster": {
                        "server": server,
                        "certificate-authority-data": b64(self.ca.cert_pem),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate-data": b64(self.admin.cert_pem),
                        "client-key-data": b64(self.admin.key_pem),
                    },
                }
            ],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "admin"}}],
            "current-context": "c",
        }
        return yaml.safe_dump(config)


PIPELINE = Pipeline(
    steps=(
        Step("prepare", "Preparing machines", 1, all_nodes, prepare),
        Step("needs", "Checking what the machines need", 1, all_nodes, needs),
        Step("hold", "Waiting on the machines", 1, all_nodes, hold),
        Step("upload", "Copying files", 1, all_nodes, upload),
        Step("finish", "Finishing machines", 1, all_nodes, finish),
        Step("cluster", "Configuring the cluster", 1, None, cluster),
    ),
    teardown=teardown,
    new_pki=LabPki.create,
    load_pki=LabPki.from_json,
)
