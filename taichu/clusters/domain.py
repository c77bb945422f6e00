"""Cluster registration and import, the health monitor, runtime registrations."""

from __future__ import annotations

from taichu.clusters import health, imports, models
from taichu.clusters.routes import router
from taichu.clusters.runtime_routes import router as runtime_router
from taichu.config import Settings
from taichu.domains import Domain
from taichu.jobs.registry import JobRegistry


def register_jobs(registry: JobRegistry, settings: Settings) -> None:
    health.register(registry, settings)
    imports.register(registry)


DOMAIN = Domain(
    name="clusters",
    routers=[router],
    runtime_routers=[runtime_router],
    register_jobs=register_jobs,
    audit_nouns={"clusters": "cluster", "imports": "import", "nodes": "node"},
    audit_verbs=frozenset({"import", "create", "status", "expansion", "cancel"}),
    models=models,
    settings_section="kube",
)
