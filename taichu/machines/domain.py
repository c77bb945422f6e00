"""The machine inventory: machines reached over SSH, their checks and facts, the
reachability monitor."""

from __future__ import annotations

from taichu.config import Settings
from taichu.domains import Domain
from taichu.jobs.registry import JobRegistry
from taichu.machines import checks, models, monitor
from taichu.machines.preflight_routes import router as preflight_router
from taichu.machines.routes import router


def register_jobs(registry: JobRegistry, settings: Settings) -> None:
    checks.register(registry, settings)
    monitor.register(registry, settings)


DOMAIN = Domain(
    name="machines",
    routers=[preflight_router, router],  # /machines/preflight before /machines/{id}
    register_jobs=register_jobs,
    audit_nouns={"machines": "machine"},
    audit_verbs=frozenset({"check", "host-key", "preflight", "status"}),
    models=models,
    settings_section="machines",
)
