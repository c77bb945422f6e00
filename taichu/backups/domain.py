"""Backups, restores and their schedules."""

from taichu.backups import jobs, models
from taichu.backups.routes import router
from taichu.domains import Domain

DOMAIN = Domain(
    name="backups",
    routers=[router],
    register_jobs=jobs.register,
    audit_nouns={"backups": "backup", "backup-schedules": "backup_schedule"},
    audit_verbs=frozenset({"restore", "cancel", "retry"}),
    models=models,
    settings_section="backups",
)
