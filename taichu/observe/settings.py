"""Settings of the observe cache.

Meant to be nested in `taichu.config.Settings` as `observe` (env `TAICHU_OBSERVE__*`);
until it is, `observe_settings()` reads the same variables itself.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ObserveSettings(BaseModel):
    idle_seconds: float = Field(
        600.0,
        description="A cluster's cache (its watches) stops after this long without a "
        "view; the next view lists again.",
    )
    sync_timeout_seconds: float = Field(
        30.0, description="How long a first view waits for the initial list before 503."
    )
    watch_timeout_seconds: int = Field(
        300, description="Server-side timeout of one watch request; it is then resumed."
    )
    page_size: int = Field(
        500, description="Items per page of the initial lists (bounds memory while listing)."
    )
    retry_max_seconds: float = Field(
        30.0, description="Upper bound of the back-off between attempts on a broken cluster."
    )
    metrics_ttl_seconds: float = Field(
        15.0, description="How long node usage from metrics.k8s.io is reused."
    )
    metrics_wait_seconds: float = Field(
        3.0, description="How long a request waits for fresh usage before answering without."
    )
    authorization_ttl_seconds: float = Field(
        10.0,
        description="How long a user's answer from the cluster's RBAC (may they list "
        "pods here?) is reused by runtime reads; a revoked permission shows within this time.",
    )


class _ObserveEnv(ObserveSettings, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAICHU_OBSERVE__", extra="ignore")


def observe_settings(settings: Any) -> ObserveSettings:
    """`settings.observe` when the main settings carry it, else from the environment."""
    nested = getattr(settings, "observe", None)
    if isinstance(nested, ObserveSettings):
        return nested
    return ObserveSettings(**_ObserveEnv().model_dump())
