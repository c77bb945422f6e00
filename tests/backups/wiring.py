"""Mounts the backup router and registers the backup jobs where the app does not (yet):
used by the tests' in-process app and by the server process they start."""

from __future__ import annotations

import os
import sys
from typing import Any

import taichu.app
from taichu.backups import jobs as backup_jobs
from taichu.backups.routes import router as backups_router
from taichu.backups.service import BACKUP_KIND
from taichu.config import Settings

BACKUPS_PATH = "/api/v1/clusters/{id}/backups"
_original_registry = taichu.app.default_registry
_original_create_app = taichu.app.create_app


def with_backups(app: Any) -> Any:
    if not any(getattr(route, "path", None) == BACKUPS_PATH for route in app.routes):
        app.include_router(backups_router)
    return app


def registry_with_backups(settings: Settings) -> Any:
    registry = _original_registry(settings)
    if BACKUP_KIND not in registry.handlers:
        backup_jobs.register(registry, settings)
    return registry


def create_app(settings: Settings | None = None) -> Any:
    return with_backups(_original_create_app(settings))


if __name__ == "__main__":
    # `python -m tests.backups.wiring serve ...`: `taichu serve`, wired. Its job worker
    # child (`taichu jobs worker`) cannot be wired from here: until the platform's registry
    # has the backup jobs, the server runs them in its own process.
    if BACKUP_KIND not in _original_registry(Settings()).handlers:
        os.environ.setdefault("TAICHU_JOBS__RUN_IN", "process")
    taichu.app.default_registry = registry_with_backups  # type: ignore[assignment]
    taichu.app.create_app = create_app  # type: ignore[assignment]
    from taichu.cli import app

    app(sys.argv[1:])
