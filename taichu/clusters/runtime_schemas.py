from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field, field_validator

from taichu.api.schemas import InModel, OutModel
from taichu.clusters.schemas import NAME_PATTERN


def cluster_uuid(value: str | int) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as e:
        raise ValueError("must be a cluster id (a UUID from GET /api/runtime/clusters/)") from e


class RuntimeClusterRegister(InModel):
    name: str = Field(pattern=NAME_PATTERN)
    api_server: str = Field(min_length=1, max_length=253, description="Host name or IP")
    port: int = Field(6443, ge=1, le=65535)
    description: str = Field("", max_length=1000)
    ca_certificate: str | None = Field(
        None, max_length=65536, description="PEM CA bundle; default: the system trust store"
    )
    insecure_skip_tls_verify: bool = Field(False, description="Explicitly skip TLS checks")


class RuntimeCluster(OutModel):
    id: str
    name: str
    description: str
    api_server_url: str
    status: str
    source: str
    version: str | None
    node_count: int
    created_at: datetime


class BindRequest(InModel):
    cluster_id: str | int
    token: str = Field(min_length=1, max_length=16384)
    namespace: str = Field("default", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

    @field_validator("cluster_id")
    @classmethod
    def _cluster_id(cls, value: str | int) -> str:
        return cluster_uuid(value)


class BindOut(OutModel):
    cluster_id: str
    namespace: str
    subject: str | None
    bound_at: datetime = Field(validation_alias="updated_at")
