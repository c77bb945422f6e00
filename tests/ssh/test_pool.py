"""The connection pool on real lab hosts: reuse, limits, idle expiry, redial."""

from __future__ import annotations

import asyncio

import pytest

from taichu.config import SshSettings
from taichu.lab.pytest_fixtures import HostFactory
from taichu.lab.ssh_hosts import SshHost, wait_refused
from taichu.ssh import SshPool, SshRefused, SshTimeout
from tests.ssh.support import target
from tests.support.waiting import wait_for

pytestmark = pytest.mark.lab


async def _client_port(pool: SshPool, t: object, hold: float = 0.0) -> str:
    """The source port sshd sees: one port, one TCP connection."""
    async with pool.session(t) as ssh:  # type: ignore[arg-type]
        port = (await ssh.run("echo $SSH_CLIENT")).stdout.split()[1]
        if hold:
            await ssh.run(f"sleep {hold}")
        return port


async def test_a_connection_serves_several_commands_and_sessions(
    ssh_hosts: list[SshHost],
) -> None:
    pool = SshPool(SshSettings())
    try:
        t = target(ssh_hosts[0])
        async with pool.session(t) as ssh:
            ports = {(await ssh.run("echo $SSH_CLIENT")).stdout.split()[1] for _ in range(3)}
        ports.add(await _client_port(pool, t))
        ports.add(await _client_port(pool, t))
        assert len(ports) == 1 and pool.dials == 1
        # Another login to the same machine gets a connection of its own.
        await _client_port(pool, target(ssh_hosts[0], password=None, key=True))
        assert pool.dials == 2
    finally:
        await pool.close()


async def test_per_host_limit_under_concurrency(ssh_hosts: list[SshHost]) -> None:
    pool = SshPool(SshSettings(max_per_host=2))
    try:
        t = target(ssh_hosts[1])
        ports = await asyncio.gather(*(_client_port(pool, t, hold=0.3) for _ in range(8)))
        assert len(set(ports)) <= 2 and pool.dials <= 2
        assert pool.open_connections <= 2
    finally:
        await pool.close()


async def test_total_limit_closes_idle_connections_of_other_hosts(
    ssh_hosts: list[SshHost],
) -> None:
    pool = SshPool(SshSettings(max_connections=2))
    try:
        for host in ssh_hosts:  # three hosts, two slots: the oldest idle one is closed
            await _client_port(pool, target(host))
            assert pool.open_connections <= 2
        assert pool.dials == 3
        # Two sessions held at once use both slots; a third waits, then times out.
        tight = SshPool(SshSettings(max_connections=1, pool_wait=0.5))
        async with tight.session(target(ssh_hosts[0])):
            with pytest.raises(SshTimeout, match="no free SSH connection slot"):
                async with tight.session(target(ssh_hosts[1])):
                    pass
        await tight.close()
    finally:
        await pool.close()


async def test_idle_connections_expire(ssh_hosts: list[SshHost]) -> None:
    pool = SshPool(SshSettings(idle_seconds=0.5))
    try:
        await _client_port(pool, target(ssh_hosts[2]))
        assert pool.open_connections == 1
        await wait_for(lambda: pool.open_connections, lambda n: n == 0, timeout=10)
        await _client_port(pool, target(ssh_hosts[2]))
        assert pool.dials == 2
    finally:
        await pool.close()


async def test_broken_pooled_connection_is_redialled_once(ssh_host_factory: HostFactory) -> None:
    (host,) = ssh_host_factory(1)
    pool = SshPool(SshSettings())
    try:
        first = await _client_port(pool, target(host))
        host.stop()  # sshd restarts: the pooled connection is dead
        host.start()
        second = await _client_port(pool, target(host))
        assert second != first and pool.dials == 2
        assert pool.open_connections == 1
        # Down for good: the one redial is refused, and the dead connection is gone.
        host.stop()
        wait_refused(host)
        with pytest.raises(SshRefused):
            await _client_port(pool, target(host))
        assert pool.open_connections == 0 and pool.dials == 2
    finally:
        await pool.close()


async def test_many_sessions_over_few_slots_all_complete(ssh_hosts: list[SshHost]) -> None:
    pool = SshPool(SshSettings(max_connections=4, max_per_host=2))
    try:
        targets = [target(h) for h in ssh_hosts] * 10
        names = await asyncio.gather(*(_hostname(pool, t) for t in targets))
        assert names == [h.hostname for h in ssh_hosts] * 10
        assert pool.open_connections <= 4
    finally:
        await pool.close()
    assert pool.open_connections == 0


async def _hostname(pool: SshPool, t: object) -> str:
    async with pool.session(t) as ssh:  # type: ignore[arg-type]
        return (await ssh.run("hostname")).stdout.strip()


async def test_connection_lost_mid_session(ssh_host_factory: HostFactory) -> None:
    (host,) = ssh_host_factory(1)
    pool = SshPool(SshSettings(connect_timeout=1.5))
    try:
        async with pool.session(target(host)) as ssh:
            await ssh.run("true")
            host.unplug()
            try:
                with pytest.raises(SshTimeout):
                    await ssh.run("echo late", timeout=1)
            finally:
                host.plug()
        # The session's connection may be dead: the next session still works.
        assert await _hostname(pool, target(host)) == host.hostname
    finally:
        await pool.close()
