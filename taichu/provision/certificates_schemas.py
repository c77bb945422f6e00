"""Response models of a created cluster's certificates (`/api/v1`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from taichu.api.schemas import InModel


class RenewIn(InModel):
    reason: str = Field("", max_length=500, description="Why (kept in the audit record).")


class CertificateOut(BaseModel):
    name: str = Field(description="`ca`, `etcd-ca`, `front-proxy-ca`, or the component's.")
    subject: str
    issuer: str
    not_before: str
    not_after: str = Field(description="When it expires (RFC 3339, UTC).")
    days_left: int


class RenewalOut(BaseModel):
    job_id: str
    status: str = Field(description="queued | running | succeeded | failed | cancelled")
    progress: float
    current_step: str | None
    error_message: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    result: dict[str, Any] | None = Field(
        description="Certificates renewed, the first new expiry, `api_availability`: "
        "the longest stretch (seconds) the API server did not answer during the renewal, "
        "and `components`: per machine and component, `reloaded` (took up its renewed "
        "files without a restart: etcd, kube-apiserver) or `restarted`, with the seconds "
        "it took."
    )


class CertificatesOut(BaseModel):
    ca: CertificateOut | None
    cas: list[CertificateOut]
    components: list[CertificateOut]
    first_expiry: CertificateOut | None
    warning_days: int
    expiring_soon: bool = Field(description="The first expiry is within warning_days.")
    source: str
    last_renewal: RenewalOut | None = None
