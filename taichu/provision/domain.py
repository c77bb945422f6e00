"""Creating clusters from machines: create tasks, the step engine, teardown."""

from __future__ import annotations

from taichu.config import Settings
from taichu.domains import Domain
from taichu.jobs.registry import JobRegistry
from taichu.provision import jobs, models
from taichu.provision.routes import router


def register_jobs(registry: JobRegistry, settings: Settings) -> None:
    jobs.register(registry, settings)


DOMAIN = Domain(
    name="provision",
    routers=[router],  # before clusters: /clusters/create is not a cluster id
    register_jobs=register_jobs,
    audit_nouns={"create-tasks": "create_task"},
    audit_verbs=frozenset({"retry", "cancel", "create"}),
    models=models,
    settings_section="provision",
)
