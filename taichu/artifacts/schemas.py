"""Response models of the artifact endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from taichu.api.schemas import OutModel
from taichu.artifacts.service import BundleSummary


class ArtifactImage(OutModel):
    name: str
    purpose: str


class ArtifactSummary(OutModel):
    name: str
    valid: bool
    problem: str | None = None
    kubernetes_version: str | None = None
    arch: str | None = None
    components: dict[str, str] = Field(default_factory=dict)
    network_plugins: list[str] = Field(default_factory=list)
    container_runtimes: list[str] = Field(default_factory=list)
    images: list[ArtifactImage] = Field(default_factory=list)
    size_bytes: int | None = None
    created_at: datetime | None = None

    @classmethod
    def of(cls, summary: BundleSummary) -> ArtifactSummary:
        m = summary.manifest
        if m is None:
            return cls(name=summary.name, valid=False, problem=summary.problem)
        return cls(
            name=summary.name,
            valid=summary.valid,
            problem=summary.problem,
            kubernetes_version=m.kubernetes_version,
            arch=m.arch,
            components=dict(m.components),
            network_plugins=list(m.network_plugins),
            container_runtimes=list(m.container_runtimes),
            images=[ArtifactImage(name=i.name, purpose=i.purpose) for i in m.images],
            size_bytes=m.size_bytes,
            created_at=m.created_at,
        )


class ArtifactList(OutModel):
    artifacts: list[ArtifactSummary]
    total: int
    page: int
    limit: int
