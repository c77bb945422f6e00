"""Request and response models of the machine inventory. No response model has a field
for a credential: what is stored encrypted can only be shown as `has_password` and
`has_private_key`."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from taichu.api.schemas import InModel, OutModel
from taichu.clusters.schemas import NAME_PATTERN, LabelMap
from taichu.machines.models import MACHINE_STATUSES, OPERATOR_STATUSES, ROLES

Role = Literal["master", "worker", "etcd", "registry"]
ROLES_TEXT = "|".join(ROLES)
MAX_PASSWORD = 1024
MAX_PRIVATE_KEY = 16 * 1024
MAX_HOST_KEY = 16 * 1024
USER_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$"


def normalize_address(value: str) -> str:
    """One spelling per address (IPv6 compressed, no zone), so duplicates are found."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError("must be an IPv4 or IPv6 address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        # A zone is free text ("fe80::1%eth0", "%$(id)") and means nothing off this host.
        raise ValueError("must be an address without a zone (%...)")
    if address.is_unspecified or address.is_multicast:
        raise ValueError("must be a machine's address (not unspecified or multicast)")
    return str(address)


def normalize_status(value: str) -> str:
    """The status table's spelling; `in-use` (the spec's other spelling) is accepted."""
    status = value.strip().lower().replace("-", "_")
    if status not in MACHINE_STATUSES:
        raise ValueError(f"must be one of {', '.join(MACHINE_STATUSES)}")
    return status


Address = Annotated[str, Field(max_length=64), AfterValidator(normalize_address)]
# Secrets keep their exact bytes: InModel strips whitespace, which would change them.
Secret = Annotated[str, StringConstraints(strip_whitespace=False)]


class MachineIn(InModel):
    """Create, and update (PUT: the same body; omitted credentials keep the stored ones,
    `null` or "" removes one)."""

    name: str = Field(pattern=NAME_PATTERN, description="1-100 of A-Z a-z 0-9 _ . -")
    ip_address: Address = Field(description="Address the platform connects to.")
    internal_address: Address | None = Field(
        None, description="Address inside the cluster network; default: ip_address."
    )
    port: int = Field(22, ge=1, le=65535, description="SSH port.")
    user: str = Field("root", pattern=USER_PATTERN, description="Login user.")
    password: Secret | None = Field(None, max_length=MAX_PASSWORD)
    private_key: Secret | None = Field(
        None, max_length=MAX_PRIVATE_KEY, description="OpenSSH or PEM private key text."
    )
    passphrase: Secret | None = Field(
        None, max_length=MAX_PASSWORD, description="Passphrase of an encrypted private_key."
    )
    host_key: str | None = Field(
        None,
        max_length=MAX_HOST_KEY,
        description='Pinned host public key ("ssh-ed25519 AAAA..."); default: the key the '
        "host presents at the first successful connection (trust on first use).",
    )
    become: bool | None = Field(
        None, description="Privileged commands through sudo; default: user is not root."
    )
    role: Role
    artifact_path: str = Field("", max_length=500)
    image_repo: str = Field("", max_length=500)
    registry_address: str = Field("", max_length=500)
    labels: LabelMap = Field(default_factory=dict)


class StatusIn(InModel):
    status: Annotated[str, Field(max_length=32), AfterValidator(normalize_status)] = Field(
        description="|".join(OPERATOR_STATUSES)
    )
    message: str = Field("", max_length=1000)


class HostKeyIn(InModel):
    host_key: str | None = Field(None, max_length=MAX_HOST_KEY)
    accept_current: bool = Field(
        False, description="Pin the key the host presents now (it is fetched)."
    )


class MachineSummary(OutModel):
    id: str
    name: str
    ip_address: str
    internal_address: str
    port: int
    user: str
    role: str
    status: str
    status_message: str
    labels: dict[str, str]
    last_checked_at: datetime | None
    created_at: datetime
    updated_at: datetime


class MachineDetail(MachineSummary):
    status_source: str
    become: bool
    artifact_path: str
    image_repo: str
    registry_address: str
    has_password: bool
    has_private_key: bool
    host_key: str | None
    host_key_fingerprint: str | None
    host_key_source: str | None
    facts: dict[str, Any] | None
    reachable: bool | None
    check_reason: str | None
    check_error: str | None
    created_by: str | None


class MachineList(BaseModel):
    machines: list[MachineSummary]
    total: int
    page: int
    limit: int


class StatusOut(OutModel):
    id: str
    status: str
    message: str
    updated_at: datetime


class CheckQueued(BaseModel):
    id: str
    job_id: str
    status: str
    message: str


class MachineEventOut(OutModel):
    id: str
    machine_id: str
    reason: str
    severity: str
    component: str
    message: str
    created_at: datetime


class MachineEventList(BaseModel):
    events: list[MachineEventOut]
    total: int
    page: int
    limit: int
