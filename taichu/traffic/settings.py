"""Settings section `anomaly` (`TAICHU_ANOMALY__*`): sampling, detectors, auto-blocks.

Declared here and mounted on `taichu.config.Settings` as `anomaly`, so the section is
readable in one place next to the detectors that use it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Mode = Literal["off", "monitor", "block"]

DETECTORS = (
    "brute_force",
    "brute_force_user",
    "credential_stuffing",
    "scanning",
    "rate_spike",
    "error_storm",
)


class DetectorModes(BaseModel):
    brute_force: Mode = Field("block", description="Login failures from one address.")
    brute_force_user: Mode = Field(
        "monitor",
        description="Login failures for one username from any addresses; `block` blocks "
        "every address that failed for it in the window.",
    )
    credential_stuffing: Mode = Field("block", description="Many usernames from one address.")
    scanning: Mode = Field("block", description="Many distinct missing paths (404).")
    rate_spike: Mode = Field("monitor", description="Requests far above the address's norm.")
    error_storm: Mode = Field("monitor", description="Mostly errors, many of them.")


class AnomalySettings(BaseModel):
    enabled: bool = Field(True, description="Sample traffic (and so detect anything).")
    window_seconds: int = Field(
        60,
        ge=1,
        le=3600,
        description="Length of one sample window: a minute. Counts are kept per address "
        "per window and written once per window by each replica. Shorter only in tests.",
    )
    detect_interval_seconds: float = Field(
        60.0, gt=0, description="How often the detectors run (once across replicas)."
    )
    settle_seconds: float = Field(
        5.0,
        ge=0,
        description="After a window ends, how long the detectors wait for every replica's "
        "write of it before judging it.",
    )
    retention_days: float = Field(30.0, gt=0, description="Samples and events kept this long.")
    retention_interval_seconds: float = Field(
        3600.0, gt=0, description="How often samples and events past retention are purged."
    )
    max_addresses: int = Field(
        20_000,
        ge=1,
        description="Distinct addresses kept per window per replica; requests of further "
        "addresses are counted under the address `other` (bounded memory).",
    )
    max_distinct: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Distinct missing paths, usernames and users kept per address per "
        "window per replica; the counts stop growing there (a floor, not exact).",
    )
    modes: DetectorModes = Field(default_factory=DetectorModes)
    brute_force_failures: int = Field(
        10, ge=1, description="Login failures from one address in a window that flag it."
    )
    brute_force_user_failures: int = Field(
        30, ge=1, description="Login failures for one username in a window (all addresses)."
    )
    stuffing_usernames: int = Field(
        5, ge=1, description="Distinct usernames failing from one address in a window."
    )
    scanning_paths: int = Field(
        20, ge=1, description="Distinct missing paths (404) from one address in a window."
    )
    rate_floor: int = Field(
        600,
        ge=1,
        description="Requests in a window below which no rate spike is flagged, whatever "
        "the baseline (a new address is not flagged for its first requests).",
    )
    rate_mad_factor: float = Field(
        6.0,
        gt=0,
        description="A spike is more than median + this x MAD (scaled, at least 1) of the "
        "address's windows over the baseline period.",
    )
    rate_baseline_days: float = Field(7.0, gt=0, description="Baseline period of rate spikes.")
    error_storm_errors: int = Field(
        100, ge=1, description="4xx+5xx (blocked and 404 aside) in a window that may flag."
    )
    error_storm_ratio: float = Field(
        0.8, gt=0, le=1, description="...and the share of the address's requests they are."
    )
    block_ttl_seconds: int = Field(
        900, ge=1, description="First auto-block's length; doubles with each repeat offence."
    )
    block_ttl_max_seconds: int = Field(86_400, ge=1, description="Cap of an auto-block's length.")
