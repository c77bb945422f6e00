"""The offline bundle a create request names, through the artifacts service
(`taichu.artifacts.service`: list_bundles, open_bundle, which verifies every file)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from taichu.config import Settings
from taichu.errors import Invalid


def artifacts_dir(settings: Settings) -> Path:
    """`artifacts.dir` (TAICHU_ARTIFACTS__DIR), default `<data dir>/artifacts`."""
    section = getattr(settings, "artifacts", None)
    configured = getattr(section, "dir", None) if section is not None else None
    return Path(configured) if configured else settings.data_dir / "artifacts"


def _service() -> Any:
    try:
        from taichu.artifacts import service
    except ImportError as e:  # a build without the artifacts domain
        raise Invalid("artifact_path: offline bundles are not available in this build") from e
    return service


async def open_named(settings: Settings, name: str) -> Any:
    """The verified bundle `name` (empty: the only bundle there is); Invalid naming
    `artifact_path` otherwise."""
    service = _service()
    directory = artifacts_dir(settings)
    if not name:
        names = [b.name for b in await asyncio.to_thread(service.list_bundles, directory)]
        if len(names) != 1:
            listed = ", ".join(sorted(names)[:20]) or f"none in {directory}"
            raise Invalid(f"artifact_path: name the bundle to use (available: {listed})")
        name = names[0]
    try:
        return await service.open_bundle(directory, name)
    except Invalid as e:
        message = (
            e.message if e.message.startswith("artifact_path") else f"artifact_path: {e.message}"
        )
        raise Invalid(message) from e


def bundle_name(bundle: Any) -> str:
    """What `artifact_path` calls it: its directory's name."""
    return Path(bundle.root).name
