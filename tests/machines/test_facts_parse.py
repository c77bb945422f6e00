"""Parsing the facts script's output (pure)."""

from __future__ import annotations

import pytest

from taichu.machines.facts import FactsError, MachineFacts, clock_offset, parse_facts

UBUNTU = """\
@@taichu:hostname
node-a
@@taichu:os-release
NAME="Ubuntu"
VERSION_ID="22.04"
ID=ubuntu
@@taichu:kernel
5.15.0-91-generic
@@taichu:arch
aarch64
@@taichu:nproc
8
@@taichu:meminfo
MemTotal:       16305048 kB
SwapTotal:       2097148 kB
@@taichu:df
/dev/sda1          101430960  40000000  61430960      40% /
@@taichu:product_uuid
4C4C4544-0042-3510-8052-B4C04F334B32
@@taichu:macs
ens3 52:54:00:AB:CD:EF
docker0 02:42:ac:11:00:02
bond0 52:54:00:ab:cd:ef
dummy0 00:00:00:00:00:00
tun0
@@taichu:swaps
Filename				Type		Size		Used		Priority
/swap.img                               file		2097148		0		-2
@@taichu:cgroup
cgroup2fs
@@taichu:init
systemd
@@taichu:runtime
containerd containerd.io 1.6.28 ae07eda36dd25f8a1b98dfbf587313b99c0190bb
@@taichu:kubelet
Kubernetes v1.29.3
@@taichu:listen
0100007F:0016
00000000:192B
0100007F:0959
00000000:280A
00000000:7560
00000000000000000000000000000000:2813
00000000000000000000000000000000:192B
@@taichu:modules
overlay loaded
br_netfilter loadable
@@taichu:sysctls
net.ipv4.ip_forward=1
net.bridge.bridge-nf-call-iptables=1
net.bridge.bridge-nf-call-ip6tables
@@taichu:end
"""


def test_a_full_sample() -> None:
    f = parse_facts(UBUNTU, 12.34)
    assert (f.hostname, f.os_name, f.os_version) == ("node-a", "Ubuntu", "22.04")
    assert (f.kernel, f.arch, f.cpu_cores) == ("5.15.0-91-generic", "aarch64", 8)
    assert f.memory_bytes == 16305048 * 1024
    assert (f.disk_root_bytes, f.disk_root_free_bytes) == (101430960 * 1024, 61430960 * 1024)
    assert f.product_uuid == "4c4c4544-0042-3510-8052-b4c04f334b32"
    # lowercased, deduplicated, no all-zero address, no interface without one
    assert f.mac_addresses == ["52:54:00:ab:cd:ef", "02:42:ac:11:00:02"]
    assert f.clock_offset_ms == 12.3
    assert f.swap_on and f.cgroup_version == 2 and f.init_system == "systemd"
    assert f.container_runtime.startswith("containerd containerd.io 1.6.28")  # type: ignore[union-attr]
    assert f.kubelet == "Kubernetes v1.29.3"
    # 6443 (tcp and tcp6), 10250, 10259 (tcp6), 30048; 22 and 2393 are not Kubernetes ports
    assert f.ports_in_use == [6443, 10250, 10259, 30048]
    assert f.kernel_modules == {"overlay": True, "br_netfilter": True}
    assert f.kernel_modules_loaded == {"overlay": True, "br_netfilter": False}
    assert f.sysctls == {
        "net.ipv4.ip_forward": "1",
        "net.bridge.bridge-nf-call-iptables": "1",
        "net.bridge.bridge-nf-call-ip6tables": None,
    }


def test_a_bare_machine() -> None:
    text = (
        "@@taichu:hostname\nbare\n@@taichu:nproc\n1\n@@taichu:swaps\n"
        "Filename Type Size Used Priority\n@@taichu:cgroup\ntmpfs\n@@taichu:product_uuid\n"
        "@@taichu:modules\noverlay missing\n@@taichu:end\n"
    )
    f = parse_facts(text, -3.0)
    assert f.hostname == "bare" and f.cpu_cores == 1
    assert not f.swap_on and f.cgroup_version == 1
    assert f.product_uuid is None and f.mac_addresses == [] and f.ports_in_use == []
    assert f.container_runtime is None and f.kubelet is None and f.init_system == "unknown"
    assert f.kernel_modules == {"overlay": False, "br_netfilter": False}
    assert f.sysctls == dict.fromkeys(
        [
            "net.ipv4.ip_forward",
            "net.bridge.bridge-nf-call-iptables",
            "net.bridge.bridge-nf-call-ip6tables",
        ]
    )


def test_cut_output_is_an_error() -> None:
    with pytest.raises(FactsError, match="did not run to its end"):
        parse_facts(UBUNTU.replace("@@taichu:end\n", ""), 0)
    with pytest.raises(FactsError, match="nproc"):
        parse_facts(UBUNTU.replace("\n8\n", "\nmany\n"), 0)


def test_json_round_trip() -> None:
    f = parse_facts(UBUNTU, 1.0)
    assert MachineFacts.from_json(f.to_json()) == f
    old = f.to_json()
    del old["kernel_modules_loaded"], old["kubelet"], old["mac_addresses"]
    g = MachineFacts.from_json(old)
    assert g.kubelet is None and g.mac_addresses == [] and g.kernel_modules_loaded == {}


def test_clock_offset_takes_the_shortest_round_trip() -> None:
    ms = 1_000_000
    # (sent, remote, received) in ns: the second probe has the 2 ms round trip
    samples = [(0, 600 * ms, 50 * ms), (100 * ms, 1101 * ms, 102 * ms), (200 * ms, 0, 230 * ms)]
    assert clock_offset(samples) == pytest.approx(1000.0)
