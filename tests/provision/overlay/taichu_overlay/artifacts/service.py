"""Stand-in of `taichu.artifacts.service` for the provision tests (see ../../sitecustomize.py):
the documented functions only, verifying each listed file's size and sha256."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from taichu.errors import Invalid


@dataclass(frozen=True)
class BundleSummary:
    name: str
    kubernetes_version: str


@dataclass(frozen=True)
class Bundle:
    root: Path
    manifest: Any

    def file(self, path: str) -> Path:
        return self.root / path


def list_bundles(directory: Path) -> list[BundleSummary]:
    if not directory.is_dir():
        return []
    found = []
    for child in sorted(directory.iterdir()):
        manifest = child / "manifest.json"
        if manifest.is_file():
            data = json.loads(manifest.read_text())
            found.append(BundleSummary(child.name, data.get("kubernetes_version", "")))
    return found


def _verify(root: Path) -> Any:
    data = json.loads((root / "manifest.json").read_text())
    for entry in data.get("files", []):
        path = root / entry["path"]
        if not path.is_file() or path.stat().st_size != entry["size"]:
            raise Invalid(f"artifact_path: bundle {root.name}: {entry['path']} is missing")
        if hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            raise Invalid(f"artifact_path: bundle {root.name}: {entry['path']} is corrupt")
    return SimpleNamespace(**data)


async def open_bundle(directory: Path, name: str) -> Bundle:
    if not name or "/" in name or name.startswith(".") or "\\" in name:
        raise Invalid(f"artifact_path: {name[:64]!r} is not a bundle name")
    root = directory / name
    if not (root / "manifest.json").is_file():
        raise Invalid(f"artifact_path: no bundle {name[:64]} in the artifact directory")
    return Bundle(root, await asyncio.to_thread(_verify, root))
