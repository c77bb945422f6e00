"""Preflight for Kubernetes: facts of a set of machines + the roles meant for them -> a report.

Pure: no SSH, no database, no clock. The preflight routes gather fresh facts and call
`preflight()`; the create-from-machines flow calls the same function before it provisions,
so an operator's preflight and the create flow never disagree.

Verdicts follow what kubeadm itself refuses (fail) and what it only warns about or what
provisioning sets up on its own (warn); every check that does not pass carries a fix hint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from taichu.machines.preflight_checks import machine_checks
from taichu.machines.preflight_report import (
    DEFAULT_POLICY,
    ROLES,
    CheckResult,
    MachineRef,
    MachineReport,
    PreflightPolicy,
    PreflightReport,
)
from taichu.machines.preflight_set import set_checks

if TYPE_CHECKING:
    from taichu.machines.facts import MachineFacts

__all__ = [
    "DEFAULT_POLICY",
    "ROLES",
    "CheckResult",
    "MachineRef",
    "MachineReport",
    "PreflightPolicy",
    "PreflightReport",
    "preflight",
]


def preflight(
    facts: Mapping[str, MachineFacts],
    roles: Mapping[str, str],
    *,
    platform_settings: PreflightPolicy = DEFAULT_POLICY,
    machines: Mapping[str, MachineRef] | None = None,
    unreachable: Mapping[str, str] | None = None,
) -> PreflightReport:
    """The report for the machines in `roles` (id -> intended role), in that order.

    `facts` holds what was gathered; a machine in `unreachable` (id -> why) fails its
    `reachable` check instead, and one with neither fails saying its facts are missing.
    `machines` names them (name and address) in messages; without it the id is used.
    """
    unknown = [r for r in roles.values() if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role {unknown[0]!r}; one of {', '.join(ROLES)}")
    policy = platform_settings
    named = machines or {}
    refs = {mid: named.get(mid) or MachineRef(mid, mid, "?") for mid in roles}
    stacked = policy.etcd_stacked
    if stacked is None:
        stacked = "etcd" not in roles.values()
    gathered = {mid: facts[mid] for mid in roles if mid in facts}
    reports = []
    for mid, role in roles.items():
        ref = refs[mid]
        if mid in gathered:
            results = machine_checks(ref, gathered[mid], role, policy, stacked=stacked)
        else:
            why = (unreachable or {}).get(mid) or "no facts were gathered"
            results = [
                CheckResult(
                    "reachable",
                    "fail",
                    f"{ref.label} could not be checked: {why}",
                    "make the machine reachable over SSH with its stored credentials "
                    "(POST /api/v1/machines/{id}/check shows why not), then run preflight again",
                    [mid],
                )
            ]
        reports.append(MachineReport(mid, ref.name, ref.ip_address, role, results))
    return PreflightReport(set_checks(gathered, refs, policy), reports)
