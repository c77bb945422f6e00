"""The IP blacklist: entries, their enforcement at the HTTP edge, `taichu blacklist`."""

from __future__ import annotations

from taichu.blacklist import models
from taichu.blacklist.routes import router
from taichu.domains import Domain

DOMAIN = Domain(
    name="blacklist",
    runtime_routers=[router],
    audit_nouns={"anomaly": "anomaly", "blacklist": "blacklist-entry"},
    models=models,
    settings_section="blacklist",
)
