"""Creating clusters from machines: create tasks, the step engine, teardown."""

from __future__ import annotations

from taichu.config import Settings
from taichu.domains import Domain
from taichu.jobs.registry import JobRegistry
from taichu.provision import certificates, certificates_renew, expansion_jobs, jobs, models, removal
from taichu.provision.certificates_routes import router as certificates_router
from taichu.provision.expansion_routes import router as expansion_router
from taichu.provision.routes import router


def register_jobs(registry: JobRegistry, settings: Settings) -> None:
    jobs.register(registry, settings)
    expansion_jobs.register(registry, settings.provision.job_attempts)
    removal.register(registry, settings.provision.job_attempts)
    certificates.register(registry, settings)  # the expiry warning check
    certificates_renew.register(registry)


DOMAIN = Domain(
    name="provision",
    # before clusters: /clusters/create is not an id
    routers=[router, expansion_router, certificates_router],
    register_jobs=register_jobs,
    # ("expansion" is the clusters domain's verb: POST /clusters/{id}/expansion.)
    audit_nouns={
        "create-tasks": "create_task",
        "node-removals": "node_removal",
        "certificates": "certificates",
    },
    audit_verbs=frozenset({"retry", "cancel", "create", "renew"}),
    models=models,
    settings_section="provision",
)
