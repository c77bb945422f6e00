"""What a preflight says (checks, per-machine and per-set reports) and the thresholds it uses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "warn", "fail"]
ROLES = ("master", "worker", "etcd", "registry")


@dataclass(frozen=True, slots=True)
class PreflightPolicy:
    """Thresholds of the checks. Defaults are kubeadm's own where it has one."""

    clock_fail_ms: float = 1000.0  # etcd and certificate validity break at about 1 s
    clock_warn_ms: float = 500.0
    master_min_cpus: int = 2  # kubeadm refuses a control plane with fewer
    master_min_memory_mib: int = 1700  # kubeadm's ControlPlaneMem, compared to MemTotal
    worker_min_memory_mib: int = 512  # kubelet + runtime + eviction reserve leave no room
    worker_warn_memory_mib: int = 1024
    etcd_warn_cpus: int = 2  # etcd's hardware guide; it runs on less, slowly
    etcd_warn_memory_mib: int = 2048
    disk_warn_free_gib: float = 10.0  # images and etcd data; kubelet evicts at 10% free
    # Whether etcd runs on the masters; None: stacked unless the set has etcd machines.
    etcd_stacked: bool | None = None
    # The create flow's installer runs services under its own supervisor where there is
    # no systemd, so a machine without it only warns; modules here only warn when absent.
    supervised_without_systemd: bool = False
    optional_modules: tuple[str, ...] = ()


DEFAULT_POLICY = PreflightPolicy()


@dataclass(frozen=True, slots=True)
class MachineRef:
    """How a report names a machine to an operator."""

    id: str
    name: str
    ip_address: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.ip_address})"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    message: str
    hint: str | None = None
    machine_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "hint": self.hint,
            "machine_ids": list(self.machine_ids),
        }


@dataclass(frozen=True)
class MachineReport:
    id: str
    name: str
    ip_address: str
    role: str
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "ip_address": self.ip_address,
            "role": self.role,
            "passed": self.passed,
            "checks": [c.to_json() for c in self.checks],
        }


@dataclass(frozen=True)
class PreflightReport:
    checks: list[CheckResult]  # checks of the set (uniqueness, clock spread)
    machines: list[MachineReport]

    @property
    def passed(self) -> bool:
        """No check failed; warnings do not block."""
        return all(c.status != "fail" for c in self.all_checks())

    def all_checks(self) -> Iterable[CheckResult]:
        yield from self.checks
        for machine in self.machines:
            yield from machine.checks

    def failures(self) -> list[CheckResult]:
        return [c for c in self.all_checks() if c.status == "fail"]

    def to_json(self) -> dict[str, Any]:
        counts = {"pass": 0, "warn": 0, "fail": 0}
        for check in self.all_checks():
            counts[check.status] += 1
        return {
            "passed": self.passed,
            "summary": counts,
            "checks": [c.to_json() for c in self.checks],
            "machines": [m.to_json() for m in self.machines],
        }
