"""Facts and access checks against real lab hosts, compared with what the hosts report."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from taichu.config import SshSettings
from taichu.lab.ssh_hosts import SshHost
from taichu.machines.facts import check_access, gather_facts
from taichu.ssh import SshPool, SshSudoRefused
from tests.ssh.support import target
from tests.support.waiting import wait_for

pytestmark = pytest.mark.lab


@pytest.fixture
async def pool() -> AsyncIterator[SshPool]:
    p = SshPool(SshSettings())
    yield p
    await p.close()


def _own(host: SshHost, command: str) -> str:
    return host.exec(command).stdout.strip()


async def test_facts_match_what_the_hosts_report(pool: SshPool, ssh_hosts: list[SshHost]) -> None:
    seen = []
    for host, t in zip(
        ssh_hosts,
        [target(ssh_hosts[0]), target(ssh_hosts[1], "ops"), target(ssh_hosts[2], key=True)],
        strict=True,
    ):
        async with pool.session(t) as ssh:
            f = await gather_facts(ssh)
        seen.append(f)
        assert f.hostname == host.hostname == _own(host, "hostname")
        assert f.cpu_cores == int(_own(host, "nproc"))
        mem_kib = int(_own(host, "grep ^MemTotal: /proc/meminfo").split()[1])
        assert f.memory_bytes == mem_kib * 1024
        assert f.os_name == _own(host, ". /etc/os-release; echo $NAME")
        assert f.os_version == _own(host, ". /etc/os-release; echo $VERSION_ID")
        assert f.kernel == _own(host, "uname -r") and f.arch == _own(host, "uname -m")
        assert f.product_uuid == host.product_uuid
        assert f.mac_addresses == [_own(host, "cat /sys/class/net/eth0/address")]
        size_kib = int(_own(host, "df -Pk / | tail -n 1").split()[1])
        assert f.disk_root_bytes == size_kib * 1024 and f.disk_root_free_bytes > 0
        assert abs(f.clock_offset_ms) < 1000
        assert f.cgroup_version == 2  # the lab mounts the unified hierarchy
        assert f.init_system == _own(host, "cat /proc/1/comm")
        assert f.swap_on == (len(_own(host, "cat /proc/swaps").splitlines()) > 1)
        assert f.sysctls["net.ipv4.ip_forward"] == _own(host, "cat /proc/sys/net/ipv4/ip_forward")
        assert set(f.kernel_modules) == {"overlay", "br_netfilter"}
        assert f.kubelet is None  # nothing installed on the lab hosts
    # Hosts on one machine still look like different machines.
    assert len({f.product_uuid for f in seen}) == 3
    assert len({f.mac_addresses[0] for f in seen}) == 3


async def test_product_uuid_takes_root(pool: SshPool, ssh_hosts: list[SshHost]) -> None:
    host = ssh_hosts[0]
    async with pool.session(target(host, "ops", become=False)) as ssh:
        assert (await gather_facts(ssh)).product_uuid is None
    async with pool.session(target(host, "deploy", password=None, key=True)) as ssh:
        assert (await gather_facts(ssh)).product_uuid == host.product_uuid


async def test_ports_in_use(pool: SshPool, ssh_hosts: list[SshHost]) -> None:
    host = ssh_hosts[1]
    marker = f"taichu-port-test-{host.seq}"
    (host.root / "tmp" / "listen.py").write_text(  # the host's own /tmp
        "import socket, time\n"
        "s4 = socket.create_server(('0.0.0.0', 6443))\n"
        "s6 = socket.create_server(('::', 30080), family=socket.AF_INET6)\n"
        "time.sleep(120)\n"
    )
    host.exec(f"setsid python3 /tmp/listen.py {marker} >/dev/null 2>&1 &")
    try:
        async with pool.session(target(host)) as ssh:

            async def ports() -> list[int]:
                return (await gather_facts(ssh)).ports_in_use

            assert await wait_for(ports, bool, timeout=20) == [6443, 30080]
    finally:
        host.exec(f"pkill -f {marker}", check=False)


async def test_check_access(pool: SshPool, ssh_hosts: list[SshHost]) -> None:
    host = ssh_hosts[2]
    for ok in (target(host), target(host, "ops"), target(host, "deploy", password=None, key=True)):
        async with pool.session(ok) as ssh:
            await check_access(ssh, ok)
    for refused, why in (
        (target(host, "guest"), "not in the sudoers file"),
        (target(host, "ops", become=False), "become"),
    ):
        async with pool.session(refused) as ssh:
            with pytest.raises(SshSudoRefused, match=re.escape(why)):
                await check_access(ssh, refused)
