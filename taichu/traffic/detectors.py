"""The detectors: pure functions of one window's merged samples (and, for rate spikes, the
address's baseline). Each finding carries its score (observed / threshold, > 1 flagged
hard) and the evidence an operator needs to judge it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from taichu.traffic.sampler import OTHER, UNKNOWN
from taichu.traffic.settings import AnomalySettings
from taichu.traffic.store import Merged

MAD_SCALE = 1.4826  # MAD -> standard deviation of a normal distribution
MAX_EVIDENCE = 20  # usernames, paths, addresses listed in an event


@dataclass(frozen=True)
class Finding:
    detector: str
    score: float
    evidence: dict[str, Any]
    ip: str | None = None
    username: str | None = None
    addresses: tuple[str, ...] = field(default=())  # what `block` blocks

    @property
    def subject(self) -> str:
        return self.ip if self.ip is not None else f"user:{self.username}"


def _some(values: Iterable[str]) -> list[str]:
    return sorted(values)[:MAX_EVIDENCE]


def _real(ip: str) -> bool:
    return ip not in (OTHER, UNKNOWN)


def per_address(sample: Merged, rules: AnomalySettings) -> list[Finding]:
    """Brute force, credential stuffing, scanning and error storms of one address."""
    found: list[Finding] = []
    c, ip = sample.counts, sample.ip
    addresses = (ip,) if _real(ip) else ()
    base = {"requests": sample.judged, "blocked": c["blocked"]}
    if c["login_failures"] >= rules.brute_force_failures:
        found.append(
            Finding(
                "brute_force",
                c["login_failures"] / rules.brute_force_failures,
                {
                    **base,
                    "login_failures": c["login_failures"],
                    "usernames": _some(sample.usernames),
                },
                ip=ip,
                addresses=addresses,
            )
        )
    failing = [name for name, n in sample.usernames.items() if n > 0]
    if len(failing) >= rules.stuffing_usernames:
        found.append(
            Finding(
                "credential_stuffing",
                len(failing) / rules.stuffing_usernames,
                {**base, "distinct_usernames": len(failing), "usernames": _some(failing)},
                ip=ip,
                addresses=addresses,
            )
        )
    if len(sample.missing_paths) >= rules.scanning_paths:
        found.append(
            Finding(
                "scanning",
                len(sample.missing_paths) / rules.scanning_paths,
                {
                    **base,
                    "not_found": c["status_404"],
                    "distinct_paths": len(sample.missing_paths),
                    "paths": _some(sample.missing_paths),
                },
                ip=ip,
                addresses=addresses,
            )
        )
    judged = sample.judged
    if (
        sample.errors >= rules.error_storm_errors
        and judged
        and sample.errors / judged >= rules.error_storm_ratio
    ):
        found.append(
            Finding(
                "error_storm",
                sample.errors / rules.error_storm_errors,
                {
                    **base,
                    "errors": sample.errors,
                    "status_4xx": c["status_4xx"],
                    "status_5xx": c["status_5xx"],
                },
                ip=ip,
                addresses=addresses,
            )
        )
    return found


def per_username(samples: Iterable[Merged], rules: AnomalySettings) -> list[Finding]:
    """Brute force against one account, from any number of addresses."""
    failures: dict[str, dict[str, int]] = {}
    for sample in samples:
        for name, n in sample.usernames.items():
            failures.setdefault(name, {})[sample.ip] = n
    found = []
    for name, by_ip in failures.items():
        total = sum(by_ip.values())
        if total >= rules.brute_force_user_failures:
            found.append(
                Finding(
                    "brute_force_user",
                    total / rules.brute_force_user_failures,
                    {
                        "login_failures": total,
                        "addresses": dict(sorted(by_ip.items())[:MAX_EVIDENCE]),
                    },
                    username=name,
                    addresses=tuple(ip for ip in sorted(by_ip) if _real(ip)),
                )
            )
    return found


def spike_threshold(history: list[int], rules: AnomalySettings) -> tuple[float, float, float]:
    """(threshold, median, MAD) of an address's past windows. With no history the median
    and MAD are 0 and the absolute floor decides."""
    if not history:
        return float(rules.rate_floor), 0.0, 0.0
    mid = float(median(history))
    mad = float(median(abs(value - mid) for value in history))
    spread = max(mad * MAD_SCALE, 1.0)
    return max(float(rules.rate_floor), mid + rules.rate_mad_factor * spread), mid, mad


def rate_spike(sample: Merged, history: list[int], rules: AnomalySettings) -> Finding | None:
    judged = sample.judged
    threshold, mid, mad = spike_threshold(history, rules)
    if judged < rules.rate_floor or judged <= threshold:
        return None
    return Finding(
        "rate_spike",
        judged / threshold,
        {
            "requests": judged,
            "threshold": round(threshold, 2),
            "baseline_median": mid,
            "baseline_mad": mad,
            "baseline_windows": len(history),
        },
        ip=sample.ip,
        addresses=(sample.ip,) if _real(sample.ip) else (),
    )


def score_of(sample: Merged, rules: AnomalySettings) -> float:
    """How close a sample comes to any threshold (1.0 = at one), for the traffic list."""
    c = sample.counts
    ratios = [
        c["login_failures"] / rules.brute_force_failures,
        len(sample.usernames) / rules.stuffing_usernames,
        len(sample.missing_paths) / rules.scanning_paths,
        sample.judged / rules.rate_floor,
        sample.errors / rules.error_storm_errors,
    ]
    return round(max(ratios), 3)


def candidates_for_spikes(samples: Mapping[str, Merged], rules: AnomalySettings) -> list[str]:
    return [ip for ip, sample in samples.items() if sample.judged >= rules.rate_floor]
