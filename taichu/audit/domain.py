"""The audit log, its reading API and the verification of its chain."""

from taichu.audit import models, verification
from taichu.audit.routes import router
from taichu.config import Settings
from taichu.domains import Domain
from taichu.jobs.registry import JobRegistry


def register_jobs(registry: JobRegistry, settings: Settings) -> None:
    verification.register(registry)


DOMAIN = Domain(
    name="audit",
    routers=[router],
    register_jobs=register_jobs,
    # POST /audit/verification -> (audit, create, verification)
    audit_nouns={"audit": "audit", "verification": "verification"},
    models=models,
)
