"""Offline artifact bundles: listed at /api/v1/artifacts, opened by the provision engine."""

from __future__ import annotations

from taichu.artifacts.routes import router
from taichu.domains import Domain

DOMAIN = Domain(
    name="artifacts",
    routers=[router],
    audit_nouns={"artifacts": "artifact"},
    settings_section="artifacts",
)
