"""The offline bundle a create request names (`artifact_path`), through the artifacts
service: opening verifies every file before any machine is touched."""

from __future__ import annotations

import asyncio

from taichu.artifacts import service as artifacts
from taichu.artifacts.service import Bundle
from taichu.config import Settings
from taichu.errors import Invalid


async def open_named(settings: Settings, name: str) -> Bundle:
    """The verified bundle `name` of the artifact directory (empty: the only valid one
    there); Invalid naming `artifact_path` otherwise."""
    directory = artifacts.artifacts_dir(settings)
    limit = settings.artifacts.max_manifest_bytes
    if not name:
        listed = await asyncio.to_thread(
            artifacts.list_bundles, directory, max_manifest_bytes=limit
        )
        names = [b.name for b in listed if b.valid]
        if len(names) != 1:
            have = ", ".join(sorted(names)[:20]) or f"none in {directory}"
            raise Invalid(f"artifact_path: name the bundle to use (available: {have})")
        name = names[0]
    return await artifacts.open_bundle(directory, name, max_manifest_bytes=limit)


def bundle_name(bundle: Bundle) -> str:
    """What `artifact_path` calls it: its directory's name."""
    return bundle.name
