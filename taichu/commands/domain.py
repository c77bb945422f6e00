"""kubectl through the platform, as the caller's own identity, with its history."""

from __future__ import annotations

from taichu.commands import models
from taichu.commands.routes import router
from taichu.domains import Domain

DOMAIN = Domain(
    name="commands",
    runtime_routers=[router],
    audit_nouns={"command": "command", "history": "command"},
    models=models,
    settings_section="commands",
)
