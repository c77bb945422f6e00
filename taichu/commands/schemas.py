from __future__ import annotations

from datetime import datetime

from pydantic import AliasChoices, Field, field_validator

from taichu.api.schemas import InModel, OutModel
from taichu.clusters.runtime_schemas import cluster_uuid

MAX_COMMAND_LENGTH = 8192


class CommandRequest(InModel):
    cluster_id: str | int = Field(description="Cluster id (UUID)")
    command: str = Field(
        min_length=1,
        max_length=MAX_COMMAND_LENGTH,
        description="kubectl command line, e.g. `kubectl get pods -n default` (never a shell)",
    )
    manifest: str | None = Field(
        None,
        description="YAML or JSON fed to kubectl on stdin: use it with `-f -` "
        "(`kubectl apply -f -`)",
    )
    timeout_seconds: int | None = Field(
        None, ge=1, description="Time limit (default 30 s, at most the server's maximum)"
    )

    @field_validator("cluster_id")
    @classmethod
    def _cluster_id(cls, value: str | int) -> str:
        return cluster_uuid(value)


class CommandSummary(OutModel):
    """A history entry: what was run, by whom, how it ended (no output)."""

    id: str
    cluster_id: str
    cluster_name: str | None
    user: str = Field(validation_alias=AliasChoices("username", "user"))
    command: str
    kind: str
    identity: str | None
    status: str
    returncode: int | None
    reason: str | None
    has_manifest: bool
    timeout_seconds: int
    duration_ms: int
    stdout_bytes: int
    stderr_bytes: int
    truncated: bool
    created_at: datetime


class CommandResult(CommandSummary):
    """A run with its (capped) output."""

    stdout: str
    stderr: str


class HistoryPage(OutModel):
    total: int
    page: int
    limit: int
    results: list[CommandSummary]
