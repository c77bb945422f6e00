"""Preflight logic: facts + intended roles -> verdicts (pure, no SSH)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from taichu.machines.facts import MachineFacts
from taichu.machines.preflight import (
    CheckResult,
    MachineRef,
    PreflightPolicy,
    PreflightReport,
    preflight,
)

GIB = 1024**3


def facts(n: int = 1, **changes: Any) -> MachineFacts:
    """A machine every check passes for, as master or worker; `n` makes it distinct."""
    base = MachineFacts(
        hostname=f"node-{n}",
        os_name="Ubuntu",
        os_version="24.04",
        kernel="6.8.0-45-generic",
        arch="x86_64",
        cpu_cores=4,
        memory_bytes=8 * GIB,
        disk_root_bytes=100 * GIB,
        disk_root_free_bytes=80 * GIB,
        product_uuid=f"4c4c4544-0000-1000-8000-{n:012d}",
        mac_addresses=[f"52:54:00:00:00:{n:02x}"],
        clock_offset_ms=3.0,
        swap_on=False,
        cgroup_version=2,
        init_system="systemd",
        container_runtime=None,
        kubelet=None,
        ports_in_use=[],
        kernel_modules={"overlay": True, "br_netfilter": True},
        sysctls={"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1"},
    )
    return replace(base, **changes)


REFS = {f"id{n}": MachineRef(f"id{n}", f"m{n}", f"10.0.0.{n}") for n in range(1, 6)}


def run(
    machines: dict[str, MachineFacts], roles: dict[str, str] | None = None, **kw: Any
) -> PreflightReport:
    roles = roles or dict.fromkeys(machines, "worker")
    return preflight(machines, roles, machines=REFS, **kw)


def check(report: PreflightReport, name: str, machine: str | None = None) -> CheckResult:
    if machine is None:
        found = [c for c in report.checks if c.name == name]
    else:
        found = [c for m in report.machines if m.id == machine for c in m.checks if c.name == name]
    assert len(found) == 1, (name, machine, report.to_json())
    return found[0]


def names(report: PreflightReport, machine: str) -> set[str]:
    return {c.name for m in report.machines if m.id == machine for c in m.checks}


def test_clean_set_passes_every_check() -> None:
    report = run(
        {"id1": facts(1), "id2": facts(2), "id3": facts(3)},
        {"id1": "master", "id2": "worker", "id3": "worker"},
    )
    assert report.passed
    body = report.to_json()
    assert body["summary"]["fail"] == body["summary"]["warn"] == 0
    assert [m["id"] for m in body["machines"]] == ["id1", "id2", "id3"]
    assert body["machines"][0] == {
        **body["machines"][0],
        "name": "m1",
        "ip_address": "10.0.0.1",
        "role": "master",
        "passed": True,
    }
    assert {c["name"] for c in body["checks"]} == {
        "unique_hostnames",
        "unique_product_uuids",
        "unique_macs",
        "clock_spread",
    }
    json.dumps(body)  # the report is JSON as it is


def test_shared_hostname_fails_naming_both_machines_by_name_and_address() -> None:
    report = run(
        {"id1": facts(1, hostname="Node-A"), "id2": facts(2), "id3": facts(3, hostname="node-a")}
    )
    result = check(report, "unique_hostnames")
    assert result.status == "fail"
    assert "m1 (10.0.0.1)" in result.message and "m3 (10.0.0.3)" in result.message
    assert "m2" not in result.message
    assert result.machine_ids == ["id1", "id3"]
    assert result.hint and "hostnamectl" in result.hint
    assert not report.passed


def test_three_machines_sharing_a_product_uuid_are_all_named() -> None:
    clone = "4C4C4544-AAAA"
    report = run({f"id{n}": facts(n, product_uuid=clone) for n in (1, 2, 3)})
    result = check(report, "unique_product_uuids")
    assert result.status == "fail"
    assert result.machine_ids == ["id1", "id2", "id3"]
    for n in (1, 2, 3):
        assert f"m{n} (10.0.0.{n})" in result.message


def test_unreadable_product_uuid_warns_it_is_unproven() -> None:
    report = run({"id1": facts(1, product_uuid=None), "id2": facts(2)})
    result = check(report, "unique_product_uuids")
    assert (result.status, result.machine_ids) == ("warn", ["id1"])
    assert report.passed


def test_shared_mac_fails_case_and_separator_insensitive_and_ignores_zero_macs() -> None:
    report = run(
        {
            "id1": facts(1, mac_addresses=["00:00:00:00:00:00", "AA-BB-CC-00-00-01"]),
            "id2": facts(2, mac_addresses=["00:00:00:00:00:00", "aa:bb:cc:00:00:01"]),
        }
    )
    result = check(report, "unique_macs")
    assert result.status == "fail"
    assert "aa:bb:cc:00:00:01" in result.message and "00:00:00:00:00:00" not in result.message
    assert result.machine_ids == ["id1", "id2"]
    # One machine showing its MAC twice (a bond) is no clash.
    alone = run({"id1": facts(1, mac_addresses=["52:54:00:aa:aa:aa"] * 2), "id2": facts(2)})
    assert check(alone, "unique_macs").status == "pass"


def test_swap_fails_a_node_and_warns_etcd() -> None:
    report = run(
        {"id1": facts(1, swap_on=True), "id2": facts(2, swap_on=True)},
        {"id1": "worker", "id2": "etcd"},
    )
    assert check(report, "swap", "id1").status == "fail"
    assert "m1 (10.0.0.1)" in check(report, "swap", "id1").message
    assert "swapoff" in (check(report, "swap", "id1").hint or "")
    assert check(report, "swap", "id2").status == "warn"


@pytest.mark.parametrize(
    ("role", "busy", "failing"),
    [
        ("master", [6443, 2379], [6443, 2379]),
        ("master", [10257, 10259], [10257, 10259]),
        ("worker", [6443, 2379, 10250], [10250]),
        ("etcd", [2380, 6443], [2380]),
        ("registry", [6443, 10250], []),
    ],
)
def test_ports_required_per_role(role: str, busy: list[int], failing: list[int]) -> None:
    report = run({"id1": facts(1, ports_in_use=busy)}, {"id1": role})
    if not failing:
        assert "ports_free" not in names(report, "id1") and report.passed
        return
    result = check(report, "ports_free", "id1")
    assert result.status == "fail"
    for port in failing:
        assert str(port) in result.message
    for port in set(busy) - set(failing):
        assert str(port) not in result.message


def test_masters_need_etcd_ports_only_when_etcd_is_stacked() -> None:
    busy = {"id1": facts(1, ports_in_use=[2379, 2380]), "id2": facts(2)}
    stacked = run(busy, {"id1": "master", "id2": "worker"})
    assert check(stacked, "ports_free", "id1").status == "fail"
    external = run(busy, {"id1": "master", "id2": "etcd"})
    assert check(external, "ports_free", "id1").status == "pass"
    forced = run(
        busy,
        {"id1": "master", "id2": "worker"},
        platform_settings=PreflightPolicy(etcd_stacked=False),
    )
    assert check(forced, "ports_free", "id1").status == "pass"


def test_nodeport_range_in_use_warns_and_lists_a_bounded_number() -> None:
    report = run({"id1": facts(1, ports_in_use=list(range(30000, 30050)))})
    result = check(report, "nodeport_range", "id1")
    assert result.status == "warn" and "30000" in result.message and "40 more" in result.message
    assert report.passed


def test_running_kubelet_fails_installed_kubelet_warns() -> None:
    report = run(
        {
            "id1": facts(1, kubelet="v1.30.2", ports_in_use=[10250]),
            "id2": facts(2, kubelet="v1.30.2"),
        }
    )
    running = check(report, "existing_kubelet", "id1")
    assert (
        running.status == "fail"
        and "10250" in running.message
        and "kubeadm reset" in (running.hint or "")
    )
    # The running kubelet is one failure, not a second one for its port.
    assert check(report, "ports_free", "id1").status == "pass"
    assert check(report, "existing_kubelet", "id2").status == "warn"
    # Something else on 10250 is a busy port.
    other = run({"id1": facts(1, ports_in_use=[10250])})
    assert check(other, "existing_kubelet", "id1").status == "pass"
    assert check(other, "ports_free", "id1").status == "fail"


def test_container_runtime_present_warns() -> None:
    report = run({"id1": facts(1, container_runtime="containerd 1.7.20")})
    result = check(report, "container_runtime", "id1")
    assert result.status == "warn" and "containerd 1.7.20" in result.message
    assert report.passed


@pytest.mark.parametrize(
    ("offset", "status"),
    [(0.0, "pass"), (499.0, "pass"), (-650.0, "warn"), (1000.0, "fail"), (-2500.0, "fail")],
)
def test_clock_skew_thresholds(offset: float, status: str) -> None:
    report = run({"id1": facts(1, clock_offset_ms=offset)})
    result = check(report, "clock_skew", "id1")
    assert result.status == status
    if offset < 0:
        assert "behind" in result.message


def test_clock_spread_between_machines_each_within_the_limit() -> None:
    report = run({"id1": facts(1, clock_offset_ms=-700), "id2": facts(2, clock_offset_ms=650)})
    assert check(report, "clock_skew", "id1").status == "warn"
    spread = check(report, "clock_spread")
    assert spread.status == "fail" and spread.machine_ids == ["id1", "id2"]
    assert "1350 ms" in spread.message


@pytest.mark.parametrize(
    ("role", "cpus", "mib", "cpu_status", "mem_status"),
    [
        ("master", 2, 1700, "pass", "pass"),
        ("master", 1, 4096, "fail", "pass"),
        ("master", 4, 1699, "pass", "fail"),
        ("worker", 1, 1024, "pass", "pass"),
        ("worker", 1, 900, "pass", "warn"),
        ("worker", 1, 400, "pass", "fail"),
        ("etcd", 1, 1024, "warn", "warn"),
        ("registry", 1, 256, "pass", "pass"),
    ],
)
def test_cpu_and_memory_minimums_per_role(
    role: str, cpus: int, mib: int, cpu_status: str, mem_status: str
) -> None:
    report = run({"id1": facts(1, cpu_cores=cpus, memory_bytes=mib * 1024 * 1024)}, {"id1": role})
    assert check(report, "cpu", "id1").status == cpu_status
    assert check(report, "memory", "id1").status == mem_status
    assert f"{mib} MiB" in check(report, "memory", "id1").message


def test_low_disk_warns() -> None:
    report = run({"id1": facts(1, disk_root_free_bytes=3 * GIB)})
    assert check(report, "disk", "id1").status == "warn"


def test_kernel_modules_missing_fails_unknown_warns() -> None:
    missing = run({"id1": facts(1, kernel_modules={"overlay": True, "br_netfilter": False})})
    result = check(missing, "kernel_modules", "id1")
    assert result.status == "fail"
    assert "kernel module br_netfilter is neither loaded nor loadable" in result.message
    unknown = run({"id1": facts(1, kernel_modules={"br_netfilter": True})})
    assert check(unknown, "kernel_modules", "id1").status == "warn"


def test_sysctls_not_set_warn_since_provisioning_sets_them() -> None:
    report = run({"id1": facts(1, sysctls={"net.ipv4.ip_forward": "0"})})
    result = check(report, "sysctls", "id1")
    assert result.status == "warn"
    assert "net.ipv4.ip_forward=0" in result.message
    assert "net.bridge.bridge-nf-call-iptables=unset" in result.message
    assert report.passed


@pytest.mark.parametrize(
    ("version", "init", "status"),
    [
        (2, "systemd", "pass"),
        (1, "systemd", "warn"),
        (2, "openrc", "fail"),
        (None, "systemd", "fail"),
    ],
)
def test_cgroup_setup(version: int | None, init: str, status: str) -> None:
    report = run({"id1": facts(1, cgroup_version=version, init_system=init)})
    assert check(report, "cgroups", "id1").status == status


def test_etcd_and_registry_skip_node_checks() -> None:
    report = run(
        {
            "id1": facts(1, swap_on=True, init_system="openrc"),
            "id2": facts(2, init_system="openrc"),
        },
        {"id1": "etcd", "id2": "registry"},
    )
    assert "cgroups" not in names(report, "id1") | names(report, "id2")
    assert "swap" not in names(report, "id2")
    assert report.passed


def test_unreachable_machine_fails_naming_why_and_others_are_still_checked() -> None:
    report = run(
        {"id2": facts(2), "id3": facts(3, hostname="node-2")},
        {"id1": "master", "id2": "worker", "id3": "worker"},
        unreachable={"id1": "connection refused (sshd is not running?)"},
    )
    reach = check(report, "reachable", "id1")
    assert (
        reach.status == "fail" and "m1 (10.0.0.1)" in reach.message and "refused" in reach.message
    )
    assert check(report, "unique_hostnames").machine_ids == ["id2", "id3"]
    body = report.to_json()
    assert [m["passed"] for m in body["machines"]] == [False, True, True]
    assert body["passed"] is False


def test_machine_without_facts_or_reason_fails() -> None:
    report = run({}, {"id1": "worker"})
    assert "no facts" in check(report, "reachable", "id1").message


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="role 'boss'"):
        run({"id1": facts(1)}, {"id1": "boss"})


def test_single_machine_has_no_spread_check_and_names_default_to_the_id() -> None:
    report = preflight({"x": facts(1, swap_on=True)}, {"x": "worker"})
    assert "clock_spread" not in {c.name for c in report.checks}
    assert check(report, "swap", "x").message.startswith("x (?)")
